//! Things a watcher has to tell a person (a missing witness, rules
//! re-added, stale state cleaned): handed to the caller, who prints or
//! logs them; the library never writes to stderr itself.

use std::fmt;

/// How much a notice matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// Something worth knowing (e.g. audit was off and is now on).
    Note,
    /// Coverage is reduced or host state changed under the watcher.
    Warning,
}

/// One message for the operator, in one line with its fix where one
/// exists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notice {
    /// How much it matters.
    pub severity: Severity,
    /// The message.
    pub message: String,
}

impl Notice {
    pub(crate) fn note(message: impl Into<String>) -> Self {
        Notice {
            severity: Severity::Note,
            message: message.into(),
        }
    }

    pub(crate) fn warning(message: impl Into<String>) -> Self {
        Notice {
            severity: Severity::Warning,
            message: message.into(),
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Note => f.write_str("note: ")?,
            Severity::Warning => f.write_str("warning: ")?,
        }
        f.write_str(&self.message)
    }
}
