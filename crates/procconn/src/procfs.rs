//! Reading per-process facts from `/proc`, behind the [`ProcSource`] trait.
//!
//! The [`crate::ProcessTree`] never touches `/proc` itself: it asks a
//! [`ProcSource`] for a [`Snapshot`]. [`ProcFs`] is the real implementation;
//! [`FakeProc`] is an in-memory double so that the tree can be driven as a pure
//! state machine in tests and benchmarks, without a kernel.
//!
//! The parsers ([`parse_stat`], [`parse_status_ids`], [`parse_cmdline`],
//! [`parse_cgroup`], [`parse_u32_file`]) are pure functions over bytes: the
//! contents of these files are partly chosen by the processes we watch (comm,
//! argv), so they never panic and return `None` on garbage.

use std::collections::HashMap;
use std::ffi::CStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::event::Pid;

/// Which parts of `/proc/<pid>` to read, as a bit set.
///
/// `/proc/<pid>/stat` is always read: its start time is what proves that the
/// pid still names the process we mean (and not a newer one that reused it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Fields(u32);

impl Fields {
    /// Only `/proc/<pid>/stat` (comm, ppid, start time).
    pub const STAT: Fields = Fields(0);
    /// `/proc/<pid>/status`: `Uid:` and `Gid:` lines (real, effective).
    pub const IDS: Fields = Fields(1);
    /// `/proc/<pid>/exe` (a symlink).
    pub const EXE: Fields = Fields(1 << 1);
    /// `/proc/<pid>/cmdline`: argv.
    pub const CMDLINE: Fields = Fields(1 << 2);
    /// `/proc/<pid>/cwd` (a symlink).
    pub const CWD: Fields = Fields(1 << 3);
    /// `/proc/<pid>/cgroup`.
    pub const CGROUP: Fields = Fields(1 << 4);
    /// `/proc/<pid>/loginuid` (the audit login uid, `task->loginuid`).
    pub const LOGINUID: Fields = Fields(1 << 5);
    /// `/proc/<pid>/sessionid` (the audit session id, `task->sessionid`).
    pub const SESSIONID: Fields = Fields(1 << 6);
    /// The pid namespace: the `/proc/<pid>/ns/pid` link and, for a process
    /// in another namespace than the procfs's own (a container), the pid
    /// inside it from `/proc/<pid>/status` `NSpid:`.
    pub const PIDNS: Fields = Fields(1 << 7);
    /// Everything above.
    pub const ALL: Fields = Fields(0xff);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    pub const fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl std::ops::BitOr for Fields {
    type Output = Fields;
    fn bitor(self, rhs: Fields) -> Fields {
        self.union(rhs)
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Fields, &str); 8] = [
            (Fields::IDS, "IDS"),
            (Fields::EXE, "EXE"),
            (Fields::CMDLINE, "CMDLINE"),
            (Fields::CWD, "CWD"),
            (Fields::CGROUP, "CGROUP"),
            (Fields::LOGINUID, "LOGINUID"),
            (Fields::SESSIONID, "SESSIONID"),
            (Fields::PIDNS, "PIDNS"),
        ];
        write!(f, "STAT")?;
        for (bit, name) in NAMES {
            if self.contains(bit) {
                write!(f, "|{name}")?;
            }
        }
        Ok(())
    }
}

/// What `/proc/<pid>` said about one process at one moment.
///
/// Fields that were not requested, or could not be read (permissions, the
/// process exited half-way), are `None`. Of a zombie (`state` `Z`), the
/// exe, argv and cwd are not read: the kernel has released them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Snapshot {
    /// `stat` field 1: the pid (the process id, i.e. tgid).
    pub pid: Pid,
    /// `stat` field 2: `task->comm` (the bytes between the first `(` and the
    /// last `)`).
    pub comm: Vec<u8>,
    /// `stat` field 4: the current parent's pid (`task->real_parent->tgid`).
    pub ppid: Pid,
    /// `stat` field 3: the state letter (`R`, `S`, `Z` for a zombie, …).
    pub state: u8,
    /// `stat` field 22: start time in clock ticks after boot
    /// (`task->start_boottime`, `CLOCK_BOOTTIME`). Stable for the life of the
    /// process, so equal values prove "same process" across two reads.
    pub start_ticks: u64,
    /// [`Snapshot::start_ticks`] converted to nanoseconds on the
    /// `CLOCK_MONOTONIC` clock of [`crate::ProcEvent::timestamp_ns`] (the
    /// boottime − monotonic offset, i.e. time spent suspended, is subtracted).
    /// Precision: one clock tick (usually 10 ms), truncated.
    pub start_time_ns: u64,
    /// `status` `Uid:` first value (`cred->uid`).
    pub uid: Option<u32>,
    /// `status` `Uid:` second value (`cred->euid`).
    pub euid: Option<u32>,
    /// `status` `Gid:` first value (`cred->gid`).
    pub gid: Option<u32>,
    /// `exe` symlink target (may end in `" (deleted)"`).
    pub exe: Option<PathBuf>,
    /// `cmdline` split at NUL bytes; empty for kernel threads and zombies.
    pub argv: Option<Vec<Vec<u8>>>,
    /// `cmdline` was longer than the reader's limit: `argv` is cut.
    pub argv_truncated: bool,
    /// `cwd` symlink target.
    pub cwd: Option<PathBuf>,
    /// The cgroup path chosen by [`CgroupPaths::primary`]: the cgroup v2
    /// path, or on v1 hosts the `name=systemd` (else `memory`) hierarchy's.
    pub cgroup: Option<String>,
    /// The memory controller's cgroup path (the v2 path on v2 hosts, the
    /// `memory` hierarchy's on v1): where OOM limits are set.
    pub memory_cgroup: Option<String>,
    /// `status` `NSpid:` last value: the pid inside the process's own
    /// (innermost) pid namespace.
    pub ns_pid: Option<Pid>,
    /// The inode of the pid namespace (`/proc/<pid>/ns/pid` →
    /// `pid:[INODE]`), only when it is nested in the procfs's own (`NSpid:`
    /// has more than one value).
    pub pid_ns: Option<u64>,
    /// `loginuid` raw (`u32::MAX` = unset).
    pub loginuid: Option<u32>,
    /// `sessionid` raw (`u32::MAX` = unset).
    pub sessionid: Option<u32>,
}

