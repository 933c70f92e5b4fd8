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

use sigwatch_test_support::probe::AuditProbe;
use sigwatch_test_support::{skip, wait_until, Need};

/// The binary under test: `$SIGWATCH_BIN` (the static release binary in
/// CI's guests and its host e2e pass), else the one cargo built.
fn bin() -> std::path::PathBuf {
    std::env::var_os("SIGWATCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_sigwatch").into())
}
const MOUNT_MARK: &str = "/run/sigwatch-tracefs.mount";

/// Root and the oracle `auditctl` (decided by raw checks, never by
/// sigwatch); otherwise records the skip.
fn require_root(test: &str) -> bool {
    sigwatch_test_support::require_root(test)
        && sigwatch_test_support::require_tool(test, "auditctl")
}

/// True when the kernel has audit (raw NETLINK_AUDIT probe); otherwise
/// records the skip. For tests whose assertions need audit.
fn require_audit(test: &str) -> bool {
    match audit_probe() {
        AuditProbe::Absent(why) => {
            skip(test, Need::Audit, format!("the kernel has no audit: {why}"));
            false
        }
        _ => true,
    }
}

fn audit_probe() -> &'static AuditProbe {
    sigwatch_test_support::probe::audit_cached()
}

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `auditctl ARGS` stdout; panics unless it succeeds.
fn auditctl(args: &[&str]) -> String {
    let o = Command::new("auditctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("auditctl (the oracle) cannot run: {e}"));
    assert!(
        o.status.success(),
        "auditctl {args:?} failed although the kernel has audit: {}",
        String::from_utf8_lossy(&o.stderr)
    );
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
    /// Panics when audit exists but `auditctl` cannot report it: a
    /// snapshot of garbage would compare equal and prove nothing.
    fn take() -> HostState {
        let (enabled, audit_pid, rules) = if let AuditProbe::Absent(why) = audit_probe() {
            // No NETLINK_AUDIT (audit=0): no audit state to change.
            let a = format!("absent ({why})");
            (a.clone(), a.clone(), a)
        } else {
            let status = auditctl(&["-s"]);
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name} ")))
                    .unwrap_or_else(|| panic!("`auditctl -s` has no {name} line: {status}"))
                    .trim()
                    .to_string()
            };
            (field("enabled"), field("pid"), auditctl(&["-l"]))
        };
        HostState {
            enabled,
            audit_pid,
            rules,
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
        let mut child = Command::new(bin())
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

/// A `sleep 100` that has finished its exec (its comm is `sleep`).
fn spawn_sleep() -> Child {
    let c = Command::new("sleep").arg("100").spawn().unwrap();
    let comm = format!("/proc/{}/comm", c.id());
    assert!(
        wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&comm).is_ok_and(|c| c == "sleep\n")
        }),
        "sleep never exec'd"
    );
    c
}

/// SIGKILLs a fresh `sleep` (a kill syscall sigwatch reports); returns
/// its pid.
fn kill_a_sleep() -> u32 {
    let mut c = spawn_sleep();
    c.kill().unwrap();
    c.wait().unwrap();
    c.id()
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
    let _lock = sigwatch_test_support::AuditLock::acquire();
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
    // No error line (a warning may quote an errno, e.g. "(os error 93)"
    // where the kernel has no audit).
    assert!(
        !run.err_text
            .lines()
            .any(|l| l.starts_with("sigwatch: error")),
        "{}",
        run.err_text
    );
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
    let _lock = sigwatch_test_support::AuditLock::acquire();
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
    kill_a_sleep();
    assert!(
        wait_until(Duration::from_secs(10), || queued(&rd) > 0),
        "no report reached the pipe; stderr:\n{}",
        run.err_text
    );
    // More reports than the page holds: wait until the pipe stops growing
    // (sigwatch has a report it cannot write) rather than for a fixed time.
    for _ in 0..5 {
        kill_a_sleep();
    }
    // (Reports are > 700 bytes: six do not fit in one page.)
    let mut last = queued(&rd);
    let mut same = 0;
    let full = wait_until(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(100));
        let now = queued(&rd);
        same = if now == last { same + 1 } else { 0 };
        last = now;
        same >= 3
    });
    assert!(full, "the pipe kept changing: {last} bytes queued");
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
    let _lock = sigwatch_test_support::AuditLock::acquire();
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
    let _lock = sigwatch_test_support::AuditLock::acquire();
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

