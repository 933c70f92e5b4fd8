//! Replays the `sigwatch_inputs` fuzz corpus (fuzz/corpus/sigwatch_inputs)
//! through the same function as the fuzz target, on stable Rust.
#![allow(clippy::unwrap_used)]

#[test]
fn sigwatch_inputs_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sigwatch_inputs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        sigwatch::fuzz_one(&data);
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
