//! Grouping records into events.
//!
//! The kernel writes the records of one audited syscall one after another
//! with the same `audit(<sec>.<msec>:<serial>)` stamp, `PROCTITLE` last,
//! then an `EOE` (end of event) record. Records of events on other CPUs
//! can interleave. Records written outside a syscall (user-space messages,
//! daemon messages, anomalies) form events of one record and get no `EOE`.
//! auditd's log file holds no `EOE` records at all, and logs forwarded from
//! several hosts carry a `node=` name: an event is identified by
//! (node, stamp), never by the stamp alone (two hosts' serials collide).
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
//!    arrives (time in the records, so replaying a file gives the same
//!    events at any speed);
//! 5. an event boundary is announced ([`Assembler::boundary`]: the `----`
//!    lines between events in `ausearch` output). `ausearch` prints an
//!    event's records in reverse order (`PROCTITLE` first, `SYSCALL`
//!    last), so once a boundary has been seen, `PROCTITLE` no longer
//!    completes an event: the boundaries do;
//! 6. it has been open longer than [`AssemblerConfig::timeout`] of the
//!    caller's clock (a live source whose `EOE` was lost) — only for
//!    [`Assembler::push`]; [`Assembler::push_record`] never looks at a
//!    clock, so a file or a slow pipe gives the same events whatever the
//!    pace at which its lines arrive ([`Assembler::time_out_open`] lets
//!    such a live input complete its last events once it has been quiet);
//! 7. too many events are open ([`AssemblerConfig::max_open`]): the oldest
//!    is flushed and counted;
//! 8. the caller calls [`Assembler::flush`] (end of a file).
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
    /// Maximum `OBJ_PID` records kept per event (a `kill(-1, ...)`
    /// produces one per process); further ones are dropped and counted in
    /// [`Event::dropped_records`]. Other records are counted apart, at most
    /// [`OTHER_RECORDS_PER_EVENT`] per event, so that a full event keeps
    /// its `SYSCALL` and `PROCTITLE`. Default 65 536.
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
    /// Closed by [`Assembler::boundary`].
    Boundary,
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
    /// The `node=` name of the host that wrote the event (auditd's
    /// `name_format`), `None` when the records carry none.
    pub fn node(&self) -> Option<&[u8]> {
        self.records.first().and_then(Record::node)
    }

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
    /// `node=` of the event's records (part of the event's identity).
    node: Option<Box<[u8]>>,
    opened: Option<Instant>,
    records: Vec<Record>,
    /// Of `records`, the `OBJ_PID` ones.
    targets: usize,
    dropped: usize,
}

impl Open {
    fn is(&self, stamp: Stamp, node: Option<&[u8]>) -> bool {
        self.stamp == stamp && self.node.as_deref() == node
    }
}

/// Groups records into events. See the module documentation.
#[derive(Debug)]
pub struct Assembler {
    config: AssemblerConfig,
    /// Open events in the order they were opened (so the timed-out ones
    /// are a prefix).
    open: VecDeque<Open>,
    ready: VecDeque<Event>,
    /// Stamps (and nodes) of events recently completed by their last
    /// record, to swallow the `EOE` that follows on netlink.
    recent: VecDeque<(Stamp, Option<Box<[u8]>>)>,
    /// The newest record time per node (`None`: records without `node=`):
    /// hosts' clocks differ, so one host's log moving on does not close
    /// another's events. At most [`MAX_NODES`]; records of further nodes
    /// go by the newest time of all ([`Assembler::newest_millis`]).
    newest_by_node: std::collections::HashMap<Box<[u8]>, u64>,
    /// The newest record time of records without `node=`.
    newest_unnamed: u64,
    newest_millis: u64,
    /// Boundaries delimit events (see [`Assembler::boundary`]).
    framed: bool,
    stats: AssemblerStats,
}

const RECENT: usize = 64;

/// Nodes whose record time is kept apart (a merged log of a fleet).
const MAX_NODES: usize = 1024;

