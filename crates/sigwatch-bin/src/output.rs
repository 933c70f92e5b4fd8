//! Writing reports to an output that may block (a pipe nobody reads, a
//! terminal stopped with Ctrl-S) without ever blocking the caller: a
//! bounded queue written only when `poll` says there is room, and a
//! guarded write for shutdown that a termination signal interrupts.

use std::collections::VecDeque;
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
/// (as the audit pid it must, or audited syscalls stall host-wide). The
/// watch loop writes a step's reports as they come and lets a burst wait
/// a little for a reader that keeps up (see `run::make_room` in the
/// binary), so only an output that does not keep up loses reports.
pub const OUT_QUEUE_MAX: usize = 8 << 20;

/// Whether writes to `fd` return `EAGAIN` instead of blocking.
fn nonblocking(fd: BorrowedFd<'_>) -> bool {
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).is_ok_and(|f| {
        nix::fcntl::OFlag::from_bits_truncate(f).contains(nix::fcntl::OFlag::O_NONBLOCK)
    })
}

/// The kernel's `PIPE_BUF`: pipe writes up to this size are atomic.
const PIPE_BUF: usize = 4096;

/// Whether `fd` is a pipe (FIFO).
fn is_pipe(fd: BorrowedFd<'_>) -> bool {
    use nix::sys::stat::{fstat, SFlag};
    fstat(fd)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO)
}

/// Bytes a write to the pipe `fd` surely takes whole now: its capacity
/// less what waits in it, counted in whole pages plus one (a pipe holds
/// pages; the unread bytes may span one page more than their size says).
/// A pipe smaller than `wanted` is grown to hold it, where the system
/// allows (`F_SETPIPE_SZ`, up to `/proc/sys/fs/pipe-max-size`); `None`
/// when the pipe cannot be asked or cannot be made large enough.
fn pipe_room(fd: BorrowedFd<'_>, wanted: usize) -> Option<usize> {
    use std::os::fd::AsRawFd;
    const PAGE: usize = 4096;
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETPIPE_SZ takes no argument and returns the size or -1.
    let mut size = unsafe { libc::fcntl(raw, libc::F_GETPIPE_SZ) };
    if size < 0 {
        return None;
    }
    let need = wanted.div_ceil(PAGE) * PAGE + 2 * PAGE;
    if (size as usize) < need {
        let want = libc::c_int::try_from(need.next_power_of_two()).unwrap_or(libc::c_int::MAX);
        // SAFETY: F_SETPIPE_SZ takes an int; on failure the size stays.
        let grown = unsafe { libc::fcntl(raw, libc::F_SETPIPE_SZ, want) };
        if grown > 0 {
            size = grown;
        }
        if (size as usize) < need {
            // Never room enough: written in parts as it goes (it could
            // otherwise wait forever).
            return None;
        }
    }
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(raw, libc::FIONREAD, &mut unread) } != 0 {
        return None;
    }
    let used_pages = (unread.max(0) as usize).div_ceil(PAGE) + 1;
    Some((size as usize / PAGE).saturating_sub(used_pages) * PAGE)
}

/// A private, non-blocking file description for a pipe on `fd` (its own
/// `O_NONBLOCK` does not change the file description the parent shell
/// shares), so that a report of at most `PIPE_BUF` bytes is written whole
/// or not at all. `None` for anything but a pipe (a regular file reopened
/// would lose its offset and `O_APPEND`).
pub fn reopen_pipe_nonblocking(fd: BorrowedFd<'_>) -> Option<std::fs::File> {
    use nix::sys::stat::{fstat, SFlag};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let st = fstat(fd).ok()?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFIFO {
        return None;
    }
    std::fs::File::options()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .ok()
}

