//! `sigwatch replay`: attribute the kills recorded in audit logs after
//! the fact.
//!
//! There are no process events in a log, so the processes are rebuilt from
//! the log's own records ([`procs::ProcTable`]): every `SYSCALL` record
//! names its caller (pid, ppid, comm, exe, uid), `EXECVE` gives the argv of
//! a new image, `CWD` the working directory. Processes are known by
//! identity, not by pid: a pid reused later in the log is another process,
//! a kill's own `OBJ_PID` beats older records of the pid, and an ancestor
//! is the process that had the parent pid when the child was seen. How far
//! an ancestry reaches depends on what the host's rules recorded (an
//! `execve` rule makes it complete). Whether a victim died is unknown
//! (`exit_confirmed` false), and so is whether a process had exited (null).
//!
//! Events are assembled from the records alone (auditsig's [`KillDecoder::push_record`]):
//! the same input gives the same reports at any reading speed. Inputs of
//! every kind ([`input`], [`files`]) are recognised by content. Nothing is
//! dropped silently: [`ReplayStats`] and [`input::InputStats`] count every
//! kind of skip, and memory is bounded (processes, open events, targets per
//! event).

pub mod files;
pub mod input;
pub mod procs;
pub mod run;
mod time;

pub use time::parse_time_ms;

use std::borrow::Cow;

use auditsig::kill::TargetSpec;
use auditsig::value::Value;
use auditsig::{
    Arch, AssemblerConfig, Event, KillDecoder, KillEvent, KillSyscall, Record, RecordType,
};

use crate::attributor::{ancestor, Clock};
use crate::procview::ProcessSnapshot;
use crate::report::{
    Ancestor, Ancestry, AuditRef, Container, KillExtra, KillReport, Origin, ProcContext, Report,
    Sender, Text, Timestamp, Victim, Witness,
};
use crate::signals::{signal_name, SignalSet};

use input::Item;
use procs::{argv_in_log, trusted_argv, Proc, ProcTable, Sighting};

/// What a replay reports.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Signals to report (default: SIGKILL).
    pub signals: SignalSet,
    /// Only victims with one of these pids (empty: all).
    pub pids: Vec<i32>,
    /// Only victims with one of these comms (empty: all; a longer name
    /// than the kernel keeps matches on its first 15 bytes).
    pub comms: Vec<Vec<u8>>,
    /// Only kills at or after this record time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Only kills before this record time (ms since the epoch).
    pub until_ms: Option<u64>,
    /// Most process generations remembered (memory bound).
    pub max_processes: usize,
    /// Most records kept per event: a `kill(-1)` has one `OBJ_PID` per
    /// process signalled; beyond this they are counted, not kept.
    pub max_records_per_event: usize,
    /// Most bytes of argument text kept per process (an `EXECVE` argv, a
    /// `PROCTITLE`); a longer one is cut and reported `argv_truncated`,
    /// as watch mode's process tree does (`max_argv_bytes`, 4096), so
    /// that memory is bounded by `max_processes` × this.
    pub max_argv_bytes: usize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        let mut signals = SignalSet::empty();
        signals.insert(9);
        ReplayConfig {
            signals,
            pids: Vec::new(),
            comms: Vec::new(),
            since_ms: None,
            until_ms: None,
            max_processes: 32_768,
            max_records_per_event: 65_536,
            max_argv_bytes: 4096,
        }
    }
}