impl Snapshot {
    /// Whether the process was running (not a zombie `Z` or dead `X`/`x`)
    /// when read: a zombie has no exe, cwd or argv any more.
    pub fn state_is_alive(&self) -> bool {
        !matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Where the [`crate::ProcessTree`] gets `/proc` facts from.
///
/// Implementations must be cheap to call: the tree calls
/// [`ProcSource::snapshot`] right after fork and exec events, in the event
/// loop.
pub trait ProcSource: fmt::Debug + Send {
    /// Reads `stat` plus the requested `fields` of `pid`. `None` when the
    /// process does not exist (or `stat` is unreadable).
    fn snapshot(&mut self, pid: Pid, fields: Fields) -> Option<Snapshot>;
    /// All process ids (numeric entries of `/proc`).
    ///
    /// # Errors
    /// When the process list cannot be read.
    fn pids(&mut self) -> io::Result<Vec<Pid>>;
    /// The thread ids of process `pid` (entries of `/proc/<pid>/task`),
    /// including `pid` itself. Empty when unreadable.
    fn tids(&mut self, pid: Pid) -> Vec<Pid>;
}

/// Parsed fields of `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatFields {
    /// Field 1: pid.
    pub pid: Pid,
    /// Field 2: comm, without the parentheses.
    pub comm: Vec<u8>,
    /// Field 3: state character.
    pub state: u8,
    /// Field 4: ppid.
    pub ppid: Pid,
    /// Field 22: start time in clock ticks after boot.
    pub start_ticks: u64,
}

/// Parses `/proc/<pid>/stat`. The comm may contain spaces and `)`, so the
/// fields after it are found from the *last* `)`.
pub fn parse_stat(buf: &[u8]) -> Option<StatFields> {
    let open = buf.iter().position(|&b| b == b'(')?;
    let close = buf.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid = parse_dec(buf[..open].trim_ascii())?;
    let pid = Pid::try_from(pid).ok()?;
    let comm = buf[open + 1..close].to_vec();
    // After ") ": field 3 (state) is index 0, ppid index 1, starttime
    // (field 22) index 19.
    let mut rest = buf
        .get(close + 1..)?
        .split(|&b| b == b' ')
        .filter(|s| !s.is_empty());
    let state = *rest.next()?.first()?;
    let ppid = Pid::try_from(parse_dec(rest.next()?)?).ok()?;
    let start_ticks = parse_dec(rest.nth(17)?.trim_ascii())?;
    Some(StatFields {
        pid,
        comm,
        state,
        ppid,
        start_ticks,
    })
}

/// Parses the real and effective ids of the `Uid:` and `Gid:` lines of
/// `/proc/<pid>/status`: `((uid, euid), (gid, egid))`, each `None` when its
/// line is missing or malformed.
#[allow(clippy::type_complexity)]
pub fn parse_status_ids(buf: &[u8]) -> (Option<(u32, u32)>, Option<(u32, u32)>) {
    let mut uids = None;
    let mut gids = None;
    for line in buf.split(|&b| b == b'\n') {
        let (slot, v) = match line {
            [b'U', b'i', b'd', b':', v @ ..] => (&mut uids, v),
            [b'G', b'i', b'd', b':', v @ ..] => (&mut gids, v),
            _ => continue,
        };
        let mut it = v
            .split(|&b| b == b'\t' || b == b' ')
            .filter(|s| !s.is_empty())
            .map(|s| parse_dec(s).and_then(|n| u32::try_from(n).ok()));
        if let (Some(Some(r)), Some(Some(e))) = (it.next(), it.next()) {
            *slot = Some((r, e));
        }
        if uids.is_some() && gids.is_some() {
            break;
        }
    }
    (uids, gids)
}

/// Splits `/proc/<pid>/cmdline` into argv. A trailing NUL ends the last
/// argument; a process that rewrote its argv area (setproctitle) may leave no
/// NUL at all, which is one argument.
pub fn parse_cmdline(buf: &[u8]) -> Vec<Vec<u8>> {
    let buf = buf.strip_suffix(b"\0").unwrap_or(buf);
    if buf.is_empty() {
        return Vec::new();
    }
    buf.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// The paths of one process in the cgroup hierarchies that name it
/// (`/proc/<pid>/cgroup`, lines `hierarchy-id:controllers:path`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CgroupPaths {
    /// The cgroup v2 line (`0::/path`).
    pub unified: Option<String>,
    /// The v1 `name=systemd` hierarchy (systemd's own on v1 and hybrid hosts).
    pub systemd: Option<String>,
    /// The v1 hierarchy holding the `memory` controller.
    pub memory: Option<String>,
    /// The first line's path, whatever its hierarchy.
    pub first: Option<String>,
}

impl CgroupPaths {
    /// The path that says most about where the process runs: the v2 path
    /// unless it is the root while a v1 `name=systemd` or `memory`
    /// hierarchy places the process deeper (hybrid hosts where the v2
    /// tree is mounted but unused), then `name=systemd`, then `memory`,
    /// then the first line.
    pub fn primary(&self) -> Option<&str> {
        fn deeper(p: &Option<String>) -> Option<&str> {
            p.as_deref().filter(|p| *p != "/")
        }
        deeper(&self.unified)
            .or_else(|| deeper(&self.systemd))
            .or_else(|| deeper(&self.memory))
            .or(self.unified.as_deref())
            .or(self.systemd.as_deref())
            .or(self.memory.as_deref())
            .or(self.first.as_deref())
    }

