//! The attribution engine: a pure state machine fed with process events,
//! audit kill events, kernel-log lines and a clock, emitting [`Report`]s.
//!
//! Joining (DESIGN.md, "Attribution"): an audit kill names its targets
//! (one `OBJ_PID` per victim process); the victim's exit event (proc
//! connector, one per thread — only the leader's, `pid == tgid`, counts)
//! confirms the death. Either may arrive first; each waits at most
//! [`Config::window_ns`] for the other. A victim is reported once.

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use procconn::{EventKind, Pid, ProcEvent};

use auditsig::KillEvent;

use crate::input::{parse_kmsg_line, parse_oom_kill_line};
use crate::procview::{cgroup_within, ProcessSnapshot, ProcessView};
use crate::report::{
    Ancestor, Ancestry, AuditRef, CgroupKill, KillExtra, KillReport, OomContext, Origin,
    ProcContext, Reason, Report, Sender, Text, Timestamp, TraceFacts, Victim, Witness,
};
use crate::signals::{signal_name, SignalSet};
use tracesig::classify::si;
use tracesig::{classify, Classification, MarkVictim, OomEvidence, SignalGenerate, UserSend};

/// What to report and how long to wait.
///
/// ```
/// use sigwatch::{Config, SignalSet};
/// let cfg = Config::default().signals(SignalSet::all()).window_ns(500_000_000);
/// assert!(cfg.signals.contains(15));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// How long an audit kill waits for its victim's exit, and an exit by
    /// a watched signal waits for its audit record or kernel-log evidence.
    pub window_ns: u64,
    /// The signals to report (others are ignored).
    pub signals: SignalSet,
    /// Report only these victim pids (empty: all).
    pub victim_pids: Vec<Pid>,
    /// Report only victims with one of these comms (empty: all; a name
    /// longer than the kernel keeps matches on its first 15 bytes, see
    /// [`comm_matches`]).
    pub victim_comms: Vec<Vec<u8>>,
    /// An audit source is live: a user kill seen by tracefs waits up to
    /// [`Config::audit_grace_ns`] after the victim's exit for its audit
    /// record (which adds login uid, session and the syscall).
    pub audit_expected: bool,
    /// How long a tracefs-seen user kill waits for its audit record.
    pub audit_grace_ns: u64,
    /// `oom:mark_victim` is traced: its absence is evidence (see
    /// [`tracesig::OomEvidence`]).
    pub mark_victim_traced: bool,
    /// How long a kernel SIGKILL that could be an OOM kill waits for
    /// `mark_victim` (the kernel fires it right after the signal).
    pub oom_hold_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window_ns: 2_000_000_000,
            signals: SignalSet::sigkill(),
            victim_pids: Vec::new(),
            victim_comms: Vec::new(),
            audit_expected: true,
            audit_grace_ns: 1_000_000_000,
            mark_victim_traced: true,
            oom_hold_ns: 200_000_000,
        }
    }
}

impl Config {
    /// The join window ([`Config::window_ns`]).
    pub fn window_ns(mut self, ns: u64) -> Self {
        self.window_ns = ns;
        self
    }
    /// The signals to report.
    pub fn signals(mut self, s: SignalSet) -> Self {
        self.signals = s;
        self
    }
    /// Report only these victim pids.
    pub fn victim_pids(mut self, pids: Vec<Pid>) -> Self {
        self.victim_pids = pids;
        self
    }
    /// Report only victims with these comms.
    pub fn victim_comms(mut self, comms: Vec<Vec<u8>>) -> Self {
        self.victim_comms = comms;
        self
    }
    /// Whether an audit source is live ([`Config::audit_expected`]).
    pub fn audit_expected(mut self, yes: bool) -> Self {
        self.audit_expected = yes;
        self
    }
    /// How long a tracefs-seen user kill waits for its audit record.
    pub fn audit_grace_ns(mut self, ns: u64) -> Self {
        self.audit_grace_ns = ns;
        self
    }
    /// Whether `oom:mark_victim` is traced.
    pub fn mark_victim_traced(mut self, yes: bool) -> Self {
        self.mark_victim_traced = yes;
        self
    }
    /// How long a possible OOM kill waits for `mark_victim`.
    pub fn oom_hold_ns(mut self, ns: u64) -> Self {
        self.oom_hold_ns = ns;
        self
    }
}

/// The time, passed in by the caller so the engine stays pure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// `CLOCK_MONOTONIC` now, in ns (the clock of `proc_event.timestamp_ns`).
    pub mono_ns: u64,
    /// Wall-clock now, ns since the Unix epoch.
    pub wall_ns: u64,
}

impl Clock {
    /// Converts a monotonic (since-boot) instant to wall-clock ns.
    pub fn wall_of(&self, mono: u64) -> u64 {
        if mono <= self.mono_ns {
            self.wall_ns.saturating_sub(self.mono_ns - mono)
        } else {
            self.wall_ns.saturating_add(mono - self.mono_ns)
        }
    }

    /// Reads the system clocks.
    pub fn now() -> Clock {
        let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
            .unwrap_or(0);
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Clock {
            mono_ns: mono,
            wall_ns: wall,
        }
    }
}

/// Counters of what the engine saw and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Process events applied.
    pub proc_events: u64,
    /// Audit kill events received (all signals).
    pub audit_kills: u64,
    /// Kernel-log kill lines recognized.
    pub kernel_kills: u64,
    /// Kill reports emitted (after victim filters).
    pub reports: u64,
    /// Reports suppressed by the victim filters.
    pub filtered: u64,
    /// Kills dropped because their victim was already reported (each
    /// witness's record of one kill counts: an audit record and a tracefs
    /// sighting of the same repeat kill are 2).
    pub duplicates: u64,
    /// Of [`Stats::duplicates`], audit records.
    pub duplicate_audit_kills: u64,
    /// Of [`Stats::duplicates`], tracefs sightings.
    pub duplicate_trace_sightings: u64,
    /// Failed attempts (audit records of a kill that was refused) not
    /// reported: more than [`FAILED_ATTEMPTS_PER_SENDER`] of one sender
    /// user within [`FAILED_ATTEMPTS_WINDOW_NS`].
    pub failed_attempts_suppressed: u64,
    /// `signal_generate` events of watched signals received from tracefs.
    pub trace_signals: u64,
    /// tracefs sightings joined with an audit record of the same kill.
    pub trace_joined: u64,
    /// Kernel-generated signals seen by tracefs that nobody died of
    /// (not reported).
    pub trace_unfatal: u64,
}

impl Stats {
    /// Repeat kills (a victim killed again after its kill was reported),
    /// each counted once: every witness records every kill, so the witness
    /// that recorded more of them counts them (an audit record and a
    /// tracefs sighting of one kill are one repeat kill, not two).
    pub fn repeat_kills(&self) -> u64 {
        self.duplicate_audit_kills
            .max(self.duplicate_trace_sightings)
    }
}

/// A `signal_generate` of a watched signal waiting for the victim's exit,
/// its audit record or `mark_victim`.
#[derive(Debug)]
struct Sighting {
    ev: SignalGenerate,
    /// The current task's process (tgid).
    sender_pid: Pid,
    marked: Option<MarkVictim>,
    /// `now.mono_ns` when it arrived.
    seen: u64,
    /// Wall time of the tracepoint event.
    wall: u64,
    deadline: u64,
}

/// A kill report waiting for its victim's exit. Its sender and
/// ancestors are in `chain`, shared by every target of the same audit
/// event (a group kill of 15 000 processes held 15 000 copies: 600 MB),
/// and put into the report when it goes out.
#[derive(Debug)]
struct PendingKill {
    report: KillReport,
    chain: Arc<SenderChain>,
    deadline: u64,
}

/// The sender of one audit-recorded kill and its ancestry.
#[derive(Debug)]
struct SenderChain {
    sender: Sender,
    ancestors: Ancestry,
}

impl SenderChain {
    /// `report` with this sender and ancestry.
    fn fill(&self, mut report: KillReport) -> KillReport {
        report.sender = Some(self.sender.clone());
        report.ancestors = self.ancestors.clone();
        report
    }
}

