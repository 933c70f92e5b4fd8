//! Real records captured on Linux 6.18 (see tests/data/README.fixtures.md):
//! every `KillEvent` field of every scenario, from the netlink capture and
//! from auditd's ENRICHED log.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use auditsig::kill::{Bytes, TargetSpec};
use auditsig::value::Value;
use auditsig::{
    Arch, Assembler, Event, EventEnd, KillEvent, KillSyscall, Record, RecordType, Stamp, Target,
};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Netlink capture lines are `type=<number> <netlink body>`: split them
/// and go through the netlink entry point.
fn netlink_records() -> Vec<Record> {
    let text = std::fs::read(data("netlink-multicast-kill.txt")).unwrap();
    text.split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let l = l.strip_prefix(b"type=").unwrap();
            let sp = l.iter().position(|&c| c == b' ').unwrap();
            let t: u16 = std::str::from_utf8(&l[..sp]).unwrap().parse().unwrap();
            Record::from_netlink(t, &l[sp + 1..]).unwrap()
        })
        .collect()
}

fn assemble(records: Vec<Record>) -> Vec<Event> {
    let now = Instant::now();
    let mut a = Assembler::default();
    let mut out = Vec::new();
    for r in records {
        a.push(r, now);
        out.extend(a.drain());
    }
    a.flush();
    out.extend(a.drain());
    assert_eq!(a.stats().stray_eoe, 0);
    out
}

fn kills(events: &[Event]) -> Vec<KillEvent> {
    events
        .iter()
        .filter_map(|e| KillEvent::from_event(e).unwrap())
        .collect()
}

fn b(s: &str) -> Bytes {
    Bytes::from(s)
}

fn target(pid: i32, uid: u32, comm: &str) -> Target {
    Target::new(pid, uid, b(comm))
}

const GUARD_ARGV: [&str; 4] = [
    "/bin/sh",
    "/srv/pc-demo-apps1/pc/pc_guard.sh",
    "--mode",
    "restart",
];
const PY_EXE: &str = "///opt/python-runtime/3.11.7/bin/python3.11";

/// The orphaned `sh` script killing one daemon (ppid 1: its launcher had
/// exited), as nobody.
fn check_guard_kill(k: &KillEvent, stamp: Stamp, sender_pid: i32, victim: i32, comm: &str) {
    assert_eq!(k.stamp, stamp);
    assert_eq!(k.arch, Arch::X86_64);
    assert_eq!(k.syscall, KillSyscall::Kill.into());
    assert_eq!(k.syscall_nr, 62);
    assert_eq!(k.signal, 9);
    assert_eq!(k.args[0], victim as u64);
    assert_eq!(k.args[1], 9);
    assert_eq!(k.target_spec, TargetSpec::Process(victim));
    assert!(k.success);
    assert_eq!(k.exit, 0);
    assert_eq!(k.errno, None);
    let s = &k.sender;
    assert_eq!((s.pid, s.ppid), (sender_pid, 1));
    assert_eq!((s.uid, s.euid, s.gid), (65534, 65534, 65534));
    assert_eq!((s.auid, s.ses, &s.tty), (None, None, &None));
    assert_eq!(s.comm, b("sh"));
    assert_eq!(s.exe, Some(b("/usr/bin/dash")));
    assert_eq!(
        s.argv,
        Some(GUARD_ARGV.iter().map(|a| b(a)).collect::<Vec<_>>())
    );
    assert!(!s.argv_truncated);
    assert_eq!(k.targets, vec![target(victim, 65534, comm)]);
    assert_eq!(k.key, Some(b("swtest")));
    assert_eq!(k.targets_dropped, 0);
}

