//! Where the watcher's audit records come from, and the pipeline that
//! turns them into kill events: records → [`Assembler`] → [`KillEvent`].

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Instant;

use auditsig::kill::KillStats;
use auditsig::{
    Assembler, AssemblerConfig, FollowLog, KillEvent, MulticastReader, Record, StartAt,
    UnicastReader,
};

use crate::config::{AuditInput, DEFAULT_AUDIT_LOG};
use crate::Error;

/// Records read per round at most: other sources must be served too.
const RECORD_BATCH: usize = 4096;

/// The audit record feed in use.
pub(crate) enum Feed {
    Multicast(MulticastReader),
    Unicast(UnicastReader),
    Log(FollowLog),
    Stdin(StdinLines),
    None,
}

impl Feed {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Feed::Multicast(_) => "audit multicast (AUDIT_NLGRP_READLOG)",
            Feed::Unicast(_) => "audit unicast (sigwatch is the audit pid)",
            Feed::Log(_) => "auditd log file",
            Feed::Stdin(_) => "standard input",
            Feed::None => "none",
        }
    }

    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Feed::None)
    }

    /// The descriptor to wait on (a followed log file is polled by time).
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Feed::Multicast(m) => Some(m.as_fd()),
            Feed::Unicast(u) => Some(u.as_fd()),
            // SAFETY: fd 0 stays open for the life of the process.
            Feed::Stdin(s) if !s.eof => Some(unsafe { BorrowedFd::borrow_raw(0) }),
            _ => None,
        }
    }

    /// Opens what `want` asks for; `Auto` tries multicast, then unicast,
    /// then auditd's log (when a daemon holds the audit pid), else none
    /// with the reason in `gap`.
    pub(crate) fn open(
        want: &AuditInput,
        rcvbuf: usize,
        audit_pid_holder: u32,
        gap: &mut Option<String>,
    ) -> Result<Feed, Error> {
        Ok(match want {
            AuditInput::None => Feed::None,
            AuditInput::Stdin => {
                Feed::Stdin(StdinLines::new().map_err(|e| fatal(format!("stdin: {e}")))?)
            }
            AuditInput::Log(p) => Feed::Log(
                FollowLog::open(p, StartAt::End)
                    .map_err(|e| fatal(format!("cannot follow {} ({e})", p.display())))?,
            ),
            AuditInput::Multicast => Feed::Multicast(open_multicast(rcvbuf).map_err(|e| {
                fatal(format!("cannot join the audit multicast group ({e}); fix: run as root (CAP_AUDIT_READ) on a kernel ≥ 3.16, or use --audit-source unicast|log"))
            })?),
            AuditInput::Unicast => Feed::Unicast(open_unicast(rcvbuf).map_err(|e| {
                fatal(format!("cannot become the audit pid ({e}); fix: run as root (CAP_AUDIT_CONTROL) with no audit daemon, or use --audit-source multicast|log"))
            })?),
            AuditInput::Auto => match open_multicast(rcvbuf) {
                Ok(m) => Feed::Multicast(m),
                Err(e) => {
                    log::info!("audit multicast unavailable ({e})");
                    match open_unicast(rcvbuf) {
                        Ok(u) => Feed::Unicast(u),
                        Err(e2) => {
                            log::info!("audit unicast unavailable ({e2})");
                            let log = std::path::Path::new(DEFAULT_AUDIT_LOG);
                            match FollowLog::open(log, StartAt::End) {
                                Ok(f) if audit_pid_holder != 0 => Feed::Log(f),
                                _ => {
                                    *gap = Some(format!("multicast: {e}; unicast: {e2}"));
                                    Feed::None
                                }
                            }
                        }
                    }
                }
            },
        })
    }

    /// Releases the audit pid if this feed holds it.
    pub(crate) fn release(&mut self) -> Result<(), auditsig::Error> {
        match self {
            Feed::Unicast(u) => u.release(),
            _ => Ok(()),
        }
    }
}

fn fatal(msg: impl Into<String>) -> Error {
    Error::Fatal(msg.into())
}

fn open_multicast(rcvbuf: usize) -> Result<MulticastReader, auditsig::Error> {
    let m = MulticastReader::with_rcvbuf(rcvbuf)?;
    m.set_nonblocking(true)?;
    Ok(m)
}

/// Takes the audit pid only when no live process holds it (never from
/// auditd); it is released at exit.
fn open_unicast(rcvbuf: usize) -> Result<UnicastReader, auditsig::Error> {
    let u = UnicastReader::register_with_rcvbuf(rcvbuf)?;
    u.set_nonblocking(true)?;
    Ok(u)
}

/// Counters of the audit intake.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IntakeCounts {
    /// Records read.
    pub records: u64,
    /// Records that did not parse.
    pub malformed: u64,
    /// Socket overflows (ENOBUFS) so far.
    pub enobufs: u64,
}

/// The feed plus the assembler: records in, kill events out.
pub(crate) struct AuditIntake {
    pub feed: Feed,
    asm: Assembler,
    kill_stats: KillStats,
    records: Vec<Record>,
    pub counts: IntakeCounts,
    /// The feed ended (standard input closed).
    pub ended: bool,
}

impl AuditIntake {
    pub(crate) fn new(feed: Feed) -> Self {
        AuditIntake {
            feed,
            asm: Assembler::new(AssemblerConfig::default()),
            kill_stats: KillStats::default(),
            records: Vec::new(),
            counts: IntakeCounts::default(),
            ended: false,
        }
    }

    /// Kill events that did not decode (kills nobody will see reported).
    pub(crate) fn undecodable(&self) -> u64 {
        self.kill_stats.malformed
    }

