//! The binary's watch loop: a [`Watcher`] beside the termination signals
//! and an output that may block, until a signal, `--count` reports, the
//! end of the audit input, or the output's reader going away.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sigwatch::output::{reader_can_vanish, OutQueue, OUT_QUEUE_MAX};
use sigwatch::render::Renderer;
use sigwatch::report::{Report, Summary};
use sigwatch::stop::StopSignals;
use sigwatch::{Error, Notice, WatchConfig, Watcher};

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
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Stop after this many kill reports.
    pub count: Option<u64>,
}

fn say(n: &Notice) {
    // Diagnostics go to stderr, which may block like stdout: they are
    // few, and none is written while a report is half-written.
    eprintln!("sigwatch: {n}");
}

/// Runs the watch mode; `out` should be unbuffered (a `File` on a
/// duplicate of fd 1): reports are written in small `write(2)`s only when
/// `poll` says there is room, so that a blocked reader never keeps a
/// termination signal from cleaning up.
pub fn run<W: Write + AsFd>(
    cfg: &WatchConfig,
    opts: RunOptions,
    render: &Renderer,
    banner: impl Fn(&Watcher) -> String,
    out: W,
) -> Result<Summary, Error> {
    // Signals first, so that an early SIGTERM still goes through clean-up.
    let mut stop_signals = StopSignals::install().map_err(|e| Error::Io {
        what: "blocking the termination signals".into(),
        source: e,
    })?;
    let mut watcher = Watcher::start(cfg)?;
    for n in watcher.take_notices() {
        say(&n);
    }
    eprintln!("{}", banner(&watcher));
    // After the banner, so that whoever waits for READY can read it.
    if let Err(e) = sigwatch::sources::sd_notify("READY=1") {
        log::warn!("NOTIFY_SOCKET: {e}");
    }
    let mut w = out;
    // A pipe's reader may exit while no report is due (`| head -1` after
    // its line): polled so that sigwatch stops and cleans up at once
    // rather than at the next report's EPIPE.
    let watch_output = reader_can_vanish(w.as_fd());
    let mut outq = OutQueue::default();
    let mut printed: u64 = 0;
    let stop = 'main: loop {
        let (signalled, out_gone) = {
            let mut fds = vec![
                PollFd::new(stop_signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(watcher.as_fd(), PollFlags::POLLIN),
            ];
            // Room for queued reports; with no events requested,
            // POLLERR/POLLHUP (the reader went away) are still reported.
            let out_idx = (watch_output || outq.pending()).then(|| {
                let ev = if outq.pending() {
                    PollFlags::POLLOUT
                } else {
                    PollFlags::empty()
                };
                fds.push(PollFd::new(w.as_fd(), ev));
                fds.len() - 1
            });
            let timeout = watcher.timeout().as_millis().min(60_000) as u16;
            match poll(&mut fds, PollTimeout::from(timeout)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::Fatal(format!("poll: {e}"))),
            }
            (
                fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN)),
                watch_output
                    && out_idx.is_some_and(|i| {
                        fds[i]
                            .revents()
                            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
                    }),
            )
        };
        if signalled {
            if let Some(s) = stop_signals.take() {
                log::info!("received signal {s}");
            }
            break Stop::Signal;
        }
        if out_gone {
            break Stop::OutputClosed;
        }
        let reports = watcher.step()?;
        for n in watcher.take_notices() {
            say(&n);
        }
        for r in &reports {
            let bytes = render.render(r).map_err(|e| Error::Io {
                what: "rendering a report".into(),
                source: e,
            })?;
            if !outq.push(&bytes) {
                continue;
            }
            if matches!(r, Report::Kill(_)) {
                printed += 1;
                if opts.count.is_some_and(|c| printed >= c) {
                    break 'main Stop::CountReached;
                }
            }
        }
        if let Err(e) = outq.write_ready(&mut w) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                break Stop::OutputClosed;
            }
            return Err(Error::Io {
                what: "writing a report".into(),
                source: e,
            });
        }
        if watcher.stopped().is_some() {
            break Stop::EndOfInput;
        }
    };
    log::info!("stopping: {stop:?}");
    // After a signal, never wait long for a blocked reader: the clean-up
    // matters more. (A second signal cuts any wait short.)
    let out_deadline = (stop == Stop::Signal).then(|| Instant::now() + SHUTDOWN_WRITE_GRACE);
    let out_ok = stop != Stop::OutputClosed;
    let _ = sigwatch::sources::sd_notify("STOPPING=1");
    // Rules and `enabled` are put back before anything else can fail.
    let finished = watcher.finish();
    for n in &finished.notices {
        say(n);
    }
    let mut summary = finished.summary;
    // Print what was still pending (unless --count is already satisfied
    // or the reader is gone).
    let mut out_ok = out_ok;
    if out_ok && opts.count.is_none_or(|c| printed < c) {
        for r in &finished.reports {
            let Ok(bytes) = render.render(r) else {
                continue;
            };
            if !outq.push(&bytes) {
                continue;
            }
            if matches!(r, Report::Kill(_)) {
                printed += 1;
                if opts.count.is_some_and(|c| printed >= c) {
                    break;
                }
            }
        }
    }
    if out_ok {
        if let Err(e) = outq.drain(&mut w, stop_signals.as_fd(), out_deadline) {
            log::info!("not printing the pending reports: {e}");
            out_ok = false;
        }
    }
    if outq.dropped > 0 {
        eprintln!(
            "sigwatch: {} report(s) dropped: the output was blocked while more than {} MiB of reports waited",
            outq.dropped,
            OUT_QUEUE_MAX >> 20
        );
    }
    summary.reports = printed;
    if render.is_json() && out_ok {
        if let Ok(bytes) = render.render(&Report::Summary(summary)) {
            let deadline = out_deadline.map_or(Instant::now() + SHUTDOWN_WRITE_GRACE, |d| {
                d.max(Instant::now() + Duration::from_millis(200))
            });
            let _ = sigwatch::output::guarded_write(
                &mut w,
                stop_signals.as_fd(),
                &bytes,
                Some(deadline),
            );
        }
    }
    Ok(summary)
}
