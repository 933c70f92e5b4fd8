//! `sigwatch replay`'s input parsers over arbitrary bytes: every line
//! format (auditd, ausearch output, kernel log, syslog, journal JSON), the
//! journal export stream, the replay itself and the time parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sigwatch::replay::fuzz_replay_inputs(data);
});
