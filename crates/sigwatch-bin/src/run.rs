//! The binary's watch loop: a [`Watcher`] beside the termination signals
//! and an output that may block, until a signal, `--count` reports, the
//! end of the audit input, or the output's reader going away.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sigwatch::journal::Journal;
use sigwatch::metrics::{Limits, Registry};
use sigwatch::output::{reader_can_vanish, OutQueue, WriteAbort, OUT_QUEUE_MAX};
use sigwatch::render::Renderer;
use sigwatch::report::{LossSource, Report, Summary};
use sigwatch::stop::StopSignals;
use sigwatch::{Error, Notice, WatchConfig, Watcher};

use crate::metrics_file::MetricsFile;

/// How long reports still waiting at shutdown may wait for a blocked
/// output before clean-up goes ahead without them.
const SHUTDOWN_WRITE_GRACE: Duration = Duration::from_secs(2);

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Signal,
    OutputClosed,
    CountReached,
    EndOfInput,
}

/// What the loop is asked to do besides watching.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop after this many kill reports.
    pub count: Option<u64>,
    /// `--metrics-file`: the Prometheus exposition, kept up to date.
    pub metrics_file: Option<PathBuf>,
    /// `--nice`: the priority to raise the watch loop to.
    pub nice: Option<Nice>,
}

/// `--nice`'s default: what `contrib/sigwatch.service` sets too.
pub const DEFAULT_NICE: i32 = -10;

/// The nice value the watch loop raises itself to.
#[derive(Debug, Clone, Copy)]
pub struct Nice {
    /// The nice value.
    pub value: i32,
    /// Given on the command line (a refusal is then a warning, else a
    /// note at `-v`).
    pub explicit: bool,
}

/// The kill counters and their file, when `--metrics-file` asks.
struct Metrics {
    registry: Registry,
    file: MetricsFile,
}

impl Metrics {
    fn new(file: MetricsFile, watcher: &Watcher) -> Metrics {
        let mut registry = Registry::new(Limits::default(), now_epoch_secs());
        registry.set_witnesses(watcher.witnesses());
        Metrics { registry, file }
    }

    /// Takes the watcher's counters and writes when due (never blocks).
    fn tick(&mut self, watcher: &Watcher, out: &Emitter<'_>) {
        let now = Instant::now();
        let kills = self.registry.kills();
        if !self.file.due(now, kills) {
            return;
        }
        let mut s = watcher.summary();
        s.reports_dropped = out.queue.dropped + out.journal_failed;
        self.registry.set_summary(s);
        self.registry.set_kmsg_lost(watcher.lost(LossSource::Kmsg));
        self.file.submit(now, kills, self.registry.render());
    }
}

fn now_epoch_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn say(n: &Notice) {
    crate::diag::say(&format!("sigwatch: {n}"));
}

/// Rendered reports on their way out, and how many kill reports went.
struct Emitter<'a> {
    render: &'a Renderer,
    /// `--output journal`: reports go to journald instead of the queue.
    journal: Option<&'a Journal>,
    /// Reports journald did not take (counted as dropped).
    journal_failed: u64,
    queue: OutQueue,
    /// Kill reports queued.
    printed: u64,
    count: Option<u64>,
}

impl Emitter<'_> {
    /// Queues one report; `true` once `--count` kill reports are out.
    fn push(&mut self, r: &Report) -> Result<bool, Error> {
        if let Some(j) = self.journal {
            // User names filled in, as in the JSON lines.
            if let Err(e) = j.send(&self.render.named(r)) {
                self.journal_failed += 1;
                crate::diag::say(&format!(
                    "sigwatch: a report could not be sent to the journal: {e}"
                ));
                return Ok(false);
            }
            if !matches!(r, Report::Kill(_)) {
                return Ok(false);
            }
            self.printed += 1;
            return Ok(self.count_reached());
        }
        let bytes = self.render.render(r).map_err(|e| Error::Io {
            what: "rendering a report".into(),
            source: e,
        })?;
        if !self.queue.push(&bytes) || !matches!(r, Report::Kill(_)) {
            return Ok(false);
        }
        self.printed += 1;
        Ok(self.count_reached())
    }

    fn count_reached(&self) -> bool {
        self.count.is_some_and(|c| self.printed >= c)
    }
}

