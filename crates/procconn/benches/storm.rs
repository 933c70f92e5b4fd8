//! Fork-storm benchmark (root): two generator processes fork and `_exit` as
//! fast as they can while a listener (`ProcConnector` + `ProcessTree`) runs
//! in this process. Prints processes/s, events seen, lost events and the
//! listener thread's CPU time; then the same storm observed by
//! `forkstat -E -S` writing to a file, with forkstat's CPU time from
//! `/proc/<pid>/stat`.
//!
//! Run: `cargo bench -p procconn --bench storm` (as root). Environment:
//! `STORM_SECS` storm length (default 5); `STORM_RUNS` which runs (default
//! `tree,events,forkstat`; also `tree-noforkread`); `STORM_RATE` total processes/s to pace the
//! generators at (default: as fast as possible), so that runs see the same
//! storm; `STORM_FORK=fork` to use `fork()` instead of a vfork-style
//! `clone(CLONE_VM|CLONE_VFORK)` in the generators (which avoids copying
//! page tables, so the storm is faster on a small machine).
//!
//! Measured 2026-11-26 on the 2-vCPU Linux 6.18 VM (other builds running),
//! `STORM_RATE=12000 STORM_SECS=8` (96 000 processes, 192 000 events):
//!
//! | listener | lost events | CPU (user+sys) | per process |
//! | --- | --- | --- | --- |
//! | `ProcConnector` + `ProcessTree` (default) | 0 | 2.26 s | 23.6 µs |
//! | same, `read_after_fork: false` | 0 | 0.89 s | 9.3 µs |
//! | `ProcConnector` only | 0 | 0.82 s | 8.6 µs |
//! | `forkstat -E -S > file` | ≈ 5 % (91 189 of 96 000 forks logged) | 3.45 s | 35.9 µs |
//!
//! Unpaced (as fast as the machine allows, 8 s): the default tree kept up
//! with 20 300 processes/s, 0 lost, 3.44 s CPU; forkstat at 22 600
//! processes/s used 3.62 s and logged only 59 % of the forks.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use procconn::{Config, EventKind, Pid, ProcConnector, ProcessTree, TreeConfig};

/// Two generators: the machine has two cores.
const GENERATORS: usize = 2;

