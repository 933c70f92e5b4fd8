//! Replays the committed corpus of the `audit_record_parse` fuzz target
//! (fuzz/corpus/audit_record_parse) on stable Rust, so CI checks that no
//! input the fuzzer found interesting panics.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn replay_audit_record_parse_corpus() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/audit_record_parse");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        auditsig::kill::fuzz_audit_record_parse(&data);
        n += 1;
    }
    assert!(n >= 10, "corpus at {} has only {n} files", dir.display());
    // The seeds include the real kill events: they must still decode.
    let log = std::fs::read(dir.join("enriched_whole.log")).unwrap();
    let (kills, counters) = auditsig::source::kills_from_log_text(&log);
    assert_eq!(kills.len(), 3);
    assert_eq!((counters.unparsable, counters.undecodable_kills), (0, 0));
}
