//! Helpers for the end-to-end tests: run the real `sigwatch` binary as root
//! against real scenarios and read its JSON lines.
//!
//! Every test that touches audit holds [`AuditLock`] (an exclusive `flock`
//! shared with the crates' own audit tests, so they never run concurrently)
//! and checks with [`AuditSnapshot`] that audit is left exactly as found.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader};

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use sigwatch_test_support::probe;
pub use sigwatch_test_support::probe::{audit as probe_audit, AuditProbe};
pub use sigwatch_test_support::{partial, skip, wait_for as wait_for_some, wait_until, Need};

/// True when running as root; otherwise records why the calling test
/// skips (`SKIP <test> [root]: ...`, listed by CI's skip summary).
pub fn require_root(test: &str) -> bool {
    if probe::is_root() {
        return true;
    }
    skip(test, Need::Root, "needs root (audit rules, proc connector)");
    false
}

/// True when `cmd` is on PATH; otherwise records why the calling test
/// skips.
pub fn require_tool(test: &str, cmd: &str) -> bool {
    sigwatch_test_support::require_tool(test, cmd)
}

/// The kernel's audit as probed once per test process (it cannot change
/// while the kernel runs).
pub fn audit_probe() -> &'static AuditProbe {
    probe::audit_cached()
}

/// Whether the kernel has audit (NETLINK_AUDIT exists). A probe that is
/// refused (audit exists, the socket or AUDIT_GET fails for another
/// reason) counts as present: the test then runs into the fault and fails
/// loudly instead of skipping.
pub fn audit_present() -> bool {
    !matches!(audit_probe(), AuditProbe::Absent(_))
}

/// True when the kernel has audit; otherwise records
/// `SKIP <test> [audit]: the kernel has no audit ...` and the calling test
/// returns. For tests whose assertions need audit (a syscall, an audit
/// serial, rules, the audit pid).
pub fn require_audit(test: &str) -> bool {
    match audit_probe() {
        AuditProbe::Absent(why) => {
            skip(
                test,
                Need::Audit,
                format!("the kernel has no audit (booted with audit=0 or CONFIG_AUDIT off): {why}"),
            );
            false
        }
        AuditProbe::Refused(why) => {
            eprintln!("{test}: warning: audit present but the probe failed: {why}");
            true
        }
        AuditProbe::Present => true,
    }
}

/// Whether the audit multicast group can be joined (raw bind of a
/// NETLINK_AUDIT socket to `AUDIT_NLGRP_READLOG`).
pub fn audit_multicast_present() -> bool {
    probe::audit_multicast().is_ok()
}

/// Whether the kernel has tracefs with `signal:signal_generate` (the
/// witness sigwatch uses when audit is absent), from `/proc/filesystems`
/// and the event's files.
pub fn tracefs_present() -> bool {
    probe::tracefs().is_ok()
}

/// True when the kernel has tracefs; otherwise records the skip.
pub fn require_tracefs(test: &str) -> bool {
    match probe::tracefs() {
        Ok(()) => true,
        Err(why) => {
            skip(test, Need::Tracefs, why);
            false
        }
    }
}

/// True when sigwatch can name a sender at all: audit or tracefs is
/// there. Otherwise records why the calling test skips (its report could
/// only say origin `unknown`, which `audit_absent_*` tests check).
pub fn require_sender_witness(test: &str) -> bool {
    if audit_present() || tracefs_present() {
        return true;
    }
    skip(
        test,
        Need::Tracefs,
        "the kernel has neither audit nor tracefs: no sender can be named",
    );
    false
}

/// Exclusive lock serializing every test (in any crate) that touches audit.
pub use sigwatch_test_support::AuditLock;

/// Audit's global state as seen before a test, to compare after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSnapshot {
    /// The kernel has no audit (booted with `audit=0` or without
    /// CONFIG_AUDIT): there is no state a test could change.
    Absent,
    /// What Debian's `auditctl` (the oracle) reports.
    Present {
        /// `enabled` value of `auditctl -s`.
        enabled: String,
        /// `pid` value of `auditctl -s` (the audit daemon, 0 when none).
        pid: String,
        /// `auditctl -l` output.
        rules: String,
    },
}