    /// Reads what the feed holds now (`ready`: its descriptor polled
    /// readable; a followed log is read every round) and returns the
    /// finished kill events.
    pub(crate) fn poll(&mut self, ready: bool, out: &mut Vec<KillEvent>) {
        self.records.clear();
        match &mut self.feed {
            Feed::Multicast(_) | Feed::Unicast(_) if ready => {
                for _ in 0..RECORD_BATCH {
                    let r = match &mut self.feed {
                        Feed::Multicast(m) => m.try_recv(),
                        Feed::Unicast(u) => u.try_recv(),
                        _ => Ok(None),
                    };
                    match r {
                        Ok(Some(nr)) => match Record::from_netlink_owned(nr.msg_type, nr.body) {
                            Ok(r) => self.records.push(r),
                            Err(_) => self.counts.malformed += 1,
                        },
                        Ok(None) => break,
                        Err(e) => {
                            log::warn!("audit socket: {e}");
                            break;
                        }
                    }
                }
                self.counts.enobufs = match &self.feed {
                    Feed::Multicast(m) => m.stats().enobufs,
                    Feed::Unicast(u) => u.stats().enobufs,
                    _ => 0,
                };
            }
            Feed::Log(f) => {
                if let Err(e) = f.poll(&mut self.records) {
                    log::warn!("audit log: {e}");
                }
            }
            Feed::Stdin(s) if ready => {
                let mut bad = 0;
                s.drain(&mut self.records, &mut bad);
                self.counts.malformed += bad;
                if s.eof {
                    self.ended = true;
                }
            }
            _ => {}
        }
        self.counts.records += self.records.len() as u64;
        let now = Instant::now();
        for r in self.records.drain(..) {
            self.asm.push(r, now);
        }
        self.asm.tick(now);
        while let Some(ev) = self.asm.pop() {
            if let Some(k) = self.kill_stats.convert(&ev) {
                out.push(k);
            }
        }
    }
}

/// Bytes read from standard input per loop iteration at most.
const STDIN_BUDGET: usize = 1 << 20;

/// Longest line kept while waiting for its newline (the kernel caps a
/// record at 8970 bytes; auditd's enriched lines are a little longer).
pub(crate) const MAX_STDIN_LINE: usize = 64 * 1024;

/// Parses the complete lines at the front of `buf` as audit records
/// (unparsable ones are counted in `bad`) and keeps the incomplete rest,
/// in one pass (removing line by line from the front would move the rest
/// of the buffer once per line). A rest longer than any record is
/// dropped and counted, so a stream without newlines cannot grow `buf`
/// without bound.
pub(crate) fn take_lines(buf: &mut Vec<u8>, out: &mut Vec<Record>, bad: &mut u64) {
    let mut start = 0;
    while let Some(i) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + i];
        start += i + 1;
        if line.is_empty() {
            continue;
        }
        match Record::parse_line(line) {
            Ok(r) => out.push(r),
            Err(_) => *bad += 1,
        }
    }
    buf.drain(..start);
    if buf.len() > MAX_STDIN_LINE {
        buf.clear();
        *bad += 1;
    }
}

/// Non-blocking line reader over standard input (audisp plugin mode).
pub(crate) struct StdinLines {
    buf: Vec<u8>,
    pub(crate) eof: bool,
    /// stdin's flags before O_NONBLOCK (restored: the file description may
    /// be shared with the parent, e.g. a shell's terminal).
    orig_flags: i32,
}

impl Drop for StdinLines {
    fn drop(&mut self) {
        // SAFETY: fcntl on stdin restoring flags it had.
        unsafe { libc::fcntl(io::stdin().as_raw_fd(), libc::F_SETFL, self.orig_flags) };
    }
}

impl StdinLines {
    fn new() -> io::Result<Self> {
        let fd = io::stdin().as_raw_fd();
        // SAFETY: fcntl on stdin, adding O_NONBLOCK to its flags.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if fl < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(StdinLines {
            buf: Vec::new(),
            eof: false,
            orig_flags: fl,
        })
    }

    /// Reads what stdin holds now (at most [`STDIN_BUDGET`] bytes, so a
    /// flood cannot starve the other sources) and parses complete lines.
    fn drain(&mut self, out: &mut Vec<Record>, bad: &mut u64) {
        let mut chunk = [0u8; 65536];
        let mut budget = STDIN_BUDGET;
        while budget > 0 {
            match io::stdin().lock().read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        take_lines(&mut self.buf, out, bad);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stdin_lines_are_parsed_and_bounded() {
        let rec = b"type=SYSCALL msg=audit(1795667968.504:23): arch=c000003e syscall=62 success=yes exit=0 a0=50e a1=9 a2=0 a3=0 items=0 ppid=1297 pid=1298 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"sigwatch\"";
        let mut buf = Vec::new();
        buf.extend_from_slice(rec);
        buf.extend_from_slice(b"\n\nnot a record\n");
        buf.extend_from_slice(&rec[..40]);
        let (mut out, mut bad) = (Vec::new(), 0);
        take_lines(&mut buf, &mut out, &mut bad);
        assert_eq!((out.len(), bad), (1, 1));
        assert_eq!(buf, &rec[..40], "the incomplete line is kept");
        buf.extend_from_slice(&rec[40..]);
        buf.push(b'\n');
        take_lines(&mut buf, &mut out, &mut bad);
        assert_eq!((out.len(), bad, buf.len()), (2, 1, 0));
        // No newline for longer than any record: dropped and counted.
        buf.resize(MAX_STDIN_LINE + 1, b'x');
        take_lines(&mut buf, &mut out, &mut bad);
        assert_eq!((out.len(), bad, buf.len()), (2, 2, 0));
    }
}
