//! sigwatch's own parsers and escaping over arbitrary bytes: kernel-log
//! lines, the terminal escaper, and a replay of audit-log lines through
//! the Attributor (no panic; escaped text never holds control characters).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sigwatch::fuzz_one(data);
});
