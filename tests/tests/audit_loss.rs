//! Audit records the kernel drops (here: its rate limit) are counted from
//! the first to the last second of a run: sigwatch reads the kernel's
//! `lost` counter when it starts and again when it stops, and every loss
//! shows as a `loss` line and in the summary. Root and audit only; the
//! rate limit is put back as found.
#![allow(clippy::unwrap_used)]

use sigwatch_e2e::*;
use std::process::Command;
use std::time::Duration;

/// A value of `auditctl -s` (`rate_limit`, `lost`, ...).
fn status_value(name: &str) -> u64 {
    let o = Command::new("auditctl").arg("-s").output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
        .unwrap_or_else(|| panic!("auditctl -s has no {name}"))
}

/// Puts the rate limit back, whatever happens.
struct RateLimit(u64);

impl Drop for RateLimit {
    fn drop(&mut self) {
        let _ = Command::new("auditctl")
            .args(["-r", &self.0.to_string()])
            .output();
    }
}

#[test]
fn kernel_drops_in_a_short_run_are_reported_as_loss() {
    let test = "kernel_drops_reported";
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditctl") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let _restore = RateLimit(status_value("rate_limit"));
    let sw = Sigwatch::start(&[]);
    // 5 records a second at most: a burst of kills loses most of them.
    assert!(Command::new("auditctl")
        .args(["-r", "5"])
        .status()
        .unwrap()
        .success());
    let lost_before = status_value("lost");
    let out = run_sh(
        "i=0; while [ $i -lt 100 ]; do sleep 300 & kill -9 $!; i=$((i+1)); done; wait; true",
        &[],
    );
    assert!(out.status.success());
    std::thread::sleep(Duration::from_millis(300));
    let dropped = status_value("lost") - lost_before;
    Command::new("auditctl").args(["-r", "0"]).status().unwrap();
    assert!(dropped > 0, "the rate limit dropped nothing: no test");
    // Stop well before the first periodic check (3 s): the loss must be
    // read at stop.
    let (status, objs) = sw.stop();
    assert_eq!(status, Some(0));
    let summary = objs.iter().rev().find(|v| v["type"] == "summary").unwrap();
    let reported = summary["audit_lost"].as_u64().unwrap();
    // The figures (shown with --nocapture): the kernel's count of dropped
    // records, sigwatch's summary, and its loss lines.
    let loss_lines_total: u64 = objs
        .iter()
        .filter(|v| v["type"] == "loss" && v["source"] == "audit")
        .map(|v| v["count"].as_u64().unwrap_or(0))
        .sum();
    eprintln!(
        "audit rate limit 5/s, 100 kills: kernel lost +{dropped}; sigwatch summary audit_lost {reported}, loss lines {loss_lines_total}"
    );
    assert!(
        reported >= dropped,
        "the kernel dropped {dropped} records during the burst, sigwatch reported {reported}"
    );
    let loss_lines: u64 = objs
        .iter()
        .filter(|v| v["type"] == "loss" && v["source"] == "audit")
        .map(|v| v["count"].as_u64().unwrap())
        .sum();
    assert!(
        loss_lines >= dropped,
        "loss lines {loss_lines} < dropped {dropped}: {objs:?}"
    );
    drop(_restore);
    before.assert_restored();
}
