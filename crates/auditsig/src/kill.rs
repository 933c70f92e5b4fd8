//! Typed kill events.
//!
//! A kill-family syscall caught by an audit rule produces a `SYSCALL`
//! record (the sender, the arguments, the result), one `OBJ_PID` record
//! per process the signal was sent to (`audit_signal_info_syscall()`
//! records targets *before* the permission check, so a denied kill has
//! them too), and a `PROCTITLE` record (the sender's argv, cut at 128
//! bytes by the kernel). [`KillEvent::from_event`] turns such an event
//! into a [`KillEvent`].
//!
//! ```
//! use std::time::Instant;
//! use auditsig::{Assembler, KillEvent, Record};
//!
//! // Records as read from the netlink multicast group (type, body).
//! let records: [(u16, &[u8]); 4] = [
//!     (1300, b"audit(1795667968.504:23): arch=c000003e syscall=62 success=yes exit=0 \
//!              a0=50e a1=9 a2=0 a3=0 items=0 ppid=1 pid=1298 auid=4294967295 uid=65534 \
//!              gid=65534 euid=65534 tty=(none) ses=4294967295 comm=\"sh\" \
//!              exe=\"/usr/bin/dash\" key=\"swtest\""),
//!     (1318, b"audit(1795667968.504:23): opid=1294 oauid=-1 ouid=65534 oses=-1 ocomm=\"pa-daemon\""),
//!     (1327, b"audit(1795667968.504:23): proctitle=2F62696E2F7368002F6F70742F6775617264"),
//!     (1320, b"audit(1795667968.504:23): "),
//! ];
//! let mut asm = Assembler::default();
//! for (t, body) in records {
//!     asm.push(Record::from_netlink(t, body)?, Instant::now());
//! }
//! let event = asm.pop().expect("complete event");
//! let kill = KillEvent::from_event(&event)?.expect("a kill");
//! assert_eq!((kill.sender.pid, kill.signal, kill.targets[0].pid), (1298, 9, 1294));
//! assert_eq!(kill.sender.argv.as_ref().map(Vec::len), Some(2)); // /bin/sh /opt/guard
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::assemble::Event;
use crate::record::{Record, RecordType, Stamp};
use crate::syscalls::{Arch, KillSyscall};
use crate::value::{self, Value};

/// The length at which the kernel cuts `PROCTITLE`
/// (`MAX_PROCTITLE_AUDIT_LEN` in `kernel/auditsc.c`).
pub const MAX_PROCTITLE_AUDIT_LEN: usize = 128;

/// `AUDIT_UID_UNSET` / `AUDIT_SID_UNSET`: "no login uid / session".
pub const AUDIT_UNSET: u32 = u32::MAX;

/// Bytes chosen by a process (comm, argv, exe): not necessarily UTF-8,
/// may hold control characters. Renderers must escape them.
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// As text, invalid UTF-8 replaced (control characters are *not*
    /// escaped here).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl From<&[u8]> for Bytes {
    fn from(b: &[u8]) -> Bytes {
        Bytes(b.to_vec())
    }
}

impl From<&str> for Bytes {
    fn from(s: &str) -> Bytes {
        Bytes(s.as_bytes().to_vec())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Bytes {
    /// Serialized as a string, invalid UTF-8 replaced by U+FFFD.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string_lossy())
    }
}

/// The process that made the kill syscall (the `SYSCALL` record's task
/// fields, `audit_log_task_info()`, and `PROCTITLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Sender {
    /// `pid` (the sender's tgid, a `pid_t`).
    pub pid: i32,
    /// `ppid`.
    pub ppid: i32,
    /// `uid` (real).
    pub uid: u32,
    /// `euid`.
    pub euid: u32,
    /// `gid` (real).
    pub gid: u32,
    /// `auid`, the login uid; `None` when unset (4294967295 / -1).
    pub auid: Option<u32>,
    /// `ses`, the login session; `None` when unset.
    pub ses: Option<u32>,
    /// `tty`; `None` for `(none)`.
    pub tty: Option<Bytes>,
    /// `comm` (at most 15 bytes, `TASK_COMM_LEN - 1`).
    pub comm: Bytes,
    /// `exe`; `None` for `(null)`/`?` (e.g. no mm).
    pub exe: Option<Bytes>,
    /// The argv from `PROCTITLE`; `None` without a `PROCTITLE` record
    /// (kernels before 3.17).
    pub argv: Option<Vec<Bytes>>,
    /// True when the decoded `PROCTITLE` is 128 bytes or longer: the
    /// kernel cut it, later arguments are missing or shortened.
    pub argv_truncated: bool,
}

