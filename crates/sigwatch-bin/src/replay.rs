//! `sigwatch replay`: attribute the kills recorded in an audit log after
//! the fact.
//!
//! There are no process events in a log, so the process tree is rebuilt
//! from the log's own records: every `SYSCALL` record names a process (pid,
//! ppid, comm, exe, uid), `EXECVE`/`PROCTITLE` give its argv and `CWD` its
//! working directory. How far an ancestry reaches depends on what the
//! host's rules recorded (an `execve` rule makes it complete). Whether a
//! victim died is unknown (`exit_confirmed` false) and so is whether a
//! process had exited (null).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Instant;

use auditsig::{Assembler, AssemblerConfig, Event, KillEvent, Record, RecordType};

use crate::attributor::{Attributor, Clock, Config};
use crate::procview::{MemTree, ProcessSnapshot};
use crate::report::Report;
use crate::signals::SignalSet;

/// Counters of a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records read.
    pub records: u64,
    /// Events assembled.
    pub events: u64,
    /// Kill-family events found (any signal).
    pub kill_events: u64,
    /// Kill-family events that could not be decoded.
    pub malformed: u64,
}

/// Replays records (in file order) and returns the reports.
#[derive(Debug)]
pub struct Replay {
    asm: Assembler,
    engine: Attributor<MemTree>,
    stats: ReplayStats,
    out: Vec<Report>,
}

impl Replay {
    /// A replay reporting `signals`.
    pub fn new(signals: SignalSet) -> Self {
        let cfg = Config {
            // Nothing to wait for: a kill is reported as soon as it is read.
            window_ns: 0,
            signals,
            ..Config::default()
        };
        Replay {
            asm: Assembler::new(AssemblerConfig::default()),
            engine: Attributor::new(cfg, MemTree::new()),
            stats: ReplayStats::default(),
            out: Vec::new(),
        }
    }

    /// Feeds one record; returns reports completed so far.
    pub fn push(&mut self, rec: Record) -> Vec<Report> {
        self.stats.records += 1;
        // The assembler's timeout is wall-clock based; a file is read much
        // faster than it was written, and record-time supersession closes
        // events of EOE-less logs.
        self.asm.push(rec, Instant::now());
        while let Some(ev) = self.asm.pop() {
            self.event(&ev);
        }
        std::mem::take(&mut self.out)
    }

    /// Ends the input: flushes open events and returns the last reports.
    pub fn finish(&mut self) -> Vec<Report> {
        self.asm.flush();
        while let Some(ev) = self.asm.pop() {
            self.event(&ev);
        }
        let now = Clock {
            mono_ns: u64::MAX,
            wall_ns: 0,
        };
        self.out.extend(self.engine.flush(now));
        std::mem::take(&mut self.out)
    }

    /// Counters so far.
    pub fn stats(&self) -> ReplayStats {
        self.stats
    }

    /// The tree rebuilt from the log.
    pub fn tree(&self) -> &MemTree {
        self.engine.procs()
    }

    fn event(&mut self, ev: &Event) {
        self.stats.events += 1;
        self.learn(ev);
        match KillEvent::from_event(ev) {
            Ok(Some(k)) => {
                self.stats.kill_events += 1;
                let now = Clock {
                    mono_ns: k.time_ns(),
                    wall_ns: k.time_ns(),
                };
                self.out.extend(self.engine.on_audit_kill(&k, now));
                self.out.extend(self.engine.tick(now));
            }
            Ok(None) => {}
            Err(e) => {
                self.stats.malformed += 1;
                log::warn!("audit event {}: {e}", ev.stamp);
            }
        }
    }

    /// Updates the tree with the process an event's SYSCALL record names.
    fn learn(&mut self, ev: &Event) {
        let Some(sc) = ev.first(RecordType::SYSCALL) else {
            return;
        };
        let num = |r: &Record, f: &str| r.get(f).and_then(|v| v.as_dec_u64());
        let Some(pid) = num(sc, "pid").and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        let bytes = |r: &Record, f: &str| {
            r.get(f)
                .and_then(|v| v.bytes())
                .map(|b| b.into_owned())
                .filter(|b| b.as_slice() != b"(null)")
        };
        let ppid = num(sc, "ppid").and_then(|p| i32::try_from(p).ok());
        let cwd = ev
            .first(RecordType::CWD)
            .and_then(|r| bytes(r, "cwd"))
            .map(path_of);
        let exe = bytes(sc, "exe").map(path_of);
        let tree = self.engine.procs_mut();
        let entry = match tree.get_mut(pid) {
            Some(p) => p,
            None => {
                tree.insert(ProcessSnapshot {
                    pid,
                    liveness_unknown: true,
                    ..Default::default()
                });
                match tree.get_mut(pid) {
                    Some(p) => p,
                    None => return,
                }
            }
        };
        // Before comm/exe change: an unrecorded exec drops the old argv.
        crate::argv::replay_learn_argv(entry, ev);
        entry.ppid = ppid.or(entry.ppid);
        entry.spawned_by = entry.spawned_by.or(ppid);
        entry.comm = bytes(sc, "comm").or(entry.comm.take());
        entry.exe = exe.or(entry.exe.take());
        entry.uid = num(sc, "uid")
            .and_then(|u| u32::try_from(u).ok())
            .or(entry.uid);
        entry.cwd = cwd.or(entry.cwd.take());
    }
}

fn path_of(b: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(b))
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
