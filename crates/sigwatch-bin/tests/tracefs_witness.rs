//! The Attributor with tracefs as a witness: `signal_generate` lines in
//! the real 6.18 format (see crates/tracesig/tests/data) joined with exits
//! and audit records, and the kernel origins they prove.
#![allow(clippy::unwrap_used)]

use auditsig::kill::Bytes;
use auditsig::{Arch, KillEvent, KillSyscall, Sender, Stamp, Target, TargetSpec};
use procconn::{Pid, ProcEvent};
use sigwatch::procview::ProcessSnapshot;
use sigwatch::report::{KillReport, Origin, Report};
use sigwatch::{Attributor, Clock, Config, MemTree, SignalSet};

mod common;
use common::{clock_ms, exit_event, proc_};

/// Monotonic 1000 s + `ms` milliseconds; wall accordingly.
fn at(ms: u64) -> Clock {
    clock_ms(ms)
}

fn exit(now: Clock, pid: Pid, wait_status: u32) -> ProcEvent {
    exit_event(now, pid, pid, wait_status)
}

/// pid 1 → 100 (launcher) → 200 (sh, the killer); 300 the daemon.
fn world() -> MemTree {
    let mut t = MemTree::new();
    let mut init = proc_(1, 0, "systemd", &["/sbin/init"]);
    init.spawned_by = None;
    t.insert(init);
    t.insert(proc_(100, 1, "launcher", &["launcher", "--go"]));
    t.insert(proc_(200, 100, "sh", &["/bin/sh", "/srv/guard.sh"]));
    t.insert(proc_(300, 1, "daemon", &["daemon", "-f"]));
    t
}

/// A `signal_generate` line as trace_pipe prints it (record-tgid,
/// trace_clock=mono) at `ms` after mono 1000 s.
fn sg(
    ms: u64,
    cur: Pid,
    cur_comm: &str,
    sig: i32,
    code: i32,
    target: Pid,
    grp: u8,
) -> tracesig::Record {
    let line = format!(
        "{cur_comm:>16}-{cur:<7} ({cur:>7}) [001] d..1. {:>5}.{:06}: signal_generate: sig={sig} errno=0 code={code} comm=daemon pid={target} grp={grp} res=0",
        1000 + ms / 1000,
        (ms % 1000) * 1000
    );
    tracesig::parse_line(line.as_bytes()).unwrap()
}

fn mark(ms: u64, cur: Pid, victim: Pid) -> tracesig::Record {
    let line = format!(
        "         python3-{cur:<7} ({cur:>7}) [001] ...1. {:>5}.{:06}: mark_victim: pid={victim} comm=daemon total-vm=57528kB anon-rss=47744kB file-rss:6612kB shmem-rss:0kB uid=0 pgtables=148kB oom_score_adj=0",
        1000 + ms / 1000,
        (ms % 1000) * 1000
    );
    tracesig::parse_line(line.as_bytes()).unwrap()
}

/// `kill(300, SIGKILL)` by pid 200 (`sh /srv/guard.sh`, uid 0, login uid
/// 1000, session 3) at `now`.
fn audit_kill(now: Clock) -> KillEvent {
    let mut sender = Sender::new(200, 100, 0, 0, 0, "sh");
    sender.auid = Some(1000);
    sender.ses = Some(3);
    sender.exe = Some("/usr/bin/dash".into());
    sender.argv = Some(vec![Bytes::from("/bin/sh"), Bytes::from("/srv/guard.sh")]);
    let stamp = Stamp {
        sec: now.wall_ns / 1_000_000_000,
        msec: ((now.wall_ns / 1_000_000) % 1000) as u32,
        serial: 42,
    };
    let mut k = KillEvent::new(
        stamp,
        Arch::X86_64,
        KillSyscall::Kill,
        TargetSpec::Process(300),
        9,
        sender,
    );
    k.key = Some("sigwatch".into());
    k.targets.push(Target::new(300, 0, "daemon"));
    k
}

fn kills(rs: Vec<Report>) -> Vec<KillReport> {
    rs.into_iter()
        .filter_map(|r| match r {
            Report::Kill(k) => Some(k),
            _ => None,
        })
        .collect()
}

