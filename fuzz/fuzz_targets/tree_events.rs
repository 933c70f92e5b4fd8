//! The process tree as a state machine: any event sequence keeps its
//! bookkeeping consistent and its retention bounds, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = procconn::tree::fuzz_events(data) {
        panic!("inconsistent tree: {e}");
    }
});
