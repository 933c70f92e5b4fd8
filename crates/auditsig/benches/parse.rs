//! Record parsing and assembly throughput over realistic records: the
//! captured kill events (tests/data), replicated with distinct serials, in
//! auditd's RAW and ENRICHED log formats, and as netlink bodies.
//! `linux-audit-parser` parses the same lines in the same run.
//!
//! Run: `cargo bench -p auditsig --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Instant;

use auditsig::{Assembler, KillEvent, Record, RecordType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Events replicated this many times.
const COPIES: u64 = 200;

/// The lines of one capture as `(type, body)`, with `EOE` records.
fn netlink_capture() -> Vec<(u16, String)> {
    include_str!("../tests/data/netlink-multicast-kill.txt")
        .lines()
        .filter_map(|l| {
            let (t, body) = l.strip_prefix("type=")?.split_once(' ')?;
            Some((t.parse().ok()?, body.to_string()))
        })
        .collect()
}

/// Replace the serial in `audit(S.M:N)` by `serial`.
fn reserial(body: &str, serial: u64) -> String {
    let colon = body.find(':').unwrap_or(0);
    let close = body.find(')').unwrap_or(0);
    format!("{}{serial}{}", &body[..=colon], &body[close..])
}

/// RAW log lines (no EOE, as auditd writes them), distinct serials.
fn raw_lines() -> Vec<Vec<u8>> {
    let cap = netlink_capture();
    let mut out = Vec::new();
    for copy in 0..COPIES {
        for (t, body) in &cap {
            let t = RecordType(*t);
            if t == RecordType::EOE {
                continue;
            }
            let serial = copy * 100 + body_serial(body);
            out.push(format!("type={t} msg={}\n", reserial(body, serial)).into_bytes());
        }
    }
    out
}

fn body_serial(body: &str) -> u64 {
    let colon = body.find(':').unwrap_or(0);
    let close = body.find(')').unwrap_or(0);
    body.get(colon + 1..close)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// ENRICHED log lines of the auditd capture, distinct serials.
fn enriched_lines() -> Vec<Vec<u8>> {
    let text = include_str!("../tests/data/auditd-enriched-kill.log");
    let mut out = Vec::new();
    for copy in 0..COPIES {
        for l in text.lines() {
            let Some(i) = l.find("msg=") else { continue };
            let serial = copy * 100_000 + body_serial(&l[i..]);
            out.push(format!("{}msg={}\n", &l[..i], reserial(&l[i + 4..], serial)).into_bytes());
        }
    }
    out
}

/// Netlink bodies with EOE records, distinct serials.
fn netlink_bodies() -> Vec<(u16, Vec<u8>)> {
    let cap = netlink_capture();
    let mut out = Vec::new();
    for copy in 0..COPIES {
        for (t, body) in &cap {
            let serial = copy * 100 + body_serial(body);
            out.push((*t, reserial(body, serial).into_bytes()));
        }
    }
    out
}

/// Touch every field the way a consumer converting all values would.
fn touch_all(r: &Record) -> usize {
    let mut n = 0;
    for f in r.fields().chain(r.interpreted()) {
        n += f.value.bytes().map_or(0, |b| b.len());
        n += f.value.as_dec_u64().is_some() as usize;
    }
    n
}

fn bench(c: &mut Criterion) {
    let raw = raw_lines();
    let enriched = enriched_lines();
    let netlink = netlink_bodies();
    // Sanity: every line parses with both parsers.
    for l in raw.iter().chain(&enriched) {
        assert!(Record::parse_line(l).is_ok());
        assert!(
            linux_audit_parser::parse(l, false).is_ok(),
            "{}",
            String::from_utf8_lossy(l)
        );
    }

    for (name, lines) in [("raw", &raw), ("enriched", &enriched)] {
        let mut g = c.benchmark_group(format!("parse_{name}"));
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function("auditsig", |b| {
            b.iter(|| {
                for l in lines {
                    black_box(Record::parse_line(black_box(l)).ok());
                }
            })
        });
        g.bench_function("auditsig_all_values", |b| {
            b.iter(|| {
                let mut n = 0;
                for l in lines {
                    if let Ok(r) = Record::parse_line(black_box(l)) {
                        n += touch_all(&r);
                    }
                }
                black_box(n)
            })
        });
        g.bench_function("linux_audit_parser", |b| {
            b.iter(|| {
                for l in lines {
                    black_box(linux_audit_parser::parse(black_box(l), false).ok());
                }
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("assemble_{name}"));
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function("parse_assemble", |b| {
            b.iter(|| {
                let now = Instant::now();
                let mut a = Assembler::default();
                let mut events = 0;
                for l in lines {
                    if let Ok(r) = Record::parse_line(l) {
                        a.push(r, now);
                    }
                    events += a.drain().count();
                }
                a.flush();
                black_box(events + a.drain().count())
            })
        });
        g.bench_function("parse_assemble_kill", |b| {
            b.iter(|| {
                let now = Instant::now();
                let mut a = Assembler::default();
                let mut kills = 0;
                for l in lines {
                    if let Ok(r) = Record::parse_line(l) {
                        a.push(r, now);
                    }
                    for e in a.drain() {
                        kills += KillEvent::from_event(&e).ok().flatten().is_some() as usize;
                    }
                }
                a.flush();
                black_box((kills, a.drain().count()))
            })
        });
        g.finish();
    }

    let mut g = c.benchmark_group("netlink");
    g.throughput(Throughput::Elements(netlink.len() as u64));
    g.bench_function("parse_assemble_kill", |b| {
        b.iter(|| {
            let now = Instant::now();
            let mut a = Assembler::default();
            let mut kills = 0;
            for (t, body) in &netlink {
                if let Ok(r) = Record::from_netlink(*t, body) {
                    a.push(r, now);
                }
                for e in a.drain() {
                    kills += KillEvent::from_event(&e).ok().flatten().is_some() as usize;
                }
            }
            black_box(kills)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
