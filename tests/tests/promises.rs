//! End-to-end tests of the README's promises that no other test guards:
//! the default audit source, a `loss` line, `-c N`, `--audit-source
//! stdin`, the `rules` and `replay` subcommands, `--source proc` without
//! root, colour only on a terminal (and never with `NO_COLOR`). The real
//! `sigwatch` binary on the real kernel; skips only by independent probes.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use sigwatch_e2e::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `(groups, inode)` of every NETLINK_AUDIT socket `pid` holds, from
/// /proc/net/netlink (columns: sk Eth Pid Groups Rmem Wmem Dump Locks
/// Drops Inode; Eth 9 = NETLINK_AUDIT) matched by the inodes of its fds.
fn audit_sockets(pid: i32) -> Vec<(u32, String)> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    std::fs::read_to_string("/proc/net/netlink")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 10 && f[1] == "9" && inodes.iter().any(|i| i == f[9]))
                .then(|| (u32::from_str_radix(f[3], 16).unwrap(), f[9].to_string()))
        })
        .collect()
}

/// On a kernel with the audit multicast group (raw probe: a NETLINK_AUDIT
/// socket binds to `AUDIT_NLGRP_READLOG`), `auto` — the default — reads
/// from it: sigwatch says so, its audit socket is a member of group 1 in
/// the kernel's own table, it is not the audit pid, and a kill is
/// attributed from audit. A multicast failure silently falling back to
/// unicast fails here.
#[test]
fn default_audit_source_is_multicast_where_the_kernel_has_it() {
    let test = "default_audit_source_is_multicast_where_the_kernel_has_it";
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditctl") {
        return;
    }
    if let Err(why) = sigwatch_test_support::probe::audit_multicast() {
        skip(test, Need::AuditMulticast, why);
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let mut sw = Sigwatch::start(&["-v"]);
    assert!(
        sw.stderr()
            .contains("audit source: audit multicast (AUDIT_NLGRP_READLOG)"),
        "stderr:\n{}",
        sw.stderr()
    );
    let socks = audit_sockets(sw.pid());
    assert!(
        socks.iter().any(|(groups, _)| groups & 1 != 0),
        "no NETLINK_AUDIT socket of sigwatch in multicast group 1: {socks:?}"
    );
    assert_ne!(
        AuditSnapshot::take().pid(),
        Some(sw.pid().to_string().as_str()),
        "multicast: sigwatch must not be the audit pid"
    );
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    assert!(run_sh("kill -9 \"$1\"", &[&vpid.to_string()])
        .status
        .success());
    victim.wait().unwrap();
    let r = sw.wait_kill_of(vpid);
    assert_eq!(r["syscall"], "kill", "{r:#}");
    assert!(r["audit"]["serial"].as_u64().is_some(), "{r:#}");
    let (code, _) = sw.stop();
    assert_eq!(code, Some(0));
    before.assert_restored();
}

