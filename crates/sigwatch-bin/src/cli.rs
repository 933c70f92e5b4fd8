//! Command-line interface (clap derive).

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

use crate::signals::SignalSet;

/// Who killed my process? Attributes every SIGKILL on this host to its
/// sender and the sender's ancestry (run as root).
#[derive(Debug, Parser)]
#[command(name = "sigwatch", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: watch).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the default (watch) mode.
    #[command(flatten)]
    pub watch: WatchArgs,
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace;
    /// RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the audit rules sigwatch installs, as auditctl lines for
    /// /etc/audit/rules.d/.
    Rules {
        /// Signals the rules select (names or numbers, comma-separated, or `all`).
        #[arg(long, default_value = "KILL", value_parser = parse_signals)]
        signal: SignalSet,
    },
    /// Show what this host offers and what is missing, with a fix for each gap.
    Status,
    /// Attribute the kills recorded in audit logs after the fact: auditd
    /// logs (raw or enriched, rotated sets, gzip), ausearch output, the
    /// kernel log or syslog, journalctl -o export/json output, or the
    /// journal itself (--journal). The format is recognised by content.
    Replay(ReplayArgs),
}

/// Options of `sigwatch replay`.
#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// Files to read (`-` for standard input); a directory stands for its
    /// rotated set (audit.log.N ... audit.log), read oldest first.
    #[arg(value_name = "FILE", required_unless_present = "journal")]
    pub files: Vec<PathBuf>,
    /// Read the journal's audit records (`journalctl -o export _TRANSPORT=audit`).
    #[arg(long)]
    pub journal: bool,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Signals to report.
    #[arg(long, default_value = "KILL", value_parser = parse_signals)]
    pub signal: SignalSet,
    /// Only kills at or after this time: seconds since the epoch, or UTC
    /// `YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z]`.
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub since: Option<u64>,
    /// Only kills before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub until: Option<u64>,
    /// Only report victims with this pid (repeatable).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<i32>,
    /// Only report victims with this comm (repeatable).
    #[arg(long, value_name = "COMM")]
    pub comm: Vec<String>,
    /// Most processes remembered from the log (bounds memory).
    #[arg(long, value_name = "N", default_value_t = 32_768)]
    pub max_processes: usize,
}

/// Options of the watch mode.
#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    /// Print JSON lines (one object per line) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Exit after N kill reports.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Signals to report: names or numbers, comma-separated, or `all`.
    #[arg(long, value_name = "LIST", default_value = "KILL", value_parser = parse_signals)]
    pub signal: SignalSet,
    /// Only report victims with this pid (repeatable).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<i32>,
    /// Only report victims with this comm (repeatable).
    #[arg(long, value_name = "COMM")]
    pub comm: Vec<String>,
    /// The witnesses to use, comma-separated: `proc` (process events,
    /// required), `audit` (kill-family syscall records), `tracefs` (the
    /// `signal:signal_generate` tracepoint), `kmsg` (the kernel log's OOM
    /// lines). Default: all that the host offers.
    #[arg(long, value_name = "LIST", value_parser = parse_sources)]
    pub source: Option<Sources>,
    /// Where audit records come from.
    #[arg(long, value_name = "SOURCE", default_value = "auto")]
    pub audit_source: AuditSource,
    /// Do not install audit rules; use only those already present (e.g.
    /// loaded by auditd).
    #[arg(long)]
    pub no_rules: bool,
    /// How long an exited process stays in the tree (seconds), so that it
    /// can still appear as an ancestor.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub retention: u64,
    /// At most this many exited processes are retained.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub max_exited: usize,
    /// How long a kill and its victim's exit wait for each other (ms).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub window_ms: u64,
    /// Socket receive buffer for process events and audit records (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub rcvbuf: usize,
    /// Do not read the kernel log (/dev/kmsg) for OOM kills.
    #[arg(long)]
    pub no_kmsg: bool,
}