/// One process the signal was sent to (an `OBJ_PID` record,
/// `audit_log_pid_context()`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Target {
    /// `opid` (the target's tgid, also for a thread-directed tgkill; a
    /// `pid_t`).
    pub pid: i32,
    /// `oauid`; `None` when unset (-1).
    pub auid: Option<u32>,
    /// `ouid`.
    pub uid: u32,
    /// `oses`; `None` when unset (-1).
    pub ses: Option<u32>,
    /// `ocomm`; `None` when the record has none (unknown, not empty).
    pub comm: Option<Bytes>,
    /// `obj` (the LSM context), when an LSM is active.
    pub obj: Option<Bytes>,
}

/// What the first argument(s) of the syscall designate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum TargetSpec {
    /// `kill(pid > 0)`, `rt_sigqueueinfo(tgid)`: one process.
    Process(i32),
    /// `kill(0)`: the caller's process group.
    OwnProcessGroup,
    /// `kill(-pgid)`: a process group.
    ProcessGroup(i32),
    /// `kill(-1)`: every process the caller may signal.
    All,
    /// `tkill(tid)`: one thread.
    Thread(i32),
    /// `tgkill(tgid, tid)`, `rt_tgsigqueueinfo(tgid, tid)`: one thread of
    /// a process.
    ThreadOf {
        /// The thread group id (a0).
        tgid: i32,
        /// The thread id (a1).
        tid: i32,
    },
    /// `pidfd_send_signal(pidfd)`: a process by pidfd (the fd number).
    Pidfd(i32),
}

impl TargetSpec {
    /// The thread a thread-directed syscall aimed at: `tkill(tid)`,
    /// `tgkill(tgid, tid)`, `rt_tgsigqueueinfo(tgid, tid)`.
    pub fn thread(&self) -> Option<i32> {
        match *self {
            TargetSpec::Thread(tid) | TargetSpec::ThreadOf { tid, .. } => Some(tid),
            _ => None,
        }
    }

    /// The pid argument as the caller passed it for the pid-directed
    /// syscalls (`kill`: 0 = own group, -1 = all, < -1 = a group;
    /// `rt_sigqueueinfo`, `tgkill`: the tgid; `tkill`: the tid); `None`
    /// for `pidfd_send_signal`, whose first argument is an fd.
    pub fn pid_arg(&self) -> Option<i32> {
        match *self {
            TargetSpec::Process(p) | TargetSpec::Thread(p) => Some(p),
            TargetSpec::OwnProcessGroup => Some(0),
            TargetSpec::ProcessGroup(g) => Some(g.wrapping_neg()),
            TargetSpec::All => Some(-1),
            TargetSpec::ThreadOf { tgid, .. } => Some(tgid),
            TargetSpec::Pidfd(_) => None,
        }
    }
}

/// The syscall of a [`KillEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Syscall {
    /// One of the kill family.
    Kill(KillSyscall),
    /// A syscall number this crate's tables do not name on the event's
    /// arch (the raw `syscall` field).
    Other(u32),
}

impl Syscall {
    /// The kill-family syscall, if this is one.
    pub fn kill_syscall(self) -> Option<KillSyscall> {
        match self {
            Syscall::Kill(k) => Some(k),
            Syscall::Other(_) => None,
        }
    }

