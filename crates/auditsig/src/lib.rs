//! Linux audit (`NETLINK_AUDIT`) for kill-family syscalls.
#![warn(missing_docs)]

pub mod assemble;
pub mod client;
pub mod error;
pub mod killrules;
pub mod kill;
pub mod logfile;
pub mod netlink;
pub mod reader;
pub mod record;
pub mod rule;
pub mod status;
pub mod syscalls;
pub mod value;

pub use assemble::{Assembler, AssemblerConfig, Event, EventEnd};
pub use error::{Error, Result};
pub use kill::{KillEvent, KillEventError, Sender, Target};
pub use logfile::{FollowLog, LineReader, SourceStats, StartAt};
pub use record::{ParseError, Record, RecordType, Stamp};
pub use syscalls::{Arch, KillSyscall};
