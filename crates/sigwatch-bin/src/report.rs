//! The report model: what sigwatch prints, one object per line in JSON
//! (`--json`), one block per report in text.
//!
//! The serialized shape is a contract other tools parse (see README,
//! "JSON lines contract"): field names, order and null semantics must not
//! change. Unknown values are `None` (JSON `null`), never invented.

use serde::{Serialize, Serializer};

pub use crate::context::Container;

/// Bytes chosen by a watched process (comm, argv, paths): kept raw so the
/// text renderer can escape them exactly; serialized to JSON as a string
/// (invalid UTF-8 replaced by U+FFFD; serde_json escapes control characters).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub Vec<u8>);

impl Text {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Text {
    fn from(b: &[u8]) -> Self {
        Text(b.to_vec())
    }
}

impl From<Vec<u8>> for Text {
    fn from(b: Vec<u8>) -> Self {
        Text(b)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.as_bytes().to_vec())
    }
}

impl From<&std::path::Path> for Text {
    fn from(p: &std::path::Path) -> Self {
        use std::os::unix::ffi::OsStrExt;
        Text(p.as_os_str().as_bytes().to_vec())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(&self.0))
    }
}

/// A wall-clock instant in nanoseconds since the Unix epoch, serialized
/// as RFC 3339 UTC with millisecond precision (`2026-11-26T05:10:11.123Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// RFC 3339 UTC text.
    pub fn rfc3339(&self) -> String {
        let secs = self.0 / 1_000_000_000;
        let ms = (self.0 % 1_000_000_000) / 1_000_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Who sent the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Origin {
    /// A process called a kill-family syscall (an audit record says so).
    User,
    /// The kernel itself, with positive evidence (see [`KillReport::reason`]).
    Kernel,
    /// No evidence either way: audit off, records lost, or a sender that
    /// predates audit being enabled.
    Unknown,
}

/// One line of output.
// Reports are few (one per kill) and moved a handful of times: boxing the
// large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Report {
    /// A signal attributed (or not) to a sender.
    Kill(KillReport),
    /// A source reported lost events.
    Loss(LossReport),
    /// Counters at exit.
    Summary(Summary),
}

/// `"type": "kill"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct KillReport {
    /// When the signal was sent (the audit record's time), or when the
    /// victim exited if no record names a sender.
    pub time: Timestamp,
    /// The signal number.
    pub signal: i32,
    /// `SIGKILL` etc.
    pub signal_name: String,
    /// `user`, `kernel` or `unknown`.
    pub origin: Origin,
    /// Why the kernel killed it (`oom`, `cgroup_kill`, `rlimit`, `seccomp`,
    /// or `kernel` when the tracepoint shows a kernel-generated signal of
    /// no known kind), null otherwise.
    pub reason: Option<Reason>,
    /// The kill-family syscall (`kill`, `tgkill`, ...), null without audit.
    pub syscall: Option<String>,
    /// Whether the syscall succeeded (audit `success=`), null without audit.
    pub success: Option<bool>,
    /// The syscall's first argument as a signed pid (audit `a0`): a
    /// process (`kill`, `rt_sigqueueinfo`; the thread group of `tgkill`,
    /// `rt_tgsigqueueinfo`; the thread of `tkill`), 0 the sender's own
    /// process group, -1 every process it may signal, below -1 the process
    /// group of that number (`kill`), counted in the sender's pid
    /// namespace. Null for `pidfd_send_signal` (an fd) and without audit.
    pub syscall_target: Option<i64>,
    /// How many processes the syscall aimed at: one audit `OBJ_PID` record
    /// each, written before the permission check (a refused target
    /// counts), those over the per-event limit included; more than 1 for
    /// a process group or `kill(-1)`. Null without audit.
    pub syscall_target_count: Option<u64>,
    /// The process that received the signal.
    pub victim: Victim,
    /// The process that sent it; null when there is none known.
    pub sender: Option<Sender>,
    /// The sender's spawn chain, nearest first, up to pid 1 (shared by
    /// the reports of one kill; see [`Ancestry`]).
    pub ancestors: Ancestry,
    /// The audit event this report comes from, null without one.
    pub audit: Option<AuditRef>,
    /// The sources that saw this kill: `audit` (a
    /// kill-family syscall record), `tracefs` (`signal:signal_generate`),
    /// `kmsg` (the kernel log named the victim), `proc` (the victim's exit
    /// by this signal was seen).
    pub witnesses: Vec<Witness>,
    /// The `signal:signal_generate` tracepoint's raw facts, null when
    /// tracefs did not see this kill.
    pub trace: Option<TraceFacts>,
    /// The host that wrote the audit records (auditd's `node=`, or the
    /// journal's `_HOSTNAME` in a replay of a journal); null when the
    /// records do not say.
    pub node: Option<Text>,
    /// What the kernel's OOM report said (`oom-kill:` and `Killed process`
    /// lines) and the limit read at the time; null unless `reason` is
    /// `oom` and the kernel log was read.
    pub oom: Option<OomContext>,
    /// The cgroup whose `cgroup.kill` killed the victim; null unless
    /// `reason` is `cgroup_kill`.
    pub cgroup_kill: Option<CgroupKill>,
    /// `ancestors` holds only the nearest [`MAX_ANCESTORS`]: the chain
    /// went on above them.
    pub ancestors_truncated: bool,
    /// Details only the text renderer shows (not part of the JSON contract).
    #[serde(skip)]
    pub extra: KillExtra,
}

