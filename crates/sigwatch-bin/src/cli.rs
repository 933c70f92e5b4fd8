//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use sigwatch::config::{AuditInput, Witnesses};
use sigwatch::{SignalSet, WatchConfig};

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
        /// The machine the rules are for (its syscall tables): this one, or
        /// another, e.g. to package rules for it.
        #[arg(long, value_enum, default_value = "native")]
        arch: RulesArch,
    },
    /// Show what this host offers and what is missing, with a fix for each
    /// gap. Exit status: 0 no gap, 3 one or more gaps (sigwatch runs with
    /// fewer witnesses or not at all; each gap line says which).
    Status,
    /// Attribute the kills recorded in audit logs after the fact: auditd
    /// logs (raw or enriched, rotated sets, gzip), ausearch output, the
    /// kernel log or syslog, journalctl -o export/json output, or the
    /// journal itself (--journal). The format is recognised by content.
    Replay(ReplayArgs),
    /// Print the man page (roff) or a shell completion script, generated
    /// from this command line definition, to standard output.
    Generate {
        /// What to print.
        #[arg(value_enum)]
        what: Generated,
    },
}

/// `sigwatch rules --arch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesArch {
    /// The machine sigwatch runs on.
    Native,
    /// x86_64 with its i386 compat entry points (`arch=b64`, `arch=b32`).
    #[value(name = "x86_64")]
    X86_64,
    /// aarch64 (`arch=b64`).
    Aarch64,
}

/// `sigwatch generate WHAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generated {
    /// The man page sigwatch(8), roff (`man -l -` reads it).
    Man,
    /// bash completion script.
    Bash,
    /// zsh completion script.
    Zsh,
    /// fish completion script.
    Fish,
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
    /// Text times in UTC instead of local time.
    #[arg(long)]
    pub utc: bool,
    /// Text: print everything (each ancestor's whole command line and
    /// cwd) instead of one line per ancestor cut to the terminal's width
    /// (or COLUMNS; to a file or a pipe the lines stay whole anyway).
    #[arg(long)]
    pub full: bool,
    /// Signals to report.
    #[arg(long, default_value = "KILL", value_parser = parse_signals)]
    pub signal: SignalSet,
    /// Only kills at or after this time: seconds since the epoch, or
    /// `YYYY-MM-DD[THH:MM[:SS[.mmm]]]` in UTC, or followed by its offset as
    /// the text output prints it (`2026-11-26 05:39:30.076 +01:00 CET`,
    /// `…+01:00`, `…Z`).
    #[arg(long, value_name = "TIME", value_parser = sigwatch::replay::parse_time_ms)]
    pub since: Option<u64>,
    /// Only kills before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = sigwatch::replay::parse_time_ms)]
    pub until: Option<u64>,
    /// Only report victims with this pid (repeatable: any of them; with
    /// --comm, a victim must match both).
    #[arg(long, value_name = "PID", value_parser = parse_pid)]
    pub pid: Vec<i32>,
    /// Only report victims with this comm (repeatable: any of them; with
    /// --pid, a victim must match both). The kernel keeps 15 bytes of a
    /// command name: a longer one matches on its first 15.
    #[arg(long, value_name = "COMM", value_parser = parse_comm)]
    pub comm: Vec<String>,
    /// Most processes remembered from the log (bounds memory).
    #[arg(long, value_name = "N", default_value_t = 32_768)]
    pub max_processes: usize,
    /// Write the kills reported as Prometheus counters
    /// (`sigwatch_kills_total`, see the watch mode's --metrics-file) to
    /// PATH once, at the end.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

