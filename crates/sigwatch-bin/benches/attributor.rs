//! Attributor throughput: the per-event cost on the hot path (fork + exit of
//! short-lived processes), and a full kill join (audit kill + victim exit +
//! JSON rendering).
#![allow(clippy::unwrap_used)]

use auditsig::kill::Bytes;
use auditsig::{Arch, KillEvent, KillSyscall, Sender, Stamp, Target, TargetSpec};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use procconn::{EventKind, ExitStatus, ProcEvent};
use sigwatch::render::write_json;
use sigwatch::{Attributor, Clock, Config, MemTree, ProcessSnapshot, ProcessView};

fn ev(t: u64, kind: EventKind) -> ProcEvent {
    ProcEvent {
        seq: 0,
        cpu: 0,
        timestamp_ns: t,
        kind,
    }
}

fn fork(t: u64, parent: i32, child: i32) -> ProcEvent {
    ev(
        t,
        EventKind::Fork {
            parent_pid: parent,
            parent_tgid: parent,
            child_pid: child,
            child_tgid: child,
        },
    )
}

fn exit(t: u64, pid: i32, status: u32) -> ProcEvent {
    ev(
        t,
        EventKind::Exit {
            process_pid: pid,
            process_tgid: pid,
            exit_code: status,
            status: ExitStatus::from_wait_status(status),
            exit_signal: 17,
            parent_pid: None,
            parent_tgid: None,
        },
    )
}

fn base() -> MemTree {
    let mut t = MemTree::new();
    t.insert(ProcessSnapshot {
        pid: 1,
        comm: Some(b"init".to_vec()),
        argv: Some(vec![b"/sbin/init".to_vec()]),
        ..Default::default()
    });
    t
}

fn bench(c: &mut Criterion) {
    let now = Clock {
        mono_ns: 1_000_000_000,
        wall_ns: 1_795_667_968_000_000_000,
    };
    let mut g = c.benchmark_group("attributor");
    g.throughput(Throughput::Elements(2));
    g.bench_function("fork_exit_event_pair", |b| {
        let mut a = Attributor::new(Config::default(), base());
        let mut pid = 2;
        b.iter(|| {
            pid = if pid > 4_000_000 { 2 } else { pid + 1 };
            a.on_proc_event(&fork(1, 1, pid), now);
            a.on_proc_event(&exit(2, pid, 0), now);
        });
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("kill_join_and_json", |b| {
        b.iter_batched(
            || {
                let mut t = base();
                t.apply(&fork(1, 1, 100));
                t.apply(&fork(1, 100, 200));
                t.apply(&fork(1, 1, 300));
                (
                    Attributor::new(Config::default(), t),
                    Vec::with_capacity(4096),
                )
            },
            |(mut a, mut buf)| {
                let mut sender = Sender::new(200, 1, 0, 0, 0, "sh");
                sender.argv = Some(vec![
                    Bytes::from("sh"),
                    Bytes::from("-c"),
                    Bytes::from("kill -9 300"),
                ]);
                let stamp = Stamp {
                    sec: now.wall_ns / 1_000_000_000,
                    msec: 0,
                    serial: 1,
                };
                let mut k = KillEvent::new(
                    stamp,
                    Arch::X86_64,
                    KillSyscall::Kill,
                    TargetSpec::Process(300),
                    9,
                    sender,
                );
                k.targets.push(Target::new(300, 0, "daemon"));
                a.on_audit_kill(&k, now);
                for r in a.on_proc_event(&exit(3, 300, 9), now) {
                    write_json(&mut buf, &r).unwrap();
                }
                buf
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