fn check_python_sender(k: &KillEvent, code_tail: &str) {
    let s = &k.sender;
    assert_eq!((s.pid, s.ppid), (1304, 1206));
    assert_eq!((s.uid, s.euid, s.gid, s.auid, s.ses), (0, 0, 0, None, None));
    assert_eq!(s.tty, None);
    assert_eq!(s.comm, b("python3"));
    assert_eq!(s.exe, Some(b(PY_EXE)));
    let argv = s.argv.as_ref().unwrap();
    assert_eq!(argv.len(), 3);
    assert_eq!(argv[0], b("///opt/python-runtime/3.11.7/bin/python3"));
    assert_eq!(argv[1], b("-c"));
    assert!(argv[2].0.ends_with(code_tail.as_bytes()), "{:?}", argv[2]);
    // 41 + 3 + 84 = 128 bytes: the kernel's cut.
    assert_eq!(argv.iter().map(|a| a.0.len() + 1).sum::<usize>() - 1, 128);
    assert!(s.argv_truncated);
    assert_eq!(k.key, Some(b("swtest")));
    assert!(k.success);
    assert_eq!((k.exit, k.errno), (0, None));
}

fn st(sec: u64, msec: u32, serial: u64) -> Stamp {
    Stamp { sec, msec, serial }
}

#[test]
fn netlink_capture_every_scenario() {
    let events = assemble(netlink_records());
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|e| e.end == EventEnd::LastRecord));
    let k = kills(&events);
    assert_eq!(k.len(), 6);

    check_guard_kill(&k[0], st(1795667968, 504, 23), 1298, 1294, "pa-daemon");
    check_guard_kill(&k[1], st(1795667968, 504, 24), 1298, 1295, "pb-helper");

    // pidfd_send_signal(3, SIGKILL, NULL, 0)
    let p = &k[2];
    assert_eq!(p.stamp, st(1795667969, 876, 25));
    assert_eq!(
        (p.syscall, p.syscall_nr),
        (KillSyscall::PidfdSendSignal.into(), 424)
    );
    assert_eq!((p.signal, p.args), (9, [3, 9, 0, 0]));
    assert_eq!(p.target_spec, TargetSpec::Pidfd(3));
    assert_eq!(p.targets, vec![target(1345, 0, "sleep")]);
    check_python_sender(p, "time.sleep(0.2");

    // rt_sigqueueinfo(1346, SIGKILL, &info)
    let q = &k[3];
    assert_eq!(q.stamp, st(1795667970, 76, 26));
    assert_eq!(
        (q.syscall, q.syscall_nr),
        (KillSyscall::RtSigqueueinfo.into(), 129)
    );
    assert_eq!((q.signal, q.args), (9, [0x542, 9, 0x7f6997215230, 3]));
    assert_eq!(q.target_spec, TargetSpec::Process(1346));
    assert_eq!(q.targets, vec![target(1346, 0, "sleep")]);
    check_python_sender(q, "time.sleep(0.2");

    // tgkill(1347, 1348, SIGKILL): signal in a2, opid is the process.
    let t = &k[4];
    assert_eq!(t.stamp, st(1795667970, 580, 27));
    assert_eq!((t.syscall, t.syscall_nr), (KillSyscall::Tgkill.into(), 234));
    assert_eq!((t.signal, t.args), (9, [0x543, 0x544, 9, 3]));
    assert_eq!(
        t.target_spec,
        TargetSpec::ThreadOf {
            tgid: 1347,
            tid: 1348
        }
    );
    assert_eq!(t.targets, vec![target(1347, 0, "python3")]);
    check_python_sender(t, "time.sleep(0.2");

    // kill(-1349, SIGKILL): three targets.
    let g = &k[5];
    assert_eq!(g.stamp, st(1795667970, 884, 28));
    assert_eq!((g.syscall, g.signal), (KillSyscall::Kill.into(), 9));
    assert_eq!(g.args[0], 0xfffffabb);
    assert_eq!(g.target_spec, TargetSpec::ProcessGroup(1349));
    assert_eq!(
        g.targets,
        vec![
            target(1350, 0, "sleep"),
            target(1349, 0, "sh"),
            target(1351, 0, "sleep")
        ]
    );
    check_python_sender(g, "time.sleep(0.2");
}

