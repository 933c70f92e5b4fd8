//! The Attributor driven by synthetic inputs: every join order and every
//! origin the issue names.
#![allow(clippy::unwrap_used)]

use auditsig::kill::Bytes;
use auditsig::{Arch, KillEvent, KillSyscall, Sender, Stamp, Target, TargetSpec};
use procconn::{EventKind, Pid, ProcEvent};
use sigwatch::report::{KillReport, Origin, Report};
use sigwatch::{Attributor, Clock, Config, MemTree, ProcessView, SignalSet};

mod common;
use common::{clock_ms, ev, exit_event, proc_, SEC};

/// `secs_x10` tenths of a second after the tests' time origin.
fn at(secs_x10: u64) -> Clock {
    clock_ms(secs_x10 * 100)
}

fn fork(now: Clock, parent: Pid, child: Pid) -> ProcEvent {
    ev(
        now,
        EventKind::Fork {
            parent_pid: parent,
            parent_tgid: parent,
            child_pid: child,
            child_tgid: child,
        },
    )
}

fn thread(now: Clock, tgid: Pid, tid: Pid) -> ProcEvent {
    ev(
        now,
        EventKind::Fork {
            parent_pid: 1,
            parent_tgid: 1,
            child_pid: tid,
            child_tgid: tgid,
        },
    )
}

fn exit(now: Clock, pid: Pid, tgid: Pid, wait_status: u32) -> ProcEvent {
    exit_event(now, pid, tgid, wait_status)
}

/// pid 1 → 100 (launcher) → 200 (sh, the killer); 300 the daemon (child of 1).
fn world() -> MemTree {
    let mut t = MemTree::new();
    let mut init = proc_(1, 0, "systemd", &["/sbin/init"]);
    init.spawned_by = None;
    t.insert(init);
    t.insert(proc_(100, 1, "launcher", &["launcher", "--go"]));
    let mut killer = proc_(
        200,
        100,
        "sh",
        &["/bin/sh", "/srv/guard.sh", "--mode", "restart"],
    );
    // `sh` is a symlink: exe is the file it names (as in the kill records).
    killer.exe = Some("/usr/bin/dash".into());
    t.insert(killer);
    t.insert(proc_(300, 1, "daemon", &["daemon", "-f"]));
    t.insert(proc_(301, 1, "daemon", &["daemon", "-f"]));
    t.insert(proc_(302, 1, "daemon", &["daemon", "-f"]));
    t
}

fn argv(v: &[&str]) -> Option<Vec<Bytes>> {
    Some(v.iter().map(|a| Bytes::from(*a)).collect())
}

/// An audit kill event of `syscall` by pid 200 (`sh /srv/guard.sh`, uid
/// 65534) at `now`, aimed at `targets` (each an `OBJ_PID` with comm
/// `daemon`).
fn kill(serial: u64, now: Clock, syscall: &str, signal: i32, targets: &[Pid]) -> KillEvent {
    let first = targets.first().copied().unwrap_or(0);
    let (sys, spec) = match syscall {
        "kill" => (KillSyscall::Kill, TargetSpec::Process(first)),
        "tkill" => (KillSyscall::Tkill, TargetSpec::Thread(first)),
        "tgkill" => (
            KillSyscall::Tgkill,
            TargetSpec::ThreadOf {
                tgid: first,
                tid: first,
            },
        ),
        "pidfd_send_signal" => (KillSyscall::PidfdSendSignal, TargetSpec::Pidfd(3)),
        other => panic!("no such kill syscall in these tests: {other}"),
    };
    let mut sender = Sender::new(200, 1, 65534, 65534, 65534, "sh");
    sender.exe = Some("/usr/bin/dash".into());
    sender.argv = argv(&["/bin/sh", "/srv/guard.sh"]);
    let stamp = Stamp {
        sec: now.wall_ns / SEC,
        msec: ((now.wall_ns / 1_000_000) % 1000) as u32,
        serial,
    };
    let mut k = KillEvent::new(stamp, Arch::X86_64, sys, spec, signal, sender);
    k.key = Some("sigwatch".into());
    k.targets = targets
        .iter()
        .map(|&p| Target::new(p, 65534, "daemon"))
        .collect();
    k
}

fn kills(v: Vec<Report>) -> Vec<KillReport> {
    v.into_iter()
        .map(|r| match r {
            Report::Kill(k) => k,
            other => panic!("not a kill report: {other:?}"),
        })
        .collect()
}

fn engine() -> Attributor<MemTree> {
    Attributor::new(Config::default(), world())
}

