//! The watch mode: sources set up, the poll loop, and the clean-up that
//! leaves audit exactly as it was found.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use auditsig::client::{AuditClient, EnabledGuard};
use auditsig::killrules::{owner_key, remove_stale, InstalledRules, KillRuleSet};
use auditsig::{Assembler, AssemblerConfig, FollowLog, Record, StartAt};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigHandler, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use procconn::{ProcConnector, ProcessTree, TreeConfig};

use crate::attributor::{Attributor, Clock, Config};
use crate::cli::{AuditSource, WatchArgs};
use crate::input::AuditKill;
use crate::render::{write_json, write_text, TextOptions};
use crate::report::{LossReport, Report, Summary};
use crate::sources::{sd_notify, Kmsg};
use crate::Error;
use auditsig::{MulticastReader, NetlinkRecord, UnicastReader};

/// How often the rules are checked (and re-added if flushed) and the
/// kernel's `lost` counter read: well inside the promised 10 s.
const CHECK_EVERY: Duration = Duration::from_secs(3);

/// Process events handled per loop iteration at most.
const PROC_BATCH: usize = 4096;

/// The audit record source in use.
enum Source {
    Multicast(MulticastReader),
    Unicast(UnicastReader),
    Log(FollowLog),
    Stdin(StdinLines),
    None,
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Source::Multicast(_) => "audit multicast (AUDIT_NLGRP_READLOG)",
            Source::Unicast(_) => "audit unicast (sigwatch is the audit pid)",
            Source::Log(_) => "auditd log file",
            Source::Stdin(_) => "standard input",
            Source::None => "none",
        }
    }
}

/// Bytes read from standard input per loop iteration at most.
const STDIN_BUDGET: usize = 1 << 20;

/// Longest line kept while waiting for its newline (the kernel caps a
/// record at 8970 bytes; auditd's enriched lines are a little longer).
const MAX_STDIN_LINE: usize = 64 * 1024;

/// Parses the complete lines at the front of `buf` as audit records
/// (unparsable ones are counted in `bad`) and keeps the incomplete rest,
/// in one pass (removing line by line from the front would move the rest
/// of the buffer once per line). A rest longer than any record is
/// dropped and counted, so a stream without newlines cannot grow `buf`
/// without bound.
fn take_lines(buf: &mut Vec<u8>, out: &mut Vec<Record>, bad: &mut u64) {
    let mut start = 0;
    while let Some(i) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + i];
        start += i + 1;
        if line.is_empty() {
            continue;
        }
        match Record::parse_line(line) {
            Ok(r) => out.push(r),
            Err(_) => *bad += 1,
        }
    }
    buf.drain(..start);
    if buf.len() > MAX_STDIN_LINE {
        buf.clear();
        *bad += 1;
    }
}

/// Non-blocking line reader over standard input (audisp plugin mode).
struct StdinLines {
    buf: Vec<u8>,
    eof: bool,
    /// stdin's flags before O_NONBLOCK (restored: the file description may
    /// be shared with the parent, e.g. a shell's terminal).
    orig_flags: i32,
}

impl Drop for StdinLines {
    fn drop(&mut self) {
        // SAFETY: fcntl on stdin restoring flags it had.
        unsafe { libc::fcntl(io::stdin().as_raw_fd(), libc::F_SETFL, self.orig_flags) };
    }
}

impl StdinLines {
    fn new() -> io::Result<Self> {
        let fd = io::stdin().as_raw_fd();
        // SAFETY: fcntl on stdin, adding O_NONBLOCK to its flags.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if fl < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(StdinLines {
            buf: Vec::new(),
            eof: false,
            orig_flags: fl,
        })
    }

    /// Reads what stdin holds now (at most [`STDIN_BUDGET`] bytes, so a
    /// flood cannot starve the other sources) and parses complete lines.
    fn drain(&mut self, out: &mut Vec<Record>, bad: &mut u64) {
        let mut chunk = [0u8; 65536];
        let mut budget = STDIN_BUDGET;
        while budget > 0 {
            match io::stdin().lock().read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        take_lines(&mut self.buf, out, bad);
    }
}

/// Audit control state to undo at exit.
#[derive(Default)]
struct AuditControl {
    enabled: Option<EnabledGuard>,
    /// Rules this process added: at start-up, then whenever the rules it
    /// relied on vanished (see [`AuditControl::cover_gaps`]).
    rules: Vec<InstalledRules>,
    /// A client for status queries when `rules` holds none.
    status: Option<AuditClient>,
    lost_base: Option<u32>,
    /// The rule set to keep covered while running (`None` with
    /// `--no-rules` or without an audit source).
    keep_covered: Option<KillRuleSet>,
    /// An audit source is live: `enabled` must stay on.
    keep_enabled: bool,
}

impl AuditControl {
    fn client(&mut self) -> Option<&mut AuditClient> {
        match self.rules.first_mut() {
            Some(r) => Some(r.client()),
            None => self.status.as_mut(),
        }
    }

    /// Rules that made ours unnecessary at start-up (a user's, or those of
    /// another sigwatch that has since exited and removed them) may
    /// vanish: adds whatever the host's rules no longer cover. Returns how
    /// many rules were added.
    fn cover_gaps(&mut self) -> Result<usize, auditsig::Error> {
        let Some(set) = self.keep_covered.clone() else {
            return Ok(0);
        };
        let present = match self.client() {
            Some(c) => c.list_rules()?,
            None => return Ok(0),
        };
        let missing = set.build_missing(&present)?;
        if missing.is_empty() {
            return Ok(0);
        }
        let r = InstalledRules::install(AuditClient::open()?, missing)?;
        let n = r.owned().len();
        self.rules.push(r);
        Ok(n)
    }

    /// Audit was switched off while running (another sigwatch that had
    /// enabled it restored it at its exit, or `auditctl -e 0`): no record
    /// would arrive any more. Enables it again; it is restored to off at
    /// exit. Returns whether it did.
    fn ensure_enabled(&mut self, enabled_now: u32) -> Result<bool, auditsig::Error> {
        if !self.keep_enabled || enabled_now != 0 {
            return Ok(false);
        }
        match self.enabled.as_mut().and_then(|g| g.client()) {
            // We had enabled it: the guard still restores the original.
            Some(c) => c.set_enabled(1)?,
            None => {
                let g = AuditClient::open()?.enable()?;
                if !g.changed() {
                    return Ok(false);
                }
                self.enabled = Some(g);
            }
        }
        Ok(true)
    }

