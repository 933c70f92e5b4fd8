//! Grouping records into events.
//!
//! The kernel writes the records of one audited syscall one after another
//! with the same `audit(<sec>.<msec>:<serial>)` stamp, `PROCTITLE` last,
//! then an `EOE` (end of event) record. Records of events on other CPUs
//! can interleave. Records written outside a syscall (user-space messages,
//! daemon messages, anomalies) form events of one record and get no `EOE`.
//! auditd's log file holds no `EOE` records at all.
//!
//! [`Assembler`] is a pure state machine: records and the current time go
//! in, complete [`Event`]s come out. An event is complete when
//!
//! 1. its `EOE` arrives (netlink);
//! 2. its last record arrives (`PROCTITLE`; how auparse completes events
//!    in log files) — a following `EOE` for it is then swallowed;
//! 3. its record type is a single-record type
//!    ([`RecordType::is_single_record_event`]);
//! 4. a record stamped more than [`AssemblerConfig::record_window`] later
//!    arrives (log files of kernels without `PROCTITLE`: time in the
//!    records, so replaying a file gives the same events at any speed);
//! 5. it has been open longer than [`AssemblerConfig::timeout`] of the
//!    caller's clock (a live source whose `EOE` was lost);
//! 6. too many events are open ([`AssemblerConfig::max_open`]): the oldest
//!    is flushed and counted;
//! 7. the caller calls [`Assembler::flush`] (end of a file).
//!
//! Every event says which of these completed it ([`EventEnd`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::record::{Record, RecordType, Stamp};

/// Limits and timeouts of an [`Assembler`]. `Default` plus builder
/// methods:
///
/// ```
/// use std::time::Duration;
/// use auditsig::AssemblerConfig;
/// let c = AssemblerConfig::default().max_open(16).timeout(Duration::from_secs(5));
/// assert_eq!((c.max_open, c.timeout.as_secs()), (16, 5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssemblerConfig {
    /// Wall-clock time after which an open event is flushed as
    /// [`EventEnd::Timeout`]. The kernel writes an event's records within
    /// microseconds; the default (2 s) covers a loaded host.
    pub timeout: Duration,
    /// Record-time window: an open event is flushed as
    /// [`EventEnd::Superseded`] when a record stamped more than this much
    /// later arrives. Default 2 s (as auparse's `eoe_timeout`).
    pub record_window: Duration,
    /// Maximum number of events open at once; when exceeded the oldest is
    /// flushed as [`EventEnd::Evicted`]. Default 256.
    pub max_open: usize,
    /// Maximum records kept per event (a `kill(-1, ...)` produces one
    /// `OBJ_PID` per process); further records are dropped and counted in
    /// [`Event::dropped_records`]. Default 65 536.
    pub max_records_per_event: usize,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            timeout: Duration::from_secs(2),
            record_window: Duration::from_secs(2),
            max_open: 256,
            max_records_per_event: 65_536,
        }
    }
}

impl AssemblerConfig {
    /// Sets [`AssemblerConfig::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`AssemblerConfig::record_window`].
    pub fn record_window(mut self, window: Duration) -> Self {
        self.record_window = window;
        self
    }

    /// Sets [`AssemblerConfig::max_open`].
    pub fn max_open(mut self, n: usize) -> Self {
        self.max_open = n;
        self
    }

    /// Sets [`AssemblerConfig::max_records_per_event`].
    pub fn max_records_per_event(mut self, n: usize) -> Self {
        self.max_records_per_event = n;
        self
    }
}

/// What completed an [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum EventEnd {
    /// Its `EOE` record arrived.
    Eoe,
    /// Its last record (`PROCTITLE`) arrived.
    LastRecord,
    /// A single-record event type.
    Single,
    /// A record stamped later than the record window arrived.
    Superseded,
    /// Open longer than the timeout.
    Timeout,
    /// Flushed because too many events were open.
    Evicted,
    /// Flushed by [`Assembler::flush`].
    Flushed,
}

