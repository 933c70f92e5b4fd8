//! Writing reports to an output that may block (a pipe nobody reads, a
//! terminal stopped with Ctrl-S) without ever blocking the caller: a
//! bounded queue written only when `poll` says there is room, and a
//! guarded write for shutdown that a termination signal interrupts.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Bytes per `write(2)` of a report. After `poll` says `POLLOUT`, a pipe
/// has at least one free page, so a write of at most `PIPE_BUF` never
/// blocks; a terminal signals `POLLOUT` with a few hundred bytes of room.
const OUT_CHUNK: usize = 512;

/// Why a guarded write gave up (carried inside an `io::Error`).
#[derive(Debug)]
pub enum WriteAbort {
    /// A termination signal is pending: clean-up must not wait for a reader.
    Signal,
    /// The output did not become writable before the shutdown deadline.
    Timeout,
}

impl std::fmt::Display for WriteAbort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteAbort::Signal => "a termination signal arrived while the output was blocked",
            WriteAbort::Timeout => "the output stayed blocked at shutdown",
        })
    }
}

impl std::error::Error for WriteAbort {}

/// Writes `bytes` to `w` without ever blocking in `write(2)`: the
/// termination signals are blocked (they arrive through the signalfd), so
/// a write stuck on a full pipe (`sigwatch | less` not scrolling) or a
/// stopped terminal (Ctrl-S) could otherwise never be interrupted and
/// SIGTERM/SIGINT would leave the audit rules installed. Waits in `poll`
/// for room or for a signal (which aborts the write, leaving the signal
/// pending for the loop), or until `deadline`.
pub fn guarded_write<W: Write + AsFd>(
    w: &mut W,
    sigfd: BorrowedFd<'_>,
    bytes: &[u8],
    deadline: Option<Instant>,
) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                PollTimeout::from(left.as_millis().min(10_000) as u16)
            }
        };
        let (writable, signalled) = {
            let mut fds = [
                PollFd::new(w.as_fd(), PollFlags::POLLOUT),
                PollFd::new(sigfd, PollFlags::POLLIN),
            ];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ev = |i: usize| fds[i].revents().unwrap_or(PollFlags::empty());
            (
                // POLLERR/POLLHUP: the write below reports what happened.
                ev(0).intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP),
                ev(1).contains(PollFlags::POLLIN),
            )
        };
        if signalled {
            return Err(io::Error::other(WriteAbort::Signal));
        }
        if !writable {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::other(WriteAbort::Timeout));
            }
            continue;
        }
        let n = rest.len().min(OUT_CHUNK);
        match w.write(&rest[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => rest = &rest[k..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    w.flush()
}

/// Whether `fd` is a pipe or a socket: its reader can go away, which
/// `poll` reports as `POLLERR` (pipe) or `POLLHUP` (socket).
pub fn reader_can_vanish(fd: BorrowedFd<'_>) -> bool {
    use nix::sys::stat::{fstat, SFlag};
    fstat(fd).is_ok_and(|st| {
        let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        fmt == SFlag::S_IFIFO || fmt == SFlag::S_IFSOCK
    })
}

/// At most this many bytes of reports wait for a slow reader; beyond it
/// reports are dropped (counted and said at exit), never the sources'
/// events: sigwatch keeps reading the kernel while its output is blocked
/// (as the audit pid it must, or audited syscalls stall host-wide).
pub const OUT_QUEUE_MAX: usize = 8 << 20;

/// Rendered reports waiting for the output to have room.
#[derive(Debug, Default)]
pub struct OutQueue {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
    /// Reports dropped because the queue was full.
    pub dropped: u64,
}

impl OutQueue {
    /// Whether bytes wait to be written.
    pub fn pending(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// Queues one rendered report; `false` (and counted) if it does not fit.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        if self.buf.len() - self.pos + bytes.len() > OUT_QUEUE_MAX {
            self.dropped += 1;
            return false;
        }
        self.buf.extend_from_slice(bytes);
        true
    }

    /// Writes as much as the output takes now without blocking: one
    /// chunk (512 bytes) per `POLLOUT`.
    pub fn write_ready<W: Write + AsFd>(&mut self, w: &mut W) -> io::Result<()> {
        while self.pending() {
            let writable = {
                let mut fds = [PollFd::new(w.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::ZERO) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
                fds[0].revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP)
                })
            };
            if !writable {
                break;
            }
            let end = self.buf.len().min(self.pos + OUT_CHUNK);
            match w.write(&self.buf[self.pos..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => self.pos += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        // Keep the buffer from growing with what was already written.
        if self.pos > OUT_QUEUE_MAX / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        Ok(())
    }

    /// Writes everything still queued, waiting for room (see
    /// [`guarded_write`]) until `deadline`.
    pub fn drain<W: Write + AsFd>(
        &mut self,
        w: &mut W,
        sigfd: BorrowedFd<'_>,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let r = guarded_write(w, sigfd, &self.buf[self.pos..], deadline);
        self.buf.clear();
        self.pos = 0;
        r
    }
}
