//! Kill sources: one audit record source, the assembler and the kill
//! decoder in one object that hands out finished [`KillEvent`]s and says
//! what it lost.
//!
//! Every shape shares one pipeline, [`KillDecoder`]: record →
//! [`Assembler`] → [`KillEvent::from_event`], every skip counted in
//! [`KillCounters`].
//!
//! - [`KillSource`] — a live source for an event loop: the multicast
//!   group, the unicast audit pid, an auditd log followed across
//!   rotation, or a line stream such as standard input (an auditd plugin
//!   with `format = string`). It is [`AsFd`] and never blocks:
//!   [`KillSource::poll_kills`] takes what is there now, bounded per call
//!   so a flood cannot starve the caller's other sources.
//! - [`KillReader`] — a finite input (an auditd log file, a buffer): an
//!   iterator of kill events, or of every assembled event with its
//!   decoded kill ([`KillReader::next_event`]) for callers that learn
//!   from the other records too. Assembly depends only on the records,
//!   never on how fast they are read.
//! - [`KillDecoder`] — the pipeline itself, for callers that bring their
//!   own records (another log format, a journal, a test).
//!
//! # Time
//!
//! The assembler completes an event whose `EOE` never came once it has
//! been open for [`AssemblerConfig::timeout`] of the *caller's* clock: a
//! live source takes `now` in every [`KillSource::poll_kills`] call and
//! should be polled at least every [`KillSource::tick_interval`] while
//! that says so. A [`KillReader`] uses no clock at all: events complete
//! by their records (`EOE`, `PROCTITLE`, the record-time window) or at
//! the end of input. A followed auditd log ([`KillSource::follow_log`])
//! assembles like a [`KillReader`], by its records, because the pace at
//! which auditd gets lines into the file says nothing about where an
//! event ends; as a live log has no end of input, the events still open
//! when no record has come for [`SourceConfig::log_idle`] are completed
//! then (counted as timed out).
//!
//! ```no_run
//! use std::time::Instant;
//! use auditsig::source::{KillSource, PollState, SourceConfig};
//!
//! let mut source = KillSource::open_auto(&SourceConfig::default())?;
//! let mut kills = Vec::new();
//! loop {
//!     // Wait for `source.as_fd()` with poll(2), at most
//!     // `source.tick_interval()`, then:
//!     let state = source.poll_kills(Instant::now(), &mut kills)?;
//!     for k in kills.drain(..) {
//!         println!("pid {} sent signal {} ({})", k.sender.pid, k.signal, k.syscall);
//!     }
//!     if state == PollState::Ended {
//!         break;
//!     }
//! }
//! println!("{:?}", source.counters());
//! # Ok::<(), auditsig::Error>(())
//! ```

use std::fmt;
use std::io::{self, BufRead, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use crate::assemble::{Assembler, AssemblerConfig, AssemblerStats, Event};
use crate::client::AuditClient;
use crate::error::{Error, Result};
use crate::kill::{KillEvent, KillStats};
use crate::logfile::{FollowLog, LineReader, SourceStats, StartAt, MAX_LINE};
use crate::reader::{MulticastReader, ReaderStats, UnicastReader, DEFAULT_RCVBUF};
use crate::record::Record;

/// Where auditd writes its log by default (`log_file` in `auditd.conf`).
pub const DEFAULT_AUDIT_LOG: &str = "/var/log/audit/audit.log";

/// How a [`KillSource`] is set up. `Default` plus builder methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceConfig {
    /// Receive buffer asked for on netlink sockets (bytes; the kernel
    /// doubles it). Default [`DEFAULT_RCVBUF`].
    pub rcvbuf: usize,
    /// Records taken from a socket per [`KillSource::poll_kills`] call at
    /// most. Default 4096.
    pub max_records_per_poll: usize,
    /// Bytes read from a line stream per call at most. Default 1 MiB.
    pub max_bytes_per_poll: usize,
    /// The auditd log [`KillSource::open_auto`] falls back to. Default
    /// [`DEFAULT_AUDIT_LOG`].
    pub log_path: PathBuf,
    /// Where a followed log starts. Default [`StartAt::End`].
    pub log_start: StartAt,
    /// How often a followed log is looked at (its fd is a timer of this
    /// period). Default 250 ms.
    pub log_interval: Duration,
    /// A followed log assembles by record time, like a replay (see the
    /// [module documentation](self)); when no record has arrived for this
    /// long, the events still open are completed all the same (a live log
    /// has no end of input to complete them). Default 5 s.
    pub log_idle: Duration,
    /// The assembler's limits.
    pub assembler: AssemblerConfig,
    /// Which hosts' events a log or a stream may bring. Default
    /// [`NodeFilter::Any`].
    pub nodes: NodeFilter,
}

/// Which hosts' events a source yields, by their records' `node=` (the
/// name auditd writes with `name_format`; the kernel's netlink records
/// never carry one). A log collected from several hosts (auditd's remote
/// logging) holds pids of every host: a live watcher must take only its
/// own host's, or it would join another host's kill with a local process
/// that has the same pid.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NodeFilter {
    /// Every event (a replay of a fleet's log reports each host's).
    #[default]
    Any,
    /// Events without `node=` and those whose `node=` is one of these
    /// names; the others are skipped and counted
    /// ([`KillCounters::other_node_events`]).
    Only(Vec<Vec<u8>>),
}

impl NodeFilter {
    /// Whether an event of `node` passes.
    pub fn accepts(&self, node: Option<&[u8]>) -> bool {
        match (self, node) {
            (NodeFilter::Any, _) | (_, None) => true,
            (NodeFilter::Only(names), Some(n)) => names.iter().any(|m| m.as_slice() == n),
        }
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            rcvbuf: DEFAULT_RCVBUF,
            max_records_per_poll: 4096,
            max_bytes_per_poll: 1 << 20,
            log_path: PathBuf::from(DEFAULT_AUDIT_LOG),
            log_start: StartAt::End,
            log_interval: Duration::from_millis(250),
            log_idle: Duration::from_secs(5),
            assembler: AssemblerConfig::default(),
            nodes: NodeFilter::Any,
        }
    }
}

impl SourceConfig {
    /// Sets [`SourceConfig::rcvbuf`].
    pub fn rcvbuf(mut self, bytes: usize) -> Self {
        self.rcvbuf = bytes;
        self
    }

    /// Sets [`SourceConfig::max_records_per_poll`] (at least 1).
    pub fn max_records_per_poll(mut self, n: usize) -> Self {
        self.max_records_per_poll = n.max(1);
        self
    }

    /// Sets [`SourceConfig::max_bytes_per_poll`] (at least 4 KiB).
    pub fn max_bytes_per_poll(mut self, n: usize) -> Self {
        self.max_bytes_per_poll = n.max(4096);
        self
    }