impl PendingKill {
    fn sender_pid(&self) -> Pid {
        self.chain.sender.pid
    }

    fn into_report(self) -> KillReport {
        self.chain.fill(self.report)
    }
}

/// A watched-signal exit waiting for its audit record or kernel evidence.
#[derive(Debug)]
struct PendingExit {
    victim: Victim,
    /// The tree never read the victim's exec: its comm is the parent's.
    details_stale: bool,
    signal: i32,
    exit_wall: u64,
    ran_ns: Option<u64>,
    deadline: u64,
}

/// Everything known about one victim process while its kill is being
/// attributed: the witnesses' pieces that wait for each other. A case
/// exists while any piece waits, and after the report as a marker that
/// drops late duplicates (until `done_until`).
#[derive(Debug, Default)]
struct Case {
    /// The victim process's start time (`CLOCK_MONOTONIC` ns) when the
    /// view knew it: with the pid, its identity. A later kill of a
    /// process that reuses the pid is a new case, never a duplicate.
    start: Option<u64>,
    /// Audit-recorded kills waiting for the exit, oldest first.
    kills: Vec<PendingKill>,
    /// The exit by a watched signal, waiting for its explanation.
    exit: Option<PendingExit>,
    /// The tracefs `signal_generate` of the kill (the first one wins).
    sighting: Option<Sighting>,
    /// `mark_victim` seen before its `signal_generate`, until its deadline.
    mark: Option<(MarkVictim, u64)>,
    /// Kernel-log evidence (reason), until its deadline.
    kernel: Option<(Reason, u64)>,
    /// The OOM killer's account from the kernel log, until its deadline.
    oom: Option<(OomContext, u64)>,
    /// The victim died and was reported: late pieces of the same kill are
    /// duplicates until then (pid reuse within seconds needs a full
    /// pid-space wrap, and a known different start time ends it early).
    done_until: Option<u64>,
}

impl Case {
    /// Nothing waits and no marker is kept.
    fn is_empty(&self) -> bool {
        self.kills.is_empty()
            && self.exit.is_none()
            && self.sighting.is_none()
            && self.mark.is_none()
            && self.kernel.is_none()
            && self.oom.is_none()
            && self.done_until.is_none()
    }

    fn reported(&self) -> bool {
        self.done_until.is_some()
    }
}

/// The attribution state machine over a [`ProcessView`].
#[derive(Debug)]
pub struct Attributor<P> {
    cfg: Config,
    procs: P,
    /// One case per victim process (tgid) with anything pending.
    cases: HashMap<Pid, Case>,
    /// The latest `cgroup.kill` writes (at most [`MAX_CGROUP_KILL_BURSTS`]).
    cgroup_kill_bursts: VecDeque<CgroupKillBurst>,
    failed_attempts: FailedAttempts,
    stats: Stats,
    /// The ancestry of the latest kill report: a next one with an equal
    /// chain shares it (the victims of one sender, also those that each
    /// looked their sender up, as tracefs sightings do), so that the
    /// reports of a group kill hold one chain, not one per victim.
    last_ancestry: Ancestry,
}

/// Failed attempts reported per sender user (real uid) in each window;
/// more are only counted ([`Stats::failed_attempts_suppressed`]): a local
/// user looping `kill(1, SIGKILL)` (50 000 refused calls in 7 s), from one
/// process or a new one each time, must not flood the output, the journal
/// or the daemon's memory.
pub const FAILED_ATTEMPTS_PER_SENDER: u32 = 10;

/// The window of [`FAILED_ATTEMPTS_PER_SENDER`].
pub const FAILED_ATTEMPTS_WINDOW_NS: u64 = 10_000_000_000;

/// Sender users whose failed attempts are counted apart; when more send
/// at once, the rest share one count.
const FAILED_ATTEMPT_SENDERS: usize = 1024;

/// Per sender user: its window's start and attempts in it.
#[derive(Debug, Default)]
struct FailedAttempts {
    by_sender: HashMap<u32, (u64, u32)>,
}

impl FailedAttempts {
    /// Whether the failed attempt of user `sender` at `now_ns` is
    /// reported.
    fn allow(&mut self, sender: u32, now_ns: u64) -> bool {
        let full = |m: &HashMap<u32, (u64, u32)>| {
            m.len() >= FAILED_ATTEMPT_SENDERS && !m.contains_key(&sender)
        };
        if full(&self.by_sender) {
            self.by_sender
                .retain(|_, (start, _)| now_ns.saturating_sub(*start) < FAILED_ATTEMPTS_WINDOW_NS);
        }
        // Still full (more than 1 024 users failing within 10 s): the
        // newcomers share one slot (the unset uid's).
        let key = if full(&self.by_sender) {
            u32::MAX
        } else {
            sender
        };
        let (start, n) = self.by_sender.entry(key).or_insert((now_ns, 0));
        if now_ns.saturating_sub(*start) >= FAILED_ATTEMPTS_WINDOW_NS {
            *start = now_ns;
            *n = 0;
        }
        *n += 1;
        *n <= FAILED_ATTEMPTS_PER_SENDER
    }
}

/// A parent that died of the victim's signal at most this long before it
/// was killed by the same kill (a group's members die within
/// microseconds of each other; a busy host may spread them out).
const SAME_KILL_NS: u64 = 100_000_000;

/// `cgroup.kill` writes remembered at once (one per writer; the oldest go).
const MAX_CGROUP_KILL_BURSTS: usize = 16;

/// The victims of one `cgroup.kill` write, as far as tracefs showed them:
/// the kernel signals every process of the written cgroup and of the
/// cgroups below it inside the writer's `write()`, so its sightings come
/// in one burst from the writer. The written cgroup holds them all.
#[derive(Debug)]
struct CgroupKillBurst {
    writer: Pid,
    /// Tracepoint time (wall ns) of the burst's latest sighting.
    last: u64,
    /// The deepest cgroup holding every victim's cgroup seen so far.
    common: String,
    /// The victims seen (at most [`MAX_BURST_VICTIMS`]).
    victims: HashSet<Pid>,
    /// More victims than kept: the burst is not used.
    overflowed: bool,
    /// Whether `common` may be named (no other live process in it),
    /// worked out at the first report after the victims last changed.
    verdict: Cell<Option<bool>>,
}

/// Victims remembered per `cgroup.kill` burst.
const MAX_BURST_VICTIMS: usize = 4096;

/// Sightings of one writer further apart than this (tracepoint time) are
/// two writes: the kernel signals a write's processes in one loop.
const BURST_GAP_NS: u64 = 10_000_000;

/// The deepest cgroup holding both paths (whole path components).
fn common_cgroup(a: &str, b: &str) -> String {
    let parts: Vec<&str> = a
        .split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    match parts.join("/") {
        p if p.is_empty() => "/".to_string(),
        p => p,
    }
}

impl<P: ProcessView> Attributor<P> {
    /// A new engine owning `procs`.
    pub fn new(cfg: Config, procs: P) -> Self {
        Attributor {
            cfg,
            procs,
            cases: HashMap::new(),
            cgroup_kill_bursts: VecDeque::new(),
            failed_attempts: FailedAttempts::default(),
            stats: Stats::default(),
            last_ancestry: Ancestry::default(),
        }
    }

    /// The process view.
    pub fn procs(&self) -> &P {
        &self.procs
    }

