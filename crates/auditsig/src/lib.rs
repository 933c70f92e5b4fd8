//! Linux audit (`NETLINK_AUDIT`) for kill-family syscalls.
#![warn(missing_docs)]

pub mod syscalls;

pub use syscalls::{Arch, KillSyscall};
