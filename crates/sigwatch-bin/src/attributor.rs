//! The attribution engine: a pure state machine fed with process events,
//! audit kill events, kernel-log lines and a clock, emitting [`Report`]s.
//!
//! Joining (DESIGN.md, "Attribution"): an audit kill names its targets
//! (one `OBJ_PID` per victim process); the victim's exit event (proc
//! connector, one per thread — only the leader's, `pid == tgid`, counts)
//! confirms the death. Either may arrive first; each waits at most
//! [`Config::window_ns`] for the other. A victim is reported once.

use std::collections::HashMap;

use procconn::{EventKind, Pid, ProcEvent};

use crate::input::{parse_kmsg_line, AuditKill};
use crate::procview::{ProcessSnapshot, ProcessView};
use crate::report::{
    Ancestor, AuditRef, KillExtra, KillReport, Origin, Report, Sender, Text, Timestamp, Victim,
};
use crate::signals::{signal_name, SignalSet};

/// What to report and how long to wait.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long an audit kill waits for its victim's exit, and an exit by
    /// a watched signal waits for its audit record or kernel-log evidence.
    pub window_ns: u64,
    /// The signals to report (others are ignored).
    pub signals: SignalSet,
    /// Report only these victim pids (empty: all).
    pub victim_pids: Vec<Pid>,
    /// Report only victims with one of these comms (empty: all).
    pub victim_comms: Vec<Vec<u8>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window_ns: 2_000_000_000,
            signals: SignalSet::sigkill(),
            victim_pids: Vec::new(),
            victim_comms: Vec::new(),
        }
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
    /// Kills dropped because their victim was already reported.
    pub duplicates: u64,
}

/// A kill report waiting for its victim's exit.
#[derive(Debug)]
struct PendingKill {
    report: KillReport,
    deadline: u64,
}

/// A watched-signal exit waiting for its audit record or kernel evidence.
#[derive(Debug)]
struct PendingExit {
    victim: Victim,
    signal: u32,
    exit_wall: u64,
    ran_ns: Option<u64>,
    deadline: u64,
}

