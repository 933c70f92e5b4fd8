//! Real-kernel tests of the proc connector (root; skipped with a printed
//! reason otherwise). Other processes on the host generate events too, so
//! every assertion is about pids these tests started.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid as NixPid;
use procconn::event::what;
use procconn::{Config, EventKind, ExitStatus, Pid, ProcEvent, Subscription};

const WAIT: Duration = Duration::from_secs(10);

fn about(ev: &ProcEvent, tgid: Pid) -> bool {
    match ev.kind {
        EventKind::Fork { child_tgid, .. } => child_tgid == tgid,
        _ => ev.kind.subject().is_some_and(|(_, t)| t == tgid),
    }
}

fn is_exit_of(ev: &ProcEvent, pid: Pid) -> bool {
    matches!(ev.kind, EventKind::Exit { process_pid, .. } if process_pid == pid)
}

#[test]
fn fork_exec_exit_of_a_child() {
    let Some(mut conn) = common::connector("fork_exec_exit_of_a_child", &Config::default()) else {
        return;
    };
    assert_eq!(conn.subscription(), Some(Subscription::All));
    let me = std::process::id() as Pid;
    // The child's real parent is the thread that forks it: this one.
    let my_tid = nix::unistd::gettid().as_raw();
    let mut child = Command::new("/bin/sh")
        .args(["-c", "exit 3"])
        .spawn()
        .unwrap();
    let pid = child.id() as Pid;
    let events = common::collect(
        &mut conn,
        WAIT,
        |ev| about(ev, pid),
        |evs| evs.iter().any(|e| is_exit_of(e, pid)),
    );
    assert_eq!(child.wait().unwrap().code(), Some(3));
    eprintln!("events of {pid}: {events:#?}");

    let fork = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Fork { .. }))
        .expect("fork event");
    assert_eq!(
        fork.kind,
        EventKind::Fork {
            parent_pid: my_tid,
            parent_tgid: me,
            child_pid: pid,
            child_tgid: pid,
        }
    );
    let exec = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Exec { .. }))
        .expect("exec event");
    assert_eq!(
        exec.kind,
        EventKind::Exec {
            process_pid: pid,
            process_tgid: pid
        }
    );
    let exit = events.iter().find(|e| is_exit_of(e, pid)).expect("exit");
    let EventKind::Exit {
        process_tgid,
        exit_code,
        status,
        exit_signal,
        parent_tgid,
        ..
    } = exit.kind
    else {
        unreachable!()
    };
    assert_eq!(process_tgid, pid);
    assert_eq!(status, ExitStatus::Exited(3));
    assert_eq!(exit_code, 3 << 8);
    assert_eq!(exit_signal, libc::SIGCHLD as u32);
    if let Some(p) = parent_tgid {
        assert_eq!(p, me, "exit names the parent");
    }
    // The kernel timestamps are monotonic across the three.
    assert!(fork.timestamp_ns <= exec.timestamp_ns);
    assert!(exec.timestamp_ns <= exit.timestamp_ns);
    eprintln!("loss: {}", conn.loss());
}

#[test]
fn sigkilled_child_has_signal_9() {
    let Some(mut conn) = common::connector("sigkilled_child_has_signal_9", &Config::default())
    else {
        return;
    };
    let mut child = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = child.id() as Pid;
    // Kill it once it runs `sleep` (after its exec), like a real victim.
    let before = common::collect(
        &mut conn,
        WAIT,
        |ev| about(ev, pid),
        |evs| evs.iter().any(|e| matches!(e.kind, EventKind::Exec { .. })),
    );
    assert!(
        before
            .iter()
            .any(|e| matches!(e.kind, EventKind::Exec { .. })),
        "no exec event for {pid}"
    );
    child.kill().unwrap(); // SIGKILL
    let events = common::collect(
        &mut conn,
        WAIT,
        |ev| is_exit_of(ev, pid),
        |evs| !evs.is_empty(),
    );
    let _ = child.wait();
    let exit = events.first().expect("exit event of the killed child");
    match exit.kind {
        EventKind::Exit {
            exit_code, status, ..
        } => {
            assert_eq!(exit_code & 0x7f, 9);
            assert_eq!(status.signal(), Some(9));
            assert_eq!(
                status,
                ExitStatus::Signaled {
                    signal: 9,
                    core_dumped: false
                }
            );
        }
        _ => unreachable!(),
    }
}