fn engine(audit: bool) -> Attributor<MemTree> {
    Attributor::new(Config::default().audit_expected(audit), world())
}

#[test]
fn tracefs_only_user_kill_names_the_sender_from_the_tree() {
    let mut a = engine(false);
    assert!(a
        .on_trace(&sg(100, 200, "sh", 9, 0, 300, 1), at(100))
        .is_empty());
    let r = kills(a.on_proc_event(&exit(at(101), 300, 9), at(101)));
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.origin, Origin::User);
    assert_eq!(r.reason, None);
    assert_eq!(r.syscall, None);
    assert!(r.audit.is_none());
    let s = r.sender.as_ref().unwrap();
    assert_eq!(s.pid, 200);
    assert_eq!(s.argv.as_ref().unwrap()[1].0, b"/srv/guard.sh");
    assert_eq!(s.cwd.as_ref().unwrap().0, b"/srv");
    assert_eq!(s.auid, None);
    let anc: Vec<_> = r.ancestors.iter().map(|a| a.pid).collect();
    assert_eq!(anc, vec![100, 1]);
    assert!(r.victim.exit_confirmed);
    assert_eq!(r.witnesses, vec!["tracefs", "proc"]);
    let t = r.trace.as_ref().unwrap();
    assert_eq!(
        (t.current_pid, t.code, t.grp, t.class),
        (200, 0, Some(true), "user")
    );
    // The signal's time, not the exit's.
    assert_eq!(r.time.0, at(100).wall_ns);
    assert_eq!(a.pending(), 0);
}

#[test]
fn audit_and_tracefs_sightings_join_in_every_order() {
    // (trace, audit, exit), (audit, trace, exit), (exit, trace, audit),
    // (trace, exit, audit), (audit, exit, trace).
    let orders: [&[u8]; 5] = [b"tae", b"ate", b"eta", b"tea", b"aet"];
    for order in orders {
        let mut a = engine(true);
        let mut out = Vec::new();
        for (i, step) in order.iter().enumerate() {
            let now = at(100 + i as u64 * 10);
            let rs = match step {
                b't' => a.on_trace(&sg(100, 200, "sh", 9, 0, 300, 1), now),
                b'a' => a.on_audit_kill(&audit_kill(at(100)), now),
                _ => a.on_proc_event(&exit(now, 300, 9), now),
            };
            out.extend(kills(rs));
        }
        out.extend(kills(a.tick(at(5000))));
        out.extend(kills(a.flush(at(6000))));
        let order = String::from_utf8_lossy(order);
        assert_eq!(out.len(), 1, "{order}: one report, not two: {out:#?}");
        let r = &out[0];
        assert_eq!(r.origin, Origin::User, "{order}");
        assert_eq!(r.syscall.as_deref(), Some("kill"), "{order}");
        let s = r.sender.as_ref().unwrap();
        assert_eq!(
            (s.pid, s.auid, s.ses),
            (200, Some(1000), Some(3)),
            "{order}"
        );
        assert!(r.victim.exit_confirmed, "{order}");
        if order != "aet" {
            // Once audit and the exit are both in, the report is out: a
            // later sighting of the same kill is a duplicate.
            assert!(r.trace.is_some(), "{order}");
            assert_eq!(r.witnesses, vec!["audit", "tracefs", "proc"], "{order}");
        }
    }
}

#[test]
fn tracefs_user_kill_waits_for_audit_then_reports_without_it() {
    // A sender that predates audit being enabled: no record ever comes.
    let mut a = engine(true);
    assert!(a
        .on_trace(&sg(100, 200, "sh", 9, 0, 300, 1), at(100))
        .is_empty());
    assert!(a.on_proc_event(&exit(at(101), 300, 9), at(101)).is_empty());
    assert!(a.tick(at(600)).is_empty(), "still inside the audit grace");
    let r = kills(a.tick(at(1200)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].origin, Origin::User);
    assert_eq!(r[0].sender.as_ref().unwrap().pid, 200);
    assert!(r[0].audit.is_none());
}