/// Rendered reports waiting for the output to have room. On a
/// non-blocking output (see [`reopen_pipe_nonblocking`]) each report is
/// offered whole: a pipe takes a report of at most `PIPE_BUF` (4 KiB)
/// bytes whole or not at all, and a larger one is offered only when the
/// pipe has room for all of it (the pipe is grown for a report larger
/// than it, where the system allows; otherwise such a report may be
/// split). So a reader never sees half a line, even when sigwatch gives
/// up on a blocked output at exit. A blocking output is written in small chunks only when
/// `poll` says there is room. A queue serves one output: its mode is read
/// once, at the first write.
#[derive(Debug, Default)]
pub struct OutQueue {
    reports: VecDeque<Vec<u8>>,
    /// Bytes of the front report already written.
    front_pos: usize,
    /// Bytes queued in all.
    queued: usize,
    /// Reports dropped because the queue was full.
    pub dropped: u64,
    /// Whether the output is non-blocking (`O_NONBLOCK`), read at the
    /// first write rather than with an `fcntl` before every write.
    nonblocking: Option<bool>,
    /// Whether the output is a pipe (read at the first write).
    pipe: Option<bool>,
    /// The last attempt found the pipe writable but without room for the
    /// whole front report (see [`OutQueue::awaits_pipe_room`]).
    awaiting_room: bool,
}

/// What one non-blocking attempt achieved.
enum Progress {
    Wrote,
    NoRoom,
}

impl OutQueue {
    /// Whether reports wait to be written.
    pub fn pending(&self) -> bool {
        !self.reports.is_empty()
    }

    /// Bytes of the reports waiting (at most [`OUT_QUEUE_MAX`], or one
    /// bigger report alone).
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Reports not (completely) written yet.
    pub fn undelivered(&self) -> u64 {
        self.reports.len() as u64
    }

    /// The front report waits for the pipe to have room for all of it: a
    /// pipe polls writable as soon as one page is free, so a caller should
    /// not wait for `POLLOUT` then (it would wake at once, again and
    /// again) but retry after a short while.
    pub fn awaits_pipe_room(&self) -> bool {
        self.awaiting_room && self.pending()
    }

    /// Whether the front report is partly written (the output would end
    /// in a cut line if nothing more were written).
    pub fn mid_report(&self) -> bool {
        self.front_pos > 0
    }

