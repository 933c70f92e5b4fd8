//! The `NETLINK_AUDIT` control client: status, enable/restore, audit pid,
//! features, and rules (add, list, delete).
//!
//! Every request is sent with `NLM_F_REQUEST | NLM_F_ACK` and a fresh
//! sequence number; the answer is complete when both the ACK and the
//! expected reply (if any) with that sequence number have arrived, in
//! either order — the kernel sends `AUDIT_GET` replies and rule lists from
//! a kernel thread, so they often arrive after the ACK. Messages with
//! another sequence number (late answers to a request that timed out,
//! records on a socket registered as the audit pid) are not mistaken for
//! the answer.

use crate::error::{Error, Result};
use crate::netlink::{
    self, msg, split_messages, NetlinkRecord, NlError, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN,
    NLMSG_NOOP, NLM_F_ACK, NLM_F_REQUEST,
};
use crate::rule::AuditRule;
use crate::status::{AuditFeatures, AuditStatus, AUDIT_STATUS_ENABLED, AUDIT_STATUS_PID};
use netlink_sys::{protocols::NETLINK_AUDIT, Socket, SocketAddr};
use nix::errno::Errno;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

/// Default time to wait for the kernel's answer to a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `NETLINK_AUDIT` socket for control requests. Needs
/// `CAP_AUDIT_CONTROL` for anything but [`AuditClient::status`]
/// (which needs it too on most kernels).
#[derive(Debug)]
pub struct AuditClient {
    sock: Socket,
    seq: u32,
    timeout: Duration,
    buf: Vec<u8>,
}

/// What a request expects besides the ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Only the ACK.
    Ack,
    /// One reply of this type.
    One(u16),
    /// Replies of this type until `NLMSG_DONE`.
    Until(u16),
}