impl ReplayArgs {
    /// The library's options for these arguments.
    pub fn options(&self) -> sigwatch::replay::run::ReplayOptions {
        sigwatch::replay::run::ReplayOptions {
            files: self.files.clone(),
            journal: self.journal,
            json: self.json,
            utc: self.utc,
            full: self.full,
            // Set by the binary (the terminal's width).
            width: None,
            color: false,
            config: sigwatch::replay::ReplayConfig {
                signals: self.signal,
                pids: self.pid.clone(),
                comms: self.comm.iter().map(|c| c.as_bytes().to_vec()).collect(),
                since_ms: self.since,
                until_ms: self.until,
                max_processes: self.max_processes,
                ..sigwatch::replay::ReplayConfig::default()
            },
        }
    }
}

/// Where and how reports go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A text block per report on standard output.
    Text,
    /// One JSON object per line on standard output (the contract).
    Json,
    /// One native journal entry per report (journald's socket): MESSAGE
    /// is the one-line answer, SIGWATCH_* fields filter, MESSAGE_ID finds
    /// them all.
    Journal,
}

/// Options of the watch mode.
#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    /// Print JSON lines (one object per line) instead of text (same as
    /// `--output json`).
    #[arg(long)]
    pub json: bool,
    /// Where reports go: text, json (standard output) or journal.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub output: Option<Output>,
    /// Text times in UTC instead of local time.
    #[arg(long)]
    pub utc: bool,
    /// Text: print everything (each ancestor's whole command line, cwd
    /// and cgroup) instead of one line per ancestor cut to the terminal's
    /// width (or COLUMNS; to a file or a pipe the lines stay whole anyway).
    #[arg(long)]
    pub full: bool,
    /// Exit after N kill reports (N ≥ 1).
    #[arg(short = 'c', long, value_name = "N", value_parser = parse_count)]
    pub count: Option<u64>,
    /// Signals to report: names or numbers, comma-separated, or `all`.
    #[arg(long, value_name = "LIST", default_value = "KILL", value_parser = parse_signals)]
    pub signal: SignalSet,
    /// Only report victims with this pid (repeatable: any of them; with
    /// --comm, a victim must match both).
    #[arg(long, value_name = "PID", value_parser = parse_pid)]
    pub pid: Vec<i32>,
    /// Only report victims with this comm (repeatable: any of them; with
    /// --pid, a victim must match both). The kernel keeps 15 bytes of a
    /// command name: a longer one matches on its first 15.
    #[arg(long, value_name = "COMM", value_parser = parse_comm)]
    pub comm: Vec<String>,
    /// The witnesses to use, comma-separated: `proc` (process events,
    /// required), `audit` (kill-family syscall records), `tracefs` (the
    /// `signal:signal_generate` tracepoint), `kmsg` (the kernel log's OOM
    /// lines). Default: all that the host offers.
    #[arg(long, value_name = "LIST", value_parser = parse_sources)]
    pub source: Option<Witnesses>,
    /// Where audit records come from: `auto` (multicast if the kernel has
    /// it, else unicast if no audit daemon runs, else auditd's log),
    /// `multicast` (kernel ≥ 3.16), `unicast` (become the audit pid),
    /// `log` (follow /var/log/audit/audit.log; events are assembled by
    /// record time as in a replay, the last ones completed after 5 s
    /// without a new record), `log:PATH`, `stdin` (records on standard
    /// input, as an audisp plugin), `none`.
    #[arg(long, value_name = "SOURCE", default_value = "auto")]
    pub audit_source: AuditInput,
    /// This host's name in a followed audit log or stdin (the `node=`
    /// auditd writes; repeatable): events of other hosts, which a log
    /// collected from several hosts holds, are skipped and said, since
    /// their pids are not this host's. Default: the name
    /// /etc/audit/auditd.conf gives (`name_format` none: only records
    /// without node=; hostname: this host's name; user: its `name`); with
    /// fqd or numeric every event is taken, and a warning says when the
    /// log names several hosts. Records naming this host (its host name or
    /// that name's first label) always count as this host's.
    #[arg(long, value_name = "NAME", value_parser = parse_node)]
    pub audit_node: Vec<String>,
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
    /// At most about this many MiB are held by retained exited processes
    /// (the oldest go first, ancestors of live processes last), whatever
    /// their command lines.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_retained_mib: u64,
    /// How long a kill and its victim's exit wait for each other (ms).
    #[arg(long, value_name = "MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub window_ms: u64,
    /// Socket receive buffer for process events and audit records (bytes,
    /// at least 4096; a small one loses events in bursts).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20, value_parser = parse_rcvbuf)]
    pub rcvbuf: usize,
    /// Do not read the kernel log (/dev/kmsg) for OOM kills.
    #[arg(long)]
    pub no_kmsg: bool,
    /// Keep PATH up to date with Prometheus counters (text exposition
    /// format, for node_exporter's textfile collector): rewritten
    /// atomically (a temporary file in the same directory, then rename)
    /// every 5 s, within 1 s of a kill, and at exit. Metrics:
    /// sigwatch_kills_total{origin,reason,signal,victim,sender} (counter;
    /// victim and sender are the systemd unit, else the comm; each keeps
    /// its first 64 distinct values and 256 .service names besides, later
    /// ones count as "other"; beyond 1000 series new combinations count as
    /// victim="other",sender="other" (origin, reason and signal stay their
    /// own); a label whose value is unknown is left out), sigwatch_kill_label_overflow_total{label} (kills counted
    /// as "other"), sigwatch_events_total{source} and
    /// sigwatch_events_lost_total{source} (counters per witness),
    /// sigwatch_reports_dropped_total (reports a blocked output or the
    /// journal lost),
    /// sigwatch_witness_up{witness} (gauge, 1 in use),
    /// sigwatch_start_time_seconds and sigwatch_build_info{version}
    /// (gauges). The directory must exist; a failed write is a diagnostic
    /// and is tried again.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// The scheduling priority (nice value, -20 to 19; lower runs sooner)
    /// sigwatch sets itself to at start. A short-lived sender's argv,
    /// exe and cwd can only be read from /proc while it lives: a watcher
    /// that waits behind busy tasks misses them. Default: -10, applied
    /// only to a sigwatch started at nice 0 (a nice chosen by whoever
    /// started it, `nice -n 5` or a unit's Nice=, is kept). A value given
    /// here is set as given (a positive one makes sigwatch yield to the
    /// host's work, and miss more short-lived senders). Raising needs
    /// root (CAP_SYS_NICE); if refused, sigwatch runs on at its nice (a
    /// warning when --nice was given).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub nice: Option<i32>,
}

