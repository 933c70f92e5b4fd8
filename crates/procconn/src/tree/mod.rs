//! [`ProcessTree`]: every process of the host, kept current from proc
//! connector events, remembering exited processes for a while.
//!
//! The tree is a pure state machine over [`ProcEvent`]s plus a
//! [`ProcSource`] (the real `/proc`, or [`crate::procfs::FakeProc`] in tests).
//!
//! # Identity
//!
//! A process is identified by a [`ProcessKey`] (pid + start time), so a pid
//! reused by a new process never merges two processes: a fork of a pid that is
//! still live in the tree means we missed the old one's exit (lost events),
//! and the old entry is closed as [`ProcessInfo::vanished`].
//!
//! # What is read from `/proc`, and when
//!
//! After a fork, the child's `/proc/<pid>/stat` (comm, current ppid, start
//! time) plus [`TreeConfig::fork_fields`]; everything not read is copied from
//! the parent, which is exact at fork time: credentials, login uid, audit
//! session, cgroup and cwd are inherited by `fork()`, and exe/argv stay the
//! parent's until the child execs. After an exec, [`TreeConfig::exec_fields`]
//! (by default everything: exe, argv, cwd, comm, ids, cgroup, login uid,
//! session — an exec is where systemd-style launchers have finished moving
//! the child into its cgroup and session). A read that fails (the process is
//! already gone, or its pid already names a newer process, detected by the
//! start time) keeps what the process had and says
//! [`InfoSource::Inherited`].
//!
//! # Threads
//!
//! Fork events with `child_pid != child_tgid` announce threads: the tid is
//! mapped to its process, no process is created. A non-leader thread's exit
//! only removes the mapping. The exit of the thread-group leader
//! (`pid == tgid`) ends the process when no other known thread of it is left;
//! otherwise the exit is held until the last thread's exit arrives (a leader
//! may `pthread_exit()` while the process lives on, and in an `exit_group()`
//! the threads' exit events arrive in any order). The leader's exit status is
//! the process's. An exec discards the process's other threads (the kernel
//! kills them in `de_thread()`), and a leader exit whose timestamp precedes
//! the process's latest exec is ignored: that is the old leader being reaped
//! by a non-leader thread's exec, not the process ending.
//!
//! # Retention
//!
//! Exited processes stay in the tree for [`TreeConfig::retain_exited_for`]
//! and at most [`TreeConfig::max_exited`] of them (oldest exit first). An
//! exited process that is still the spawner (`spawned_by`) of a retained
//! process — live or exited — is *pinned*: kept while needed, up to
//! [`TreeConfig::max_pinned`] pinned ones (beyond that the oldest is dropped
//! and its descendants' ancestry ends there; counted in
//! [`TreeStats::dropped_pinned`]). Memory is thus bounded by
//! live processes + `max_exited` + `max_pinned`. Expiry is incremental (a
//! queue in exit order) and runs inside [`ProcessTree::apply`]; no event
//! costs a scan of the tree.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use crate::event::{EventKind, ExitStatus, Pid, ProcEvent};
use crate::procfs::{Fields, ProcFs, ProcSource, Snapshot};
use crate::Result;

mod fuzz;
#[doc(hidden)]
pub use fuzz::fuzz_events;

/// How far apart (ns) a `/proc` start time and a fork event timestamp may be
/// and still name the same process. `stat` start times are truncated to a
/// clock tick (10 ms at `CLK_TCK` = 100) and taken a little before the fork
/// event; a pid cannot be reused within this window unless the host creates
/// `pid_max` processes in it (131k/s with the smallest default `pid_max`).
pub const START_TOLERANCE_NS: u64 = 250_000_000;

/// How far apart (ns) the `/proc` start time of a process born from a
/// fork event may be from that event's timestamp: `stat` start times are
/// truncated to a clock tick (`USER_HZ` is 100 on Linux: 10 ms) and taken
/// just before the event; twice that, plus a margin. Used when nothing was
/// read at the fork ([`TreeConfig::read_after_fork`] off), where the exact
/// start ticks of a fork-time read are not there to compare: pids can be
/// freed and handed out again within [`START_TOLERANCE_NS`] on a busy host.
pub const FORK_START_TOLERANCE_NS: u64 = 25_000_000;

/// Whether `snap`, read from `/proc` for `key`'s pid, is of the process
/// `key` names (and not of a newer one that took the pid): the same `stat`
/// start tick once one was read (`ticks`); else the start its event gave,
/// within [`FORK_START_TOLERANCE_NS`] for a process born from its fork
/// event (its start is exact: a pid freed and taken again within the wide
/// tolerance must not pass for it), within [`START_TOLERANCE_NS`]
/// otherwise.
fn same_process(ticks: Option<u64>, from_fork: bool, key: ProcessKey, snap: &Snapshot) -> bool {
    match ticks {
        Some(t) => snap.start_ticks == t,
        None if from_fork => snap.start_time_ns.abs_diff(key.start_time) <= FORK_START_TOLERANCE_NS,
        None => snap.start_time_ns.abs_diff(key.start_time) <= START_TOLERANCE_NS,
    }
}

/// Identity of one process, unique across pid reuse.
///
/// `start_time` is in nanoseconds on the `CLOCK_MONOTONIC` clock of
/// [`ProcEvent::timestamp_ns`]: the fork event's timestamp for processes born
/// while the tree listened; the `/proc/<pid>/stat` start time (clock ticks,
/// converted, time spent suspended subtracted) for processes found by the
/// start-up scan or first met in a later event; the first event's timestamp
/// when `/proc` had nothing. The tree guarantees uniqueness (on an exact
/// collision, the later key is bumped by 1 ns), so treat it as an opaque
/// identity, not as a precise clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProcessKey {
    /// The process id (tgid).
    pub pid: Pid,
    /// Start time in ns, `CLOCK_MONOTONIC` (see the type's doc).
    pub start_time: u64,
}

/// Where a [`ProcessInfo`]'s details came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum InfoSource {
    /// Read from `/proc` right after the process's latest fork or exec (or
    /// when it was first met).
    Procfs,
    /// `/proc` could not be read in time: the details are its parent's (after
    /// a fork), or what it had before its latest exec (check
    /// [`ProcessInfo::exec_count`]).
    Inherited,
    /// Found by the start-up `/proc` scan ([`ProcessTree::seed_from_proc`]).
    Seeded,
    /// Known only from events: nothing was readable and no parent was known.
    EventOnly,
}

/// How and when a process ended (from its leader's `exit_proc_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ExitInfo {
    /// `exit_code` decoded.
    pub status: ExitStatus,
    /// `exit_proc_event.exit_code`: the raw wait status.
    pub exit_code: u32,
    /// `proc_event.timestamp_ns` of the exit event (`CLOCK_MONOTONIC`).
    pub time_ns: u64,
}