    /// Queues one rendered report; `false` (and counted) if it does not fit.
    /// A report bigger than the whole cap still goes into an empty queue:
    /// a sender deep in a chain of processes with long command lines makes
    /// one report of megabytes (at most the tree's bounded ancestry), and
    /// dropping every such report would let that sender hide its kills.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        if self.queued > 0 && self.queued + bytes.len() > OUT_QUEUE_MAX {
            self.dropped += 1;
            return false;
        }
        self.queued += bytes.len();
        self.reports.push_back(bytes.to_vec());
        true
    }

    /// One write of the front report, if the output has room now.
    fn write_some<W: Write + AsFd>(&mut self, w: &mut W) -> io::Result<Progress> {
        let Some(front) = self.reports.front() else {
            return Ok(Progress::NoRoom);
        };
        let rest = &front[self.front_pos..];
        let nonblocking = *self
            .nonblocking
            .get_or_insert_with(|| nonblocking(w.as_fd()));
        let is_pipe = *self.pipe.get_or_insert_with(|| is_pipe(w.as_fd()));
        self.awaiting_room = false;
        let n = if nonblocking {
            // A pipe takes a write of at most PIPE_BUF whole or not at
            // all; a larger report is offered only when the pipe has room
            // for all of it, so it is never left half-written.
            if is_pipe && self.front_pos == 0 && rest.len() > PIPE_BUF {
                match pipe_room(w.as_fd(), rest.len()) {
                    Some(room) if room < rest.len() => {
                        self.awaiting_room = true;
                        return Ok(Progress::NoRoom);
                    }
                    _ => {}
                }
            }
            rest.len()
        } else {
            let mut fds = [PollFd::new(w.as_fd(), PollFlags::POLLOUT)];
            match poll(&mut fds, PollTimeout::ZERO) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let writable = fds[0].revents().is_some_and(|r| {
                r.intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP)
            });
            if !writable {
                return Ok(Progress::NoRoom);
            }
            rest.len().min(OUT_CHUNK)
        };
        match w.write(&rest[..n]) {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => {
                self.front_pos += k;
                if self.front_pos == front.len() {
                    self.queued -= front.len();
                    self.reports.pop_front();
                    self.front_pos = 0;
                }
                Ok(Progress::Wrote)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Progress::Wrote),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Progress::NoRoom),
            Err(e) => Err(e),
        }
    }

    /// Writes as much as the output takes now without blocking.
    pub fn write_ready<W: Write + AsFd>(&mut self, w: &mut W) -> io::Result<()> {
        while self.pending() {
            if let Progress::NoRoom = self.write_some(w)? {
                break;
            }
        }
        w.flush()
    }

    /// Writes everything still queued, waiting for room until `deadline`
    /// (or until a termination signal arrives on `sigfd`). What could not
    /// be written stays queued ([`OutQueue::undelivered`]).
    pub fn drain<W: Write + AsFd>(
        &mut self,
        w: &mut W,
        sigfd: BorrowedFd<'_>,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        self.drain_to(w, sigfd, deadline, 0)
    }

    /// Writes until at most `keep` bytes are queued, waiting for the
    /// output to take more (`POLLOUT`) until `deadline` (or until a
    /// termination signal arrives on `sigfd`).
    pub fn drain_to<W: Write + AsFd>(
        &mut self,
        w: &mut W,
        sigfd: BorrowedFd<'_>,
        deadline: Option<Instant>,
        keep: usize,
    ) -> io::Result<()> {
        while self.pending() && self.queued > keep {
            if let Progress::Wrote = self.write_some(w)? {
                continue;
            }
            // A pipe polls writable with one free page: a report that needs
            // more waits a few ms for its reader instead of spinning.
            let (events, cap) = if self.awaits_pipe_room() {
                (PollFlags::empty(), 2u16)
            } else {
                (PollFlags::POLLOUT, 50)
            };
            let timeout = match deadline {
                None => PollTimeout::from(cap),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(io::Error::other(WriteAbort::Timeout));
                    }
                    PollTimeout::from(left.as_millis().clamp(1, u128::from(cap)) as u16)
                }
            };
            let mut fds = [
                PollFd::new(sigfd, PollFlags::POLLIN),
                PollFd::new(w.as_fd(), events),
            ];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            if fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
            {
                return Err(io::Error::other(WriteAbort::Signal));
            }
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::fs::File;
    use std::io::Read;
    use std::os::fd::OwnedFd;

    fn pipe() -> (File, File) {
        let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
        let w = reopen_pipe_nonblocking(w.as_fd()).unwrap();
        (File::from(r), w)
    }

    /// A full pipe takes no part of a report: after the reader drains it,
    /// the output holds whole lines only, and what never fit is counted.
    #[test]
    fn a_blocked_pipe_never_gets_half_a_report() {
        let (mut r, mut w) = pipe();
        let size = 65536;
        let line = |c: u8| {
            let mut v = vec![c; 1000];
            v.push(b'\n');
            v
        };
        let mut q = OutQueue::default();
        let n = size / 1001 + 3;
        for i in 0..n {
            assert!(q.push(&line(b'a' + (i % 26) as u8)));
        }
        q.write_ready(&mut w).unwrap();
        assert!(q.pending(), "more than a pipeful was queued");
        assert!(
            !q.mid_report(),
            "the report that did not fit was not started"
        );
        let (_, sigw) = pipe();
        let left = q.undelivered();
        let e = q
            .drain(
                &mut w,
                sigw.as_fd(),
                Some(Instant::now() + std::time::Duration::from_millis(100)),
            )
            .unwrap_err();
        assert!(e.to_string().contains("blocked"), "{e}");
        assert_eq!(q.undelivered(), left, "nothing more fit");
        drop(w);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got.len() % 1001, 0, "whole lines only");
        assert!(got.ends_with(b"\n"));
        assert_eq!(got.len() / 1001 + left as usize, n);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let mut q = OutQueue::default();
        assert!(q.push(&vec![b'x'; OUT_QUEUE_MAX]));
        assert!(!q.push(b"y\n"));
        assert_eq!((q.dropped, q.undelivered()), (1, 1));
    }

    #[test]
    fn a_report_bigger_than_the_cap_goes_only_into_an_empty_queue() {
        let mut q = OutQueue::default();
        let huge = vec![b'x'; OUT_QUEUE_MAX + 1];
        assert!(q.push(&huge), "alone, it is written (never dropped)");
        assert!(!q.push(b"y\n"), "nothing more fits behind it");
        let mut q = OutQueue::default();
        assert!(q.push(b"y\n"));
        assert!(!q.push(&huge), "behind another report it does not fit");
        assert_eq!((q.dropped, q.undelivered()), (1, 1));
    }
}