/// Counters of a replay: what was read, reported and skipped, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayStats {
    /// Records fed to the assembler.
    pub records: u64,
    /// Events assembled.
    pub events: u64,
    /// Kill-family events found (any signal).
    pub kill_events: u64,
    /// Kill reports produced.
    pub reports: u64,
    /// Kill-family events that could not be decoded (a required field
    /// missing or malformed).
    pub malformed: u64,
    /// `SYSCALL` events of an arch no table here knows (their syscall
    /// cannot be named).
    pub unknown_arch: u64,
    /// Kill events without an `OBJ_PID` record whose arguments name no
    /// single process either (a process group, `kill(-1)`, a pidfd).
    pub no_target: u64,
    /// `OBJ_PID` records beyond [`ReplayConfig::max_records_per_event`].
    pub targets_dropped: u64,
    /// Kill events of signals not asked for (signal 0 probes included).
    pub other_signal: u64,
    /// Kills outside `--since`/`--until` or not matching `--pid`/`--comm`.
    pub filtered: u64,
    /// Process generations forgotten to bound memory.
    pub processes_evicted: u64,
    /// Times a pid was seen to belong to a new process.
    pub pid_reuse: u64,
    /// Events of the records a replay reads (`OBJ_PID`, `PROCTITLE`,
    /// `EXECVE`, `CWD`) without the `SYSCALL` record they come with: a log
    /// cut, or files given out of order, separated them.
    pub without_syscall: u64,
    /// `comm`, `exe` or `cwd` values longer than a kernel writes
    /// ([`MAX_DETAIL_BYTES`]), not kept in the process history (they are
    /// null where it is the source).
    pub details_too_long: u64,
}

/// The longest `comm`/`exe`/`cwd` kept in the process history: `PATH_MAX`,
/// the longest path the kernel's `d_path` gives (and far more than the 16
/// bytes of a comm).
pub const MAX_DETAIL_BYTES: usize = 4096;

/// Replays records in input order and produces reports.
#[derive(Debug)]
pub struct Replay {
    /// auditsig's one record → event → kill pipeline, assembling by
    /// record time.
    dec: KillDecoder,
    procs: ProcTable,
    cfg: ReplayConfig,
    stats: ReplayStats,
    out: Vec<Report>,
    /// Reused for the NUL-joined argv of each exec.
    argv_buf: Vec<u8>,
}

impl Replay {
    /// A replay reporting `signals`, other settings default.
    pub fn new(signals: SignalSet) -> Self {
        Replay::with_config(ReplayConfig {
            signals,
            ..ReplayConfig::default()
        })
    }

    /// A replay with `cfg`.
    pub fn with_config(cfg: ReplayConfig) -> Self {
        Replay {
            dec: KillDecoder::new(
                AssemblerConfig::default()
                    .max_open(4096)
                    .max_records_per_event(cfg.max_records_per_event),
            ),
            procs: ProcTable::new(cfg.max_processes),
            cfg,
            stats: ReplayStats::default(),
            out: Vec::new(),
            argv_buf: Vec::new(),
        }
    }

    /// Feeds one record; returns the reports completed so far.
    pub fn push(&mut self, rec: Record) -> Vec<Report> {
        self.stats.records += 1;
        self.dec.push_record(rec);
        self.drain();
        std::mem::take(&mut self.out)
    }

    /// Feeds one input item (record or event boundary).
    pub fn push_item(&mut self, item: Item) -> Vec<Report> {
        match item {
            Item::Record(r) => self.push(r),
            Item::Boundary => {
                self.dec.boundary();
                self.drain();
                std::mem::take(&mut self.out)
            }
            Item::Skip => Vec::new(),
        }
    }

    /// Ends the input: completes open events and returns the last reports.
    pub fn finish(&mut self) -> Vec<Report> {
        self.dec.finish();
        self.drain();
        std::mem::take(&mut self.out)
    }

    /// Counters so far.
    pub fn stats(&self) -> ReplayStats {
        let mut s = self.stats;
        s.processes_evicted = self.procs.evicted();
        s.pid_reuse = self.procs.reused();
        s.malformed = self.dec.counters().undecodable_kills;
        s
    }

    /// The processes rebuilt from the log.
    pub fn procs(&self) -> &ProcTable {
        &self.procs
    }

    fn drain(&mut self) {
        while let Some(ev) = self.dec.next_raw_event() {
            self.event(&ev);
        }
    }

