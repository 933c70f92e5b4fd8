//! What the storm and capture benches share: the audit test lock, a
//! running `sigwatch --json` whose lines are timestamped as they arrive,
//! paced storm generators (fork + `_exit`, or fork + exec `/bin/true`),
//! CPU time from `wait4`, and small statistics.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::CString;
use std::io::{BufRead, BufReader};

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A number from the environment, or `default`.
pub fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Holds `/run/lock/sigwatch-audit-tests.lock` (sigwatch changes audit,
/// which is host-wide) and remembers audit's state to check it at the end.
pub struct AuditGuard {
    _lock: sigwatch_test_support::AuditLock,
    before: String,
}

fn audit_state() -> String {
    Command::new("sh")
        .args(["-c", "auditctl -s | grep -E '^(enabled|pid) '; auditctl -l"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

impl AuditGuard {
    pub fn take() -> AuditGuard {
        let lock = sigwatch_test_support::AuditLock::acquire();
        AuditGuard {
            _lock: lock,
            before: audit_state(),
        }
    }

    /// "restored" or "NOT RESTORED".
    pub fn verdict(&self) -> &'static str {
        if audit_state() == self.before {
            "restored"
        } else {
            "NOT RESTORED"
        }
    }
}

/// The sigwatch binary under test: this checkout's, or `SIGWATCH_BENCH_BIN`
/// (e.g. a build of the base commit, to compare before and after in
/// the same run on a busy machine).
pub fn bin() -> PathBuf {
    std::env::var_os("SIGWATCH_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_sigwatch")),
        PathBuf::from,
    )
}

/// The nice value the listeners (sigwatch and forkstat) run at:
/// `BENCH_NICE`, default -10 (sigwatch's own default, `--nice`). The
/// bench itself and its storms run at nice 0.
pub fn bench_nice() -> i32 {
    env_f64("BENCH_NICE", -10.0) as i32
}

/// Whether the sigwatch binary under test has `--nice` (a base build
/// may predate it: it then runs at the nice it is started with).
fn has_nice_flag() -> bool {
    Command::new(bin())
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--nice"))
}

/// A running `sigwatch --json`; its stdout lines arrive with the instant
/// they were read.
pub struct Sigwatch {
    pub pid: libc::pid_t,
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    dir: PathBuf,
}

impl Sigwatch {
    /// Starts the release binary with `--json` and `args`; returns once it
    /// said READY=1.
    pub fn start(args: &[&str]) -> Sigwatch {
        let dir = std::env::temp_dir().join(format!(
            "sigwatch-bench-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock_path = dir.join("notify.sock");
        let notify = UnixDatagram::bind(&sock_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // `nice` execs it: the pid (and its CPU time) is sigwatch's.
        let nice = bench_nice().to_string();
        let mut cmd = Command::new("nice");
        cmd.args(["-n", &nice]).arg(bin()).arg("--json");
        if has_nice_flag() {
            cmd.args(["--nice", &nice]);
        }
        let mut child = cmd
            .args(args)
            .env("NOTIFY_SOCKET", &sock_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Sigwatch {
            pid: child.id() as libc::pid_t,
            child,
            lines: rx,
            dir,
        }
    }

    /// The next line that satisfies `f`, waiting at most `timeout`.
    pub fn wait_line(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&serde_json::Value) -> bool,
    ) -> Option<(Instant, serde_json::Value)> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            let (t, l) = self.lines.recv_timeout(left).ok()?;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                if f(&v) {
                    return Some((t, v));
                }
            }
        }
    }

    /// Stops it (SIGTERM); returns its CPU time and every line not yet
    /// taken (the summary last).
    pub fn stop(self) -> (Duration, Vec<serde_json::Value>) {
        let (usage, lines) = self.stop_usage();
        (usage.cpu, lines)
    }

    /// [`Sigwatch::stop`], with its wake-ups.
    pub fn stop_usage(mut self) -> (Usage, Vec<serde_json::Value>) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let usage = wait_usage(self.pid);
        // wait4 reaped it; let Child know nothing is left to wait for.
        let _ = self.child.try_wait();
        let mut out = Vec::new();
        while let Ok((_, l)) = self.lines.recv_timeout(Duration::from_secs(5)) {
            if let Ok(v) = serde_json::from_str(&l) {
                out.push(v);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        (usage, out)
    }
}

/// `forkstat -E -S` writing to a file, as a peer on the same storm, at
/// the same nice as sigwatch ([`bench_nice`]).
pub struct Forkstat {
    pid: libc::pid_t,
    out: PathBuf,
}

impl Forkstat {
    pub fn start() -> Option<Forkstat> {
        let out = std::env::temp_dir().join(format!("forkstat-bench-{}.out", std::process::id()));
        // At sigwatch's priority: a listener's CPU per event depends on
        // how many events each wake-up finds, which depends on how soon
        // it runs.
        let child = Command::new("nice")
            .args(["-n", &bench_nice().to_string(), "forkstat", "-E", "-S"])
            .stdout(std::fs::File::create(&out).ok()?)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| println!("forkstat not run: {e} (apt-get install forkstat)"))
            .ok()?;
        Some(Forkstat {
            pid: child.id() as libc::pid_t,
            out,
        })
    }

    /// Stops it (SIGINT); returns its CPU time and the fork and exec lines
    /// it logged.
    pub fn stop(self) -> (Duration, usize, usize) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
        let cpu = wait_cpu(self.pid);
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let _ = std::fs::remove_file(&self.out);
        let count = |w: &str| text.lines().filter(|l| l.contains(w)).count();
        (cpu, count(" fork "), count(" exec "))
    }
}

