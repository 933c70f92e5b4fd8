//! Real-kernel tests of the control client: status round trip, enable and
//! restore, audit pid set/clear, features. Root only; serialized by the
//! host-wide audit test lock; audit is left exactly as found.
#![allow(clippy::unwrap_used)]

mod common;

use auditsig::client::AuditClient;
use auditsig::netlink::NetlinkRecord;
use auditsig::Error;
use common::{skip, AuditLock};
use nix::errno::Errno;

#[test]
fn status_has_every_field_of_this_kernel() {
    if skip("status_has_every_field_of_this_kernel") {
        return;
    }
    let _lock = AuditLock::acquire();
    let mut c = AuditClient::open().unwrap();
    let s = c.status().unwrap();
    // Linux 6.18 sends the 11-field struct.
    assert!(s.feature_bitmap.is_some(), "{s:?}");
    assert!(s.backlog_wait_time.is_some(), "{s:?}");
    assert!(s.backlog_wait_time_actual.is_some(), "{s:?}");
    assert!(s.backlog_limit > 0, "{s:?}");
    // Same values as auditctl -s.
    if !common::have_auditctl() {
        sigwatch_test_support::partial(
            "status_has_every_field_of_this_kernel",
            sigwatch_test_support::Need::Tool("auditctl".into()),
            "no comparison with `auditctl -s`",
        );
    } else {
        let out = common::auditctl(&["-s"]);
        let field = |name: &str| -> u32 {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.split_whitespace().next())
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(field("enabled"), s.enabled);
        assert_eq!(field("failure"), s.failure);
        assert_eq!(field("pid"), s.pid as u32);
        assert_eq!(field("backlog_limit"), s.backlog_limit);
        assert_eq!(Some(field("backlog_wait_time")), s.backlog_wait_time);
    }
}

#[test]
fn enable_and_restore_exactly() {
    if skip("enable_and_restore_exactly") {
        return;
    }
    let _lock = AuditLock::acquire();
    let mut c = AuditClient::open().unwrap();
    let before = c.status().unwrap();
    if before.is_locked() {
        sigwatch_test_support::skip(
            "enable_and_restore_exactly",
            sigwatch_test_support::Need::Host("audit configuration unlocked".into()),
            "audit configuration is locked (enabled=2)",
        );
        return;
    }
    // Explicit set to 1, then back.
    c.set_enabled(1).unwrap();
    assert_eq!(c.status().unwrap().enabled, 1);
    c.set_enabled(before.enabled).unwrap();
    assert_eq!(c.status().unwrap().enabled, before.enabled);

    // The guard.
    let mut g = AuditClient::open().unwrap().enable().unwrap();
    assert_eq!(g.original(), before.enabled);
    assert_eq!(g.changed(), before.enabled == 0);
    assert_eq!(
        g.client().unwrap().status().unwrap().enabled,
        1.max(before.enabled)
    );
    g.restore().unwrap();
    assert_eq!(c.status().unwrap().enabled, before.enabled);
}

#[test]
fn features_are_reported() {
    if skip("features_are_reported") {
        return;
    }
    let _lock = AuditLock::acquire();
    let mut c = AuditClient::open().unwrap();
    let f = c
        .features()
        .unwrap()
        .expect("kernel >= 3.13 answers AUDIT_GET_FEATURE");
    assert_eq!(f.vers, 1);
    if !common::have_auditctl() {
        sigwatch_test_support::partial(
            "features_are_reported",
            sigwatch_test_support::Need::Tool("auditctl".into()),
            "no comparison with `auditctl -s`",
        );
    } else {
        let out = common::auditctl(&["-s"]);
        let line = out
            .lines()
            .find(|l| l.starts_with("loginuid_immutable"))
            .unwrap();
        let on = line.split_whitespace().nth(1).unwrap() == "1";
        assert_eq!(f.loginuid_immutable(), on);
    }
}

#[test]
fn audit_pid_set_and_clear_when_free() {
    if skip("audit_pid_set_and_clear_when_free") {
        return;
    }
    let _lock = AuditLock::acquire();
    let mut c = AuditClient::open().unwrap();
    let before = c.status().unwrap();
    if before.pid != 0 {
        sigwatch_test_support::skip(
            "audit_pid_set_and_clear_when_free",
            sigwatch_test_support::Need::AuditIdle,
            format!("audit pid {} holds it", before.pid),
        );
        return;
    }
    let me = std::process::id() as i32;
    // A wrong pid is refused by the kernel with a typed errno.
    match c.set_pid(me + 1_000_000, None) {
        Err(Error::Netlink { errno, .. }) => assert_eq!(errno, Errno::EINVAL),
        other => panic!("expected EINVAL, got {other:?}"),
    }
    let mut early: Vec<NetlinkRecord> = Vec::new();
    c.set_pid(me, Some(&mut early)).unwrap();
    let during = c.status();
    // A second registration while we hold it is refused (EEXIST) even
    // for ourselves from another socket.
    let mut other = AuditClient::open().unwrap();
    let again = other.set_pid(me, None);
    c.set_pid(0, Some(&mut early)).unwrap();
    let after = c.status().unwrap();
    assert_eq!(during.unwrap().pid, me);
    assert!(
        matches!(
            again,
            Err(Error::Netlink {
                errno: Errno::EEXIST,
                ..
            })
        ),
        "{again:?}"
    );
    assert_eq!(after.pid, 0);
}

/// The "audit absent" path (kernel booted with `audit=0`, or without
/// CONFIG_AUDIT): every entry point that needs NETLINK_AUDIT returns a
/// typed error naming the socket call and EPROTONOSUPPORT, never a panic
/// or a hang. Runs only where audit is absent (the qemu job's `audit=0`
/// pass); elsewhere it says so and returns.
#[test]
fn absent_audit_is_a_typed_error_everywhere() {
    let test = "absent_audit_is_a_typed_error_everywhere";
    let why = match common::probe_audit() {
        common::AuditProbe::Absent(why) => why,
        other => {
            sigwatch_test_support::skip(
                test,
                sigwatch_test_support::Need::Kernel("audit absent".into()),
                format!("this kernel has audit ({other:?}); the qemu audit=0 pass runs it"),
            );
            return;
        }
    };
    assert!(why.contains("socket(NETLINK_AUDIT)"), "{why}");
    let is_absent = |e: &Error| match e {
        Error::Io { what, source } => {
            *what == "socket(NETLINK_AUDIT)" && source.raw_os_error() == Some(libc::EPROTONOSUPPORT)
        }
        _ => false,
    };
    let c = AuditClient::open();
    assert!(matches!(&c, Err(e) if is_absent(e)), "{c:?}");
    let m = auditsig::reader::MulticastReader::open();
    assert!(matches!(&m, Err(e) if is_absent(e)), "{:?}", m.err());
    let u = auditsig::reader::UnicastReader::register();
    assert!(matches!(&u, Err(e) if is_absent(e)), "{:?}", u.err());
    // The error text says what failed (sigwatch prints it to users).
    let text = c.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.starts_with("socket(NETLINK_AUDIT): "), "{text}");
}
