//! Pure parsing of proc connector datagrams.
//!
//! A datagram read from the `NETLINK_CONNECTOR` socket holds one or more
//! netlink messages, each `struct nlmsghdr` + `struct cn_msg`
//! (`include/uapi/linux/connector.h`) + `struct proc_event`
//! (`include/uapi/linux/cn_proc.h`). Everything is in host byte order.
//!
//! [`parse_datagram`] walks every message of a datagram and yields one
//! `Result<ProcEvent, ParseError>` per message, so one bad message never
//! hides the good ones next to it. Nothing here allocates except the
//! payloads of `Comm` and `Unknown` events, and nothing panics on any input
//! (this is fuzzed: `fuzz/fuzz_targets/proc_event_parse.rs`).
//!
//! Shorter layouts of older kernels are accepted by length: an
//! `exit_proc_event` without `parent_pid`/`parent_tgid` and a
//! `coredump_proc_event` without parent fields give `None` for those fields.
//! (Kernels always send `cn_msg.len = sizeof(struct proc_event)`, whose
//! union is sized by its largest member, so an old kernel usually sends the
//! full length with zeroed bytes where newer kernels put the parent: such
//! a message parses as parent 0/0, which no real parent is.)

use crate::event::{what, EventKind, ExitStatus, Pid, ProcEvent};

/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct cn_msg)` (without the flexible `data[]`).
pub const CN_MSG_LEN: usize = 20;
/// Size of the fixed part of `struct proc_event` (`what`, `cpu`,
/// `timestamp_ns`) before `event_data`.
pub const PROC_EVENT_HDRLEN: usize = 16;
/// `sizeof(struct proc_event)` on current kernels: the header plus the
/// largest union member (`comm_proc_event`, 24 bytes).
pub const PROC_EVENT_LEN: usize = PROC_EVENT_HDRLEN + 24;
/// `CN_IDX_PROC` (`cb_id.idx` of the proc connector).
pub const CN_IDX_PROC: u32 = 1;
/// `CN_VAL_PROC` (`cb_id.val` of the proc connector).
pub const CN_VAL_PROC: u32 = 1;

/// `NLMSG_NOOP`: nothing, skipped.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: `struct nlmsgerr`; error 0 is an ack.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the type the connector uses for its messages.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`: data lost.
pub const NLMSG_OVERRUN: u16 = 4;

/// Why one netlink message of a datagram could not be turned into an event.
///
/// Variants that know the message's `cn_msg.seq` and `proc_event.cpu` carry
/// them, so loss accounting can still advance the per-CPU sequence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer than `sizeof(struct nlmsghdr)` bytes were left; the rest of the
    /// datagram is skipped.
    #[error("truncated nlmsghdr: {remaining} bytes left, need 16")]
    TruncatedNlmsghdr {
        /// Bytes left in the datagram.
        remaining: usize,
    },
    /// `nlmsghdr.nlmsg_len` is smaller than the header or runs past the end
    /// of the datagram; the rest of the datagram is skipped (it cannot be
    /// walked any further).
    #[error("bad nlmsg_len {nlmsg_len} with {remaining} bytes left")]
    BadNlmsgLen {
        /// `nlmsghdr.nlmsg_len`.
        nlmsg_len: u32,
        /// Bytes left in the datagram at this message.
        remaining: usize,
    },
    /// An `NLMSG_ERROR` message with a non-zero error (`nlmsgerr.error`,
    /// a negative errno).
    #[error("netlink error {errno}")]
    Netlink {
        /// `nlmsgerr.error`.
        errno: i32,
    },
    /// An `NLMSG_ERROR` message too short to hold `nlmsgerr.error`.
    #[error("truncated NLMSG_ERROR message ({len} bytes of payload)")]
    TruncatedNlmsgerr {
        /// Payload bytes present.
        len: usize,
    },
    /// An `NLMSG_OVERRUN` message: the kernel says data was lost.
    #[error("NLMSG_OVERRUN: the kernel lost data")]
    Overrun,
    /// A message type the proc connector never sends (it uses `NLMSG_DONE`).
    #[error("unexpected netlink message type {nlmsg_type}")]
    UnexpectedType {
        /// `nlmsghdr.nlmsg_type`.
        nlmsg_type: u16,
    },
    /// The payload is shorter than `struct cn_msg`.
    #[error("truncated cn_msg: {len} bytes, need 20")]
    TruncatedCnMsg {
        /// Payload bytes present.
        len: usize,
    },
    /// `cn_msg.id` is not the proc connector's (`CN_IDX_PROC`/`CN_VAL_PROC`).
    #[error("not a proc connector message: cb_id {idx}/{val}")]
    WrongConnector {
        /// `cn_msg.id.idx`.
        idx: u32,
        /// `cn_msg.id.val`.
        val: u32,
    },
    /// `cn_msg.len` claims more bytes than the netlink message holds.
    #[error("cn_msg.len {cn_len} exceeds the {available} bytes available")]
    CnLenPastEnd {
        /// `cn_msg.len`.
        cn_len: u16,
        /// Bytes after the `cn_msg` header inside the netlink message.
        available: usize,
        /// `cn_msg.seq`.
        seq: u32,
    },
    /// The `proc_event` is too short for its header or for the minimal
    /// layout of its `what`.
    #[error("truncated proc_event (what {what:x?}): {len} bytes, need {need}")]
    TruncatedProcEvent {
        /// `proc_event.what`, if the header was present.
        what: Option<u32>,
        /// `proc_event.cpu`, if the header was present.
        cpu: Option<u32>,
        /// `cn_msg.seq`.
        seq: u32,
        /// `cn_msg.len`.
        len: usize,
        /// Bytes this layout needs at least.
        need: usize,
    },
}