fn auditctl_out(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("auditctl (the oracle; Debian package auditd) cannot run: {e}"));
    assert!(
        out.status.success(),
        "auditctl {args:?} failed although the kernel has audit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl AuditSnapshot {
    /// Reads the current audit state through Debian's `auditctl` (the
    /// oracle), or [`AuditSnapshot::Absent`] when the kernel has no audit.
    /// Panics when audit exists but `auditctl` cannot report it (a
    /// snapshot of garbage would compare equal and prove nothing).
    pub fn take() -> AuditSnapshot {
        if !audit_present() {
            return AuditSnapshot::Absent;
        }
        let status = auditctl_out(&["-s"]);
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("`auditctl -s` has no {name} line: {status}"))
        };
        AuditSnapshot::Present {
            enabled: field("enabled"),
            pid: field("pid"),
            rules: auditctl_out(&["-l"]),
        }
    }

    /// `enabled` (None when the kernel has no audit).
    pub fn enabled(&self) -> Option<&str> {
        match self {
            AuditSnapshot::Present { enabled, .. } => Some(enabled),
            AuditSnapshot::Absent => None,
        }
    }

    /// The audit daemon's pid, "0" when none (None when the kernel has no
    /// audit).
    pub fn pid(&self) -> Option<&str> {
        match self {
            AuditSnapshot::Present { pid, .. } => Some(pid),
            AuditSnapshot::Absent => None,
        }
    }

    /// `auditctl -l` output (None when the kernel has no audit).
    pub fn rules(&self) -> Option<&str> {
        match self {
            AuditSnapshot::Present { rules, .. } => Some(rules),
            AuditSnapshot::Absent => None,
        }
    }

    /// Panics (after restoring `enabled`) unless audit is as it was.
    pub fn assert_restored(&self) {
        let now = AuditSnapshot::take();
        if now != *self {
            // Leave the host clean even when the test fails.
            if let Some(e) = self.enabled() {
                let _ = Command::new("auditctl").args(["-e", e]).output();
            }
            panic!("audit not restored:\nbefore: {self:?}\nafter:  {now:?}");
        }
    }
}