/// SIGINT (Ctrl-C) and SIGHUP (the terminal went away), the README's
/// first ways out: exit 0 with the summary on stderr, host restored, also
/// after a report (rules in use, the trace instance busy).
#[test]
fn sigint_and_sighup_clean_up() {
    if !require_root("sigint_and_sighup_clean_up") {
        return;
    }
    let _lock = sigwatch_test_support::AuditLock::acquire();
    use nix::sys::signal::Signal;
    for sig in [Signal::SIGINT, Signal::SIGHUP] {
        let before = HostState::take();
        let during;
        let mut run = Run::start(&["--json"], Stdio::null(), before);
        {
            kill_a_sleep();
            during = HostState::take();
        }
        run.signal(sig);
        let st = run.wait_exit(Duration::from_secs(8));
        let st = st.unwrap_or_else(|| panic!("{sig} did not stop sigwatch"));
        assert!(st.success(), "{sig}: {st:?}; stderr:\n{}", run.err_text);
        let summary = run
            .err_text
            .lines()
            .find(|l| l.contains(" report(s); proc events "))
            .unwrap_or_else(|| panic!("{sig}: no summary on stderr:\n{}", run.err_text));
        assert!(summary.starts_with("sigwatch: "), "{summary}");
        if !matches!(audit_probe(), AuditProbe::Absent(_)) && run.before.rules.trim() == "No rules"
        {
            // It had something to undo: its rules were installed.
            assert_ne!(
                during.rules, run.before.rules,
                "{sig}: no rules while running"
            );
        }
        assert_restored(&run);
    }
}

/// Not root (and no capabilities): one line naming the fix, exit 1, rather
/// than a wall of warnings and a watch that can never name a sender.
#[test]
fn non_root_gets_one_line_naming_the_fix() {
    if !sigwatch_test_support::require_root("non_root_gets_one_line_naming_the_fix") {
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(bin())
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
    if sigwatch_test_support::probe::kernel_version() >= (6, 6) {
        assert!(err.starts_with("sigwatch: error: not root"), "{err}");
    } else {
        // Before 6.6 the proc connector refuses unprivileged users
        // ("connector/cn_proc: Allow non-root users access" came with
        // 6.6): that is the first thing to fail, and the line says so.
        assert!(
            err.starts_with("sigwatch: error: cannot subscribe to process events"),
            "{err}"
        );
        assert!(err.contains("you are not root"), "{err}");
    }
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
    if !require_root(test) || !require_audit(test) {
        return;
    }
    let _lock = sigwatch_test_support::AuditLock::acquire();
    let before = HostState::take();
    if before.enabled != "0" || before.rules.trim() != "No rules" {
        skip(
            test,
            Need::AuditIdle,
            format!("needs audit off and no rules to start with ({before:?})"),
        );
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
    let vpid = kill_a_sleep() as i64;
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
    if !require_root(test) || !require_audit(test) {
        return;
    }
    let _lock = sigwatch_test_support::AuditLock::acquire();
    let before = HostState::take();
    if before.audit_pid != "0" {
        skip(
            test,
            Need::AuditIdle,
            format!("the audit pid is held ({})", before.audit_pid),
        );
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
    // The kernel's own record: the job-control stop signals are ignored
    // (SigIgn of /proc/PID/status), so a Ctrl-Z is discarded when sent.
    let status = std::fs::read_to_string(format!("/proc/{}/status", run.pid())).unwrap();
    let ign = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        assert!(
            ign & (1 << (sig - 1)) != 0,
            "signal {sig} not ignored: SigIgn {ign:x}"
        );
    }
    run.signal(nix::sys::signal::Signal::SIGTSTP);
    // And it never stops within 2 s (checked all along, not once after a sleep).
    let pid = run.pid();
    let stopped = wait_until(Duration::from_secs(2), || {
        sigwatch_test_support::proc_state(pid) == Some('T')
    });
    if stopped {
        // Let it go on before failing, so that the clean-up can run.
        run.signal(nix::sys::signal::Signal::SIGCONT);
    }
    assert!(!stopped, "SIGTSTP stopped the audit pid holder");
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
    let _lock = sigwatch_test_support::AuditLock::acquire();
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
        // Until this kill's report is in the pipe, or the pipe stopped
        // taking reports (a bounded wait, not a fixed sleep).
        let before_kill = queued(&rd);
        wait_until(Duration::from_secs(1), || queued(&rd) > before_kill);
        assert!(kills < 20, "no report reached the pipe");
    }
    // The output is full now. Process events keep coming...
    for _ in 0..100 {
        Command::new("true").status().unwrap();
    }
    // ...and are read, not left in the socket: the backlog falls below a
    // bound far below what a stalled reader piles up (other activity on
    // the host keeps events coming, so it is the least seen by a deadline).
    let pid = run.pid();
    let mut backlog = usize::MAX;
    wait_until(Duration::from_secs(10), || {
        backlog = backlog.min(proc_connector_backlog(pid));
        backlog < 8192
    });
    // Resume reading; everything queued is printed: wait until the reader
    // has all `kills` reports, then stop sigwatch.
    let kill_lines = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = kill_lines.clone();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = rd.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let k = String::from_utf8_lossy(&all)
                .matches("\"type\":\"kill\"")
                .count();
            counter.store(k, std::sync::atomic::Ordering::SeqCst);
        }
        all
    });
    let printed = wait_until(Duration::from_secs(10), || {
        kill_lines.load(std::sync::atomic::Ordering::SeqCst) >= kills
    });
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
    assert!(printed, "the queued reports were not printed within 10 s");
    assert!(reports >= kills, "{reports} kill reports for {kills} kills");
}

