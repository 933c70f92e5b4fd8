//! What a [`Watcher`](crate::Watcher) watches and how: a plain value with
//! defaults and a builder, built by the `sigwatch` binary from its command
//! line and by embedders in code.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use procconn::Pid;

use crate::signals::SignalSet;

/// auditd's default log.
pub const DEFAULT_AUDIT_LOG: &str = "/var/log/audit/audit.log";

/// The witnesses a watcher uses. Process events are always on: victims'
/// exits and the process tree come from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Witnesses {
    /// Process events (the proc connector).
    pub proc: bool,
    /// Kill-family syscall records from audit.
    pub audit: bool,
    /// The tracefs `signal:signal_generate` tracepoint.
    pub tracefs: bool,
    /// The kernel log (`/dev/kmsg`) for the OOM killer's lines.
    pub kmsg: bool,
}

impl Default for Witnesses {
    /// All of them.
    fn default() -> Self {
        Witnesses {
            proc: true,
            audit: true,
            tracefs: true,
            kmsg: true,
        }
    }
}

impl Witnesses {
    /// Process events only (deaths without senders).
    pub fn proc_only() -> Self {
        Witnesses {
            proc: true,
            audit: false,
            tracefs: false,
            kmsg: false,
        }
    }
}

impl FromStr for Witnesses {
    type Err = String;

    /// A comma-separated list of `proc`, `audit`, `tracefs`, `kmsg` or
    /// `all`; `proc` is required.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Witnesses {
            proc: false,
            ..Witnesses::proc_only()
        };
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "proc" => out.proc = true,
                "audit" => out.audit = true,
                "tracefs" | "trace" => out.tracefs = true,
                "kmsg" => out.kmsg = true,
                "all" => out = Witnesses::default(),
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

/// Where audit records come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuditInput {
    /// Multicast if the kernel has it, else unicast if no audit daemon
    /// holds the audit pid, else auditd's log.
    #[default]
    Auto,
    /// The `AUDIT_NLGRP_READLOG` multicast group (kernel ≥ 3.16).
    Multicast,
    /// Become the audit pid (only when no daemon holds it).
    Unicast,
    /// Follow an auditd log file.
    Log(PathBuf),
    /// Records on standard input (as an audisp plugin); its end stops the
    /// watcher.
    Stdin,
    /// No audit.
    None,
}

impl FromStr for AuditInput {
    type Err = String;

    /// `auto`, `multicast`, `unicast`, `log[:PATH]`, `stdin` or `none`.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => AuditInput::Auto,
            "multicast" => AuditInput::Multicast,
            "unicast" => AuditInput::Unicast,
            "log" => AuditInput::Log(PathBuf::from(DEFAULT_AUDIT_LOG)),
            "stdin" => AuditInput::Stdin,
            "none" => AuditInput::None,
            _ => match s.strip_prefix("log:") {
                Some(p) if !p.is_empty() => AuditInput::Log(PathBuf::from(p)),
                _ => {
                    return Err(format!(
                        "unknown audit source {s:?} (auto, multicast, unicast, log[:PATH], stdin, none)"
                    ))
                }
            },
        })
    }
}

