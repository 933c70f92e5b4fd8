//! Parse throughput over a realistic mix of proc connector datagrams.
//!
//! The mix follows what a busy host sends (measured with the `capture`
//! example): about as many forks as exits, fewer execs (threads and
//! fork-without-exec), some thread-name `comm` changes and a few id
//! changes. As the kernel does, each datagram holds one message.
//! Criterion reports events/s (`Throughput::Elements`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use procconn::parse::build;
use procconn::{parse_datagram, EventKind, ExitStatus, LossTracker, ProcEvent};
use std::hint::black_box;

fn mixed_events(n: usize) -> Vec<ProcEvent> {
    let mut out = Vec::with_capacity(n);
    let mut seq = [0u32; 2];
    let mut pid = 10_000;
    for i in 0..n {
        let cpu = (i % 2) as u32;
        let kind = match i % 20 {
            0..=6 => {
                pid += 1;
                EventKind::Fork {
                    parent_pid: 1000,
                    parent_tgid: 1000,
                    child_pid: pid,
                    child_tgid: if i % 5 == 0 { 1000 } else { pid },
                }
            }
            7..=11 => EventKind::Exec {
                process_pid: pid,
                process_tgid: pid,
            },
            12..=17 => {
                let code = if i % 7 == 0 { 9 } else { 0 };
                EventKind::Exit {
                    process_pid: pid,
                    process_tgid: pid,
                    exit_code: code,
                    status: ExitStatus::from_wait_status(code),
                    exit_signal: 17,
                    parent_pid: Some(1000),
                    parent_tgid: Some(1000),
                }
            }
            18 => EventKind::Comm {
                process_pid: pid,
                process_tgid: pid,
                comm: b"tokio-runtime-w".to_vec(),
            },
            _ => EventKind::Uid {
                process_pid: pid,
                process_tgid: pid,
                ruid: 1000,
                euid: 1000,
            },
        };
        out.push(ProcEvent {
            seq: seq[cpu as usize],
            cpu,
            timestamp_ns: 1_000_000 * i as u64,
            kind,
        });
        seq[cpu as usize] += 1;
    }
    out
}

fn bench_parse(c: &mut Criterion) {
    const N: usize = 4096;
    let events = mixed_events(N);
    let datagrams: Vec<Vec<u8>> = events
        .iter()
        .map(|e| build::datagram(std::slice::from_ref(e)))
        .collect();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(BenchmarkId::new("one_event_per_datagram", N), |b| {
        b.iter(|| {
            let mut n = 0usize;
            for dg in &datagrams {
                for ev in parse_datagram(black_box(dg)) {
                    if ev.is_ok() {
                        n += 1;
                    }
                }
            }
            assert_eq!(n, N);
            black_box(n)
        })
    });
    // Parse plus per-CPU loss accounting: what ProcConnector does per event.
    g.bench_function(BenchmarkId::new("parse_and_account", N), |b| {
        b.iter(|| {
            let mut t = LossTracker::new(true);
            for dg in &datagrams {
                for ev in parse_datagram(black_box(dg)).flatten() {
                    t.observe(&ev);
                }
            }
            assert_eq!(t.loss().missed_events(), 0);
            black_box(t.loss())
        })
    });
    let batch = build::datagram(&events);
    g.bench_function(BenchmarkId::new("one_datagram_all_events", N), |b| {
        b.iter(|| black_box(parse_datagram(black_box(&batch)).flatten().count()))
    });
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