impl AuditClient {
    /// Opens a `NETLINK_AUDIT` socket (not bound to any group).
    pub fn open() -> Result<AuditClient> {
        Ok(AuditClient {
            sock: open_socket(0)?,
            seq: 0,
            timeout: DEFAULT_TIMEOUT,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sets how long to wait for each answer (default 5 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// `AUDIT_GET`: the kernel's audit status.
    pub fn status(&mut self) -> Result<AuditStatus> {
        let replies = self.transact(msg::AUDIT_GET, &[], Expect::One(msg::AUDIT_GET), None)?;
        let first = replies.first().ok_or(Error::Timeout {
            what: "AUDIT_GET reply",
        })?;
        AuditStatus::decode(first)
    }

    /// `AUDIT_SET` with `status.mask` selecting the fields to change.
    pub fn set_status(&mut self, status: &AuditStatus) -> Result<()> {
        self.transact(msg::AUDIT_SET, &status.encode(), Expect::Ack, None)?;
        Ok(())
    }

    /// Sets `enabled` (0, 1, or 2 = locked until reboot: never used by
    /// this crate). Fails with `EPERM` when the configuration is locked.
    pub fn set_enabled(&mut self, enabled: u32) -> Result<()> {
        self.set_status(&AuditStatus {
            mask: AUDIT_STATUS_ENABLED,
            enabled,
            ..AuditStatus::default()
        })
    }

    /// Enables audit if it is off and returns a guard that restores the
    /// original `enabled` value exactly (on [`EnabledGuard::restore`] or
    /// drop). A locked configuration (2) is left alone.
    pub fn enable(mut self) -> Result<EnabledGuard> {
        let original = self.status()?.enabled;
        let changed = original == 0;
        if changed {
            self.set_enabled(1)?;
        }
        Ok(EnabledGuard {
            client: Some(self),
            original,
            changed,
        })
    }

    /// Registers `pid` as the audit daemon (`AUDIT_STATUS_PID`); the kernel
    /// then sends records to *this socket*. `pid` must be the caller's
    /// pid; the kernel refuses (`EEXIST`) while a live daemon holds it.
    /// Records that arrive before the ACK are appended to `early`.
    pub fn set_pid(&mut self, pid: u32, early: Option<&mut Vec<NetlinkRecord>>) -> Result<()> {
        let s = AuditStatus {
            mask: AUDIT_STATUS_PID,
            pid,
            ..AuditStatus::default()
        };
        self.transact(msg::AUDIT_SET, &s.encode(), Expect::Ack, early)?;
        Ok(())
    }

    /// `AUDIT_GET_FEATURE`; `None` on kernels without it (< 3.13: EINVAL).
    pub fn features(&mut self) -> Result<Option<AuditFeatures>> {
        match self.transact(
            msg::AUDIT_GET_FEATURE,
            &[],
            Expect::One(msg::AUDIT_GET_FEATURE),
            None,
        ) {
            Ok(r) => match r.first() {
                Some(b) => AuditFeatures::decode(b).map(Some),
                None => Ok(None),
            },
            Err(Error::Netlink {
                errno: Errno::EINVAL | Errno::EOPNOTSUPP,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `AUDIT_LIST_RULES`: every rule on every list. Never fails because
    /// of a field type this crate does not know (see
    /// [`AuditRule::decode`]); a reply that does not decode at all is an
    /// error.
    pub fn list_rules(&mut self) -> Result<Vec<AuditRule>> {
        let replies = self.transact(
            msg::AUDIT_LIST_RULES,
            &[],
            Expect::Until(msg::AUDIT_LIST_RULES),
            None,
        )?;
        replies.iter().map(|b| AuditRule::decode(b)).collect()
    }

    /// `AUDIT_ADD_RULE`. `EEXIST` if an identical rule exists.
    pub fn add_rule(&mut self, rule: &AuditRule) -> Result<()> {
        self.transact(msg::AUDIT_ADD_RULE, &rule.encode()?, Expect::Ack, None)?;
        Ok(())
    }

    /// `AUDIT_DEL_RULE`: deletes the rule identical to `rule` (`ENOENT` if
    /// none).
    pub fn delete_rule(&mut self, rule: &AuditRule) -> Result<()> {
        self.transact(msg::AUDIT_DEL_RULE, &rule.encode()?, Expect::Ack, None)?;
        Ok(())
    }

    pub(crate) fn socket(&self) -> &Socket {
        &self.sock
    }

    pub(crate) fn from_socket(sock: Socket) -> AuditClient {
        AuditClient {
            sock,
            seq: 0,
            timeout: DEFAULT_TIMEOUT,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    fn next_seq(&mut self) -> u32 {
        // Never 0: records the kernel sends on its own carry seq 0.
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Sends a request and collects the answer (see the module doc).
    /// Datagrams that are not part of the answer are parsed as records
    /// into `sink` when given (the unicast audit-pid socket), else dropped.
    pub(crate) fn transact(
        &mut self,
        msg_type: u16,
        payload: &[u8],
        expect: Expect,
        mut sink: Option<&mut Vec<NetlinkRecord>>,
    ) -> Result<Vec<Vec<u8>>> {
        let seq = self.next_seq();
        let req = netlink::encode_request(msg_type, NLM_F_REQUEST | NLM_F_ACK, seq, payload);
        let kernel = SocketAddr::new(0, 0);
        self.sock
            .send_to(&req, &kernel, 0)
            .map_err(|e| Error::io("send", e))?;

        let deadline = Instant::now() + self.timeout;
        let mut acked = false;
        let mut done = expect == Expect::Ack;
        let mut replies = Vec::new();
        while !(acked && done) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !wait_readable(self.sock.as_fd(), Some(left))? {
                return Err(Error::Timeout {
                    what: if acked {
                        "netlink reply"
                    } else {
                        "netlink ACK"
                    },
                });
            }
            let n = recv_datagram(&self.sock, &mut self.buf, 0)?;
            let dgram = &self.buf[..n];
            // Datagrams that do not answer this request: records (seq 0,
            // unicast length quirk) or stale answers.
            let first_seq = netlink::read_u32(dgram, 8);
            let first_type = dgram
                .get(4..6)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
                .unwrap_or(0);
            if first_seq != Some(seq) {
                if first_type >= 1100 {
                    if let Some(sink) = sink.as_deref_mut() {
                        if let Err(e) = netlink::split_records(dgram, sink) {
                            log::debug!("unparsable datagram while waiting for seq {seq}: {e}");
                        }
                    }
                } else {
                    log::debug!(
                        "dropping stale netlink message type {first_type} seq {first_seq:?}"
                    );
                }
                continue;
            }
            for m in split_messages(dgram) {
                let m = m?;
                if m.seq != seq {
                    continue;
                }
                match m.msg_type {
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => {
                        let e = NlError::parse(m.payload)?;
                        if let Some(errno) = e.errno() {
                            return Err(Error::Netlink {
                                request_type: msg_type,
                                errno,
                            });
                        }
                        acked = true;
                    }
                    NLMSG_DONE => done = true,
                    t => match expect {
                        Expect::One(want) if t == want => {
                            replies.push(m.payload.to_vec());
                            done = true;
                        }
                        Expect::Until(want) if t == want => replies.push(m.payload.to_vec()),
                        _ => log::debug!("unexpected message type {t} for request {msg_type}"),
                    },
                }
            }
        }
        Ok(replies)
    }
}

impl AsFd for AuditClient {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for AuditClient {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Restores `enabled` to the value found by [`AuditClient::enable`].
#[derive(Debug)]
pub struct EnabledGuard {
    client: Option<AuditClient>,
    original: u32,
    changed: bool,
}

impl EnabledGuard {
    /// The `enabled` value found before.
    pub fn original(&self) -> u32 {
        self.original
    }

    /// Whether [`AuditClient::enable`] changed it.
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// The client, for further requests while enabled.
    pub fn client(&mut self) -> Option<&mut AuditClient> {
        self.client.as_mut()
    }

    /// Restores the original value now and reports errors.
    pub fn restore(mut self) -> Result<()> {
        self.restore_inner()
    }

    fn restore_inner(&mut self) -> Result<()> {
        if let Some(mut c) = self.client.take() {
            if self.changed {
                c.set_enabled(self.original)?;
            }
        }
        Ok(())
    }
}

impl Drop for EnabledGuard {
    fn drop(&mut self) {
        if let Err(e) = self.restore_inner() {
            log::warn!("could not restore audit enabled={}: {e}", self.original);
        }
    }
}

/// Opens a `NETLINK_AUDIT` socket bound to `groups` (a bitmask; 0 for
/// none) with a kernel-assigned port.
pub(crate) fn open_socket(groups: u32) -> Result<Socket> {
    let mut sock = Socket::new(NETLINK_AUDIT).map_err(|e| Error::io("socket(NETLINK_AUDIT)", e))?;
    sock.bind(&SocketAddr::new(0, groups))
        .map_err(|e| Error::io("bind", e))?;
    Ok(sock)
}

/// Waits until `fd` is readable; `false` on timeout. `None` waits forever.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let t = match timeout {
        None => PollTimeout::NONE,
        // Round up so a sub-millisecond remainder does not spin.
        Some(d) => {
            PollTimeout::try_from(d.as_millis().saturating_add(1).min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX)
        }
    };
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, t) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::io("poll", e.into())),
        }
    }
}

/// Receives one datagram into `buf` (grown to fit it, never truncated)
/// and returns its length. Datagrams not sent by the kernel (port 0) are
/// skipped. `flags` may hold `MSG_DONTWAIT`.
pub(crate) fn recv_datagram(sock: &Socket, buf: &mut Vec<u8>, flags: i32) -> Result<usize> {
    loop {
        // Peek with MSG_TRUNC to learn the real size first.
        buf.clear();
        if buf.capacity() < NLMSG_HDRLEN {
            buf.reserve(64 * 1024);
        }
        let (size, _) = sock
            .recv_from(buf, flags | libc::MSG_PEEK | libc::MSG_TRUNC)
            .map_err(|e| Error::io("recv", e))?;
        buf.clear();
        if size > buf.capacity() {
            buf.reserve(size);
        }
        let (n, addr) = sock
            .recv_from(buf, flags)
            .map_err(|e| Error::io("recv", e))?;
        if addr.port_number() != 0 {
            log::debug!("ignoring netlink datagram from port {}", addr.port_number());
            continue;
        }
        return Ok(n.min(buf.len()));
    }
}