    /// The name as in the kernel's syscall tables (`"tgkill"`); `None`
    /// for [`Syscall::Other`].
    pub fn name(self) -> Option<&'static str> {
        self.kill_syscall().map(KillSyscall::name)
    }
}

impl From<KillSyscall> for Syscall {
    fn from(k: KillSyscall) -> Syscall {
        Syscall::Kill(k)
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Syscall::Kill(k) => f.write_str(k.name()),
            Syscall::Other(nr) => write!(f, "syscall {nr}"),
        }
    }
}

/// A kill-family syscall with its sender, signal, targets and result.
///
/// Pids are `i32` (`pid_t`), signals `i32` (the kernel's `int sig`).
/// Built by [`KillEvent::from_event`]; outside this crate (tests,
/// synthetic input) start from [`KillEvent::new`] and set the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct KillEvent {
    /// The event's time and serial.
    pub stamp: Stamp,
    /// `arch`.
    pub arch: Arch,
    /// The syscall.
    pub syscall: Syscall,
    /// The raw `syscall` number.
    pub syscall_nr: u32,
    /// The signal (argument a1 or a2 depending on the syscall; 0 probes
    /// whether the target exists).
    pub signal: i32,
    /// `a0`..`a3` as the kernel printed them (register values).
    pub args: [u64; 4],
    /// What the arguments designate.
    pub target_spec: TargetSpec,
    /// `success=yes`.
    pub success: bool,
    /// `exit`: the syscall's return value.
    pub exit: i64,
    /// The errno when the syscall failed (`-exit`, e.g. 1 = `EPERM`).
    pub errno: Option<i32>,
    /// The sending process.
    pub sender: Sender,
    /// Every `OBJ_PID` record, in order (empty when no process matched,
    /// e.g. `ESRCH`).
    pub targets: Vec<Target>,
    /// `key`; `None` for `(null)`. Several keys are joined by `\x01`.
    pub key: Option<Bytes>,
    /// `OBJ_PID` records dropped by the assembler (huge `kill(-1)`).
    pub targets_dropped: usize,
}

/// Why an event that is a kill-family syscall could not be turned into a
/// [`KillEvent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KillEventError {
    /// A required field is missing or malformed.
    #[error("{record} record: missing or malformed field `{field}`")]
    Field {
        /// The record type name (`SYSCALL`, `OBJ_PID`).
        record: &'static str,
        /// The field name.
        field: &'static str,
    },
    /// More than one `SYSCALL` record in one event: records of two events
    /// with the same stamp were mixed (logs of two hosts merged without
    /// `node=`), and which targets belong to which sender is unknown.
    #[error(
        "{0} SYSCALL records in one event (two hosts' records with the same stamp and no node=?)"
    )]
    SeveralSyscalls(usize),
}

fn missing(record: &'static str, field: &'static str) -> KillEventError {
    KillEventError::Field { record, field }
}

/// Unset ids print as 4294967295 in `SYSCALL` and as -1 in `OBJ_PID`.
/// A missing field (kernels before `ses`/`oses` existed) is unset too.
fn id_opt(v: Option<Value<'_>>) -> Result<Option<u32>, ()> {
    let Some(v) = v else {
        return Ok(None);
    };
    let n = v.as_dec_i64().ok_or(())?;
    if n == -1 || n == i64::from(AUDIT_UNSET) {
        return Ok(None);
    }
    u32::try_from(n).map(Some).map_err(|_| ())
}

fn dec_u32(
    v: Option<Value<'_>>,
    rec: &'static str,
    name: &'static str,
) -> Result<u32, KillEventError> {
    v.and_then(|v| v.as_dec_u64())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| missing(rec, name))
}

/// A pid field: decimal, within `pid_t` (`PID_MAX_LIMIT` is 2^22).
fn dec_pid(
    v: Option<Value<'_>>,
    rec: &'static str,
    name: &'static str,
) -> Result<i32, KillEventError> {
    v.and_then(|v| v.as_dec_u64())
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| missing(rec, name))
}

fn string(v: Option<Value<'_>>) -> Option<Bytes> {
    v.and_then(|v| v.bytes()).map(|b| Bytes(b.into_owned()))
}