#[test]
fn enriched_log_every_scenario() {
    let mut reader = auditsig::logfile::open_log(data("auditd-enriched-kill.log")).unwrap();
    let records: Vec<Record> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(reader.stats().parse_errors, 0);
    assert_eq!(reader.stats().records, 18);
    assert!(records[0].is_enriched());

    let events = assemble(records);
    let summary: Vec<(u64, EventEnd, usize)> = events
        .iter()
        .map(|e| (e.stamp.serial, e.end, e.records.len()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (8861, EventEnd::Single, 1),
            (30, EventEnd::LastRecord, 1),
            (31, EventEnd::LastRecord, 4),
            (32, EventEnd::LastRecord, 3),
            (33, EventEnd::LastRecord, 3),
            (34, EventEnd::LastRecord, 5),
            (8862, EventEnd::Single, 1),
        ]
    );
    // serial 31 is auditd's own sendto(), not a kill.
    assert_eq!(KillEvent::from_event(&events[2]).unwrap(), None);
    let k = kills(&events);
    assert_eq!(k.len(), 3);
    // Same script as in the netlink capture, other pids.
    check_guard_kill(&k[0], st(1795667992, 992, 32), 1428, 1424, "pa-daemon");
    check_guard_kill(&k[1], st(1795667992, 992, 33), 1428, 1425, "pb-helper");

    let g = &k[2];
    assert_eq!(g.stamp, st(1795667994, 476, 34));
    assert_eq!(g.target_spec, TargetSpec::ProcessGroup(1475));
    assert_eq!((g.sender.pid, g.sender.ppid), (1434, 1366));
    assert_eq!(g.sender.exe, Some(b(PY_EXE)));
    assert!(g.sender.argv_truncated);
    assert_eq!(
        g.targets,
        vec![
            target(1476, 0, "sleep"),
            target(1475, 0, "sh"),
            target(1477, 0, "sleep")
        ]
    );

    // The interpreted part is kept next to the raw fields.
    let sc = events[3].first(RecordType::SYSCALL).unwrap();
    assert_eq!(sc.get("syscall"), Some(Value::Bare(b"62")));
    assert_eq!(sc.get_interpreted("SYSCALL"), Some(Value::Bare(b"kill")));
    assert_eq!(sc.get_interpreted("AUID"), Some(Value::Str(b"unset")));
    assert_eq!(sc.get_interpreted("UID"), Some(Value::Str(b"nobody")));
    assert_eq!(sc.get("key"), Some(Value::Str(b"swtest")));
    assert_eq!(sc.get("FSGID"), None);
    assert_eq!(sc.interpreted().count(), 11);
    let sa = events[2].first(RecordType::SOCKADDR).unwrap();
    assert_eq!(
        sa.get("saddr"),
        Some(Value::Hex(b"100000000000000000000000"))
    );
    assert_eq!(
        sa.get_interpreted("SADDR"),
        Some(Value::Braced(b" saddr_fam=netlink nlnk-fam=16 nlnk-pid=0 "))
    );
    let ds = &events[0].records[0];
    assert_eq!(ds.record_type(), RecordType::DAEMON_START);
    assert_eq!(ds.get("format"), Some(Value::Bare(b"enriched")));
    assert_eq!(ds.get_interpreted("AUID"), Some(Value::Str(b"unset")));
}

/// The same netlink capture, rewritten as auditd writes a RAW log (symbolic
/// type names, `msg=`, no `EOE` lines): identical kill events.
#[test]
fn raw_log_format_equals_netlink() {
    let from_netlink = kills(&assemble(netlink_records()));
    let text = std::fs::read_to_string(data("netlink-multicast-kill.txt")).unwrap();
    let mut lines = Vec::new();
    for l in text.lines() {
        let (t, body) = l.strip_prefix("type=").unwrap().split_once(' ').unwrap();
        let t = RecordType(t.parse().unwrap());
        if t == RecordType::EOE {
            continue;
        }
        lines.push(format!("type={t} msg={body}"));
    }
    let records: Vec<Record> = lines
        .iter()
        .map(|l| Record::parse_line(l.as_bytes()).unwrap())
        .collect();
    let from_log = kills(&assemble(records));
    assert_eq!(from_log, from_netlink);
}