/// The attribution state machine over a [`ProcessView`].
#[derive(Debug)]
pub struct Attributor<P> {
    cfg: Config,
    procs: P,
    /// Kills per victim tgid, oldest first.
    kills: HashMap<Pid, Vec<PendingKill>>,
    exits: HashMap<Pid, PendingExit>,
    /// Kernel-log evidence: pid → (reason, deadline).
    kernel: HashMap<Pid, (&'static str, u64)>,
    /// Dead victims already reported: pid → forget after (pid reuse
    /// within a few seconds needs a full pid-space wrap).
    reported: HashMap<Pid, u64>,
    stats: Stats,
}

impl<P: ProcessView> Attributor<P> {
    /// A new engine owning `procs`.
    pub fn new(cfg: Config, procs: P) -> Self {
        Attributor {
            cfg,
            procs,
            kills: HashMap::new(),
            exits: HashMap::new(),
            kernel: HashMap::new(),
            reported: HashMap::new(),
            stats: Stats::default(),
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
        self.kills.values().map(Vec::len).sum::<usize>() + self.exits.len()
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
        let signal = status.signal().map(u32::from);
        if !self.kills.contains_key(&tgid) && !signal.is_some_and(|s| self.cfg.signals.contains(s))
        {
            // The common case (a normal exit): no copy of the process.
            self.procs.apply(ev);
            return out;
        }
        // Snapshot before applying: a view may drop exited processes.
        let before = self.procs.process(tgid);
        self.procs.apply(ev);
        let snap = self.procs.process(tgid).or(before);
        let ran_ns = snap
            .as_ref()
            .and_then(|s| s.start_time_ns)
            .and_then(|st| ev.timestamp_ns.checked_sub(st));
        let exit_wall = now.wall_of(ev.timestamp_ns);

        if let Some(kills) = self.kills.remove(&tgid) {
            let mut confirmed_one = false;
            for pk in kills {
                let mut r = pk.report;
                if let Some(s) = &snap {
                    fill_victim(&mut r.victim, s, now);
                }
                r.extra.victim_ran_ns = ran_ns;
                r.victim.exit_confirmed = !confirmed_one && Some(r.signal) == signal;
                confirmed_one |= r.victim.exit_confirmed;
                self.emit(Report::Kill(r), now, &mut out);
            }
            return out;
        }
        let Some(signal) = signal.filter(|s| self.cfg.signals.contains(*s)) else {
            return out;
        };
        let mut victim = Victim {
            pid: tgid,
            tid: None,
            ppid: None,
            comm: None,
            exe: None,
            argv: None,
            cwd: None,
            uid: None,
            start_time: None,
            exit_confirmed: true,
        };
        if let Some(s) = &snap {
            fill_victim(&mut victim, s, now);
        }
        let pe = PendingExit {
            victim,
            signal,
            exit_wall,
            ran_ns,
            deadline: now.mono_ns.saturating_add(self.cfg.window_ns),
        };
        if let Some((reason, _)) = self.kernel.remove(&tgid) {
            let r = kernel_report(pe, Origin::Kernel, Some(reason));
            self.emit(Report::Kill(r), now, &mut out);
        } else {
            self.exits.insert(tgid, pe);
        }
        out
    }

    /// Feeds an audit kill event: one report per target process, emitted
    /// at once for a failed attempt or a victim already dead, otherwise
    /// when the victim exits or the window passes.
    pub fn on_audit_kill(&mut self, k: &AuditKill, now: Clock) -> Vec<Report> {
        self.stats.audit_kills += 1;
        let mut out = Vec::new();
        if !self.cfg.signals.contains(k.signal) {
            return out;
        }
        let (sender, ancestors) = self.sender_of(k, now);
        let tid = if k.targets.len() == 1 {
            k.target_tid()
        } else {
            None
        };
        let mut seen = Vec::new();
        for t in &k.targets {
            let tgid = self.procs.tgid_of(t.pid).unwrap_or(t.pid);
            if seen.contains(&tgid) {
                continue;
            }
            seen.push(tgid);
            let snap = self.procs.process(tgid);
            let mut victim = Victim {
                pid: tgid,
                tid,
                ppid: None,
                comm: t.comm.clone().map(Text),
                exe: None,
                argv: None,
                cwd: None,
                uid: t.uid,
                start_time: None,
                exit_confirmed: false,
            };
            if let Some(s) = &snap {
                fill_victim(&mut victim, s, now);
            }
            let report = KillReport {
                time: Timestamp(k.time_ns),
                signal: k.signal,
                signal_name: signal_name(k.signal),
                origin: Origin::User,
                reason: None,
                syscall: k.syscall.clone(),
                success: k.success,
                victim,
                sender: Some(sender.clone()),
                ancestors: ancestors.clone(),
                audit: Some(AuditRef {
                    serial: k.serial,
                    key: k.key.clone().map(Text),
                }),
                extra: KillExtra {
                    victim_ran_ns: None,
                    errno: k.errno,
                    targets: k.targets.len(),
                    target_arg: k.target_arg(),
                },
            };
            if k.success == Some(false) {
                // Nothing was delivered: no exit to wait for.
                self.emit_raw(Report::Kill(report), &mut out);
                continue;
            }
            self.place_kill(tgid, report, snap, now, &mut out);
        }
        out
    }

    fn place_kill(
        &mut self,
        tgid: Pid,
        mut report: KillReport,
        snap: Option<ProcessSnapshot>,
        now: Clock,
        out: &mut Vec<Report>,
    ) {
        if let Some(pe) = self.exits.remove(&tgid) {
            report.extra.victim_ran_ns = pe.ran_ns;
            if pe.signal == report.signal {
                // The exit came first: join.
                report.victim = Victim {
                    tid: report.victim.tid,
                    ..pe.victim
                };
                report.victim.exit_confirmed = true;
                self.emit(Report::Kill(report), now, out);
            } else {
                // Dead of another signal; keep waiting for that one's sender.
                report.victim.exit_confirmed = false;
                self.exits.insert(tgid, pe);
                self.emit(Report::Kill(report), now, out);
            }
            return;
        }
        if self.reported.contains_key(&tgid) {
            log::warn!(
                "audit kill of pid {tgid} (serial {}) arrived after its victim was reported",
                report.audit.as_ref().map_or(0, |a| a.serial)
            );
            self.stats.duplicates += 1;
            return;
        }
        if let Some(s) = snap.as_ref().filter(|s| s.exited) {
            // Dead before this record arrived and not by a watched signal
            // (or its exit would be pending): the kill did not kill it.
            report.victim.exit_confirmed = s.exit_signal.map(u32::from) == Some(report.signal);
            self.emit(Report::Kill(report), now, out);
            return;
        }
        let list = self.kills.entry(tgid).or_default();
        if list.iter().any(|p| p.report.signal == report.signal) {
            // A second identical kill (e.g. `kill -9` twice): the first
            // sender is the one that killed it.
            self.stats.duplicates += 1;
            return;
        }
        list.push(PendingKill {
            report,
            deadline: now.mono_ns.saturating_add(self.cfg.window_ns),
        });
    }

    /// Feeds one kernel-log line; recognizes OOM kills.
    pub fn on_kmsg_line(&mut self, line: &[u8], now: Clock) -> Vec<Report> {
        let mut out = Vec::new();
        let Some(kk) = parse_kmsg_line(line) else {
            return out;
        };
        self.stats.kernel_kills += 1;
        if let Some(pe) = self.exits.remove(&kk.pid) {
            let r = kernel_report(pe, Origin::Kernel, Some(kk.reason));
            self.emit(Report::Kill(r), now, &mut out);
        } else {
            self.kernel.insert(
                kk.pid,
                (kk.reason, now.mono_ns.saturating_add(self.cfg.window_ns)),
            );
        }
        out
    }

    /// Advances time: reports kills whose victim did not die in the window
    /// (`exit_confirmed` false) and exits no record explained (origin
    /// `unknown`), and forgets old state.
    pub fn tick(&mut self, now: Clock) -> Vec<Report> {
        let mut out = Vec::new();
        let t = now.mono_ns;
        let mut due: Vec<Pid> = self
            .kills
            .iter()
            .filter(|(_, v)| v.iter().any(|p| p.deadline <= t))
            .map(|(k, _)| *k)
            .collect();
        due.sort_unstable();
        for pid in due {
            if let Some(list) = self.kills.remove(&pid) {
                let (expired, keep): (Vec<_>, Vec<_>) =
                    list.into_iter().partition(|p| p.deadline <= t);
                if !keep.is_empty() {
                    self.kills.insert(pid, keep);
                }
                for p in expired {
                    self.emit(Report::Kill(p.report), now, &mut out);
                }
            }
        }
        let mut due: Vec<Pid> = self
            .exits
            .iter()
            .filter(|(_, e)| e.deadline <= t)
            .map(|(k, _)| *k)
            .collect();
        due.sort_unstable();
        for pid in due {
            if let Some(pe) = self.exits.remove(&pid) {
                let r = kernel_report(pe, Origin::Unknown, None);
                self.emit(Report::Kill(r), now, &mut out);
            }
        }
        self.kernel.retain(|_, (_, d)| *d > t);
        self.reported.retain(|_, d| *d > t);
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
        let mut kills: Vec<_> = self.kills.drain().collect();
        kills.sort_unstable_by_key(|(k, _)| *k);
        for (_, list) in kills {
            for p in list {
                self.emit(Report::Kill(p.report), now, &mut out);
            }
        }
        out.extend(self.tick(far));
        out
    }

    /// The sender and its ancestry, from the audit record and the view.
    fn sender_of(&self, k: &AuditKill, now: Clock) -> (Sender, Vec<Ancestor>) {
        let s = &k.sender;
        let tree = self.procs.process(s.pid);
        let fresh = tree.as_ref().filter(|t| !t.details_stale);
        let (argv, argv_truncated) = merge_argv(
            s.argv.as_deref(),
            s.argv_truncated,
            fresh.and_then(|t| t.argv.as_deref()),
        );
        let sender = Sender {
            pid: s.pid,
            tid: None,
            ppid: s.ppid.or(tree.as_ref().and_then(|t| t.ppid)),
            comm: s
                .comm
                .clone()
                .or_else(|| fresh.and_then(|t| t.comm.clone()))
                .map(Text),
            exe: s
                .exe
                .clone()
                .map(Text)
                .or_else(|| fresh.and_then(|t| t.exe.as_deref().map(Text::from))),
            argv: argv.map(|a| a.into_iter().map(Text).collect()),
            argv_truncated,
            cwd: tree.as_ref().and_then(|t| t.cwd.as_deref().map(Text::from)),
            uid: s.uid,
            euid: s.euid,
            auid: s.auid,
            ses: s.ses,
            tty: s.tty.clone().map(Text),
            exited: tree
                .as_ref()
                .filter(|t| !t.liveness_unknown)
                .map(|t| t.exited),
        };
        let chain = if tree.is_some() {
            self.procs.ancestry(s.pid)
        } else if let Some(pp) = s.ppid.filter(|&p| p > 0) {
            // The view never saw the sender: start from its parent.
            let mut v: Vec<_> = self.procs.process(pp).into_iter().collect();
            if !v.is_empty() {
                v.extend(self.procs.ancestry(pp));
            }
            v
        } else {
            Vec::new()
        };
        let ancestors = chain.iter().map(|p| ancestor(p, now)).collect();
        (sender, ancestors)
    }

    fn emit(&mut self, r: Report, now: Clock, out: &mut Vec<Report>) {
        if let Report::Kill(k) = &r {
            // Remember dead victims so a late duplicate record is dropped;
            // a live one may still be killed (and reported) again.
            let dead = k.victim.exit_confirmed
                || self.procs.process(k.victim.pid).is_some_and(|p| p.exited);
            if dead {
                self.reported.insert(
                    k.victim.pid,
                    now.mono_ns
                        .saturating_add(self.cfg.window_ns.saturating_mul(2)),
                );
            }
        }
        self.emit_raw(r, out);
    }

    fn emit_raw(&mut self, mut r: Report, out: &mut Vec<Report>) {
        if let Report::Kill(k) = &mut r {
            self.refresh_liveness(k);
            if !self.wanted(&k.victim) {
                self.stats.filtered += 1;
                return;
            }
            self.stats.reports += 1;
        }
        out.push(r);
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
        for a in &mut k.ancestors {
            if a.exited == Some(false) && exited_now(a.pid) {
                a.exited = Some(true);
            }
        }
    }

    fn wanted(&self, v: &Victim) -> bool {
        let pid_ok = self.cfg.victim_pids.is_empty() || self.cfg.victim_pids.contains(&v.pid);
        let comm_ok = self.cfg.victim_comms.is_empty()
            || v.comm
                .as_ref()
                .is_some_and(|c| self.cfg.victim_comms.iter().any(|w| w == &c.0));
        pid_ok && comm_ok
    }
}

/// A report for an exit no kill record explains.
fn kernel_report(pe: PendingExit, origin: Origin, reason: Option<&str>) -> KillReport {
    KillReport {
        time: Timestamp(pe.exit_wall),
        signal: pe.signal,
        signal_name: signal_name(pe.signal),
        origin,
        reason: reason.map(str::to_string),
        syscall: None,
        success: None,
        victim: pe.victim,
        sender: None,
        ancestors: Vec::new(),
        audit: None,
        extra: KillExtra {
            victim_ran_ns: pe.ran_ns,
            ..Default::default()
        },
    }
}

/// Overwrites the victim's fields with what the view knows (the audit
/// target's comm/uid stay when the view has none).
fn fill_victim(v: &mut Victim, s: &ProcessSnapshot, now: Clock) {
    v.ppid = s.ppid.or(v.ppid);
    v.cwd = s.cwd.as_deref().map(Text::from).or(v.cwd.take());
    v.uid = s.uid.or(v.uid);
    v.start_time = s.start_time_ns.map(|t| Timestamp(now.wall_of(t)));
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
    v.argv = s
        .argv
        .as_ref()
        .map(|a| a.iter().cloned().map(Text).collect())
        .or(v.argv.take());
}

fn ancestor(p: &ProcessSnapshot, now: Clock) -> Ancestor {
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
        cwd: p.cwd.as_deref().map(Text::from),
        uid: p.uid,
        start_time: p.start_time_ns.map(|t| Timestamp(now.wall_of(t))),
        exited: if bare || p.liveness_unknown {
            None
        } else {
            Some(p.exited)
        },
    }
}

/// Chooses the sender's argv: `PROCTITLE` is authoritative, but the kernel
/// cuts it at 128 bytes, so a longer argv from the process tree that
/// starts with the same bytes replaces a truncated one.
pub fn merge_argv(
    audit: Option<&[Vec<u8>]>,
    truncated: bool,
    tree: Option<&[Vec<u8>]>,
) -> (Option<Vec<Vec<u8>>>, Option<bool>) {
    match (audit, tree) {
        (Some(a), Some(t)) if truncated => {
            let ja = a.join(&0u8);
            let jt = t.join(&0u8);
            if jt.len() >= ja.len() && jt.starts_with(&ja) && !t.is_empty() {
                (Some(t.to_vec()), Some(false))
            } else {
                (Some(a.to_vec()), Some(true))
            }
        }
        (Some(a), _) => (Some(a.to_vec()), Some(truncated)),
        (None, Some(t)) if !t.is_empty() => (Some(t.to_vec()), Some(false)),
        _ => (None, None),
    }
}
