//! The processes an audit log names, by identity rather than by pid.
//!
//! A log spans days; pids are reused. Every `SYSCALL` record names the
//! calling process (`pid`, `ppid`, `comm`, `exe`, `uid`), `EXECVE` the argv
//! of a new image, `CWD` its directory, `PROCTITLE` the argv the kernel
//! cached at the task's first audited syscall. [`ProcTable`] keeps, per
//! (node, pid), a short history of the processes ("generations") that had
//! that pid, in record-time order:
//!
//! - a `SYSCALL` record whose `ppid` differs from the current generation's
//!   (other than a re-parenting to init) starts a new generation: the pid
//!   belongs to a different process now;
//! - an `OBJ_PID` record whose `ocomm` differs from the current
//!   generation's comm starts a new one too: the kill's own record is
//!   fresher than an older exec of the same pid;
//! - a parent is the generation of its pid that existed when the child
//!   was first seen.
//!
//! Memory is bounded: at most [`ProcTable::capacity`] generations are
//! kept; the least recently seen ones are dropped (and counted).

use std::collections::HashMap;

use auditsig::value::split_proctitle;

/// One process as the log shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proc {
    /// Process id (tgid).
    pub pid: i32,
    /// `ppid=` of its records.
    pub ppid: Option<i32>,
    /// `comm=` (or `ocomm=` when only a kill named it).
    pub comm: Option<Vec<u8>>,
    /// `exe=`.
    pub exe: Option<Vec<u8>>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `cwd=` of its latest `CWD` record.
    pub cwd: Option<Vec<u8>>,
    /// argv of its latest `EXECVE` records, with the `exe` of that exec.
    pub exec_argv: Option<(Vec<Vec<u8>>, Option<Vec<u8>>)>,
    /// The raw `proctitle=` value of its latest `PROCTITLE` record (decoded
    /// only when a report needs it), with the `exe` and `comm` of that
    /// event.
    pub proctitle: Option<ProctitleSeen>,
    /// Record time (ms since the epoch) it was first and last seen.
    pub first_ms: u64,
    /// See `first_ms`.
    pub last_ms: u64,
    seq: u64,
}

/// A `PROCTITLE` value and the image it was logged with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProctitleSeen {
    /// The decoded `proctitle=` bytes (NUL-separated argv).
    pub raw: Vec<u8>,
    /// `exe=` of the same event.
    pub exe: Option<Vec<u8>>,
    /// `comm=` of the same event.
    pub comm: Option<Vec<u8>>,
}

/// What one `SYSCALL` event says about its caller.
#[derive(Debug, Clone, Default)]
pub struct Sighting<'a> {
    /// Interned node (see [`ProcTable::node_id`]).
    pub node: u32,
    /// `pid=`.
    pub pid: i32,
    /// `ppid=`.
    pub ppid: Option<i32>,
    /// `comm=`.
    pub comm: Option<&'a [u8]>,
    /// `exe=`.
    pub exe: Option<&'a [u8]>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// argv of the event's `EXECVE` records (an exec).
    pub exec_argv: Option<Vec<Vec<u8>>>,
    /// The event's decoded `PROCTITLE`.
    pub proctitle: Option<Vec<u8>>,
    /// The event's `CWD`.
    pub cwd: Option<Vec<u8>>,
    /// Record time, ms.
    pub ms: u64,
}

/// Generations kept per (node, pid): older ones matter only as ancestors
/// of processes still in the table.
const GENERATIONS_PER_PID: usize = 4;

/// Processes by (node, pid), bounded. See the module documentation.
#[derive(Debug)]
pub struct ProcTable {
    map: HashMap<(u32, i32), Vec<Proc>>,
    nodes: HashMap<Box<[u8]>, u32>,
    len: usize,
    cap: usize,
    seq: u64,
    evicted: u64,
    reused: u64,
}

/// Distinct `node=` names kept apart; more share one id (and are counted
/// as one host).
const MAX_NODES: usize = 4096;

impl ProcTable {
    /// A table of at most `cap` generations (at least 16).
    pub fn new(cap: usize) -> Self {
        ProcTable {
            map: HashMap::new(),
            nodes: HashMap::new(),
            len: 0,
            cap: cap.max(16),
            seq: 0,
            evicted: 0,
            reused: 0,
        }
    }

