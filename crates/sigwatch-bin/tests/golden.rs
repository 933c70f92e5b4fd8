//! Golden tests of the JSON lines contract and the text report: recorded
//! input streams (process events, process facts, audit records, tracefs
//! lines, kernel-log lines and the clock) are pushed through the engine
//! exactly as the watch loop pushes them, and every report is compared,
//! byte for byte, with the checked-in expectations in `tests/golden/`.
//!
//! A scenario `NAME.in` gives `NAME.jsonl` (one JSON line per report) and
//! `NAME.txt` (the text renderer, without colour). After a deliberate
//! change of the output, regenerate with `SIGWATCH_BLESS=1 cargo test -p
//! sigwatch --test golden` and review the diff: the JSON lines are a
//! contract (fields are only added, never renamed or removed).
//!
//! Input lines (`#` starts a comment):
//! - `config KEY=VALUE ...`: `signals=LIST`, `window_ms=N`,
//!   `audit_expected=BOOL`, `mark_victim_traced=BOOL`, `pids=A,B`,
//!   `comms=A,B` (before the first input);
//! - `at MONO_MS`: the clock (monotonic ms since boot; wall clock is a
//!   fixed epoch plus the same ms);
//! - `proc pid=.. ppid=.. comm=.. exe=.. cwd=.. uid=.. start_ms=.. cgroup=..
//!   ns_pid=.. pid_ns=..
//!   argv=A|B|C` (`argv=` last: items may hold spaces): a process known to the tree (as a `/proc` read would
//!   have found it);
//! - `fork PARENT CHILD_PID CHILD_TGID`, `exit PID TGID WAIT_STATUS`,
//!   `comm PID TGID NAME`: process events, stamped with the clock;
//! - `audit TYPE BODY`: one audit record as a netlink message body;
//! - `trace LINE`: one `trace_pipe` line;
//! - `kmsg LINE`: one `/dev/kmsg` line; `kmsg_limit BYTES LINE`: one with
//!   the memory limit the watcher read for its `oom_memcg=`;
//! - `tick`: the periodic timer; the stream ends with a flush.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use auditsig::{Assembler, AssemblerConfig, KillEvent, Record};
use procconn::{EventKind, ExitStatus, ProcEvent};
use sigwatch::render::{render_text, write_json, TextOptions};
use sigwatch::report::Report;
use sigwatch::{Attributor, Clock, Config, MemTree, ProcessSnapshot, SignalSet};

const WALL0_MS: u64 = 1_795_667_968_000;

