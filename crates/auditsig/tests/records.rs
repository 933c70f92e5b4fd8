//! Record parsing edge cases, records as older kernels write them,
//! malformed input, and the text sources (whole file, stdin-like stream,
//! follow mode across rotation and truncation).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Instant;

use auditsig::kill::{Bytes, TargetSpec};
use auditsig::value::Value;
use auditsig::{
    Assembler, EventEnd, FollowLog, KillEvent, KillEventError, LineReader, ParseError, Record,
    RecordType, StartAt,
};

fn rec(line: &str) -> Record {
    Record::parse_line(line.as_bytes()).unwrap()
}

fn kill_from(lines: &[&str]) -> Result<Option<KillEvent>, KillEventError> {
    let mut a = Assembler::default();
    let now = Instant::now();
    for l in lines {
        a.push(rec(l), now);
    }
    a.flush();
    let events: Vec<_> = a.drain().collect();
    assert_eq!(events.len(), 1, "{events:?}");
    KillEvent::from_event(&events[0])
}

#[test]
fn values_of_every_kind() {
    let r = rec(
        "node=web1 type=SYSCALL msg=audit(1700000000.001:5): arch=c000003e syscall=62 \
         success=no exit=-1 a0=fffffffffffffffb a1=9 tty=pts0 comm=6D7920736372697074 \
         exe=(null) key=? cwd=\"/\" unknownfield=x extra\n",
    );
    assert_eq!(r.node(), Some(&b"web1"[..]));
    assert_eq!(r.record_type(), RecordType::SYSCALL);
    assert_eq!(r.stamp().msec, 1);
    assert_eq!(r.get("arch").unwrap().as_hex_u64(), Some(0xc000003e));
    assert_eq!(r.get("exit").unwrap().as_dec_i64(), Some(-1));
    assert_eq!(r.get("a0").unwrap().as_hex_u64(), Some(u64::MAX - 4));
    assert_eq!(
        r.get("comm").unwrap().bytes().unwrap().as_ref(),
        b"my script"
    );
    assert_eq!(r.get("exe"), Some(Value::Null));
    assert_eq!(r.get("key"), Some(Value::Unknown));
    assert_eq!(r.get("tty"), Some(Value::Bare(b"pts0")));
    // Unknown fields and bare tokens are kept.
    assert_eq!(r.get("unknownfield"), Some(Value::Bare(b"x")));
    assert_eq!(r.get("extra"), Some(Value::Bare(b"")));
    assert!(!r.is_enriched());
    assert_eq!(r.field_count(), 13);
}

#[test]
fn unknown_types_user_messages_and_avc() {
    let r = rec("type=UNKNOWN[1336] msg=audit(1.002:3): uring_op=1 items=0");
    assert_eq!(r.record_type(), RecordType(1336));
    assert_eq!(r.record_type().to_string(), "URINGOP");
    let r = rec("type=UNKNOWN[4242] msg=audit(1.002:3): x=1");
    assert_eq!(r.record_type().to_string(), "UNKNOWN[4242]");
    let r = rec(
        "type=USER_CMD msg=audit(1.002:3): pid=1 uid=0 auid=1000 ses=2 \
         msg='cwd=\"/root\" cmd=6C73202D6C terminal=pts/0 res=success'",
    );
    assert!(r.record_type().is_single_record_event());
    assert_eq!(
        r.get("msg"),
        Some(Value::SingleQuoted(
            b"cwd=\"/root\" cmd=6C73202D6C terminal=pts/0 res=success"
        ))
    );
    let r = Record::from_netlink(
        1400,
        b"audit(1.002:3): avc:  denied  { read } for  pid=5 comm=\"cat\" name=\"x\"",
    )
    .unwrap();
    assert_eq!(r.get("pid"), Some(Value::Bare(b"5")));
    assert_eq!(r.get("denied"), Some(Value::Bare(b"")));
}