/// What the `signal:signal_generate` tracepoint recorded for a kill
/// (fields of `include/trace/events/signal.h` plus the current task of
/// `struct trace_entry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TraceFacts {
    /// `trace_entry.pid`: the thread that was current when the signal was
    /// generated (the sender for user kills and `cgroup.kill`; the
    /// allocating task for OOM; the victim itself for RLIMIT_CPU).
    pub current_tid: i32,
    /// Its process (tgid), from the process tree or the `record-tgid` column.
    pub current_pid: i32,
    /// Its `comm` as the trace pipe prints it, from the kernel's comm
    /// cache (`saved_cmdlines`): null when the cache had no entry (`<...>`)
    /// or when the cached name contradicts the sender's from audit or the
    /// process tree (the cache may hold the task's pre-exec name or an
    /// earlier holder of its pid's).
    pub current_comm: Option<Text>,
    /// `pid`: the targeted thread.
    pub target_tid: i32,
    /// `code`: the siginfo `si_code` (0 SI_USER, 128 SI_KERNEL, -6 SI_TKILL,
    /// -1 SI_QUEUE, 1 SYS_SECCOMP with SIGSYS).
    pub code: i32,
    /// `grp`: sent to the whole thread group (null on kernels without it).
    pub grp: Option<bool>,
    /// `oom:mark_victim` named the victim.
    pub mark_victim: bool,
    /// The classifier's verdict (`oom`, `cgroup_kill`, `rlimit`, `seccomp`,
    /// `user`, `kernel`) from these facts alone.
    pub class: &'static str,
    /// Why, in one line.
    pub evidence: &'static str,
}

/// Details of a kill report outside the JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct KillExtra {
    /// How long the victim ran (exit time − start time), when both are known.
    pub victim_ran_ns: Option<u64>,
    /// `errno` of a failed attempt (audit `exit=-N`).
    pub errno: Option<i32>,
    /// The kernel log (`/dev/kmsg`) named the victim.
    pub kmsg: bool,
    /// The number of targets of the syscall (more than one for a
    /// process-group or `kill(-1)` kill).
    pub targets: usize,
    /// The syscall's first argument as a signed pid (negative: a process
    /// group, -1: every process).
    pub target_arg: Option<i64>,
    /// The thread id argument of `tgkill` and `rt_tgsigqueueinfo` (their
    /// second).
    pub target_tid: Option<i64>,
    /// The sender's comm is the audit record's (the very task that made
    /// the syscall), not the process tree's.
    pub sender_comm_from_audit: bool,
    /// The wall time of the joined tracefs sighting (ns): the precise
    /// time of a kill that audit recorded with its coarse clock.
    pub trace_wall: Option<u64>,
}

