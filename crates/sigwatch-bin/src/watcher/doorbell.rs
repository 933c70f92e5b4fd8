//! Fewer wake-ups under storms of process events (kernel ≥ 6.6).
//!
//! Only two kinds of process event need the watcher at once: an exec (the
//! new program's argv, exe and cwd must be read before it exits) and an
//! exit with a non-zero status (a victim's death, whose report is due).
//! Forks and plain exits can wait a few milliseconds and be read in a
//! batch. A second connector socket, filtered in the kernel to those two
//! kinds (`PROC_CN_MCAST_LISTEN` with a `proc_input` mask, Linux 6.6),
//! is the doorbell: it wakes the watcher, which then reads everything, in
//! order, from the main socket. While events come slowly, the main socket
//! wakes the watcher as before: on this VM a watcher woken by a child's
//! fork is still warm when its exec follows, and one that slept for
//! milliseconds takes about 1 ms more to wake (idle capture fell from
//! about 98 to 92 % with the main socket quiet all the time). Once more
//! than [`STORM_EVENTS`] events arrive within [`STORM_WINDOW`], the main
//! socket wakes the watcher at most once per quiet window ([`QUIET`]):
//! after it fired it is not waited on until the window is over, and it
//! is read then; a read that finds it empty ends the storm mode. A fork
//! storm then costs a wake-up every few ms instead of one or two per
//! process; an exec storm one per exec.
//!
//! The doorbell's copy of an event is only a signal: its content is read
//! from the main socket, which has every event in order. Should the
//! doorbell's copy come first (the kernel delivers to the group's sockets
//! one after the other), the watcher waits a moment for the main one.
//! On older kernels the filter is not there (the doorbell would ring for
//! every event): no doorbell, and every event wakes the watcher as before.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use procconn::event::what;
use procconn::{EventKind, ProcConnector, ProcEvent, Subscription};

/// How long forks and plain exits may wait in the main socket in a storm.
pub(crate) const QUIET: Duration = Duration::from_millis(5);

/// A storm: at least this many process events within [`STORM_WINDOW`]
/// (2 000 events/s).
pub(crate) const STORM_EVENTS: u32 = 200;

/// The window over which the event rate is counted.
pub(crate) const STORM_WINDOW: Duration = Duration::from_millis(100);

/// How the watcher waits on the main socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MainWait {
    /// Level-triggered: every event wakes the watcher (calm).
    Always,
    /// One-shot, re-armed by the caller when told (storm).
    OneShot,
}

/// How long to wait for the main socket's copy of a doorbell event.
pub(crate) const CATCH_UP: Duration = Duration::from_millis(2);

/// Identities of main-socket events kept to match late doorbell copies.
const RECENT: usize = 256;

/// Doorbell events waiting for their main copy, at most.
const MAX_WAITING: usize = 4096;

/// The identity of one event in both sockets: the same message is
/// delivered to each (`cn_msg.seq` per CPU).
type Identity = (u32, u32);

fn identity(ev: &ProcEvent) -> Identity {
    (ev.cpu, ev.seq)
}

/// Whether `ev` is of the kinds the doorbell rings for.
pub(crate) fn rings_for(ev: &ProcEvent) -> bool {
    match ev.kind {
        EventKind::Exec { .. } => true,
        EventKind::Exit { exit_code, .. } => exit_code != 0,
        _ => false,
    }
}

pub(crate) struct Doorbell {
    conn: ProcConnector,
    scratch: Vec<ProcEvent>,
    /// Doorbell events whose main-socket copy was not read yet.
    waiting: Vec<Identity>,
    /// Doorbell-kind events read from the main socket lately.
    recent: VecDeque<Identity>,
    pace: Pace,
}

/// When the main socket is waited on: calm or storm mode (pure state, no
/// I/O, so that tests drive it with made-up times).
#[derive(Debug)]
pub(crate) struct Pace {
    /// In storm mode: the main socket is not waited on until then
    /// (`None`: it is, one-shot).
    quiet_until: Option<Instant>,
    /// Storm mode: the main socket is waited on one-shot.
    storm: bool,
    /// Start of the current rate window and the events read in it.
    window: (Instant, u32),
}