/// Path of the `sigwatch` binary built by this `cargo test` run
/// (`$SIGWATCH_BIN` overrides, e.g. inside the qemu guest).
pub fn sigwatch_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SIGWATCH_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-exe> → target/<profile>/sigwatch
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join("sigwatch");
    assert!(
        bin.exists(),
        "{} missing: build it (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// A running `sigwatch --json` whose stdout lines arrive as JSON values.
#[derive(Debug)]
pub struct Sigwatch {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    /// Each stdout line: parsed, or the raw line when it is not a JSON
    /// object (the test fails on it in its own thread, see [`Sigwatch::recv`]).
    lines: Receiver<Result<Value, String>>,
    /// Every JSON object received so far, in order.
    pub seen: Vec<Value>,
    stderr_path: PathBuf,
    _dir: TempDir,
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates a fresh directory under /tmp.
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "sigwatch-e2e-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ rand_u64()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

fn rand_u64() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Sigwatch {
    /// Starts `sigwatch --json ARGS` and waits for its `READY=1`
    /// (sd_notify), i.e. until both sources are live.
    pub fn start(args: &[&str]) -> Sigwatch {
        Sigwatch::start_with(args, &[], false)
    }

    /// Like [`Sigwatch::start`], with extra environment variables and,
    /// when `stdin` is true, a pipe on its standard input
    /// ([`Sigwatch::stdin`]).
    pub fn start_with(args: &[&str], env: &[(&str, &str)], stdin: bool) -> Sigwatch {
        let dir = TempDir::new("sw");
        let notify_path = dir.0.join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let stderr_path = dir.0.join("stderr.log");
        let mut child = Command::new(sigwatch_bin())
            .arg("--json")
            .args(args)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin_pipe = child.stdin.take();
        let (tx, rx) = channel();
        // The reader thread only forwards: a line that is not a JSON
        // object is handed to the test's thread, which fails on it (a
        // panic in this thread would go unnoticed).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                let item = match serde_json::from_slice::<Value>(&line) {
                    Ok(v) if v.is_object() => Ok(v),
                    Ok(_) => Err(format!(
                        "not a JSON object: {}",
                        String::from_utf8_lossy(&line)
                    )),
                    Err(e) => Err(format!(
                        "not JSON ({e}): {}",
                        String::from_utf8_lossy(&line)
                    )),
                };
                if tx.send(item).is_err() {
                    break;
                }
            }
        });
        let mut buf = [0u8; 512];
        let waited = Instant::now();
        let not_ready = loop {
            match notify.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if msg.lines().any(|l| l == "READY=1") {
                        break None;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        let mut sw = Sigwatch {
            child,
            stdin: stdin_pipe,
            lines: rx,
            seen: Vec::new(),
            stderr_path,
            _dir: dir,
        };
        if let Some(e) = not_ready {
            // Whether it died (and how) tells a crash from a hang.
            let status = sw.child.try_wait();
            let _ = sw.child.kill();
            let _ = sw.child.wait();
            panic!(
                "sigwatch did not send READY=1 ({e} after {:?}; sigwatch {status:?}); stderr:\n{}",
                waited.elapsed(),
                sw.stderr()
            );
        }
        sw
    }

    /// Its standard input (started with `stdin` true).
    pub fn stdin(&mut self) -> &mut std::process::ChildStdin {
        self.stdin.as_mut().expect("started without a stdin pipe")
    }

    /// What sigwatch wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The pid of the sigwatch process.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Like [`Sigwatch::wait_for`], but `None` at the timeout instead of
    /// a panic.
    pub fn try_wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return Some(v.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return Some(v);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits up to `timeout` for an object matching `pred` (earlier objects
    /// are kept in `seen`).
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "no matching JSON object within {timeout:?}; seen: {:#?}\nstderr:\n{}",
                        self.seen,
                        self.stderr()
                    )
                }
            }
        }
    }

    /// Waits for the `kill` report whose victim has pid `victim`.
    pub fn wait_kill_of(&mut self, victim: i32) -> Value {
        self.wait_for(Duration::from_secs(20), |v| {
            v["type"] == "kill" && v["victim"]["pid"] == victim
        })
    }

    /// Waits until the watcher has applied every process event queued
    /// before this call, and returns the pid of the marker it used: a
    /// `sleep` started now is killed, and the watcher reads process
    /// events in order, so the marker's report comes after everything
    /// before its fork was read. A test that starts thousands of
    /// processes and kills them at once uses it: the watcher reads argv
    /// when it applies an exec, and a victim killed before then has no
    /// argv left to read (null in the report), which is the test's
    /// timing, not what the test is about.
    pub fn catch_up(&mut self) -> i32 {
        let mut marker = spawn_sleep();
        let pid = marker.id() as i32;
        marker.kill().unwrap();
        marker.wait().unwrap();
        self.wait_for(Duration::from_secs(120), |v| {
            v["type"] == "kill" && v["victim"]["pid"] == pid
        });
        pid
    }

    /// SIGTERM, then waits for exit; returns the exit status code and the
    /// remaining objects (the summary is the last one).
    pub fn stop(mut self) -> (Option<i32>, Vec<Value>) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = wait_timeout(&mut self.child, Duration::from_secs(20));
        (status, self.rest())
    }

    /// Sends `sig`, then waits for exit like [`Sigwatch::stop`].
    pub fn stop_with(mut self, sig: nix::sys::signal::Signal) -> (Option<i32>, Vec<Value>) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
        let status = wait_timeout(&mut self.child, Duration::from_secs(20));
        (status, self.rest())
    }

    /// Waits (up to 20 s) for sigwatch to exit by itself (e.g. after
    /// `-c N`); returns its exit code and every object it printed.
    pub fn wait_exit(mut self) -> (Option<i32>, Vec<Value>) {
        let status = wait_timeout(&mut self.child, Duration::from_secs(20));
        (status, self.rest())
    }

    /// Every remaining stdout object until stdout closes (sigwatch has
    /// exited), appended to `seen`; panics on a line that is not a JSON
    /// object, also one after the summary.
    fn rest(&mut self) -> Vec<Value> {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(5)) {
                Ok(Ok(v)) => self.seen.push(v),
                Ok(Err(line)) => panic!(
                    "sigwatch printed {line}\nafter: {:#?}\nstderr:\n{}",
                    self.seen,
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("stdout still open 5 s after sigwatch exited")
                }
            }
        }
        std::mem::take(&mut self.seen)
    }

    /// The next stdout object within `timeout`; panics on a line that is
    /// not a JSON object.
    fn recv(&mut self, timeout: Duration) -> Result<Value, RecvTimeoutError> {
        match self.lines.recv_timeout(timeout)? {
            Ok(v) => Ok(v),
            Err(line) => panic!(
                "sigwatch printed {line}\nafter: {:#?}\nstderr:\n{}",
                self.seen,
                self.stderr()
            ),
        }
    }

    /// SIGKILLs sigwatch (to test recovery after a crash).
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sigwatch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            wait_timeout(&mut self.child, Duration::from_secs(20));
        }
    }
}