    /// Removes exactly our rules, then restores `enabled`.
    fn cleanup(&mut self) {
        while let Some(r) = self.rules.pop() {
            match r.remove() {
                Ok(n) => log::info!("removed {n} audit rule(s) sigwatch had added"),
                Err(e) => eprintln!("sigwatch: could not remove every audit rule: {e}"),
            }
        }
        if let Some(g) = self.enabled.take() {
            let orig = g.original();
            match g.restore() {
                Ok(()) => log::info!("audit `enabled` restored to {orig}"),
                Err(e) => eprintln!("sigwatch: could not restore audit enabled={orig}: {e}"),
            }
        }
    }
}

impl Drop for AuditControl {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Prints reports as text or JSON lines.
struct Output {
    json: bool,
    color: bool,
    names: std::cell::RefCell<HashMap<u32, Option<String>>>,
}

/// Bytes per `write(2)` of a report. After `poll` says `POLLOUT`, a pipe
/// has at least one free page, so a write of at most `PIPE_BUF` never
/// blocks; a terminal signals `POLLOUT` with a few hundred bytes of room.
const OUT_CHUNK: usize = 512;

/// Why a guarded write gave up (carried inside an `io::Error`).
#[derive(Debug)]
enum WriteAbort {
    /// A termination signal is pending: clean-up must not wait for a reader.
    Signal,
    /// The output did not become writable before the shutdown deadline.
    Timeout,
}

impl std::fmt::Display for WriteAbort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteAbort::Signal => "a termination signal arrived while the output was blocked",
            WriteAbort::Timeout => "the output stayed blocked at shutdown",
        })
    }
}

impl std::error::Error for WriteAbort {}

