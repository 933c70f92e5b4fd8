//! The attributor's inputs besides process events: audit kill events (a
//! plain copy of `auditsig::KillEvent`, so the engine can be driven by any
//! source, including tests) and kernel-log (`/dev/kmsg`) lines.

use procconn::Pid;

/// The process that made a kill-family syscall (from the `SYSCALL` and
/// `PROCTITLE` records).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditSender {
    /// `pid=` (a tgid).
    pub pid: Pid,
    /// `ppid=`.
    pub ppid: Option<Pid>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `euid=`.
    pub euid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `auid=`, `None` when unset (4294967295).
    pub auid: Option<u32>,
    /// `ses=`, `None` when unset.
    pub ses: Option<u32>,
    /// `tty=`, `None` for `(none)`.
    pub tty: Option<Vec<u8>>,
    /// `comm=`.
    pub comm: Option<Vec<u8>>,
    /// `exe=`.
    pub exe: Option<Vec<u8>>,
    /// argv from `PROCTITLE`.
    pub argv: Option<Vec<Vec<u8>>>,
    /// Whether `PROCTITLE` was cut (the kernel keeps 128 bytes).
    pub argv_truncated: bool,
}

/// One target of the syscall (an `OBJ_PID` record).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditTarget {
    /// `opid=` (the kernel writes the target's tgid).
    pub pid: Pid,
    /// `oauid=`, `None` when unset.
    pub auid: Option<u32>,
    /// `ouid=`.
    pub uid: Option<u32>,
    /// `oses=`, `None` when unset.
    pub ses: Option<u32>,
    /// `ocomm=`.
    pub comm: Option<Vec<u8>>,
}

/// An audited kill-family syscall.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditKill {
    /// Event serial.
    pub serial: u64,
    /// Event time, nanoseconds since the Unix epoch (`audit(SEC.MSEC:...)`).
    pub time_ns: u64,
    /// Rule key (`key=`), `None` for `(null)`.
    pub key: Option<Vec<u8>>,
    /// Syscall name (`kill`, `tgkill`, ...), if known for the arch.
    pub syscall: Option<String>,
    /// The signal sent.
    pub signal: u32,
    /// `success=`.
    pub success: Option<bool>,
    /// errno for a failed call (`exit=-1` → 1).
    pub errno: Option<i32>,
    /// `a0`..`a3`.
    pub args: [u64; 4],
    /// The caller.
    pub sender: AuditSender,
    /// Every `OBJ_PID` record, in order.
    pub targets: Vec<AuditTarget>,
}

impl AuditKill {
    /// The thread a thread-directed syscall aimed at: `tkill(tid, ..)`,
    /// `tgkill(tgid, tid, ..)`, `rt_tgsigqueueinfo(tgid, tid, ..)`.
    pub fn target_tid(&self) -> Option<Pid> {
        match self.syscall.as_deref()? {
            "tkill" => Some(self.args[0] as i32),
            "tgkill" | "rt_tgsigqueueinfo" => Some(self.args[1] as i32),
            _ => None,
        }
    }

    /// `a0` as a signed pid for pid-directed syscalls (kill: negative means a
    /// process group, -1 every process); `None` for pidfd_send_signal.
    pub fn target_arg(&self) -> Option<i64> {
        match self.syscall.as_deref()? {
            "pidfd_send_signal" => None,
            // The record prints registers in hex; pids are 32-bit ints.
            _ => Some(self.args[0] as u32 as i32 as i64),
        }
    }
}

fn unset(v: u32) -> Option<u32> {
    (v != u32::MAX).then_some(v)
}

impl From<&auditsig::KillEvent> for AuditKill {
    fn from(k: &auditsig::KillEvent) -> Self {
        let s = &k.sender;
        AuditKill {
            serial: k.stamp.serial,
            // Saturating: the stamp is text from a log and may be absurd.
            time_ns: k
                .stamp
                .sec
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(k.stamp.msec).saturating_mul(1_000_000)),
            key: k.key.as_ref().map(|b| b.0.clone()),
            syscall: Some(k.syscall.name().to_string()),
            signal: u32::try_from(k.signal).unwrap_or(0),
            success: Some(k.success),
            errno: k.errno,
            args: k.args,
            sender: AuditSender {
                pid: s.pid as Pid,
                ppid: Some(s.ppid as Pid),
                uid: unset(s.uid),
                euid: unset(s.euid),
                gid: unset(s.gid),
                auid: s.auid,
                ses: s.ses,
                tty: s.tty.as_ref().map(|b| b.0.clone()),
                comm: Some(s.comm.0.clone()),
                exe: s.exe.as_ref().map(|b| b.0.clone()),
                argv: s
                    .argv
                    .as_ref()
                    .map(|a| a.iter().map(|b| b.0.clone()).collect()),
                argv_truncated: s.argv_truncated,
            },
            targets: k
                .targets
                .iter()
                .map(|t| AuditTarget {
                    pid: t.pid as Pid,
                    auid: t.auid,
                    uid: unset(t.uid),
                    ses: t.ses,
                    comm: Some(t.comm.0.clone()),
                })
                .collect(),
        }
    }
}