    fn event(&mut self, ev: &Event) {
        self.stats.events += 1;
        let Some(sc) = ev.first(RecordType::SYSCALL) else {
            let parts = [
                RecordType::OBJ_PID,
                RecordType::PROCTITLE,
                RecordType::EXECVE,
                RecordType::CWD,
            ];
            if parts.into_iter().any(|t| ev.first(t).is_some()) {
                self.stats.without_syscall += 1;
            }
            return;
        };
        let node = self.procs.node_id(ev.node());
        let ms = ev.stamp.millis();
        let [arch, nr, pid, ppid, uid, comm, exe] = learn_fields(sc);
        let arch = arch
            .and_then(|v| v.as_hex_u64())
            .and_then(|v| u32::try_from(v).ok())
            .and_then(Arch::from_audit_arch);
        let arch_known = arch.is_some();
        // Only kill-family events go through the full decoding.
        let is_kill = match (arch, nr.and_then(|v| v.as_dec_u64())) {
            (Some(a), Some(n)) => u32::try_from(n)
                .ok()
                .and_then(|n| KillSyscall::from_number(a, n))
                .is_some(),
            _ => false,
        };
        if !arch_known {
            self.stats.unknown_arch += 1;
        }
        // Borrowed from the record unless hex-encoded: no copy per event.
        let comm = comm.and_then(|v| v.bytes());
        let exe = exe
            .and_then(|v| v.bytes())
            .filter(|e| !e.is_empty() && e.as_ref() != b"(null)");
        let proctitle = proctitle_of(ev);
        if let Some(pid) = pid
            .and_then(|v| v.as_dec_i64())
            .and_then(|p| i32::try_from(p).ok())
        {
            let exec_argv = joined_execve_argv(ev, &mut self.argv_buf);
            // Kept for the process's lifetime in the table: cut to the
            // bound (and flagged), as watch mode keeps a huge argv.
            let exec_argv_truncated =
                exec_argv && cut_argv(&mut self.argv_buf, self.cfg.max_argv_bytes);
            let kept_title = proctitle
                .as_deref()
                .map(|t| &t[..cut_argv_len(t, self.cfg.max_argv_bytes).unwrap_or(t.len())]);
            let cwd = ev
                .first(RecordType::CWD)
                .and_then(|r| r.get("cwd"))
                .and_then(|v| v.bytes());
            // The table keeps these for as long as the process; a value
            // longer than a kernel writes (a path is at most PATH_MAX) is
            // a damaged or forged record: not kept (unknown), counted.
            let n = &mut self.stats.details_too_long;
            let (comm, exe, cwd) = (
                kept(comm.as_deref(), n),
                kept(exe.as_deref(), n),
                kept(cwd.as_deref(), n),
            );
            self.procs.observe(Sighting {
                node,
                pid,
                ppid: ppid
                    .and_then(|v| v.as_dec_i64())
                    .and_then(|p| i32::try_from(p).ok()),
                comm,
                exe,
                uid: uid.and_then(|v| v.as_dec_u64()).and_then(unset_u32),
                exec_argv: exec_argv.then_some(&self.argv_buf[..]),
                exec_argv_truncated,
                proctitle: kept_title,
                cwd,
                ms,
            });
        }
        if !is_kill {
            return;
        }
        // Undecodable kill events are counted by the decoder (one line in
        // the summary, not a warning each).
        if let Some(k) = self.dec.decode(ev) {
            self.stats.kill_events += 1;
            self.kill(&k, ev, node, proctitle.as_deref(), exe.as_deref());
        }
    }

