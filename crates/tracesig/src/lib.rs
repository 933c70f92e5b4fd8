//! tracesig: signal generation events from tracefs (work in progress).