/// Everything the tree knows about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// The identity.
    pub key: ProcessKey,
    /// The process id (tgid); same as `key.pid`.
    pub pid: Pid,
    /// The current parent (`task->real_parent->tgid`) as last seen: from
    /// `/proc` reads, or from the exit event's `parent_tgid` on kernels that
    /// send it, which shows re-parenting to a subreaper or pid 1.
    pub ppid: Pid,
    /// The process that forked this one (the fork event's parent), kept after
    /// re-parenting: the lineage. For processes found by the start-up scan it
    /// is their parent at scan time. `None` when unknown.
    pub spawned_by: Option<ProcessKey>,
    /// `task->comm` (at most 15 bytes, chosen by the process).
    pub comm: Vec<u8>,
    /// `/proc/<pid>/exe`.
    pub exe: Option<PathBuf>,
    /// `/proc/<pid>/cmdline` split at NULs, at most
    /// [`TreeConfig::max_argv_bytes`] bytes in total.
    pub argv: Vec<Vec<u8>>,
    /// `argv` was cut (by [`TreeConfig::max_argv_bytes`] or the reader's
    /// limit): the process had more arguments than shown.
    pub argv_truncated: bool,
    /// `/proc/<pid>/cwd`.
    pub cwd: Option<PathBuf>,
    /// Real uid (`cred->uid`).
    pub uid: Option<u32>,
    /// Effective uid (`cred->euid`).
    pub euid: Option<u32>,
    /// Real gid (`cred->gid`).
    pub gid: Option<u32>,
    /// Audit login uid (`task->loginuid`); `None` when unset (4294967295)
    /// or unreadable.
    pub loginuid: Option<u32>,
    /// Audit session id (`task->sessionid`); `None` when unset or unreadable.
    pub sessionid: Option<u32>,
    /// The cgroup path (see [`crate::procfs::CgroupPaths::primary`]: the
    /// v2 path, or the v1 `name=systemd`/`memory` path where the process
    /// sits deeper there).
    pub cgroup: Option<String>,
    /// The memory controller's cgroup path (where OOM limits apply).
    pub memory_cgroup: Option<String>,
    /// The pid inside the process's innermost pid namespace (`NSpid:`).
    pub ns_pid: Option<Pid>,
    /// The inode of its pid namespace when nested (`/proc/<pid>/ns/pid`).
    pub pid_ns: Option<u64>,
    /// Start time in ns on `CLOCK_MONOTONIC`, comparable with
    /// [`ProcEvent::timestamp_ns`]: exact (the fork event's timestamp) for
    /// processes born while listening; from `/proc/<pid>/stat` (tick
    /// precision, suspend time subtracted) for scanned ones.
    pub start_time_ns: Option<u64>,
    /// Where the details came from.
    pub source: InfoSource,
    /// How many exec events this process had while we watched.
    pub exec_count: u32,
    /// Set when the process ended.
    pub exit: Option<ExitInfo>,
    /// The process is gone but its exit event was never seen (events were
    /// lost): its pid was reused by a new fork, or
    /// [`ProcessTree::verify_live`] found it missing. `exit` is `None` then.
    pub vanished: bool,
}

impl ProcessInfo {
    /// About how many bytes this process's entry holds in a tree: its
    /// strings and argv (each heap block with the allocator's header) plus
    /// the entry itself and its places in the tree's indexes and queues
    /// (a hash slot with the table's spare room, the exit queue, the pid
    /// index).
    pub fn retained_bytes(&self) -> usize {
        /// The allocator's per-block header (glibc: 16 bytes).
        const BLOCK: usize = 16;
        let path = |p: &Option<PathBuf>| p.as_ref().map_or(0, |p| p.as_os_str().len() + BLOCK);
        let text = |t: &Option<String>| t.as_ref().map_or(0, |t| t.len() + BLOCK);
        ENTRY_BYTES
            + self.comm.capacity()
            + BLOCK
            + self.argv.capacity() * std::mem::size_of::<Vec<u8>>()
            + BLOCK
            + self
                .argv
                .iter()
                .map(|a| a.capacity() + BLOCK)
                .sum::<usize>()
            + path(&self.exe)
            + path(&self.cwd)
            + text(&self.cgroup)
            + text(&self.memory_cgroup)
    }

    /// Whether the process is still running (as far as the tree knows).
    pub fn is_alive(&self) -> bool {
        self.exit.is_none() && !self.vanished
    }

    fn blank(key: ProcessKey) -> Self {
        ProcessInfo {
            key,
            pid: key.pid,
            ppid: 0,
            spawned_by: None,
            comm: Vec::new(),
            exe: None,
            argv: Vec::new(),
            argv_truncated: false,
            cwd: None,
            uid: None,
            euid: None,
            gid: None,
            loginuid: None,
            sessionid: None,
            cgroup: None,
            memory_cgroup: None,
            ns_pid: None,
            pid_ns: None,
            start_time_ns: None,
            source: InfoSource::EventOnly,
            exec_count: 0,
            exit: None,
            vanished: false,
        }
    }

    /// Overwrites details with what `/proc` said. `full` means the read
    /// replaces everything requested even when a field was unreadable (after
    /// an exec the old exe/argv are wrong); otherwise only read values are
    /// taken.
    fn absorb(&mut self, s: &Snapshot, fields: Fields, full: bool, max_argv: usize) {
        self.comm.clone_from(&s.comm);
        if s.ppid > 0 || self.ppid == 0 {
            self.ppid = s.ppid;
        }
        if s.uid.is_some() {
            self.uid = s.uid;
            self.euid = s.euid;
        }
        if s.gid.is_some() {
            self.gid = s.gid;
        }
        let unset = |v: u32| (v != u32::MAX).then_some(v);
        if let Some(v) = s.loginuid {
            self.loginuid = unset(v);
        }
        if let Some(v) = s.sessionid {
            self.sessionid = unset(v);
        }
        if s.cgroup.is_some() {
            self.cgroup.clone_from(&s.cgroup);
            self.memory_cgroup.clone_from(&s.memory_cgroup);
        }
        if s.ns_pid.is_some() {
            self.ns_pid = s.ns_pid;
            self.pid_ns = s.pid_ns;
        }
        if s.exe.is_some() || (full && fields.contains(Fields::EXE)) {
            self.exe.clone_from(&s.exe);
        }
        if let Some(a) = &s.argv {
            self.argv_truncated = s.argv_truncated;
            if a.iter().map(Vec::len).sum::<usize>() <= max_argv {
                self.argv.clone_from(a);
            } else {
                // Bound memory: many retained processes × ARG_MAX would not.
                self.argv.clear();
                let mut budget = max_argv;
                for arg in a {
                    let take = arg.len().min(budget);
                    self.argv.push(arg[..take].to_vec());
                    budget -= take;
                    if budget == 0 {
                        break;
                    }
                }
                self.argv_truncated = true;
            }
        } else if full && fields.contains(Fields::CMDLINE) {
            self.argv.clear();
            self.argv_truncated = false;
        }
        if s.cwd.is_some() || (full && fields.contains(Fields::CWD)) {
            self.cwd.clone_from(&s.cwd);
        }
    }
}

