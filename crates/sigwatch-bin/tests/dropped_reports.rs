//! Reports dropped while the output was blocked are counted in the JSON
//! summary line, not only on stderr.
//!
//! Uses only process events (`--source proc`): no audit state is touched.
//! (A file of its own: the tests of `blocked_output.rs` measure a full
//! pipe and must not share the machine with this one's 2 000 processes.)
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sigwatch_test_support::{pgrp_members, spawn_ready, wait_idle};

/// The binary under test: `$SIGWATCH_BIN` (the static release binary in
/// CI's guests and its host e2e pass), else the one cargo built.
fn bin() -> std::path::PathBuf {
    std::env::var_os("SIGWATCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_sigwatch").into())
}

/// A group kill whose reports (about 16 MB) outgrow the output queue
/// while nobody reads: the reports that do not fit are dropped, and once
/// the reader is back the JSON summary line says how many, as stderr
/// does (until 2026-12-02 the summary line said 0: it was rendered before
/// the count was taken). Every victim is either reported or counted.
#[test]
fn reports_dropped_while_the_output_was_blocked_are_in_the_summary_line() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP reports_dropped_in_summary: needs root (process events as root)");
        return;
    }
    use std::os::unix::process::CommandExt;
    const VICTIMS: usize = 2000;
    let dir = std::env::temp_dir().join(format!("sigwatch-dropped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Close-on-exec: sigwatch must not inherit the read end (it would
    // then never see its reader go away, and outlive a failed test).
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut read_end = File::from(r);
    let stderr_path = dir.join("stderr");
    let comm = format!("swdrp{}", std::process::id() % 100_000);
    let mut sw = spawn_ready(
        Command::new(bin())
            .args([
                "--json",
                "--source",
                "proc",
                "--window-ms",
                "20",
                "--comm",
                &comm,
            ])
            .stdout(Stdio::from(w))
            .stderr(File::create(&stderr_path).unwrap()),
        &dir,
    );
    let link = dir.join(&comm);
    std::os::unix::fs::symlink("/bin/sleep", &link).unwrap();
    // `sleep` adds up its arguments: 300 and 2,000 zeros is 300 s; each
    // report carries about 4 KB of argv (the tree's cap), 8 KB of JSON.
    let zeros = "0 ".repeat(2000);
    let mut leader = Command::new("bash")
        .args([
            "-c",
            &format!(
                "for i in $(seq {VICTIMS}); do {} 300 {zeros} & done; wait",
                link.display()
            ),
        ])
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = leader.id() as i32;
    // The victims that have exec'd (named `comm`); the others are still
    // forked shells.
    let named = || {
        pgrp_members(pgid)
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while named() < VICTIMS {
        assert!(
            Instant::now() < deadline,
            "the {VICTIMS} victims never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    leader.wait().unwrap();
    // Nobody reads until sigwatch has dealt with every death and is idle
    // (asleep, its CPU time still for 2 s: a burst sleeps up to 1 s
    // waiting for a reader, then what does not fit in the queue is
    // dropped).
    assert!(
        wait_idle(
            sw.id() as i32,
            Duration::from_secs(2),
            Duration::from_secs(120)
        ),
        "sigwatch never went idle"
    );
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        read_end.read_to_end(&mut out).unwrap();
        out
    });
    // The reader drains the queue; then the stop.
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sw.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(sw.wait().unwrap().success());
    let out = reader.join().unwrap();
    let mut kills = 0u64;
    let mut summary = None;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        match v["type"].as_str() {
            Some("kill") => kills += 1,
            Some("summary") => summary = Some(v),
            _ => {}
        }
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let summary = summary.unwrap_or_else(|| panic!("no summary line; stderr:\n{stderr}"));
    let dropped = summary["reports_dropped"].as_u64().unwrap();
    assert!(
        dropped > 0,
        "the premise: reports were dropped ({summary}; {} bytes read)",
        out.len()
    );
    assert!(
        stderr.contains(&format!("sigwatch: {dropped} report(s) dropped")),
        "stderr and the summary line agree ({summary}):\n{stderr}"
    );
    assert_eq!(
        kills + dropped,
        VICTIMS as u64,
        "every victim is reported or counted ({summary}):\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
