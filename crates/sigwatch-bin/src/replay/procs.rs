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
//!
//! The table is touched for every event of a log, most of which never
//! matter to a kill, so it is kept cheap: the strings of a process (comm,
//! exe, cwd, argv) are shared ([`Shared`]) through a bounded interner —
//! a log names the same few programs and directories over and over — so
//! a new process usually costs no string allocation, and forgetting one
//! frees none.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use auditsig::value::split_proctitle;

/// A string of the process history, shared between the processes that
/// have it (see [`ProcTable`]'s interner).
pub type Shared = Arc<[u8]>;

/// One process as the log shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proc {
    /// Process id (tgid).
    pub pid: i32,
    /// `ppid=` of its records.
    pub ppid: Option<i32>,
    /// `comm=` (or `ocomm=` when only a kill named it).
    pub comm: Option<Shared>,
    /// `exe=`.
    pub exe: Option<Shared>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `cwd=` of its latest `CWD` record.
    pub cwd: Option<Shared>,
    /// argv of its latest `EXECVE` records (NUL-joined), with the image
    /// (see `image`) it belongs to.
    pub exec_argv: Option<(Shared, u32)>,
    /// `exec_argv` is cut (to [`crate::replay::ReplayConfig::max_argv_bytes`]).
    pub exec_argv_truncated: bool,
    /// Its latest `PROCTITLE` (decoded, NUL-separated), with the image it
    /// was logged with.
    pub proctitle: Option<(Shared, u32)>,
    /// Counts the changes of `exe`: an argv is valid only for the image it
    /// was logged with.
    pub image: u32,
    /// Record time (ms since the epoch) it was first and last seen.
    pub first_ms: u64,
    /// See `first_ms`.
    pub last_ms: u64,
    seq: u64,
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
    /// argv of the event's `EXECVE` records (an exec), NUL-joined.
    pub exec_argv: Option<&'a [u8]>,
    /// `exec_argv` is cut (the caller bounds what the table keeps).
    pub exec_argv_truncated: bool,
    /// The event's decoded `PROCTITLE`.
    pub proctitle: Option<&'a [u8]>,
    /// The event's `CWD`.
    pub cwd: Option<&'a [u8]>,
    /// Record time, ms.
    pub ms: u64,
}

/// The generations of one (node, pid), with the time it was last touched
/// kept inline so that eviction scans only the table, not the processes.
#[derive(Debug)]
struct Slot {
    last_seq: u64,
    gens: Vec<Proc>,
}

impl Default for Slot {
    /// Most pids have one generation: room for one, not the usual four.
    fn default() -> Self {
        Slot {
            last_seq: 0,
            gens: Vec::with_capacity(1),
        }
    }
}

/// Generations kept per (node, pid): older ones matter only as ancestors
/// of processes still in the table.
const GENERATIONS_PER_PID: usize = 4;

/// A multiplicative hash for the table's small integer keys: the table is
/// touched for every event of a log, and its keys are not chosen by an
/// adversary who could aim at collisions any better than by using pids.
#[derive(Debug, Default, Clone, Copy)]
struct PidHasher(u64);

