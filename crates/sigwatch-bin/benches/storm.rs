//! Storm benchmark (root; prints figures, not a timed test): the real
//! `sigwatch --json` and `forkstat -E -S` (writing to a file) watch the
//! *same* storm at the same time, twice: a fork+exit storm (processes
//! that never exec) and a fork+exec storm (every child execs
//! `/bin/true`). For each it prints both CPU times, their ratio,
//! sigwatch's lost process events and what forkstat logged; in the
//! fork+exit storm a `sleep`-like victim is SIGKILLed by a forked sender
//! and the bench says whether sigwatch attributed it.
//!
//! `cargo bench -p sigwatch --bench storm`. Environment: `STORM_SECS`
//! (default 5) per storm; `STORM_RATE` processes/s of the fork+exit storm
//! (default 10 000, 0 = unpaced); `STORM_EXEC_RATE` of the fork+exec storm
//! (default 1 200, 0 = unpaced); `STORM_REPEAT` rounds (default 3; the
//! spread is printed); `STORM_KINDS` (`fork,exec`); `BENCH_NICE` the
//! nice value of both listeners (default -10, sigwatch's `--nice`).
//! `SIGWATCH_BENCH_BIN` runs another sigwatch binary (a build of the base
//! commit, to compare before and after on the same busy machine).
//!
//! `STORM_KINDS=floor` adds the *reader floor* of the fork+exec storm:
//! instead of sigwatch, a bare listener (this bench binary re-run) with a
//! connector socket filtered in the kernel to execs (Linux ≥ 6.6) reads,
//! for each exec, what sigwatch's process tree reads, through the same
//! `procconn::ProcFs`, and nothing else: no forks, no exits, no tree, no
//! output. Once with sigwatch's exec facts (comm, exe, argv, cwd, cgroup,
//! pid namespace), once with argv, exe and cwd only (with the `stat` that
//! `ProcFs` reads first in every snapshot: comm, and the start time that
//! proves the pid was not reused in between), once argv, exe and cwd by
//! bare syscalls without `stat`. Its ratio to forkstat is the least that
//! reading those facts costs.
//!
//! Every round also prints the listener's wake-ups (voluntary context
//! switches, from `wait4`).
//! Holds the audit test lock and checks audit is left as found.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{env_f64, spread, AuditGuard, Forkstat, Sigwatch, Storm, StormKind};

/// One kind of round: sigwatch on a storm, or the reader floor on the
/// fork+exec storm.
#[derive(Debug, Clone, Copy)]
enum Trial {
    Storm(StormKind),
    Floor(FloorFacts),
}

impl Trial {
    fn name(&self) -> String {
        match self {
            Trial::Storm(kind) => format!("{} storm", kind.name()),
            Trial::Floor(facts) => format!(
                "reader floor ({}), on the fork+exec storm",
                facts.describe()
            ),
        }
    }
}

/// What the reader floor reads at each exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FloorFacts {
    /// sigwatch's exec facts, through `ProcFs`.
    All,
    /// argv, exe and cwd through `ProcFs` (which reads `stat` first).
    Image,
    /// argv, exe and cwd by bare syscalls ([`bare_read`]).
    Bare,
}

impl FloorFacts {
    const EVERY: [FloorFacts; 3] = [FloorFacts::All, FloorFacts::Image, FloorFacts::Bare];

    /// Its value of `STORM_FLOOR_LISTENER`.
    fn key(self) -> &'static str {
        match self {
            FloorFacts::All => "all",
            FloorFacts::Image => "image",
            FloorFacts::Bare => "bare",
        }
    }

    fn from_key(key: &str) -> Option<FloorFacts> {
        FloorFacts::EVERY.into_iter().find(|f| f.key() == key)
    }

    fn describe(self) -> &'static str {
        match self {
            FloorFacts::All => "sigwatch's exec facts: stat, exe, argv, cwd, cgroup, pid ns",
            FloorFacts::Image => "stat, argv, exe, cwd",
            FloorFacts::Bare => "argv, exe, cwd by bare syscalls, no stat",
        }
    }

    /// What `ProcFs` reads for it (`stat` comes with every snapshot).
    fn fields(self) -> procconn::Fields {
        use procconn::Fields;
        let image = Fields::EXE | Fields::CMDLINE | Fields::CWD;
        match self {
            FloorFacts::All => image | Fields::CGROUP | Fields::PIDNS,
            FloorFacts::Image | FloorFacts::Bare => image,
        }
    }
}

struct Round {
    ratio: f64,
    /// The listener's (sigwatch's or the floor's) CPU per process.
    listener_us_per_proc: f64,
    fs_us_per_proc: f64,
}

