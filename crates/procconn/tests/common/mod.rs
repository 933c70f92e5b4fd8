//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use procconn::{Config, ProcConnector, ProcEvent};

/// Opens a subscribed connector, or records why the test cannot run and
/// returns `None`. The decision is an independent probe (a raw
/// NETLINK_CONNECTOR socket, `/proc/net/connector`): where the kernel
/// offers the proc connector, a failing `ProcConnector::open` fails the
/// test instead of skipping it.
pub fn connector(test: &str, config: &Config) -> Option<ProcConnector> {
    if !require_proc_connector(test) {
        return None;
    }
    match ProcConnector::open(config) {
        Ok(c) => Some(c),
        Err(e) => panic!("{test}: the probe found the proc connector, but open failed: {e}"),
    }
}

/// True when the test can use the proc connector (root, and the
/// independent probe finds it); otherwise records the skip.
pub fn require_proc_connector(test: &str) -> bool {
    use sigwatch_test_support::{probe, skip, Need};
    if !probe::is_root() {
        skip(
            test,
            Need::Root,
            "needs root (CAP_NET_ADMIN) for the proc connector",
        );
        return false;
    }
    if let Err(why) = probe::proc_connector() {
        skip(test, Need::ProcConnector, why);
        return false;
    }
    true
}

/// Receives events for up to `timeout`, keeping those `keep` accepts,
/// until `done` says the kept set is complete. Returns the kept events.
pub fn collect(
    conn: &mut ProcConnector,
    timeout: Duration,
    mut keep: impl FnMut(&ProcEvent) -> bool,
    mut done: impl FnMut(&[ProcEvent]) -> bool,
) -> Vec<ProcEvent> {
    let deadline = Instant::now() + timeout;
    let mut kept = Vec::new();
    while !done(&kept) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match conn.next_event(Some(left)) {
            Ok(Some(ev)) => {
                if keep(&ev) {
                    kept.push(ev);
                }
            }
            Ok(None) => {}
            Err(e) => panic!("receive failed: {e}"),
        }
    }
    kept
}

/// `fuzz/corpus/<target>` of the workspace.
pub fn fuzz_corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// `tests/data` of this crate.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}
