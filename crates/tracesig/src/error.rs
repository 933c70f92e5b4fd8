//! The crate's single error type.

use std::io;
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in `tracesig`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation under tracefs failed (`what` says which one).
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// The operation (e.g. "mkdir", "write", "open").
        what: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// Neither `/sys/kernel/tracing` nor `/sys/kernel/debug/tracing` is
    /// usable (kernel without `CONFIG_FTRACE`/`CONFIG_EVENT_TRACING`, or
    /// mounting failed).
    #[error("tracefs unavailable: {0}")]
    Unavailable(String),

    /// The kernel has no `instances/` directory (kernels before 3.10):
    /// using the global buffer would disturb other tracing users, so we
    /// refuse.
    #[error("tracefs at {} has no instances/ directory", .0.display())]
    NoInstances(PathBuf),

    /// The `signal:signal_generate` tracepoint does not exist.
    #[error("tracepoint {0} not available")]
    MissingEvent(&'static str),

    /// A `trace_pipe` line (or a `per_cpu/cpuN/stats` file) could not be
    /// parsed; `reason` names the field that was wrong.
    #[error("unparsable trace line: {reason}")]
    Parse {
        /// What was expected and not found.
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) const fn parse(reason: &'static str) -> Self {
        Error::Parse { reason }
    }
}
