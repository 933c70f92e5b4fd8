//! End-to-end lifecycle scenarios: coexisting with a user's own rules and a
//! running auditd, rules flushed mid-run, restart after a SIGKILL. Root only.
#![allow(clippy::unwrap_used)]

use sigwatch_e2e::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl").args(args).output().unwrap();
    assert!(out.status.success(), "auditctl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sigwatch_rule_lines() -> Vec<String> {
    auditctl(&["-l"])
        .lines()
        .filter(|l| l.contains("key=sigwatch"))
        .map(str::to_string)
        .collect()
}

fn kill_sleep_from_sh() -> i32 {
    let mut v = spawn_sleep();
    let pid = v.id() as i32;
    let out = run_sh("kill -9 \"$1\"; true", &[&pid.to_string()]);
    assert!(out.status.success());
    v.wait().unwrap();
    pid
}

#[test]
fn users_own_kill_rule_is_kept_and_used() {
    let test = "user_rule";
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditctl") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let arch = "b64"; // the native arch on x86_64 and aarch64
    auditctl(&[
        "-a",
        "exit,always",
        "-F",
        &format!("arch={arch}"),
        "-S",
        "kill",
        "-k",
        "e2e-user",
    ]);
    let user_rules = auditctl(&["-l"]);
    let sw = Sigwatch::start(&[]);
    let mut sw = sw;
    let victim = kill_sleep_from_sh();
    let r = sw.wait_kill_of(victim);
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(r["syscall"], "kill", "{r:#}");
    assert_eq!(
        r["audit"]["key"], "e2e-user",
        "the user's rule matched first: {r:#}"
    );
    let (code, _) = sw.stop();
    assert_eq!(code, Some(0));
    let after = auditctl(&["-l"]);
    // Delete the user's rule before asserting, so a failure leaves no trace.
    auditctl(&[
        "-d",
        "exit,always",
        "-F",
        &format!("arch={arch}"),
        "-S",
        "kill",
        "-k",
        "e2e-user",
    ]);
    assert_eq!(
        after, user_rules,
        "sigwatch left the user's rules exactly as they were"
    );
    before.assert_restored();
}

#[test]
fn running_auditd_keeps_its_audit_pid() {
    let test = "auditd_running";
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditd") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let before_pid = before.pid().unwrap();
    if before_pid != "0" {
        skip(
            test,
            Need::AuditIdle,
            format!("an audit daemon (pid {before_pid}) already runs on this host"),
        );
        return;
    }
    let mut auditd = Command::new("auditd")
        .args(["-f", "-n"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let apid = auditd.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while AuditSnapshot::take().pid() != Some(apid.as_str()) {
        assert!(Instant::now() < deadline, "auditd did not register");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut sw = Sigwatch::start(&[]);
    assert_eq!(
        AuditSnapshot::take().pid(),
        Some(apid.as_str()),
        "sigwatch must not take the audit pid"
    );
    let victim = kill_sleep_from_sh();
    let r = sw.wait_kill_of(victim);
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(r["syscall"], "kill", "{r:#}");
    let (code, _) = sw.stop();
    assert_eq!(code, Some(0));
    let during = AuditSnapshot::take();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(auditd.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_timeout(&mut auditd, Duration::from_secs(10));
    // auditd enables audit when it starts; put back what this test found.
    auditctl(&["-e", before.enabled().unwrap()]);
    assert_eq!(
        during.pid(),
        Some(apid.as_str()),
        "auditd still holds the audit pid after sigwatch left"
    );
    assert_eq!(
        during.rules(),
        before.rules(),
        "sigwatch removed exactly its rules"
    );
    before.assert_restored();
}

#[test]
fn rules_flushed_mid_run_are_re_added() {
    let test = "rules_flushed";
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditctl") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    if before.rules().unwrap().trim() != "No rules" {
        skip(
            test,
            Need::AuditIdle,
            "the host has audit rules of its own; `auditctl -D` would delete them",
        );
        return;
    }
    let mut sw = Sigwatch::start(&[]);
    let installed = sigwatch_rule_lines();
    assert!(!installed.is_empty(), "sigwatch installed its rules");
    auditctl(&["-D"]);
    let deadline = Instant::now() + Duration::from_secs(12);
    while sigwatch_rule_lines() != installed {
        assert!(
            Instant::now() < deadline,
            "rules not re-added within 12 s: {:?}\nstderr:\n{}",
            sigwatch_rule_lines(),
            sw.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let victim = kill_sleep_from_sh();
    let r = sw.wait_kill_of(victim);
    assert_eq!(r["origin"], "user", "{r:#}");
    assert!(
        sw.stderr().to_lowercase().contains("re-add"),
        "sigwatch says it re-added the rules; stderr:\n{}",
        sw.stderr()
    );
    let (code, _) = sw.stop();
    assert_eq!(code, Some(0));
    before.assert_restored();
}

#[test]
fn restart_after_sigkill_cleans_the_predecessors_rules() {
    let test = "restart_after_kill9";
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditctl") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let first = Sigwatch::start(&[]);
    let first_pid = first.pid();
    let first_rules = sigwatch_rule_lines();
    assert!(!first_rules.is_empty());
    first.kill9();
    assert_eq!(
        sigwatch_rule_lines(),
        first_rules,
        "a SIGKILLed sigwatch cannot clean up"
    );
    let first_key = format!("key=sigwatch:{}", first_pid);
    assert!(
        first_rules.iter().all(|l| l.ends_with(&first_key)),
        "the first sigwatch's rules carry its key: {first_rules:#?}"
    );
    let mut second = Sigwatch::start(&[]);
    let second_rules = sigwatch_rule_lines();
    assert_eq!(
        second_rules.len(),
        first_rules.len(),
        "stale rules were replaced, not duplicated: {second_rules:#?}"
    );
    // The predecessor's rules are gone, the new ones carry the new key,
    // and stderr says what was removed.
    let second_key = format!("key=sigwatch:{}", second.pid());
    assert!(
        second_rules.iter().all(|l| l.ends_with(&second_key)),
        "only the second sigwatch's rules remain: {second_rules:#?}"
    );
    let expected = format!(
        "removed {} stale audit rule(s) left by a previous sigwatch that died",
        first_rules.len()
    );
    assert!(
        second.stderr().contains(&expected),
        "stderr lacks {expected:?}:\n{}",
        second.stderr()
    );
    let victim = kill_sleep_from_sh();
    let r = second.wait_kill_of(victim);
    assert_eq!(r["origin"], "user", "{r:#}");
    let (code, _) = second.stop();
    assert_eq!(code, Some(0));
    assert!(sigwatch_rule_lines().is_empty(), "no sigwatch rule left");
    // The SIGKILLed first instance could not restore `enabled`; the second
    // found it enabled and restored that. Put back what this test found.
    auditctl(&["-e", before.enabled().unwrap()]);
    before.assert_restored();
}
