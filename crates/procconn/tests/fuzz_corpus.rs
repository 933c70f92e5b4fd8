//! Replays every file of `fuzz/corpus/proc_event_parse/` through the same
//! functions as the fuzz target, so CI (stable Rust) catches regressions.
#![allow(clippy::unwrap_used)]

mod common;

use procconn::{parse, parse_datagram, LossTracker};

#[test]
fn replay_proc_event_parse_corpus() {
    let dir = common::fuzz_corpus("proc_event_parse");
    let mut files = 0;
    let mut events = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let mut tracker = LossTracker::new(true);
        for item in parse_datagram(&data) {
            match item {
                Ok(ev) => {
                    events += 1;
                    tracker.observe(&ev);
                }
                Err(e) => tracker.observe_error(&e),
            }
        }
        let _ = tracker.loss().missed_events();
        let _ = parse::parse_cn_msg(&data);
        let _ = parse::parse_proc_event(0, &data);
        files += 1;
    }
    eprintln!("replayed {files} files, {events} events");
    assert!(files >= 10, "corpus missing at {}", dir.display());
    assert!(events > 0);
}