/// What the kernel log says about a kernel-originated kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelKill {
    /// The process killed.
    pub pid: Pid,
    /// Its comm as the kernel printed it.
    pub comm: Vec<u8>,
    /// Why (`oom`).
    pub reason: crate::report::Reason,
}

/// Parses one kernel-log line (a `/dev/kmsg` record `PRI,SEQ,TS,FLAGS;MSG`
/// or a plain `dmesg` message) for a kernel kill: the OOM killer's
/// `Out of memory: Killed process N (comm) ...` and `Memory cgroup out of
/// memory: Killed process N (comm) ...` (older kernels print a separate
/// `Killed process N (comm) total-vm:...` line). Pure; never panics.
pub fn parse_kmsg_line(line: &[u8]) -> Option<KernelKill> {
    // /dev/kmsg: the message follows the first ';' (continuation lines
    // start with a space and carry key=value metadata, never this text).
    let msg = match line.iter().position(|&b| b == b';') {
        Some(i) if line[..i].iter().all(|&b| b != b' ') => &line[i + 1..],
        _ => line,
    };
    const NEEDLE: &[u8] = b"Killed process ";
    let at = msg.windows(NEEDLE.len()).position(|w| w == NEEDLE)?;
    let rest = &msg[at + NEEDLE.len()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 10 {
        return None;
    }
    let pid: Pid = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    if pid <= 0 {
        return None;
    }
    let rest = rest[digits..].strip_prefix(b" (")?;
    // comm may itself contain ')': the kernel prints "(comm)" then a space
    // or end of line, so take the last ')' before " total-vm" or the end.
    let end = match rest.windows(11).position(|w| w == b") total-vm:") {
        Some(i) => i,
        None => rest.iter().rposition(|&b| b == b')')?,
    };
    Some(KernelKill {
        pid,
        comm: rest[..end].to_vec(),
        reason: crate::report::Reason::Oom,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn oom_lines_parse() {
        let k = parse_kmsg_line(b"3,1234,5678901,-;Out of memory: Killed process 1234 (stress) total-vm:1024kB, anon-rss:10kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0").unwrap();
        assert_eq!(k.pid, 1234);
        assert_eq!(k.comm, b"stress");
        assert_eq!(k.reason, "oom");
        let k = parse_kmsg_line(
            b"3,99,1,-;Memory cgroup out of memory: Killed process 77 (a) b) total-vm:1kB",
        )
        .unwrap();
        assert_eq!((k.pid, k.comm.as_slice()), (77, &b"a) b"[..]));
        let k = parse_kmsg_line(b"[ 12.3] Killed process 5 (x)").unwrap();
        assert_eq!((k.pid, k.comm.as_slice()), (5, &b"x"[..]));
    }

    #[test]
    fn other_lines_do_not() {
        for l in [
            &b""[..],
            b"6,1,1,-;oom_reaper: reaped process 1234 (stress), now anon-rss:0kB",
            b"Killed process (x)",
            b"Killed process 0 (x)",
            b"Killed process 99999999999 (x)",
            b"Killed process 12",
            b"Killed process 12 x",
            b";;;;",
            b"\xff\xfe;Killed process",
        ] {
            assert_eq!(parse_kmsg_line(l), None, "{:?}", String::from_utf8_lossy(l));
        }
    }

    #[test]
    fn thread_targets_and_group_args() {
        let mut k = AuditKill {
            syscall: Some("tgkill".into()),
            args: [100, 101, 9, 0],
            ..Default::default()
        };
        assert_eq!(k.target_tid(), Some(101));
        k.syscall = Some("tkill".into());
        assert_eq!(k.target_tid(), Some(100));
        k.syscall = Some("kill".into());
        k.args[0] = 0xfffffabb;
        assert_eq!(k.target_tid(), None);
        assert_eq!(k.target_arg(), Some(-1349));
        k.syscall = Some("pidfd_send_signal".into());
        assert_eq!(k.target_arg(), None);
    }
}
