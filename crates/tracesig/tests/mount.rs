//! tracefs is mounted when missing and unmounted again by the process
//! that mounted it once no instance remains.
//!
//! The host's tracefs is never touched: the test re-runs this binary
//! under `unshare --mount --propagation private`, and only inside that
//! private mount namespace is every tracefs mount taken away before
//! tracesig opens a source. So the mount path runs even where tracefs is
//! mounted already (the CI host, the qemu guest). Its own test binary:
//! the mount is process-wide state.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use sigwatch_test_support::{partial, require_tool, Need};
use tracesig::{Config, TraceSource, Tracefs};

/// Set (to the outer test's mount namespace inode) in the helper process.
const NS_ENV: &str = "TRACESIG_MOUNT_TEST_OUTER_MNT_NS";

/// Mount points of tracefs and debugfs in this process's mount namespace,
/// in mount order. debugfs goes too: with debugfs mounted, a look at
/// `debugfs/tracing` automounts tracefs there, and then nobody needs to
/// mount it.
fn tracing_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, p)| p.starts_with("tracefs ") || p.starts_with("debugfs "))
        })
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect()
}

/// Mount points of tracefs in this process's mount namespace.
fn tracefs_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, p)| p.starts_with("tracefs "))
        })
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect()
}

fn mnt_ns() -> u64 {
    std::fs::metadata("/proc/self/ns/mnt").unwrap().ino()
}

#[test]
fn mounts_when_needed_and_unmounts_after() {
    let test = "mounts_when_needed_and_unmounts_after";
    if common::skip(test) || !require_tool(test, "unshare") {
        return;
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "in_private_mount_namespace",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NS_ENV, mnt_ns().to_string())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "the helper failed: {:?}", out.status);
    assert!(
        text.contains("test in_private_mount_namespace ... ok"),
        "the helper did not run"
    );
    if let Some(l) = text.lines().find(|l| l.starts_with("PARTIAL ")) {
        // Re-recorded here: the helper's own line went to the same log.
        eprintln!("(the helper ran in part: {l})");
    }
}

/// The body, run by [`mounts_when_needed_and_unmounts_after`] in a
/// private mount namespace (refuses to run anywhere else).
#[test]
#[ignore = "run by mounts_when_needed_and_unmounts_after inside a private mount namespace"]
fn in_private_mount_namespace() {
    let outer: u64 = std::env::var(NS_ENV)
        .expect("run only by mounts_when_needed_and_unmounts_after")
        .parse()
        .unwrap();
    assert_ne!(mnt_ns(), outer, "not in a mount namespace of our own");
    // Take every tracefs and debugfs mount away, innermost first
    // (debugfs/tracing's automount, debugfs, /sys/kernel/tracing), in
    // this namespace only.
    for mp in tracing_mounts().iter().rev() {
        let c = std::ffi::CString::new(mp.as_str()).unwrap();
        // SAFETY: a valid C string; MNT_DETACH of a mount in our own
        // private namespace.
        let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        assert_eq!(rc, 0, "umount {mp}: {}", std::io::Error::last_os_error());
    }
    assert_eq!(tracefs_mounts(), Vec::<String>::new());
    assert!(!Tracefs::mounted_by_us());

    let src = TraceSource::open(&Config::default()).unwrap();
    assert!(
        !tracefs_mounts().is_empty(),
        "tracesig did not mount tracefs"
    );
    assert!(Tracefs::mounted_by_us());
    let second = TraceSource::open(&Config::default()).unwrap();
    drop(src);
    // Still in use by `second`.
    assert!(!tracefs_mounts().is_empty());
    let inst_dir = second.instance().tracefs().instances_dir().unwrap();
    drop(second);
    // Trace instances are global: another tracer's (e.g. a sigwatch of
    // another test run on this host) keeps tracefs mounted, by design.
    let others: Vec<_> = std::fs::read_dir(&inst_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    if others.is_empty() {
        assert_eq!(tracefs_mounts(), Vec::<String>::new(), "not unmounted");
        assert!(!Tracefs::mounted_by_us());
    } else {
        assert!(!tracefs_mounts().is_empty(), "unmounted under {others:?}");
        partial(
            "mounts_when_needed_and_unmounts_after",
            Need::Host("no foreign trace instances".into()),
            format!("foreign trace instances {others:?}: the unmount was not checked"),
        );
    }
}