/// Set (to the outer test's mount namespace inode) in the helper process.
const NS_ENV: &str = "SIGWATCH_MOUNT_TEST_OUTER_MNT_NS";

fn mnt_ns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/mnt").unwrap().ino()
}

/// Trace instances (host-wide, seen through this namespace's tracefs)
/// not named `own...`.
fn foreign_instances(own: &str) -> Vec<String> {
    std::fs::read_dir("/sys/kernel/tracing/instances")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(own))
                .collect()
        })
        .unwrap_or_default()
}

/// After a sigwatch that used its own tracefs mount exited: when the
/// mount stays because another tracer's instance is in it (instances are
/// host-wide: another test run on this host), by design, checks that the
/// mark stays too, records a partial pass and returns true.
fn kept_for_foreign_instances(foreign_before: &[String], what: &str) -> bool {
    if tracefs_mounts().is_empty() {
        return false;
    }
    let foreign_after = foreign_instances("sigwatch-never");
    assert!(
        !foreign_before.is_empty() || !foreign_after.is_empty(),
        "tracefs left mounted with no trace instance in it"
    );
    assert!(
        std::fs::read_to_string(MOUNT_MARK).is_ok(),
        "the mark was removed while the mount stays"
    );
    sigwatch_test_support::partial(
        "tracefs_it_mounted_is_unmounted_and_its_mark_removed",
        Need::Host("no foreign trace instances".into()),
        format!("foreign trace instances {foreign_before:?} / {foreign_after:?}: {what} was not checked"),
    );
    true
}

/// Mount points of tracefs and debugfs in this process's mount namespace,
/// in mount order. debugfs goes too: with debugfs mounted, a look at
/// `debugfs/tracing` automounts tracefs there, and then nobody needs to
/// mount it.
fn tracing_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, p)| p.starts_with("tracefs ") || p.starts_with("debugfs "))
        })
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect()
}

/// Mount points of tracefs in this process's mount namespace.
fn tracefs_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, p)| p.starts_with("tracefs "))
        })
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect()
}

/// "Unmounts tracefs if it mounted it", and the mount mark that lets a
/// successor undo the mount of a sigwatch that died by SIGKILL: run with
/// tracefs really unmounted. The host's tracefs is never touched: this
/// test re-runs its own binary under `unshare --mount --propagation
/// private`, and only that private namespace loses its tracefs mounts and
/// gets a /run of its own (so the mark is the namespace's own file too).
#[test]
fn tracefs_it_mounted_is_unmounted_and_its_mark_removed() {
    let test = "tracefs_it_mounted_is_unmounted_and_its_mark_removed";
    if !require_root(test) || !sigwatch_test_support::require_tool(test, "unshare") {
        return;
    }
    if let Err(why) = sigwatch_test_support::probe::tracefs() {
        skip(test, Need::Tracefs, why);
        return;
    }
    let _lock = sigwatch_test_support::AuditLock::acquire();
    let before = HostState::take();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mount_scenarios_in_private_namespace",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NS_ENV, mnt_ns().to_string())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "the helper failed: {:?}", out.status);
    assert!(
        text.contains("test mount_scenarios_in_private_namespace ... ok"),
        "the helper did not run"
    );
    // The host saw none of it (trace instances are host-wide and other
    // tracers come and go: the rest of the state is compared).
    let after = HostState::take();
    assert_eq!(
        (
            &before.enabled,
            &before.audit_pid,
            &before.rules,
            &before.mounts,
            before.mark
        ),
        (
            &after.enabled,
            &after.audit_pid,
            &after.rules,
            &after.mounts,
            after.mark
        ),
        "host state changed"
    );
}