/// README: a `loss` line "as soon as a source reports lost events". A
/// stopped sigwatch (SIGSTOP) with a tiny receive buffer misses process
/// events of a fork storm; once continued it prints `loss` for `proc`,
/// and the summary counts at least as many.
#[test]
fn lost_process_events_give_a_loss_line() {
    let test = "lost_process_events_give_a_loss_line";
    if !require_root(test) {
        return;
    }
    if let Err(why) = sigwatch_test_support::probe::proc_connector() {
        skip(test, Need::ProcConnector, why);
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let mut sw = Sigwatch::start(&["--source", "proc", "--rcvbuf", "4096"]);
    let pid = nix::unistd::Pid::from_raw(sw.pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || {
            sigwatch_test_support::proc_state(sw.pid()) == Some('T')
        }),
        "sigwatch did not stop"
    );
    // 300 processes: about 900 events, far beyond a 4 KiB buffer.
    let storm = run_sh(
        "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done",
        &[],
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert!(storm.status.success());
    // A loss shows when the next event arrives after the gap: keep a few
    // coming until the line is there.
    let deadline = Instant::now() + Duration::from_secs(20);
    let loss = loop {
        let _ = Command::new("/bin/true").status();
        if let Some(v) = sw.try_wait_for(Duration::from_millis(200), |v| v["type"] == "loss") {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no loss line; seen {:#?}",
            sw.seen
        );
    };
    assert_eq!(loss["source"], "proc", "{loss:#}");
    let count = loss["count"].as_u64().expect("loss count is a number");
    assert!(count >= 1, "{loss:#}");
    let (code, seen) = sw.stop();
    assert_eq!(code, Some(0));
    let total: u64 = seen
        .iter()
        .filter(|v| v["type"] == "loss" && v["source"] == "proc")
        .map(|v| v["count"].as_u64().unwrap())
        .sum();
    let summary = seen.last().unwrap();
    assert_eq!(summary["type"], "summary", "{summary:#}");
    assert!(
        summary["proc_lost"].as_u64().unwrap() >= total,
        "summary proc_lost below the loss lines' {total}: {summary:#}"
    );
    before.assert_restored();
}

/// A copy of `sleep` named so that its comm is unique to this test run:
/// `--comm` then selects only this test's victims (other tests and agents
/// kill processes on this host too).
fn unique_sleep(tag: &str) -> (TempDir, String) {
    let dir = TempDir::new(tag);
    let comm = format!("sw{tag}{}", std::process::id() % 100_000);
    assert!(comm.len() <= 15, "{comm}");
    let src = sigwatch_test_support::probe::tool("sleep").expect("sleep on PATH");
    std::fs::copy(src, dir.0.join(&comm)).unwrap();
    (dir, comm)
}

fn spawn_named(dir: &Path, comm: &str) -> std::process::Child {
    let child = Command::new(dir.join(comm)).arg("300").spawn().unwrap();
    let path = format!("/proc/{}/comm", child.id());
    assert!(
        wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&path).is_ok_and(|c| c.trim() == comm)
        }),
        "{comm} never exec'd"
    );
    child
}

