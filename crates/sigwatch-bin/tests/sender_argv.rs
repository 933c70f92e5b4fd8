//! The sender's argv when the audit `PROCTITLE` is an earlier program's
//! (the kernel caches it at the task's first audited syscall): the
//! Attributor reports the tree's argv read after the last exec, or null
//! with `proctitle_rejected`, never the earlier program's argv.
#![allow(clippy::unwrap_used)]

use auditsig::kill::Bytes;
use auditsig::{Arch, KillEvent, KillSyscall, Sender, Stamp, Target, TargetSpec};
use sigwatch::render::{render_text, write_json, TextOptions};
use sigwatch::report::{KillReport, Report};
use sigwatch::{Attributor, Config, MemTree};

mod common;
use common::{clock_ms, exit_event, proc_};

const STALE: [&str; 8] = [
    "setsid",
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "/opt/jobs/guard.sh",
    "--mode",
    "restart",
];
const CURRENT: [&str; 4] = ["/bin/sh", "/opt/jobs/guard.sh", "--mode", "restart"];

fn bytes(a: &[&str]) -> Vec<Vec<u8>> {
    a.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// `guard.sh` (pid 200, exe dash) kills the daemon (pid 300); its record
/// carries `setsid`'s cached PROCTITLE.
fn proctitle(a: &[&str]) -> Option<Vec<Bytes>> {
    Some(a.iter().map(|s| Bytes::from(*s)).collect())
}

fn stale_kill() -> KillEvent {
    let mut sender = Sender::new(200, 1, 0, 0, 0, "guard.sh");
    sender.exe = Some("/usr/bin/dash".into());
    sender.argv = proctitle(&STALE);
    let now = clock_ms(1000).wall_ns;
    let stamp = Stamp {
        sec: now / 1_000_000_000,
        msec: ((now / 1_000_000) % 1000) as u32,
        serial: 7,
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
    k
}

fn run(tree: MemTree) -> KillReport {
    let mut a = Attributor::new(Config::default(), tree);
    assert!(a.on_audit_kill(&stale_kill(), clock_ms(1000)).is_empty());
    let mut r = a.on_proc_event(&exit_event(clock_ms(1100), 300, 300, 9), clock_ms(1100));
    assert_eq!(r.len(), 1);
    match r.remove(0) {
        Report::Kill(k) => k,
        other => panic!("not a kill: {other:?}"),
    }
}

fn base() -> MemTree {
    let mut t = MemTree::new();
    t.insert(proc_(1, 0, "init", &["/sbin/init"]));
    t.insert(proc_(300, 1, "daemon", &["daemon"]));
    t
}

fn argv_of(k: &KillReport) -> Option<Vec<Vec<u8>>> {
    let s = k.sender.as_ref().unwrap();
    s.argv
        .as_ref()
        .map(|a| a.iter().map(|t| t.0.clone()).collect())
}

#[test]
fn tree_argv_read_after_the_last_exec_replaces_a_stale_proctitle() {
    let mut t = base();
    let mut guard = proc_(200, 1, "guard.sh", &CURRENT);
    guard.exe = Some("/usr/bin/dash".into());
    guard.argv_after_exec = true;
    t.insert(guard);
    let k = run(t);
    assert_eq!(argv_of(&k), Some(bytes(&CURRENT)));
    let s = k.sender.as_ref().unwrap();
    assert_eq!(s.argv_truncated, Some(false));
    assert_eq!(s.proctitle_rejected, Some(true));
    let mut json = Vec::new();
    write_json(&mut json, &Report::Kill(k.clone())).unwrap();
    let json = String::from_utf8(json).unwrap();
    assert!(json.contains(r#""proctitle_rejected":true"#), "{json}");
    assert!(!json.contains("setsid"), "{json}");
}

#[test]
fn without_the_tree_the_stale_proctitle_gives_null_argv() {
    let k = run(base());
    assert_eq!(argv_of(&k), None);
    let s = k.sender.as_ref().unwrap();
    assert_eq!(s.argv_truncated, None);
    assert_eq!(s.proctitle_rejected, Some(true));
    let opts = TextOptions {
        color: false,
        user_name: &|_| None,
        ..TextOptions::default()
    };
    let text = render_text(&Report::Kill(k), &opts);
    assert!(
        text.contains("argv ? (audit PROCTITLE is not this program's)"),
        "{text}"
    );
    assert!(!text.contains("setsid"), "{text}");
}

#[test]
fn a_tree_entry_of_an_earlier_program_is_not_used_either() {
    // The tree has not read guard.sh's exec yet: its entry is setpriv's.
    let mut t = base();
    let mut setpriv = proc_(200, 1, "setpriv", &STALE[1..]);
    setpriv.exe = Some("/usr/bin/setpriv".into());
    setpriv.argv_after_exec = true;
    t.insert(setpriv);
    let k = run(t);
    assert_eq!(argv_of(&k), None);
    assert_eq!(k.sender.as_ref().unwrap().proctitle_rejected, Some(true));
}

#[test]
fn a_fitting_proctitle_is_kept_and_not_flagged() {
    let mut a = Attributor::new(Config::default(), base());
    let mut kill = stale_kill();
    kill.sender.argv = proctitle(&CURRENT);
    a.on_audit_kill(&kill, clock_ms(1000));
    let r = a.on_proc_event(&exit_event(clock_ms(1100), 300, 300, 9), clock_ms(1100));
    let Some(Report::Kill(k)) = r.first() else {
        panic!("no kill report: {r:?}");
    };
    assert_eq!(argv_of(k), Some(bytes(&CURRENT)));
    assert_eq!(k.sender.as_ref().unwrap().proctitle_rejected, Some(false));
}

/// A real auditd log (ENRICHED, Linux 6.18, `tools/capture_execve_stale_proctitle.sh`)
/// with a user `execve` rule, cut to the scenario's events: a script
/// reached through `setsid setpriv` kills a sleep, then `/bin/kill`
/// reached the same way kills another. Both kill records carry `setsid`'s
/// PROCTITLE.
fn stale_log() -> Vec<auditsig::Record> {
    let path = format!(
        "{}/tests/data/auditd-execve-stale-proctitle.log",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| auditsig::Record::parse_line(l).unwrap())
        .collect()
}

fn replay_kills(records: Vec<auditsig::Record>) -> Vec<KillReport> {
    let (reports, stats) =
        sigwatch::replay::replay_records(records, sigwatch::SignalSet::sigkill());
    assert_eq!(stats.malformed, 0);
    reports
        .into_iter()
        .filter_map(|r| match r {
            Report::Kill(k) => Some(k),
            _ => None,
        })
        .collect()
}

fn proctitle_of(records: &[auditsig::Record], serial: u64) -> Vec<Vec<u8>> {
    let r = records
        .iter()
        .find(|r| r.record_type() == auditsig::RecordType::PROCTITLE && r.stamp().serial == serial)
        .unwrap();
    auditsig::value::split_proctitle(&r.get("proctitle").unwrap().bytes().unwrap())
}

#[test]
fn replay_takes_the_latest_execve_argv_not_the_stale_proctitle() {
    let records = stale_log();
    // The oracle: the log's own kill records really carry setsid's argv.
    assert_eq!(proctitle_of(&records, 9514)[0], b"setsid");
    assert_eq!(proctitle_of(&records, 9555)[0], b"setsid");
    let r = replay_kills(records);
    let got: Vec<_> = r
        .iter()
        .map(|k| {
            let s = k.sender.as_ref().unwrap();
            (
                k.victim.pid,
                s.pid,
                s.comm.as_ref().map(|c| c.0.clone()),
                argv_of(k),
                s.proctitle_rejected,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                24815,
                24834,
                Some(b"guard.sh".to_vec()),
                Some(bytes(&[
                    "/bin/sh",
                    "/tmp/swfix/jobs/guard.sh",
                    "--mode",
                    "restart",
                    "24815"
                ])),
                Some(true)
            ),
            (
                24862,
                24872,
                Some(b"kill".to_vec()),
                Some(bytes(&["/bin/kill", "-9", "24862"])),
                Some(true)
            ),
        ]
    );
    for k in &r {
        assert_eq!(k.sender.as_ref().unwrap().argv_truncated, Some(false));
    }
}

#[test]
fn replay_of_the_kill_events_alone_reports_null_argv_not_the_stale_one() {
    // A log that starts after the execs (rotated): only the kill events.
    let records: Vec<_> = stale_log()
        .into_iter()
        .filter(|r| matches!(r.stamp().serial, 9514 | 9555))
        .collect();
    assert_eq!(records.len(), 6);
    let r = replay_kills(records);
    assert_eq!(r.len(), 2);
    for k in &r {
        let s = k.sender.as_ref().unwrap();
        assert_eq!(argv_of(k), None, "{k:?}");
        assert_eq!(s.argv_truncated, None);
        assert_eq!(s.proctitle_rejected, Some(true));
    }
}

#[test]
fn replay_drops_an_argv_when_an_unrecorded_exec_changed_the_program() {
    // Without the EXECVE records of the last exec (guard.sh), the argv
    // known from setpriv's EXECVE belongs to an earlier program.
    let records: Vec<_> = stale_log()
        .into_iter()
        .filter(|r| !(r.stamp().serial == 9513 && r.record_type() == auditsig::RecordType::EXECVE))
        .collect();
    let r = replay_kills(records);
    let k = r.iter().find(|k| k.victim.pid == 24815).unwrap();
    assert_eq!(argv_of(k), None, "{k:?}");
    assert_eq!(k.sender.as_ref().unwrap().proctitle_rejected, Some(true));
}