/// The body of [`tracefs_it_mounted_is_unmounted_and_its_mark_removed`],
/// in a private mount namespace (refuses to run anywhere else).
#[test]
#[ignore = "run by tracefs_it_mounted_is_unmounted_and_its_mark_removed in a private mount namespace"]
fn mount_scenarios_in_private_namespace() {
    let outer: u64 = std::env::var(NS_ENV)
        .expect("run only by tracefs_it_mounted_is_unmounted_and_its_mark_removed")
        .parse()
        .unwrap();
    assert_ne!(mnt_ns(), outer, "not in a mount namespace of our own");
    let cstr = |s: &str| std::ffi::CString::new(s).unwrap();
    // A /run of this namespace's own: the mark and tracesig's lock file.
    // SAFETY: valid C strings; a mount in our own private namespace.
    let rc = unsafe {
        libc::mount(
            cstr("tmpfs").as_ptr(),
            cstr("/run").as_ptr(),
            cstr("tmpfs").as_ptr(),
            0,
            cstr("mode=755").as_ptr().cast(),
        )
    };
    assert_eq!(
        rc,
        0,
        "mount tmpfs /run: {}",
        std::io::Error::last_os_error()
    );
    std::fs::create_dir_all("/run/lock").unwrap();
    for mp in tracing_mounts().iter().rev() {
        // SAFETY: a valid C string; a mount of our own private namespace.
        let rc = unsafe { libc::umount2(cstr(mp).as_ptr(), libc::MNT_DETACH) };
        assert_eq!(rc, 0, "umount {mp}: {}", std::io::Error::last_os_error());
    }
    assert_eq!(tracefs_mounts(), Vec::<String>::new());
    let mark = || std::fs::read_to_string(MOUNT_MARK).ok();
    let args = ["--json", "--source", "proc,tracefs"];

    // 1. It mounts tracefs, marks the mount, reports through it, and at
    //    exit unmounts it and removes the mark.
    let (rd, wr) = pipe();
    let mut run = Run::start(&args, Stdio::from(wr), HostState::take());
    assert_eq!(tracefs_mounts(), vec!["/sys/kernel/tracing".to_string()]);
    let m = mark().expect("no mount mark while sigwatch's mount is in use");
    assert!(
        m.starts_with(&format!("{} /sys/kernel/tracing", run.pid())),
        "mark: {m:?}"
    );
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(rd).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let victim = kill_a_sleep();
    let report = loop {
        let l = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no report of the kill");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        if v["type"] == "kill" && v["victim"]["pid"] == victim {
            break v;
        }
    };
    assert_eq!(report["origin"], "user", "{report:#}");
    assert!(report["trace"].is_object(), "seen by tracefs: {report:#}");
    let own = format!("sigwatch-{}", run.pid());
    let foreign_before = foreign_instances(&own);
    run.signal(nix::sys::signal::Signal::SIGTERM);
    let st = run.wait_exit(Duration::from_secs(8));
    assert!(st.is_some_and(|s| s.success()), "stderr:\n{}", run.err_text);
    if kept_for_foreign_instances(&foreign_before, "the unmount") {
        return;
    }
    assert_eq!(tracefs_mounts(), Vec::<String>::new(), "{}", run.err_text);
    assert_eq!(mark(), None, "mark left behind");
    drop(run);

    // 2. A sigwatch that mounted tracefs and died by SIGKILL leaves the
    //    mount and the mark; the next one uses the mount and undoes it at
    //    exit.
    let mut first = Run::start(&args, Stdio::null(), HostState::take());
    let first_pid = first.pid();
    first.signal(nix::sys::signal::Signal::SIGKILL);
    assert!(first.wait_exit(Duration::from_secs(8)).is_some());
    assert_eq!(tracefs_mounts(), vec!["/sys/kernel/tracing".to_string()]);
    assert!(
        mark().is_some_and(|m| m.starts_with(&format!("{first_pid} "))),
        "mark: {:?}",
        mark()
    );
    let mut second = Run::start(&args, Stdio::null(), HostState::take());
    assert!(
        second.err_text.contains("removed stale trace instance"),
        "{}",
        second.err_text
    );
    let own = format!("sigwatch-{}", second.pid());
    let foreign_before = foreign_instances(&own);
    second.signal(nix::sys::signal::Signal::SIGTERM);
    let st = second.wait_exit(Duration::from_secs(8));
    assert!(
        st.is_some_and(|s| s.success()),
        "stderr:\n{}",
        second.err_text
    );
    if kept_for_foreign_instances(&foreign_before, "the predecessor's unmount") {
        return;
    }
    assert_eq!(
        tracefs_mounts(),
        Vec::<String>::new(),
        "the dead predecessor's mount is still there; stderr:\n{}",
        second.err_text
    );
    assert_eq!(mark(), None, "mark left behind");
    drop(first);
}
