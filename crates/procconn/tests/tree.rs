//! Real-kernel tests of the `ProcessTree` fed by a live proc connector
//! (root; skipped with a printed reason otherwise). Every assertion is about
//! processes these tests started; the rest of the host only adds noise.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use procconn::{Config, InfoSource, Pid, ProcConnector, ProcessInfo, ProcessTree, TreeConfig};

const WAIT: Duration = Duration::from_secs(15);

/// A subscribed connector and a seeded tree, or `None` with the reason
/// printed (not root, or the kernel refuses).
fn setup(test: &str, config: TreeConfig) -> Option<(ProcConnector, ProcessTree)> {
    if !common::require_proc_connector(test) {
        return None;
    }
    // Subscribe first, then scan: nothing falls between the two. Where
    // the probe found the proc connector, a failing open is a failure.
    let conn =
        ProcConnector::open(&Config::default().recv_buffer(Some(8 << 20))).unwrap_or_else(|e| {
            panic!("{test}: the probe found the proc connector, but open failed: {e}")
        });
    let mut tree = ProcessTree::new(config);
    let n = tree.seed_from_proc().unwrap();
    assert!(n > 0, "seeding found no process");
    Some((conn, tree))
}

/// Applies events until `done(tree)` or the timeout; returns whether done.
fn pump(
    conn: &mut ProcConnector,
    tree: &mut ProcessTree,
    timeout: Duration,
    mut done: impl FnMut(&ProcessTree) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut batch = Vec::new();
    loop {
        if done(tree) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        batch.clear();
        conn.recv_events(&mut batch, Some(left.min(Duration::from_millis(100))))
            .unwrap();
        for ev in &batch {
            tree.apply(ev);
        }
    }
}

/// Waits for `child` while applying events, so that `/proc` is read while
/// the processes live (as a real listener does); then applies events until
/// the tree has seen its exit.
fn wait_pumping(
    conn: &mut ProcConnector,
    tree: &mut ProcessTree,
    child: &mut std::process::Child,
) -> std::process::ExitStatus {
    let pid = child.id() as Pid;
    let deadline = Instant::now() + WAIT;
    let status = loop {
        pump(conn, tree, Duration::from_millis(20), |_| false);
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "child {pid} did not finish");
    };
    assert!(
        pump(conn, tree, WAIT, |t| t
            .get(pid)
            .is_some_and(|p| p.exit.is_some())),
        "exit of {pid} not seen"
    );
    status
}

fn has_arg(p: &ProcessInfo, needle: &str) -> bool {
    p.argv.iter().any(|a| a == needle.as_bytes())
}

fn find_live<'a>(tree: &'a ProcessTree, needle: &str) -> Option<&'a ProcessInfo> {
    tree.iter().find(|p| p.is_alive() && has_arg(p, needle))
}

fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

fn marker(tag: &str) -> String {
    format!(
        "procconn-tree-{tag}-{}-{}",
        std::process::id(),
        monotonic_ns() % 1_000_000
    )
}

/// Kills and reaps a process we started (by pid, through the tree).
fn kill_ours(pid: Pid) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
}