#[test]
fn kill_then_exit_joins_with_sender_and_ancestry() {
    let mut a = engine();
    // The launcher exits first: the killer is an orphan (audit ppid=1).
    assert!(a.on_proc_event(&exit(at(1), 100, 100, 0), at(1)).is_empty());
    assert!(a
        .on_audit_kill(&kill(23, at(2), "kill", 9, &[300]), at(2))
        .is_empty());
    assert_eq!(a.pending(), 1);
    let r = kills(a.on_proc_event(&exit(at(3), 300, 300, 9), at(3)));
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.origin, Origin::User);
    assert_eq!(r.signal, 9);
    assert_eq!(r.signal_name, "SIGKILL");
    assert_eq!(r.syscall.as_deref(), Some("kill"));
    assert_eq!(r.success, Some(true));
    assert_eq!(r.time.0, at(2).wall_ns);
    assert!(r.victim.exit_confirmed);
    assert_eq!(r.victim.pid, 300);
    assert_eq!(r.victim.tid, None);
    assert_eq!(r.victim.argv.as_ref().unwrap().len(), 2);
    assert_eq!(r.extra.victim_ran_ns, Some(100 * SEC + 3 * SEC / 10));
    let s = r.sender.as_ref().unwrap();
    assert_eq!(s.pid, 200);
    assert_eq!(s.ppid, Some(1));
    assert_eq!(s.uid, Some(65534));
    assert_eq!(s.auid, None);
    assert_eq!(s.exe.as_ref().unwrap().0, b"/usr/bin/dash");
    assert_eq!(s.cwd.as_ref().unwrap().0, b"/srv");
    assert_eq!(s.argv_truncated, Some(false));
    assert_eq!(s.exited, Some(false));
    // Spawn chain, not the re-parented one: launcher (exited), then init.
    let anc: Vec<_> = r.ancestors.iter().map(|x| (x.pid, x.exited)).collect();
    assert_eq!(anc, vec![(100, Some(true)), (1, Some(false))]);
    assert_eq!(r.ancestors[0].argv.as_ref().unwrap()[1].0, b"--go");
    assert_eq!(r.audit.as_ref().unwrap().serial, 23);
    assert_eq!(a.pending(), 0);
    assert_eq!(a.stats().reports, 1);
    // Nothing left to report later.
    assert!(a.tick(at(100)).is_empty());
}

#[test]
fn exit_then_kill_joins_too() {
    let mut a = engine();
    assert!(a.on_proc_event(&exit(at(1), 300, 300, 9), at(1)).is_empty());
    let r = kills(a.on_audit_kill(&kill(24, at(0), "kill", 9, &[300]), at(2)));
    assert_eq!(r.len(), 1);
    assert!(r[0].victim.exit_confirmed);
    assert_eq!(r[0].origin, Origin::User);
    assert_eq!(r[0].victim.comm.as_ref().unwrap().0, b"daemon");
    assert_eq!(r[0].extra.victim_ran_ns, Some(100 * SEC + SEC / 10));
    assert!(a.tick(at(100)).is_empty(), "no second (unknown) report");
}

#[test]
fn truncated_proctitle_is_replaced_by_the_trees_agreeing_argv() {
    let mut a = engine();
    let mut k = kill(1, at(1), "kill", 9, &[300]);
    k.sender.argv = argv(&["/bin/sh", "/srv/gua"]);
    k.sender.argv_truncated = true;
    a.on_audit_kill(&k, at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(s.argv.as_ref().unwrap().len(), 4);
    assert_eq!(s.argv_truncated, Some(false));

    // A tree argv inherited at fork that disagrees with a PROCTITLE that
    // fits comm/exe (the process rewrote its argv) is not used.
    let mut a = engine();
    k.sender.argv = argv(&["sh", "-c", "x"]);
    a.on_audit_kill(&k, at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(s.argv.as_ref().unwrap()[0].0, b"sh");
    assert_eq!(s.argv_truncated, Some(true));
}

#[test]
fn threads_fold_into_their_process() {
    let mut a = engine();
    a.on_proc_event(&thread(at(1), 300, 305), at(1));
    let mut k = kill(5, at(2), "tgkill", 9, &[300]);
    k.target_spec = TargetSpec::ThreadOf {
        tgid: 300,
        tid: 305,
    };
    assert!(a.on_audit_kill(&k, at(2)).is_empty());
    // The other thread dies first: not the process.
    assert!(a.on_proc_event(&exit(at(3), 305, 300, 9), at(3)).is_empty());
    let r = kills(a.on_proc_event(&exit(at(3), 300, 300, 9), at(3)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].victim.pid, 300);
    assert_eq!(r[0].victim.tid, Some(305));
    assert_eq!(r[0].syscall.as_deref(), Some("tgkill"));

    // A target named by a thread id maps to its process.
    let mut a = engine();
    a.on_proc_event(&thread(at(1), 301, 306), at(1));
    let mut k = kill(6, at(2), "tkill", 9, &[306]);
    k.target_spec = TargetSpec::Thread(306);
    a.on_audit_kill(&k, at(2));
    let r = kills(a.on_proc_event(&exit(at(3), 301, 301, 9), at(3)));
    assert_eq!((r[0].victim.pid, r[0].victim.tid), (301, Some(306)));
}

#[test]
fn process_group_kill_gives_one_report_per_victim() {
    let mut a = engine();
    let mut k = kill(28, at(1), "kill", 9, &[300, 301, 302]);
    k.target_spec = TargetSpec::ProcessGroup(300);
    // One victim died before the record arrived.
    a.on_proc_event(&exit(at(1), 302, 302, 9), at(1));
    let first = kills(a.on_audit_kill(&k, at(2)));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].victim.pid, 302);
    assert_eq!(first[0].extra.targets, 3);
    assert_eq!(first[0].extra.target_arg, Some(-300));
    let mut r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    r.extend(kills(a.on_proc_event(&exit(at(2), 301, 301, 9), at(2))));
    let mut pids: Vec<_> = r.iter().map(|k| k.victim.pid).collect();
    pids.sort();
    assert_eq!(pids, vec![300, 301]);
    assert!(r
        .iter()
        .all(|k| k.victim.exit_confirmed && k.victim.tid.is_none()));
    assert!(a.tick(at(100)).is_empty());
}

