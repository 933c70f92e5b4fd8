//! Pure tests of the tree over [`FakeProc`]: no kernel involved.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::procfs::{FakeProc, FakeProcess};

const MS: u64 = 1_000_000;

struct Sim {
    fake: FakeProc,
    tree: ProcessTree,
    now: u64,
    seq: u32,
}

fn argv(a: &[&str]) -> Vec<Vec<u8>> {
    a.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn snap(pid: Pid, ppid: Pid, start_ns: u64, args: &[&str]) -> Snapshot {
    let comm = args.first().map_or(b"?".to_vec(), |a| {
        a.rsplit('/').next().unwrap_or(a).as_bytes().to_vec()
    });
    Snapshot {
        pid,
        comm,
        ppid,
        state: b'S',
        start_ticks: start_ns / (10 * MS),
        start_time_ns: start_ns,
        uid: Some(1000),
        euid: Some(1000),
        gid: Some(1000),
        exe: args.first().map(PathBuf::from),
        argv: Some(argv(args)),
        argv_truncated: false,
        cwd: Some(PathBuf::from("/home/u")),
        cgroup: Some("/user.slice".into()),
        memory_cgroup: None,
        ns_pid: None,
        pid_ns: None,
        loginuid: Some(1000),
        sessionid: Some(3),
    }
}

impl Sim {
    fn new(config: TreeConfig) -> Self {
        let fake = FakeProc::new();
        let tree = ProcessTree::with_source(config, fake.clone());
        Sim {
            fake,
            tree,
            now: 1_000_000 * MS,
            seq: 0,
        }
    }

    /// A host with init (1) and a login shell (100), seeded.
    fn host(config: TreeConfig) -> Self {
        let mut s = Self::new(config);
        s.put(snap(1, 0, 0, &["/sbin/init"]));
        s.put(snap(100, 1, 500 * MS, &["/bin/bash", "-l"]));
        assert_eq!(s.tree.seed_from_proc().unwrap(), 2);
        s
    }

    fn put(&self, snapshot: Snapshot) {
        self.fake.insert(FakeProcess {
            snapshot,
            threads: Vec::new(),
        });
    }

    fn ev(&mut self, kind: EventKind) {
        self.now += MS;
        self.seq += 1;
        let e = ProcEvent {
            seq: self.seq,
            cpu: 0,
            timestamp_ns: self.now,
            kind,
        };
        self.tree.apply(&e);
    }

    fn fork_event(&mut self, parent: Pid, child: Pid) {
        self.ev(EventKind::Fork {
            parent_pid: parent,
            parent_tgid: parent,
            child_pid: child,
            child_tgid: child,
        });
    }

    /// A fork whose child is readable in /proc (a copy of the parent).
    fn fork(&mut self, parent: Pid, child: Pid) {
        let start = self.now + MS;
        let mut s = self.fake_snapshot(parent).unwrap_or_default();
        s.pid = child;
        s.ppid = parent;
        s.start_time_ns = start;
        s.start_ticks = start / (10 * MS);
        self.put(s);
        self.fork_event(parent, child);
    }

    fn fake_snapshot(&self, pid: Pid) -> Option<Snapshot> {
        let mut f = self.fake.clone();
        f.snapshot(pid, Fields::ALL)
    }

    fn exec(&mut self, pid: Pid, args: &[&str]) {
        let a = argv(args);
        let exe = PathBuf::from(args[0]);
        let comm = args[0].rsplit('/').next().unwrap().as_bytes().to_vec();
        self.fake.update(pid, |p| {
            p.snapshot.argv = Some(a);
            p.snapshot.exe = Some(exe);
            p.snapshot.comm = comm;
        });
        self.ev(EventKind::Exec {
            process_pid: pid,
            process_tgid: pid,
        });
    }

    fn exit_event(&mut self, pid: Pid, tgid: Pid, wait_status: u32) {
        let ppid = self.tree.get(tgid).map(|p| p.ppid);
        self.ev(EventKind::Exit {
            process_pid: pid,
            process_tgid: tgid,
            exit_code: wait_status,
            status: ExitStatus::from_wait_status(wait_status),
            exit_signal: if pid == tgid { 17 } else { u32::MAX },
            parent_pid: if pid == tgid { ppid } else { Some(0) },
            parent_tgid: if pid == tgid { ppid } else { Some(0) },
        });
    }

    /// The process exits and is reaped.
    fn exit(&mut self, pid: Pid, wait_status: u32) {
        self.fake.remove(pid);
        self.exit_event(pid, pid, wait_status);
    }

    fn thread(&mut self, tgid: Pid, tid: Pid) {
        let ppid = self.tree.get(tgid).map_or(0, |p| p.ppid);
        self.ev(EventKind::Fork {
            parent_pid: ppid,
            parent_tgid: ppid,
            child_pid: tid,
            child_tgid: tgid,
        });
    }

    fn argv_of(&self, pid: Pid) -> Vec<Vec<u8>> {
        self.tree.get(pid).unwrap().argv.clone()
    }

    fn pids(v: &[&ProcessInfo]) -> Vec<Pid> {
        v.iter().map(|p| p.pid).collect()
    }

    /// Invariants that must hold after any sequence of events.
    fn check(&self) {
        let t = &self.tree;
        t.check_consistency().unwrap();
        let all: Vec<&ProcessInfo> = t.iter().collect();
        assert_eq!(all.len(), t.live_count() + t.exited_count());
        assert_eq!(
            all.iter().filter(|p| p.is_alive()).count(),
            t.live_count(),
            "live count"
        );
        for p in &all {
            if p.is_alive() {
                assert_eq!(
                    t.get(p.pid).unwrap().key,
                    p.key,
                    "live pid {} reachable",
                    p.pid
                );
            }
            let real_children = all.iter().filter(|c| c.spawned_by == Some(p.key)).count() as u32;
            assert_eq!(
                t.entries[&p.key].children, real_children,
                "children of {:?}",
                p.key
            );
        }
        assert!(t.exited <= t.config.max_exited);
        assert!(t.pinned <= t.config.max_pinned);
    }
}

#[test]
fn seed_reads_everything() {
    let s = Sim::host(TreeConfig::default());
    let bash = s.tree.get(100).unwrap();
    assert_eq!(bash.source, InfoSource::Seeded);
    assert_eq!(bash.argv, argv(&["/bin/bash", "-l"]));
    assert_eq!(bash.spawned_by.map(|k| k.pid), Some(1));
    assert_eq!(bash.loginuid, Some(1000));
    assert_eq!(bash.sessionid, Some(3));
    assert_eq!(bash.cgroup.as_deref(), Some("/user.slice"));
    assert_eq!(bash.key.start_time, 500 * MS);
    assert_eq!(s.tree.live_count(), 2);
    s.check();
}

#[test]
fn unset_loginuid_is_none() {
    let mut s = Sim::new(TreeConfig::default());
    let mut p = snap(1, 0, 0, &["/sbin/init"]);
    p.loginuid = Some(u32::MAX);
    p.sessionid = Some(u32::MAX);
    s.put(p);
    s.tree.seed_from_proc().unwrap();
    let init = s.tree.get(1).unwrap();
    assert_eq!((init.loginuid, init.sessionid), (None, None));
    s.ev(EventKind::Ack { err: 0 });
}

#[test]
fn grandchild_ancestry_after_parent_and_grandparent_exit() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.exec(200, &["/bin/sh", "-c", "marker-outer"]);
    s.fork(200, 300);
    s.exec(300, &["/bin/sh", "-c", "marker-inner"]);
    s.fork(300, 400);
    s.exec(400, &["/bin/sleep", "30"]);
    s.exit(300, 0);
    s.exit(200, 0);
    let anc = s.tree.ancestry(400);
    assert_eq!(Sim::pids(&anc), vec![300, 200, 100, 1]);
    assert_eq!(anc[0].argv, argv(&["/bin/sh", "-c", "marker-inner"]));
    assert_eq!(anc[1].argv, argv(&["/bin/sh", "-c", "marker-outer"]));
    assert!(anc[0].exit.is_some() && anc[1].exit.is_some());
    assert!(anc[2].is_alive() && anc[3].is_alive());
    assert_eq!(anc[0].source, InfoSource::Procfs);
    // Re-parented to init at exit: ppid follows, the lineage does not.
    assert_eq!(s.tree.get(400).unwrap().spawned_by, Some(anc[0].key));
    assert_eq!(s.argv_of(400), argv(&["/bin/sleep", "30"]));
    s.check();
}