/// The victim of a kill report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Victim {
    /// Process id (tgid).
    pub pid: i32,
    /// The thread a thread-directed syscall (tkill, tgkill,
    /// rt_tgsigqueueinfo) aimed at; null for process-directed signals.
    pub tid: Option<i32>,
    /// Parent pid at the time of death, if known.
    pub ppid: Option<i32>,
    /// `comm` (task name, ≤ 15 bytes).
    pub comm: Option<Text>,
    /// Executable path.
    pub exe: Option<Text>,
    /// Command line.
    pub argv: Option<Vec<Text>>,
    /// Working directory.
    pub cwd: Option<Text>,
    /// Real uid.
    pub uid: Option<u32>,
    /// When the process started.
    pub start_time: Option<Timestamp>,
    /// Whether an exit by this signal was seen.
    pub exit_confirmed: bool,
    /// `argv` is cut: the process tree keeps a bounded prefix of a huge
    /// command line. Null when `argv` is null.
    pub argv_truncated: Option<bool>,
    /// Where it ran: cgroup, unit, container, pid namespace, user name.
    #[serde(flatten)]
    pub context: ProcContext,
}

/// The sender of a kill report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Sender {
    /// Process id (audit `pid=`, a tgid).
    pub pid: i32,
    /// Thread id: audit records do not carry it, so null unless known.
    pub tid: Option<i32>,
    /// Parent pid when the signal was sent (audit `ppid=`; 1 for orphans).
    pub ppid: Option<i32>,
    /// audit `comm=`.
    pub comm: Option<Text>,
    /// audit `exe=` (or the process tree's).
    pub exe: Option<Text>,
    /// Command line: PROCTITLE, or the tree's longer argv when it agrees.
    pub argv: Option<Vec<Text>>,
    /// Whether `argv` is cut (PROCTITLE holds at most 128 bytes).
    pub argv_truncated: Option<bool>,
    /// Working directory (from the process tree).
    pub cwd: Option<Text>,
    /// audit `uid=`.
    pub uid: Option<u32>,
    /// audit `euid=`.
    pub euid: Option<u32>,
    /// audit `auid=` (login uid), null when unset.
    pub auid: Option<u32>,
    /// audit `ses=`, null when unset.
    pub ses: Option<u32>,
    /// audit `tty=`, null for `(none)`.
    pub tty: Option<Text>,
    /// Whether the sender has exited by now; null when no process
    /// information says either way.
    pub exited: Option<bool>,
    /// The audit `PROCTITLE` was not used because it does not belong to
    /// the program the sender runs (the kernel caches it at the task's
    /// first audited syscall, so after a later exec it is an earlier
    /// program's); null without a `PROCTITLE`.
    pub proctitle_rejected: Option<bool>,
    /// Where it ran: cgroup, unit, container, pid namespace, user name.
    #[serde(flatten)]
    pub context: ProcContext,
    /// The user name of `euid`.
    pub euser: Option<String>,
    /// The user name of `auid` (the login user).
    pub login_user: Option<String>,
}

/// The sender's spawn chain, nearest first: a list of [`Ancestor`]s
/// (serialized as a JSON array) that the reports of one kill share
/// instead of copying. A group kill reaches thousands of victims with one
/// sender; a sender deep in a chain of processes with long command lines
/// made every report carry megabytes, and a local user could grow the
/// watcher's memory with the product (1 000 victims of a sender 100
/// levels deep: 490 MB). Reading goes through `Deref` to a slice;
/// [`Ancestry::make_mut`] copies only a shared chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ancestry {
    chain: std::sync::Arc<Vec<Ancestor>>,
    truncated: bool,
}