    fn kill(
        &mut self,
        k: &KillEvent,
        ev: &Event,
        node: u32,
        proctitle: Option<&[u8]>,
        exe: Option<&[u8]>,
    ) {
        if k.signal < 0 || !self.cfg.signals.contains(k.signal) {
            self.stats.other_signal += 1;
            return;
        }
        let ms = k.stamp.millis();
        if self.cfg.since_ms.is_some_and(|s| ms < s) || self.cfg.until_ms.is_some_and(|u| ms >= u) {
            self.stats.filtered += 1;
            return;
        }
        if k.targets_dropped > 0 {
            self.stats.targets_dropped += k.targets_dropped as u64;
            log::warn!(
                "audit event {}: {} OBJ_PID record(s) over the limit of {} per event were not kept (their victims are not reported)",
                k.stamp,
                k.targets_dropped,
                self.cfg.max_records_per_event
            );
        }
        let mut victims: Vec<VictimRef> = Vec::new();
        let single_tid = match k.target_spec {
            TargetSpec::Thread(t) => Some(t),
            TargetSpec::ThreadOf { tid, .. } => Some(tid),
            _ => None,
        };
        if k.targets.is_empty() {
            // No OBJ_PID (kernels or rule sets that do not log one, or a
            // failed call): the arguments name the target.
            let v = match k.target_spec {
                TargetSpec::Process(p) if p > 0 => Some((p, None)),
                TargetSpec::ThreadOf { tgid, tid } if tgid > 0 => Some((tgid, Some(tid))),
                TargetSpec::Thread(t) if t > 0 => Some((t, Some(t))),
                _ => None,
            };
            match v {
                Some((pid, tid)) => victims.push(VictimRef {
                    pid,
                    tid,
                    comm: None,
                    uid: None,
                }),
                None => {
                    self.stats.no_target += 1;
                    log::warn!(
                        "audit event {}: {} without OBJ_PID records and no single target ({:?}): not reported",
                        k.stamp,
                        k.syscall.name().unwrap_or("?"),
                        k.target_spec
                    );
                    return;
                }
            }
        } else {
            let tid = if k.targets.len() == 1 {
                single_tid
            } else {
                None
            };
            // A set: a group kill names thousands of targets.
            let mut seen = std::collections::HashSet::with_capacity(k.targets.len());
            for t in &k.targets {
                let pid = t.pid;
                if !seen.insert(pid) {
                    continue;
                }
                victims.push(VictimRef {
                    pid,
                    tid,
                    comm: t.comm.as_ref().map(|c| c.0.clone()),
                    uid: unset_u32(u64::from(t.uid)),
                });
            }
        }
        for v in &victims {
            self.procs
                .observe_target(node, v.pid, v.comm.as_deref(), v.uid, ms);
        }
        // The processes the syscall reached: its OBJ_PID records (kept and
        // dropped), or the one its arguments name when it logged none.
        let target_count = if k.targets.is_empty() && k.targets_dropped == 0 {
            victims.len() as u64
        } else {
            (k.targets.len() + k.targets_dropped) as u64
        };

        let contid = container_id(ev);
        let s = &k.sender;
        let sender_pid = s.pid;
        let me = self.procs.current(node, sender_pid).cloned();
        let comm = Some(s.comm.0.clone());
        let chosen = argv_in_log(me.as_ref(), proctitle, exe, comm.as_deref());
        let sender = Sender {
            pid: sender_pid,
            tid: None,
            ppid: Some(s.ppid),
            comm: comm.map(Text),
            exe: exe.map(Text::from),
            argv: chosen.argv.map(|a| a.into_iter().map(Text).collect()),
            argv_truncated: chosen.truncated,
            cwd: me.as_ref().and_then(|p| p.cwd.as_deref()).map(Text::from),
            uid: unset_u32(u64::from(s.uid)),
            euid: unset_u32(u64::from(s.euid)),
            auid: s.auid,
            ses: s.ses,
            tty: s.tty.as_ref().map(|t| Text(t.0.clone())),
            exited: None,
            proctitle_rejected: chosen.proctitle_rejected,
            // An audit log does not record cgroups or namespaces; the
            // event's CONTAINER_ID record, when there is one, names the
            // caller's audit container.
            context: ProcContext {
                container: contid.as_ref().and_then(|c| audit_container(&c.0)),
                ..ProcContext::default()
            },
            euser: None,
            login_user: None,
        };
        // One chain shared by every target's report.
        let ancestors = Ancestry::nearest(self.ancestors(node, me.as_ref(), Some(s.ppid), ms));
        let node_name = ev.node().map(Text::from);
        let n_targets = k.targets.len().max(1);
        let target_arg = k.target_spec.pid_arg().map(i64::from);
        for VictimRef {
            pid,
            tid,
            comm: ocomm,
            uid: ouid,
        } in victims
        {
            let p = self.procs.at(node, pid, ms);
            // The kill's own record names the process: older details of
            // the pid count only when they are of a process of that name.
            let p = p.filter(|p| ocomm.is_none() || p.comm.as_deref() == ocomm.as_deref());
            let vcomm = ocomm.or_else(|| p.and_then(|p| p.comm.as_deref()).map(<[u8]>::to_vec));
            if !self.cfg.pids.is_empty() && !self.cfg.pids.contains(&pid) {
                self.stats.filtered += 1;
                continue;
            }
            if !self.cfg.comms.is_empty()
                && !vcomm.as_ref().is_some_and(|c| {
                    self.cfg
                        .comms
                        .iter()
                        .any(|w| crate::attributor::comm_matches(w, c))
                })
            {
                self.stats.filtered += 1;
                continue;
            }
            let (vargv, vcut) = match p {
                Some(p) => trusted_argv(Some(p), None, p.exe.as_deref(), p.comm.as_deref()),
                None => (None, None),
            };
            let victim = Victim {
                pid,
                tid,
                ppid: p.and_then(|p| p.ppid),
                comm: vcomm.map(Text),
                exe: p.and_then(|p| p.exe.as_deref()).map(Text::from),
                argv: vargv.map(|a| a.into_iter().map(Text).collect()),
                argv_truncated: vcut,
                cwd: p.and_then(|p| p.cwd.as_deref()).map(Text::from),
                uid: ouid.or_else(|| p.and_then(|p| p.uid)),
                start_time: None,
                exit_confirmed: false,
                context: ProcContext::default(),
            };
            self.stats.reports += 1;
            self.out.push(Report::Kill(KillReport {
                time: Timestamp(ms.saturating_mul(1_000_000)),
                signal: k.signal,
                signal_name: signal_name(k.signal),
                origin: Origin::User,
                reason: None,
                syscall: k.syscall.name().map(str::to_string),
                success: Some(k.success),
                syscall_target: target_arg,
                syscall_target_count: Some(target_count),
                victim,
                sender: Some(sender.clone()),
                ancestors: ancestors.clone(),
                audit: Some(AuditRef {
                    serial: k.stamp.serial,
                    key: k.key.as_ref().map(|b| Text(b.0.clone())),
                    container_id: contid.clone(),
                }),
                witnesses: vec![Witness::Audit],
                trace: None,
                node: node_name.clone(),
                oom: None,
                cgroup_kill: None,
                ancestors_truncated: ancestors.is_truncated(),
                extra: KillExtra {
                    victim_ran_ns: None,
                    errno: k.errno,
                    kmsg: false,
                    targets: n_targets,
                    target_arg,
                    target_tid: crate::attributor::tgkill_tid(&k.target_spec),
                    sender_comm_from_audit: true,
                    trace_wall: None,
                },
            }));
        }
    }