#[test]
fn exit_event_parent_updates_ppid_but_not_lineage() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.fork(200, 300);
    s.exit(200, 0);
    s.fake.update(300, |p| p.snapshot.ppid = 1);
    s.ev(EventKind::Exit {
        process_pid: 300,
        process_tgid: 300,
        exit_code: 9,
        status: ExitStatus::from_wait_status(9),
        exit_signal: 17,
        parent_pid: Some(1),
        parent_tgid: Some(1),
    });
    let p = s.tree.get(300).unwrap();
    assert_eq!(p.ppid, 1);
    assert_eq!(p.spawned_by.map(|k| k.pid), Some(200));
    assert_eq!(p.exit.unwrap().status.signal(), Some(9));
}

#[test]
fn fork_inherits_parent_details_until_exec() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
    assert_eq!(c.exe.as_deref(), Some(std::path::Path::new("/bin/bash")));
    assert_eq!(c.source, InfoSource::Procfs);
    assert_eq!(c.exec_count, 0);
    assert_eq!(c.start_time_ns, Some(c.key.start_time));
    // Only stat was read after the fork (default fork_fields): one read.
    s.exec(200, &["/usr/bin/env"]);
    assert_eq!(s.argv_of(200), argv(&["/usr/bin/env"]));
    assert_eq!(s.tree.get(200).unwrap().exec_count, 1);
}

#[test]
fn killed_between_fork_and_exec_is_a_copy_of_its_parent() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.exit(200, 9);
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
    assert_eq!(c.exec_count, 0);
    assert_eq!(
        c.exit.unwrap().status,
        ExitStatus::Signaled {
            signal: 9,
            core_dumped: false
        }
    );
    assert_eq!(c.exit.unwrap().exit_code, 9);
    assert_eq!(c.exit.unwrap().time_ns, s.now);
}

