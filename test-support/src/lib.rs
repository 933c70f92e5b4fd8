//! Test support shared by every crate's tests.
//!
//! - [`probe`]: whether the kernel offers a feature, found out with raw
//!   syscalls and files, never through procconn, auditsig or tracesig. A
//!   bug in the code under test must make its tests fail, not skip.
//! - [`skip`] / [`partial`]: the only way a test may skip or run only in
//!   part. Each call prints `SKIP <test> [<need>]: <why>` (or `PARTIAL`)
//!   on stderr and appends the same line to the skip log
//!   ([`skip_log_path`]), which CI prints at the end of the run and checks:
//!   a skip whose [`Need`] CI provides fails the job.
//! - [`wait_until`]: a condition polled until a deadline, instead of a
//!   sleep followed by an assertion.
#![allow(clippy::unwrap_used)]

pub mod probe;

use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a skipped (or partly run) test lacked. CI lists the needs it
/// provides; a skip for one of those fails CI (see `ci/test-skips.sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Need {
    /// Running as root (euid 0).
    Root,
    /// A program on PATH (`auditctl`, `python3`, `setpriv`, ...).
    Tool(String),
    /// The kernel's audit (NETLINK_AUDIT answers AUDIT_GET).
    Audit,
    /// The audit multicast group (`AUDIT_NLGRP_READLOG`, kernel >= 3.16).
    AuditMulticast,
    /// Audit idle on the host: no audit daemon holds the audit pid and
    /// no audit rules of the host's own are loaded.
    AuditIdle,
    /// tracefs (in `/proc/filesystems`).
    Tracefs,
    /// debugfs (in `/proc/filesystems`).
    Debugfs,
    /// The proc connector (NETLINK_CONNECTOR with `cn_proc`).
    ProcConnector,
    /// Something else about the kernel (a tracepoint, `cgroup.kill`, a
    /// kernel without audit for the audit-absent tests, ...): free text.
    Kernel(String),
    /// Something about the host that CI does not arrange (a cgroup
    /// layout, a pid that got reused, the architecture): free text.
    Host(String),
}

impl Need {
    /// The tag written between brackets in the log line.
    pub fn tag(&self) -> String {
        match self {
            Need::Root => "root".into(),
            Need::Tool(t) => format!("tool:{t}"),
            Need::Audit => "audit".into(),
            Need::AuditMulticast => "audit-multicast".into(),
            Need::AuditIdle => "audit-idle".into(),
            Need::Tracefs => "tracefs".into(),
            Need::Debugfs => "debugfs".into(),
            Need::ProcConnector => "proc-connector".into(),
            Need::Kernel(w) => format!("kernel:{}", w.replace([' ', ']'], "-")),
            Need::Host(w) => format!("host:{}", w.replace([' ', ']'], "-")),
        }
    }
}

/// Where skip and partial lines go: `$SIGWATCH_SKIP_LOG`, else
/// `target/test-skips.log` of the workspace.
pub fn skip_log_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SIGWATCH_SKIP_LOG") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-skips.log")
}

fn record(kind: &str, test: &str, need: &Need, why: &dyn Display) {
    let line = format!("{kind} {test} [{}]: {why}", need.tag());
    // One line, no newline inside: the log is read line by line.
    let line = line.replace('\n', " / ");
    eprintln!("{line}");
    let path = skip_log_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // O_APPEND and one write per line: test processes running at the
    // same time do not interleave within a line.
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(mut f) => {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
        Err(e) => eprintln!("warning: cannot append to {}: {e}", path.display()),
    }
}

/// Records that `test` is skipped because it lacks `need`; the caller
/// returns right after.
pub fn skip(test: &str, need: Need, why: impl Display) {
    record("SKIP", test, &need, &why);
}

/// Records that `test` ran only in part (some assertions did not run)
/// because it lacks `need`.
pub fn partial(test: &str, need: Need, what: impl Display) {
    record("PARTIAL", test, &need, &what);
}

/// True when running as root; otherwise records the skip.
pub fn require_root(test: &str) -> bool {
    if probe::is_root() {
        return true;
    }
    skip(test, Need::Root, "not root");
    false
}

/// True when `tool` is on PATH; otherwise records the skip.
pub fn require_tool(test: &str, tool: &str) -> bool {
    if probe::tool(tool).is_some() {
        return true;
    }
    skip(
        test,
        Need::Tool(tool.into()),
        format!("`{tool}` is not on PATH"),
    );
    false
}

/// Polls `cond` every 10 ms until it holds (true) or `timeout` passes
/// (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The state (`R`, `S`, `Z`, ...) of process `pid` from `/proc/PID/stat`,
/// None when it is gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// The CPU time process `pid` used so far, in clock ticks (`utime` +
/// `stime`, fields 14 and 15 of `/proc/PID/stat`); None when it is gone.
pub fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the comm: field 3 (the state) is the first.
    let mut f = stat.rsplit_once(") ")?.1.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Whether process `pid` sleeps in the kernel (state `S`): a freshly
/// started helper has reached its blocking call.
pub fn is_sleeping(pid: i32) -> bool {
    proc_state(pid) == Some('S')
}

/// The lock file every test (in any crate) that touches audit, a global
/// host state, holds for its whole run.
pub const AUDIT_LOCK_PATH: &str = "/run/lock/sigwatch-audit-tests.lock";

/// An exclusive `flock` on [`AUDIT_LOCK_PATH`], held until dropped.
#[derive(Debug)]
pub struct AuditLock(#[allow(dead_code)] std::fs::File);

impl AuditLock {
    /// Blocks until the lock is ours.
    ///
    /// # Panics
    /// When the lock file cannot be opened or locked (a test cannot run
    /// safely then).
    pub fn acquire() -> AuditLock {
        use std::os::fd::AsRawFd;
        let _ = std::fs::create_dir_all("/run/lock");
        let f = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(AUDIT_LOCK_PATH)
            .unwrap_or_else(|e| panic!("open {AUDIT_LOCK_PATH}: {e}"));
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(
            rc,
            0,
            "flock {AUDIT_LOCK_PATH}: {}",
            std::io::Error::last_os_error()
        );
        AuditLock(f)
    }
}

/// The processes of process group `pgid` (from `/proc/PID/stat`).
pub fn pgrp_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i32>().ok())
                    == Some(pgid)
            })
        })
        .collect()
}

/// Waits until process `pid` is idle: asleep, its CPU time unchanged for
/// `quiet` (a process still working through a burst, or runnable and
/// waiting for a CPU on a loaded machine, is not). `false` after
/// `timeout`.
pub fn wait_idle(pid: i32, quiet: Duration, timeout: Duration) -> bool {
    let sample = || (is_sleeping(pid), cpu_ticks(pid));
    let deadline = Instant::now() + timeout;
    let mut last = (sample(), Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = sample();
        if now != last.0 || !now.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= quiet {
            return true;
        }
    }
    false
}

/// Spawns `cmd` with `NOTIFY_SOCKET` a datagram socket in `dir`, and
/// returns it once it said `READY=1` (sigwatch does, once its witnesses
/// are live); panics when it does not within 30 s.
pub fn spawn_ready(cmd: &mut std::process::Command, dir: &std::path::Path) -> std::process::Child {
    let path = dir.join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("socket timeout");
    let child = cmd.env("NOTIFY_SOCKET", &path).spawn().expect("spawn");
    let mut buf = [0u8; 256];
    loop {
        match notify.recv(&mut buf) {
            Ok(n)
                if String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1") =>
            {
                return child
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{cmd:?} never said READY=1: {e}"),
        }
    }
}