impl ParseError {
    /// `(cpu, seq)` of the message, when the error happened after the
    /// `proc_event` header was read (for per-CPU loss accounting).
    pub fn cpu_seq(&self) -> Option<(u32, u32)> {
        match *self {
            ParseError::TruncatedProcEvent {
                cpu: Some(cpu),
                seq,
                ..
            } => Some((cpu, seq)),
            _ => None,
        }
    }
}

#[inline]
fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

#[inline]
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

#[inline]
fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    u32_at(b, off).map(|v| v as i32)
}

#[inline]
fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_ne_bytes(a))
}

/// `NLMSG_ALIGN`: netlink messages start on 4-byte boundaries.
#[inline]
fn nlmsg_align(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// Iterator over the messages of one datagram; see [`parse_datagram`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

/// Walks every netlink message in `buf` (one `recv` of the proc connector
/// socket) and parses each into a [`ProcEvent`].
///
/// `NLMSG_NOOP` messages and `NLMSG_ERROR` acks (error 0) are skipped; other
/// netlink control messages and malformed messages yield a [`ParseError`].
/// After an error in the netlink framing itself (a bad `nlmsg_len`) the rest
/// of the datagram cannot be located and iteration stops.
pub fn parse_datagram(buf: &[u8]) -> Messages<'_> {
    Messages { rest: buf }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<ProcEvent, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let remaining = self.rest.len();
            let (Some(nlmsg_len), Some(nlmsg_type)) = (u32_at(self.rest, 0), u16_at(self.rest, 4))
            else {
                self.rest = &[];
                return Some(Err(ParseError::TruncatedNlmsghdr { remaining }));
            };
            let len = nlmsg_len as usize;
            if len < NLMSG_HDRLEN || len > remaining {
                self.rest = &[];
                return Some(Err(ParseError::BadNlmsgLen {
                    nlmsg_len,
                    remaining,
                }));
            }
            let payload = &self.rest[NLMSG_HDRLEN..len];
            // The last message may lack its alignment padding.
            self.rest = self.rest.get(nlmsg_align(len)..).unwrap_or(&[]);
            match nlmsg_type {
                NLMSG_NOOP => continue,
                NLMSG_ERROR => match i32_at(payload, 0) {
                    None => return Some(Err(ParseError::TruncatedNlmsgerr { len: payload.len() })),
                    Some(0) => continue,
                    Some(errno) => return Some(Err(ParseError::Netlink { errno })),
                },
                NLMSG_OVERRUN => return Some(Err(ParseError::Overrun)),
                NLMSG_DONE => return Some(parse_cn_msg(payload)),
                other => {
                    return Some(Err(ParseError::UnexpectedType { nlmsg_type: other }));
                }
            }
        }
    }
}