#[test]
fn unreadable_child_is_inherited() {
    let mut s = Sim::host(TreeConfig::default());
    // Gone before we could read it.
    s.fork_event(100, 200);
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.source, InfoSource::Inherited);
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
    assert_eq!(c.uid, Some(1000));
    assert_eq!(c.ppid, 100);
    // Its exec is unreadable too: keeps what it had, says so.
    s.ev(EventKind::Exec {
        process_pid: 200,
        process_tgid: 200,
    });
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.source, InfoSource::Inherited);
    assert_eq!(c.exec_count, 1);
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
    assert!(s.tree.stats().proc_read_failures >= 2);
}

#[test]
fn read_after_pid_reuse_is_rejected() {
    let mut s = Sim::host(TreeConfig::default());
    // /proc/200 already holds a much newer process when we read it.
    s.put(snap(200, 1, s.now + 10_000 * MS, &["/usr/bin/other"]));
    s.fork_event(100, 200);
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.source, InfoSource::Inherited);
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
    // And at exec: start ticks differ from what we know → rejected.
    s.fork(100, 300);
    let ticks = s.fake_snapshot(300).unwrap().start_ticks;
    s.fake
        .update(300, |p| p.snapshot.start_ticks = ticks + 1000);
    s.exec(300, &["/bin/imposter"]);
    let c = s.tree.get(300).unwrap();
    assert_eq!(c.source, InfoSource::Inherited);
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
}

#[test]
fn exec_read_of_a_zombie_keeps_argv_takes_comm() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.fake.update(200, |p| {
        p.snapshot.state = b'Z';
        p.snapshot.argv = Some(Vec::new());
        p.snapshot.exe = None;
        p.snapshot.comm = b"true".to_vec();
    });
    s.ev(EventKind::Exec {
        process_pid: 200,
        process_tgid: 200,
    });
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.source, InfoSource::Inherited);
    assert_eq!(c.comm, b"true");
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
}

#[test]
fn pid_reuse_never_merges() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.exec(200, &["/bin/first"]);
    s.fork(200, 300);
    s.exit(200, 0);
    let old = s.tree.get(200).unwrap().key;
    s.fork(100, 200);
    s.exec(200, &["/bin/second"]);
    let new = s.tree.get(200).unwrap();
    assert_ne!(new.key, old);
    assert!(new.is_alive());
    assert_eq!(new.argv, argv(&["/bin/second"]));
    let old_info = s.tree.get_key(old).unwrap();
    assert_eq!(old_info.argv, argv(&["/bin/first"]));
    assert!(old_info.exit.is_some());
    // The grandchild of the first 200 still descends from the first one.
    assert_eq!(s.tree.ancestry(300)[0].argv, argv(&["/bin/first"]));
    assert_eq!(s.tree.ancestry(300)[0].key, old);
    // Newest first: once the second exits too, get() returns the second.
    s.exit(200, 0);
    assert_eq!(s.tree.get(200).unwrap().argv, argv(&["/bin/second"]));
    assert_eq!(s.tree.exited_count(), 2);
    s.check();
}

#[test]
fn pid_reuse_with_lost_exit_closes_the_old_as_vanished() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.exec(200, &["/bin/first"]);
    let old = s.tree.get(200).unwrap().key;
    s.fake.remove(200); // its exit event was lost
    s.fork(100, 200);
    let old_info = s.tree.get_key(old).unwrap();
    assert!(old_info.vanished && old_info.exit.is_none() && !old_info.is_alive());
    assert!(s.tree.get(200).unwrap().is_alive());
    assert_eq!(s.tree.stats().vanished, 1);
    assert_eq!(s.tree.live_count(), 3);
    s.check();
}

#[test]
fn exact_key_collision_is_bumped() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.exit(200, 0);
    // Same pid, same timestamp (impossible for real, but must not merge).
    s.now -= MS;
    s.fork_event(100, 200);
    assert_eq!(s.tree.exited_count(), 1);
    assert_eq!(s.tree.live_count(), 3);
    s.check();
}

#[test]
fn threads_map_to_their_process() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.thread(200, 201);
    s.thread(200, 202);
    assert_eq!(s.tree.live_count(), 3);
    assert_eq!(s.tree.tgid_of(201), Some(200));
    assert_eq!(s.tree.tgid_of(200), Some(200));
    assert_eq!(s.tree.tgid_of(999), None);
    assert_eq!(s.tree.get(202).unwrap().pid, 200);
    assert_eq!(Sim::pids(&s.tree.ancestry(201)), vec![100, 1]);
    // A thread's exit is not the process's.
    s.exit_event(201, 200, 0);
    assert!(s.tree.get(200).unwrap().is_alive());
    assert_eq!(s.tree.tgid_of(201), None);
    // The leader exits first (exit_group order is arbitrary): held until the
    // last thread is gone, with the leader's status.
    s.exit_event(200, 200, 9);
    assert!(s.tree.get(200).unwrap().is_alive());
    s.exit_event(202, 200, 9);
    let p = s.tree.get(200).unwrap();
    assert_eq!(p.exit.unwrap().status.signal(), Some(9));
    assert_eq!(s.tree.live_count(), 2);
    assert_eq!(s.tree.thread_count(), 0);
    s.check();
}