    /// Sets [`SourceConfig::log_path`].
    pub fn log_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_path = path.into();
        self
    }

    /// Sets [`SourceConfig::log_start`].
    pub fn log_start(mut self, start: StartAt) -> Self {
        self.log_start = start;
        self
    }

    /// Sets [`SourceConfig::log_interval`] (at least 1 ms).
    pub fn log_interval(mut self, every: Duration) -> Self {
        self.log_interval = every.max(Duration::from_millis(1));
        self
    }

    /// Sets [`SourceConfig::log_idle`] (at least 1 ms).
    pub fn log_idle(mut self, after: Duration) -> Self {
        self.log_idle = after.max(Duration::from_millis(1));
        self
    }

    /// Sets [`SourceConfig::assembler`].
    pub fn assembler(mut self, config: AssemblerConfig) -> Self {
        self.assembler = config;
        self
    }

    /// Sets [`SourceConfig::nodes`].
    pub fn nodes(mut self, filter: NodeFilter) -> Self {
        self.nodes = filter;
        self
    }
}

/// What a kill source read, what it yielded and what it could not use.
/// Every record or event that could carry a kill and was not turned into
/// a [`KillEvent`] is counted in one of these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct KillCounters {
    /// Audit records read and assembled.
    pub records: u64,
    /// Lines, netlink messages or datagrams that are not audit records
    /// (skipped).
    pub unparsable: u64,
    /// Lines longer than [`MAX_LINE`] (skipped).
    pub oversized: u64,
    /// Times the netlink socket's receive buffer overflowed (`recv`
    /// failed with `ENOBUFS`): the kernel dropped records for this
    /// socket, how many is unknown.
    pub overflows: u64,
    /// Events assembled (kill or not).
    pub events: u64,
    /// Kill events yielded.
    pub kills: u64,
    /// Kill-family events whose records lacked required fields
    /// ([`crate::kill::KillEventError`]): kills nobody will see.
    pub undecodable_kills: u64,
    /// The assembler's counters (events completed by a timeout or
    /// evicted, `OBJ_PID` records dropped from huge events, ...).
    pub assembler: AssemblerStats,
    /// The input ended (a stream or a finite reader); nothing more will
    /// come.
    pub end_of_input: bool,
    /// Events of other hosts skipped by the source's [`NodeFilter`]
    /// (the hosts' names: [`KillDecoder::nodes_seen`]).
    pub other_node_events: u64,
}

impl KillCounters {
    /// Records and events known to be lost here: unparsable and oversized
    /// input plus undecodable kills (socket overflows are counted apart,
    /// in [`KillCounters::overflows`]: their size is unknown).
    pub fn lost(&self) -> u64 {
        self.unparsable + self.oversized + self.undecodable_kills
    }
}

/// One assembled event and, if it is a kill-family syscall that decoded,
/// its [`KillEvent`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecodedEvent {
    /// The records of the event.
    pub event: Event,
    /// The kill it records, if any.
    pub kill: Option<KillEvent>,
}

/// Records → events → kill events, with the counters: the pipeline every
/// source here is built on, for callers that bring their own records
/// (another log format, a test).
///
/// Time: [`push`](Self::push) uses no clock (events complete by their
/// records, the record-time window, or [`finish`](Self::finish)); a live
/// caller uses [`push_at`](Self::push_at) and [`tick`](Self::tick) with
/// its own clock instead, so that an event whose `EOE` was lost
/// completes after [`AssemblerConfig::timeout`]. Use one or the other.
///
/// ```
/// use auditsig::{source::KillDecoder, AssemblerConfig, Record};
/// let mut d = KillDecoder::new(AssemblerConfig::default());
/// for (t, body) in [
///     (1300, &b"audit(1795667968.504:23): arch=c000003e syscall=62 success=yes exit=0 a0=50e a1=9 a2=0 a3=0 items=0 ppid=1 pid=1298 auid=4294967295 uid=65534 gid=65534 euid=65534 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"swtest\""[..]),
///     (1318, b"audit(1795667968.504:23): opid=1294 oauid=-1 ouid=65534 oses=-1 ocomm=\"pa-daemon\""),
///     (1320, b"audit(1795667968.504:23): "),
/// ] {
///     match Record::from_netlink(t, body) {
///         Ok(r) => d.push(r),
///         Err(_) => d.note_unparsable(1),
///     }
/// }
/// let mut kills = Vec::new();
/// d.drain_kills(&mut kills);
/// assert_eq!((kills[0].sender.pid, kills[0].targets[0].pid), (1298, 1294));
/// # Ok::<(), auditsig::Error>(())
/// ```
#[derive(Debug)]
pub struct KillDecoder {
    asm: Assembler,
    kill_stats: KillStats,
    counters: KillCounters,
    /// The clock of [`push`](Self::push), held still.
    epoch: Instant,
    nodes: NodeFilter,
    /// The first [`MAX_NODES_SEEN`] distinct `node=` names of the events.
    nodes_seen: Vec<Box<[u8]>>,
}

/// How many distinct host names a [`KillDecoder`] remembers.
pub const MAX_NODES_SEEN: usize = 8;

impl KillDecoder {
    /// A decoder with the assembler's limits.
    pub fn new(config: AssemblerConfig) -> KillDecoder {
        KillDecoder {
            asm: Assembler::new(config),
            kill_stats: KillStats::default(),
            counters: KillCounters::default(),
            epoch: Instant::now(),
            nodes: NodeFilter::Any,
            nodes_seen: Vec::new(),
        }
    }

    /// Yields only the events `filter` accepts (default: every event).
    #[must_use]
    pub fn with_nodes(mut self, filter: NodeFilter) -> KillDecoder {
        self.nodes = filter;
        self
    }

    /// The distinct `node=` names of the events so far (accepted or
    /// not), the first [`MAX_NODES_SEEN`] of them: more than one means a
    /// log of several hosts.
    pub fn nodes_seen(&self) -> &[Box<[u8]>] {
        &self.nodes_seen
    }

    /// The filter of [`KillDecoder::with_nodes`].
    pub fn node_filter(&self) -> &NodeFilter {
        &self.nodes
    }

    /// The next completed event the node filter accepts; the others are
    /// counted. Every event's host is remembered.
    fn pop_accepted(&mut self) -> Option<Event> {
        loop {
            let event = self.asm.pop()?;
            let node = event.node();
            if let Some(n) = node {
                if self.nodes_seen.len() < MAX_NODES_SEEN
                    && !self.nodes_seen.iter().any(|o| **o == *n)
                {
                    self.nodes_seen.push(Box::from(n));
                }
            }
            if self.nodes.accepts(node) {
                return Some(event);
            }
            self.counters.other_node_events += 1;
        }
    }

