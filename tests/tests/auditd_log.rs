//! The auditd-log-only path for real: Debian's `auditd` (the daemon, in the
//! foreground with a private config) writes its ENRICHED log, and
//! `sigwatch --audit-source log:PATH --source proc,audit` attributes a kill
//! from that file alone (no multicast, no tracefs). Root and `auditd` needed.
#![allow(clippy::unwrap_used)]

use sigwatch_e2e::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn kill_attributed_from_a_real_auditd_log() {
    let test = "real_auditd_log";
    if !require_root(test)
        || !require_audit(test)
        || !require_tool(test, "auditd")
        || !require_tool(test, "auditctl")
    {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let (Some(enabled_before), Some("0")) = (before.enabled().map(str::to_string), before.pid())
    else {
        skip(
            test,
            Need::AuditIdle,
            format!("an audit daemon already runs on this host ({before:?})"),
        );
        return;
    };
    let dir = TempDir::new("auditd");
    let log = dir.0.join("audit.log");
    let plugins = dir.0.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    let conf = dir.0.join("auditd.conf");
    std::fs::write(
        &conf,
        format!(
            "local_events = yes\nwrite_logs = yes\nlog_file = {}\nlog_group = root\n\
             log_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 1\nmax_log_file = 100\n\
             num_logs = 2\nmax_log_file_action = ROTATE\nspace_left = 2\n\
             space_left_action = IGNORE\nadmin_space_left = 1\nadmin_space_left_action = IGNORE\n\
             disk_full_action = IGNORE\ndisk_error_action = IGNORE\nname_format = NONE\n\
             plugin_dir = {}\n",
            log.display(),
            plugins.display()
        ),
    )
    .unwrap();
    // auditd refuses a config that others can read or write.
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut auditd = Command::new("auditd")
        .args(["-n", "-c", dir.0.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let apid = auditd.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while AuditSnapshot::take().pid() != Some(apid.as_str()) || !log.exists() {
        if Instant::now() > deadline {
            let _ = auditd.kill();
            let _ = auditd.wait();
            let _ = Command::new("auditctl")
                .args(["-e", &enabled_before])
                .output();
            panic!("auditd did not start with {}", conf.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let src = format!("log:{}", log.display());
    let mut sw = Sigwatch::start(&["--audit-source", &src, "--source", "proc,audit"]);
    let during = AuditSnapshot::take();
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    let out = run_sh("kill -9 \"$1\"; true", &[&vpid.to_string()]);
    assert!(out.status.success(), "{out:?}");
    victim.wait().unwrap();
    let r = sw.wait_kill_of(vpid);
    let (code, _) = sw.stop();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(auditd.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_timeout(&mut auditd, Duration::from_secs(10));
    // auditd enables audit when it starts; put back what this test found.
    Command::new("auditctl")
        .args(["-e", &enabled_before])
        .output()
        .unwrap();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();

    assert_eq!(code, Some(0));
    assert_eq!(
        during.pid(),
        Some(apid.as_str()),
        "sigwatch left the audit pid to auditd"
    );
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(r["syscall"], "kill", "{r:#}");
    assert_eq!(r["success"], true, "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    assert_eq!(r["sender"]["comm"], "sh", "{r:#}");
    assert_eq!(
        argv(&r["sender"]),
        ["sh", "-c", "kill -9 \"$1\"; true", "sh", &vpid.to_string()],
        "argv from the log's PROCTITLE: {r:#}"
    );
    let serial = r["audit"]["serial"].as_u64().unwrap();
    assert!(
        logged.contains(&format!(":{serial}): arch=")),
        "the report's serial {serial} is an event of auditd's log"
    );
    assert!(
        r["audit"]["key"].as_str().unwrap().starts_with("sigwatch"),
        "sigwatch's own rule matched: {r:#}"
    );
    before.assert_restored();
}
