//! End-to-end tests of the witnesses and the forced fallback paths: the
//! tracefs witness (with audit off, and for kernel-originated kills: OOM,
//! `cgroup.kill`, RLIMIT_CPU), and audit read by unicast, from an auditd
//! log file, or not at all. Root only (each test says when it skips).
//!
//! Every test holds the audit lock (which also serializes their trace
//! instances) and checks that audit and tracefs are left as found.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use sigwatch_e2e::*;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn witnesses(r: &Value) -> Vec<String> {
    r["witnesses"]
        .as_array()
        .unwrap_or_else(|| panic!("no witnesses list: {r:#}"))
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

/// Stops sigwatch, checks it exited 0 with a summary, and that its trace
/// instance is gone.
fn stop_clean(sw: Sigwatch) -> Vec<Value> {
    let pid = sw.pid();
    let (code, seen) = sw.stop();
    assert_eq!(code, Some(0), "sigwatch exit status; seen {seen:#?}");
    let last = seen.last().expect("no output");
    assert_eq!(last["type"], "summary", "{last:#}");
    assert!(last["trace_lost"].as_u64().is_some(), "{last:#}");
    assert_eq!(
        trace_instance_of(pid),
        None,
        "trace instance of sigwatch {pid} left behind"
    );
    seen
}

/// SIGKILLs a sigwatch; returns its trace instance, which outlives it.
fn kill9_leaving_its_instance(sw: Sigwatch) -> PathBuf {
    let stale = trace_instance_of(sw.pid()).expect("the sigwatch's trace instance");
    sw.kill9();
    assert!(
        stale.exists(),
        "{} should outlive a SIGKILL",
        stale.display()
    );
    stale
}