/// The reports of one group kill share one ancestry (a sender deep in
/// a chain of long command lines made each of thousands of reports carry
/// megabytes: 1 000 victims, 100 levels, 490 MB), also when an ancestor
/// exits between the record and the victims' exits and each report's
/// chain is brought up to date.
#[test]
fn the_reports_of_a_group_kill_share_one_ancestry() {
    let mut a = engine();
    let mut k = kill(29, at(1), "kill", 9, &[300, 301, 302]);
    k.target_spec = TargetSpec::ProcessGroup(300);
    assert!(a.on_audit_kill(&k, at(1)).is_empty());
    // The launcher (the sender's parent) exits before the victims do.
    a.on_proc_event(&exit(at(2), 100, 100, 0), at(2));
    let mut r = Vec::new();
    for v in [300, 301, 302] {
        r.extend(kills(a.on_proc_event(&exit(at(2), v, v, 9), at(2))));
    }
    assert_eq!(r.len(), 3);
    for k in &r {
        let pids: Vec<_> = k.ancestors.iter().map(|a| (a.pid, a.exited)).collect();
        assert_eq!(pids, vec![(100, Some(true)), (1, Some(false))]);
        assert!(
            k.ancestors.shares(&r[0].ancestors),
            "victim {}: a copy of its own",
            k.victim.pid
        );
    }
}

/// An audit record's time is the kernel's coarse clock, a tick behind
/// at most: a kill of a process started a few ms before read as earlier
/// than the start (a negative run time for whoever subtracts). Within a
/// tick the report's time is the victim's start; a larger gap is not
/// papered over.
#[test]
fn a_kill_is_never_reported_a_tick_before_its_victims_start() {
    let mut t = world();
    let mut early = proc_(303, 1, "daemon", &["daemon"]);
    early.start_time_ns = Some(clock_ms(105).mono_ns);
    t.insert(early);
    let mut late = proc_(304, 1, "daemon", &["daemon"]);
    late.start_time_ns = Some(clock_ms(150).mono_ns);
    t.insert(late);
    let mut a = Attributor::new(Config::default(), t);
    let mut r = Vec::new();
    for (serial, victim) in [(50, 303), (51, 304)] {
        a.on_audit_kill(
            &kill(serial, clock_ms(100), "kill", 9, &[victim]),
            clock_ms(160),
        );
        r.extend(kills(a.on_proc_event(
            &exit(clock_ms(160), victim, victim, 9),
            clock_ms(160),
        )));
    }
    assert_eq!(r.len(), 2);
    let start = |k: &KillReport| k.victim.start_time.unwrap().0;
    // 5 ms before the start: the coarse clock's lag, raised to the start.
    assert_eq!(start(&r[0]), clock_ms(105).wall_ns);
    assert_eq!(r[0].time.0, start(&r[0]));
    // 50 ms before: the clocks disagree for another reason; kept.
    assert_eq!(r[1].time.0, clock_ms(100).wall_ns);
}