#[test]
fn malformed_lines_give_typed_errors() {
    let cases: &[(&[u8], ParseError)] = &[
        (b"", ParseError::Empty),
        (b"\n", ParseError::Empty),
        (b"hello world", ParseError::MissingType),
        (b"type=SYSCALL", ParseError::MissingHeader),
        (b"type=SYSCALL msg=foo", ParseError::MissingHeader),
        (
            b"type=no-such msg=audit(1.1:1): x=1",
            ParseError::BadType("no-such".into()),
        ),
        (b"type=SYSCALL msg=audit(1.1:1) x=1", ParseError::BadStamp),
        (b"type=SYSCALL msg=audit(1:1): x=1", ParseError::BadStamp),
        (b"type=SYSCALL msg=audit(1.1:x): x=1", ParseError::BadStamp),
        (
            b"type=SYSCALL msg=audit(1.1:1): comm=\"unterminated",
            ParseError::UnterminatedQuote(36),
        ),
        (b"node=x", ParseError::MissingType),
    ];
    for (line, err) in cases {
        assert_eq!(
            Record::parse_line(line).unwrap_err(),
            *err,
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    assert_eq!(
        Record::from_netlink(1300, b"\0\0").unwrap_err(),
        ParseError::Empty
    );
    assert_eq!(
        Record::from_netlink(1300, b"type=SYSCALL msg=audit(1.1:1): x=1").unwrap_err(),
        ParseError::MissingHeader
    );
    // A netlink body with a trailing NUL (length conventions differ).
    let r = Record::from_netlink(1320, b"audit(1.1:1): \0").unwrap();
    assert_eq!(r.field_count(), 0);
}

/// A kernel before 3.17 (no PROCTITLE), RAW format, `auid=-1` spelled
/// differently, fewer SYSCALL fields (no `ses`, 2.6.18-era): still a kill
/// event; argv is None, not empty.
#[test]
fn older_kernel_records() {
    let k = kill_from(&[
        "type=SYSCALL msg=audit(1400000000.100:77): arch=c000003e syscall=62 success=yes exit=0 \
         a0=1f4 a1=9 a2=0 a3=0 items=0 ppid=1 pid=300 auid=4294967295 uid=0 gid=0 euid=0 \
         suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 comm=\"kill\" exe=\"/bin/kill\" key=(null)",
        "type=OBJ_PID msg=audit(1400000000.100:77): opid=500 oauid=500 ouid=500 ocomm=\"victim\"",
    ])
    .unwrap()
    .unwrap();
    assert_eq!(k.sender.argv, None);
    assert!(!k.sender.argv_truncated);
    assert_eq!(k.sender.ses, None);
    assert_eq!(k.sender.auid, None);
    assert_eq!(k.sender.tty, Some(Bytes::from("pts1")));
    assert_eq!(k.key, None);
    assert_eq!(k.target_spec, TargetSpec::Process(500));
    assert_eq!(k.targets.len(), 1);
    assert_eq!(k.targets[0].auid, Some(500));
    assert_eq!(k.targets[0].ses, None);

    // i386 compat kill (37) of the caller's process group, denied, with
    // `auid=-1`-style unset ids and a set login session.
    let k = kill_from(&[
        "type=SYSCALL msg=audit(1.5:8): arch=40000003 syscall=37 success=no exit=-1 \
         a0=0 a1=9 a2=0 a3=0 items=0 ppid=2 pid=3 auid=-1 uid=1000 gid=1000 euid=1000 \
         suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=7 comm=\"a\" exe=\"/a\" key=\"k\"",
        "type=EOE msg=audit(1.5:8): ",
    ])
    .unwrap()
    .unwrap();
    assert_eq!(k.arch, auditsig::Arch::I386);
    assert_eq!(k.syscall, auditsig::KillSyscall::Kill.into());
    assert_eq!(k.target_spec, TargetSpec::OwnProcessGroup);
    assert_eq!((k.success, k.exit, k.errno), (false, -1, Some(1)));
    assert_eq!((k.sender.auid, k.sender.ses), (None, Some(7)));
    assert!(k.targets.is_empty());

    // RHEL 7 (3.10) with SELinux: `subj=` in SYSCALL, `obj=` in OBJ_PID.
    let k = kill_from(&[
        "type=SYSCALL msg=audit(1500000000.123:4242): arch=c000003e syscall=62 success=yes \
         exit=0 a0=9c4 a1=9 a2=0 a3=0 items=0 ppid=2000 pid=2001 auid=1000 uid=1000 gid=1000 \
         euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=5 \
         comm=\"bash\" exe=\"/usr/bin/bash\" \
         subj=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 key=\"kills\"",
        "type=OBJ_PID msg=audit(1500000000.123:4242): opid=2500 oauid=1000 ouid=1000 oses=5 \
         obj=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 ocomm=\"sleep\"",
        "type=PROCTITLE msg=audit(1500000000.123:4242): proctitle=\"-bash\"",
    ])
    .unwrap()
    .unwrap();
    assert_eq!((k.sender.auid, k.sender.ses), (Some(1000), Some(5)));
    assert_eq!(k.sender.argv, Some(vec![Bytes::from("-bash")]));
    let t = &k.targets[0];
    assert_eq!(
        (t.pid, t.auid, t.uid, t.ses),
        (2500, Some(1000), 1000, Some(5))
    );
    assert_eq!(
        t.obj,
        Some(Bytes::from(
            "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023"
        ))
    );

    // kill(-1): every process.
    let k = kill_from(&[
        "type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=62 success=yes exit=0 \
         a0=ffffffff a1=9 a2=0 a3=0 ppid=2 pid=3 uid=0 gid=0 euid=0 comm=\"a\" exe=\"/a\"",
    ])
    .unwrap()
    .unwrap();
    assert_eq!(k.target_spec, TargetSpec::All);
}

#[test]
fn unknown_values_are_none_not_empty() {
    let k = kill_from(&[
        "type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=62 success=yes exit=0 \
         a0=10 a1=9 a2=0 a3=0 ppid=2 pid=3 uid=0 gid=0 euid=0 comm=\"a\" exe=\"\"",
        "type=OBJ_PID msg=audit(1.5:9): opid=10 oauid=-1 ouid=0 oses=-1",
    ])
    .unwrap()
    .unwrap();
    assert_eq!(k.sender.exe, None);
    assert_eq!(k.targets[0].comm, None);
    assert_eq!(k.targets[0].pid, 10);
}

#[test]
fn non_kill_and_malformed_kill_events() {
    // Not a kill syscall, unknown arch, no SYSCALL record.
    let openat = "type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=257 success=yes exit=3 \
                  a0=1 a1=2 a2=3 a3=4 pid=1 ppid=1 uid=0 euid=0 gid=0 comm=\"x\"";
    assert_eq!(kill_from(&[openat]).unwrap(), None);
    let unknown_arch = "type=SYSCALL msg=audit(1.5:9): arch=deadbeef syscall=37 success=yes \
                exit=0 a0=1 a1=9 a2=3 a3=4 pid=1 ppid=1 uid=0 euid=0 gid=0 comm=\"x\"";
    assert_eq!(kill_from(&[unknown_arch]).unwrap(), None);
    // s390x: kill is 37 there.
    let s390 = unknown_arch.replace("deadbeef", "80000016");
    let k = kill_from(&[s390.as_str()]).unwrap().unwrap();
    assert_eq!(
        (k.arch, k.syscall, k.signal),
        (auditsig::Arch::S390x, auditsig::KillSyscall::Kill.into(), 9)
    );
    assert_eq!(
        kill_from(&["type=CWD msg=audit(1.5:9): cwd=\"/\""]).unwrap(),
        None
    );
    // Kill with a missing pid / garbage a1 / OBJ_PID without opid.
    let no_pid = "type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=62 success=yes exit=0 \
                  a0=1 a1=9 a2=3 a3=4 ppid=1 uid=0 euid=0 gid=0 comm=\"x\"";
    assert_eq!(
        kill_from(&[no_pid]).unwrap_err(),
        KillEventError::Field {
            record: "SYSCALL",
            field: "pid"
        }
    );
    let bad_a1 = "type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=62 success=yes exit=0 \
                  a0=1 a1=zz a2=3 a3=4 pid=1 ppid=1 uid=0 euid=0 gid=0 comm=\"x\"";
    assert!(kill_from(&[bad_a1]).is_err());
    let ok = "type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=62 success=yes exit=0 \
              a0=1 a1=9 a2=3 a3=4 pid=1 ppid=1 uid=0 euid=0 gid=0 comm=\"x\"";
    assert_eq!(
        kill_from(&[ok, "type=OBJ_PID msg=audit(1.5:9): oauid=-1 ouid=0"]).unwrap_err(),
        KillEventError::Field {
            record: "OBJ_PID",
            field: "opid"
        }
    );
    // Two hosts' kills with the same stamp, merged without node=: whose
    // targets are whose is unknown, so neither sender is named.
    let other = ok.replace("pid=1 ppid=1", "pid=2 ppid=1");
    assert_eq!(
        kill_from(&[
            ok,
            "type=OBJ_PID msg=audit(1.5:9): opid=3000 oauid=-1 ouid=0 oses=-1 ocomm=\"a\"",
            other.as_str(),
            "type=OBJ_PID msg=audit(1.5:9): opid=4000 oauid=-1 ouid=0 oses=-1 ocomm=\"b\"",
        ])
        .unwrap_err(),
        KillEventError::SeveralSyscalls(2)
    );
}

#[test]
fn proctitle_quoted_and_long() {
    let sc = "type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=200 success=yes exit=0 \
              a0=64 a1=9 a2=0 a3=0 pid=1 ppid=1 uid=0 euid=0 gid=0 comm=\"x\"";
    let k = kill_from(&[sc, "type=PROCTITLE msg=audit(1.5:9): proctitle=\"sleeper\""])
        .unwrap()
        .unwrap();
    assert_eq!(k.target_spec, TargetSpec::Thread(100));
    assert_eq!(k.sender.argv, Some(vec![Bytes::from("sleeper")]));
    assert!(!k.sender.argv_truncated);
    let long = "41".repeat(127);
    let line = format!("type=PROCTITLE msg=audit(1.5:9): proctitle={long}");
    let k = kill_from(&[sc, &line]).unwrap().unwrap();
    assert!(!k.sender.argv_truncated);
    let long = "41".repeat(128);
    let line = format!("type=PROCTITLE msg=audit(1.5:9): proctitle={long}");
    let k = kill_from(&[sc, &line]).unwrap().unwrap();
    assert!(k.sender.argv_truncated);
}

#[test]
fn line_reader_counts_what_it_skips() {
    let input = b"type=DAEMON_START msg=audit(1.0:1): op=start\n\
                  garbage line\n\
                  \n\
                  type=SYSCALL msg=audit(1.0:2): comm=\"oops\n\
                  type=DAEMON_END msg=audit(1.0:3): op=terminate";
    let mut r = LineReader::new(&input[..]);
    let recs: Vec<Record> = r.by_ref().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].record_type(), RecordType::DAEMON_END);
    let st = r.stats();
    assert_eq!((st.lines, st.records, st.parse_errors), (5, 2, 2));
    assert!(matches!(
        st.last_error,
        Some(ParseError::UnterminatedQuote(_))
    ));
}

