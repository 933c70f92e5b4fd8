//! Netlink framing for `NETLINK_AUDIT`: the `struct nlmsghdr` header,
//! `NLMSG_ERROR`/`NLMSG_DONE` handling, and splitting datagrams into
//! messages.
//!
//! Pure functions over byte slices; the sockets live in
//! [`client`](crate::client) and [`reader`](crate::reader).
//!
//! Quirks handled here (see `kernel/audit.c`):
//! - A datagram may hold several messages (replies to a request), each
//!   padded to 4 bytes (`NLMSG_ALIGN`).
//! - Audit *records* the kernel sends to the unicast audit pid have an
//!   `nlmsg_len` that excludes the 16-byte header (libaudit relies on
//!   it); the copies sent to the multicast group are fixed up. Records are
//!   one per datagram, so [`split_records`] trusts the datagram length.
//! - Record text carries no NUL terminator, but some old kernels padded
//!   with NULs: trailing NULs are trimmed.

use crate::error::{Error, Result};
use nix::errno::Errno;

/// Size of `struct nlmsghdr` (`NLMSG_HDRLEN`).
pub const NLMSG_HDRLEN: usize = 16;
/// `NLMSG_NOOP`: nothing, skip.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error or, with error 0, an ACK.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: ends a multi-part reply (the rule list).
pub const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST`: the message is a request.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a multi-part reply.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: ask the kernel for an ACK.
pub const NLM_F_ACK: u16 = 0x4;

/// Audit message types used by the client (`include/uapi/linux/audit.h`).
pub mod msg {
    /// `AUDIT_GET`: get status (`struct audit_status`).
    pub const AUDIT_GET: u16 = 1000;
    /// `AUDIT_SET`: set status fields selected by `mask`.
    pub const AUDIT_SET: u16 = 1001;
    /// `AUDIT_SIGNAL_INFO`: who signalled auditd.
    pub const AUDIT_SIGNAL_INFO: u16 = 1010;
    /// `AUDIT_ADD_RULE`: add a `struct audit_rule_data`.
    pub const AUDIT_ADD_RULE: u16 = 1011;
    /// `AUDIT_DEL_RULE`: delete a `struct audit_rule_data`.
    pub const AUDIT_DEL_RULE: u16 = 1012;
    /// `AUDIT_LIST_RULES`: list rules (one reply per rule, then `NLMSG_DONE`).
    pub const AUDIT_LIST_RULES: u16 = 1013;
    /// `AUDIT_SET_FEATURE`.
    pub const AUDIT_SET_FEATURE: u16 = 1018;
    /// `AUDIT_GET_FEATURE`: get `struct audit_features`.
    pub const AUDIT_GET_FEATURE: u16 = 1019;
    /// `AUDIT_SYSCALL` record.
    pub const AUDIT_SYSCALL: u16 = 1300;
    /// `AUDIT_OBJ_PID` record.
    pub const AUDIT_OBJ_PID: u16 = 1318;
    /// `AUDIT_EOE` record.
    pub const AUDIT_EOE: u16 = 1320;
    /// `AUDIT_PROCTITLE` record.
    pub const AUDIT_PROCTITLE: u16 = 1327;
    /// `AUDIT_REPLACE`: sent (binary, a `u32` pid) to the registered audit
    /// pid when another process asks to become the audit pid; if the
    /// holder does not answer, the kernel lets the newcomer take over.
    pub const AUDIT_REPLACE: u16 = 1329;
}

/// A parsed `struct nlmsghdr` plus its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlMsg<'a> {
    /// `nlmsg_type`.
    pub msg_type: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`: the request's sequence number for replies.
    pub seq: u32,
    /// `nlmsg_pid`: the sender's port id.
    pub pid: u32,
    /// Bytes after the header, up to `nlmsg_len`.
    pub payload: &'a [u8],
}