/// A sender at the bottom of a chain of 100 processes: the report keeps
/// the nearest 64 ancestors and says the chain went on (a chain of
/// thousands, each killed by its bottom's `kill(0)`, made thousands of
/// reports of thousands of ancestors: minutes of work, gigabytes out).
#[test]
fn a_long_chain_keeps_its_nearest_64_ancestors_and_says_so() {
    let mut t = MemTree::new();
    let mut init = proc_(1, 0, "init", &["/sbin/init"]);
    init.spawned_by = None;
    t.insert(init);
    for pid in 2..=101 {
        t.insert(proc_(pid, pid - 1, "sh", &["sh", "-c", "next"]));
    }
    t.insert(proc_(200, 101, "sh", &["/bin/sh", "/srv/guard.sh"]));
    t.insert(proc_(300, 1, "daemon", &["daemon"]));
    let mut a = Attributor::new(Config::default(), t);
    a.on_audit_kill(&kill(60, at(1), "kill", 9, &[300]), at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    assert_eq!(r.len(), 1);
    let pids: Vec<_> = r[0].ancestors.iter().map(|a| a.pid).collect();
    assert_eq!(pids, (38..=101).rev().collect::<Vec<_>>(), "the nearest 64");
    assert!(r[0].ancestors_truncated);
    // A chain of ordinary length is whole.
    let mut a = engine();
    a.on_audit_kill(&kill(61, at(1), "kill", 9, &[300]), at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    assert_eq!(r[0].ancestors.len(), 2);
    assert!(!r[0].ancestors_truncated);
}

#[test]
fn oom_kill_is_kernel_origin_in_either_order() {
    let line = b"3,1234,5678901,-;Memory cgroup out of memory: Killed process 300 (daemon) total-vm:1024kB, anon-rss:10kB";
    // kmsg first.
    let mut a = engine();
    assert!(a.on_kmsg_line(line, at(1)).is_empty());
    let r = kills(a.on_proc_event(&exit(at(1), 300, 300, 9), at(1)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].origin, Origin::Kernel);
    assert_eq!(r[0].reason.as_deref(), Some("oom"));
    assert!(r[0].sender.is_none());
    assert!(r[0].audit.is_none());
    assert_eq!(r[0].syscall, None);
    assert_eq!(r[0].success, None);
    assert!(r[0].victim.exit_confirmed);
    // Exit first.
    let mut a = engine();
    assert!(a.on_proc_event(&exit(at(1), 300, 300, 9), at(1)).is_empty());
    let r = kills(a.on_kmsg_line(line, at(2)));
    assert_eq!(r[0].origin, Origin::Kernel);
    assert_eq!(r[0].time.0, at(1).wall_ns);
    assert!(a.tick(at(100)).is_empty());
}

#[test]
fn sigkill_without_evidence_is_unknown_after_the_window() {
    let mut a = engine();
    assert!(a.on_proc_event(&exit(at(1), 300, 300, 9), at(1)).is_empty());
    // Unrelated kernel-log noise and an OOM naming another pid change nothing.
    a.on_kmsg_line(b"6,1,1,-;Killed process 999 (other)", at(2));
    assert!(a.tick(at(20)).is_empty(), "still inside the 2 s window");
    let r = kills(a.tick(at(31)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].origin, Origin::Unknown);
    assert_eq!(r[0].reason, None);
    assert!(r[0].sender.is_none());
    assert!(r[0].ancestors.is_empty());
    assert!(r[0].victim.exit_confirmed);
    assert_eq!(r[0].victim.argv.as_ref().unwrap()[0].0, b"daemon");
    // A record arriving after the report does not produce a second one.
    assert!(a
        .on_audit_kill(&kill(9, at(1), "kill", 9, &[300]), at(32))
        .is_empty());
    assert_eq!(a.stats().duplicates, 1);
}

#[test]
fn failed_attempt_is_reported_at_once() {
    let mut a = engine();
    let mut k = kill(40, at(1), "kill", 9, &[1]);
    k.success = false;
    k.errno = Some(1);
    let r = kills(a.on_audit_kill(&k, at(1)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].success, Some(false));
    assert_eq!(r[0].extra.errno, Some(1));
    assert!(!r[0].victim.exit_confirmed);
    assert_eq!(r[0].victim.pid, 1);
    assert_eq!(a.pending(), 0);
}

/// A loop of refused `kill(1, SIGKILL)` by one user, a new process each
/// time: the first 10 per 10 s of each user are reported, the rest
/// counted; another user is not held back by it, and a victim the filters
/// leave out uses up nothing.
#[test]
fn a_flood_of_failed_attempts_is_limited_per_user() {
    let mut a = engine();
    let failed = |serial: u64, pid: i32, uid: u32| {
        let mut k = kill(serial, at(1), "kill", 9, &[1]);
        k.success = false;
        k.errno = Some(1);
        k.sender.pid = pid;
        k.sender.uid = uid;
        k
    };
    let mut reported = 0;
    for i in 0..25 {
        let k = failed(100 + i, 5000 + i as i32, 1000);
        reported += kills(a.on_audit_kill(&k, at(1 + i))).len();
    }
    assert_eq!(reported, 10);
    assert_eq!(a.stats().failed_attempts_suppressed, 15);
    assert_eq!(
        kills(a.on_audit_kill(&failed(200, 6000, 1001), at(30))).len(),
        1
    );
    // The next window: reported again.
    assert_eq!(
        kills(a.on_audit_kill(&failed(300, 5100, 1000), at(1_100))).len(),
        1
    );
    assert_eq!(a.stats().failed_attempts_suppressed, 15);

    // With a victim filter, attempts at other victims are filtered, not
    // charged: the 11th attempt at the watched victim is still reported.
    let mut a = Attributor::new(Config::default().victim_pids(vec![300]), world());
    for i in 0..10 {
        assert!(kills(a.on_audit_kill(&failed(400 + i, 7000, 1000), at(1))).is_empty());
    }
    let mut k = failed(500, 7000, 1000);
    k.targets[0].pid = 300;
    assert_eq!(kills(a.on_audit_kill(&k, at(2))).len(), 1);
    assert_eq!(a.stats().failed_attempts_suppressed, 0);
}

#[test]
fn victim_that_never_dies_is_still_reported() {
    let mut a = engine();
    assert!(a
        .on_audit_kill(&kill(41, at(1), "kill", 9, &[300]), at(1))
        .is_empty());
    assert!(a.tick(at(20)).is_empty());
    let r = kills(a.tick(at(31)));
    assert_eq!(r.len(), 1);
    assert!(!r[0].victim.exit_confirmed);
    assert_eq!(r[0].origin, Origin::User);
    // A later real kill of the same (still live) process is reported again.
    a.on_audit_kill(&kill(42, at(40), "kill", 9, &[300]), at(40));
    let r = kills(a.on_proc_event(&exit(at(41), 300, 300, 9), at(41)));
    assert_eq!(r.len(), 1);
    assert!(r[0].victim.exit_confirmed);
}

#[test]
fn unknown_victim_keeps_the_audit_targets_identity() {
    let mut a = engine();
    let k = kill(43, at(1), "pidfd_send_signal", 9, &[4242]);
    a.on_audit_kill(&k, at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 4242, 4242, 9), at(2)));
    assert_eq!(r[0].victim.pid, 4242);
    assert_eq!(r[0].victim.comm.as_ref().unwrap().0, b"daemon");
    assert_eq!(r[0].victim.uid, Some(65534));
    assert_eq!(r[0].victim.exe, None);
    assert_eq!(r[0].victim.argv, None);
    assert_eq!(r[0].victim.start_time, None);
    assert_eq!(r[0].extra.target_arg, None);
}

