//! The attributor's input besides process events, audit kill events
//! (`auditsig::KillEvent`, consumed as auditsig makes them) and tracefs
//! records: kernel-log (`/dev/kmsg`) lines.

use procconn::Pid;

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
}