/// The reader floor's listener (run as `STORM_FLOOR_LISTENER=all|image|bare
/// <this bench>`): says `ready` on stdout once subscribed with the
/// kernel's filter, then reads each exec's facts until it is killed.
fn floor_listener(key: &str) -> ! {
    let Some(facts) = FloorFacts::from_key(key) else {
        eprintln!("STORM_FLOOR_LISTENER: unknown {key:?} (all, image, bare)");
        std::process::exit(2);
    };
    // Dies with the bench, whatever happens to it.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if nix::unistd::getppid().as_raw() == 1 {
        std::process::exit(1);
    }
    let cfg = procconn::Config::default()
        .recv_buffer(Some(1 << 20))
        .filter(Some(procconn::event::what::EXEC))
        .nonblocking(true);
    let mut conn = match procconn::ProcConnector::open(&cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("floor listener: proc connector: {e}");
            std::process::exit(1);
        }
    };
    // Without the kernel's filter (Linux < 6.6) it would read every event:
    // not the floor.
    if conn.subscription()
        != Some(procconn::Subscription::KernelFilter(
            procconn::event::what::EXEC,
        ))
    {
        eprintln!("floor listener: the kernel does not filter (Linux < 6.6)");
        std::process::exit(1);
    }
    println!("ready");
    let fields = facts.fields();
    let mut procfs = procconn::ProcFs::new();
    let mut events = Vec::new();
    loop {
        let mut fds = [nix::poll::PollFd::new(
            conn.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
        events.clear();
        let _ = conn.drain_into(&mut events, 4096);
        for ev in &events {
            if let procconn::EventKind::Exec { process_tgid, .. } = ev.kind {
                if facts == FloorFacts::Bare {
                    bare_read(process_tgid);
                } else {
                    let _ = procconn::ProcSource::snapshot(&mut procfs, process_tgid, fields);
                }
            }
        }
    }
}

/// The least a reader of argv, exe and cwd can do: the directory, then
/// `cmdline`, `exe` and `cwd` relative to it, with bare syscalls (no
/// `stat`, so nothing proves the pid was not reused in between).
fn bare_read(pid: procconn::Pid) {
    let mut buf = [0u8; 4096];
    let Ok(path) = std::ffi::CString::new(format!("/proc/{pid}")) else {
        return;
    };
    // SAFETY: NUL-terminated paths and a buffer of the length given; every
    // descriptor opened here is closed here.
    unsafe {
        let dir = libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dir < 0 {
            return;
        }
        let f = libc::openat(dir, c"cmdline".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if f >= 0 {
            libc::read(f, buf.as_mut_ptr().cast(), buf.len());
            libc::close(f);
        }
        for link in [c"exe", c"cwd"] {
            libc::readlinkat(dir, link.as_ptr(), buf.as_mut_ptr().cast(), buf.len());
        }
        libc::close(dir);
    }
}

/// The reader floor on one fork+exec storm, next to forkstat; `None`
/// (with the reason printed) when either could not run.
fn floor_round(facts: FloorFacts, secs: f64, rate: Option<f64>) -> Option<Round> {
    use std::io::BufRead;
    let fs = Forkstat::start()?;
    let exe = std::env::current_exe().ok()?;
    let mut child = match Command::new("nice")
        .args(["-n", &common::bench_nice().to_string()])
        .arg(exe)
        .env("STORM_FLOOR_LISTENER", facts.key())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            println!("  reader floor not run: {e}");
            let _ = fs.stop();
            return None;
        }
    };
    let pid = child.id() as libc::pid_t;
    // Ready once subscribed (a line), or gone (EOF) when it could not be.
    let mut line = String::new();
    let ready = child.stdout.take().is_some_and(|out| {
        std::io::BufReader::new(out).read_line(&mut line).is_ok() && line.trim() == "ready"
    });
    if !ready {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = child.wait();
        let _ = fs.stop();
        println!("  reader floor not run (its reason is on stderr)");
        return None;
    }
    std::thread::sleep(Duration::from_millis(300));
    let storm = Storm::start(StormKind::Exec, secs, rate);
    let (made, _) = storm.wait();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let usage = common::wait_usage(pid);
    let _ = child.try_wait();
    let (fs_cpu, _, _) = fs.stop();
    // Killed by us, not dead of its own accord mid-storm.
    if !(libc::WIFSIGNALED(usage.status) && libc::WTERMSIG(usage.status) == libc::SIGKILL) {
        println!(
            "  reader floor ended by itself (wait status {:#x}): no figure",
            usage.status
        );
        return None;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / made.max(1) as f64;
    let ratio = usage.cpu.as_secs_f64() / fs_cpu.as_secs_f64().max(1e-9);
    println!(
        "  reader floor ({}): CPU {:.2} s ({:.1} µs/process), {} wake-ups; forkstat CPU {:.2} s ({:.1} µs/process); floor/forkstat {ratio:.2}×",
        facts.key(),
        usage.cpu.as_secs_f64(),
        per(usage.cpu),
        usage.wakeups,
        fs_cpu.as_secs_f64(),
        per(fs_cpu)
    );
    Some(Round {
        ratio,
        listener_us_per_proc: per(usage.cpu),
        fs_us_per_proc: per(fs_cpu),
    })
}

fn round(kind: StormKind, secs: f64, rate: Option<f64>) -> Option<Round> {
    let sw = Sigwatch::start(&[]);
    let fs = Forkstat::start();
    std::thread::sleep(Duration::from_millis(300));
    let storm = Storm::start(kind, secs, rate);
    let mut kill = None;
    if kind == StormKind::Fork {
        std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
        let victim = common::spawn_victim();
        std::thread::sleep(Duration::from_millis(20));
        let sender = common::kill_from_fork(victim);
        common::reap(victim);
        kill = Some((victim, sender));
    }
    let (made, took) = storm.wait();
    // Let both drain what the storm left in their sockets.
    std::thread::sleep(Duration::from_millis(500));
    let (sw_usage, lines) = sw.stop_usage();
    let sw_cpu = sw_usage.cpu;
    let summary = lines.iter().rev().find(|o| o["type"] == "summary");
    let field = |k: &str| summary.map_or(serde_json::Value::Null, |s| s[k].clone());
    let attributed = kill.map(|(victim, sender)| {
        lines.iter().any(|o| {
            o["type"] == "kill"
                && o["victim"]["pid"] == victim
                && o["origin"] == "user"
                && o["sender"]["pid"] == sender
        })
    });
    println!(
        "  storm {}: {made} processes in {took:.1} s ({:.0}/s)",
        kind.name(),
        made as f64 / took
    );
    println!(
        "  sigwatch --json: CPU {:.2} s ({:.1} µs/process), {} wake-ups; proc events {}, lost {}{}",
        sw_cpu.as_secs_f64(),
        sw_cpu.as_secs_f64() * 1e6 / made.max(1) as f64,
        sw_usage.wakeups,
        field("proc_events"),
        field("proc_lost"),
        attributed.map_or(String::new(), |a| format!(
            "; mid-storm kill attributed: {a}"
        ))
    );
    let fs = fs?;
    let (fs_cpu, forks, execs) = fs.stop();
    println!(
        "  forkstat -E -S:  CPU {:.2} s ({:.1} µs/process); logged {forks} forks, {execs} execs",
        fs_cpu.as_secs_f64(),
        fs_cpu.as_secs_f64() * 1e6 / made.max(1) as f64,
    );
    let ratio = sw_cpu.as_secs_f64() / fs_cpu.as_secs_f64().max(1e-9);
    println!("  sigwatch/forkstat CPU: {ratio:.2}×");
    Some(Round {
        ratio,
        listener_us_per_proc: sw_cpu.as_secs_f64() * 1e6 / made.max(1) as f64,
        fs_us_per_proc: fs_cpu.as_secs_f64() * 1e6 / made.max(1) as f64,
    })
}

fn main() {
    if let Ok(key) = std::env::var("STORM_FLOOR_LISTENER") {
        floor_listener(&key);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP storm: needs root");
        return;
    }
    let secs = env_f64("STORM_SECS", 5.0);
    let paced = |r: f64| (r > 0.0).then_some(r);
    let fork_rate = paced(env_f64("STORM_RATE", 10_000.0));
    let exec_rate = paced(env_f64("STORM_EXEC_RATE", 1_200.0));
    let repeat = env_f64("STORM_REPEAT", 3.0) as usize;
    let kinds = std::env::var("STORM_KINDS").unwrap_or_else(|_| "fork,exec".into());
    println!(
        "listeners at nice {} (BENCH_NICE; sigwatch's default is -10), storms at nice 0",
        common::bench_nice()
    );
    let guard = AuditGuard::take();
    let mut results: Vec<(Trial, Vec<Round>)> = Vec::new();
    for k in kinds.split(',') {
        match k.trim() {
            "fork" => results.push((Trial::Storm(StormKind::Fork), Vec::new())),
            "exec" => results.push((Trial::Storm(StormKind::Exec), Vec::new())),
            "floor" => {
                for facts in FloorFacts::EVERY {
                    results.push((Trial::Floor(facts), Vec::new()));
                }
            }
            other => panic!("STORM_KINDS: unknown storm {other:?} (fork, exec, floor)"),
        }
    }
    for r in 0..repeat {
        for (trial, rounds) in &mut results {
            let rate = match trial {
                Trial::Storm(StormKind::Fork) => fork_rate,
                _ => exec_rate,
            };
            println!(
                "round {}/{repeat}, {}, {secs} s, {}",
                r + 1,
                trial.name(),
                rate.map_or("unpaced".into(), |r| format!("paced at {r:.0}/s"))
            );
            rounds.extend(match trial {
                Trial::Storm(kind) => round(*kind, secs, rate),
                Trial::Floor(facts) => floor_round(*facts, secs, rate),
            });
        }
    }
    println!("summary (median (min–max) over {repeat} rounds):");
    for (trial, rounds) in &results {
        let ratios: Vec<f64> = rounds.iter().map(|r| r.ratio).collect();
        let sw: Vec<f64> = rounds.iter().map(|r| r.listener_us_per_proc).collect();
        let fs: Vec<f64> = rounds.iter().map(|r| r.fs_us_per_proc).collect();
        let who = match trial {
            Trial::Storm(_) => "sigwatch",
            Trial::Floor(_) => "floor",
        };
        println!(
            "  {}: {who}/forkstat CPU {}×; {who} {} µs/process, forkstat {} µs/process",
            trial.name(),
            spread(&ratios, 2),
            spread(&sw, 1),
            spread(&fs, 1)
        );
    }
    println!("audit state {}", guard.verdict());
}