    /// The memory controller's path: the v1 `memory` hierarchy's when
    /// there is one, else the v2 path.
    pub fn memory_controller(&self) -> Option<&str> {
        self.memory.as_deref().or(self.unified.as_deref())
    }
}

/// Parses every line of `/proc/<pid>/cgroup` into [`CgroupPaths`]. A
/// path is taken verbatim (it may contain `:`); malformed lines are
/// skipped. Invalid UTF-8 is replaced (U+FFFD): cgroup names are chosen
/// by whoever may create cgroups, i.e. root or a delegated user.
pub fn parse_cgroups(buf: &[u8]) -> CgroupPaths {
    let mut out = CgroupPaths::default();
    for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        // hierarchy-id:controllers:path — the path may itself contain ':'.
        let mut parts = line.splitn(3, |&b| b == b':');
        let (Some(id), Some(ctl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if !path.starts_with(b"/") {
            continue;
        }
        let path = String::from_utf8_lossy(path).into_owned();
        if id == b"0" && ctl.is_empty() {
            out.unified = Some(path.clone());
        } else if ctl == b"name=systemd" {
            out.systemd = Some(path.clone());
        } else if ctl.split(|&b| b == b',').any(|c| c == b"memory") {
            out.memory = Some(path.clone());
        }
        out.first.get_or_insert(path);
    }
    out
}

/// The cgroup path of `/proc/<pid>/cgroup` that says most about where the
/// process runs ([`CgroupPaths::primary`]).
pub fn parse_cgroup(buf: &[u8]) -> Option<String> {
    parse_cgroups(buf).primary().map(str::to_owned)
}

/// Parses the `NSpid:` line of `/proc/<pid>/status`: the pid in each pid
/// namespace the process belongs to, outermost (the reader's) first.
/// `None` when the line is missing (kernels before 4.1) or malformed.
pub fn parse_nspid(buf: &[u8]) -> Option<Vec<Pid>> {
    let line = buf
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"NSpid:"))?;
    let pids: Option<Vec<Pid>> = line
        .split(|&b| b == b'\t' || b == b' ')
        .filter(|s| !s.is_empty())
        .map(|s| parse_dec(s).and_then(|n| Pid::try_from(n).ok()))
        .collect();
    pids.filter(|p| !p.is_empty() && p.len() <= 64)
}

/// Parses a namespace link target (`pid:[4026531836]`) into its inode.
pub fn parse_ns_link(target: &[u8]) -> Option<u64> {
    let open = target.iter().position(|&b| b == b'[')?;
    let inner = target.get(open + 1..)?.strip_suffix(b"]")?;
    parse_dec(inner)
}

/// Parses a file holding one decimal `u32` (e.g. `loginuid`, `sessionid`).
pub fn parse_u32_file(buf: &[u8]) -> Option<u32> {
    u32::try_from(parse_dec(buf.trim_ascii())?).ok()
}

