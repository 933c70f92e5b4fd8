//! Independent probes: raw sockets and files, nothing of the crates under
//! test. `Ok(())` means the kernel offers the feature, so a test that
//! needs it must run (and fail if the code under test cannot use it);
//! `Err(why)` is the reason a test may skip.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// `NETLINK_AUDIT` message type AUDIT_GET (linux/audit.h).
const AUDIT_GET: u16 = 1000;
/// The audit multicast group for readers of the log (linux/audit.h:
/// `AUDIT_NLGRP_READLOG`, kernel >= 3.16).
pub const AUDIT_NLGRP_READLOG: u32 = 1;
/// The proc connector's netlink group and connector id
/// (linux/connector.h: `CN_IDX_PROC`, `CN_VAL_PROC`).
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN` / `PROC_CN_MCAST_IGNORE` (linux/cn_proc.h).
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;

/// Whether the effective uid is 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The path of `name` on PATH (an executable regular file), if any.
pub fn tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The running kernel's (major, minor) from uname(2).
pub fn kernel_version() -> (u32, u32) {
    // SAFETY: zeroed utsname is valid; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a utsname.
    let rc = unsafe { libc::uname(&mut u) };
    assert_eq!(rc, 0, "uname");
    let release: String = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Whether `fs` is listed in `/proc/filesystems` (the kernel can mount it).
pub fn filesystem(fs: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fs))
}

fn netlink_socket(protocol: i32) -> Result<OwnedFd, std::io::Error> {
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
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
    Ok(fd)
}

fn bind_groups(fd: &OwnedFd, groups: u32) -> Result<(), std::io::Error> {
    // SAFETY: zeroed sockaddr_nl is valid; family and groups set below.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: valid fd and address of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn send_to_kernel(fd: &OwnedFd, msg: &[u8]) -> Result<(), std::io::Error> {
    // SAFETY: zeroed sockaddr_nl is valid; family set below (pid 0: kernel).
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: valid fd, buffer and address of the sizes passed.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// What [`audit`] found out about the kernel's audit.
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

/// Probes the kernel's audit with a raw netlink socket: opens
/// NETLINK_AUDIT and sends AUDIT_GET, waiting up to 2 s for the
/// `audit_status` reply or an NLMSG_ERROR.
pub fn audit() -> AuditProbe {
    let fd = match netlink_socket(libc::NETLINK_AUDIT) {
        Ok(fd) => fd,
        Err(e) => {
            let why = format!("socket(NETLINK_AUDIT): {e}");
            return match e.raw_os_error() {
                Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => AuditProbe::Absent(why),
                _ => AuditProbe::Refused(why),
            };
        }
    };
    // nlmsghdr {len, type = AUDIT_GET, flags = NLM_F_REQUEST, seq, pid = 0}
    let seq: u32 = 0x5157_0001;
    let mut req = [0u8; 16];
    req[0..4].copy_from_slice(&16u32.to_ne_bytes());
    req[4..6].copy_from_slice(&AUDIT_GET.to_ne_bytes());
    req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    if let Err(e) = send_to_kernel(&fd, &req) {
        return AuditProbe::Refused(format!("AUDIT_GET send: {e}"));
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
            AUDIT_GET => return AuditProbe::Present,
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

/// The kernel's audit as probed once per test process (it cannot change
/// while the kernel runs).
pub fn audit_cached() -> &'static AuditProbe {
    static PROBE: std::sync::OnceLock<AuditProbe> = std::sync::OnceLock::new();
    PROBE.get_or_init(audit)
}

/// Whether a raw NETLINK_AUDIT socket can join the multicast group
/// `AUDIT_NLGRP_READLOG` (bind(2) with `nl_groups` = its bit). Needs
/// CAP_AUDIT_READ and a kernel >= 3.16.
pub fn audit_multicast() -> Result<(), String> {
    let fd =
        netlink_socket(libc::NETLINK_AUDIT).map_err(|e| format!("socket(NETLINK_AUDIT): {e}"))?;
    bind_groups(&fd, 1 << (AUDIT_NLGRP_READLOG - 1))
        .map_err(|e| format!("bind(NETLINK_AUDIT, group AUDIT_NLGRP_READLOG): {e}"))
}

/// Whether the proc connector exists: `/proc/net/connector` lists
/// `cn_proc`, and a raw NETLINK_CONNECTOR socket binds to `CN_IDX_PROC`
/// and accepts `PROC_CN_MCAST_LISTEN` (then `IGNORE`). Needs
/// CAP_NET_ADMIN.
pub fn proc_connector() -> Result<(), String> {
    let listed = std::fs::read_to_string("/proc/net/connector")
        .map_err(|e| format!("/proc/net/connector: {e}"))?;
    if !listed
        .lines()
        .any(|l| l.split_whitespace().next() == Some("cn_proc"))
    {
        return Err("/proc/net/connector has no cn_proc (CONFIG_PROC_EVENTS off)".into());
    }
    let fd = netlink_socket(libc::NETLINK_CONNECTOR)
        .map_err(|e| format!("socket(NETLINK_CONNECTOR): {e}"))?;
    bind_groups(&fd, CN_IDX_PROC).map_err(|e| format!("bind(CN_IDX_PROC): {e}"))?;
    for op in [PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE] {
        // nlmsghdr (16) + cn_msg {idx, val, seq, ack, len: u16, flags: u16} (20) + op (4)
        let mut m = Vec::with_capacity(40);
        m.extend_from_slice(&40u32.to_ne_bytes());
        m.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&std::process::id().to_ne_bytes());
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&4u16.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&op.to_ne_bytes());
        send_to_kernel(&fd, &m).map_err(|e| format!("PROC_CN_MCAST op {op}: {e}"))?;
    }
    Ok(())
}

/// Whether the kernel has the proc connector's event filter
/// (`PROC_CN_MCAST_LISTEN` with a `proc_input` event mask): Linux >= 6.6.
pub fn proc_connector_filter() -> bool {
    kernel_version() >= (6, 6)
}

/// Where tracefs is mounted, from `/proc/self/mounts` (first match).
pub fn tracefs_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_, dir, ty) = (f.next()?, f.next()?, f.next()?);
        (ty == "tracefs").then(|| PathBuf::from(dir))
    })
}

/// Whether tracefs with the `signal:signal_generate` event exists: the
/// filesystem is known to the kernel and, where tracefs is mounted, the
/// event's `format` file is there.
pub fn tracefs() -> Result<(), String> {
    if !filesystem("tracefs") {
        return Err("/proc/filesystems has no tracefs (CONFIG_TRACING off)".into());
    }
    if let Some(dir) = tracefs_mount() {
        let f = dir.join("events/signal/signal_generate/format");
        if !f.exists() {
            return Err(format!("{} missing", f.display()));
        }
    }
    Ok(())
}

/// Whether the tracefs event `group/name` exists (tracefs must be mounted).
pub fn trace_event(group: &str, name: &str) -> bool {
    tracefs_mount().is_some_and(|d| {
        d.join("events")
            .join(group)
            .join(name)
            .join("format")
            .exists()
    })
}