/// The `SYSCALL` fields a kill event needs, in one pass over the record
/// (each `Record::get` would scan all fields again).
const SYSCALL_FIELDS: [&str; 19] = [
    "arch", "syscall", "a0", "a1", "a2", "a3", "exit", "success", "pid", "ppid", "uid", "euid",
    "gid", "auid", "ses", "tty", "comm", "exe", "key",
];
const OBJ_PID_FIELDS: [&str; 6] = ["opid", "oauid", "ouid", "oses", "ocomm", "obj"];

/// Values of `names` in `r` (first occurrence of each), classified.
fn pick<'r, const N: usize>(r: &'r Record, names: &[&str; N]) -> [Option<Value<'r>>; N] {
    let mut out = [None; N];
    for (name, raw) in r.raw_fields() {
        if let Some(i) = names.iter().position(|n| n.as_bytes() == name) {
            if out[i].is_none() {
                out[i] = Some(Value::classify(r.record_type(), name, raw));
            }
        }
    }
    out
}

impl Sender {
    /// A sender with the fields every `SYSCALL` record has; the optional
    /// ones (`auid`, `ses`, `tty`, `exe`, `argv`) unset.
    pub fn new(
        pid: i32,
        ppid: i32,
        uid: u32,
        euid: u32,
        gid: u32,
        comm: impl Into<Bytes>,
    ) -> Sender {
        Sender {
            pid,
            ppid,
            uid,
            euid,
            gid,
            auid: None,
            ses: None,
            tty: None,
            comm: comm.into(),
            exe: None,
            argv: None,
            argv_truncated: false,
        }
    }
}

impl Target {
    /// A target with `opid`, `ouid` and `ocomm`; `oauid`, `oses` and
    /// `obj` unset.
    pub fn new(pid: i32, uid: u32, comm: impl Into<Bytes>) -> Target {
        Target {
            pid,
            auid: None,
            uid,
            ses: None,
            comm: Some(comm.into()),
            obj: None,
        }
    }
}

impl KillEvent {
    /// A successful kill-family call of `syscall` on `arch` sending
    /// `signal` as `target_spec` says, without targets or key: `args`
    /// hold what the caller passed (`syscall_nr` the syscall's number on
    /// `arch`). Set the other fields as needed.
    pub fn new(
        stamp: Stamp,
        arch: Arch,
        syscall: KillSyscall,
        target_spec: TargetSpec,
        signal: i32,
        sender: Sender,
    ) -> KillEvent {
        let reg = |v: i32| u64::from(v as u32);
        let (a0, a1) = match target_spec {
            TargetSpec::ThreadOf { tgid, tid } => (reg(tgid), Some(reg(tid))),
            TargetSpec::Pidfd(fd) => (reg(fd), None),
            other => (other.pid_arg().map_or(0, reg), None),
        };
        let mut args = [a0, 0, 0, 0];
        if let Some(a1) = a1 {
            args[1] = a1;
        }
        args[syscall.signal_arg()] = reg(signal);
        KillEvent {
            stamp,
            arch,
            syscall: Syscall::Kill(syscall),
            syscall_nr: syscall.number(arch),
            signal,
            args,
            target_spec,
            success: true,
            exit: 0,
            errno: None,
            sender,
            targets: Vec::new(),
            key: None,
            targets_dropped: 0,
        }
    }

    /// The thread a thread-directed syscall aimed at (`tkill`, `tgkill`,
    /// `rt_tgsigqueueinfo`; see [`TargetSpec::thread`]).
    pub fn target_tid(&self) -> Option<i32> {
        self.target_spec.thread()
    }

    /// The event time in nanoseconds since the Unix epoch (the stamp has
    /// millisecond resolution; saturating for absurd stamps from a log).
    pub fn time_ns(&self) -> u64 {
        self.stamp.millis().saturating_mul(1_000_000)
    }