/// Writes `bytes` to `w` without ever blocking in `write(2)`: the
/// termination signals are blocked (they arrive through the signalfd), so
/// a write stuck on a full pipe (`sigwatch | less` not scrolling) or a
/// stopped terminal (Ctrl-S) could otherwise never be interrupted and
/// SIGTERM/SIGINT would leave the audit rules installed. Waits in `poll`
/// for room or for a signal (which aborts the write, leaving the signal
/// pending for the loop), or until `deadline`.
fn guarded_write<W: Write + AsFd>(
    w: &mut W,
    sigfd: BorrowedFd<'_>,
    bytes: &[u8],
    deadline: Option<Instant>,
) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                PollTimeout::from(left.as_millis().min(10_000) as u16)
            }
        };
        let (writable, signalled) = {
            let mut fds = [
                PollFd::new(w.as_fd(), PollFlags::POLLOUT),
                PollFd::new(sigfd, PollFlags::POLLIN),
            ];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ev = |i: usize| fds[i].revents().unwrap_or(PollFlags::empty());
            (
                // POLLERR/POLLHUP: the write below reports what happened.
                ev(0).intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP),
                ev(1).contains(PollFlags::POLLIN),
            )
        };
        if signalled {
            return Err(io::Error::other(WriteAbort::Signal));
        }
        if !writable {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::other(WriteAbort::Timeout));
            }
            continue;
        }
        let n = rest.len().min(OUT_CHUNK);
        match w.write(&rest[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => rest = &rest[k..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    w.flush()
}

/// Whether `fd` is a pipe or a socket: its reader can go away, which
/// `poll` reports as `POLLERR` (pipe) or `POLLHUP` (socket).
fn reader_can_vanish(fd: BorrowedFd<'_>) -> bool {
    use nix::sys::stat::{fstat, SFlag};
    fstat(fd).is_ok_and(|st| {
        let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        fmt == SFlag::S_IFIFO || fmt == SFlag::S_IFSOCK
    })
}

/// At most this many bytes of reports wait for a slow reader; beyond it
/// reports are dropped (counted and said at exit), never the sources'
/// events: sigwatch keeps reading the kernel while its output is blocked
/// (as the audit pid it must, or audited syscalls stall host-wide).
const OUT_QUEUE_MAX: usize = 8 << 20;

/// Rendered reports waiting for the output to have room.
#[derive(Debug, Default)]
struct OutQueue {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
    /// Reports dropped because the queue was full.
    dropped: u64,
}

impl OutQueue {
    fn pending(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// Queues one rendered report; `false` (and counted) if it does not fit.
    fn push(&mut self, bytes: &[u8]) -> bool {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        if self.buf.len() - self.pos + bytes.len() > OUT_QUEUE_MAX {
            self.dropped += 1;
            return false;
        }
        self.buf.extend_from_slice(bytes);
        true
    }

    /// Writes as much as the output takes now without blocking: one
    /// chunk per `POLLOUT` (see [`OUT_CHUNK`]).
    fn write_ready<W: Write + AsFd>(&mut self, w: &mut W) -> io::Result<()> {
        while self.pending() {
            let writable = {
                let mut fds = [PollFd::new(w.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::ZERO) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
                fds[0].revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP)
                })
            };
            if !writable {
                break;
            }
            let end = self.buf.len().min(self.pos + OUT_CHUNK);
            match w.write(&self.buf[self.pos..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => self.pos += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        // Keep the buffer from growing with what was already written.
        if self.pos > OUT_QUEUE_MAX / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        Ok(())
    }

    /// Writes everything still queued, waiting for room (see
    /// [`guarded_write`]) until `deadline`.
    fn drain<W: Write + AsFd>(
        &mut self,
        w: &mut W,
        sigfd: BorrowedFd<'_>,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let r = guarded_write(w, sigfd, &self.buf[self.pos..], deadline);
        self.buf.clear();
        self.pos = 0;
        r
    }
}

impl Output {
    /// Renders and writes one report (see [`guarded_write`]).
    fn emit<W: Write + AsFd>(
        &self,
        w: &mut W,
        sigfd: BorrowedFd<'_>,
        r: &Report,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(2048);
        self.render(&mut buf, r)?;
        guarded_write(w, sigfd, &buf, deadline)
    }

    fn render(&self, w: &mut Vec<u8>, r: &Report) -> io::Result<()> {
        if self.json {
            write_json(w, r)
        } else {
            let lookup = |uid: u32| -> Option<String> {
                self.names
                    .borrow_mut()
                    .entry(uid)
                    .or_insert_with(|| {
                        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                            .ok()
                            .flatten()
                            .map(|u| u.name)
                    })
                    .clone()
            };
            let o = TextOptions {
                color: self.color,
                user_name: &lookup,
            };
            write_text(w, r, &o)
        }
    }
}

fn fatal(msg: impl Into<String>) -> Error {
    Error::Fatal(msg.into())
}

/// Signals that stop sigwatch through its clean-up. Besides the usual
/// three, every catchable signal whose default action would terminate the
/// process (and so leave the audit rules, `enabled`, the audit pid and the
/// trace instance behind): a stray `kill -USR1`, SIGQUIT from a terminal,
/// SIGXCPU at an RLIMIT_CPU soft limit, SIGPWR from a UPS daemon.
/// (SIGPIPE is ignored by the Rust runtime: a closed output is an EPIPE.)
const TERMINATING_SIGNALS: [Signal; 12] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGPWR,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
];

/// How long reports still waiting at shutdown may wait for a blocked
/// output before clean-up goes ahead without them.
const SHUTDOWN_WRITE_GRACE: Duration = Duration::from_secs(2);

/// Runs the watch mode until a signal (SIGINT/SIGTERM/SIGHUP, or another
/// of [`TERMINATING_SIGNALS`]), `--count`
/// reports, the end of standard input (`--audit-source stdin`), or the
/// reader of `out` going away (`sigwatch --json | head -1`).
///
/// `out` should be unbuffered (e.g. a `File` on a duplicate of fd 1):
/// every report is written in small `write(2)`s only when `poll` says
/// there is room, so that a blocked reader never keeps a termination
/// signal from cleaning up.
pub fn run<W: Write + AsFd>(args: &WatchArgs, out: W) -> Result<Summary, Error> {
    // Signals first, so that an early SIGTERM still goes through clean-up.
    let mut mask = SigSet::empty();
    for s in TERMINATING_SIGNALS {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| fatal(format!("cannot block signals: {e}")))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| fatal(format!("signalfd: {e}")))?;

    let is_root = nix::unistd::geteuid().is_root();
    let pcfg = procconn::Config::default()
        .recv_buffer(Some(args.rcvbuf))
        .nonblocking(true);
    let mut conn = ProcConnector::open(&pcfg).map_err(|e| {
        fatal(format!(
            "cannot subscribe to process events ({e}); fix: run as root (CAP_NET_ADMIN) in the host's initial network and pid namespace{}",
            if is_root { "" } else { " — you are not root" }
        ))
    })?;
    log::info!(
        "process events: subscribed ({:?}), receive buffer {} bytes{}",
        conn.subscription(),
        conn.recv_buffer_size(),
        if conn.recv_buffer_forced() {
            " (forced)"
        } else {
            ""
        }
    );
    let mut tree = ProcessTree::new(TreeConfig {
        retain_exited_for: Duration::from_secs(args.retention),
        max_exited: args.max_exited,
        ..TreeConfig::default()
    });
    match tree.seed_from_proc() {
        Ok(n) => log::info!("process tree seeded with {n} processes from /proc"),
        Err(e) => log::warn!("could not scan /proc: {e}"),
    }

    let explicit = args.source.is_some();
    let wanted = args.source.unwrap_or_default();
    if !wanted.audit && !matches!(args.audit_source, AuditSource::Auto | AuditSource::None) {
        return Err(fatal(
            "--audit-source conflicts with a --source list without audit; fix: add audit to --source",
        ));
    }
    let mut ctl = AuditControl::default();
    // Why `auto` found no audit source (printed once the tracefs witness
    // is known: with neither, sigwatch stops instead).
    let mut audit_gap = None;
    let mut source = if wanted.audit {
        open_source(args, &mut ctl, &mut audit_gap)?
    } else {
        Source::None
    };
    if !matches!(source, Source::None) {
        ctl.keep_enabled = true;
        setup_rules(args, &mut ctl);
    }
    log::info!("audit source: {}", source.name());
    if matches!(source, Source::Unicast(_)) {
        // As the audit pid, a stopped sigwatch (Ctrl-Z, or a background
        // write to a `stty tostop` terminal) stalls every audited syscall
        // on the host once the kernel's backlog fills: never stop on the
        // terminal's job-control signals. (SIGSTOP cannot be refused.)
        for sig in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
            // SAFETY: installing SIG_IGN runs no code in signal context.
            if let Err(e) = unsafe { nix::sys::signal::signal(sig, SigHandler::SigIgn) } {
                log::warn!("cannot ignore {sig}: {e}");
            }
        }
    }
    let mut trace_mount = TraceMount::default();
    let mut trace_gap = None;
    let mut trace = if wanted.tracefs {
        match open_trace(args, &mut trace_mount) {
            Ok(t) => {
                log::info!(
                    "tracefs: instance {} (mark_victim traced: {})",
                    t.instance().path().display(),
                    t.instance().mark_victim_traced()
                );
                Some(t)
            }
            Err(e) if explicit => {
                return Err(fatal(format!(
                    "cannot trace signal:signal_generate ({e}); fix: run as root on a kernel with CONFIG_FTRACE (see `sigwatch status`), or leave tracefs out of --source"
                )))
            }
            Err(e) => {
                trace_gap = Some(e.to_string());
                None
            }
        }
    } else {
        None
    };
    if let (Source::None, None, Some(a), Some(t)) = (&source, &trace, &audit_gap, &trace_gap) {
        // Not one witness that can name a sender, and nobody asked for
        // that (`--source proc` or `--audit-source none` would have):
        // running would print "sender unknown" for every kill. Typically
        // a non-root user: say so in one line.
        return Err(fatal(if is_root {
            format!(
                "no witness can name a sender: audit ({a}) and tracefs ({t}) are both unavailable; fix: a kernel with CONFIG_AUDIT or CONFIG_FTRACE (see `sigwatch status`), or --source proc to report deaths without senders"
            )
        } else {
            log::info!("audit: {a}; tracefs: {t}");
            "not root: audit records and tracefs are root-only, so no sender could be named; fix: run as root (sudo sigwatch), or --source proc to report deaths without senders".to_string()
        }));
    }
    if let Some(a) = &audit_gap {
        eprintln!("sigwatch: warning: no audit source ({a}); running degraded: no login uid, session or syscall, and without tracefs no sender; fix: run as root on a kernel with CONFIG_AUDIT that was not booted with audit=0 (multicast needs ≥ 3.16; older kernels: --audit-source unicast|log), see `sigwatch status`");
    }
    if let Some(t) = &trace_gap {
        eprintln!("sigwatch: warning: no tracefs witness ({t}): kernel-originated kills other than OOM and senders unknown to audit stay unattributed; see `sigwatch status`");
    }
    let mut kmsg = if args.no_kmsg || !wanted.kmsg {
        None
    } else {
        match Kmsg::open() {
            Ok(k) => Some(k),
            Err(e) => {
                log::warn!("cannot read /dev/kmsg ({e}): OOM kills will be reported as origin unknown; fix: run as root (CAP_SYSLOG)");
                None
            }
        }
    };

    let cfg = Config {
        window_ns: args.window_ms.saturating_mul(1_000_000),
        signals: args.signal,
        victim_pids: args.pid.clone(),
        victim_comms: args.comm.iter().map(|c| c.as_bytes().to_vec()).collect(),
        audit_expected: !matches!(source, Source::None),
        mark_victim_traced: trace
            .as_ref()
            .is_some_and(|t| t.instance().mark_victim_traced()),
        ..Config::default()
    };
    let mut engine = Attributor::new(cfg, tree);
    let mut asm = Assembler::new(AssemblerConfig::default());
    let mut kill_stats = auditsig::kill::KillStats::default();
    let color = !args.json
        && std::env::var_os("NO_COLOR").is_none()
        // SAFETY: isatty on fd 1.
        && unsafe { libc::isatty(1) } == 1;
    let outp = Output {
        json: args.json,
        color,
        names: Default::default(),
    };
    let mut w = out;
    // A pipe's reader may exit while no report is due (`| head -1` after
    // its line): polled so that sigwatch stops and cleans up at once
    // rather than at the next report's EPIPE.
    let watch_output = reader_can_vanish(w.as_fd());
    let mut outq = OutQueue::default();
    let mut summary = Summary::default();
    let mut audit_lost_reported = 0u64;
    let mut proc_lost_reported = 0u64;

    eprintln!(
        "sigwatch: watching {} (audit: {}; tracefs: {}; kmsg: {}){}",
        describe_signals(args),
        source.name(),
        trace.as_ref().map_or("off", |_| "signal:signal_generate"),
        if kmsg.is_some() { "on" } else { "off" },
        match (&source, &trace) {
            (Source::None, None) => "; senders cannot be identified without audit or tracefs",
            (Source::None, Some(_)) => "; senders come from tracefs and the process tree (no login uid, session or syscall without audit)",
            _ => "",
        }
    );
    // After the banner, so that whoever waits for READY can read it.
    if let Err(e) = sd_notify("READY=1") {
        log::warn!("NOTIFY_SOCKET: {e}");
    }
    let mut trace_records: Vec<tracesig::Record> = Vec::new();
    let mut trace_lost_reported = 0u64;

    let mut events = Vec::new();
    let mut malformed = 0u64;
    let mut enobufs_seen = 0u64;
    let mut records: Vec<Record> = Vec::new();
    let mut last_check = Instant::now();
    let mut last_verify = Instant::now();
    let mut verify_due = false;
    let mut stop_reason = "signal";
    let mut printed: u64 = 0;
    'main: loop {
        let mut emitted: Vec<Report> = Vec::new();
        let timeout = if engine.pending() > 0 || matches!(source, Source::Log(_)) {
            250
        } else {
            1000
        };
        let stdin = io::stdin();
        let (sig_ready, proc_ready, audit_ready, kmsg_ready, trace_ready, out_gone) = {
            let mut fds = vec![
                PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(conn.as_fd(), PollFlags::POLLIN),
            ];
            let audit_idx = match &source {
                Source::Multicast(m) => Some(m.as_fd()),
                Source::Unicast(u) => Some(u.as_fd()),
                Source::Stdin(s) if !s.eof => Some(stdin.as_fd()),
                _ => None,
            }
            .map(|fd| {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                fds.len() - 1
            });
            let kmsg_idx = kmsg.as_ref().map(|k| {
                fds.push(PollFd::new(k.as_fd(), PollFlags::POLLIN));
                fds.len() - 1
            });
            let trace_idx = trace.as_ref().map(|t| {
                fds.push(PollFd::new(t.as_fd(), PollFlags::POLLIN));
                fds.len() - 1
            });
            // Room for queued reports; with no events requested,
            // POLLERR/POLLHUP (the reader went away) are still reported.
            let out_idx = (watch_output || outq.pending()).then(|| {
                let ev = if outq.pending() {
                    PollFlags::POLLOUT
                } else {
                    PollFlags::empty()
                };
                fds.push(PollFd::new(w.as_fd(), ev));
                fds.len() - 1
            });
            match poll(&mut fds, PollTimeout::from(timeout as u16)) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(fatal(format!("poll: {e}"))),
            }
            let ready = |i: usize| {
                fds[i].revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP)
                })
            };
            (
                ready(0),
                ready(1),
                audit_idx.is_some_and(ready),
                kmsg_idx.is_some_and(ready),
                trace_idx.is_some_and(ready),
                watch_output
                    && out_idx.is_some_and(|i| {
                        fds[i]
                            .revents()
                            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
                    }),
            )
        };
        let now = Clock::now();
        if sig_ready {
            if let Ok(Some(si)) = sigfd.read_signal() {
                log::info!("received signal {}", si.ssi_signo);
            }
            break 'main;
        }
        if out_gone {
            stop_reason = "output closed";
            break 'main;
        }
        // tracefs sightings first: a sighting only waits for its exit, so
        // reading it before this round's exits lets an exit that joins an
        // earlier audit record carry the trace facts too. Read also when
        // process events are ready (the two are not woken at once; the
        // non-blocking read is one syscall when empty).
        if trace_ready || proc_ready {
            if let Some(t) = trace.as_mut() {
                trace_records.clear();
                if let Err(e) = t.read_available(&mut trace_records) {
                    log::warn!("tracefs: {e}");
                }
                summary.trace_events += trace_records.len() as u64;
                for r in &trace_records {
                    emitted.extend(engine.on_trace(r, now));
                }
            }
        }
        if proc_ready {
            // Bounded batch: under a fork storm the socket never runs dry,
            // and signals, audit records and timers must still be served.
            let mut batch = 0usize;
            while batch < PROC_BATCH {
                events.clear();
                match conn.recv_events(&mut events, Some(Duration::ZERO)) {
                    Ok(0) => break,
                    Ok(n) => {
                        batch += n;
                        for ev in &events {
                            emitted.extend(engine.on_proc_event(ev, now));
                        }
                    }
                    Err(e) => {
                        log::warn!("process events: {e}");
                        break;
                    }
                }
            }
            let lost = conn.loss().missed_events();
            if lost > proc_lost_reported {
                emitted.push(Report::Loss(LossReport {
                    source: "proc".into(),
                    count: lost - proc_lost_reported,
                }));
                proc_lost_reported = lost;
                log::warn!("{} process event(s) lost so far", lost);
                verify_due = true;
            }
            // Processes whose exit was lost would look alive forever; the
            // check reads /proc for every live process, so at most every few
            // seconds (never once per loss under a storm).
            if verify_due && last_verify.elapsed() >= CHECK_EVERY {
                verify_due = false;
                last_verify = Instant::now();
                let closed = engine.procs_mut().verify_live();
                log::info!("{closed} process(es) whose exit was lost closed");
            }
        }
        // Audit records.
        records.clear();
        let mut overflow = 0;
        match &mut source {
            Source::Multicast(_) | Source::Unicast(_) if audit_ready => {
                // Bounded like the process events: other fds must be served.
                for _ in 0..PROC_BATCH {
                    let r: Result<Option<NetlinkRecord>, auditsig::Error> = match &mut source {
                        Source::Multicast(m) => m.try_recv(),
                        Source::Unicast(u) => u.try_recv(),
                        _ => Ok(None),
                    };
                    match r {
                        Ok(Some(nr)) => match Record::from_netlink_owned(nr.msg_type, nr.body) {
                            Ok(r) => records.push(r),
                            Err(_) => malformed += 1,
                        },
                        Ok(None) => break,
                        Err(e) => {
                            log::warn!("audit socket: {e}");
                            break;
                        }
                    }
                }
                let enobufs = match &source {
                    Source::Multicast(m) => m.stats().enobufs,
                    Source::Unicast(u) => u.stats().enobufs,
                    _ => 0,
                };
                overflow = enobufs.saturating_sub(enobufs_seen);
                enobufs_seen = enobufs;
            }
            Source::Log(f) => {
                if let Err(e) = f.poll(&mut records) {
                    log::warn!("audit log: {e}");
                }
            }
            Source::Stdin(s) if audit_ready => {
                let mut bad = 0;
                s.drain(&mut records, &mut bad);
                malformed += bad;
                if s.eof {
                    stop_reason = "end of input";
                }
            }
            _ => {}
        }
        if overflow > 0 {
            summary.audit_lost += overflow;
            emitted.push(Report::Loss(LossReport {
                source: "audit".into(),
                count: overflow,
            }));
        }
        summary.audit_records += records.len() as u64;
        let inst = Instant::now();
        for r in records.drain(..) {
            asm.push(r, inst);
        }
        asm.tick(inst);
        while let Some(ev) = asm.pop() {
            if let Some(k) = kill_stats.convert(&ev) {
                emitted.extend(engine.on_audit_kill(&AuditKill::from(&k), now));
            }
        }
        if kmsg_ready {
            if let Some(k) = kmsg.as_mut() {
                let mut lines = Vec::new();
                match k.drain(|l| lines.push(l.to_vec())) {
                    Ok(missed) if missed > 0 => emitted.push(Report::Loss(LossReport {
                        source: "kmsg".into(),
                        count: missed,
                    })),
                    Ok(_) => {}
                    Err(e) => log::warn!("/dev/kmsg: {e}"),
                }
                for l in lines {
                    emitted.extend(engine.on_kmsg_line(&l, now));
                }
            }
        }
        emitted.extend(engine.tick(now));
        if last_check.elapsed() >= CHECK_EVERY {
            last_check = Instant::now();
            for r in ctl.rules.iter_mut() {
                match r.check_and_restore() {
                    Ok(o) if !o.is_noop() => eprintln!(
                        "sigwatch: audit rules were removed (auditctl -D?); re-added {} rule(s)",
                        o.readded.len()
                    ),
                    Ok(_) => {}
                    Err(e) => log::warn!("checking audit rules: {e}"),
                }
            }
            match ctl.cover_gaps() {
                Ok(0) => {}
                Ok(n) => eprintln!(
                    "sigwatch: the audit rules that recorded kill-family syscalls are gone (their owner, e.g. another sigwatch, removed them); added {n} rule(s), removed at exit"
                ),
                Err(e) => log::warn!("covering audit rule gaps: {e}"),
            }
            if let Some(t) = trace.as_ref() {
                if let Ok(l) = t.loss() {
                    let lost = l.buffer + l.unparsed;
                    if lost > trace_lost_reported {
                        emitted.push(Report::Loss(LossReport {
                            source: "tracefs".into(),
                            count: lost - trace_lost_reported,
                        }));
                        trace_lost_reported = lost;
                    }
                }
            }
            if let Some(c) = ctl.client() {
                if let Ok(st) = c.status() {
                    match ctl.ensure_enabled(st.enabled) {
                        Ok(true) => eprintln!(
                            "sigwatch: audit was switched off while sigwatch ran (another sigwatch restored it at exit, or auditctl -e 0); enabled it again (restored at exit)"
                        ),
                        Ok(false) => {}
                        Err(e) => log::warn!("re-enabling audit: {e}"),
                    }
                    let base = *ctl.lost_base.get_or_insert(st.lost);
                    let lost = u64::from(st.lost.wrapping_sub(base));
                    if lost > audit_lost_reported {
                        emitted.push(Report::Loss(LossReport {
                            source: "audit".into(),
                            count: lost - audit_lost_reported,
                        }));
                        summary.audit_lost += lost - audit_lost_reported;
                        audit_lost_reported = lost;
                    }
                }
            }
        }
        for r in &emitted {
            let mut bytes = Vec::with_capacity(2048);
            outp.render(&mut bytes, r).map_err(|e| Error::Io {
                what: "rendering a report".into(),
                source: e,
            })?;
            if !outq.push(&bytes) {
                continue;
            }
            if matches!(r, Report::Kill(_)) {
                printed += 1;
                if args.count.is_some_and(|c| printed >= c) {
                    stop_reason = "count reached";
                    break 'main;
                }
            }
        }
        if let Err(e) = outq.write_ready(&mut w) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                stop_reason = "output closed";
                break 'main;
            }
            return Err(Error::Io {
                what: "writing a report".into(),
                source: e,
            });
        }
        if stop_reason == "end of input" {
            break;
        }
    }
    log::info!("stopping: {stop_reason}");
    // Print what is still waiting (unless --count is already satisfied or
    // the reader is gone). After a signal, never wait long for a blocked
    // reader: the clean-up below matters more. (A second signal cuts any
    // wait short.)
    let out_deadline = (stop_reason == "signal").then(|| Instant::now() + SHUTDOWN_WRITE_GRACE);
    let mut out_ok = stop_reason != "output closed";
    if out_ok && args.count.is_none_or(|c| printed < c) {
        for r in engine.flush(Clock::now()) {
            let mut bytes = Vec::with_capacity(2048);
            if outp.render(&mut bytes, &r).is_err() || !outq.push(&bytes) {
                continue;
            }
            if matches!(r, Report::Kill(_)) {
                printed += 1;
                if args.count.is_some_and(|c| printed >= c) {
                    break;
                }
            }
        }
    }
    if out_ok {
        if let Err(e) = outq.drain(&mut w, sigfd.as_fd(), out_deadline) {
            log::info!("not printing the pending reports: {e}");
            out_ok = false;
        }
    }
    if outq.dropped > 0 {
        eprintln!(
            "sigwatch: {} report(s) dropped: the output was blocked while more than {} MiB of reports waited",
            outq.dropped,
            OUT_QUEUE_MAX >> 20
        );
    }
    let _ = sd_notify("STOPPING=1");
    // Rules and `enabled` are put back before anything else can fail.
    if let Source::Unicast(u) = &mut source {
        if let Err(e) = u.release() {
            eprintln!("sigwatch: could not release the audit pid: {e}");
        }
    }
    ctl.cleanup();
    if let Some(t) = trace.take() {
        if let Ok(l) = t.loss() {
            trace_lost_reported = trace_lost_reported.max(l.buffer + l.unparsed);
        }
        // Drop removes the instance (and unmounts tracefs if we mounted it).
        drop(t);
    }
    trace_mount.finish();
    summary.trace_lost = trace_lost_reported;
    drop(conn);
    summary.proc_events = engine.stats().proc_events;
    summary.proc_lost = proc_lost_reported;
    // Records that did not parse and kill events that did not decode are
    // kills nobody will see reported: counted as lost, never silent.
    summary.audit_lost += malformed + kill_stats.malformed;
    summary.reports = printed;
    if args.json && out_ok {
        let _ = outp.emit(
            &mut w,
            sigfd.as_fd(),
            &Report::Summary(summary),
            Some(
                out_deadline.map_or(Instant::now() + SHUTDOWN_WRITE_GRACE, |d| {
                    d.max(Instant::now() + Duration::from_millis(200))
                }),
            ),
        );
    }
    Ok(summary)
}

