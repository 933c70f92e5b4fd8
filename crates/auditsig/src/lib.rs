//! Linux audit (`NETLINK_AUDIT`) for kill-family syscalls.
#![warn(missing_docs)]

pub mod error;
pub mod netlink;
pub mod rule;
pub mod status;
pub mod syscalls;

pub use error::{Error, Result};
pub use syscalls::{Arch, KillSyscall};