#[test]
fn threads_exiting_before_leader() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.thread(200, 201);
    s.exit_event(201, 200, 9);
    s.exit(200, 9);
    assert!(s.tree.get(200).unwrap().exit.is_some());
}

#[test]
fn seeded_threads_and_thread_id_reused_as_process() {
    let mut s = Sim::new(TreeConfig::default());
    s.put(snap(1, 0, 0, &["/sbin/init"]));
    s.fake.insert(FakeProcess {
        snapshot: snap(50, 1, 100 * MS, &["/usr/bin/daemon"]),
        threads: vec![51, 52],
    });
    s.tree.seed_from_proc().unwrap();
    assert_eq!(s.tree.tgid_of(52), Some(50));
    assert_eq!(s.tree.thread_count(), 2);
    // Tid 52's exit was missed and 52 is now a new process.
    s.fork(1, 52);
    assert_eq!(s.tree.tgid_of(52), Some(52));
    assert_eq!(s.tree.thread_count(), 1);
    // Leader exits: thread 51 still counted, so held; 51 exits → done.
    s.exit_event(50, 50, 0);
    assert!(s.tree.get(50).unwrap().is_alive());
    s.exit_event(51, 50, 0);
    assert!(!s.tree.get(50).unwrap().is_alive());
    s.check();
}

#[test]
fn non_leader_exec_leader_exit_is_not_the_end() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.thread(200, 201);
    // Thread 201 execs: de_thread() zaps the leader (exit event pid=tgid,
    // status SIGKILL) and the exec event can overtake that exit event.
    let zap_time = s.now + MS / 2;
    s.exec(200, &["/bin/new"]);
    s.tree.apply(&ProcEvent {
        seq: 99,
        cpu: 1,
        timestamp_ns: zap_time,
        kind: EventKind::Exit {
            process_pid: 200,
            process_tgid: 200,
            exit_code: 9,
            status: ExitStatus::from_wait_status(9),
            exit_signal: 17,
            parent_pid: Some(100),
            parent_tgid: Some(100),
        },
    });
    let p = s.tree.get(200).unwrap();
    assert!(p.is_alive());
    assert_eq!(p.argv, argv(&["/bin/new"]));
    assert_eq!(s.tree.stats().stale_leader_exits, 1);
    // The other order: leader exit first (held because 201 is a thread),
    // then the exec clears it.
    s.thread(200, 202);
    s.exit_event(200, 200, 9);
    s.exec(200, &["/bin/newer"]);
    // A late exit of the pre-exec thread does not end anything.
    s.exit_event(202, 200, 9);
    assert!(s.tree.get(200).unwrap().is_alive());
    s.exit(200, 0);
    assert!(!s.tree.get(200).unwrap().is_alive());
    s.check();
}

#[test]
fn id_and_comm_events() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.ev(EventKind::Uid {
        process_pid: 200,
        process_tgid: 200,
        ruid: 0,
        euid: 0,
    });
    s.ev(EventKind::Gid {
        process_pid: 200,
        process_tgid: 200,
        rgid: 5,
        egid: 5,
    });
    s.ev(EventKind::Comm {
        process_pid: 200,
        process_tgid: 200,
        comm: b"renamed".to_vec(),
    });
    s.thread(200, 201);
    s.ev(EventKind::Comm {
        process_pid: 201,
        process_tgid: 200,
        comm: b"worker".to_vec(),
    });
    let p = s.tree.get(200).unwrap();
    assert_eq!((p.uid, p.euid, p.gid), (Some(0), Some(0), Some(5)));
    assert_eq!(p.comm, b"renamed");
    // Forks inherit the current ids.
    s.fork_event(200, 300);
    assert_eq!(s.tree.get(300).unwrap().uid, Some(0));
}

#[test]
fn seed_then_fork_event_of_the_same_child_is_one_process() {
    let mut s = Sim::host(TreeConfig::default());
    // The child existed at scan time (subscribed before scanning) …
    let t = s.now + MS;
    s.put(snap(200, 100, t - 3 * MS, &["/bin/bash", "-l"]));
    s.tree.seed_from_proc().unwrap();
    // … and its fork event is applied afterwards.
    s.fork_event(100, 200);
    assert_eq!(s.tree.live_count(), 3);
    assert_eq!(s.tree.exited_count(), 0);
    assert_eq!(s.tree.stats().vanished, 0);
    assert_eq!(s.tree.get(200).unwrap().source, InfoSource::Seeded);
    s.check();
}

#[test]
fn exit_overtaking_fork_is_one_process() {
    let mut s = Sim::host(TreeConfig::default());
    let fork_ts = s.now + MS;
    s.now += 2 * MS;
    // The exit arrives first; /proc has nothing any more.
    s.exit_event(200, 200, 9);
    s.tree.apply(&ProcEvent {
        seq: 0,
        cpu: 1,
        timestamp_ns: fork_ts,
        kind: EventKind::Fork {
            parent_pid: 100,
            parent_tgid: 100,
            child_pid: 200,
            child_tgid: 200,
        },
    });
    assert_eq!(s.tree.live_count(), 2);
    assert_eq!(s.tree.exited_count(), 1);
    let p = s.tree.get(200).unwrap();
    assert_eq!(p.spawned_by.map(|k| k.pid), Some(100));
    assert_eq!(p.exit.unwrap().status.signal(), Some(9));
    s.check();
}