/// Opens the tracefs witness: a private instance tracing the watched
/// signals (`SIGKILL` by default) and `oom:mark_victim`. A stale instance of
/// a dead predecessor is removed first.
/// Records that a sigwatch mounted tracefs, so that a successor can undo
/// the mount of a predecessor that died by SIGKILL, or that exited while
/// another sigwatch's trace instance still used the mount (tracesig
/// unmounts only what its own process mounted, and only when no instance
/// is left). Content: `<pid> <mount point> <mount id>`.
const MOUNT_MARK: &str = "/run/sigwatch-tracefs.mount";

/// The lock tracesig takes around its mount decisions.
const TRACEFS_LOCK: &str = "/run/lock/sigwatch-tracefs.lock";

/// The tracefs mount sigwatch may be responsible for at exit.
#[derive(Debug, Default)]
struct TraceMount {
    /// This process located (or mounted) tracefs.
    used: bool,
    /// `finish` ran.
    done: bool,
}

/// The mark's content.
#[derive(Debug, PartialEq, Eq)]
struct Mark {
    pid: i32,
    mount_point: std::path::PathBuf,
    /// The mount's id (`/proc/self/mountinfo`, first field), so that a
    /// tracefs mounted again at the same place by somebody else is never
    /// taken for ours. `None` in marks of older sigwatch versions.
    mount_id: Option<u64>,
}