#[test]
fn follow_survives_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let line = |s: u64| format!("type=DAEMON_START msg=audit(1.0:{s}): op=start\n");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(line(1).as_bytes()).unwrap();

    let mut follow = FollowLog::open(&path, StartAt::End).unwrap();
    let mut out = Vec::new();
    let serials =
        |out: &mut Vec<Record>| -> Vec<u64> { out.drain(..).map(|r| r.stamp().serial).collect() };
    assert_eq!(follow.poll(&mut out).unwrap(), 0);

    // A line in two writes.
    let l2 = line(2);
    f.write_all(&l2.as_bytes()[..10]).unwrap();
    follow.poll(&mut out).unwrap();
    assert!(out.is_empty());
    f.write_all(&l2.as_bytes()[10..]).unwrap();
    follow.poll(&mut out).unwrap();
    assert_eq!(serials(&mut out), vec![2]);

    // Rotation: lines written to the old file after our last poll but
    // before the rename must not be lost.
    f.write_all(line(3).as_bytes()).unwrap();
    std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
    f.write_all(line(4).as_bytes()).unwrap();
    follow.poll(&mut out).unwrap();
    assert_eq!(serials(&mut out), vec![3, 4]);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(line(5).as_bytes()).unwrap();
    f.write_all(line(55).as_bytes()).unwrap();
    follow.poll(&mut out).unwrap();
    assert_eq!(serials(&mut out), vec![5, 55]);
    assert_eq!(follow.stats().rotations, 1);

    // Truncation (copytruncate): start again at 0. Detected when the file
    // is shorter than what was read (like `tail -F`).
    f.set_len(0).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all(line(6).as_bytes()).unwrap();
    follow.poll(&mut out).unwrap();
    assert_eq!(serials(&mut out), vec![6]);
    assert_eq!(follow.stats().truncations, 1);
    assert_eq!(follow.stats().parse_errors, 0);
}