fn parse_sources(s: &str) -> Result<Witnesses, String> {
    s.parse()
}

impl WatchArgs {
    /// The output chosen (`--json` is `--output json`).
    pub fn output(&self) -> Output {
        match (self.output, self.json) {
            (Some(o), _) => o,
            (None, true) => Output::Json,
            (None, false) => Output::Text,
        }
    }

    /// The watcher's configuration these options ask for.
    pub fn to_config(&self) -> WatchConfig {
        let mut cfg = WatchConfig::default()
            .signals(self.signal)
            .audit_input(self.audit_source.clone())
            .install_rules(!self.no_rules)
            .kernel_log(!self.no_kmsg)
            .retention(std::time::Duration::from_secs(self.retention))
            .max_exited(self.max_exited)
            .max_retained_bytes(usize::try_from(self.max_retained_mib << 20).unwrap_or(usize::MAX))
            .window(std::time::Duration::from_millis(self.window_ms))
            .rcvbuf(self.rcvbuf)
            .handle_signals(true);
        cfg.witnesses = self.source;
        for p in &self.pid {
            cfg = cfg.victim_pid(*p);
        }
        for c in &self.comm {
            cfg = cfg.victim_comm(c.as_bytes());
        }
        for n in &self.audit_node {
            cfg = cfg.audit_node(n.as_bytes());
        }
        cfg
    }
}

