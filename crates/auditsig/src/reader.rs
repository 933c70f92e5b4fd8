//! Record sources over `NETLINK_AUDIT`, yielding raw
//! [`NetlinkRecord`]s (`msg_type`, `body`) for the record parser.
//!
//! - [`MulticastReader`] — the default: a socket in the
//!   `AUDIT_NLGRP_READLOG` multicast group (kernel ≥ 3.16,
//!   `CAP_AUDIT_READ`). Best effort: coexists with auditd, never blocks
//!   the kernel; when the socket buffer overflows, the kernel drops copies
//!   and `recv` reports `ENOBUFS`, which is counted.
//! - [`UnicastReader`] — for kernels without multicast: registers this
//!   process as the audit pid, but only when no live process holds it
//!   (never takes it from auditd), and releases it on drop. While
//!   registered, audited syscalls host-wide stall once the kernel backlog
//!   fills, so the caller must read continuously (a dedicated thread).
//!
//! Both can be non-blocking, expose their fd ([`AsFd`]/[`AsRawFd`]) for
//! an event loop, receive with a timeout, ask for a large receive buffer
//! (`SO_RCVBUFFORCE` as root, else `SO_RCVBUF`), and report the kernel's
//! `lost` counter delta since they started ([`MulticastReader::lost_since_start`]).

use crate::client::{open_socket, wait_readable, AuditClient, Expect};
use crate::error::{Error, Result};
use crate::killrules::pid_alive;
use crate::netlink::{msg, split_records, NetlinkRecord};
use crate::status::AuditStatus;
use netlink_sys::Socket;
use nix::errno::Errno;
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

/// `AUDIT_NLGRP_READLOG`: the read-only multicast group (`enum audit_nlgrps`).
pub const AUDIT_NLGRP_READLOG: u32 = 1;

/// Receive buffer requested by default (bytes; the kernel doubles it).
pub const DEFAULT_RCVBUF: usize = 8 * 1024 * 1024;

/// Receive scratch size: records are at most `MAX_AUDIT_MESSAGE_LENGTH`
/// (8970) bytes; this leaves ample room.
const RECV_BUF: usize = 64 * 1024;

/// Datagrams without records read in a row before a timed-out receive
/// gives up (see `RecordSocket::recv`).
const MAX_NON_RECORD_READS: u32 = 64;

/// Counters of a reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ReaderStats {
    /// Records delivered.
    pub records: u64,
    /// Datagrams received.
    pub datagrams: u64,
    /// `recv` failures with `ENOBUFS`: the socket buffer overflowed and
    /// the kernel dropped records for this socket (how many is unknown).
    pub enobufs: u64,
    /// Datagrams that could not be split into records.
    pub unparsable: u64,
    /// Datagrams larger than the receive buffer (record cut short).
    pub truncated: u64,
    /// `AUDIT_REPLACE` probes received (unicast: someone else tried to
    /// become the audit pid).
    pub replace_probes: u64,
    /// The receive buffer size the kernel granted (`SO_RCVBUF`, doubled).
    pub rcvbuf: usize,
}

/// Socket + buffer + queue shared by both readers.
#[derive(Debug)]
struct RecordSocket {
    buf: Vec<u8>,
    pending: VecDeque<NetlinkRecord>,
    stats: ReaderStats,
    lost_start: Option<u32>,
    control: Option<AuditClient>,
}

impl RecordSocket {
    fn new() -> RecordSocket {
        RecordSocket {
            buf: Vec::with_capacity(RECV_BUF),
            pending: VecDeque::new(),
            stats: ReaderStats::default(),
            lost_start: None,
            control: None,
        }
    }

    fn grow_rcvbuf(&mut self, sock: &Socket, bytes: usize) {
        use nix::sys::socket::{getsockopt, setsockopt, sockopt};
        // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN.
        if setsockopt(sock, sockopt::RcvBufForce, &bytes).is_err() {
            if let Err(e) = setsockopt(sock, sockopt::RcvBuf, &bytes) {
                log::debug!("SO_RCVBUF {bytes}: {e}");
            }
        }
        self.stats.rcvbuf = getsockopt(sock, sockopt::RcvBuf).unwrap_or(0);
    }