/// Waits for `pid` and returns its user + system CPU time.
pub fn wait_cpu(pid: libc::pid_t) -> Duration {
    wait_usage(pid).cpu
}

/// What a reaped child used, from `wait4`.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User + system CPU time.
    pub cpu: Duration,
    /// Voluntary context switches (`ru_nvcsw`): the times it slept and
    /// was woken, i.e. its wake-ups.
    pub wakeups: i64,
    /// The `wait4` status.
    pub status: libc::c_int,
}

/// Waits for `pid` and returns what it used.
pub fn wait_usage(pid: libc::pid_t) -> Usage {
    let mut status = 0;
    // SAFETY: rusage is plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Usage {
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        wakeups: ru.ru_nvcsw,
        status,
    }
}

/// What the storm's children do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StormKind {
    /// fork + `_exit(0)`: processes that never exec.
    Fork,
    /// fork + `execve("/bin/true")`.
    Exec,
}

impl StormKind {
    pub fn name(self) -> &'static str {
        match self {
            StormKind::Fork => "fork+exit",
            StormKind::Exec => "fork+exec /bin/true",
        }
    }
}

/// Two generator processes (the machine has two cores) making children
/// of `kind` for `secs`, paced to `rate` processes/s in total when given.
pub struct Storm {
    gens: Vec<libc::pid_t>,
    started: Instant,
    /// Read end of the pipe each generator writes its count to.
    counts: libc::c_int,
}

static TRUE_PATH: &[u8] = b"/bin/true\0";