impl Hasher for PidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Eight bytes at a time: the interner hashes paths and argvs.
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_i32(&mut self, v: i32) {
        self.write_u64(u64::from(v as u32));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// The strings of the processes in the table, each kept once.
///
/// Bounded: when it holds [`Interner::limit`] strings, those no process
/// shares any more are dropped. Every process holds at most five strings,
/// so the limit (more than five per process of the table's capacity)
/// always leaves room after a purge.
#[derive(Debug)]
struct Interner {
    set: HashSet<Shared, BuildHasherDefault<PidHasher>>,
    limit: usize,
}

impl Interner {
    fn new(procs: usize) -> Self {
        Interner {
            set: HashSet::default(),
            limit: procs.saturating_mul(6).saturating_add(1024),
        }
    }

    /// The shared copy of `b`.
    fn get(&mut self, b: &[u8]) -> Shared {
        if let Some(s) = self.set.get(b) {
            return Arc::clone(s);
        }
        if self.set.len() >= self.limit {
            self.set.retain(|s| Arc::strong_count(s) > 1);
        }
        let s: Shared = Arc::from(b);
        self.set.insert(Arc::clone(&s));
        s
    }
}

/// The table's counters, apart from the map so that a slot of the map
/// and they can be changed together.
#[derive(Debug, Default)]
struct Counts {
    /// Generations kept.
    len: usize,
    /// Generations dropped to bound memory.
    evicted: u64,
    /// Pids seen belonging to a new process.
    reused: u64,
}

impl Counts {
    /// `p` now has the pid of `gens` (a new process, or the first one
    /// seen); the oldest generation beyond [`GENERATIONS_PER_PID`] goes.
    fn new_generation(&mut self, gens: &mut Vec<Proc>, p: Proc) {
        if !gens.is_empty() {
            self.reused += 1;
        }
        if gens.len() >= GENERATIONS_PER_PID {
            gens.remove(0);
            self.len -= 1;
            self.evicted += 1;
        }
        gens.push(p);
        self.len += 1;
    }
}

/// Processes by (node, pid), bounded. See the module documentation.
#[derive(Debug)]
pub struct ProcTable {
    map: HashMap<(u32, i32), Slot, BuildHasherDefault<PidHasher>>,
    nodes: HashMap<Box<[u8]>, u32>,
    /// The node looked up last, and its id.
    last_node: Option<(Box<[u8]>, u32)>,
    strings: Interner,
    /// Reused by [`ProcTable::shrink`].
    scratch: Vec<(u64, usize)>,
    counts: Counts,
    cap: usize,
    seq: u64,
}

/// Distinct `node=` names kept apart; more share one id (and are counted
/// as one host).
const MAX_NODES: usize = 4096;

impl ProcTable {
    /// A table of at most `cap` generations (at least 16).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(16);
        ProcTable {
            map: HashMap::default(),
            nodes: HashMap::new(),
            last_node: None,
            strings: Interner::new(cap),
            scratch: Vec::new(),
            counts: Counts::default(),
            cap,
            seq: 0,
        }
    }

    /// The most generations kept.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Generations kept now.
    pub fn len(&self) -> usize {
        self.counts.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.counts.len == 0
    }

    /// Generations dropped to stay within the capacity.
    pub fn evicted(&self) -> u64 {
        self.counts.evicted
    }

    /// Times a pid was seen belonging to a new process.
    pub fn reused(&self) -> u64 {
        self.counts.reused
    }

    /// A small number for a `node=` name (0 for none).
    pub fn node_id(&mut self, node: Option<&[u8]>) -> u32 {
        let Some(n) = node else { return 0 };
        // Consecutive events are mostly of one host.
        if let Some((last, id)) = &self.last_node {
            if **last == *n {
                return *id;
            }
        }
        if let Some(&id) = self.nodes.get(n) {
            self.last_node = Some((n.into(), id));
            return id;
        }
        if self.nodes.len() >= MAX_NODES {
            return u32::MAX;
        }
        let id = self.nodes.len() as u32 + 1;
        self.nodes.insert(n.into(), id);
        id
    }

    /// Every generation kept, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Proc> {
        self.map.values().flat_map(|s| s.gens.iter())
    }

    /// The current process with `pid` on `node`.
    pub fn current(&self, node: u32, pid: i32) -> Option<&Proc> {
        self.map.get(&(node, pid)).and_then(|g| g.gens.last())
    }

    /// The process with `pid` on `node` that existed at record time `ms`
    /// (the latest generation first seen no later than `ms`; else the
    /// oldest known, which was first seen later but may have existed).
    pub fn at(&self, node: u32, pid: i32, ms: u64) -> Option<&Proc> {
        let gens = &self.map.get(&(node, pid))?.gens;
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
        let slot = self.map.entry(key).or_default();
        slot.last_seq = seq;
        let gens = &mut slot.gens;
        let reuse = match gens.last() {
            None => true,
            Some(cur) => matches!((cur.ppid, s.ppid), (Some(a), Some(b)) if a != b && b != 1),
        };
        if reuse {
            let p = Proc {
                pid: s.pid,
                first_ms: s.ms,
                ..Proc::default()
            };
            self.counts.new_generation(gens, p);
        }
        let Some(p) = gens.last_mut() else { return };
        p.seq = seq;
        p.last_ms = p.last_ms.max(s.ms);
        p.first_ms = p.first_ms.min(s.ms);
        if s.ppid.is_some() {
            p.ppid = s.ppid;
        }
        let strings = &mut self.strings;
        set_if_changed(&mut p.comm, s.comm, strings);
        if set_if_changed(&mut p.exe, s.exe, strings) {
            p.image = p.image.wrapping_add(1);
        }
        if s.uid.is_some() {
            p.uid = s.uid;
        }
        if let Some(cwd) = s.cwd {
            set_if_changed(&mut p.cwd, Some(cwd), strings);
        }
        if let Some(argv) = s.exec_argv {
            p.exec_argv = Some((share(&p.exec_argv, argv, strings), p.image));
            p.exec_argv_truncated = s.exec_argv_truncated;
        }
        if let Some(raw) = s.proctitle {
            // After an exec the title is usually that exec's argv.
            let title = match &p.exec_argv {
                Some((argv, image)) if *image == p.image && **argv == *raw => Arc::clone(argv),
                _ => share(&p.proctitle, raw, strings),
            };
            p.proctitle = Some((title, p.image));
        }
        if self.counts.len > self.cap {
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
        let slot = self.map.entry((node, pid)).or_default();
        slot.last_seq = seq;
        let gens = &mut slot.gens;
        let fresh = match gens.last() {
            Some(cur) => cur.comm.as_deref() != Some(comm),
            None => true,
        };
        if fresh {
            let p = Proc {
                pid,
                comm: Some(self.strings.get(comm)),
                uid,
                first_ms: ms,
                last_ms: ms,
                ..Proc::default()
            };
            self.counts.new_generation(gens, p);
        }
        if let Some(p) = gens.last_mut() {
            p.seq = seq;
            p.last_ms = p.last_ms.max(ms);
        }
        if self.counts.len > self.cap {
            self.shrink();
        }
    }

    /// Drops the pids least recently seen until a quarter of the
    /// capacity is free.
    fn shrink(&mut self) {
        let target = self.cap - self.cap / 4;
        let seqs = &mut self.scratch;
        seqs.clear();
        seqs.extend(self.map.values().map(|s| (s.last_seq, s.gens.len())));
        let mut excess = self.counts.len.saturating_sub(target);
        // Every slot holds at least one generation, so the `excess` least
        // recently seen slots are enough: only they are put in order.
        let k = excess.min(seqs.len());
        if k == 0 {
            return;
        }
        if k < seqs.len() {
            seqs.select_nth_unstable_by_key(k - 1, |&(q, _)| q);
        }
        seqs[..k].sort_unstable_by_key(|&(q, _)| q);
        let mut cut = 0;
        for &(q, n) in &seqs[..k] {
            if excess == 0 {
                break;
            }
            cut = q;
            excess = excess.saturating_sub(n);
        }
        let mut removed = 0;
        self.map.retain(|_, slot| {
            let keep = slot.last_seq > cut;
            if !keep {
                removed += slot.gens.len();
            }
            keep
        });
        self.counts.len -= removed;
        self.counts.evicted += removed as u64;
    }
}

