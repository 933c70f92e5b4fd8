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
//!   ([`parse_line`]) into typed [`Record`]s, and [`TextParser`], which
//!   feeds it text and joins events split by a newline inside a comm.
//! - [`classify`](mod@classify): what a [`SignalGenerate`] says about the origin
//!   (`oom`, `cgroup_kill`, `rlimit`, `seccomp`, user syscall, kernel).
//! - [`tracefs`] / [`instance`]: the lifecycle. [`TraceSource::open`]
//!   locates or mounts tracefs (marking a mount it makes), removes the
//!   instances of dead owners (pid and start time, so a reused pid does
//!   not keep them), and creates the instance, under one host-wide lock;
//!   [`TraceSource::clean_stale`] repeats the clean-up while running;
//!   [`TraceSource::finish`] (or drop) removes the instance, cleans up
//!   again and unmounts when this process, or a dead one, mounted
//!   tracefs and no instance remains.
//!
//! Parsing and classifying a line needs no kernel:
//!
//! ```
//! use tracesig::{classify, parse_line, OomEvidence, Origin, Record, UserSend};
//!
//! let line = b"            bash-1234    (   1234) [001] d..1.  5678.901234: \
//!     signal_generate: sig=9 errno=0 code=0 comm=sleep pid=4321 grp=1 res=0";
//! let Ok(Record::SignalGenerate(ev)) = parse_line(line) else { panic!("not parsed") };
//! assert_eq!((ev.ctx.comm.as_str(), ev.ctx.pid, ev.sig, ev.pid), ("bash", 1234, 9, 4321));
//! let c = classify(&ev, OomEvidence::NotMarked);
//! // si_code SI_USER, sent to the whole group: kill(2) by `bash`.
//! assert_eq!(c.origin, Origin::User(UserSend::Kill));
//! ```
//!
//! Reading the kernel's events (root):
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
//! use tracesig::{Config, Record, TraceSource};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // SIGKILL only, filtered in the kernel.
//! let mut src = TraceSource::open(&Config::default())?;
//! for name in &src.cleaned_at_open().stale_instances {
//!     eprintln!("removed {name}, left by a process that died");
//! }
//! let mut records = Vec::new();
//! for _ in 0..60 {
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
//!             println!("{}[{}] sent signal {} to {}[{}]", ev.ctx.comm, ev.ctx.pid, ev.sig, ev.comm, ev.pid);
//!         }
//!     }
//!     src.clean_stale()?;
//! }
//! let cleaned = src.finish()?;
//! if let Some(mp) = cleaned.unmounted {
//!     eprintln!("unmounted {}", mp.display());
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod classify;
pub mod error;
pub mod identity;
pub mod instance;
mod mark;
pub mod parse;
pub mod text;
pub mod tracefs;

pub use classify::{classify, Classification, OomEvidence, Origin, UserSend};
pub use error::{Error, Result};
pub use identity::ProcessIdentity;
pub use instance::{Config, Instance, Loss, SignalFilter, TraceSource};
pub use parse::{parse_line, Context, MarkVictim, Record, SendResult, SignalGenerate, Timestamp};
pub use text::TextParser;
pub use tracefs::{Cleanup, Locations, Tracefs};

/// Runs every pure parser of this crate over `data` and classifies what
/// parses, discarding the results: the body of the `tracefs_parse` fuzz
/// target and of its stable corpus replay (`tests/fuzz_corpus.rs`).
/// `data` is taken as a whole line, as `trace_pipe` text (split at
/// newlines, and through [`TextParser`] in two chunks), and as a
/// `per_cpu/cpuN/stats` file. Not part of the API.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let _ = parse_line(data);
    let _ = parse::parse_cpu_stats(data);
    let mut text = TextParser::new();
    let mut recs = Vec::new();
    let (a, b) = data.split_at(data.len() / 2);
    text.push(a, &mut recs);
    text.push(b, &mut recs);
    text.flush(&mut recs);
    let _ = (recs.len(), text.unparsed(), text.has_partial_line());
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
