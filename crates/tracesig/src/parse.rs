//! Pure parser for `trace_pipe` text lines.
//!
//! A line is the kernel's "context" prefix (`trace_print_context()` in
//! `kernel/trace/trace_output.c`) followed by `<event>: <body>`, where
//! the body is the event's `print fmt`:
//!
//! ```text
//!             bash-1234    (   1234) [001] d..1.  5678.901234: signal_generate: sig=9 errno=0 code=0 comm=sleep pid=4321 grp=1 res=0
//! ^^^^^^^^^^^^^^^^ ^^^^    ^^^^^^^^^ ^^^^^ ^^^^^  ^^^^^^^^^^^  event name      body
//! comm (%16s)      pid     tgid      cpu   flags  timestamp
//! ```
//!
//! The prefix varies: the pid is `%-5d` on older kernels and `%-7d` on
//! newer ones; the tgid column exists only with `options/record-tgid`
//! (4.13+) and reads `(-------)` when the tgid is unknown; the flags
//! column exists only with `options/irq-info` and has 4 characters
//! before 5.15 (`d..1`) and 5 after (`d..1.`, migrate-disable); the
//! timestamp is `secs.usecs` for time clocks and a bare counter for
//! `counter`/`x86-tsc`. `comm` is chosen by the process and may contain
//! spaces, dashes, brackets, newlines or anything else: the parser never
//! splits it on whitespace, and [`crate::TextParser`] joins the lines a
//! newline in a comm splits an event into. The comm is right-aligned in 16 columns and is at most
//! 15 bytes (`TASK_COMM_LEN` - 1), so the dash that separates it from the
//! pid is at byte 16; other positions are only tried when that fails.
//!
//! `trace_pipe` also prints `CPU:<n> [LOST <m> EVENTS]` where the ring
//! buffer overwrote events the reader had not consumed yet.
//!
//! Everything here is a pure function over bytes: no I/O, no panics.

use crate::error::{Error, Result};

/// One parsed `trace_pipe` line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// `signal:signal_generate`.
    SignalGenerate(SignalGenerate),
    /// `oom:mark_victim`.
    MarkVictim(MarkVictim),
    /// Any other event, kept raw.
    Other(OtherEvent),
    /// `CPU:<cpu> [LOST <events> EVENTS]`: the ring buffer of `cpu`
    /// overwrote `events` entries before they were read (`None` when the
    /// kernel printed `[LOST EVENTS]` without a count). The same loss is
    /// also counted in `per_cpu/cpuN/stats` "overrun".
    Lost {
        /// CPU whose buffer lost events.
        cpu: u32,
        /// Number of events lost, when the kernel knows it.
        events: Option<u64>,
    },
}

/// The context prefix of every event line (`struct trace_entry` plus
/// the iterator's cpu and timestamp).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// `comm` of the current task, looked up by the kernel in its
    /// `saved_cmdlines` cache *at read time*; `<...>` when the cache has
    /// no entry. The cache is filled when the task is next switched out
    /// after an event, so a reader that reads within microseconds of
    /// the event can see `<...>` for a new sender (seen here with
    /// RLIMIT_CPU: a 20 ms pause after poll fixed it), and a busy host
    /// can evict entries (128 by default). Non-UTF-8 bytes are replaced.
    /// Leading spaces of the comm are lost: the kernel pads it with
    /// spaces to 16 columns. A newline in it splits the printed line
    /// ([`crate::TextParser`] joins it back).
    /// [`Context::pid`] is always exact: prefer it.
    pub comm: String,
    /// `trace_entry.pid`: the thread id of the task that was current
    /// when the event fired. For `signal_generate` this is the sender.
    pub pid: i32,
    /// The thread group id of `pid` (`options/record-tgid`); `None` when
    /// the column is absent or shows `(-------)` (not recorded). Looked
    /// up at read time like `comm` (`saved_tgids`), with the same race.
    pub tgid: Option<i32>,
    /// CPU the event was recorded on.
    pub cpu: u32,
    /// The latency flags column (`d..1.`: irqs-off, need-resched,
    /// hardirq/softirq, preempt-depth, migrate-disable), when present.
    pub flags: Option<Flags>,
    /// Event timestamp.
    pub timestamp: Timestamp,
}

/// The latency-flags column, kept verbatim (at most 8 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flags {
    bytes: [u8; 8],
    len: u8,
}