    /// The spawn chain above the sender: each parent is the process that
    /// had the parent pid when its child was first seen. Each entry is
    /// made by the live attributor's [`crate::attributor::ancestor`] from
    /// a snapshot of what the log says, so both report ancestors alike.
    fn ancestors(&self, node: u32, me: Option<&Proc>, ppid: Option<i32>, ms: u64) -> Vec<Ancestor> {
        // "Now" is the kill's record time; a log gives no start times.
        let now = Clock {
            mono_ns: 0,
            wall_ns: ms.saturating_mul(1_000_000),
        };
        let mut out: Vec<Ancestor> = Vec::new();
        let mut pid = me.and_then(|p| p.ppid).or(ppid).unwrap_or(0);
        let mut when = me.map_or(ms, |p| p.first_ms);
        // The nearest MAX_ANCESTORS are reported; one more tells that the
        // chain goes on. A log's parent pids can loop (a crafted log, pid
        // reuse): a pid seen already, the sender's too, ends the chain.
        for _ in 0..=crate::report::MAX_ANCESTORS {
            if pid <= 0 || me.is_some_and(|m| m.pid == pid) || out.iter().any(|a| a.pid == pid) {
                break;
            }
            let Some(p) = self.procs.at(node, pid, when) else {
                // Known only as a parent pid: a bare entry, all else null.
                let bare = ProcessSnapshot {
                    pid,
                    ..ProcessSnapshot::default()
                };
                out.push(ancestor(&bare, now));
                break;
            };
            out.push(ancestor(&snapshot_of(p), now));
            if pid == 1 {
                break;
            }
            when = p.first_ms.min(when);
            pid = p.ppid.unwrap_or(0);
        }
        out
    }
}