fn u32_at(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn u16_at(buf: &[u8], off: usize) -> Option<u16> {
    let b = buf.get(off..off.checked_add(2)?)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

/// Reads a native-endian `u32` at `off` (kernel structs are host order).
pub(crate) fn read_u32(buf: &[u8], off: usize) -> Option<u32> {
    u32_at(buf, off)
}

/// `NLMSG_ALIGN`.
pub(crate) fn nlmsg_align(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// Builds one request message: header + payload.
pub fn encode_request(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut out = Vec::with_capacity(nlmsg_align(len));
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&msg_type.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in the sender's port id.
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(nlmsg_align(len), 0);
    out
}

/// Splits a datagram holding well-formed netlink messages (replies to
/// requests) into messages. Stops with an error at the first malformed
/// header; messages before it are returned by the iterator first.
pub fn split_messages(buf: &[u8]) -> MessageIter<'_> {
    MessageIter { buf, off: 0 }
}

/// Iterator returned by [`split_messages`].
#[derive(Debug, Clone)]
pub struct MessageIter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for MessageIter<'a> {
    type Item = Result<NlMsg<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.off..)?;
        if rest.is_empty() {
            return None;
        }
        if rest.len() < NLMSG_HDRLEN {
            self.off = self.buf.len();
            return Some(Err(Error::Truncated {
                what: "nlmsghdr",
                need: NLMSG_HDRLEN,
                got: rest.len(),
            }));
        }
        let hdr = match parse_header(rest) {
            Some(h) => h,
            None => {
                self.off = self.buf.len();
                return Some(Err(Error::Truncated {
                    what: "nlmsghdr",
                    need: NLMSG_HDRLEN,
                    got: rest.len(),
                }));
            }
        };
        let len = hdr.0 as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            self.off = self.buf.len();
            return Some(Err(Error::Malformed {
                what: "nlmsghdr",
                detail: format!("nlmsg_len {len} with {} bytes left", rest.len()),
            }));
        }
        self.off = self
            .off
            .saturating_add(nlmsg_align(len))
            .min(self.buf.len());
        Some(Ok(NlMsg {
            msg_type: hdr.1,
            flags: hdr.2,
            seq: hdr.3,
            pid: hdr.4,
            payload: &rest[NLMSG_HDRLEN..len],
        }))
    }
}

/// (len, type, flags, seq, pid)
fn parse_header(buf: &[u8]) -> Option<(u32, u16, u16, u32, u32)> {
    Some((
        u32_at(buf, 0)?,
        u16_at(buf, 4)?,
        u16_at(buf, 6)?,
        u32_at(buf, 8)?,
        u32_at(buf, 12)?,
    ))
}

/// The content of an `NLMSG_ERROR` message (`struct nlmsgerr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlError {
    /// `nlmsgerr.error`: 0 for an ACK, a negated errno otherwise.
    pub error: i32,
    /// `nlmsg_type` of the request this answers (from the echoed header),
    /// if present.
    pub request_type: Option<u16>,
    /// `nlmsg_seq` of the request this answers, if present.
    pub request_seq: Option<u32>,
}

impl NlError {
    /// Parses the payload of an `NLMSG_ERROR` message.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the payload is shorter than `error`.
    pub fn parse(payload: &[u8]) -> Result<NlError> {
        let error = u32_at(payload, 0).ok_or(Error::Truncated {
            what: "nlmsgerr",
            need: 4,
            got: payload.len(),
        })? as i32;
        Ok(NlError {
            error,
            request_type: u16_at(payload, 4 + 4),
            request_seq: u32_at(payload, 4 + 8),
        })
    }

    /// `true` for an ACK (error 0).
    pub fn is_ack(&self) -> bool {
        self.error == 0
    }

    /// The errno, for a non-ACK.
    pub fn errno(&self) -> Option<Errno> {
        (self.error != 0).then(|| Errno::from_raw(self.error.saturating_neg()))
    }
}

/// A raw audit record as read from `NETLINK_AUDIT`: the message type from
/// the netlink header (e.g. 1300 = `AUDIT_SYSCALL`) and the record text
/// (`audit(SEC.MSEC:SERIAL): ...`), without header, padding or trailing
/// NULs. The record parser turns `body` into fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetlinkRecord {
    /// `nlmsg_type`.
    pub msg_type: u16,
    /// The record text (no NUL terminator).
    pub body: Vec<u8>,
}

/// Splits a datagram received on a record socket (multicast or unicast
/// audit pid) into records, appending them to `out`; returns how many
/// were appended.
///
/// The kernel sends one record per datagram. `nlmsg_len` is trusted when
/// it is consistent; when it is exactly 16 bytes short of the datagram
/// (the unicast quirk), the datagram length wins. Control messages
/// (`NLMSG_NOOP`, `NLMSG_DONE`, ACKs) are skipped; an `NLMSG_ERROR` with an
/// errno is returned as [`Error::Netlink`].
///
/// # Errors
///
/// [`Error::Truncated`] for a datagram shorter than a header;
/// [`Error::Netlink`] for an `NLMSG_ERROR` carrying an errno.
pub fn split_records(buf: &[u8], out: &mut Vec<NetlinkRecord>) -> Result<usize> {
    let mut off = 0usize;
    let mut n = 0usize;
    while off < buf.len() {
        let rest = &buf[off..];
        let (len, msg_type, _, _, _) = parse_header(rest).ok_or(Error::Truncated {
            what: "nlmsghdr",
            need: NLMSG_HDRLEN,
            got: rest.len(),
        })?;
        let len = len as usize;
        let (end, next) = record_extent(rest, len);
        let payload = &rest[NLMSG_HDRLEN..end];
        match msg_type {
            NLMSG_NOOP | NLMSG_DONE => {}
            NLMSG_ERROR => {
                let e = NlError::parse(payload)?;
                if let Some(errno) = e.errno() {
                    return Err(Error::Netlink {
                        request_type: e.request_type.unwrap_or(0),
                        errno,
                    });
                }
            }
            _ => {
                let mut body = payload;
                while let [head @ .., 0] = body {
                    body = head;
                }
                out.push(NetlinkRecord {
                    msg_type,
                    body: body.to_vec(),
                });
                n += 1;
            }
        }
        off += next.max(NLMSG_HDRLEN);
    }
    Ok(n)
}