#[test]
fn signal_filter_applies_to_records_and_exits() {
    let mut a = engine();
    assert!(a
        .on_audit_kill(&kill(50, at(1), "kill", 15, &[300]), at(1))
        .is_empty());
    assert!(a
        .on_proc_event(&exit(at(2), 300, 300, 15), at(2))
        .is_empty());
    assert!(a
        .on_proc_event(&exit(at(2), 301, 301, 6 | 0x80), at(2))
        .is_empty());
    // Exit by signal 0 / normal exits are never reports.
    assert!(a.on_proc_event(&exit(at(2), 302, 302, 0), at(2)).is_empty());
    assert!(a.tick(at(100)).is_empty());
    assert_eq!(a.pending(), 0);

    let cfg = Config::default().signals(SignalSet::all());
    let mut a = Attributor::new(cfg, world());
    a.on_audit_kill(&kill(51, at(1), "kill", 15, &[300]), at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 15), at(2)));
    assert_eq!((r[0].signal, r[0].signal_name.as_str()), (15, "SIGTERM"));
    assert!(r[0].victim.exit_confirmed);
    // A SIGTERM that the victim survives, then a SIGKILL: two reports, the
    // SIGKILL one confirmed.
    a.on_audit_kill(&kill(52, at(3), "kill", 15, &[301]), at(3));
    a.on_audit_kill(&kill(53, at(4), "kill", 9, &[301]), at(4));
    let r = kills(a.on_proc_event(&exit(at(5), 301, 301, 9), at(5)));
    let got: Vec<_> = r
        .iter()
        .map(|k| (k.signal, k.victim.exit_confirmed))
        .collect();
    assert_eq!(got, vec![(15, false), (9, true)]);
}

#[test]
fn duplicate_kills_report_the_first_sender_once() {
    let mut a = engine();
    a.on_audit_kill(&kill(60, at(1), "kill", 9, &[300]), at(1));
    let mut second = kill(61, at(1), "kill", 9, &[300]);
    second.sender.pid = 201;
    assert!(a.on_audit_kill(&second, at(1)).is_empty());
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].audit.as_ref().unwrap().serial, 60);
    assert_eq!(a.stats().duplicates, 1);
}

