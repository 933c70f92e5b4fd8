//! Parser and classifier over real captured lines (tests/data, see its
//! README) and hand-written old-kernel layouts and garbage.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use tracesig::parse::{parse_cpu_stats, Flags};
use tracesig::{
    classify, parse_line, MarkVictim, OomEvidence, Origin, Record, SendResult, SignalGenerate,
    Timestamp, UserSend,
};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Non-comment lines of a fixture file.
fn lines(name: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read(data(name)).unwrap();
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .map(|l| l.to_vec())
        .collect()
}

fn records(name: &str) -> Vec<Record> {
    lines(name)
        .iter()
        .map(|l| {
            parse_line(l).unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(l)))
        })
        .collect()
}

fn signals(name: &str) -> Vec<SignalGenerate> {
    records(name)
        .into_iter()
        .filter_map(|r| match r {
            Record::SignalGenerate(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn victims(name: &str) -> Vec<MarkVictim> {
    records(name)
        .into_iter()
        .filter_map(|r| match r {
            Record::MarkVictim(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn sigkills(name: &str) -> Vec<SignalGenerate> {
    signals(name).into_iter().filter(|s| s.sig == 9).collect()
}

#[test]
fn every_real_line_parses() {
    let dir = std::fs::read_dir(data("")).unwrap();
    let mut n = 0;
    for ent in dir {
        let name = ent.unwrap().file_name().into_string().unwrap();
        // One event per line, except where a comm holds a newline
        // (hostile-comm, joined by TextParser below).
        if name.starts_with("kernel-")
            && name.ends_with(".txt")
            && !name.contains("stats")
            && !name.contains("hostile")
        {
            n += records(&name).len();
        }
    }
    assert!(n >= 30, "only {n} real lines");
}

#[test]
fn kill_from_sh_full_fields() {
    let s = &signals("kernel-6.18-kill-sh.txt")[0];
    assert_eq!(s.ctx.comm, "sh");
    assert_eq!(s.ctx.pid, 23690);
    assert_eq!(s.ctx.tgid, Some(23690));
    assert_eq!(s.ctx.cpu, 1);
    assert_eq!(
        s.ctx.flags.map(|f| f.as_str().to_string()).as_deref(),
        Some("d..1.")
    );
    assert!(s.ctx.flags.is_some_and(|f: Flags| f.irqs_off()));
    assert_eq!(s.ctx.timestamp, Timestamp::Micros(711_241_598));
    assert_eq!((s.sig, s.errno, s.code), (9, 0, 0));
    assert_eq!(s.comm, "sleep");
    assert_eq!(s.pid, 23689);
    assert_eq!(s.group, Some(true));
    assert_eq!(s.result, Some(SendResult::Delivered));
    assert_eq!(
        classify(s, OomEvidence::NotMarked).origin,
        Origin::User(UserSend::Kill)
    );
}

#[test]
fn header_variants_of_this_kernel() {
    let s = &signals("kernel-6.18-no-tgid.txt")[0];
    assert_eq!((s.ctx.pid, s.ctx.tgid, s.pid), (24277, None, 24276));
    assert!(s.ctx.flags.is_some());

    let s = &signals("kernel-6.18-no-irq-info.txt")[0];
    assert_eq!((s.ctx.pid, s.ctx.tgid, s.ctx.flags), (24281, None, None));
    assert_eq!(s.ctx.timestamp, Timestamp::Micros(717_849_526));

    let s = &signals("kernel-6.18-counter-clock.txt")[0];
    assert_eq!(s.ctx.timestamp, Timestamp::Counter(2));
    assert_eq!(
        (s.ctx.comm.as_str(), s.ctx.pid, s.pid),
        ("sh", 24285, 24284)
    );
}

#[test]
fn untrusted_comms_do_not_fool_the_parser() {
    let s = &signals("kernel-6.18-weird-comm.txt")[0];
    assert_eq!(s.ctx.comm, "k-7 [000] 1.0:");
    assert_eq!(s.ctx.pid, 24232);
    assert_eq!(s.ctx.tgid, Some(24232));
    assert_eq!(s.comm, "t pid=1 grp=1");
    assert_eq!(s.pid, 24273);
    assert_eq!(s.group, Some(true));
}

#[test]
fn oom_self() {
    let s = sigkills("kernel-6.18-oom-memcg-self.txt");
    let v = victims("kernel-6.18-oom-memcg-self.txt");
    assert_eq!(s.len(), 1);
    let (s, v) = (&s[0], &v[0]);
    assert_eq!(
        (s.code, s.group, s.ctx.pid, s.pid),
        (128, Some(true), 23694, 23694)
    );
    assert_eq!(v.pid, 23694);
    assert_eq!(v.comm.as_deref(), Some("python3"));
    assert_eq!(v.total_vm_kb, Some(75160));
    assert_eq!(v.anon_rss_kb, Some(65152));
    assert_eq!(v.file_rss_kb, Some(6608));
    assert_eq!(v.shmem_rss_kb, Some(0));
    assert_eq!(v.uid, Some(0));
    assert_eq!(v.pgtables_kb, Some(188));
    assert_eq!(v.oom_score_adj, Some(0));
    assert_eq!(classify(s, OomEvidence::Marked(v)).origin, Origin::Oom);
    // Without mark_victim this is indistinguishable from RLIMIT_CPU.
    assert_eq!(classify(s, OomEvidence::Unavailable).origin, Origin::Kernel);
}

#[test]
fn oom_other_task_is_sender() {
    let v = &victims("kernel-6.18-oom-memcg-other.txt")[0];
    let s: Vec<_> = sigkills("kernel-6.18-oom-memcg-other.txt")
        .into_iter()
        .filter(|s| s.code == 128)
        .collect();
    assert_eq!(s.len(), 1);
    let s = &s[0];
    assert_eq!((s.ctx.comm.as_str(), s.ctx.pid), ("python3", 23793));
    assert_eq!((s.comm.as_str(), s.pid), ("python3", 23740));
    assert_eq!(v.pid, 23740);
    assert_eq!(v.ctx.pid, 23793);
    assert_eq!(classify(s, OomEvidence::Marked(v)).origin, Origin::Oom);
    // A different task killed it with SI_KERNEL and no mark_victim: kernel.
    assert_eq!(classify(s, OomEvidence::NotMarked).origin, Origin::Kernel);
}

#[test]
fn cgroup_kill_names_the_writer() {
    let s = sigkills("kernel-6.18-cgroup-kill.txt");
    assert_eq!(s.len(), 2, "one line per process, not per thread");
    for ev in &s {
        assert_eq!(ev.ctx.comm, "sh");
        assert_eq!(ev.ctx.pid, 23885);
        assert_eq!((ev.code, ev.group), (0, Some(false)));
        assert_eq!(
            classify(ev, OomEvidence::NotMarked).origin,
            Origin::CgroupKill
        );
    }
    let mut targets: Vec<_> = s.iter().map(|e| e.comm.as_str()).collect();
    targets.sort();
    assert_eq!(targets, ["python3", "sleep"]);
}

#[test]
fn rlimit_cpu() {
    let s = sigkills("kernel-6.18-rlimit-cpu-hard.txt");
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].ctx.pid, s[0].pid, s[0].code), (23891, 23891, 128));
    assert_eq!(
        classify(&s[0], OomEvidence::NotMarked).origin,
        Origin::Rlimit
    );

    let all = signals("kernel-6.18-rlimit-cpu-soft-hard.txt");
    let ours: Vec<_> = all.iter().filter(|s| s.pid == 23925).collect();
    assert_eq!(ours.len(), 2);
    assert_eq!(
        (ours[0].sig, ours[0].result),
        (24, Some(SendResult::Ignored))
    );
    assert_eq!(ours[1].sig, 9);
    for s in ours {
        assert_eq!(classify(s, OomEvidence::NotMarked).origin, Origin::Rlimit);
    }
}

#[test]
fn seccomp_kill() {
    let s = &signals("kernel-6.18-seccomp.txt")[0];
    assert_eq!((s.sig, s.code, s.group), (31, 1, Some(false)));
    assert_eq!(s.ctx.pid, s.pid);
    assert_eq!(classify(s, OomEvidence::NotMarked).origin, Origin::Seccomp);
}

#[test]
fn syscall_families() {
    let s = signals("kernel-6.18-syscalls.txt");
    let got: Vec<_> = s
        .iter()
        .map(|e| (e.sig, classify(e, OomEvidence::NotMarked).origin))
        .collect();
    assert_eq!(
        got,
        [
            (9, Origin::User(UserSend::Tkill)),
            (9, Origin::User(UserSend::Tkill)),
            (9, Origin::User(UserSend::Kill)),
            (9, Origin::User(UserSend::Sigqueue)),
            (15, Origin::User(UserSend::Kill)),
        ]
    );
    let pg = sigkills("kernel-6.18-kill-pgrp.txt");
    assert_eq!(pg.len(), 3);
    assert!(pg
        .iter()
        .all(|e| e.ctx.pid == 24226 && e.group == Some(true)));
}

#[test]
fn unrelated_real_lines_are_kernel_or_user() {
    // SIGALRM from a POSIX timer in hardirq context (timeout(1)).
    let s = &signals("kernel-6.18-rlimit-cpu-hard.txt")[0];
    assert_eq!((s.sig, s.code), (14, -2));
    assert_eq!(
        s.ctx.flags.map(|f| f.as_str().to_string()).as_deref(),
        Some("d.h2.")
    );
    assert_eq!(classify(s, OomEvidence::NotMarked).origin, Origin::Kernel);
    // cargo's coordinator thread: tid differs from tgid.
    let s = &signals("kernel-6.18-rlimit-cpu-soft-hard.txt")[0];
    assert_eq!((s.ctx.pid, s.ctx.tgid), (23970, Some(23965)));
}

#[test]
fn lost_line_and_stats_agree() {
    let r = records("kernel-6.18-lost.txt");
    assert_eq!(
        r,
        [Record::Lost {
            cpu: 0,
            events: Some(2886)
        }]
    );
    let text = std::fs::read(data("kernel-6.18-stats.txt")).unwrap();
    // The file holds two CPUs' stats back to back.
    let s = String::from_utf8(text).unwrap();
    let (cpu0, cpu1) = s.split_at(
        s.find("entries:")
            .and_then(|i| s[i + 1..].find("entries:").map(|j| i + 1 + j))
            .unwrap(),
    );
    let st0 = parse_cpu_stats(cpu0.as_bytes()).unwrap();
    let st1 = parse_cpu_stats(cpu1.as_bytes()).unwrap();
    assert_eq!(st0.overrun, 2886);
    assert_eq!(st0.lost() + st1.lost(), 2886);
    assert_eq!(st0.read_events, 114);
}

#[test]
fn old_layouts() {
    let r = records("synthetic-old-layouts.txt");
    assert_eq!(r.len(), 10);
    let Record::SignalGenerate(s) = &r[0] else {
        panic!()
    };
    assert_eq!((s.ctx.pid, s.ctx.tgid, s.ctx.cpu), (1234, None, 1));
    assert_eq!(
        s.ctx.flags.map(|f| f.as_str().to_string()).as_deref(),
        Some("d..1")
    );
    assert_eq!(s.ctx.timestamp, Timestamp::Micros(5_678_901_234));
    let Record::SignalGenerate(s) = &r[1] else {
        panic!()
    };
    assert_eq!(s.ctx.flags, None);
    let Record::SignalGenerate(s) = &r[2] else {
        panic!()
    };
    assert_eq!((s.pid, s.group, s.result), (4321, None, None));
    assert_eq!(
        classify(s, OomEvidence::Unavailable).origin,
        Origin::User(UserSend::KillOrKernel)
    );
    let Record::SignalGenerate(s) = &r[3] else {
        panic!()
    };
    assert_eq!(s.ctx.tgid, Some(1234));
    let Record::SignalGenerate(s) = &r[4] else {
        panic!()
    };
    assert_eq!((s.ctx.comm.as_str(), s.ctx.tgid), ("<...>", None));
    let Record::SignalGenerate(s) = &r[5] else {
        panic!()
    };
    assert_eq!((s.ctx.pid, s.ctx.tgid, s.pid), (1236, None, 4323));
    let Record::SignalGenerate(s) = &r[6] else {
        panic!()
    };
    assert_eq!((s.ctx.comm.as_str(), s.ctx.pid), ("<idle>", 0));
    let Record::MarkVictim(m) = &r[7] else {
        panic!()
    };
    assert_eq!((m.pid, m.comm.as_deref(), m.uid), (2001, None, None));
    let Record::SignalGenerate(s) = &r[8] else {
        panic!()
    };
    assert_eq!(s.ctx.timestamp, Timestamp::Counter(123_456_789_012));
    assert_eq!(
        r[9],
        Record::Lost {
            cpu: 3,
            events: None
        }
    );
}

#[test]
fn garbage_is_rejected() {
    let text = std::fs::read(data("garbage.txt")).unwrap();
    let mut n = 0;
    for l in text
        .split(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"## "))
    {
        assert!(
            parse_line(l).is_err(),
            "accepted: {:?}",
            String::from_utf8_lossy(l)
        );
        n += 1;
    }
    assert!(n >= 15);
}

#[test]
fn other_events_are_kept_raw() {
    let l = b"      capture.sh-8733    (   8733) [000] ...1.   436.445499: tracing_mark_write: == kill -9 from sh\n";
    let Record::Other(o) = parse_line(l).unwrap() else {
        panic!()
    };
    assert_eq!(o.name, "tracing_mark_write");
    assert_eq!(o.body, "== kill -9 from sh");
    assert_eq!(o.ctx.comm, "capture.sh");
}

#[test]
fn non_utf8_comm_is_replaced_not_rejected() {
    let mut l = b"        ab\xffcd".to_vec();
    while l.len() < 16 {
        l.insert(0, b' ');
    }
    l.extend_from_slice(b"-12      [000] d..1.    10.000001: signal_generate: sig=9 errno=0 code=0 comm=x\xfe pid=3 grp=1 res=0");
    let Record::SignalGenerate(s) = parse_line(&l).unwrap() else {
        panic!()
    };
    assert_eq!(s.ctx.pid, 12);
    assert_eq!(s.pid, 3);
    assert!(s.ctx.comm.contains('\u{fffd}'));
}

#[test]
fn pid_namespace_teardown_is_kernel() {
    let s = sigkills("kernel-6.18-pidns-teardown.txt");
    assert_eq!(s.len(), 2);
    for ev in &s {
        assert_eq!((ev.ctx.comm.as_str(), ev.ctx.pid), ("sh", 8881));
        assert_eq!((ev.code, ev.group), (128, Some(true)));
        let c = classify(ev, OomEvidence::NotMarked);
        assert_eq!(c.origin, Origin::Kernel);
        assert!(c.evidence.contains("pid namespace"));
    }
}

/// Real events whose comms hold newlines and field-like text
/// (`hostile.py`): one event spans up to five lines; every one is
/// joined back whole, and nothing is counted unparsable.
#[test]
fn hostile_comms_split_over_lines_are_joined_back() {
    let text = std::fs::read(data("kernel-6.18-hostile-comm.txt")).unwrap();
    // Skip the two `#` header lines only: a continuation line may start
    // with anything.
    let body = text.splitn(3, |&b| b == b'\n').nth(2).unwrap();
    let mut parser = tracesig::TextParser::new();
    let mut recs = Vec::new();
    parser.push(body, &mut recs);
    parser.flush(&mut recs);
    assert_eq!(parser.unparsed(), 0);
    let got: Vec<(i32, String, i32, String)> = recs
        .iter()
        .map(|r| match r {
            Record::SignalGenerate(s) => (s.pid, s.comm.clone(), s.ctx.pid, s.ctx.comm.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    // (victim pid, victim comm, sender pid, sender comm), as hostile.py
    // printed them; the first and last are other users' kills.
    let want = [
        (11473, "swtty11063", 11480, "sh"),
        (11492, "a\nb", 11493, "x\ny"),
        (11494, "\nsig=9 comm=", 11495, "\n"),
        (11496, "ends\n", 11498, "s\n-1 (1) [0]"),
        (11499, " pid=1\nrest", 11500, "two words"),
        (11501, "p(a)r)en( x", 11502, "co:lo:n: x"),
        (11503, "x comm=y pid=1", 11504, "a\n\n\nb"),
        (11511, "swpip11063", 11512, "sh"),
    ];
    let want: Vec<(i32, String, i32, String)> = want
        .iter()
        .map(|&(p, c, sp, sc)| (p, c.to_string(), sp, sc.to_string()))
        .collect();
    assert_eq!(got, want);
    // Line by line, the same text loses every split event.
    let alone = body
        .split(|&b| b == b'\n')
        .filter(|l| matches!(parse_line(l), Ok(Record::SignalGenerate(_))))
        .count();
    assert!(alone < want.len(), "the fixture has no split event");
}