fn parse_dec(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// The real `/proc` reader.
///
/// Reads with plain `open`/`read`/`close` into a reused buffer (no `statx`
/// as `std::fs::read` would do), because it runs once or twice per process
/// creation during fork storms. A snapshot of more than `stat` opens
/// `/proc/<pid>` once and reads each file relative to it (`openat`,
/// `readlinkat`).
#[derive(Debug)]
pub struct ProcFs {
    root: PathBuf,
    buf: Vec<u8>,
    path: String,
    tick_ns: u64,
    max_cmdline: usize,
    truncated: bool,
    /// The process of the directory being read was reaped half-way
    /// (`stat`, `status` or `cmdline` would not open, or a read said
    /// `ESRCH`): the files not read yet are skipped.
    gone: bool,
    /// The pid namespace this procfs shows (the reader's, when it is in
    /// it: see `own_pid_ns`), once read: `Some(None)` when unknown.
    own_pid_ns: Option<Option<u64>>,
}

impl Default for ProcFs {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcFs {
    /// A reader of `/proc`.
    pub fn new() -> Self {
        Self::with_root("/proc")
    }

    /// A reader of a procfs mounted elsewhere (e.g. a container's).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        // SAFETY: sysconf has no memory-safety preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = if hz > 0 { hz as u64 } else { 100 };
        ProcFs {
            root: root.into(),
            buf: Vec::with_capacity(4096),
            path: String::with_capacity(64),
            tick_ns: 1_000_000_000 / hz,
            max_cmdline: 64 << 10,
            truncated: false,
            gone: false,
            own_pid_ns: None,
        }
    }

    /// Reads at most `bytes` of `cmdline` (default 64 KiB; a process may
    /// have megabytes of arguments). [`Snapshot::argv_truncated`] tells.
    pub fn with_max_cmdline(mut self, bytes: usize) -> Self {
        self.max_cmdline = bytes;
        self
    }

    /// Nanoseconds per clock tick (`1e9 / sysconf(_SC_CLK_TCK)`).
    pub fn tick_ns(&self) -> u64 {
        self.tick_ns
    }

    fn set_path(&mut self, pid: Pid, file: &str) {
        use std::fmt::Write;
        self.path.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.path, "{}/{}/{}", self.root.display(), pid, file);
    }

    /// Reads the file at `self.path` into `self.buf`, at most `limit` bytes
    /// (`self.truncated` says whether there was more).
    fn read_file(&mut self, limit: usize) -> bool {
        self.buf.clear();
        self.truncated = false;
        let Ok(f) = File::open(&self.path) else {
            return false;
        };
        self.read_from(f, limit)
    }

    /// Reads all of `f` into `self.buf`, at most `limit` bytes.
    fn read_from(&mut self, mut f: File, limit: usize) -> bool {
        loop {
            if self.buf.len() == self.buf.capacity() {
                self.buf.reserve(4096);
            }
            let len = self.buf.len();
            let cap = self.buf.capacity();
            self.buf.resize(cap, 0);
            match f.read(&mut self.buf[len..]) {
                Ok(0) => {
                    self.buf.truncate(len);
                    return true;
                }
                Ok(n) => {
                    self.buf.truncate(len + n);
                    if self.buf.len() > limit {
                        self.buf.truncate(limit);
                        self.truncated = true;
                        return true;
                    }
                    // procfs files are produced whole per read for these
                    // seq/single files: a short read is the end. Saves a
                    // syscall per file.
                    if len + n < cap {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.truncate(len),
                Err(e) => {
                    self.gone |= e.raw_os_error() == Some(libc::ESRCH);
                    self.buf.truncate(len);
                    return false;
                }
            }
        }
    }

    /// A [`Snapshot`] of the `stat` in `self.buf`.
    fn stat_snapshot(&self) -> Option<Snapshot> {
        let st = parse_stat(&self.buf)?;
        let start_time_ns = st
            .start_ticks
            .saturating_mul(self.tick_ns)
            .saturating_sub(Self::boot_offset_ns());
        Some(Snapshot {
            pid: st.pid,
            comm: st.comm,
            ppid: st.ppid,
            state: st.state,
            start_ticks: st.start_ticks,
            start_time_ns,
            ..Snapshot::default()
        })
    }

    /// Reads `file` of the process directory `dir` into `self.buf`, at
    /// most `limit` bytes (`self.truncated` says whether there was more).
    fn read_at(&mut self, dir: BorrowedFd<'_>, file: &CStr, limit: usize) -> bool {
        self.buf.clear();
        self.truncated = false;
        // SAFETY: a NUL-terminated name relative to a directory we hold.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                file.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
            )
        };
        if fd < 0 {
            // These exist for every live or zombie process on every kernel
            // (unlike `cgroup` or `loginuid`, which a kernel may be built
            // without): ENOENT says the process was reaped since the
            // directory was opened.
            let always = matches!(file.to_bytes(), b"stat" | b"status" | b"cmdline");
            self.gone |= always && io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT);
            return false;
        }
        // SAFETY: openat returned a descriptor that nobody else owns.
        let f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        self.read_from(f, limit)
    }

    fn read(&mut self, pid: Pid, file: &str) -> bool {
        self.set_path(pid, file);
        // Only cmdline can be big (ARG_MAX); the others are small.
        self.read_file(1 << 20)
    }

    /// `CLOCK_BOOTTIME − CLOCK_MONOTONIC` in ns: the time spent suspended,
    /// which separates `stat` start times from event timestamps.
    fn boot_offset_ns() -> u64 {
        fn now(clock: libc::clockid_t) -> u64 {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: ts is a valid, writable timespec.
            let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
            if rc != 0 {
                return 0;
            }
            (ts.tv_sec as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(ts.tv_nsec as u64)
        }
        now(libc::CLOCK_BOOTTIME).saturating_sub(now(libc::CLOCK_MONOTONIC))
    }
    /// The inode of the pid namespace this procfs shows, read once: the
    /// reader's own (`<root>/self/ns/pid`) when the reader is in it (its
    /// `NSpid:` there has one value). `None` otherwise, or when unreadable
    /// (pid 1's link may be closed even to root): `status` is read instead.
    fn own_pid_ns(&mut self) -> Option<u64> {
        if let Some(v) = self.own_pid_ns {
            return v;
        }
        let in_it = std::fs::read(self.root.join("self/status"))
            .ok()
            .and_then(|b| parse_nspid(&b))
            .is_some_and(|ns| ns.len() == 1);
        let v = in_it
            .then(|| std::fs::read_link(self.root.join("self/ns/pid")).ok())
            .flatten()
            .and_then(|t| ns_inode(&t));
        self.own_pid_ns = Some(v);
        v
    }
}

