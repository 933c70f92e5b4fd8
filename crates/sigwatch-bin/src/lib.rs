//! The sigwatch attribution engine.
