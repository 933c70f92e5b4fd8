//! `sigwatch status`: what this host offers, what is missing, and the fix
//! for each gap.

use std::fmt::Write as _;

use auditsig::client::AuditClient;
use auditsig::killrules::{KillRuleSet, KEY_PREFIX};

use crate::sources::Kmsg;

/// One line of the status: a check, whether it is fine, what was found,
/// and how to fix it when it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// `true` when nothing is missing.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it (empty when ok).
    pub fix: String,
}

fn check(name: &'static str, ok: bool, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name,
        ok,
        detail: detail.into(),
        fix: if ok { String::new() } else { fix.into() },
    }
}

/// The capability bits in `CapEff:` of a `/proc/<pid>/status` text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// Whether a kernel command line enables audit from boot (`audit=1`).
pub fn cmdline_has_audit(cmdline: &str) -> bool {
    cmdline.split_whitespace().any(|w| w == "audit=1")
}

const CAPS: [(&str, u32, &str); 4] = [
    ("CAP_NET_ADMIN", 12, "process events"),
    ("CAP_AUDIT_CONTROL", 30, "audit rules and status"),
    ("CAP_AUDIT_READ", 37, "audit multicast"),
    ("CAP_SYSLOG", 34, "/dev/kmsg (OOM kills)"),
];