/// The records of one event, in arrival order (`EOE` itself is not kept).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// The stamp all records share.
    pub stamp: Stamp,
    /// The records.
    pub records: Vec<Record>,
    /// What completed the event.
    pub end: EventEnd,
    /// Records dropped because the event exceeded
    /// [`AssemblerConfig::max_records_per_event`].
    pub dropped_records: usize,
}

impl Event {
    /// The first record of type `t`.
    pub fn first(&self, t: RecordType) -> Option<&Record> {
        self.records.iter().find(|r| r.record_type() == t)
    }

    /// All records of type `t`, in order.
    pub fn all(&self, t: RecordType) -> impl Iterator<Item = &Record> + '_ {
        self.records.iter().filter(move |r| r.record_type() == t)
    }

    /// The argument vector of the `EXECVE` records of this event (the
    /// kernel splits long arguments into `aN_len` + `aN[i]` pieces and
    /// many arguments over several `EXECVE` records). `None` without an
    /// `EXECVE` record.
    pub fn execve_argv(&self) -> Option<ExecveArgv> {
        let mut records = self.all(RecordType::EXECVE).peekable();
        records.peek()?;
        let mut argc: Option<usize> = None;
        let mut args: Vec<Option<Vec<u8>>> = Vec::new();
        for rec in records {
            for f in rec.fields() {
                if f.name == b"argc" {
                    argc = f.value.as_dec_u64().and_then(|v| usize::try_from(v).ok());
                    continue;
                }
                let Some((idx, piece)) = parse_arg_name(f.name) else {
                    continue;
                };
                // Guard against absurd indexes in damaged input.
                if idx > 1 << 20 {
                    continue;
                }
                if args.len() <= idx {
                    args.resize(idx + 1, None);
                }
                let bytes = f.value.bytes().map(|c| c.into_owned()).unwrap_or_default();
                match (&mut args[idx], piece) {
                    (slot @ None, _) => *slot = Some(bytes),
                    (Some(existing), true) => existing.extend_from_slice(&bytes),
                    (Some(existing), false) => *existing = bytes,
                }
            }
        }
        let argc = argc.unwrap_or(args.len());
        let complete = args.len() == argc && args.iter().all(Option::is_some);
        args.resize(argc.min(1 << 20), None);
        Some(ExecveArgv {
            args: args.into_iter().map(Option::unwrap_or_default).collect(),
            complete,
        })
    }
}

/// The arguments of an `EXECVE` event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecveArgv {
    /// The arguments (missing ones empty).
    pub args: Vec<Vec<u8>>,
    /// False when `argc` and the arguments found disagree (records lost
    /// or the kernel gave up on a huge argument list).
    pub complete: bool,
}

/// `aN` → (N, false); `aN[i]` → (N, true); other names → None.
fn parse_arg_name(name: &[u8]) -> Option<(usize, bool)> {
    let rest = name.strip_prefix(b"a")?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 7 {
        return None;
    }
    let idx = crate::value::parse_dec_u64(&rest[..digits])? as usize;
    match &rest[digits..] {
        [] => Some((idx, false)),
        [b'[', i @ .., b']'] if !i.is_empty() && i.iter().all(u8::is_ascii_digit) => {
            Some((idx, true))
        }
        _ => None,
    }
}

/// Counters of an [`Assembler`] since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct AssemblerStats {
    /// Records pushed.
    pub records: u64,
    /// Events completed (all reasons).
    pub events: u64,
    /// Events flushed by the wall-clock timeout.
    pub timed_out: u64,
    /// Events flushed by the record-time window.
    pub superseded: u64,
    /// Events flushed because too many were open.
    pub evicted: u64,
    /// `EOE` records for events that were not open (their records were
    /// lost, or flushed by a timeout before the `EOE` came).
    pub stray_eoe: u64,
    /// Records dropped because their event was too large.
    pub dropped_records: u64,
}

#[derive(Debug)]
struct Open {
    stamp: Stamp,
    opened: Instant,
    records: Vec<Record>,
    dropped: usize,
}

/// Groups records into events. See the module documentation.
#[derive(Debug)]
pub struct Assembler {
    config: AssemblerConfig,
    /// Open events in the order they were opened (so the timed-out ones
    /// are a prefix).
    open: VecDeque<Open>,
    ready: VecDeque<Event>,
    /// Stamps of events recently completed by their last record, to
    /// swallow the `EOE` that follows on netlink.
    recent: VecDeque<Stamp>,
    newest_millis: u64,
    stats: AssemblerStats,
}