/// What the log says about `p`, as the process view would hold it: its
/// argv as far as the log can be trusted with it ([`trusted_argv`]), and
/// whether it still runs unknown.
fn snapshot_of(p: &Proc) -> ProcessSnapshot {
    use std::os::unix::ffi::OsStrExt;
    let path = |b: &[u8]| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b));
    let (argv, cut) = trusted_argv(Some(p), None, p.exe.as_deref(), p.comm.as_deref());
    ProcessSnapshot {
        argv_truncated: cut == Some(true),
        pid: p.pid,
        ppid: p.ppid,
        comm: p.comm.as_deref().map(<[u8]>::to_vec),
        exe: p.exe.as_deref().map(path),
        argv_after_exec: argv.is_some(),
        argv,
        cwd: p.cwd.as_deref().map(path),
        uid: p.uid,
        liveness_unknown: true,
        ..ProcessSnapshot::default()
    }
}

/// A process a kill was sent to: from its `OBJ_PID` record, or from the
/// syscall's arguments when there is none.
#[derive(Debug)]
struct VictimRef {
    pid: i32,
    /// The thread a thread-directed syscall aimed at.
    tid: Option<i32>,
    /// `ocomm`.
    comm: Option<Vec<u8>>,
    /// `ouid`.
    uid: Option<u32>,
}

/// The `SYSCALL` fields the process history needs — `arch`, `syscall`,
/// `pid`, `ppid`, `uid`, `comm`, `exe` — first occurrence of each, in one
/// pass that stops once all are found.
fn learn_fields(r: &Record) -> [Option<Value<'_>>; 7] {
    let mut out = [None; 7];
    let mut missing = out.len();
    for (name, raw) in r.raw_fields() {
        let i = match name {
            b"arch" => 0,
            b"syscall" => 1,
            b"pid" => 2,
            b"ppid" => 3,
            b"uid" => 4,
            b"comm" => 5,
            b"exe" => 6,
            _ => continue,
        };
        if out[i].is_none() {
            out[i] = Some(Value::classify(r.record_type(), name, raw));
            missing -= 1;
            if missing == 0 {
                break;
            }
        }
    }
    out
}

/// The event's `PROCTITLE`, decoded (NUL-separated argv).
fn proctitle_of(ev: &Event) -> Option<Cow<'_, [u8]>> {
    ev.first(RecordType::PROCTITLE)
        .and_then(|r| r.get("proctitle"))
        .and_then(|v| v.bytes())
}

/// Puts the complete argv of the event's `EXECVE` records, NUL-joined,
/// into `buf`; false when there is none (or it is incomplete).
///
/// The common shape — `argc=N a0=.. a1=..` in order, no argument split
/// into pieces — is joined straight from the records; anything else goes
/// through auditsig's [`Event::execve_argv`], which this agrees with.
fn joined_execve_argv(ev: &Event, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut records = ev.all(RecordType::EXECVE).peekable();
    if records.peek().is_none() {
        return false;
    }
    let mut argc = None;
    let mut next = 0usize;
    let mut simple = true;
    'records: for rec in records {
        for (name, raw) in rec.raw_fields() {
            if name == b"argc" {
                if argc.is_some() {
                    simple = false;
                    break 'records;
                }
                argc = Some(Value::classify(RecordType::EXECVE, name, raw).as_dec_u64());
                continue;
            }
            // Argument names are `aN` and `aN[i]`; other names are not
            // arguments (`aN_len`, ...).
            let Some(digits) = name.strip_prefix(b"a") else {
                continue;
            };
            if !digits.first().is_some_and(u8::is_ascii_digit) {
                continue;
            }
            // `aN` exactly the next index, without leading zeros.
            let is_next = digits.len() <= 7
                && digits.iter().all(u8::is_ascii_digit)
                && (digits.len() == 1 || digits[0] != b'0')
                && auditsig::value::parse_dec_u64(digits) == Some(next as u64);
            let value = Value::classify(RecordType::EXECVE, name, raw).bytes();
            match value {
                Some(v) if is_next => {
                    if next > 0 {
                        buf.push(0);
                    }
                    buf.extend_from_slice(&v);
                    next += 1;
                }
                _ => {
                    simple = false;
                    break 'records;
                }
            }
        }
    }
    if simple {
        // Without a (valid) argc the arguments found are all there is.
        return match argc {
            Some(Some(n)) => n == next as u64,
            _ => true,
        };
    }
    match ev.execve_argv().filter(|a| a.complete) {
        Some(a) => {
            *buf = a.args.join(&0u8);
            true
        }
        None => false,
    }
}