    /// The kill event in `event`, `Ok(None)` if the event is not a
    /// kill-family syscall (no `SYSCALL` record, an arch without a table,
    /// another syscall).
    ///
    /// # Errors
    ///
    /// [`KillEventError`] when a required field of a kill-family event is
    /// missing or malformed.
    pub fn from_event(event: &Event) -> Result<Option<KillEvent>, KillEventError> {
        let Some(sc) = event.first(RecordType::SYSCALL) else {
            return Ok(None);
        };
        const S: &str = "SYSCALL";
        let [arch, syscall_nr, a0, a1, a2, a3, exit, success, pid, ppid, uid, euid, gid, auid, ses, tty, comm, exe, key] =
            pick(sc, &SYSCALL_FIELDS);
        let Some(arch) = arch
            .and_then(|v| v.as_hex_u64())
            .and_then(|v| u32::try_from(v).ok())
            .and_then(Arch::from_audit_arch)
        else {
            return Ok(None);
        };
        let syscall_nr = dec_u32(syscall_nr, S, "syscall")?;
        let Some(syscall) = KillSyscall::from_number(arch, syscall_nr) else {
            return Ok(None);
        };
        let syscalls = event
            .records
            .iter()
            .filter(|r| r.record_type() == RecordType::SYSCALL)
            .count();
        if syscalls > 1 {
            return Err(KillEventError::SeveralSyscalls(syscalls));
        }
        let mut args = [0u64; 4];
        for (i, (v, name)) in [(a0, "a0"), (a1, "a1"), (a2, "a2"), (a3, "a3")]
            .into_iter()
            .enumerate()
        {
            args[i] = v
                .and_then(|v| v.as_hex_u64())
                .ok_or_else(|| missing(S, name))?;
        }
        // Syscall arguments are `int`: the kernel prints the whole
        // register, the low 32 bits are the value.
        let int = |i: usize| args[i] as u32 as i32;
        let signal = int(syscall.signal_arg());
        let target_spec = match syscall {
            KillSyscall::Kill => match int(0) {
                0 => TargetSpec::OwnProcessGroup,
                -1 => TargetSpec::All,
                p if p < 0 => TargetSpec::ProcessGroup(p.wrapping_neg()),
                p => TargetSpec::Process(p),
            },
            KillSyscall::Tkill => TargetSpec::Thread(int(0)),
            KillSyscall::Tgkill | KillSyscall::RtTgsigqueueinfo => TargetSpec::ThreadOf {
                tgid: int(0),
                tid: int(1),
            },
            KillSyscall::RtSigqueueinfo => TargetSpec::Process(int(0)),
            KillSyscall::PidfdSendSignal => TargetSpec::Pidfd(int(0)),
        };
        let exit = exit
            .and_then(|v| v.as_dec_i64())
            .ok_or_else(|| missing(S, "exit"))?;
        let success = match success {
            Some(Value::Bare(b"yes")) => true,
            Some(Value::Bare(b"no")) => false,
            Some(_) => return Err(missing(S, "success")),
            // Very old kernels: derive it from the return value.
            None => exit >= 0,
        };
        let errno = if exit < 0 {
            i32::try_from(exit.unsigned_abs()).ok()
        } else {
            None
        };

        let (argv, argv_truncated) = match event.first(RecordType::PROCTITLE) {
            Some(pt) => match pt.get("proctitle").and_then(|v| v.bytes()) {
                Some(decoded) => (
                    Some(
                        value::split_proctitle(&decoded)
                            .into_iter()
                            .map(Bytes)
                            .collect(),
                    ),
                    decoded.len() >= MAX_PROCTITLE_AUDIT_LEN,
                ),
                None => (None, false),
            },
            None => (None, false),
        };

        let sender = Sender {
            pid: dec_pid(pid, S, "pid")?,
            ppid: dec_pid(ppid, S, "ppid")?,
            uid: dec_u32(uid, S, "uid")?,
            euid: dec_u32(euid, S, "euid")?,
            gid: dec_u32(gid, S, "gid")?,
            auid: id_opt(auid).map_err(|_| missing(S, "auid"))?,
            ses: id_opt(ses).map_err(|_| missing(S, "ses"))?,
            tty: string(tty),
            comm: string(comm).ok_or_else(|| missing(S, "comm"))?,
            // `exe=""`: no path known (e.g. a kernel thread's mm-less
            // context); unknown is None, never an empty path.
            exe: string(exe).filter(|b| !b.0.is_empty()),
            argv,
            argv_truncated,
        };

        const O: &str = "OBJ_PID";
        let mut targets = Vec::new();
        for r in event.all(RecordType::OBJ_PID) {
            let [opid, oauid, ouid, oses, ocomm, obj] = pick(r, &OBJ_PID_FIELDS);
            // Some kernels print ids without a mapping as -1.
            let ouid = ouid.ok_or_else(|| missing(O, "ouid"))?;
            targets.push(Target {
                pid: dec_pid(opid, O, "opid")?,
                auid: id_opt(oauid).map_err(|_| missing(O, "oauid"))?,
                uid: id_opt(Some(ouid))
                    .map_err(|_| missing(O, "ouid"))?
                    .unwrap_or(AUDIT_UNSET),
                ses: id_opt(oses).map_err(|_| missing(O, "oses"))?,
                comm: string(ocomm),
                obj: string(obj),
            });
        }

        Ok(Some(KillEvent {
            stamp: event.stamp,
            arch,
            syscall: Syscall::Kill(syscall),
            syscall_nr,
            signal,
            args,
            target_spec,
            success,
            exit,
            errno,
            sender,
            targets,
            key: string(key),
            targets_dropped: event.dropped_records,
        }))
    }
}

