//! `sigwatch replay` on a corpus of real audit logs written by others
//! (`tests/data/corpus/`, see its SOURCES.md), with `ausearch -if FILE -i`
//! as the oracle: every kill-family event ausearch shows must be reported
//! with the same node, serial, victim, sender and signal, and nothing else
//! may be reported. The same again on `ausearch`'s own (reversed, `----`
//! framed) output of each file, and per architecture on generated records
//! for every arch the syscall table knows.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use sigwatch::replay::{replay_text, ReplayConfig};
use sigwatch::{Report, SignalSet};

/// (node, serial, victim pid, sender pid, signal)
type Kill = (Option<String>, u64, i64, i64, i32);

fn ausearch_present() {
    let ok = Command::new("ausearch").arg("-v").output().is_ok();
    assert!(
        ok,
        "ausearch (the oracle of this test) is missing: apt-get install auditd"
    );
}

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_none_or(|x| x != "md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn ausearch(args: &[&str], file: &Path) -> String {
    let out = Command::new("ausearch")
        .args(args)
        .arg("-if")
        .arg(file)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const KILL_FAMILY: [&str; 6] = [
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "pidfd_send_signal",
];

fn field<'a>(rec: &'a str, name: &str) -> Option<&'a str> {
    rec.split(' ')
        .find_map(|tok| tok.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
}

/// The serial of `msg=audit(<time>:<serial>)` (the time holds a space in
/// interpreted output).
fn serial_of(rec: &str) -> u64 {
    let start = rec.find("audit(").unwrap() + 6;
    let inner = &rec[start..start + rec[start..].find(')').unwrap()];
    inner.rsplit(':').next().unwrap().parse().unwrap()
}

fn num(v: &str) -> Option<i64> {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16)
            .ok()
            .map(|v| v as u32 as i32 as i64),
        None => v.parse().ok(),
    }
}

/// The kill events of `ausearch -i` output, and how many it shows whose
/// arguments name no single process and that have no OBJ_PID (reported by
/// nobody), and signal-0 probes (which send nothing).
fn oracle(text: &str) -> (BTreeSet<Kill>, usize) {
    let mut kills = BTreeSet::new();
    let mut untargeted = 0;
    for ev in text.split("----") {
        let recs: Vec<&str> = ev.lines().filter(|l| l.contains("type=")).collect();
        let Some(sc) = recs.iter().find(|l| l.contains("type=SYSCALL ")) else {
            continue;
        };
        let Some(name) = field(sc, "syscall") else {
            continue;
        };
        if !KILL_FAMILY.contains(&name) {
            continue;
        }
        let node = sc
            .strip_prefix("node=")
            .map(|r| r.split(' ').next().unwrap().to_string());
        let serial = serial_of(sc);
        let sig_field = if matches!(name, "tgkill" | "rt_tgsigqueueinfo") {
            "a2"
        } else {
            "a1"
        };
        let sig_text = field(sc, sig_field).unwrap();
        let signal = match sig_text.strip_prefix("SIG") {
            Some(n) => sigwatch::parse_signal(n).unwrap(),
            None => num(sig_text).unwrap() as i32,
        };
        if signal == 0 {
            continue;
        }
        let sender = field(sc, "pid").and_then(num).unwrap();
        let mut victims: Vec<i64> = recs
            .iter()
            .filter(|l| l.contains("type=OBJ_PID "))
            .filter_map(|l| field(l, "opid").and_then(num))
            .collect();
        if victims.is_empty() {
            let a0 = num(field(sc, "a0").unwrap()).unwrap();
            if a0 > 0 && name != "pidfd_send_signal" {
                victims.push(a0);
            } else {
                untargeted += 1;
            }
        }
        for v in victims {
            kills.insert((node.clone(), serial, v, sender, signal));
        }
    }
    (kills, untargeted)
}