    /// The most generations kept.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Generations kept now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Generations dropped to stay within the capacity.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Times a pid was seen belonging to a new process.
    pub fn reused(&self) -> u64 {
        self.reused
    }

    /// A small number for a `node=` name (0 for none).
    pub fn node_id(&mut self, node: Option<&[u8]>) -> u32 {
        let Some(n) = node else { return 0 };
        if let Some(&id) = self.nodes.get(n) {
            return id;
        }
        if self.nodes.len() >= MAX_NODES {
            return u32::MAX;
        }
        let id = self.nodes.len() as u32 + 1;
        self.nodes.insert(n.into(), id);
        id
    }

    /// The current process with `pid` on `node`.
    pub fn current(&self, node: u32, pid: i32) -> Option<&Proc> {
        self.map.get(&(node, pid)).and_then(|g| g.last())
    }

    /// The process with `pid` on `node` that existed at record time `ms`
    /// (the latest generation first seen no later than `ms`; else the
    /// oldest known, which was first seen later but may have existed).
    pub fn at(&self, node: u32, pid: i32, ms: u64) -> Option<&Proc> {
        let gens = self.map.get(&(node, pid))?;
        gens.iter()
            .rev()
            .find(|p| p.first_ms <= ms)
            .or_else(|| gens.first())
    }

    /// Applies a `SYSCALL` event's facts about its caller.
    pub fn observe(&mut self, s: Sighting<'_>) {
        self.seq += 1;
        let seq = self.seq;
        let key = (s.node, s.pid);
        let gens = self.map.entry(key).or_default();
        let reuse = match gens.last() {
            None => true,
            Some(cur) => matches!((cur.ppid, s.ppid), (Some(a), Some(b)) if a != b && b != 1),
        };
        if reuse {
            if !gens.is_empty() {
                self.reused += 1;
            }
            if gens.len() >= GENERATIONS_PER_PID {
                gens.remove(0);
                self.len -= 1;
                self.evicted += 1;
            }
            gens.push(Proc {
                pid: s.pid,
                first_ms: s.ms,
                ..Proc::default()
            });
            self.len += 1;
        }
        let Some(p) = gens.last_mut() else { return };
        p.seq = seq;
        p.last_ms = p.last_ms.max(s.ms);
        p.first_ms = p.first_ms.min(s.ms);
        if s.ppid.is_some() {
            p.ppid = s.ppid;
        }
        set_if_changed(&mut p.comm, s.comm);
        set_if_changed(&mut p.exe, s.exe);
        if s.uid.is_some() {
            p.uid = s.uid;
        }
        if let Some(cwd) = s.cwd {
            p.cwd = Some(cwd);
        }
        if let Some(argv) = s.exec_argv {
            p.exec_argv = Some((argv, s.exe.map(<[u8]>::to_vec)));
        }
        if let Some(raw) = s.proctitle {
            p.proctitle = Some(ProctitleSeen {
                raw,
                exe: s.exe.map(<[u8]>::to_vec),
                comm: s.comm.map(<[u8]>::to_vec),
            });
        }
        if self.len > self.cap {
            self.shrink();
        }
    }

    /// Applies what an `OBJ_PID` record says: `pid` is now a process named
    /// `comm` (uid `uid`). A different comm than the current generation's
    /// means another process (or an exec this log did not record): either
    /// way the older image's details are not the target's.
    pub fn observe_target(
        &mut self,
        node: u32,
        pid: i32,
        comm: Option<&[u8]>,
        uid: Option<u32>,
        ms: u64,
    ) {
        let Some(comm) = comm else { return };
        self.seq += 1;
        let seq = self.seq;
        let gens = self.map.entry((node, pid)).or_default();
        let fresh = match gens.last() {
            Some(cur) => cur.comm.as_deref() != Some(comm),
            None => true,
        };
        if fresh {
            if !gens.is_empty() {
                self.reused += 1;
            }
            if gens.len() >= GENERATIONS_PER_PID {
                gens.remove(0);
                self.len -= 1;
                self.evicted += 1;
            }
            gens.push(Proc {
                pid,
                comm: Some(comm.to_vec()),
                uid,
                first_ms: ms,
                last_ms: ms,
                ..Proc::default()
            });
            self.len += 1;
        }
        if let Some(p) = gens.last_mut() {
            p.seq = seq;
            p.last_ms = p.last_ms.max(ms);
        }
        if self.len > self.cap {
            self.shrink();
        }
    }