#[test]
fn victim_filters() {
    let cfg = Config::default().victim_pids(vec![301]);
    let mut a = Attributor::new(cfg, world());
    a.on_audit_kill(&kill(70, at(1), "kill", 9, &[300, 301]), at(1));
    let mut r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    r.extend(kills(a.on_proc_event(&exit(at(2), 301, 301, 9), at(2))));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].victim.pid, 301);
    assert_eq!(a.stats().filtered, 1);

    let cfg = Config::default().victim_comms(vec![b"launcher".to_vec()]);
    let mut a = Attributor::new(cfg, world());
    a.on_proc_event(&exit(at(1), 300, 300, 9), at(1));
    a.on_proc_event(&exit(at(1), 100, 100, 9), at(1));
    let r = kills(a.tick(at(100)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].victim.pid, 100);
}

#[test]
fn a_comm_filter_longer_than_the_kernel_keeps_matches_its_first_15_bytes() {
    use sigwatch::attributor::comm_matches;
    assert!(comm_matches(b"launcher", b"launcher"));
    assert!(!comm_matches(b"launch", b"launcher"));
    assert!(!comm_matches(b"launcher", b"launch"));
    // The kernel's comm of `averyveryverylongname` is its first 15 bytes.
    assert!(comm_matches(b"averyveryverylongname", b"averyveryverylo"));
    assert!(!comm_matches(b"averyveryverylongname", b"averyveryveryl"));
    assert!(!comm_matches(b"averyveryverylongname", b"averyveryverylx"));
    // Exactly 15 bytes is compared whole.
    assert!(comm_matches(b"averyveryverylo", b"averyveryverylo"));
}

