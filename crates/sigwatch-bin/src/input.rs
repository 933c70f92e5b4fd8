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
    /// `total-vm:` in kB.
    pub total_vm_kb: Option<u64>,
    /// `anon-rss:` in kB.
    pub anon_rss_kb: Option<u64>,
    /// `file-rss:` in kB.
    pub file_rss_kb: Option<u64>,
    /// `shmem-rss:` in kB.
    pub shmem_rss_kb: Option<u64>,
    /// `oom_score_adj:`.
    pub oom_score_adj: Option<i32>,
}

/// The OOM killer's summary line (`mm/oom_kill.c` `dump_oom_victim`):
/// `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,
/// mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=comm,pid=N,uid=U`
/// (`global_oom` instead of `oom_memcg=` when the machine ran out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomKillLine {
    /// `constraint=`.
    pub constraint: Option<crate::report::OomConstraint>,
    /// `oom_memcg=`: the cgroup whose limit was hit.
    pub oom_memcg: Option<String>,
    /// `task_memcg=`: the victim's memory cgroup.
    pub task_memcg: Option<String>,
    /// `pid=`: the victim.
    pub pid: Pid,
}

/// The message part of a `/dev/kmsg` record (after `PRI,SEQ,TS,FLAGS;`),
/// or the whole line (plain `dmesg` text).
fn kmsg_message(line: &[u8]) -> &[u8] {
    match line.iter().position(|&b| b == b';') {
        Some(i) if line[..i].iter().all(|&b| b != b' ') => &line[i + 1..],
        _ => line,
    }
}

/// Parses the OOM killer's `oom-kill:` line. The cgroup paths and the
/// comm may hold `,` and `=`: the fixed keys are searched from the right
/// (`,task=` … `,pid=` … `,uid=` end the line) and `task_memcg=` runs to
/// `,task=`. Pure; never panics.
pub fn parse_oom_kill_line(line: &[u8]) -> Option<OomKillLine> {
    use crate::report::OomConstraint;
    let msg = kmsg_message(line);
    let at = find(msg, b"oom-kill:")?;
    let body = std::str::from_utf8(&msg[at + 9..]).ok()?.trim_end();
    let constraint = body
        .strip_prefix("constraint=")
        .and_then(|r| r.split(',').next())
        .and_then(|c| match c {
            "CONSTRAINT_NONE" => Some(OomConstraint::Machine),
            "CONSTRAINT_MEMCG" => Some(OomConstraint::Memcg),
            "CONSTRAINT_CPUSET" => Some(OomConstraint::Cpuset),
            "CONSTRAINT_MEMORY_POLICY" => Some(OomConstraint::MemoryPolicy),
            _ => None,
        });
    let task_at = body.rfind(",task=")?;
    let pid_at = body.rfind(",pid=")?;
    if pid_at < task_at {
        return None;
    }
    let pid_s = &body[pid_at + 5..];
    let pid_s = pid_s.split(',').next()?;
    let pid: Pid = pid_s.parse().ok().filter(|&p: &Pid| p > 0)?;
    let head = &body[..task_at];
    let task_memcg = head
        .rfind(",task_memcg=")
        .map(|i| head[i + 12..].to_string());
    let upto = head.rfind(",task_memcg=").unwrap_or(head.len());
    let oom_memcg = head[..upto]
        .find(",oom_memcg=")
        .map(|i| head[i + 11..upto].to_string());
    Some(OomKillLine {
        constraint,
        oom_memcg,
        task_memcg,
        pid,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The number after `key` (e.g. `anon-rss:`) up to its unit (`kB`).
fn field_num(rest: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(rest, key)? + key.len();
    let digits: Vec<u8> = rest[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .take(20)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Parses one kernel-log line (a `/dev/kmsg` record `PRI,SEQ,TS,FLAGS;MSG`
/// or a plain `dmesg` message) for a kernel kill: the OOM killer's
/// `Out of memory: Killed process N (comm) ...` and `Memory cgroup out of
/// memory: Killed process N (comm) ...` (older kernels print a separate
/// `Killed process N (comm) total-vm:...` line). Pure; never panics.
pub fn parse_kmsg_line(line: &[u8]) -> Option<KernelKill> {
    // /dev/kmsg: the message follows the first ';' (continuation lines
    // start with a space and carry key=value metadata, never this text).
    let msg = kmsg_message(line);
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
    let tail = &rest[end..];
    let adj = find(tail, b"oom_score_adj:").and_then(|i| {
        let v = &tail[i + 14..];
        let n = v
            .iter()
            .enumerate()
            .take_while(|&(j, b)| b.is_ascii_digit() || (j == 0 && *b == b'-'))
            .count();
        std::str::from_utf8(&v[..n]).ok()?.parse().ok()
    });
    Some(KernelKill {
        pid,
        comm: rest[..end].to_vec(),
        reason: crate::report::Reason::Oom,
        total_vm_kb: field_num(tail, b"total-vm:"),
        anon_rss_kb: field_num(tail, b"anon-rss:"),
        file_rss_kb: field_num(tail, b"file-rss:"),
        shmem_rss_kb: field_num(tail, b"shmem-rss:"),
        oom_score_adj: adj,
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
        assert_eq!(k.anon_rss_kb, None);
    }

    #[test]
    fn oom_figures_parse() {
        let k = parse_kmsg_line(b"3,1234,5678901,-;Out of memory: Killed process 1234 (stress) total-vm:1024kB, anon-rss:10kB, file-rss:3kB, shmem-rss:4kB, UID:0 pgtables:40kB oom_score_adj:-17").unwrap();
        assert_eq!(k.total_vm_kb, Some(1024));
        assert_eq!(k.anon_rss_kb, Some(10));
        assert_eq!(k.file_rss_kb, Some(3));
        assert_eq!(k.shmem_rss_kb, Some(4));
        assert_eq!(k.oom_score_adj, Some(-17));
    }

    #[test]
    fn oom_kill_lines_parse() {
        use crate::report::OomConstraint;
        let l = parse_oom_kill_line(b"6,812,93122001,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/sigwatch-e2e-oom,task_memcg=/sigwatch-e2e-oom/a,b,task=tail,pid=4242,uid=0").unwrap();
        assert_eq!(l.constraint, Some(OomConstraint::Memcg));
        assert_eq!(l.oom_memcg.as_deref(), Some("/sigwatch-e2e-oom"));
        assert_eq!(l.task_memcg.as_deref(), Some("/sigwatch-e2e-oom/a,b"));
        assert_eq!(l.pid, 4242);
        let l = parse_oom_kill_line(b"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice,task=x,pid=7,uid=1000").unwrap();
        assert_eq!(l.constraint, Some(OomConstraint::Machine));
        assert_eq!(l.oom_memcg, None);
        assert_eq!(l.task_memcg.as_deref(), Some("/user.slice"));
        for bad in [
            &b"oom-kill:"[..],
            b"oom-kill:constraint=CONSTRAINT_NONE,task=x",
            b"oom-kill:constraint=X,task=x,pid=-1,uid=0",
            b"oom-kill:pid=3,task=x",
            b"\xff;oom-kill:\xff",
        ] {
            assert_eq!(
                parse_oom_kill_line(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
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
