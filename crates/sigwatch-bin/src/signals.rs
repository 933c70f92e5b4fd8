//! Signal names and numbers (Linux numbering, shared by x86_64 and
//! aarch64: `include/uapi/asm-generic/signal.h`), and `--signal LIST`
//! parsing.

use crate::Error;

/// `_NSIG` on Linux: signals are numbered 1..=64.
pub const MAX_SIGNAL: i32 = 64;

/// Standard signal names without the `SIG` prefix, indexed by number.
const NAMES: [&str; 32] = [
    "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// glibc's `SIGRTMIN` (the kernel's 32 and 33 are reserved by the C library),
/// as `kill -l` numbers real-time signals.
const RTMIN: i32 = 34;

/// The conventional name of signal `n` (`SIGKILL`, `SIGRTMIN+3`), or
/// `SIG<n>` for numbers without a name.
pub fn signal_name(n: i32) -> String {
    match n {
        1..=31 => format!("SIG{}", NAMES[n as usize]),
        RTMIN => "SIGRTMIN".to_string(),
        64 => "SIGRTMAX".to_string(),
        35..=49 => format!("SIGRTMIN+{}", n - RTMIN),
        50..=63 => format!("SIGRTMAX-{}", 64 - n),
        _ => format!("SIG{n}"),
    }
}

/// Parses one signal: a number (`9`), a name with or without the `SIG`
/// prefix in any case (`KILL`, `sigterm`), or `RTMIN+n` / `RTMAX-n`.
pub fn parse_signal(s: &str) -> Result<i32, Error> {
    let t = s.trim();
    let bad = || Error::BadSignal(s.to_string());
    if let Ok(n) = t.parse::<i32>() {
        return if (1..=MAX_SIGNAL).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if name.is_empty() {
        return Err(bad());
    }
    if let Some(i) = NAMES.iter().position(|&x| x == name) {
        if i > 0 {
            return Ok(i as i32);
        }
    }
    // Aliases `kill -l` and signal(7) accept.
    match name {
        "IOT" => return Ok(6),
        "POLL" => return Ok(29),
        "CLD" => return Ok(17),
        "RTMIN" => return Ok(RTMIN),
        "RTMAX" => return Ok(64),
        _ => {}
    }
    let rel = |rest: &str| rest.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(bad);
    if let Some(rest) = name.strip_prefix("RTMIN+") {
        let n = RTMIN + rel(rest)?;
        return if n <= 64 { Ok(n) } else { Err(bad()) };
    }
    if let Some(rest) = name.strip_prefix("RTMAX-") {
        let d = rel(rest)?;
        return if d <= 64 - RTMIN {
            Ok(64 - d)
        } else {
            Err(bad())
        };
    }
    Err(bad())
}

/// A set of signals 1..=64 (bit `n-1` for signal `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignalSet(u64);

impl SignalSet {
    /// The empty set.
    pub const fn empty() -> Self {
        SignalSet(0)
    }

    /// Every signal 1..=64.
    pub const fn all() -> Self {
        SignalSet(u64::MAX)
    }

    /// Just SIGKILL, the default.
    pub const fn sigkill() -> Self {
        SignalSet(1 << 8)
    }

    /// Adds signal `n` (ignored when out of 1..=64).
    pub fn insert(&mut self, n: i32) {
        if (1..=MAX_SIGNAL).contains(&n) {
            self.0 |= 1 << (n - 1);
        }
    }

    /// Whether `n` is in the set (signal 0, the existence probe, never is).
    pub fn contains(&self, n: i32) -> bool {
        (1..=MAX_SIGNAL).contains(&n) && self.0 & (1 << (n - 1)) != 0
    }

    /// Whether every signal is in the set.
    pub fn is_all(&self) -> bool {
        self.0 == u64::MAX
    }

    /// The signal numbers in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        (1..=MAX_SIGNAL).filter(move |&n| self.contains(n))
    }

    /// Parses `--signal LIST`: comma- or space-separated signals, or `all`.
    pub fn parse(list: &str) -> Result<Self, Error> {
        let mut set = SignalSet::empty();
        for item in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            if item.eq_ignore_ascii_case("all") {
                return Ok(SignalSet::all());
            }
            set.insert(parse_signal(item)?);
        }
        if set == SignalSet::empty() {
            return Err(Error::BadSignal(list.to_string()));
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for n in 1..=MAX_SIGNAL {
            let name = signal_name(n);
            if n == 32 || n == 33 {
                assert_eq!(name, format!("SIG{n}"));
                continue;
            }
            assert_eq!(parse_signal(&name).unwrap(), n, "{name}");
        }
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(35), "SIGRTMIN+1");
        assert_eq!(signal_name(63), "SIGRTMAX-1");
    }

    #[test]
    fn parse_accepts_names_numbers_and_all() {
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal(" 9 ").unwrap(), 9);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("SIG").is_err());
        assert!(parse_signal("bogus").is_err());
        assert!(parse_signal("RTMIN+99").is_err());
        let s = SignalSet::parse("KILL,term 2").unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![2, 9, 15]);
        assert!(SignalSet::parse("all").unwrap().is_all());
        assert!(SignalSet::parse("KILL,ALL").unwrap().is_all());
        assert!(SignalSet::parse("").is_err());
        assert!(SignalSet::parse("KILL,nope").is_err());
        assert!(!SignalSet::all().contains(0));
        assert!(SignalSet::sigkill().contains(9));
        assert!(!SignalSet::sigkill().contains(15));
    }
}
