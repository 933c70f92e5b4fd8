//! Fuzz the `audit_rule_data` decoder (bytes from `AUDIT_LIST_RULES`) and
//! the netlink record splitter: never panic; a decoded rule re-encodes to
//! bytes that decode to the same rule; rendering never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    auditsig::rule::fuzz_rule_decode(data);
});