/// `--source`: which witnesses are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    /// Process events (always on: victims' exits and the process tree).
    pub proc: bool,
    /// Audit records.
    pub audit: bool,
    /// The tracefs `signal:signal_generate` tracepoint.
    pub tracefs: bool,
    /// `/dev/kmsg`.
    pub kmsg: bool,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            proc: true,
            audit: true,
            tracefs: true,
            kmsg: true,
        }
    }
}

impl FromStr for Sources {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Sources {
            proc: false,
            audit: false,
            tracefs: false,
            kmsg: false,
        };
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "proc" => out.proc = true,
                "audit" => out.audit = true,
                "tracefs" | "trace" => out.tracefs = true,
                "kmsg" => out.kmsg = true,
                "all" => out = Sources::default(),
                _ => {
                    return Err(format!(
                        "unknown source {item:?} (proc, audit, tracefs, kmsg, all)"
                    ))
                }
            }
        }
        if !out.proc {
            return Err(
                "the proc source is required: victims' exits and the process tree come from it"
                    .into(),
            );
        }
        Ok(out)
    }
}

fn parse_sources(s: &str) -> Result<Sources, String> {
    s.parse()
}

/// `--audit-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSource {
    /// Multicast if the kernel has it, else unicast if no audit daemon
    /// runs, else auditd's log.
    Auto,
    /// The `AUDIT_NLGRP_READLOG` multicast group (kernel ≥ 3.16).
    Multicast,
    /// Become the audit pid (only when no daemon holds it).
    Unicast,
    /// Follow auditd's log file.
    Log(PathBuf),
    /// Read records from standard input (as an audisp plugin).
    Stdin,
    /// No audit: every kill's origin is `unknown` unless the kernel log explains it.
    None,
}

/// auditd's default log.
pub const DEFAULT_AUDIT_LOG: &str = "/var/log/audit/audit.log";

impl FromStr for AuditSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => AuditSource::Auto,
            "multicast" => AuditSource::Multicast,
            "unicast" => AuditSource::Unicast,
            "log" => AuditSource::Log(PathBuf::from(DEFAULT_AUDIT_LOG)),
            "stdin" => AuditSource::Stdin,
            "none" => AuditSource::None,
            _ => match s.strip_prefix("log:") {
                Some(p) if !p.is_empty() => AuditSource::Log(PathBuf::from(p)),
                _ => {
                    return Err(format!(
                        "unknown audit source {s:?} (auto, multicast, unicast, log[:PATH], stdin, none)"
                    ))
                }
            },
        })
    }
}

/// A time as milliseconds since the epoch: `1795667968` / `1795667968.504`
/// (seconds), or UTC `2026-11-26`, `2026-11-26T04:39`, `2026-11-26 04:39:28`,
/// `2026-11-26T04:39:28.504Z`.
pub fn parse_time_ms(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("bad time {s:?} (seconds since the epoch or YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z], UTC)")
    };
    let t = s.trim().trim_end_matches('Z');
    if let Some((sec, frac)) = t.split_once('.').filter(|_| !t.contains('-')) {
        let sec: u64 = sec.parse().map_err(|_| bad())?;
        let ms: u64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
        return Ok(sec * 1000 + ms);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
        return t
            .parse::<u64>()
            .map(|v| v.saturating_mul(1000))
            .map_err(|_| bad());
    }
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (t, "00:00:00"),
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, m, dd] = d.as_slice() else {
        return Err(bad());
    };
    let (y, m, dd): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        dd.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || y < 1970 {
        return Err(bad());
    }
    let (hms, ms) = match time.split_once('.') {
        Some((a, b)) => (
            a,
            format!("{b:0<3}")[..3].parse::<u64>().map_err(|_| bad())?,
        ),
        None => (time, 0),
    };
    let parts: Vec<u64> = hms
        .split(':')
        .map(|p| p.parse::<u64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (h, mi, se) = match parts.as_slice() {
        [h, mi] => (*h, *mi, 0),
        [h, mi, se] => (*h, *mi, *se),
        _ => return Err(bad()),
    };
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    // Howard Hinnant's days_from_civil.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(dd) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).map_err(|_| bad())?;
    Ok(((days * 86_400 + h * 3600 + mi * 60 + se) * 1000) + ms)
}