/// Tuning of a [`ProcessTree`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeConfig {
    /// How long an exited process is kept after its exit (unless pinned).
    /// Default: 10 minutes.
    pub retain_exited_for: Duration,
    /// At most this many exited, unpinned processes are kept (the oldest
    /// exits go first). Default: 50 000.
    pub max_exited: usize,
    /// At most this many exited processes are kept only because they are
    /// ancestors of retained processes. Default: 50 000.
    pub max_pinned: usize,
    /// Whether to read `/proc` after a fork at all. Default: `true`. With
    /// `false` a new process is an exact copy of its parent's details
    /// ([`InfoSource::Inherited`]) until it execs: one `stat` read less per
    /// fork (about a third of the listener's CPU in a fork storm).
    pub read_after_fork: bool,
    /// What to read from `/proc` after a fork, besides `stat`. Default:
    /// nothing more (the rest is inherited exactly from the parent); use
    /// [`Fields::ALL`] to re-read everything.
    pub fork_fields: Fields,
    /// What to read from `/proc` after an exec. Default: [`Fields::ALL`].
    /// What is not read keeps the value copied from the parent at the
    /// fork, as id and comm events update it (and [`ProcessTree::verify_live`]
    /// re-reads the ids after lost events, when [`Fields::IDS`] is left out).
    pub exec_fields: Fields,
    /// At most this many argv bytes are kept per process (longer ones are
    /// cut and flagged [`ProcessInfo::argv_truncated`]), so that retention
    /// bounds memory even when processes carry megabytes of arguments.
    /// Default: 4096.
    pub max_argv_bytes: usize,
    /// At most about this many bytes are held by retained exited
    /// processes (their argv, paths, cgroup names and bookkeeping, as
    /// [`ProcessInfo::retained_bytes`] estimates them): beyond it the
    /// oldest exits go first, ancestors of retained processes last, so
    /// that no local user can grow the tree (and a root daemon's memory)
    /// without bound with long command lines. The estimate counts what the
    /// heap really holds for an entry (its strings with the allocator's
    /// headers, the entry, its index slots with the tables' spare room), so
    /// the budget bounds memory, not just text (`tests/memory_budget.rs`
    /// measures it with a counting allocator). Default: 64 MiB.
    pub max_retained_bytes: usize,
}

impl TreeConfig {
    /// Sets [`TreeConfig::retain_exited_for`].
    #[must_use]
    pub fn retain_exited_for(mut self, d: Duration) -> Self {
        self.retain_exited_for = d;
        self
    }

    /// Sets [`TreeConfig::max_exited`].
    #[must_use]
    pub fn max_exited(mut self, n: usize) -> Self {
        self.max_exited = n;
        self
    }

    /// Sets [`TreeConfig::max_pinned`].
    #[must_use]
    pub fn max_pinned(mut self, n: usize) -> Self {
        self.max_pinned = n;
        self
    }

    /// Sets [`TreeConfig::read_after_fork`].
    #[must_use]
    pub fn read_after_fork(mut self, on: bool) -> Self {
        self.read_after_fork = on;
        self
    }

    /// Sets [`TreeConfig::fork_fields`].
    #[must_use]
    pub fn fork_fields(mut self, fields: Fields) -> Self {
        self.fork_fields = fields;
        self
    }

    /// Sets [`TreeConfig::exec_fields`].
    #[must_use]
    pub fn exec_fields(mut self, fields: Fields) -> Self {
        self.exec_fields = fields;
        self
    }

    /// Sets [`TreeConfig::max_argv_bytes`].
    #[must_use]
    pub fn max_argv_bytes(mut self, bytes: usize) -> Self {
        self.max_argv_bytes = bytes;
        self
    }

    /// Sets [`TreeConfig::max_retained_bytes`].
    #[must_use]
    pub fn max_retained_bytes(mut self, bytes: usize) -> Self {
        self.max_retained_bytes = bytes;
        self
    }
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            retain_exited_for: Duration::from_secs(600),
            max_exited: 50_000,
            max_pinned: 50_000,
            read_after_fork: true,
            fork_fields: Fields::STAT,
            exec_fields: Fields::ALL,
            max_argv_bytes: 4096,
            max_retained_bytes: 64 << 20,
        }
    }
}

/// Counters of noteworthy things the tree did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeStats {
    /// Events applied.
    pub events: u64,
    /// `/proc` snapshots requested.
    pub proc_reads: u64,
    /// Snapshots that failed (process gone, or pid already reused).
    pub proc_read_failures: u64,
    /// Processes first met in an event other than their fork (created on
    /// the fly; a sign of lost events, or of events before the scan).
    pub unknown_processes: u64,
    /// Live processes closed as [`ProcessInfo::vanished`].
    pub vanished: u64,
    /// Pinned ancestors dropped because [`TreeConfig::max_pinned`] was hit.
    pub dropped_pinned: u64,
    /// Exited processes removed by retention.
    pub expired: u64,
    /// Of those, removed early because [`TreeConfig::max_retained_bytes`]
    /// was reached.
    pub evicted_for_memory: u64,
    /// Leader exit events ignored because they preceded the process's exec
    /// (a non-leader thread exec'd).
    pub stale_leader_exits: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    /// Exited, in the exit queue.
    Exited,
    /// Exited, past retention, kept because `children > 0`.
    Pinned,
}

/// What one entry costs besides its strings: the boxed [`Entry`] with its
/// allocator header; its hash slot (key and pointer) counted twice, as a
/// table that grows by doubling and fills to 7/8 has up to twice the slots
/// it needs; its place in the exit queue; and its pid index slot (counted
/// whole, as one pid rarely has two retained processes).
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>()
    + 16
    + 2 * std::mem::size_of::<(ProcessKey, Box<Entry>)>()
    + std::mem::size_of::<(ProcessKey, u64)>()
    + 2 * std::mem::size_of::<(Pid, PidSlot)>()
    + std::mem::size_of::<u64>();

/// A process in the tree. Boxed in the index: the table's slots stay
/// small, so its spare room (up to half of it after doubling) costs a
/// pointer per slot, not a whole entry.
#[derive(Debug)]
struct Entry {
    info: ProcessInfo,
    state: State,
    /// Retained entries whose `spawned_by` is this one.
    children: u32,
    /// Known live non-leader threads.
    threads: u32,
    /// Bumped at exec, so that exit events of threads from before the exec
    /// (killed in `de_thread`) do not decrement `threads`.
    thread_gen: u32,
    /// The leader's exit, held while other threads remain.
    pending_exit: Option<ExitInfo>,
    /// `stat` start ticks from the first successful read: exact identity
    /// check for later reads.
    stat_ticks: Option<u64>,
    last_exec_ns: u64,
    /// Created by its own fork event (not by the scan or on the fly).
    from_fork: bool,
    /// Bytes counted in the tree's retained total since the exit.
    weight: usize,
}