    /// The process view, mutably (e.g. to seed it).
    pub fn procs_mut(&mut self) -> &mut P {
        &mut self.procs
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Number of kills and exits waiting for their counterpart.
    pub fn pending(&self) -> usize {
        self.cases
            .values()
            .map(|c| {
                c.kills.len() + usize::from(c.exit.is_some()) + usize::from(c.sighting.is_some())
            })
            .sum()
    }

    /// The case of victim `tgid` for a new piece of evidence. A finished
    /// case of an earlier process with the same pid (known by its start
    /// time) is forgotten first: a reused pid is a new victim.
    fn case(&mut self, tgid: Pid) -> &mut Case {
        let start = self.procs.process(tgid).and_then(|p| p.start_time_ns);
        let c = self.cases.entry(tgid).or_default();
        if let (Some(old), Some(new)) = (c.start, start) {
            if old != new && c.reported() && c.kills.is_empty() && c.sighting.is_none() {
                *c = Case::default();
            }
        }
        if c.start.is_none() {
            c.start = start;
        }
        c
    }

    /// Forgets a case once nothing in it waits any more.
    fn tidy(&mut self, tgid: Pid) {
        if self.cases.get(&tgid).is_some_and(Case::is_empty) {
            self.cases.remove(&tgid);
        }
    }

    /// Feeds a process event. Reports come out when it is the exit of a
    /// victim whose kill record already arrived, or the exit of an
    /// OOM-killed process the kernel log already named.
    pub fn on_proc_event(&mut self, ev: &ProcEvent, now: Clock) -> Vec<Report> {
        self.stats.proc_events += 1;
        let mut out = Vec::new();
        let exit = match ev.kind {
            EventKind::Exit {
                process_pid,
                process_tgid,
                status,
                ..
            } if process_pid == process_tgid => Some((process_tgid, status)),
            _ => None,
        };
        let Some((tgid, status)) = exit else {
            self.procs.apply(ev);
            return out;
        };
        let signal = status.signal().map(i32::from);
        let kills_wait = self.cases.get(&tgid).is_some_and(|c| !c.kills.is_empty());
        if !kills_wait && !signal.is_some_and(|s| self.cfg.signals.contains(s)) {
            // The common case (a normal exit): no copy of the process.
            self.procs.apply(ev);
            return out;
        }
        // Snapshot before applying: a view may drop exited processes.
        let before = self.procs.process(tgid);
        self.procs.apply(ev);
        let after = self.procs.process(tgid);
        let kept_parent = match (&before, &after, status.signal()) {
            (Some(b), Some(a), Some(_)) => self.parent_at_the_kill(b, a, status, ev.timestamp_ns),
            _ => None,
        };
        let mut snap = after.or(before);
        if let (Some(s), Some(pp)) = (snap.as_mut(), kept_parent) {
            s.ppid = Some(pp);
        }
        let ran_ns = snap
            .as_ref()
            .and_then(|s| s.start_time_ns)
            .and_then(|st| ev.timestamp_ns.checked_sub(st));
        let exit_wall = now.wall_of(ev.timestamp_ns);
        let signal = signal.filter(|s| kills_wait || self.cfg.signals.contains(*s));
        let exit = signal.map(|signal| {
            let mut victim = Victim {
                pid: tgid,
                tid: None,
                ppid: None,
                comm: None,
                exe: None,
                argv: None,
                argv_truncated: None,
                cwd: None,
                uid: None,
                start_time: None,
                exit_confirmed: true,
                context: ProcContext::default(),
            };
            if let Some(s) = &snap {
                fill_victim(&mut victim, s, now);
            }
            PendingExit {
                victim,
                details_stale: snap.as_ref().is_some_and(|s| s.details_stale),
                signal,
                exit_wall,
                ran_ns,
                deadline: now.mono_ns.saturating_add(self.cfg.window_ns),
            }
        });
        if kills_wait {
            self.confirm_kills(tgid, signal, snap.as_ref(), ran_ns, now, &mut out);
        } else if let Some(pe) = exit {
            self.case(tgid).exit = Some(pe);
            self.decide(tgid, now, false, &mut out);
        }
        self.tidy(tgid);
        out
    }

    /// The parent a killed process had when the signal was sent, when its
    /// exit names another one (a reaper): the kernel re-parents children
    /// in their parent's exit, so one kill that took both (a process group,
    /// `timeout -s KILL`) shows the reaper in the child's exit. The parent
    /// the view had (`before`, the victim before its exit) counts when it
    /// started before the victim (not a later holder of its pid) and
    /// either died of the same signal at most [`SAME_KILL_NS`] before, or
    /// is still alive to the view: its exit, which re-parented the victim
    /// just now, is on its way (the kernel sends a process's exit event
    /// after re-parenting its children).
    fn parent_at_the_kill(
        &self,
        before: &ProcessSnapshot,
        after: &ProcessSnapshot,
        status: procconn::ExitStatus,
        exit_ns: u64,
    ) -> Option<Pid> {
        if before.exited {
            return None;
        }
        let pp = before.ppid?;
        if after.ppid == Some(pp) {
            return None;
        }
        let p = self.procs.process(pp)?;
        let started_before = matches!(
            (p.start_time_ns, before.start_time_ns),
            (Some(parent), Some(child)) if parent <= child
        );
        let same_kill = p.exited
            && p.exit_signal.is_some()
            && p.exit_signal == status.signal()
            && p.exit_time_ns
                .is_some_and(|t| exit_ns.saturating_sub(t) <= SAME_KILL_NS);
        let exiting_now = !p.exited && !p.liveness_unknown;
        (started_before && (same_kill || exiting_now)).then_some(pp)
    }

    /// The victim of audit-recorded kills exited: every waiting kill is
    /// reported, the first one of the signal it died of as the one that
    /// killed it (with a tracefs sighting of the same sender, if any).
    fn confirm_kills(
        &mut self,
        tgid: Pid,
        signal: Option<i32>,
        snap: Option<&ProcessSnapshot>,
        ran_ns: Option<u64>,
        now: Clock,
        out: &mut Vec<Report>,
    ) {
        let c = self.case(tgid);
        let kills = std::mem::take(&mut c.kills);
        // A tracefs sighting not joined yet (it may name another sender
        // whose kill came second): the audit-recorded kill is reported.
        let late = c.sighting.take();
        let mut confirmed_one = false;
        for pk in kills {
            let mut r = pk.into_report();
            if let Some(t) = late.as_ref().filter(|t| {
                r.trace.is_none()
                    && t.ev.sig == r.signal
                    && r.sender.as_ref().is_some_and(|s| s.pid == t.sender_pid)
            }) {
                r.trace = Some(facts_of(t, &self.cfg));
                r.extra.trace_wall = Some(t.wall);
                self.stats.trace_joined += 1;
            }
            if let Some(s) = snap {
                fill_victim(&mut r.victim, s, now);
            }
            r.extra.victim_ran_ns = ran_ns;
            r.victim.exit_confirmed = !confirmed_one && Some(r.signal) == signal;
            confirmed_one |= r.victim.exit_confirmed;
            self.emit(Report::Kill(r), now, out);
        }
    }

    /// Feeds one tracefs record (`signal:signal_generate`,
    /// `oom:mark_victim`; others are ignored). The sighting is joined
    /// with the victim's exit and with an audit record of the same kill
    /// (same sender process, same target); a kernel-generated kill is
    /// classified by [`tracesig::classify()`].
    pub fn on_trace(&mut self, rec: &tracesig::Record, now: Clock) -> Vec<Report> {
        let mut out = Vec::new();
        match rec {
            tracesig::Record::SignalGenerate(ev) => self.on_signal_generate(ev, now, &mut out),
            tracesig::Record::MarkVictim(mv) => {
                let pid = self.procs.tgid_of(mv.pid).unwrap_or(mv.pid);
                let d = now.mono_ns.saturating_add(self.cfg.window_ns);
                let c = self.case(pid);
                if let Some(t) = c.sighting.as_mut() {
                    t.marked = Some(mv.clone());
                    self.decide(pid, now, false, &mut out);
                } else {
                    c.mark = Some((mv.clone(), d));
                }
                self.tidy(pid);
            }
            _ => {}
        }
        out
    }

    fn on_signal_generate(&mut self, ev: &SignalGenerate, now: Clock, out: &mut Vec<Report>) {
        let sig = ev.sig;
        if !self.cfg.signals.contains(sig) {
            return;
        }
        self.stats.trace_signals += 1;
        let tgid = self.procs.tgid_of(ev.pid).unwrap_or(ev.pid);
        let sender_pid = self
            .procs
            .tgid_of(ev.ctx.pid)
            .or(ev.ctx.tgid)
            .unwrap_or(ev.ctx.pid);
        let wall = match ev.ctx.timestamp {
            // trace_clock=mono: the proc connector's clock.
            tracesig::Timestamp::Micros(us) => now.wall_of(us.saturating_mul(1000)),
            tracesig::Timestamp::Counter(_) => now.wall_ns,
        };
        if classify(ev, OomEvidence::Unavailable).origin == tracesig::Origin::CgroupKill {
            // The cgroup it is killed in, not the one its exec showed: a
            // shell that moved itself (`echo $$ > cgroup.procs`) is still
            // there to read (alive, or a zombie) soon after the write.
            self.procs.refresh_cgroup(tgid);
            self.note_cgroup_kill(sender_pid, tgid, wall);
        }
        let deadline = now.mono_ns.saturating_add(self.cfg.window_ns);
        let cfg = self.cfg.clone();
        let c = self.case(tgid);
        let sighting = Sighting {
            ev: ev.clone(),
            sender_pid,
            marked: c.mark.take().map(|(m, _)| m),
            seen: now.mono_ns,
            wall,
            deadline,
        };
        // The audit record of this kill came first: it carries the facts.
        if let Some(pk) = c.kills.iter_mut().find(|p| {
            p.report.trace.is_none() && p.report.signal == sig && p.sender_pid() == sender_pid
        }) {
            pk.report.trace = Some(facts_of(&sighting, &cfg));
            pk.report.extra.trace_wall = Some(sighting.wall);
            self.stats.trace_joined += 1;
            return;
        }
        if c.reported() || c.sighting.is_some() {
            // Already reported (audit and exit came first), or a second
            // identical signal (`kill -9` twice): the first one counts.
            log::info!(
                "tracefs: signal {sig} to pid {tgid} by pid {sender_pid} ({}) came after {}: a repeat kill",
                crate::render::escape(ev.ctx.comm.as_bytes()),
                if c.reported() {
                    "its victim was reported"
                } else {
                    "another sender's"
                }
            );
            self.stats.duplicates += 1;
            self.stats.duplicate_trace_sightings += 1;
            self.tidy(tgid);
            return;
        }
        c.sighting = Some(sighting);
        self.decide(tgid, now, false, out);
        self.tidy(tgid);
    }

    /// Adds a `cgroup.kill` victim to its writer's burst; a sighting more
    /// than [`BURST_GAP_NS`] after the writer's last one starts a new burst
    /// (the earlier one stays for its victims' reports).
    fn note_cgroup_kill(&mut self, writer: Pid, victim: Pid, wall: u64) {
        let Some(cgroup) = self.procs.process(victim).and_then(|p| p.cgroup) else {
            return;
        };
        let bursts = &mut self.cgroup_kill_bursts;
        if let Some(b) = bursts
            .iter_mut()
            .rev()
            .find(|b| b.writer == writer && wall.abs_diff(b.last) <= BURST_GAP_NS)
        {
            b.common = common_cgroup(&b.common, &cgroup);
            if b.victims.len() < MAX_BURST_VICTIMS {
                b.victims.insert(victim);
            } else {
                b.overflowed = true;
            }
            b.last = wall;
            b.verdict.set(None);
            return;
        }
        if bursts.len() >= MAX_CGROUP_KILL_BURSTS {
            bursts.pop_front();
        }
        bursts.push_back(CgroupKillBurst {
            writer,
            last: wall,
            common: cgroup,
            victims: HashSet::from([victim]),
            overflowed: false,
            verdict: Cell::new(None),
        });
    }

    /// The cgroup a `cgroup.kill` write by `writer` killed, as the burst
    /// holding `victim` shows it. The deepest cgroup holding the burst's
    /// victims is taken only when no other live process sits in it (a
    /// written cgroup loses every process below it): two units' cgroups
    /// under one slice killed close together, with other processes left
    /// in the slice, fall back to the victim's own cgroup.
    fn killed_cgroup(&self, writer: Pid, victim: Pid, victim_cgroup: &str) -> Option<&str> {
        let b = self.cgroup_kill_bursts.iter().rev().find(|b| {
            b.writer == writer
                && !b.overflowed
                && b.victims.contains(&victim)
                && cgroup_within(victim_cgroup, &b.common)
        })?;
        if b.common == victim_cgroup {
            return Some(&b.common);
        }
        let ok = match b.verdict.get() {
            Some(v) => v,
            None => {
                let v = self.procs.live_in_cgroup(&b.common, &b.victims) == Some(false);
                b.verdict.set(Some(v));
                v
            }
        };
        ok.then_some(b.common.as_str())
    }

    /// The classification of a sighting, with kernel-log OOM evidence.
    fn classify_sighting(&self, c: &Case, t: &Sighting) -> Classification {
        if t.marked.is_none()
            && c.kernel.is_some_and(|(r, _)| r == Reason::Oom)
            && t.ev.sig == libc::SIGKILL
        {
            return Classification::new(
                tracesig::Origin::Oom,
                "SIGKILL and the kernel log named the victim (Killed process)",
            );
        }
        classify(&t.ev, oom_evidence(t, &self.cfg))
    }

    /// The one decision over a victim's case: reports its kill once the
    /// pieces that explain an exit are in and no more evidence is worth
    /// waiting for (`force`: the window passed). An exit with a tracefs
    /// sighting is resolved from the sighting (with kernel-log evidence);
    /// an exit with kernel-log evidence alone is an OOM kill; an exit
    /// nothing explained waits for its window, then is `unknown`.
    /// (Audit-recorded kills are joined as their exit arrives:
    /// [`Attributor::confirm_kills`].)
    fn decide(&mut self, tgid: Pid, now: Clock, force: bool, out: &mut Vec<Report>) {
        let Some(c) = self.cases.get_mut(&tgid) else {
            return;
        };
        if c.sighting.is_some() {
            self.resolve_sighting(tgid, now, force, out);
            return;
        }
        if c.exit.is_some() {
            if let Some((reason, _)) = c.kernel {
                let pe = c.exit.take().expect("checked above");
                c.kernel = None;
                let mut r = kernel_report(pe, Origin::Kernel, Some(reason));
                r.extra.kmsg = true;
                self.emit(Report::Kill(r), now, out);
            } else if force {
                let pe = c.exit.take().expect("checked above");
                let r = kernel_report(pe, Origin::Unknown, None);
                self.emit(Report::Kill(r), now, out);
            }
        }
    }

    /// [`Attributor::decide`] for a case with a tracefs sighting.
    fn resolve_sighting(&mut self, tgid: Pid, now: Clock, force: bool, out: &mut Vec<Report>) {
        let Some(c) = self.cases.get(&tgid) else {
            return;
        };
        let Some(t) = c.sighting.as_ref() else {
            return;
        };
        let cl = self.classify_sighting(c, t);
        if !force {
            if c.exit.is_none() {
                return;
            }
            let age = now.mono_ns.saturating_sub(t.seen);
            let maybe_oom = t.ev.sig == libc::SIGKILL
                && t.ev.code == si::SI_KERNEL
                && t.marked.is_none()
                && cl.origin != tracesig::Origin::Oom;
            let wait = match cl.origin {
                tracesig::Origin::User(_) => {
                    self.cfg.audit_expected && age < self.cfg.audit_grace_ns
                }
                _ => maybe_oom && self.cfg.mark_victim_traced && age < self.cfg.oom_hold_ns,
            };
            if wait {
                return;
            }
        }
        let Some(c) = self.cases.get_mut(&tgid) else {
            return;
        };
        let Some(t) = c.sighting.take() else {
            return;
        };
        let pe = c.exit.take();
        let kmsg = c.kernel.take().is_some();
        if pe.is_none() && c.reported() {
            log::info!(
                "tracefs: signal {} to pid {tgid} by pid {} came after its victim was reported: a repeat kill",
                t.ev.sig,
                t.sender_pid
            );
            self.stats.duplicates += 1;
            self.stats.duplicate_trace_sightings += 1;
            return;
        }
        let sent_by_a_process = matches!(
            cl.origin,
            tracesig::Origin::User(_) | tracesig::Origin::CgroupKill
        );
        if pe.is_none() && !sent_by_a_process {
            // A kernel-generated signal nobody died of (with `--signal all`:
            // every SIGCHLD, SIGXCPU at the soft limit, ...): not a kill.
            self.stats.trace_unfatal += 1;
            return;
        }
        let r = self.sighting_report(tgid, t, pe, kmsg, cl, now);
        self.emit(Report::Kill(r), now, out);
    }

    /// The report of a kill that tracefs saw (and no audit record named).
    fn sighting_report(
        &self,
        tgid: Pid,
        t: Sighting,
        pe: Option<PendingExit>,
        kmsg: bool,
        cl: Classification,
        now: Clock,
    ) -> KillReport {
        let (origin, reason, names_sender) = match cl.origin {
            tracesig::Origin::User(UserSend::KillOrKernel) => (Origin::Unknown, None, true),
            tracesig::Origin::User(_) => (Origin::User, None, true),
            tracesig::Origin::Oom => (Origin::Kernel, Some(Reason::Oom), false),
            tracesig::Origin::CgroupKill => (Origin::Kernel, Some(Reason::CgroupKill), true),
            tracesig::Origin::Rlimit => (Origin::Kernel, Some(Reason::Rlimit), false),
            tracesig::Origin::Seccomp => (Origin::Kernel, Some(Reason::Seccomp), false),
            _ => (Origin::Kernel, Some(Reason::Kernel), false),
        };
        let (sender, ancestors) = if names_sender {
            let (s, a) = self.sender_from_tree(t.sender_pid, t.ev.ctx.pid, &t.ev.ctx.comm, now);
            (Some(s), a)
        } else {
            (None, Ancestry::default())
        };
        let victim = match &pe {
            Some(pe) => {
                let mut v = pe.victim.clone();
                if pe.details_stale {
                    // The exit only knew the parent's name; the
                    // tracepoint names the target as it was signalled.
                    v.comm = Some(Text::from(t.ev.comm.as_str()));
                }
                v
            }
            None => {
                let mut v = Victim {
                    pid: tgid,
                    tid: None,
                    ppid: None,
                    comm: Some(Text::from(t.ev.comm.as_str())),
                    exe: None,
                    argv: None,
                    argv_truncated: None,
                    cwd: None,
                    uid: None,
                    start_time: None,
                    exit_confirmed: false,
                    context: ProcContext::default(),
                };
                if let Some(s) = self.procs.process(tgid) {
                    fill_victim(&mut v, &s, now);
                }
                v
            }
        };
        let victim = Victim {
            tid: (t.ev.pid != tgid && t.ev.group == Some(false)).then_some(t.ev.pid),
            ..victim
        };
        let mut facts = facts_of(&t, &self.cfg);
        facts.class = cl.origin.as_str();
        facts.evidence = cl.evidence;
        KillReport {
            time: Timestamp(t.wall),
            signal: t.ev.sig,
            signal_name: signal_name(t.ev.sig),
            origin,
            reason,
            syscall: None,
            success: None,
            syscall_target: None,
            syscall_target_count: None,
            victim,
            sender,
            ancestors,
            audit: None,
            witnesses: Vec::new(),
            trace: Some(facts),
            node: None,
            oom: None,
            cgroup_kill: None,
            ancestors_truncated: false,
            extra: KillExtra {
                victim_ran_ns: pe.as_ref().and_then(|p| p.ran_ns),
                kmsg,
                targets: 1,
                ..Default::default()
            },
        }
    }

    /// A sender known only by pid (tracefs): everything from the tree.
    fn sender_from_tree(
        &self,
        pid: Pid,
        tid: Pid,
        trace_comm: &str,
        now: Clock,
    ) -> (Sender, Ancestry) {
        let tree = self.procs.process(pid);
        let fresh = tree.as_ref().filter(|t| !t.details_stale);
        let argv = fresh.and_then(|t| t.argv.clone()).filter(|a| !a.is_empty());
        let trace_comm = (!trace_comm.is_empty() && trace_comm != "<...>")
            .then(|| trace_comm.as_bytes().to_vec());
        let sender = Sender {
            pid,
            tid: (tid != pid).then_some(tid),
            ppid: tree.as_ref().and_then(|t| t.ppid),
            comm: fresh.and_then(|t| t.comm.clone()).or(trace_comm).map(Text),
            exe: fresh.and_then(|t| t.exe.as_deref().map(Text::from)),
            argv_truncated: argv.as_ref().map(|_| false),
            argv: argv.map(|a| a.into_iter().map(Text).collect()),
            cwd: fresh.and_then(|t| t.cwd.as_deref().map(Text::from)),
            uid: tree.as_ref().and_then(|t| t.uid),
            euid: None,
            auid: None,
            ses: None,
            tty: None,
            exited: tree
                .as_ref()
                .filter(|t| !t.liveness_unknown)
                .map(|t| t.exited),
            proctitle_rejected: None,
            context: tree.as_ref().map(context_of).unwrap_or_default(),
            euser: None,
            login_user: None,
        };
        let ancestors = if tree.is_some() {
            Ancestry::nearest(self.procs.ancestry(pid).iter().map(|p| ancestor(p, now)))
        } else {
            Ancestry::default()
        };
        (sender, ancestors)
    }

    /// Feeds an audit kill event: one report per target process, emitted
    /// at once for a failed attempt or a victim already dead, otherwise
    /// when the victim exits or the window passes.
    pub fn on_audit_kill(&mut self, k: &KillEvent, now: Clock) -> Vec<Report> {
        self.stats.audit_kills += 1;
        let mut out = Vec::new();
        if !self.cfg.signals.contains(k.signal) {
            return out;
        }
        let (sender, ancestors) = self.sender_of(k, now);
        let chain = Arc::new(SenderChain { sender, ancestors });
        let tid = if k.targets.len() == 1 {
            k.target_tid()
        } else {
            None
        };
        // A set: a group kill or `kill -1` names thousands of targets.
        let mut seen = std::collections::HashSet::with_capacity(k.targets.len());
        for t in &k.targets {
            let tgid = self.procs.tgid_of(t.pid).unwrap_or(t.pid);
            if !seen.insert(tgid) {
                continue;
            }
            let snap = self.procs.process(tgid);
            let mut victim = Victim {
                pid: tgid,
                tid,
                ppid: None,
                comm: t.comm.as_ref().and_then(|c| known_bytes(&c.0)),
                exe: None,
                argv: None,
                argv_truncated: None,
                cwd: None,
                uid: unset(t.uid),
                start_time: None,
                exit_confirmed: false,
                context: ProcContext::default(),
            };
            if let Some(s) = &snap {
                fill_victim(&mut victim, s, now);
            }
            // The tracefs sighting of the same kill (same sender process).
            let cfg = self.cfg.clone();
            let c = self.case(tgid);
            let (trace, trace_wall) = match &c.sighting {
                Some(t) if t.sender_pid == k.sender.pid && t.ev.sig == k.signal => c
                    .sighting
                    .take()
                    .map_or((None, None), |t| (Some(facts_of(&t, &cfg)), Some(t.wall))),
                _ => (None, None),
            };
            if trace.is_some() {
                self.stats.trace_joined += 1;
            }
            let report = KillReport {
                time: Timestamp(k.time_ns()),
                signal: k.signal,
                signal_name: signal_name(k.signal),
                origin: Origin::User,
                reason: None,
                syscall: k.syscall.name().map(str::to_string),
                success: Some(k.success),
                syscall_target: k.target_spec.pid_arg().map(i64::from),
                syscall_target_count: Some((k.targets.len() + k.targets_dropped) as u64),
                victim,
                // From `chain` when the report goes out.
                sender: None,
                ancestors: Ancestry::default(),
                audit: Some(AuditRef {
                    serial: k.stamp.serial,
                    key: k.key.as_ref().map(|b| Text(b.0.clone())),
                    container_id: None,
                }),
                witnesses: Vec::new(),
                trace,
                node: None,
                oom: None,
                cgroup_kill: None,
                ancestors_truncated: false,
                extra: KillExtra {
                    victim_ran_ns: None,
                    kmsg: false,
                    errno: k.errno,
                    targets: k.targets.len(),
                    target_arg: k.target_spec.pid_arg().map(i64::from),
                    target_tid: tgkill_tid(&k.target_spec),
                    sender_comm_from_audit: known_bytes(&k.sender.comm.0).is_some(),
                    trace_wall,
                },
            };
            if !k.success {
                // Nothing was delivered: no exit to wait for. Only
                // reports that would go out count against the sender's
                // user (a filtered victim does not).
                if self.wanted(&report.victim)
                    && !self.failed_attempts.allow(k.sender.uid, now.mono_ns)
                {
                    self.stats.failed_attempts_suppressed += 1;
                } else {
                    self.emit_raw(Report::Kill(chain.fill(report)), &mut out);
                }
            } else {
                self.place_kill(tgid, report, &chain, snap, now, &mut out);
            }
            self.tidy(tgid);
        }
        out
    }

    /// An audit-recorded kill joins its victim's exit if that came first,
    /// or waits for it.
    fn place_kill(
        &mut self,
        tgid: Pid,
        mut report: KillReport,
        chain: &Arc<SenderChain>,
        snap: Option<ProcessSnapshot>,
        now: Clock,
        out: &mut Vec<Report>,
    ) {
        let deadline = now.mono_ns.saturating_add(self.cfg.window_ns);
        let c = self.case(tgid);
        if let Some(pe) = c.exit.take() {
            report.extra.victim_ran_ns = pe.ran_ns;
            if pe.signal == report.signal {
                // The exit came first: join. The record's view of the
                // victim keeps its comm: when the tree never read the
                // victim's exec, the exit only knows the parent's name,
                // while the record's `ocomm` (kept then) is the victim's.
                report.victim = Victim {
                    tid: report.victim.tid,
                    comm: report.victim.comm.take().or(pe.victim.comm.clone()),
                    ..pe.victim
                };
                report.victim.exit_confirmed = true;
            } else {
                // Dead of another signal; keep waiting for that one's sender.
                report.victim.exit_confirmed = false;
                c.exit = Some(pe);
            }
            self.emit(Report::Kill(chain.fill(report)), now, out);
            return;
        }
        if c.reported() {
            // A second sender of the same signal (`timeout` signals its
            // child, then its whole group; two `kill -9` race): the first
            // one's report stands. Common and harmless, so not a warning;
            // counted in the engine's duplicates.
            log::info!(
                "audit kill of pid {tgid} by pid {} (serial {}) arrived after its victim was reported: a second sender",
                chain.sender.pid,
                report.audit.as_ref().map_or(0, |a| a.serial)
            );
            self.stats.duplicates += 1;
            self.stats.duplicate_audit_kills += 1;
            return;
        }
        if let Some(s) = snap.as_ref().filter(|s| s.exited) {
            // Dead before this record arrived and not by a watched signal
            // (or its exit would be pending): the kill did not kill it.
            report.victim.exit_confirmed = s.exit_signal.map(i32::from) == Some(report.signal);
            self.emit(Report::Kill(chain.fill(report)), now, out);
            return;
        }
        if c.kills.iter().any(|p| p.report.signal == report.signal) {
            // A second identical kill (e.g. `kill -9` twice): the first
            // sender is the one that killed it.
            log::info!(
                "audit kill of pid {tgid} by pid {} (serial {}) came while another sender's kill of it waited for its exit: a repeat kill",
                chain.sender.pid,
                report.audit.as_ref().map_or(0, |a| a.serial)
            );
            self.stats.duplicates += 1;
            self.stats.duplicate_audit_kills += 1;
            return;
        }
        c.kills.push(PendingKill {
            report,
            chain: Arc::clone(chain),
            deadline,
        });
    }

    /// Feeds one kernel-log line; recognizes OOM kills.
    pub fn on_kmsg_line(&mut self, line: &[u8], now: Clock) -> Vec<Report> {
        self.on_kmsg_line_with_limit(line, None, now)
    }

    /// [`Attributor::on_kmsg_line`], with the limit of the memory cgroup
    /// an `oom-kill:` line names, read by the caller when the line was
    /// read (`memory.max`; the engine reads nothing itself).
    pub fn on_kmsg_line_with_limit(
        &mut self,
        line: &[u8],
        limit_bytes: Option<u64>,
        now: Clock,
    ) -> Vec<Report> {
        let mut out = Vec::new();
        let deadline = now.mono_ns.saturating_add(self.cfg.window_ns);
        if let Some(l) = parse_oom_kill_line(line) {
            let tgid = self.procs.tgid_of(l.pid).unwrap_or(l.pid);
            let c = self.case(tgid);
            let (ctx, _) = c
                .oom
                .get_or_insert_with(|| (OomContext::default(), deadline));
            ctx.constraint = l.constraint;
            ctx.cgroup = l.oom_memcg.as_deref().map(Text::from);
            ctx.limit_bytes = limit_bytes.filter(|_| l.oom_memcg.is_some());
            ctx.victim_cgroup = l.task_memcg.as_deref().map(Text::from);
            self.tidy(tgid);
            return out;
        }
        let Some(kk) = parse_kmsg_line(line) else {
            return out;
        };
        self.stats.kernel_kills += 1;
        let c = self.case(kk.pid);
        let (ctx, _) = c
            .oom
            .get_or_insert_with(|| (OomContext::default(), deadline));
        let kb = |v: Option<u64>| v.map(|v| v.saturating_mul(1024));
        ctx.total_vm_bytes = kb(kk.total_vm_kb);
        ctx.anon_rss_bytes = kb(kk.anon_rss_kb);
        ctx.file_rss_bytes = kb(kk.file_rss_kb);
        ctx.shmem_rss_bytes = kb(kk.shmem_rss_kb);
        ctx.oom_score_adj = kk.oom_score_adj;
        self.case(kk.pid).kernel = Some((kk.reason, deadline));
        self.decide(kk.pid, now, false, &mut out);
        self.tidy(kk.pid);
        out
    }

    /// Advances time: reports kills whose victim did not die in the window
    /// (`exit_confirmed` false) and exits no record explained (origin
    /// `unknown`), and forgets old state.
    pub fn tick(&mut self, now: Clock) -> Vec<Report> {
        let mut out = Vec::new();
        let t = now.mono_ns;
        let mut pids: Vec<Pid> = self.cases.keys().copied().collect();
        pids.sort_unstable();
        // Kills whose victim did not die in time, then sightings, then
        // exits nothing explained: each phase in pid order.
        for &pid in &pids {
            let Some(c) = self.cases.get_mut(&pid) else {
                continue;
            };
            if !c.kills.iter().any(|p| p.deadline <= t) {
                continue;
            }
            let (expired, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut c.kills)
                .into_iter()
                .partition(|p| p.deadline <= t);
            c.kills = keep;
            for p in expired {
                self.emit(Report::Kill(p.into_report()), now, &mut out);
            }
        }
        for &pid in &pids {
            if let Some(s) = self.cases.get(&pid).and_then(|c| c.sighting.as_ref()) {
                let expired = s.deadline <= t;
                self.resolve_sighting(pid, now, expired, &mut out);
            }
        }
        for &pid in &pids {
            let due = self.cases.get(&pid).is_some_and(|c| {
                c.sighting.is_none() && c.exit.as_ref().is_some_and(|e| e.deadline <= t)
            });
            if due {
                self.decide(pid, now, true, &mut out);
            }
        }
        for c in self.cases.values_mut() {
            if c.kernel.is_some_and(|(_, d)| d <= t) {
                c.kernel = None;
            }
            if c.oom.as_ref().is_some_and(|(_, d)| *d <= t) {
                c.oom = None;
            }
            if c.mark.as_ref().is_some_and(|(_, d)| *d <= t) {
                c.mark = None;
            }
            if c.done_until.is_some_and(|d| d <= t) {
                c.done_until = None;
            }
        }
        self.cases.retain(|_, c| !c.is_empty());
        self.procs.expire(t);
        out
    }

    /// Reports everything still pending (at shutdown).
    pub fn flush(&mut self, now: Clock) -> Vec<Report> {
        let far = Clock {
            mono_ns: u64::MAX,
            wall_ns: now.wall_ns,
        };
        let mut out = Vec::new();
        let mut pids: Vec<Pid> = self.cases.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            let kills = self
                .cases
                .get_mut(&pid)
                .map(|c| std::mem::take(&mut c.kills))
                .unwrap_or_default();
            for p in kills {
                self.emit(Report::Kill(p.into_report()), now, &mut out);
            }
        }
        out.extend(self.tick(far));
        out
    }

