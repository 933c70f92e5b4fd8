//! Replays the committed fuzz corpus (fuzz/corpus/tracefs_parse) through
//! the fuzz target's function on stable Rust, so CI runs it.
#![allow(clippy::unwrap_used)]

/// The fuzz target's file compiled as ordinary code (`libfuzzer_sys` is
/// the `sigwatch-fuzz-shim` crate: `fuzz_target!` defines `run`), so CI
/// builds the target and the replay runs exactly the fuzzer's code.
#[allow(unused_attributes)] // the target's crate-level `#![no_main]`
#[path = "../../../fuzz/fuzz_targets/tracefs_parse.rs"]
mod tracefs_parse;

use std::path::PathBuf;

#[test]
fn replay_tracefs_parse_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tracefs_parse");
    let mut n = 0;
    for ent in std::fs::read_dir(&dir).unwrap() {
        let path = ent.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        tracefs_parse::run(&data);
        n += 1;
    }
    assert!(n >= 20, "only {n} corpus files in {}", dir.display());
}

#[test]
fn corpus_seeds_parse_as_expected() {
    // The seeds taken from real lines must parse: a corpus of only
    // rejected inputs would not exercise the event paths.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tracefs_parse");
    for name in [
        "kill_sh_line",
        "oom_other_line",
        "weird_comm_line",
        "lost_line",
        "old_layout_2",
    ] {
        let data = std::fs::read(dir.join(name)).unwrap();
        tracesig::parse_line(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