#[test]
fn eoe_after_last_record_is_swallowed() {
    let now = Instant::now();
    let mut a = Assembler::default();
    a.push(rec("type=SYSCALL msg=audit(1.0:1): pid=1"), now);
    a.push(rec("type=PROCTITLE msg=audit(1.0:1): proctitle=\"x\""), now);
    a.push(rec("type=EOE msg=audit(1.0:1): "), now);
    let e = a.pop().unwrap();
    assert_eq!((e.end, e.records.len()), (EventEnd::LastRecord, 2));
    assert!(a.pop().is_none());
    assert_eq!(a.stats().stray_eoe, 0);
}

/// A live event whose `EOE` never comes is completed by the caller's
/// clock: not before `AssemblerConfig::timeout` (2 s by default), at it
/// with `EventEnd::Timeout`; an `EOE` arriving after that is counted as
/// stray, not turned into a second event.
#[test]
fn event_without_eoe_times_out_on_the_callers_clock() {
    let t0 = Instant::now();
    let mut a = Assembler::default();
    a.push(rec("type=SYSCALL msg=audit(1.0:7): pid=1"), t0);
    a.push(rec("type=OBJ_PID msg=audit(1.0:7): opid=2"), t0);
    a.tick(t0 + std::time::Duration::from_millis(1999));
    assert!(a.pop().is_none(), "flushed before the timeout");
    assert_eq!(a.stats().timed_out, 0);
    a.tick(t0 + std::time::Duration::from_secs(2));
    let e = a.pop().expect("flushed at the timeout");
    assert_eq!((e.end, e.records.len()), (EventEnd::Timeout, 2));
    assert_eq!(a.stats().timed_out, 1);
    a.push(
        rec("type=EOE msg=audit(1.0:7): "),
        t0 + std::time::Duration::from_secs(3),
    );
    assert!(a.pop().is_none());
    assert_eq!(a.stats().stray_eoe, 1);
    // A shorter configured timeout is honoured.
    let mut a = Assembler::new(
        auditsig::AssemblerConfig::default().timeout(std::time::Duration::from_millis(100)),
    );
    a.push(rec("type=SYSCALL msg=audit(1.0:8): pid=1"), t0);
    a.tick(t0 + std::time::Duration::from_millis(99));
    assert!(a.pop().is_none());
    a.tick(t0 + std::time::Duration::from_millis(100));
    assert_eq!(a.pop().map(|e| e.end), Some(EventEnd::Timeout));
}

