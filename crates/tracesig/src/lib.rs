//! Who sent that signal, according to the kernel's own tracepoint.
//!
//! `tracesig` reads `signal:signal_generate` (and `oom:mark_victim`)
//! from a private tracefs instance (`instances/sigwatch-<pid>`), so the
//! host's global trace buffer and other tracing users are untouched.
//! Unlike audit, the tracepoint sees every signal generation, including
//! those the kernel originates itself (OOM killer, `cgroup.kill`,
//! RLIMIT_CPU, seccomp) and those sent by processes started before audit
//! was enabled; the sender is the task that was current.
//!
//! Layers, from pure to I/O:
//! - [`parse`]: a pure, fuzzed parser of `trace_pipe` lines
//!   ([`parse_line`]) into typed [`Record`]s.
//! - [`classify`]: what a [`SignalGenerate`] says about the origin
//!   (`oom`, `cgroup_kill`, `rlimit`, `seccomp`, user syscall, kernel).
//! - [`tracefs`] / [`instance`]: locating or mounting tracefs, the
//!   instance (kernel-side filter, buffer size, clean-up on drop, stale
//!   instances of dead processes removed), and [`TraceSource`], a
//!   non-blocking reader with loss counters.
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
//! use tracesig::{classify, Config, OomEvidence, Record, TraceSource};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // SIGKILL only, filtered in the kernel; needs root.
//! let mut src = TraceSource::open(&Config::default())?;
//! let mut records = Vec::new();
//! loop {
//!     let mut fds = [PollFd::new(src.as_fd(), PollFlags::POLLIN)];
//!     if poll(&mut fds, PollTimeout::from(1000u16))? > 0 {
//!         // The sender's comm/tgid are printed from caches the kernel
//!         // fills when the task is next switched out: give it a tick.
//!         std::thread::sleep(std::time::Duration::from_millis(20));
//!     }
//!     records.clear();
//!     src.read_available(&mut records)?;
//!     for r in &records {
//!         if let Record::SignalGenerate(ev) = r {
//!             let c = classify(ev, OomEvidence::NotMarked);
//!             println!(
//!                 "{}[{}] sent signal {} to {}[{}]: {} ({})",
//!                 ev.ctx.comm, ev.ctx.pid, ev.sig, ev.comm, ev.pid,
//!                 c.origin.as_str(), c.evidence
//!             );
//!         }
//!     }
//!     let loss = src.loss()?;
//!     if loss.buffer + loss.unparsed > 0 {
//!         eprintln!("lost {} events, {} unparsable lines", loss.buffer, loss.unparsed);
//!     }
//! }
//! # }
//! ```
#![warn(missing_docs)]

pub mod classify;
pub mod error;
pub mod instance;
pub mod parse;
pub mod tracefs;

pub use classify::{classify, Classification, OomEvidence, Origin, UserSend};
pub use error::{Error, Result};
pub use instance::{clean_stale_instances, Config, Instance, Loss, SignalFilter, TraceSource};
pub use parse::{parse_line, Context, MarkVictim, Record, SendResult, SignalGenerate, Timestamp};
pub use tracefs::{Locations, Tracefs};

/// Runs every pure parser of this crate over `data` and classifies what
/// parses, discarding the results: the body of the `tracefs_parse` fuzz
/// target and of its stable corpus replay (`tests/fuzz_corpus.rs`).
/// `data` is taken as a whole line, as `trace_pipe` text (split at
/// newlines), and as a `per_cpu/cpuN/stats` file.
pub fn fuzz_one(data: &[u8]) {
    let _ = parse_line(data);
    let _ = parse::parse_cpu_stats(data);
    let mut marked = None;
    for line in data.split(|&b| b == b'\n') {
        match parse_line(line) {
            Ok(Record::SignalGenerate(ev)) => {
                let oom = match &marked {
                    Some(mv) => OomEvidence::Marked(mv),
                    None => OomEvidence::NotMarked,
                };
                let c = classify(&ev, oom);
                let _ = (c.origin.as_str(), c.evidence);
                let _ = classify(&ev, OomEvidence::Unavailable);
            }
            Ok(Record::MarkVictim(mv)) => marked = Some(mv),
            Ok(Record::Other(o)) => {
                let _ = o.ctx.flags.map(|f| (f.as_str().len(), f.irqs_off()));
            }
            Ok(Record::Lost { .. }) | Err(_) => {}
        }
    }
}