#[test]
fn sender_unknown_to_the_tree_starts_its_chain_at_ppid() {
    let mut a = engine();
    let mut k = kill(80, at(1), "kill", 9, &[300]);
    k.sender.pid = 555;
    k.sender.ppid = 100;
    a.on_audit_kill(&k, at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(s.exited, None, "no process information: unknown, not false");
    assert_eq!(s.cwd, None);
    let anc: Vec<_> = r[0].ancestors.iter().map(|x| x.pid).collect();
    assert_eq!(anc, vec![100, 1]);
}

/// The world with 600 (`sleep`), a child of 100 (launcher).
fn with_sleeper() -> Attributor<MemTree> {
    let mut a = engine();
    a.procs_mut()
        .insert(proc_(600, 100, "sleep", &["sleep", "300"]));
    a
}

/// An exit after re-parenting names the reaper. When one kill took the
/// parent too (a process group, `timeout -s KILL`), the victim's parent is
/// the one it had when the signal was sent; a parent that died long
/// before left the reaper as the parent.
#[test]
fn a_parent_killed_by_the_same_kill_stays_the_victims_parent() {
    let reparented = |now: Clock, pid: Pid| {
        let mut e = exit(now, pid, pid, 9);
        if let EventKind::Exit {
            parent_tgid,
            parent_pid,
            ..
        } = &mut e.kind
        {
            *parent_tgid = Some(1);
            *parent_pid = Some(1);
        }
        e
    };
    // 100 (launcher, parent of 600) dies of SIGKILL 1 ms before 600 does.
    let mut a = with_sleeper();
    a.on_audit_kill(&kill(91, at(1), "kill", 9, &[600]), at(1));
    a.on_proc_event(&exit(clock_ms(200), 100, 100, 9), clock_ms(200));
    let r = kills(a.on_proc_event(&reparented(clock_ms(201), 600), clock_ms(201)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].victim.ppid, Some(100));
    // The parent died 5 s earlier: re-parented long before the kill.
    let mut b = with_sleeper();
    b.on_proc_event(&exit(at(1), 100, 100, 9), at(1));
    b.on_audit_kill(&kill(92, at(51), "kill", 9, &[600]), at(51));
    let r = kills(b.on_proc_event(&reparented(at(52), 600), at(52)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].victim.ppid, Some(1));
    // Died of another signal just before: not the same kill.
    let mut c = with_sleeper();
    c.on_audit_kill(&kill(93, at(1), "kill", 9, &[600]), at(1));
    c.on_proc_event(&exit(clock_ms(200), 100, 100, 15), clock_ms(200));
    let r = kills(c.on_proc_event(&reparented(clock_ms(201), 600), clock_ms(201)));
    assert_eq!(r[0].victim.ppid, Some(1));
    // The parent's exit is still on its way (the kernel sends it after
    // re-parenting its children): the parent it had until then.
    let mut d = with_sleeper();
    d.on_audit_kill(&kill(94, at(1), "kill", 9, &[600]), at(1));
    let r = kills(d.on_proc_event(&reparented(clock_ms(201), 600), clock_ms(201)));
    assert_eq!(r[0].victim.ppid, Some(100));
    // Its pid taken by a later process, killed with it: not its parent.
    let mut e = with_sleeper();
    e.on_proc_event(&exit(at(1), 100, 100, 0), at(1));
    e.on_proc_event(&fork(at(2), 1, 100), at(2));
    e.on_audit_kill(&kill(95, at(3), "kill", 9, &[600]), at(3));
    e.on_proc_event(&exit(clock_ms(400), 100, 100, 9), clock_ms(400));
    let r = kills(e.on_proc_event(&reparented(clock_ms(401), 600), clock_ms(401)));
    assert_eq!(r[0].victim.ppid, Some(1));
    // Not killed (it handled the signal and exited 0): nothing to keep.
    let mut f = with_sleeper();
    f.on_audit_kill(&kill(96, at(1), "kill", 15, &[600]), at(1));
    f.on_proc_event(&exit(clock_ms(200), 100, 100, 0), clock_ms(200));
    let mut normal = reparented(clock_ms(201), 600);
    if let EventKind::Exit {
        status, exit_code, ..
    } = &mut normal.kind
    {
        *exit_code = 0;
        *status = procconn::ExitStatus::from_wait_status(0);
    }
    let mut r = kills(f.on_proc_event(&normal, clock_ms(201)));
    r.extend(kills(f.tick(at(100))));
    assert!(r.iter().all(|k| k.victim.ppid != Some(100)), "{r:?}");
}

#[test]
fn a_forked_killer_is_followed_through_the_tree() {
    // Fork events build the chain: 100 forks 400, which forks 401 (the
    // killer); both exit before the record is read.
    let mut a = engine();
    a.on_proc_event(&fork(at(1), 100, 400), at(1));
    a.on_proc_event(&fork(at(1), 400, 401), at(1));
    a.on_proc_event(&exit(at(2), 401, 401, 0), at(2));
    a.on_proc_event(&exit(at(2), 400, 400, 0), at(2));
    let mut k = kill(90, at(2), "kill", 9, &[300]);
    k.sender.pid = 401;
    k.sender.ppid = 1;
    a.on_audit_kill(&k, at(3));
    let r = kills(a.on_proc_event(&exit(at(3), 300, 300, 9), at(3)));
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(s.exited, Some(true));
    let anc: Vec<_> = r[0].ancestors.iter().map(|x| (x.pid, x.exited)).collect();
    assert_eq!(
        anc,
        vec![(400, Some(true)), (100, Some(false)), (1, Some(false))]
    );
    assert_eq!(a.procs().process(401).unwrap().exit_signal, None);
}

#[test]
fn flush_reports_everything_pending() {
    let mut a = engine();
    a.on_audit_kill(&kill(95, at(1), "kill", 9, &[300]), at(1));
    a.on_proc_event(&exit(at(1), 301, 301, 9), at(1));
    let r = kills(a.flush(at(2)));
    let got: Vec<_> = r.iter().map(|k| (k.victim.pid, k.origin)).collect();
    assert_eq!(got, vec![(300, Origin::User), (301, Origin::Unknown)]);
    assert_eq!(a.pending(), 0);
}

#[test]
fn details_from_before_an_unread_exec_are_not_shown() {
    let mut t = world();
    // 300 exec'd `sleep` but died before /proc was read: the tree still
    // has its parent's image. 100 (an ancestor) likewise.
    t.get_mut(300).unwrap().details_stale = true;
    t.get_mut(100).unwrap().details_stale = true;
    let mut a = Attributor::new(Config::default(), t);
    let mut k = kill(96, at(1), "kill", 9, &[300]);
    k.targets[0].comm = Some("sleep".into());
    a.on_audit_kill(&k, at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    let v = &r[0].victim;
    assert_eq!(v.comm.as_ref().unwrap().0, b"sleep", "audit's ocomm wins");
    assert_eq!(v.argv, None);
    assert_eq!(v.exe, None);
    assert_eq!(v.cwd.as_ref().unwrap().0, b"/srv", "cwd survives exec");
    let l = &r[0].ancestors[0];
    assert_eq!((l.pid, &l.comm, &l.argv), (100, &None, &None));
    assert_eq!(l.exited, Some(false));
}

#[test]
fn exited_means_by_the_time_of_the_report() {
    let mut a = engine();
    a.on_audit_kill(&kill(97, at(1), "kill", 9, &[300]), at(1));
    // The sender (200) and its launcher (100) exit before the victim does.
    a.on_proc_event(&exit(at(2), 200, 200, 0), at(2));
    a.on_proc_event(&exit(at(2), 100, 100, 0), at(2));
    let r = kills(a.on_proc_event(&exit(at(3), 300, 300, 9), at(3)));
    assert_eq!(r[0].sender.as_ref().unwrap().exited, Some(true));
    let anc: Vec<_> = r[0].ancestors.iter().map(|x| (x.pid, x.exited)).collect();
    assert_eq!(anc, vec![(100, Some(true)), (1, Some(false))]);
}

/// A victim's pid reused within seconds by a new process (another start
/// time): its kill is a new case, neither dropped as a duplicate of the
/// first nor mixed with it.
#[test]
fn pid_reused_within_seconds_is_a_new_victim() {
    let mut a = engine();
    assert!(a
        .on_audit_kill(&kill(23, at(1), "kill", 9, &[300]), at(1))
        .is_empty());
    let first = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    assert_eq!(first.len(), 1);
    assert!(first[0].victim.exit_confirmed);
    // 0.1 s later pid 300 is a new process (forked now: a new start time)
    // and is killed too.
    assert!(a.on_proc_event(&fork(at(3), 1, 300), at(3)).is_empty());
    let second = kills(a.on_audit_kill(&kill(24, at(4), "kill", 9, &[300]), at(4)));
    assert!(second.is_empty(), "waits for the exit: {second:?}");
    let second = kills(a.on_proc_event(&exit(at(5), 300, 300, 9), at(5)));
    assert_eq!(second.len(), 1, "the second victim is reported");
    assert_eq!(second[0].audit.as_ref().map(|x| x.serial), Some(24));
    assert!(second[0].victim.exit_confirmed);
    assert_eq!(a.stats().duplicates, 0);
}

/// The same, with the second kill's records arriving after its exit: the
/// exit of the new process waits for its record instead of being taken
/// for the first victim's.
#[test]
fn pid_reused_exit_first_joins_its_own_record() {
    let mut a = engine();
    a.on_audit_kill(&kill(23, at(1), "kill", 9, &[300]), at(1));
    assert_eq!(
        kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2))).len(),
        1
    );
    a.on_proc_event(&fork(at(3), 1, 300), at(3));
    assert!(a.on_proc_event(&exit(at(4), 300, 300, 9), at(4)).is_empty());
    let r = kills(a.on_audit_kill(&kill(24, at(5), "kill", 9, &[300]), at(5)));
    assert_eq!(r.len(), 1, "joined with the waiting exit");
    assert!(r[0].victim.exit_confirmed);
    assert_eq!(r[0].audit.as_ref().map(|x| x.serial), Some(24));
}