#[test]
fn events_about_unknown_processes() {
    let mut s = Sim::new(TreeConfig::default());
    s.put(snap(1, 0, 0, &["/sbin/init"]));
    s.put(snap(700, 1, 5 * MS, &["/usr/sbin/sshd"]));
    // Not seeded: an exec of 700 reads it from /proc on the fly.
    s.exec(700, &["/usr/sbin/sshd", "-D"]);
    let p = s.tree.get(700).unwrap();
    assert_eq!(p.source, InfoSource::Procfs);
    assert_eq!(p.argv, argv(&["/usr/sbin/sshd", "-D"]));
    // Its parent was not known either: no lineage invented.
    assert_eq!(p.spawned_by, None);
    // A fork by an unknown, unreadable parent.
    s.fork_event(800, 801);
    assert_eq!(s.tree.get(800).unwrap().source, InfoSource::EventOnly);
    assert_eq!(
        s.tree.get(801).unwrap().spawned_by.map(|k| k.pid),
        Some(800)
    );
    // An exit of a process never seen.
    s.exit_event(900, 900, 9);
    assert!(s.tree.get(900).unwrap().exit.is_some());
    assert!(s.tree.stats().unknown_processes >= 3);
    s.check();
}

#[test]
fn retention_by_time() {
    let cfg = TreeConfig {
        retain_exited_for: Duration::from_secs(1),
        ..TreeConfig::default()
    };
    let mut s = Sim::host(cfg);
    s.fork(100, 200);
    s.exit(200, 0);
    s.now += 500 * MS;
    s.ev(EventKind::Ack { err: 0 });
    assert!(s.tree.get(200).is_some());
    s.tree.expire(s.now + 600 * MS);
    assert!(s.tree.get(200).is_none());
    assert_eq!(s.tree.exited_count(), 0);
    assert_eq!(s.tree.stats().expired, 1);
    s.check();
}

#[test]
fn retention_by_count() {
    let cfg = TreeConfig {
        max_exited: 10,
        ..TreeConfig::default()
    };
    let mut s = Sim::host(cfg);
    for i in 0..100 {
        s.fork(100, 1000 + i);
        s.exit(1000 + i, 0);
        assert!(s.tree.exited_count() <= 10);
    }
    assert_eq!(s.tree.exited_count(), 10);
    // The newest are kept.
    assert!(s.tree.get(1099).is_some());
    assert!(s.tree.get(1089).is_none());
    s.check();
}

#[test]
fn exited_ancestors_of_live_processes_are_pinned() {
    let cfg = TreeConfig {
        retain_exited_for: Duration::from_secs(1),
        max_exited: 2,
        ..TreeConfig::default()
    };
    let mut s = Sim::host(cfg);
    s.fork(100, 200);
    s.exec(200, &["/bin/sh", "-c", "daemonize"]);
    s.fork(200, 300);
    s.exec(300, &["/bin/sh", "-c", "inner"]);
    s.fork(300, 400);
    s.exec(400, &["/usr/bin/daemon"]);
    s.exit(300, 0);
    s.exit(200, 0);
    // Lots of unrelated churn, and much time.
    for i in 0..50 {
        s.fork(100, 1000 + i);
        s.exit(1000 + i, 0);
    }
    s.tree.expire(s.now + 3600 * 1000 * MS);
    let anc = s.tree.ancestry(400);
    assert_eq!(Sim::pids(&anc), vec![300, 200, 100, 1]);
    assert_eq!(anc[1].argv, argv(&["/bin/sh", "-c", "daemonize"]));
    assert_eq!(s.tree.pinned_count(), 2);
    assert_eq!(s.tree.exited_count(), 2);
    s.check();
    // The daemon exits: it is retained for its window, its ancestors with it.
    s.exit(400, 9);
    assert_eq!(s.tree.ancestry(400).len(), 4);
    // After its window, the whole chain goes.
    s.tree.expire(s.now + 2000 * MS);
    assert!(s.tree.get(400).is_none());
    assert_eq!(s.tree.pinned_count(), 0);
    assert_eq!(s.tree.exited_count(), 0);
    assert_eq!(s.tree.iter().count(), 2);
    s.check();
}

#[test]
fn pinned_ancestors_are_capped() {
    let cfg = TreeConfig {
        retain_exited_for: Duration::from_millis(10),
        max_exited: 5,
        max_pinned: 20,
        ..TreeConfig::default()
    };
    let mut s = Sim::host(cfg);
    // A process that keeps re-forking itself and exiting: an ever longer
    // chain of exited ancestors above one live process.
    let mut cur = 100;
    for i in 0..500 {
        let next = 2000 + i;
        s.fork(cur, next);
        if cur != 100 {
            s.exit(cur, 0);
        }
        cur = next;
        s.check();
    }
    assert!(s.tree.pinned_count() <= 20);
    assert!(s.tree.stats().dropped_pinned > 0);
    let anc = s.tree.ancestry(cur);
    assert!(anc.len() <= 5 + 20 && !anc.is_empty());
    assert_eq!(anc[0].pid, cur - 1);
    assert!(s.tree.pinned_queue.len() <= 2 * 20 + 64);
}