impl Doorbell {
    /// The doorbell, if the kernel filters (≥ 6.6). Open it before the
    /// main socket: the kernel delivers to the most recently subscribed
    /// socket first, so the main copy of an event is then usually there
    /// before the doorbell rings.
    pub(crate) fn open() -> Option<Doorbell> {
        let cfg = procconn::Config::default()
            .recv_buffer(Some(1 << 20))
            .filter(Some(what::EXEC | what::NONZERO_EXIT))
            .nonblocking(true);
        let conn = match ProcConnector::open(&cfg) {
            Ok(c) => c,
            Err(e) => {
                log::info!(
                    "process events: no doorbell socket ({e}); every event wakes the watcher"
                );
                return None;
            }
        };
        if !matches!(conn.subscription(), Some(Subscription::KernelFilter(_))) {
            log::info!(
                "process events: the kernel filters no subscription (Linux < 6.6); every event wakes the watcher"
            );
            return None;
        }
        Some(Doorbell {
            conn,
            scratch: Vec::new(),
            waiting: Vec::new(),
            recent: VecDeque::with_capacity(RECENT),
            pace: Pace::new(Instant::now()),
        })
    }

    /// Empties the doorbell, noting the events whose main copy is to be
    /// read.
    pub(crate) fn ring(&mut self) {
        self.scratch.clear();
        if let Err(e) = self.conn.drain_into(&mut self.scratch, MAX_WAITING) {
            log::debug!("doorbell: {e}");
        }
        for ev in &self.scratch {
            let id = identity(ev);
            if !self.recent.contains(&id) {
                self.waiting.push(id);
            }
        }
        // Bounded: copies the main socket never shows (it lost them) are
        // given up after a catch-up, and never more than this are kept.
        if self.waiting.len() > MAX_WAITING {
            let extra = self.waiting.len() - MAX_WAITING;
            self.waiting.drain(..extra);
        }
    }

    /// Notes the doorbell-kind events read from the main socket; `true`
    /// while some doorbell event's main copy is still missing.
    pub(crate) fn saw(&mut self, events: &[ProcEvent]) -> bool {
        for ev in events.iter().filter(|e| rings_for(e)) {
            let id = identity(ev);
            self.waiting.retain(|w| *w != id);
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back(id);
        }
        !self.waiting.is_empty()
    }

    /// Gives up on the main copies still missing (lost in the main socket,
    /// which counts its own losses).
    pub(crate) fn forget_waiting(&mut self) {
        self.waiting.clear();
    }

    /// How the main socket is waited on.
    pub(crate) fn pace(&mut self) -> &mut Pace {
        &mut self.pace
    }

    /// How long until the main socket must be read.
    pub(crate) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.pace.timeout(now)
    }
}

impl Pace {
    pub(crate) fn new(now: Instant) -> Pace {
        Pace {
            quiet_until: None,
            storm: false,
            window: (now, 0),
        }
    }

    /// After a read of the main socket that got `read` events (`fired`:
    /// the one-shot wait woke us and is spent; `backlog`: more wait):
    /// the change of how the main socket is to be waited on, if any.
    pub(crate) fn after_read(
        &mut self,
        now: Instant,
        fired: bool,
        read: usize,
        backlog: bool,
    ) -> Option<MainWait> {
        if !self.storm {
            let (start, n) = &mut self.window;
            if now.duration_since(*start) > STORM_WINDOW {
                *start = now;
                *n = 0;
            }
            *n = n.saturating_add(u32::try_from(read).unwrap_or(u32::MAX));
            if *n < STORM_EVENTS {
                return None;
            }
            // Waited on one-shot from now on (armed by the change).
            self.storm = true;
            self.quiet_until = None;
            return Some(MainWait::OneShot);
        }
        if fired {
            self.quiet_until = Some(if backlog { now } else { now + QUIET });
            return None;
        }
        if !self.quiet_over(now) {
            return None;
        }
        if backlog || read > 0 {
            // Still busy: read again after another quiet window.
            self.quiet_until = Some(if backlog { now } else { now + QUIET });
            return None;
        }
        // Empty after a quiet window: calm again.
        self.storm = false;
        self.quiet_until = None;
        self.window = (now, 0);
        Some(MainWait::Always)
    }

