//! Fewer wake-ups under storms of process events (kernel ≥ 6.6).
//!
//! Only two kinds of process event need the watcher at once: an exec (the
//! new program's argv, exe and cwd must be read before it exits) and an
//! exit with a non-zero status (a victim's death, whose report is due).
//! Forks and plain exits can wait a few milliseconds and be read in a
//! batch. A second connector socket, filtered in the kernel to those two
//! kinds (`PROC_CN_MCAST_LISTEN` with a `proc_input` mask, Linux 6.6),
//! is the doorbell: it wakes the watcher, which then reads everything, in
//! order, from the main socket. The main socket wakes the watcher by
//! itself only once per quiet window ([`QUIET`]): after it fired, it is
//! not waited on again until a read finds it empty. A fork storm then
//! costs a wake-up every few ms instead of one per event or two; an exec
//! storm one per exec instead of one per event.
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

/// How long forks and plain exits may wait in the main socket.
pub(crate) const QUIET: Duration = Duration::from_millis(5);

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
    /// The main socket is not waited on until then (`None`: it is).
    quiet_until: Option<Instant>,
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
            quiet_until: None,
        })
    }

    /// Empties the doorbell, noting the events whose main copy is to be
    /// read.
    pub(crate) fn ring(&mut self) {
        self.scratch.clear();
        loop {
            match self
                .conn
                .recv_events(&mut self.scratch, Some(Duration::ZERO))
            {
                Ok(0) => break,
                Ok(_) if self.conn.drained() => break,
                Ok(_) => {}
                Err(e) => {
                    log::debug!("doorbell: {e}");
                    break;
                }
            }
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

    /// Whether the main socket's quiet window is over at `now` (with a
    /// little slack: the caller's timeout is in whole milliseconds).
    pub(crate) fn quiet_over(&self, now: Instant) -> bool {
        self.quiet_until
            .is_some_and(|t| now + Duration::from_micros(500) >= t)
    }

    /// The main socket fired, or was read and still had events: quiet
    /// until `now + QUIET` (or at once, with a backlog).
    pub(crate) fn quiet_from(&mut self, now: Instant, backlog: bool) {
        self.quiet_until = Some(if backlog { now } else { now + QUIET });
    }

    /// The main socket is waited on again.
    pub(crate) fn armed(&mut self) {
        self.quiet_until = None;
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