    /// One record, waiting up to `timeout` (`None`: forever).
    fn recv(&mut self, sock: &Socket, timeout: Option<Duration>) -> Result<Option<NetlinkRecord>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut idle_reads = 0u32;
        loop {
            if let Some(r) = self.pending.pop_front() {
                self.stats.records += 1;
                return Ok(Some(r));
            }
            // Try without waiting first: under load data is there.
            if self.recv_one(sock)? {
                // Something was read (maybe no record: an ENOBUFS report,
                // a control message). Keep reading what is queued, even
                // past the deadline, but bounded so a flood of non-records
                // cannot hold the caller forever.
                idle_reads += 1;
                if idle_reads < MAX_NON_RECORD_READS || deadline.is_none_or(|d| Instant::now() < d)
                {
                    continue;
                }
                return Ok(None);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(None);
            }
            if !wait_readable(sock.as_fd(), left)? {
                return Ok(None);
            }
        }
    }

    /// Receives one datagram without blocking into `pending`; `false` if
    /// none was waiting.
    fn recv_one(&mut self, sock: &Socket) -> Result<bool> {
        self.buf.clear();
        if self.buf.capacity() < RECV_BUF {
            self.buf.reserve(RECV_BUF);
        }
        let (n, addr) = match sock.recv_from(&mut self.buf, libc::MSG_DONTWAIT | libc::MSG_TRUNC) {
            Ok(x) => x,
            Err(e) => {
                return match e.raw_os_error().map(Errno::from_raw) {
                    Some(Errno::EAGAIN) | Some(Errno::EINTR) => Ok(false),
                    Some(Errno::ENOBUFS) => {
                        self.stats.enobufs += 1;
                        log::warn!("audit socket overflowed (ENOBUFS): records lost");
                        Ok(true)
                    }
                    _ => Err(Error::io("recv", e)),
                };
            }
        };
        if addr.port_number() != 0 {
            return Ok(true);
        }
        self.stats.datagrams += 1;
        if n > self.buf.len() {
            self.stats.truncated += 1;
        }
        let mut out = Vec::new();
        match split_records(&self.buf, &mut out) {
            Ok(_) => {}
            Err(e) => {
                self.stats.unparsable += 1;
                log::debug!("unparsable audit datagram: {e}");
            }
        }
        self.push_records(out);
        Ok(true)
    }

    /// Queues records, dropping the binary `AUDIT_REPLACE` probes.
    fn push_records(&mut self, records: Vec<NetlinkRecord>) {
        for r in records {
            if r.msg_type == msg::AUDIT_REPLACE {
                self.stats.replace_probes += 1;
                continue;
            }
            self.pending.push_back(r);
        }
    }

    fn control(&mut self) -> Result<&mut AuditClient> {
        if self.control.is_none() {
            self.control = Some(AuditClient::open()?);
        }
        self.control.as_mut().ok_or(Error::Timeout {
            what: "control socket",
        })
    }

    fn start_lost(&mut self) {
        self.lost_start = self.control().and_then(|c| c.status()).ok().map(|s| s.lost);
    }

    fn lost_since_start(&mut self) -> Result<u32> {
        let now = self.control()?.status()?.lost;
        Ok(match self.lost_start {
            // Someone reset the counter (auditctl --reset-lost): count
            // from the reset.
            Some(start) if now >= start => now - start,
            Some(_) => now,
            None => {
                self.lost_start = Some(now);
                0
            }
        })
    }
}

/// Reader on the `AUDIT_NLGRP_READLOG` multicast group.
#[derive(Debug)]
pub struct MulticastReader {
    sock: Socket,
    inner: RecordSocket,
}

impl MulticastReader {
    /// Joins the multicast group with the default receive buffer.
    ///
    /// # Errors
    ///
    /// As [`with_rcvbuf`](Self::with_rcvbuf).
    pub fn open() -> Result<MulticastReader> {
        MulticastReader::with_rcvbuf(DEFAULT_RCVBUF)
    }

    /// Like [`open`](Self::open) with a receive buffer of `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] on kernels without the group (< 3.16); an I/O
    /// error (`EPERM`) without `CAP_AUDIT_READ`, or when the socket cannot
    /// be created (no audit in this kernel).
    pub fn with_rcvbuf(bytes: usize) -> Result<MulticastReader> {
        let sock = open_socket(0)?;
        if let Err(e) = sock.add_membership(AUDIT_NLGRP_READLOG) {
            return Err(match e.raw_os_error().map(Errno::from_raw) {
                Some(Errno::EINVAL) | Some(Errno::ENOENT) | Some(Errno::EOPNOTSUPP) => {
                    Error::Unsupported(format!(
                        "audit multicast group (kernel >= 3.16 needed): {e}"
                    ))
                }
                _ => Error::io("join AUDIT_NLGRP_READLOG", e),
            });
        }
        let mut inner = RecordSocket::new();
        inner.grow_rcvbuf(&sock, bytes);
        inner.start_lost();
        Ok(MulticastReader { sock, inner })
    }

    /// Switches the socket to non-blocking mode (for an external event
    /// loop; [`recv_timeout`](Self::recv_timeout) works in both modes).
    ///
    /// # Errors
    ///
    /// An I/O error from `fcntl`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        self.sock
            .set_non_blocking(nonblocking)
            .map_err(|e| Error::io("set_nonblocking", e))
    }

    /// The next record, waiting up to `timeout` (`None`: forever);
    /// `Ok(None)` on timeout.
    ///
    /// # Errors
    ///
    /// An I/O error of `recv` or `poll` (not `EAGAIN`/`EINTR`; `ENOBUFS`
    /// is counted, not returned).
    pub fn recv_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<NetlinkRecord>> {
        self.inner.recv(&self.sock, timeout)
    }

    /// The next record if one is waiting.
    ///
    /// # Errors
    ///
    /// As `recv_timeout`.
    pub fn try_recv(&mut self) -> Result<Option<NetlinkRecord>> {
        self.inner.recv(&self.sock, Some(Duration::ZERO))
    }

    /// Counters.
    pub fn stats(&self) -> ReaderStats {
        self.inner.stats
    }

    /// Records the kernel lost host-wide since this reader started (the
    /// delta of `audit_status.lost`, queried now). These are records no
    /// reader got (backlog or rate limit), not drops on this socket
    /// (see [`ReaderStats::enobufs`]).
    ///
    /// # Errors
    ///
    /// The status query failed.
    pub fn lost_since_start(&mut self) -> Result<u32> {
        self.inner.lost_since_start()
    }
}