/// Sets `slot` to `v` when it differs; true when a known value changed.
fn set_if_changed(slot: &mut Option<Shared>, v: Option<&[u8]>, strings: &mut Interner) -> bool {
    match v {
        Some(v) if slot.as_deref() != Some(v) => {
            let was_known = slot.is_some();
            *slot = Some(strings.get(v));
            was_known
        }
        _ => false,
    }
}

/// The shared copy of `v`, reusing `old`'s when it is the same.
fn share(old: &Option<(Shared, u32)>, v: &[u8], strings: &mut Interner) -> Shared {
    match old {
        Some((s, _)) if **s == *v => Arc::clone(s),
        _ => strings.get(v),
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
    let r = argv_in_log(p, proctitle, exe, comm);
    (r.argv, r.truncated)
}

/// [`trusted_argv`] with whether a `PROCTITLE` was set aside: the same
/// decision as for a live sender ([`crate::argv::sender_argv`]), with the
/// latest `EXECVE` argv of the process's current image in the place of
/// the process tree's argv read after the last exec.
pub fn argv_in_log(
    p: Option<&Proc>,
    proctitle: Option<&[u8]>,
    exe: Option<&[u8]>,
    comm: Option<&[u8]>,
) -> crate::argv::SenderArgv {
    // The process's current image is `exe` when the caller's exe is the
    // process's (or unknown).
    let same_image = |p: &Proc| exe.is_none() || p.exe.as_deref() == exe;
    let exec = p.and_then(|p| {
        p.exec_argv
            .as_ref()
            .filter(|(_, i)| *i == p.image && same_image(p))
            .map(|(argv, _)| (split_proctitle(argv), p.exec_argv_truncated))
    });
    let (exec_argv, exec_cut) = match exec {
        Some((a, cut)) => (Some(a), cut),
        None => (None, false),
    };
    let raw = proctitle.or_else(|| {
        p.filter(|p| same_image(p))
            .and_then(|p| p.proctitle.as_ref().filter(|(_, i)| *i == p.image))
            .map(|(raw, _)| &raw[..])
    });
    let title = raw.map(split_proctitle);
    let view = crate::argv::AuditView {
        comm,
        exe,
        proctitle: title.as_deref(),
        proctitle_truncated: raw
            .is_some_and(|r| r.len() >= auditsig::kill::MAX_PROCTITLE_AUDIT_LEN),
    };
    let tree = exec_argv.as_deref().map(|argv| crate::argv::TreeView {
        comm,
        exe,
        argv,
        read_after_exec: true,
        truncated: exec_cut,
    });
    crate::argv::sender_argv(&view, tree.as_ref(), &crate::argv::resolve_on_host)
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
            exe: Some(Shared::from(&b"/usr/bin/sleep"[..])),
            exec_argv: Some((Shared::from(&b"sleep\09"[..]), 0)),
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