/// At most this many ancestors are reported, the nearest ones: a chain of
/// thousands of a user's own processes, each killed by the one at its
/// bottom (`kill(0)`), would otherwise make thousands of reports of
/// thousands of ancestors each (work and output growing with the square).
pub const MAX_ANCESTORS: usize = 64;

impl Ancestry {
    /// The nearest [`MAX_ANCESTORS`] of `chain` (nearest first), and
    /// whether more were left out.
    pub fn nearest(chain: impl IntoIterator<Item = Ancestor>) -> Ancestry {
        let mut chain = chain.into_iter();
        let kept: Vec<Ancestor> = chain.by_ref().take(MAX_ANCESTORS).collect();
        Ancestry {
            truncated: chain.next().is_some(),
            chain: std::sync::Arc::new(kept),
        }
    }

    /// Whether ancestors beyond [`MAX_ANCESTORS`] were left out.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The ancestors, for changing: copied first if another report
    /// shares them.
    pub fn make_mut(&mut self) -> &mut Vec<Ancestor> {
        std::sync::Arc::make_mut(&mut self.chain)
    }

    /// Whether `self` and `other` are one shared chain (not just equal).
    pub fn shares(&self, other: &Ancestry) -> bool {
        std::sync::Arc::ptr_eq(&self.chain, &other.chain)
    }
}

impl std::ops::Deref for Ancestry {
    type Target = [Ancestor];
    fn deref(&self) -> &[Ancestor] {
        &self.chain
    }
}

impl From<Vec<Ancestor>> for Ancestry {
    fn from(v: Vec<Ancestor>) -> Self {
        Ancestry {
            chain: std::sync::Arc::new(v),
            truncated: false,
        }
    }
}

impl<'a> IntoIterator for &'a Ancestry {
    type Item = &'a Ancestor;
    type IntoIter = std::slice::Iter<'a, Ancestor>;
    fn into_iter(self) -> Self::IntoIter {
        self.chain.iter()
    }
}

impl Serialize for Ancestry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.chain.serialize(s)
    }
}

/// One element of the sender's spawn chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Ancestor {
    /// Process id.
    pub pid: i32,
    /// `comm`.
    pub comm: Option<Text>,
    /// Executable path.
    pub exe: Option<Text>,
    /// Command line.
    pub argv: Option<Vec<Text>>,
    /// Working directory.
    pub cwd: Option<Text>,
    /// Real uid.
    pub uid: Option<u32>,
    /// When it started.
    pub start_time: Option<Timestamp>,
    /// Whether it has exited; null when unknown.
    pub exited: Option<bool>,
    /// Where it ran: cgroup, unit, container, pid namespace, user name.
    #[serde(flatten)]
    pub context: ProcContext,
}

/// Where a process ran, captured when it forked or exec'd (so an exited
/// process keeps it). Serialized flat into `victim`, `sender` and each
/// ancestor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ProcContext {
    /// The cgroup path: the cgroup v2 path, or on v1 hosts the
    /// `name=systemd` (else `memory`) hierarchy's (`/proc/<pid>/cgroup`).
    pub cgroup: Option<Text>,
    /// The systemd unit (service, scope, or the innermost slice) the
    /// cgroup path names; null outside systemd's conventions.
    pub unit: Option<String>,
    /// The unit of a user's systemd (`user@UID.service`) the process ran in.
    pub user_unit: Option<String>,
    /// The container the cgroup path names (docker, containerd, cri-o,
    /// podman, lxc, systemd-nspawn; Kubernetes pod uid).
    pub container: Option<Container>,
    /// The pid inside its own pid namespace (`/proc/<pid>/status` `NSpid:`
    /// last value; equal to the pid outside containers).
    pub ns_pid: Option<i32>,
    /// The inode of its pid namespace (`/proc/<pid>/ns/pid`), null when
    /// it is the host's (not nested) or unknown.
    pub pid_ns: Option<u64>,
    /// The user name of `uid` (the passwd database when the report was
    /// written).
    pub user: Option<String>,
}