    /// The sender and its ancestry, from the audit record and the view.
    fn sender_of(&self, k: &KillEvent, now: Clock) -> (Sender, Ancestry) {
        let s = &k.sender;
        let tree = self.procs.process(s.pid);
        let fresh = tree.as_ref().filter(|t| !t.details_stale);
        let argv = crate::argv::sender_argv_of(s, fresh);
        let sender = Sender {
            pid: s.pid,
            tid: None,
            ppid: Some(s.ppid),
            comm: known_bytes(&s.comm.0).or_else(|| fresh.and_then(|t| t.comm.clone()).map(Text)),
            exe: s
                .exe
                .as_ref()
                .and_then(|b| known_bytes(&b.0))
                .or_else(|| fresh.and_then(|t| t.exe.as_deref().map(Text::from))),
            argv: argv.argv.map(|a| a.into_iter().map(Text).collect()),
            argv_truncated: argv.truncated,
            cwd: fresh.and_then(|t| t.cwd.as_deref().map(Text::from)),
            uid: unset(s.uid),
            euid: unset(s.euid),
            auid: s.auid,
            ses: s.ses,
            tty: s.tty.as_ref().map(|b| Text(b.0.clone())),
            exited: tree
                .as_ref()
                .filter(|t| !t.liveness_unknown)
                .map(|t| t.exited),
            proctitle_rejected: argv.proctitle_rejected,
            context: tree.as_ref().map(context_of).unwrap_or_default(),
            euser: None,
            login_user: None,
        };
        let chain = if tree.is_some() {
            self.procs.ancestry(s.pid)
        } else if let Some(pp) = Some(s.ppid).filter(|&p| p > 0) {
            // The view never saw the sender: start from its parent.
            let mut v: Vec<_> = self.procs.process(pp).into_iter().collect();
            if !v.is_empty() {
                v.extend(self.procs.ancestry(pp));
            }
            v
        } else {
            Vec::new()
        };
        let ancestors = Ancestry::nearest(chain.iter().map(|p| ancestor(p, now)));
        (sender, ancestors)
    }