impl Mark {
    fn parse(text: &str) -> Option<Mark> {
        let mut it = text.split_whitespace();
        let pid = it.next()?.parse().ok()?;
        let mount_point = it.next()?.into();
        let mount_id = match it.next() {
            Some(id) => Some(id.parse().ok()?),
            None => None,
        };
        Some(Mark {
            pid,
            mount_point,
            mount_id,
        })
    }

    fn read() -> Option<Mark> {
        Mark::parse(&std::fs::read_to_string(MOUNT_MARK).ok()?)
    }
}

/// The id of the topmost tracefs/debugfs mount at `mp`, from a
/// `/proc/self/mountinfo` text (mount points with spaces are octal-escaped
/// there; tracing mount points have none).
fn tracing_mount_id(mountinfo: &str, mp: &std::path::Path) -> Option<u64> {
    let mp = mp.to_str()?;
    mountinfo.lines().rev().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let f: Vec<&str> = pre.split(' ').collect();
        let fstype = post.split(' ').next()?;
        (f.get(4) == Some(&mp) && matches!(fstype, "tracefs" | "debugfs"))
            .then(|| f.first()?.parse().ok())
            .flatten()
    })
}

fn current_mount_id(mp: &std::path::Path) -> Option<u64> {
    tracing_mount_id(&std::fs::read_to_string("/proc/self/mountinfo").ok()?, mp)
}