/// Waits for `child` up to `timeout`, SIGKILLing it after that; returns its
/// exit code (None when killed by a signal).
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().ok().and_then(|s| s.code());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a long-lived victim (`sleep`), returning the child.
///
/// Returns once the child's exec is complete: `Command::spawn` can return
/// before the kernel renames the child, and a kill in that window records
/// the parent's thread name as the victim's comm.
pub fn spawn_sleep() -> Child {
    let child = Command::new("sleep").arg("300").spawn().unwrap();
    let comm = format!("/proc/{}/comm", child.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&comm).map_or(true, |c| c.trim() != "sleep") {
        assert!(Instant::now() < deadline, "sleep never exec'd");
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// Runs a shell script (body) through `sh -c` with extra args; waits.
pub fn run_sh(script: &str, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .output()
        .unwrap()
}

/// argv of a JSON process object as Strings.
pub fn argv(v: &Value) -> Vec<String> {
    v["argv"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The trace instance of the sigwatch with this pid, if it exists:
/// `instances/sigwatch-<pid>-s<start time>` (or the older
/// `sigwatch-<pid>`).
pub fn trace_instance_of(pid: i32) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new("/sys/kernel/tracing/instances");
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let rest = name.strip_prefix(&format!("sigwatch-{pid}"))?;
        (rest.is_empty() || rest.starts_with("-s")).then(|| e.path())
    })
}

/// The tracefs state a test must leave as found: whether tracefs is
/// mounted and which trace instances exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSnapshot {
    /// `/proc/mounts` has a tracefs entry.
    pub mounted: bool,
    /// Names under `/sys/kernel/tracing/instances` (empty when unmounted).
    pub instances: Vec<String>,
}

impl TraceSnapshot {
    /// Reads the current state.
    pub fn take() -> TraceSnapshot {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mounted = mounts
            .lines()
            .any(|l| l.split_whitespace().nth(2) == Some("tracefs"));
        let mut instances: Vec<String> = std::fs::read_dir("/sys/kernel/tracing/instances")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        instances.sort();
        TraceSnapshot { mounted, instances }
    }

