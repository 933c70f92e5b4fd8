//! I/O at the edges of the engine: the audit multicast socket, the kernel
//! log (`/dev/kmsg`), and the systemd readiness notification.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use auditsig::netlink::{split_records, NetlinkRecord};
use netlink_sys::{protocols::NETLINK_AUDIT, Socket, SocketAddr};

/// `AUDIT_NLGRP_READLOG` (`include/uapi/linux/audit.h`): the read-only
/// multicast group of audit records (kernel ≥ 3.16, `CAP_AUDIT_READ`).
pub const AUDIT_NLGRP_READLOG: u32 = 1;

/// What one drain of a record source produced.
#[derive(Debug, Default)]
pub struct Drain {
    /// Records received.
    pub records: Vec<NetlinkRecord>,
    /// Receive-buffer overflows (`ENOBUFS`): records were dropped, the
    /// kernel does not say how many.
    pub overflows: u64,
    /// Datagrams that could not be split into records.
    pub malformed: u64,
}

/// A non-blocking socket in the audit multicast group.
#[derive(Debug)]
pub struct AuditMulticast {
    sock: Socket,
    buf: Vec<u8>,
}

impl AuditMulticast {
    /// Joins `AUDIT_NLGRP_READLOG` with a receive buffer of `rcvbuf` bytes.
    pub fn open(rcvbuf: usize) -> io::Result<AuditMulticast> {
        let mut sock = Socket::new(NETLINK_AUDIT)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        sock.add_membership(AUDIT_NLGRP_READLOG)?;
        set_rcvbuf(sock.as_raw_fd(), rcvbuf);
        sock.set_non_blocking(true)?;
        Ok(AuditMulticast {
            sock,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Reads every datagram available now.
    pub fn drain(&mut self, out: &mut Drain) -> io::Result<()> {
        loop {
            // netlink-sys appends to the Vec it is given.
            self.buf.clear();
            match self.sock.recv_from(&mut self.buf, 0) {
                Ok((0, _)) => return Ok(()),
                Ok(_) => match split_records(&self.buf, &mut out.records) {
                    Ok(_) => {}
                    Err(auditsig::Error::Netlink { errno, .. }) => {
                        return Err(io::Error::from_raw_os_error(errno as i32))
                    }
                    Err(e) => {
                        log::debug!("bad audit datagram: {e}");
                        out.malformed += 1;
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => out.overflows += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsFd for AuditMulticast {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Audit records sent to this process as the registered audit pid
/// (unicast): for kernels without the multicast group. Only taken when no
/// live process holds the audit pid (never from auditd); released on drop.
/// While registered, a stalled reader blocks audited syscalls host-wide
/// once the backlog fills, so the caller must drain it promptly.
#[derive(Debug)]
pub struct AuditUnicast {
    inner: AuditMulticast,
    released: bool,
}

impl AuditUnicast {
    /// Registers this process as the audit pid. `holder` is the pid the
    /// kernel reports now (0: none).
    pub fn open(rcvbuf: usize, holder: u32) -> Result<AuditUnicast, auditsig::Error> {
        if holder != 0 && auditsig::killrules::pid_alive(holder) {
            return Err(auditsig::Error::AuditPidHeld { pid: holder });
        }
        let mut sock = Socket::new(NETLINK_AUDIT).map_err(|e| auditsig::Error::Io {
            what: "socket(NETLINK_AUDIT)",
            source: e,
        })?;
        let io = |what: &'static str| move |e: io::Error| auditsig::Error::Io { what, source: e };
        sock.bind(&SocketAddr::new(0, 0)).map_err(io("bind"))?;
        set_rcvbuf(sock.as_raw_fd(), rcvbuf);
        let mut me = AuditUnicast {
            inner: AuditMulticast {
                sock,
                buf: Vec::with_capacity(64 * 1024),
            },
            released: true,
        };
        me.set_pid(std::process::id())?;
        me.released = false;
        me.inner.sock.set_non_blocking(true).map_err(io("fcntl"))?;
        Ok(me)
    }

    fn set_pid(&mut self, pid: u32) -> Result<(), auditsig::Error> {
        use auditsig::netlink::{encode_request, msg, NLM_F_ACK, NLM_F_REQUEST};
        use auditsig::status::{AuditStatus, AUDIT_STATUS_PID};
        let st = AuditStatus {
            mask: AUDIT_STATUS_PID,
            pid,
            ..Default::default()
        };
        let req = encode_request(msg::AUDIT_SET, NLM_F_REQUEST | NLM_F_ACK, 1, &st.encode());
        self.inner
            .sock
            .send(&req, 0)
            .map_err(|e| auditsig::Error::Io {
                what: "send AUDIT_SET",
                source: e,
            })?;
        Ok(())
    }

    /// Reads every record available now; a refused registration shows up
    /// here as an error (e.g. `EEXIST`).
    pub fn drain(&mut self, out: &mut Drain) -> io::Result<()> {
        self.inner.drain(out)
    }

    /// Unregisters (the kernel accepts clearing the pid only from the
    /// current holder, so this never disturbs a daemon that took over).
    pub fn release(&mut self) {
        if !self.released {
            self.released = true;
            if let Err(e) = self.set_pid(0) {
                log::warn!("could not release the audit pid: {e}");
            }
        }
    }
}

impl Drop for AuditUnicast {
    fn drop(&mut self) {
        self.release();
    }
}

impl AsFd for AuditUnicast {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// Raises a socket's receive buffer: `SO_RCVBUFFORCE` (root) beyond
/// `rmem_max`, else `SO_RCVBUF`. Best effort.
pub fn set_rcvbuf(fd: i32, bytes: usize) {
    let v = i32::try_from(bytes).unwrap_or(i32::MAX);
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt with a valid fd and a pointer to an int of the
        // size given.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&v as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

/// `/dev/kmsg`, opened non-blocking at its end (only new messages).
#[derive(Debug)]
pub struct Kmsg {
    file: File,
    buf: Vec<u8>,
}

impl Kmsg {
    /// Opens `/dev/kmsg` and skips what is already in the ring buffer.
    pub fn open() -> io::Result<Kmsg> {
        // SAFETY: open(2) of a constant NUL-terminated path.
        let fd = unsafe {
            libc::open(
                c"/dev/kmsg".as_ptr(),
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: lseek on a valid fd; SEEK_END on /dev/kmsg moves past the
        // existing records.
        unsafe { libc::lseek(owned.as_raw_fd(), 0, libc::SEEK_END) };
        Ok(Kmsg {
            file: File::from(owned),
            buf: vec![0; 8192],
        })
    }

    /// Reads every record available now (one record per read(2)).
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> io::Result<u64> {
        let mut missed = 0;
        loop {
            match self.file.read(&mut self.buf) {
                Ok(0) => return Ok(missed),
                Ok(n) => f(&self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(missed),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The ring buffer overwrote records we had not read yet.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => missed += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsFd for Kmsg {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Sends `msg` (e.g. `READY=1`) to `$NOTIFY_SOCKET` (systemd's
/// `sd_notify` protocol: a datagram to a path or an abstract `@name`).
/// Does nothing when the variable is unset.
pub fn sd_notify(msg: &str) -> io::Result<()> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => {
            use std::os::unix::ffi::OsStrExt;
            notify_to(path.as_bytes(), msg)
        }
        None => Ok(()),
    }
}

/// Sends `msg` to the datagram socket `addr`: a path, or `@name` for an
/// abstract socket.
pub fn notify_to(addr: &[u8], msg: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = addr.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let a = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(msg.as_bytes(), &a)?;
    } else {
        sock.send_to(
            msg.as_bytes(),
            std::path::Path::new(std::ffi::OsStr::from_bytes(addr)),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn notify_reaches_path_and_abstract_sockets() {
        let dir = std::env::temp_dir().join(format!("sigwatch-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.sock");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        use std::os::unix::ffi::OsStrExt;
        notify_to(path.as_os_str().as_bytes(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        std::fs::remove_dir_all(&dir).unwrap();

        use std::os::linux::net::SocketAddrExt;
        let name = format!("sigwatch-test-{}", std::process::id());
        let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&a).unwrap();
        notify_to(format!("@{name}").as_bytes(), "STOPPING=1").unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        assert!(notify_to(b"/nonexistent/socket", "X").is_err());
    }
}
