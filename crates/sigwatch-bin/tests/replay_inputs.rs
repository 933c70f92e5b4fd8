//! `sigwatch replay` over several inputs, some of them broken or given
//! twice, and over processes with huge command lines: what a user gets
//! from the binary (reports, summary, notes, exit status).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sigwatch::replay::{replay_text, ReplayConfig, ReplayStats};
use sigwatch::{KillReport, Report, SignalSet};

/// A SIGKILL of `victim` (named `comm`) by the captured `sh` 1428, at
/// second `sec` with serial `serial`, closed by its `EOE` so that it is
/// reported as soon as it is read.
fn kill(sec: u64, serial: u64, victim: i32, comm: &str) -> String {
    format!(
        "type=SYSCALL msg=audit({sec}.992:{serial}): arch=c000003e syscall=62 success=yes exit=0 a0={victim:x} a1=9 a2=0 a3=7f189bd1eac0 items=0 ppid=1 pid=1428 auid=4294967295 uid=65534 gid=65534 euid=65534 suid=65534 fsuid=65534 egid=65534 sgid=65534 fsgid=65534 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"swtest\"\n\
         type=OBJ_PID msg=audit({sec}.992:{serial}): opid={victim} oauid=-1 ouid=65534 oses=-1 ocomm=\"{comm}\"\n\
         type=EOE msg=audit({sec}.992:{serial}):\n"
    )
}

/// `n` lines of records a replay does not use, different enough that
/// gzip cannot squeeze them into a few bytes.
/// Every signal, as `--signal all`.
fn all_signals() -> ReplayConfig {
    ReplayConfig {
        signals: SignalSet::all(),
        ..ReplayConfig::default()
    }
}

/// The one kill report a replay of `log` gives (the test fails on any
/// other outcome), and the replay's counters.
fn the_kill(log: &str) -> (KillReport, ReplayStats) {
    let (reports, stats, _) = replay_text(log.as_bytes(), all_signals());
    let [Report::Kill(k)] = reports.as_slice() else {
        panic!("{reports:?}")
    };
    (k.clone(), stats)
}

fn filler(sec: u64, n: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut s = String::new();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s += &format!(
            "type=PATH msg=audit({sec}.000:{}): item=0 name=\"/tmp/{x:016x}\" inode={} dev=ca:03\n",
            100_000 + i,
            x % 1_000_003
        );
    }
    s
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn sigwatch<P: AsRef<std::ffi::OsStr>>(args: &[P]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sigwatch"))
        .args(["replay", "--json"])
        .args(args)
        .output()
        .unwrap()
}