impl ProcSource for ProcFs {
    fn snapshot(&mut self, pid: Pid, fields: Fields) -> Option<Snapshot> {
        if fields == Fields::STAT {
            // One file: a path lookup costs no more than opening the
            // directory first.
            if !self.read(pid, "stat") {
                return None;
            }
            return self.stat_snapshot();
        }
        // Several files: the directory once, then each file relative to
        // it. Saves the walk through `/proc` and `<pid>` (dentry lookups
        // and revalidation) per file, which showed in exec storms. The
        // descriptor also holds the process's `struct pid`: every file read
        // through it is of the process whose `stat` was read (a pid reused
        // meanwhile would fail the reads rather than mix two processes).
        self.set_path(pid, "\0");
        let dir = open_dir(&self.path)?;
        let dir = dir.as_fd();
        self.gone = false;
        if !self.read_at(dir, c"stat", 1 << 20) {
            return None;
        }
        let mut snap = self.stat_snapshot()?;
        // A zombie has no exe, argv or cwd any more: three syscalls saved
        // for every process that exits before its exec is read, common in
        // exec storms of short-lived processes.
        let image = snap.state_is_alive();
        let want_ids = fields.contains(Fields::IDS);
        let mut ns_link = None;
        let mut want_status = want_ids;
        // (A zombie's pid namespace still reads: it comes with its pid,
        // which lives until the zombie is reaped.)
        if fields.contains(Fields::PIDNS) {
            // One readlink instead of formatting all of `status`: a process
            // in this procfs's own pid namespace has its pid there.
            ns_link = link_at(dir, c"ns/pid").and_then(|t| ns_inode(&t));
            match (ns_link, self.own_pid_ns()) {
                (Some(ns), Some(own)) if ns == own => snap.ns_pid = Some(snap.pid),
                _ => want_status = true,
            }
        }
        if want_status && !self.gone && self.read_at(dir, c"status", 1 << 20) {
            if want_ids {
                let (u, g) = parse_status_ids(&self.buf);
                if let Some((r, e)) = u {
                    snap.uid = Some(r);
                    snap.euid = Some(e);
                }
                snap.gid = g.map(|(r, _)| r);
            }
            if fields.contains(Fields::PIDNS) && snap.ns_pid.is_none() {
                if let Some(ns) = parse_nspid(&self.buf) {
                    snap.ns_pid = ns.last().copied();
                    // The namespace only for processes in a nested one
                    // (containers), where it tells which.
                    if ns.len() > 1 {
                        snap.pid_ns =
                            ns_link.or_else(|| link_at(dir, c"ns/pid").and_then(|t| ns_inode(&t)));
                    }
                }
            }
        }
        if fields.contains(Fields::EXE) && image && !self.gone {
            snap.exe = link_at(dir, c"exe");
        }
        if fields.contains(Fields::CMDLINE)
            && image
            && !self.gone
            && self.read_at(dir, c"cmdline", self.max_cmdline)
        {
            snap.argv = Some(parse_cmdline(&self.buf));
            snap.argv_truncated = self.truncated;
        }
        if fields.contains(Fields::CWD) && image && !self.gone {
            snap.cwd = link_at(dir, c"cwd");
        }
        if fields.contains(Fields::CGROUP) && !self.gone && self.read_at(dir, c"cgroup", 1 << 20) {
            let paths = parse_cgroups(&self.buf);
            snap.cgroup = paths.primary().map(str::to_owned);
            snap.memory_cgroup = paths.memory_controller().map(str::to_owned);
        }
        if fields.contains(Fields::LOGINUID) && !self.gone && self.read_at(dir, c"loginuid", 64) {
            snap.loginuid = parse_u32_file(&self.buf);
        }
        if fields.contains(Fields::SESSIONID) && !self.gone && self.read_at(dir, c"sessionid", 64) {
            snap.sessionid = parse_u32_file(&self.buf);
        }
        Some(snap)
    }

    fn pids(&mut self) -> io::Result<Vec<Pid>> {
        numeric_entries(&self.root)
    }