const RECENT: usize = 64;

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new(AssemblerConfig::default())
    }
}

impl Assembler {
    /// A new assembler.
    pub fn new(config: AssemblerConfig) -> Assembler {
        Assembler {
            config,
            open: VecDeque::new(),
            ready: VecDeque::new(),
            recent: VecDeque::with_capacity(RECENT),
            newest_millis: 0,
            stats: AssemblerStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AssemblerConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Number of events still open.
    pub fn open_events(&self) -> usize {
        self.open.len()
    }

    /// Feed one record received at `now`. Completed events are then
    /// available from [`Assembler::pop`].
    pub fn push(&mut self, rec: Record, now: Instant) {
        self.stats.records += 1;
        self.expire(now);
        let stamp = rec.stamp();
        let rtype = rec.record_type();
        self.advance_record_time(stamp);

        if let Some(i) = self.open.iter().rposition(|o| o.stamp == stamp) {
            if rtype == RecordType::EOE {
                self.close(i, EventEnd::Eoe);
                return;
            }
            let limit = self.config.max_records_per_event;
            let o = &mut self.open[i];
            if o.records.len() < limit {
                o.records.push(rec);
            } else {
                o.dropped += 1;
                self.stats.dropped_records += 1;
            }
            if rtype == RecordType::PROCTITLE {
                self.remember(stamp);
                self.close(i, EventEnd::LastRecord);
            }
            return;
        }

        if rtype == RecordType::EOE {
            if let Some(p) = self.recent.iter().position(|s| *s == stamp) {
                self.recent.remove(p);
            } else {
                self.stats.stray_eoe += 1;
            }
            return;
        }
        if rtype.is_single_record_event() || rtype == RecordType::PROCTITLE {
            let end = if rtype == RecordType::PROCTITLE {
                self.remember(stamp);
                EventEnd::LastRecord
            } else {
                EventEnd::Single
            };
            self.emit(Event {
                stamp,
                records: vec![rec],
                end,
                dropped_records: 0,
            });
            return;
        }
        if self.config.max_open == 0 {
            self.emit(Event {
                stamp,
                records: vec![rec],
                end: EventEnd::Evicted,
                dropped_records: 0,
            });
            self.stats.evicted += 1;
            return;
        }
        while self.open.len() >= self.config.max_open {
            self.stats.evicted += 1;
            self.close(0, EventEnd::Evicted);
        }
        let mut records = Vec::with_capacity(4);
        records.push(rec);
        self.open.push_back(Open {
            stamp,
            opened: now,
            records,
            dropped: 0,
        });
    }

    /// Flush events open longer than the timeout. Call this periodically
    /// when no records arrive.
    pub fn tick(&mut self, now: Instant) {
        self.expire(now);
    }

    /// Complete every open event (end of input).
    pub fn flush(&mut self) {
        while !self.open.is_empty() {
            self.close(0, EventEnd::Flushed);
        }
    }

    /// The next completed event, oldest completion first.
    pub fn pop(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    /// Iterate over (and remove) the completed events.
    pub fn drain(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.ready.drain(..)
    }

    fn expire(&mut self, now: Instant) {
        while let Some(first) = self.open.front() {
            if now.saturating_duration_since(first.opened) < self.config.timeout {
                break;
            }
            self.stats.timed_out += 1;
            self.close(0, EventEnd::Timeout);
        }
    }

    fn advance_record_time(&mut self, stamp: Stamp) {
        let ms = stamp.millis();
        if ms <= self.newest_millis {
            return;
        }
        self.newest_millis = ms;
        let window = u64::try_from(self.config.record_window.as_millis()).unwrap_or(u64::MAX);
        let mut i = 0;
        while i < self.open.len() {
            if self.open[i].stamp.millis().saturating_add(window) < ms {
                self.stats.superseded += 1;
                self.close(i, EventEnd::Superseded);
            } else {
                i += 1;
            }
        }
    }

    fn remember(&mut self, stamp: Stamp) {
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(stamp);
    }

    fn close(&mut self, i: usize, end: EventEnd) {
        if let Some(o) = self.open.remove(i) {
            self.emit(Event {
                stamp: o.stamp,
                records: o.records,
                end,
                dropped_records: o.dropped,
            });
        }
    }

    fn emit(&mut self, ev: Event) {
        self.stats.events += 1;
        self.ready.push_back(ev);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(line: &str) -> Record {
        Record::parse_line(line.as_bytes()).unwrap()
    }

    #[test]
    fn interleaved_and_eoe() {
        let t0 = Instant::now();
        let mut a = Assembler::default();
        a.push(rec("type=1300 audit(1.000:1): pid=1"), t0);
        a.push(rec("type=1300 audit(1.000:2): pid=2"), t0);
        a.push(rec("type=1318 audit(1.000:1): opid=10"), t0);
        a.push(rec("type=1320 audit(1.000:2): "), t0);
        let e = a.pop().unwrap();
        assert_eq!(e.stamp.serial, 2);
        assert_eq!(e.end, EventEnd::Eoe);
        assert_eq!(e.records.len(), 1);
        assert!(a.pop().is_none());
        a.push(rec("type=1327 audit(1.000:1): proctitle=\"x\""), t0);
        a.push(rec("type=1320 audit(1.000:1): "), t0);
        let e = a.pop().unwrap();
        assert_eq!(
            (e.stamp.serial, e.end, e.records.len()),
            (1, EventEnd::LastRecord, 3)
        );
        assert!(a.pop().is_none());
        assert_eq!(a.stats().stray_eoe, 0);
        assert_eq!(a.open_events(), 0);
    }

    #[test]
    fn single_timeout_eviction_window() {
        let t0 = Instant::now();
        let cfg = AssemblerConfig {
            max_open: 2,
            ..AssemblerConfig::default()
        };
        let mut a = Assembler::new(cfg);
        a.push(rec("type=DAEMON_START msg=audit(1.000:9): op=start"), t0);
        assert_eq!(a.pop().unwrap().end, EventEnd::Single);
        for s in 1..=3 {
            a.push(
                rec(&format!("type=SYSCALL msg=audit(1.000:{s}): pid=1")),
                t0,
            );
        }
        let e = a.pop().unwrap();
        assert_eq!((e.stamp.serial, e.end), (1, EventEnd::Evicted));
        assert_eq!(a.stats().evicted, 1);
        a.tick(t0 + Duration::from_secs(3));
        assert_eq!(a.pop().unwrap().end, EventEnd::Timeout);
        assert_eq!(a.pop().unwrap().end, EventEnd::Timeout);
        // Record time: an event 3 s later supersedes an open one.
        a.push(rec("type=SYSCALL msg=audit(10.000:20): pid=1"), t0);
        a.push(rec("type=SYSCALL msg=audit(13.000:21): pid=1"), t0);
        let e = a.pop().unwrap();
        assert_eq!((e.stamp.serial, e.end), (20, EventEnd::Superseded));
        a.flush();
        assert_eq!(a.pop().unwrap().end, EventEnd::Flushed);
        a.push(rec("type=EOE msg=audit(13.000:77): "), t0);
        assert_eq!(a.stats().stray_eoe, 1);
    }

    #[test]
    fn execve_split_args() {
        let t0 = Instant::now();
        let mut a = Assembler::default();
        a.push(rec("type=SYSCALL msg=audit(1.000:1): pid=1"), t0);
        a.push(
            rec("type=EXECVE msg=audit(1.000:1): argc=3 a0=\"sh\" a1_len=6 a1[0]=616263 a1[1]=\"def\""),
            t0,
        );
        a.push(rec("type=EXECVE msg=audit(1.000:1): a2=2D6320780A"), t0);
        a.push(rec("type=EOE msg=audit(1.000:1): "), t0);
        let argv = a.pop().unwrap().execve_argv().unwrap();
        assert!(argv.complete);
        assert_eq!(
            argv.args,
            vec![b"sh".to_vec(), b"abcdef".to_vec(), b"-c x\n".to_vec()]
        );
    }
}