    /// Feeds one record; no clock (see the type's documentation).
    pub fn push(&mut self, rec: Record) {
        let epoch = self.epoch;
        self.push_at(rec, epoch);
    }

    /// Feeds one record received at the caller's time `now`.
    pub fn push_at(&mut self, rec: Record, now: Instant) {
        self.counters.records += 1;
        self.asm.push(rec, now);
    }

    /// Completes events open longer than the assembler's timeout at the
    /// caller's time `now`.
    pub fn tick(&mut self, now: Instant) {
        self.asm.tick(now);
    }

    /// Completes every open event as timed out (counted in the
    /// assembler's `timed_out`), without ending the input: for a live
    /// input fed by [`push_record`](Self::push_record) that has been
    /// quiet for long enough (see [`SourceConfig::log_idle`]).
    pub fn time_out_open(&mut self) {
        self.asm.time_out_open();
    }

    /// Completes the open events of one host as timed out
    /// ([`Assembler::time_out_open_of`]).
    pub fn time_out_open_of(&mut self, node: Option<&[u8]>) {
        self.asm.time_out_open_of(node);
    }

    /// Feeds one record of a log read after the fact: events complete by
    /// their own records and record times, never by the reader's clock
    /// ([`Assembler::push_record`]), so a file gives the same events at
    /// any reading speed.
    pub fn push_record(&mut self, rec: Record) {
        self.counters.records += 1;
        self.asm.push_record(rec);
    }

    /// An event boundary in the input (ausearch's `----`): see
    /// [`Assembler::boundary`].
    pub fn boundary(&mut self) {
        self.asm.boundary();
    }

    /// End of input: completes every open event and marks the counters
    /// ([`KillCounters::end_of_input`]).
    pub fn finish(&mut self) {
        self.asm.flush();
        self.counters.end_of_input = true;
    }

    /// Counts input the caller could not turn into records.
    pub fn note_unparsable(&mut self, n: u64) {
        self.counters.unparsable += n;
    }

    /// Events still being assembled.
    pub fn open_events(&self) -> usize {
        self.asm.open_events()
    }

    /// The assembler's limits.
    pub fn config(&self) -> &AssemblerConfig {
        self.asm.config()
    }

    fn push_netlink(&mut self, msg_type: u16, body: Vec<u8>, now: Instant) {
        match Record::from_netlink_owned(msg_type, body) {
            Ok(r) => self.push_at(r, now),
            Err(e) => {
                self.counters.unparsable += 1;
                log::debug!("skipping unparsable audit record of type {msg_type}: {e}");
            }
        }
    }

    /// Takes the parse counters of a text source.
    fn note_lines(&mut self, stats: &SourceStats) {
        self.counters.unparsable = stats.parse_errors;
        self.counters.oversized = stats.oversized;
    }

    /// The next completed event, not decoded: for callers that choose
    /// which events to decode ([`KillDecoder::decode`]), e.g. a replay
    /// that looks at every event but decodes only kill-family syscalls.
    pub fn next_raw_event(&mut self) -> Option<Event> {
        let event = self.pop_accepted()?;
        self.kill_stats.events += 1;
        Some(event)
    }

    /// Decodes an event taken with [`KillDecoder::next_raw_event`],
    /// counting kills and undecodable kill events like
    /// [`KillDecoder::next_event`] does.
    pub fn decode(&mut self, event: &Event) -> Option<KillEvent> {
        match KillEvent::from_event(event) {
            Ok(Some(k)) => {
                self.kill_stats.kill_events += 1;
                Some(k)
            }
            Ok(None) => None,
            Err(e) => {
                self.kill_stats.malformed += 1;
                log::debug!("malformed kill event {}: {e}", event.stamp);
                None
            }
        }
    }

    /// The next completed event (kill or not), with its decoded kill.
    pub fn next_event(&mut self) -> Option<DecodedEvent> {
        let event = self.pop_accepted()?;
        let kill = self.kill_stats.convert(&event);
        Some(DecodedEvent { event, kill })
    }

    /// Appends the kill events among the completed events to `out`
    /// (the other events are dropped).
    pub fn drain_kills(&mut self, out: &mut Vec<KillEvent>) {
        while let Some(d) = self.next_event() {
            out.extend(d.kill);
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> KillCounters {
        KillCounters {
            events: self.kill_stats.events,
            kills: self.kill_stats.kill_events,
            undecodable_kills: self.kill_stats.malformed,
            assembler: self.asm.stats(),
            ..self.counters
        }
    }
}

/// What [`KillSource::poll_kills`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollState {
    /// Everything waiting was taken; wait for the fd (or the tick).
    Idle,
    /// The per-call budget ran out with more waiting: call again soon
    /// (after serving the other sources).
    Busy,
    /// The input ended (a stream closed); every event was flushed. The
    /// fd stays readable (end of file): stop polling it.
    Ended,
}

/// Which record source a [`KillSource`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum SourceKind {
    /// The `AUDIT_NLGRP_READLOG` multicast group.
    Multicast,
    /// The unicast audit pid (this process registered itself).
    Unicast,
    /// An auditd log file, followed.
    FollowLog,
    /// A line stream (standard input, a pipe, a socket).
    Stream,
}

impl SourceKind {
    /// A short description for messages.
    pub fn describe(self) -> &'static str {
        match self {
            SourceKind::Multicast => "audit multicast (AUDIT_NLGRP_READLOG)",
            SourceKind::Unicast => "audit unicast (this process is the audit pid)",
            SourceKind::FollowLog => "auditd log file",
            SourceKind::Stream => "audit record stream",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why [`KillSource::open_auto`] found no source: each attempt's error,
/// in the order tried.
#[derive(Debug)]
#[non_exhaustive]
pub struct AutoFailure {
    /// Joining the multicast group (e.g. [`Error::Unsupported`] before
    /// 3.16, an `EPERM` I/O error without `CAP_AUDIT_READ`).
    pub multicast: Error,
    /// Becoming the audit pid (e.g. [`Error::AuditPidHeld`] when auditd
    /// runs, `EPERM` without `CAP_AUDIT_CONTROL`).
    pub unicast: Error,
    /// Following auditd's log ([`Error::NoLogWriter`] when no audit daemon
    /// is registered, an I/O error when the file cannot be opened).
    pub log: Error,
}

impl fmt::Display for AutoFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "multicast: {}; unicast: {}; auditd log: {}",
            self.multicast, self.unicast, self.log
        )
    }
}

/// Anything a line stream can be read from without blocking.
trait StreamFd: Read + AsFd + Send {}
impl<T: Read + AsFd + Send> StreamFd for T {}