#[test]
fn ancestry_of_grandchild_after_parent_and_grandparent_exited() {
    let Some((mut conn, mut tree)) = setup(
        "ancestry_of_grandchild_after_parent_and_grandparent_exited",
        TreeConfig::default(),
    ) else {
        return;
    };
    let outer = marker("outer");
    let inner = marker("inner");
    // A sleep duration no other process uses: the grandchild's marker.
    let nap = format!("30.{}", monotonic_ns() % 1_000_000_000);
    // me → sh (outer) → sh (inner) → sleep; both shells exit soon. They
    // live 0.3 s so that their argv can be read while the listener keeps up
    // (a process that is gone before its exec event is read keeps its
    // parent's argv: tested with the fake source).
    let script_inner = format!("sleep {nap} & sleep 0.3; exit 0");
    let script_outer = format!("sh -c '{script_inner}' {inner} & sleep 0.3; exit 0");
    let mut child = Command::new("/bin/sh")
        .args(["-c", &script_outer, &outer])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let outer_pid = child.id() as Pid;
    assert!(wait_pumping(&mut conn, &mut tree, &mut child).success());

    let ok = pump(&mut conn, &mut tree, WAIT, |t| {
        let Some(sleep) = find_live(t, &nap) else {
            return false;
        };
        let anc = t.ancestry(sleep.pid);
        anc.len() >= 2 && anc[0].exit.is_some() && anc[1].exit.is_some()
    });
    let sleep_pid = find_live(&tree, &nap).map(|p| p.pid);
    if let Some(pid) = sleep_pid {
        kill_ours(pid);
    }
    assert!(ok, "did not see the chain; loss: {:?}", conn.loss());
    let sleep = tree.get(sleep_pid.unwrap()).unwrap();
    let anc = tree.ancestry(sleep.pid);
    for p in &anc {
        eprintln!(
            "  {} {:?} {:?} exit={:?} src={:?}",
            p.pid,
            String::from_utf8_lossy(&p.comm),
            p.argv
                .iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>(),
            p.exit,
            p.source
        );
    }
    assert_eq!(sleep.argv[0], b"sleep");
    assert_eq!(sleep.source, InfoSource::Procfs);
    assert!(has_arg(anc[0], &inner), "parent argv {:?}", anc[0].argv);
    assert!(anc[0].exit.is_some());
    assert_eq!(anc[1].pid, outer_pid);
    assert!(
        has_arg(anc[1], &outer),
        "grandparent argv {:?}",
        anc[1].argv
    );
    assert_eq!(anc[1].exit.unwrap().status, procconn::ExitStatus::Exited(0));
    assert_eq!(anc[2].pid, std::process::id() as Pid);
    assert!(anc[2].is_alive());
    assert_eq!(anc.last().unwrap().pid, 1);
    // The orphan was re-parented (no event says so: its `ppid` is the last
    // one read); its lineage is kept.
    assert_eq!(sleep.spawned_by, Some(anc[0].key));
    assert!(sleep.exe.as_ref().is_some_and(|e| e.ends_with("sleep")));
    assert!(sleep.cwd.is_some() && sleep.uid == Some(0));
}

/// Forces the reuse of a pid through `/proc/sys/kernel/ns_last_pid`
/// (retrying when another process on the host takes it first).
#[test]
fn pid_reuse_gives_two_processes() {
    let Some((mut conn, mut tree)) = setup("pid_reuse_gives_two_processes", TreeConfig::default())
    else {
        return;
    };
    if std::fs::metadata("/proc/sys/kernel/ns_last_pid").is_err() {
        sigwatch_test_support::skip(
            "pid_reuse_gives_two_processes",
            sigwatch_test_support::Need::Kernel("ns_last_pid".into()),
            "no /proc/sys/kernel/ns_last_pid",
        );
        return;
    }
    let first = marker("first");
    let mut a = Command::new("/bin/sh")
        .args(["-c", "sleep 0.2; exit 7", &first])
        .spawn()
        .unwrap();
    let pid = a.id() as Pid;
    assert_eq!(wait_pumping(&mut conn, &mut tree, &mut a).code(), Some(7));
    let second = marker("second");
    let mut b = None;
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let mut c = Command::new("/bin/sh")
            .args(["-c", "read x", &second])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        if c.id() as Pid == pid {
            b = Some(c);
            break;
        }
        drop(c.stdin.take());
        c.wait().unwrap();
    }
    let Some(mut b) = b else {
        sigwatch_test_support::skip(
            "pid_reuse_gives_two_processes",
            sigwatch_test_support::Need::Host("busy pid space".into()),
            format!("could not get pid {pid} back in 50 tries"),
        );
        return;
    };
    let ok = pump(&mut conn, &mut tree, WAIT, |t| {
        t.get(pid)
            .is_some_and(|p| p.is_alive() && has_arg(p, &second))
    });
    drop(b.stdin.take());
    b.wait().unwrap();
    assert!(ok, "second process not seen");
    let now = tree.get(pid).unwrap().clone();
    let old = tree
        .iter()
        .find(|p| p.pid == pid && has_arg(p, &first))
        .expect("first process retained")
        .clone();
    assert_ne!(old.key, now.key);
    assert!(old.key.start_time < now.key.start_time);
    assert_eq!(old.exit.unwrap().status, procconn::ExitStatus::Exited(7));
    assert!(!old.vanished);
    assert!(now.exit.is_none());
    assert_eq!(tree.get_key(old.key).unwrap().argv, old.argv);
    // And once the second one exits, both are retained, separately.
    assert!(pump(&mut conn, &mut tree, WAIT, |t| t
        .get(pid)
        .is_some_and(|p| p.exit.is_some())));
    assert_eq!(tree.iter().filter(|p| p.pid == pid).count(), 2);
}

