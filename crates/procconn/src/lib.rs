//! Linux process events from the proc connector (`NETLINK_CONNECTOR`,
//! `CN_IDX_PROC`), counted losslessly, and a process tree that remembers
//! exited processes.
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