/// `ausearch` (Debian's auditd package) as an oracle: the same events
/// (serials) from the same log, and the same targets per kill event.
/// Also for a RAW log with interleaved events and no PROCTITLE.
#[test]
fn ausearch_agrees_on_events_and_targets() {
    if !sigwatch_test_support::require_tool("ausearch_agrees_on_events_and_targets", "ausearch") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let interleaved = dir.path().join("interleaved.log");
    std::fs::write(
        &interleaved,
        "type=SYSCALL msg=audit(1700000000.100:501): arch=c000003e syscall=62 success=yes exit=0 a0=1f4 a1=9 a2=0 a3=0 items=0 ppid=1 pid=300 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"kill\" exe=\"/bin/kill\" key=\"swtest\"\n\
         type=SYSCALL msg=audit(1700000000.100:502): arch=c000003e syscall=62 success=no exit=-3 a0=1f5 a1=9 a2=0 a3=0 items=0 ppid=1 pid=301 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"kill\" exe=\"/bin/kill\" key=\"swtest\"\n\
         type=OBJ_PID msg=audit(1700000000.100:501): opid=500 oauid=-1 ouid=0 oses=-1 ocomm=\"victim\"\n\
         type=USER_CMD msg=audit(1700000000.200:503): pid=1 uid=0 auid=0 ses=1 msg='cwd=\"/\" cmd=6C73 terminal=pts/0 res=success'\n\
         type=SYSCALL msg=audit(1700000003.000:504): arch=c000003e syscall=62 success=yes exit=0 a0=fffffe0c a1=9 a2=0 a3=0 items=0 ppid=1 pid=302 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"swtest\"\n\
         type=OBJ_PID msg=audit(1700000003.000:504): opid=501 oauid=1000 ouid=1000 oses=3 ocomm=\"a\"\n\
         type=OBJ_PID msg=audit(1700000003.000:504): opid=502 oauid=1000 ouid=1000 oses=3 ocomm=\"b\"\n",
    )
    .unwrap();
    for path in [data("auditd-enriched-kill.log"), interleaved] {
        let csv = std::process::Command::new("ausearch")
            .arg("-if")
            .arg(&path)
            .args(["--format", "csv"])
            .output()
            .unwrap();
        let csv = String::from_utf8(csv.stdout).unwrap();
        let mut want: Vec<u64> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
            .collect();
        want.sort();

        let records: Vec<Record> = auditsig::logfile::open_log(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let events = assemble(records);
        let mut got: Vec<u64> = events.iter().map(|e| e.stamp.serial).collect();
        got.sort();
        assert_eq!(got, want, "{}", path.display());

        // Targets per kill event, from ausearch's raw records of key swtest.
        let raw = std::process::Command::new("ausearch")
            .arg("-if")
            .arg(&path)
            .args(["-k", "swtest", "--raw"])
            .output()
            .unwrap();
        let raw = String::from_utf8_lossy(&raw.stdout).into_owned();
        let mut want: Vec<(u64, i32)> = Vec::new();
        for l in raw.lines().filter(|l| l.starts_with("type=OBJ_PID")) {
            let r = Record::parse_line(l.as_bytes()).unwrap();
            let opid = r.get("opid").unwrap().as_dec_u64().unwrap() as i32;
            want.push((r.stamp().serial, opid));
        }
        want.sort();
        let mut got: Vec<(u64, i32)> = kills(&events)
            .iter()
            .flat_map(|k| k.targets.iter().map(move |t| (k.stamp.serial, t.pid)))
            .collect();
        got.sort();
        assert_eq!(got, want, "{}", path.display());
        assert!(!got.is_empty());
    }
}
