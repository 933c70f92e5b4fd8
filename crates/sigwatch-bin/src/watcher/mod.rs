//! The [`Watcher`]: the witnesses of one host (process events, audit,
//! tracefs, the kernel log) wired to the [`Attributor`], driven from the
//! caller's own loop.
//!
//! It is [`AsFd`] (an epoll descriptor that is readable when any witness
//! has something) with a non-blocking [`Watcher::step`] that hands out
//! typed [`Report`]s; [`Watcher::timeout`] says how long the caller may
//! wait before the next step is due anyway (join windows expire on time).
//! [`Watcher::finish`] reports what is still pending and puts the host
//! back as it was found (rules, `enabled`, audit pid, trace instance,
//! tracefs mount); dropping a watcher does the same, without the reports.

mod audit_control;
mod audit_feed;
mod losses;
mod trace_witness;

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use auditsig::client::AuditClient;
use auditsig::KillEvent;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigHandler, Signal};
use procconn::{ProcConnector, ProcEvent, ProcessTree, TreeConfig};

use crate::attributor::{Attributor, Clock, Config};
use crate::config::{AuditInput, WatchConfig};
use crate::input::AuditKill;
use crate::notice::Notice;
use crate::report::{LossSource, Report, Summary};
use crate::sources::Kmsg;
use crate::Error;

use audit_control::{setup_rules, AuditControl};
use audit_feed::{AuditIntake, Feed};
use losses::{Counter, Losses};
use trace_witness::{open_trace, TraceMount};

/// How often the rules are checked (and re-added if flushed) and the
/// kernel's `lost` counter read: well inside the promised 10 s.
const CHECK_EVERY: Duration = Duration::from_secs(3);

/// Process events handled per step at most: under a fork storm the
/// socket never runs dry, and the other witnesses must still be served.
const PROC_BATCH: usize = 4096;

/// Why a watcher stopped by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The audit records on standard input ended.
    EndOfInput,
}

/// What a watcher sees with, once started (for a banner or a status line).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WitnessState {
    /// The audit record feed ("none" without audit).
    pub audit: &'static str,
    /// tracefs `signal:signal_generate` is traced.
    pub tracefs: bool,
    /// The kernel log is read.
    pub kmsg: bool,
}

/// Epoll tokens of the witnesses.
const TOKEN_PROC: u64 = 1;
const TOKEN_AUDIT: u64 = 2;
const TOKEN_TRACE: u64 = 3;
const TOKEN_KMSG: u64 = 4;

/// Watches one host and attributes every watched signal's kills. See the
/// [module docs](self).
pub struct Watcher {
    engine: Attributor<ProcessTree>,
    conn: ProcConnector,
    audit: AuditIntake,
    control: AuditControl,
    trace: Option<tracesig::TraceSource>,
    trace_mount: TraceMount,
    kmsg: Option<Kmsg>,
    epoll: Epoll,
    losses: Losses,
    notices: Vec<Notice>,
    summary: Summary,
    last_check: Instant,
    last_verify: Instant,
    verify_due: bool,
    events: Vec<ProcEvent>,
    trace_records: Vec<tracesig::Record>,
    kills: Vec<KillEvent>,
    stopped: Option<StopReason>,
    finished: bool,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("witnesses", &self.witnesses())
            .field("pending", &self.engine.pending())
            .finish_non_exhaustive()
    }
}

fn fatal(msg: impl Into<String>) -> Error {
    Error::Fatal(msg.into())
}