    /// Panics unless tracefs is as it was (waits up to 2 s: the instance
    /// is removed when sigwatch exits). Trace instances are host-wide and
    /// other tracers come and go meanwhile: an instance that appeared is
    /// tolerated only while its owner (`sigwatch-<pid>...`) still runs, one
    /// that vanished only when its owner has exited (it removed its own);
    /// an instance left by a dead process, or removed under a live one,
    /// fails.
    pub fn assert_restored(&self) {
        let owner_alive = |name: &str| {
            name.strip_prefix("sigwatch-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
                .is_some_and(|p| {
                    sigwatch_test_support::proc_state(p).is_some_and(|s| s != 'Z' && s != 'X')
                })
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let now = TraceSnapshot::take();
            let appeared_ok = now
                .instances
                .iter()
                .filter(|i| !self.instances.contains(i))
                .all(|i| owner_alive(i));
            let vanished_ok = self
                .instances
                .iter()
                .filter(|i| !now.instances.contains(i))
                .all(|i| !owner_alive(i));
            if now.mounted == self.mounted && appeared_ok && vanished_ok {
                return;
            }
            if Instant::now() > deadline {
                panic!("tracefs not restored:\nbefore: {self:?}\nafter:  {now:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A cgroup v1 memory group limited to 32 MiB without swap, removed on
/// drop: a process run inside it that keeps allocating is killed by the
/// (memory-cgroup) OOM killer.
#[derive(Debug)]
pub struct MemoryCgroup(PathBuf);

impl MemoryCgroup {
    /// Creates `/sys/fs/cgroup/memory/sigwatch-e2e-<tag>-<pid>`, or prints
    /// why `test` skips when the v1 memory controller is not there.
    pub fn create(test: &str, tag: &str) -> Option<MemoryCgroup> {
        let base = Path::new("/sys/fs/cgroup/memory");
        if !base.join("memory.limit_in_bytes").exists() {
            skip(
                test,
                Need::Host("cgroup v1 memory".into()),
                format!("no cgroup v1 memory controller at {}", base.display()),
            );
            return None;
        }
        let cg = base.join(format!("sigwatch-e2e-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&cg).unwrap();
        std::fs::write(cg.join("memory.limit_in_bytes"), "33554432").unwrap();
        let _ = std::fs::write(cg.join("memory.swappiness"), "0");
        Some(MemoryCgroup(cg))
    }

    /// Runs `tail /dev/zero` (which grows without bound) in the group until
    /// it dies; returns its pid and exit status.
    pub fn run_hog(&self) -> (i32, std::process::ExitStatus) {
        let mut hog = Command::new("sh")
            .args([
                "-c",
                "echo $$ > \"$0/cgroup.procs\" && exec tail /dev/zero",
                self.0.to_str().unwrap(),
            ])
            .spawn()
            .unwrap();
        let pid = hog.id() as i32;
        (pid, hog.wait().unwrap())
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Cgroup directories created under one hierarchy, removed deepest first
/// on drop (after their processes are gone). Tests running at once share
/// parents such as `/system.slice`: a directory this test process made
/// is counted per user and removed by the last one,
/// so a parent made by one test and still used by another is not left
/// behind (nor removed too early).
#[derive(Debug)]
pub struct Cgroups {
    root: PathBuf,
    used: Vec<PathBuf>,
}

/// The cgroup directories this test process made, with how many
/// [`Cgroups`] use each.
fn made_by_tests() -> std::sync::MutexGuard<'static, std::collections::HashMap<PathBuf, usize>> {
    static MADE: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<PathBuf, usize>>> =
        std::sync::OnceLock::new();
    MADE.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl Cgroups {
    pub fn new(root: &Path) -> Cgroups {
        Cgroups {
            root: root.to_path_buf(),
            used: Vec::new(),
        }
    }

    /// Creates `rel` (and its missing parents); returns its directory.
    pub fn make(&mut self, rel: &str) -> PathBuf {
        let mut made = made_by_tests();
        let mut p = self.root.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p.push(part);
            if let Some(n) = made.get_mut(&p) {
                *n += 1;
            } else if !p.exists() {
                std::fs::create_dir(&p).unwrap();
                made.insert(p.clone(), 1);
            } else {
                // The host's own (or made before this process): never ours.
                continue;
            }
            self.used.push(p.clone());
        }
        p
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let mut made = made_by_tests();
        for p in self.used.iter().rev() {
            let Some(n) = made.get_mut(p) else { continue };
            *n -= 1;
            if *n > 0 {
                continue;
            }
            made.remove(p);
            remove_cgroup_dir(p);
        }
    }
}

/// Removes an empty cgroup directory, waiting up to a second for its
/// last processes to leave after their death.
pub fn remove_cgroup_dir(p: &Path) {
    for _ in 0..50 {
        if std::fs::remove_dir(p).is_ok() || !p.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A cgroup hierarchy this host mounts (independent probe: the mount
/// table), or why not.
pub fn hierarchy(fs: &str, option: Option<&str>) -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let ok = f.get(2) == Some(&fs)
            && option.is_none_or(|o| f.get(3).is_some_and(|opts| opts.split(',').any(|x| x == o)));
        ok.then(|| PathBuf::from(f[1]))
    })
}

/// Lets sigwatch read a new process's `/proc` at its exec, as it would for
/// any victim that ran for more than a moment: on this shared 2-core host
/// its events can lag, and a victim killed and reaped before they are
/// read keeps only the facts from its fork.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

/// Starts `sleep 300` inside `cg` (moved there before its exec, so the
/// process tree reads the cgroup with the rest of its exec facts).
pub fn sleep_in(cg: &Path) -> Child {
    let child = Command::new("sh")
        .args([
            "-c",
            "echo $$ > \"$0/cgroup.procs\" && exec sleep 300",
            cg.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let comm = format!("/proc/{}/comm", child.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&comm).map_or(true, |c| c.trim() != "sleep") {
        assert!(Instant::now() < deadline, "sleep never exec'd");
        std::thread::sleep(Duration::from_millis(2));
    }
    settle();
    child
}

/// Kills `victim` from a shell placed in `cg` that exec'd a second shell
/// (so its facts, cgroup included, are read at that exec) and waits a
/// moment before `kill -9`.
pub fn kill_from(cg: &Path, victim: i32) -> i32 {
    let mut k = Command::new("sh")
        .args([
            "-c",
            "echo $$ > \"$0/cgroup.procs\" && exec sh -c 'sleep 0.3; kill -9 $0' \"$1\"",
            cg.to_str().unwrap(),
            &victim.to_string(),
        ])
        .spawn()
        .unwrap();
    let pid = k.id() as i32;
    assert!(k.wait().unwrap().success());
    pid
}
