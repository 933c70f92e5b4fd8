//! What the [`Attributor`](crate::Attributor) needs to know about processes,
//! as a trait so that the live `procconn::ProcessTree`, a tree rebuilt from
//! an audit log (`sigwatch replay`) and test fixtures can all feed it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use procconn::{EventKind, Pid, ProcEvent};

/// A copy of what is known about one process (mirrors the fields of
/// `procconn::ProcessInfo` the reports use).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessSnapshot {
    /// Process id (tgid).
    pub pid: Pid,
    /// Current parent pid (after re-parenting), if known.
    pub ppid: Option<Pid>,
    /// The process that forked it ("spawned by"), kept after re-parenting.
    pub spawned_by: Option<Pid>,
    /// `comm`.
    pub comm: Option<Vec<u8>>,
    /// `/proc/<pid>/exe`.
    pub exe: Option<PathBuf>,
    /// `/proc/<pid>/cmdline` split at NULs; `None` when never read.
    pub argv: Option<Vec<Vec<u8>>>,
    /// `argv` was read from the process itself after its latest exec (or
    /// by the start-up scan, or from the log's `EXECVE` record): it is the
    /// command line of the program it runs now, not one inherited at fork.
    pub argv_after_exec: bool,
    /// `argv` is cut (the tree keeps a bounded prefix of a huge command
    /// line).
    pub argv_truncated: bool,
    /// `/proc/<pid>/cwd`.
    pub cwd: Option<PathBuf>,
    /// Real uid.
    pub uid: Option<u32>,
    /// Start time in nanoseconds since boot (`/proc/<pid>/stat` starttime
    /// or the fork event's `timestamp_ns`).
    pub start_time_ns: Option<u64>,
    /// Whether the process has exited.
    pub exited: bool,
    /// The process exec'd but its new details could not be read (it was
    /// gone before `/proc` was read): comm, exe and argv are from before
    /// the exec and must not be shown as its own.
    pub details_stale: bool,
    /// The view cannot tell whether the process is still alive (e.g. a
    /// tree rebuilt from an old audit log): `exited` is then meaningless
    /// and reported as unknown (null).
    pub liveness_unknown: bool,
    /// The terminating signal, when it was killed by one.
    pub exit_signal: Option<u8>,
    /// Exit time in nanoseconds since boot (the exit event's `timestamp_ns`).
    pub exit_time_ns: Option<u64>,
    /// The cgroup path (`procconn::ProcessInfo::cgroup`).
    pub cgroup: Option<String>,
    /// The pid inside its innermost pid namespace (`NSpid:`).
    pub ns_pid: Option<Pid>,
    /// The inode of its pid namespace when nested.
    pub pid_ns: Option<u64>,
}

/// A source of process information the attributor reads and keeps current.
pub trait ProcessView {
    /// Applies a process event (fork/exec/exit...) to the view.
    fn apply(&mut self, ev: &ProcEvent);
    /// The latest process with this pid (live or retained after exit).
    fn process(&self, pid: Pid) -> Option<ProcessSnapshot>;
    /// The process (tgid) a thread id belongs to.
    fn tgid_of(&self, tid: Pid) -> Option<Pid>;
    /// The spawn chain of `pid`, nearest first, excluding `pid` itself, up
    /// to pid 1, including exited processes. It may stop after the
    /// nearest [`crate::report::MAX_ANCESTORS`] + 1 (the reports keep that
    /// many; one more tells that the chain goes on): copying thousands per
    /// report would make a long chain's kills cost the square of its
    /// length.
    fn ancestry(&self, pid: Pid) -> Vec<ProcessSnapshot>;
    /// Drops retained information that is too old (`now_ns` on the same
    /// clock as event timestamps).
    fn expire(&mut self, _now_ns: u64) {}
    /// Whether a live process other than those in `except` sits in
    /// `cgroup` or a cgroup below it, as far as the view knows; `None` when
    /// the view cannot tell.
    fn live_in_cgroup(&self, _cgroup: &str, _except: &HashSet<Pid>) -> Option<bool> {
        None
    }
    /// Re-reads the cgroup of the process with this pid (live, or a zombie
    /// not yet reaped) from the host, when the view can: a process moves
    /// between cgroups without a process event. `false` when it could not
    /// (the default: a view without a host).
    fn refresh_cgroup(&mut self, _pid: Pid) -> bool {
        false
    }
}

