//! Exact accounting of lost proc connector events.
//!
//! The kernel numbers proc events with a per-CPU counter: `cn_msg.seq` is
//! taken from the counter of the CPU named in `proc_event.cpu` (see
//! `send_msg()` in `drivers/connector/cn_proc.c`), and all of one CPU's
//! events are sent in order. A listener that receives every event
//! therefore sees, per CPU, consecutive numbers; a jump of `n` is exactly
//! `n` lost events. This only holds without a kernel-side filter (filtered
//! events consume numbers too), so [`LossTracker`] is told whether to
//! track sequences.
//!
//! `ENOBUFS` from `recv` means the socket's receive queue overflowed: at
//! least one event was dropped, but the count is not known from the error.
//! Such occurrences are counted separately; with sequence tracking on, the
//! dropped events themselves show up as gaps once the CPU's next event
//! arrives.
//!
//! [`LossTracker`] is a pure state machine: feed it what was received, ask
//! it [`LossTracker::loss`] at any time.

use std::collections::BTreeMap;

use crate::event::{EventKind, ProcEvent};
use crate::parse::ParseError;

/// CPUs below this number are tracked in a flat table; others (which no
/// real machine has, but the bytes are untrusted) in a map.
const DENSE_CPUS: usize = 4096;

/// Loss counters, per cause. All counters only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Loss {
    /// Events known to be missing from gaps in a CPU's `cn_msg.seq`
    /// (exact; only counted when sequence tracking is on).
    pub seq_gap_events: u64,
    /// Number of times a CPU's `cn_msg.seq` went backwards (duplicate or
    /// reordered message; the tracker re-synchronises). Not a loss by
    /// itself, but a sign the numbers cannot be trusted.
    pub seq_regressions: u64,
    /// `recv` calls that failed with `ENOBUFS` (receive queue overflow:
    /// one or more events dropped, count unknown from the error itself).
    pub enobufs: u64,
    /// `NLMSG_OVERRUN` messages received.
    pub overruns: u64,
    /// Messages that could not be parsed (each is one lost event, unless
    /// it was not a proc event at all).
    pub malformed: u64,
    /// Datagrams larger than the receive buffer (their tail was cut).
    pub truncated_datagrams: u64,
    /// Whether per-CPU sequence gaps are being counted (no kernel filter).
    pub seq_tracking: bool,
}

impl Loss {
    /// Events known to be lost, counted exactly: sequence gaps plus
    /// malformed messages. ENOBUFS occurrences are not added because they
    /// carry no count; with sequence tracking the events they dropped are
    /// already in the gaps (see [`Loss::may_have_uncounted_loss`]).
    pub fn missed_events(&self) -> u64 {
        self.seq_gap_events.saturating_add(self.malformed)
    }

    /// `true` if losses may have happened that [`Loss::missed_events`]
    /// does not count: ENOBUFS, overruns or truncated datagrams without
    /// sequence tracking (with a kernel filter), or a sequence that went
    /// backwards. With sequence tracking, a drop right before the last
    /// event received from a CPU is counted only when that CPU's next event
    /// arrives.
    pub fn may_have_uncounted_loss(&self) -> bool {
        let signalled = self.enobufs > 0 || self.overruns > 0 || self.truncated_datagrams > 0;
        self.seq_regressions > 0 || (signalled && !self.seq_tracking)
    }

    /// `true` if nothing at all indicates a lost event.
    pub fn is_zero(&self) -> bool {
        self.seq_gap_events == 0
            && self.seq_regressions == 0
            && self.enobufs == 0
            && self.overruns == 0
            && self.malformed == 0
            && self.truncated_datagrams == 0
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events missed (seq gaps {}, malformed {}); ENOBUFS {}, overruns {}, \
             truncated datagrams {}, seq regressions {}; sequence tracking {}",
            self.missed_events(),
            self.seq_gap_events,
            self.malformed,
            self.enobufs,
            self.overruns,
            self.truncated_datagrams,
            self.seq_regressions,
            if self.seq_tracking {
                "on"
            } else {
                "off (kernel filter)"
            }
        )
    }
}

/// The outcome of observing one sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeqCheck {
    /// First event seen from this CPU (nothing to compare with), or
    /// sequence tracking is off.
    First,
    /// The expected next number.
    InOrder,
    /// `n` events of this CPU were skipped.
    Gap(u32),
    /// The number went backwards (by `n`); the tracker re-synchronised.
    Regression(u32),
}

/// Per-CPU sequence tracker and loss counters; see the module docs.
#[derive(Debug, Clone)]
pub struct LossTracker {
    /// Next expected `seq` per CPU (`None`: no event seen yet).
    dense: Vec<Option<u32>>,
    sparse: BTreeMap<u32, u32>,
    loss: Loss,
}