/// Waits for the next thing to do: `(a termination signal arrived, the
/// output's reader went away)`.
fn wait<W: AsFd>(
    stop_signals: &StopSignals,
    watcher: &Watcher,
    w: &W,
    watch_output: bool,
    pending: bool,
    awaits_pipe_room: bool,
) -> Result<(bool, bool), Error> {
    let mut fds = vec![
        PollFd::new(stop_signals.as_fd(), PollFlags::POLLIN),
        PollFd::new(watcher.as_fd(), PollFlags::POLLIN),
    ];
    // Room for queued reports; with no events requested, POLLERR/POLLHUP
    // (the reader went away) are still reported. A report waiting for a
    // pipe to have room for all of it is retried every 50 ms instead: the
    // pipe polls writable with one free page, which would spin.
    let out_idx = (watch_output || pending).then(|| {
        let ev = if pending && !awaits_pipe_room {
            PollFlags::POLLOUT
        } else {
            PollFlags::empty()
        };
        fds.push(PollFd::new(w.as_fd(), ev));
        fds.len() - 1
    });
    let cap = if awaits_pipe_room { 50 } else { 60_000 };
    let timeout = watcher.timeout().as_millis().min(cap) as u16;
    match poll(&mut fds, PollTimeout::from(timeout)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(Error::Fatal(format!("poll: {e}"))),
    }
    let signalled = fds[0]
        .revents()
        .is_some_and(|r| r.contains(PollFlags::POLLIN));
    let gone = watch_output
        && out_idx.is_some_and(|i| {
            fds[i]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
        });
    Ok((signalled, gone))
}

/// Writes what the output takes now; `false` once its reader is gone.
fn write_or_closed<W: Write + AsFd>(queue: &mut OutQueue, w: &mut W) -> Result<bool, Error> {
    match queue.write_ready(w) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::Io {
            what: "writing a report".into(),
            source: e,
        }),
    }
}

/// How long the reports of one step may wait in all for the output's
/// reader to make room, before the queue's cap drops some: the witnesses
/// are not read meanwhile.
const OUT_BURST_WAIT: Duration = Duration::from_secs(1);

/// The queue is half full (a burst: thousands of reports of one group
/// kill): writes what the output takes now and, while the queue is still
/// half full, waits for the output to take more — `POLLOUT`, or a few ms
/// when a pipe must have room for a whole report — until it is down to a
/// quarter, a termination signal arrives, or the step's `budget` (at
/// most [`OUT_BURST_WAIT`]) is spent. A reader that took nothing in a
/// wait is `stalled`: no more waits (the cap drops reports, counted)
/// until the queue is empty again. `false` once the reader is gone.
fn make_room<W: Write + AsFd>(
    queue: &mut OutQueue,
    w: &mut W,
    stop_signals: &StopSignals,
    stalled: &mut bool,
    budget: &mut Duration,
) -> Result<bool, Error> {
    if !write_or_closed(queue, w)? {
        return Ok(false);
    }
    if *stalled || queue.queued_bytes() < OUT_QUEUE_MAX / 2 {
        return Ok(true);
    }
    let before = queue.queued_bytes();
    let started = Instant::now();
    let deadline = started + *budget;
    match queue.drain_to(w, stop_signals.as_fd(), Some(deadline), OUT_QUEUE_MAX / 4) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
        // The budget is spent, or a termination signal (the loop's wait
        // takes it).
        Err(e) if e.get_ref().is_some_and(|i| i.is::<WriteAbort>()) => {}
        Err(e) => {
            return Err(Error::Io {
                what: "writing a report".into(),
                source: e,
            })
        }
    }
    *budget = budget.saturating_sub(started.elapsed());
    *stalled = queue.queued_bytes() >= before;
    Ok(true)
}

