//! The embedding example (`crates/sigwatch-bin/examples/embed.rs`): the
//! library's `Watcher` driven from an embedder's own poll loop attributes
//! a real kill, and its `finish` leaves audit and tracefs as found.
#![allow(clippy::unwrap_used)]

use sigwatch_e2e::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

/// `target/<profile>/examples/embed`, built by `cargo test --workspace`.
fn embed_example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let bin = dir.join("examples/embed");
    assert!(
        bin.exists(),
        "{} missing: cargo test --workspace builds the examples",
        bin.display()
    );
    bin
}

#[test]
fn embedded_watcher_attributes_a_kill_in_the_callers_loop() {
    let test = "embedded_watcher";
    // With audit (its rules) or tracefs alone (the audit=0 guest): the
    // example says when its watcher is live, and only then is the victim
    // killed. (Waiting for the trace instance's directory instead was a
    // race: the tracepoint is enabled after the directory is made, and in
    // the slow guest the kill came first and was `unknown`.)
    if !require_root(test) || !require_sender_witness(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mut child = Command::new(embed_example())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the embedded watcher never said it was watching");
    assert!(first.starts_with("watching"), "{first}");
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    let killer = Command::new("sh")
        .args(["-c", "kill -9 \"$1\"; sleep 0.2", "sh", &vpid.to_string()])
        .spawn()
        .unwrap();
    let kpid = killer.id() as i32;
    let mut killer = killer;
    killer.wait().unwrap();
    victim.wait().unwrap();
    let want = format!("pid {vpid} killed by Some({kpid}) (User)");
    // Other processes may be killed meanwhile (a guest's own harness):
    // the line about this victim is the one that counts.
    let deadline = Instant::now() + Duration::from_secs(15);
    let got = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("no report of the victim from the embedded watcher");
        if line.starts_with(&format!("pid {vpid} killed")) {
            break line;
        }
    };
    assert_eq!(got, want);
    child.stdin.as_mut().unwrap().write_all(b"quit\n").unwrap();
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(10)), Some(0));
    // (The child has exited: the channel ends after its last line.)
    let last = rx.iter().find(|l| l.ends_with(" report(s)")).unwrap();
    assert!(
        last.ends_with(" report(s)") && last != "0 report(s)",
        "{last}"
    );
    before.assert_restored();
    trace_before.assert_restored();
}

/// `target/<profile>/examples/NAME`, built by `cargo test --workspace`.
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let bin = dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} missing: cargo test --workspace builds the examples",
        bin.display()
    );
    bin
}

fn auditctl_l() -> String {
    let o = Command::new("auditctl").arg("-l").output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits (with a deadline) until `auditctl -l` shows a rule keyed
/// `sigwatch:<pid>`.
fn wait_for_rules_of(pid: u32, what: &str) {
    let key = format!("key=sigwatch:{pid}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !auditctl_l().contains(&key) {
        assert!(
            Instant::now() < deadline,
            "{what}: no rule keyed {key}:\n{}",
            auditctl_l()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills a fresh `sleep` from a fresh `sh`; returns (victim, killer).
fn kill_one() -> (i32, i32) {
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    let mut killer = Command::new("sh")
        .args(["-c", "kill -9 \"$1\"", "sh", &vpid.to_string()])
        .spawn()
        .unwrap();
    let kpid = killer.id() as i32;
    killer.wait().unwrap();
    victim.wait().unwrap();
    (vpid, kpid)
}

/// A program that uses only auditsig's `RuleKeeper` and `KillSource`
/// (`crates/auditsig/examples/keeper_watch.rs`) keeps seeing kills after a
/// co-running real `sigwatch`, whose rules it relied on, exits (removing
/// them and switching audit back off), and after `auditctl -D`.
#[test]
fn keeper_embedder_keeps_attributing_after_sigwatch_exits_and_a_flush() {
    let test = "keeper_embedder";
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditctl") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let sw = Sigwatch::start(&[]);
    wait_for_rules_of(sw.pid() as u32, "sigwatch");
    let mut child = Command::new(example("keeper_watch"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), "ready");
    // sigwatch's rules cover the kill family: the embedder added none.
    assert!(!auditctl_l().contains(&format!("key=sigwatch:{}", child.id())));
    let (status, _) = sw.stop();
    assert_eq!(status, Some(0));
    wait_for_rules_of(child.id(), "after sigwatch exited");
    let expect_kill = |rx: &std::sync::mpsc::Receiver<String>, what: &str| {
        let (v, k) = kill_one();
        let want = format!("kill 9 [{v}] by {k}");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l == want => break,
                Ok(_) => {}
                Err(_) => panic!("{what}: the embedder never printed {want:?}"),
            }
        }
    };
    expect_kill(&rx, "after sigwatch exited");
    let o = Command::new("auditctl").arg("-D").output().unwrap();
    assert!(o.status.success());
    wait_for_rules_of(child.id(), "after auditctl -D");
    expect_kill(&rx, "after auditctl -D");
    child.stdin.as_mut().unwrap().write_all(b"stop\n").unwrap();
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(10)), Some(0));
    before.assert_restored();
    trace_before.assert_restored();
}