/// Whether `pid` is gone, or a zombie nobody reaped yet (its instance and
/// mount are orphaned too).
fn pid_dead(pid: i32) -> bool {
    pid > 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|st| {
                st.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
            })
            .unwrap_or(true)
}

impl TraceMount {
    /// Writes the mark when this process mounted tracefs.
    fn note(&mut self, tfs: &tracesig::Tracefs) {
        self.used = true;
        if let Some(mp) = tfs.own_mount() {
            let id = current_mount_id(mp).map_or_else(String::new, |i| format!(" {i}"));
            let _ = std::fs::write(
                MOUNT_MARK,
                format!("{} {}{id}\n", std::process::id(), mp.display()),
            );
        }
    }

    /// At exit, after this process's trace instance is gone (also on
    /// drop, so that an error return or a panic runs it; idempotent).
    /// A mount marked by this process or by a dead sigwatch is unmounted
    /// when no trace instance is left in it; while other instances remain
    /// the mark stays, for whichever sigwatch exits last. A live owner's
    /// mark is left alone.
    fn finish(&mut self) {
        if !self.used || std::mem::replace(&mut self.done, true) {
            return;
        }
        // tracesig's lock: no instance is created or mount made meanwhile.
        let _lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(TRACEFS_LOCK)
            .ok()
            .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
        let Some(mark) = Mark::read() else {
            return;
        };
        let me = std::process::id() as i32;
        if mark.pid != me && !pid_dead(mark.pid) {
            return;
        }
        let mp = &mark.mount_point;
        let Some(id) = current_mount_id(mp) else {
            // Already unmounted (by tracesig when this process mounted it).
            let _ = std::fs::remove_file(MOUNT_MARK);
            return;
        };
        if mark.mount_id.is_some_and(|m| m != id) {
            // Mounted again since, by somebody else: not ours.
            let _ = std::fs::remove_file(MOUNT_MARK);
            return;
        }
        let root = if mp.join("instances").is_dir() {
            mp.clone()
        } else {
            mp.join("tracing")
        };
        let empty = std::fs::read_dir(root.join("instances"))
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            log::info!(
                "leaving {} mounted for the sigwatch still using it",
                mp.display()
            );
            return;
        }
        match nix::mount::umount2(mp, nix::mount::MntFlags::empty()) {
            Ok(()) => {
                log::info!(
                    "unmounted {} (mounted by sigwatch {})",
                    mp.display(),
                    mark.pid
                );
                let _ = std::fs::remove_file(MOUNT_MARK);
            }
            Err(e) => log::warn!("leaving {} mounted: {e}", mp.display()),
        }
    }
}

