//! Shared helpers for the real-kernel audit tests: root check, the audit
//! probe ("audit available": a kernel booted with `audit=0` has no
//! NETLINK_AUDIT at all) and the host-wide audit test lock.
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

/// What [`probe_audit`] found out about the kernel's audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProbe {
    /// A NETLINK_AUDIT socket opens and AUDIT_GET is answered.
    Present,
    /// `socket(AF_NETLINK, .., NETLINK_AUDIT)` fails with EPROTONOSUPPORT:
    /// the kernel was booted with `audit=0` (audit never initialised, so
    /// the netlink family is not registered) or built without CONFIG_AUDIT.
    Absent(String),
    /// The socket opens but AUDIT_GET is refused or unanswered (not root,
    /// a security module, ...): audit exists, the test cannot use it.
    Refused(String),
}

/// Probes the kernel's audit with a raw netlink socket, independently of
/// the crate under test (a bug in `AuditClient` must make tests fail, not
/// skip): opens NETLINK_AUDIT and sends AUDIT_GET (1000), waiting up to
/// 2 s for the `audit_status` reply or an NLMSG_ERROR.
pub fn probe_audit() -> AuditProbe {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_AUDIT,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        let why = format!("socket(NETLINK_AUDIT): {e}");
        return match e.raw_os_error() {
            Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => AuditProbe::Absent(why),
            _ => AuditProbe::Refused(why),
        };
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: valid fd, option value of the size passed.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    // nlmsghdr {len, type = AUDIT_GET, flags = NLM_F_REQUEST, seq, pid = 0}
    let seq: u32 = 0x5157_0001;
    let mut req = [0u8; 16];
    req[0..4].copy_from_slice(&16u32.to_ne_bytes());
    req[4..6].copy_from_slice(&1000u16.to_ne_bytes());
    req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    // SAFETY: zeroed sockaddr_nl is valid; family set below.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: valid fd, buffer and address of the sizes passed.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return AuditProbe::Refused(format!(
            "AUDIT_GET send: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut buf = vec![0u8; 8192];
    // A few datagrams at most: skip anything that is not the answer.
    for _ in 0..8 {
        // SAFETY: valid fd and buffer.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return AuditProbe::Refused(format!(
                "no answer to AUDIT_GET: {}",
                std::io::Error::last_os_error()
            ));
        }
        let msg = &buf[..n as usize];
        if msg.len() < 16 {
            continue;
        }
        let ty = u16::from_ne_bytes([msg[4], msg[5]]);
        let mseq = u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]);
        if mseq != seq {
            continue;
        }
        match ty {
            1000 => return AuditProbe::Present,
            // NLMSG_ERROR: a negative errno follows the header (0 = ack).
            2 if msg.len() >= 20 => {
                let errno = -i32::from_ne_bytes([msg[16], msg[17], msg[18], msg[19]]);
                if errno != 0 {
                    return AuditProbe::Refused(format!(
                        "AUDIT_GET: {}",
                        std::io::Error::from_raw_os_error(errno)
                    ));
                }
            }
            _ => {}
        }
    }
    AuditProbe::Refused("no audit_status reply to AUDIT_GET".into())
}

/// `Some(reason)` when the real-kernel tests cannot run here.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (needs CAP_AUDIT_CONTROL)".into());
    }
    if !std::path::Path::new("/proc/self/loginuid").exists() {
        return Some("kernel without audit support".into());
    }
    match probe_audit() {
        AuditProbe::Present => None,
        AuditProbe::Absent(why) => Some(format!(
            "the kernel has no audit (booted with audit=0 or CONFIG_AUDIT off): {why}"
        )),
        // As root on a kernel with audit this is a real fault: let the test
        // run into it and fail loudly rather than skip.
        AuditProbe::Refused(why) => {
            eprintln!("warning: audit present but the probe failed: {why}");
            None
        }
    }
}

/// Prints why a test is skipped (`SKIP <test>: <why>`, listed by the
/// qemu job's summary) and returns true when it must be.
pub fn skip(test: &str) -> bool {
    match skip_reason() {
        Some(r) => {
            eprintln!("SKIP {test}: {r}");
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