impl Flags {
    fn new(s: &[u8]) -> Option<Self> {
        if s.is_empty() || s.len() > 8 || !s.iter().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes[..s.len()].copy_from_slice(s);
        Some(Flags {
            bytes,
            len: s.len() as u8,
        })
    }

    /// The flags as printed, e.g. `d..1.`.
    pub fn as_str(&self) -> &str {
        // Only ASCII graphic bytes are stored (checked in `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// `true` when interrupts were disabled (`d`; `D` = irqs and BH
    /// disabled).
    pub fn irqs_off(&self) -> bool {
        matches!(self.bytes[0], b'd' | b'D')
    }
}

impl std::fmt::Debug for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Flags({:?})", self.as_str())
    }
}

/// An event timestamp as printed by `trace_pipe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timestamp {
    /// A time clock (`local`, `global`, `mono`, `boot`, ...) printed as
    /// `secs.usecs`, converted to microseconds. With `trace_clock` set
    /// to `mono` (what [`crate::Instance`] asks for) this is
    /// `CLOCK_MONOTONIC`, the clock of the proc connector's
    /// `timestamp_ns`.
    Micros(u64),
    /// A raw counter clock (`counter`, `x86-tsc`, `perf` on some
    /// kernels), printed as a bare integer.
    Counter(u64),
}

/// `signal:signal_generate` (`include/trace/events/signal.h`), fired in
/// `__send_signal_locked()` for every signal generated, with the sender
/// as the current task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalGenerate {
    /// The context: `ctx.pid`/`ctx.tgid`/`ctx.comm` are the *sender*
    /// (the current task; for kernel-originated signals, whichever task
    /// the kernel was running for: the OOM allocator, the victim itself
    /// for RLIMIT_CPU, the writer of `cgroup.kill`).
    pub ctx: Context,
    /// `sig`: the signal number.
    pub sig: i32,
    /// `errno`: `si_errno` (0 for `SEND_SIG_NOINFO`/`SEND_SIG_PRIV`).
    pub errno: i32,
    /// `code`: `si_code`; the kernel prints `SI_USER` (0) for
    /// `SEND_SIG_NOINFO` and `SI_KERNEL` (0x80) for `SEND_SIG_PRIV`.
    /// See [`crate::classify::si`].
    pub code: i32,
    /// `comm`: the target task's comm at generation time.
    pub comm: String,
    /// `pid`: the target task's pid as seen from the initial namespace
    /// (a tid when the signal was sent to a thread).
    pub pid: i32,
    /// `group` (printed `grp`): 1 when sent to the whole thread group
    /// (`type != PIDTYPE_PID`: kill(2), OOM, RLIMIT), 0 for a single
    /// thread (tkill, `send_sig()`, `force_sig()`). `None` on kernels
    /// whose format has no `grp` field.
    pub group: Option<bool>,
    /// `result` (printed `res`): what became of the signal; `None` on
    /// kernels whose format has no `res` field.
    pub result: Option<SendResult>,
}

/// `enum trace_signal_result` (`include/trace/events/signal.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendResult {
    /// `TRACE_SIGNAL_DELIVERED` (0): queued / made pending.
    Delivered,
    /// `TRACE_SIGNAL_IGNORED` (1): ignored (handler SIG_IGN, or the
    /// target is already exiting).
    Ignored,
    /// `TRACE_SIGNAL_ALREADY_PENDING` (2): a non-RT signal already
    /// pending.
    AlreadyPending,
    /// `TRACE_SIGNAL_OVERFLOW_FAIL` (3): RT queue overflow.
    OverflowFail,
    /// `TRACE_SIGNAL_LOSE_INFO` (4): delivered without its siginfo.
    LoseInfo,
    /// A value this crate does not know.
    Other(i32),
}

impl SendResult {
    /// Maps the printed `res=` value.
    pub const fn from_raw(v: i32) -> Self {
        match v {
            0 => SendResult::Delivered,
            1 => SendResult::Ignored,
            2 => SendResult::AlreadyPending,
            3 => SendResult::OverflowFail,
            4 => SendResult::LoseInfo,
            x => SendResult::Other(x),
        }
    }
}