#[test]
fn verify_live_closes_missing_processes() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.fork(100, 300);
    s.fake.remove(200);
    assert_eq!(s.tree.verify_live(), 1);
    assert!(s.tree.get(200).unwrap().vanished);
    assert!(s.tree.get(300).unwrap().is_alive());
    s.check();
}

/// A synthetic storm of 1M fork/exit pairs with pids wrapping around a
/// small pid space: memory (entries, queues, maps) stays bounded.
#[test]
fn fork_storm_memory_is_bounded() {
    let cfg = TreeConfig {
        retain_exited_for: Duration::from_secs(10),
        max_exited: 1000,
        max_pinned: 1000,
        ..TreeConfig::default()
    };
    let mut s = Sim::host(cfg);
    let mut max_entries = 0;
    for i in 0..1_000_000u32 {
        let pid = 1000 + (i % 30_000) as Pid;
        // Unreadable children (the listener is behind): no fake inserts,
        // which also keeps this fast in debug builds.
        s.fork_event(100, pid);
        if i % 3 == 0 {
            s.thread(pid, pid + 40_000);
        }
        s.exit_event(pid, pid, 0);
        if i % 3 == 0 {
            s.exit_event(pid + 40_000, pid, 0);
        }
        if i % 4096 == 0 {
            max_entries = max_entries.max(s.tree.entries.len());
            assert!(s.tree.exit_queue.len() <= 1000);
        }
    }
    assert!(max_entries <= 2 + 1000, "{max_entries}");
    assert_eq!(s.tree.live_count(), 2);
    assert_eq!(s.tree.exited_count(), 1000);
    assert!(s.tree.by_pid.len() <= 1002);
    assert_eq!(s.tree.thread_count(), 0);
    assert_eq!(s.tree.stats().vanished, 0);
    eprintln!(
        "storm: {} events, max {} entries",
        s.tree.stats().events,
        max_entries
    );
}

#[test]
fn old_exit_overtaken_by_the_fork_that_reuses_its_pid() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    s.exec(200, &["/bin/old"]);
    let old = s.tree.get(200).unwrap().key;
    // The old 200 exits at t1 (on CPU 1), is reaped, pid 200 is reused by
    // a fork at t2 > t1 (on CPU 0), and CPU 0's event is read first.
    let t1 = s.now + MS;
    s.now += 2 * MS;
    s.fake.remove(200);
    s.fork(100, 200);
    assert!(s.tree.get_key(old).unwrap().vanished);
    s.tree.apply(&ProcEvent {
        seq: 7,
        cpu: 1,
        timestamp_ns: t1,
        kind: EventKind::Exit {
            process_pid: 200,
            process_tgid: 200,
            exit_code: 9,
            status: ExitStatus::from_wait_status(9),
            exit_signal: 17,
            // Already reaped when the event was built: the kernel sends 0/0.
            parent_pid: Some(0),
            parent_tgid: Some(0),
        },
    });
    let o = s.tree.get_key(old).unwrap();
    assert!(!o.vanished);
    assert_eq!(o.exit.unwrap().status.signal(), Some(9));
    assert_eq!(o.ppid, 100);
    assert!(s.tree.get(200).unwrap().is_alive());
    assert_eq!(s.tree.stats().vanished, 0);
    s.check();
}

#[test]
fn zombie_at_scan_time_is_not_live() {
    let mut s = Sim::new(TreeConfig::default());
    s.put(snap(1, 0, 0, &["/sbin/init"]));
    let mut z = snap(60, 1, 5 * MS, &[]);
    z.state = b'Z';
    s.put(z);
    assert_eq!(s.tree.seed_from_proc().unwrap(), 2);
    assert_eq!(s.tree.live_count(), 1);
    assert!(s.tree.get(60).unwrap().vanished);
    s.check();
}

/// Replays the `tree_events` fuzz corpus (stable CI runs it).
#[test]
fn fuzz_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tree_events");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = fuzz_events(&data) {
            panic!("{}: {e}", path.display());
        }
        n += 1;
    }
    assert!(n > 0, "empty corpus {}", dir.display());
}

#[test]
fn stale_thread_ids_are_compacted() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    // Threads that exec (their tid vanishes without an exit event).
    for i in 0..20_000 {
        s.thread(200, 10_000 + i);
        s.ev(EventKind::Exec {
            process_pid: 200,
            process_tgid: 200,
        });
        assert!(s.tree.thread_count() <= 2 * 4096 + 8);
    }
    s.thread(200, 9_999);
    assert_eq!(s.tree.tgid_of(9_999), Some(200));
    s.check();
}

#[test]
fn no_read_after_fork_is_an_inherited_copy() {
    let mut s = Sim::host(TreeConfig {
        read_after_fork: false,
        ..TreeConfig::default()
    });
    s.put(snap(200, 100, s.now + MS, &["/bin/bash", "-l"]));
    let reads = s.fake.reads();
    s.fork_event(100, 200);
    assert_eq!(s.fake.reads(), reads);
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.source, InfoSource::Inherited);
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
    s.exec(200, &["/bin/true"]);
    assert_eq!(s.tree.get(200).unwrap().source, InfoSource::Procfs);
    s.check();
}