fn clock(mono_ms: u64) -> Clock {
    Clock {
        mono_ns: mono_ms * 1_000_000,
        wall_ns: (WALL0_MS + mono_ms) * 1_000_000,
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn kv(words: &[&str]) -> Vec<(String, String)> {
    words
        .iter()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn config(words: &[&str]) -> Config {
    let mut cfg = Config::default();
    for (k, v) in kv(words) {
        match k.as_str() {
            "signals" if v == "all" => cfg.signals = SignalSet::all(),
            "signals" => cfg.signals = SignalSet::parse(&v).unwrap(),
            "window_ms" => cfg.window_ns = v.parse::<u64>().unwrap() * 1_000_000,
            "audit_expected" => cfg.audit_expected = v.parse().unwrap(),
            "mark_victim_traced" => cfg.mark_victim_traced = v.parse().unwrap(),
            "pids" => cfg.victim_pids = v.split(',').map(|p| p.parse().unwrap()).collect(),
            "comms" => cfg.victim_comms = v.split(',').map(|c| c.as_bytes().to_vec()).collect(),
            other => panic!("unknown config key {other}"),
        }
    }
    cfg
}

/// `argv=` is last and takes the rest of the line (its items hold spaces).
fn process(rest: &str) -> ProcessSnapshot {
    let (head, argv) = match rest.split_once("argv=") {
        Some((h, a)) => (h, Some(a)),
        None => (rest, None),
    };
    let words: Vec<&str> = head.split_whitespace().collect();
    let mut p = ProcessSnapshot {
        argv: argv.map(|a| a.split('|').map(|x| x.as_bytes().to_vec()).collect()),
        ..Default::default()
    };
    for (k, v) in kv(&words) {
        match k.as_str() {
            "pid" => p.pid = v.parse().unwrap(),
            "ppid" => {
                p.ppid = Some(v.parse().unwrap());
                p.spawned_by = p.ppid;
            }
            "spawned_by" => p.spawned_by = Some(v.parse().unwrap()),
            "comm" => p.comm = Some(v.into_bytes()),
            "exe" => p.exe = Some(v.into()),
            "cwd" => p.cwd = Some(v.into()),
            "uid" => p.uid = Some(v.parse().unwrap()),
            "start_ms" => p.start_time_ns = Some(v.parse::<u64>().unwrap() * 1_000_000),
            "exited" => p.exited = v.parse().unwrap(),
            "cgroup" => p.cgroup = Some(v),
            "ns_pid" => p.ns_pid = Some(v.parse().unwrap()),
            "pid_ns" => p.pid_ns = Some(v.parse().unwrap()),
            other => panic!("unknown process key {other}"),
        }
    }
    p
}

fn proc_event(now: Clock, kind: EventKind) -> ProcEvent {
    ProcEvent {
        seq: 0,
        cpu: 0,
        timestamp_ns: now.mono_ns,
        kind,
    }
}

/// Runs one scenario; returns (JSON lines, text reports).
fn run(input: &str) -> (String, String) {
    let mut cfg_words: Vec<String> = Vec::new();
    let lines: Vec<&str> = input
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    for l in &lines {
        if let Some(rest) = l.strip_prefix("config ") {
            cfg_words.extend(rest.split_whitespace().map(String::from));
        }
    }
    let words: Vec<&str> = cfg_words.iter().map(String::as_str).collect();
    let mut engine = Attributor::new(config(&words), MemTree::new());
    let mut asm = Assembler::new(AssemblerConfig::default());
    let t0 = std::time::Instant::now();
    let mut now = clock(1_000_000);
    let mut reports: Vec<Report> = Vec::new();
    for l in lines {
        let (verb, rest) = l.split_once(' ').unwrap_or((l, ""));
        let w: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| -> i32 { w[i].parse().unwrap() };
        match verb {
            "config" => {}
            "at" => now = clock(rest.trim().parse().unwrap()),
            "proc" => engine.procs_mut().insert(process(rest)),
            "fork" => reports.extend(engine.on_proc_event(
                &proc_event(
                    now,
                    EventKind::Fork {
                        parent_pid: n(0),
                        parent_tgid: n(0),
                        child_pid: n(1),
                        child_tgid: n(2),
                    },
                ),
                now,
            )),
            "comm" => reports.extend(engine.on_proc_event(
                &proc_event(
                    now,
                    EventKind::Comm {
                        process_pid: n(0),
                        process_tgid: n(1),
                        comm: w[2].as_bytes().to_vec(),
                    },
                ),
                now,
            )),
            "exit" => {
                let status: u32 = w[2].parse().unwrap();
                reports.extend(engine.on_proc_event(
                    &proc_event(
                        now,
                        EventKind::Exit {
                            process_pid: n(0),
                            process_tgid: n(1),
                            exit_code: status,
                            status: ExitStatus::from_wait_status(status),
                            exit_signal: if n(0) == n(1) { 17 } else { u32::MAX },
                            parent_pid: None,
                            parent_tgid: None,
                        },
                    ),
                    now,
                ))
            }
            "audit" => {
                let (ty, body) = rest.split_once(' ').unwrap_or((rest, ""));
                let rec = Record::from_netlink(ty.parse().unwrap(), body.as_bytes()).unwrap();
                // The assembler's own clock only closes events that never
                // got an EOE; scenarios end every event with one.
                asm.push(rec, t0);
                while let Some(ev) = asm.pop() {
                    if let Some(k) = KillEvent::from_event(&ev).unwrap() {
                        reports.extend(engine.on_audit_kill(&k, now));
                    }
                }
            }
            "trace" => {
                let rec = tracesig::parse_line(rest.as_bytes()).unwrap();
                reports.extend(engine.on_trace(&rec, now));
            }
            "kmsg" => reports.extend(engine.on_kmsg_line(rest.as_bytes(), now)),
            "kmsg_limit" => {
                let (limit, line) = rest.split_once(' ').unwrap();
                reports.extend(engine.on_kmsg_line_with_limit(
                    line.as_bytes(),
                    Some(limit.parse().unwrap()),
                    now,
                ))
            }
            "tick" => reports.extend(engine.tick(now)),
            other => panic!("unknown input verb {other:?}"),
        }
    }
    reports.extend(engine.flush(now));
    let mut json = Vec::new();
    let mut text = String::new();
    let no_names = |_: u32| -> Option<String> { None };
    // UTC, and ancestor lines cut to 100 characters.
    let opts = TextOptions {
        color: false,
        user_name: &no_names,
        width: Some(100),
        ..TextOptions::default()
    };
    for r in &reports {
        write_json(&mut json, r).unwrap();
        text.push_str(&render_text(r, &opts));
        text.push_str("----\n");
    }
    (String::from_utf8(json).unwrap(), text)
}

fn check(name: &str) {
    let dir = golden_dir();
    let input = std::fs::read_to_string(dir.join(format!("{name}.in"))).unwrap();
    let (json, text) = run(&input);
    assert!(!json.is_empty(), "{name}: the scenario produced no report");
    let jpath = dir.join(format!("{name}.jsonl"));
    let tpath = dir.join(format!("{name}.txt"));
    if std::env::var_os("SIGWATCH_BLESS").is_some() {
        std::fs::write(&jpath, &json).unwrap();
        std::fs::write(&tpath, &text).unwrap();
        return;
    }
    let want_json = std::fs::read_to_string(&jpath)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with SIGWATCH_BLESS=1)", jpath.display()));
    let want_text = std::fs::read_to_string(&tpath)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with SIGWATCH_BLESS=1)", tpath.display()));
    for (i, (got, want)) in json.lines().zip(want_json.lines()).enumerate() {
        assert_eq!(got, want, "{name}: JSON line {} differs", i + 1);
    }
    assert_eq!(json, want_json, "{name}: JSON output differs");
    assert_eq!(text, want_text, "{name}: text output differs");
}

#[test]
fn audit_and_trace_joined() {
    check("audit_and_trace_joined");
}

#[test]
fn cgroup_kill() {
    check("cgroup_kill");
}

#[test]
fn denied_attempt() {
    check("denied_attempt");
}

#[test]
fn exit_before_audit_record() {
    check("exit_before_audit_record");
}

#[test]
fn kmsg_oom_without_tracefs() {
    check("kmsg_oom_without_tracefs");
}

#[test]
fn kill_across_containers_and_units() {
    check("kill_across_containers_and_units");
}

#[test]
fn oom_machine_from_a_real_log() {
    check("oom_machine_from_a_real_log");
}

#[test]
fn oom_memcg_with_limit() {
    check("oom_memcg_with_limit");
}

#[test]
fn oom_memcg() {
    check("oom_memcg");
}

#[test]
fn process_group_kill() {
    check("process_group_kill");
}

#[test]
fn rlimit_cpu() {
    check("rlimit_cpu");
}

#[test]
fn rt_sigqueueinfo() {
    check("rt_sigqueueinfo");
}

#[test]
fn seed_orphaned_killer() {
    check("seed_orphaned_killer");
}

#[test]
fn term_and_filter() {
    check("term_and_filter");
}

#[test]
fn tgkill_thread() {
    check("tgkill_thread");
}

#[test]
fn thread_sender_audit_and_trace() {
    check("thread_sender_audit_and_trace");
}

#[test]
fn tracefs_only_user_kill() {
    check("tracefs_only_user_kill");
}

#[test]
fn unknown_without_evidence() {
    check("unknown_without_evidence");
}

/// Every scenario in the directory has its expectations, and each is run
/// by a test below (a new scenario without a test would go unchecked).
#[test]
fn every_scenario_is_tested() {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "in").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    let src = include_str!("golden.rs");
    for n in &names {
        assert!(
            src.contains(&format!("check(\"{n}\")")),
            "golden scenario {n}.in has no test"
        );
    }
    assert!(names.len() >= 8, "scenarios: {names:?}");
}
