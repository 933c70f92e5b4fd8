//! Replays the committed corpora of procconn's fuzz targets
//! (`fuzz/corpus/{proc_event_parse,procfs_parse,tree_events}`) through the
//! fuzz targets themselves: each `fuzz/fuzz_targets/<target>.rs` is
//! compiled here as ordinary code (`libfuzzer_sys` is the
//! `sigwatch-fuzz-shim` crate, whose `fuzz_target!` defines `run`), so CI
//! on stable Rust builds every target and runs exactly the fuzzer's code.
#![allow(clippy::unwrap_used)]

mod common;

use procconn::parse_datagram;

#[allow(unused_attributes)] // the target's crate-level `#![no_main]`
#[path = "../../../fuzz/fuzz_targets/proc_event_parse.rs"]
mod proc_event_parse;

#[allow(unused_attributes)]
#[path = "../../../fuzz/fuzz_targets/procfs_parse.rs"]
mod procfs_parse;

#[allow(unused_attributes)]
#[path = "../../../fuzz/fuzz_targets/tree_events.rs"]
mod tree_events;

/// Every file of `fuzz/corpus/<target>`, read.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = common::fuzz_corpus(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn replay_proc_event_parse_corpus() {
    let files = corpus("proc_event_parse");
    let mut events = 0;
    for (name, data) in &files {
        eprintln!("{name}");
        proc_event_parse::run(data);
        events += parse_datagram(data).filter(Result::is_ok).count();
    }
    eprintln!("replayed {} files, {events} events", files.len());
    assert!(files.len() >= 10, "corpus has only {} files", files.len());
    // Seeds taken from real datagrams must still parse: a corpus of only
    // rejected inputs would not exercise the event paths.
    assert!(events > 0);
}

#[test]
fn replay_procfs_parse_corpus() {
    let files = corpus("procfs_parse");
    for (name, data) in &files {
        eprintln!("{name}");
        procfs_parse::run(data);
    }
    assert!(files.len() >= 5, "corpus has only {} files", files.len());
    let parsed = files
        .iter()
        .filter(|(_, d)| procconn::procfs::parse_stat(d).is_some())
        .count();
    assert!(parsed > 0, "no corpus file parses as /proc/PID/stat");
}

#[test]
fn replay_tree_events_corpus() {
    let files = corpus("tree_events");
    for (name, data) in &files {
        eprintln!("{name}");
        tree_events::run(data);
    }
    assert!(!files.is_empty(), "empty tree_events corpus");
}