/// A non-blocking line reader over a stream: `O_NONBLOCK` is set while
/// it lives and the fd's flags are restored on drop (the file description
/// may be shared, e.g. with a shell's terminal).
struct LineStream {
    reader: Box<dyn StreamFd>,
    splitter: LineSplitter,
    chunk: Vec<u8>,
    orig_flags: Option<OFlag>,
    eof: bool,
}

impl fmt::Debug for LineStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineStream")
            .field("fd", &self.reader.as_fd())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl LineStream {
    fn new(reader: Box<dyn StreamFd>) -> Result<LineStream> {
        let fd = reader.as_fd();
        let raw =
            fcntl(fd, FcntlArg::F_GETFL).map_err(|e| Error::io("fcntl(F_GETFL)", e.into()))?;
        let flags = OFlag::from_bits_retain(raw);
        let orig_flags = if flags.contains(OFlag::O_NONBLOCK) {
            None
        } else {
            fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))
                .map_err(|e| Error::io("fcntl(F_SETFL O_NONBLOCK)", e.into()))?;
            Some(flags)
        };
        Ok(LineStream {
            reader,
            splitter: LineSplitter::default(),
            chunk: vec![0; 64 * 1024],
            orig_flags,
            eof: false,
        })
    }

    /// Reads up to `budget` bytes that are there now; complete lines go
    /// to `out`. Returns whether the budget ran out with more waiting.
    fn read_available(&mut self, budget: usize, out: &mut Vec<Record>) -> Result<bool> {
        let mut left = budget;
        while left > 0 && !self.eof {
            let want = left.min(self.chunk.len());
            match self.reader.read(&mut self.chunk[..want]) {
                Ok(0) => {
                    self.eof = true;
                    self.splitter.finish(out);
                }
                Ok(n) => {
                    left -= n;
                    self.splitter.feed(&self.chunk[..n], out);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(Error::io("read audit stream", e)),
            }
        }
        Ok(left == 0 && !self.eof)
    }
}

impl Drop for LineStream {
    fn drop(&mut self) {
        if let Some(flags) = self.orig_flags {
            if let Err(e) = fcntl(self.reader.as_fd(), FcntlArg::F_SETFL(flags)) {
                log::warn!("could not restore the audit stream's file flags: {e}");
            }
        }
    }
}

/// Splits a byte stream into lines and parses them as records (a pure
/// state machine). A line longer than [`MAX_LINE`] is skipped up to its
/// newline and counted, so a stream without newlines cannot grow the
/// buffer without bound.
#[derive(Debug, Default)]
struct LineSplitter {
    partial: Vec<u8>,
    /// The current line is over-long: drop bytes up to its newline.
    skipping: bool,
    stats: SourceStats,
}

impl LineSplitter {
    fn feed(&mut self, mut data: &[u8], out: &mut Vec<Record>) {
        while let Some(nl) = data.iter().position(|&c| c == b'\n') {
            let piece = &data[..nl];
            data = &data[nl + 1..];
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            if self.partial.is_empty() {
                self.line(piece, out);
            } else if self.partial.len() + piece.len() > MAX_LINE {
                self.partial.clear();
                self.oversized();
            } else {
                self.partial.extend_from_slice(piece);
                let line = std::mem::take(&mut self.partial);
                self.line(&line, out);
            }
        }
        if self.skipping {
            return;
        }
        if self.partial.len() + data.len() > MAX_LINE {
            self.partial.clear();
            self.skipping = true;
            self.oversized();
        } else {
            self.partial.extend_from_slice(data);
        }
    }

    /// End of input: a last line without a newline still counts.
    fn finish(&mut self, out: &mut Vec<Record>) {
        if !self.skipping && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, out);
        }
        self.partial.clear();
        self.skipping = false;
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Record>) {
        out.extend(self.stats.parse_line(line));
    }

    fn oversized(&mut self) {
        self.stats.lines += 1;
        self.stats.oversized += 1;
        log::debug!("skipping an audit line longer than {MAX_LINE} bytes");
    }
}

/// The live record source behind a [`KillSource`].
#[derive(Debug)]
enum Live {
    Multicast(MulticastReader),
    Unicast(UnicastReader),
    Follow { log: FollowLog, timer: TimerFd },
    Stream(LineStream),
}

/// A live kill source. See the [module documentation](self).
///
/// Dropping it releases the audit pid (unicast) and restores a stream's
/// file flags; [`KillSource::finish`] does the same and hands out the
/// events still being assembled.
#[derive(Debug)]
pub struct KillSource {
    live: Live,
    pipeline: KillDecoder,
    config: SourceConfig,
    records: Vec<Record>,
    reader_seen: ReaderStats,
    ended: bool,
    /// When a followed log last gave a record (the caller's clock).
    last_record: Option<Instant>,
    /// When a followed log last gave a record of each host (`node=`; the
    /// empty name: records without it), for at most [`MAX_QUIET_NODES`]
    /// hosts: in a log of several hosts, one host's last event is
    /// completed once that host has been quiet for `log_idle`, though
    /// others still write.
    last_record_of: std::collections::HashMap<Box<[u8]>, Instant>,
}

/// How many hosts of a followed log get their own quiet time (the others
/// wait for the whole log to be quiet).
const MAX_QUIET_NODES: usize = 1024;

impl KillSource {
    fn new(live: Live, config: &SourceConfig) -> KillSource {
        KillSource {
            live,
            pipeline: KillDecoder::new(config.assembler).with_nodes(config.nodes.clone()),
            config: config.clone(),
            records: Vec::new(),
            reader_seen: ReaderStats::default(),
            ended: false,
            last_record: None,
            last_record_of: std::collections::HashMap::new(),
        }
    }

    /// Joins the `AUDIT_NLGRP_READLOG` multicast group (kernel ≥ 3.16,
    /// `CAP_AUDIT_READ`). Best effort: coexists with auditd and never
    /// stalls the kernel; overflows are counted.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] on kernels without the group; an I/O error
    /// (`EPERM`) without the capability, (`EPROTONOSUPPORT`) without
    /// audit (booted with `audit=0`).
    pub fn multicast(config: &SourceConfig) -> Result<KillSource> {
        let m = MulticastReader::with_rcvbuf(config.rcvbuf)?;
        m.set_nonblocking(true)?;
        Ok(KillSource::new(Live::Multicast(m), config))
    }

    /// Registers this process as the audit pid, only when no live process
    /// holds it (never auditd's); released on drop or
    /// [`finish`](Self::finish). While registered, audited syscalls
    /// host-wide stall once the kernel's backlog fills: poll it
    /// continuously, and never let the process be stopped (ignore
    /// `SIGTSTP`, `SIGTTIN`, `SIGTTOU`).
    ///
    /// # Errors
    ///
    /// [`Error::AuditPidHeld`] when a live process holds the audit pid;
    /// [`Error::Netlink`] or an I/O error without `CAP_AUDIT_CONTROL`.
    pub fn unicast(config: &SourceConfig) -> Result<KillSource> {
        let u = UnicastReader::register_with_rcvbuf(config.rcvbuf)?;
        u.set_nonblocking(true)?;
        Ok(KillSource::new(Live::Unicast(u), config))
    }

