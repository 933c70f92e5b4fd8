//! The debugfs fallback of old kernels (< 4.1, no tracefs), forced on
//! this kernel: the tracefs mount point is made to be missing and
//! debugfs is mounted on a temporary directory. On kernels with tracefs,
//! `debugfs/tracing` automounts tracefs, which must be unmounted before
//! debugfs. Own test binary: mounts are process-wide state.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use tracesig::{Config, Locations, Record, TraceSource, Tracefs};

fn mounted_at(p: &std::path::Path) -> bool {
    let p = p.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|m| m == p || m.starts_with(&format!("{p}/")))
        })
}

#[test]
fn debugfs_fallback_mounts_reads_and_unmounts() {
    let test = "debugfs_fallback_mounts_reads_and_unmounts";
    if common::skip(test) {
        return;
    }
    if !sigwatch_test_support::probe::filesystem("debugfs") {
        sigwatch_test_support::skip(
            test,
            sigwatch_test_support::Need::Debugfs,
            "kernel without debugfs",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let debug = tmp.path().join("debug");
    std::fs::create_dir(&debug).unwrap();
    let cfg = Config {
        locations: Locations {
            tracefs: tmp.path().join("no-tracefs-here"),
            debugfs: debug.clone(),
        },
        ..Config::default()
    };
    let mut src = match TraceSource::open(&cfg) {
        Ok(s) => s,
        Err(e) => panic!("debugfs fallback: {e}"),
    };
    assert!(src
        .instance()
        .path()
        .starts_with(debug.join("tracing/instances")));
    assert_eq!(src.instance().tracefs().own_mount(), Some(debug.as_path()));
    assert!(Tracefs::mounted_by_us());

    let mut victim = Command::new("sleep").arg("100").spawn().unwrap();
    let vpid = victim.id() as i32;
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -9 {vpid}"))
        .spawn()
        .unwrap();
    let spid = sh.id() as i32;
    sh.wait().unwrap();
    victim.wait().unwrap();
    let recs = common::collect_until(&mut src, Duration::from_secs(10), |r| {
        r.iter()
            .any(|r| matches!(r, Record::SignalGenerate(s) if s.pid == vpid))
    });
    let ev = recs
        .iter()
        .find_map(|r| match r {
            Record::SignalGenerate(s) if s.pid == vpid => Some(s),
            _ => None,
        })
        .expect("SIGKILL seen through debugfs/tracing");
    assert_eq!(ev.ctx.pid, spid);

    let name = src.instance().name().to_string();
    drop(src);
    assert!(!Tracefs::mounted_by_us());
    assert!(
        !mounted_at(&debug),
        "debugfs (or tracing under it) left mounted"
    );
    // The instance is gone from the one tracing instance set too.
    assert!(!debug.join("tracing/instances").join(&name).exists());
}