    fn emit(&mut self, r: Report, now: Clock, out: &mut Vec<Report>) {
        if let Report::Kill(k) = &r {
            // Remember dead victims so a late duplicate record is dropped;
            // a live one may still be killed (and reported) again.
            let dead = k.victim.exit_confirmed
                || self.procs.process(k.victim.pid).is_some_and(|p| p.exited);
            if dead {
                let until = now
                    .mono_ns
                    .saturating_add(self.cfg.window_ns.saturating_mul(2));
                self.case(k.victim.pid).done_until = Some(until);
            }
        }
        self.emit_raw(r, out);
    }

    fn emit_raw(&mut self, mut r: Report, out: &mut Vec<Report>) {
        if let Report::Kill(k) = &mut r {
            k.ancestors_truncated = k.ancestors.is_truncated();
            kill_time(k);
            drop_stale_trace_comm(k);
            sender_thread_from_trace(k);
            k.witnesses.clear();
            if k.audit.is_some() {
                k.witnesses.push(Witness::Audit);
            }
            if k.trace.is_some() {
                k.witnesses.push(Witness::Tracefs);
            }
            if k.extra.kmsg {
                k.witnesses.push(Witness::Kmsg);
            }
            if k.victim.exit_confirmed {
                k.witnesses.push(Witness::Proc);
            }
            match k.reason {
                Some(Reason::Oom) if k.oom.is_none() => {
                    k.oom = self
                        .cases
                        .get_mut(&k.victim.pid)
                        .and_then(|c| c.oom.take())
                        .map(|(o, _)| o);
                }
                Some(Reason::CgroupKill) if k.cgroup_kill.is_none() => {
                    // The victim's cgroup as refreshed at the sighting
                    // (`refresh_cgroup`), when the report was filled
                    // before it.
                    // (Only the pid's dead process, the victim: a live one
                    // with its pid is a newer process that took it.)
                    if let Some(p) = self.procs.process(k.victim.pid).filter(|p| {
                        p.exited && !p.liveness_unknown && !p.details_stale && p.cgroup.is_some()
                    }) {
                        let fresh = context_of(&p);
                        if fresh.cgroup != k.victim.context.cgroup {
                            k.victim.context = fresh;
                        }
                    }
                    // The written cgroup: the deepest one holding every
                    // process the same write killed (the victim's own
                    // when it was the only one).
                    let victim_cgroup = k.victim.context.cgroup.clone();
                    let killed = match (k.sender.as_ref(), victim_cgroup.as_ref()) {
                        (Some(s), Some(cg)) => self
                            .killed_cgroup(s.pid, k.victim.pid, &String::from_utf8_lossy(&cg.0))
                            .map(Text::from),
                        _ => None,
                    };
                    k.cgroup_kill = Some(CgroupKill {
                        cgroup: killed.or(victim_cgroup),
                    });
                }
                _ => {}
            }
            self.refresh_liveness(k);
            self.share_ancestry(k);
            if !self.wanted(&k.victim) {
                self.stats.filtered += 1;
                return;
            }
            self.stats.reports += 1;
        }
        out.push(r);
    }

