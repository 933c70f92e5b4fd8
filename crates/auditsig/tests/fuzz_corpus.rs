//! Replays the committed corpus of the `audit_record_parse` fuzz target
//! (fuzz/corpus/audit_record_parse) on stable Rust, so CI checks that no
//! input the fuzzer found interesting panics.
#![allow(clippy::unwrap_used)]

/// The fuzz target's file compiled as ordinary code (`libfuzzer_sys` is
/// the `sigwatch-fuzz-shim` crate: `fuzz_target!` defines `run`), so CI
/// builds the target and the replay runs exactly the fuzzer's code.
#[allow(unused_attributes)] // the target's crate-level `#![no_main]`
#[path = "../../../fuzz/fuzz_targets/audit_record_parse.rs"]
mod audit_record_parse;

use std::path::PathBuf;

#[test]
fn replay_audit_record_parse_corpus() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/audit_record_parse");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        audit_record_parse::run(&data);
        n += 1;
    }
    assert!(n >= 10, "corpus at {} has only {n} files", dir.display());
    // The seeds include the real kill events: they must still decode.
    let log = std::fs::read(dir.join("enriched_whole.log")).unwrap();
    let (kills, counters) = auditsig::source::kills_from_log_text(&log);
    assert_eq!(kills.len(), 3);
    assert_eq!((counters.unparsable, counters.undecodable_kills), (0, 0));
}