#[derive(Debug, Default)]
struct PidSlot {
    /// Start time of the live process with this pid.
    live: Option<u64>,
    /// Start times of retained exited processes with this pid, oldest first.
    exited: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct ThreadRef {
    key: ProcessKey,
    gen: u32,
}

/// FxHash: pids and keys are small integers; SipHash's DoS resistance buys
/// nothing here (pids are allocated by the kernel), its cost shows per event.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_i32(&mut self, v: i32) {
        self.write_u64(u64::from(v as u32));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Fx = BuildHasherDefault<FxHasher>;

/// The process tree. See the [module documentation](self) for the semantics.
///
/// ```no_run
/// use procconn::{ProcessTree, TreeConfig};
/// let mut tree = ProcessTree::new(TreeConfig::default());
/// tree.seed_from_proc()?;
/// // for event in socket { tree.apply(&event); }
/// let me = std::process::id() as i32;
/// for p in tree.ancestry(me) {
///     println!("{} {:?}", p.pid, p.argv);
/// }
/// # Ok::<(), procconn::Error>(())
/// ```
#[derive(Debug)]
pub struct ProcessTree {
    config: TreeConfig,
    source: Box<dyn ProcSource>,
    entries: HashMap<ProcessKey, Box<Entry>, Fx>,
    by_pid: HashMap<Pid, PidSlot, Fx>,
    threads: HashMap<Pid, ThreadRef, Fx>,
    /// Exited (unpinned) entries in exit order, with their exit time.
    exit_queue: VecDeque<(ProcessKey, u64)>,
    /// Pinned entries, oldest first; may hold stale keys (compacted).
    pinned_queue: VecDeque<ProcessKey>,
    /// Retained children of entries that were dropped while they had some
    /// (the `max_pinned` cap). Should the same key come back (a process met
    /// again through `/proc` has the same start time), its count is restored.
    orphans: HashMap<ProcessKey, u32, Fx>,
    /// `threads` is compacted when it grows past this (stale tids whose
    /// exit was lost or never sent, e.g. a thread that exec'd).
    threads_compact_at: usize,
    live: usize,
    exited: usize,
    pinned: usize,
    /// Bytes held by retained exited entries ([`Entry::weight`]).
    retained_bytes: usize,
    now_ns: u64,
    stats: TreeStats,
    /// Processes whose leader exit follows in the batch being applied
    /// ([`ProcessTree::expect_exits`]).
    exiting: HashSet<Pid, Fx>,
}

impl ProcessTree {
    /// An empty tree reading the real `/proc`.
    pub fn new(config: TreeConfig) -> Self {
        Self::with_source(config, ProcFs::new())
    }