    fn tids(&mut self, pid: Pid) -> Vec<Pid> {
        numeric_entries(&self.root.join(pid.to_string()).join("task")).unwrap_or_default()
    }
}

/// Opens a process directory (`O_PATH`: only to resolve names in it);
/// `path` ends in a NUL (no allocation for a C string per process).
fn open_dir(path: &str) -> Option<OwnedFd> {
    if !path.ends_with('\0') {
        return None;
    }
    // SAFETY: a NUL-terminated path; the descriptor is owned below.
    let fd = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: open returned a descriptor that nobody else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The target of the symbolic link `name` in the process directory `dir`.
fn link_at(dir: BorrowedFd<'_>, name: &CStr) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // PATH_MAX: procfs links are `d_path`s, which never exceed it.
    let mut buf = [0u8; 4096];
    // SAFETY: the buffer is writable for its length.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).ok()?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(&buf[..n])))
}

/// The inode of a `pid:[INODE]` namespace link target.
fn ns_inode(target: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    parse_ns_link(target.as_os_str().as_bytes())
}

fn numeric_entries(dir: &std::path::Path) -> io::Result<Vec<Pid>> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir(dir)? {
        let Ok(ent) = ent else { continue };
        let name = ent.file_name();
        if let Some(pid) = parse_dec(name.as_encoded_bytes()).and_then(|v| Pid::try_from(v).ok()) {
            out.push(pid);
        }
    }
    Ok(out)
}

/// One process of a [`FakeProc`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[doc(hidden)]
pub struct FakeProcess {
    /// The full snapshot returned (fields not requested are blanked).
    pub snapshot: Snapshot,
    /// Thread ids besides the process id itself.
    pub threads: Vec<Pid>,
}

#[derive(Debug, Default)]
struct FakeState {
    procs: HashMap<Pid, FakeProcess>,
    reads: u64,
}

/// An in-memory [`ProcSource`] for tests and benchmarks.
///
/// Clones share the same state: keep one clone to add and remove processes
/// while the [`crate::ProcessTree`] owns the other.
#[derive(Debug, Clone, Default)]
#[doc(hidden)]
pub struct FakeProc {
    state: Arc<Mutex<FakeState>>,
}

impl FakeProc {
    /// An empty fake `/proc`.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A panic in another holder poisons the lock; the data is still fine.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a process.
    pub fn insert(&self, process: FakeProcess) {
        self.lock().procs.insert(process.snapshot.pid, process);
    }

    /// Removes a process (it exited and was reaped). Returns whether it existed.
    pub fn remove(&self, pid: Pid) -> bool {
        self.lock().procs.remove(&pid).is_some()
    }

    /// Removes every process.
    pub fn clear(&self) {
        self.lock().procs.clear();
    }

    /// Changes a process in place; returns `false` when it does not exist.
    pub fn update(&self, pid: Pid, f: impl FnOnce(&mut FakeProcess)) -> bool {
        match self.lock().procs.get_mut(&pid) {
            Some(p) => {
                f(p);
                true
            }
            None => false,
        }
    }

    /// How many snapshots were requested so far (successful or not).
    pub fn reads(&self) -> u64 {
        self.lock().reads
    }
}

impl ProcSource for FakeProc {
    fn snapshot(&mut self, pid: Pid, fields: Fields) -> Option<Snapshot> {
        let mut st = self.lock();
        st.reads += 1;
        let full = &st.procs.get(&pid)?.snapshot;
        let pick = |f: Fields| fields.contains(f);
        Some(Snapshot {
            pid: full.pid,
            comm: full.comm.clone(),
            ppid: full.ppid,
            state: full.state,
            start_ticks: full.start_ticks,
            start_time_ns: full.start_time_ns,
            uid: full.uid.filter(|_| pick(Fields::IDS)),
            euid: full.euid.filter(|_| pick(Fields::IDS)),
            gid: full.gid.filter(|_| pick(Fields::IDS)),
            exe: full.exe.clone().filter(|_| pick(Fields::EXE)),
            argv: full.argv.clone().filter(|_| pick(Fields::CMDLINE)),
            argv_truncated: full.argv_truncated && pick(Fields::CMDLINE),
            cwd: full.cwd.clone().filter(|_| pick(Fields::CWD)),
            cgroup: full.cgroup.clone().filter(|_| pick(Fields::CGROUP)),
            memory_cgroup: full.memory_cgroup.clone().filter(|_| pick(Fields::CGROUP)),
            ns_pid: full.ns_pid.filter(|_| pick(Fields::PIDNS)),
            pid_ns: full.pid_ns.filter(|_| pick(Fields::PIDNS)),
            loginuid: full.loginuid.filter(|_| pick(Fields::LOGINUID)),
            sessionid: full.sessionid.filter(|_| pick(Fields::SESSIONID)),
        })
    }

    fn pids(&mut self) -> io::Result<Vec<Pid>> {
        let mut v: Vec<Pid> = self.lock().procs.keys().copied().collect();
        v.sort_unstable();
        Ok(v)
    }