/// Records other than `OBJ_PID` an event keeps at most (further ones are
/// dropped and counted): a syscall event has a `SYSCALL`, a `PROCTITLE`,
/// a few `PATH`s, and `EXECVE` pieces of at most about 7.5 KB each; an
/// argv of hundreds of megabytes (or a forged log) would otherwise hold
/// them all in memory. 1 024 pieces keep over 7 MB of arguments.
pub const OTHER_RECORDS_PER_EVENT: usize = 1024;

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
            newest_by_node: std::collections::HashMap::new(),
            newest_unnamed: 0,
            newest_millis: 0,
            framed: false,
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
    /// available from [`Assembler::pop`]. Events open longer than
    /// [`AssemblerConfig::timeout`] of this clock are completed first.
    pub fn push(&mut self, rec: Record, now: Instant) {
        self.expire(now);
        self.push_at(rec, Some(now));
    }

    /// Feed one record without a clock: events complete only by their
    /// records (`EOE`, last record, record time, boundaries, limits) and by
    /// [`Assembler::flush`], so the result does not depend on how fast the
    /// records arrive. For files, pipes and followed logs.
    pub fn push_record(&mut self, rec: Record) {
        self.push_at(rec, None);
    }

    fn push_at(&mut self, rec: Record, now: Option<Instant>) {
        self.stats.records += 1;
        let stamp = rec.stamp();
        let rtype = rec.record_type();
        self.advance_record_time(stamp, rec.node());

        if let Some(i) = self.open.iter().rposition(|o| o.is(stamp, rec.node())) {
            if rtype == RecordType::EOE {
                self.close(i, EventEnd::Eoe);
                return;
            }
            // `OBJ_PID` records (one per process a `kill(-1)` reached) and
            // the others are limited apart: an event full of targets still
            // takes its `PROCTITLE` and a `SYSCALL` that came late, so that
            // only targets are lost, and counted as such.
            let is_target = rtype == RecordType::OBJ_PID;
            let closes = rtype == RecordType::PROCTITLE && !self.framed;
            let max_targets = self.config.max_records_per_event;
            let o = &mut self.open[i];
            let room = if is_target {
                o.targets < max_targets
            } else {
                o.records.len() - o.targets < OTHER_RECORDS_PER_EVENT
            };
            if room {
                o.targets += usize::from(is_target);
                o.records.push(rec);
            } else {
                o.dropped += 1;
                self.stats.dropped_records += 1;
            }
            if closes {
                // The event's node moves to `recent` (no copy).
                let node = self.open[i].node.take();
                self.remember(stamp, node);
                self.close(i, EventEnd::LastRecord);
            }
            return;
        }

        if rtype == RecordType::EOE {
            let node = rec.node();
            if let Some(p) = self
                .recent
                .iter()
                // Newest first: the EOE follows its event's last record.
                .rposition(|(s, n)| *s == stamp && n.as_deref() == node)
            {
                self.recent.remove(p);
            } else {
                self.stats.stray_eoe += 1;
            }
            return;
        }
        let lone_last = rtype == RecordType::PROCTITLE && !self.framed;
        if rtype.is_single_record_event() || lone_last {
            let end = if lone_last {
                self.remember(stamp, rec.node().map(Box::from));
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
        let node = rec.node().map(Box::from);
        let targets = usize::from(rtype == RecordType::OBJ_PID);
        let mut records = Vec::with_capacity(4);
        records.push(rec);
        self.open.push_back(Open {
            stamp,
            node,
            opened: now,
            records,
            targets,
            dropped: 0,
        });
    }

    /// Complete every open event: the input says an event ends here (the
    /// `----` separator of `ausearch` output). From now on the input is
    /// taken as framed: `PROCTITLE` no longer completes an event (ausearch
    /// prints it first).
    pub fn boundary(&mut self) {
        self.framed = true;
        while !self.open.is_empty() {
            self.close(0, EventEnd::Boundary);
        }
    }

    /// Flush events open longer than the timeout. Call this periodically
    /// when no records arrive.
    pub fn tick(&mut self, now: Instant) {
        self.expire(now);
    }

    /// Complete every open event as timed out ([`EventEnd::Timeout`],
    /// counted in [`AssemblerStats::timed_out`]) without ending the input:
    /// a live input assembled by record time that has been quiet for long
    /// enough.
    pub fn time_out_open(&mut self) {
        while !self.open.is_empty() {
            self.stats.timed_out += 1;
            self.close(0, EventEnd::Timeout);
        }
    }

    /// Complete the open events of one host (`node=`; `None`: records
    /// without it) as timed out, like [`Assembler::time_out_open`]: a
    /// live log of several hosts where this one has gone quiet while the
    /// others keep writing.
    pub fn time_out_open_of(&mut self, node: Option<&[u8]>) {
        let mut i = 0;
        while i < self.open.len() {
            if self.open[i].node.as_deref() == node {
                self.stats.timed_out += 1;
                self.close(i, EventEnd::Timeout);
            } else {
                i += 1;
            }
        }
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
        // Events opened by `push_record` carry no time and never expire;
        // the queue is in opening order, so the first timed one decides.
        let mut i = 0;
        while i < self.open.len() {
            match self.open[i].opened {
                None => i += 1,
                Some(t) if now.saturating_duration_since(t) >= self.config.timeout => {
                    self.stats.timed_out += 1;
                    self.close(i, EventEnd::Timeout);
                }
                Some(_) => break,
            }
        }
    }

    fn advance_record_time(&mut self, stamp: Stamp, node: Option<&[u8]>) {
        let ms = stamp.millis();
        let window = u64::try_from(self.config.record_window.as_millis()).unwrap_or(u64::MAX);
        // Per node while nodes are few; beyond that, one time for all.
        let per_node = match node {
            None => true,
            Some(n) => self.newest_by_node.contains_key(n) || self.newest_by_node.len() < MAX_NODES,
        };
        if let Some(n) = node.filter(|n| per_node && !self.newest_by_node.contains_key(*n)) {
            self.newest_by_node.insert(Box::from(n), 0);
        }
        let newest = match node {
            None => &mut self.newest_unnamed,
            Some(n) => match self.newest_by_node.get_mut(n) {
                Some(t) => t,
                None => &mut self.newest_millis,
            },
        };
        if ms <= *newest {
            return;
        }
        *newest = ms;
        self.newest_millis = self.newest_millis.max(ms);
        let mut i = 0;
        while i < self.open.len() {
            let o = &self.open[i];
            // An event of another node that has its own time is closed by
            // that node's records, not by these.
            let other_clock = per_node
                && o.node.as_deref() != node
                && o.node
                    .as_deref()
                    .is_none_or(|n| self.newest_by_node.contains_key(n));
            if !other_clock && o.stamp.millis().saturating_add(window) < ms {
                self.stats.superseded += 1;
                self.close(i, EventEnd::Superseded);
            } else {
                i += 1;
            }
        }
    }

    fn remember(&mut self, stamp: Stamp, node: Option<Box<[u8]>>) {
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((stamp, node));
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
    fn same_stamp_on_two_nodes_is_two_events() {
        let mut a = Assembler::default();
        a.push_record(rec("node=a type=SYSCALL msg=audit(1.000:7): pid=1"));
        a.push_record(rec("node=b type=SYSCALL msg=audit(1.000:7): pid=2"));
        a.push_record(rec("node=a type=OBJ_PID msg=audit(1.000:7): opid=10"));
        a.push_record(rec("node=b type=OBJ_PID msg=audit(1.000:7): opid=20"));
        a.push_record(rec(
            "node=b type=PROCTITLE msg=audit(1.000:7): proctitle=\"b\"",
        ));
        a.push_record(rec(
            "node=a type=PROCTITLE msg=audit(1.000:7): proctitle=\"a\"",
        ));
        let b = a.pop().unwrap();
        let x = a.pop().unwrap();
        assert_eq!(b.node(), Some(&b"b"[..]));
        assert_eq!(x.node(), Some(&b"a"[..]));
        for e in [&b, &x] {
            assert_eq!(e.records.len(), 3);
            assert!(e.records.iter().all(|r| r.node() == e.node()));
        }
        assert!(a.pop().is_none());
    }

    #[test]
    fn ausearch_reverse_order_keeps_the_proctitle() {
        let mut a = Assembler::default();
        // ausearch output starts with `----`.
        a.boundary();
        a.push_record(rec("type=PROCTITLE msg=audit(1.000:5): proctitle=\"bash\""));
        a.push_record(rec("type=OBJ_PID msg=audit(1.000:5): opid=10"));
        a.push_record(rec("type=SYSCALL msg=audit(1.000:5): pid=1"));
        assert!(a.pop().is_none());
        a.boundary();
        let e = a.pop().unwrap();
        assert_eq!((e.records.len(), e.end), (3, EventEnd::Boundary));
        a.push_record(rec("type=OBJ_PID msg=audit(1.000:6): opid=10"));
        a.push_record(rec("type=SYSCALL msg=audit(1.000:6): pid=1"));
        assert!(a.pop().is_none());
        a.boundary();
        let e = a.pop().unwrap();
        assert_eq!((e.records.len(), e.end), (2, EventEnd::Boundary));
    }

    #[test]
    fn untimed_assembly_ignores_pauses() {
        // Records of one event with a (wall-clock) pause between them and
        // another event interleaved one second later in record time.
        let lines = [
            "type=SYSCALL msg=audit(10.000:1): pid=1",
            "type=SYSCALL msg=audit(11.000:2): pid=2",
            "type=OBJ_PID msg=audit(10.000:1): opid=10",
            "type=PROCTITLE msg=audit(10.000:1): proctitle=\"x\"",
            "type=PROCTITLE msg=audit(11.000:2): proctitle=\"y\"",
        ];
        let mut a = Assembler::default();
        for l in lines {
            a.push_record(rec(l));
        }
        let e: Vec<_> = a
            .drain()
            .map(|e| (e.stamp.serial, e.records.len()))
            .collect();
        assert_eq!(e, vec![(1, 3), (2, 2)]);
        // `push` with a clock 3 s later between the records splits it.
        let t0 = Instant::now();
        let mut a = Assembler::default();
        a.push(rec(lines[0]), t0);
        a.push(rec(lines[2]), t0 + Duration::from_secs(3));
        assert_eq!(a.pop().unwrap().end, EventEnd::Timeout);
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