impl AsFd for MulticastReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for MulticastReader {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Reader registered as the audit pid (unicast). See the module doc.
#[derive(Debug)]
pub struct UnicastReader {
    client: AuditClient,
    inner: RecordSocket,
    registered: bool,
}

impl UnicastReader {
    /// Registers this process as the audit pid if no live process holds
    /// it ([`Error::AuditPidHeld`] otherwise: auditd keeps it). A pid
    /// registered by a dead process is replaced (the kernel checks the
    /// old holder with `AUDIT_REPLACE` and refuses with `EEXIST` if it
    /// still answers).
    ///
    /// # Errors
    ///
    /// As [`register_with_rcvbuf`](Self::register_with_rcvbuf).
    pub fn register() -> Result<UnicastReader> {
        UnicastReader::register_with_rcvbuf(DEFAULT_RCVBUF)
    }

    /// Like [`register`](Self::register) with a receive buffer of `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::AuditPidHeld`] when a live process holds the audit pid;
    /// [`Error::Netlink`] (`EPERM`) without `CAP_AUDIT_CONTROL`.
    pub fn register_with_rcvbuf(bytes: usize) -> Result<UnicastReader> {
        let mut inner = RecordSocket::new();
        let status: AuditStatus = inner.control()?.status()?;
        let me = crate::killrules::own_pid();
        if status.pid != 0 && status.pid != me && pid_alive(status.pid) {
            return Err(Error::AuditPidHeld { pid: status.pid });
        }
        inner.lost_start = Some(status.lost);
        let sock = open_socket(0)?;
        inner.grow_rcvbuf(&sock, bytes);
        let mut client = AuditClient::from_socket(sock);
        // The kernel may send records before the ACK arrives: keep them.
        let mut early = Vec::new();
        match client.set_pid(me, Some(&mut early)) {
            Ok(()) => {}
            Err(Error::Netlink {
                errno: Errno::EEXIST,
                ..
            }) => {
                let pid = inner.control()?.status().map(|s| s.pid).unwrap_or(0);
                return Err(Error::AuditPidHeld { pid });
            }
            Err(e) => return Err(e),
        }
        inner.push_records(early);
        Ok(UnicastReader {
            client,
            inner,
            registered: true,
        })
    }

    /// See [`MulticastReader::set_nonblocking`].
    ///
    /// # Errors
    ///
    /// An I/O error from `fcntl`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        self.client
            .socket()
            .set_non_blocking(nonblocking)
            .map_err(|e| Error::io("set_nonblocking", e))
    }

    /// See [`MulticastReader::recv_timeout`].
    ///
    /// # Errors
    ///
    /// An I/O error of `recv` or `poll` (not `EAGAIN`/`EINTR`; `ENOBUFS`
    /// is counted, not returned).
    pub fn recv_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<NetlinkRecord>> {
        self.inner.recv(self.client.socket(), timeout)
    }

    /// See [`MulticastReader::try_recv`].
    ///
    /// # Errors
    ///
    /// As `recv_timeout`.
    pub fn try_recv(&mut self) -> Result<Option<NetlinkRecord>> {
        self.inner.recv(self.client.socket(), Some(Duration::ZERO))
    }

    /// Counters.
    pub fn stats(&self) -> ReaderStats {
        self.inner.stats
    }

    /// See [`MulticastReader::lost_since_start`].
    ///
    /// # Errors
    ///
    /// The status query failed.
    pub fn lost_since_start(&mut self) -> Result<u32> {
        self.inner.lost_since_start()
    }

    /// Releases the audit pid now (also done on drop). Records that
    /// arrive meanwhile stay readable.
    ///
    /// # Errors
    ///
    /// The kernel refused or did not answer (`AUDIT_SET` of pid 0).
    pub fn release(&mut self) -> Result<()> {
        if !self.registered {
            return Ok(());
        }
        let mut late = Vec::new();
        let r = self.client.transact(
            msg::AUDIT_SET,
            &AuditStatus {
                mask: crate::status::AUDIT_STATUS_PID,
                pid: 0,
                ..AuditStatus::default()
            }
            .encode(),
            Expect::Ack,
            Some(&mut late),
        );
        self.inner.push_records(late);
        r?;
        self.registered = false;
        Ok(())
    }
}

impl Drop for UnicastReader {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            log::warn!("could not release the audit pid: {e}");
        }
    }
}

impl AsFd for UnicastReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.client.as_fd()
    }
}

impl AsRawFd for UnicastReader {
    fn as_raw_fd(&self) -> RawFd {
        self.client.as_raw_fd()
    }
}