/// `cgroup` is `ancestor` or below it (whole path components).
pub fn cgroup_within(cgroup: &str, ancestor: &str) -> bool {
    ancestor == "/"
        || cgroup == ancestor
        || cgroup
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A simple in-memory [`ProcessView`] fed only by events and explicit
/// inserts (no `/proc` reads): used by `sigwatch replay` (ancestry from the
/// log's own records) and by tests.
#[derive(Debug, Default, Clone)]
pub struct MemTree {
    procs: HashMap<Pid, ProcessSnapshot>,
    threads: HashMap<Pid, Pid>,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces a process.
    pub fn insert(&mut self, p: ProcessSnapshot) {
        self.procs.insert(p.pid, p);
    }

    /// Mutable access to a known process (e.g. to fill argv after an exec).
    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut ProcessSnapshot> {
        self.procs.get_mut(&pid)
    }

    /// Number of processes known.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Whether no process is known.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }
}

impl ProcessView for MemTree {
    fn live_in_cgroup(&self, cgroup: &str, except: &HashSet<Pid>) -> Option<bool> {
        Some(self.procs.values().any(|p| {
            !p.exited
                && !except.contains(&p.pid)
                && p.cgroup
                    .as_deref()
                    .is_some_and(|c| cgroup_within(c, cgroup))
        }))
    }

    fn apply(&mut self, ev: &ProcEvent) {
        match &ev.kind {
            EventKind::Fork {
                parent_tgid,
                child_pid,
                child_tgid,
                ..
            } => {
                if child_pid != child_tgid {
                    self.threads.insert(*child_pid, *child_tgid);
                    return;
                }
                // A forked child is a copy of its parent until it execs.
                let mut p = self.procs.get(parent_tgid).cloned().unwrap_or_default();
                p.pid = *child_tgid;
                p.ppid = Some(*parent_tgid);
                p.spawned_by = Some(*parent_tgid);
                p.start_time_ns = Some(ev.timestamp_ns);
                p.argv_after_exec = false;
                p.exited = false;
                p.exit_signal = None;
                p.exit_time_ns = None;
                self.procs.insert(*child_tgid, p);
            }
            EventKind::Comm {
                process_pid,
                process_tgid,
                comm,
            } if process_pid == process_tgid => {
                if let Some(p) = self.procs.get_mut(process_tgid) {
                    p.comm = Some(comm.clone());
                }
            }
            EventKind::Exit {
                process_pid,
                process_tgid,
                status,
                parent_tgid,
                ..
            } => {
                if process_pid != process_tgid {
                    return;
                }
                let p = self
                    .procs
                    .entry(*process_tgid)
                    .or_insert_with(|| ProcessSnapshot {
                        pid: *process_tgid,
                        ..Default::default()
                    });
                // As the process tree: the exit names the current parent
                // (a reaper after re-parenting).
                if let Some(pp) = parent_tgid.filter(|&pp| pp > 0) {
                    p.ppid = Some(pp);
                }
                p.exited = true;
                p.exit_signal = status.signal();
                p.exit_time_ns = Some(ev.timestamp_ns);
            }
            _ => {}
        }
    }

    fn process(&self, pid: Pid) -> Option<ProcessSnapshot> {
        self.procs.get(&pid).cloned()
    }

    fn tgid_of(&self, tid: Pid) -> Option<Pid> {
        if self.procs.contains_key(&tid) {
            return Some(tid);
        }
        self.threads.get(&tid).copied()
    }

    fn ancestry(&self, pid: Pid) -> Vec<ProcessSnapshot> {
        let mut out = Vec::new();
        let mut cur = pid;
        // Bounded walk: a corrupt or cyclic chain must not loop forever,
        // and reports keep only the nearest MAX_ANCESTORS (one more tells
        // that the chain goes on).
        for _ in 0..=crate::report::MAX_ANCESTORS {
            let Some(p) = self.procs.get(&cur) else { break };
            let Some(parent) = p.spawned_by.or(p.ppid) else {
                break;
            };
            if parent <= 0 || parent == cur {
                break;
            }
            match self.procs.get(&parent) {
                Some(pp) => out.push(pp.clone()),
                None => out.push(ProcessSnapshot {
                    pid: parent,
                    ..Default::default()
                }),
            }
            if parent == 1 {
                break;
            }
            cur = parent;
        }
        out
    }
}

fn snapshot_of(p: &procconn::ProcessInfo) -> ProcessSnapshot {
    ProcessSnapshot {
        pid: p.pid,
        ppid: (p.ppid > 0).then_some(p.ppid),
        spawned_by: p.spawned_by.map(|k| k.pid),
        comm: (!p.comm.is_empty()).then(|| p.comm.clone()),
        exe: p.exe.clone(),
        // An empty cmdline: a kernel thread, a zombie, or never read.
        argv: (!p.argv.is_empty()).then(|| p.argv.clone()),
        argv_truncated: p.argv_truncated && !p.argv.is_empty(),
        argv_after_exec: match p.source {
            procconn::InfoSource::Procfs => p.exec_count > 0,
            procconn::InfoSource::Seeded => true,
            _ => false,
        },
        cwd: p.cwd.clone(),
        uid: p.uid,
        start_time_ns: p.start_time_ns,
        exited: !p.is_alive(),
        liveness_unknown: false,
        details_stale: p.source == procconn::InfoSource::Inherited && p.exec_count > 0,
        exit_signal: p.exit.and_then(|e| e.status.signal()),
        exit_time_ns: p.exit.map(|e| e.time_ns),
        cgroup: p.cgroup.clone(),
        ns_pid: p.ns_pid,
        pid_ns: p.pid_ns,
    }
}

/// The live process tree of the `procconn` crate (kept from the proc
/// connector, details from `/proc`).
impl ProcessView for procconn::ProcessTree {
    fn apply(&mut self, ev: &ProcEvent) {
        procconn::ProcessTree::apply(self, ev);
    }

    fn process(&self, pid: Pid) -> Option<ProcessSnapshot> {
        self.get(pid).map(snapshot_of)
    }

    fn tgid_of(&self, tid: Pid) -> Option<Pid> {
        procconn::ProcessTree::tgid_of(self, tid)
    }

    fn ancestry(&self, pid: Pid) -> Vec<ProcessSnapshot> {
        procconn::ProcessTree::ancestry(self, pid)
            .into_iter()
            .take(crate::report::MAX_ANCESTORS + 1)
            .map(snapshot_of)
            .collect()
    }

    fn expire(&mut self, now_ns: u64) {
        procconn::ProcessTree::expire(self, now_ns);
    }

    fn refresh_cgroup(&mut self, pid: Pid) -> bool {
        procconn::ProcessTree::refresh_cgroup(self, pid)
    }

    fn live_in_cgroup(&self, cgroup: &str, except: &HashSet<Pid>) -> Option<bool> {
        Some(self.iter().any(|p| {
            p.is_alive()
                && !except.contains(&p.pid)
                && p.cgroup
                    .as_deref()
                    .is_some_and(|c| cgroup_within(c, cgroup))
        }))
    }
}