impl Watcher {
    /// Subscribes to process events, opens the audit feed (enabling audit
    /// and installing the missing kill-family rules), the tracefs witness
    /// and the kernel log, as `cfg` asks.
    ///
    /// # Errors
    /// [`Error::Fatal`] with a one-line fix when a required witness cannot
    /// be had: process events (not root), an explicitly named audit feed
    /// or tracefs, or no witness at all that could name a sender.
    pub fn start(cfg: &WatchConfig) -> Result<Watcher, Error> {
        let is_root = nix::unistd::geteuid().is_root();
        let mut notices = Vec::new();
        let pcfg = procconn::Config::default()
            .recv_buffer(Some(cfg.rcvbuf))
            .nonblocking(true);
        let conn = ProcConnector::open(&pcfg).map_err(|e| {
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
            retain_exited_for: cfg.retention,
            max_exited: cfg.max_exited,
            ..TreeConfig::default()
        });
        match tree.seed_from_proc() {
            Ok(n) => log::info!("process tree seeded with {n} processes from /proc"),
            Err(e) => log::warn!("could not scan /proc: {e}"),
        }

        let explicit = cfg.witnesses.is_some();
        let wanted = cfg.witnesses.unwrap_or_default();
        if !wanted.audit && !matches!(cfg.audit_input, AuditInput::Auto | AuditInput::None) {
            return Err(fatal(
                "--audit-source conflicts with a --source list without audit; fix: add audit to --source",
            ));
        }
        let mut control = AuditControl::default();
        // Why `auto` found no audit feed (said once the tracefs witness is
        // known: with neither, the watcher refuses to start).
        let mut audit_gap = None;
        let feed = if wanted.audit {
            open_audit(cfg, &mut control, &mut audit_gap, &mut notices)?
        } else {
            Feed::None
        };
        if !feed.is_none() {
            control.keep_enabled = true;
            setup_rules(cfg.signals, cfg.install_rules, &mut control, &mut notices);
        }
        log::info!("audit source: {}", feed.name());
        if matches!(feed, Feed::Unicast(_)) {
            ignore_job_control(cfg.handle_signals, &mut notices);
        }
        let mut trace_mount = TraceMount::default();
        let mut trace_gap = None;
        let trace = if wanted.tracefs {
            match open_trace(cfg.signals, &mut trace_mount, &mut notices) {
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
        if let (true, None, Some(a), Some(t)) = (feed.is_none(), &trace, &audit_gap, &trace_gap) {
            // Not one witness that can name a sender, and nobody asked for
            // that (`--source proc` or `--audit-source none` would have):
            // running would print "sender unknown" for every kill.
            // Typically a non-root user: say so in one line.
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
            notices.push(Notice::warning(format!("no audit source ({a}); running degraded: no login uid, session or syscall, and without tracefs no sender; fix: run as root on a kernel with CONFIG_AUDIT that was not booted with audit=0 (multicast needs ≥ 3.16; older kernels: --audit-source unicast|log), see `sigwatch status`")));
        }
        if let Some(t) = &trace_gap {
            notices.push(Notice::warning(format!("no tracefs witness ({t}): kernel-originated kills other than OOM and senders unknown to audit stay unattributed; see `sigwatch status`")));
        }
        let kmsg = if !wanted.kmsg || !cfg.kernel_log {
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
        let engine_cfg = Config {
            window_ns: u64::try_from(cfg.window.as_nanos()).unwrap_or(u64::MAX),
            signals: cfg.signals,
            victim_pids: cfg.victim_pids.clone(),
            victim_comms: cfg.victim_comms.clone(),
            audit_expected: !feed.is_none(),
            mark_victim_traced: trace
                .as_ref()
                .is_some_and(|t| t.instance().mark_victim_traced()),
            ..Config::default()
        };
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| fatal(format!("epoll_create: {e}")))?;
        let add = |fd: BorrowedFd<'_>, token: u64| {
            epoll
                .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))
                .map_err(|e| fatal(format!("epoll_ctl: {e}")))
        };
        add(conn.as_fd(), TOKEN_PROC)?;
        let audit = AuditIntake::new(feed);
        if let Some(fd) = audit.feed.fd() {
            add(fd, TOKEN_AUDIT)?;
        }
        if let Some(t) = &trace {
            add(t.as_fd(), TOKEN_TRACE)?;
        }
        if let Some(k) = &kmsg {
            add(k.as_fd(), TOKEN_KMSG)?;
        }
        Ok(Watcher {
            engine: Attributor::new(engine_cfg, tree),
            conn,
            audit,
            control,
            trace,
            trace_mount,
            kmsg,
            epoll,
            losses: Losses::default(),
            notices,
            summary: Summary::default(),
            last_check: Instant::now(),
            last_verify: Instant::now(),
            verify_due: false,
            events: Vec::new(),
            trace_records: Vec::new(),
            kills: Vec::new(),
            stopped: None,
            finished: false,
        })
    }

    /// What this watcher sees with.
    pub fn witnesses(&self) -> WitnessState {
        WitnessState {
            audit: self.audit.feed.name(),
            tracefs: self.trace.is_some(),
            kmsg: self.kmsg.is_some(),
        }
    }

    /// Messages for the operator gathered since the last call (missing
    /// witnesses, rules re-added, stale state cleaned).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Set when the watcher stopped by itself (its audit input ended):
    /// call [`Watcher::finish`].
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    /// How long the caller may wait for this watcher's descriptor before
    /// calling [`Watcher::step`] anyway.
    pub fn timeout(&self) -> Duration {
        if self.engine.pending() > 0 || matches!(self.audit.feed, Feed::Log(_)) {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        }
    }

    /// Reads what every witness has now (never blocks), feeds the engine
    /// and returns the reports that are due: kill reports and loss
    /// reports. Call it when the descriptor is readable or
    /// [`Watcher::timeout`] has passed.
    ///
    /// # Errors
    /// [`Error::Fatal`] when waiting on the witnesses failed.
    pub fn step(&mut self) -> Result<Vec<Report>, Error> {
        let mut ready = [EpollEvent::empty(); 8];
        let n = match self.epoll.wait(&mut ready, EpollTimeout::ZERO) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(fatal(format!("epoll_wait: {e}"))),
        };
        let is = |t: u64| ready[..n].iter().any(|e| e.data() == t);
        let (proc_ready, audit_ready, trace_ready, kmsg_ready) = (
            is(TOKEN_PROC),
            is(TOKEN_AUDIT),
            is(TOKEN_TRACE),
            is(TOKEN_KMSG),
        );
        let now = Clock::now();
        let mut out = Vec::new();
        // tracefs sightings first: a sighting only waits for its exit, so
        // reading it before this round's exits lets an exit that joins an
        // earlier audit record carry the trace facts too. Read also when
        // process events are ready (the two are not woken at once; the
        // non-blocking read is one syscall when empty).
        if trace_ready || proc_ready {
            self.read_trace(now, &mut out);
        }
        if proc_ready {
            self.read_proc(now, &mut out);
        }
        self.read_audit(audit_ready, now, &mut out);
        if kmsg_ready {
            self.read_kmsg(now, &mut out);
        }
        out.extend(self.engine.tick(now));
        if self.last_check.elapsed() >= CHECK_EVERY {
            self.last_check = Instant::now();
            self.check_host(&mut out);
        }
        self.summary.reports += out.iter().filter(|r| matches!(r, Report::Kill(_))).count() as u64;
        if self.audit.ended {
            self.stopped = Some(StopReason::EndOfInput);
        }
        Ok(out)
    }

    fn read_trace(&mut self, now: Clock, out: &mut Vec<Report>) {
        let Some(t) = self.trace.as_mut() else {
            return;
        };
        self.trace_records.clear();
        if let Err(e) = t.read_available(&mut self.trace_records) {
            log::warn!("tracefs: {e}");
        }
        self.summary.trace_events += self.trace_records.len() as u64;
        for r in &self.trace_records {
            out.extend(self.engine.on_trace(r, now));
        }
    }

    fn read_proc(&mut self, now: Clock, out: &mut Vec<Report>) {
        let mut batch = 0usize;
        while batch < PROC_BATCH {
            self.events.clear();
            match self
                .conn
                .recv_events(&mut self.events, Some(Duration::ZERO))
            {
                Ok(0) => break,
                Ok(n) => {
                    batch += n;
                    for ev in &self.events {
                        out.extend(self.engine.on_proc_event(ev, now));
                    }
                }
                Err(e) => {
                    log::warn!("process events: {e}");
                    break;
                }
            }
        }
        if let Some(r) = self
            .losses
            .observe(Counter::ProcMissed, self.conn.loss().missed_events())
        {
            log::warn!(
                "{} process event(s) lost so far",
                self.losses.total(LossSource::Proc)
            );
            out.push(r);
            self.verify_due = true;
        }
        // Processes whose exit was lost would look alive forever; the
        // check reads /proc for every live process, so at most every few
        // seconds (never once per loss under a storm).
        if self.verify_due && self.last_verify.elapsed() >= CHECK_EVERY {
            self.verify_due = false;
            self.last_verify = Instant::now();
            let closed = self.engine.procs_mut().verify_live();
            log::info!("{closed} process(es) whose exit was lost closed");
        }
    }

    fn read_audit(&mut self, ready: bool, now: Clock, out: &mut Vec<Report>) {
        self.kills.clear();
        self.audit.poll(ready, &mut self.kills);
        if let Some(r) = self
            .losses
            .observe(Counter::AuditOverflow, self.audit.counts.enobufs)
        {
            out.push(r);
        }
        for k in &self.kills {
            out.extend(self.engine.on_audit_kill(&AuditKill::from(k), now));
        }
    }

    fn read_kmsg(&mut self, now: Clock, out: &mut Vec<Report>) {
        let Some(k) = self.kmsg.as_mut() else {
            return;
        };
        let mut lines = Vec::new();
        match k.drain(|l| lines.push(l.to_vec())) {
            Ok(missed) => {
                if let Some(r) = self.losses.add(LossSource::Kmsg, missed) {
                    out.push(r);
                }
            }
            Err(e) => log::warn!("/dev/kmsg: {e}"),
        }
        for l in lines {
            out.extend(self.engine.on_kmsg_line(&l, now));
        }
    }

    /// The periodic check of host state the watcher depends on: rules
    /// still there, audit still enabled, the kernel's losses.
    fn check_host(&mut self, out: &mut Vec<Report>) {
        for r in self.control.rules.iter_mut() {
            match r.check_and_restore() {
                Ok(o) if !o.is_noop() => self.notices.push(Notice::warning(format!(
                    "audit rules were removed (auditctl -D?); re-added {} rule(s)",
                    o.readded.len()
                ))),
                Ok(_) => {}
                Err(e) => log::warn!("checking audit rules: {e}"),
            }
        }
        match self.control.cover_gaps() {
            Ok(0) => {}
            Ok(n) => self.notices.push(Notice::warning(format!(
                "the audit rules that recorded kill-family syscalls are gone (their owner, e.g. another sigwatch, removed them); added {n} rule(s), removed at exit"
            ))),
            Err(e) => log::warn!("covering audit rule gaps: {e}"),
        }
        if let Some(t) = self.trace.as_ref() {
            if let Ok(l) = t.loss() {
                if let Some(r) = self
                    .losses
                    .observe(Counter::TraceLost, l.buffer + l.unparsed)
                {
                    out.push(r);
                }
            }
        }
        let status = self.control.client().map(|c| c.status());
        if let Some(Ok(st)) = status {
            match self.control.ensure_enabled(st.enabled) {
                Ok(true) => self.notices.push(Notice::warning(
                    "audit was switched off while sigwatch ran (another sigwatch restored it at exit, or auditctl -e 0); enabled it again (restored at exit)",
                )),
                Ok(false) => {}
                Err(e) => log::warn!("re-enabling audit: {e}"),
            }
            let base = *self.control.lost_base.get_or_insert(st.lost);
            if let Some(r) = self.losses.observe(
                Counter::AuditKernelLost,
                u64::from(st.lost.wrapping_sub(base)),
            ) {
                out.push(r);
            }
        }
    }

    /// Stops: reports what is still pending (kills whose window has not
    /// run out yet), then puts the host back as it was found (releases
    /// the audit pid, removes exactly the rules added, restores
    /// `enabled`, removes the trace instance and unmounts tracefs if it
    /// was mounted for this watcher) and returns the summary.
    /// Problems while restoring are in [`Watcher::take_notices`] before
    /// the watcher is dropped... so they are returned here too.
    pub fn finish(mut self) -> Finished {
        let reports = self.engine.flush(Clock::now());
        self.summary.reports += reports
            .iter()
            .filter(|r| matches!(r, Report::Kill(_)))
            .count() as u64;
        self.restore_host();
        Finished {
            reports,
            summary: self.summary,
            notices: std::mem::take(&mut self.notices),
        }
    }

    /// Undoes this watcher's host changes (once).
    fn restore_host(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if let Err(e) = self.audit.feed.release() {
            self.notices.push(Notice::warning(format!(
                "could not release the audit pid: {e}"
            )));
        }
        let n = self.control.cleanup();
        self.notices.extend(n);
        if let Some(t) = self.trace.take() {
            if let Ok(l) = t.loss() {
                self.losses
                    .observe(Counter::TraceLost, l.buffer + l.unparsed);
            }
            // Drop removes the instance (and unmounts tracefs if this
            // process mounted it).
            drop(t);
        }
        self.trace_mount.finish();
        self.summary.trace_lost = self.losses.total(LossSource::Tracefs);
        self.summary.proc_events = self.engine.stats().proc_events;
        self.summary.proc_lost = self.losses.total(LossSource::Proc);
        self.summary.audit_records = self.audit.counts.records;
        // Records that did not parse and kill events that did not decode
        // are kills nobody will see reported: counted as lost, never
        // silent.
        self.summary.audit_lost = self.losses.total(LossSource::Audit)
            + self.audit.counts.malformed
            + self.audit.undecodable();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.restore_host();
        for n in self.notices.drain(..) {
            log::warn!("{n}");
        }
    }
}

