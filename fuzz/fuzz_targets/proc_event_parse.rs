//! The proc connector parser must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use procconn::{parse, LossTracker};

fuzz_target!(|data: &[u8]| {
    // A whole datagram, as received, through the loss accounting too.
    let mut tracker = LossTracker::new(true);
    for item in procconn::parse_datagram(data) {
        match item {
            Ok(ev) => {
                tracker.observe(&ev);
            }
            Err(e) => tracker.observe_error(&e),
        }
    }
    let _ = tracker.loss().missed_events();
    // The inner layers on their own (a cn_msg, a bare proc_event).
    let _ = parse::parse_cn_msg(data);
    let _ = parse::parse_proc_event(0, data);
});
