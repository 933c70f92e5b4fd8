//! Helpers for the real-kernel tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sigwatch_test_support::{probe, Need};
use tracesig::{Config, Record, TraceSource};

/// Root and a kernel with tracefs, or what is missing — decided by the
/// independent probe (`/proc/filesystems`, the event's files), never by
/// tracesig.
pub fn skip_reason() -> Option<(Need, String)> {
    if !probe::is_root() {
        return Some((Need::Root, "not root".into()));
    }
    if let Err(why) = probe::tracefs() {
        return Some((Need::Tracefs, why));
    }
    None
}

/// Records why `test` is skipped and returns true when it must be.
pub fn skip(test: &str) -> bool {
    match skip_reason() {
        Some((need, why)) => {
            sigwatch_test_support::skip(test, need, why);
            true
        }
        None => false,
    }
}

/// Opens a source, or records why the test is skipped. Where the probe
/// found tracefs, a failing `TraceSource::open` fails the test.
pub fn open_or_skip(test: &str, cfg: &Config) -> Option<TraceSource> {
    if skip(test) {
        return None;
    }
    match TraceSource::open(cfg) {
        Ok(s) => Some(s),
        Err(e) => panic!("{test}: the probe found tracefs, but TraceSource::open failed: {e}"),
    }
}

/// Polls and reads until `done` holds for the records collected so far
/// or `timeout` passes; returns everything read.
pub fn collect_until(
    src: &mut TraceSource,
    timeout: Duration,
    mut done: impl FnMut(&[Record]) -> bool,
) -> Vec<Record> {
    let deadline = Instant::now() + timeout;
    let mut all = Vec::new();
    loop {
        src.read_available(&mut all).unwrap();
        if done(&all) {
            return all;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return all;
        }
        let ms = u16::try_from(left.as_millis().min(200)).unwrap();
        let mut fds = [PollFd::new(src.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(ms)).unwrap();
    }
}

/// Names of the entries of the instances directory.
pub fn instance_names(src: &TraceSource) -> Vec<String> {
    let dir = src.instance().tracefs().instances_dir().unwrap();
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