    /// An empty tree reading `/proc` facts from `source`.
    pub fn with_source(config: TreeConfig, source: impl ProcSource + 'static) -> Self {
        ProcessTree {
            config,
            source: Box::new(source),
            entries: HashMap::default(),
            by_pid: HashMap::default(),
            threads: HashMap::default(),
            exit_queue: VecDeque::new(),
            pinned_queue: VecDeque::new(),
            retained_bytes: 0,
            orphans: HashMap::default(),
            threads_compact_at: 4096,
            live: 0,
            exited: 0,
            pinned: 0,
            now_ns: 0,
            stats: TreeStats::default(),
            exiting: HashSet::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TreeConfig {
        &self.config
    }

    /// Says which processes' leader exit events follow in the batch of
    /// events about to be applied (replacing the previous call's). Their
    /// exec then costs one `stat` read instead of every
    /// [`TreeConfig::exec_fields`] file: the kernel sends the exit event
    /// after the process let go of its memory and working directory
    /// (`exit_mm`, `exit_fs`), so its argv, exe and cwd cannot be read any
    /// more, and the `stat` of the zombie still gives the new comm. Should
    /// that `stat` show the process alive (the exit was of an earlier
    /// holder of the pid), everything is read as usual. Returns how many
    /// processes are expected to exit.
    pub fn expect_exits(&mut self, tgids: impl IntoIterator<Item = Pid>) -> usize {
        self.exiting.clear();
        self.exiting.extend(tgids);
        self.exiting.len()
    }

    /// Counters.
    pub fn stats(&self) -> TreeStats {
        self.stats
    }

    /// Scans `/proc` and adds every process not already in the tree (with
    /// its threads), as [`InfoSource::Seeded`]. Returns how many were added.
    ///
    /// Subscribe to events *before* scanning and apply them after: a fork
    /// seen by both is recognised (same pid, start time within
    /// [`START_TOLERANCE_NS`]) and only gains its fork parent.
    ///
    /// # Errors
    /// [`crate::Error::Io`] when the process list cannot be read.
    pub fn seed_from_proc(&mut self) -> Result<usize> {
        let pids = self.source.pids()?;
        let mut added = Vec::new();
        for pid in pids {
            if pid <= 0 || self.live_key(pid).is_some() {
                continue;
            }
            self.stats.proc_reads += 1;
            let Some(snap) = self.source.snapshot(pid, Fields::ALL) else {
                self.stats.proc_read_failures += 1;
                continue;
            };
            let key = self.unique_key(pid, snap.start_time_ns);
            let mut info = ProcessInfo::blank(key);
            info.absorb(&snap, Fields::ALL, true, self.config.max_argv_bytes);
            info.start_time_ns = Some(snap.start_time_ns);
            info.source = InfoSource::Seeded;
            let tids = self.source.tids(pid);
            self.insert_live(info, Some(snap.start_ticks), false);
            added.push(key);
            if !snap.state_is_alive() {
                // A zombie at scan time exited before we subscribed: its
                // exit event will never come.
                self.close_vanished(key, self.now_ns);
                continue;
            }
            for tid in tids {
                if tid != pid {
                    self.add_thread(key, tid);
                }
            }
        }
        // Link after all are in, so scan order does not matter.
        for &key in &added {
            let ppid = self.entries.get(&key).map_or(0, |e| e.info.ppid);
            if ppid > 0 && ppid != key.pid {
                if let Some(pk) = self.live_key(ppid) {
                    self.set_spawned_by(key, pk);
                }
            }
        }
        self.expire(self.now_ns);
        Ok(added.len())
    }

    /// Updates the tree from one event, reading `/proc` after fork and exec
    /// (best effort), and applies retention at the event's time.
    pub fn apply(&mut self, event: &ProcEvent) {
        let ts = event.timestamp_ns;
        self.stats.events += 1;
        match &event.kind {
            &EventKind::Fork {
                parent_tgid,
                child_pid,
                child_tgid,
                ..
            } => self.on_fork(parent_tgid, child_pid, child_tgid, ts),
            &EventKind::Exec { process_tgid, .. } => self.on_exec(process_tgid, ts),
            &EventKind::Uid {
                process_tgid,
                ruid,
                euid,
                ..
            } => {
                if let Some(e) = self.live_entry_mut(process_tgid) {
                    e.info.uid = Some(ruid);
                    e.info.euid = Some(euid);
                }
            }
            &EventKind::Gid {
                process_tgid, rgid, ..
            } => {
                if let Some(e) = self.live_entry_mut(process_tgid) {
                    e.info.gid = Some(rgid);
                }
            }
            EventKind::Comm {
                process_pid,
                process_tgid,
                comm,
            } => {
                // A thread renaming itself does not rename the process.
                if process_pid == process_tgid {
                    if let Some(e) = self.live_entry_mut(*process_tgid) {
                        e.info.comm.clone_from(comm);
                    }
                }
            }
            &EventKind::Exit {
                process_pid,
                process_tgid,
                exit_code,
                status,
                parent_tgid,
                ..
            } => self.on_exit(
                process_pid,
                process_tgid,
                exit_code,
                status,
                parent_tgid,
                ts,
            ),
            EventKind::Sid { .. }
            | EventKind::Ptrace { .. }
            | EventKind::Coredump { .. }
            | EventKind::Ack { .. }
            | EventKind::Unknown { .. } => {}
        }
        if ts > self.now_ns {
            self.now_ns = ts;
        }
        self.expire(self.now_ns);
    }

    /// The newest process with this pid: the live one, else (if `pid` is a
    /// thread id) its process, else the most recently exited one.
    pub fn get(&self, pid: Pid) -> Option<&ProcessInfo> {
        if let Some(k) = self.live_key(pid) {
            return self.get_key(k);
        }
        if let Some(t) = self.threads.get(&pid) {
            if let Some(e) = self.entries.get(&t.key) {
                return Some(&e.info);
            }
        }
        let slot = self.by_pid.get(&pid)?;
        let start = *slot.exited.last()?;
        self.get_key(ProcessKey {
            pid,
            start_time: start,
        })
    }

    /// The process with this exact identity, live or retained.
    pub fn get_key(&self, key: ProcessKey) -> Option<&ProcessInfo> {
        self.entries.get(&key).map(|e| &e.info)
    }

    /// The process id (tgid) of thread `tid`; `tid` itself when it names a
    /// known process. `None` when unknown.
    pub fn tgid_of(&self, tid: Pid) -> Option<Pid> {
        if self.live_key(tid).is_some() {
            return Some(tid);
        }
        if let Some(t) = self.threads.get(&tid) {
            if self.entries.contains_key(&t.key) {
                return Some(t.key.pid);
            }
        }
        self.by_pid.contains_key(&tid).then_some(tid)
    }

    /// The spawn chain of [`ProcessTree::get`]`(pid)`: its `spawned_by`,
    /// that one's, … up to pid 1 (included), nearest first, exited ones
    /// included. Ends early where an ancestor is unknown or was dropped.
    pub fn ancestry(&self, pid: Pid) -> Vec<&ProcessInfo> {
        match self.get(pid) {
            Some(p) => self.ancestry_of(p.key),
            None => Vec::new(),
        }
    }

    /// The spawn chain of the process `key` (see [`ProcessTree::ancestry`]).
    pub fn ancestry_of(&self, key: ProcessKey) -> Vec<&ProcessInfo> {
        let mut out = Vec::new();
        let Some(mut cur) = self.entries.get(&key).and_then(|e| e.info.spawned_by) else {
            return out;
        };
        // Keys are created after their parent's, so the chain cannot loop;
        // the bound is a guard against bugs, not a semantic limit.
        while out.len() <= self.entries.len() {
            let Some(e) = self.entries.get(&cur) else {
                break;
            };
            out.push(&e.info);
            if e.info.pid <= 1 {
                break;
            }
            match e.info.spawned_by {
                Some(k) => cur = k,
                None => break,
            }
        }
        out
    }

    /// Every process in the tree (live and retained), in no order.
    pub fn iter(&self) -> impl Iterator<Item = &ProcessInfo> {
        self.entries.values().map(|e| &e.info)
    }

    /// Number of live processes.
    pub fn live_count(&self) -> usize {
        self.live
    }

    /// Number of retained exited processes (pinned ancestors included).
    pub fn exited_count(&self) -> usize {
        self.exited + self.pinned
    }

    /// Bytes held by retained exited processes (see
    /// [`TreeConfig::max_retained_bytes`]).
    pub fn retained_bytes(&self) -> usize {
        self.retained_bytes
    }

    /// Number of retained exited processes kept only as ancestors.
    pub fn pinned_count(&self) -> usize {
        self.pinned
    }

    /// Number of known thread ids (non-leader threads).
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// Applies retention as of `now_ns` (`CLOCK_MONOTONIC`, like event
    /// timestamps). Also done by [`ProcessTree::apply`]. Amortised O(1) per
    /// exited process.
    pub fn expire(&mut self, now_ns: u64) {
        let window = u64::try_from(self.config.retain_exited_for.as_nanos()).unwrap_or(u64::MAX);
        while let Some(&(key, t)) = self.exit_queue.front() {
            let over_memory = self.retained_bytes > self.config.max_retained_bytes;
            if self.exited <= self.config.max_exited
                && !over_memory
                && t.saturating_add(window) > now_ns
            {
                break;
            }
            self.exit_queue.pop_front();
            let Some(e) = self.entries.get_mut(&key) else {
                continue;
            };
            if e.state != State::Exited {
                continue;
            }
            if e.children > 0 {
                e.state = State::Pinned;
                self.exited -= 1;
                self.pinned += 1;
                self.pinned_queue.push_back(key);
            } else {
                self.stats.expired += 1;
                if over_memory {
                    self.stats.evicted_for_memory += 1;
                }
                self.remove_cascade(key);
            }
        }
        while self.pinned > self.config.max_pinned
            || (self.retained_bytes > self.config.max_retained_bytes && self.pinned > 0)
        {
            let Some(key) = self.pinned_queue.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.state == State::Pinned)
            {
                self.stats.dropped_pinned += 1;
                self.remove_cascade(key);
            }
        }
        // Cascade removals leave stale keys behind a long-pinned head.
        if self.pinned_queue.len() > 2 * self.pinned + 64 {
            let entries = &self.entries;
            self.pinned_queue
                .retain(|k| entries.get(k).is_some_and(|e| e.state == State::Pinned));
        }
    }

    /// Verifies the tree's internal bookkeeping (counters, pid index,
    /// child counts, retention queues) and returns the first inconsistency
    /// found. O(n): a debugging and fuzzing aid, not for the event loop.
    ///
    /// # Errors
    /// A description of the first inconsistency.
    pub fn check_consistency(&self) -> std::result::Result<(), String> {
        let (mut live, mut exited, mut pinned) = (0, 0, 0);
        let mut children: HashMap<ProcessKey, u32, Fx> = HashMap::default();
        for (k, e) in &self.entries {
            if *k != e.info.key || k.pid != e.info.pid {
                return Err(format!("{k:?}: key mismatch"));
            }
            match e.state {
                State::Live => live += 1,
                State::Exited => exited += 1,
                State::Pinned => pinned += 1,
            }
            if (e.state == State::Live) != e.info.is_alive() {
                return Err(format!(
                    "{k:?}: state {:?} vs info {:?}",
                    e.state, e.info.exit
                ));
            }
            let slot = self
                .by_pid
                .get(&k.pid)
                .ok_or_else(|| format!("{k:?}: no pid slot"))?;
            let indexed = if e.state == State::Live {
                slot.live == Some(k.start_time)
            } else {
                slot.exited.contains(&k.start_time)
            };
            if !indexed {
                return Err(format!("{k:?}: not in its pid slot"));
            }
            if let Some(pk) = e.info.spawned_by {
                *children.entry(pk).or_default() += 1;
            }
        }
        for (k, n) in &self.orphans {
            if self.entries.contains_key(k) || children.get(k) != Some(n) {
                return Err(format!("orphans of {k:?}: {n} vs {:?}", children.get(k)));
            }
        }
        if let Some((k, _)) = children
            .iter()
            .find(|(k, _)| !self.entries.contains_key(k) && !self.orphans.contains_key(k))
        {
            return Err(format!("untracked children of dropped {k:?}"));
        }
        let weights: usize = self.entries.values().map(|e| e.weight).sum();
        if weights != self.retained_bytes {
            return Err(format!(
                "retained bytes {} vs entries' {weights}",
                self.retained_bytes
            ));
        }
        if (live, exited, pinned) != (self.live, self.exited, self.pinned) {
            return Err(format!(
                "counts {:?} vs {:?}",
                (live, exited, pinned),
                (self.live, self.exited, self.pinned)
            ));
        }
        for (k, e) in &self.entries {
            let n = children.get(k).copied().unwrap_or(0);
            if e.children != n {
                return Err(format!("{k:?}: children {} vs {n}", e.children));
            }
            if e.state == State::Pinned && n == 0 {
                return Err(format!("{k:?}: pinned without children"));
            }
        }
        let slots: usize = self
            .by_pid
            .values()
            .map(|s| usize::from(s.live.is_some()) + s.exited.len())
            .sum();
        if slots != self.entries.len() {
            return Err(format!(
                "pid index {slots} vs {} entries",
                self.entries.len()
            ));
        }
        let queued = self
            .exit_queue
            .iter()
            .filter(|(k, _)| {
                self.entries
                    .get(k)
                    .is_some_and(|e| e.state == State::Exited)
            })
            .count();
        if queued != self.exited || self.exit_queue.len() != self.exited {
            return Err(format!(
                "exit queue {} ({queued} valid) vs {} exited",
                self.exit_queue.len(),
                self.exited
            ));
        }
        if self.exited > self.config.max_exited || self.pinned > self.config.max_pinned {
            return Err("retention bound exceeded".into());
        }
        Ok(())
    }

    /// Re-reads the cgroup of the newest process with this pid — live, or
    /// exited but not reaped yet (a zombie keeps its cgroup) — when `/proc`
    /// still shows that very process (its start time). A process moves
    /// between cgroups without a process event (a shell's `echo $$ >
    /// cgroup.procs`), so what its exec showed may be stale when it is
    /// killed: a caller that is about to report the process's cgroup (a
    /// `cgroup.kill` victim) refreshes it first. Returns whether it was
    /// read.
    pub fn refresh_cgroup(&mut self, pid: Pid) -> bool {
        let Some(slot) = self.by_pid.get(&pid) else {
            return false;
        };
        let Some(start) = slot.live.or_else(|| slot.exited.last().copied()) else {
            return false;
        };
        let key = ProcessKey {
            pid,
            start_time: start,
        };
        let Some(snap) = self.read(pid, Fields::STAT.union(Fields::CGROUP)) else {
            return false;
        };
        let Some(e) = self.entries.get_mut(&key) else {
            return false;
        };
        if !same_process(e.stat_ticks, e.from_fork, key, &snap) || snap.cgroup.is_none() {
            return false;
        }
        e.info.cgroup = snap.cgroup;
        e.info.memory_cgroup = snap.memory_cgroup;
        // An exited entry's weight counts in the memory budget.
        if e.state != State::Live {
            let w = e.info.retained_bytes();
            self.retained_bytes = self.retained_bytes - e.weight + w;
            e.weight = w;
        }
        true
    }

    /// Checks every live process against `/proc` (one `stat` read each) and
    /// closes those that are gone (or zombies) or whose pid now names another
    /// process as
    /// [`ProcessInfo::vanished`]. When [`TreeConfig::exec_fields`] leaves
    /// the ids to the connector's id events (no [`Fields::IDS`]), their
    /// `status` is read too: the loss may have taken a `setuid`'s event.
    /// O(live processes): call it after the socket reported lost events,
    /// not per event. Returns how many closed.
    pub fn verify_live(&mut self) -> usize {
        let fields = if self.config.exec_fields.contains(Fields::IDS) {
            Fields::STAT
        } else {
            Fields::IDS
        };
        let live: Vec<(ProcessKey, Option<u64>, bool)> = self
            .entries
            .values()
            .filter(|e| e.state == State::Live)
            .map(|e| (e.info.key, e.stat_ticks, e.from_fork))
            .collect();
        let mut closed = 0;
        for (key, ticks, from_fork) in live {
            self.stats.proc_reads += 1;
            let snap = self.source.snapshot(key.pid, fields);
            let same = match &snap {
                // A zombie is gone for us: its exit event was lost.
                Some(s) if !s.state_is_alive() => false,
                Some(s) => same_process(ticks, from_fork, key, s),
                None => false,
            };
            if !same {
                self.close_vanished(key, self.now_ns);
                closed += 1;
            } else if let (Some(s), Some(e)) = (&snap, self.entries.get_mut(&key)) {
                if s.uid.is_some() {
                    e.info.uid = s.uid;
                    e.info.euid = s.euid;
                    e.info.gid = s.gid.or(e.info.gid);
                }
            }
        }
        self.expire(self.now_ns);
        closed
    }

    // ----- event handlers -------------------------------------------------

    fn on_fork(&mut self, parent_tgid: Pid, child_pid: Pid, child_tgid: Pid, ts: u64) {
        if child_pid <= 0 || child_tgid <= 0 {
            return;
        }
        if child_pid != child_tgid {
            if let Some(key) = self.ensure_live(child_tgid, ts) {
                self.add_thread(key, child_pid);
            }
            return;
        }
        let parent = if parent_tgid > 0 && parent_tgid != child_tgid {
            self.ensure_live(parent_tgid, ts)
        } else {
            None
        };
        // Events from different CPUs can overtake each other: the child's
        // exec or exit may have been applied before its fork, creating the
        // entry on the fly; the scan may also have seen it. Same process when
        // it was not born from a fork event and its start time matches.
        if let Some(old) = self.unforked_match(child_tgid, ts) {
            if let Some(pk) = parent {
                self.set_spawned_by(old, pk);
            }
            if let Some(e) = self.entries.get_mut(&old) {
                e.from_fork = true;
            }
            return;
        }
        if let Some(old) = self.live_key(child_tgid) {
            self.close_vanished(old, ts);
        }
        // A tid reused as a process id: the old thread is gone.
        self.drop_thread(child_tgid);

        let key = self.unique_key(child_tgid, ts);
        let mut info = match parent.and_then(|k| self.entries.get(&k)) {
            Some(p) => {
                let mut i = p.info.clone();
                i.source = InfoSource::Inherited;
                i
            }
            None => ProcessInfo::blank(key),
        };
        info.key = key;
        info.pid = child_tgid;
        info.ppid = parent_tgid;
        info.spawned_by = parent;
        info.start_time_ns = Some(ts);
        info.exec_count = 0;
        info.exit = None;
        info.vanished = false;
        // The pid namespace is inherited, the pid in it is not: a child of
        // a host-namespace process has its pid there too; in a nested
        // namespace its pid there is unknown until read (its exec).
        // (A fork into a new pid namespace shows at its exec.)
        if info.pid_ns.is_none() && info.ns_pid.is_some() {
            info.ns_pid = Some(child_tgid);
        } else {
            info.ns_pid = None;
        }

        let fields = self.config.fork_fields;
        let mut ticks = None;
        let snap = if self.config.read_after_fork {
            self.read(child_tgid, fields)
        } else {
            None
        };
        if let Some(s) = snap {
            if s.start_time_ns.abs_diff(ts) <= START_TOLERANCE_NS {
                info.absorb(&s, fields, false, self.config.max_argv_bytes);
                info.source = InfoSource::Procfs;
                ticks = Some(s.start_ticks);
            } else {
                self.stats.proc_read_failures += 1;
            }
        }
        self.insert_live(info, ticks, true);
    }

    fn on_exec(&mut self, tgid: Pid, ts: u64) {
        let Some(key) = self.ensure_live(tgid, ts) else {
            return;
        };
        let mut fields = self.config.exec_fields;
        let max_argv = self.config.max_argv_bytes;
        let mut snap;
        if self.exiting.contains(&tgid) && fields != Fields::STAT {
            // Its exit is already on its way: nothing but stat is left.
            snap = self.read(tgid, Fields::STAT);
            if snap.as_ref().is_some_and(Snapshot::state_is_alive) {
                fields = self.config.exec_fields;
                snap = self.read(tgid, fields);
            } else {
                fields = Fields::STAT;
            }
        } else {
            snap = self.read(tgid, fields);
        }
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        e.info.exec_count = e.info.exec_count.saturating_add(1);
        e.last_exec_ns = ts;
        // de_thread() killed every other thread; their pending exit events
        // belong to the old generation.
        e.pending_exit = None;
        e.threads = 0;
        e.thread_gen = e.thread_gen.wrapping_add(1);
        let valid = snap
            .as_ref()
            .filter(|s| same_process(e.stat_ticks, e.from_fork, key, s));
        match valid {
            // A zombie still has stat (comm is post-exec) but no exe/argv.
            Some(s) if s.state_is_alive() => {
                e.info.absorb(s, fields, true, max_argv);
                e.stat_ticks = Some(s.start_ticks);
                e.info.source = InfoSource::Procfs;
            }
            Some(s) => {
                e.info.comm.clone_from(&s.comm);
                e.info.source = InfoSource::Inherited;
                self.stats.proc_read_failures += 1;
            }
            None => {
                e.info.source = InfoSource::Inherited;
                if snap.is_some() {
                    self.stats.proc_read_failures += 1;
                }
            }
        }
    }

    fn on_exit(
        &mut self,
        pid: Pid,
        tgid: Pid,
        exit_code: u32,
        status: ExitStatus,
        parent_tgid: Option<Pid>,
        ts: u64,
    ) {
        if pid <= 0 || tgid <= 0 {
            return;
        }
        if pid != tgid {
            self.thread_exit(pid, ts);
            return;
        }
        // Announced by `expect_exits`: a later exec of this pid in the
        // batch is a new process's.
        self.exiting.remove(&tgid);
        let exit = ExitInfo {
            status,
            exit_code,
            time_ns: ts,
        };
        let Some(key) = self.live_key(tgid) else {
            // Never seen alive (started and ended while events were lost, or
            // before the scan). Remember the death anyway: an attributor may
            // ask about this pid.
            self.stats.unknown_processes += 1;
            let mut info = None;
            let mut ticks = None;
            if let Some(s) = self.read(tgid, Fields::STAT) {
                // A zombie's stat is still there; a reused pid would be newer.
                if s.start_time_ns <= ts.saturating_add(START_TOLERANCE_NS) {
                    let mut i = ProcessInfo::blank(self.unique_key(tgid, s.start_time_ns));
                    i.absorb(&s, Fields::STAT, false, self.config.max_argv_bytes);
                    i.start_time_ns = Some(s.start_time_ns);
                    i.source = InfoSource::Procfs;
                    ticks = Some(s.start_ticks);
                    info = Some(i);
                }
            }
            let mut info = info.unwrap_or_else(|| ProcessInfo::blank(self.unique_key(tgid, ts)));
            if let Some(p) = parent_tgid.filter(|&p| p > 0) {
                info.ppid = p;
            }
            let key = info.key;
            let parent = self.live_key(info.ppid);
            self.insert_live(info, ticks, false);
            if let Some(pk) = parent {
                self.set_spawned_by(key, pk);
            }
            self.finish(key, Some(exit), ts);
            return;
        };
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        if e.from_fork && ts < key.start_time {
            // The exit predates this process's fork: it is the exit of the
            // previous holder of the pid, overtaken (events of different
            // CPUs) by the new fork, which closed the old one as vanished.
            self.late_exit_of_predecessor(tgid, exit, parent_tgid, ts);
            return;
        }
        if ts < e.last_exec_ns {
            self.stats.stale_leader_exits += 1;
            return;
        }
        if let Some(p) = parent_tgid.filter(|&p| p > 0) {
            e.info.ppid = p;
        }
        if e.threads > 0 {
            e.pending_exit = Some(exit);
        } else {
            self.finish(key, Some(exit), ts);
        }
    }

    fn late_exit_of_predecessor(
        &mut self,
        pid: Pid,
        exit: ExitInfo,
        parent_tgid: Option<Pid>,
        ts: u64,
    ) {
        let Some(slot) = self.by_pid.get(&pid) else {
            return;
        };
        // The newest retained exited process of this pid that started
        // before the exit and was closed without an exit.
        let key = slot
            .exited
            .iter()
            .rev()
            .map(|&start| ProcessKey {
                pid,
                start_time: start,
            })
            .find(|k| k.start_time <= ts);
        let Some(e) = key.and_then(|k| self.entries.get_mut(&k)) else {
            return;
        };
        if e.info.vanished {
            e.info.vanished = false;
            e.info.exit = Some(exit);
            if let Some(p) = parent_tgid.filter(|&p| p > 0) {
                e.info.ppid = p;
            }
            self.stats.vanished = self.stats.vanished.saturating_sub(1);
        }
    }

    fn thread_exit(&mut self, tid: Pid, ts: u64) {
        let Some(t) = self.threads.remove(&tid) else {
            return;
        };
        let Some(e) = self.entries.get_mut(&t.key) else {
            return;
        };
        if e.state != State::Live || e.thread_gen != t.gen {
            return;
        }
        e.threads = e.threads.saturating_sub(1);
        if e.threads == 0 {
            if let Some(exit) = e.pending_exit.take() {
                self.finish(t.key, Some(exit), ts);
            }
        }
    }

    // ----- bookkeeping ----------------------------------------------------

    fn read(&mut self, pid: Pid, fields: Fields) -> Option<Snapshot> {
        self.stats.proc_reads += 1;
        let s = self.source.snapshot(pid, fields);
        if s.is_none() {
            self.stats.proc_read_failures += 1;
        }
        s
    }

    fn live_key(&self, pid: Pid) -> Option<ProcessKey> {
        let start = self.by_pid.get(&pid)?.live?;
        Some(ProcessKey {
            pid,
            start_time: start,
        })
    }

    /// A process with this pid, live or the newest exited, that was not
    /// created by its fork event and whose start matches `ts`.
    fn unforked_match(&self, pid: Pid, ts: u64) -> Option<ProcessKey> {
        let slot = self.by_pid.get(&pid)?;
        slot.live
            .into_iter()
            .chain(slot.exited.last().copied())
            .map(|start| ProcessKey {
                pid,
                start_time: start,
            })
            .find(|k| {
                self.entries.get(k).is_some_and(|e| {
                    !e.from_fork && e.info.key.start_time.abs_diff(ts) <= START_TOLERANCE_NS
                })
            })
    }

    fn live_entry_mut(&mut self, pid: Pid) -> Option<&mut Entry> {
        let key = self.live_key(pid)?;
        self.entries.get_mut(&key).map(|e| &mut **e)
    }

    fn unique_key(&self, pid: Pid, mut start: u64) -> ProcessKey {
        while self.entries.contains_key(&ProcessKey {
            pid,
            start_time: start,
        }) {
            start = start.wrapping_add(1);
        }
        ProcessKey {
            pid,
            start_time: start,
        }
    }

    /// The live process `pid`, created from `/proc` (or from nothing) when
    /// the tree does not know it.
    fn ensure_live(&mut self, pid: Pid, ts: u64) -> Option<ProcessKey> {
        if pid <= 0 {
            return None;
        }
        if let Some(k) = self.live_key(pid) {
            return Some(k);
        }
        self.stats.unknown_processes += 1;
        let snap = self
            .read(pid, Fields::ALL)
            // Started after the event: the pid was reused since.
            .filter(|s| s.start_time_ns <= ts.saturating_add(START_TOLERANCE_NS));
        let (info, ticks) = match snap {
            Some(s) => {
                let mut i = ProcessInfo::blank(self.unique_key(pid, s.start_time_ns));
                i.absorb(&s, Fields::ALL, true, self.config.max_argv_bytes);
                i.start_time_ns = Some(s.start_time_ns);
                i.source = InfoSource::Procfs;
                (i, Some(s.start_ticks))
            }
            None => (ProcessInfo::blank(self.unique_key(pid, ts)), None),
        };
        let key = info.key;
        let parent = (info.ppid > 0 && info.ppid != pid)
            .then(|| self.live_key(info.ppid))
            .flatten();
        self.drop_thread(pid);
        self.insert_live(info, ticks, false);
        if let Some(pk) = parent {
            self.set_spawned_by(key, pk);
        }
        Some(key)
    }

    /// Inserts a live process (its pid must have no live entry) and counts
    /// it as a child of its `spawned_by`.
    fn insert_live(&mut self, info: ProcessInfo, stat_ticks: Option<u64>, from_fork: bool) {
        let key = info.key;
        if let Some(pk) = info.spawned_by {
            self.add_child_of(pk);
        }
        let children = self.orphans.remove(&key).unwrap_or(0);
        self.by_pid.entry(key.pid).or_default().live = Some(key.start_time);
        self.entries.insert(
            key,
            Box::new(Entry {
                info,
                state: State::Live,
                children,
                threads: 0,
                thread_gen: 0,
                pending_exit: None,
                stat_ticks,
                last_exec_ns: 0,
                from_fork,
                weight: 0,
            }),
        );
        self.live += 1;
    }

    fn set_spawned_by(&mut self, key: ProcessKey, parent: ProcessKey) {
        if key == parent {
            return;
        }
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        let old = e.info.spawned_by.replace(parent);
        if old == Some(parent) {
            return;
        }
        self.add_child_of(parent);
        if let Some(o) = old {
            if let Some(next) = self.release_child_of(o) {
                self.remove_cascade(next);
            }
        }
    }

    fn add_child_of(&mut self, parent: ProcessKey) {
        if let Some(p) = self.entries.get_mut(&parent) {
            p.children += 1;
        } else if let Some(n) = self.orphans.get_mut(&parent) {
            *n += 1;
        }
    }

    /// One fewer retained child of `parent`. Returns `parent` when it was
    /// pinned only for its children and must go now.
    fn release_child_of(&mut self, parent: ProcessKey) -> Option<ProcessKey> {
        if let Some(p) = self.entries.get_mut(&parent) {
            p.children = p.children.saturating_sub(1);
            return (p.children == 0 && p.state == State::Pinned).then_some(parent);
        }
        if let Some(n) = self.orphans.get_mut(&parent) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.orphans.remove(&parent);
            }
        }
        None
    }