/// `v` unless it is longer than [`MAX_DETAIL_BYTES`] (then counted in
/// `too_long`).
fn kept<'a>(v: Option<&'a [u8]>, too_long: &mut u64) -> Option<&'a [u8]> {
    match v {
        Some(b) if b.len() > MAX_DETAIL_BYTES => {
            *too_long += 1;
            None
        }
        v => v,
    }
}

/// Where a NUL-joined argv must end to hold at most `max` bytes of
/// argument text (separators not counted), the rule of watch mode's
/// process tree: arguments are kept whole while they fit, the one that
/// crosses the bound is cut, later ones (empty ones too) are dropped.
/// `None` when it fits.
fn cut_argv_len(argv: &[u8], max: usize) -> Option<usize> {
    let mut text = 0usize;
    for (i, &b) in argv.iter().enumerate() {
        if b != 0 {
            text += 1;
            if text > max {
                // Separators right before the cut would start arguments
                // that are dropped.
                let mut end = i;
                while end > 0 && argv[end - 1] == 0 {
                    end -= 1;
                }
                return Some(end);
            }
        }
    }
    None
}

/// Cuts the NUL-joined `argv` as [`cut_argv_len`] says; true when cut.
fn cut_argv(argv: &mut Vec<u8>, max: usize) -> bool {
    match cut_argv_len(argv, max) {
        Some(end) => {
            argv.truncate(end);
            true
        }
        None => false,
    }
}

/// The audit container id of an event: `contid=` of its `CONTAINER_ID`
/// record (a type this crate keeps by name).
fn container_id(ev: &Event) -> Option<Text> {
    ev.records
        .iter()
        .filter(|r| r.record_type() == RecordType::UNKNOWN_NAME)
        .find_map(|r| r.get("contid"))
        .and_then(|v| v.bytes())
        .map(|b| Text(b.into_owned()))
}

/// The audit container of the process a `CONTAINER_ID` record's `contid=`
/// describes.
///
/// The record is written with the event of the calling task's syscall
/// (`audit_log_exit()`), so it describes the sender, never the victim.
/// Its value is an id an orchestrator assigned (a number written to
/// `/proc/PID/audit_containerid`), not a runtime's container id: the
/// runtime is unknown (null). The task's own id comes first; the patch
/// set that adds the record appends its parent containers after `^`
/// (nesting) and other ids after `,` (network namespaces), which are not
/// this process's. A value that is not a number, or the unset id
/// (`u64::MAX`), names no container. As for `audit.container_id`, only an
/// event's first `CONTAINER_ID` record is read.
fn audit_container(contid: &[u8]) -> Option<Container> {
    let own = contid
        .split(|&c| c == b'^' || c == b',')
        .next()
        .unwrap_or_default();
    let id = auditsig::value::parse_dec_u64(own).filter(|&v| v != u64::MAX)?;
    Some(Container {
        runtime: None,
        id: Some(id.to_string()),
        pod_uid: None,
    })
}

/// `4294967295` (and `-1`) mean unset.
fn unset_u32(v: u64) -> Option<u32> {
    u32::try_from(v).ok().filter(|&v| v != u32::MAX)
}

