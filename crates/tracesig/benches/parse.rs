//! `trace_pipe` line parse throughput (lines/s, `Throughput::Elements`).
//!
//! Inputs are the real lines captured on the 6.18 test host
//! (tests/data/kernel-6.18-*.txt): a SIGKILL line as `sigwatch` sees it
//! with its default filter, a `mark_victim` line (the longest event),
//! the whole mixed capture, and one `read()` buffer of SIGKILL lines,
//! split at newlines and parsed line by line, and through `TextParser`
//! (what `TraceSource` runs: the cost of joining lines split by a
//! newline in a comm), and the hostile-comm capture through it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tracesig::{parse_line, TextParser};

const KILL: &[u8] = b"              sh-23690   (  23690) [001] d..1.   711.241598: signal_generate: sig=9 errno=0 code=0 comm=sleep pid=23689 grp=1 res=0";
const VICTIM: &[u8] = b"         python3-23793   (  23793) [000] ...1.   712.766832: mark_victim: pid=23740 comm=python3 total-vm=57528kB anon-rss=47744kB file-rss:6612kB shmem-rss:0kB uid=0 pgtables=148kB oom_score_adj=0";
const OLD: &[u8] = b"            bash-1234  [001] d..1  5678.901234: signal_generate: sig=9 errno=0 code=0 comm=sleep pid=4321";

fn real_lines() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let mut v = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    for p in names {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // hostile-comm spans lines: measured through TextParser below.
        if !name.starts_with("kernel-") || name.contains("stats") || name.contains("hostile") {
            continue;
        }
        let text = std::fs::read(&p).unwrap_or_default();
        v.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
                .map(<[u8]>::to_vec),
        );
    }
    v
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_line");
    g.throughput(Throughput::Elements(1));
    g.bench_function("signal_generate", |b| {
        b.iter(|| parse_line(black_box(KILL)))
    });
    g.bench_function("mark_victim", |b| b.iter(|| parse_line(black_box(VICTIM))));
    g.bench_function("old_layout", |b| b.iter(|| parse_line(black_box(OLD))));
    g.finish();

    let lines = real_lines();
    let mut g = c.benchmark_group("captured_mix");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("all_real_lines", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for l in &lines {
                ok += usize::from(parse_line(black_box(l)).is_ok());
            }
            ok
        })
    });
    // One 64 KiB-ish read buffer of SIGKILL lines, split like the reader.
    let mut buf = Vec::new();
    while buf.len() < 60_000 {
        buf.extend_from_slice(KILL);
        buf.push(b'\n');
    }
    let n = buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("read_buffer_sigkill", |b| {
        b.iter(|| {
            black_box(&buf)
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .filter(|l| parse_line(l).is_ok())
                .count()
        })
    });
    g.bench_function("text_parser_sigkill", |b| {
        let mut out = Vec::with_capacity(n);
        b.iter(|| {
            let mut p = TextParser::new();
            out.clear();
            p.push(black_box(&buf), &mut out);
            p.flush(&mut out);
            out.len()
        })
    });
    let hostile = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/kernel-6.18-hostile-comm.txt"
    ))
    .unwrap_or_default();
    let hostile = hostile
        .splitn(3, |&b| b == b'\n')
        .nth(2)
        .unwrap_or(&[])
        .to_vec();
    g.throughput(Throughput::Elements(8));
    g.bench_function("text_parser_hostile_8_events", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut p = TextParser::new();
            out.clear();
            p.push(black_box(&hostile), &mut out);
            p.flush(&mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