    /// Makes `k` share the latest report's ancestry when the two are
    /// equal (a copy made by [`Attributor::refresh_liveness`] or a chain
    /// looked up again is dropped), and remembers `k`'s otherwise.
    fn share_ancestry(&mut self, k: &mut KillReport) {
        if k.ancestors.shares(&self.last_ancestry) {
            return;
        }
        if *k.ancestors == *self.last_ancestry {
            k.ancestors = self.last_ancestry.clone();
        } else {
            self.last_ancestry = k.ancestors.clone();
        }
    }

    /// `exited` means "by now": the sender and its ancestors were looked
    /// up when the record arrived, and may have exited since.
    fn refresh_liveness(&self, k: &mut KillReport) {
        // `process` prefers a live process with that pid, so a reused pid
        // keeps `false` (the safe direction).
        let exited_now = |pid: Pid| {
            self.procs
                .process(pid)
                .is_some_and(|p| !p.liveness_unknown && p.exited)
        };
        if let Some(s) = k.sender.as_mut() {
            if s.exited == Some(false) && exited_now(s.pid) {
                s.exited = Some(true);
            }
        }
        // Changed in a copy only when one did exit: the chain is shared.
        let gone: Vec<usize> = (0..k.ancestors.len())
            .filter(|&i| k.ancestors[i].exited == Some(false) && exited_now(k.ancestors[i].pid))
            .collect();
        if !gone.is_empty() {
            let chain = k.ancestors.make_mut();
            for i in gone {
                chain[i].exited = Some(true);
            }
        }
    }