/// `oom:mark_victim` (`include/trace/events/oom.h`), fired by
/// `mark_oom_victim()` right after the OOM killer sent SIGKILL.
/// Older kernels print only `pid=`; 6.x kernels (6.18 here) add the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MarkVictim {
    /// The context (current task: the task that ran the OOM killer,
    /// usually the allocating task).
    pub ctx: Context,
    /// `pid`: the victim (a thread-group leader's pid).
    pub pid: i32,
    /// `comm` of the victim.
    pub comm: Option<String>,
    /// `total_vm` in kB.
    pub total_vm_kb: Option<u64>,
    /// `anon_rss` in kB.
    pub anon_rss_kb: Option<u64>,
    /// `file_rss` in kB.
    pub file_rss_kb: Option<u64>,
    /// `shmem_rss` in kB.
    pub shmem_rss_kb: Option<u64>,
    /// `uid` of the victim.
    pub uid: Option<u32>,
    /// `pgtables` in kB.
    pub pgtables_kb: Option<u64>,
    /// `oom_score_adj` of the victim.
    pub oom_score_adj: Option<i16>,
}

/// An event this crate does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtherEvent {
    /// The context prefix.
    pub ctx: Context,
    /// The event name as printed (e.g. `tracing_mark_write`).
    pub name: String,
    /// The body after `<name>: ` (lossy UTF-8).
    pub body: String,
}

/// Parses one `trace_pipe` line (with or without its trailing newline).
///
/// Never panics.
///
/// # Errors
/// [`Error::Parse`] for anything that is not a well-formed event or
/// lost-events line.
pub fn parse_line(line: &[u8]) -> Result<Record> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    if let Some(rest) = line.strip_prefix(b"CPU:") {
        return parse_lost(rest);
    }
    let (ctx, name, body) = parse_context(line)?;
    match name {
        b"signal_generate" => parse_signal_generate(ctx, body).map(Record::SignalGenerate),
        b"mark_victim" => parse_mark_victim(ctx, body).map(Record::MarkVictim),
        _ => Ok(Record::Other(OtherEvent {
            ctx,
            name: lossy(name),
            body: lossy(body),
        })),
    }
}

/// Parses `<n> [LOST <m> EVENTS]` or `<n> [LOST EVENTS]` (after `CPU:`).
fn parse_lost(rest: &[u8]) -> Result<Record> {
    let (cpu, rest) = take_uint(rest).ok_or(Error::parse("lost: cpu"))?;
    let cpu = u32::try_from(cpu).map_err(|_| Error::parse("lost: cpu"))?;
    let rest = rest
        .strip_prefix(b" [LOST ")
        .ok_or(Error::parse("lost: marker"))?;
    if rest == b"EVENTS]" {
        return Ok(Record::Lost { cpu, events: None });
    }
    let (n, rest) = take_uint(rest).ok_or(Error::parse("lost: count"))?;
    if rest != b" EVENTS]" {
        return Err(Error::parse("lost: trailer"));
    }
    Ok(Record::Lost {
        cpu,
        events: Some(n),
    })
}

/// Splits a line into its context, event name and body.
fn parse_context(line: &[u8]) -> Result<(Context, &[u8], &[u8])> {
    // The kernel prints "%16s-%-7d ": with a comm of at most 15 bytes the
    // separating dash is at index 16. Try that first, then every other
    // dash from the left (longer comms, trimmed lines) so that a comm
    // containing "-123 [000] ..." cannot easily impersonate a header.
    const DASH_AT: usize = 16;
    let mut last_err = Error::parse("context: no task-pid separator");
    if line.get(DASH_AT) == Some(&b'-') {
        match parse_after_dash(line, DASH_AT) {
            Ok(r) => return Ok(r),
            Err(e) => last_err = e,
        }
    }
    // Bound the search: the header is short, the body may be long.
    let limit = line.len().min(64);
    for i in 0..limit {
        if i != DASH_AT && line[i] == b'-' {
            match parse_after_dash(line, i) {
                Ok(r) => return Ok(r),
                Err(e) => last_err = e,
            }
        }
    }
    Err(last_err)
}

