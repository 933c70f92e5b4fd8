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
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// True when running as root; otherwise prints why the calling test skips.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        eprintln!("SKIP {test}: needs root (audit rules, proc connector)");
        false
    }
}

/// True when `cmd` is on PATH; otherwise prints why the calling test skips.
pub fn require_tool(test: &str, cmd: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIP {test}: `{cmd}` is not installed");
    }
    found
}

/// What [`probe_audit`] found out about the kernel's audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProbe {
    /// A NETLINK_AUDIT socket opens and AUDIT_GET is answered.
    Present,
    /// `socket(AF_NETLINK, .., NETLINK_AUDIT)` fails with EPROTONOSUPPORT:
    /// the kernel was booted with `audit=0` (audit never initialised, so
    /// the netlink family is not registered) or built without CONFIG_AUDIT.
    Absent(String),
    /// The socket opens but AUDIT_GET is refused or unanswered (not root,
    /// a security module, ...): audit exists, the test cannot use it.
    Refused(String),
}

/// Probes the kernel's audit with a raw netlink socket, independently of
/// the crate under test (a bug in `AuditClient` must make tests fail, not
/// skip): opens NETLINK_AUDIT and sends AUDIT_GET (1000), waiting up to
/// 2 s for the `audit_status` reply or an NLMSG_ERROR.
pub fn probe_audit() -> AuditProbe {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_AUDIT,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        let why = format!("socket(NETLINK_AUDIT): {e}");
        return match e.raw_os_error() {
            Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => AuditProbe::Absent(why),
            _ => AuditProbe::Refused(why),
        };
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: valid fd, option value of the size passed.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    // nlmsghdr {len, type = AUDIT_GET, flags = NLM_F_REQUEST, seq, pid = 0}
    let seq: u32 = 0x5157_0001;
    let mut req = [0u8; 16];
    req[0..4].copy_from_slice(&16u32.to_ne_bytes());
    req[4..6].copy_from_slice(&1000u16.to_ne_bytes());
    req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    // SAFETY: zeroed sockaddr_nl is valid; family set below.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: valid fd, buffer and address of the sizes passed.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return AuditProbe::Refused(format!(
            "AUDIT_GET send: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut buf = vec![0u8; 8192];
    // A few datagrams at most: skip anything that is not the answer.
    for _ in 0..8 {
        // SAFETY: valid fd and buffer.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return AuditProbe::Refused(format!(
                "no answer to AUDIT_GET: {}",
                std::io::Error::last_os_error()
            ));
        }
        let msg = &buf[..n as usize];
        if msg.len() < 16 {
            continue;
        }
        let ty = u16::from_ne_bytes([msg[4], msg[5]]);
        let mseq = u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]);
        if mseq != seq {
            continue;
        }
        match ty {
            1000 => return AuditProbe::Present,
            // NLMSG_ERROR: a negative errno follows the header (0 = ack).
            2 if msg.len() >= 20 => {
                let errno = -i32::from_ne_bytes([msg[16], msg[17], msg[18], msg[19]]);
                if errno != 0 {
                    return AuditProbe::Refused(format!(
                        "AUDIT_GET: {}",
                        std::io::Error::from_raw_os_error(errno)
                    ));
                }
            }
            _ => {}
        }
    }
    AuditProbe::Refused("no audit_status reply to AUDIT_GET".into())
}

/// The kernel's audit as probed once per test process (it cannot change
/// while the kernel runs).
pub fn audit_probe() -> &'static AuditProbe {
    static PROBE: std::sync::OnceLock<AuditProbe> = std::sync::OnceLock::new();
    PROBE.get_or_init(probe_audit)
}

/// Whether the kernel has audit (NETLINK_AUDIT exists). A probe that is
/// refused (audit exists, the socket or AUDIT_GET fails for another
/// reason) counts as present: the test then runs into the fault and fails
/// loudly instead of skipping.
pub fn audit_present() -> bool {
    !matches!(audit_probe(), AuditProbe::Absent(_))
}

/// True when the kernel has audit; otherwise prints
/// `SKIP <test>: the kernel has no audit ...` and the calling test returns.
/// For tests whose assertions need audit (a syscall, an audit serial,
/// rules, the audit pid).
pub fn require_audit(test: &str) -> bool {
    match audit_probe() {
        AuditProbe::Absent(why) => {
            eprintln!(
                "SKIP {test}: the kernel has no audit (booted with audit=0 or CONFIG_AUDIT off): {why}"
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

/// Whether the kernel has tracefs (the `signal:signal_generate` witness
/// sigwatch uses when audit is absent).
pub fn tracefs_present() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.trim_end().ends_with("tracefs"))
}

/// True when sigwatch can name a sender at all: audit or tracefs is
/// there. Otherwise prints why the calling test skips (its report could
/// only say origin `unknown`, which `audit_absent_*` tests check).
pub fn require_sender_witness(test: &str) -> bool {
    if audit_present() || tracefs_present() {
        return true;
    }
    eprintln!("SKIP {test}: the kernel has neither audit nor tracefs: no sender can be named");
    false
}

/// Exclusive lock serializing every test (in any crate) that touches audit.
#[derive(Debug)]
pub struct AuditLock(#[allow(dead_code)] File);

impl AuditLock {
    /// Blocks until the lock is ours.
    pub fn acquire() -> AuditLock {
        let path = "/run/lock/sigwatch-audit-tests.lock";
        let _ = std::fs::create_dir_all("/run/lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap();
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {path}");
        AuditLock(f)
    }
}

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
    lines: Receiver<Value>,
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
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(e) => panic!("sigwatch printed a line that is not JSON ({e}): {line}"),
                }
            }
        });
        let mut buf = [0u8; 512];
        let ready = loop {
            match notify.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if msg.lines().any(|l| l == "READY=1") {
                        break true;
                    }
                }
                Err(_) => break false,
            }
        };
        let mut sw = Sigwatch {
            child,
            lines: rx,
            seen: Vec::new(),
            stderr_path,
            _dir: dir,
        };
        if !ready {
            let _ = sw.child.kill();
            let _ = sw.child.wait();
            panic!(
                "sigwatch did not send READY=1 within 30 s; stderr:\n{}",
                sw.stderr()
            );
        }
        sw
    }

    /// What sigwatch wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The pid of the sigwatch process.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
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
            match self.lines.recv_timeout(left) {
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

    /// SIGTERM, then waits for exit; returns the exit status code and the
    /// remaining objects (the summary is the last one).
    pub fn stop(mut self) -> (Option<i32>, Vec<Value>) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = wait_timeout(&mut self.child, Duration::from_secs(20));
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(v);
        }
        (status, std::mem::take(&mut self.seen))
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
    /// is removed when sigwatch exits).
    pub fn assert_restored(&self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let now = TraceSnapshot::take();
            if now == *self {
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
            eprintln!(
                "SKIP {test}: no cgroup v1 memory controller at {}",
                base.display()
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