/// The trace pipe names the current task from the kernel's comm cache,
/// which can hold an earlier holder of the pid's name: a name that the
/// audit record of the same task contradicts is dropped, not reported.
#[test]
fn a_stale_trace_comm_contradicted_by_audit_is_null() {
    for (cached, want) in [("capture-d82d20c", None), ("sh", Some("sh"))] {
        let mut a = engine(true);
        a.on_trace(&sg(100, 200, cached, 9, 0, 300, 1), at(100));
        a.on_audit_kill(&audit_kill(at(100)), at(100));
        let r = kills(a.on_proc_event(&exit(at(102), 300, 9), at(102)));
        assert_eq!(r.len(), 1);
        let t = r[0].trace.as_ref().expect("joined");
        assert_eq!(
            t.current_comm.as_ref().map(|c| c.0.clone()),
            want.map(|w| w.as_bytes().to_vec()),
            "cached {cached}"
        );
    }
}

/// A kill both witnesses saw is reported at the tracepoint's precise
/// time when the audit record's coarse clock (a tick behind at most) is
/// all that separates them; when the two disagree by more, the record's
/// time stands.
#[test]
fn a_kill_seen_by_both_takes_the_precise_time_of_tracefs() {
    for (trace_ms, want_ms) in [(103, 103), (1100, 100), (99, 100)] {
        let mut a = engine(true);
        a.on_trace(&sg(trace_ms, 200, "sh", 9, 0, 300, 1), at(100));
        a.on_audit_kill(&audit_kill(at(100)), at(100));
        let r = kills(a.on_proc_event(&exit(at(1200), 300, 9), at(1200)));
        assert_eq!(r.len(), 1);
        assert!(r[0].trace.is_some(), "joined");
        assert_eq!(
            r[0].time.0,
            at(want_ms).wall_ns,
            "trace at {trace_ms} ms, record at 100 ms"
        );
    }
}

#[test]
fn a_second_killer_seen_only_by_tracefs_does_not_double_report() {
    let mut a = engine(true);
    a.on_audit_kill(&audit_kill(at(100)), at(100));
    // Another process (pid 100) also SIGKILLs it.
    assert!(a
        .on_trace(&sg(101, 100, "launcher", 9, 0, 300, 1), at(101))
        .is_empty());
    let mut r = kills(a.on_proc_event(&exit(at(102), 300, 9), at(102)));
    r.extend(kills(a.flush(at(9000))));
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].sender.as_ref().unwrap().pid, 200);
    assert!(r[0].trace.is_none());
}

#[test]
fn memcg_oom_with_mark_victim_is_kernel_oom_without_sender() {
    // The allocating task is the victim itself (as in kernel-6.18-oom-memcg-self.txt).
    let mut a = engine(true);
    assert!(a
        .on_trace(&sg(100, 300, "daemon", 9, 128, 300, 1), at(100))
        .is_empty());
    assert!(a.on_trace(&mark(100, 300, 300), at(100)).is_empty());
    let r = kills(a.on_proc_event(&exit(at(110), 300, 9), at(110)));
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].origin, r[0].reason.as_deref()),
        (Origin::Kernel, Some("oom"))
    );
    assert!(r[0].sender.is_none());
    assert!(r[0].ancestors.is_empty());
    assert_eq!(r[0].victim.comm.as_ref().unwrap().0, b"daemon");
    assert!(r[0].trace.as_ref().unwrap().mark_victim);
}

#[test]
fn kernel_sigkill_is_held_briefly_for_mark_victim() {
    // Exit first, then signal_generate, then mark_victim in a later read.
    let mut a = engine(true);
    a.on_proc_event(&exit(at(100), 300, 9), at(100));
    assert!(a
        .on_trace(&sg(99, 300, "daemon", 9, 128, 300, 1), at(101))
        .is_empty());
    assert!(a.tick(at(150)).is_empty(), "held for mark_victim");
    let r = kills(a.on_trace(&mark(99, 300, 300), at(160)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].reason.as_deref(), Some("oom"));
}