fn parse_after_dash(line: &[u8], dash: usize) -> Result<(Context, &[u8], &[u8])> {
    let comm = trim_start(&line[..dash]);
    if comm.is_empty() {
        return Err(Error::parse("context: empty comm"));
    }
    let rest = &line[dash + 1..];
    let (pid, rest) = take_int(rest).ok_or(Error::parse("context: pid"))?;
    let pid = i32::try_from(pid).map_err(|_| Error::parse("context: pid"))?;
    let rest = skip_spaces1(rest).ok_or(Error::parse("context: space after pid"))?;

    // Optional "(  1234)" / "(-------)" tgid column.
    let (tgid, rest) = if let Some(r) = rest.strip_prefix(b"(") {
        let close = r
            .iter()
            .position(|&b| b == b')')
            .ok_or(Error::parse("context: tgid"))?;
        let inner = trim_start(&r[..close]);
        let tgid = if !inner.is_empty() && inner.iter().all(|&b| b == b'-') {
            None
        } else {
            let (t, tail) = take_int(inner).ok_or(Error::parse("context: tgid"))?;
            if !tail.is_empty() {
                return Err(Error::parse("context: tgid"));
            }
            Some(i32::try_from(t).map_err(|_| Error::parse("context: tgid"))?)
        };
        let r = skip_spaces1(&r[close + 1..]).ok_or(Error::parse("context: space after tgid"))?;
        (tgid, r)
    } else {
        (None, rest)
    };

    // "[001]"
    let rest = rest
        .strip_prefix(b"[")
        .ok_or(Error::parse("context: cpu"))?;
    let (cpu, rest) = take_uint(rest).ok_or(Error::parse("context: cpu"))?;
    let cpu = u32::try_from(cpu).map_err(|_| Error::parse("context: cpu"))?;
    let rest = rest
        .strip_prefix(b"]")
        .ok_or(Error::parse("context: cpu"))?;
    let rest = skip_spaces1(rest).ok_or(Error::parse("context: space after cpu"))?;

    // Optional flags column, then the timestamp token ending in ':'.
    let (tok, after) = split_token(rest);
    let (flags, ts_tok, rest) = if tok.last() == Some(&b':') && parse_timestamp(tok).is_some() {
        (None, tok, after)
    } else {
        let flags = Flags::new(tok).ok_or(Error::parse("context: flags"))?;
        let after = trim_start(after);
        let (ts_tok, after) = split_token(after);
        (Some(flags), ts_tok, after)
    };
    let timestamp = parse_timestamp(ts_tok).ok_or(Error::parse("context: timestamp"))?;

    // " <name>: <body>" — the name is an identifier, which rejects false
    // dash candidates inside a comm.
    let rest = rest
        .strip_prefix(b" ")
        .ok_or(Error::parse("context: event name"))?;
    let colon = rest
        .iter()
        .position(|&b| b == b':')
        .ok_or(Error::parse("context: event name"))?;
    let name = &rest[..colon];
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::parse("context: event name"));
    }
    let body = &rest[colon + 1..];
    let body = body.strip_prefix(b" ").unwrap_or(body);

    Ok((
        Context {
            comm: lossy(comm),
            pid,
            tgid,
            cpu,
            flags,
            timestamp,
        },
        name,
        body,
    ))
}

/// `5678.901234:` → micros; `123456789:` → counter.
fn parse_timestamp(tok: &[u8]) -> Option<Timestamp> {
    let tok = tok.strip_suffix(b":")?;
    if let Some(dot) = tok.iter().position(|&b| b == b'.') {
        let secs = parse_uint_all(&tok[..dot])?;
        let frac = &tok[dot + 1..];
        // The kernel prints exactly 6 digits (%06lu); accept 1..=9 and
        // scale, so a nanosecond variant would still parse.
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        let f = parse_uint_all(frac)?;
        let micros = match frac.len() {
            n @ 1..=6 => f.checked_mul(10u64.pow(6 - n as u32))?,
            n => f / 10u64.pow(n as u32 - 6),
        };
        Some(Timestamp::Micros(
            secs.checked_mul(1_000_000)?.checked_add(micros)?,
        ))
    } else {
        parse_uint_all(tok).map(Timestamp::Counter)
    }
}

