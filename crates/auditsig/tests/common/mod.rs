//! Shared helpers for the real-kernel audit tests: root check and the
//! host-wide audit test lock.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::process::Command;

/// Path of the lock every crate's audit tests hold for their whole run.
pub const LOCK_PATH: &str = "/run/lock/sigwatch-audit-tests.lock";

/// Holds an exclusive `flock` on [`LOCK_PATH`] until dropped.
#[derive(Debug)]
pub struct AuditLock(File);

impl AuditLock {
    /// Blocks until the lock is ours.
    pub fn acquire() -> AuditLock {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(LOCK_PATH)
            .expect("open audit test lock");
        // SAFETY: flock on a valid, owned fd.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(
            rc,
            0,
            "flock {LOCK_PATH}: {}",
            std::io::Error::last_os_error()
        );
        AuditLock(f)
    }
}

/// `Some(reason)` when the real-kernel tests cannot run here.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (needs CAP_AUDIT_CONTROL)".into());
    }
    if !std::path::Path::new("/proc/self/loginuid").exists() {
        return Some("kernel without audit support".into());
    }
    None
}

/// Prints why a test is skipped and returns true when it must be.
pub fn skip(test: &str) -> bool {
    match skip_reason() {
        Some(r) => {
            eprintln!("SKIPPED {test}: {r}");
            true
        }
        None => false,
    }
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