#[test]
fn retention_bounds_hold_on_the_real_stream() {
    let config = TreeConfig::default()
        .retain_exited_for(Duration::from_millis(300))
        .max_exited(20);
    let Some((mut conn, mut tree)) = setup("retention_bounds_hold_on_the_real_stream", config)
    else {
        return;
    };
    let me = std::process::id() as Pid;
    let mut pids = Vec::new();
    for _ in 0..100 {
        let mut c = Command::new("/bin/true").spawn().unwrap();
        pids.push(c.id() as Pid);
        c.wait().unwrap();
    }
    let ours = |t: &ProcessTree, pid: Pid| {
        t.get(pid)
            .is_some_and(|p| p.exit.is_some() && p.spawned_by.is_some_and(|k| k.pid == me))
    };
    let last = *pids.last().unwrap();
    let mut max_exited = 0;
    let ok = pump(&mut conn, &mut tree, WAIT, |t| {
        max_exited = max_exited.max(t.exited_count() - t.pinned_count());
        ours(t, last)
    });
    assert!(ok, "last child's exit not seen; loss {:?}", conn.loss());
    assert!(max_exited <= 20, "{max_exited} exited retained");
    // The newest exits are the ones kept.
    let kept: Vec<usize> = (0..pids.len()).filter(|&i| ours(&tree, pids[i])).collect();
    eprintln!("kept: {kept:?}");
    assert!(!kept.is_empty() && kept.len() <= 20, "{kept:?}");
    assert!(kept.iter().all(|&i| i >= 80), "{kept:?}");
    // Time bound: once the window has passed, none of ours is left
    // (`expire` takes the time: a moment 400 ms from now, past the
    // 300 ms window of every exit seen so far, without sleeping).
    tree.expire(monotonic_ns() + 400_000_000);
    assert!(pids.iter().all(|&p| !ours(&tree, p)));
    assert!(tree.exited_count() - tree.pinned_count() <= 20);
    // The live part matches /proc (the host is busy: allow some drift).
    let real = std::fs::read_dir("/proc")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        })
        .count();
    let live = tree.live_count();
    eprintln!("tree live {live}, /proc {real}, stats {:?}", tree.stats());
    assert!(
        live.abs_diff(real) <= 10 + real / 10,
        "tree {live} vs /proc {real}"
    );
}

