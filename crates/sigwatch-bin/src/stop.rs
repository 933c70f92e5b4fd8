//! Process-wide termination signals, for programs that want every
//! catchable terminating signal to go through their clean-up (the
//! `sigwatch` binary does; an embedder opts in by creating
//! [`StopSignals`]).

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Signals that stop sigwatch through its clean-up. Besides the usual
/// three, every catchable signal whose default action would terminate the
/// process (and so leave the audit rules, `enabled`, the audit pid and the
/// trace instance behind): a stray `kill -USR1`, SIGQUIT from a terminal,
/// SIGXCPU at an RLIMIT_CPU soft limit, SIGPWR from a UPS daemon.
/// (SIGPIPE is ignored by the Rust runtime: a closed output is an EPIPE.)
pub const TERMINATING_SIGNALS: [Signal; 12] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGPWR,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
];

/// The [`TERMINATING_SIGNALS`], blocked in the calling thread and
/// delivered through a non-blocking signalfd: readable when one arrived.
/// Create it before any other thread starts (threads inherit the mask).
#[derive(Debug)]
pub struct StopSignals {
    fd: SignalFd,
}

impl StopSignals {
    /// Blocks the signals and opens the signalfd.
    ///
    /// # Errors
    /// `sigprocmask` or `signalfd` failed (as an `io::Error`).
    pub fn install() -> std::io::Result<StopSignals> {
        let mut mask = SigSet::empty();
        for s in TERMINATING_SIGNALS {
            mask.add(s);
        }
        mask.thread_block()?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(StopSignals { fd })
    }

    /// The signal that arrived, if one did (non-blocking).
    pub fn take(&mut self) -> Option<i32> {
        match self.fd.read_signal() {
            Ok(Some(si)) => Some(si.ssi_signo as i32),
            _ => None,
        }
    }
}

impl AsFd for StopSignals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
