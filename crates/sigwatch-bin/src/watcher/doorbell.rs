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
//! socket wakes the watcher once more (a one-shot wait) and is then read
//! by every step and at the latest a quiet window ([`QUIET`]) after the
//! last read that emptied it; a read at that deadline that finds it
//! empty (a whole window without one event) ends the storm mode. A fork
//! storm then costs a wake-up every few ms instead of one or two per
//! process; an exec storm one per exec (its doorbell steps keep moving
//! the deadline on).
//!
//! The doorbell's copy of an event is only a signal: its content is read
//! from the main socket, which has every event in order. Should the
//! doorbell's copy come first (the kernel delivers to the group's sockets
//! one after the other), the watcher waits a moment for the main one.
//! On older kernels the filter is not there (the doorbell would ring for
//! every event): no doorbell, and every event wakes the watcher as before.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use procconn::event::what;
use procconn::{ProcConnector, ProcEvent, Subscription};

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

/// Events read from the doorbell per step, at most (the rest wait).
const RING_BATCH: usize = 4096;

/// Whether sequence number `a` is after `b` (they wrap).
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Which doorbell events the main socket has not delivered yet, by the
/// same message's per-CPU sequence number (`cn_msg.seq`): the kernel
/// numbers each CPU's events in order and sends the one message to both
/// sockets, so the main copy of a doorbell event is read once the main
/// socket's events of that CPU reach its number. Bounded by the number of
/// CPUs; no list of events.
#[derive(Debug, Default)]
pub(crate) struct SeqMarks {
    /// Per CPU: the last doorbell event whose main copy is not read yet.
    bell: HashMap<u32, u32>,
    /// Per CPU: the last event read from the main socket.
    main: HashMap<u32, u32>,
}

impl SeqMarks {
    /// The doorbell delivered `ev`.
    pub(crate) fn rang(&mut self, ev: &ProcEvent) {
        if self.main.get(&ev.cpu).is_some_and(|&m| !after(ev.seq, m)) {
            return;
        }
        let b = self.bell.entry(ev.cpu).or_insert(ev.seq);
        if after(ev.seq, *b) {
            *b = ev.seq;
        }
    }

    /// The main socket delivered `events`; `true` while a doorbell event's
    /// main copy is still to come.
    pub(crate) fn read(&mut self, events: &[ProcEvent]) -> bool {
        for ev in events {
            let m = self.main.entry(ev.cpu).or_insert(ev.seq);
            if after(ev.seq, *m) {
                *m = ev.seq;
            }
        }
        let main = &self.main;
        self.bell
            .retain(|cpu, b| main.get(cpu).is_none_or(|&m| after(*b, m)));
        !self.bell.is_empty()
    }

    /// Gives up on the main copies still to come (lost in the main socket,
    /// which counts its own losses, or sent before it subscribed).
    pub(crate) fn forget(&mut self) {
        self.bell.clear();
    }
}

pub(crate) struct Doorbell {
    conn: ProcConnector,
    scratch: Vec<ProcEvent>,
    marks: SeqMarks,
    pace: Pace,
}

/// When the main socket is waited on: calm or storm mode (pure state, no
/// I/O, so that tests drive it with made-up times).
#[derive(Debug)]
pub(crate) struct Pace {
    /// In storm mode: when the main socket must be read at the latest
    /// (steps read it earlier); `None`: the one-shot wait armed at the
    /// storm's start has not fired yet.
    quiet_until: Option<Instant>,
    /// Storm mode: the main socket is waited on one-shot.
    storm: bool,
    /// Start of the current rate window and the events read in it.
    window: (Instant, u32),
    /// In storm mode: events read since the last read that emptied the
    /// main socket (reads of a backlog add up).
    window_reads: usize,
}