/// Parses one `struct cn_msg` (with its data) carrying a `proc_event`:
/// the payload of one netlink message.
///
/// # Errors
/// A [`ParseError`] naming the header or field that is short or wrong.
pub fn parse_cn_msg(buf: &[u8]) -> Result<ProcEvent, ParseError> {
    let (Some(idx), Some(val), Some(seq), Some(cn_len)) = (
        u32_at(buf, 0),
        u32_at(buf, 4),
        u32_at(buf, 8),
        u16_at(buf, 16),
    ) else {
        return Err(ParseError::TruncatedCnMsg { len: buf.len() });
    };
    if buf.len() < CN_MSG_LEN {
        return Err(ParseError::TruncatedCnMsg { len: buf.len() });
    }
    if idx != CN_IDX_PROC || val != CN_VAL_PROC {
        return Err(ParseError::WrongConnector { idx, val });
    }
    let data = &buf[CN_MSG_LEN..];
    let Some(event) = data.get(..cn_len as usize) else {
        return Err(ParseError::CnLenPastEnd {
            cn_len,
            available: data.len(),
            seq,
        });
    };
    parse_proc_event(seq, event)
}

/// Parses one `struct proc_event` of `buf.len()` bytes (`cn_msg.len`);
/// `seq` is the enclosing `cn_msg.seq`.
///
/// Layouts are accepted by length: each `what` needs only the fields that
/// every kernel sends, and optional trailing fields are read when present.
///
/// # Errors
/// A [`ParseError`] when `buf` is shorter than the fields its `what`
/// needs.
pub fn parse_proc_event(seq: u32, buf: &[u8]) -> Result<ProcEvent, ParseError> {
    let (Some(w), Some(cpu), Some(timestamp_ns)) = (u32_at(buf, 0), u32_at(buf, 4), u64_at(buf, 8))
    else {
        return Err(ParseError::TruncatedProcEvent {
            what: u32_at(buf, 0),
            cpu: None,
            seq,
            len: buf.len(),
            need: PROC_EVENT_HDRLEN,
        });
    };
    let d = &buf[PROC_EVENT_HDRLEN..];
    let need = |n: usize| -> Result<(), ParseError> {
        if d.len() < n {
            Err(ParseError::TruncatedProcEvent {
                what: Some(w),
                cpu: Some(cpu),
                seq,
                len: buf.len(),
                need: PROC_EVENT_HDRLEN + n,
            })
        } else {
            Ok(())
        }
    };
    // After `need(n)`, every offset below n is in bounds; the `unwrap_or`
    // defaults are unreachable and only keep this free of panics.
    let pid = |off: usize| -> Pid { i32_at(d, off).unwrap_or(0) };
    let word = |off: usize| -> u32 { u32_at(d, off).unwrap_or(0) };
    let opt_pid = |off: usize| -> Option<Pid> { i32_at(d, off) };
    let kind = match w {
        what::NONE => {
            need(4)?;
            EventKind::Ack { err: word(0) }
        }
        what::FORK => {
            need(16)?;
            EventKind::Fork {
                parent_pid: pid(0),
                parent_tgid: pid(4),
                child_pid: pid(8),
                child_tgid: pid(12),
            }
        }
        what::EXEC => {
            need(8)?;
            EventKind::Exec {
                process_pid: pid(0),
                process_tgid: pid(4),
            }
        }
        what::UID => {
            need(16)?;
            EventKind::Uid {
                process_pid: pid(0),
                process_tgid: pid(4),
                ruid: word(8),
                euid: word(12),
            }
        }
        what::GID => {
            need(16)?;
            EventKind::Gid {
                process_pid: pid(0),
                process_tgid: pid(4),
                rgid: word(8),
                egid: word(12),
            }
        }
        what::SID => {
            need(8)?;
            EventKind::Sid {
                process_pid: pid(0),
                process_tgid: pid(4),
            }
        }
        what::PTRACE => {
            need(16)?;
            EventKind::Ptrace {
                process_pid: pid(0),
                process_tgid: pid(4),
                tracer_pid: pid(8),
                tracer_tgid: pid(12),
            }
        }
        what::COMM => {
            need(24)?;
            let raw = &d[8..24];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            EventKind::Comm {
                process_pid: pid(0),
                process_tgid: pid(4),
                comm: raw[..end].to_vec(),
            }
        }
        what::COREDUMP => {
            need(8)?;
            EventKind::Coredump {
                process_pid: pid(0),
                process_tgid: pid(4),
                parent_pid: opt_pid(8),
                parent_tgid: opt_pid(12),
            }
        }
        what::EXIT => {
            need(16)?;
            let exit_code = word(8);
            EventKind::Exit {
                process_pid: pid(0),
                process_tgid: pid(4),
                exit_code,
                status: ExitStatus::from_wait_status(exit_code),
                exit_signal: word(12),
                parent_pid: opt_pid(16),
                parent_tgid: opt_pid(20),
            }
        }
        other => EventKind::Unknown {
            what: other,
            data: d.to_vec(),
        },
    };
    Ok(ProcEvent {
        seq,
        cpu,
        timestamp_ns,
        kind,
    })
}