    fn add_thread(&mut self, key: ProcessKey, tid: Pid) {
        self.drop_thread(tid);
        if let Some(e) = self.entries.get_mut(&key) {
            e.threads += 1;
            self.threads.insert(
                tid,
                ThreadRef {
                    key,
                    gen: e.thread_gen,
                },
            );
        }
        if self.threads.len() > self.threads_compact_at {
            // Amortised O(1): the threshold doubles past the live size.
            let entries = &self.entries;
            self.threads.retain(|_, t| {
                entries
                    .get(&t.key)
                    .is_some_and(|e| e.state == State::Live && e.thread_gen == t.gen)
            });
            self.threads_compact_at = 2 * self.threads.len() + 4096;
        }
    }

    /// Forgets a tid mapping (its exit was missed, or the tid got reused).
    fn drop_thread(&mut self, tid: Pid) {
        if let Some(t) = self.threads.remove(&tid) {
            if let Some(e) = self.entries.get_mut(&t.key) {
                if e.state == State::Live && e.thread_gen == t.gen {
                    e.threads = e.threads.saturating_sub(1);
                }
            }
        }
    }

    /// A live process is gone without its exit event.
    fn close_vanished(&mut self, key: ProcessKey, ts: u64) {
        let pending = self
            .entries
            .get_mut(&key)
            .and_then(|e| e.pending_exit.take());
        if pending.is_none() {
            self.stats.vanished += 1;
        }
        self.finish(key, pending, ts);
    }