#[test]
fn no_read_after_fork_rejects_an_exec_read_of_a_reused_pid() {
    let mut s = Sim::host(TreeConfig {
        read_after_fork: false,
        ..TreeConfig::default()
    });
    s.fork_event(100, 200);
    // /proc/200 is already another process, started 100 ms after the fork
    // (within START_TOLERANCE_NS, far outside a tick): the pid was reused.
    s.put(snap(200, 300, s.now + 100 * MS, &["/usr/bin/other"]));
    s.ev(EventKind::Exec {
        process_pid: 200,
        process_tgid: 200,
    });
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.source, InfoSource::Inherited);
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
    // The same process (its start within a tick of the fork) is taken.
    s.fork_event(100, 201);
    s.put(snap(201, 100, s.now - 3 * MS, &["/bin/true"]));
    s.ev(EventKind::Exec {
        process_pid: 201,
        process_tgid: 201,
    });
    let c = s.tree.get(201).unwrap();
    assert_eq!(c.source, InfoSource::Procfs);
    assert_eq!(c.argv, argv(&["/bin/true"]));
    s.check();
}

/// After lost events, `verify_live` closes a forked, never-read process
/// whose pid another process took 100 ms later (the wide tolerance is for
/// starts read from `/proc`, not for the fork event's exact one).
#[test]
fn no_read_after_fork_verify_live_closes_a_reused_pid() {
    let mut s = Sim::host(TreeConfig {
        read_after_fork: false,
        ..TreeConfig::default()
    });
    s.fork_event(100, 200);
    s.put(snap(200, 300, s.now + 100 * MS, &["/usr/bin/other"]));
    s.fork_event(100, 201);
    s.put(snap(201, 100, s.now - 3 * MS, &["/bin/bash", "-l"]));
    assert_eq!(s.tree.verify_live(), 1);
    assert!(s.tree.get(200).is_none_or(|p| p.vanished));
    assert!(s.tree.get(201).is_some_and(|p| p.is_alive()));
    s.check();
}

/// Exec reads without ids (the watcher's setting) leave them to the
/// connector's id events; after lost events, `verify_live` reads them: a
/// `setuid` whose event was lost does not leave the parent's uid behind.
#[test]
fn verify_live_rereads_ids_the_exec_reads_leave_to_events() {
    let mut s = Sim::host(TreeConfig {
        read_after_fork: false,
        exec_fields: Fields::EXE | Fields::CMDLINE | Fields::CWD,
        ..TreeConfig::default()
    });
    s.fork(100, 200);
    s.exec(200, &["/usr/bin/setpriv"]);
    assert_eq!(s.tree.get(200).unwrap().uid, Some(1000), "inherited");
    // It called setuid(65534); that event was lost.
    s.fake.update(200, |p| {
        p.snapshot.uid = Some(65534);
        p.snapshot.euid = Some(65534);
    });
    s.exec(200, &["/opt/jobs/guard.sh"]);
    assert_eq!(s.tree.get(200).unwrap().uid, Some(1000), "not read at exec");
    assert_eq!(s.tree.verify_live(), 0);
    let c = s.tree.get(200).unwrap();
    assert_eq!((c.uid, c.euid), (Some(65534), Some(65534)));
    s.check();
}

#[test]
fn exec_whose_exit_follows_in_the_batch_reads_only_stat() {
    let mut s = Sim::host(TreeConfig::default());
    s.fork(100, 200);
    // Exited already (a zombie: no argv, exe or cwd any more).
    s.fake.update(200, |p| {
        p.snapshot.state = b'Z';
        p.snapshot.argv = Some(Vec::new());
        p.snapshot.exe = None;
        p.snapshot.comm = b"true".to_vec();
    });
    s.tree.expect_exits([200]);
    let reads = s.fake.reads();
    s.ev(EventKind::Exec {
        process_pid: 200,
        process_tgid: 200,
    });
    assert_eq!(s.fake.reads(), reads + 1);
    let c = s.tree.get(200).unwrap();
    assert_eq!(c.source, InfoSource::Inherited);
    assert_eq!(c.comm, b"true");
    assert_eq!(c.argv, argv(&["/bin/bash", "-l"]));
    // Announced, but alive when read (the exit was of an earlier holder
    // of the pid): read in full.
    s.fork(100, 300);
    s.tree.expect_exits([300]);
    s.exec(300, &["/usr/bin/env"]);
    let c = s.tree.get(300).unwrap();
    assert_eq!(c.source, InfoSource::Procfs);
    assert_eq!(c.argv, argv(&["/usr/bin/env"]));
    // An exit applied takes the pid off the list.
    s.fork(100, 400);
    s.tree.expect_exits([400]);
    s.exit(400, 0);
    s.fork(100, 400);
    let reads = s.fake.reads();
    s.exec(400, &["/bin/true"]);
    assert_eq!(s.fake.reads(), reads + 1);
    assert_eq!(s.argv_of(400), argv(&["/bin/true"]));
    s.check();
}

