//! The binary's diagnostics on stderr, which must never block sigwatch:
//! stderr may be a terminal stopped with Ctrl-S or a pipe nobody reads,
//! and a blocked write would keep the termination signals (and so the
//! clean-up of audit rules and `enabled`) waiting. Messages go into a
//! bounded buffer written only when `poll` says stderr has room; what
//! does not fit is dropped and counted. Repeated messages (the same text
//! but for numbers) are rate-limited: a few per window, then one line
//! "N similar message(s) suppressed".

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Bytes of diagnostics that may wait for stderr.
const MAX_PENDING: usize = 64 << 10;
/// Bytes per write after `POLLOUT` (a terminal signals room with a few
/// hundred bytes free).
const CHUNK: usize = 256;
/// Messages of one kind printed per window before the rest are counted.
const BURST: u32 = 5;
const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Similar {
    since: Option<Instant>,
    printed: u32,
    suppressed: u64,
    example: String,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<u8>,
    /// Messages dropped because stderr stayed blocked.
    dropped: u64,
    kinds: HashMap<String, Similar>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// The message with every run of digits replaced: messages that differ
/// only in numbers (pids, counts) are "similar".
fn kind_of(msg: &str) -> String {
    let mut k = String::with_capacity(msg.len().min(120));
    let mut in_digits = false;
    for c in msg.chars().take(120) {
        if c.is_ascii_digit() {
            if !in_digits {
                k.push('#');
            }
            in_digits = true;
        } else {
            in_digits = false;
            k.push(c);
        }
    }
    k
}

fn stderr_fd() -> BorrowedFd<'static> {
    // SAFETY: fd 2 stays open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(2) }
}

impl State {
    fn queue(&mut self, line: &str) {
        if self.pending.len() + line.len() > MAX_PENDING {
            self.dropped += 1;
            return;
        }
        self.pending.extend(line.as_bytes());
    }

    /// Admits a message under the rate limit; returns a summary line of
    /// what an ended window suppressed.
    fn admit(&mut self, msg: &str, now: Instant) -> (bool, Option<String>) {
        let s = self.kinds.entry(kind_of(msg)).or_default();
        let mut note = None;
        if s.since.is_none_or(|t| now.duration_since(t) >= WINDOW) {
            if s.suppressed > 0 {
                note = Some(format!(
                    "sigwatch: {} similar message(s) suppressed, e.g.: {}\n",
                    s.suppressed, s.example
                ));
            }
            s.since = Some(now);
            s.printed = 0;
            s.suppressed = 0;
        }
        if s.printed < BURST {
            s.printed += 1;
            (true, note)
        } else {
            if s.suppressed == 0 {
                s.example = msg.trim_end().to_string();
            }
            s.suppressed += 1;
            (false, note)
        }
    }

    /// Writes what stderr takes now, without blocking.
    fn write_ready(&mut self) {
        while !self.pending.is_empty() {
            let mut fds = [PollFd::new(stderr_fd(), PollFlags::POLLOUT)];
            if poll(&mut fds, PollTimeout::ZERO).is_err()
                || !fds[0]
                    .revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLOUT))
            {
                return;
            }
            let (a, _) = self.pending.as_slices();
            let n = a.len().min(CHUNK);
            match nix::unistd::write(stderr_fd(), &a[..n]) {
                Ok(k) if k > 0 => {
                    self.pending.drain(..k);
                }
                Err(nix::errno::Errno::EINTR) => {}
                // Gone or broken: nobody will read these.
                _ => {
                    self.dropped += 1;
                    self.pending.clear();
                    return;
                }
            }
        }
    }
}

/// Queues one diagnostic line (a newline is added if missing) and writes
/// what stderr takes now.
pub fn say(msg: &str) {
    let Ok(mut g) = STATE.lock() else { return };
    let st = g.get_or_insert_with(State::default);
    let (print, note) = st.admit(msg, Instant::now());
    if let Some(n) = note {
        st.queue(&n);
    }
    if print {
        if msg.ends_with('\n') {
            st.queue(msg);
        } else {
            st.queue(&format!("{msg}\n"));
        }
    }
    st.write_ready();
}

/// Writes pending diagnostics that stderr takes now (call once per loop).
pub fn flush() {
    if let Ok(mut g) = STATE.lock() {
        if let Some(st) = g.as_mut() {
            st.write_ready();
        }
    }
}

/// At exit: says what was suppressed or dropped, and waits for stderr at
/// most `grace` (never longer: the clean-up is already done).
pub fn finish(grace: Duration) {
    let deadline = Instant::now() + grace;
    let Ok(mut g) = STATE.lock() else { return };
    let st = g.get_or_insert_with(State::default);
    let mut notes = Vec::new();
    for s in st.kinds.values() {
        if s.suppressed > 0 {
            notes.push(format!(
                "sigwatch: {} similar message(s) suppressed, e.g.: {}\n",
                s.suppressed, s.example
            ));
        }
    }
    for n in notes {
        st.queue(&n);
    }
    if st.dropped > 0 {
        let d = st.dropped;
        st.queue(&format!(
            "sigwatch: {d} diagnostic message(s) dropped: stderr was blocked\n"
        ));
    }
    loop {
        st.write_ready();
        if st.pending.is_empty() || Instant::now() >= deadline {
            return;
        }
        let mut fds = [PollFd::new(stderr_fd(), PollFlags::POLLOUT)];
        let _ = poll(&mut fds, PollTimeout::from(20u16));
    }
}

/// A `Write` for env_logger that goes through [`say`].
#[derive(Debug, Default)]
pub struct LogWriter(Vec<u8>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        while let Some(i) = self.0.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.0.drain(..=i).collect();
            say(&String::from_utf8_lossy(&line));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.0.is_empty() {
            let line = std::mem::take(&mut self.0);
            say(&String::from_utf8_lossy(&line));
        }
        Ok(())
    }
}

impl AsFd for LogWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        stderr_fd()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn similar_messages_are_rate_limited_per_window() {
        let mut st = State::default();
        let t0 = Instant::now();
        let mut printed = 0;
        for i in 0..100 {
            let (p, note) = st.admit(&format!("{i} process event(s) lost so far"), t0);
            assert!(note.is_none());
            printed += u32::from(p);
        }
        assert_eq!(printed, BURST);
        assert!(st.admit("another kind of message", t0).0);
        // The next window says how many were suppressed.
        let (p, note) = st.admit("7 process event(s) lost so far", t0 + WINDOW);
        assert!(p);
        let note = note.unwrap();
        assert!(note.contains("95 similar message(s) suppressed"), "{note}");
        assert!(note.contains("lost so far"), "{note}");
    }

    #[test]
    fn the_queue_is_bounded_and_counts_what_it_drops() {
        let mut st = State::default();
        let line = "x".repeat(1000);
        for _ in 0..100 {
            st.queue(&line);
        }
        assert!(st.pending.len() <= MAX_PENDING);
        assert_eq!(st.dropped, 100 - (MAX_PENDING / 1000) as u64);
    }
}
