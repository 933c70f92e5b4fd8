//! A byte-driven event sequence for fuzzing the tree as a state machine.

use std::path::PathBuf;
use std::time::Duration;

use super::{ProcessTree, TreeConfig};
use crate::event::{EventKind, ExitStatus, Pid, ProcEvent};
use crate::procfs::{FakeProc, FakeProcess, Fields, Snapshot};

const MS: u64 = 1_000_000;

fn fake_snapshot(pid: Pid, ppid: Pid, start: u64, arg: u8) -> Snapshot {
    Snapshot {
        pid,
        comm: vec![b'p', arg],
        ppid,
        state: if arg % 17 == 0 { b'Z' } else { b'S' },
        start_ticks: start / (10 * MS),
        start_time_ns: start,
        uid: Some(u32::from(arg)),
        euid: Some(0),
        gid: Some(0),
        exe: Some(PathBuf::from(format!("/bin/p{arg}"))),
        argv: Some(vec![vec![arg; usize::from(arg % 4)]; usize::from(arg % 8)]),
        argv_truncated: arg % 5 == 0,
        cwd: Some(PathBuf::from("/")),
        cgroup: Some("/".into()),
        memory_cgroup: None,
        ns_pid: None,
        pid_ns: None,
        loginuid: Some(u32::MAX),
        sessionid: Some(u32::from(arg)),
    }
}

/// Decodes `data` into a sequence of events (forks, threads, execs, exits,
/// id changes, expiry, re-verification; small pid space so that pids and
/// tids collide and get reused; timestamps that sometimes go backwards, as
/// events of different CPUs do), applies them to a small-bounded tree over
/// a [`FakeProc`], and checks [`ProcessTree::check_consistency`] and the
/// retention bounds after every step. For fuzzing: any input must end in
/// `Ok`, never a panic.
///
/// # Errors
/// The first inconsistency found (a bug in the tree). Not part of the
/// API.
pub fn fuzz_events(data: &[u8]) -> Result<(), String> {
    let fake = FakeProc::new();
    fake.insert(FakeProcess {
        snapshot: fake_snapshot(1, 0, 0, 1),
        threads: vec![],
    });
    fake.insert(FakeProcess {
        snapshot: fake_snapshot(2, 1, MS, 2),
        threads: vec![3],
    });
    let config = TreeConfig {
        retain_exited_for: Duration::from_millis(50),
        max_exited: 8,
        max_pinned: 4,
        read_after_fork: data.first().is_none_or(|b| b & 0x80 == 0),
        fork_fields: Fields::STAT,
        exec_fields: Fields::ALL,
        max_argv_bytes: 10,
        // A few entries' worth: the fuzzer also drives eviction by size.
        max_retained_bytes: 2000,
    };
    let mut tree = ProcessTree::with_source(config, fake.clone());
    tree.seed_from_proc().map_err(|e| e.to_string())?;
    tree.check_consistency()?;
    let mut now: u64 = 1000 * MS;
    for (i, c) in data.chunks_exact(6).enumerate() {
        let op = c[0] % 8;
        let a = 1 + Pid::from(c[1] % 24);
        let b = 1 + Pid::from(c[2] % 24);
        let dt = (i64::from(c[3]) - 32) * 250_000;
        let (flags, extra) = (c[4], c[5]);
        now = now.saturating_add_signed(dt);
        let kind = match op {
            0 => {
                if flags & 1 != 0 {
                    let skew = if flags & 2 != 0 { 10_000 * MS } else { 0 };
                    fake.insert(FakeProcess {
                        snapshot: fake_snapshot(a, b, now + skew, extra),
                        threads: vec![],
                    });
                }
                EventKind::Fork {
                    parent_pid: b,
                    parent_tgid: b,
                    child_pid: a,
                    child_tgid: a,
                }
            }
            1 => EventKind::Fork {
                parent_pid: 1,
                parent_tgid: 1,
                child_pid: if flags & 4 != 0 { a } else { a + 24 },
                child_tgid: b,
            },
            2 => {
                if flags & 1 != 0 {
                    fake.update(a, |p| p.snapshot.argv = Some(vec![vec![extra]]));
                }
                EventKind::Exec {
                    process_pid: a,
                    process_tgid: a,
                }
            }
            3 => {
                if flags & 1 != 0 {
                    fake.remove(a);
                }
                let parent = if flags % 3 == 0 { 0 } else { b };
                EventKind::Exit {
                    process_pid: a,
                    process_tgid: a,
                    exit_code: u32::from(extra),
                    status: ExitStatus::from_wait_status(u32::from(extra)),
                    exit_signal: 17,
                    parent_pid: (flags & 8 == 0).then_some(parent),
                    parent_tgid: (flags & 8 == 0).then_some(parent),
                }
            }
            4 => EventKind::Exit {
                process_pid: if flags & 4 != 0 { a } else { a + 24 },
                process_tgid: b,
                exit_code: u32::from(extra),
                status: ExitStatus::from_wait_status(u32::from(extra)),
                exit_signal: u32::MAX,
                parent_pid: Some(0),
                parent_tgid: Some(0),
            },
            5 => match flags % 3 {
                0 => EventKind::Uid {
                    process_pid: a,
                    process_tgid: b,
                    ruid: u32::from(extra),
                    euid: 0,
                },
                1 => EventKind::Gid {
                    process_pid: a,
                    process_tgid: b,
                    rgid: u32::from(extra),
                    egid: 0,
                },
                _ => EventKind::Comm {
                    process_pid: a,
                    process_tgid: b,
                    comm: vec![extra; usize::from(extra % 16)],
                },
            },
            6 => {
                tree.expire(now.saturating_add(u64::from(extra) * MS));
                tree.check_consistency()?;
                continue;
            }
            _ => {
                if flags & 1 != 0 {
                    tree.verify_live();
                    tree.check_consistency()?;
                    continue;
                }
                EventKind::Ack { err: 0 }
            }
        };
        tree.apply(&ProcEvent {
            seq: i as u32,
            cpu: u32::from(flags >> 7),
            timestamp_ns: now,
            kind,
        });
        tree.check_consistency()
            .map_err(|e| format!("after step {i} (op {op}, a {a}, b {b}): {e}"))?;
        // Queries must not panic either.
        let _ = tree.ancestry(a).len();
        let _ = tree.tgid_of(b);
    }
    Ok(())
}