#[test]
fn long_argv_is_cut_and_flagged() {
    let mut s = Sim::host(TreeConfig {
        max_argv_bytes: 10,
        ..TreeConfig::default()
    });
    s.fork(100, 200);
    s.exec(200, &["/bin/echo", "0123456789"]);
    let p = s.tree.get(200).unwrap();
    assert_eq!(p.argv, argv(&["/bin/echo", "0"]));
    assert!(p.argv_truncated);
    s.exec(200, &["/bin/ls"]);
    let p = s.tree.get(200).unwrap();
    assert_eq!(p.argv, argv(&["/bin/ls"]));
    assert!(!p.argv_truncated);
    // The reader's own limit is reported too.
    s.fake.update(200, |p| p.snapshot.argv_truncated = true);
    s.exec(200, &["/bin/ls"]);
    assert!(s.tree.get(200).unwrap().argv_truncated);
}

#[test]
fn a_fork_keeps_the_pid_namespace_but_not_the_pid_in_it() {
    let mut s = Sim::new(TreeConfig::default());
    s.put(snap(1, 0, 0, &["/sbin/init"]));
    let mut host = snap(100, 1, 500 * MS, &["sh"]);
    host.ns_pid = Some(100);
    s.put(host);
    let mut nested = snap(200, 1, 600 * MS, &["init"]);
    nested.ns_pid = Some(1);
    nested.pid_ns = Some(4_026_532_180);
    s.put(nested);
    s.tree.seed_from_proc().unwrap();
    s.fork(100, 101);
    s.fork(200, 201);
    let c = s.tree.get(101).unwrap();
    assert_eq!((c.ns_pid, c.pid_ns), (Some(101), None));
    let c = s.tree.get(201).unwrap();
    assert_eq!((c.ns_pid, c.pid_ns), (None, Some(4_026_532_180)));
}

/// Exited processes with long command lines are bounded in bytes, not
/// only in number: the oldest go first, and a live process's ancestors
/// outlast the others.
#[test]
fn retained_exited_processes_are_bounded_in_bytes() {
    let long = "x".repeat(4000);
    let mut s = Sim::host(
        TreeConfig::default()
            .max_argv_bytes(4096)
            .max_retained_bytes(64 * 1024),
    );
    // A launcher (200) whose child (201) stays alive: 200 is an ancestor.
    s.fork(100, 200);
    s.exec(200, &["/usr/bin/launcher"]);
    s.fork(200, 201);
    s.exec(201, &["/usr/bin/daemon"]);
    s.exit(200, 0);
    for pid in 1000..1200 {
        s.fork(100, pid);
        s.exec(pid, &["/usr/bin/tool", &long]);
        s.exit(pid, 0);
        s.tree.check_consistency().unwrap();
        assert!(
            s.tree.retained_bytes() <= 64 * 1024,
            "{} bytes retained after pid {pid}",
            s.tree.retained_bytes()
        );
    }
    let st = s.tree.stats();
    assert!(st.evicted_for_memory > 150, "{st:?}");
    assert!(s.tree.exited_count() < 20, "{}", s.tree.exited_count());
    // The newest are kept, the oldest went.
    assert!(s.tree.get(1199).is_some());
    assert!(s.tree.get(1000).is_none());
    // The live daemon's exited launcher is still its ancestor.
    let chain: Vec<Pid> = s.tree.ancestry(201).iter().map(|p| p.pid).collect();
    assert_eq!(chain.first(), Some(&200), "{chain:?}");
}

/// A shell that moved itself to another cgroup (no process event): a
/// refresh reads where it is now, live or exited-not-reaped; a pid that
/// names another process by now is not read into the old one.
#[test]
fn refresh_cgroup_reads_a_move_without_an_event() {
    let mut s = Sim::host(TreeConfig::default());
    s.fake
        .update(100, |p| p.snapshot.cgroup = Some("/moved".into()));
    assert_eq!(
        s.tree.get(100).unwrap().cgroup.as_deref(),
        Some("/user.slice")
    );
    assert!(s.tree.refresh_cgroup(100));
    assert_eq!(s.tree.get(100).unwrap().cgroup.as_deref(), Some("/moved"));
    s.check();
    // Exited and retained (its zombie still readable): refreshed too, and
    // the memory budget follows the longer string.
    s.exit_event(100, 100, 9);
    s.fake.update(100, |p| {
        p.snapshot.cgroup = Some("/moved/deeper/still".into())
    });
    assert!(s.tree.refresh_cgroup(100));
    assert_eq!(
        s.tree.get(100).unwrap().cgroup.as_deref(),
        Some("/moved/deeper/still")
    );
    s.check();
    // The pid now names a newer process: nothing read into the old one.
    s.fake.update(100, |p| {
        p.snapshot.start_time_ns += 5_000 * MS;
        p.snapshot.start_ticks = p.snapshot.start_time_ns / (10 * MS);
        p.snapshot.cgroup = Some("/someone-else".into());
    });
    assert!(!s.tree.refresh_cgroup(100));
    assert_eq!(
        s.tree.get(100).unwrap().cgroup.as_deref(),
        Some("/moved/deeper/still")
    );
    // Unknown pid.
    assert!(!s.tree.refresh_cgroup(4242));
    s.check();
}
