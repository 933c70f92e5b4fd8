//! Capture-rate and latency benchmark (root; prints figures, not a timed
//! test).
//!
//! **Capture rate**: can sigwatch still name a short-lived killer's argv,
//! exe and cwd? Each trial forks a victim, then a launcher child that
//! `chdir`s into a directory of its own and execs this bench binary as
//! `--capture-killer VICTIM SLEEP_US` (sleep, SIGKILL the victim, exit:
//! the seed case of a short `sh -c 'kill -9 X'`). The killer's lifetime
//! (fork to reap, as its parent sees it) sorts the trial into a bucket;
//! a trial counts as captured for a fact when the kill report's sender is
//! the killer and its argv / exe / cwd are the killer's own (not its
//! parent's, inherited at fork). sigwatch runs with `--source proc,tracefs`
//! so that the sender's details can only come from its process tree
//! (audit would fill exe and argv from the kill record itself). Idle, then
//! during a fork+exec storm; sigwatch's CPU is printed with the figures.
//!
//! **Latency**: from the victim being reaped to its JSON report line
//! (the default sources, audit included), p50 and p99, idle and during a
//! fork+exit storm.
//!
//! `cargo bench -p sigwatch --bench capture`. Environment:
//! `CAPTURE_SECS` per capture phase (default 15); `STORM_EXEC_RATE` of
//! the fork+exec storm (default 1 200/s); `LATENCY_KILLS` per latency
//! phase (default 100); `STORM_RATE` of the fork+exit storm (default
//! 10 000/s); `CAPTURE_PHASES` (default `capture,latency`).
//! `BENCH_NICE` the nice value sigwatch runs at (default -10, its own
//! `--nice` default; the killers and storms run at nice 0).
//! `SIGWATCH_BENCH_BIN` runs another sigwatch binary (a build of the base
//! commit, to compare before and after on the same busy machine).
//! Holds the audit test lock and checks audit is left as found.
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::CString;
use std::time::{Duration, Instant};

use common::{cstr, env_f64, quantile, AuditGuard, Sigwatch, Storm, StormKind};

/// The killers: `None` is `/bin/sh -c 'kill -9 VICTIM'` (the seed case,
/// the shortest lifetime: dash starts in a fraction of a ms); `Some(us)`
/// is this binary sleeping `us` µs before its kill (its start-up alone
/// takes about 1 ms): lifetimes from a fraction of a ms to 50 ms.
const KILLERS: [Option<u64>; 10] = [
    None,
    Some(0),
    Some(200),
    Some(500),
    Some(1_000),
    Some(2_000),
    Some(5_000),
    Some(10_000),
    Some(20_000),
    Some(50_000),
];

/// Lifetime buckets (ms, upper bounds).
const BUCKETS_MS: [f64; 8] = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, f64::INFINITY];

/// The killer: sleeps, SIGKILLs its victim, exits.
fn killer(args: &[String]) -> ! {
    let victim: libc::pid_t = args.first().and_then(|s| s.parse().ok()).unwrap_or(0);
    let sleep_us: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if sleep_us > 0 {
        std::thread::sleep(Duration::from_micros(sleep_us));
    }
    if victim > 0 {
        // SAFETY: the bench's own victim child.
        unsafe { libc::kill(victim, libc::SIGKILL) };
    }
    // SAFETY: ends the process at once, like a short script would.
    unsafe { libc::_exit(0) }
}

struct Trial {
    victim: libc::pid_t,
    killer: libc::pid_t,
    lifetime_ms: f64,
    argv: Vec<String>,
    exe: String,
}