/// A sender known only to tracefs (audit off): pid, argv and ancestry
/// come from the process tree; no syscall, login uid or session.
#[test]
fn tracefs_names_the_sender_with_audit_off() {
    let test = "tracefs_sender_audit_off";
    if !require_root(test) || !require_tracefs(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let dir = TempDir::new("tw");
    let killer = dir.0.join("tw_killer.sh");
    std::fs::write(&killer, "sleep 0.3\nkill -9 \"$1\"\nsleep 0.3\n").unwrap();
    let mut sw = Sigwatch::start(&["--source", "proc,tracefs"]);
    assert!(
        sw.stderr().contains("senders come from tracefs"),
        "{}",
        sw.stderr()
    );
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    // The killer runs through a launcher shell that stays its parent.
    let mut k = Command::new("sh")
        .args([
            "-c",
            "sh \"$0\" \"$1\"; true",
            killer.to_str().unwrap(),
            &vpid.to_string(),
        ])
        .spawn()
        .unwrap();
    let launcher = k.id() as i32;
    let r = sw.wait_kill_of(vpid);
    k.wait().unwrap();
    assert_eq!(victim.wait().unwrap().signal(), Some(9));
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(r["reason"], Value::Null, "{r:#}");
    assert_eq!(r["syscall"], Value::Null, "{r:#}");
    assert_eq!(r["success"], Value::Null, "{r:#}");
    assert_eq!(r["audit"], Value::Null, "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    assert_eq!(r["victim"]["comm"], "sleep", "{r:#}");
    let s = &r["sender"];
    assert_eq!(
        argv(s),
        vec![
            "sh".to_string(),
            killer.to_str().unwrap().into(),
            vpid.to_string()
        ],
        "{r:#}"
    );
    assert_eq!(s["ppid"], launcher, "{r:#}");
    assert_eq!(s["auid"], Value::Null, "{r:#}");
    assert_eq!(s["ses"], Value::Null, "{r:#}");
    assert_eq!(r["trace"]["current_pid"], s["pid"], "{r:#}");
    assert_eq!(r["trace"]["class"], "user", "{r:#}");
    assert_eq!(r["trace"]["code"], 0, "{r:#}");
    let anc = r["ancestors"].as_array().unwrap();
    assert_eq!(anc[0]["pid"], launcher, "{r:#}");
    assert!(
        argv(&anc[0]).iter().any(|a| a == "sh \"$0\" \"$1\"; true"),
        "{r:#}"
    );
    assert_eq!(anc.last().unwrap()["pid"], 1, "{r:#}");
    assert_eq!(witnesses(&r), vec!["tracefs", "proc"], "{r:#}");
    let seen = stop_clean(sw);
    assert_eq!(seen.last().unwrap()["audit_records"], 0);
    assert!(seen.last().unwrap()["trace_events"].as_u64().unwrap() >= 1);
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// With every witness on, a kill seen by audit and tracefs is one report
/// that has both (no duplicate).
#[test]
fn audit_and_tracefs_sightings_make_one_report() {
    let test = "audit_and_tracefs_join";
    if !require_root(test) || !require_audit(test) || !require_tracefs(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mut sw = Sigwatch::start(&[]);
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    let out = run_sh("sleep 0.2; kill -9 \"$1\"", &[&vpid.to_string()]);
    assert!(out.status.success());
    victim.wait().unwrap();
    let r = sw.wait_kill_of(vpid);
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(r["syscall"], "kill", "{r:#}");
    assert!(r["audit"]["serial"].as_u64().is_some(), "{r:#}");
    assert_eq!(r["trace"]["current_pid"], r["sender"]["pid"], "{r:#}");
    assert_eq!(witnesses(&r), vec!["audit", "tracefs", "proc"], "{r:#}");
    let seen = stop_clean(sw);
    let n = seen
        .iter()
        .filter(|v| v["type"] == "kill" && v["victim"]["pid"] == vpid)
        .count();
    assert_eq!(n, 1, "one report for one kill: {seen:#?}");
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// Forks a child named `stormvictim` that pauses until killed; returns
/// once it has its name (no exec: the cheapest victim a storm can make).
fn fork_named_pauser() -> i32 {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) into a local array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child makes only async-signal-safe calls (prctl, write,
    // close, pause) and never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: as above.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, c"stormvictim".as_ptr());
            libc::write(fds[1], c"x".as_ptr().cast(), 1);
            loop {
                libc::pause();
            }
        }
    }
    let mut b = [0u8; 1];
    // SAFETY: read(2) and close(2) of the pipe made above.
    unsafe {
        libc::close(fds[1]);
        assert_eq!(libc::read(fds[0], b.as_mut_ptr().cast(), 1), 1);
        libc::close(fds[0]);
    }
    pid
}

/// A storm of kills with both witnesses on: every report carries its
/// tracefs sighting. The sighting is in the trace pipe before the kill's
/// audit record and before the victim's exit; a watcher that handled the
/// exit and the record before reading the pipe reported some kills
/// without it (269 of 5,000 before the fix; `tools/kill_storm.py`).
#[test]
fn every_kill_of_a_storm_keeps_its_tracefs_witness() {
    let test = "storm_keeps_tracefs";
    if !require_root(test) || !require_audit(test) || !require_tracefs(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mut sw = Sigwatch::start(&["--comm", "stormvictim"]);
    const ROUNDS: usize = 8;
    const PER_ROUND: usize = 200;
    let mut victims = Vec::new();
    for _ in 0..ROUNDS {
        let round: Vec<i32> = (0..PER_ROUND).map(|_| fork_named_pauser()).collect();
        // As fast as the test can: the kills, then the reaping.
        for &pid in &round {
            // SAFETY: kill(2) of a child this test forked.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        }
        for &pid in &round {
            let mut status = 0;
            // SAFETY: waitpid(2) of a child this test forked.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            victims.push(pid);
        }
    }
    let last = *victims.last().unwrap();
    sw.wait_kill_of(last);
    let seen = stop_clean(sw);
    let mut without = Vec::new();
    for v in &victims {
        let r = seen
            .iter()
            .find(|r| r["type"] == "kill" && r["victim"]["pid"] == *v)
            .unwrap_or_else(|| panic!("kill of {v} not reported"));
        if !witnesses(r).contains(&"tracefs".to_string()) {
            without.push(r.clone());
        }
    }
    assert!(
        without.is_empty(),
        "{} of {} reports lack tracefs; first: {:#}",
        without.len(),
        victims.len(),
        without[0]
    );
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// OOM in a cgroup v1 memory group, seen by tracefs alone (no audit, no
/// kernel log): `signal_generate` + `oom:mark_victim`.
#[test]
fn oom_in_a_memory_cgroup_is_kernel_oom_via_tracefs() {
    let test = "oom_via_tracefs";
    if !require_root(test) || !require_tracefs(test) {
        return;
    }
    let Some(cg) = MemoryCgroup::create(test, "tw-oom") else {
        return;
    };
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mut sw = Sigwatch::start(&["--source", "proc,tracefs"]);
    let (victim, st) = cg.run_hog();
    let r = sw.wait_kill_of(victim);
    drop(cg);
    assert_eq!(st.signal(), Some(9), "the hog was SIGKILLed");
    assert_eq!(r["origin"], "kernel", "{r:#}");
    assert_eq!(r["reason"], "oom", "{r:#}");
    assert_eq!(r["sender"], Value::Null, "{r:#}");
    assert_eq!(r["victim"]["comm"], "tail", "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    assert_eq!(r["trace"]["mark_victim"], true, "{r:#}");
    assert_eq!(r["trace"]["code"], 128, "{r:#}");
    assert_eq!(witnesses(&r), vec!["tracefs", "proc"], "{r:#}");
    stop_clean(sw);
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// A cgroup v2 hierarchy: the host's (/sys/fs/cgroup/unified or
/// /sys/fs/cgroup when it is cgroup2), or one mounted here.
struct Cgroup2 {
    root: PathBuf,
    mounted: Option<TempDir>,
}

impl Cgroup2 {
    fn find_or_mount() -> Option<Cgroup2> {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        if let Some(mp) = mounts.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[2] == "cgroup2").then(|| f[1].to_string())
        }) {
            return Some(Cgroup2 {
                root: PathBuf::from(mp),
                mounted: None,
            });
        }
        let dir = TempDir::new("cg2");
        let ok = Command::new("mount")
            .args(["-t", "cgroup2", "none", dir.0.to_str()?])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Cgroup2 {
            root: dir.0.clone(),
            mounted: Some(dir),
        })
    }
}

impl Drop for Cgroup2 {
    fn drop(&mut self) {
        if let Some(d) = &self.mounted {
            let _ = Command::new("umount").arg(&d.0).status();
        }
    }
}

/// `echo 1 > cgroup.kill`: origin kernel, reason cgroup_kill, and the
/// writer named as sender (all witnesses on; audit has no record: the
/// writer made no kill syscall).
#[test]
fn cgroup_kill_names_the_writer() {
    let test = "cgroup_kill";
    if !require_root(test) || !require_tracefs(test) {
        return;
    }
    let Some(cg2) = Cgroup2::find_or_mount() else {
        skip(
            test,
            Need::Host("cgroup2".into()),
            "no cgroup2 hierarchy and none could be mounted",
        );
        return;
    };
    let grp = cg2
        .root
        .join(format!("sigwatch-e2e-ck-{}", std::process::id()));
    if std::fs::create_dir(&grp).is_err() || !grp.join("cgroup.kill").exists() {
        let _ = std::fs::remove_dir(&grp);
        skip(
            test,
            Need::Kernel("cgroup.kill".into()),
            "no cgroup.kill (kernel < 5.14)",
        );
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mut sw = Sigwatch::start(&[]);
    // Two victims in two cgroups below the one written to: both reports
    // name the written cgroup.
    let spawn_in = |sub: &str| {
        let dir = grp.join(sub);
        std::fs::create_dir(&dir).unwrap();
        let child = Command::new("sh")
            .args([
                "-c",
                "echo $$ > \"$0/cgroup.procs\" && exec sleep 300",
                dir.to_str().unwrap(),
            ])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Wait until it is in the group (and exec'd).
        for _ in 0..100 {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if procs.lines().any(|l| l == pid.to_string()) && comm.trim() == "sleep" {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (child, pid)
    };
    let (mut victim, vpid) = spawn_in("a");
    let (mut victim2, vpid2) = spawn_in("b");
    // A shell that moves itself and stays a shell (no exec after the
    // move, no process event: the cgroup its exec showed is stale). Until
    // 2026-12-02 its report named its old cgroup, and so did the
    // cgroup.kill of the whole write.
    let moved_dir = grp.join("c");
    std::fs::create_dir(&moved_dir).unwrap();
    let mut victim3 = Command::new("sh")
        .args([
            "-c",
            "echo $$ > \"$0/cgroup.procs\" && read line",
            moved_dir.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let vpid3 = victim3.id() as i32;
    assert!(
        wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(moved_dir.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .any(|l| l == vpid3.to_string())
        }),
        "the shell moved itself"
    );
    // The writer lives 0.2 s before it writes, so that sigwatch reads its
    // argv after its exec (a shell that execs, writes and exits within a
    // millisecond keeps a null argv in the report, honestly, and this
    // assertion would race with the machine's load).
    let mut writer = Command::new("sh")
        .args([
            "-c",
            "sleep 0.2; echo 1 > \"$0/cgroup.kill\"",
            grp.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let wpid = writer.id() as i32;
    assert!(writer.wait().unwrap().success());
    assert_eq!(victim.wait().unwrap().signal(), Some(9));
    assert_eq!(victim2.wait().unwrap().signal(), Some(9));
    // The moved shell is reaped only after its report: its cgroup is read
    // again at the kill's sighting while it is a zombie at the latest (a
    // process reaped before that keeps the cgroup its exec showed, as
    // documented; in a slow emulated guest the sighting can come late).
    let r3 = sw.wait_kill_of(vpid3);
    assert_eq!(victim3.wait().unwrap().signal(), Some(9));
    let r = sw.wait_kill_of(vpid);
    let r2 = sw.wait_kill_of(vpid2);
    for sub in ["a", "b", "c", ""] {
        let _ = std::fs::remove_dir(grp.join(sub));
    }
    let written = format!("/{}", grp.strip_prefix(&cg2.root).unwrap().display());
    assert_eq!(
        r3["victim"]["cgroup"].as_str(),
        Some(format!("{written}/c").as_str()),
        "the cgroup it was killed in: {r3:#}"
    );
    for r in [&r, &r2, &r3] {
        assert_eq!(
            r["victim"]["cgroup"]
                .as_str()
                .map(|c| c.starts_with(&written)),
            Some(true),
            "{r:#}"
        );
        assert_eq!(r["cgroup_kill"]["cgroup"], written.as_str(), "{r:#}");
    }
    assert_eq!(r["origin"], "kernel", "{r:#}");
    assert_eq!(r["reason"], "cgroup_kill", "{r:#}");
    assert_eq!(r["syscall"], Value::Null, "{r:#}");
    assert_eq!(r["victim"]["comm"], "sleep", "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    assert_eq!(r["sender"]["pid"], wpid, "{r:#}");
    assert!(
        argv(&r["sender"]).iter().any(|a| a.contains("cgroup.kill")),
        "{r:#}"
    );
    assert_eq!(r["trace"]["grp"], false, "{r:#}");
    assert_eq!(r["ancestors"].as_array().unwrap().last().unwrap()["pid"], 1);
    stop_clean(sw);
    drop(cg2);
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// RLIMIT_CPU: SIGXCPU at the soft limit (ignored here), SIGKILL from the
/// kernel at the hard limit.
#[test]
fn rlimit_cpu_is_kernel_rlimit() {
    let test = "rlimit_cpu";
    if !require_root(test) || !require_tracefs(test) || !require_tool(test, "prlimit") {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mut sw = Sigwatch::start(&["--source", "proc,tracefs"]);
    let mut spinner = Command::new("prlimit")
        .args([
            "--cpu=1:2",
            "--",
            "sh",
            "-c",
            "trap '' XCPU; while :; do :; done",
        ])
        .spawn()
        .unwrap();
    let vpid = spinner.id() as i32;
    let st = spinner.wait().unwrap();
    assert_eq!(st.signal(), Some(9), "killed at the hard limit");
    let r = sw.wait_kill_of(vpid);
    assert_eq!(r["origin"], "kernel", "{r:#}");
    assert_eq!(r["reason"], "rlimit", "{r:#}");
    assert_eq!(r["sender"], Value::Null, "{r:#}");
    assert_eq!(r["victim"]["comm"], "sh", "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    assert_eq!(r["trace"]["current_pid"], vpid, "{r:#}");
    assert_eq!(r["trace"]["code"], 128, "{r:#}");
    assert_eq!(r["trace"]["mark_victim"], false, "{r:#}");
    stop_clean(sw);
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// `--audit-source unicast` (the path for kernels before 3.16): sigwatch
/// becomes the audit pid while it runs and releases it; tracefs is off so
/// the report's facts can only come from audit.
#[test]
fn unicast_audit_source_attributes_and_releases_the_audit_pid() {
    let test = "unicast_audit";
    if !require_root(test) || !require_audit(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let holder = audit_before.pid().unwrap();
    if holder != "0" {
        skip(
            test,
            Need::AuditIdle,
            format!("an audit daemon holds the audit pid ({holder})"),
        );
        return;
    }
    let mut sw = Sigwatch::start(&["--audit-source", "unicast", "--source", "proc,audit"]);
    assert_eq!(
        AuditSnapshot::take().pid(),
        Some(sw.pid().to_string().as_str()),
        "sigwatch is the audit pid while it runs"
    );
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    let out = run_sh("sleep 0.2; kill -9 \"$1\"", &[&vpid.to_string()]);
    assert!(out.status.success());
    victim.wait().unwrap();
    let r = sw.wait_kill_of(vpid);
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(r["syscall"], "kill", "{r:#}");
    assert_eq!(r["success"], true, "{r:#}");
    assert!(r["audit"]["serial"].as_u64().is_some(), "{r:#}");
    assert_eq!(r["trace"], Value::Null, "{r:#}");
    assert_eq!(witnesses(&r), vec!["audit", "proc"], "{r:#}");
    assert!(
        argv(&r["sender"]).iter().any(|a| a.contains("kill -9")),
        "{r:#}"
    );
    let seen = stop_clean(sw);
    assert!(seen.last().unwrap()["audit_records"].as_u64().unwrap() > 0);
    // pid back to 0, rules removed, enabled restored.
    audit_before.assert_restored();
}

/// One kill event in auditd's log format (ENRICHED, as in
/// /work/shared/fixtures/auditd-enriched-kill.log), with real pids.
fn auditd_event(serial: u64, sender: i32, ppid: i32, victim: i32, argv: &[&str]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let stamp = format!("{}.{:03}:{serial}", now.as_secs(), now.subsec_millis());
    let hex: String = argv
        .join("\0")
        .bytes()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!(
        "type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=62 success=yes exit=0 a0={victim:x} a1=9 a2=0 a3=0 items=0 ppid={ppid} pid={sender} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"sigwatch\"\x1dARCH=x86_64 SYSCALL=kill AUID=\"unset\" UID=\"root\" GID=\"root\" EUID=\"root\" SUID=\"root\" FSUID=\"root\" EGID=\"root\" SGID=\"root\" FSGID=\"root\"\n\
         type=OBJ_PID msg=audit({stamp}): opid={victim} oauid=-1 ouid=0 oses=-1 ocomm=\"sleep\"\x1dOAUID=\"unset\" OUID=\"root\"\n\
         type=PROCTITLE msg=audit({stamp}): proctitle={hex}\n"
    )
}

/// A real kill for the followed-log tests: sigwatch following `log`
/// (`--no-rules`, `extra` arguments), a `sleep` killed by `sh -c
/// "sleep 0.2; kill -9 $0; sleep 0.5"` (with `group`: the sleep leads
/// its own process group and the whole group is killed, `kill -9
/// -$0`), and that kill's event in auditd's format (not written yet);
/// returned once the victim died.
struct LoggedKill {
    sw: Sigwatch,
    vpid: i32,
    kpid: i32,
    killer: std::process::Child,
    serial: u64,
    event: String,
}

fn kill_for_the_log(log: &std::path::Path, group: bool, extra: &[&str]) -> LoggedKill {
    let src = format!("log:{}", log.display());
    let mut args = vec![
        "--audit-source",
        &src,
        "--no-rules",
        "--source",
        "proc,audit",
    ];
    args.extend_from_slice(extra);
    let sw = Sigwatch::start(&args);
    let mut victim = if group {
        use std::os::unix::process::CommandExt;
        Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap()
    } else {
        spawn_sleep()
    };
    let vpid = victim.id() as i32;
    let script = if group {
        "sleep 0.2; kill -9 -\"$0\"; sleep 0.5"
    } else {
        "sleep 0.2; kill -9 \"$0\"; sleep 0.5"
    };
    let killer = Command::new("sh")
        .args(["-c", script, &vpid.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let kpid = killer.id() as i32;
    victim.wait().unwrap();
    let serial = 4_000_000_000 + u64::from(std::process::id());
    let mut event = auditd_event(
        serial,
        kpid,
        std::process::id() as i32,
        vpid,
        &["sh", "-c", script, &vpid.to_string()],
    );
    if group {
        // kill(-pgid, 9): the target argument names no single process,
        // only the event's OBJ_PID record does.
        event = event.replacen(
            &format!(" a0={vpid:x} "),
            &format!(" a0={:x} ", (-vpid) as u32),
            1,
        );
    }
    LoggedKill {
        sw,
        vpid,
        kpid,
        killer,
        serial,
        event,
    }
}

impl LoggedKill {
    /// The report of the kill, checked against the event written.
    fn report(&mut self) -> Value {
        let r = self.sw.wait_kill_of(self.vpid);
        self.killer.wait().unwrap();
        assert_eq!(r["origin"], "user", "{r:#}");
        assert_eq!(r["syscall"], "kill", "{r:#}");
        assert_eq!(r["audit"]["serial"], self.serial, "{r:#}");
        assert_eq!(r["audit"]["key"], "sigwatch", "{r:#}");
        assert_eq!(r["sender"]["pid"], self.kpid, "{r:#}");
        assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
        assert!(
            argv(&r["sender"]).iter().any(|a| a.contains("kill -9")),
            "argv from the event's PROCTITLE: {r:#}"
        );
        r
    }
}

/// A followed log collected from several hosts (auditd's remote logging
/// writes each host's records with its `node=`): another host's kill,
/// naming by chance the same pid as this host's victim and written first,
/// is skipped and said, not joined with this host's process; the report
/// comes from this host's event. (Until 2026-12-02 every host's events
/// were taken: the other host's sender was reported.)
#[test]
fn a_followed_log_of_several_hosts_takes_only_this_hosts_events() {
    let test = "auditd_log_nodes";
    if !require_root(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let dir = TempDir::new("lognodes");
    let log = dir.0.join("audit.log");
    std::fs::write(&log, "").unwrap();
    let mut k = kill_for_the_log(&log, false, &["--audit-node", "here"]);
    let on = |node: &str, event: &str| -> String {
        event
            .lines()
            .map(|l| format!("node={node} {l}\n"))
            .collect()
    };
    let elsewhere = auditd_event(
        k.serial + 1,
        999_997,
        1,
        k.vpid,
        &["sh", "-c", "kill on another host"],
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(on("there", &elsewhere).as_bytes()).unwrap();
    f.write_all(on("here", &k.event).as_bytes()).unwrap();
    drop(f);
    k.report();
    let stderr = k.sw.stderr();
    let seen = stop_clean(k.sw);
    assert!(
        !seen
            .iter()
            .any(|v| v["audit"]["serial"] == k.serial + 1 || v["sender"]["pid"] == 999_997),
        "another host's event was reported: {seen:#?}"
    );
    assert!(
        stderr.contains("skipping audit events of other hosts (node=there; this host is node=here"),
        "{stderr}"
    );
    audit_before.assert_restored();
}

/// `--audit-source log:PATH` (hosts where auditd owns audit): sigwatch
/// follows the file. auditd itself is not started here (it would replace
/// the host's rules); the test appends, in auditd's format, the event of
/// a real kill it performs, and sigwatch joins it with the real exit.
#[test]
fn auditd_log_source_is_followed_and_joined_with_the_exit() {
    let test = "auditd_log";
    if !require_root(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let dir = TempDir::new("log");
    let log = dir.0.join("audit.log");
    // Older content must not be reported: sigwatch starts at the end.
    std::fs::write(
        &log,
        auditd_event(1, 999_998, 1, 999_999, &["sh", "-c", "old"]),
    )
    .unwrap();
    let mut k = kill_for_the_log(&log, false, &[]);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(k.event.as_bytes()).unwrap();
    drop(f);
    k.report();
    let seen = stop_clean(k.sw);
    assert!(
        !seen.iter().any(|v| v["victim"]["pid"] == 999_999),
        "old log content was reported: {seen:#?}"
    );
    assert_eq!(seen.last().unwrap()["audit_records"], 3, "{seen:#?}");
    audit_before.assert_restored();
}

/// A followed log assembles events by record time: auditd writing one
/// event's records with a 3 s pause between them (longer than the 2 s
/// wall-clock timeout that used to close events) still gives one kill
/// with its target and argv, joined with the real exit. The kill is of a
/// process group, so only the `OBJ_PID` record written after the pause
/// names the victim: a split event would leave it unattributed.
/// (`--window-ms` lets the exit wait for the late event; the assembly
/// does not depend on it.)
#[test]
fn followed_log_event_written_with_a_pause_is_one_attributed_kill() {
    let test = "auditd_log_pause";
    if !require_root(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let dir = TempDir::new("logpause");
    let log = dir.0.join("audit.log");
    std::fs::write(&log, "").unwrap();
    let mut k = kill_for_the_log(&log, true, &["--window-ms", "10000"]);
    let (syscall, rest) = k.event.split_once('\n').unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "{syscall}").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    f.write_all(rest.as_bytes()).unwrap();
    drop(f);
    k.report();
    // One report of the victim: no second one from a split event's half.
    let seen = stop_clean(k.sw);
    let of_victim = seen.iter().filter(|v| v["victim"]["pid"] == k.vpid).count();
    assert_eq!(of_victim, 1, "{seen:#?}");
    assert_eq!(seen.last().unwrap()["audit_records"], 3, "{seen:#?}");
    audit_before.assert_restored();
}

/// `--audit-source none`: with tracefs the sender is still named (origin
/// user, no syscall); with neither audit nor tracefs the origin is
/// unknown and no sender is invented.
#[test]
fn audit_absent_reports_user_via_tracefs_or_unknown() {
    let test = "audit_absent";
    if !require_root(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let tracefs = tracefs_present();
    let kill_one = |sw: &mut Sigwatch| {
        let mut victim = spawn_sleep();
        let vpid = victim.id() as i32;
        let out = run_sh("sleep 0.2; kill -9 \"$1\"", &[&vpid.to_string()]);
        assert!(out.status.success());
        victim.wait().unwrap();
        sw.wait_kill_of(vpid)
    };
    if tracefs {
        let mut sw = Sigwatch::start(&["--audit-source", "none"]);
        let r = kill_one(&mut sw);
        assert_eq!(r["origin"], "user", "{r:#}");
        assert_eq!(r["syscall"], Value::Null, "{r:#}");
        assert_eq!(r["audit"], Value::Null, "{r:#}");
        assert_eq!(r["sender"]["comm"], "sh", "{r:#}");
        assert_eq!(witnesses(&r), vec!["tracefs", "proc"], "{r:#}");
        stop_clean(sw);
    } else {
        partial(
            test,
            Need::Tracefs,
            "no tracefs: only the unknown half runs",
        );
    }
    let mut sw = Sigwatch::start(&["--audit-source", "none", "--source", "proc"]);
    assert!(
        sw.stderr()
            .contains("senders cannot be identified without audit or tracefs"),
        "{}",
        sw.stderr()
    );
    let r = kill_one(&mut sw);
    assert_eq!(r["origin"], "unknown", "{r:#}");
    assert_eq!(r["reason"], Value::Null, "{r:#}");
    assert_eq!(r["sender"], Value::Null, "{r:#}");
    assert_eq!(r["trace"], Value::Null, "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    assert_eq!(witnesses(&r), vec!["proc"], "{r:#}");
    let seen = stop_clean(sw);
    assert_eq!(seen.last().unwrap()["trace_events"], 0);
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// A sigwatch that died by SIGKILL leaves its trace instance (and a
/// tracefs mount it made); the next one removes the instance at start and
/// undoes the mount at exit.
#[test]
fn restart_after_sigkill_cleans_the_trace_instance_and_mount() {
    let test = "trace_restart_after_kill9";
    if !require_root(test) || !require_tracefs(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let first = Sigwatch::start(&["--source", "proc,tracefs"]);
    let stale = kill9_leaving_its_instance(first);
    let second = Sigwatch::start(&["--source", "proc,tracefs"]);
    assert!(!stale.exists(), "{} not cleaned", stale.display());
    assert!(
        second.stderr().contains("removed stale trace instance"),
        "{}",
        second.stderr()
    );
    stop_clean(second);
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// Two sigwatches; one dies by SIGKILL while the other runs; the
/// survivor exits cleanly: the dead one's trace instance is gone and
/// tracefs (and its mount mark) is as found, whichever of the two
/// mounted it.
#[test]
fn survivor_cleans_a_killed_sigwatchs_trace_instance_and_mount() {
    let test = "trace_survivor_cleans";
    if !require_root(test) || !require_tracefs(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mark_before = std::fs::read_to_string("/run/sigwatch-tracefs.mount").ok();
    let first = Sigwatch::start(&["--source", "proc,tracefs"]);
    let survivor = Sigwatch::start(&["--source", "proc,tracefs"]);
    let stale = kill9_leaving_its_instance(first);
    stop_clean(survivor);
    assert!(!stale.exists(), "{} left by the survivor", stale.display());
    trace_before.assert_restored();
    if !trace_before.mounted {
        assert_eq!(
            std::fs::read_to_string("/run/sigwatch-tracefs.mount").ok(),
            mark_before,
            "mount mark left behind"
        );
    }
    audit_before.assert_restored();
}

/// The kernel has no audit at all (booted with `audit=0`: NETLINK_AUDIT
/// does not exist; the qemu job's second pass): `sigwatch` with its
/// default sources starts, says on stderr that it has no audit source,
/// and still reports a SIGKILL — by tracefs (origin `user`, the sender
/// named, syscall null), or with tracefs off too as origin `unknown`
/// (never `kernel` without evidence). `sigwatch status` names the missing
/// audit and the `audit=0` cause. Where audit exists this scenario cannot
/// be produced (`--audit-source none` in `audit_absent_reports_*` is the
/// host's approximation): the test says so and returns.
#[test]
fn kernel_without_audit_degrades_to_tracefs_or_unknown() {
    let test = "kernel_without_audit";
    if !require_root(test) {
        return;
    }
    if audit_present() {
        skip(
            test,
            Need::Kernel("audit absent".into()),
            "this kernel has audit; the qemu job's audit=0 pass runs this test",
        );
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    assert_eq!(audit_before, AuditSnapshot::Absent);
    let trace_before = TraceSnapshot::take();

    // `sigwatch status`: the audit check fails and says why.
    let st = Command::new(sigwatch_bin()).arg("status").output().unwrap();
    let status_text = String::from_utf8_lossy(&st.stdout);
    assert!(
        status_text.contains("cannot read the audit status")
            && status_text.contains("socket(NETLINK_AUDIT)")
            && status_text.contains("audit=0"),
        "sigwatch status:\n{status_text}\nstderr: {}",
        String::from_utf8_lossy(&st.stderr)
    );

    let kill_one = |sw: &mut Sigwatch| {
        let mut victim = spawn_sleep();
        let vpid = victim.id() as i32;
        let out = run_sh("sleep 0.2; kill -9 \"$1\"", &[&vpid.to_string()]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(victim.wait().unwrap().signal(), Some(9));
        (vpid, sw.wait_kill_of(vpid))
    };
    let says_no_audit = |sw: &Sigwatch| {
        let err = sw.stderr();
        // Shown in the qemu console log: what a user of such a kernel reads.
        eprintln!("{test}: sigwatch's stderr at start:\n{err}");
        assert!(
            err.contains("no audit source") && err.contains("socket(NETLINK_AUDIT)"),
            "sigwatch says it cannot see audit; stderr:\n{err}"
        );
        assert!(err.contains("(audit: none;"), "banner; stderr:\n{err}");
    };

    // Default sources: audit fails, tracefs names the sender.
    if tracefs_present() {
        let mut sw = Sigwatch::start(&[]);
        says_no_audit(&sw);
        assert!(
            sw.stderr().contains("senders come from tracefs"),
            "{}",
            sw.stderr()
        );
        let (vpid, r) = kill_one(&mut sw);
        assert_eq!(r["origin"], "user", "{r:#}");
        assert_eq!(r["reason"], Value::Null, "{r:#}");
        assert_eq!(r["syscall"], Value::Null, "{r:#}");
        assert_eq!(r["success"], Value::Null, "{r:#}");
        assert_eq!(r["audit"], Value::Null, "{r:#}");
        assert_eq!(r["victim"]["pid"], vpid, "{r:#}");
        assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
        assert_eq!(r["sender"]["comm"], "sh", "{r:#}");
        assert_eq!(r["sender"]["auid"], Value::Null, "{r:#}");
        assert_eq!(r["trace"]["current_pid"], r["sender"]["pid"], "{r:#}");
        assert_eq!(witnesses(&r), vec!["tracefs", "proc"], "{r:#}");
        let seen = stop_clean(sw);
        let last = seen.last().unwrap();
        assert_eq!(last["audit_records"], 0, "{last:#}");
        assert!(last["trace_events"].as_u64().unwrap() >= 1, "{last:#}");
    } else {
        partial(
            test,
            Need::Tracefs,
            "no tracefs: only the unknown half runs",
        );
    }

    // Audit asked for but absent, tracefs off: the kill is reported with
    // origin unknown and no invented sender.
    let mut sw = Sigwatch::start(&["--source", "proc,audit,kmsg"]);
    says_no_audit(&sw);
    let (_, r) = kill_one(&mut sw);
    assert_eq!(r["origin"], "unknown", "{r:#}");
    assert_eq!(r["reason"], Value::Null, "{r:#}");
    assert_eq!(r["sender"], Value::Null, "{r:#}");
    assert_eq!(r["syscall"], Value::Null, "{r:#}");
    assert_eq!(r["trace"], Value::Null, "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    assert_eq!(witnesses(&r), vec!["proc"], "{r:#}");
    let seen = stop_clean(sw);
    assert_eq!(seen.last().unwrap()["audit_records"], 0);
    trace_before.assert_restored();
    audit_before.assert_restored();
}
