//! Real audit records captured on Linux 6.18 (see tests/data), through
//! auditsig's parser into the Attributor, and replayed from auditd's log.
#![allow(clippy::unwrap_used)]

use auditsig::{Assembler, AssemblerConfig, KillEvent, Record};
use procconn::{EventKind, ExitStatus, ProcEvent};
use sigwatch::render::{render_text, TextOptions};
use sigwatch::replay::replay_records;
use sigwatch::report::{KillReport, Origin, Report};
use sigwatch::{Attributor, Clock, Config, MemTree, SignalSet};
use std::time::Instant;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// `type=<number> <netlink body>` lines → kill events.
fn multicast_kills() -> Vec<KillEvent> {
    let text = data("netlink-multicast-kill.txt");
    let mut asm = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_prefix(b"type=").unwrap();
        let sp = line.iter().position(|&b| b == b' ').unwrap();
        let ty: u16 = std::str::from_utf8(&line[..sp]).unwrap().parse().unwrap();
        let rec = Record::from_netlink(ty, &line[sp + 1..]).unwrap();
        asm.push(rec, Instant::now());
        while let Some(ev) = asm.pop() {
            if let Some(k) = KillEvent::from_event(&ev).unwrap() {
                out.push(k);
            }
        }
    }
    out
}

fn exit9(pid: i32, t: u64) -> ProcEvent {
    ProcEvent {
        seq: 0,
        cpu: 0,
        timestamp_ns: t,
        kind: EventKind::Exit {
            process_pid: pid,
            process_tgid: pid,
            exit_code: 9,
            status: ExitStatus::from_wait_status(9),
            exit_signal: 17,
            parent_pid: None,
            parent_tgid: None,
        },
    }
}

fn kill_reports(v: Vec<Report>) -> Vec<KillReport> {
    v.into_iter()
        .filter_map(|r| match r {
            Report::Kill(k) => Some(k),
            _ => None,
        })
        .collect()
}

#[test]
fn multicast_records_attribute_every_captured_scenario() {
    let kills = multicast_kills();
    let calls: Vec<_> = kills.iter().map(|k| k.syscall.name().unwrap()).collect();
    assert_eq!(
        calls,
        [
            "kill",
            "kill",
            "pidfd_send_signal",
            "rt_sigqueueinfo",
            "tgkill",
            "kill"
        ]
    );
    let mut a = Attributor::new(Config::default(), MemTree::new());
    let now = Clock {
        mono_ns: 5_000_000_000,
        wall_ns: 1_795_667_970_000_000_000,
    };
    let mut reports = Vec::new();
    for k in &kills {
        reports.extend(a.on_audit_kill(k, now));
        for t in &k.targets {
            reports.extend(a.on_proc_event(&exit9(t.pid, now.mono_ns), now));
        }
    }
    let r = kill_reports(reports);
    let victims: Vec<_> = r.iter().map(|k| k.victim.pid).collect();
    assert_eq!(victims, [1294, 1295, 1345, 1346, 1347, 1350, 1349, 1351]);
    assert!(r.iter().all(|k| k.origin == Origin::User
        && k.victim.exit_confirmed
        && k.success == Some(true)
        && k.signal == 9));
    // The orphaned sh script: ppid 1, nobody, unset login uid.
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(
        (s.pid, s.ppid, s.uid, s.auid, s.ses),
        (1298, Some(1), Some(65534), None, None)
    );
    assert_eq!(s.exe.as_ref().unwrap().0, b"/usr/bin/dash");
    let argv: Vec<_> = s
        .argv
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.0.clone())
        .collect();
    assert_eq!(
        argv,
        [
            &b"/bin/sh"[..],
            b"/srv/pc-demo-apps1/pc/pc_guard.sh",
            b"--mode",
            b"restart"
        ]
    );
    assert_eq!(s.argv_truncated, Some(false));
    assert_eq!(r[0].victim.comm.as_ref().unwrap().0, b"pa-daemon");
    assert_eq!(r[0].audit.as_ref().unwrap().serial, 23);
    assert_eq!(
        r[0].audit.as_ref().unwrap().key.as_ref().unwrap().0,
        b"swtest"
    );
    // The python sender's PROCTITLE is cut by the kernel; no tree to extend it.
    assert_eq!(r[2].sender.as_ref().unwrap().argv_truncated, Some(true));
    // tgkill at a non-leader thread: the thread is a1.
    assert_eq!(r[4].victim.tid, Some(0x544));
    // The process-group kill: one report per OBJ_PID.
    assert_eq!(r[5].extra.targets, 3);
    assert!(r[5].extra.target_arg.unwrap() < -1);
    // Text output mentions the group.
    let t = render_text(&Report::Kill(r[5].clone()), &TextOptions::default());
    assert!(t.contains("process group"), "{t}");
}

#[test]
fn replay_of_auditd_enriched_log() {
    let text = data("auditd-enriched-kill.log");
    let records: Vec<Record> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Record::parse_line(l).unwrap())
        .collect();
    let (reports, stats) = replay_records(records, SignalSet::sigkill());
    let r = kill_reports(reports);
    let victims: Vec<_> = r.iter().map(|k| k.victim.pid).collect();
    // In the order of the OBJ_PID records (as ausearch lists them).
    assert_eq!(victims, [1424, 1425, 1476, 1475, 1477]);
    assert_eq!(stats.kill_events, 3);
    assert_eq!(stats.malformed, 0);
    for k in &r {
        assert_eq!(k.origin, Origin::User);
        assert!(!k.victim.exit_confirmed, "a log cannot confirm a death");
        let s = k.sender.as_ref().unwrap();
        assert_eq!(s.exited, None, "liveness is unknown in a replay");
    }
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(s.pid, 1428);
    assert_eq!(s.comm.as_ref().unwrap().0, b"sh");
    assert_eq!(r[0].time.rfc3339(), "2026-11-26T04:39:52.992Z");
    // The group kill's sender is python3 with its parent known only by pid.
    let s = r[2].sender.as_ref().unwrap();
    assert_eq!(s.comm.as_ref().unwrap().0, b"python3");
    // The log never names its parent 1366 otherwise: a bare pid, all null.
    assert_eq!(r[2].ancestors.len(), 1);
    let p = &r[2].ancestors[0];
    assert_eq!(
        (p.pid, &p.comm, &p.argv, p.exited),
        (1366, &None, &None, None)
    );
}