    /// Drops the least recently seen eighth of the generations.
    fn shrink(&mut self) {
        let target = self.cap - self.cap / 8;
        let mut seqs: Vec<u64> = self
            .map
            .values()
            .flat_map(|g| g.iter().map(|p| p.seq))
            .collect();
        let drop = seqs.len().saturating_sub(target);
        if drop == 0 {
            return;
        }
        let (_, &mut cut, _) = seqs.select_nth_unstable(drop - 1);
        let mut removed = 0;
        self.map.retain(|_, gens| {
            let before = gens.len();
            gens.retain(|p| p.seq > cut);
            removed += before - gens.len();
            !gens.is_empty()
        });
        self.len -= removed;
        self.evicted += removed as u64;
    }
}

fn set_if_changed(slot: &mut Option<Vec<u8>>, v: Option<&[u8]>) {
    if let Some(v) = v {
        if slot.as_deref() != Some(v) {
            *slot = Some(v.to_vec());
        }
    }
}

/// The argv a report may show for `p` (running image `exe`, name `comm`),
/// and whether it is cut (`PROCTITLE` keeps 128 bytes).
///
/// The kernel caches `PROCTITLE` at a task's first audited syscall and
/// never refreshes it on exec (`audit_log_proctitle()` in
/// `kernel/auditsc.c`), so on a host that audits `execve` it can be a
/// previous program's argv. Order of trust: the latest `EXECVE` argv of
/// this very image; then a `PROCTITLE` that agrees with the image (one of
/// its first arguments names the comm or the exe); else unknown.
pub fn trusted_argv(
    p: Option<&Proc>,
    proctitle: Option<&[u8]>,
    exe: Option<&[u8]>,
    comm: Option<&[u8]>,
) -> (Option<Vec<Vec<u8>>>, Option<bool>) {
    if let Some((argv, exec_exe)) = p.and_then(|p| p.exec_argv.as_ref()) {
        if exe.is_none() || exec_exe.as_deref() == exe {
            return (Some(argv.clone()), Some(false));
        }
    }
    let raw = proctitle.or_else(|| {
        p.and_then(|p| p.proctitle.as_ref())
            .filter(|t| t.exe.as_deref() == exe || exe.is_none())
            .map(|t| t.raw.as_slice())
    });
    let Some(raw) = raw else {
        return (None, None);
    };
    let argv = split_proctitle(raw);
    if !agrees(&argv, exe, comm) {
        return (None, None);
    }
    let cut = raw.len() >= auditsig::kill::MAX_PROCTITLE_AUDIT_LEN;
    (Some(argv), Some(cut))
}