#[test]
fn oom_killer_in_another_task_names_no_sender() {
    // kernel-6.18-oom-memcg-other.txt: python3 (pid 200 here) allocates, 300 dies.
    let mut a = engine(true);
    a.on_trace(&sg(100, 200, "python3", 9, 128, 300, 1), at(100));
    a.on_trace(&mark(100, 200, 300), at(100));
    let r = kills(a.on_proc_event(&exit(at(110), 300, 9), at(110)));
    assert_eq!(r[0].reason.as_deref(), Some("oom"));
    assert!(r[0].sender.is_none());
    assert_eq!(r[0].trace.as_ref().unwrap().current_pid, 200);
}

#[test]
fn cgroup_kill_names_the_writer() {
    let mut a = engine(true);
    a.on_trace(&sg(100, 200, "sh", 9, 0, 300, 0), at(100));
    let r = kills(a.on_proc_event(&exit(at(101), 300, 9), at(101)));
    assert_eq!(r.len(), 1, "kernel kills do not wait for audit");
    assert_eq!(
        (r[0].origin, r[0].reason.as_deref()),
        (Origin::Kernel, Some("cgroup_kill"))
    );
    let s = r[0].sender.as_ref().unwrap();
    assert_eq!(s.pid, 200);
    assert_eq!(r[0].ancestors.len(), 2);
    assert_eq!(r[0].victim.tid, None);
}

/// A daemon (child of pid 1) with this pid in this cgroup.
fn daemon_in(pid: Pid, cgroup: &str) -> ProcessSnapshot {
    let mut p = proc_(pid, 1, "daemon", &["daemon"]);
    p.cgroup = Some(cgroup.to_string());
    p
}

/// [`world`] with daemons in these cgroups.
fn world_with_cgroups(daemons: &[(Pid, &str)]) -> MemTree {
    let mut t = world();
    for &(pid, cg) in daemons {
        t.insert(daemon_in(pid, cg));
    }
    t
}

/// A group kill seen by tracefs alone: each sighting looks its sender
/// up, and the reports still hold one ancestry between them (a copy each
/// let a deep sender chain of long command lines grow memory with the
/// number of victims).
#[test]
fn tracefs_sightings_of_one_sender_share_one_ancestry() {
    let t = world_with_cgroups(&[(301, "/a"), (302, "/a"), (303, "/a")]);
    let mut a = Attributor::new(Config::default().audit_expected(false), t);
    for v in [301, 302, 303] {
        a.on_trace(&sg(100, 200, "sh", 9, 0, v, 1), at(100));
    }
    let mut r = Vec::new();
    for v in [301, 302, 303] {
        r.extend(kills(a.on_proc_event(&exit(at(101), v, 9), at(101))));
    }
    assert_eq!(r.len(), 3);
    for k in &r {
        let pids: Vec<_> = k.ancestors.iter().map(|a| a.pid).collect();
        assert_eq!(pids, vec![100, 1], "victim {}", k.victim.pid);
        assert!(
            k.ancestors.shares(&r[0].ancestors),
            "victim {}",
            k.victim.pid
        );
    }
}

