//! Linux audit (`NETLINK_AUDIT`) for kill-family syscalls.
#![warn(missing_docs)]
