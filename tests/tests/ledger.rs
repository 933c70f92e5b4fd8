//! The host-state ledger: what a sigwatch changed in audit is undone even
//! when it was killed by SIGKILL — by the next start, by a co-running
//! survivor, and when the dead one's pid now belongs to another process.
//! Root and audit only; `enabled` and the rules are put back as found.
#![allow(clippy::unwrap_used)]

use sigwatch_e2e::*;
use std::process::Command;
use std::time::{Duration, Instant};

const LEDGER_DIR: &str = "/run/sigwatch";

fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl").args(args).output().unwrap();
    assert!(out.status.success(), "auditctl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn enabled() -> String {
    auditctl(&["-s"])
        .lines()
        .find_map(|l| l.strip_prefix("enabled ").map(str::to_string))
        .unwrap()
}

fn rules_of(pid: i32) -> usize {
    auditctl(&["-l"])
        .lines()
        .filter(|l| l.contains(&format!("key=sigwatch:{pid}")))
        .count()
}

fn ledger_files_of(pid: i32) -> Vec<String> {
    std::fs::read_dir(LEDGER_DIR)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("audit-{pid}-")))
                .collect()
        })
        .unwrap_or_default()
}

/// Puts `enabled` back as found, whatever happens.
struct Enabled(String);

impl Drop for Enabled {
    fn drop(&mut self) {
        let _ = Command::new("auditctl").args(["-e", &self.0]).output();
    }
}

fn setup(test: &str) -> Option<(AuditLock, AuditSnapshot, Enabled)> {
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditctl") {
        return None;
    }
    let lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let guard = Enabled(enabled());
    // The scenario: audit off, so that sigwatch switches it on.
    auditctl(&["-e", "0"]);
    Some((lock, before, guard))
}

#[test]
fn enabled_is_restored_after_a_sigkill_by_the_next_run() {
    let Some((_lock, before, guard)) = setup("ledger_next_run") else {
        return;
    };
    let a = Sigwatch::start(&[]);
    let a_pid = a.pid();
    assert_eq!(enabled(), "1", "sigwatch switched audit on");
    assert!(
        !ledger_files_of(a_pid).is_empty(),
        "written before the change"
    );
    a.kill9();
    assert_eq!(enabled(), "1", "the SIGKILLed one could not restore it");
    assert!(rules_of(a_pid) > 0);
    let b = Sigwatch::start(&[]);
    let (status, _) = b.stop();
    assert_eq!(status, Some(0));
    assert_eq!(enabled(), "0", "the next run restored what the first found");
    assert_eq!(rules_of(a_pid), 0);
    assert!(ledger_files_of(a_pid).is_empty());
    drop(guard);
    before.assert_restored();
}

#[test]
fn a_survivor_undoes_a_killed_instance_while_running_and_at_exit() {
    let Some((_lock, before, guard)) = setup("ledger_survivor") else {
        return;
    };
    let a = Sigwatch::start(&[]);
    let a_pid = a.pid();
    let b = Sigwatch::start(&[]);
    a.kill9();
    // B's periodic check (every 3 s) adopts A's entry and removes A's
    // rules while B runs.
    let deadline = Instant::now() + Duration::from_secs(15);
    while rules_of(a_pid) > 0 || !ledger_files_of(a_pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the survivor never cleaned up after {a_pid}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(enabled(), "1", "audit stays on while the survivor runs");
    let (status, _) = b.stop();
    assert_eq!(status, Some(0));
    assert_eq!(
        enabled(),
        "0",
        "the last one out restored what the first found"
    );
    drop(guard);
    before.assert_restored();
}

#[test]
fn a_dead_instance_whose_pid_was_reused_is_still_undone() {
    let Some((_lock, before, guard)) = setup("ledger_pid_reuse") else {
        return;
    };
    // A live process (not sigwatch) has the dead instance's pid now: the
    // ledger recorded another start time for that pid.
    let mut impostor = spawn_sleep();
    let pid = impostor.id() as i32;
    std::fs::create_dir_all(LEDGER_DIR).unwrap();
    let entry = format!("{LEDGER_DIR}/audit-{pid}-1.ledger");
    std::fs::write(&entry, format!("owner {pid} 1\nrestore-enabled 0\n")).unwrap();
    auditctl(&["-e", "1"]);
    auditctl(&[
        "-a",
        "exit,always",
        "-F",
        "arch=b64",
        "-S",
        "kill",
        "-F",
        "a1=9",
        "-k",
        &format!("sigwatch:{pid}"),
    ]);
    let sw = Sigwatch::start(&[]);
    assert_eq!(rules_of(pid), 0, "the stale rule is removed at start");
    assert!(
        !std::path::Path::new(&entry).exists(),
        "the entry was adopted"
    );
    let (status, _) = sw.stop();
    assert_eq!(status, Some(0));
    assert_eq!(enabled(), "0", "the adopted entry's enabled was restored");
    impostor.kill().unwrap();
    impostor.wait().unwrap();
    drop(guard);
    before.assert_restored();
}

/// The policy for audit switched off under a running sigwatch (an admin's
/// `auditctl -e 0`, an auditd restart): switched on again within a few
/// seconds, said on stderr, kills attributed again; at exit `enabled` is
/// put back to the value sigwatch replaced (the admin's "off": the host's
/// last wish, and right too when the one who switched it off was another
/// sigwatch restoring what it had found).
#[test]
fn audit_switched_off_under_it_is_switched_on_again_and_said() {
    let Some((_lock, before, guard)) = setup("ledger_switched_off") else {
        return;
    };
    auditctl(&["-e", "1"]);
    let mut sw = Sigwatch::start(&[]);
    auditctl(&["-e", "0"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while enabled() != "1" {
        assert!(Instant::now() < deadline, "audit stayed off");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sw.stderr().contains("switched off"), "{}", sw.stderr());
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    assert!(run_sh("kill -9 \"$1\"", &[&vpid.to_string()])
        .status
        .success());
    victim.wait().unwrap();
    let r = sw.wait_kill_of(vpid);
    assert_eq!(r["syscall"], "kill", "audit records arrive again: {r:#}");
    let (status, _) = sw.stop();
    assert_eq!(status, Some(0));
    assert_eq!(enabled(), "0", "put back to the value it replaced");
    drop(guard);
    before.assert_restored();
}