/// Whether a `PROCTITLE` argv can belong to the image `exe`/`comm`: one of
/// its first three arguments (interpreters put the script second or
/// third) ends in the comm (the kernel cuts comm to 15 bytes) or names the
/// same file as exe.
fn agrees(argv: &[Vec<u8>], exe: Option<&[u8]>, comm: Option<&[u8]>) -> bool {
    if exe.is_none() && comm.is_none() {
        return true;
    }
    let base = |b: &[u8]| -> Vec<u8> {
        match b.iter().rposition(|&c| c == b'/') {
            Some(i) => b[i + 1..].to_vec(),
            None => b.to_vec(),
        }
    };
    let exe_base = exe.map(base);
    argv.iter().take(3).any(|a| {
        let b = base(a);
        let by_comm = comm.is_some_and(|c| !c.is_empty() && b.starts_with(c));
        let by_exe = exe_base.as_deref().is_some_and(|e| e == b.as_slice());
        // A login shell's argv[0] is `-bash`.
        let dashed = b.strip_prefix(b"-").is_some_and(|d| comm == Some(d));
        by_comm || by_exe || dashed
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sight<'a>(pid: i32, ppid: i32, comm: &'a str, ms: u64) -> Sighting<'a> {
        Sighting {
            pid,
            ppid: Some(ppid),
            comm: Some(comm.as_bytes()),
            exe: Some(comm.as_bytes()),
            ms,
            ..Sighting::default()
        }
    }

    #[test]
    fn pid_reuse_starts_a_new_generation_and_parents_are_looked_up_in_time() {
        let mut t = ProcTable::new(100);
        t.observe(sight(50, 1, "olddaemon", 1_000));
        t.observe(sight(60, 50, "child", 2_000));
        // Pid 50 reused a day later by an unrelated process.
        t.observe(sight(50, 77, "newcomer", 86_400_000));
        assert_eq!(t.reused(), 1);
        assert_eq!(
            t.current(0, 50).unwrap().comm.as_deref(),
            Some(&b"newcomer"[..])
        );
        // The child's parent is the process pid 50 was when the child was seen.
        let child = t.current(0, 60).unwrap().clone();
        let parent = t.at(0, 50, child.first_ms).unwrap();
        assert_eq!(parent.comm.as_deref(), Some(&b"olddaemon"[..]));
        // Re-parenting to init is not reuse.
        t.observe(sight(60, 1, "child", 3_000));
        assert_eq!(t.reused(), 1);
    }

    #[test]
    fn obj_pid_comm_beats_an_older_exec() {
        let mut t = ProcTable::new(100);
        t.observe(sight(70, 1, "firefox", 1_000));
        t.observe_target(0, 70, Some(b"postgres"), Some(26), 90_000_000);
        let cur = t.current(0, 70).unwrap();
        assert_eq!(cur.comm.as_deref(), Some(&b"postgres"[..]));
        assert_eq!(cur.exe, None);
        // Same comm: the same process, nothing new.
        t.observe_target(0, 70, Some(b"postgres"), Some(26), 90_000_001);
        assert_eq!(t.reused(), 1);
    }

    #[test]
    fn nodes_are_kept_apart() {
        let mut t = ProcTable::new(100);
        let a = t.node_id(Some(b"a"));
        let b = t.node_id(Some(b"b"));
        assert_ne!(a, b);
        assert_eq!(t.node_id(Some(b"a")), a);
        let mut s = sight(5, 1, "on-a", 1);
        s.node = a;
        t.observe(s);
        assert!(t.current(b, 5).is_none());
        assert!(t.current(a, 5).is_some());
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = ProcTable::new(1000);
        for pid in 0..300_000 {
            t.observe(sight(pid, 1, "x", pid as u64));
        }
        assert!(t.len() <= 1000, "{}", t.len());
        assert!(t.evicted() >= 299_000);
        // The most recent ones are kept.
        assert!(t.current(0, 299_999).is_some());
    }

    #[test]
    fn stale_proctitle_is_not_trusted() {
        // setsid setpriv ... /bin/sh guard.sh: PROCTITLE cached at the
        // first exec; the image is dash running guard.sh.
        let stale = b"setsid\0setpriv\0--reuid=65534\0/opt/jobs/guard.sh\0--mode\0restart";
        let (argv, _) = trusted_argv(None, Some(stale), Some(b"/usr/bin/dash"), Some(b"guard.sh"));
        assert_eq!(argv, None);
        let good = b"/bin/sh\0/opt/jobs/guard.sh\0--mode\0restart";
        let (argv, cut) = trusted_argv(None, Some(good), Some(b"/usr/bin/dash"), Some(b"guard.sh"));
        assert_eq!(argv.unwrap().len(), 4);
        assert_eq!(cut, Some(false));
        // An EXECVE argv of the same image wins over any PROCTITLE.
        let p = Proc {
            exec_argv: Some((
                vec![b"sleep".to_vec(), b"9".to_vec()],
                Some(b"/usr/bin/sleep".to_vec()),
            )),
            ..Proc::default()
        };
        let (argv, _) = trusted_argv(
            Some(&p),
            Some(b"bash"),
            Some(b"/usr/bin/sleep"),
            Some(b"sleep"),
        );
        assert_eq!(argv.unwrap()[1], b"9");
        // ... but not one of an earlier image.
        let (argv, _) = trusted_argv(
            Some(&p),
            Some(b"-bash"),
            Some(b"/usr/bin/bash"),
            Some(b"bash"),
        );
        assert_eq!(argv.unwrap(), vec![b"-bash".to_vec()]);
    }
}