    fn tids(&mut self, pid: Pid) -> Vec<Pid> {
        match self.lock().procs.get(&pid) {
            Some(p) => std::iter::once(pid)
                .chain(p.threads.iter().copied())
                .collect(),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let line = b"1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100 18446744073709551615\n";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.pid, 1234);
        assert_eq!(st.comm, b"a) b (c");
        assert_eq!(st.state, b'S');
        assert_eq!(st.ppid, 1);
        assert_eq!(st.start_ticks, 98765);
    }

    #[test]
    fn stat_garbage_is_none() {
        assert_eq!(parse_stat(b""), None);
        assert_eq!(parse_stat(b"12 (x"), None);
        assert_eq!(parse_stat(b"12 (x) S 1 2 3"), None);
        assert_eq!(parse_stat(b") 12 ("), None);
        assert_eq!(
            parse_stat(b"x (y) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 5"),
            None
        );
    }

    #[test]
    fn status_ids() {
        let s = b"Name:\tbash\nUid:\t1000\t0\t1000\t1000\nGid:\t100\t101\t100\t100\n";
        assert_eq!(parse_status_ids(s), (Some((1000, 0)), Some((100, 101))));
        assert_eq!(parse_status_ids(b"Uid:\tx\n"), (None, None));
    }

    #[test]
    fn cmdline_splits() {
        assert_eq!(
            parse_cmdline(b"sh\0-c\0echo hi\0"),
            vec![b"sh".to_vec(), b"-c".to_vec(), b"echo hi".to_vec()]
        );
        assert_eq!(parse_cmdline(b""), Vec::<Vec<u8>>::new());
        assert_eq!(
            parse_cmdline(b"nginx: worker"),
            vec![b"nginx: worker".to_vec()]
        );
        assert_eq!(
            parse_cmdline(b"a\0\0b\0"),
            vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()]
        );
    }

    #[test]
    fn cgroup_prefers_v2() {
        assert_eq!(
            parse_cgroup(b"0::/system.slice/x.service\n").as_deref(),
            Some("/system.slice/x.service")
        );
        assert_eq!(
            parse_cgroup(b"12:pids:/a\n1:name=systemd:/b\n0::/c:d\n").as_deref(),
            Some("/c:d")
        );
        assert_eq!(parse_cgroup(b"12:pids:/a\n").as_deref(), Some("/a"));
        assert_eq!(parse_cgroup(b"junk"), None);
    }

    #[test]
    fn cgroup_on_v1_and_hybrid_hosts() {
        // Hybrid host (this one's layout): v2 mounted but unused, the
        // process placed by the v1 name=systemd hierarchy.
        let hybrid = b"9:name=systemd:/system.slice/foo.service\n4:memory:/system.slice/foo.service\n1:cpu:/\n0::/\n";
        let p = parse_cgroups(hybrid);
        assert_eq!(p.primary(), Some("/system.slice/foo.service"));
        assert_eq!(p.memory_controller(), Some("/system.slice/foo.service"));
        // v1 without name=systemd: the memory hierarchy.
        let v1 = b"4:cpu,memory:/docker/abc\n1:pids:/\n";
        let p = parse_cgroups(v1);
        assert_eq!(p.primary(), Some("/docker/abc"));
        assert_eq!(p.memory.as_deref(), Some("/docker/abc"));
        // Everything at the root: the v2 root.
        let p = parse_cgroups(b"9:name=systemd:/\n4:memory:/\n0::/\n");
        assert_eq!(p.primary(), Some("/"));
        // Pure v2: memory limits live in the v2 tree.
        let p = parse_cgroups(b"0::/kubepods.slice/x.scope\n");
        assert_eq!(p.memory_controller(), Some("/kubepods.slice/x.scope"));
        // Lines that are not paths are skipped.
        assert_eq!(parse_cgroups(b"1:cpu:relative\n").primary(), None);
    }

    #[test]
    fn nspid_and_ns_links() {
        let s = b"Name:\tsh\nNSpid:\t4242\t7\t1\nUid:\t0\t0\t0\t0\n";
        assert_eq!(parse_nspid(s), Some(vec![4242, 7, 1]));
        assert_eq!(parse_nspid(b"NSpid:\t12\n"), Some(vec![12]));
        assert_eq!(parse_nspid(b"NSpid:\tx\n"), None);
        assert_eq!(parse_nspid(b"NSpid:\n"), None);
        assert_eq!(parse_nspid(b"Name:\ta\n"), None);
        assert_eq!(parse_ns_link(b"pid:[4026531836]"), Some(4_026_531_836));
        assert_eq!(parse_ns_link(b"pid:[x]"), None);
        assert_eq!(parse_ns_link(b"pid:4026531836"), None);
    }

    #[test]
    fn u32_files() {
        assert_eq!(parse_u32_file(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32_file(b"1000\n"), Some(1000));
        assert_eq!(parse_u32_file(b"4294967296"), None);
        assert_eq!(parse_u32_file(b"-1"), None);
    }

    /// Replays the `procfs_parse` fuzz corpus (stable CI runs it).
    #[test]
    fn fuzz_corpus_replays() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/procfs_parse");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            if let Some(st) = parse_stat(&data) {
                assert!(st.comm.len() < data.len());
            }
            let _ = parse_status_ids(&data);
            let argv = parse_cmdline(&data);
            assert!(argv.iter().map(Vec::len).sum::<usize>() <= data.len());
            let _ = parse_cgroup(&data);
            let _ = parse_nspid(&data);
            let _ = parse_ns_link(&data);
            let _ = parse_u32_file(&data);
            n += 1;
        }
        assert!(n > 0, "empty corpus {}", dir.display());
    }

    #[test]
    fn real_proc_self() {
        let mut p = ProcFs::new();
        let me = std::process::id() as Pid;
        let s = p.snapshot(me, Fields::ALL).unwrap();
        assert_eq!(s.pid, me);
        assert!(s.argv.as_ref().is_some_and(|a| !a.is_empty()));
        assert!(s.exe.is_some());
        assert!(s.cwd.is_some());
        assert!(s.uid.is_some());
        // Our own start time lies in the past of the monotonic clock.
        let now = {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        };
        assert!(s.start_time_ns <= now, "{} > {now}", s.start_time_ns);
        assert!(p.tids(me).contains(&me));
        // The cmdline limit cuts and says so.
        let mut small = ProcFs::new().with_max_cmdline(3);
        let s = small.snapshot(me, Fields::CMDLINE).unwrap();
        assert!(s.argv_truncated);
        assert_eq!(s.argv.unwrap().concat().len(), 3);
        assert!(p.pids().unwrap().contains(&me));
    }

    /// The pid namespace read for a process of this procfs's own
    /// namespace (one `ns/pid` readlink, no `status`), and for a process in
    /// a nested one (where `status` gives the pid inside).
    #[test]
    fn pid_namespace_own_and_nested() {
        let mut p = ProcFs::new();
        let me = std::process::id() as Pid;
        let s = p.snapshot(me, Fields::PIDNS).unwrap();
        assert_eq!(s.ns_pid, Some(me));
        assert_eq!(s.pid_ns, None);
        // Known without `status`: the procfs's namespace is the test's.
        assert!(p.own_pid_ns().is_some());
        assert_eq!(s.uid, None, "IDS not asked for");
        let s = p.snapshot(me, Fields::PIDNS | Fields::IDS).unwrap();
        assert_eq!(s.ns_pid, Some(me));
        assert!(s.uid.is_some());

        // A process in a new pid namespace (needs root and unshare).
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP nested pid namespace: not root");
            return;
        }
        let Ok(mut unshare) = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sleep", "30"])
            .spawn()
        else {
            eprintln!("SKIP nested pid namespace: no unshare");
            return;
        };
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        let mut inner = None;
        for _ in 0..500 {
            inner = std::fs::read_to_string(&children)
                .ok()
                .and_then(|c| c.split_whitespace().next()?.parse::<Pid>().ok());
            if inner.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let inner = inner.expect("unshare's child");
        let s = p.snapshot(inner, Fields::PIDNS).unwrap();
        let own = p.snapshot(me, Fields::PIDNS).unwrap();
        // SAFETY: a child this test started (through unshare).
        unsafe { libc::kill(unshare.id() as libc::pid_t, libc::SIGKILL) };
        let _ = unshare.wait();
        assert_eq!(s.ns_pid, Some(1), "the first process of a new namespace");
        assert!(s.pid_ns.is_some());
        assert_eq!(own.pid_ns, None);
    }

    /// A zombie keeps its `stat`, `cgroup`, ids and pid namespace; its
    /// exe, argv and cwd are gone and not asked for.
    #[test]
    fn zombie_has_no_image() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as Pid;
        let mut p = ProcFs::new();
        let mut snap = None;
        for _ in 0..500 {
            snap = p.snapshot(pid, Fields::ALL);
            if snap.as_ref().is_some_and(|s| !s.state_is_alive()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.wait();
        let s = snap.expect("stat of the unreaped child");
        assert_eq!(s.state, b'Z');
        assert_eq!(s.comm, b"true");
        assert_eq!((s.exe, s.argv, s.cwd), (None, None, None));
        assert_eq!((s.ns_pid, s.pid_ns), (Some(pid), None));
        assert!(s.cgroup.is_some());
        assert!(s.uid.is_some(), "status is still read for its ids");
    }

    /// A process directory that lacks files (as one reaped half-way
    /// through the reads does) gives what could be read and `None` for
    /// the rest.
    #[test]
    fn missing_files_are_none() {
        let root = std::env::temp_dir().join(format!("procconn-missing-{}", std::process::id()));
        let dir = root.join("4242");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("stat"),
            "4242 (sh) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0",
        )
        .unwrap();
        let s = ProcFs::with_root(&root).snapshot(4242, Fields::ALL);
        std::fs::remove_dir_all(&root).unwrap();
        let s = s.expect("stat was there");
        assert_eq!((s.pid, s.ppid, s.start_ticks), (4242, 1, 777));
        assert_eq!((s.uid, s.exe, s.argv, s.cwd), (None, None, None, None));
        assert_eq!((s.cgroup, s.ns_pid, s.loginuid), (None, None, None));
    }
}