impl Drop for TraceMount {
    fn drop(&mut self) {
        self.finish();
    }
}

fn open_trace(
    args: &WatchArgs,
    mount: &mut TraceMount,
) -> Result<tracesig::TraceSource, tracesig::Error> {
    let mut cfg = tracesig::Config::default();
    if args.signal.is_all() {
        cfg.signals = tracesig::SignalFilter::All;
        cfg.buffer_size_kb = 1024;
    } else {
        cfg.signals = tracesig::SignalFilter::Only(args.signal.iter().map(|s| s as i32).collect());
    }
    // Stale instances are cleaned here rather than inside `open`, to say so.
    cfg.clean_stale = false;
    let tfs = tracesig::Tracefs::locate_or_mount()?;
    mount.note(&tfs);
    match tracesig::clean_stale_instances(&tfs) {
        Ok(v) if !v.is_empty() => eprintln!(
            "sigwatch: removed stale trace instance(s) of a previous sigwatch that died: {}",
            v.join(", ")
        ),
        Ok(_) => {}
        Err(e) => log::warn!("cleaning stale trace instances: {e}"),
    }
    let src = tracesig::TraceSource::open(&cfg);
    drop(tfs);
    src
}

fn open_multicast(rcvbuf: usize) -> Result<MulticastReader, auditsig::Error> {
    let m = MulticastReader::with_rcvbuf(rcvbuf)?;
    m.set_nonblocking(true)?;
    Ok(m)
}

/// Takes the audit pid only when no live process holds it (never from
/// auditd); it is released at exit.
fn open_unicast(rcvbuf: usize) -> Result<UnicastReader, auditsig::Error> {
    let u = UnicastReader::register_with_rcvbuf(rcvbuf)?;
    u.set_nonblocking(true)?;
    Ok(u)
}