/// Counters for turning events into kill events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct KillStats {
    /// Events examined.
    pub events: u64,
    /// Kill events produced.
    pub kill_events: u64,
    /// Kill-family events that could not be decoded
    /// ([`KillEventError`]).
    pub malformed: u64,
}

impl KillStats {
    /// [`KillEvent::from_event`], counting the outcome; malformed events
    /// are logged and counted, not returned.
    pub fn convert(&mut self, event: &Event) -> Option<KillEvent> {
        self.events += 1;
        match KillEvent::from_event(event) {
            Ok(Some(k)) => {
                self.kill_events += 1;
                Some(k)
            }
            Ok(None) => None,
            Err(e) => {
                self.malformed += 1;
                log::debug!("malformed kill event {}: {e}", event.stamp);
                None
            }
        }
    }
}

/// The body of the `audit_record_parse` fuzz target (also replayed by the
/// test suite): `data` through the log-line path and, split into netlink
/// messages (`u16` type, then a body up to the next `\n`), through the
/// netlink path; parser, assembler and [`KillEvent::from_event`] must
/// never panic.
#[doc(hidden)]
pub fn fuzz_audit_record_parse(data: &[u8]) {
    let (kills, _) = crate::source::kills_from_log_text(data);
    for k in &kills {
        // Touch the decoded values.
        let _ = (k.sender.argv.as_ref().map(Vec::len), k.targets.len());
    }
    let now = std::time::Instant::now();
    let mut asm = crate::assemble::Assembler::new(crate::assemble::AssemblerConfig {
        max_open: 4,
        ..Default::default()
    });
    for chunk in data.split(|&c| c == b'\n') {
        let [a, b, body @ ..] = chunk else {
            continue;
        };
        let msg_type = u16::from_le_bytes([*a, *b]) % 64 + 1300;
        if let Ok(r) = Record::from_netlink(msg_type, body) {
            for f in r.fields().chain(r.interpreted()) {
                let _ = (f.value.bytes(), f.value.as_hex_u64(), f.value.as_dec_i64());
            }
            asm.push(r, now);
        }
        for e in asm.drain() {
            let _ = KillEvent::from_event(&e);
            let _ = e.execve_argv();
        }
    }
    asm.flush();
    for e in asm.drain() {
        let _ = KillEvent::from_event(&e);
        let _ = e.execve_argv();
    }
}
