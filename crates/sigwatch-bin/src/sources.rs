//! I/O at the edges of the engine: the kernel log (`/dev/kmsg`) and the
//! systemd readiness notification. (Audit records come from `auditsig`'s
//! readers.)

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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