#[test]
fn process_killed_before_exec() {
    let Some(mut conn) = common::connector("process_killed_before_exec", &Config::default()) else {
        return;
    };
    // The background subshell is a fork of `sh` that never execs (a loop
    // of builtins); the shell prints its pid and waits for it.
    let mut sh = Command::new("/bin/sh")
        .args(["-c", "(while :; do :; done) & echo $!; wait"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let sh_pid = sh.id() as Pid;
    let mut line = String::new();
    BufReader::new(sh.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sub: Pid = line.trim().parse().unwrap();
    kill(NixPid::from_raw(sub), Signal::SIGKILL).unwrap();
    let events = common::collect(
        &mut conn,
        WAIT,
        |ev| about(ev, sub),
        |evs| evs.iter().any(|e| is_exit_of(e, sub)),
    );
    let _ = sh.wait();
    eprintln!("events of {sub}: {events:#?}");
    assert!(
        events.iter().any(|e| matches!(
            e.kind,
            EventKind::Fork { parent_tgid, child_pid, child_tgid, .. }
                if parent_tgid == sh_pid && child_pid == sub && child_tgid == sub
        )),
        "fork of {sub} by {sh_pid}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Exec { .. })),
        "{sub} never exec'd"
    );
    let exit = events.iter().find(|e| is_exit_of(e, sub)).expect("exit");
    assert!(matches!(
        exit.kind,
        EventKind::Exit { status: ExitStatus::Signaled { signal: 9, .. }, parent_tgid, .. }
            if parent_tgid.is_none_or(|p| p == sh_pid)
    ));
}

#[test]
fn thread_creation_and_exit() {
    let Some(mut conn) = common::connector("thread_creation_and_exit", &Config::default()) else {
        return;
    };
    let me = std::process::id() as Pid;
    let tid = std::thread::spawn(|| nix::unistd::gettid().as_raw())
        .join()
        .unwrap();
    assert_ne!(tid, me);
    let events = common::collect(
        &mut conn,
        WAIT,
        |ev| match ev.kind {
            EventKind::Fork { child_pid, .. } => child_pid == tid,
            _ => ev.kind.subject().is_some_and(|(p, _)| p == tid),
        },
        |evs| evs.iter().any(|e| is_exit_of(e, tid)),
    );
    eprintln!("events of thread {tid}: {events:#?}");
    let fork = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Fork { .. }))
        .expect("fork event of the thread");
    let EventKind::Fork {
        parent_tgid,
        child_pid,
        child_tgid,
        ..
    } = fork.kind
    else {
        unreachable!()
    };
    assert_eq!((child_pid, child_tgid), (tid, me));
    // For a thread the "parent" is the process's real parent.
    assert_eq!(parent_tgid, nix::unistd::getppid().as_raw());
    let exit = events.iter().find(|e| is_exit_of(e, tid)).expect("exit");
    let EventKind::Exit {
        process_tgid,
        exit_signal,
        status,
        parent_pid,
        parent_tgid,
        ..
    } = exit.kind
    else {
        unreachable!()
    };
    assert_eq!(process_tgid, me);
    assert_eq!(exit_signal, u32::MAX, "threads exit with exit_signal -1");
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!((parent_pid.unwrap_or(0), parent_tgid.unwrap_or(0)), (0, 0));
}

/// The kernel builds one message per event and sends it to every socket
/// of the group: an exec, or a non-zero exit, has the same `cpu`, `seq`
/// (the per-CPU sequence number) and timestamp in a socket filtered in
/// the kernel to those as in an unfiltered one, and `(cpu, seq)` names
/// one event. sigwatch's doorbell (a filtered socket that wakes the
/// reader of an unfiltered one) matches the two copies on it.
#[test]
fn kernel_filtered_copy_has_the_same_cpu_and_seq() {
    let test = "kernel_filtered_copy_has_the_same_cpu_and_seq";
    if !common::require_proc_connector(test) {
        return;
    }
    if !sigwatch_test_support::probe::proc_connector_filter() {
        sigwatch_test_support::skip(
            test,
            sigwatch_test_support::Need::Kernel("no proc connector filter (Linux < 6.6)".into()),
            "needs the kernel's subscription filter",
        );
        return;
    }
    // As sigwatch's doorbell: execs and non-zero exits. Room for a busy
    // host's events while the children run.
    let mask = what::EXEC | what::NONZERO_EXIT;
    let bell_cfg = Config::default()
        .filter(Some(mask))
        .recv_buffer(Some(1 << 20))
        .nonblocking(true);
    let mut bell = common::connector(test, &bell_cfg).unwrap();
    assert_eq!(bell.subscription(), Some(Subscription::KernelFilter(mask)));
    let main_cfg = Config::default()
        .recv_buffer(Some(1 << 20))
        .nonblocking(true);
    let mut main = common::connector(test, &main_cfg).unwrap();
    let (mut bell_evs, mut main_evs) = (Vec::new(), Vec::new());
    // Half exit 0 (the filter drops their exits), half exit 1.
    let pids: Vec<(Pid, bool)> = (0..20)
        .map(|i| {
            let failing = i % 2 == 1;
            let prog = if failing { "/bin/false" } else { "/bin/true" };
            let mut c = Command::new(prog).spawn().unwrap();
            let pid = c.id() as Pid;
            c.wait().unwrap();
            (pid, failing)
        })
        .collect();
    let exec_of = |evs: &[ProcEvent], pid: Pid| {
        evs.iter()
            .find(|e| matches!(e.kind, EventKind::Exec { process_tgid, .. } if process_tgid == pid))
            .map(|e| (e.cpu, e.seq, e.timestamp_ns))
    };
    let exit_of = |evs: &[ProcEvent], pid: Pid| {
        evs.iter()
            .find(|e| is_exit_of(e, pid))
            .map(|e| (e.cpu, e.seq, e.timestamp_ns))
    };
    let complete = |bell: &[ProcEvent], main: &[ProcEvent]| {
        pids.iter().all(|&(p, failing)| {
            exec_of(bell, p).is_some()
                && exec_of(main, p).is_some()
                && exit_of(main, p).is_some()
                && (!failing || exit_of(bell, p).is_some())
        })
    };
    let deadline = std::time::Instant::now() + WAIT;
    while !complete(&bell_evs, &main_evs) && std::time::Instant::now() < deadline {
        bell.drain_into(&mut bell_evs, usize::MAX).unwrap();
        main.drain_into(&mut main_evs, usize::MAX).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let lost = format!(
        "(losses: filtered {:?}, plain {:?})",
        bell.loss(),
        main.loss()
    );
    for e in &bell_evs {
        match e.kind {
            EventKind::Exec { .. } => {}
            EventKind::Exit { exit_code, .. } => assert_ne!(exit_code, 0, "a zero exit passed"),
            _ => panic!("the filter let through {e:?}"),
        }
    }
    let mut main_keys = Vec::new();
    for &(pid, failing) in &pids {
        let bell_copy = exec_of(&bell_evs, pid)
            .unwrap_or_else(|| panic!("no exec of {pid} in the filtered socket {lost}"));
        let main_copy = exec_of(&main_evs, pid)
            .unwrap_or_else(|| panic!("no exec of {pid} in the plain socket {lost}"));
        assert_eq!(bell_copy, main_copy, "exec of {pid}: the copies differ");
        main_keys.push((main_copy.0, main_copy.1));
        let main_exit = exit_of(&main_evs, pid)
            .unwrap_or_else(|| panic!("no exit of {pid} in the plain socket {lost}"));
        main_keys.push((main_exit.0, main_exit.1));
        if failing {
            let bell_exit = exit_of(&bell_evs, pid)
                .unwrap_or_else(|| panic!("no exit of {pid} in the filtered socket {lost}"));
            assert_eq!(bell_exit, main_exit, "exit of {pid}: the copies differ");
        } else {
            assert!(
                exit_of(&bell_evs, pid).is_none(),
                "zero exit of {pid} passed"
            );
        }
    }
    // (cpu, seq) names one event: no two of these share it.
    let n = main_keys.len();
    main_keys.sort_unstable();
    main_keys.dedup();
    assert_eq!(main_keys.len(), n, "events share a (cpu, seq)");
}

/// Two listeners: dropping one (IGNORE in the same form as its LISTEN)
/// leaves the other receiving. A kernel filter (≥ 6.6) delivers only the
/// selected events.
#[test]
fn filtered_and_plain_listeners_coexist() {
    let Some(mut plain) = common::connector("filtered_and_plain_listeners", &Config::default())
    else {
        return;
    };
    let filter = Config::default().filter(Some(what::EXIT));
    let Some(mut filtered) = common::connector("filtered_and_plain_listeners", &filter) else {
        return;
    };
    let sub = filtered.subscription().unwrap();
    eprintln!("filtered subscription: {sub:?}");
    // uname(2), not procconn's own version check: on a kernel >= 6.6 the
    // filter must be the kernel's.
    if sigwatch_test_support::probe::proc_connector_filter() {
        assert_eq!(sub, Subscription::KernelFilter(what::EXIT));
        assert!(!filtered.loss().seq_tracking);
    } else {
        assert_eq!(sub, Subscription::UserFilter(what::EXIT));
    }
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = child.id() as Pid;
    child.wait().unwrap();
    let got = common::collect(
        &mut filtered,
        WAIT,
        |ev| about(ev, pid),
        |evs| evs.iter().any(|e| is_exit_of(e, pid)),
    );
    assert!(got.iter().any(|e| is_exit_of(e, pid)), "filtered exit");
    assert!(
        got.iter().all(|e| matches!(e.kind, EventKind::Exit { .. })),
        "only exits pass the filter: {got:?}"
    );
    drop(filtered);

    // The plain listener still works after the other one unsubscribed.
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid2 = child.id() as Pid;
    child.wait().unwrap();
    let got = common::collect(
        &mut plain,
        WAIT,
        |ev| about(ev, pid2),
        |evs| evs.iter().any(|e| is_exit_of(e, pid2)),
    );
    assert!(got.iter().any(|e| is_exit_of(e, pid2)));
    assert!(got.iter().any(|e| matches!(e.kind, EventKind::Fork { .. })));
}

/// Non-blocking mode, poll(2) on the fd, and the iterator.
#[test]
fn nonblocking_poll_and_iterator() {
    use std::os::fd::AsFd;
    let cfg = Config::default().nonblocking(true);
    let Some(mut conn) = common::connector("nonblocking_poll_and_iterator", &cfg) else {
        return;
    };
    // Drain whatever is queued; in non-blocking mode the iterator ends.
    for ev in conn.events() {
        ev.unwrap();
    }
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = child.id() as Pid;
    child.wait().unwrap();
    let mut seen_exit = false;
    let deadline = std::time::Instant::now() + WAIT;
    while !seen_exit && std::time::Instant::now() < deadline {
        let mut fds = [nix::poll::PollFd::new(
            conn.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16)).unwrap();
        for ev in conn.events() {
            if is_exit_of(&ev.unwrap(), pid) {
                seen_exit = true;
            }
        }
    }
    assert!(seen_exit);
}

/// `drain_into` empties a non-blocking socket in batches, stops at a
/// short batch (`drained`), respects its limit, and appends nothing more
/// once empty.
#[test]
fn drain_into_empties_the_socket_and_says_so() {
    let cfg = Config::default().nonblocking(true);
    let Some(mut conn) = common::connector("drain_into_empties_the_socket_and_says_so", &cfg)
    else {
        return;
    };
    let mut out = Vec::new();
    conn.drain_into(&mut out, usize::MAX).unwrap();
    // 40 children: at least 120 events, more than one batch of datagrams.
    let pids: Vec<Pid> = (0..40)
        .map(|_| {
            let mut c = Command::new("/bin/true").spawn().unwrap();
            let pid = c.id() as Pid;
            c.wait().unwrap();
            pid
        })
        .collect();
    let last = *pids.last().unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    // A limit below a batch: one batch at most, the rest stays queued.
    out.clear();
    let n = conn.drain_into(&mut out, 1).unwrap();
    assert!((1..=procconn::socket::BATCH).contains(&n), "{n}");
    let mut all = out.clone();
    while !all.iter().any(|e| is_exit_of(e, last)) && std::time::Instant::now() < deadline {
        let got = conn.drain_into(&mut all, usize::MAX).unwrap();
        if got > 0 {
            assert!(conn.drained(), "drain_into returned with events queued");
        }
    }
    for pid in &pids {
        assert!(
            all.iter().any(|e| is_exit_of(e, *pid)),
            "exit of {pid} missing"
        );
    }
    // Empty now: none of them again, and it says so.
    let mut rest = Vec::new();
    conn.drain_into(&mut rest, usize::MAX).unwrap();
    assert!(rest.iter().all(|e| !pids.iter().any(|p| about(e, *p))));
    assert!(conn.drained());
}

/// A timeout with nothing to read returns `Ok(None)`, not an error: a
/// listener subscribed only to ptrace events (which no test makes) waits
/// out its timeouts, and in non-blocking mode returns at once.
#[test]
fn timeout_with_nothing_to_read_is_none() {
    let test = "timeout_with_nothing_to_read_is_none";
    let cfg = Config::default().filter(Some(what::PTRACE));
    let Some(mut conn) = common::connector(test, &cfg) else {
        return;
    };
    // Processes come and go meanwhile: none of their events may come out.
    let mut child = Command::new("/bin/true").spawn().unwrap();
    for _ in 0..5 {
        let got = conn.next_event(Some(Duration::from_millis(50))).unwrap();
        assert!(got.is_none(), "only ptrace events pass: {got:?}");
    }
    child.wait().unwrap();
    let Some(mut nb) = common::connector(test, &cfg.nonblocking(true)) else {
        return;
    };
    assert!(nb.next_event(None).unwrap().is_none());
}

#[test]
fn recv_buffer_is_granted() {
    let cfg = Config::default().recv_buffer(Some(32 << 20));
    let Some(conn) = common::connector("recv_buffer_is_granted", &cfg) else {
        return;
    };
    eprintln!(
        "granted {} bytes (forced: {})",
        conn.recv_buffer_size(),
        conn.recv_buffer_forced()
    );
    // As root SO_RCVBUFFORCE works; the kernel reports the doubled value.
    assert!(conn.recv_buffer_forced());
    assert!(conn.recv_buffer_size() >= 32 << 20);
}

/// Overflow a tiny receive buffer on purpose and check the loss count is
/// exact: a second listener with a large buffer sees every event, and per
/// CPU, within the range of sequence numbers the small listener saw, the
/// small listener's received events plus its counted gaps must equal what
/// the large listener received.
#[test]
fn overflow_is_counted_exactly() {
    use std::collections::BTreeMap;
    let Some(mut big) = common::connector("overflow_is_counted_exactly", &Config::default()) else {
        return;
    };
    let small_cfg = Config::default().recv_buffer(Some(4096));
    let Some(mut small) = common::connector("overflow_is_counted_exactly", &small_cfg) else {
        return;
    };
    eprintln!("small buffer granted: {}", small.recv_buffer_size());
    // Neither reads while 150 processes come and go (~450 events).
    for _ in 0..150 {
        Command::new("/bin/true").status().unwrap();
    }
    // Until 200 ms pass without an event, or 3 s in all: on a busy host
    // (parallel builds) events never stop coming.
    let drain = |c: &mut procconn::ProcConnector| {
        let mut evs = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while let Some(ev) = c.next_event(Some(Duration::from_millis(200))).unwrap() {
            if std::time::Instant::now() > deadline {
                break;
            }
            // Acks are numbered like events on current kernels; old
            // kernels send them outside any sequence, with cpu = -1.
            if ev.cpu != u32::MAX {
                evs.push((ev.cpu, ev.seq));
            }
        }
        evs
    };
    let mut small_events = drain(&mut small);
    // A drop shows as a gap only when the same CPU's next event arrives:
    // make more events, one process at a time so the small listener keeps
    // up, until the gaps have been seen.
    for _ in 0..100 {
        if small.loss().seq_gap_events > 0 {
            break;
        }
        Command::new("/bin/true").status().unwrap();
        small_events.extend(drain(&mut small));
    }
    let big_events = drain(&mut big);
    let (sl, bl) = (small.loss(), big.loss());
    eprintln!("small: {} events, {sl}", small_events.len());
    eprintln!("big: {} events, {bl}", big_events.len());
    assert!(sl.enobufs > 0, "the tiny buffer should have overflowed");
    assert!(sl.seq_gap_events > 0);
    assert_eq!(sl.seq_regressions, 0);
    if !bl.is_zero() {
        // The reference itself lost events: the exact cross-check below
        // cannot run. Recorded as a partial pass (CI lists it).
        sigwatch_test_support::partial(
            "overflow_is_counted_exactly",
            sigwatch_test_support::Need::Host("a quiet host".into()),
            format!("the reference listener lost events too ({bl}): no exact cross-check"),
        );
        return;
    }
    let mut ranges: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for &(cpu, seq) in &small_events {
        let r = ranges.entry(cpu).or_insert((seq, seq));
        r.0 = r.0.min(seq);
        r.1 = r.1.max(seq);
    }
    let in_range = big_events
        .iter()
        .filter(|(cpu, seq)| ranges.get(cpu).is_some_and(|r| (r.0..=r.1).contains(seq)))
        .count() as u64;
    assert_eq!(
        in_range,
        small_events.len() as u64 + sl.seq_gap_events,
        "received + counted gaps must equal what the reference saw"
    );
}

/// `recv_events` appends whole batches; `recv_raw` hands out the bytes
/// that `parse_datagram` understands.
#[test]
fn batch_and_raw_receive() {
    let Some(mut conn) = common::connector("batch_and_raw_receive", &Config::default()) else {
        return;
    };
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = child.id() as Pid;
    child.wait().unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !out.iter().any(|e| is_exit_of(e, pid)) && std::time::Instant::now() < deadline {
        let before = out.len();
        let n = conn
            .recv_events(&mut out, Some(Duration::from_millis(500)))
            .unwrap();
        assert_eq!(out.len(), before + n);
    }
    let mine: Vec<_> = out.iter().filter(|e| about(e, pid)).collect();
    assert_eq!(mine.len(), 3, "fork, exec, exit of {pid}: {mine:?}");
    assert_eq!(conn.queued(), 0);

    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = child.id() as Pid;
    child.wait().unwrap();
    let mut seen_exit = false;
    while !seen_exit && std::time::Instant::now() < deadline {
        let Some(dg) = conn.recv_raw(Some(Duration::from_millis(500))).unwrap() else {
            continue;
        };
        for ev in procconn::parse_datagram(dg) {
            seen_exit |= is_exit_of(&ev.unwrap(), pid);
        }
    }
    assert!(seen_exit);
}

/// A local process can unicast to our netlink port: such datagrams are
/// not from the kernel and must never become events.
#[test]
fn forged_datagrams_are_dropped() {
    use netlink_sys::{protocols::NETLINK_CONNECTOR, Socket, SocketAddr};
    use procconn::parse::build;
    use std::os::fd::AsRawFd;
    let cfg = Config::default();
    let Some(mut conn) = common::connector("forged_datagrams_are_dropped", &cfg) else {
        return;
    };
    // Our port id, from getsockname(2).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: addr/len describe a valid sockaddr_nl buffer.
    let rc = unsafe {
        libc::getsockname(
            conn.as_raw_fd(),
            std::ptr::from_mut(&mut addr).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0);
    let forged_pid: Pid = 0x7fff_fff0;
    let forged = ProcEvent {
        seq: 0,
        cpu: 0,
        timestamp_ns: 1,
        kind: EventKind::Exit {
            process_pid: forged_pid,
            process_tgid: forged_pid,
            exit_code: 9,
            status: ExitStatus::from_wait_status(9),
            exit_signal: 17,
            parent_pid: Some(1),
            parent_tgid: Some(1),
        },
    };
    let mut sender = Socket::new(NETLINK_CONNECTOR).unwrap();
    sender.bind_auto().unwrap();
    let dg = build::datagram(&[forged]);
    sender
        .send_to(&dg, &SocketAddr::new(addr.nl_pid, 0), 0)
        .unwrap();
    // Then a real event, to know the forged one has been processed.
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = child.id() as Pid;
    child.wait().unwrap();
    let got = common::collect(
        &mut conn,
        WAIT,
        |ev| about(ev, pid) || about(ev, forged_pid),
        |evs| evs.iter().any(|e| is_exit_of(e, pid)),
    );
    assert!(got.iter().any(|e| is_exit_of(e, pid)));
    assert!(!got.iter().any(|e| about(e, forged_pid)), "forged: {got:?}");
    assert_eq!(conn.foreign_datagrams(), 1);
}