#[test]
fn killed_before_exec_is_a_copy_of_its_parent() {
    let Some((mut conn, mut tree)) = setup(
        "killed_before_exec_is_a_copy_of_its_parent",
        TreeConfig::default(),
    ) else {
        return;
    };
    let me = std::process::id() as Pid;
    let my_argv: Vec<Vec<u8>> = std::env::args_os()
        .map(|a| a.into_encoded_bytes())
        .collect();
    // SAFETY: the child only calls async-signal-safe functions (pause,
    // _exit) before it is killed.
    let child = match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => loop {
            nix::unistd::pause();
        },
        nix::unistd::ForkResult::Parent { child } => child,
    };
    let pid = child.as_raw();
    assert!(pump(&mut conn, &mut tree, WAIT, |t| t.get(pid).is_some()));
    nix::sys::signal::kill(child, nix::sys::signal::SIGKILL).unwrap();
    nix::sys::wait::waitpid(child, None).unwrap();
    assert!(pump(&mut conn, &mut tree, WAIT, |t| t
        .get(pid)
        .is_some_and(|p| p.exit.is_some())));
    let p = tree.get(pid).unwrap();
    assert_eq!(p.exit.unwrap().status.signal(), Some(9));
    assert_eq!(p.exec_count, 0);
    assert_eq!(p.argv, my_argv);
    assert_eq!(p.spawned_by.map(|k| k.pid), Some(me));
    assert_eq!(p.exe, tree.get(me).unwrap().exe);
}

#[test]
fn threads_map_to_their_process() {
    let Some((mut conn, mut tree)) = setup("threads_map_to_their_process", TreeConfig::default())
    else {
        return;
    };
    let me = std::process::id() as Pid;
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        tx.send(nix::unistd::gettid().as_raw()).unwrap();
        let _ = done_rx.recv();
    });
    let tid: Pid = rx.recv().unwrap();
    assert!(pump(&mut conn, &mut tree, WAIT, |t| t.tgid_of(tid) == Some(me)));
    assert_eq!(tree.get(tid).unwrap().pid, me);
    let live_before = tree.get(me).unwrap().key;
    done_tx.send(()).unwrap();
    h.join().unwrap();
    assert!(pump(&mut conn, &mut tree, WAIT, |t| t
        .tgid_of(tid)
        .is_none()));
    // A thread's exit is not ours.
    let p = tree.get(me).unwrap();
    assert!(p.is_alive());
    assert_eq!(p.key, live_before);
}

/// Not a test by itself: the multi-threaded process that
/// `sigkill_of_a_multithreaded_process_ends_it_once` starts (this test
/// binary re-executed with `PROCCONN_MT_HELPER` set).
#[test]
#[ignore = "helper process for sigkill_of_a_multithreaded_process_ends_it_once"]
fn mt_helper_process() {
    if std::env::var_os("PROCCONN_MT_HELPER").is_none() {
        return;
    }
    for _ in 0..4 {
        std::thread::spawn(|| std::thread::sleep(Duration::from_secs(60)));
    }
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn sigkill_of_a_multithreaded_process_ends_it_once() {
    use std::io::BufRead;
    let Some((mut conn, mut tree)) = setup(
        "sigkill_of_a_multithreaded_process_ends_it_once",
        TreeConfig::default(),
    ) else {
        return;
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "mt_helper_process", "--ignored", "--nocapture"])
        .env("PROCCONN_MT_HELPER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as Pid;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
    }
    let tids: Vec<Pid> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&t| t != pid)
        .collect();
    assert!(tids.len() >= 4, "threads {tids:?}");
    let all_known = pump(&mut conn, &mut tree, WAIT, |t| {
        tids.iter().all(|&tid| t.tgid_of(tid) == Some(pid))
    });
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert!(all_known, "threads not mapped");
    assert!(
        pump(&mut conn, &mut tree, WAIT, |t| t
            .get(pid)
            .is_some_and(|p| p.exit.is_some())),
        "exit not seen"
    );
    // Let the other threads' exit events arrive too.
    pump(&mut conn, &mut tree, Duration::from_millis(300), |_| false);
    let p = tree.get(pid).unwrap();
    assert_eq!(p.exit.unwrap().status.signal(), Some(9));
    assert!(!p.vanished);
    for tid in &tids {
        assert_ne!(tree.tgid_of(*tid), Some(pid), "thread {tid} still mapped");
    }
    assert_eq!(
        tree.iter()
            .filter(|q| q.pid == pid && q.exit.is_some())
            .count(),
        1
    );
}