impl Doorbell {
    /// The doorbell, if the kernel filters (≥ 6.6). Open it before the
    /// main socket: the kernel delivers to the most recently subscribed
    /// socket first, so the main copy of an event is then usually there
    /// before the doorbell rings.
    pub(crate) fn open() -> Option<Doorbell> {
        // Not even tried where the kernel cannot filter: the old
        // behaviour exactly.
        if procconn::socket::kernel_version()
            .is_none_or(|v| v < procconn::socket::FILTER_MIN_KERNEL)
        {
            log::info!(
                "process events: the kernel filters no subscription (Linux < 6.6); every event wakes the watcher"
            );
            return None;
        }
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
        // An overflowing doorbell loses no event (the main socket has them
        // all), only wake-ups: no ENOBUFS error or loss warning for it.
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value of its size.
        let rc = unsafe {
            libc::setsockopt(
                conn.as_raw_fd(),
                libc::SOL_NETLINK,
                libc::NETLINK_NO_ENOBUFS,
                std::ptr::from_ref(&on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            log::debug!(
                "doorbell: NETLINK_NO_ENOBUFS: {}",
                std::io::Error::last_os_error()
            );
        }
        if !matches!(conn.subscription(), Some(Subscription::KernelFilter(_))) {
            log::info!(
                "process events: the kernel filters no subscription (Linux < 6.6); every event wakes the watcher"
            );
            return None;
        }
        Some(Doorbell {
            conn,
            scratch: Vec::new(),
            marks: SeqMarks::default(),
            pace: Pace::new(Instant::now()),
        })
    }

    /// Empties the doorbell, noting the events whose main copy is to be
    /// read.
    pub(crate) fn ring(&mut self) {
        self.scratch.clear();
        if let Err(e) = self.conn.drain_into(&mut self.scratch, RING_BATCH) {
            log::debug!("doorbell: {e}");
        }
        for ev in &self.scratch {
            self.marks.rang(ev);
        }
    }

    /// Notes the events read from the main socket; `true` while some
    /// doorbell event's main copy is still to come.
    pub(crate) fn saw(&mut self, events: &[ProcEvent]) -> bool {
        self.marks.read(events)
    }

    /// Gives up on the main copies still to come.
    pub(crate) fn forget_waiting(&mut self) {
        self.marks.forget();
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
            window_reads: 0,
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
        self.window_reads = self.window_reads.saturating_add(read);
        if backlog {
            // More wait: read again at once, whatever the window.
            self.quiet_until = Some(now);
            return None;
        }
        if !fired && self.window_reads == 0 {
            if !self.quiet_over(now) {
                // Nothing since the last read: the deadline stays, so
                // that a quiet window ends the storm.
                return None;
            }
            // A whole quiet window without one event: calm again.
            self.storm = false;
            self.quiet_until = None;
            self.window = (now, 0);
            return Some(MainWait::Always);
        }
        // The socket is empty now: what comes next waits at most QUIET,
        // for this deadline or an earlier step. Each read moves the
        // deadline on, so that in an exec storm, whose doorbell steps
        // empty the socket every millisecond or so, the timer never wakes
        // the watcher for a read those steps make anyway (on this VM it
        // was a fifth of the wake-ups of a 1,200/s exec storm).
        self.quiet_until = Some(now + QUIET);
        self.window_reads = 0;
        None
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

    /// A pace in storm mode whose one-shot wait fired at `t0`: quiet until
    /// `t0 + QUIET`.
    fn fired_in_a_storm(t0: Instant) -> Pace {
        let mut p = Pace::new(t0);
        assert_eq!(p.after_read(t0, true, 500, false), Some(MainWait::OneShot));
        assert_eq!(p.after_read(t0, true, 1, false), None);
        p
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
    fn a_storm_reads_a_quiet_window_after_the_last_read_and_ends_when_empty() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        assert_eq!(p.after_read(t0, true, 500, false), Some(MainWait::OneShot));
        // The one-shot fires: quiet for QUIET.
        let t1 = t0 + ms(1);
        assert_eq!(p.after_read(t1, true, 3, false), None);
        assert_eq!(p.timeout(t1), Some(QUIET));
        // A doorbell step emptied the socket: the deadline moves on.
        assert_eq!(p.after_read(t1 + ms(2), false, 4, false), None);
        assert_eq!(p.timeout(t1 + ms(2)), Some(QUIET));
        assert_eq!(p.timeout(t1 + ms(4)), Some(ms(3)));
        // The deadline, and the read found events: another window.
        let t2 = t1 + ms(2) + QUIET;
        assert_eq!(p.after_read(t2, false, 40, false), None);
        assert_eq!(p.timeout(t2), Some(QUIET));
        // A backlog: read again at once.
        let t3 = t2 + QUIET;
        assert_eq!(p.after_read(t3, false, 4096, true), None);
        assert_eq!(p.timeout(t3), Some(Duration::ZERO));
        // The rest read: the backlog's reads add up, the deadline moves on.
        assert_eq!(p.after_read(t3, false, 0, false), None);
        assert_eq!(p.timeout(t3), Some(QUIET));
        // A whole window without events: calm, waited on always again.
        let t4 = t3 + QUIET;
        assert_eq!(p.after_read(t4, false, 0, false), Some(MainWait::Always));
        assert_eq!(p.timeout(t4), None);
    }

    /// In an exec storm the doorbell's steps empty the main socket every
    /// millisecond or so: the timer never fires, and the storm mode stays
    /// (no flapping between the modes) until a whole window is quiet.
    #[test]
    fn doorbell_steps_keep_the_storm_without_timer_wakeups() {
        let t0 = Instant::now();
        let mut p = fired_in_a_storm(t0);
        let mut t = t0;
        for _ in 0..20 {
            t += ms(1);
            assert_eq!(p.after_read(t, false, 3, false), None);
            assert_eq!(p.timeout(t), Some(QUIET));
        }
        // An empty read by a step before the deadline leaves it: a window
        // without events still ends the storm on time.
        assert_eq!(p.after_read(t + ms(1), false, 0, false), None);
        assert_eq!(p.timeout(t + ms(1)), Some(ms(4)));
        let end = t + QUIET;
        assert_eq!(p.after_read(end, false, 0, false), Some(MainWait::Always));
    }

    /// The one-shot wait can fire for an event a doorbell step has read
    /// already: its read is empty, and the main socket still needs a
    /// deadline (the one-shot is spent), not the caller's long timeout.
    #[test]
    fn a_one_shot_that_fires_on_an_empty_socket_sets_the_deadline() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        assert_eq!(p.after_read(t0, true, 500, false), Some(MainWait::OneShot));
        assert_eq!(p.timeout(t0), None);
        let t1 = t0 + ms(1);
        assert_eq!(p.after_read(t1, true, 0, false), None);
        assert_eq!(p.timeout(t1), Some(QUIET));
    }

    /// A backlog found by a doorbell step inside a quiet window is read at
    /// once, not at the window's end.
    #[test]
    fn a_backlog_is_read_at_once_inside_a_window() {
        let t0 = Instant::now();
        let mut p = fired_in_a_storm(t0);
        assert_eq!(p.after_read(t0 + ms(1), false, 4096, true), None);
        assert_eq!(p.timeout(t0 + ms(1)), Some(Duration::ZERO));
    }

    fn ev(cpu: u32, seq: u32) -> ProcEvent {
        ProcEvent {
            seq,
            cpu,
            timestamp_ns: 0,
            kind: procconn::EventKind::Unknown {
                what: 0,
                data: Vec::new(),
            },
        }
    }

    #[test]
    fn doorbell_events_are_matched_by_per_cpu_sequence() {
        let mut m = SeqMarks::default();
        assert!(!m.read(&[ev(0, 10), ev(1, 5)]));
        // The doorbell rings for cpu 0 seq 12 and cpu 1 seq 7.
        m.rang(&ev(0, 12));
        m.rang(&ev(1, 7));
        // The main socket has cpu 0 up to 12 only: cpu 1 still to come.
        assert!(m.read(&[ev(0, 11), ev(0, 12), ev(1, 6)]));
        assert!(!m.read(&[ev(1, 7)]));
        // A doorbell copy of an event the main socket delivered already.
        m.rang(&ev(0, 12));
        assert!(!m.read(&[]));
        // Sequence numbers wrap.
        m.read(&[ev(2, u32::MAX)]);
        m.rang(&ev(2, 1));
        assert!(m.read(&[ev(2, 0)]));
        assert!(!m.read(&[ev(2, 1)]));
        // Given up: nothing waits.
        m.rang(&ev(3, 1));
        m.forget();
        assert!(!m.read(&[]));
    }

    #[test]
    fn timeout_rounds_up_to_whole_milliseconds() {
        let t0 = Instant::now();
        let p = fired_in_a_storm(t0);
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