#[test]
fn oversized_lines_and_huge_events_are_bounded_and_counted() {
    let mut input = Vec::new();
    input.extend_from_slice(b"type=DAEMON_START msg=audit(1.0:1): op=start\n");
    input.extend_from_slice(b"type=SYSCALL msg=audit(1.0:2): x=");
    input.resize(input.len() + auditsig::logfile::MAX_LINE + 10, b'a');
    input.extend_from_slice(b"\ntype=DAEMON_END msg=audit(1.0:3): op=terminate\n");
    let mut r = LineReader::new(&input[..]);
    let recs: Vec<Record> = r.by_ref().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(r.stats().oversized, 1);

    // kill(-1) with more targets than an event may hold.
    let cfg = auditsig::AssemblerConfig::default().max_records_per_event(3);
    let mut a = Assembler::new(cfg);
    let now = Instant::now();
    a.push(
        rec(
            "type=SYSCALL msg=audit(1.0:9): arch=c000003e syscall=62 success=yes exit=0 \
             a0=ffffffff a1=9 a2=0 a3=0 ppid=1 pid=2 uid=0 euid=0 gid=0 comm=\"k\"",
        ),
        now,
    );
    for pid in 10..20 {
        a.push(
            rec(&format!(
                "type=OBJ_PID msg=audit(1.0:9): opid={pid} oauid=-1 ouid=0 oses=-1 ocomm=\"v\""
            )),
            now,
        );
    }
    // The full event still takes its PROCTITLE: only targets are lost
    // (until 2026-12-02 the PROCTITLE was dropped and counted as a
    // target). The limit counts targets: 3 of the 10 are kept (the
    // SYSCALL took one of the 3 until then).
    a.push(
        rec("type=PROCTITLE msg=audit(1.0:9): proctitle=6B696C6C"),
        now,
    );
    a.push(rec("type=EOE msg=audit(1.0:9): "), now);
    let e = a.pop().unwrap();
    assert_eq!((e.records.len(), e.dropped_records), (5, 7));
    assert_eq!(a.stats().dropped_records, 7);
    let k = KillEvent::from_event(&e).unwrap().unwrap();
    assert_eq!(k.target_spec, TargetSpec::All);
    assert_eq!((k.targets.len(), k.targets_dropped), (3, 7));
    assert!(k.sender.argv.is_some(), "{k:?}");
}