/// Runs the watch mode; `out` should be unbuffered (a `File` on a
/// duplicate of fd 1, or a private non-blocking one on a pipe): reports
/// are written only when `poll` says there is room, so that a blocked
/// reader never keeps a termination signal from cleaning up.
pub fn run<W: Write + AsFd>(
    cfg: &WatchConfig,
    opts: RunOptions,
    render: &Renderer,
    journal: Option<&Journal>,
    banner: impl Fn(&Watcher) -> String,
    out: W,
) -> Result<Summary, Error> {
    // Signals first, so that an early SIGTERM still goes through clean-up.
    let mut stop_signals = StopSignals::install().map_err(|e| Error::Io {
        what: "blocking the termination signals".into(),
        source: e,
    })?;
    // A wrong path is an error before the host is touched (audit rules,
    // a trace instance).
    let metrics_file = match &opts.metrics_file {
        Some(p) => Some(MetricsFile::start(p)?),
        None => None,
    };
    let mut watcher = Watcher::start(cfg)?;
    // Once watching is possible at all, before the threads started below
    // (which inherit it; nice is per thread on Linux). The metrics writer,
    // started above, keeps the original nice: it needs no priority.
    if let Some(n) = opts.nice {
        crate::priority::set_to(n.value, n.explicit);
    }
    for n in watcher.take_notices() {
        say(&n);
    }
    let mut metrics = metrics_file.map(|file| Metrics::new(file, &watcher));
    crate::diag::say(&banner(&watcher));
    // After the banner, so that whoever waits for READY can read it.
    if let Err(e) = sigwatch::sources::sd_notify("READY=1") {
        log::warn!("NOTIFY_SOCKET: {e}");
    }
    let mut w = out;
    // A pipe's reader may exit while no report is due (`| head -1` after
    // its line): polled so that sigwatch stops and cleans up at once
    // rather than at the next report's EPIPE.
    let watch_output = reader_can_vanish(w.as_fd());
    let mut out = Emitter {
        render,
        journal,
        journal_failed: 0,
        queue: OutQueue::default(),
        printed: 0,
        count: opts.count,
    };
    // The reader made no progress in the last wait for room (see
    // `make_room`), until the queue empties again.
    let mut out_stalled = false;
    let stop = loop {
        let (signalled, out_gone) = wait(
            &stop_signals,
            &watcher,
            &w,
            watch_output,
            out.queue.pending(),
            out.queue.awaits_pipe_room(),
        )?;
        if signalled {
            if let Some(s) = stop_signals.take() {
                log::info!("received signal {s}");
            }
            break Stop::Signal;
        }
        if out_gone {
            break Stop::OutputClosed;
        }
        crate::diag::flush();
        let reports = watcher.step()?;
        for n in watcher.take_notices() {
            say(&n);
        }
        if let Some(m) = metrics.as_mut() {
            // Every kill the watcher reports counts, also one the
            // output then drops.
            for r in &reports {
                if let Report::Kill(k) = r {
                    m.registry.count_kill(k);
                }
            }
        }
        let mut count_reached = false;
        let mut out_budget = OUT_BURST_WAIT;
        for (i, r) in reports.iter().enumerate() {
            if out.push(r)? {
                count_reached = true;
                break;
            }
            // One step can bring thousands of reports (a group kill, a
            // `kill -9 -1`): written as they come, they never fill the
            // queue of an output that takes them (a file always does);
            // only one that does not keep up loses reports to the cap.
            if out.queue.queued_bytes() >= OUT_QUEUE_MAX / 2
                && !make_room(
                    &mut out.queue,
                    &mut w,
                    &stop_signals,
                    &mut out_stalled,
                    &mut out_budget,
                )?
            {
                // The reader is gone: the rest of this step's reports are
                // dropped, and counted.
                out.queue.dropped += (reports.len() - i - 1) as u64;
                break;
            }
        }
        if let Some(m) = metrics.as_mut() {
            m.tick(&watcher, &out);
        }
        if count_reached {
            break Stop::CountReached;
        }
        if !write_or_closed(&mut out.queue, &mut w)? {
            break Stop::OutputClosed;
        }
        if !out.queue.pending() {
            out_stalled = false;
        }
        if watcher.stopped().is_some() {
            // The one way a watcher stops by itself: said, not silent.
            crate::diag::say(
                "sigwatch: the audit records on standard input ended (the writer closed it): stopping",
            );
            break Stop::EndOfInput;
        }
    };
    log::info!("stopping: {stop:?}");
    Ok(shut_down(
        watcher,
        stop,
        out,
        &mut w,
        &stop_signals,
        metrics,
    ))
}

