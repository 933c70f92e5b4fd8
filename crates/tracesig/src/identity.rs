//! Who owns a trace instance or a tracefs mount: a process identified
//! by its pid *and* its start time, so that a pid the kernel handed to
//! another process since is never taken for the original owner.

use std::fmt;

/// A process identity: pid plus start time.
///
/// The start time is field 22 of `/proc/<pid>/stat` (`starttime`, in
/// clock ticks since boot); a pid is reused only by a process started
/// later, so the pair never names two processes during one boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: i32,
    /// `starttime` of `/proc/<pid>/stat`; `None` in names and marks
    /// written without it (then only the pid can be checked).
    pub start_time: Option<u64>,
}

/// What `/proc/<pid>/stat` says about liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatLiveness {
    /// The state letter (field 3).
    state: u8,
    /// `starttime` (field 22).
    start_time: u64,
}

/// Parses the state (field 3) and `starttime` (field 22) of a
/// `/proc/<pid>/stat` text. The comm (field 2) may contain spaces and
/// parentheses, so the fields are counted after its last `)`.
fn parse_stat(text: &[u8]) -> Option<StatLiveness> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..]
        .split(|&b| b == b' ' || b == b'\n')
        .filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    // Field 3 is the state; field 22 is 19 fields further on.
    let start = fields.nth(18)?;
    let start_time = std::str::from_utf8(start).ok()?.parse().ok()?;
    Some(StatLiveness { state, start_time })
}

fn read_stat(pid: i32) -> Option<StatLiveness> {
    if pid <= 0 {
        return None;
    }
    parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

impl ProcessIdentity {
    /// An identity from its parts.
    pub const fn new(pid: i32, start_time: Option<u64>) -> Self {
        ProcessIdentity { pid, start_time }
    }

    /// The calling process. The start time is `None` when
    /// `/proc/self/stat` cannot be read (no procfs).
    pub fn current() -> Self {
        let pid = std::process::id() as i32;
        ProcessIdentity {
            pid,
            start_time: read_stat(pid).map(|s| s.start_time),
        }
    }

    /// Whether this process still runs: `/proc/<pid>/stat` exists, is
    /// not a zombie (`Z`) or dead (`X`) task, and, when the start time is
    /// known, the process holding the pid started at that time (a reused
    /// pid belongs to somebody else, so the owner is dead).
    pub fn is_alive(&self) -> bool {
        match read_stat(self.pid) {
            None => false,
            Some(st) => {
                !matches!(st.state, b'Z' | b'X')
                    && self.start_time.is_none_or(|t| t == st.start_time)
            }
        }
    }
}

impl fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.start_time {
            Some(t) => write!(f, "pid {} (start time {t})", self.pid),
            None => write!(f, "pid {}", self.pid),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_comm() {
        // A comm with spaces, parentheses and digits.
        let st = b"1234 (a) b 1 (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615\n";
        assert_eq!(
            parse_stat(st),
            Some(StatLiveness {
                state: b'S',
                start_time: 987_654
            })
        );
        assert_eq!(parse_stat(b"1 (x) Z 0"), None);
        assert_eq!(parse_stat(b"no paren"), None);
        assert_eq!(parse_stat(b""), None);
    }

    #[test]
    fn own_identity_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcessIdentity::current();
        let t = me.start_time.unwrap();
        assert!(me.is_alive());
        assert!(ProcessIdentity::new(me.pid, None).is_alive());
        assert!(!ProcessIdentity::new(me.pid, Some(t + 1)).is_alive());
        assert!(!ProcessIdentity::new(0, None).is_alive());
        assert!(!ProcessIdentity::new(-5, None).is_alive());
    }
}