fn ours(data: &[u8]) -> BTreeSet<Kill> {
    let cfg = ReplayConfig {
        signals: SignalSet::all(),
        ..ReplayConfig::default()
    };
    let (reports, _, _) = replay_text(data, cfg);
    reports
        .iter()
        .filter_map(|r| match r {
            Report::Kill(k) => Some((
                k.node
                    .as_ref()
                    .map(|n| String::from_utf8_lossy(&n.0).into_owned()),
                k.audit.as_ref().unwrap().serial,
                i64::from(k.victim.pid),
                i64::from(k.sender.as_ref().unwrap().pid),
                k.signal,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn corpus_agrees_with_ausearch() {
    ausearch_present();
    let files = corpus_files();
    assert!(files.len() >= 50, "corpus has {} files", files.len());
    let (mut total, mut untargeted_total, mut bytes, mut lines) = (0, 0, 0, 0);
    let mut reversed_checked = 0;
    for f in &files {
        let data = std::fs::read(f).unwrap();
        bytes += data.len();
        lines += data.split(|&c| c == b'\n').count();
        let (want, untargeted) = oracle(&ausearch(&["-i"], f));
        let got = ours(&data);
        assert_eq!(got, want, "{}: sigwatch replay vs ausearch -i", f.display());
        total += want.len();
        untargeted_total += untargeted;
        // ausearch's own output of the file: records of each event in
        // reverse order between `----` lines.
        if !want.is_empty() {
            let reversed = ausearch(&[], f);
            let again = ours(reversed.as_bytes());
            assert_eq!(again, want, "{}: replay of ausearch's output", f.display());
            reversed_checked += 1;
        }
    }
    assert!(total >= 6, "only {total} kill events in the corpus");
    println!(
        "corpus: {} files, {} lines, {} bytes; {} kill reports agree with ausearch -i \
         ({} untargeted kill events reported by neither); {} files also agree as ausearch output",
        files.len(),
        lines,
        bytes,
        total,
        untargeted_total,
        reversed_checked
    );
}

#[test]
fn every_arch_names_the_kill_family_like_ausearch() {
    ausearch_present();
    use auditsig::syscalls::{KillSyscall, ARCHES};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arches.log");
    let mut text = String::new();
    let mut serial = 1;
    for row in ARCHES {
        for s in KillSyscall::ALL {
            text.push_str(&format!(
                "type=SYSCALL msg=audit(1795667968.504:{serial}): arch={:x} syscall={} success=yes exit=0 a0=4d2 a1=9 a2=9 a3=0 items=0 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"k\" exe=\"/k\" key=(null)\n",
                row.audit,
                s.number(row.arch)
            ));
            serial += 1;
        }
    }
    std::fs::write(&path, &text).unwrap();
    let out = ausearch(&["-i"], &path);
    let (mut agree, mut unknown_to_ausearch) = (0, 0);
    for ev in out.split("----") {
        let Some(sc) = ev.lines().find(|l| l.contains("type=SYSCALL ")) else {
            continue;
        };
        let serial = serial_of(sc) as usize;
        let row = &ARCHES[(serial - 1) / 6];
        let want = KillSyscall::ALL[(serial - 1) % 6].name();
        let name = field(sc, "syscall").unwrap();
        // ausearch has no table for this arch: it says so in `arch=` (and
        // then names the number from the host's table, which is wrong).
        if field(sc, "arch").unwrap().starts_with("unknown-elf-type") {
            unknown_to_ausearch += 1;
            continue;
        }
        assert_eq!(name, want, "{} serial {serial}", row.name);
        agree += 1;
    }
    // sigwatch decodes every row.
    let cfg = ReplayConfig {
        signals: SignalSet::all(),
        ..ReplayConfig::default()
    };
    let (reports, stats, _) = replay_text(text.as_bytes(), cfg);
    assert_eq!(stats.kill_events as usize, ARCHES.len() * 6);
    assert_eq!(stats.unknown_arch, 0);
    // pidfd_send_signal without an OBJ_PID names no process (a pidfd).
    assert_eq!(stats.no_target as usize, ARCHES.len());
    assert_eq!(reports.len(), ARCHES.len() * 5);
    assert!(agree >= 6 * 8, "ausearch named only {agree}");
    println!(
        "arches: {} of {} (arch, syscall) pairs named alike by ausearch; {} in arches ausearch has no table for",
        agree,
        ARCHES.len() * 6,
        unknown_to_ausearch
    );
}