/// The victims of the JSON reports of `out`, in order.
fn victims(out: &Output) -> Vec<i64> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["victim"]["pid"].as_i64().unwrap()
        })
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `sigwatch replay dir/` where `audit.log.2.gz` is cut short (`head -c`
/// of a gzip): the kills before the cut and those of the newer files are
/// reported, the cut file is named with its cause in words, the summary
/// is printed, and the exit status is 1.
#[test]
fn a_cut_gzip_in_a_rotated_set_keeps_what_was_read_and_the_newer_files() {
    let dir = tempfile::tempdir().unwrap();
    // Oldest: kill of 101, much else, kill of 102 — cut in the middle.
    let old = kill(1795660000, 1, 101, "early")
        + &filler(1795660001, 20_000)
        + &kill(1795660002, 2, 102, "late");
    let gz = gzip(&old);
    std::fs::write(dir.path().join("audit.log.2.gz"), &gz[..gz.len() / 2]).unwrap();
    std::fs::write(
        dir.path().join("audit.log.1"),
        kill(1795660010, 3, 103, "one"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("audit.log"),
        kill(1795660020, 4, 104, "now"),
    )
    .unwrap();

    let out = sigwatch(&[dir.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(victims(&out), vec![101, 103, 104]);
    let err = stderr(&out);
    assert!(
        err.contains("sigwatch replay: 3 input(s) (1 not readable"),
        "{err}"
    );
    assert!(
        err.contains("audit.log.2.gz: cut short (incomplete gzip stream)"),
        "{err}"
    );
    assert!(!err.contains("failed to fill"), "{err}");
    assert!(err.contains("could not be read to the end"), "{err}");

    // A damaged one (bytes overwritten in its deflate data) is named as
    // such; the files after it are still read.
    let mut bad = gz.clone();
    for b in &mut bad[gz.len() / 3..gz.len() / 3 + 64] {
        *b = 0xff;
    }
    std::fs::write(dir.path().join("audit.log.2.gz"), &bad).unwrap();
    let out = sigwatch(&[dir.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = victims(&out);
    assert_eq!(&v[v.len() - 2..], [103, 104], "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("audit.log.2.gz: damaged (corrupt gzip stream")
            || err.contains("audit.log.2.gz: cut short"),
        "{err}"
    );

    // Whole again: exit 0, no note.
    std::fs::write(dir.path().join("audit.log.2.gz"), &gz).unwrap();
    let out = sigwatch(&[dir.path()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(victims(&out), vec![101, 102, 103, 104]);
    assert!(!stderr(&out).contains("note:"), "{}", stderr(&out));
}

/// A cut gzip between two plain files given by name: the files on both
/// sides are read.
#[test]
fn a_broken_input_in_the_middle_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let cut = dir.path().join("cut.gz");
    let b = dir.path().join("b.log");
    std::fs::write(&a, kill(1795660000, 1, 201, "a")).unwrap();
    let gz = gzip(&kill(1795660005, 2, 202, "cut"));
    std::fs::write(&cut, &gz[..gz.len() - 4]).unwrap();
    std::fs::write(&b, kill(1795660010, 3, 203, "b")).unwrap();
    let out = sigwatch(&[&a, &cut, &b]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = victims(&out);
    assert!(
        v.contains(&201) && v.contains(&203),
        "{v:?} {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "{}: cut short (incomplete gzip stream)",
            cut.display()
        )),
        "{}",
        stderr(&out)
    );
}

/// A path that does not exist stops the replay before anything is read:
/// a mistyped name costs nothing, and no partial output can be taken for
/// the whole.
#[test]
fn a_missing_path_stops_the_replay_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    std::fs::write(&a, kill(1795660000, 1, 301, "a")).unwrap();
    std::fs::write(&b, kill(1795660010, 2, 302, "b")).unwrap();
    let missing = dir.path().join("nonexistent");
    let out = sigwatch(&[&a, &missing, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot open {}", missing.display())),
        "{err}"
    );
    assert!(err.contains("nothing was read"), "{err}");
}

/// `journalctl -o export` output cut inside an entry: the complete
/// entries before the cut give their reports; the stream is named as cut
/// short, not "failed to fill whole buffer".
#[test]
fn a_cut_journal_export_stream_keeps_the_entries_before_the_cut() {
    let text = kill(1795660000, 1, 401, "first") + &kill(1795660010, 2, 402, "second");
    let mut export = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let (t, rest) = l.strip_prefix("type=").unwrap().split_once(' ').unwrap();
        let n = match t {
            "SYSCALL" => 1300,
            "OBJ_PID" => 1318,
            _ => 1320,
        };
        let stamp = &rest[rest.find('(').unwrap() + 1..rest.find(')').unwrap()];
        let (time, serial) = stamp.split_once(':').unwrap();
        let (sec, ms) = time.split_once('.').unwrap();
        let body = rest[rest.find("):").unwrap() + 2..].trim_start();
        let msg = format!("{t} {body}");
        write!(export, "__CURSOR=s={i}\n_TRANSPORT=audit\n_AUDIT_TYPE={n}\n_AUDIT_ID={serial}\n_SOURCE_REALTIME_TIMESTAMP={sec}{ms}000\nMESSAGE\n").unwrap();
        export.extend_from_slice(&(msg.len() as u64).to_le_bytes());
        export.extend_from_slice(msg.as_bytes());
        export.extend_from_slice(b"\n\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("journal.export");
    std::fs::write(&p, &export).unwrap();
    let out = sigwatch(&[&p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(victims(&out), vec![401, 402]);
    // Cut inside the binary MESSAGE of the last entry (the second kill's
    // EOE): both kills are complete before it.
    std::fs::write(&p, &export[..export.len() - 10]).unwrap();
    let out = sigwatch(&[&p]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(victims(&out), vec![401, 402], "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("journal.export: cut short (incomplete journal export entry)"),
        "{err}"
    );
    assert!(!err.contains("failed to fill whole buffer"), "{err}");
    assert!(err.contains("sigwatch replay: 1 input(s)"), "{err}");
}

/// The same file given twice, by another name (a symlink, a hard link,
/// `./`), or as a member of a directory given too, is read once, with a
/// note: its kills are reported once.
#[test]
fn a_file_given_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let log = set.join("audit.log");
    std::fs::write(&log, kill(1795660000, 1, 501, "x")).unwrap();
    std::fs::write(set.join("audit.log.1"), kill(1795659000, 2, 502, "y")).unwrap();
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink(&log, &link).unwrap();
    let hard = dir.path().join("hard.log");
    std::fs::hard_link(&log, &hard).unwrap();
    let dotted: PathBuf = set.join(".").join("audit.log");

    let once = sigwatch(&[&log]);
    assert_eq!(victims(&once), vec![501]);
    for twice in [
        vec![log.as_path(), log.as_path()],
        vec![log.as_path(), link.as_path()],
        vec![log.as_path(), hard.as_path()],
        vec![log.as_path(), dotted.as_path()],
    ] {
        let out = sigwatch(&twice);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(victims(&out), vec![501], "{twice:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "note: {} is the same file as {}: read once",
                twice[1].display(),
                log.display()
            )),
            "{err}"
        );
        assert!(err.contains("1 given twice and read once"), "{err}");
    }
    // A set and one of its members.
    let out = sigwatch(&[&set, &log]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(victims(&out), vec![502, 501]);
    assert!(stderr(&out).contains("read once"), "{}", stderr(&out));
}

/// The captured `echo` with a 16 384-byte argument (the kernel's split
/// `a1[n]` form over three `EXECVE` records), then killed: its argv is
/// kept cut to 4096 bytes of argument text and reported
/// `argv_truncated`, as watch mode reports a huge command line.
#[test]
fn a_huge_split_execve_argv_is_cut_as_in_watch_mode() {
    let exec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/corpus/laurel/record-execve-long.txt"),
    )
    .unwrap();
    let log = exec + &kill(1615150980, 21100, 8832, "echo");
    let (k, _) = the_kill(&log);
    let argv = k.victim.argv.as_ref().unwrap();
    assert_eq!(argv[0].0, b"/bin/echo");
    assert_eq!(argv.iter().map(|a| a.0.len()).sum::<usize>(), 4096);
    assert!(argv[1].0.starts_with(b"baaa"));
    assert_eq!(k.victim.argv_truncated, Some(true));
    let v = serde_json::to_value(Report::Kill(k)).unwrap();
    assert_eq!(v["victim"]["argv_truncated"], true);
}

/// Many processes, each exec'd with a 100 KB argument (the common
/// `aN="..."` form) and then killed: each reported argv is cut to 4096
/// bytes, and the table holds no more than that per process.
#[test]
fn replay_memory_for_argv_is_bounded_per_process() {
    let big = "x".repeat(100_000);
    let mut log = String::new();
    for i in 0..40u64 {
        let pid = 7000 + i;
        let sec = 1795660000 + i;
        log += &format!(
            "type=SYSCALL msg=audit({sec}.000:{i}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=1 pid={pid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"job\" exe=\"/usr/bin/job\" key=(null)\n\
             type=EXECVE msg=audit({sec}.000:{i}): argc=3 a0=\"job\" a1=\"{big}\" a2=\"--after\"\n\
             type=EOE msg=audit({sec}.000:{i}):\n"
        );
    }
    let mut r = sigwatch::replay::Replay::with_config(all_signals());
    for line in log.lines() {
        let mut st = sigwatch::replay::input::InputStats::default();
        let _ = r.push_item(sigwatch::replay::input::classify_line(
            line.as_bytes(),
            &mut st,
        ));
    }
    let _ = r.finish();
    let held: Vec<usize> = r
        .procs()
        .iter()
        .filter_map(|p| p.exec_argv.as_ref().map(|(a, _)| a.len()))
        .collect();
    assert_eq!(held.len(), 40);
    // 4096 bytes of text and the separator after `job`.
    assert!(held.iter().all(|&n| n == 4097), "{held:?}");
    assert!(r.procs().iter().all(|p| p.exec_argv_truncated));

    // The reports say so.
    let text = log + &kill(1795660100, 999, 7039, "job");
    let (k, _) = the_kill(&text);
    let argv = k.victim.argv.as_ref().unwrap();
    assert_eq!(argv.len(), 2, "the argument after the cut is dropped");
    assert_eq!(argv[1].0.len(), 4093);
    assert_eq!(k.victim.argv_truncated, Some(true));
}

/// A `cwd` longer than any path a kernel writes (a forged or damaged
/// record) is not kept in the process history — it would hold memory for
/// as long as the process — but counted; the victim's cwd is null.
#[test]
fn an_over_long_cwd_is_not_kept_but_counted() {
    let long = "/".to_string() + &"d".repeat(9000);
    let log = format!(
        "type=SYSCALL msg=audit(1795660000.000:1): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=1 pid=7100 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"job\" exe=\"/usr/bin/job\" key=(null)\n\
         type=CWD msg=audit(1795660000.000:1): cwd=\"{long}\"\n\
         type=EOE msg=audit(1795660000.000:1):\n"
    ) + &kill(1795660100, 2, 7100, "job");
    let (k, stats) = the_kill(&log);
    assert_eq!(k.victim.cwd, None);
    assert_eq!(k.victim.exe.as_ref().unwrap().0, b"/usr/bin/job");
    assert_eq!(stats.details_too_long, 1);
}

/// The text of two hosts' kills with the same pids (forwarded records,
/// `node=`): each first line names its host, and neither says "no exit
/// seen", which would read as a failed kill — a log records no exits.
#[test]
fn replay_text_names_the_node_and_does_not_say_no_exit_seen() {
    let one = kill(1795660000, 1, 601, "worker");
    let log: String = one
        .lines()
        .map(|l| format!("node=web1 {l}\n"))
        .chain(
            kill(1795660000, 1, 601, "worker")
                .lines()
                .map(|l| format!("node=web2 {l}\n")),
        )
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("audit.log");
    std::fs::write(&p, log).unwrap();
    let opts = sigwatch::replay::run::ReplayOptions {
        files: vec![p],
        utc: true,
        config: all_signals(),
        ..Default::default()
    };
    let mut out = Vec::new();
    sigwatch::replay::run::run(&opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let firsts: Vec<&str> = text.lines().filter(|l| l.contains("SIGKILL to")).collect();
    assert_eq!(firsts.len(), 2, "{text}");
    assert!(firsts[0].contains("[web1]"), "{text}");
    assert!(firsts[1].contains("[web2]"), "{text}");
    assert!(!text.contains("no exit"), "{text}");
    assert!(text.contains("exit unknown: a log records none"), "{text}");
}
