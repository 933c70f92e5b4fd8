//! Fuzz the tracefs `trace_pipe` line parser and the per-CPU stats
//! parser of `tracesig` (pure functions over untrusted bytes: comm is
//! chosen by the traced processes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tracesig::fuzz_one(data);
});
