//! The byte budget for retained exited processes
//! ([`TreeConfig::max_retained_bytes`]) bounds the heap the tree really
//! holds, not only its own estimate: a counting allocator measures the
//! bytes this thread's tree keeps after a storm of short processes. (The
//! estimate once left out the hash table's slots, about 600 bytes per
//! entry with power-of-two growth on top: a 64 MiB budget held about
//! 140 MB.)
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use procconn::procfs::{FakeProc, FakeProcess, Snapshot};
use procconn::{EventKind, ExitStatus, ProcEvent, ProcessTree, TreeConfig};

/// Counts the bytes allocated and not yet freed by each thread (the tests
/// run in parallel; each measures only its own thread).
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn add(n: i64) {
    // `try_with`: allocations during thread teardown are not counted.
    let _ = LIVE.try_with(|c| c.set(c.get() + n));
}

// SAFETY: every call is forwarded to `System` unchanged; only a counter
// of this thread is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size() as i64);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as i64));
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        add(l.size() as i64);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        add(new as i64 - l.size() as i64);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> i64 {
    LIVE.with(Cell::get)
}

const MS: u64 = 1_000_000;

/// Runs `n` processes (fork, exec with `argv`, exit) under a tree with
/// `budget` bytes; returns the bytes the tree holds at the end and the
/// number of exited processes it kept.
fn storm(budget: usize, n: i32, argv: &[&str]) -> (i64, usize) {
    let fake = FakeProc::new();
    let mut init = Snapshot::default();
    init.pid = 1;
    init.comm = b"init".to_vec();
    init.argv = Some(vec![b"/sbin/init".to_vec()]);
    init.exe = Some(PathBuf::from("/sbin/init"));
    fake.insert(FakeProcess {
        snapshot: init,
        threads: Vec::new(),
    });
    let base = live();
    let mut tree = ProcessTree::with_source(
        TreeConfig::default()
            .max_exited(1 << 20)
            .max_retained_bytes(budget),
        fake.clone(),
    );
    tree.seed_from_proc().unwrap();
    let args: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut now = 1_000 * MS;
    let mut seq = 0;
    let mut ev = |tree: &mut ProcessTree, now: &mut u64, kind: EventKind| {
        *now += MS;
        seq += 1;
        let e = ProcEvent {
            seq,
            cpu: 0,
            timestamp_ns: *now,
            kind,
        };
        tree.apply(&e);
    };
    for pid in 1000..1000 + n {
        let mut s = Snapshot::default();
        s.pid = pid;
        s.ppid = 1;
        s.comm = b"worker".to_vec();
        s.start_time_ns = now + MS;
        s.start_ticks = (now + MS) / (10 * MS);
        s.exe = Some(PathBuf::from("/usr/bin/worker"));
        s.cwd = Some(PathBuf::from("/var/lib/worker"));
        s.cgroup = Some("/system.slice/worker.service".into());
        s.argv = Some(args.clone());
        fake.insert(FakeProcess {
            snapshot: s,
            threads: Vec::new(),
        });
        ev(
            &mut tree,
            &mut now,
            EventKind::Fork {
                parent_pid: 1,
                parent_tgid: 1,
                child_pid: pid,
                child_tgid: pid,
            },
        );
        ev(
            &mut tree,
            &mut now,
            EventKind::Exec {
                process_pid: pid,
                process_tgid: pid,
            },
        );
        ev(
            &mut tree,
            &mut now,
            EventKind::Exit {
                process_pid: pid,
                process_tgid: pid,
                exit_code: 0,
                status: ExitStatus::from_wait_status(0),
                exit_signal: 17,
                parent_pid: Some(1),
                parent_tgid: Some(1),
            },
        );
        fake.remove(pid);
    }
    tree.check_consistency().unwrap();
    assert!(tree.retained_bytes() <= budget);
    let kept = tree.exited_count();
    let held = live() - base;
    drop(tree);
    (held, kept)
}

/// What the tree may hold beyond the budget: its live processes (init)
/// and fixed parts.
const SLACK: i64 = 256 << 10;

fn check(budget: usize, n: i32, argv: &[&str]) {
    let (held, kept) = storm(budget, n, argv);
    eprintln!(
        "budget {budget} B, {n} processes of argv {} B: tree holds {held} B for {kept} exited processes",
        argv.iter().map(|a| a.len()).sum::<usize>()
    );
    assert!(kept > 0);
    assert!(
        held <= budget as i64 + budget as i64 / 8 + SLACK,
        "a budget of {budget} B holds {held} B ({kept} exited processes kept)"
    );
}

#[test]
fn short_command_lines_stay_within_the_byte_budget() {
    check(4 << 20, 40_000, &["/usr/bin/worker", "--once"]);
}

#[test]
fn long_command_lines_stay_within_the_byte_budget() {
    let long = "x".repeat(4000);
    check(4 << 20, 5_000, &["/usr/bin/worker", &long]);
}
