//! Real kernel: `KillSource::open_auto` picks the multicast group where it
//! exists, and a unicast source holds the audit pid only while it lives.
//!
//! Root only; serialized by the host-wide audit lock; the audit pid is
//! left as found.
#![allow(clippy::unwrap_used)]

mod common;

use auditsig::client::AuditClient;
use auditsig::source::{KillSource, SourceConfig, SourceKind};
use auditsig::Error;
use common::{skip, AuditLock};

#[test]
fn sources_are_send() {
    fn send<T: Send>() {}
    send::<KillSource>();
    send::<auditsig::RuleKeeper>();
}

#[test]
fn auto_prefers_multicast() {
    let test = "auto_prefers_multicast";
    if skip(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    // Independent probe of the group: a raw netlink socket joining it.
    // SAFETY: plain socket(2); closed below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_AUDIT,
        )
    };
    assert!(fd >= 0);
    let group: libc::c_int = 1;
    // SAFETY: valid fd, option value of the size passed.
    let joined = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_NETLINK,
            libc::NETLINK_ADD_MEMBERSHIP,
            (&group as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    if !joined {
        eprintln!("SKIP {test}: the kernel has no audit multicast group");
        return;
    }
    let src = KillSource::open_auto(&SourceConfig::default()).unwrap();
    assert_eq!(src.kind(), SourceKind::Multicast);
}

#[test]
fn unicast_holds_the_audit_pid_only_while_alive() {
    let test = "unicast_holds_the_audit_pid_only_while_alive";
    if skip(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let mut c = AuditClient::open().unwrap();
    let holder = c.status().unwrap().pid;
    if holder != 0 {
        // auditd (or another reader) holds it: a keeper never takes it.
        match KillSource::unicast(&SourceConfig::default()) {
            Err(Error::AuditPidHeld { pid }) => assert_eq!(pid, holder),
            other => panic!("took the audit pid from {holder}: {other:?}"),
        }
        eprintln!("SKIP {test}: the audit pid is held by {holder}");
        return;
    }
    let mut src = KillSource::unicast(&SourceConfig::default()).unwrap();
    assert_eq!(src.kind(), SourceKind::Unicast);
    assert_eq!(c.status().unwrap().pid, std::process::id() as i32);
    // A second one is refused while the first lives.
    assert!(matches!(
        KillSource::unicast(&SourceConfig::default()),
        Err(Error::AuditPidHeld { .. }) | Err(Error::Netlink { .. })
    ));
    let mut out = Vec::new();
    src.finish(&mut out).unwrap();
    assert_eq!(c.status().unwrap().pid, 0);
    drop(src);
    assert_eq!(c.status().unwrap().pid, 0);
    // Dropped without finish: released too.
    let src = KillSource::unicast(&SourceConfig::default()).unwrap();
    assert_eq!(c.status().unwrap().pid, std::process::id() as i32);
    drop(src);
    assert_eq!(c.status().unwrap().pid, 0);
}
