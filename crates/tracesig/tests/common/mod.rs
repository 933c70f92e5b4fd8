//! Helpers for the real-kernel tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tracesig::{Config, Record, TraceSource};

/// Root and a kernel with tracefs instances, or the reason why not.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    None
}

/// Opens a source, or prints why the test is skipped.
pub fn open_or_skip(test: &str, cfg: &Config) -> Option<TraceSource> {
    if let Some(r) = skip_reason() {
        eprintln!("SKIP {test}: {r}");
        return None;
    }
    match TraceSource::open(cfg) {
        Ok(s) => Some(s),
        Err(
            e @ (tracesig::Error::Unavailable(_)
            | tracesig::Error::NoInstances(_)
            | tracesig::Error::MissingEvent(_)),
        ) => {
            eprintln!("SKIP {test}: {e}");
            None
        }
        Err(e) => panic!("{test}: {e}"),
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