/// `-c N`: exits by itself, cleanly (0, summary, host restored), after
/// exactly N reports.
#[test]
fn count_exits_cleanly_after_n_reports() {
    let test = "count_exits_cleanly_after_n_reports";
    if !require_root(test) || !require_sender_witness(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let (dir, comm) = unique_sleep("cnt");
    let mut sw = Sigwatch::start(&["-c", "2", "--comm", &comm]);
    let mut victims = Vec::new();
    for _ in 0..2 {
        let mut v = spawn_named(&dir.0, &comm);
        let vpid = v.id() as i32;
        assert!(run_sh("kill -9 \"$1\"", &[&vpid.to_string()])
            .status
            .success());
        v.wait().unwrap();
        sw.wait_kill_of(vpid);
        victims.push(vpid);
    }
    let (code, seen) = sw.wait_exit();
    assert_eq!(code, Some(0), "exit after -c 2; seen {seen:#?}");
    let kills: Vec<&Value> = seen.iter().filter(|v| v["type"] == "kill").collect();
    assert_eq!(kills.len(), 2, "{seen:#?}");
    let last = seen.last().unwrap();
    assert_eq!(last["type"], "summary", "{last:#}");
    assert_eq!(last["reports"], 2, "{last:#}");
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// `--audit-source stdin` (an audisp plugin): audit records written to
/// sigwatch's standard input are joined with the real exit of the
/// victim they name.
#[test]
fn audit_records_on_stdin_are_attributed() {
    let test = "audit_records_on_stdin_are_attributed";
    if !require_root(test) {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mut sw = Sigwatch::start_with(
        &["--audit-source", "stdin", "--source", "proc,audit"],
        &[],
        true,
    );
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    let sender = std::process::id();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let stamp = format!("{}.{:03}:777001", now.as_secs(), now.subsec_millis());
    let records = format!(
        "type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=62 success=yes exit=0 a0={vpid:x} a1=9 a2=0 a3=0 items=0 ppid=1 pid={sender} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts7 ses=5 comm=\"stdin-killer\" exe=\"/usr/bin/stdin-killer\" key=\"e2e-stdin\"\n\
         type=OBJ_PID msg=audit({stamp}): opid={vpid} oauid=4294967295 ouid=0 oses=4294967295 ocomm=\"sleep\"\n\
         type=PROCTITLE msg=audit({stamp}): proctitle=737464696E2D6B696C6C6572002D39\n\
         type=EOE msg=audit({stamp}): \n"
    );
    victim.kill().unwrap();
    victim.wait().unwrap();
    sw.stdin().write_all(records.as_bytes()).unwrap();
    sw.stdin().flush().unwrap();
    let r = sw.wait_kill_of(vpid);
    assert_eq!(r["origin"], "user", "{r:#}");
    assert_eq!(r["syscall"], "kill", "{r:#}");
    assert_eq!(r["success"], true, "{r:#}");
    assert_eq!(r["audit"]["serial"], 777001, "{r:#}");
    assert_eq!(r["audit"]["key"], "e2e-stdin", "{r:#}");
    assert_eq!(r["sender"]["pid"], sender, "{r:#}");
    assert_eq!(r["sender"]["comm"], "stdin-killer", "{r:#}");
    assert_eq!(r["sender"]["auid"], 1000, "{r:#}");
    assert_eq!(r["sender"]["ses"], 5, "{r:#}");
    assert_eq!(r["sender"]["tty"], "pts7", "{r:#}");
    assert_eq!(argv(&r["sender"]), ["stdin-killer", "-9"], "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    let (code, seen) = sw.stop();
    assert_eq!(code, Some(0));
    let last = seen.last().unwrap();
    assert!(last["audit_records"].as_u64().unwrap() >= 3, "{last:#}");
    trace_before.assert_restored();
    audit_before.assert_restored();
}

/// `sigwatch rules`: every line is a rule `auditctl` accepts, and the
/// kernel lists exactly these rules back (`auditctl -l`); `--signal`
/// changes the signal argument filter.
#[test]
fn rules_subcommand_prints_rules_auditctl_loads_as_printed() {
    let test = "rules_subcommand_prints_rules_auditctl_loads_as_printed";
    if !require_root(test) || !require_audit(test) || !require_tool(test, "auditctl") {
        return;
    }
    let rules_of = |args: &[&str]| -> Vec<String> {
        let out = Command::new(sigwatch_bin())
            .arg("rules")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let kill9 = rules_of(&[]);
    assert!(!kill9.is_empty());
    assert!(
        kill9.iter().all(|l| l.starts_with("-a always,exit ")),
        "{kill9:#?}"
    );
    assert!(
        kill9.iter().all(|l| l.contains("=0x9 ")),
        "default: SIGKILL only: {kill9:#?}"
    );
    let term = rules_of(&["--signal", "TERM,9"]);
    assert!(term.iter().any(|l| l.contains("a1=0xF ")), "{term:#?}");
    assert!(term.iter().any(|l| l.contains("a1=0x9 ")), "{term:#?}");

    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let auditctl = |args: &[&str]| {
        let o = Command::new("auditctl").args(args).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let mut loaded = Vec::new();
    let mut failure = None;
    for l in &kill9 {
        let args: Vec<&str> = l.split_whitespace().collect();
        let (ok, out) = auditctl(&args);
        if !ok {
            failure = Some(format!("auditctl {l}: {out}"));
            break;
        }
        loaded.push(args);
    }
    let (_, listed) = auditctl(&["-l"]);
    for args in &loaded {
        let mut del = args.clone();
        del[0] = "-d";
        let (ok, out) = auditctl(&del);
        assert!(ok, "auditctl -d: {out}");
    }
    before.assert_restored();
    if let Some(f) = failure {
        panic!("{f}");
    }
    for l in &kill9 {
        assert!(
            listed.lines().any(|x| x == l),
            "the kernel lists {l:?} differently:\n{listed}"
        );
    }
}

/// `sigwatch replay FILE --json`: one report per victim of every kill
/// event of an auditd log, its facts as the log's records state them
/// (checked against the file read here), nothing invented (`exit_confirmed`
/// false, `sender.exited` null).
#[test]
fn replay_subcommand_attributes_the_kills_of_a_log() {
    let log = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/audit_record_parse/enriched_whole.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let field = |rec: &str, name: &str| -> Option<String> {
        rec.split([' ', '\u{1d}'])
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    let serial = |rec: &str| -> u64 {
        let s = rec.split("msg=audit(").nth(1).unwrap();
        s[s.find(':').unwrap() + 1..s.find(')').unwrap()]
            .parse()
            .unwrap()
    };
    // (serial, victim pid, victim comm, sender pid) for every OBJ_PID.
    let mut expected: Vec<(u64, i64, String, i64)> = text
        .lines()
        .filter(|l| l.starts_with("type=OBJ_PID "))
        .map(|l| {
            let s = serial(l);
            let sys = text
                .lines()
                .find(|x| x.starts_with("type=SYSCALL ") && serial(x) == s)
                .unwrap();
            (
                s,
                field(l, "opid").unwrap().parse().unwrap(),
                field(l, "ocomm").unwrap(),
                field(sys, "pid").unwrap().parse().unwrap(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 5, "the fixture's OBJ_PID records");
    let out = Command::new(sigwatch_bin())
        .arg("replay")
        .arg(&log)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 kill event(s)"), "{stderr}");
    let reports: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let mut got: Vec<(u64, i64, String, i64)> = reports
        .iter()
        .map(|r| {
            assert_eq!(r["type"], "kill", "{r:#}");
            assert_eq!(r["origin"], "user", "{r:#}");
            assert_eq!(r["syscall"], "kill", "{r:#}");
            assert_eq!(
                r["victim"]["exit_confirmed"], false,
                "a log cannot say: {r:#}"
            );
            assert_eq!(
                r["sender"]["exited"],
                Value::Null,
                "a log cannot say: {r:#}"
            );
            (
                r["audit"]["serial"].as_u64().unwrap(),
                r["victim"]["pid"].as_i64().unwrap(),
                r["victim"]["comm"].as_str().unwrap().to_string(),
                r["sender"]["pid"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);
}

/// `--source proc` asks for deaths without senders: as an unprivileged
/// user (no audit, no tracefs) sigwatch runs instead of stopping with
/// the not-root error, and reports a SIGKILL death as origin `unknown`.
/// Only where the kernel lets unprivileged users join the proc
/// connector's group (Linux >= 6.6, "connector/cn_proc: Allow non-root
/// users access"; uname decides, not sigwatch): on older kernels the
/// promise is the one-line error naming the fix.
#[test]
fn source_proc_runs_without_root() {
    let test = "source_proc_runs_without_root";
    if !require_root(test) || !require_tool(test, "setpriv") {
        return;
    }
    let (dir, comm) = unique_sleep("npr");
    // The copy must be executable by nobody.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let errf = TempDir::new("nprerr");
    let err_path = errf.0.join("stderr");
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(sigwatch_bin())
        .args(["--json", "--source", "proc", "--comm", &comm])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();
    if sigwatch_test_support::probe::kernel_version() < (6, 6) {
        let code = wait_timeout(&mut child, Duration::from_secs(20));
        let err = stderr();
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("sigwatch: error: "), "{err}");
        assert!(err.contains("fix: run as root (CAP_NET_ADMIN)"), "{err}");
        return;
    }
    let watching = wait_until(Duration::from_secs(20), || {
        stderr().contains("sigwatch: watching") || child.try_wait().unwrap().is_some()
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        watching && stderr().contains("sigwatch: watching"),
        "sigwatch --source proc as nobody did not start watching; stderr:\n{}",
        stderr()
    );
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "65534"),
        "not unprivileged: {uid_line}"
    );
    // stdout read by a thread: a report that never comes fails the test
    // instead of hanging it.
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // Without audit and tracefs the victim is known from /proc only: a
    // victim killed before sigwatch read its exec still has its parent's
    // comm, and `--comm` rightly filters it out. Victims live longer on
    // each try (a loaded machine reads late).
    let (vpid, r) = (1..=5)
        .find_map(|attempt| {
            let mut v = spawn_named(&dir.0, &comm);
            let vpid = v.id();
            std::thread::sleep(Duration::from_millis(100 * attempt));
            v.kill().unwrap();
            v.wait().unwrap();
            let line = rx.recv_timeout(Duration::from_secs(10)).ok()?;
            let r: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            Some((vpid, r))
        })
        .expect("no report of a victim in 5 tries");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let code = wait_timeout(&mut child, Duration::from_secs(20));
    let rest: String = rx.iter().map(|l| l + "\n").collect();
    assert_eq!(code, Some(0), "stderr:\n{}", stderr());
    assert_eq!(r["type"], "kill", "{r:#}");
    assert_eq!(r["victim"]["pid"], vpid, "{r:#}");
    assert_eq!(r["origin"], "unknown", "{r:#}");
    assert_eq!(r["sender"], Value::Null, "{r:#}");
    assert_eq!(r["victim"]["exit_confirmed"], true, "{r:#}");
    let summary: Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert_eq!(summary["type"], "summary", "{rest}");
}

/// Runs `sigwatch -c 1 --comm COMM` in text mode, kills one victim, and
/// returns everything it wrote to stdout: through a pseudo-terminal made
/// by `script` when `tty`, else a pipe; `env` added.
fn text_output(test: &str, tty: bool, env: &[(&str, &str)]) -> Vec<u8> {
    let (dir, comm) = unique_sleep(if tty { "tty" } else { "pip" });
    let tmp = TempDir::new("txt");
    let notify_path = tmp.0.join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let bin = sigwatch_bin();
    let cmdline = format!("{} -c 1 --comm {comm}", bin.display());
    let mut cmd = if tty {
        let mut c = Command::new("script");
        // -q quiet, -f flush, -e child's exit status, -c command; no log file.
        c.args(["-qfec", &cmdline, "/dev/null"]);
        c
    } else {
        let mut c = Command::new(&bin);
        c.args(["-c", "1", "--comm", &comm]);
        c
    };
    let mut child = cmd
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let ready = loop {
        match notify.recv(&mut buf) {
            Ok(n)
                if String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1") =>
            {
                break true
            }
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    assert!(ready, "{test}: no READY=1");
    let mut v = spawn_named(&dir.0, &comm);
    assert!(run_sh("kill -9 \"$1\"", &[&v.id().to_string()])
        .status
        .success());
    v.wait().unwrap();
    // Read in a thread: a sigwatch that never reports must fail the test
    // at the deadline, not hang it.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send(out);
    });
    let out = rx.recv_timeout(Duration::from_secs(60));
    let st = wait_timeout(&mut child, Duration::from_secs(20));
    let out = out.unwrap_or_else(|_| panic!("{test}: sigwatch -c 1 did not finish its report"));
    let text = String::from_utf8_lossy(&out);
    assert_eq!(st, Some(0), "{test}: {text:?}");
    // (SGR sequences stripped: the name may be highlighted)
    let plain = strip_sgr(&text);
    assert!(
        plain.contains(&format!("({comm})")),
        "{test}: the report names the victim {comm}: {text:?}"
    );
    out
}

/// `text` without `ESC [ ... m` sequences.
fn strip_sgr(text: &str) -> String {
    let mut out = String::new();
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' && it.peek() == Some(&'[') {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// README: "Colour is used only when stdout is a terminal (and `NO_COLOR`
/// is unset)". A terminal (a pty from `script`) gets SGR escapes; the
/// same terminal with `NO_COLOR` set, and a pipe, get none.
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let test = "colour_only_on_a_terminal_and_never_with_no_color";
    if !require_root(test) || !require_sender_witness(test) || !require_tool(test, "script") {
        return;
    }
    let _lock = AuditLock::acquire();
    let audit_before = AuditSnapshot::take();
    let sgr = |b: &[u8]| b.windows(2).any(|w| w == b"\x1b[");
    let tty = text_output(test, true, &[]);
    assert!(
        sgr(&tty),
        "no colour on a terminal: {:?}",
        String::from_utf8_lossy(&tty)
    );
    let no_color = text_output(test, true, &[("NO_COLOR", "1")]);
    assert!(
        !sgr(&no_color),
        "colour despite NO_COLOR: {:?}",
        String::from_utf8_lossy(&no_color)
    );
    let pipe = text_output(test, false, &[]);
    assert!(
        !sgr(&pipe),
        "colour into a pipe: {:?}",
        String::from_utf8_lossy(&pipe)
    );
    audit_before.assert_restored();
}

/// The nice value of `pid` (`/proc/<pid>/stat` field 19, its main
/// thread's: the watch loop's).
fn nice_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    // Fields from 3 (state) on: nice is field 19.
    after_comm.split(' ').nth(19 - 3).unwrap().parse().unwrap()
}

/// `--nice`: the watch loop raises its scheduling priority to -10 by
/// default (from nice 0; a nice its starter chose is kept) and sets what
/// `--nice` says, also a positive value (until 2026-12-02 `--nice 5` was
/// ignored).
#[test]
fn watch_loop_sets_its_priority() {
    if !require_root("watch_loop_sets_its_priority") {
        return;
    }
    // SAFETY: getpriority has no preconditions; this test's own nice.
    let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    for (args, expected) in [
        (&[][..], if own == 0 { -10 } else { own }),
        (&["--nice", "-5"][..], -5),
        (&["--nice", "5"][..], 5),
    ] {
        let mut all = vec!["--source", "proc"];
        all.extend_from_slice(args);
        let sw = Sigwatch::start(&all);
        let nice = nice_of(sw.pid());
        let (code, _) = sw.stop();
        assert_eq!(code, Some(0));
        assert_eq!(nice, expected, "sigwatch {args:?} from nice {own}");
    }
}

/// An audit input that cannot work is an error at the start, with its
/// fix, before the host is touched: a file on standard input for
/// `--audit-source stdin` (a stream is followed; a log is for `replay`),
/// a log path in no directory. (Until 2026-12-02 the first gave a bare
/// `epoll_ctl: EPERM`, the second started without a word.)
#[test]
fn an_audit_input_that_cannot_work_is_refused_with_its_fix() {
    if !require_root("an_audit_input_that_cannot_work_is_refused_with_its_fix") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let dir = TempDir::new("ainput");
    let log = dir.0.join("audit.log");
    std::fs::write(&log, "type=EOE msg=audit(1.000:1): \n").unwrap();
    let out = Command::new(sigwatch_bin())
        .args(["--audit-source", "stdin"])
        .stdin(std::fs::File::open(&log).unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("standard input is a regular file"), "{err}");
    assert!(err.contains("sigwatch replay"), "{err}");
    let missing = dir.0.join("no-such-dir/audit.log");
    let out = Command::new(sigwatch_bin())
        .arg("--audit-source")
        .arg(format!("log:{}", missing.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is in no directory that exists"), "{err}");
    before.assert_restored();
}

/// A reader that goes away early (`sigwatch generate man | head -1`) is
/// the reader's choice, as for any filter: no error message, exit 0.
#[test]
fn a_closed_output_pipe_is_not_an_error() {
    for args in [&["generate", "man"][..], &["rules"][..], &["status"][..]] {
        let mut fds = [0; 2];
        // SAFETY: fds has room for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // The read end closed before sigwatch writes: every write is EPIPE.
        unsafe { libc::close(fds[0]) };
        // SAFETY: a descriptor we own, handed over once.
        let write_end =
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
        let out = Command::new(sigwatch_bin())
            .args(args)
            .stdout(Stdio::from(write_end))
            .output()
            .unwrap();
        // (`status` exits 3 when it found a gap: that is its answer.)
        let expected = if args == ["status"] {
            &[0, 3][..]
        } else {
            &[0][..]
        };
        assert!(
            out.status.code().is_some_and(|c| expected.contains(&c)),
            "{args:?}: {:?}",
            out.status
        );
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `sigwatch status` run by another user than root names root as the fix
/// where root is what is missing: tracefs (root's, mode 700) is not a
/// kernel configuration problem, and from Linux 6.6 on the proc
/// connector needs no capability (it subscribed): CAP_NET_ADMIN is then
/// listed for the receive buffers it allows, not for process events.
#[test]
fn status_as_another_user_names_root_as_the_fix() {
    let test = "status_as_another_user";
    if !require_root(test) || !require_tool(test, "setpriv") {
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(sigwatch_bin())
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let block = |name: &str| {
        let mut lines = text.lines().skip_while(|l| !l.starts_with(name));
        let first = lines.next().unwrap_or_default().to_string();
        let rest: Vec<String> = lines
            .take_while(|l| l.starts_with(' '))
            .map(str::to_string)
            .collect();
        format!("{first}\n{}", rest.join("\n"))
    };
    let tracefs = block("tracefs ");
    assert!(tracefs.contains("GAP"), "{text}");
    assert!(tracefs.contains("run as root"), "{tracefs}");
    assert!(!tracefs.contains("CONFIG_FTRACE"), "{tracefs}");
    let caps = block("capabilities");
    let connector = block("proc connector");
    if connector.contains(" ok ") {
        // Subscribed without it: what it still gives, not "process events".
        assert!(
            !caps.contains("CAP_NET_ADMIN (process events)"),
            "{caps}\n{connector}"
        );
        assert!(caps.contains("CAP_NET_ADMIN (receive buffers"), "{caps}");
    }
}