/// Puts the host back first, then prints what was still pending and the
/// summary, waiting for a blocked output only briefly.
fn shut_down<W: Write + AsFd>(
    watcher: Watcher,
    stop: Stop,
    mut out: Emitter<'_>,
    w: &mut W,
    stop_signals: &StopSignals,
    metrics: Option<Metrics>,
) -> Summary {
    // After a signal, never wait long for a blocked reader: the clean-up
    // matters more. (A second signal cuts any wait short.)
    let out_deadline = (stop == Stop::Signal).then(|| Instant::now() + SHUTDOWN_WRITE_GRACE);
    let out_ok = stop != Stop::OutputClosed;
    let _ = sigwatch::sources::sd_notify("STOPPING=1");
    // Rules and `enabled` are put back before anything else can fail.
    let kmsg_lost = watcher.lost(LossSource::Kmsg);
    let finished = watcher.finish();
    for n in &finished.notices {
        say(n);
    }
    let mut summary = finished.summary;
    // Print what was still pending (unless --count is already satisfied
    // or the reader is gone).
    if out_ok && !out.count_reached() {
        for r in &finished.reports {
            if out.push(r).unwrap_or(false) {
                break;
            }
        }
    }
    summary.reports = out.printed;
    // Dropped so far: the summary line counts them. (Reports queued
    // before it and never delivered add to this below, but only when the
    // summary line is not delivered either: the queue goes in order.)
    summary.reports_dropped = out.queue.dropped + out.journal_failed;
    if let Some(j) = out.journal {
        let _ = j.send(&Report::Summary(summary));
    }
    // The summary goes last, through the same queue: whole lines only.
    // (With the journal, reports never go to standard output, nor does the
    // summary: under systemd it would be a stray journal entry.)
    let summary_queued = out.render.is_json()
        && out.journal.is_none()
        && out_ok
        && out
            .render
            .render(&Report::Summary(summary))
            .is_ok_and(|b| out.queue.push(&b));
    if out_ok {
        let deadline = out_deadline.map_or(Instant::now() + SHUTDOWN_WRITE_GRACE, |d| {
            d.max(Instant::now() + Duration::from_millis(200))
        });
        if let Err(e) = out.queue.drain(w, stop_signals.as_fd(), Some(deadline)) {
            log::info!("not printing the pending reports: {e}");
        }
    }
    // Reports that never reached the reader are counted, never silent
    // (the summary line itself, if it is among them, is not a report).
    let undelivered = out.queue.undelivered() - u64::from(summary_queued && out.queue.pending());
    summary.reports_dropped = out.queue.dropped + undelivered + out.journal_failed;
    if summary.reports_dropped > 0 {
        crate::diag::say(&format!(
            "sigwatch: {} report(s) dropped: the output was blocked (at most {} MiB of reports wait for it)",
            summary.reports_dropped,
            OUT_QUEUE_MAX >> 20
        ));
    }
    if let Some(mut m) = metrics {
        // The kills still pending at the stop count too (also those
        // `--count` did not print).
        for r in &finished.reports {
            if let Report::Kill(k) = r {
                m.registry.count_kill(k);
            }
        }
        m.registry.set_summary(summary);
        m.registry.set_kmsg_lost(kmsg_lost);
        m.file.finish(m.registry.render(), SHUTDOWN_WRITE_GRACE);
    }
    summary
}