    /// Follows an auditd log file across rotation
    /// ([`FollowLog`], from [`SourceConfig::log_start`]). Its fd is a
    /// timer firing every [`SourceConfig::log_interval`].
    ///
    /// # Errors
    ///
    /// An I/O error when the file exists but cannot be opened, or the
    /// timer cannot be created.
    pub fn follow_log(path: impl AsRef<Path>, config: &SourceConfig) -> Result<KillSource> {
        let log = FollowLog::open(path.as_ref(), config.log_start)?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(|e| Error::io("timerfd_create", e.into()))?;
        timer
            .set(
                Expiration::Interval(TimeSpec::from_duration(config.log_interval)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(|e| Error::io("timerfd_settime", e.into()))?;
        Ok(KillSource::new(Live::Follow { log, timer }, config))
    }

    /// Reads audit records as auditd log lines from `reader` (a pipe, a
    /// socket, standard input: what an auditd/audisp plugin with
    /// `format = string` receives). The fd is switched to non-blocking
    /// while the source lives.
    ///
    /// # Errors
    ///
    /// An I/O error when the fd's flags cannot be read or set.
    pub fn stream<R: Read + AsFd + Send + 'static>(
        reader: R,
        config: &SourceConfig,
    ) -> Result<KillSource> {
        let s = LineStream::new(Box::new(reader))?;
        Ok(KillSource::new(Live::Stream(s), config))
    }

    /// [`stream`](Self::stream) over standard input.
    ///
    /// # Errors
    ///
    /// As [`stream`](Self::stream).
    pub fn stdin(config: &SourceConfig) -> Result<KillSource> {
        KillSource::stream(io::stdin(), config)
    }

    /// The best source available: the multicast group, else the unicast
    /// audit pid (only when free), else auditd's log
    /// ([`SourceConfig::log_path`]) when an audit daemon is registered to
    /// write it. Each failure is logged (`info`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSource`] with each attempt's error.
    pub fn open_auto(config: &SourceConfig) -> Result<KillSource> {
        let multicast = match KillSource::multicast(config) {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        log::info!("audit multicast unavailable: {multicast}");
        let unicast = match KillSource::unicast(config) {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        log::info!("audit unicast unavailable: {unicast}");
        let holder = match &unicast {
            Error::AuditPidHeld { pid } => Ok(*pid),
            _ => AuditClient::open()
                .and_then(|mut c| c.status())
                .map(|s| s.pid),
        };
        let log = match holder {
            Ok(pid) if pid > 0 => match KillSource::follow_log(&config.log_path, config) {
                Ok(s) => return Ok(s),
                Err(e) => e,
            },
            Ok(_) => Error::NoLogWriter {
                path: config.log_path.clone(),
            },
            Err(e) => e,
        };
        log::info!("auditd log unavailable: {log}");
        Err(Error::NoSource(Box::new(AutoFailure {
            multicast,
            unicast,
            log,
        })))
    }

    /// Which source this is.
    pub fn kind(&self) -> SourceKind {
        match self.live {
            Live::Multicast(_) => SourceKind::Multicast,
            Live::Unicast(_) => SourceKind::Unicast,
            Live::Follow { .. } => SourceKind::FollowLog,
            Live::Stream(_) => SourceKind::Stream,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// How long the caller may wait for the fd before calling
    /// [`poll_kills`](Self::poll_kills) anyway: `Some` while events are
    /// being assembled (one whose `EOE` was lost completes by the
    /// caller's clock), `None` when only the fd matters.
    pub fn tick_interval(&self) -> Option<Duration> {
        (self.pipeline.open_events() > 0)
            .then(|| (self.pipeline.config().timeout / 4).max(Duration::from_millis(10)))
    }

    /// Takes the records waiting now (at most
    /// [`SourceConfig::max_records_per_poll`] records or
    /// [`SourceConfig::max_bytes_per_poll`] bytes), assembles them at the
    /// caller's time `now`, and appends the finished kill events to
    /// `out`. Never blocks.
    ///
    /// # Errors
    ///
    /// An I/O error of the socket, file or stream; kill events finished
    /// before it are in `out` all the same, and the source can be polled
    /// again.
    pub fn poll_kills(&mut self, now: Instant, out: &mut Vec<KillEvent>) -> Result<PollState> {
        if self.ended {
            return Ok(PollState::Ended);
        }
        let read = self.read(now);
        self.pipeline.tick(now);
        let state = match read {
            Ok(ReadState::Ended) => {
                self.ended = true;
                self.pipeline.finish();
                PollState::Ended
            }
            Ok(ReadState::Busy) => PollState::Busy,
            Ok(ReadState::Idle) => PollState::Idle,
            Err(e) => {
                self.pipeline.drain_kills(out);
                return Err(e);
            }
        };
        self.pipeline.drain_kills(out);
        Ok(state)
    }

    fn read(&mut self, now: Instant) -> Result<ReadState> {
        let budget = self.config.max_records_per_poll;
        match &mut self.live {
            Live::Multicast(_) | Live::Unicast(_) => {
                let mut state = ReadState::Busy;
                let mut result = Ok(());
                for _ in 0..budget {
                    let r = match &mut self.live {
                        Live::Multicast(m) => m.try_recv(),
                        Live::Unicast(u) => u.try_recv(),
                        _ => Ok(None),
                    };
                    match r {
                        Ok(Some(nr)) => self.pipeline.push_netlink(nr.msg_type, nr.body, now),
                        Ok(None) => {
                            state = ReadState::Idle;
                            break;
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                self.note_reader();
                result.map(|()| state)
            }
            Live::Follow { log, timer } => {
                // Clear the timer's expirations (EAGAIN when none: the
                // caller polled without waiting for the fd).
                let _ = timer.wait();
                log.poll(&mut self.records)?;
                let stats = log.stats().clone();
                self.pipeline.note_lines(&stats);
                // Record time, as a replay of the same file: events end by
                // their own records (`PROCTITLE`, `EOE`), a record stamped
                // past the record window, or too many open; never by how
                // fast auditd got the lines to the file, so a writer that
                // pauses inside an event does not split it.
                if !self.records.is_empty() {
                    self.last_record = Some(now);
                }
                for r in self.records.drain(..) {
                    let node = r.node().unwrap_or_default();
                    if let Some(t) = self.last_record_of.get_mut(node) {
                        *t = now;
                    } else if self.last_record_of.len() < MAX_QUIET_NODES {
                        self.last_record_of.insert(Box::from(node), now);
                    }
                    self.pipeline.push_record(r);
                }
                // A live log never ends, so the last events would wait
                // for the next record to come along: once the file has
                // been quiet for `log_idle`, they are completed as they
                // are (the only use of the wall clock here).
                let quiet = self
                    .last_record
                    .is_some_and(|t| now.saturating_duration_since(t) >= self.config.log_idle);
                if quiet && self.pipeline.open_events() > 0 {
                    self.pipeline.time_out_open();
                } else if self.pipeline.open_events() > 0 && self.last_record_of.len() > 1 {
                    // A host that went quiet while others write.
                    let idle = self.config.log_idle;
                    let quiet: Vec<_> = self
                        .last_record_of
                        .iter()
                        .filter(|(_, t)| now.saturating_duration_since(**t) >= idle)
                        .map(|(n, _)| n.clone())
                        .collect();
                    for n in quiet {
                        self.pipeline
                            .time_out_open_of(Some(&n[..]).filter(|n| !n.is_empty()));
                        self.last_record_of.remove(&n);
                    }
                }
                Ok(ReadState::Idle)
            }
            Live::Stream(s) => {
                let more = s.read_available(self.config.max_bytes_per_poll, &mut self.records);
                let eof = s.eof;
                let stats = s.splitter.stats.clone();
                self.pipeline.note_lines(&stats);
                for r in self.records.drain(..) {
                    self.pipeline.push_at(r, now);
                }
                match more? {
                    _ if eof => Ok(ReadState::Ended),
                    true => Ok(ReadState::Busy),
                    false => Ok(ReadState::Idle),
                }
            }
        }
    }

    /// Carries the socket reader's counters over.
    fn note_reader(&mut self) {
        let st = match &self.live {
            Live::Multicast(m) => m.stats(),
            Live::Unicast(u) => u.stats(),
            _ => return,
        };
        let c = &mut self.pipeline.counters;
        c.overflows += st.enobufs.saturating_sub(self.reader_seen.enobufs);
        c.unparsable += st.unparsable.saturating_sub(self.reader_seen.unparsable);
        self.reader_seen = st;
    }

    /// The counters so far.
    pub fn counters(&self) -> KillCounters {
        self.pipeline.counters()
    }

    /// The distinct `node=` names of the events so far (see
    /// [`KillDecoder::nodes_seen`]).
    pub fn nodes_seen(&self) -> &[Box<[u8]>] {
        self.pipeline.nodes_seen()
    }

    /// The source's [`SourceConfig::nodes`].
    pub fn node_filter(&self) -> &NodeFilter {
        self.pipeline.node_filter()
    }

    /// Ends the source: completes the events still being assembled
    /// (appended to `out` when they are kills) and releases the audit pid
    /// (unicast). Polling afterwards yields [`PollState::Ended`].
    ///
    /// # Errors
    ///
    /// The audit pid could not be released ([`Error::Netlink`] or I/O).
    pub fn finish(&mut self, out: &mut Vec<KillEvent>) -> Result<()> {
        self.ended = true;
        self.pipeline.finish();
        self.pipeline.drain_kills(out);
        match &mut self.live {
            Live::Unicast(u) => u.release(),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Idle,
    Busy,
    Ended,
}

impl AsFd for KillSource {
    /// The fd to wait on for readability: the netlink socket, the stream,
    /// or (a followed log) a periodic timer.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.live {
            Live::Multicast(m) => m.as_fd(),
            Live::Unicast(u) => u.as_fd(),
            Live::Follow { timer, .. } => timer.as_fd(),
            Live::Stream(s) => s.reader.as_fd(),
        }
    }
}

/// A finite input of auditd log lines (a file, a buffer) through the
/// same pipeline as [`KillSource`]. Assembly uses no clock: the result
/// is the same at any reading speed.
///
/// As an [`Iterator`] it yields the kill events; [`next_event`](Self::next_event)
/// yields every assembled event with its decoded kill.
///
/// ```
/// use auditsig::source::KillReader;
/// let log = b"type=SYSCALL msg=audit(1795667968.504:23): arch=c000003e syscall=62 success=yes exit=0 a0=50e a1=9 a2=0 a3=0 items=0 ppid=1 pid=1298 auid=4294967295 uid=65534 gid=65534 euid=65534 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"swtest\"
/// type=OBJ_PID msg=audit(1795667968.504:23): opid=1294 oauid=-1 ouid=65534 oses=-1 ocomm=\"pa-daemon\"
/// not an audit record
/// ";
/// let mut reader = KillReader::new(&log[..]);
/// let kills = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
/// assert_eq!((kills.len(), kills[0].targets[0].pid), (1, 1294));
/// let c = reader.counters();
/// assert_eq!((c.records, c.unparsable, c.kills, c.end_of_input), (2, 1, 1, true));
/// # Ok::<(), auditsig::Error>(())
/// ```
#[derive(Debug)]
pub struct KillReader<R> {
    lines: LineReader<R>,
    pipeline: KillDecoder,
}

impl<R: BufRead> KillReader<R> {
    /// Reads auditd log lines from `reader`.
    pub fn new(reader: R) -> KillReader<R> {
        KillReader::with_config(reader, AssemblerConfig::default())
    }

    /// Like [`new`](Self::new) with the assembler's limits.
    pub fn with_config(reader: R, config: AssemblerConfig) -> KillReader<R> {
        KillReader {
            lines: LineReader::new(reader),
            pipeline: KillDecoder::new(config),
        }
    }

    /// The next assembled event (kill or not) with its decoded kill;
    /// `Ok(None)` at the end of the input, after every open event was
    /// completed.
    ///
    /// # Errors
    ///
    /// An I/O error reading the input (the reader can be called again).
    pub fn next_event(&mut self) -> Result<Option<DecodedEvent>> {
        loop {
            if let Some(d) = self.pipeline.next_event() {
                return Ok(Some(d));
            }
            if self.pipeline.counters.end_of_input {
                return Ok(None);
            }
            let rec = self.lines.next_record();
            self.pipeline.note_lines(self.lines.stats());
            match rec? {
                Some(r) => self.pipeline.push(r),
                None => self.pipeline.finish(),
            }
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> KillCounters {
        self.pipeline.counters()
    }
}

impl<R: BufRead> Iterator for KillReader<R> {
    type Item = Result<KillEvent>;

    fn next(&mut self) -> Option<Result<KillEvent>> {
        loop {
            match self.next_event() {
                Ok(Some(DecodedEvent { kill: Some(k), .. })) => return Some(Ok(k)),
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Every kill event in `text` (auditd log lines) with the counters: a
/// [`KillReader`] over a buffer.
pub fn kills_from_log_text(text: &[u8]) -> (Vec<KillEvent>, KillCounters) {
    let mut reader = KillReader::new(text);
    // Reading a slice cannot fail.
    let kills = reader.by_ref().filter_map(Result::ok).collect();
    (kills, reader.counters())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    const SYSCALL: &str = "type=SYSCALL msg=audit(1795667968.504:23): arch=c000003e syscall=62 success=yes exit=0 a0=50e a1=9 a2=0 a3=0 items=0 ppid=1 pid=1298 auid=4294967295 uid=65534 gid=65534 euid=65534 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"swtest\"";
    const OBJ_PID: &str = "type=OBJ_PID msg=audit(1795667968.504:23): opid=1294 oauid=-1 ouid=65534 oses=-1 ocomm=\"pa-daemon\"";
    const PROCTITLE: &str =
        "type=PROCTITLE msg=audit(1795667968.504:23): proctitle=2F62696E2F7368002F6F70742F6775617264";

    fn kill_lines() -> String {
        format!("{SYSCALL}\n{OBJ_PID}\n{PROCTITLE}\n")
    }

    #[test]
    fn splitter_keeps_partial_lines_and_bounds_long_ones() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        let text = kill_lines();
        let (a, b) = text.as_bytes().split_at(40);
        s.feed(a, &mut out);
        assert!(out.is_empty(), "no complete line yet");
        s.feed(b, &mut out);
        assert_eq!(out.len(), 3);
        // A line without a newline longer than MAX_LINE: skipped up to
        // its newline and counted once; the next line parses.
        s.feed(&vec![b'x'; MAX_LINE / 2], &mut out);
        s.feed(&vec![b'x'; MAX_LINE / 2 + 1], &mut out);
        assert!(s.partial.is_empty() && s.skipping);
        s.feed(b"xxxx\n", &mut out);
        s.feed(format!("{OBJ_PID}\nnot a record\n").as_bytes(), &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!((s.stats.oversized, s.stats.parse_errors), (1, 1));
        // The last line of a stream needs no newline.
        s.feed(OBJ_PID.as_bytes(), &mut out);
        assert_eq!(out.len(), 4);
        s.finish(&mut out);
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn stream_source_over_a_socket_pair() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let cfg = SourceConfig::default();
        let mut src = KillSource::stream(ours, &cfg).unwrap();
        assert_eq!(src.kind(), SourceKind::Stream);
        let t0 = Instant::now();
        let mut kills = Vec::new();
        // Nothing written: no blocking, nothing out.
        assert_eq!(src.poll_kills(t0, &mut kills).unwrap(), PollState::Idle);
        assert!(kills.is_empty());
        // Half an event: assembled but not finished.
        theirs
            .write_all(format!("{SYSCALL}\n{OBJ_PID}\n").as_bytes())
            .unwrap();
        assert_eq!(src.poll_kills(t0, &mut kills).unwrap(), PollState::Idle);
        assert!(kills.is_empty());
        assert!(src.tick_interval().is_some(), "an event is open");
        theirs
            .write_all(format!("{PROCTITLE}\ngarbage\n").as_bytes())
            .unwrap();
        src.poll_kills(t0, &mut kills).unwrap();
        assert_eq!(kills.len(), 1);
        assert_eq!(kills[0].sender.pid, 1298);
        assert_eq!(src.tick_interval(), None);
        // An event whose last record never comes completes by the
        // caller's clock, not by a hidden one.
        theirs
            .write_all(format!("{SYSCALL}\n").replace(":23)", ":24)").as_bytes())
            .unwrap();
        src.poll_kills(t0, &mut kills).unwrap();
        assert_eq!(kills.len(), 1);
        src.poll_kills(t0 + cfg.assembler.timeout, &mut kills)
            .unwrap();
        assert_eq!(kills.len(), 2);
        assert_eq!(kills[1].stamp.serial, 24);
        // End of input: flushed and said.
        drop(theirs);
        assert_eq!(src.poll_kills(t0, &mut kills).unwrap(), PollState::Ended);
        let c = src.counters();
        assert_eq!(
            (c.records, c.unparsable, c.kills, c.end_of_input),
            (4, 1, 2, true)
        );
        assert_eq!(c.assembler.timed_out, 1);
    }

    #[test]
    fn stream_budget_leaves_the_rest_for_the_next_call() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let cfg = SourceConfig::default().max_bytes_per_poll(4096);
        let mut src = KillSource::stream(ours, &cfg).unwrap();
        let text = kill_lines();
        let mut all = String::new();
        for i in 0..40 {
            all.push_str(&text.replace(":23)", &format!(":{})", 100 + i)));
        }
        theirs.write_all(all.as_bytes()).unwrap();
        let mut kills = Vec::new();
        let t0 = Instant::now();
        assert_eq!(src.poll_kills(t0, &mut kills).unwrap(), PollState::Busy);
        assert!(kills.len() < 40);
        let mut rounds = 1;
        while src.poll_kills(t0, &mut kills).unwrap() == PollState::Busy {
            rounds += 1;
        }
        assert_eq!(kills.len(), 40);
        assert!(rounds >= all.len() / 4096, "{rounds} rounds");
    }

    #[test]
    fn stream_flags_are_restored_on_drop() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let probe = ours.try_clone().unwrap();
        let flags =
            |fd: BorrowedFd<'_>| OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).unwrap());
        assert!(!flags(probe.as_fd()).contains(OFlag::O_NONBLOCK));
        let src = KillSource::stream(ours, &SourceConfig::default()).unwrap();
        assert!(flags(probe.as_fd()).contains(OFlag::O_NONBLOCK));
        drop(src);
        assert!(!flags(probe.as_fd()).contains(OFlag::O_NONBLOCK));
    }

    #[test]
    fn follow_log_source_is_a_timer_fd() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "old line that is skipped\n").unwrap();
        let cfg = SourceConfig::default().log_interval(Duration::from_millis(5));
        let mut src = KillSource::follow_log(&path, &cfg).unwrap();
        assert_eq!(src.kind(), SourceKind::FollowLog);
        // The fd becomes readable on its own (the timer).
        let mut fds = [nix::poll::PollFd::new(
            src.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(2000u16)).unwrap();
        assert_eq!(n, 1);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(kill_lines().as_bytes()).unwrap();
        let mut kills = Vec::new();
        assert_eq!(
            src.poll_kills(Instant::now(), &mut kills).unwrap(),
            PollState::Idle
        );
        assert_eq!(kills.len(), 1);
        assert_eq!(src.counters().unparsable, 0, "started at the end");
    }

    /// Polls `src` with the real clock every 20 ms until `until` says so
    /// or `limit` passes; returns the kills.
    fn poll_until(
        src: &mut KillSource,
        limit: Duration,
        until: impl Fn(&[KillEvent]) -> bool,
    ) -> Vec<KillEvent> {
        let mut kills = Vec::new();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && !until(&kills) {
            src.poll_kills(Instant::now(), &mut kills).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        kills
    }

    #[test]
    fn followed_log_assembles_by_record_time_so_a_slow_writer_does_not_split_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let cfg = SourceConfig::default().log_interval(Duration::from_millis(10));
        assert!(cfg.log_idle > Duration::from_secs(3));
        let mut src = KillSource::follow_log(&path, &cfg).unwrap();
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                f.write_all(format!("{SYSCALL}\n").as_bytes()).unwrap();
                // Longer than the assembler's wall-clock timeout (2 s).
                std::thread::sleep(Duration::from_secs(3));
                f.write_all(format!("{OBJ_PID}\n{PROCTITLE}\n").as_bytes())
                    .unwrap();
            })
        };
        let kills = poll_until(&mut src, Duration::from_secs(10), |k| !k.is_empty());
        writer.join().unwrap();
        // One kill, with the target of its OBJ_PID and the argv of its
        // PROCTITLE, both written 3 s after its SYSCALL.
        assert_eq!(kills.len(), 1, "{kills:?}");
        assert_eq!(kills[0].targets.len(), 1, "{:?}", kills[0]);
        assert_eq!(kills[0].targets[0].pid, 1294);
        assert!(kills[0].sender.argv.is_some(), "{:?}", kills[0].sender);
        let c = src.counters();
        assert_eq!((c.events, c.kills, c.assembler.timed_out), (1, 1, 0));

        // The last event of a log without its PROCTITLE: completed once
        // the file has been quiet for `log_idle`.
        let cfg = cfg.log_idle(Duration::from_millis(300));
        let mut src = KillSource::follow_log(&path, &cfg).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(
            format!("{SYSCALL}\n{OBJ_PID}\n")
                .replace(":23)", ":24)")
                .as_bytes(),
        )
        .unwrap();
        let kills = poll_until(&mut src, Duration::from_secs(10), |k| !k.is_empty());
        assert_eq!(kills.len(), 1, "{kills:?}");
        assert_eq!((kills[0].stamp.serial, kills[0].targets[0].pid), (24, 1294));
        assert_eq!(src.counters().assembler.timed_out, 1);
    }

    /// A log of several hosts where one host's last event lacks its
    /// `PROCTITLE` and that host goes quiet while another keeps writing:
    /// the event is completed after `log_idle` of that host's silence,
    /// not only once the whole log is quiet (which may be never).
    #[test]
    fn a_quiet_hosts_last_event_completes_while_another_host_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let cfg = SourceConfig::default()
            .log_interval(Duration::from_millis(10))
            .log_idle(Duration::from_millis(300));
        let mut src = KillSource::follow_log(&path, &cfg).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(format!("node=quiet {SYSCALL}\nnode=quiet {OBJ_PID}\n").as_bytes())
            .unwrap();
        let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let writer = {
            let writing = writing.clone();
            std::thread::spawn(move || {
                // Another host's records every 50 ms for 3 s.
                for i in 0..60u32 {
                    let line = format!(
                        "node=busy type=USER_START msg=audit(1795667969.{:03}:{}): pid=1 uid=0 msg='op=x'\n",
                        i % 1000,
                        100 + i
                    );
                    f.write_all(line.as_bytes()).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                }
                writing.store(false, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let kills = poll_until(&mut src, Duration::from_secs(10), |k| !k.is_empty());
        let while_writing = writing.load(std::sync::atomic::Ordering::SeqCst);
        writer.join().unwrap();
        assert_eq!(kills.len(), 1, "{kills:?}");
        assert_eq!(kills[0].targets[0].pid, 1294);
        assert!(while_writing, "completed only once the whole log was quiet");
        assert_eq!(src.counters().assembler.timed_out, 1);
    }

    /// A log collected from several hosts: a source for one host yields
    /// that host's kills (and those without `node=`), and counts and names
    /// the others instead of yielding pids of another machine.
    #[test]
    fn a_node_filter_keeps_this_hosts_events_and_counts_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let cfg = SourceConfig::default()
            .log_interval(Duration::from_millis(10))
            .nodes(NodeFilter::Only(vec![b"here".to_vec()]));
        let mut src = KillSource::follow_log(&path, &cfg).unwrap();
        let event = |node: &str, serial: u32| {
            kill_lines()
                .replace(":23)", &format!(":{serial})"))
                .lines()
                .map(|l| format!("{node}{l}\n"))
                .collect::<String>()
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let text = [
            event("node=there ", 23),
            event("node=here ", 24),
            event("", 25),
            event("node=elsewhere ", 26),
            event("node=there ", 27),
        ]
        .concat();
        f.write_all(text.as_bytes()).unwrap();
        let kills = poll_until(&mut src, Duration::from_secs(10), |k| k.len() >= 2);
        let serials: Vec<_> = kills.iter().map(|k| k.stamp.serial).collect();
        assert_eq!(serials, vec![24, 25]);
        assert_eq!(src.counters().other_node_events, 3);
        let names: Vec<&[u8]> = src.nodes_seen().iter().map(|n| &n[..]).collect();
        assert_eq!(names, vec![&b"there"[..], b"here", b"elsewhere"]);
        // Without a filter, every host's kill.
        let mut d = KillDecoder::new(AssemblerConfig::default());
        for line in text.lines() {
            d.push_record(Record::parse_line(line.as_bytes()).unwrap());
        }
        d.finish();
        let mut all = Vec::new();
        d.drain_kills(&mut all);
        assert_eq!(all.len(), 5);
        assert_eq!(d.counters().other_node_events, 0);
    }

    #[test]
    fn reader_yields_events_and_kills_without_a_clock() {
        // Records of two events interleaved, no PROCTITLE for the second:
        // it completes at the end of input.
        let text = format!(
            "{SYSCALL}\n{}\n{OBJ_PID}\n{PROCTITLE}\ntype=DAEMON_START msg=audit(1795667969.000:1): op=start\n",
            SYSCALL.replace(":23)", ":30)")
        );
        let mut r = KillReader::new(text.as_bytes());
        let mut serials = Vec::new();
        while let Some(d) = r.next_event().unwrap() {
            serials.push((d.event.stamp.serial, d.kill.is_some()));
        }
        assert_eq!(serials, vec![(23, true), (1, false), (30, true)]);
        let c = r.counters();
        assert_eq!((c.events, c.kills, c.end_of_input), (3, 2, true));
        let (kills, c2) = kills_from_log_text(text.as_bytes());
        assert_eq!(kills.len(), 2);
        assert_eq!(c2, c);
    }
}