/// The configuration of a [`Watcher`](crate::Watcher).
///
/// ```
/// use sigwatch::{SignalSet, WatchConfig};
/// let cfg = WatchConfig::default()
///     .signals(SignalSet::parse("KILL,TERM").unwrap())
///     .victim_comm("postgres")
///     .handle_signals(false);
/// assert_eq!(cfg.victim_comms, vec![b"postgres".to_vec()]);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchConfig {
    /// The signals to report (default: SIGKILL).
    pub signals: SignalSet,
    /// Report only these victim pids (empty: all).
    pub victim_pids: Vec<Pid>,
    /// Report only victims with one of these comms (empty: all).
    pub victim_comms: Vec<Vec<u8>>,
    /// The witnesses to use; `None`: all that the host offers (a missing
    /// one is a notice). `Some`: exactly these (tracefs named and
    /// unusable is an error).
    pub witnesses: Option<Witnesses>,
    /// Where audit records come from.
    pub audit_input: AuditInput,
    /// This host's names in audit logs (`node=`): from a followed log or
    /// standard input, only events of these names and those without a
    /// name are taken (a log collected from several hosts holds other
    /// hosts' pids). Empty: the name this host's auditd writes, from
    /// `/etc/audit/auditd.conf` (see [`crate::auditd_conf`]); when that
    /// cannot tell, every event is taken and a notice says when the log
    /// holds several hosts'.
    pub audit_nodes: Vec<Vec<u8>>,
    /// Install the kill-family audit rules the host's rules lack (and
    /// remove them at the end). `false`: use only the rules present.
    pub install_rules: bool,
    /// How long an exited process stays in the tree for ancestry.
    pub retention: Duration,
    /// At most this many exited processes are retained.
    pub max_exited: usize,
    /// At most about this many bytes are held by retained exited
    /// processes (oldest first, ancestors last). Default 64 MiB.
    pub max_retained_bytes: usize,
    /// How long a kill and its victim's exit wait for each other.
    pub window: Duration,
    /// Socket receive buffers (bytes) for process events and audit.
    pub rcvbuf: usize,
    /// Read the kernel log (`/dev/kmsg`) for the OOM killer's lines when
    /// the kmsg witness is wanted (without it, OOM kills that tracefs
    /// cannot explain come out with origin unknown).
    pub kernel_log: bool,
    /// The watcher may change process-wide signal dispositions: while it
    /// is the audit pid it ignores SIGTSTP/SIGTTIN/SIGTTOU (a stopped
    /// audit pid stalls every audited syscall on the host). Off by
    /// default: an embedder's process is its own (a notice says so).
    pub handle_signals: bool,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            signals: SignalSet::sigkill(),
            victim_pids: Vec::new(),
            victim_comms: Vec::new(),
            witnesses: None,
            audit_input: AuditInput::Auto,
            audit_nodes: Vec::new(),
            install_rules: true,
            retention: Duration::from_secs(600),
            max_exited: 65_536,
            max_retained_bytes: 64 << 20,
            window: Duration::from_secs(2),
            rcvbuf: 16 << 20,
            kernel_log: true,
            handle_signals: false,
        }
    }
}

impl WatchConfig {
    /// The signals to report.
    pub fn signals(mut self, s: SignalSet) -> Self {
        self.signals = s;
        self
    }
    /// Adds a victim pid filter.
    pub fn victim_pid(mut self, pid: Pid) -> Self {
        self.victim_pids.push(pid);
        self
    }
    /// Adds a victim comm filter.
    pub fn victim_comm(mut self, comm: impl Into<Vec<u8>>) -> Self {
        self.victim_comms.push(comm.into());
        self
    }
    /// Exactly these witnesses.
    pub fn witnesses(mut self, w: Witnesses) -> Self {
        self.witnesses = Some(w);
        self
    }
    /// Where audit records come from.
    pub fn audit_input(mut self, a: AuditInput) -> Self {
        self.audit_input = a;
        self
    }
    /// Adds a name of this host in audit logs (see
    /// [`WatchConfig::audit_nodes`]).
    pub fn audit_node(mut self, name: impl Into<Vec<u8>>) -> Self {
        self.audit_nodes.push(name.into());
        self
    }
    /// Whether missing kill-family rules are installed.
    pub fn install_rules(mut self, yes: bool) -> Self {
        self.install_rules = yes;
        self
    }
    /// Retention of exited processes (time).
    pub fn retention(mut self, d: Duration) -> Self {
        self.retention = d;
        self
    }
    /// Retention of exited processes (count).
    pub fn max_exited(mut self, n: usize) -> Self {
        self.max_exited = n;
        self
    }
    /// Retention of exited processes (bytes).
    pub fn max_retained_bytes(mut self, bytes: usize) -> Self {
        self.max_retained_bytes = bytes;
        self
    }
    /// The join window.
    pub fn window(mut self, d: Duration) -> Self {
        self.window = d;
        self
    }
    /// Socket receive buffers.
    pub fn rcvbuf(mut self, bytes: usize) -> Self {
        self.rcvbuf = bytes;
        self
    }
    /// Whether the kernel log is read.
    pub fn kernel_log(mut self, yes: bool) -> Self {
        self.kernel_log = yes;
        self
    }
    /// Whether the watcher may change process-wide signal dispositions.
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = yes;
        self
    }
}