    /// Live → exited (with `exit`, or vanished when `None`).
    fn finish(&mut self, key: ProcessKey, exit: Option<ExitInfo>, ts: u64) {
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        if e.state != State::Live {
            return;
        }
        e.state = State::Exited;
        e.pending_exit = None;
        e.threads = 0;
        e.info.vanished = exit.is_none();
        e.info.exit = exit;
        if let Some(slot) = self.by_pid.get_mut(&key.pid) {
            if slot.live == Some(key.start_time) {
                slot.live = None;
            }
            slot.exited.push(key.start_time);
        }
        e.weight = e.info.retained_bytes();
        self.retained_bytes += e.weight;
        self.live -= 1;
        self.exited += 1;
        self.exit_queue.push_back((key, ts));
    }

    /// Removes an exited entry, then any pinned ancestor it was the last
    /// retained child of.
    fn remove_cascade(&mut self, key: ProcessKey) {
        let mut next = Some(key);
        while let Some(k) = next.take() {
            let Some(e) = self.entries.remove(&k) else {
                break;
            };
            match e.state {
                State::Live => self.live -= 1,
                State::Exited => self.exited -= 1,
                State::Pinned => self.pinned -= 1,
            }
            self.retained_bytes -= e.weight;
            if let Some(slot) = self.by_pid.get_mut(&k.pid) {
                if slot.live == Some(k.start_time) {
                    slot.live = None;
                }
                if let Some(i) = slot.exited.iter().position(|&s| s == k.start_time) {
                    slot.exited.remove(i);
                }
                if slot.live.is_none() && slot.exited.is_empty() {
                    self.by_pid.remove(&k.pid);
                }
            }
            if e.children > 0 {
                // Dropped while needed (max_pinned): its children keep
                // pointing at it.
                self.orphans.insert(k, e.children);
            }
            if let Some(pk) = e.info.spawned_by {
                next = self.release_child_of(pk);
            }
        }
    }
}

#[cfg(test)]
mod tests;