/// `echo 1 > /kubepods/pod1/cgroup.kill` with the pod's processes in its
/// container cgroups: every report names the pod's cgroup (the deepest
/// one holding all the write's victims), not each victim's own.
#[test]
fn cgroup_kill_names_the_written_cgroup_from_the_burst() {
    let mut t = world_with_cgroups(&[
        (301, "/kubepods/pod1/c1"),
        (302, "/kubepods/pod1/c2"),
        (303, "/kubepods/pod1/c2"),
    ]);
    // A later write by the same writer to another cgroup is its own burst.
    t.insert(daemon_in(304, "/kubepods/pod2/c1"));
    let mut a = Attributor::new(Config::default().audit_expected(false), t);
    for v in [301, 302, 303] {
        a.on_trace(&sg(100, 200, "sh", 9, 0, v, 0), at(100));
    }
    let mut r = Vec::new();
    for v in [301, 302, 303] {
        r.extend(kills(a.on_proc_event(&exit(at(101), v, 9), at(101))));
    }
    assert_eq!(r.len(), 3);
    for k in &r {
        assert_eq!(k.reason.as_deref(), Some("cgroup_kill"));
        let cg = k.cgroup_kill.as_ref().unwrap().cgroup.as_ref().unwrap();
        assert_eq!(cg.0, b"/kubepods/pod1", "victim {}", k.victim.pid);
        // Each sighting looked the writer up on its own: the reports
        // still hold one chain between them, not a copy each.
        assert!(!k.ancestors.is_empty());
        assert!(
            k.ancestors.shares(&r[0].ancestors),
            "victim {}",
            k.victim.pid
        );
    }
    a.on_trace(&sg(5000, 200, "sh", 9, 0, 304, 0), at(5000));
    let r = kills(a.on_proc_event(&exit(at(5001), 304, 9), at(5001)));
    let cg = r[0].cgroup_kill.as_ref().unwrap().cgroup.as_ref().unwrap();
    assert_eq!(cg.0, b"/kubepods/pod2/c1");
}

/// Two writes by one writer 50 ms apart (two pods killed one after the
/// other) are two bursts: each pod's victims name their own pod, also
/// when the second write's sightings are read before the first's exits.
#[test]
fn cgroup_kill_writes_50_ms_apart_are_two_bursts() {
    let t = world_with_cgroups(&[
        (301, "/kubepods/pod1/c1"),
        (302, "/kubepods/pod1/c2"),
        (306, "/kubepods/pod2/c1"),
        (307, "/kubepods/pod2/c2"),
    ]);
    let mut a = Attributor::new(Config::default().audit_expected(false), t);
    for v in [301, 302] {
        a.on_trace(&sg(100, 200, "sh", 9, 0, v, 0), at(100));
    }
    for v in [306, 307] {
        a.on_trace(&sg(150, 200, "sh", 9, 0, v, 0), at(150));
    }
    let mut named = Vec::new();
    for v in [301, 302, 306, 307] {
        for k in kills(a.on_proc_event(&exit(at(160), v, 9), at(160))) {
            let cg = k.cgroup_kill.unwrap().cgroup.unwrap().0;
            named.push((v, String::from_utf8(cg).unwrap()));
        }
    }
    assert_eq!(
        named,
        vec![
            (301, "/kubepods/pod1".to_string()),
            (302, "/kubepods/pod1".to_string()),
            (306, "/kubepods/pod2".to_string()),
            (307, "/kubepods/pod2".to_string()),
        ]
    );
}

/// Two writes close together by one writer (systemd killing two units
/// under one slice) are not merged into the slice: another live process
/// sits in it, so the slice was not what was written; each report names
/// its victim's own cgroup.
#[test]
fn cgroup_kills_of_two_units_are_not_widened_to_their_slice() {
    let t = world_with_cgroups(&[
        (301, "/system.slice/a.service"),
        (302, "/system.slice/b.service"),
        (305, "/system.slice/c.service"),
    ]);
    let mut a = Attributor::new(Config::default().audit_expected(false), t);
    for v in [301, 302] {
        a.on_trace(&sg(100, 200, "sh", 9, 0, v, 0), at(100));
    }
    let mut r = Vec::new();
    for v in [301, 302] {
        r.extend(kills(a.on_proc_event(&exit(at(101), v, 9), at(101))));
    }
    let named: Vec<Vec<u8>> = r
        .iter()
        .map(|k| {
            k.cgroup_kill
                .as_ref()
                .unwrap()
                .cgroup
                .as_ref()
                .unwrap()
                .0
                .clone()
        })
        .collect();
    assert_eq!(
        named,
        vec![
            b"/system.slice/a.service".to_vec(),
            b"/system.slice/b.service".to_vec()
        ]
    );
}

#[test]
fn rlimit_cpu_is_reported_after_the_mark_victim_hold() {
    let mut a = engine(true);
    a.on_trace(&sg(100, 300, "daemon", 9, 128, 300, 1), at(100));
    assert!(a.on_proc_event(&exit(at(101), 300, 9), at(101)).is_empty());
    let r = kills(a.tick(at(400)));
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].origin, r[0].reason.as_deref()),
        (Origin::Kernel, Some("rlimit"))
    );
    assert!(r[0].sender.is_none());
}

