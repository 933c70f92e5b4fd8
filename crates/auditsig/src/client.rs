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
    ///
    /// # Errors
    ///
    /// An I/O error when the socket cannot be created or bound
    /// (`EPROTONOSUPPORT`: no audit in this kernel, e.g. booted with
    /// `audit=0`).
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
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EPERM` without `CAP_AUDIT_CONTROL` on most
    /// kernels), [`Error::Timeout`], or a reply too short to decode.
    pub fn status(&mut self) -> Result<AuditStatus> {
        let replies = self.transact(msg::AUDIT_GET, &[], Expect::One(msg::AUDIT_GET), None)?;
        let first = replies.first().ok_or(Error::Timeout {
            what: "AUDIT_GET reply",
        })?;
        AuditStatus::decode(first)
    }

    /// `AUDIT_SET` with `status.mask` selecting the fields to change.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EPERM` without `CAP_AUDIT_CONTROL` or when
    /// locked), [`Error::Timeout`].
    pub fn set_status(&mut self, status: &AuditStatus) -> Result<()> {
        self.transact(msg::AUDIT_SET, &status.encode(), Expect::Ack, None)?;
        Ok(())
    }

    /// Sets `enabled` (0, 1, or 2 = locked until reboot: never used by
    /// this crate). Fails with `EPERM` when the configuration is locked.
    ///
    /// # Errors
    ///
    /// As [`set_status`](Self::set_status).
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
    ///
    /// # Errors
    ///
    /// As [`status`](Self::status) and [`set_enabled`](Self::set_enabled).
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
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EEXIST` while a live daemon holds the pid,
    /// `EPERM` without `CAP_AUDIT_CONTROL`), [`Error::Timeout`].
    pub fn set_pid(&mut self, pid: i32, early: Option<&mut Vec<NetlinkRecord>>) -> Result<()> {
        let s = AuditStatus {
            mask: AUDIT_STATUS_PID,
            pid,
            ..AuditStatus::default()
        };
        self.transact(msg::AUDIT_SET, &s.encode(), Expect::Ack, early)?;
        Ok(())
    }

    /// `AUDIT_GET_FEATURE`; `None` on kernels without it (< 3.13: EINVAL).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] other than `EINVAL`/`EOPNOTSUPP`,
    /// [`Error::Timeout`], or a reply too short to decode.
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
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EPERM`), [`Error::Timeout`], or a reply that
    /// does not decode as `struct audit_rule_data`.
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
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EEXIST`, `EPERM`, `EINVAL` for a rule the
    /// kernel rejects), [`Error::Timeout`], or a rule that cannot be encoded.
    pub fn add_rule(&mut self, rule: &AuditRule) -> Result<()> {
        self.transact(msg::AUDIT_ADD_RULE, &rule.encode()?, Expect::Ack, None)?;
        Ok(())
    }

    /// `AUDIT_DEL_RULE`: deletes the rule identical to `rule` (`ENOENT` if
    /// none).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`ENOENT`, `EPERM`), [`Error::Timeout`], or a
    /// rule that cannot be encoded.
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
        let mut answer = Answer::new(msg_type, seq, expect);
        while !answer.complete() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !wait_readable(self.sock.as_fd(), Some(left))? {
                return Err(Error::Timeout {
                    what: if answer.acked {
                        "netlink reply"
                    } else {
                        "netlink ACK"
                    },
                });
            }
            let n = recv_datagram(&self.sock, &mut self.buf, 0)?;
            answer.feed(&self.buf[..n], sink.as_deref_mut())?;
        }
        Ok(answer.replies)
    }
}

/// Collects the answer to one request from the datagrams that arrive (a
/// pure state machine, so ordering cases are unit-tested).
#[derive(Debug)]
pub(crate) struct Answer {
    msg_type: u16,
    seq: u32,
    expect: Expect,
    acked: bool,
    done: bool,
    replies: Vec<Vec<u8>>,
}

impl Answer {
    pub(crate) fn new(msg_type: u16, seq: u32, expect: Expect) -> Answer {
        Answer {
            msg_type,
            seq,
            expect,
            acked: false,
            done: expect == Expect::Ack,
            replies: Vec::new(),
        }
    }

    /// Both the ACK and the expected replies are in.
    pub(crate) fn complete(&self) -> bool {
        self.acked && self.done
    }

    /// Takes one datagram. Datagrams that do not answer this request
    /// (records with seq 0 and the unicast length quirk, stale answers)
    /// go to `sink` as records when they are records, else are dropped.
    /// An `NLMSG_ERROR` with an errno for this request is the error.
    pub(crate) fn feed(
        &mut self,
        dgram: &[u8],
        sink: Option<&mut Vec<NetlinkRecord>>,
    ) -> Result<()> {
        let seq = self.seq;
        let first_seq = netlink::read_u32(dgram, 8);
        let first_type = dgram
            .get(4..6)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .unwrap_or(0);
        if first_seq != Some(seq) {
            if first_type >= 1100 {
                if let Some(sink) = sink {
                    if let Err(e) = netlink::split_records(dgram, sink) {
                        log::debug!("unparsable datagram while waiting for seq {seq}: {e}");
                    }
                }
            } else {
                log::debug!("dropping stale netlink message type {first_type} seq {first_seq:?}");
            }
            return Ok(());
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
                            request_type: self.msg_type,
                            errno,
                        });
                    }
                    self.acked = true;
                }
                NLMSG_DONE => self.done = true,
                t => match self.expect {
                    Expect::One(want) if t == want => {
                        self.replies.push(m.payload.to_vec());
                        self.done = true;
                    }
                    Expect::Until(want) if t == want => self.replies.push(m.payload.to_vec()),
                    _ => log::debug!("unexpected message type {t} for request {}", self.msg_type),
                },
            }
        }
        Ok(())
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
    ///
    /// # Errors
    ///
    /// As [`AuditClient::set_enabled`].
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::netlink::NLM_F_MULTI;

    fn m(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(crate::netlink::nlmsg_align(v.len()), 0);
        v
    }

    fn err(seq: u32, errno: i32, req: u16) -> Vec<u8> {
        let mut p = (-errno).to_ne_bytes().to_vec();
        p.extend_from_slice(&m(req, NLM_F_REQUEST | NLM_F_ACK, seq, &[])[..16]);
        m(NLMSG_ERROR, 0, seq, &p)
    }

    #[test]
    fn reply_after_ack_and_before() {
        let status = AuditStatus::default().encode();
        for reply_first in [false, true] {
            let mut a = Answer::new(msg::AUDIT_GET, 7, Expect::One(msg::AUDIT_GET));
            let reply = m(msg::AUDIT_GET, 0, 7, &status);
            let ack = err(7, 0, msg::AUDIT_GET);
            let order = if reply_first {
                [&reply, &ack]
            } else {
                [&ack, &reply]
            };
            a.feed(order[0], None).unwrap();
            assert!(!a.complete());
            a.feed(order[1], None).unwrap();
            assert!(a.complete());
            assert_eq!(a.replies, vec![status.clone()]);
        }
    }

    #[test]
    fn stale_answers_and_records_are_not_the_answer() {
        let mut a = Answer::new(msg::AUDIT_GET, 8, Expect::One(msg::AUDIT_GET));
        let mut sink = Vec::new();
        // A late answer to request 7, an error for request 7, a record.
        a.feed(&m(msg::AUDIT_GET, 0, 7, &[0; 44]), Some(&mut sink))
            .unwrap();
        a.feed(&err(7, 1, msg::AUDIT_GET), Some(&mut sink)).unwrap();
        let text = b"audit(1.2:3): x=1";
        let mut rec = m(1300, 0, 0, text);
        // Unicast quirk: nlmsg_len without the header.
        rec[..4].copy_from_slice(&(text.len() as u32).to_ne_bytes());
        rec.truncate(16 + text.len());
        a.feed(&rec, Some(&mut sink)).unwrap();
        assert!(!a.complete() && a.replies.is_empty());
        assert_eq!(sink.len(), 1);
        assert_eq!(sink[0].body, text);
    }

    #[test]
    fn rule_list_in_one_multi_message_datagram_until_done() {
        let mut a = Answer::new(
            msg::AUDIT_LIST_RULES,
            3,
            Expect::Until(msg::AUDIT_LIST_RULES),
        );
        a.feed(&err(3, 0, msg::AUDIT_LIST_RULES), None).unwrap();
        let mut d = m(msg::AUDIT_LIST_RULES, NLM_F_MULTI, 3, &[1; 5]);
        d.extend(m(msg::AUDIT_LIST_RULES, NLM_F_MULTI, 3, &[2; 8]));
        a.feed(&d, None).unwrap();
        assert!(!a.complete());
        a.feed(&m(NLMSG_DONE, NLM_F_MULTI, 3, &[0; 4]), None)
            .unwrap();
        assert!(a.complete());
        assert_eq!(a.replies, vec![vec![1; 5], vec![2; 8]]);
    }

    #[test]
    fn errno_becomes_typed_error() {
        let mut a = Answer::new(msg::AUDIT_ADD_RULE, 4, Expect::Ack);
        match a.feed(&err(4, libc::EEXIST, msg::AUDIT_ADD_RULE), None) {
            Err(Error::Netlink {
                request_type,
                errno,
            }) => {
                assert_eq!(request_type, msg::AUDIT_ADD_RULE);
                assert_eq!(errno, Errno::EEXIST);
            }
            other => panic!("{other:?}"),
        }
        // Garbage with our seq number: typed error, no panic.
        let mut bad = m(msg::AUDIT_GET, 0, 4, &[]);
        bad[..4].copy_from_slice(&999u32.to_ne_bytes());
        assert!(a.feed(&bad, None).is_err());
    }
}