    fn wanted(&self, v: &Victim) -> bool {
        let pid_ok = self.cfg.victim_pids.is_empty() || self.cfg.victim_pids.contains(&v.pid);
        let comm_ok = self.cfg.victim_comms.is_empty()
            || v.comm
                .as_ref()
                .is_some_and(|c| self.cfg.victim_comms.iter().any(|w| comm_matches(w, &c.0)));
        pid_ok && comm_ok
    }
}

/// The bytes of a command name the kernel keeps (`TASK_COMM_LEN` 16,
/// with its NUL): a longer name is cut to this.
pub const COMM_BYTES: usize = 15;

/// Whether a process whose comm is `comm` is the one named `wanted`: equal,
/// or `wanted` is longer than the kernel keeps and starts with `comm`
/// (`--comm averyveryverylongname` finds the process the kernel calls
/// `averyveryverylo`, as `pgrep` would not).
pub fn comm_matches(wanted: &[u8], comm: &[u8]) -> bool {
    if wanted.len() > COMM_BYTES {
        comm.len() == COMM_BYTES && wanted.starts_with(comm)
    } else {
        wanted == comm
    }
}

/// `None` for the audit's "unset" id (4294967295).
fn unset(v: u32) -> Option<u32> {
    (v != auditsig::kill::AUDIT_UNSET).then_some(v)
}