#[test]
fn without_mark_victim_a_self_sigkill_is_plain_kernel() {
    let mut a = Attributor::new(Config::default().mark_victim_traced(false), world());
    a.on_trace(&sg(100, 300, "daemon", 9, 128, 300, 1), at(100));
    let r = kills(a.on_proc_event(&exit(at(101), 300, 9), at(101)));
    assert_eq!(r[0].reason.as_deref(), Some("kernel"));
    // ...unless the kernel log names it.
    let mut a = Attributor::new(Config::default().mark_victim_traced(false), world());
    a.on_trace(&sg(100, 300, "daemon", 9, 128, 300, 1), at(100));
    a.on_kmsg_line(
        b"3,1234,5678,-;Memory cgroup out of memory: Killed process 300 (daemon) total-vm:9kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
        at(100),
    );
    let r = kills(a.on_proc_event(&exit(at(101), 300, 9), at(101)));
    assert_eq!(r[0].reason.as_deref(), Some("oom"));
    assert_eq!(r[0].witnesses, vec!["tracefs", "kmsg", "proc"]);
}

#[test]
fn seccomp_sigsys_is_reported_when_sys_is_watched() {
    let mut a = Attributor::new(
        Config::default().signals(SignalSet::parse("KILL,SYS").unwrap()),
        world(),
    );
    a.on_trace(&sg(100, 300, "daemon", 31, 1, 300, 0), at(100));
    // Killed by SIGSYS with a core dump (0x80 | 31).
    let r = kills(a.on_proc_event(&exit(at(101), 300, 0x80 | 31), at(101)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].signal, 31);
    assert_eq!(
        (r[0].origin, r[0].reason.as_deref()),
        (Origin::Kernel, Some("seccomp"))
    );
    // With the default SIGKILL only, SIGSYS is not watched at all.
    let mut a = engine(true);
    assert!(a
        .on_trace(&sg(100, 300, "daemon", 31, 1, 300, 0), at(100))
        .is_empty());
    assert_eq!(a.pending(), 0);
}

#[test]
fn pid_namespace_teardown_is_kernel_with_raw_facts() {
    let mut a = engine(true);
    a.on_trace(&sg(100, 200, "sh", 9, 128, 300, 1), at(100));
    // Held for a mark_victim (an OOM kill from another task looks alike).
    assert!(a.on_proc_event(&exit(at(101), 300, 9), at(101)).is_empty());
    let r = kills(a.tick(at(400)));
    assert_eq!(
        (r[0].origin, r[0].reason.as_deref()),
        (Origin::Kernel, Some("kernel"))
    );
    assert!(r[0].sender.is_none());
    assert_eq!(r[0].trace.as_ref().unwrap().current_pid, 200);
}

#[test]
fn a_sighting_whose_victim_never_dies_is_reported_unconfirmed() {
    let mut a = engine(false);
    a.on_trace(&sg(100, 200, "sh", 9, 0, 300, 1), at(100));
    assert!(a.tick(at(1000)).is_empty());
    let r = kills(a.tick(at(2200)));
    assert_eq!(r.len(), 1);
    assert!(!r[0].victim.exit_confirmed);
    assert_eq!(r[0].witnesses, vec!["tracefs"]);
    assert_eq!(a.pending(), 0);
}

#[test]
fn exit_without_any_witness_stays_unknown() {
    let mut a = engine(true);
    a.on_proc_event(&exit(at(100), 300, 9), at(100));
    let r = kills(a.tick(at(2200)));
    assert_eq!(r[0].origin, Origin::Unknown);
    assert!(r[0].trace.is_none());
    assert_eq!(r[0].witnesses, vec!["proc"]);
}

