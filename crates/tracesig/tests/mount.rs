//! tracefs is mounted when missing and unmounted again by the process
//! that mounted it once no instance remains. Its own test binary: the
//! mount is process-wide state and other tests would hold it.
#![allow(clippy::unwrap_used)]

mod common;

use tracesig::{Config, TraceSource, Tracefs};

fn tracefs_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| {
            l.split(' ').nth(4) == Some("/sys/kernel/tracing")
                && l.split_once(" - ")
                    .is_some_and(|(_, p)| p.starts_with("tracefs "))
        })
}

#[test]
fn mounts_when_needed_and_unmounts_after() {
    if let Some(r) = common::skip_reason() {
        eprintln!("SKIP mount: {r}");
        return;
    }
    if !std::path::Path::new("/sys/kernel/tracing").is_dir() {
        eprintln!("SKIP mount: no /sys/kernel/tracing (kernel < 4.1)");
        return;
    }
    let before = tracefs_mounted();
    let Some(src) = common::open_or_skip("mount", &Config::default()) else {
        return;
    };
    assert!(tracefs_mounted());
    assert_eq!(Tracefs::mounted_by_us(), !before);
    let second = TraceSource::open(&Config::default()).unwrap();
    drop(src);
    // Still in use by `second`.
    assert!(tracefs_mounted());
    let inst_dir = second.instance().tracefs().instances_dir().unwrap();
    drop(second);
    let others = std::fs::read_dir(&inst_dir).map(|d| d.count()).unwrap_or(0);
    if !before && others > 0 {
        eprintln!("note: {others} foreign instance(s) exist: tracefs must stay mounted");
        assert!(tracefs_mounted());
    } else {
        assert_eq!(tracefs_mounted(), before, "mount state not restored");
    }
}