/// A command line the tree kept only a prefix of is flagged as cut, for
/// the sender (when the tree's argv is used) and for the victim.
#[test]
fn argv_cut_by_the_tree_is_flagged_for_sender_and_victim() {
    let mut t = world();
    let mut sender = proc_(200, 100, "sh", &["/bin/sh", "/srv/guard.sh", "--env", "{…"]);
    sender.argv_truncated = true;
    sender.argv_after_exec = true;
    sender.exe = Some("/usr/bin/dash".into());
    t.insert(sender);
    t.get_mut(300).unwrap().argv_truncated = true;
    let mut a = Attributor::new(Config::default(), t);
    let mut k = kill(98, at(1), "kill", 9, &[300]);
    k.sender.argv = None; // no PROCTITLE: the tree's argv is the one
    a.on_audit_kill(&k, at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(s.argv.as_ref().map(Vec::len), Some(4));
    assert_eq!(s.argv_truncated, Some(true));
    assert_eq!(r[0].victim.argv_truncated, Some(true));
}

/// A sender whose exec was never read from `/proc` (it exited first) has
/// only its parent's details in the tree: its cwd is unknown (null), not
/// the parent's.
#[test]
fn stale_tree_details_never_fill_the_senders_cwd() {
    let mut t = world();
    let mut sender = proc_(200, 100, "launcher", &["launcher", "--go"]);
    sender.cwd = Some("/home/parent".into());
    sender.details_stale = true;
    t.insert(sender);
    let mut a = Attributor::new(Config::default(), t);
    a.on_audit_kill(&kill(99, at(1), "kill", 9, &[300]), at(1));
    let r = kills(a.on_proc_event(&exit(at(2), 300, 300, 9), at(2)));
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(s.cwd, None);
    assert_eq!(s.comm.as_ref().unwrap().0, b"sh", "the record's comm");
}

/// The victim's exit comes before the kill's record and the tree never
/// read its exec (it has only its parent's name): the report names the
/// victim by the record's `ocomm`, so a `--comm` filter still matches.
#[test]
fn exit_first_with_unread_exec_keeps_the_records_comm() {
    let mut t = world();
    t.get_mut(300).unwrap().details_stale = true;
    let cfg = Config::default().victim_comms(vec![b"sleep".to_vec()]);
    let mut a = Attributor::new(cfg, t);
    assert!(a.on_proc_event(&exit(at(1), 300, 300, 9), at(1)).is_empty());
    let mut k = kill(100, at(1), "kill", 9, &[300]);
    k.targets[0].comm = Some("sleep".into());
    let r = kills(a.on_audit_kill(&k, at(2)));
    assert_eq!(r.len(), 1, "filtered out by the parent's name");
    assert_eq!(r[0].victim.comm.as_ref().unwrap().0, b"sleep");
    assert!(r[0].victim.exit_confirmed);
}