/// Bytes from a record, `None` when empty (unknown is null, never "").
fn known_bytes(b: &[u8]) -> Option<Text> {
    (!b.is_empty()).then(|| Text(b.to_vec()))
}

/// A report for an exit no kill record explains.
fn kernel_report(pe: PendingExit, origin: Origin, reason: Option<Reason>) -> KillReport {
    KillReport {
        time: Timestamp(pe.exit_wall),
        signal: pe.signal,
        signal_name: signal_name(pe.signal),
        origin,
        reason,
        syscall: None,
        success: None,
        syscall_target: None,
        syscall_target_count: None,
        victim: pe.victim,
        sender: None,
        ancestors: Ancestry::default(),
        audit: None,
        witnesses: Vec::new(),
        trace: None,
        node: None,
        oom: None,
        cgroup_kill: None,
        ancestors_truncated: false,
        extra: KillExtra {
            victim_ran_ns: pe.ran_ns,
            ..Default::default()
        },
    }
}

fn oom_evidence<'a>(t: &'a Sighting, cfg: &Config) -> OomEvidence<'a> {
    match &t.marked {
        Some(m) => OomEvidence::Marked(m),
        None if cfg.mark_victim_traced => OomEvidence::NotMarked,
        None => OomEvidence::Unavailable,
    }
}

/// The trace pipe names the current task from the kernel's comm cache
/// (`saved_cmdlines`, filled at context switches), not from the event: a
/// task that exec'd and signalled before it was switched out shows its
/// own name from before the exec, or an earlier holder of its pid's. A
/// name that contradicts the sender's from a fresher witness (the audit
/// record's comm, of the very task; the process tree's after the exec,
/// for a single-threaded sender) is dropped: null, never a wrong name.
fn drop_stale_trace_comm(k: &mut KillReport) {
    let (Some(t), Some(s)) = (k.trace.as_mut(), k.sender.as_ref()) else {
        return;
    };
    let (Some(cached), Some(known)) = (t.current_comm.as_ref(), s.comm.as_ref()) else {
        return;
    };
    let same_task = k.extra.sender_comm_from_audit || (t.current_tid == s.pid && s.tid.is_none());
    if same_task && t.current_pid == s.pid && cached != known {
        t.current_comm = None;
    }
}

/// The report's time, as precise as the witnesses allow. An audit
/// record carries the kernel's coarse clock (`ktime_get_coarse_real_ts64`:
/// up to a tick behind, 10 ms at HZ=100), so a kill of a process started
/// just before read as earlier than the start: the joined tracefs
/// sighting's precise time is taken instead when it is that lag (at most
/// a tick after the record's), and without one a time at most a tick
/// before the victim's start is raised to it (the earliest the kill can
/// have been). A larger gap is left as it is: the clocks disagree for
/// another reason (a stepped wall clock), and nothing is invented to
/// hide it.
fn kill_time(k: &mut KillReport) {
    if let (Some(w), Some(_)) = (k.extra.trace_wall, &k.audit) {
        if w >= k.time.0 && w - k.time.0 <= COARSE_CLOCK_SLACK_NS {
            k.time = Timestamp(w);
        }
    }
    if let Some(start) = k.victim.start_time {
        if k.time.0 < start.0 && start.0 - k.time.0 <= COARSE_CLOCK_SLACK_NS {
            k.time = start;
        }
    }
}

/// How far the kernel's coarse clock may lag the precise one: a tick at
/// the lowest common `HZ` (100).
const COARSE_CLOCK_SLACK_NS: u64 = 10_000_000;

/// The sending thread, when tracefs saw a non-leader thread of the
/// sender's process send: an audit record names only the process (its
/// `pid=` is the tgid), so a report built from it has no tid until the
/// joined sighting gives it (a tracefs-only report has it already).
fn sender_thread_from_trace(k: &mut KillReport) {
    let (Some(t), Some(s)) = (k.trace.as_ref(), k.sender.as_mut()) else {
        return;
    };
    if s.tid.is_none() && t.current_pid == s.pid && t.current_tid > 0 && t.current_tid != s.pid {
        s.tid = Some(t.current_tid);
    }
}

fn facts_of(t: &Sighting, cfg: &Config) -> TraceFacts {
    let c = classify(&t.ev, oom_evidence(t, cfg));
    let comm = &t.ev.ctx.comm;
    TraceFacts {
        current_tid: t.ev.ctx.pid,
        current_pid: t.sender_pid,
        current_comm: (!comm.is_empty() && comm != "<...>").then(|| Text::from(comm.as_str())),
        target_tid: t.ev.pid,
        code: t.ev.code,
        grp: t.ev.group,
        mark_victim: t.marked.is_some(),
        class: c.origin.as_str(),
        evidence: c.evidence,
    }
}

/// Overwrites the victim's fields with what the view knows (the audit
/// target's comm/uid stay when the view has none).
fn fill_victim(v: &mut Victim, s: &ProcessSnapshot, now: Clock) {
    v.ppid = s.ppid.or(v.ppid);
    // exec keeps the working directory.
    v.cwd = s.cwd.as_deref().map(Text::from).or(v.cwd.take());
    v.uid = s.uid.or(v.uid);
    v.start_time = s.start_time_ns.map(|t| Timestamp(now.wall_of(t)));
    if !s.details_stale && (s.cgroup.is_some() || s.ns_pid.is_some()) {
        v.context = context_of(s);
    }
    if s.details_stale {
        // The exec'd image was never read: the audit target's comm (if
        // any) is right, the tree's pre-exec comm/exe/argv are not.
        if v.comm.is_none() {
            v.comm = s.comm.clone().map(Text);
        }
        return;
    }
    if let Some(c) = &s.comm {
        v.comm = Some(Text(c.clone()));
    }
    v.exe = s.exe.as_deref().map(Text::from).or(v.exe.take());
    if let Some(a) = &s.argv {
        v.argv = Some(a.iter().cloned().map(Text).collect());
        v.argv_truncated = Some(s.argv_truncated);
    }
}

/// The thread id argument of a syscall that names a thread of a process
/// (`tgkill`, `rt_tgsigqueueinfo`).
pub(crate) fn tgkill_tid(spec: &auditsig::TargetSpec) -> Option<i64> {
    match *spec {
        auditsig::TargetSpec::ThreadOf { tid, .. } => Some(i64::from(tid)),
        _ => None,
    }
}

/// One ancestor of a report, from a snapshot of it (also used by replay,
/// whose snapshots come from the log).
pub(crate) fn ancestor(p: &ProcessSnapshot, now: Clock) -> Ancestor {
    // A bare pid (the view only knows it as someone's parent) has no state.
    let bare = p.comm.is_none() && p.argv.is_none() && p.start_time_ns.is_none() && !p.exited;
    // Pre-exec details of a process whose exec was never read are not its own.
    let fresh = !p.details_stale;
    Ancestor {
        pid: p.pid,
        comm: p.comm.clone().filter(|_| fresh).map(Text),
        exe: p.exe.as_deref().filter(|_| fresh).map(Text::from),
        argv: p
            .argv
            .as_ref()
            .filter(|_| fresh)
            .map(|a| a.iter().cloned().map(Text).collect()),
        cwd: p.cwd.as_deref().filter(|_| fresh).map(Text::from),
        uid: p.uid,
        start_time: p.start_time_ns.map(|t| Timestamp(now.wall_of(t))),
        exited: if bare || p.liveness_unknown {
            None
        } else {
            Some(p.exited)
        },
        context: context_of(p),
    }
}

/// Where a process ran, from what the view captured at its fork or exec.
/// Nothing when its exec was never read: launchers (runc, systemd) move
/// a child into its cgroup and namespaces between fork and exec, so the
/// copy taken at the fork may be another place.
fn context_of(p: &ProcessSnapshot) -> ProcContext {
    if p.details_stale {
        return ProcContext::default();
    }
    ProcContext {
        ns_pid: p.ns_pid,
        pid_ns: p.pid_ns,
        ..ProcContext::from_cgroup(p.cgroup.as_deref())
    }
}