/// One trial: returns it once the killer and the victim are reaped.
fn trial(bench_exe: &CString, cwd: &CString, sleep_us: Option<u64>) -> Trial {
    let victim = common::spawn_victim();
    let (exe, argv) = match sleep_us {
        None => (
            cstr("/bin/sh"),
            vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                format!("kill -9 {victim}"),
            ],
        ),
        Some(us) => (
            bench_exe.clone(),
            vec![
                bench_exe.to_str().unwrap().to_string(),
                "--capture-killer".to_string(),
                victim.to_string(),
                us.to_string(),
            ],
        ),
    };
    let exe_path = std::fs::canonicalize(exe.to_str().unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let c_argv: Vec<CString> = argv.iter().map(|a| cstr(a)).collect();
    let mut ptrs: Vec<*const libc::c_char> = c_argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let t0 = Instant::now();
    // SAFETY: the child only calls chdir, execv and _exit (prepared
    // before the fork: no allocation in a forked multi-threaded process).
    let killer = unsafe { libc::fork() };
    if killer == 0 {
        unsafe {
            libc::chdir(cwd.as_ptr());
            libc::execv(exe.as_ptr(), ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    common::reap(killer);
    let lifetime_ms = t0.elapsed().as_secs_f64() * 1e3;
    common::reap(victim);
    Trial {
        victim,
        killer,
        lifetime_ms,
        argv,
        exe: exe_path,
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    trials: u32,
    reported: u32,
    argv: u32,
    exe: u32,
    cwd: u32,
    all: u32,
}

fn capture_phase(storm_rate: Option<f64>, secs: f64) {
    let exe_path = std::env::current_exe().unwrap().canonicalize().unwrap();
    let exe = cstr(exe_path.to_str().unwrap());
    let dir = std::env::temp_dir().join(format!("sigwatch-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let cwd = cstr(dir.to_str().unwrap());
    let sw = Sigwatch::start(&["--source", "proc,tracefs"]);
    std::thread::sleep(Duration::from_millis(300));
    let storm = storm_rate.map(|r| Storm::start(StormKind::Exec, secs, Some(r)));
    let t0 = Instant::now();
    let mut trials = Vec::new();
    let mut i = 0;
    while t0.elapsed().as_secs_f64() < secs - 0.1 {
        trials.push(trial(&exe, &cwd, KILLERS[i % KILLERS.len()]));
        i += 1;
    }
    let made = storm.map(|s| s.wait());
    std::thread::sleep(Duration::from_millis(500));
    let (cpu, lines) = sw.stop();
    let summary = lines.iter().rev().find(|o| o["type"] == "summary");
    let mut tallies = [Tally::default(); BUCKETS_MS.len()];
    // A few misses, to see what was reported instead.
    let mut misses = Vec::new();
    for t in &trials {
        let b = BUCKETS_MS
            .iter()
            .position(|&ub| t.lifetime_ms < ub)
            .unwrap_or(BUCKETS_MS.len() - 1);
        let tally = &mut tallies[b];
        tally.trials += 1;
        let Some(r) = lines
            .iter()
            .find(|o| o["type"] == "kill" && o["victim"]["pid"] == t.victim)
        else {
            continue;
        };
        let s = &r["sender"];
        if s["pid"] != t.killer {
            continue;
        }
        tally.reported += 1;
        let argv_ok = s["argv"].as_array().is_some_and(|a| {
            a.iter()
                .map(|v| v.as_str())
                .eq(t.argv.iter().map(|s| Some(s.as_str())))
        });
        let exe_ok = s["exe"].as_str() == Some(t.exe.as_str());
        let cwd_ok = s["cwd"].as_str() == dir.to_str();
        tally.argv += u32::from(argv_ok);
        tally.exe += u32::from(exe_ok);
        tally.cwd += u32::from(cwd_ok);
        tally.all += u32::from(argv_ok && exe_ok && cwd_ok);
        if !(argv_ok && exe_ok && cwd_ok) && misses.len() < 3 {
            misses.push(format!(
                "    missed ({:.2} ms): argv {} exe {} cwd {}",
                t.lifetime_ms, s["argv"], s["exe"], s["cwd"]
            ));
        }
    }
    match made {
        Some((n, took)) => println!(
            "capture during a fork+exec storm ({n} processes, {:.0}/s), {} trials:",
            n as f64 / took,
            trials.len()
        ),
        None => println!("capture idle, {} trials:", trials.len()),
    }
    println!("  killer lifetime | trials | reported with the killer as sender | argv | exe | cwd | all three");
    let mut lo = 0.0;
    for (ub, t) in BUCKETS_MS.iter().zip(&tallies) {
        let pct = |n: u32| 100.0 * f64::from(n) / f64::from(t.trials.max(1));
        if t.trials > 0 {
            println!(
                "  {:>5.1}–{:<5} ms | {:>4} | {:>4} | {:>5.1} % | {:>5.1} % | {:>5.1} % | {:>5.1} %",
                lo,
                if ub.is_finite() { format!("{ub:.1}") } else { "∞".into() },
                t.trials,
                t.reported,
                pct(t.argv),
                pct(t.exe),
                pct(t.cwd),
                pct(t.all)
            );
        }
        lo = *ub;
    }
    let long: Tally = tallies
        .iter()
        .zip(BUCKETS_MS)
        .filter(|(_, ub)| *ub > 1.0)
        .fold(Tally::default(), |a, (t, _)| Tally {
            trials: a.trials + t.trials,
            all: a.all + t.all,
            argv: a.argv + t.argv,
            ..a
        });
    println!(
        "  living ≥ 1 ms: argv {}/{} ({:.1} %), all three {}/{} ({:.1} %)",
        long.argv,
        long.trials,
        100.0 * f64::from(long.argv) / f64::from(long.trials.max(1)),
        long.all,
        long.trials,
        100.0 * f64::from(long.all) / f64::from(long.trials.max(1))
    );
    for m in &misses {
        println!("{m}");
    }
    let events = summary.map_or(serde_json::Value::Null, |s| s["proc_events"].clone());
    let lost = summary.map_or(serde_json::Value::Null, |s| s["proc_lost"].clone());
    println!(
        "  sigwatch --source proc,tracefs: CPU {:.2} s over the phase; proc events {events}, lost {lost}",
        cpu.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn latency_phase(storm_rate: Option<f64>, kills: usize) {
    let sw = Sigwatch::start(&[]);
    std::thread::sleep(Duration::from_millis(300));
    let storm =
        storm_rate.map(|r| Storm::start(StormKind::Fork, kills as f64 * 0.04 + 2.0, Some(r)));
    std::thread::sleep(Duration::from_millis(200));
    let mut lat = Vec::new();
    let mut missing = 0;
    for _ in 0..kills {
        let victim = common::spawn_victim();
        std::thread::sleep(Duration::from_millis(20));
        common::kill_from_fork(victim);
        common::reap(victim);
        let dead = Instant::now();
        match sw.wait_line(Duration::from_secs(5), |o| {
            o["type"] == "kill" && o["victim"]["pid"] == victim
        }) {
            Some((t, _)) => lat.push(if t >= dead {
                (t - dead).as_secs_f64() * 1e3
            } else {
                -((dead - t).as_secs_f64() * 1e3)
            }),
            None => missing += 1,
        }
    }
    let made = storm.map(|s| s.wait());
    let (cpu, lines) = sw.stop();
    let lost = lines
        .iter()
        .rev()
        .find(|o| o["type"] == "summary")
        .map_or(serde_json::Value::Null, |s| s["proc_lost"].clone());
    lat.sort_by(f64::total_cmp);
    let during = match made {
        Some((n, took)) => format!("during a fork+exit storm ({:.0}/s)", n as f64 / took),
        None => "idle".into(),
    };
    println!(
        "latency victim reaped → report line, {during}: n={} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {missing} without a report; proc lost {lost}; sigwatch CPU {:.2} s",
        lat.len(),
        quantile(&lat, 0.5),
        quantile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        cpu.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--capture-killer") {
        killer(&args[2..]);
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP capture: needs root");
        return;
    }
    let secs = env_f64("CAPTURE_SECS", 15.0);
    let exec_rate = env_f64("STORM_EXEC_RATE", 1_200.0);
    let fork_rate = env_f64("STORM_RATE", 10_000.0);
    let kills = env_f64("LATENCY_KILLS", 100.0) as usize;
    let phases = std::env::var("CAPTURE_PHASES").unwrap_or_else(|_| "capture,latency".into());
    println!(
        "listeners at nice {} (BENCH_NICE; sigwatch's default is -10), storms at nice 0",
        common::bench_nice()
    );
    let guard = AuditGuard::take();
    if phases.contains("capture") {
        capture_phase(None, secs);
        capture_phase(Some(exec_rate), secs);
    }
    if phases.contains("latency") {
        latency_phase(None, kills);
        latency_phase(Some(fork_rate), kills);
    }
    println!("audit state {}", guard.verdict());
}