fn parse_pid(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a process id, 1 or more".into()),
    }
}

fn parse_node(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err("a host name as audit logs write it after node= (no spaces)".into());
    }
    Ok(s.to_owned())
}

fn parse_comm(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a command name (the victim's comm, as `ps -o comm` shows it)".into());
    }
    Ok(s.to_owned())
}

fn parse_rcvbuf(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 4_096 => Ok(n),
        _ => Err(
            "a size in bytes, 4096 or more (default 16777216; a small one loses events in bursts)"
                .into(),
        ),
    }
}

fn parse_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a number of reports, 1 or more (without -c, sigwatch runs until stopped)".into()),
    }
}

fn parse_signals(s: &str) -> Result<SignalSet, String> {
    SignalSet::parse(s).map_err(|e| e.to_string())
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
        assert_eq!(c.watch.audit_source, AuditInput::Auto);
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
        assert_eq!(c.watch.audit_source, AuditInput::Log("/tmp/a.log".into()));
        assert_eq!(c.verbose, 2);
        assert!(Cli::try_parse_from(["sigwatch", "--signal", "nope"]).is_err());
        assert!(Cli::try_parse_from(["sigwatch", "--audit-source", "x"]).is_err());
        assert!(Cli::try_parse_from(["sigwatch", "--count", "0"]).is_err());
        assert_eq!(
            Cli::try_parse_from(["sigwatch", "-c", "1"])
                .unwrap()
                .watch
                .count,
            Some(1)
        );
        assert!(c.watch.source.is_none());
        let c = Cli::try_parse_from(["sigwatch", "--source", "proc,tracefs"]).unwrap();
        let w = c.watch.source.unwrap();
        assert!(w.proc && !w.audit && w.tracefs && !w.kmsg);
        assert!(Cli::try_parse_from(["sigwatch", "--source", "audit,tracefs"]).is_err());
        assert!(Cli::try_parse_from(["sigwatch", "--source", "proc,ebpf"]).is_err());
        let c = Cli::try_parse_from(["sigwatch", "--output", "journal", "--utc"]).unwrap();
        assert_eq!(c.watch.output(), Output::Journal);
        assert!(c.watch.utc && !c.watch.full);
        assert_eq!(
            Cli::try_parse_from(["sigwatch"]).unwrap().watch.output(),
            Output::Text
        );
        assert!(Cli::try_parse_from(["sigwatch", "--json", "--output", "text"]).is_err());
        let c = Cli::try_parse_from(["sigwatch", "rules", "--signal", "all"]).unwrap();
        assert!(
            matches!(c.command, Some(Command::Rules { signal, arch: RulesArch::Native }) if signal.is_all())
        );
        let c = Cli::try_parse_from(["sigwatch", "rules", "--arch", "aarch64"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Rules {
                arch: RulesArch::Aarch64,
                ..
            })
        ));
        let c = Cli::try_parse_from(["sigwatch", "generate", "zsh"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Generate {
                what: Generated::Zsh
            })
        ));
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

    /// Every option with a fixed set of values names them in `--help`.
    #[test]
    fn help_lists_the_values_of_enumerated_options() {
        let help = Cli::command().render_long_help().to_string();
        for v in [
            "auto",
            "multicast",
            "unicast",
            "log:PATH",
            "stdin",
            "none",
            "proc",
            "audit",
            "tracefs",
            "kmsg",
        ] {
            assert!(help.contains(v), "--help lacks {v}:\n{help}");
        }
        let mut cmd = Cli::command();
        for (sub, values) in [
            ("generate", &["man", "bash", "zsh", "fish"][..]),
            ("rules", &["native", "x86_64", "aarch64"][..]),
        ] {
            let sub_help = cmd
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help()
                .to_string();
            for v in values {
                assert!(sub_help.contains(v), "{sub} --help lacks {v}");
            }
        }
    }
}