/// An execve of a huge argv (hundreds of megabytes are allowed with a
/// large stack limit) comes as thousands of `EXECVE` pieces: an event
/// keeps at most `OTHER_RECORDS_PER_EVENT` records besides its targets,
/// and counts the rest (a replay of 100 000 pieces held 480 MB).
#[test]
fn an_event_of_endless_execve_pieces_is_bounded_and_counted() {
    let mut a = Assembler::new(auditsig::AssemblerConfig::default());
    a.push_record(rec(
        "type=SYSCALL msg=audit(1.0:7): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=1 pid=2 uid=0 euid=0 gid=0 comm=\"x\"",
    ));
    for i in 0..5000 {
        a.push_record(rec(&format!(
            "type=EXECVE msg=audit(1.0:7): a1[{i}]=6161616161616161"
        )));
    }
    a.push_record(rec("type=PROCTITLE msg=audit(1.0:7): proctitle=78"));
    let e = a.pop().unwrap();
    let max = auditsig::assemble::OTHER_RECORDS_PER_EVENT;
    assert_eq!(
        e.records.len(),
        max,
        "SYSCALL and EXECVE pieces up to the limit"
    );
    assert_eq!(e.dropped_records, 5000 + 2 - max);
    assert_eq!(a.stats().dropped_records, (5000 + 2 - max) as u64);
}

/// A merged log of two hosts whose clocks differ by 5 s: host B's records
/// do not close host A's open event (until 2026-12-02 its kill lost its
/// OBJ_PID record to a "superseded" event); host A's own later records do.
#[test]
fn another_hosts_clock_does_not_close_an_event() {
    let mut a = Assembler::default();
    a.push_record(rec(
        "node=hostA type=SYSCALL msg=audit(100.000:7): arch=c000003e syscall=62 success=yes exit=0 \
         a0=bb8 a1=9 a2=0 a3=0 pid=2000 ppid=1 uid=0 euid=0 gid=0 comm=\"killA\"",
    ));
    a.push_record(rec(
        "node=hostB type=DAEMON_START msg=audit(105.000:1): op=start",
    ));
    a.push_record(rec(
        "node=hostA type=OBJ_PID msg=audit(100.000:7): opid=3000 oauid=-1 ouid=0 oses=-1 ocomm=\"victA\"",
    ));
    a.push_record(rec("node=hostA type=EOE msg=audit(100.000:7): "));
    let events: Vec<_> = a.drain().collect();
    let ev = events
        .iter()
        .find(|e| e.stamp.serial == 7)
        .expect("host A's event");
    assert_eq!(ev.records.len(), 2, "{ev:?}");
    let k = KillEvent::from_event(ev).unwrap().unwrap();
    assert_eq!(k.targets[0].pid, 3000);
    // Host A's own clock moving on does close its events.
    a.push_record(rec(
        "node=hostA type=SYSCALL msg=audit(200.000:8): arch=c000003e syscall=62 success=yes exit=0 \
         a0=bb8 a1=9 a2=0 a3=0 pid=2000 ppid=1 uid=0 euid=0 gid=0 comm=\"killA\"",
    ));
    a.push_record(rec(
        "node=hostA type=DAEMON_START msg=audit(203.000:9): op=start",
    ));
    assert!(
        a.drain().any(|e| e.stamp.serial == 8),
        "superseded by its own host's time"
    );
    assert_eq!(a.stats().superseded, 1);
}