fn describe_signals(args: &WatchArgs) -> String {
    if args.signal.is_all() {
        "every signal".into()
    } else {
        args.signal
            .iter()
            .map(crate::signals::signal_name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Opens the audit record source `--audit-source` asks for; `auto` tries
/// multicast, then unicast, then auditd's log, then none.
fn open_source(
    args: &WatchArgs,
    ctl: &mut AuditControl,
    gap: &mut Option<String>,
) -> Result<Source, Error> {
    let status = AuditClient::open().and_then(|mut c| {
        let st = c.status()?;
        Ok((c, st))
    });
    let (holder, enabled_now) = match &status {
        Ok((_, st)) => (st.pid, st.enabled),
        Err(e) => {
            log::debug!("audit status: {e}");
            (0, 0)
        }
    };
    let want = &args.audit_source;
    let src = match want {
        AuditSource::None => Source::None,
        AuditSource::Stdin => {
            Source::Stdin(StdinLines::new().map_err(|e| fatal(format!("stdin: {e}")))?)
        }
        AuditSource::Log(p) => Source::Log(
            FollowLog::open(p, StartAt::End)
                .map_err(|e| fatal(format!("cannot follow {} ({e})", p.display())))?,
        ),
        AuditSource::Multicast => Source::Multicast(open_multicast(args.rcvbuf).map_err(|e| {
            fatal(format!("cannot join the audit multicast group ({e}); fix: run as root (CAP_AUDIT_READ) on a kernel ≥ 3.16, or use --audit-source unicast|log"))
        })?),
        AuditSource::Unicast => Source::Unicast(open_unicast(args.rcvbuf).map_err(|e| {
            fatal(format!("cannot become the audit pid ({e}); fix: run as root (CAP_AUDIT_CONTROL) with no audit daemon, or use --audit-source multicast|log"))
        })?),
        AuditSource::Auto => match open_multicast(args.rcvbuf) {
            Ok(m) => Source::Multicast(m),
            Err(e) => {
                log::info!("audit multicast unavailable ({e})");
                match open_unicast(args.rcvbuf) {
                    Ok(u) => Source::Unicast(u),
                    Err(e2) => {
                        log::info!("audit unicast unavailable ({e2})");
                        let log = std::path::Path::new(crate::cli::DEFAULT_AUDIT_LOG);
                        match FollowLog::open(log, StartAt::End) {
                            Ok(f) if holder != 0 => Source::Log(f),
                            _ => {
                                *gap = Some(format!("multicast: {e}; unicast: {e2}"));
                                Source::None
                            }
                        }
                    }
                }
            }
        },
    };
    if matches!(src, Source::None) {
        return Ok(src);
    }
    // Records only flow while audit is enabled.
    match status {
        Ok((c, st)) if st.enabled == 0 => match c.enable() {
            Ok(g) => {
                log::info!("audit was disabled; enabled it (restored at exit)");
                eprintln!("sigwatch: note: audit was off; processes started before it was first enabled on this boot are not audited (boot with audit=1 for full coverage)");
                ctl.enabled = Some(g);
            }
            Err(e) => eprintln!("sigwatch: warning: cannot enable audit ({e}): no kill records will arrive; fix: run as root (CAP_AUDIT_CONTROL)"),
        },
        Ok(_) => log::info!("audit enabled={enabled_now}"),
        Err(e) => eprintln!("sigwatch: warning: cannot read the audit status ({e}); fix: run as root (CAP_AUDIT_CONTROL)"),
    }
    Ok(src)
}

/// Cleans a dead predecessor's rules and installs the missing kill rules
/// (unless `--no-rules`).
fn setup_rules(args: &WatchArgs, ctl: &mut AuditControl) {
    let mut client = match AuditClient::open() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sigwatch: warning: cannot talk to audit ({e}); no rules installed");
            return;
        }
    };
    match remove_stale(&mut client) {
        Ok(v) if !v.is_empty() => eprintln!(
            "sigwatch: removed {} stale audit rule(s) left by a previous sigwatch that died",
            v.len()
        ),
        Ok(_) => {}
        Err(e) => log::warn!("cleaning stale rules: {e}"),
    }
    let existing = match client.list_rules() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sigwatch: warning: cannot list audit rules ({e}); fix: run as root (CAP_AUDIT_CONTROL)");
            ctl.status = Some(client);
            return;
        }
    };
    // Rules we install carry our pid (so a successor can tell stale ones);
    // rules we only suggest (--no-rules) carry the plain key.
    let key = if args.no_rules {
        auditsig::killrules::KEY_PREFIX.to_string()
    } else {
        owner_key(std::process::id() as i32)
    };
    let set = KillRuleSet::new(key);
    let set = if args.signal.is_all() {
        set.all_signals()
    } else {
        set.signals(&args.signal.iter().map(|s| s as i32).collect::<Vec<_>>())
    };
    let missing = match set.build_missing(&existing) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sigwatch: warning: {e}");
            ctl.status = Some(client);
            return;
        }
    };
    if missing.is_empty() {
        log::info!("the host's audit rules already record the kill-family syscalls; none added");
        ctl.status = Some(client);
        if !args.no_rules {
            ctl.keep_covered = Some(set);
        }
        return;
    }
    if args.no_rules {
        eprintln!(
            "sigwatch: warning: --no-rules and the host's rules do not record every kill-family syscall; missing:\n{}",
            missing
                .iter()
                .map(|r| format!("  auditctl {}", r.to_auditctl()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        ctl.status = Some(client);
        return;
    }
    match InstalledRules::install(client, missing) {
        Ok(r) => {
            log::info!(
                "installed {} audit rule(s): {}",
                r.owned().len(),
                r.owned()
                    .iter()
                    .map(|x| x.to_auditctl())
                    .collect::<Vec<_>>()
                    .join(" ; ")
            );
            ctl.rules.push(r);
            ctl.keep_covered = Some(set);
        }
        Err(e) => eprintln!(
            "sigwatch: warning: cannot add audit rules ({e}); fix: run as root (CAP_AUDIT_CONTROL), and audit must not be locked (enabled=2)"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    #[test]
    fn stdin_lines_are_parsed_and_bounded() {
        let rec = b"type=SYSCALL msg=audit(1795667968.504:23): arch=c000003e syscall=62 success=yes exit=0 a0=50e a1=9 a2=0 a3=0 items=0 ppid=1297 pid=1298 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"sigwatch\"";
        let mut buf = Vec::new();
        buf.extend_from_slice(rec);
        buf.extend_from_slice(b"\n\nnot a record\n");
        buf.extend_from_slice(&rec[..40]);
        let (mut out, mut bad) = (Vec::new(), 0);
        take_lines(&mut buf, &mut out, &mut bad);
        assert_eq!((out.len(), bad), (1, 1));
        assert_eq!(buf, &rec[..40], "the incomplete line is kept");
        buf.extend_from_slice(&rec[40..]);
        buf.push(b'\n');
        take_lines(&mut buf, &mut out, &mut bad);
        assert_eq!((out.len(), bad, buf.len()), (2, 1, 0));
        // No newline for longer than any record: dropped and counted.
        buf.resize(MAX_STDIN_LINE + 1, b'x');
        take_lines(&mut buf, &mut out, &mut bad);
        assert_eq!((out.len(), bad, buf.len()), (2, 2, 0));
    }

    #[test]
    fn mount_mark_parses_old_and_new_forms() {
        assert_eq!(
            Mark::parse("123 /sys/kernel/tracing 42\n"),
            Some(Mark {
                pid: 123,
                mount_point: "/sys/kernel/tracing".into(),
                mount_id: Some(42)
            })
        );
        assert_eq!(
            Mark::parse("123 /sys/kernel/tracing\n").map(|m| m.mount_id),
            Some(None)
        );
        for bad in ["", "x /a", "123", "123 /a zz", "\u{0}"] {
            assert_eq!(Mark::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mount_id_is_the_topmost_tracing_mount() {
        let mi = "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n\
                  42 22 0:13 / /sys/kernel/tracing rw,nosuid - tracefs nodev rw\n\
                  50 22 0:7 / /sys/kernel/debug rw - debugfs debugfs rw\n\
                  61 42 0:13 / /sys/kernel/tracing rw - tracefs nodev rw\n\
                  70 1 0:99 / /mnt rw - ext4 /dev/sda1 rw\n";
        assert_eq!(
            tracing_mount_id(mi, Path::new("/sys/kernel/tracing")),
            Some(61)
        );
        assert_eq!(
            tracing_mount_id(mi, Path::new("/sys/kernel/debug")),
            Some(50)
        );
        assert_eq!(tracing_mount_id(mi, Path::new("/mnt")), None);
        assert_eq!(tracing_mount_id(mi, Path::new("/nope")), None);
        assert_eq!(tracing_mount_id("garbage\n- -\n", Path::new("/")), None);
    }
}