fn main() {
    // `cargo test --benches` runs this without `--bench`: nothing to do.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("storm: run with `cargo bench -p procconn --bench storm`");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP storm: needs root for the proc connector");
        return;
    }
    let secs: u64 = std::env::var("STORM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let runs = std::env::var("STORM_RUNS").unwrap_or_else(|_| "tree,events,forkstat".into());
    let dur = Duration::from_secs(secs);
    if std::env::var_os("STORM_CHILD").is_none() {
        println!(
            "storm: {GENERATORS} generators fork+_exit for {secs} s on {} CPUs",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    let runs: Vec<&str> = runs.split(',').collect();
    if runs.len() > 1 {
        // Each run in a fresh process: generators forked from a process
        // that grew a big heap in an earlier run fork much slower (more
        // page tables to copy), which would skew the comparison.
        let exe = std::env::current_exe().unwrap();
        for run in runs {
            let st = Command::new(&exe)
                .arg("--bench")
                .env("STORM_RUNS", run)
                .env("STORM_SECS", secs.to_string())
                .env("STORM_CHILD", "1")
                .status()
                .unwrap();
            assert!(st.success(), "run {run} failed: {st}");
        }
        return;
    }
    for run in runs {
        match run {
            "tree" => listener_run(dur, Some(true)),
            "tree-noforkread" => listener_run(dur, Some(false)),
            "events" => listener_run(dur, None),
            "forkstat" => forkstat_run(dur),
            other => eprintln!("unknown run {other}"),
        }
    }
}

/// Generators forked from this (then single-threaded) process, each
/// blocked on a pipe until `go`.
struct Storm {
    pids: Vec<libc::pid_t>,
    go: libc::c_int,
    results: Vec<libc::c_int>,
}

fn pipe() -> (libc::c_int, libc::c_int) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (fds[0], fds[1])
}

fn monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Storm {
    /// Must be called while the process has a single thread: the children
    /// run arbitrary code after fork (they only use syscalls, though).
    fn prepare(dur: Duration) -> Storm {
        let use_vfork = std::env::var("STORM_FORK").map_or(true, |v| v != "fork");
        let per_gen_rate: u64 = std::env::var("STORM_RATE")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(0, |r| r / GENERATORS as u64);
        let (go_r, go_w) = pipe();
        let mut pids = Vec::new();
        let mut results = Vec::new();
        for _ in 0..GENERATORS {
            let (res_r, res_w) = pipe();
            // SAFETY: single-threaded here; the child only makes syscalls.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                // SAFETY: plain syscalls on fds we own; the child never
                // returns into Rust code that could unwind.
                unsafe {
                    // Keep no write end of `go`, or the EOF never comes.
                    libc::close(go_w);
                    let mut b = 0u8;
                    libc::read(go_r, (&mut b as *mut u8).cast(), 1);
                    let start = monotonic();
                    let end = start + dur;
                    let mut n: u64 = 0;
                    while monotonic() < end {
                        // 64 forks between clock reads.
                        for _ in 0..64 {
                            let c = if use_vfork {
                                vfork_exit()
                            } else {
                                libc::fork()
                            };
                            if c == 0 {
                                libc::_exit(0);
                            }
                            if c > 0 {
                                libc::waitpid(c, std::ptr::null_mut(), 0);
                                n += 1;
                            }
                        }
                        // Pacing: stay at most 64 forks ahead of the rate.
                        if per_gen_rate > 0 {
                            let due = (monotonic() - start).as_secs_f64() * per_gen_rate as f64;
                            if n as f64 > due {
                                let ahead = (n as f64 - due) / per_gen_rate as f64;
                                let ts = libc::timespec {
                                    tv_sec: 0,
                                    tv_nsec: (ahead * 1e9) as libc::c_long,
                                };
                                libc::nanosleep(&ts, std::ptr::null_mut());
                            }
                        }
                    }
                    libc::write(res_w, (&n as *const u64).cast(), 8);
                    libc::_exit(0);
                }
            }
            // SAFETY: closing our copy of the write end.
            unsafe { libc::close(res_w) };
            pids.push(pid);
            results.push(res_r);
        }
        // SAFETY: the parent keeps only the write end of `go`.
        unsafe { libc::close(go_r) };
        Storm {
            pids,
            go: go_w,
            results,
        }
    }

    /// Starts the storm, waits for it, returns the processes created.
    fn run(self) -> u64 {
        // SAFETY: closing the write end wakes every reader with EOF.
        unsafe { libc::close(self.go) };
        let mut total = 0;
        for (&fd, &pid) in self.results.iter().zip(&self.pids) {
            let mut n = 0u64;
            // SAFETY: reading 8 bytes into a u64.
            let r = unsafe { libc::read(fd, (&mut n as *mut u64).cast(), 8) };
            assert_eq!(r, 8);
            total += n;
            // SAFETY: reaping our own child.
            unsafe {
                libc::close(fd);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        total
    }
}

/// A `vfork()`-like child that only `_exit(0)`s: `clone(CLONE_VM |
/// CLONE_VFORK)` running on its own small stack, so it cannot clobber the
/// parent's stack (the reason `libc::vfork` is deprecated in Rust). Returns
/// the child's pid (the parent resumes once the child exited).
fn vfork_exit() -> libc::pid_t {
    extern "C" fn child(_: *mut libc::c_void) -> libc::c_int {
        // SAFETY: _exit never returns and touches no Rust state.
        unsafe { libc::_exit(0) }
    }
    static mut STACK: [u128; 1024] = [0; 1024];
    // SAFETY: the stack is only used by the child while the parent is
    // suspended (CLONE_VFORK), one child at a time per process.
    unsafe {
        let top = (&raw mut STACK)
            .cast::<u8>()
            .add(std::mem::size_of::<[u128; 1024]>());
        libc::clone(
            child,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    }
}

fn thread_cpu() -> Duration {
    // SAFETY: zeroed rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct ListenerReport {
    events: u64,
    storm_forks: u64,
    storm_exits: u64,
    missed: u64,
    loss: procconn::Loss,
    cpu: Duration,
    tree: Option<(usize, usize, procconn::TreeStats)>,
    rcvbuf: usize,
}

/// `tree`: `None` for no tree, else `Some(read_after_fork)`.
fn listener_run(dur: Duration, tree: Option<bool>) {
    let name = match tree {
        Some(true) => "ProcConnector + ProcessTree (default config)",
        Some(false) => "ProcConnector + ProcessTree (read_after_fork: false)",
        None => "ProcConnector only",
    };
    let storm = Storm::prepare(dur);
    let generators: Vec<Pid> = storm.pids.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let (stop2, ready2) = (stop.clone(), ready.clone());
    let listener = std::thread::spawn(move || {
        let mut conn = ProcConnector::open(&Config::default().recv_buffer(Some(64 << 20))).unwrap();
        let mut tree = tree.map(|read_after_fork| {
            let mut t = ProcessTree::new(TreeConfig::default().read_after_fork(read_after_fork));
            t.seed_from_proc().unwrap();
            t
        });
        let cpu0 = thread_cpu();
        ready2.store(true, Ordering::SeqCst);
        let mut batch = Vec::with_capacity(1024);
        let (mut events, mut storm_forks, mut storm_exits) = (0u64, 0u64, 0u64);
        let mut idle_since = None;
        // Storm children by pid: their exit may carry parent 0/0 (the kernel
        // leaves the parent out once the child was reaped, `pid_alive()`).
        let mut storm_children = std::collections::HashSet::new();
        loop {
            batch.clear();
            let n = conn
                .recv_events(&mut batch, Some(Duration::from_millis(50)))
                .unwrap();
            for ev in &batch {
                events += 1;
                match ev.kind {
                    EventKind::Fork {
                        parent_tgid,
                        child_pid,
                        ..
                    } if generators.contains(&parent_tgid) => {
                        storm_forks += 1;
                        storm_children.insert(child_pid);
                    }
                    EventKind::Exit { process_pid, .. } if storm_children.remove(&process_pid) => {
                        storm_exits += 1
                    }
                    _ => {}
                }
                if let Some(t) = tree.as_mut() {
                    t.apply(ev);
                }
            }
            if stop2.load(Ordering::SeqCst) {
                // Drain: stop once every storm child's exit was seen, or
                // after 1 s without any event.
                if storm_exits >= storm_forks {
                    break;
                }
                if n == 0 {
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(1) {
                        break;
                    }
                } else {
                    idle_since = None;
                }
            }
        }
        let cpu = thread_cpu() - cpu0;
        let loss = conn.loss();
        ListenerReport {
            events,
            storm_forks,
            storm_exits,
            missed: loss.missed_events(),
            loss,
            cpu,
            tree: tree.map(|t| (t.live_count(), t.exited_count(), t.stats())),
            rcvbuf: conn.recv_buffer_size(),
        }
    });
    while !ready.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let t0 = Instant::now();
    let procs = storm.run();
    let wall = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    let r = listener.join().unwrap();
    println!("\n== {name}");
    println!(
        "  storm: {procs} processes in {:.2} s = {:.0} processes/s",
        wall.as_secs_f64(),
        procs as f64 / wall.as_secs_f64()
    );
    println!(
        "  listener: {} events ({} storm forks, {} storm exits), lost {} ({:?}), rcvbuf {} B",
        r.events, r.storm_forks, r.storm_exits, r.missed, r.loss, r.rcvbuf
    );
    println!(
        "  listener CPU (user+sys, RUSAGE_THREAD): {:.3} s = {:.1} % of the storm's wall time, {:.2} µs/event, {:.2} µs/storm process",
        r.cpu.as_secs_f64(),
        100.0 * r.cpu.as_secs_f64() / wall.as_secs_f64(),
        r.cpu.as_secs_f64() * 1e6 / r.events.max(1) as f64,
        r.cpu.as_secs_f64() * 1e6 / procs.max(1) as f64
    );
    if let Some((live, exited, stats)) = r.tree {
        println!("  tree: {live} live, {exited} exited retained; {stats:?}");
    }
}

/// utime + stime of `pid` from `/proc/<pid>/stat`, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = s.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&s[close + 2..]).ok()?;
    let f: Vec<&str> = rest.split(' ').collect();
    // After "pid (comm) ": state is index 0; utime is field 14 → index 11.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn forkstat_run(dur: Duration) {
    let bin = ["/usr/bin/forkstat", "/usr/sbin/forkstat"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bin) = bin else {
        eprintln!("\n== forkstat: not installed (apt-get install forkstat), skipped");
        return;
    };
    let out_path = std::env::temp_dir().join(format!("storm-forkstat-{}.log", std::process::id()));
    let out = std::fs::File::create(&out_path).unwrap();
    let storm = Storm::prepare(dur);
    let mut fs = Command::new(bin)
        .args(["-E", "-S"])
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it subscribe.
    std::thread::sleep(Duration::from_millis(500));
    let ticks0 = proc_cpu_ticks(fs.id()).unwrap_or(0);
    let t0 = Instant::now();
    let procs = storm.run();
    let wall = t0.elapsed();
    // Let it drain its socket as our listener does.
    std::thread::sleep(Duration::from_millis(300));
    let ticks = proc_cpu_ticks(fs.id()).unwrap_or(0) - ticks0;
    // SAFETY: signalling the forkstat we started.
    unsafe { libc::kill(fs.id() as libc::pid_t, libc::SIGINT) };
    let _ = fs.wait();
    let mut err = String::new();
    if let Some(mut e) = fs.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let log = std::fs::read_to_string(&out_path).unwrap_or_default();
    let lines = log.lines().count();
    println!("\n== forkstat -E -S > {}", out_path.display());
    println!(
        "  storm: {procs} processes in {:.2} s = {:.0} processes/s",
        wall.as_secs_f64(),
        procs as f64 / wall.as_secs_f64()
    );
    println!(
        "  forkstat CPU (user+sys, /proc/<pid>/stat): {:.3} s = {:.1} % of the storm's wall time, {:.2} µs/storm process; {lines} lines logged",
        ticks as f64 / hz,
        100.0 * ticks as f64 / hz / wall.as_secs_f64(),
        ticks as f64 / hz * 1e6 / procs.max(1) as f64
    );
    // The -S statistics table is at the end: header plus rows.
    let tail: Vec<&str> = log.lines().collect();
    if let Some(h) = tail
        .iter()
        .rposition(|l| l.contains("Fork") && l.contains("Total"))
    {
        for l in tail[h..].iter().take(6) {
            println!("  forkstat: {l}");
        }
    }
    for l in log.lines().filter(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("lost") || l.contains("enobufs") || l.contains("overrun")
    }) {
        println!("  forkstat: {l}");
    }
    if !err.trim().is_empty() {
        println!("  forkstat stderr: {}", err.trim());
    }
    let _ = std::fs::remove_file(&out_path);
}