impl ProcContext {
    /// The context of a process in `cgroup` (unit and container derived
    /// from the path).
    pub fn from_cgroup(cgroup: Option<&str>) -> ProcContext {
        let placed = cgroup.map(crate::context::placement).unwrap_or_default();
        ProcContext {
            cgroup: cgroup.map(Text::from),
            unit: placed.unit,
            user_unit: placed.user_unit,
            container: placed.container,
            ..ProcContext::default()
        }
    }
}

/// What limited memory when the OOM killer chose the victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OomConstraint {
    /// The whole machine ran out (`CONSTRAINT_NONE`).
    Machine,
    /// A memory cgroup's limit (`CONSTRAINT_MEMCG`).
    Memcg,
    /// A cpuset's memory nodes (`CONSTRAINT_CPUSET`).
    Cpuset,
    /// A NUMA memory policy (`CONSTRAINT_MEMORY_POLICY`).
    MemoryPolicy,
}

/// The OOM killer's own account of a kill (`mm/oom_kill.c`:
/// `dump_oom_victim`'s `oom-kill:` line, `__oom_kill_process`'s `Killed
/// process` line), plus the limit read when the line was read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OomContext {
    /// `constraint=`: what ran out.
    pub constraint: Option<OomConstraint>,
    /// `oom_memcg=`: the memory cgroup whose limit was hit (memcg OOM only).
    pub cgroup: Option<Text>,
    /// That cgroup's limit in bytes (`memory.max`, or v1
    /// `memory.limit_in_bytes`) read when the kernel's line was read; null
    /// when unlimited, unreadable or no cgroup.
    pub limit_bytes: Option<u64>,
    /// `task_memcg=`: the victim's memory cgroup.
    pub victim_cgroup: Option<Text>,
    /// `total-vm:` of the victim, in bytes.
    pub total_vm_bytes: Option<u64>,
    /// `anon-rss:` in bytes.
    pub anon_rss_bytes: Option<u64>,
    /// `file-rss:` in bytes.
    pub file_rss_bytes: Option<u64>,
    /// `shmem-rss:` in bytes.
    pub shmem_rss_bytes: Option<u64>,
    /// `oom_score_adj:` of the victim.
    pub oom_score_adj: Option<i32>,
}

/// A `cgroup.kill` write behind a kill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupKill {
    /// The cgroup written to, as the kill shows it: the deepest cgroup
    /// holding every process the same write killed (the kernel signals
    /// them all inside the writer's `write()`, seen by tracefs as one
    /// burst), taken only when no other live process sits in it. When all
    /// of them sat in one cgroup below the written one, or another process
    /// lives in their common cgroup (two writes close together), the
    /// victim's own cgroup; writes close together that emptied a parent
    /// cgroup between them name the parent.
    pub cgroup: Option<Text>,
}

/// The audit event behind a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditRef {
    /// The event serial (`audit(...:SERIAL)`).
    pub serial: u64,
    /// The rule key (`key=`), null for `(null)`.
    pub key: Option<Text>,
    /// The audit container id (`contid=` of a `CONTAINER_ID` record in
    /// the event), null when the event has none.
    pub container_id: Option<Text>,
}

/// Names an enum's values as their JSON strings: `as_str`, `Display`, and
/// comparison with a `&str` (so `report.reason == Some("oom")`-style
/// checks read like the JSON).
macro_rules! json_names {
    ($t:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// The name used in JSON and text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $s),+
                }
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

/// Why the kernel killed a process (`"reason"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The OOM killer (`oom:mark_victim`, or the kernel log's "Killed
    /// process").
    Oom,
    /// A write to a cgroup's `cgroup.kill`.
    CgroupKill,
    /// `RLIMIT_CPU`'s hard limit.
    Rlimit,
    /// A seccomp filter's kill action.
    Seccomp,
    /// A kernel-generated signal of no known kind.
    Kernel,
}