/// Where the record starting at `rest` ends, and where the next message
/// starts, given its `nlmsg_len` field `len`. Both conventions are tried:
/// a correct length that exactly fills the datagram or is followed by
/// another plausible header wins; then the unicast quirk (`len` + 16
/// fills it); otherwise the whole rest of the datagram is the record (one
/// record per datagram, possibly NUL-padded by old kernels).
fn record_extent(rest: &[u8], len: usize) -> (usize, usize) {
    let correct = (NLMSG_HDRLEN..=rest.len()).contains(&len);
    if correct && nlmsg_align(len) >= rest.len() {
        return (len, rest.len());
    }
    if len.saturating_add(NLMSG_HDRLEN) == rest.len() {
        return (rest.len(), rest.len());
    }
    if correct {
        let next = nlmsg_align(len);
        if let Some((l2, ..)) = rest.get(next..).and_then(parse_header) {
            let left = rest.len() - next;
            let l2 = l2 as usize;
            if (NLMSG_HDRLEN..=left).contains(&l2) || l2.saturating_add(NLMSG_HDRLEN) == left {
                return (len, next);
            }
        }
    }
    (rest.len(), rest.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hdr(len: u32, ty: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v
    }

    #[test]
    fn request_is_aligned_and_parses_back() {
        let m = encode_request(msg::AUDIT_GET, NLM_F_REQUEST | NLM_F_ACK, 7, &[1, 2, 3]);
        assert_eq!(m.len(), 20);
        let msgs: Vec<_> = split_messages(&m).collect::<Result<_>>().unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].msg_type, msg::AUDIT_GET);
        assert_eq!(msgs[0].seq, 7);
        assert_eq!(msgs[0].payload, &[1, 2, 3]);
    }

    #[test]
    fn multi_message_datagram_and_errors() {
        let mut d = hdr(20, msg::AUDIT_LIST_RULES, NLM_F_MULTI, 5);
        d.extend_from_slice(&[9, 9, 9, 9]);
        let mut ack = hdr(36, NLMSG_ERROR, 0, 5);
        ack.extend_from_slice(&(-1i32).to_ne_bytes());
        ack.extend_from_slice(&hdr(16, msg::AUDIT_ADD_RULE, 5, 5));
        d.extend_from_slice(&ack);
        d.extend_from_slice(&hdr(16, NLMSG_DONE, 0, 5));
        let msgs: Vec<_> = split_messages(&d).collect::<Result<_>>().unwrap();
        assert_eq!(msgs.len(), 3);
        let e = NlError::parse(msgs[1].payload).unwrap();
        assert_eq!(e.errno(), Some(Errno::EPERM));
        assert_eq!(e.request_type, Some(msg::AUDIT_ADD_RULE));
        assert_eq!(msgs[2].msg_type, NLMSG_DONE);
    }

    #[test]
    fn garbage_gives_typed_errors() {
        assert!(matches!(
            split_messages(&[1, 2, 3]).next(),
            Some(Err(Error::Truncated { .. }))
        ));
        let bad = hdr(1000, 1300, 0, 0);
        assert!(matches!(
            split_messages(&bad).next(),
            Some(Err(Error::Malformed { .. }))
        ));
        assert!(NlError::parse(&[1]).is_err());
        let mut out = Vec::new();
        assert!(split_records(&[0; 5], &mut out).is_err());
    }

    #[test]
    fn records_with_both_length_conventions() {
        let text = b"audit(1.2:3): pid=1";
        // Multicast: correct length.
        let mut d = hdr((16 + text.len()) as u32, 1300, 0, 0);
        d.extend_from_slice(text);
        let mut out = Vec::new();
        assert_eq!(split_records(&d, &mut out).unwrap(), 1);
        assert_eq!(out[0].body, text);
        // Unicast quirk: length excludes the header.
        let mut d = hdr(text.len() as u32, 1318, 0, 0);
        d.extend_from_slice(text);
        d.extend_from_slice(&[0, 0]);
        let mut out = Vec::new();
        assert_eq!(split_records(&d, &mut out).unwrap(), 1);
        assert_eq!(out[0].msg_type, 1318);
        assert_eq!(out[0].body, text);
        // A 16-byte text under the quirk.
        let t16 = b"audit(1.2:3): x=";
        let mut d = hdr(16, 1320, 0, 0);
        d.extend_from_slice(t16);
        let mut out = Vec::new();
        split_records(&d, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body, t16);
    }

    #[test]
    fn fuzzish_inputs_never_panic() {
        let mut state = 0x1234_5678u32;
        for len in 0..200 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (state >> 16) as u8
                })
                .collect();
            let _ = split_messages(&buf).count();
            let mut out = Vec::new();
            let _ = split_records(&buf, &mut out);
        }
    }
}
