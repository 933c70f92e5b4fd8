//! `sigwatch replay` against `ausearch -sc kill` on the same file, in the
//! same run (not a timed test: it prints figures).
//!
//! The log is generated from real records: the `execve` event of laurel's
//! test data (`tests/data/corpus/laurel/record-execve.txt`, one per
//! process, `REPLAY_BENCH_EXECS` processes with distinct pids, default
//! 300,000) and the kill events captured on Linux 6.18
//! (`tests/data/auditd-enriched-kill.log`) every 1,000 processes, with
//! serials, times and pids rewritten. Each tool runs `REPLAY_BENCH_RUNS`
//! times (default 5), alternating; the medians are printed with the peak
//! RSS of each (`wait4` rusage).
//!
//! `cargo bench -p sigwatch --bench replay_vs_ausearch`
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

/// Raw lines of `file` (ENRICHED parts cut at `\x1d`), `EOE` kept.
fn raw_lines(file: &str) -> Vec<String> {
    std::fs::read_to_string(data(file))
        .unwrap()
        .lines()
        .map(|l| l.split('\x1d').next().unwrap_or("").to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `l` with its stamp replaced and pid-like fields shifted.
fn restamp(l: &str, sec: u64, msec: u64, serial: u64) -> String {
    let open = l.find("audit(").unwrap() + 6;
    let close = open + l[open..].find(')').unwrap();
    format!("{}{sec}.{msec:03}:{serial}{}", &l[..open], &l[close..])
}

fn generate(path: &Path, execs: u64) -> (u64, u64) {
    let exec = raw_lines("corpus/laurel/record-execve.txt");
    // One PATH record is enough: real exec events carry one or two.
    let exec: Vec<String> = exec
        .into_iter()
        .filter(|l| !l.contains("item=1 "))
        .collect();
    let kill: Vec<String> = raw_lines("auditd-enriched-kill.log")
        .into_iter()
        .filter(|l| !l.contains("type=DAEMON_") && !l.contains("type=CONFIG_CHANGE"))
        .collect();
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut serial = 1u64;
    let mut kills = 0;
    let base = 1_795_000_000u64;
    for i in 0..execs {
        let ms = i * 7;
        let (sec, msec) = (base + ms / 1000, ms % 1000);
        let pid = 1000 + (i % 4_000_000);
        for l in &exec {
            let l = restamp(l, sec, msec, serial).replace("pid=10884", &format!("pid={pid}"));
            writeln!(w, "{l}").unwrap();
        }
        serial += 1;
        if i % 1000 == 999 {
            let mut last = None;
            for l in &kill {
                let s = &l[l.find("audit(").unwrap()..];
                let orig = s[s.find(':').unwrap() + 1..s.find(')').unwrap()].to_string();
                if last.as_ref() != Some(&orig) {
                    if last.is_some() {
                        serial += 1;
                    }
                    if l.contains("syscall=62")
                        || l.contains("syscall=424")
                        || l.contains("syscall=129")
                        || l.contains("syscall=234")
                    {
                        kills += 1;
                    }
                    last = Some(orig);
                }
                writeln!(w, "{}", restamp(l, sec, msec, serial)).unwrap();
            }
            serial += 1;
        }
    }
    w.flush().unwrap();
    (serial, kills)
}

struct Run {
    wall: f64,
    cpu: f64,
    maxrss_kb: i64,
}

fn run(cmd: &mut Command) -> Run {
    let t = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(r, pid);
    std::mem::forget(child);
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Run {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        maxrss_kb: ru.ru_maxrss,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if Command::new("ausearch").arg("-v").output().is_err() {
        println!("replay_vs_ausearch: ausearch not found (apt-get install auditd); skipped");
        return;
    }
    let execs: u64 = std::env::var("REPLAY_BENCH_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let runs: usize = std::env::var("REPLAY_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/replay-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join(format!("audit-{execs}.log"));
    let t = Instant::now();
    let (events, kills) = generate(&log, execs);
    let size = std::fs::metadata(&log).unwrap().len();
    println!(
        "log: {} ({:.1} MB, {events} events, {execs} execs with distinct pids, {kills} kill events), generated in {:.1} s",
        log.display(),
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let sigwatch = env!("CARGO_BIN_EXE_sigwatch");
    // Warm the page cache for both (streamed: the children inherit this
    // process's peak RSS otherwise).
    std::io::copy(&mut File::open(&log).unwrap(), &mut std::io::sink()).unwrap();
    let (mut sw, mut au) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        sw.push(run(Command::new(sigwatch)
            .args(["replay", "--signal", "all", "--json"])
            .arg(&log)));
        au.push(run(Command::new("ausearch")
            .args(["-sc", "kill", "-if"])
            .arg(&log)));
    }
    let report = |name: &str, v: &[Run]| {
        let wall = median(v.iter().map(|r| r.wall).collect());
        let cpu = median(v.iter().map(|r| r.cpu).collect());
        let rss = v.iter().map(|r| r.maxrss_kb).max().unwrap_or(0);
        println!(
            "{name:<22} wall {wall:.3} s ({:.0} MB/s)  cpu {cpu:.3} s  peak RSS {:.1} MB",
            size as f64 / 1e6 / wall,
            rss as f64 / 1024.0
        );
        (wall, cpu)
    };
    println!("{runs} runs each, medians:");
    let (sw_wall, sw_cpu) = report("sigwatch replay", &sw);
    let (au_wall, au_cpu) = report("ausearch -sc kill", &au);
    println!(
        "sigwatch replay is {:.2}x ausearch by wall time, {:.2}x by CPU time",
        au_wall / sw_wall,
        au_cpu / sw_cpu
    );
}