impl Storm {
    pub fn start(kind: StormKind, secs: f64, rate: Option<f64>) -> Storm {
        let n = 2;
        let started = Instant::now();
        let mut gens = Vec::new();
        let mut fds = [0; 2];
        // SAFETY: fds has room for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        for _ in 0..n {
            // SAFETY: the generator only makes syscalls before _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let end = started + Duration::from_secs_f64(secs);
                let mut made: u64 = 0;
                let chunk = if kind == StormKind::Exec { 4 } else { 32 };
                while Instant::now() < end {
                    if let Some(rate) = rate {
                        let due =
                            started + Duration::from_secs_f64(made as f64 / (rate / n as f64));
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    for _ in 0..chunk {
                        let c = vfork_child(kind);
                        if c > 0 {
                            made += 1;
                            unsafe { libc::waitpid(c, std::ptr::null_mut(), 0) };
                        }
                    }
                }
                // SAFETY: 8 bytes from a live u64 (a pipe write ≤ PIPE_BUF is atomic).
                unsafe {
                    libc::write(fds[1], (&raw const made).cast(), 8);
                    libc::_exit(0)
                };
            }
            gens.push(pid);
        }
        unsafe { libc::close(fds[1]) };
        Storm {
            gens,
            started,
            counts: fds[0],
        }
    }

    /// Waits for the generators; returns (processes made, seconds taken).
    pub fn wait(self) -> (u64, f64) {
        for &g in &self.gens {
            unsafe { libc::waitpid(g, std::ptr::null_mut(), 0) };
        }
        let took = self.started.elapsed().as_secs_f64();
        let mut total = 0;
        let mut n: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 until the pipe is empty.
        while unsafe { libc::read(self.counts, (&raw mut n).cast(), 8) } == 8 {
            total += n;
        }
        unsafe { libc::close(self.counts) };
        (total, took)
    }
}

/// One storm process: a `clone(CLONE_VM | CLONE_VFORK)` child on its own
/// small stack (no page-table copy, so the 2-core machine reaches > 10 000
/// processes/s) that `_exit`s or execs `/bin/true`. Returns its pid once
/// it has exited or exec'd.
fn vfork_child(kind: StormKind) -> libc::pid_t {
    extern "C" fn exit_now(_: *mut libc::c_void) -> libc::c_int {
        // SAFETY: _exit never returns and touches no Rust state.
        unsafe { libc::_exit(0) }
    }
    extern "C" fn exec_true(_: *mut libc::c_void) -> libc::c_int {
        let argv = [TRUE_PATH.as_ptr().cast::<libc::c_char>(), std::ptr::null()];
        let envp = [std::ptr::null::<libc::c_char>()];
        // SAFETY: NUL-terminated path and NULL-terminated arrays.
        unsafe {
            libc::execve(TRUE_PATH.as_ptr().cast(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127)
        }
    }
    static mut STACK: [u128; 1024] = [0; 1024];
    let f = match kind {
        StormKind::Fork => exit_now,
        StormKind::Exec => exec_true,
    };
    // SAFETY: the stack is only used by the child while the parent is
    // suspended (CLONE_VFORK), one child at a time per generator process.
    unsafe {
        let top = (&raw mut STACK)
            .cast::<u8>()
            .add(std::mem::size_of::<[u128; 1024]>());
        libc::clone(
            f,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    }
}

/// A forked child that waits in `pause()` to be killed.
pub fn spawn_victim() -> libc::pid_t {
    // SAFETY: the child only calls pause and _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        loop {
            unsafe { libc::pause() };
        }
    }
    pid
}

/// Forks a child that SIGKILLs `victim` and exits (no exec: its argv is
/// ours); returns its pid once reaped.
pub fn kill_from_fork(victim: libc::pid_t) -> libc::pid_t {
    // SAFETY: the child only calls kill and _exit.
    let sender = unsafe { libc::fork() };
    if sender == 0 {
        unsafe {
            libc::kill(victim, libc::SIGKILL);
            libc::_exit(0);
        }
    }
    unsafe { libc::waitpid(sender, std::ptr::null_mut(), 0) };
    sender
}

/// Reaps `pid`.
pub fn reap(pid: libc::pid_t) {
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
}

/// A C string (no interior NULs in what the benches pass).
pub fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The `q`-quantile (0..=1) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// "median (min–max)" of a few values.
pub fn spread(v: &[f64], digits: usize) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return "n/a".into();
    }
    format!(
        "{:.*} ({:.*}–{:.*})",
        digits,
        quantile(&s, 0.5),
        digits,
        s[0],
        digits,
        s[s.len() - 1]
    )
}
