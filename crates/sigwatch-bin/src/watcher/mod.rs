//! The [`Watcher`]: the witnesses of one host (process events, audit,
//! tracefs, the kernel log) wired to the [`Attributor`], driven from the
//! caller's own loop.
//!
//! It is [`AsFd`] (an epoll descriptor that is readable when any witness
//! has something) with a non-blocking [`Watcher::step`] that hands out
//! typed [`Report`]s; [`Watcher::timeout`] says how long the caller may
//! wait before the next step is due anyway (join windows expire on time,
//! and in a storm of process events — kernel ≥ 6.6 — only execs and
//! non-zero exits wake the caller: the other events are read on that
//! timer, at most 5 ms late).
//! [`Watcher::finish`] reports what is still pending and puts the host
//! back as it was found (rules, `enabled`, audit pid, trace instance,
//! tracefs mount); dropping a watcher does the same, without the reports.

mod audit_witness;
mod doorbell;
mod losses;
mod trace_witness;

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use auditsig::KillEvent;
use nix::poll::{PollFd, PollFlags};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigHandler, Signal};
use procconn::{Fields, ProcConnector, ProcEvent, ProcessTree, TreeConfig};

use crate::attributor::{Attributor, Clock, Config};
use crate::config::{AuditInput, WatchConfig};
use crate::notice::Notice;
use crate::report::{LossSource, Report, Summary};
use crate::sources::Kmsg;
use crate::Error;

use audit_witness::AuditWitness;
use doorbell::Doorbell;
use losses::{Counter, Losses};
use trace_witness::open_trace;

/// How often the rules are checked (and re-added if flushed) and the
/// kernel's `lost` counter read: well inside the promised 10 s.
const CHECK_EVERY: Duration = Duration::from_secs(3);

/// Process events handled per step at most: under a fork storm the
/// socket never runs dry, and the other witnesses must still be served.
const PROC_BATCH: usize = 4096;

/// Steps in a row that may leave audit records unread while process
/// events are behind (about 30 000 events).
const MAX_AUDIT_DEFERRALS: u32 = 8;

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
const TOKEN_DOORBELL: u64 = 5;

/// Watches one host and attributes every watched signal's kills. See the
/// [module docs](self).
pub struct Watcher {
    engine: Attributor<ProcessTree>,
    conn: ProcConnector,
    /// Wakes the watcher for execs and non-zero exits only, where the
    /// kernel can filter (see [`doorbell`]).
    doorbell: Option<Doorbell>,
    audit: Option<AuditWitness>,
    trace: Option<tracesig::TraceSource>,
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
    /// Steps in a row that left audit records for later.
    audit_deferred: u32,
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
        // Before the main socket: see `Doorbell::open`.
        let doorbell = Doorbell::open();
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
        // No `/proc` read at fork: until it execs, a child's exe, argv,
        // comm, ids, cgroup and cwd are its parent's at the fork (what
        // the tree copies), and its pid, parent and start come with the
        // event; the `stat` read only cost a third of the CPU in fork
        // storms. At its exec, what the reports use of it and what may
        // have changed since the fork: comm (`stat`), exe and argv (the
        // exec), cwd and cgroup (launchers `chdir` and move a child between
        // fork and exec) and its pid namespace (fixed at the fork, but not
        // read then). Not its ids: exec keeps the real uid, and the tree
        // follows `setuid` through the connector's id events. Not the
        // login uid and session: the reports take them from audit.
        let mut tree = ProcessTree::new(
            TreeConfig::default()
                .read_after_fork(false)
                .exec_fields(
                    Fields::EXE | Fields::CMDLINE | Fields::CWD | Fields::CGROUP | Fields::PIDNS,
                )
                .retain_exited_for(cfg.retention)
                .max_exited(cfg.max_exited)
                .max_retained_bytes(cfg.max_retained_bytes),
        );
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
        // Why `auto` found no audit feed (said once the tracefs witness is
        // known: with neither, the watcher refuses to start).
        let mut audit_gap = None;
        let audit = if wanted.audit {
            AuditWitness::open(cfg, &mut audit_gap, &mut notices)?
        } else {
            None
        };
        log::info!(
            "audit source: {}",
            audit.as_ref().map_or("none", AuditWitness::describe)
        );
        if audit.as_ref().is_some_and(AuditWitness::is_unicast) {
            ignore_job_control(cfg.handle_signals, &mut notices);
        }
        let (trace, trace_gap) = if wanted.tracefs {
            open_trace_witness(cfg, explicit, &mut notices)?
        } else {
            (None, None)
        };
        if let (true, None, Some(a), Some(t)) = (audit.is_none(), &trace, &audit_gap, &trace_gap) {
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
        let kmsg = (wanted.kmsg && cfg.kernel_log).then(open_kmsg).flatten();
        let engine_cfg = Config {
            window_ns: u64::try_from(cfg.window.as_nanos()).unwrap_or(u64::MAX),
            signals: cfg.signals,
            victim_pids: cfg.victim_pids.clone(),
            victim_comms: cfg.victim_comms.clone(),
            audit_expected: audit.is_some(),
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
        // Level-triggered while calm; one-shot in a storm (see `doorbell`).
        add(conn.as_fd(), TOKEN_PROC)?;
        if let Some(d) = &doorbell {
            add(d.as_fd(), TOKEN_DOORBELL)?;
        }
        if let Some(a) = &audit {
            add(a.fd(), TOKEN_AUDIT)?;
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
            doorbell,
            audit,
            trace,
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
            audit_deferred: 0,
        })
    }

