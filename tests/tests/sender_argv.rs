//! The sender's argv on a host that audits `execve` (laurel's rules, CIS,
//! STIG): the kernel caches `PROCTITLE` at a task's first audited syscall,
//! so a sender that exec'd through `setsid` and `setpriv` into a script
//! carries `setsid`'s argv in its kill record. sigwatch must report the
//! script's argv (from the process tree), or null with
//! `proctitle_rejected` when the sender was gone before its argv could be
//! read — never `setsid`'s. Root and audit needed; the `execve` rule is
//! removed again (also when a test fails).
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use sigwatch_e2e::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A user `execve` rule, deleted on drop.
struct ExecRule(Vec<String>);

impl ExecRule {
    fn add(test: &str) -> ExecRule {
        let rule: Vec<String> = [
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "execve",
            "-k",
            &format!("sw-e2e-{test}-{}", std::process::id()),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = Command::new("auditctl")
            .arg("-a")
            .args(&rule)
            .output()
            .unwrap();
        assert!(out.status.success(), "auditctl -a: {out:?}");
        ExecRule(rule)
    }
}

impl Drop for ExecRule {
    fn drop(&mut self) {
        let out = Command::new("auditctl").arg("-d").args(&self.0).output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("could not delete the execve rule {:?}: {out:?}", self.0);
        }
    }
}

/// `guard.sh` (`#!/bin/sh`) killing `$3`, in a directory of its own. It
/// lives on for a second after the kill, so that sigwatch (on a loaded
/// machine) reads its argv after its exec before it is gone.
fn guard_script(dir: &Path) -> PathBuf {
    let p = dir.join("guard.sh");
    std::fs::write(&p, "#!/bin/sh\nkill -9 \"$3\"\nsleep 1\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// The file a path names on this host (the oracle for `exe`).
fn real(p: &str) -> String {
    std::fs::canonicalize(p)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// `setsid setpriv --clear-groups PROG ARGS…`: three execs in one task.
fn run_chain(prog: &str, args: &[&str]) {
    let st = Command::new("setsid")
        .args(["setpriv", "--clear-groups", prog])
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "setsid setpriv {prog}: {st:?}");
}

fn skip(test: &str) -> bool {
    !require_root(test)
        || !require_audit(test)
        || !require_tool(test, "auditctl")
        || !require_tool(test, "setsid")
        || !require_tool(test, "setpriv")
}

/// Runs the script chain against a fresh victim with or without an
/// `execve` rule and returns the kill report.
fn script_chain_report(test: &str, with_exec_rule: bool) -> Value {
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let dir = TempDir::new(test);
    let guard = guard_script(&dir.0);
    let report = {
        let mut sw = Sigwatch::start(&["--audit-source", "multicast"]);
        let rule = with_exec_rule.then(|| ExecRule::add(test));
        let mut victim = spawn_sleep();
        let vpid = victim.id() as i32;
        run_chain(
            guard.to_str().unwrap(),
            &["--mode", "restart", &vpid.to_string()],
        );
        victim.wait().unwrap();
        let r = sw.wait_kill_of(vpid);
        drop(rule);
        let (code, _) = sw.stop();
        assert_eq!(code, Some(0));
        r
    };
    before.assert_restored();
    report
}

fn check_script_sender(r: &Value, guard_dir_test: &str) {
    let s = &r["sender"];
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(s["comm"], "guard.sh", "{r:#}");
    assert_eq!(s["exe"], real("/bin/sh").as_str(), "{r:#}");
    let argv = argv(s);
    assert_eq!(argv.len(), 5, "{r:#}");
    assert_eq!(argv[0], "/bin/sh", "{r:#}");
    assert!(
        argv[1].ends_with("/guard.sh") && argv[1].contains(guard_dir_test),
        "{r:#}"
    );
    assert_eq!(argv[2..4], ["--mode", "restart"], "{r:#}");
    assert_eq!(argv[4], r["victim"]["pid"].to_string(), "{r:#}");
    assert_eq!(s["argv_truncated"], false, "{r:#}");
}

#[test]
fn sender_that_exec_d_three_times_is_reported_with_its_final_argv_under_an_execve_rule() {
    let test = "argv_execve_rule";
    if skip(test) {
        return;
    }
    let r = script_chain_report(test, true);
    check_script_sender(&r, test);
    // The record's PROCTITLE was setsid's (the kernel's cache): seen and
    // set aside, not reported.
    assert_eq!(r["sender"]["proctitle_rejected"], true, "{r:#}");
    assert!(!r.to_string().contains("\"setsid\""), "{r:#}");
}

#[test]
fn sender_that_exec_d_three_times_is_reported_with_its_final_argv_without_an_execve_rule() {
    let test = "argv_no_execve_rule";
    if skip(test) {
        return;
    }
    let r = script_chain_report(test, false);
    check_script_sender(&r, test);
    // The kill was the task's first audited syscall: PROCTITLE is current.
    assert_eq!(r["sender"]["proctitle_rejected"], false, "{r:#}");
}

#[test]
fn sender_gone_before_its_argv_was_read_has_null_argv_not_the_stale_one() {
    let test = "argv_sender_gone";
    if skip(test) || !require_tool(test, "kill") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let kill_bin = real("/bin/kill");
    let r = {
        // Multicast: a stopped reader of the multicast group stalls nobody.
        let mut sw = Sigwatch::start(&["--audit-source", "multicast"]);
        let rule = ExecRule::add(test);
        let mut victim = spawn_sleep();
        let vpid = victim.id() as i32;
        let swpid = nix::unistd::Pid::from_raw(sw.pid());
        // sigwatch reads nothing while stopped: the sender's exec events
        // wait in its socket and /proc/<sender> is gone when they are read.
        nix::sys::signal::kill(swpid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        run_chain("/bin/kill", &["-9", &vpid.to_string()]);
        victim.wait().unwrap();
        // The chain's process has exited and been reaped (status() waited).
        std::thread::sleep(Duration::from_millis(100));
        nix::sys::signal::kill(swpid, nix::sys::signal::Signal::SIGCONT).unwrap();
        let t0 = Instant::now();
        let r = sw.wait_kill_of(vpid);
        eprintln!("{test}: report {:?} after SIGCONT", t0.elapsed());
        drop(rule);
        let (code, _) = sw.stop();
        assert_eq!(code, Some(0));
        r
    };
    before.assert_restored();
    let s = &r["sender"];
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(s["comm"], "kill", "{r:#}");
    assert_eq!(s["exe"], kill_bin.as_str(), "{r:#}");
    assert_eq!(s["exited"], true, "{r:#}");
    assert_eq!(s["argv"], Value::Null, "{r:#}");
    assert_eq!(s["argv_truncated"], Value::Null, "{r:#}");
    assert_eq!(s["proctitle_rejected"], true, "{r:#}");
    assert!(!r.to_string().contains("\"setsid\""), "{r:#}");
}
