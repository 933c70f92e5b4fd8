//! Storm benchmark (root; prints figures, not a timed test): the real
//! `sigwatch --json` and `forkstat -E -S` (writing to a file) watch the
//! *same* storm at the same time, twice: a fork+exit storm (processes
//! that never exec) and a fork+exec storm (every child execs
//! `/bin/true`). For each it prints both CPU times, their ratio,
//! sigwatch's lost process events and what forkstat logged; in the
//! fork+exit storm a `sleep`-like victim is SIGKILLed by a forked sender
//! and the bench says whether sigwatch attributed it.
//!
//! `cargo bench -p sigwatch --bench storm`. Environment: `STORM_SECS`
//! (default 5) per storm; `STORM_RATE` processes/s of the fork+exit storm
//! (default 10 000, 0 = unpaced); `STORM_EXEC_RATE` of the fork+exec storm
//! (default 1 200, 0 = unpaced); `STORM_REPEAT` rounds (default 3; the
//! spread is printed); `STORM_KINDS` (`fork,exec`); `BENCH_NICE` the
//! nice value of both listeners (default -10, sigwatch's `--nice`).
//! `SIGWATCH_BENCH_BIN` runs another sigwatch binary (a build of the base
//! commit, to compare before and after on the same busy machine).
//! Holds the audit test lock and checks audit is left as found.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{env_f64, spread, AuditGuard, Forkstat, Sigwatch, Storm, StormKind};

struct Round {
    ratio: f64,
    sw_us_per_proc: f64,
    fs_us_per_proc: f64,
}

fn round(kind: StormKind, secs: f64, rate: Option<f64>) -> Option<Round> {
    let sw = Sigwatch::start(&[]);
    let fs = Forkstat::start();
    std::thread::sleep(Duration::from_millis(300));
    let storm = Storm::start(kind, secs, rate);
    let mut kill = None;
    if kind == StormKind::Fork {
        std::thread::sleep(Duration::from_secs_f64(secs / 2.0));
        let victim = common::spawn_victim();
        std::thread::sleep(Duration::from_millis(20));
        let sender = common::kill_from_fork(victim);
        common::reap(victim);
        kill = Some((victim, sender));
    }
    let (made, took) = storm.wait();
    // Let both drain what the storm left in their sockets.
    std::thread::sleep(Duration::from_millis(500));
    let (sw_cpu, lines) = sw.stop();
    let summary = lines.iter().rev().find(|o| o["type"] == "summary");
    let field = |k: &str| summary.map_or(serde_json::Value::Null, |s| s[k].clone());
    let attributed = kill.map(|(victim, sender)| {
        lines.iter().any(|o| {
            o["type"] == "kill"
                && o["victim"]["pid"] == victim
                && o["origin"] == "user"
                && o["sender"]["pid"] == sender
        })
    });
    println!(
        "  storm {}: {made} processes in {took:.1} s ({:.0}/s)",
        kind.name(),
        made as f64 / took
    );
    println!(
        "  sigwatch --json: CPU {:.2} s ({:.1} µs/process); proc events {}, lost {}{}",
        sw_cpu.as_secs_f64(),
        sw_cpu.as_secs_f64() * 1e6 / made.max(1) as f64,
        field("proc_events"),
        field("proc_lost"),
        attributed.map_or(String::new(), |a| format!(
            "; mid-storm kill attributed: {a}"
        ))
    );
    let fs = fs?;
    let (fs_cpu, forks, execs) = fs.stop();
    println!(
        "  forkstat -E -S:  CPU {:.2} s ({:.1} µs/process); logged {forks} forks, {execs} execs",
        fs_cpu.as_secs_f64(),
        fs_cpu.as_secs_f64() * 1e6 / made.max(1) as f64,
    );
    let ratio = sw_cpu.as_secs_f64() / fs_cpu.as_secs_f64().max(1e-9);
    println!("  sigwatch/forkstat CPU: {ratio:.2}×");
    Some(Round {
        ratio,
        sw_us_per_proc: sw_cpu.as_secs_f64() * 1e6 / made.max(1) as f64,
        fs_us_per_proc: fs_cpu.as_secs_f64() * 1e6 / made.max(1) as f64,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP storm: needs root");
        return;
    }
    let secs = env_f64("STORM_SECS", 5.0);
    let paced = |r: f64| (r > 0.0).then_some(r);
    let fork_rate = paced(env_f64("STORM_RATE", 10_000.0));
    let exec_rate = paced(env_f64("STORM_EXEC_RATE", 1_200.0));
    let repeat = env_f64("STORM_REPEAT", 3.0) as usize;
    let kinds = std::env::var("STORM_KINDS").unwrap_or_else(|_| "fork,exec".into());
    println!(
        "listeners at nice {} (BENCH_NICE; sigwatch's default is -10), storms at nice 0",
        common::bench_nice()
    );
    let guard = AuditGuard::take();
    let mut results: Vec<(StormKind, Vec<Round>)> = Vec::new();
    for k in kinds.split(',') {
        let kind = match k.trim() {
            "fork" => StormKind::Fork,
            "exec" => StormKind::Exec,
            other => panic!("STORM_KINDS: unknown storm {other:?} (fork, exec)"),
        };
        results.push((kind, Vec::new()));
    }
    for r in 0..repeat {
        for (kind, rounds) in &mut results {
            let rate = if *kind == StormKind::Fork {
                fork_rate
            } else {
                exec_rate
            };
            println!(
                "round {}/{repeat}, {} storm, {secs} s, {}",
                r + 1,
                kind.name(),
                rate.map_or("unpaced".into(), |r| format!("paced at {r:.0}/s"))
            );
            rounds.extend(round(*kind, secs, rate));
        }
    }
    println!("summary (median (min–max) over {repeat} rounds):");
    for (kind, rounds) in &results {
        let ratios: Vec<f64> = rounds.iter().map(|r| r.ratio).collect();
        let sw: Vec<f64> = rounds.iter().map(|r| r.sw_us_per_proc).collect();
        let fs: Vec<f64> = rounds.iter().map(|r| r.fs_us_per_proc).collect();
        println!(
            "  {}: sigwatch/forkstat CPU {}×; sigwatch {} µs/process, forkstat {} µs/process",
            kind.name(),
            spread(&ratios, 2),
            spread(&sw, 1),
            spread(&fs, 1)
        );
    }
    println!("audit state {}", guard.verdict());
}