/// Parses the body of `signal_generate`:
/// `sig=%d errno=%d code=%d comm=%s pid=%d grp=%d res=%d`
/// (`grp`/`res` absent on the oldest kernels). `comm` may contain
/// anything, so the fields after it are taken from the right.
fn parse_signal_generate(ctx: Context, body: &[u8]) -> Result<SignalGenerate> {
    let rest = body
        .strip_prefix(b"sig=")
        .ok_or(Error::parse("signal_generate: sig"))?;
    let (sig, rest) = take_i32(rest).ok_or(Error::parse("signal_generate: sig"))?;
    let rest = rest
        .strip_prefix(b" errno=")
        .ok_or(Error::parse("signal_generate: errno"))?;
    let (errno, rest) = take_i32(rest).ok_or(Error::parse("signal_generate: errno"))?;
    let rest = rest
        .strip_prefix(b" code=")
        .ok_or(Error::parse("signal_generate: code"))?;
    let (code, rest) = take_i32(rest).ok_or(Error::parse("signal_generate: code"))?;
    let rest = rest
        .strip_prefix(b" comm=")
        .ok_or(Error::parse("signal_generate: comm"))?;

    // From the right: [" grp=N res=N"] then " pid=N".
    let (rest, group, result) = match split_last_field(rest, b" res=") {
        Some((r, res)) => {
            let (r, grp) =
                split_last_field(r, b" grp=").ok_or(Error::parse("signal_generate: grp"))?;
            (r, Some(grp != 0), Some(SendResult::from_raw(res)))
        }
        None => (rest, None, None),
    };
    let (comm, pid) =
        split_last_field(rest, b" pid=").ok_or(Error::parse("signal_generate: pid"))?;

    Ok(SignalGenerate {
        ctx,
        sig,
        errno,
        code,
        comm: lossy(comm),
        pid,
        group,
        result,
    })
}

/// Parses the body of `mark_victim`: `pid=%d` (older kernels) or
/// `pid=%d comm=%s total-vm=%lukB anon-rss=%lukB file-rss:%lukB
/// shmem-rss:%lukB uid=%u pgtables=%lukB oom_score_adj=%hd` (6.18; note
/// the kernel's own `:` separators). Unknown trailing fields are
/// ignored so later additions still parse.
fn parse_mark_victim(ctx: Context, body: &[u8]) -> Result<MarkVictim> {
    let rest = body
        .strip_prefix(b"pid=")
        .ok_or(Error::parse("mark_victim: pid"))?;
    let (pid, rest) = take_i32(rest).ok_or(Error::parse("mark_victim: pid"))?;
    let mut mv = MarkVictim {
        ctx,
        pid,
        comm: None,
        total_vm_kb: None,
        anon_rss_kb: None,
        file_rss_kb: None,
        shmem_rss_kb: None,
        uid: None,
        pgtables_kb: None,
        oom_score_adj: None,
    };
    if rest.is_empty() {
        return Ok(mv);
    }
    let rest = rest
        .strip_prefix(b" ")
        .ok_or(Error::parse("mark_victim: separator"))?;
    let tail = if let Some(c) = rest.strip_prefix(b"comm=") {
        // comm is free text: it ends at the last " total-vm=" (the next
        // field in every known format), or runs to the end.
        match rfind(c, b" total-vm=") {
            Some(i) => {
                mv.comm = Some(lossy(&c[..i]));
                &c[i + 1..]
            }
            None => {
                mv.comm = Some(lossy(c));
                &[][..]
            }
        }
    } else {
        rest
    };
    for tok in tail.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
        let Some(sep) = tok.iter().position(|&b| b == b'=' || b == b':') else {
            return Err(Error::parse("mark_victim: field"));
        };
        let key = &tok[..sep];
        let val = &tok[sep + 1..];
        let kb = || parse_uint_all(val.strip_suffix(b"kB").unwrap_or(val));
        match key {
            b"total-vm" => mv.total_vm_kb = kb(),
            b"anon-rss" => mv.anon_rss_kb = kb(),
            b"file-rss" => mv.file_rss_kb = kb(),
            b"shmem-rss" => mv.shmem_rss_kb = kb(),
            b"pgtables" => mv.pgtables_kb = kb(),
            b"uid" => mv.uid = parse_uint_all(val).and_then(|v| u32::try_from(v).ok()),
            b"oom_score_adj" => {
                mv.oom_score_adj = take_int(val)
                    .filter(|(_, t)| t.is_empty())
                    .and_then(|(v, _)| i16::try_from(v).ok())
            }
            _ => {}
        }
    }
    Ok(mv)
}

