//! The crate's error type.
//!
//! One error type for the whole crate: the netlink client, the rule codec,
//! the record sources and the record parser all return [`Error`].

use nix::errno::Errno;

/// Everything that can go wrong in `auditsig`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a socket or file (`what` says which operation).
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed (e.g. "send", "recv", "open").
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The kernel answered a request with `NLMSG_ERROR` carrying a
    /// non-zero `nlmsgerr.error` (a negated errno).
    #[error("netlink request {request_type} failed: {errno} ({})", errno.desc())]
    Netlink {
        /// The `nlmsg_type` of the request the kernel rejected
        /// (e.g. 1011 = `AUDIT_ADD_RULE`).
        request_type: u16,
        /// The errno the kernel returned (`-nlmsgerr.error`).
        errno: Errno,
    },

    /// A buffer was shorter than the structure it must hold.
    #[error("truncated {what}: need {need} bytes, got {got}")]
    Truncated {
        /// The structure being decoded (e.g. "audit_rule_data").
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        got: usize,
    },

    /// Bytes that do not form a valid structure (bad length field, too
    /// many fields, ...).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The structure being decoded.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },

    /// A netlink reply did not arrive within the allotted time.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What we were waiting for.
        what: &'static str,
    },

    /// The kernel or this build does not support the requested operation
    /// (e.g. no kill-family syscall table for this architecture).
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// Another live process holds the audit pid (usually auditd); we never
    /// take it over.
    #[error("the audit pid is held by live process {pid}")]
    AuditPidHeld {
        /// The pid currently registered with the kernel.
        pid: i32,
    },

    /// An invalid argument given by the caller (bad signal number, empty
    /// rule set, string field too long, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Text that is not an audit record.
    #[error("audit record: {0}")]
    Record(#[from] crate::record::ParseError),

    /// A kill-family event whose records lack required fields.
    #[error("kill event: {0}")]
    KillEvent(#[from] crate::kill::KillEventError),

    /// No audit daemon is registered (audit pid 0), so nothing writes the
    /// audit log a source would follow.
    #[error("no audit daemon is registered: nothing writes {}", path.display())]
    NoLogWriter {
        /// The log file.
        path: std::path::PathBuf,
    },

    /// No audit record source could be opened
    /// ([`KillSource::open_auto`](crate::source::KillSource::open_auto)):
    /// why each one failed.
    #[error("no audit record source: {0}")]
    NoSource(Box<crate::source::AutoFailure>),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The errno if this is a kernel-reported netlink error or an OS-level
    /// I/O error.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Netlink { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }

    pub(crate) fn io(what: &'static str, source: std::io::Error) -> Self {
        Error::Io { what, source }
    }
}