impl AsFd for Watcher {
    /// An epoll descriptor, readable when any witness has input.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

/// What [`Watcher::finish`] returns.
#[derive(Debug)]
#[non_exhaustive]
pub struct Finished {
    /// Reports still pending at the stop (e.g. kills whose victim had not
    /// exited yet).
    pub reports: Vec<Report>,
    /// The run's counters.
    pub summary: Summary,
    /// Problems met while restoring the host, and late notices.
    pub notices: Vec<Notice>,
}

/// Opens the audit feed `cfg` asks for and, when there is one, enables
/// audit if it is off (restored at the end).
fn open_audit(
    cfg: &WatchConfig,
    control: &mut AuditControl,
    gap: &mut Option<String>,
    notices: &mut Vec<Notice>,
) -> Result<Feed, Error> {
    let status = AuditClient::open().and_then(|mut c| {
        let st = c.status()?;
        Ok((c, st))
    });
    let holder = match &status {
        Ok((_, st)) => st.pid,
        Err(e) => {
            log::debug!("audit status: {e}");
            0
        }
    };
    let feed = Feed::open(&cfg.audit_input, cfg.rcvbuf, holder, gap)?;
    if feed.is_none() {
        return Ok(feed);
    }
    // Records only flow while audit is enabled.
    match status {
        Ok((c, st)) if st.enabled == 0 => match c.enable() {
            Ok(g) => {
                log::info!("audit was disabled; enabled it (restored at exit)");
                notices.push(Notice::note("audit was off; processes started before it was first enabled on this boot are not audited (boot with audit=1 for full coverage)"));
                control.enabled = Some(g);
            }
            Err(e) => notices.push(Notice::warning(format!("cannot enable audit ({e}): no kill records will arrive; fix: run as root (CAP_AUDIT_CONTROL)"))),
        },
        Ok((_, st)) => log::info!("audit enabled={}", st.enabled),
        Err(e) => notices.push(Notice::warning(format!(
            "cannot read the audit status ({e}); fix: run as root (CAP_AUDIT_CONTROL)"
        ))),
    }
    Ok(feed)
}

/// As the audit pid, a stopped process (Ctrl-Z, or a background write to
/// a `stty tostop` terminal) stalls every audited syscall on the host
/// once the kernel's backlog fills: never stop on the terminal's
/// job-control signals. (SIGSTOP cannot be refused.)
fn ignore_job_control(allowed: bool, notices: &mut Vec<Notice>) {
    if !allowed {
        notices.push(Notice::note(
            "this process is the audit pid: if it is stopped (Ctrl-Z), audited syscalls stall host-wide; WatchConfig::handle_signals lets the watcher ignore job-control stops",
        ));
        return;
    }
    for sig in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
        // SAFETY: installing SIG_IGN runs no code in signal context.
        if let Err(e) = unsafe { nix::sys::signal::signal(sig, SigHandler::SigIgn) } {
            log::warn!("cannot ignore {sig}: {e}");
        }
    }
}