json_names!(Reason {
    Oom => "oom",
    CgroupKill => "cgroup_kill",
    Rlimit => "rlimit",
    Seccomp => "seccomp",
    Kernel => "kernel",
});

/// A witness that saw a kill (`"witnesses"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Witness {
    /// An audit kill-family syscall record.
    Audit,
    /// tracefs `signal:signal_generate`.
    Tracefs,
    /// The kernel log named the victim.
    Kmsg,
    /// The victim's exit by this signal (process events).
    Proc,
}

json_names!(OomConstraint {
    Machine => "machine",
    Memcg => "memcg",
    Cpuset => "cpuset",
    MemoryPolicy => "memory_policy",
});

json_names!(Witness {
    Audit => "audit",
    Tracefs => "tracefs",
    Kmsg => "kmsg",
    Proc => "proc",
});

/// The witness whose events were lost (`"source"` of a loss report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LossSource {
    /// Process events (proc connector).
    Proc,
    /// Audit records.
    Audit,
    /// The kernel log.
    Kmsg,
    /// tracefs events.
    Tracefs,
}

json_names!(LossSource {
    Proc => "proc",
    Audit => "audit",
    Kmsg => "kmsg",
    Tracefs => "tracefs",
});

/// `"type": "loss"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LossReport {
    /// The witness that lost events.
    pub source: LossSource,
    /// How many events were lost in this incident.
    pub count: u64,
}

/// `"type": "summary"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Process events received.
    pub proc_events: u64,
    /// Process events lost.
    pub proc_lost: u64,
    /// Audit records received.
    pub audit_records: u64,
    /// Audit records lost.
    pub audit_lost: u64,
    /// Kill reports printed.
    pub reports: u64,
    /// `signal_generate` / `mark_victim` events read from tracefs (0
    /// without the tracefs source).
    pub trace_events: u64,
    /// tracefs events lost (ring-buffer overruns and unparsable lines).
    pub trace_lost: u64,
    /// Kill and loss reports never written because the output was blocked
    /// (more than the output queue holds waited, or the output was still
    /// blocked when sigwatch stopped). A summary line that reaches its
    /// reader counts every report dropped before it.
    pub reports_dropped: u64,
    /// Kills of a victim whose kill was reported already: a second
    /// sender of the same signal (`timeout -s KILL` signals its child,
    /// then its whole group; two `kill -9` race). The first sender's
    /// report stands; these are only counted (`-v` logs each). One repeat
    /// kill seen by both audit and tracefs counts once.
    pub repeat_kills: u64,
    /// Failed attempts (refused kills, `success: false`) not reported
    /// because their sender's user (real uid) had 10 reported within 10 s
    /// already (a loop of `kill(1, SIGKILL)` by an unprivileged user must
    /// not flood the output).
    pub failed_attempts_suppressed: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00.000Z");
        // 1795667968.504 from the captured fixtures.
        assert_eq!(
            Timestamp(1_795_667_968_504_000_000).rfc3339(),
            "2026-11-26T04:39:28.504Z"
        );
        // A leap day.
        assert_eq!(
            Timestamp(951_782_400_000_000_000).rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn json_shape_matches_contract() {
        let r = Report::Loss(LossReport {
            source: LossSource::Proc,
            count: 3,
        });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"loss","source":"proc","count":3}"#
        );
        let s = Report::Summary(Summary {
            proc_events: 1,
            proc_lost: 2,
            audit_records: 3,
            audit_lost: 4,
            reports: 5,
            trace_events: 6,
            trace_lost: 7,
            reports_dropped: 8,
            repeat_kills: 9,
            failed_attempts_suppressed: 10,
        });
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"type":"summary","proc_events":1,"proc_lost":2,"audit_records":3,"audit_lost":4,"reports":5,"trace_events":6,"trace_lost":7,"reports_dropped":8,"repeat_kills":9,"failed_attempts_suppressed":10}"#
        );
        let t = Text(vec![b'a', 0xff, 0x1b]);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"a\u{fffd}\\u001b\"");
    }
}