    /// What this watcher sees with.
    pub fn witnesses(&self) -> WitnessState {
        WitnessState {
            audit: self.audit.as_ref().map_or("none", AuditWitness::describe),
            tracefs: self.trace.is_some(),
            kmsg: self.kmsg.is_some(),
        }
    }

    /// The run's counters so far (what [`Watcher::finish`] returns at
    /// the end): events read and lost per witness, kill reports.
    /// `reports_dropped` is the caller's (the watcher has no output).
    pub fn summary(&self) -> Summary {
        let mut s = self.summary;
        self.count_into(&mut s);
        match self.audit.as_ref() {
            Some(a) => {
                let c = a.counters();
                s.audit_records = c.records;
                s.audit_lost = self.losses.total(LossSource::Audit) + c.lost();
            }
            // After the audit witness is closed (`finish`), the summary
            // holds its final counts.
            None if self.finished => {}
            None => s.audit_lost = self.losses.total(LossSource::Audit),
        }
        s
    }

    /// The counters the engine and the loss tracker hold, into `s`: one
    /// place for both the running and the final summary (a counter copied
    /// in one of two places stayed 0 in the other).
    fn count_into(&self, s: &mut Summary) {
        let engine = self.engine.stats();
        s.proc_events = engine.proc_events;
        s.repeat_kills = engine.repeat_kills();
        s.failed_attempts_suppressed = engine.failed_attempts_suppressed;
        s.proc_lost = self.losses.total(LossSource::Proc);
        s.trace_lost = self.losses.total(LossSource::Tracefs);
    }

