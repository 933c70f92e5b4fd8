//! Audit record parser, assembler and KillEvent over arbitrary bytes, as
//! log lines and as netlink bodies (see
//! `auditsig::kill::fuzz_audit_record_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    auditsig::kill::fuzz_audit_record_parse(data);
});
