//! Shared helpers for the real-kernel audit tests: root check, the audit
//! probe ("audit available": a kernel booted with `audit=0` has no
//! NETLINK_AUDIT at all) and the host-wide audit test lock.
#![allow(dead_code)]

use std::process::Command;

/// The lock every crate's audit tests hold for their whole run.
pub use sigwatch_test_support::AuditLock;

#[allow(unused_imports)] // not every test file uses the raw probe itself
pub use sigwatch_test_support::probe::{audit as probe_audit, AuditProbe};
use sigwatch_test_support::{probe, Need};

/// `Some((need, reason))` when the real-kernel tests cannot run here,
/// decided by raw probes, never by auditsig.
pub fn skip_reason() -> Option<(Need, String)> {
    if !probe::is_root() {
        return Some((Need::Root, "not root (needs CAP_AUDIT_CONTROL)".into()));
    }
    match probe::audit_cached() {
        AuditProbe::Present => None,
        AuditProbe::Absent(why) => Some((
            Need::Audit,
            format!("the kernel has no audit (booted with audit=0 or CONFIG_AUDIT off): {why}"),
        )),
        // As root on a kernel with audit this is a real fault: let the test
        // run into it and fail loudly rather than skip.
        AuditProbe::Refused(why) => {
            eprintln!("warning: audit present but the probe failed: {why}");
            None
        }
    }
}

/// Records why a test is skipped (`SKIP <test> [<need>]: <why>`, listed
/// by CI's skip summary) and returns true when it must be.
pub fn skip(test: &str) -> bool {
    match skip_reason() {
        Some((need, why)) => {
            sigwatch_test_support::skip(test, need, why);
            true
        }
        None => false,
    }
}

/// Opens a multicast reader with `open` where the raw probe (bind of a
/// NETLINK_AUDIT socket to `AUDIT_NLGRP_READLOG`) says the group exists:
/// then a failing `open` fails the test. Otherwise records the skip.
pub fn multicast<R, E: std::fmt::Debug>(
    test: &str,
    open: impl FnOnce() -> Result<R, E>,
) -> Option<R> {
    if let Err(why) = probe::audit_multicast() {
        sigwatch_test_support::skip(test, Need::AuditMulticast, why);
        return None;
    }
    match open() {
        Ok(r) => Some(r),
        Err(e) => panic!(
            "{test}: the raw probe joined the audit multicast group, auditsig could not: {e:?}"
        ),
    }
}

/// True when `tool` is on PATH; otherwise records the skip.
pub fn require_tool(test: &str, tool: &str) -> bool {
    sigwatch_test_support::require_tool(test, tool)
}

/// Whether `auditctl` is installed (the oracle).
pub fn have_auditctl() -> bool {
    Command::new("auditctl").arg("-v").output().is_ok()
}

/// Runs `auditctl ARGS` and returns stdout; panics on failure.
pub fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("run auditctl");
    assert!(
        out.status.success(),
        "auditctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `auditctl -l` as lines (empty when "No rules").
pub fn auditctl_rules() -> Vec<String> {
    auditctl(&["-l"])
        .lines()
        .filter(|l| !l.is_empty() && *l != "No rules")
        .map(str::to_owned)
        .collect()
}