    /// The caller could not change the wait: stay in storm mode and read
    /// on the timer rather than never.
    pub(crate) fn change_failed(&mut self, now: Instant) {
        self.storm = true;
        self.quiet_until = Some(now + QUIET);
    }

    /// Whether the quiet window is over at `now` (with a little slack:
    /// the caller's timeout is in whole milliseconds).
    fn quiet_over(&self, now: Instant) -> bool {
        self.quiet_until
            .is_some_and(|t| now + Duration::from_micros(500) >= t)
    }

    /// How long until the main socket must be read.
    pub(crate) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.quiet_until.map(|t| {
            let left = t.saturating_duration_since(now);
            // Whole milliseconds, rounded up: a caller's poll would
            // otherwise return early and spin until the deadline.
            Duration::from_millis(
                u64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u64::MAX),
            )
        })
    }
}

impl AsFd for Doorbell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn calm_until_the_rate_of_a_storm() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        // 199 events in one window: still calm, waited on always.
        for i in 0..199 {
            assert_eq!(p.after_read(t0 + ms(i / 4), true, 1, false), None);
        }
        assert_eq!(p.timeout(t0 + ms(50)), None);
        // The 200th within the window: storm, one-shot from now on.
        assert_eq!(
            p.after_read(t0 + ms(60), true, 1, false),
            Some(MainWait::OneShot)
        );
        // A new window starts the count again.
        let mut q = Pace::new(t0);
        assert_eq!(q.after_read(t0, true, 150, false), None);
        assert_eq!(q.after_read(t0 + ms(150), true, 150, false), None);
    }

    #[test]
    fn a_storm_reads_once_per_quiet_window_and_ends_when_empty() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        assert_eq!(p.after_read(t0, true, 500, false), Some(MainWait::OneShot));
        // The one-shot fires: quiet for QUIET.
        let t1 = t0 + ms(1);
        assert_eq!(p.after_read(t1, true, 3, false), None);
        assert_eq!(p.timeout(t1), Some(QUIET));
        // A doorbell step inside the window changes nothing.
        assert_eq!(p.after_read(t1 + ms(2), false, 4, false), None);
        assert_eq!(p.timeout(t1 + ms(2)), Some(ms(3)));
        // The window is over and the read found events: another window.
        let t2 = t1 + QUIET;
        assert_eq!(p.after_read(t2, false, 40, false), None);
        assert_eq!(p.timeout(t2), Some(QUIET));
        // A backlog: read again at once.
        let t3 = t2 + QUIET;
        assert_eq!(p.after_read(t3, false, 4096, true), None);
        assert_eq!(p.timeout(t3), Some(Duration::ZERO));
        // Over and empty: calm, waited on always again.
        assert_eq!(
            p.after_read(t3 + ms(1), false, 0, false),
            Some(MainWait::Always)
        );
        assert_eq!(p.timeout(t3 + ms(1)), None);
    }

    #[test]
    fn timeout_rounds_up_to_whole_milliseconds() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        p.after_read(t0, true, 500, false);
        p.after_read(t0, true, 1, false);
        // 4.7 ms left: 5 ms, so that a millisecond poll does not return
        // before the window is over and spin.
        assert_eq!(p.timeout(t0 + Duration::from_micros(300)), Some(ms(5)));
    }

    #[test]
    fn a_failed_change_keeps_reading_on_the_timer() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        p.change_failed(t0);
        assert_eq!(p.timeout(t0), Some(QUIET));
    }
}