fn parse_signals(s: &str) -> Result<SignalSet, String> {
    SignalSet::parse(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod time_tests {
    #![allow(clippy::unwrap_used)]
    use super::parse_time_ms;

    #[test]
    fn times() {
        assert_eq!(parse_time_ms("0").unwrap(), 0);
        assert_eq!(parse_time_ms("1795667968").unwrap(), 1_795_667_968_000);
        assert_eq!(parse_time_ms("1795667968.5").unwrap(), 1_795_667_968_500);
        assert_eq!(
            parse_time_ms("2026-11-26T04:39:28.504Z").unwrap(),
            1_795_667_968_504
        );
        assert_eq!(
            parse_time_ms("2026-11-26 04:39:28").unwrap(),
            1_795_667_968_000
        );
        assert_eq!(parse_time_ms("2000-02-29").unwrap(), 951_782_400_000);
        assert_eq!(parse_time_ms("1970-01-01T00:01").unwrap(), 60_000);
        for bad in ["", "x", "2026-13-01", "2026-11-26T25:00", "2026-11", "-5"] {
            assert!(parse_time_ms(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_and_options_parse() {
        let c = Cli::try_parse_from(["sigwatch"]).unwrap();
        assert!(c.command.is_none());
        assert_eq!(c.watch.signal, SignalSet::sigkill());
        assert_eq!(c.watch.audit_source, AuditSource::Auto);
        let c = Cli::try_parse_from([
            "sigwatch",
            "--json",
            "-c",
            "3",
            "--signal",
            "KILL,TERM",
            "--pid",
            "5",
            "--comm",
            "x",
            "--audit-source",
            "log:/tmp/a.log",
            "--no-rules",
            "-vv",
        ])
        .unwrap();
        assert!(c.watch.json && c.watch.no_rules);
        assert_eq!(c.watch.count, Some(3));
        assert_eq!(c.watch.signal.iter().collect::<Vec<_>>(), vec![9, 15]);
        assert_eq!(c.watch.audit_source, AuditSource::Log("/tmp/a.log".into()));
        assert_eq!(c.verbose, 2);
        assert!(Cli::try_parse_from(["sigwatch", "--signal", "nope"]).is_err());
        assert!(Cli::try_parse_from(["sigwatch", "--audit-source", "x"]).is_err());
        assert!(c.watch.source.is_none());
        let c = Cli::try_parse_from(["sigwatch", "--source", "proc,tracefs"]).unwrap();
        assert_eq!(
            c.watch.source,
            Some(Sources {
                proc: true,
                audit: false,
                tracefs: true,
                kmsg: false
            })
        );
        assert!(Cli::try_parse_from(["sigwatch", "--source", "audit,tracefs"]).is_err());
        assert!(Cli::try_parse_from(["sigwatch", "--source", "proc,ebpf"]).is_err());
        let c = Cli::try_parse_from(["sigwatch", "rules", "--signal", "all"]).unwrap();
        assert!(matches!(c.command, Some(Command::Rules { signal }) if signal.is_all()));
        let c = Cli::try_parse_from(["sigwatch", "replay", "/var/log/audit/audit.log"]).unwrap();
        assert!(matches!(c.command, Some(Command::Replay(_))));
        let c = Cli::try_parse_from([
            "sigwatch",
            "replay",
            "--journal",
            "--since",
            "2026-11-26T04:39:28.504Z",
        ])
        .unwrap();
        let Some(Command::Replay(a)) = c.command else {
            panic!()
        };
        assert!(a.journal && a.files.is_empty());
        assert_eq!(a.since, Some(1_795_667_968_504));
        assert!(Cli::try_parse_from(["sigwatch", "replay"]).is_err());
    }
}