/// Replays every record of `records` and returns all reports.
pub fn replay_records(
    records: impl IntoIterator<Item = Record>,
    signals: SignalSet,
) -> (Vec<Report>, ReplayStats) {
    let mut r = Replay::new(signals);
    let mut out = Vec::new();
    for rec in records {
        out.extend(r.push(rec));
    }
    out.extend(r.finish());
    (out, r.stats())
}

/// Replays `data` as the lines of one input (any line format, see
/// [`input::classify_line`]) and returns the reports with the counters.
pub fn replay_text(
    data: &[u8],
    cfg: ReplayConfig,
) -> (Vec<Report>, ReplayStats, input::InputStats) {
    let mut st = input::InputStats::default();
    let mut r = Replay::with_config(cfg);
    let mut out = Vec::new();
    if input::looks_like_export(data) {
        for item in input::export_items(data, &mut st) {
            out.extend(r.push_item(item));
        }
    } else {
        for line in data.split(|&c| c == b'\n') {
            out.extend(r.push_item(input::classify_line(line, &mut st)));
        }
    }
    out.extend(r.finish());
    (out, r.stats(), st)
}

/// The body of the `replay_inputs` fuzz target (also replayed by the test
/// suite): `data` through every input parser of a replay — as lines of any
/// format, as the journal's export stream — and the whole replay, plus the
/// `--since`/`--until` time parser. Panics only when an invariant breaks.
#[doc(hidden)]
pub fn fuzz_replay_inputs(data: &[u8]) {
    let cfg = || ReplayConfig {
        signals: SignalSet::all(),
        max_processes: 64,
        max_records_per_event: 64,
        ..ReplayConfig::default()
    };
    let (reports, stats, input) = replay_text(data, cfg());
    assert_eq!(stats.reports as usize, reports.len());
    assert!(input.records <= input.lines);
    // The same bytes as an export stream, whatever they start with.
    let mut st = input::InputStats::default();
    let mut r = Replay::with_config(cfg());
    for item in input::export_items(data, &mut st) {
        let _ = r.push_item(item);
    }
    let _ = r.finish();
    for rep in &reports {
        let _ = serde_json::to_string(rep);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_time_ms(s);
    }
}

#[cfg(test)]
mod tests {
    use super::{cut_argv, cut_argv_len};

    /// Watch mode's rule (`ProcessInfo::absorb` in procconn's tree) on an
    /// argv as a list: whole arguments while they fit, the one crossing
    /// the bound cut, the rest dropped.
    fn watch_mode_cut(argv: &[&[u8]], max: usize) -> Vec<Vec<u8>> {
        if argv.iter().map(|a| a.len()).sum::<usize>() <= max {
            return argv.iter().map(|a| a.to_vec()).collect();
        }
        let mut out = Vec::new();
        let mut budget = max;
        for a in argv {
            let take = a.len().min(budget);
            out.push(a[..take].to_vec());
            budget -= take;
            if budget == 0 {
                break;
            }
        }
        out
    }

    /// The replay's cut of a NUL-joined argv keeps what watch mode keeps
    /// of the same argv, for cuts inside, at the end of and between
    /// arguments, and around empty arguments.
    #[test]
    fn argv_is_cut_as_watch_mode_cuts_it() {
        let cases: [&[&[u8]]; 6] = [
            &[b"sleep", b"9"],
            &[b"abc", b"", b"", b"d"],
            &[b"", b"abcd"],
            &[b"prog", b"xxxxxxxxxx", b"--flag"],
            &[b"a", b"b", b"c", b"d", b"e"],
            &[b"abcdefgh"],
        ];
        for argv in cases {
            for max in 1..12 {
                let mut joined = argv.join(&0u8);
                let cut = cut_argv(&mut joined, max);
                let want = watch_mode_cut(argv, max);
                let got: Vec<Vec<u8>> = joined.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
                assert_eq!(got, want, "{argv:?} cut to {max}");
                let text: usize = argv.iter().map(|a| a.len()).sum();
                assert_eq!(cut, text > max, "{argv:?} cut to {max}");
            }
        }
        assert_eq!(cut_argv_len(b"sleep\x009", 4096), None);
    }
}