/// Sums `overrun`, `commit overrun` and `dropped events` of one
/// `per_cpu/cpuN/stats` file (`tracing_stats_read()`).
///
/// # Errors
/// [`Error::Parse`] when a counter's value is not a number, or the text
/// holds none of the counters.
pub fn parse_cpu_stats(text: &[u8]) -> Result<CpuStats> {
    let mut st = CpuStats::default();
    let mut seen = false;
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let key = &line[..colon];
        let val = trim_start(&line[colon + 1..]);
        let slot = match key {
            b"overrun" => &mut st.overrun,
            b"commit overrun" => &mut st.commit_overrun,
            b"dropped events" => &mut st.dropped_events,
            b"entries" => &mut st.entries,
            b"read events" => &mut st.read_events,
            _ => continue,
        };
        *slot = parse_uint_all(val).ok_or(Error::parse("stats: value"))?;
        seen = true;
    }
    if seen {
        Ok(st)
    } else {
        Err(Error::parse("stats: no counters"))
    }
}

/// Counters of one CPU's ring buffer (`per_cpu/cpuN/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuStats {
    /// `entries`: events currently in the buffer.
    pub entries: u64,
    /// `overrun`: events overwritten before being read (overwrite mode).
    pub overrun: u64,
    /// `commit overrun`: events lost to nested writers filling a page.
    pub commit_overrun: u64,
    /// `dropped events`: events refused because the buffer was full
    /// (non-overwrite mode).
    pub dropped_events: u64,
    /// `read events`: events consumed by readers.
    pub read_events: u64,
}

impl CpuStats {
    /// Events this buffer lost, by any of the kernel's three counters.
    pub fn lost(&self) -> u64 {
        self.overrun
            .saturating_add(self.commit_overrun)
            .saturating_add(self.dropped_events)
    }
}

// ---- small byte helpers (no panics, no overflow) ----

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ').count();
    &b[n..]
}

/// Skips at least one space.
fn skip_spaces1(b: &[u8]) -> Option<&[u8]> {
    let n = b.iter().take_while(|&&c| c == b' ').count();
    (n > 0).then(|| &b[n..])
}

/// Splits at the first space: (token, rest starting with the space).
fn split_token(b: &[u8]) -> (&[u8], &[u8]) {
    let n = b.iter().position(|&c| c == b' ').unwrap_or(b.len());
    b.split_at(n)
}

fn take_uint(b: &[u8]) -> Option<(u64, &[u8])> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &b[..n] {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some((v, &b[n..]))
}

fn take_int(b: &[u8]) -> Option<(i64, &[u8])> {
    let (neg, b) = match b.strip_prefix(b"-") {
        Some(r) => (true, r),
        None => (false, b),
    };
    let (v, rest) = take_uint(b)?;
    let v = i64::try_from(v).ok()?;
    Some((if neg { -v } else { v }, rest))
}

fn take_i32(b: &[u8]) -> Option<(i32, &[u8])> {
    let (v, rest) = take_int(b)?;
    Some((i32::try_from(v).ok()?, rest))
}

fn parse_uint_all(b: &[u8]) -> Option<u64> {
    match take_uint(b)? {
        (v, []) => Some(v),
        _ => None,
    }
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| hay[i..].starts_with(needle))
}

/// If `s` ends with `key<int>`, returns (text before key, int).
fn split_last_field<'a>(s: &'a [u8], key: &[u8]) -> Option<(&'a [u8], i32)> {
    let i = rfind(s, key)?;
    let (v, tail) = take_i32(&s[i + key.len()..])?;
    tail.is_empty().then_some((&s[..i], v))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp(b"5678.901234:"),
            Some(Timestamp::Micros(5_678_901_234))
        );
        assert_eq!(parse_timestamp(b"1.5:"), Some(Timestamp::Micros(1_500_000)));
        assert_eq!(
            parse_timestamp(b"123456789012:"),
            Some(Timestamp::Counter(123_456_789_012))
        );
        assert_eq!(parse_timestamp(b"12.:"), None);
        assert_eq!(parse_timestamp(b"12.3"), None);
        assert_eq!(parse_timestamp(b"99999999999999999999.0:"), None);
    }

    #[test]
    fn helpers() {
        assert_eq!(rfind(b"a pid=1 pid=2", b" pid="), Some(7));
        assert_eq!(rfind(b"ab", b"abc"), None);
        assert_eq!(
            split_last_field(b"x pid=-12", b" pid="),
            Some((&b"x"[..], -12))
        );
        assert_eq!(split_last_field(b"x pid=1a", b" pid="), None);
        assert_eq!(take_int(b"-"), None);
        assert_eq!(take_uint(b"99999999999999999999999"), None);
    }
}