impl LossTracker {
    /// A tracker; `seq_tracking` must be `false` when a kernel-side event
    /// filter is active (filtered events leave gaps that are not losses).
    pub fn new(seq_tracking: bool) -> Self {
        LossTracker {
            dense: Vec::new(),
            sparse: BTreeMap::new(),
            loss: Loss {
                seq_tracking,
                ..Loss::default()
            },
        }
    }

    /// The counters so far.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Accounts for one received event.
    ///
    /// Acks (`what = 0`) differ by kernel: current kernels send them through
    /// the same path as events (`send_msg()`), which stamps them with the
    /// CPU and takes a number from its counter, so they are part of the
    /// sequence (measured on 6.18: ignoring them shows one-event gaps
    /// whenever anyone subscribes). Older kernels send them with
    /// `cpu = -1` and the requester's own `seq`: those are outside every
    /// sequence and ignored.
    pub fn observe(&mut self, ev: &ProcEvent) -> SeqCheck {
        if matches!(ev.kind, EventKind::Ack { .. }) && ev.cpu == u32::MAX {
            return SeqCheck::First;
        }
        self.observe_seq(ev.cpu, ev.seq)
    }

    /// Accounts for `cn_msg.seq = seq` from `proc_event.cpu = cpu`.
    pub fn observe_seq(&mut self, cpu: u32, seq: u32) -> SeqCheck {
        if !self.loss.seq_tracking {
            return SeqCheck::First;
        }
        let next = seq.wrapping_add(1);
        let slot = if (cpu as usize) < DENSE_CPUS {
            let i = cpu as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, None);
            }
            self.dense[i].replace(next)
        } else {
            self.sparse.insert(cpu, next)
        };
        let Some(expected) = slot else {
            return SeqCheck::First;
        };
        // Wrapping distance: the counter is a u32 that wraps; a forward
        // distance of 2^31 or more is read as going backwards.
        let ahead = seq.wrapping_sub(expected);
        if ahead == 0 {
            SeqCheck::InOrder
        } else if ahead < 1 << 31 {
            self.loss.seq_gap_events = self.loss.seq_gap_events.saturating_add(u64::from(ahead));
            SeqCheck::Gap(ahead)
        } else {
            self.loss.seq_regressions += 1;
            SeqCheck::Regression(expected.wrapping_sub(seq))
        }
    }

    /// Accounts for a message that failed to parse. A message whose
    /// `proc_event` header was readable still advances its CPU's sequence
    /// (so it is not counted twice, as malformed and as a gap).
    pub fn observe_error(&mut self, err: &ParseError) {
        match err {
            ParseError::Overrun => self.loss.overruns += 1,
            // Errors and acks from netlink itself are not lost events.
            ParseError::Netlink { .. } | ParseError::TruncatedNlmsgerr { .. } => {}
            _ => {
                self.loss.malformed += 1;
                if let Some((cpu, seq)) = err.cpu_seq() {
                    self.observe_seq(cpu, seq);
                }
            }
        }
    }

    /// Accounts for one `recv` that failed with `ENOBUFS`.
    pub fn record_enobufs(&mut self) {
        self.loss.enobufs += 1;
    }

    /// Accounts for one datagram cut short by a too-small buffer.
    pub fn record_truncated(&mut self) {
        self.loss.truncated_datagrams += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::event::ExitStatus;

    fn exit(cpu: u32, seq: u32) -> ProcEvent {
        ProcEvent {
            seq,
            cpu,
            timestamp_ns: 0,
            kind: EventKind::Exit {
                process_pid: 1,
                process_tgid: 1,
                exit_code: 0,
                status: ExitStatus::Exited(0),
                exit_signal: 17,
                parent_pid: None,
                parent_tgid: None,
            },
        }
    }

    #[test]
    fn consecutive_per_cpu_is_lossless() {
        let mut t = LossTracker::new(true);
        // Interleaved CPUs, each consecutive.
        for (cpu, seq) in [(0, 10), (1, 500), (0, 11), (1, 501), (0, 12), (3, 0)] {
            t.observe(&exit(cpu, seq));
        }
        assert!(t.loss().is_zero());
        assert_eq!(t.loss().missed_events(), 0);
    }

    #[test]
    fn gaps_are_counted_exactly_per_cpu() {
        let mut t = LossTracker::new(true);
        assert_eq!(t.observe(&exit(0, 10)), SeqCheck::First);
        assert_eq!(t.observe(&exit(1, 7)), SeqCheck::First);
        assert_eq!(t.observe(&exit(0, 14)), SeqCheck::Gap(3));
        assert_eq!(t.observe(&exit(1, 8)), SeqCheck::InOrder);
        assert_eq!(t.observe(&exit(1, 10)), SeqCheck::Gap(1));
        assert_eq!(t.observe(&exit(0, 15)), SeqCheck::InOrder);
        assert_eq!(t.loss().seq_gap_events, 4);
        assert_eq!(t.loss().missed_events(), 4);
        assert!(!t.loss().may_have_uncounted_loss());
    }

    #[test]
    fn wraps_at_u32() {
        let mut t = LossTracker::new(true);
        t.observe_seq(2, u32::MAX - 1);
        assert_eq!(t.observe_seq(2, u32::MAX), SeqCheck::InOrder);
        assert_eq!(t.observe_seq(2, 0), SeqCheck::InOrder);
        assert_eq!(t.observe_seq(2, 3), SeqCheck::Gap(2));
        t.observe_seq(5, u32::MAX);
        assert_eq!(t.observe_seq(5, 1), SeqCheck::Gap(1));
        assert_eq!(t.loss().seq_gap_events, 3);
    }

    #[test]
    fn regression_resyncs() {
        let mut t = LossTracker::new(true);
        t.observe_seq(0, 100);
        assert_eq!(t.observe_seq(0, 100), SeqCheck::Regression(1));
        assert_eq!(t.observe_seq(0, 101), SeqCheck::InOrder);
        assert_eq!(t.loss().seq_regressions, 1);
        assert_eq!(t.loss().seq_gap_events, 0);
        assert!(t.loss().may_have_uncounted_loss());
    }

    fn ack(cpu: u32, seq: u32) -> ProcEvent {
        ProcEvent {
            seq,
            cpu,
            timestamp_ns: 0,
            kind: EventKind::Ack { err: 0 },
        }
    }

    #[test]
    fn old_kernel_acks_are_outside_sequences() {
        let mut t = LossTracker::new(true);
        t.observe(&exit(0, 1));
        // cpu = -1, seq = the requester's: ignored.
        assert_eq!(t.observe(&ack(u32::MAX, 999)), SeqCheck::First);
        assert_eq!(t.observe(&exit(0, 2)), SeqCheck::InOrder);
        assert!(t.loss().is_zero());
    }

    #[test]
    fn current_kernel_acks_take_a_sequence_number() {
        let mut t = LossTracker::new(true);
        t.observe(&exit(0, 1));
        assert_eq!(t.observe(&ack(0, 2)), SeqCheck::InOrder);
        assert_eq!(t.observe(&exit(0, 3)), SeqCheck::InOrder);
        // A lost ack is a lost message like any other.
        assert_eq!(t.observe(&exit(0, 5)), SeqCheck::Gap(1));
    }

    #[test]
    fn enobufs_without_tracking_is_uncounted_loss() {
        let mut t = LossTracker::new(false);
        t.observe_seq(0, 1);
        assert_eq!(t.observe_seq(0, 50), SeqCheck::First);
        assert!(t.loss().is_zero());
        t.record_enobufs();
        t.record_enobufs();
        let l = t.loss();
        assert_eq!(l.enobufs, 2);
        assert_eq!(l.missed_events(), 0);
        assert!(l.may_have_uncounted_loss());
        assert!(!l.is_zero());
    }

    #[test]
    fn enobufs_with_tracking_shows_up_as_gap() {
        let mut t = LossTracker::new(true);
        t.observe_seq(1, 1);
        t.record_enobufs();
        assert_eq!(t.observe_seq(1, 9), SeqCheck::Gap(7));
        let l = t.loss();
        assert_eq!((l.enobufs, l.missed_events()), (1, 7));
        assert!(!l.may_have_uncounted_loss());
    }

    #[test]
    fn malformed_messages_count_once() {
        let mut t = LossTracker::new(true);
        t.observe_seq(0, 1);
        t.observe_error(&ParseError::TruncatedProcEvent {
            what: Some(crate::event::what::EXIT),
            cpu: Some(0),
            seq: 2,
            len: 20,
            need: 32,
        });
        assert_eq!(t.observe_seq(0, 3), SeqCheck::InOrder);
        t.observe_error(&ParseError::Overrun);
        t.observe_error(&ParseError::Netlink { errno: -1 });
        t.observe_error(&ParseError::TruncatedCnMsg { len: 3 });
        let l = t.loss();
        assert_eq!((l.malformed, l.overruns, l.missed_events()), (2, 1, 2));
    }

    #[test]
    fn huge_cpu_numbers_are_tracked_sparsely() {
        let mut t = LossTracker::new(true);
        t.observe_seq(u32::MAX - 3, 5);
        assert_eq!(t.observe_seq(u32::MAX - 3, 7), SeqCheck::Gap(1));
        assert!(t.dense.is_empty());
    }
}
