//! The real `sigwatch` binary leaves the host exactly as it found it on
//! every way out: the reader of its output going away (`| head -1`), a
//! termination signal while its output is blocked, a write error. Checked
//! against the oracles (`auditctl -l`, `auditctl -s`, the tracefs
//! instances and mounts, the tracefs mount mark).
//!
//! Needs root (CI is root); skips with a message otherwise. Holds the
//! audit test lock for its whole duration.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sigwatch");
const MOUNT_MARK: &str = "/run/sigwatch-tracefs.mount";

fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() && Command::new("auditctl").arg("-s").output().is_ok() {
        true
    } else {
        eprintln!("SKIP {test}: needs root and auditctl");
        false
    }
}

/// The exclusive lock every test touching audit holds.
struct AuditLock(#[allow(dead_code)] File);

fn audit_lock() -> AuditLock {
    let _ = std::fs::create_dir_all("/run/lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/lock/sigwatch-audit-tests.lock")
        .unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    AuditLock(f)
}

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What sigwatch may change on the host.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    enabled: String,
    audit_pid: String,
    rules: String,
    instances: String,
    mounts: String,
    mark: bool,
}

impl HostState {
    fn take() -> HostState {
        let status = sh("auditctl -s");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or("?")
                .trim()
                .to_string()
        };
        HostState {
            enabled: field("enabled"),
            audit_pid: field("pid"),
            rules: sh("auditctl -l 2>&1"),
            instances: sh("ls /sys/kernel/tracing/instances /sys/kernel/debug/tracing/instances 2>/dev/null | grep sigwatch"),
            mounts: sh("grep -E ' (tracefs|debugfs) ' /proc/self/mounts"),
            mark: std::path::Path::new(MOUNT_MARK).exists(),
        }
    }
}

/// A sigwatch under test; on drop (a failed test) it is stopped and
/// whatever it left behind is removed, so a failure cannot leak state.
struct Run {
    child: Child,
    stderr: Receiver<String>,
    err_text: String,
    before: HostState,
}

impl Run {
    fn start(args: &[&str], stdout: Stdio, before: HostState) -> Run {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut r = Run {
            child,
            stderr: rx,
            err_text: String::new(),
            before,
        };
        r.wait_stderr("sigwatch: watching", Duration::from_secs(20));
        r
    }

    fn wait_stderr(&mut self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.err_text.contains(needle) {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) => {
                    self.err_text.push_str(&l);
                    self.err_text.push('\n');
                }
                Err(_) => panic!("no {needle:?} on stderr; got:\n{}", self.err_text),
            }
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// Waits for the exit; `None` if it is still running after `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(200)) {
                    self.err_text.push_str(&l);
                    self.err_text.push('\n');
                }
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid()),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = self.child.wait();
        }
        // Remove exactly the rules this run added, and put `enabled` back.
        let key = format!("key=sigwatch:{}", self.pid());
        for l in sh("auditctl -l").lines().filter(|l| l.contains(&key)) {
            if let Some(rest) = l.strip_prefix("-a ") {
                let mut args = vec!["-d".to_string()];
                args.extend(rest.split_whitespace().map(str::to_string));
                let _ = Command::new("auditctl").args(&args).output();
            }
        }
        let _ = Command::new("auditctl")
            .args(["-e", &self.before.enabled])
            .output();
        // Its trace instance, and the tracefs mount if it made it.
        let pid = self.pid();
        let _ = Command::new("flock")
            .args([
                "/run/lock/sigwatch-tracefs.lock",
                "sh",
                "-c",
                &format!(
                    "for d in /sys/kernel/tracing/instances/sigwatch-{pid} /sys/kernel/tracing/instances/sigwatch-{pid}-*; do [ -d \"$d\" ] && rmdir \"$d\"; done; \
                     if [ \"$(cut -d' ' -f1 {MOUNT_MARK} 2>/dev/null)\" = {pid} ]; then \
                       [ -z \"$(ls /sys/kernel/tracing/instances)\" ] && umount /sys/kernel/tracing; rm -f {MOUNT_MARK}; fi"
                ),
            ])
            .output();
    }
}

/// SIGKILLs a fresh `sleep` (a kill syscall sigwatch reports).
fn kill_a_sleep() {
    let mut c = Command::new("sleep").arg("100").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.kill().unwrap();
    c.wait().unwrap();
}

