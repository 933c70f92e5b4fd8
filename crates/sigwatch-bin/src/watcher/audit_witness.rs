//! The audit witness: auditsig's [`KillSource`] (records → kill events)
//! and [`RuleKeeper`] (the kill-family rules and `enabled`, kept while
//! running and restored at the end), with their outcomes turned into
//! notices and loss counts.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use auditsig::keeper::{CheckReport, KeeperConfig, RuleKeeper};
use auditsig::killrules::{owner_key, KillRuleSet, KEY_PREFIX};
use auditsig::source::{KillCounters, KillSource, PollState, SourceConfig};
use auditsig::{AuditRule, KillEvent, NodeFilter};

use crate::config::{AuditInput, WatchConfig};
use crate::notice::Notice;
use crate::Error;

fn fatal(msg: impl Into<String>) -> Error {
    Error::Fatal(msg.into())
}

/// The audit records' source and the keeper of the rules they need.
pub(crate) struct AuditWitness {
    source: KillSource,
    keeper: Option<RuleKeeper>,
    /// The source's input ended (standard input closed).
    pub ended: bool,
    /// A notice said that the input holds other hosts' events.
    other_hosts_said: bool,
}

fn rules_text(rules: &[AuditRule]) -> String {
    rules
        .iter()
        .map(|r| format!("  auditctl {}", r.to_auditctl()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--audit-source log[:PATH]`: a log in a directory that does not exist
/// is a typo (an error); a log that does not exist yet, or one no audit
/// daemon writes, is followed but said (until something writes it, the
/// kills have no audit witness).
fn check_followed_log(path: &std::path::Path, notices: &mut Vec<Notice>) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        return Err(fatal(format!(
            "--audit-source log: {} is in no directory that exists ({}); fix: give the path auditd writes (log_file in /etc/audit/auditd.conf)",
            path.display(),
            dir.display()
        )));
    }
    if path.is_dir() {
        return Err(fatal(format!(
            "--audit-source log: {} is a directory; fix: give the log file itself (log_file in /etc/audit/auditd.conf)",
            path.display()
        )));
    }
    if !path.exists() {
        notices.push(Notice::warning(format!(
            "--audit-source log: {} does not exist yet; it is followed from when it appears (until then kills have no audit witness)",
            path.display()
        )));
    }
    let daemon = auditsig::AuditClient::open()
        .and_then(|mut c| c.status())
        .map(|s| s.pid);
    if let Ok(0) = daemon {
        notices.push(Notice::warning(format!(
            "--audit-source log: no audit daemon is registered with the kernel, so nothing may write {} (kills have no audit witness until auditd runs); fix: start auditd, or use --audit-source auto",
            path.display()
        )));
    }
    Ok(())
}

/// `--audit-source stdin` follows a live stream (auditd's audisp plugin
/// pipe): a file or a device on standard input cannot be waited on, and a
/// log file is what `sigwatch replay` reads.
fn stdin_is_a_stream() -> Result<(), Error> {
    use nix::sys::stat::{fstat, SFlag};
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(());
    }
    let what = match fstat(&stdin) {
        Ok(st) => match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFIFO | SFlag::S_IFSOCK => return Ok(()),
            SFlag::S_IFREG => "a regular file",
            SFlag::S_IFCHR => "a device (such as /dev/null)",
            SFlag::S_IFDIR => "a directory",
            _ => "not a pipe or socket",
        },
        Err(nix::errno::Errno::EBADF) => "closed",
        Err(e) => return Err(fatal(format!("--audit-source stdin: standard input: {e}"))),
    };
    Err(fatal(format!(
        "--audit-source stdin: standard input is {what}; it must be a pipe or socket that audit records arrive on live (auditd's plugin, `af_unix` or `audisp`); fix: to read an audit log after the fact, run `sigwatch replay FILE`"
    )))
}

impl AuditWitness {
    /// Opens the source `cfg` asks for; `Ok(None)` when `auto` found none
    /// (the reason in `gap`). With a source, the keeper enables audit
    /// and installs the missing rules.
    pub(crate) fn open(
        cfg: &WatchConfig,
        gap: &mut Option<String>,
        notices: &mut Vec<Notice>,
    ) -> Result<Option<AuditWitness>, Error> {
        let mut scfg = SourceConfig::default().rcvbuf(cfg.rcvbuf);
        // Netlink records never carry `node=`: the filter matters for logs
        // and streams only (also the log `auto` may fall back to).
        match crate::auditd_conf::this_host(&cfg.audit_nodes) {
            Ok(f) => scfg = scfg.nodes(f),
            Err(why) => log::info!(
                "audit logs: every host's events are taken ({why}); --audit-node NAME names this host"
            ),
        }
        let source = match &cfg.audit_input {
            AuditInput::None => return Ok(None),
            AuditInput::Stdin => {
                stdin_is_a_stream()?;
                KillSource::stdin(&scfg).map_err(|e| fatal(format!("stdin: {e}")))?
            }
            AuditInput::Log(p) => {
                check_followed_log(p, notices)?;
                KillSource::follow_log(p, &scfg)
                    .map_err(|e| fatal(format!("cannot follow {} ({e})", p.display())))?
            }
            AuditInput::Multicast => KillSource::multicast(&scfg).map_err(|e| {
                fatal(format!("cannot join the audit multicast group ({e}); fix: run as root (CAP_AUDIT_READ) on a kernel ≥ 3.16, or use --audit-source unicast|log"))
            })?,
            AuditInput::Unicast => KillSource::unicast(&scfg).map_err(|e| {
                fatal(format!("cannot become the audit pid ({e}); fix: run as root (CAP_AUDIT_CONTROL) with no audit daemon, or use --audit-source multicast|log"))
            })?,
            AuditInput::Auto => match KillSource::open_auto(&scfg) {
                Ok(s) => s,
                Err(auditsig::Error::NoSource(f)) => {
                    *gap = Some(format!("multicast: {}; unicast: {}", f.multicast, f.unicast));
                    return Ok(None);
                }
                Err(e) => {
                    *gap = Some(e.to_string());
                    return Ok(None);
                }
            },
        };
        let keeper = start_keeper(cfg, notices);
        Ok(Some(AuditWitness {
            source,
            keeper,
            ended: false,
            other_hosts_said: false,
        }))
    }

    /// What the records come from (for the banner).
    pub(crate) fn describe(&self) -> &'static str {
        self.source.kind().describe()
    }

    /// This process is the audit pid.
    pub(crate) fn is_unicast(&self) -> bool {
        matches!(self.source.kind(), auditsig::SourceKind::Unicast)
    }

    /// The descriptor to wait on.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.source.as_fd()
    }

    /// How soon the source wants to be polled even without input.
    pub(crate) fn tick_interval(&self) -> Option<Duration> {
        self.source.tick_interval()
    }

    /// The kill events finished now.
    pub(crate) fn poll(&mut self, out: &mut Vec<KillEvent>, notices: &mut Vec<Notice>) {
        match self.source.poll_kills(Instant::now(), out) {
            Ok(PollState::Ended) => self.ended = true,
            Ok(_) => {}
            Err(e) => log::warn!("audit records: {e}"),
        }
        // Only a log or a stream names hosts; netlink records never do.
        if !self.other_hosts_said && !self.source.nodes_seen().is_empty() {
            if let Some(n) = other_hosts_notice(
                self.source.node_filter(),
                self.source.nodes_seen(),
                self.source.counters().other_node_events,
            ) {
                notices.push(n);
                self.other_hosts_said = true;
            }
        }
    }

    /// What the source read and lost so far.
    pub(crate) fn counters(&self) -> KillCounters {
        self.source.counters()
    }

    /// The periodic check of the rules and `enabled`; returns the records
    /// the kernel lost host-wide since the start.
    pub(crate) fn check(&mut self, notices: &mut Vec<Notice>) -> Option<u64> {
        let keeper = self.keeper.as_mut()?;
        match keeper.check() {
            Ok(r) => say_check(&r, notices),
            Err(e) => log::warn!("checking audit rules: {e}"),
        }
        Some(keeper.lost_since_start())
    }

    /// At the end, first: the last kill events (records still being
    /// assembled), and the audit pid released if this process held it.
    pub(crate) fn finish_source(&mut self, out: &mut Vec<KillEvent>, notices: &mut Vec<Notice>) {
        if let Err(e) = self.source.finish(out) {
            notices.push(Notice::warning(format!(
                "could not release the audit pid: {e}"
            )));
        }
    }

    /// At the end, last: the rules removed and `enabled` restored.
    /// Returns the records the kernel lost since the start, read now.
    pub(crate) fn finish_keeper(&mut self, notices: &mut Vec<Notice>) -> Option<u64> {
        let keeper = self.keeper.take()?;
        match keeper.finish() {
            Ok(done) => {
                if done.removed > 0 {
                    log::info!("removed {} audit rule(s) sigwatch had added", done.removed);
                }
                if let Some(v) = done.enabled_restored {
                    log::info!("audit `enabled` restored to {v}");
                }
                Some(done.lost_total)
            }
            Err(e) => {
                notices.push(Notice::warning(format!(
                    "could not restore audit as found (rules or enabled): {e}"
                )));
                None
            }
        }
    }
}

/// The notice, once, that the audit input holds other hosts' events:
/// skipped (with a filter), or taken as this host's (without one, the log
/// naming several hosts).
fn other_hosts_notice(filter: &NodeFilter, seen: &[Box<[u8]>], skipped: u64) -> Option<Notice> {
    let names = |pick: &dyn Fn(&[u8]) -> bool| {
        seen.iter()
            .filter(|n| pick(n))
            .map(|n| format!("node={}", crate::render::escape(n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match filter {
        NodeFilter::Any if seen.len() > 1 => Some(Notice::warning(format!(
            "the audit log holds events of several hosts ({}): their pids are joined with this host's processes; fix: --audit-node NAME (this host's node= name) to take only this host's",
            names(&|_| true)
        ))),
        NodeFilter::Only(mine) if skipped > 0 => Some(Notice::warning(format!(
            "skipping audit events of other hosts ({}; this host is {}): their pids are not this host's; if one of them is this host, add --audit-node NAME",
            names(&|n| !filter.accepts(Some(n))),
            if mine.is_empty() {
                "the records without node=, as /etc/audit/auditd.conf says".to_string()
            } else {
                mine.iter()
                    .map(|m| format!("node={}", crate::render::escape(m)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))),
        _ => None,
    }
}

/// Starts the rule keeper and says what it found and did.
fn start_keeper(cfg: &WatchConfig, notices: &mut Vec<Notice>) -> Option<RuleKeeper> {
    // Rules we install carry our pid (so a successor can tell stale ones);
    // rules we only suggest (--no-rules) carry the plain key.
    let key = if cfg.install_rules {
        owner_key(std::process::id() as i32)
    } else {
        KEY_PREFIX.to_string()
    };
    let set = KillRuleSet::new(key);
    let set = if cfg.signals.is_all() {
        set.all_signals()
    } else {
        set.signals(&cfg.signals.iter().collect::<Vec<_>>())
    };
    let kcfg = KeeperConfig::default()
        .rules(set)
        .install_rules(cfg.install_rules);
    let keeper = match RuleKeeper::start(kcfg) {
        Ok(k) => k,
        Err(e) => {
            notices.push(Notice::warning(format!(
                "cannot control audit ({e}): no rules installed and audit left as it is; fix: run as root (CAP_AUDIT_CONTROL)"
            )));
            return None;
        }
    };
    let s = keeper.start_report();
    if s.stale_removed > 0 {
        notices.push(Notice::note(format!(
            "removed {} stale audit rule(s) left by a previous sigwatch that died",
            s.stale_removed
        )));
    }
    if s.enabled_audit {
        log::info!("audit was disabled; enabled it (restored at exit)");
        notices.push(Notice::note("audit was off; processes started before it was first enabled on this boot are not audited (boot with audit=1 for full coverage)"));
    }
    if s.locked {
        notices.push(Notice::warning(format!(
            "audit is locked (enabled 2): its rules cannot change until reboot{}",
            if s.missing.is_empty() {
                String::new()
            } else {
                format!(
                    "; kill-family syscalls not recorded (add to the boot rules):\n{}",
                    rules_text(&s.missing)
                )
            }
        )));
    } else if !s.missing.is_empty() {
        notices.push(Notice::warning(format!(
            "--no-rules and the host's rules do not record every kill-family syscall; missing:\n{}",
            rules_text(&s.missing)
        )));
    }
    if s.installed > 0 {
        log::info!(
            "installed {} audit rule(s): {}",
            s.installed,
            keeper
                .owned_rules()
                .iter()
                .map(|x| x.to_auditctl())
                .collect::<Vec<_>>()
                .join(" ; ")
        );
    } else if s.missing.is_empty() {
        log::info!("the host's audit rules already record the kill-family syscalls; none added");
    }
    Some(keeper)
}

/// Turns what a check did into notices.
fn say_check(r: &CheckReport, notices: &mut Vec<Notice>) {
    if r.readded > 0 {
        notices.push(Notice::warning(format!(
            "audit rules were removed (auditctl -D?); re-added {} rule(s)",
            r.readded
        )));
    }
    if r.gaps_filled > 0 {
        notices.push(Notice::warning(format!(
            "the audit rules that recorded kill-family syscalls are gone (their owner, e.g. another sigwatch, removed them); added {} rule(s), removed at exit",
            r.gaps_filled
        )));
    }
    if r.reenabled {
        notices.push(Notice::warning(
            "audit was switched off while sigwatch ran (another sigwatch restored it at exit, or auditctl -e 0); enabled it again (restored at exit)",
        ));
    }
}