/// Runs every check against this host.
pub fn checks() -> Vec<Check> {
    let mut out = Vec::new();
    let uts = nix::sys::utsname::uname().ok();
    let release = uts
        .as_ref()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|| "?".into());
    let version = procconn::socket::parse_kernel_release(&release);
    out.push(check(
        "kernel",
        version.is_some_and(|v| v >= (3, 16)),
        format!("{release} ({})", std::env::consts::ARCH),
        "kernels before 3.16 have no audit multicast: sigwatch then needs the audit pid (no auditd) or auditd's log",
    ));
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = parse_cap_eff(&status).unwrap_or(0);
    let missing: Vec<String> = CAPS
        .iter()
        .filter(|(_, bit, _)| caps & (1u64 << bit) == 0)
        .map(|(n, _, why)| format!("{n} ({why})"))
        .collect();
    out.push(check(
        "capabilities",
        missing.is_empty(),
        if missing.is_empty() {
            "all needed (CAP_NET_ADMIN, CAP_AUDIT_CONTROL, CAP_AUDIT_READ, CAP_SYSLOG)".to_string()
        } else {
            format!("missing {}", missing.join(", "))
        },
        "run sigwatch as root (or grant these capabilities, e.g. AmbientCapabilities= in the unit)",
    ));
    match procconn::ProcConnector::open(&procconn::Config::default().recv_buffer(None)) {
        Ok(c) => out.push(check(
            "proc connector",
            true,
            format!("subscribed ({:?})", c.subscription()),
            "",
        )),
        Err(e) => out.push(check(
            "proc connector",
            false,
            format!("cannot subscribe: {e}"),
            "run as root in the initial network namespace; the kernel needs CONFIG_PROC_EVENTS=y",
        )),
    }
    match auditsig::MulticastReader::with_rcvbuf(1 << 16) {
        Ok(_) => out.push(check("audit multicast", true, "joinable (AUDIT_NLGRP_READLOG)", "")),
        Err(e) => out.push(check(
            "audit multicast",
            false,
            format!("cannot join: {e}"),
            "needs CAP_AUDIT_READ and a kernel ≥ 3.16 with CONFIG_AUDIT; otherwise sigwatch uses unicast (no auditd) or --audit-source log",
        )),
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let boot_audit = cmdline_has_audit(&cmdline);
    match AuditClient::open().and_then(|mut c| c.status().map(|s| (c, s))) {
        Ok((mut client, st)) => {
            out.push(check(
                "audit enabled",
                true,
                match st.enabled {
                    0 => "0 (off): sigwatch enables it while it runs and restores 0 at exit".to_string(),
                    1 => "1 (on)".to_string(),
                    2 => "2 (on, locked: rules cannot change until reboot)".to_string(),
                    n => format!("{n}"),
                },
                "",
            ));
            out.push(check(
                "audit since boot",
                boot_audit,
                if boot_audit {
                    "audit=1 on the kernel command line: every process is audited".to_string()
                } else {
                    "no audit=1 on the kernel command line: processes started before audit was first enabled on this boot are never audited (their kills show as origin unknown)".to_string()
                },
                "add audit=1 to the kernel command line (e.g. GRUB_CMDLINE_LINUX) and reboot",
            ));
            let auditd = if st.pid == 0 {
                "not running (sigwatch may take the audit pid on kernels without multicast)".to_string()
            } else {
                let comm = std::fs::read_to_string(format!("/proc/{}/comm", st.pid))
                    .map(|c| c.trim().to_string())
                    .unwrap_or_else(|_| "gone".into());
                format!("pid {} ({comm}); sigwatch never takes its audit pid", st.pid)
            };
            out.push(check("audit daemon", true, auditd, ""));
            let busy = st.backlog_limit > 0 && st.backlog * 2 > st.backlog_limit;
            // The kernel default (64) overflows on a burst of records, e.g.
            // a kill(-1) produces one OBJ_PID record per process.
            let small = st.backlog_limit < 1024;
            out.push(check(
                "audit backlog",
                !busy && !small && st.lost == 0,
                format!(
                    "backlog {}/{}, lost {} since boot, rate limit {}{}",
                    st.backlog,
                    st.backlog_limit,
                    st.lost,
                    if st.rate_limit == 0 {
                        "none".to_string()
                    } else {
                        format!("{}/s", st.rate_limit)
                    },
                    st.backlog_wait_time
                        .map(|w| format!(", backlog wait {w} jiffies"))
                        .unwrap_or_default()
                ),
                "raise the backlog so bursts are not lost (auditctl -b 8192) and avoid rate limits (auditctl -r 0)",
            ));
            match client.list_rules() {
                Ok(rules) => {
                    let ours = rules
                        .iter()
                        .filter(|r| {
                            r.keys()
                                .iter()
                                .any(|k| k.starts_with(KEY_PREFIX.as_bytes()))
                        })
                        .count();
                    let missing = KillRuleSet::new("sigwatch")
                        .build_missing(&rules)
                        .map(|m| m.len())
                        .unwrap_or(0);
                    out.push(check(
                        "kill rules",
                        true,
                        format!(
                            "{} rule(s) on the host, {ours} with a sigwatch key; {}",
                            rules.len(),
                            if missing == 0 {
                                "the host's rules already record every SIGKILL syscall".to_string()
                            } else {
                                format!("sigwatch adds {missing} rule(s) while it runs (see `sigwatch rules`)")
                            }
                        ),
                        "",
                    ));
                }
                Err(e) => out.push(check(
                    "kill rules",
                    false,
                    format!("cannot list: {e}"),
                    "run as root (CAP_AUDIT_CONTROL)",
                )),
            }
        }
        Err(e) => out.push(check(
            "audit",
            false,
            format!("cannot read the audit status: {e}"),
            "run as root (CAP_AUDIT_CONTROL); the kernel needs CONFIG_AUDIT=y and not audit=0 on its command line",
        )),
    }
    match Kmsg::open() {
        Ok(_) => out.push(check(
            "kernel log",
            true,
            "/dev/kmsg readable (OOM kills are recognized)",
            "",
        )),
        Err(e) => out.push(check(
            "kernel log",
            false,
            format!("/dev/kmsg: {e}"),
            "run as root (CAP_SYSLOG); without it OOM kills show as origin unknown",
        )),
    }
    out
}

/// Renders the checks, one line each, fixes indented below.
pub fn render(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let _ = writeln!(
            s,
            "{:<17} {:<4} {}",
            c.name,
            if c.ok { "ok" } else { "GAP" },
            c.detail
        );
        if !c.fix.is_empty() {
            let _ = writeln!(s, "{:<22} fix: {}", "", c.fix);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_capabilities_and_cmdline() {
        assert_eq!(
            parse_cap_eff("Name:\tx\nCapEff:\t000001ffffffffff\n"),
            Some(0x1ff_ffff_ffff)
        );
        assert_eq!(parse_cap_eff("CapEff: zz"), None);
        assert!(cmdline_has_audit(
            "BOOT_IMAGE=/vmlinuz root=/dev/sda audit=1 quiet"
        ));
        assert!(!cmdline_has_audit("audit=0 noaudit=1"));
    }

    #[test]
    fn render_shows_fix_only_for_gaps() {
        let s = render(&[
            check("a", true, "fine", "never shown"),
            check("b", false, "broken", "do this"),
        ]);
        assert!(!s.contains("never shown"));
        assert!(s.contains("GAP  broken"));
        assert!(s.contains("fix: do this"));
    }
}