/// A close-on-exec pipe (a read end leaked into sigwatch would keep its
/// output "read" forever).
fn pipe() -> (File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fresh descriptors we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are fresh, open and ours.
    unsafe {
        use std::os::fd::FromRawFd;
        (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

fn assert_restored(run: &Run) {
    let after = HostState::take();
    assert_eq!(
        run.before, after,
        "host state not restored; stderr:\n{}",
        run.err_text
    );
}

/// `sigwatch --json | head -1`: once the reader has gone, sigwatch stops
/// at once (not at the next report's EPIPE) and restores everything.
#[test]
fn output_reader_going_away_stops_and_restores() {
    if !require_root("output_reader_going_away_stops_and_restores") {
        return;
    }
    let _lock = audit_lock();
    let before = HostState::take();
    let (mut rd, wr) = pipe();
    let mut run = Run::start(&["--json"], Stdio::from(wr), before);
    // `head -1`: read one line, exit.
    kill_a_sleep();
    let mut first = Vec::new();
    let mut b = [0u8; 1];
    while !first.ends_with(b"\n") {
        assert_eq!(rd.read(&mut b).unwrap(), 1, "output ended early");
        first.push(b[0]);
    }
    let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert!(v["type"].is_string(), "{v}");
    drop(rd);
    // No further kill: the reader's exit alone must stop it.
    let st = run.wait_exit(Duration::from_secs(5));
    assert!(
        st.is_some(),
        "sigwatch still runs 5 s after its reader exited; stderr:\n{}",
        run.err_text
    );
    assert!(st.unwrap().success(), "stderr:\n{}", run.err_text);
    assert!(!run.err_text.contains("error"), "{}", run.err_text);
    assert_restored(&run);
}

/// SIGTERM while the output is blocked (a pipe nobody reads, a terminal
/// stopped with Ctrl-S): the termination signals are blocked for the
/// signalfd, so a `write(2)` stuck on the pipe would never return; the
/// signal must still stop sigwatch and clean up.
#[test]
fn sigterm_while_output_is_blocked_still_cleans_up() {
    if !require_root("sigterm_while_output_is_blocked_still_cleans_up") {
        return;
    }
    let _lock = audit_lock();
    let before = HostState::take();
    let (rd, wr) = pipe();
    // SAFETY: fcntl on a pipe we own: the smallest capacity (one page).
    let cap = unsafe { libc::fcntl(rd.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(cap > 0, "F_SETPIPE_SZ");
    let mut run = Run::start(&["--json"], Stdio::from(wr), before);
    // Fill the pipe: with one page, a few reports of about 1.5 kB each
    // leave sigwatch waiting for room (in write(2) before the fix).
    let queued = |f: &File| {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD into a c_int.
        unsafe { libc::ioctl(f.as_raw_fd(), libc::FIONREAD, &mut n) };
        n as usize
    };
    let mut kills = 0;
    while queued(&rd) == 0 {
        kill_a_sleep();
        kills += 1;
        std::thread::sleep(Duration::from_millis(300));
        assert!(kills < 20, "no report reached the pipe");
    }
    for _ in 0..5 {
        kill_a_sleep();
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    run.signal(nix::sys::signal::Signal::SIGTERM);
    let st = run.wait_exit(Duration::from_secs(8));
    assert!(
        st.is_some(),
        "SIGTERM did not stop sigwatch blocked on its output; stderr:\n{}",
        run.err_text
    );
    assert!(st.unwrap().success(), "stderr:\n{}", run.err_text);
    assert_restored(&run);
    drop(rd);
}

/// A write error other than EPIPE (`> /dev/full`: ENOSPC) ends sigwatch
/// with an error, and the early return still restores everything,
/// including the tracefs mount mark (a stale mark naming a dead pid makes
/// a later sigwatch unmount a tracefs that is not its own).
#[test]
fn write_error_exit_restores_everything() {
    if !require_root("write_error_exit_restores_everything") {
        return;
    }
    let _lock = audit_lock();
    let before = HostState::take();
    let full = File::options().write(true).open("/dev/full").unwrap();
    let mut run = Run::start(&["--json"], Stdio::from(full), before);
    let mut st = None;
    for _ in 0..10 {
        kill_a_sleep();
        st = run.wait_exit(Duration::from_secs(1));
        if st.is_some() {
            break;
        }
    }
    let st = st.expect("sigwatch writing to /dev/full did not stop");
    assert_eq!(st.code(), Some(1), "stderr:\n{}", run.err_text);
    assert!(
        run.err_text.contains("error: writing a report"),
        "{}",
        run.err_text
    );
    assert_restored(&run);
}

/// Any catchable signal whose default action terminates (a stray
/// `kill -USR1`, SIGQUIT from a terminal, SIGXCPU at a CPU rlimit) goes
/// through the clean-up instead of leaving the rules behind.
#[test]
fn other_terminating_signals_clean_up_too() {
    if !require_root("other_terminating_signals_clean_up_too") {
        return;
    }
    let _lock = audit_lock();
    use nix::sys::signal::Signal;
    for sig in [Signal::SIGUSR1, Signal::SIGQUIT, Signal::SIGXCPU] {
        let before = HostState::take();
        let mut run = Run::start(&["--json"], Stdio::null(), before);
        run.signal(sig);
        let st = run.wait_exit(Duration::from_secs(8));
        let st = st.unwrap_or_else(|| panic!("{sig} did not stop sigwatch"));
        assert!(st.success(), "{sig}: {st:?}; stderr:\n{}", run.err_text);
        assert_restored(&run);
    }
}

/// Not root (and no capabilities): one line naming the fix, exit 1, rather
/// than a wall of warnings and a watch that can never name a sender.
#[test]
fn non_root_gets_one_line_naming_the_fix() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP non_root_gets_one_line_naming_the_fix: needs root to become nobody");
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(BIN)
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sigwatch as nobody kept running instead of saying what is missing");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("sigwatch: error: not root"), "{err}");
    assert!(err.contains("fix: run as root"), "{err}");
}

/// Two sigwatch at once: the first enables audit and installs the rules,
/// the second finds them and adds nothing. When the first exits it
/// restores `enabled` and removes its rules; the second must notice
/// (within its 3 s check) and enable audit and add rules itself, or it
/// would silently see no kill record any more. At its own exit the host
/// is as before both.
#[test]
fn second_sigwatch_keeps_audit_working_after_the_first_exits() {
    let test = "second_sigwatch_keeps_audit_working_after_the_first_exits";
    if !require_root(test) {
        return;
    }
    let _lock = audit_lock();
    let before = HostState::take();
    if before.enabled != "0" || before.rules.trim() != "No rules" {
        eprintln!("SKIP {test}: needs audit off and no rules to start with ({before:?})");
        return;
    }
    let mut first = Run::start(&["--json"], Stdio::null(), HostState::take());
    let (rd, wr) = pipe();
    let mut second = Run::start(&["--json"], Stdio::from(wr), before);
    first.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(first
        .wait_exit(Duration::from_secs(8))
        .is_some_and(|s| s.success()));
    second.wait_stderr("enabled it again", Duration::from_secs(10));
    second.wait_stderr("added", Duration::from_secs(10));
    // A kill now is recorded by audit (a sighting by tracefs alone would
    // have a null `audit`).
    let mut victim = Command::new("sleep").arg("100").spawn().unwrap();
    let vpid = victim.id() as i64;
    std::thread::sleep(Duration::from_millis(50));
    victim.kill().unwrap();
    victim.wait().unwrap();
    let mut lines = BufReader::new(rd).lines();
    let report = loop {
        let l = lines.next().expect("output ended").unwrap();
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        if v["type"] == "kill" && v["victim"]["pid"] == vpid {
            break v;
        }
    };
    assert_eq!(report["syscall"], "kill", "{report:#}");
    assert!(report["audit"].is_object(), "{report:#}");
    second.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(second
        .wait_exit(Duration::from_secs(8))
        .is_some_and(|s| s.success()));
    assert_restored(&second);
}

/// As the audit pid (`--audit-source unicast`), a stopped sigwatch would
/// stall every audited syscall on the host once the backlog fills: Ctrl-Z
/// (SIGTSTP) must not stop it. The audit pid is released at exit.
#[test]
fn audit_pid_holder_does_not_stop_on_ctrl_z() {
    let test = "audit_pid_holder_does_not_stop_on_ctrl_z";
    if !require_root(test) {
        return;
    }
    let _lock = audit_lock();
    let before = HostState::take();
    if before.audit_pid != "0" {
        eprintln!("SKIP {test}: the audit pid is held ({})", before.audit_pid);
        return;
    }
    let mut run = Run::start(
        &[
            "--json",
            "--audit-source",
            "unicast",
            "--source",
            "proc,audit",
        ],
        Stdio::null(),
        before,
    );
    assert_eq!(HostState::take().audit_pid, run.pid().to_string());
    run.signal(nix::sys::signal::Signal::SIGTSTP);
    std::thread::sleep(Duration::from_millis(500));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", run.pid())).unwrap();
    let state = stat.rsplit_once(") ").unwrap().1.chars().next().unwrap();
    if state == 'T' {
        // Let it go on before failing, so that the clean-up can run.
        run.signal(nix::sys::signal::Signal::SIGCONT);
    }
    assert_ne!(state, 'T', "SIGTSTP stopped the audit pid holder");
    run.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(run
        .wait_exit(Duration::from_secs(8))
        .is_some_and(|s| s.success()));
    assert_restored(&run);
}

/// Bytes waiting in `pid`'s `NETLINK_CONNECTOR` sockets (the proc
/// connector), from `/proc/net/netlink` matched by socket inode.
fn proc_connector_backlog(pid: i32) -> usize {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/netlink").unwrap();
    let mut total = 0;
    let mut found = false;
    for l in table.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 10 && f[1] == "11" && inodes.iter().any(|i| i == f[9]) {
            found = true;
            total += f[4].parse::<usize>().unwrap();
        }
    }
    assert!(found, "no proc connector socket of pid {pid}");
    total
}

/// While nobody reads its output, sigwatch keeps reading the kernel (as
/// the audit pid it must: a stalled audit pid blocks audited syscalls
/// host-wide once the backlog fills): reports wait in a bounded queue,
/// and are all printed once the reader resumes.
#[test]
fn blocked_output_does_not_stop_reading_the_kernel() {
    let test = "blocked_output_does_not_stop_reading_the_kernel";
    if !require_root(test) {
        return;
    }
    let _lock = audit_lock();
    let before = HostState::take();
    let (mut rd, wr) = pipe();
    // SAFETY: fcntl on a pipe we own: the smallest capacity (one page).
    assert!(unsafe { libc::fcntl(rd.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) } > 0);
    let mut run = Run::start(&["--json"], Stdio::from(wr), before);
    let queued = |f: &File| {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD into a c_int.
        unsafe { libc::ioctl(f.as_raw_fd(), libc::FIONREAD, &mut n) };
        n as usize
    };
    let mut kills = 0;
    while queued(&rd) == 0 || kills < 6 {
        kill_a_sleep();
        kills += 1;
        std::thread::sleep(Duration::from_millis(300));
        assert!(kills < 20, "no report reached the pipe");
    }
    // The output is full now. Process events keep coming...
    for _ in 0..100 {
        Command::new("true").status().unwrap();
    }
    std::thread::sleep(Duration::from_millis(700));
    // ...and are read, not left in the socket.
    // (Other activity on the host keeps events coming: the least of a
    // few samples, against a bound far below what a stalled reader piles up.)
    let backlog = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            proc_connector_backlog(run.pid())
        })
        .min()
        .unwrap();
    // Resume reading; everything queued is printed.
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        rd.read_to_end(&mut all).unwrap();
        all
    });
    std::thread::sleep(Duration::from_millis(500));
    run.signal(nix::sys::signal::Signal::SIGTERM);
    let st = run.wait_exit(Duration::from_secs(8));
    assert!(st.is_some_and(|s| s.success()), "stderr:\n{}", run.err_text);
    let all = reader.join().unwrap();
    let reports = String::from_utf8_lossy(&all)
        .lines()
        .filter(|l| l.contains("\"type\":\"kill\""))
        .count();
    assert_restored(&run);
    assert!(
        backlog < 8192,
        "{backlog} bytes of process events piled up in the socket while the output was blocked"
    );
    assert!(reports >= kills, "{reports} kill reports for {kills} kills");
}
