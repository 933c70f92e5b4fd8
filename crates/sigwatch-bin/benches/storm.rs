//! Storm benchmark (root; not a timed test): two generator processes fork
//! and `_exit` as fast as they can on both cores while the real `sigwatch
//! --json` runs; in the middle a `sleep` is SIGKILLed by a forked sender.
//! Reports whether that kill was attributed, sigwatch's lost process
//! events, and its CPU time, then the same storm under `forkstat -E -S`
//! (output to a file) for comparison.
//!
//! `cargo bench -p sigwatch --bench storm` (`STORM_SECS`, default 5;
//! `STORM_RATE` total processes/s to pace both storms at, default unpaced).
//! Holds the audit test lock and checks audit is left as found.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn audit_state() -> String {
    let out = Command::new("sh")
        .args(["-c", "auditctl -s | grep -E '^(enabled|pid) '; auditctl -l"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out
}

/// Forks `n` generators that fork + `_exit(0)` children until `secs`
/// pass; returns their pids.
/// With `rate` (total processes/s, `STORM_RATE`) the generators are paced so
/// that sigwatch and forkstat see the same storm.
fn start_storm(n: usize, secs: f64, rate: Option<f64>) -> Vec<libc::pid_t> {
    let mut gens = Vec::new();
    for _ in 0..n {
        // SAFETY: the generator only makes syscalls before _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let start = Instant::now();
            let end = start + Duration::from_secs_f64(secs);
            let mut forks: u64 = 0;
            while Instant::now() < end {
                if let Some(rate) = rate {
                    let due = start + Duration::from_secs_f64(forks as f64 / (rate / n as f64));
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                for _ in 0..64 {
                    let c = vfork_exit();
                    if c > 0 {
                        forks += 1;
                        unsafe { libc::waitpid(c, std::ptr::null_mut(), 0) };
                    }
                }
            }
            unsafe { libc::_exit((forks / 1000).min(250) as i32) };
        }
        gens.push(pid);
    }
    gens
}

/// One storm process: a `clone(CLONE_VM | CLONE_VFORK)` child on its own
/// small stack that calls `_exit(0)` at once (no page-table copy, so the
/// 2-core machine reaches > 10 000 processes/s; the proc connector sees an
/// ordinary fork + exit). Returns the child's pid once it has exited.
fn vfork_exit() -> libc::pid_t {
    extern "C" fn child(_: *mut libc::c_void) -> libc::c_int {
        // SAFETY: _exit never returns and touches no Rust state.
        unsafe { libc::_exit(0) }
    }
    static mut STACK: [u128; 1024] = [0; 1024];
    // SAFETY: the stack is only used by the child while the parent is
    // suspended (CLONE_VFORK), one child at a time per generator process.
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

/// Waits for the generators; returns the forks they made (in thousands).
fn wait_storm(gens: &[libc::pid_t]) -> u64 {
    let mut k = 0;
    for &g in gens {
        let mut st = 0;
        unsafe { libc::waitpid(g, &mut st, 0) };
        k += u64::from(libc::WEXITSTATUS(st) as u32);
    }
    k * 1000
}

/// Waits for `pid` and returns its user + system CPU time.
fn wait_cpu(pid: libc::pid_t) -> Duration {
    let mut st = 0;
    // SAFETY: rusage is plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut st, 0, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A `sleep` SIGKILLed by a forked sender; returns (victim, sender).
fn kill_in_the_middle() -> (i32, i32) {
    let victim = Command::new("sleep").arg("300").spawn().unwrap();
    let vpid = victim.id() as i32;
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: the child only calls kill and _exit.
    let sender = unsafe { libc::fork() };
    if sender == 0 {
        unsafe {
            libc::kill(vpid, libc::SIGKILL);
            libc::_exit(0);
        }
    }
    unsafe { libc::waitpid(sender, std::ptr::null_mut(), 0) };
    let mut v = victim;
    let _ = v.wait();
    (vpid, sender)
}

// Children are reaped with wait4 (for their rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP storm: needs root");
        return;
    }
    let rate: Option<f64> = std::env::var("STORM_RATE")
        .ok()
        .and_then(|s| s.parse().ok());
    let secs: f64 = std::env::var("STORM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/lock/sigwatch-audit-tests.lock")
        .unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let before = audit_state();

    // sigwatch.
    let dir = std::env::temp_dir().join(format!("sigwatch-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&sock_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut sw = Command::new(env!("CARGO_BIN_EXE_sigwatch"))
        .arg("--json")
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    let swpid = sw.id() as libc::pid_t;
    let stdout = sw.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let t0 = Instant::now();
    let gens = start_storm(2, secs, rate);
    std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
    let (victim, sender) = kill_in_the_middle();
    let forks = wait_storm(&gens);
    let storm_time = t0.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(swpid, libc::SIGTERM) };
    let sw_cpu = wait_cpu(swpid);
    let lines = reader.join().unwrap();
    let objs: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let report = objs
        .iter()
        .find(|o| o["type"] == "kill" && o["victim"]["pid"] == victim);
    let summary = objs.iter().rev().find(|o| o["type"] == "summary");
    let attributed = report.is_some_and(|r| r["origin"] == "user" && r["sender"]["pid"] == sender);
    println!(
        "storm: 2 generators, {:.1} s, ≈{} forks ({:.0}/s)",
        storm_time.as_secs_f64(),
        forks,
        forks as f64 / storm_time.as_secs_f64()
    );
    println!(
        "sigwatch --json: kill of {victim} by {sender} attributed: {attributed}; proc events {}, lost {}; CPU {:.2} s",
        summary.map_or(serde_json::Value::Null, |s| s["proc_events"].clone()),
        summary.map_or(serde_json::Value::Null, |s| s["proc_lost"].clone()),
        sw_cpu.as_secs_f64()
    );
    let after = audit_state();
    println!(
        "audit state {}",
        if after == before {
            "restored"
        } else {
            "NOT RESTORED"
        }
    );

    // forkstat on the same storm.
    let fs_out = dir.join("forkstat.out");
    let fs = Command::new("forkstat")
        .args(["-E", "-S"])
        .stdout(std::fs::File::create(&fs_out).unwrap())
        .stderr(Stdio::null())
        .spawn();
    match fs {
        Ok(fs) => {
            std::thread::sleep(Duration::from_millis(500));
            let t0 = Instant::now();
            let gens = start_storm(2, secs, rate);
            let forks = wait_storm(&gens);
            let el = t0.elapsed();
            std::thread::sleep(Duration::from_millis(500));
            unsafe { libc::kill(fs.id() as i32, libc::SIGINT) };
            let cpu = wait_cpu(fs.id() as i32);
            let logged = std::fs::read_to_string(&fs_out)
                .map(|s| s.lines().filter(|l| l.contains(" fork ")).count())
                .unwrap_or(0);
            println!(
                "forkstat -E -S > file: ≈{} forks ({:.0}/s), {} fork lines logged; CPU {:.2} s",
                forks,
                forks as f64 / el.as_secs_f64(),
                logged,
                cpu.as_secs_f64()
            );
        }
        Err(e) => println!("forkstat not run: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    drop(lock);
}