    /// Events `source`'s witness lost so far (the kernel log's missed
    /// records are only here, not in the [`Summary`]).
    pub fn lost(&self, source: LossSource) -> u64 {
        self.losses.total(source)
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
        let t = if self.engine.pending() > 0 {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        let t = match self.audit.as_ref().and_then(AuditWitness::tick_interval) {
            Some(a) => t.min(a),
            None => t,
        };
        match self
            .doorbell
            .as_ref()
            .and_then(|d| d.timeout(Instant::now()))
        {
            Some(d) => t.min(d),
            None => t,
        }
    }

    /// Reads what every witness has now, feeds the engine and returns the
    /// reports that are due: kill reports and loss reports. Call it when
    /// the descriptor is readable or [`Watcher::timeout`] has passed: in
    /// a storm of process events (kernel ≥ 6.6) the process socket, read
    /// by every step, wakes nobody: without other wake-ups it is read only
    /// after its timeout, and a caller that ignores the timeout lets it
    /// overflow. It does not block, except for up to
    /// 2 ms when the doorbell rang for an event whose copy the main
    /// socket has not got yet (the kernel is delivering it).
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
        if is(TOKEN_DOORBELL) {
            if let Some(d) = self.doorbell.as_mut() {
                d.ring();
            }
        }
        let now = Clock::now();
        let mut out = Vec::new();
        // Process events and audit kills are read first, and fed after the
        // kernel log and the tracefs sightings read after them. The kernel
        // writes a kill's `signal_generate` while the sender is in the
        // syscall, before the syscall's audit record and before the victim
        // can exit; the OOM killer logs its kill (`oom-kill:`, `Killed
        // process`) right after signalling, before the victim can exit. So
        // the sightings and log lines of the exits and records read here
        // are there to read by then, and each kill is joined with them
        // before it is reported. (Read the other way round, an exit and
        // its record could be reported in one round and their sighting,
        // read next round, dropped as late: under a 5,000-kill storm 269
        // reports lacked `tracefs`.)
        // With a doorbell, the main socket may hold events without waking
        // us: it is read at every step, before any other witness's input
        // is fed (a kill, also one an audit timeout completes, must not
        // overtake its sender's fork and exec). Steps are what the
        // doorbell makes rare; an empty read is one syscall.
        let proc_due = proc_ready || self.doorbell.is_some();
        self.events.clear();
        // The backlog after the doorbell's catch-up, which may read more:
        // what the audit gate below must see.
        let proc_backlog = if proc_due {
            let backlog = self.read_proc();
            self.settle_doorbell(proc_ready, backlog)
        } else {
            false
        };
        // Audit records wait while process events are behind: a kill's
        // record must not overtake the fork and exec of its sender (the
        // tree would not know the sender yet). The socket keeps them.
        // Under a storm that never drains, they wait a few rounds at most
        // (the audit socket must not overflow either).
        let audit_now = !(proc_backlog && self.audit_deferred < MAX_AUDIT_DEFERRALS);
        // Every audit input is readable when it has something (a socket,
        // a stream, a followed log's timer); only half-assembled events
        // need polls without, to time out. A storm of process events then
        // costs no audit receive that can only say EAGAIN.
        let audit_due = audit_ready
            || self
                .audit
                .as_ref()
                .is_some_and(|a| a.tick_interval().is_some());
        if !audit_due {
            self.kills.clear();
        } else if audit_now {
            self.audit_deferred = 0;
            self.read_audit(&mut out);
            // A kill record read now may be of a process forked after the
            // read of the process socket above (the watcher was preempted,
            // or stopped, between the two reads): its record was written
            // after its fork and exec were queued, so one more read of the
            // process socket brings them, and they are fed first. (Without
            // it the sender of such a kill was unknown to the tree: no
            // cwd, no ancestry of its own; 3 in 20 runs of a stopped
            // watcher under an exec load.)
            if !self.kills.is_empty() {
                let mut rounds = 0;
                while self.read_proc_more() && rounds < MAX_AUDIT_DEFERRALS {
                    rounds += 1;
                }
            }
        } else {
            self.audit_deferred += 1;
        }
        // An exec whose exit is in the same batch needs no reading of
        // what the exit already took away; the same pass says whether a
        // process of the batch died of a signal.
        let mut signalled = false;
        let watched = self.engine.config().signals;
        let exits = self
            .engine
            .procs_mut()
            .expect_exits(self.events.iter().filter_map(|e| match e.kind {
                procconn::EventKind::Exit {
                    process_pid,
                    process_tgid,
                    status,
                    ..
                } if process_pid == process_tgid => {
                    signalled |= status
                        .signal()
                        .is_some_and(|sig| watched.contains(i32::from(sig)));
                    Some(process_tgid)
                }
                _ => None,
            }))
            > 0;
        // Only deaths by a watched signal and audit kills need the kernel
        // log and the trace pipe (and exits of processes whose kills wait:
        // a caught signal): a batch of forks, execs, plain exits and, say,
        // SIGPIPE deaths does without the two reads (one syscall each when
        // empty), which counts in storms of short-lived processes.
        let explain = signalled || !self.kills.is_empty() || (exits && self.engine.pending() > 0);
        if kmsg_ready || explain {
            self.read_kmsg(now, &mut out);
        }
        // A sighting only waits for its exit.
        if trace_ready || explain {
            self.read_trace(now, &mut out);
        }
        for ev in &self.events {
            out.extend(self.engine.on_proc_event(ev, now));
        }
        for k in &self.kills {
            out.extend(self.engine.on_audit_kill(k, now));
        }
        self.events.clear();
        self.kills.clear();
        if proc_due {
            self.check_proc_loss(&mut out);
        }
        out.extend(self.engine.tick(now));
        if self.last_check.elapsed() >= CHECK_EVERY {
            self.last_check = Instant::now();
            self.check_host(&mut out);
        }
        self.summary.reports += out.iter().filter(|r| matches!(r, Report::Kill(_))).count() as u64;
        if self.audit.as_ref().is_some_and(|a| a.ended) {
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

    /// Reads a bounded batch of process events into `self.events`; `true`
    /// when more wait (a backlog after a pause or under a storm).
    /// [`Watcher::read_proc`] after the doorbell's catch-up: appends, and
    /// tells the doorbell which main copies it has now. Returns whether
    /// more events wait.
    fn read_proc_more(&mut self) -> bool {
        let before = self.events.len();
        let backlog = self.read_proc_batch(self.events.len() + PROC_BATCH);
        if let Some(d) = self.doorbell.as_mut() {
            d.saw(&self.events[before..]);
        }
        backlog
    }

    fn read_proc(&mut self) -> bool {
        self.read_proc_batch(PROC_BATCH)
    }

    /// Reads the process socket until it is empty or `self.events` holds
    /// `limit` events; whether the limit was reached (more may wait).
    fn read_proc_batch(&mut self, limit: usize) -> bool {
        if let Err(e) = self.conn.drain_into(&mut self.events, limit) {
            log::warn!("process events: {e}");
        }
        self.events.len() >= limit
    }

    /// After a read of the main socket: waits briefly for the main copies
    /// of doorbell events not read yet, and changes how the main socket
    /// is waited on when the doorbell says so (`fired`: its one-shot wait
    /// woke us). Returns whether more events wait (after the catch-up's
    /// reads, if any).
    fn settle_doorbell(&mut self, fired: bool, mut backlog: bool) -> bool {
        let Some(mut d) = self.doorbell.take() else {
            return backlog;
        };
        // With a backlog the rest is read at the next step anyway.
        let mut missing = d.saw(&self.events);
        let end = Instant::now() + doorbell::CATCH_UP;
        while missing && !backlog {
            // The doorbell's copy came first: the main one is being
            // delivered right now.
            let left = end.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(self.conn.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            if left.is_zero() || nix::poll::poll(&mut fds, ms).unwrap_or(0) == 0 {
                d.forget_waiting();
                break;
            }
            let before = self.events.len();
            backlog = self.read_proc();
            missing = d.saw(&self.events[before..]);
        }
        let now = Instant::now();
        if let Some(wait) = d.pace().after_read(now, fired, self.events.len(), backlog) {
            let flags = match wait {
                doorbell::MainWait::Always => EpollFlags::EPOLLIN,
                doorbell::MainWait::OneShot => EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT,
            };
            log::debug!("process events: main socket waited on {wait:?}");
            if let Err(e) = self
                .epoll
                .modify(self.conn.as_fd(), &mut EpollEvent::new(flags, TOKEN_PROC))
            {
                log::warn!("epoll_ctl: {e}");
                d.pace().change_failed(now);
            }
        }
        self.doorbell = Some(d);
        backlog
    }

    /// Process events the kernel could not deliver: a loss report, and a
    /// check of the tree's live processes soon.
    fn check_proc_loss(&mut self, out: &mut Vec<Report>) {
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

    /// Reads the kill events finished now into `self.kills`. A followed
    /// log or a half-assembled event needs polls without readiness too; a
    /// poll of an idle socket is one syscall.
    fn read_audit(&mut self, out: &mut Vec<Report>) {
        self.kills.clear();
        let Some(a) = self.audit.as_mut() else {
            return;
        };
        a.poll(&mut self.kills, &mut self.notices);
        let overflows = a.counters().overflows;
        if let Some(r) = self.losses.observe(Counter::AuditOverflow, overflows) {
            out.push(r);
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
            // The limit that was hit, read now: it may change or the
            // cgroup may go away once the victim is gone.
            let limit = crate::input::parse_oom_kill_line(&l)
                .and_then(|o| o.oom_memcg)
                .and_then(|cg| {
                    crate::cgroupfs::memory_limit(std::path::Path::new("/sys/fs/cgroup"), &cg)
                });
            out.extend(self.engine.on_kmsg_line_with_limit(&l, limit, now));
        }
    }

    /// The periodic check of host state the watcher depends on: rules
    /// still there, audit still enabled, the kernel's losses.
    fn check_host(&mut self, out: &mut Vec<Report>) {
        if let Some(a) = self.audit.as_mut() {
            if let Some(lost) = a.check(&mut self.notices) {
                if let Some(r) = self.losses.observe(Counter::AuditKernelLost, lost) {
                    out.push(r);
                }
            }
        }
        if let Some(t) = self.trace.as_ref() {
            match t.clean_stale() {
                Ok(c) => self.notices.extend(trace_witness::stale_notice(&c)),
                Err(e) => log::warn!("cleaning stale trace instances: {e}"),
            }
            if let Ok(l) = t.loss() {
                if let Some(r) = self
                    .losses
                    .observe(Counter::TraceLost, l.buffer + l.unparsed)
                {
                    out.push(r);
                }
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
        let now = Clock::now();
        let mut reports = Vec::new();
        if let Some(a) = self.audit.as_mut() {
            let mut last = Vec::new();
            a.finish_source(&mut last, &mut self.notices);
            for k in &last {
                reports.extend(self.engine.on_audit_kill(k, now));
            }
        }
        reports.extend(self.engine.flush(now));
        self.summary.reports += reports
            .iter()
            .filter(|r| matches!(r, Report::Kill(_)))
            .count() as u64;
        // The losses read last (the kernel's counter at the very end).
        reports.extend(self.restore_host());
        Finished {
            reports,
            summary: self.summary,
            notices: std::mem::take(&mut self.notices),
        }
    }

    /// Undoes this watcher's host changes (once); returns the loss
    /// reports of what the witnesses say they lost up to the end.
    fn restore_host(&mut self) -> Vec<Report> {
        let mut out = Vec::new();
        if std::mem::replace(&mut self.finished, true) {
            return out;
        }
        let mut audit_counters = None;
        if let Some(mut a) = self.audit.take() {
            if let Some(lost) = a.finish_keeper(&mut self.notices) {
                // The kernel's losses up to the very end.
                out.extend(self.losses.observe(Counter::AuditKernelLost, lost));
            }
            let c = a.counters();
            out.extend(self.losses.observe(Counter::AuditOverflow, c.overflows));
            audit_counters = Some(c);
        }
        if let Some(t) = self.trace.take() {
            if let Ok(l) = t.loss() {
                out.extend(
                    self.losses
                        .observe(Counter::TraceLost, l.buffer + l.unparsed),
                );
            }
            // Removes the instance, those of dead sigwatches, and the
            // mount of the last sigwatch out.
            match t.finish() {
                Ok(c) => self.notices.extend(trace_witness::stale_notice(&c)),
                Err(e) => log::warn!("tracefs clean-up: {e}"),
            }
        }
        let mut s = self.summary;
        self.count_into(&mut s);
        self.summary = s;
        let c = audit_counters.unwrap_or_default();
        self.summary.audit_records = c.records;
        // Records that did not parse and kill events that did not decode
        // are kills nobody will see reported: counted as lost, never
        // silent.
        self.summary.audit_lost = self.losses.total(LossSource::Audit) + c.lost();
        out
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Without `finish` nobody takes reports any more: losses are logged.
        for r in self.restore_host() {
            if let Report::Loss(l) = r {
                log::warn!("{} {} event(s) lost", l.count, l.source);
            }
        }
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

/// The tracefs witness, or why there is none (an error when it was
/// asked for by name).
fn open_trace_witness(
    cfg: &WatchConfig,
    explicit: bool,
    notices: &mut Vec<Notice>,
) -> Result<(Option<tracesig::TraceSource>, Option<String>), Error> {
    match open_trace(cfg.signals, notices) {
        Ok(t) => {
            log::info!(
                "tracefs: instance {} (mark_victim traced: {})",
                t.instance().path().display(),
                t.instance().mark_victim_traced()
            );
            Ok((Some(t), None))
        }
        Err(e) if explicit => Err(fatal(format!(
            "cannot trace signal:signal_generate ({e}); fix: run as root on a kernel with CONFIG_FTRACE (see `sigwatch status`), or leave tracefs out of --source"
        ))),
        Err(e) => Ok((None, Some(e.to_string()))),
    }
}

/// `/dev/kmsg`, if it can be read.
fn open_kmsg() -> Option<Kmsg> {
    match Kmsg::open() {
        Ok(k) => Some(k),
        Err(e) => {
            log::warn!("cannot read /dev/kmsg ({e}): OOM kills will be reported as origin unknown; fix: run as root (CAP_SYSLOG)");
            None
        }
    }
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
