//! The crate's single error type.

use std::io;

/// Errors of the `procconn` crate.
///
/// Parse errors of single messages are not here: they are
/// [`crate::parse::ParseError`] values, reported per message so that one
/// bad message never discards the good ones of the same datagram.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Creating, binding or configuring the netlink socket failed.
    #[error("proc connector socket: {context}: {source}")]
    Socket {
        /// What was being done (e.g. "bind CN_IDX_PROC").
        context: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Sending the LISTEN/IGNORE request failed.
    #[error("proc connector subscription ({op}): {source}")]
    Subscribe {
        /// `"listen"` or `"ignore"`.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Receiving from the socket failed (other than `ENOBUFS`, which is
    /// counted as loss, and timeouts / `EAGAIN`, which are not errors).
    #[error("proc connector receive: {0}")]
    Recv(#[source] io::Error),
    /// Any other I/O error (e.g. reading `/proc`).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