#[test]
fn kernel_generated_signals_nobody_died_of_are_not_reports() {
    // `--signal all`: SIGCHLD (code CLD_EXITED) to a parent, SIGXCPU at the
    // soft limit; neither kills.
    let mut a = Attributor::new(Config::default().signals(SignalSet::all()), world());
    a.on_trace(&sg(100, 300, "daemon", 17, 1, 100, 1), at(100));
    a.on_trace(&sg(100, 300, "daemon", 24, 128, 300, 1), at(100));
    assert!(kills(a.tick(at(3000))).is_empty());
    assert_eq!(a.stats().trace_unfatal, 2);
    assert_eq!(a.pending(), 0);
    // A user-sent SIGTERM that was handled is still reported (as audit
    // would), unconfirmed.
    a.on_trace(&sg(4000, 200, "sh", 15, 0, 300, 1), at(4000));
    let r = kills(a.flush(at(4100)));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].signal, 15);
    assert!(!r[0].victim.exit_confirmed);
}

/// A `signal_generate` line of a kernel whose tracepoint has no `grp`
/// field (the layout before `grp`/`res` were added).
fn sg_without_grp(
    ms: u64,
    cur: Pid,
    cur_comm: &str,
    sig: i32,
    code: i32,
    target: Pid,
) -> tracesig::Record {
    let line = format!(
        "{cur_comm:>16}-{cur:<7} [001] d..1 {:>5}.{:06}: signal_generate: sig={sig} errno=0 code={code} comm=daemon pid={target}",
        1000 + ms / 1000,
        (ms % 1000) * 1000
    );
    tracesig::parse_line(line.as_bytes()).unwrap()
}

/// README: "On kernels whose tracepoint has no `grp` field, `code=0`
/// cannot tell kill(2) from `cgroup.kill`: origin `unknown` with the
/// current task as `sender`." Never `user`, never `cgroup_kill`.
#[test]
fn no_grp_field_means_origin_unknown_with_the_current_task_as_sender() {
    for audit in [false, true] {
        let mut a = engine(audit);
        let rec = sg_without_grp(100, 200, "sh", 9, 0, 300);
        assert!(a.on_trace(&rec, at(100)).is_empty());
        let mut r = kills(a.on_proc_event(&exit(at(101), 300, 9), at(101)));
        // With audit expected, the engine may wait for a record first.
        r.extend(kills(a.tick(at(5000))));
        assert_eq!(r.len(), 1, "audit {audit}: {r:#?}");
        let r = &r[0];
        assert_eq!(r.origin, Origin::Unknown, "audit {audit}: {r:#?}");
        assert_eq!(r.reason, None, "audit {audit}");
        assert_eq!(r.syscall, None, "audit {audit}");
        let s = r.sender.as_ref().expect("the current task is the sender");
        assert_eq!(s.pid, 200, "audit {audit}");
        assert_eq!(s.comm.as_ref().unwrap().0, b"sh", "audit {audit}");
        let t = r.trace.as_ref().unwrap();
        assert_eq!(
            (t.current_pid, t.code, t.grp),
            (200, 0, None),
            "audit {audit}"
        );
        assert!(r.victim.exit_confirmed, "audit {audit}");
        assert_eq!(a.pending(), 0, "audit {audit}");
    }
}

/// The victim was killed before the tree read its exec (it still has its
/// parent's name): the tracepoint's target comm names it, so a `--comm`
/// filter matches and the report does not carry the parent's name.
#[test]
fn exit_with_unread_exec_takes_the_tracepoints_target_comm() {
    let mut t = world();
    let p = t.get_mut(300).unwrap();
    p.details_stale = true;
    p.comm = Some(b"parent-name".to_vec());
    let cfg = Config::default()
        .audit_expected(false)
        .victim_comms(vec![b"daemon".to_vec()]);
    let mut a = Attributor::new(cfg, t);
    // Exit first, then the sighting (both orders happen).
    assert!(a.on_proc_event(&exit(at(101), 300, 9), at(101)).is_empty());
    let r = kills(a.on_trace(&sg(100, 200, "sh", 9, 0, 300, 1), at(102)));
    assert_eq!(r.len(), 1, "filtered out by the parent's name");
    assert_eq!(r[0].victim.comm.as_ref().unwrap().0, b"daemon");
}
