//! Replays the `sigwatch_inputs` fuzz corpus (fuzz/corpus/sigwatch_inputs)
//! through the same function as the fuzz target, on stable Rust.
#![allow(clippy::unwrap_used)]

/// The fuzz target's file compiled as ordinary code (`libfuzzer_sys` is
/// the `sigwatch-fuzz-shim` crate: `fuzz_target!` defines `run`), so CI
/// builds the target and the replay runs exactly the fuzzer's code.
#[allow(unused_attributes)] // the target's crate-level `#![no_main]`
#[path = "../../../fuzz/fuzz_targets/sigwatch_inputs.rs"]
mod sigwatch_inputs;

#[test]
fn sigwatch_inputs_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sigwatch_inputs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        sigwatch_inputs::run(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus at {}", dir.display());
}

/// Replays the `replay_inputs` fuzz corpus (fuzz/corpus/replay_inputs)
/// through the same function as the fuzz target.
#[test]
fn replay_inputs_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/replay_inputs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        sigwatch::replay::fuzz_replay_inputs(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus at {}", dir.display());
}
