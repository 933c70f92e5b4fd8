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
    if let Some(r) = common::skip_reason() {
        eprintln!("SKIP debugfs_fallback: {r}");
        return;
    }
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap();
    if !fs.lines().any(|l| l.ends_with("\tdebugfs")) {
        eprintln!("SKIP debugfs_fallback: kernel without debugfs");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let debug = tmp.path().join("debug");
    std::fs::create_dir(&debug).unwrap();
    let cfg = Config::default().with_locations(
        Locations::new(tmp.path().join("no-tracefs-here"), &debug)
            .with_mark(tmp.path().join("mark")),
    );
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
    // The mount is marked with this process's identity and mount.
    let mark = std::fs::read_to_string(tmp.path().join("mark")).unwrap();
    let fields: Vec<&str> = mark.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "{mark:?}");
    assert_eq!(fields[0], std::process::id().to_string());
    assert_eq!(fields[1], debug.to_str().unwrap());

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
    let cleaned = src.finish().unwrap();
    assert_eq!(cleaned.unmounted.as_deref(), Some(debug.as_path()));
    assert!(!tmp.path().join("mark").exists(), "mark left behind");
    assert!(!Tracefs::mounted_by_us());
    assert!(
        !mounted_at(&debug),
        "debugfs (or tracing under it) left mounted"
    );
    // The instance is gone from the one tracing instance set too.
    assert!(!debug.join("tracing/instances").join(&name).exists());
}
