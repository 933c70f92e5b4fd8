//! Linux process events from the proc connector (`NETLINK_CONNECTOR`,
//! `CN_IDX_PROC`), counted losslessly, and a process tree that remembers
//! exited processes.
//!
//! - [`ProcConnector`] ([`socket`]): subscribes (`PROC_CN_MCAST_LISTEN`,
//!   optionally with the kernel-side event filter of Linux ≥ 6.6, chosen by
//!   kernel version with a user-space fallback), sizes the receive buffer
//!   (`SO_RCVBUFFORCE` when permitted), receives with a timeout, in
//!   non-blocking mode or as an iterator, and is pollable (`AsFd`).
//!   Dropping it unsubscribes with an IGNORE in the same form as the
//!   LISTEN, so the host-wide listener count stays right.
//! - [`ProcEvent`] ([`event`]): every `proc_event` kind as a typed value,
//!   the exit wait status decoded ([`ExitStatus`]).
//! - [`parse`]: pure, panic-free parsing of whole datagrams (several
//!   messages, older kernels' shorter layouts, typed [`ParseError`]s).
//! - [`loss`]: exact loss accounting from per-CPU sequence gaps plus
//!   `ENOBUFS` occurrences; [`ProcConnector::loss`] answers "how many events
//!   did I miss so far" at any time.
//! - [`ProcessTree`]: processes (alive and recently exited) and their spawn
//!   chains, fed from the events.
//!
//! Subscribing must happen from the initial user and pid namespaces (the
//! kernel silently ignores other requesters). Older kernels also require
//! `CAP_NET_ADMIN` (the ack then carries `EPERM`); 6.18 accepts
//! unprivileged listeners (measured). Raising the receive buffer past
//! `net.core.rmem_max` needs `CAP_NET_ADMIN` either way.
//!
//! # Examples
//!
//! Parsing needs no kernel, e.g. for bytes read elsewhere:
//!
//! ```
//! use procconn::{parse_datagram, parse::build, EventKind, ProcEvent};
//!
//! let ev = ProcEvent {
//!     seq: 7,
//!     cpu: 0,
//!     timestamp_ns: 1,
//!     kind: EventKind::Exec { process_pid: 42, process_tgid: 42 },
//! };
//! let bytes = build::datagram(&[ev.clone()]);
//! let parsed: Vec<_> = parse_datagram(&bytes).collect();
//! assert_eq!(parsed, vec![Ok(ev)]);
//! ```
//!
//! Subscribing (see above for the privileges): print who gets killed by
//! a signal, then how many events were missed:
//!
//! ```no_run
//! use std::time::Duration;
//! use procconn::{Config, EventKind, ProcConnector};
//!
//! # fn main() -> procconn::Result<()> {
//! let mut conn = ProcConnector::open(&Config::default())?;
//! println!("subscription: {:?}", conn.subscription());
//! for _ in 0..1000 {
//!     // `None` on timeout (or EINTR): a good moment for housekeeping.
//!     let Some(ev) = conn.next_event(Some(Duration::from_secs(1)))? else {
//!         continue;
//!     };
//!     if let EventKind::Exit { process_pid, process_tgid, status, .. } = ev.kind {
//!         if let Some(sig) = status.signal() {
//!             println!("{process_tgid} (thread {process_pid}) killed by signal {sig}");
//!         }
//!     }
//! }
//! let loss = conn.loss();
//! println!("missed {} events ({loss})", loss.missed_events());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod error;
pub mod event;
pub mod loss;
pub mod parse;
pub mod procfs;
pub mod socket;
pub mod tree;

pub use error::{Error, Result};
pub use event::{EventKind, ExitStatus, Pid, ProcEvent};
pub use loss::{Loss, LossTracker};
pub use parse::{parse_datagram, ParseError};
pub use procfs::{Fields, ProcFs, ProcSource};
pub use socket::{Config, ProcConnector, Subscription};
pub use tree::{ExitInfo, InfoSource, ProcessInfo, ProcessKey, ProcessTree, TreeConfig, TreeStats};