/// Serializes events into datagrams exactly as the kernel lays them out
/// (host byte order, full current-kernel length). For tests, benchmarks and
/// fuzz seeds; the inverse of [`parse_datagram`] for well-formed events.
pub mod build {
    use super::*;

    /// Appends the `proc_event` bytes of `ev` (header + `event_data`, padded
    /// to [`PROC_EVENT_LEN`] like the kernel's union) to `out`.
    pub fn proc_event(ev: &ProcEvent, out: &mut Vec<u8>) {
        let start = out.len();
        let w = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_ne_bytes());
        let p = |out: &mut Vec<u8>, v: Pid| out.extend_from_slice(&v.to_ne_bytes());
        w(out, event_what(&ev.kind));
        w(out, ev.cpu);
        out.extend_from_slice(&ev.timestamp_ns.to_ne_bytes());
        match &ev.kind {
            EventKind::Ack { err } => w(out, *err),
            EventKind::Fork {
                parent_pid,
                parent_tgid,
                child_pid,
                child_tgid,
            } => {
                for v in [parent_pid, parent_tgid, child_pid, child_tgid] {
                    p(out, *v);
                }
            }
            EventKind::Exec {
                process_pid,
                process_tgid,
            }
            | EventKind::Sid {
                process_pid,
                process_tgid,
            } => {
                p(out, *process_pid);
                p(out, *process_tgid);
            }
            EventKind::Uid {
                process_pid,
                process_tgid,
                ruid: r,
                euid: e,
            }
            | EventKind::Gid {
                process_pid,
                process_tgid,
                rgid: r,
                egid: e,
            } => {
                p(out, *process_pid);
                p(out, *process_tgid);
                w(out, *r);
                w(out, *e);
            }
            EventKind::Ptrace {
                process_pid,
                process_tgid,
                tracer_pid,
                tracer_tgid,
            } => {
                for v in [process_pid, process_tgid, tracer_pid, tracer_tgid] {
                    p(out, *v);
                }
            }
            EventKind::Comm {
                process_pid,
                process_tgid,
                comm,
            } => {
                p(out, *process_pid);
                p(out, *process_tgid);
                let mut c = [0u8; 16];
                let n = comm.len().min(15);
                c[..n].copy_from_slice(&comm[..n]);
                out.extend_from_slice(&c);
            }
            EventKind::Coredump {
                process_pid,
                process_tgid,
                parent_pid,
                parent_tgid,
            } => {
                p(out, *process_pid);
                p(out, *process_tgid);
                if let Some(v) = parent_pid {
                    p(out, *v);
                    if let Some(v) = parent_tgid {
                        p(out, *v);
                    }
                }
            }
            EventKind::Exit {
                process_pid,
                process_tgid,
                exit_code,
                exit_signal,
                parent_pid,
                parent_tgid,
                ..
            } => {
                p(out, *process_pid);
                p(out, *process_tgid);
                w(out, *exit_code);
                w(out, *exit_signal);
                if let Some(v) = parent_pid {
                    p(out, *v);
                    if let Some(v) = parent_tgid {
                        p(out, *v);
                    }
                }
            }
            EventKind::Unknown { data, .. } => out.extend_from_slice(data),
        }
        // Events with optional trailing fields are written at their
        // shortest length when those fields are absent (an old kernel's
        // layout); everything else is padded to the kernel's union size.
        let short_layout = matches!(
            &ev.kind,
            EventKind::Coredump {
                parent_tgid: None,
                ..
            } | EventKind::Exit {
                parent_tgid: None,
                ..
            } | EventKind::Unknown { .. }
        );
        if !short_layout && out.len() - start < PROC_EVENT_LEN {
            out.resize(start + PROC_EVENT_LEN, 0);
        }
    }

    /// `proc_event.what` for an event kind.
    pub fn event_what(kind: &EventKind) -> u32 {
        match kind {
            EventKind::Ack { .. } => what::NONE,
            EventKind::Fork { .. } => what::FORK,
            EventKind::Exec { .. } => what::EXEC,
            EventKind::Uid { .. } => what::UID,
            EventKind::Gid { .. } => what::GID,
            EventKind::Sid { .. } => what::SID,
            EventKind::Ptrace { .. } => what::PTRACE,
            EventKind::Comm { .. } => what::COMM,
            EventKind::Coredump { .. } => what::COREDUMP,
            EventKind::Exit { .. } => what::EXIT,
            EventKind::Unknown { what, .. } => *what,
        }
    }

    /// Appends one complete netlink message (`nlmsghdr` of type
    /// `NLMSG_DONE` + `cn_msg` + `proc_event`, 4-byte aligned) to `out`.
    pub fn message(ev: &ProcEvent, out: &mut Vec<u8>) {
        let mut data = Vec::with_capacity(PROC_EVENT_LEN);
        proc_event(ev, &mut data);
        raw_message(NLMSG_DONE, CN_IDX_PROC, CN_VAL_PROC, ev.seq, &data, out);
    }

    /// Appends a netlink message with an arbitrary type, connector id and
    /// `cn_msg` data (for building malformed input in tests).
    pub fn raw_message(
        nlmsg_type: u16,
        idx: u32,
        val: u32,
        seq: u32,
        data: &[u8],
        out: &mut Vec<u8>,
    ) {
        let len = NLMSG_HDRLEN + CN_MSG_LEN + data.len();
        out.extend_from_slice(&(len as u32).to_ne_bytes());
        out.extend_from_slice(&nlmsg_type.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes()); // flags
        out.extend_from_slice(&seq.to_ne_bytes()); // nlmsg_seq (kernel: = cn seq)
        out.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
        out.extend_from_slice(&idx.to_ne_bytes());
        out.extend_from_slice(&val.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes()); // ack
        out.extend_from_slice(&(data.len() as u16).to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes()); // flags
        out.extend_from_slice(data);
        out.resize(nlmsg_align(out.len()), 0);
    }

    /// A datagram holding one message per event.
    pub fn datagram(events: &[ProcEvent]) -> Vec<u8> {
        let mut out = Vec::with_capacity(events.len() * 76);
        for ev in events {
            message(ev, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ev(seq: u32, kind: EventKind) -> ProcEvent {
        ProcEvent {
            seq,
            cpu: 1,
            timestamp_ns: 123_456_789,
            kind,
        }
    }

    fn exit(parent: Option<(Pid, Pid)>) -> EventKind {
        EventKind::Exit {
            process_pid: 10,
            process_tgid: 10,
            exit_code: 9,
            status: ExitStatus::from_wait_status(9),
            exit_signal: 17,
            parent_pid: parent.map(|p| p.0),
            parent_tgid: parent.map(|p| p.1),
        }
    }

    #[test]
    fn roundtrip_every_kind() {
        let kinds = vec![
            EventKind::Ack { err: 0 },
            EventKind::Fork {
                parent_pid: 1,
                parent_tgid: 1,
                child_pid: 2,
                child_tgid: 2,
            },
            EventKind::Exec {
                process_pid: 2,
                process_tgid: 2,
            },
            EventKind::Uid {
                process_pid: 2,
                process_tgid: 2,
                ruid: 1000,
                euid: 0,
            },
            EventKind::Gid {
                process_pid: 2,
                process_tgid: 2,
                rgid: 1000,
                egid: 0,
            },
            EventKind::Sid {
                process_pid: 2,
                process_tgid: 2,
            },
            EventKind::Ptrace {
                process_pid: 2,
                process_tgid: 2,
                tracer_pid: 3,
                tracer_tgid: 3,
            },
            EventKind::Comm {
                process_pid: 2,
                process_tgid: 2,
                comm: b"kworker/0:1".to_vec(),
            },
            EventKind::Coredump {
                process_pid: 2,
                process_tgid: 2,
                parent_pid: Some(1),
                parent_tgid: Some(1),
            },
            exit(Some((1, 1))),
            EventKind::Unknown {
                what: 0x1000,
                data: vec![1, 2, 3, 4],
            },
        ];
        let events: Vec<_> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, k)| ev(i as u32, k))
            .collect();
        let dg = build::datagram(&events);
        let parsed: Vec<_> = parse_datagram(&dg).collect::<Result<_, _>>().unwrap();
        assert_eq!(parsed, events);
    }

    #[test]
    fn old_exit_layout_has_no_parent() {
        let e = ev(5, exit(None));
        let dg = build::datagram(std::slice::from_ref(&e));
        // 16 nlmsghdr + 20 cn_msg + 16 header + 16 exit fields.
        assert_eq!(dg.len(), 68);
        let parsed: Vec<_> = parse_datagram(&dg).collect();
        assert_eq!(parsed, vec![Ok(e)]);
    }

    #[test]
    fn truncated_exit_is_an_error_but_neighbours_survive() {
        let good = ev(1, exit(Some((1, 1))));
        let mut dg = Vec::new();
        build::message(&good, &mut dg);
        let mut short = Vec::new();
        build::proc_event(&good, &mut short);
        short.truncate(PROC_EVENT_HDRLEN + 12);
        build::raw_message(NLMSG_DONE, 1, 1, 2, &short, &mut dg);
        build::message(&good, &mut dg);
        let parsed: Vec<_> = parse_datagram(&dg).collect();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0], Ok(good.clone()));
        assert_eq!(
            parsed[1],
            Err(ParseError::TruncatedProcEvent {
                what: Some(what::EXIT),
                cpu: Some(1),
                seq: 2,
                len: 28,
                need: 32
            })
        );
        assert_eq!(parsed[1].clone().unwrap_err().cpu_seq(), Some((1, 2)));
        assert_eq!(parsed[2], Ok(good));
    }

    #[test]
    fn garbage_framing() {
        assert_eq!(parse_datagram(&[]).count(), 0);
        assert_eq!(
            parse_datagram(&[1, 2, 3]).collect::<Vec<_>>(),
            vec![Err(ParseError::TruncatedNlmsghdr { remaining: 3 })]
        );
        let mut dg = build::datagram(&[ev(1, exit(None))]);
        dg[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(
            parse_datagram(&dg).collect::<Vec<_>>(),
            vec![Err(ParseError::BadNlmsgLen {
                nlmsg_len: 1000,
                remaining: 68
            })]
        );
        dg[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(matches!(
            parse_datagram(&dg).next(),
            Some(Err(ParseError::BadNlmsgLen { nlmsg_len: 4, .. }))
        ));
    }

    #[test]
    fn cn_len_past_end_and_wrong_connector() {
        let mut dg = build::datagram(&[ev(7, exit(None))]);
        // cn_msg.len at 16 + 16.
        dg[32..34].copy_from_slice(&200u16.to_ne_bytes());
        assert_eq!(
            parse_datagram(&dg).collect::<Vec<_>>(),
            vec![Err(ParseError::CnLenPastEnd {
                cn_len: 200,
                available: 32,
                seq: 7
            })]
        );
        let mut dg = Vec::new();
        build::raw_message(NLMSG_DONE, 2, 1, 0, &[0; 40], &mut dg);
        assert_eq!(
            parse_datagram(&dg).collect::<Vec<_>>(),
            vec![Err(ParseError::WrongConnector { idx: 2, val: 1 })]
        );
    }

    #[test]
    fn control_messages() {
        let mut dg = Vec::new();
        // NOOP: skipped.
        dg.extend_from_slice(&16u32.to_ne_bytes());
        dg.extend_from_slice(&NLMSG_NOOP.to_ne_bytes());
        dg.extend_from_slice(&[0; 10]);
        // ERROR 0 (ack): skipped.
        dg.extend_from_slice(&20u32.to_ne_bytes());
        dg.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        dg.extend_from_slice(&[0; 14]);
        // ERROR -EPERM.
        dg.extend_from_slice(&20u32.to_ne_bytes());
        dg.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        dg.extend_from_slice(&[0; 10]);
        dg.extend_from_slice(&(-1i32).to_ne_bytes());
        // OVERRUN.
        dg.extend_from_slice(&16u32.to_ne_bytes());
        dg.extend_from_slice(&NLMSG_OVERRUN.to_ne_bytes());
        dg.extend_from_slice(&[0; 10]);
        // An unexpected type.
        dg.extend_from_slice(&16u32.to_ne_bytes());
        dg.extend_from_slice(&0x10u16.to_ne_bytes());
        dg.extend_from_slice(&[0; 10]);
        build::message(&ev(3, exit(None)), &mut dg);
        let parsed: Vec<_> = parse_datagram(&dg).collect();
        assert_eq!(
            parsed,
            vec![
                Err(ParseError::Netlink { errno: -1 }),
                Err(ParseError::Overrun),
                Err(ParseError::UnexpectedType { nlmsg_type: 0x10 }),
                Ok(ev(3, exit(None))),
            ]
        );
    }

    #[test]
    fn comm_is_nul_trimmed_and_never_overruns() {
        let e = ev(
            1,
            EventKind::Comm {
                process_pid: 1,
                process_tgid: 1,
                comm: b"abc".to_vec(),
            },
        );
        let mut data = Vec::new();
        build::proc_event(&e, &mut data);
        // A comm without any NUL keeps all 16 bytes.
        for b in &mut data[24..40] {
            *b = b'x';
        }
        let got = parse_proc_event(1, &data).unwrap();
        assert_eq!(
            got.kind,
            EventKind::Comm {
                process_pid: 1,
                process_tgid: 1,
                comm: vec![b'x'; 16]
            }
        );
    }

    /// Fixtures captured from a little-endian kernel (tests/data/README.md).
    #[cfg(target_endian = "little")]
    mod fixtures {
        use super::*;

        macro_rules! fixture {
            ($name:literal) => {
                include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $name))
            };
        }

        fn one(buf: &[u8]) -> ProcEvent {
            let v: Vec<_> = parse_datagram(buf).collect();
            assert_eq!(v.len(), 1, "{v:?}");
            v.into_iter().next().unwrap().unwrap()
        }

        #[test]
        fn real_fork_exec_exit() {
            let f = one(fixture!("real-fork.bin"));
            assert!(matches!(
                f.kind,
                EventKind::Fork { child_pid, child_tgid, .. } if child_pid == child_tgid
            ));
            assert!(f.cpu < 2 && f.timestamp_ns > 0);
            let e = one(fixture!("real-exec.bin"));
            assert!(matches!(e.kind, EventKind::Exec { .. }));
            let x = one(fixture!("real-exit-code3.bin"));
            assert!(matches!(
                x.kind,
                EventKind::Exit {
                    status: ExitStatus::Exited(3),
                    exit_signal: 17,
                    parent_pid: Some(_),
                    parent_tgid: Some(_),
                    ..
                }
            ));
        }

        #[test]
        fn real_exits_decode_signals() {
            let k = one(fixture!("real-exit-sigkill.bin"));
            assert_eq!(
                k.kind,
                EventKind::Exit {
                    process_pid: 0x634b,
                    process_tgid: 0x634b,
                    exit_code: 9,
                    status: ExitStatus::Signaled {
                        signal: 9,
                        core_dumped: false
                    },
                    exit_signal: 17,
                    parent_pid: Some(0x634a),
                    parent_tgid: Some(0x634a),
                }
            );
            let s = one(fixture!("real-exit-sigsegv-core.bin"));
            assert!(matches!(
                s.kind,
                EventKind::Exit {
                    status: ExitStatus::Signaled {
                        signal: 11,
                        core_dumped: true
                    },
                    ..
                }
            ));
            let t = one(fixture!("real-exit-thread.bin"));
            assert!(matches!(
                t.kind,
                EventKind::Exit { process_pid, process_tgid, exit_signal: u32::MAX, parent_pid: Some(0), parent_tgid: Some(0), .. }
                    if process_pid != process_tgid
            ));
            let ft = one(fixture!("real-fork-thread.bin"));
            assert!(matches!(
                ft.kind,
                EventKind::Fork { child_pid, child_tgid, .. } if child_pid != child_tgid
            ));
        }

        #[test]
        fn real_other_kinds() {
            assert!(matches!(
                one(fixture!("real-uid.bin")).kind,
                EventKind::Uid {
                    ruid: 65534,
                    euid: 65534,
                    ..
                }
            ));
            assert!(matches!(
                one(fixture!("real-gid.bin")).kind,
                EventKind::Gid {
                    rgid: 65534,
                    egid: 65534,
                    ..
                }
            ));
            assert!(matches!(
                one(fixture!("real-sid.bin")).kind,
                EventKind::Sid { .. }
            ));
            assert!(matches!(
                one(fixture!("real-ptrace-attach.bin")).kind,
                EventKind::Ptrace {
                    tracer_pid: 0x634a,
                    ..
                }
            ));
            assert!(matches!(
                one(fixture!("real-coredump.bin")).kind,
                EventKind::Coredump {
                    parent_pid: Some(0x633f),
                    parent_tgid: Some(0x633f),
                    ..
                }
            ));
            let EventKind::Comm { comm, .. } = one(fixture!("real-comm-escape.bin")).kind else {
                panic!("not comm")
            };
            assert_eq!(comm, b"ren\x1bamed");
            let EventKind::Comm { comm, .. } = one(fixture!("real-comm.bin")).kind else {
                panic!("not comm")
            };
            assert_eq!(comm, b"tokio-runtime-w");
        }

        #[test]
        fn old_kernel_layouts() {
            let x = one(fixture!("synthetic-old-exit-no-parent.bin"));
            assert!(matches!(
                x.kind,
                EventKind::Exit {
                    exit_code: 9,
                    parent_pid: None,
                    parent_tgid: None,
                    ..
                }
            ));
            let c = one(fixture!("synthetic-old-coredump-no-parent.bin"));
            assert!(matches!(
                c.kind,
                EventKind::Coredump {
                    parent_pid: None,
                    parent_tgid: None,
                    ..
                }
            ));
        }

        #[test]
        fn multi_message_datagrams() {
            let v: Vec<_> = parse_datagram(fixture!("synthetic-multi-4.bin")).collect();
            assert_eq!(v.len(), 4);
            assert!(matches!(
                v[0],
                Ok(ProcEvent {
                    kind: EventKind::Fork { .. },
                    ..
                })
            ));
            assert!(matches!(
                v[1],
                Ok(ProcEvent {
                    kind: EventKind::Exec { .. },
                    ..
                })
            ));
            assert!(matches!(
                v[2],
                Ok(ProcEvent {
                    kind: EventKind::Exit {
                        parent_pid: None,
                        ..
                    },
                    ..
                })
            ));
            assert!(matches!(
                v[3],
                Ok(ProcEvent {
                    kind: EventKind::Exit {
                        parent_pid: Some(_),
                        ..
                    },
                    ..
                })
            ));
            let v: Vec<_> = parse_datagram(fixture!("synthetic-multi-bad-middle.bin")).collect();
            assert_eq!(v.len(), 3);
            assert!(v[0].is_ok() && v[2].is_ok());
            assert!(matches!(
                v[1],
                Err(ParseError::CnLenPastEnd { cn_len: 400, .. })
            ));
        }

        #[test]
        fn truncated_real_message() {
            let v: Vec<_> = parse_datagram(fixture!("synthetic-truncated-fork.bin")).collect();
            assert_eq!(
                v,
                vec![Err(ParseError::BadNlmsgLen {
                    nlmsg_len: 76,
                    remaining: 50
                })]
            );
        }
    }

    #[test]
    fn every_prefix_of_a_message_is_handled() {
        let dg = build::datagram(&[ev(1, exit(Some((4, 4))))]);
        for n in 0..dg.len() {
            for r in parse_datagram(&dg[..n]) {
                assert!(r.is_err(), "prefix {n} parsed");
            }
        }
    }
}
