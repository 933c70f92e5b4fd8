//! `sigwatch status`: what this host offers, what is missing, and the fix
//! for each gap.

use std::fmt::Write as _;

use auditsig::client::AuditClient;
use auditsig::killrules::{KillRuleSet, KEY_PREFIX};

use crate::sources::Kmsg;

/// Exit status of `sigwatch status` when it reports at least one gap (0:
/// none; 1 and 2 stay an error and a usage error, as for every command).
pub const EXIT_GAP: u8 = 3;

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
    // Since Linux 6.6 any user may listen to the proc connector; the
    // capability still lets sigwatch's sockets have receive buffers
    // beyond net.core.rmem_max (SO_RCVBUFFORCE), so that a storm loses
    // no event.
    let open_connector = version.is_some_and(|v| v >= procconn::socket::FILTER_MIN_KERNEL);
    let missing: Vec<String> = CAPS
        .iter()
        .filter(|(_, bit, _)| caps & (1u64 << bit) == 0)
        .map(|(n, _, why)| match *n {
            "CAP_NET_ADMIN" if open_connector => {
                format!("{n} (receive buffers beyond net.core.rmem_max: events lost in storms)")
            }
            _ => format!("{n} ({why})"),
        })
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
            format!("subscribed ({})", describe_subscription(c.subscription())),
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
            format!("cannot join: {}", describe_audit_error(&e)),
            "needs CAP_AUDIT_READ and a kernel ≥ 3.16 with CONFIG_AUDIT, not booted with audit=0; otherwise sigwatch uses unicast (no auditd) or --audit-source log",
        )),
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let boot_audit = cmdline_has_audit(&cmdline);
    match AuditClient::open().and_then(|mut c| c.status().map(|s| (c, s))) {
        Ok((mut client, st)) => {
            out.push(enabled_check(st.enabled, client.list_rules().ok().as_deref()));
            out.push(ledger_check(std::path::Path::new(
                auditsig::ledger::DEFAULT_LEDGER_DIR,
            )));
            out.push(check(
                "audit since boot",
                boot_audit,
                if boot_audit {
                    "audit=1 on the kernel command line: every process is audited".to_string()
                } else {
                    "no audit=1 on the kernel command line: processes started before audit was first enabled on this boot are never audited (their kills are named by the tracefs witness only, without login uid, session and syscall; origin unknown without tracefs)".to_string()
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
                    // Rules of a sigwatch that died: the next start removes
                    // them, so they record nothing to count on. (The
                    // keeper's own rule: `ledger::owner_alive`.)
                    let alive = auditsig::ledger::owner_alive(&auditsig::ledger::entries(
                        std::path::Path::new(auditsig::ledger::DEFAULT_LEDGER_DIR),
                    ));
                    let me = std::process::id() as i32;
                    let (stale, kept): (Vec<_>, Vec<_>) = rules.iter().cloned().partition(|r| {
                        auditsig::killrules::stale_owner_by(r, me, &alive).is_some()
                    });
                    let missing = KillRuleSet::new("sigwatch")
                        .build_missing(&kept)
                        .map(|m| m.len())
                        .unwrap_or(0);
                    let stale_text = if stale.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({} of them left by a sigwatch that died: the next start removes them)",
                            stale.len()
                        )
                    };
                    out.push(check(
                        "kill rules",
                        true,
                        format!(
                            "{} rule(s) on the host, {ours} with a sigwatch key{stale_text}; {}",
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
                    format!("cannot list: {}", describe_audit_error(&e)),
                    "run as root (CAP_AUDIT_CONTROL)",
                )),
            }
        }
        Err(e) => out.push(check(
            "audit",
            false,
            format!("cannot read the audit status: {}", describe_audit_error(&e)),
            "run as root (CAP_AUDIT_CONTROL); the kernel needs CONFIG_AUDIT=y and not audit=0 on its command line",
        )),
    }
    // tracefs: mounted as found, or mounted briefly here to look inside
    // (unmounted again when `tfs` drops; nothing else is changed).
    let was_mounted =
        tracefs_mount_point(&std::fs::read_to_string("/proc/mounts").unwrap_or_default());
    match tracesig::Tracefs::locate_or_mount() {
        Ok(tfs) => {
            let how = match (&was_mounted, tfs.own_mount()) {
                (_, Some(m)) => format!(
                    "not mounted; sigwatch mounts it at {} while it runs (and unmounts it)",
                    m.display()
                ),
                (Some(m), None) => format!("mounted at {m}"),
                (None, None) => format!("at {}", tfs.root().display()),
            };
            out.extend(tracefs_checks(Ok((tfs.root(), how))));
            out.push(tracefs_writable_check(tfs.root(), is_read_only(tfs.root())));
        }
        // tracefs is root's (mode 700): for another user the fix is root,
        // whatever else the error says.
        Err(e) if !nix::unistd::geteuid().is_root() => out.push(check(
            "tracefs",
            false,
            format!("not usable by this user: {e}"),
            "run as root: tracefs belongs to root (mode 700), and sigwatch creates a trace instance in it",
        )),
        Err(e) if was_mounted.is_none() && caps & (1u64 << CAP_SYS_ADMIN) == 0 => {
            out.push(tracefs_unmountable_check(&e.to_string()));
        }
        Err(e) => out.extend(tracefs_checks(Err(e.to_string()))),
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

/// `CAP_SYS_ADMIN` (mount(2)), from `linux/capability.h`.
const CAP_SYS_ADMIN: u32 = 21;

/// The proc connector subscription in words.
/// `enabled`: a locked configuration (2) is a gap unless the loaded rules
/// already record every kill-family syscall for SIGKILL (sigwatch cannot
/// add its rules until reboot).
pub fn enabled_check(enabled: u32, rules: Option<&[auditsig::AuditRule]>) -> Check {
    let missing = rules.and_then(|r| {
        auditsig::KillRuleSet::new(auditsig::killrules::KEY_PREFIX)
            .build_missing(r)
            .ok()
    });
    match enabled {
        0 => check(
            "audit enabled",
            true,
            "0 (off): sigwatch enables it while it runs and restores 0 at exit",
            "",
        ),
        1 => check("audit enabled", true, "1 (on)", ""),
        2 => {
            let covered = missing.as_ref().is_some_and(Vec::is_empty);
            check(
                "audit enabled",
                covered,
                if covered {
                    "2 (on, locked): rules cannot change until reboot; the loaded rules record every kill-family syscall".to_string()
                } else {
                    format!(
                        "2 (on, locked): rules cannot change until reboot, and {} kill-family rule(s) sigwatch needs are not loaded: kills by those syscalls are named by tracefs only",
                        missing.as_ref().map_or("some".to_string(), |m| m.len().to_string())
                    )
                },
                "put the output of `sigwatch rules` into /etc/audit/rules.d/ before the `-e 2` line and reboot",
            )
        }
        n => check("audit enabled", true, format!("{n}"), ""),
    }
}

/// The audit ledger: entries of sigwatch instances that died before
/// undoing their changes (the next sigwatch undoes them).
pub fn ledger_check(dir: &std::path::Path) -> Check {
    let dead: Vec<String> = auditsig::ledger::entries(dir)
        .into_iter()
        .filter(|(_, e)| !e.owner.is_alive())
        .map(|(_, e)| match e.restore_enabled {
            Some(v) => format!(
                "pid {} (its rules; audit enabled to restore to {v})",
                e.owner.pid
            ),
            None => format!("pid {} (its rules)", e.owner.pid),
        })
        .collect();
    check(
        "audit ledger",
        dead.is_empty(),
        if dead.is_empty() {
            format!("no change of a dead sigwatch left in {}", dir.display())
        } else {
            format!("changes of dead sigwatch instances left: {}", dead.join(", "))
        },
        "start sigwatch once: it undoes them (or remove the rules keyed sigwatch:<pid> with auditctl and set auditctl -e to the value shown)",
    )
}

fn describe_subscription(sub: Option<procconn::socket::Subscription>) -> String {
    match sub {
        Some(procconn::socket::Subscription::All) => "every event".to_string(),
        Some(procconn::socket::Subscription::KernelFilter(m)) => {
            format!("events filtered by the kernel, mask {m:#x}")
        }
        Some(procconn::socket::Subscription::UserFilter(m)) => {
            format!("every event, filtered here (kernel < 6.6), mask {m:#x}")
        }
        // a kind this version does not know by name
        Some(_) => "subscribed".to_string(),
        None => "no subscription message sent".to_string(),
    }
}

/// An audit error in one sentence: the kernel's refusal names the errno
/// once (`EPERM: Operation not permitted`), not twice.
fn describe_audit_error(e: &auditsig::Error) -> String {
    match e {
        auditsig::Error::Netlink {
            request_type,
            errno,
        } => format!("the kernel refused audit request {request_type}: {errno}"),
        other => other.to_string(),
    }
}

/// Whether the file system holding `path` is mounted read-only
/// (`ST_RDONLY`); `None` when statvfs fails.
fn is_read_only(path: &std::path::Path) -> Option<bool> {
    nix::sys::statvfs::statvfs(path)
        .ok()
        .map(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Whether sigwatch can create its trace instance under `root`: a
/// read-only tracefs (systemd's `ProtectKernelTunables=yes` remounts `/sys`
/// and the tracefs below it read-only, and `ReadWritePaths=` cannot undo it)
/// makes `mkdir` fail with EROFS.
pub fn tracefs_writable_check(root: &std::path::Path, read_only: Option<bool>) -> Check {
    let ro = read_only == Some(true);
    check(
        "tracefs writable",
        !ro,
        match read_only {
            Some(false) => format!("{} is writable: the trace instance can be created", root.display()),
            Some(true) => format!(
                "{} is mounted read-only: creating the trace instance fails (EROFS), so tracefs is not used",
                root.display()
            ),
            None => format!("{}: cannot tell whether it is writable (statvfs failed)", root.display()),
        },
        format!(
            "make it writable for sigwatch: in a systemd unit, drop ProtectKernelTunables= (its read-only /sys wins over ReadWritePaths=) and use ReadOnlyPaths=/sys with ReadWritePaths={} as the shipped unit does; elsewhere remount it read-write",
            root.display()
        ),
    )
}

/// tracefs is not mounted and this process lacks `CAP_SYS_ADMIN` to
/// mount it (mount(2) fails with EPERM): the fix is the capability or a
/// mount made beforehand, not the kernel configuration.
pub fn tracefs_unmountable_check(error: &str) -> Check {
    check(
        "tracefs",
        false,
        format!("not mounted, and this process may not mount it (no CAP_SYS_ADMIN): {error}"),
        "mount it before sigwatch starts (mount -t tracefs nodev /sys/kernel/tracing; under systemd: Wants= and After=sys-kernel-tracing.mount, as the shipped unit has), or grant CAP_SYS_ADMIN",
    )
}

/// Where tracefs is mounted, from a `/proc/mounts` text.
pub fn tracefs_mount_point(mounts: &str) -> Option<String> {
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_dev, mp, fstype) = (f.next()?, f.next()?, f.next()?);
        (fstype == "tracefs").then(|| mp.to_string())
    })
}

/// The tracefs checks for the tracing directory `root` (with how it was
/// found), or why none is usable.
pub fn tracefs_checks(root: Result<(&std::path::Path, String), String>) -> Vec<Check> {
    let (root, how) = match root {
        Ok(r) => r,
        Err(e) => {
            return vec![check(
                "tracefs",
                false,
                format!("unavailable: {e}"),
                "the kernel needs CONFIG_FTRACE and CONFIG_EVENT_TRACING (tracefs, or debugfs's tracing/ before 4.1); without it kernel-originated kills other than OOM and senders audit misses stay unattributed (run with --source proc,audit,kmsg to silence this)",
            )]
        }
    };
    let mut out = vec![check("tracefs", true, how, "")];
    let instances = root.join("instances");
    out.push(check(
        "trace instances",
        instances.is_dir(),
        if instances.is_dir() {
            "supported: sigwatch traces in its own instances/sigwatch-<pid>-s<start time>, removed at exit".to_string()
        } else {
            format!("{} missing", instances.display())
        },
        "kernels before 3.10 have no trace instances; sigwatch will not touch the global trace buffer, so tracefs is not used",
    ));
    let sg = root.join("events/signal/signal_generate").is_dir();
    out.push(check(
        "signal_generate",
        sg,
        if sg {
            "tracepoint available: every SIGKILL is seen with its sending task, also kernel-originated ones"
        } else {
            "tracepoint signal:signal_generate missing"
        },
        "the kernel needs CONFIG_TRACEPOINTS with the signal events; without them use --source proc,audit,kmsg",
    ));
    let mv = root.join("events/oom/mark_victim").is_dir();
    out.push(check(
        "oom mark_victim",
        mv,
        if mv {
            "tracepoint available: OOM kills are recognized in the trace"
        } else {
            "tracepoint oom:mark_victim missing"
        },
        "older kernels lack oom:mark_victim: OOM kills are then recognized from /dev/kmsg only (a self-sent kernel SIGKILL is reported as reason kernel)",
    ));
    if instances.is_dir() {
        let stale: Vec<String> = std::fs::read_dir(&instances)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| {
                        tracesig::instance::instance_identity(n).is_some_and(|o| !o.is_alive())
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(check(
            "stale instances",
            stale.is_empty(),
            if stale.is_empty() {
                "none left by a dead sigwatch".to_string()
            } else {
                format!("left by a sigwatch that died: {}", stale.join(", "))
            },
            "a running sigwatch removes them within a few seconds, or the next one at start (or rmdir them under instances/)",
        ));
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
    #![allow(clippy::unwrap_used)]
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
    fn tracefs_checks_read_the_tracing_directory() {
        let mounts = "proc /proc proc rw 0 0\ntracefs /sys/kernel/tracing tracefs rw,nosuid 0 0\n";
        assert_eq!(
            tracefs_mount_point(mounts).as_deref(),
            Some("/sys/kernel/tracing")
        );
        assert_eq!(tracefs_mount_point("proc /proc proc rw 0 0\n"), None);
        let dir = std::env::temp_dir().join(format!("sigwatch-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in [
            "instances/sigwatch-999999999",
            "events/signal/signal_generate",
        ] {
            std::fs::create_dir_all(dir.join(d)).ok();
        }
        let c = tracefs_checks(Ok((&dir, "at test".into())));
        let by = |n: &str| c.iter().find(|x| x.name == n).cloned();
        assert!(by("tracefs").is_some_and(|x| x.ok));
        assert!(by("trace instances").is_some_and(|x| x.ok));
        assert!(by("signal_generate").is_some_and(|x| x.ok));
        assert!(by("oom mark_victim").is_some_and(|x| !x.ok && x.fix.contains("kmsg")));
        assert!(
            by("stale instances").is_some_and(|x| !x.ok && x.detail.contains("sigwatch-999999999"))
        );
        let _ = std::fs::remove_dir_all(&dir);
        let c = tracefs_checks(Err("no tracefs".into()));
        assert_eq!(c.len(), 1);
        assert!(!c[0].ok && c[0].fix.contains("CONFIG_FTRACE"));
    }

    #[test]
    fn tracefs_failures_name_their_own_fix() {
        let ro = tracefs_writable_check(std::path::Path::new("/sys/kernel/tracing"), Some(true));
        assert!(!ro.ok && ro.detail.contains("EROFS"));
        assert!(ro.fix.contains("ReadWritePaths=/sys/kernel/tracing"));
        assert!(!ro.fix.contains("CONFIG_"));
        let rw = tracefs_writable_check(std::path::Path::new("/t"), Some(false));
        assert!(rw.ok && rw.fix.is_empty());
        let eperm = tracefs_unmountable_check("mount tracefs on /sys/kernel/tracing: EPERM");
        assert!(!eperm.ok && eperm.fix.contains("CAP_SYS_ADMIN"));
        assert!(!eperm.fix.contains("CONFIG_"));
    }

    #[test]
    fn audit_refusal_names_the_errno_once() {
        let e = auditsig::Error::Netlink {
            request_type: 1000,
            errno: nix::errno::Errno::EPERM,
        };
        let s = describe_audit_error(&e);
        assert_eq!(s.matches("Operation not permitted").count(), 1, "{s}");
        assert!(s.contains("EPERM"), "{s}");
        assert_eq!(
            describe_subscription(Some(procconn::socket::Subscription::All)),
            "every event"
        );
    }

    #[test]
    fn locked_audit_is_a_gap_unless_the_rules_cover() {
        let covering = auditsig::KillRuleSet::new("mine").build().unwrap();
        assert!(enabled_check(2, Some(&covering)).ok);
        let c = enabled_check(2, Some(&[]));
        assert!(
            !c.ok && c.detail.contains("locked") && c.fix.contains("sigwatch rules"),
            "{c:?}"
        );
        assert!(!enabled_check(2, None).ok);
        assert!(enabled_check(1, Some(&[])).ok);
    }

    #[test]
    fn dead_ledger_entries_are_a_gap() {
        let dir =
            std::env::temp_dir().join(format!("sigwatch-status-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(ledger_check(&dir).ok);
        std::fs::write(
            dir.join("audit-2147483646-1.ledger"),
            "owner 2147483646 1\nrestore-enabled 0\n",
        )
        .unwrap();
        let c = ledger_check(&dir);
        assert!(
            !c.ok && c.detail.contains("pid 2147483646") && c.detail.contains("restore to 0"),
            "{c:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
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
