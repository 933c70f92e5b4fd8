//! `sigwatch replay` on real records (the kill events captured on Linux 6.18
//! in `tests/data/auditd-enriched-kill.log`, laurel's execve event) and on
//! edits of them that stage what long, forwarded or damaged logs hold: pid
//! reuse, several hosts, kills without OBJ_PID, pauses inside an event,
//! ausearch's order, unknown values, other arches, huge or unknown records,
//! every input format, and the filters.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sigwatch::replay::{replay_text, ReplayConfig, ReplayStats};
use sigwatch::report::KillReport;
use sigwatch::{Report, SignalSet};

fn data(p: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(p),
    )
    .unwrap()
}

/// The captured kill of pa-daemon (1424) by the orphaned `sh` 1428, raw.
const KILL_32: [&str; 3] = [
    "type=SYSCALL msg=audit(1795667992.992:32): arch=c000003e syscall=62 success=yes exit=0 a0=590 a1=9 a2=0 a3=7f189bd1eac0 items=0 ppid=1 pid=1428 auid=4294967295 uid=65534 gid=65534 euid=65534 suid=65534 fsuid=65534 egid=65534 sgid=65534 fsgid=65534 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=\"swtest\"",
    "type=OBJ_PID msg=audit(1795667992.992:32): opid=1424 oauid=-1 ouid=65534 oses=-1 ocomm=\"pa-daemon\"",
    "type=PROCTITLE msg=audit(1795667992.992:32): proctitle=2F62696E2F7368002F7372762F70632D64656D6F2D61707073312F70632F70635F67756172642E7368002D2D6D6F64650072657374617274",
];

fn kills(text: &str, cfg: ReplayConfig) -> (Vec<KillReport>, ReplayStats) {
    let (reports, stats, _) = replay_text(text.as_bytes(), cfg);
    let k = reports
        .into_iter()
        .filter_map(|r| match r {
            Report::Kill(k) => Some(k),
            _ => None,
        })
        .collect();
    (k, stats)
}

fn all() -> ReplayConfig {
    ReplayConfig {
        signals: SignalSet::all(),
        ..ReplayConfig::default()
    }
}

fn s(t: &Option<sigwatch::report::Text>) -> Option<String> {
    t.as_ref()
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
}

/// An execve event of `pid` (child of `ppid`) named `comm`, at `sec`,
/// from laurel's real record with the fields changed.
fn exec(sec: u64, serial: u64, pid: i32, ppid: i32, comm: &str) -> String {
    data("corpus/laurel/record-execve.txt")
        .lines()
        .map(|l| l.split('\x1d').next().unwrap())
        .map(|l| l.strip_prefix("node=work ").unwrap_or(l))
        .map(|l| {
            l.replace(
                "audit(1615114232.375:15558)",
                &format!("audit({sec}.000:{serial})"),
            )
            .replace("ppid=10883 pid=10884", &format!("ppid={ppid} pid={pid}"))
            .replace("whoami", comm)
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn pid_reuse_victim_is_the_obj_pid_process_and_ancestors_are_of_their_time() {
    let mut log = String::new();
    // A day earlier: pid 1424 was firefox.
    log += &exec(1795580000, 1, 1424, 900, "firefox");
    // The killer's parent 700 (bash) starts the killer 1428.
    log += &exec(1795667000, 2, 700, 1, "bash");
    log += &exec(1795667100, 3, 1428, 700, "sh");
    // Then 700 dies and its pid goes to an unrelated process.
    log += &exec(1795667500, 4, 700, 77, "evil");
    for l in KILL_32 {
        log += &l.replace("ppid=1 pid=1428", "ppid=700 pid=1428");
        log.push('\n');
    }
    let (k, st) = kills(&log, all());
    assert_eq!(k.len(), 1);
    let v = &k[0].victim;
    assert_eq!((v.pid, s(&v.comm).as_deref()), (1424, Some("pa-daemon")));
    // Nothing of the older firefox is shown as the victim's.
    assert_eq!(v.exe, None);
    assert_eq!(v.argv, None);
    let a = &k[0].ancestors;
    assert_eq!(a[0].pid, 700);
    assert_eq!(s(&a[0].comm).as_deref(), Some("bash"), "{a:?}");
    assert!(st.pid_reuse >= 2, "{st:?}");
}

#[test]
fn two_hosts_with_the_same_stamp_are_two_events() {
    let mut log = String::new();
    for l in KILL_32 {
        log += &format!("node=web1 {l}\n");
        let other = l
            .replace("pid=1428", "pid=5000")
            .replace("opid=1424", "opid=6000")
            .replace("pa-daemon", "postgres");
        log += &format!("node=db1 {other}\n");
    }
    let (k, _) = kills(&log, all());
    let mut got: Vec<(String, i32, i32, String)> = k
        .iter()
        .map(|k| {
            (
                s(&k.node).unwrap(),
                k.sender.as_ref().unwrap().pid,
                k.victim.pid,
                s(&k.victim.comm).unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("db1".into(), 5000, 6000, "postgres".into()),
            ("web1".into(), 1428, 1424, "pa-daemon".into())
        ]
    );
    // Without node=, null.
    let (k, _) = kills(&(KILL_32.join("\n") + "\n"), all());
    assert_eq!(k[0].node, None);
    let json = serde_json::to_value(Report::Kill(k[0].clone())).unwrap();
    assert!(json["node"].is_null());
}

#[test]
fn kill_without_obj_pid_is_reported_from_its_target_argument() {
    let log = format!("{}\n{}\n", KILL_32[0], KILL_32[2]);
    let (k, st) = kills(&log, all());
    assert_eq!(k.len(), 1);
    // a0=590: pid 1424; its name is unknown (no record names it).
    assert_eq!((k[0].victim.pid, k[0].victim.comm.clone()), (1424, None));
    assert_eq!(st.no_target, 0);
    // The syscall reached the one process its argument names (it was 0,
    // counting OBJ_PID records only, until 2026-12-02).
    assert_eq!(k[0].syscall_target, Some(1424));
    assert_eq!(k[0].syscall_target_count, Some(1));
    // A process-group kill without OBJ_PID names no process: counted.
    let group = KILL_32[0].replace("a0=590", "a0=fffffa3d");
    let (k, st) = kills(&format!("{group}\n"), all());
    assert!(k.is_empty());
    assert_eq!(st.no_target, 1);
}

#[test]
fn the_same_file_gives_the_same_reports_at_any_reading_speed() {
    // Another event's records in between, seconds apart in record time.
    let log = format!(
        "{}\n{}\n{}\n{}\n",
        KILL_32[0],
        exec(1795667993, 99, 4242, 1, "ls").trim_end(),
        KILL_32[1],
        KILL_32[2]
    );
    let bin = env!("CARGO_BIN_EXE_sigwatch");
    let fast = Command::new(bin)
        .args(["replay", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut slow = Command::new(bin)
        .args(["replay", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut fast = fast;
        fast.stdin
            .take()
            .unwrap()
            .write_all(log.as_bytes())
            .unwrap();
        let out_fast = fast.wait_with_output().unwrap().stdout;
        // The slow pipe pauses 2.5 s (longer than a live source's timeout)
        // after the SYSCALL record.
        let mut stdin = slow.stdin.take().unwrap();
        let (first, rest) = log.split_once('\n').unwrap();
        stdin.write_all(first.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        stdin.write_all(rest.as_bytes()).unwrap();
        drop(stdin);
        let out_slow = slow.wait_with_output().unwrap().stdout;
        assert!(!out_fast.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out_fast),
            String::from_utf8_lossy(&out_slow)
        );
        let v: serde_json::Value =
            serde_json::from_slice(out_fast.split(|&c| c == b'\n').next().unwrap()).unwrap();
        assert_eq!(v["victim"]["comm"], "pa-daemon");
        assert_eq!(v["sender"]["argv"][1], "/srv/pc-demo-apps1/pc/pc_guard.sh");
    }
}

#[test]
fn ausearch_order_keeps_the_senders_argv() {
    let log = format!(
        "----\ntime->Thu Nov 26 04:39:52 2026\n{}\n{}\n{}\n----\n",
        KILL_32[2], KILL_32[1], KILL_32[0]
    );
    let (k, _) = kills(&log, all());
    assert_eq!(k.len(), 1);
    let argv = k[0].sender.as_ref().unwrap().argv.as_ref().unwrap();
    assert_eq!(argv.len(), 4);
    assert_eq!(k[0].victim.pid, 1424);
}

#[test]
fn unknown_values_are_null() {
    let log = format!(
        "{}\n{}\n",
        KILL_32[0].replace("exe=\"/usr/bin/dash\"", "exe=\"\""),
        KILL_32[1].replace(" ocomm=\"pa-daemon\"", "")
    );
    let (k, _) = kills(&log, all());
    let j = serde_json::to_value(Report::Kill(k[0].clone())).unwrap();
    assert!(j["victim"]["comm"].is_null(), "{j}");
    assert!(j["sender"]["exe"].is_null(), "{j}");
}

#[test]
fn other_arches_decode() {
    // The same kill as written by an s390x and a ppc64le kernel (kill is
    // 37 on both), and riscv64 (129).
    for (arch, nr, name) in [
        ("80000016", 37, "s390x"),
        ("c0000015", 37, "ppc64le"),
        ("c00000f3", 129, "riscv64"),
    ] {
        let log = format!(
            "{}\n{}\n",
            KILL_32[0].replace(
                "arch=c000003e syscall=62",
                &format!("arch={arch} syscall={nr}")
            ),
            KILL_32[1]
        );
        let (k, st) = kills(&log, all());
        assert_eq!(k.len(), 1, "{name}");
        assert_eq!(k[0].syscall.as_deref(), Some("kill"));
        assert_eq!(st.unknown_arch, 0);
    }
    let log = KILL_32[0].replace("arch=c000003e", "arch=deadbeef");
    let (k, st) = kills(&log, all());
    assert!(k.is_empty());
    assert_eq!(st.unknown_arch, 1);
}

#[test]
fn nothing_is_dropped_silently() {
    // kill(-1) with 200,000 OBJ_PID records and a per-event limit.
    let mut log = String::with_capacity(200_000 * 100);
    log += &KILL_32[0].replace("a0=590", "a0=ffffffff");
    log.push('\n');
    for i in 0..200_000 {
        log += &format!(
            "type=OBJ_PID msg=audit(1795667992.992:32): opid={} oauid=-1 ouid=0 oses=-1 ocomm=\"p\"\n",
            10_000 + i
        );
    }
    let (k, st) = kills(&log, all());
    // The limit counts targets (until 2026-12-02 the SYSCALL took one of
    // its places: 65 535 were kept).
    assert_eq!(k.len(), 65_536);
    assert_eq!(st.targets_dropped, 200_000 - 65_536);
    // Over-long lines and a CONTAINER_ID record.
    let long = format!(
        "type=SYSCALL msg=audit(1.000:1): comm=\"{}\"",
        "a".repeat(1 << 20)
    );
    let log = format!(
        "{long}\n{}\ntype=CONTAINER_ID msg=audit(1795667992.992:32): contid=3333941723245477888\n{}\n",
        KILL_32[0], KILL_32[1]
    );
    let (reports, _, input) = replay_text(log.as_bytes(), all());
    assert_eq!(input.oversized, 1);
    let Report::Kill(k) = &reports[0] else {
        panic!()
    };
    assert_eq!(
        s(&k.audit.as_ref().unwrap().container_id).as_deref(),
        Some("3333941723245477888")
    );
}

#[test]
fn memory_is_bounded_by_the_process_limit() {
    let mut log = String::new();
    for i in 0..5_000 {
        log += &exec(1795660000 + i as u64, i as u64 + 1, 20_000 + i, 1, "w");
    }
    for l in KILL_32 {
        log += l;
        log.push('\n');
    }
    let cfg = ReplayConfig {
        max_processes: 1_000,
        ..all()
    };
    let (reports, st, _) = replay_text(log.as_bytes(), cfg);
    assert!(st.processes_evicted >= 4_000, "{st:?}");
    assert_eq!(reports.len(), 1);
}

#[test]
fn filters() {
    let log = data("auditd-enriched-kill.log");
    let run = |cfg: ReplayConfig| {
        kills(&log, cfg)
            .0
            .iter()
            .map(|k| k.victim.pid)
            .collect::<Vec<_>>()
    };
    let every = run(all());
    assert_eq!(every, vec![1424, 1425, 1476, 1475, 1477]);
    assert_eq!(
        run(ReplayConfig {
            pids: vec![1425],
            ..all()
        }),
        vec![1425]
    );
    assert_eq!(
        run(ReplayConfig {
            comms: vec![b"sleep".to_vec()],
            ..all()
        })
        .len(),
        2
    );
    // 1795667994.476 is the process-group kill; until excludes it and later.
    let until = run(ReplayConfig {
        until_ms: Some(1_795_667_994_000),
        ..all()
    });
    assert_eq!(until, vec![1424, 1425]);
    let since = run(ReplayConfig {
        since_ms: Some(1_795_667_994_000),
        ..all()
    });
    assert_eq!(since, vec![1476, 1475, 1477]);
    // SIGKILL only is the default.
    assert_eq!(run(ReplayConfig::default()).len(), 5);
}

/// Reports of the binary on `path` as (serial, victim, sender).
fn cli(args: &[&str]) -> Vec<(u64, i64, i64)> {
    let out = Command::new(env!("CARGO_BIN_EXE_sigwatch"))
        .arg("replay")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["audit"]["serial"].as_u64().unwrap(),
                v["victim"]["pid"].as_i64().unwrap(),
                v["sender"]["pid"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_format_gives_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let raw: Vec<String> = data("auditd-enriched-kill.log")
        .lines()
        .map(|l| l.to_string())
        .collect();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let enriched = write("enriched.log", &(raw.join("\n") + "\n"));
    let want = cli(&[&enriched]);
    assert_eq!(want.len(), 5);
    // Kernel log and syslog wrappings of the raw records (numeric types).
    let num = |l: &str| -> String {
        let l = l.split('\x1d').next().unwrap();
        let (t, rest) = l.strip_prefix("type=").unwrap().split_once(' ').unwrap();
        let n = match t {
            "SYSCALL" => "1300",
            "OBJ_PID" => "1318",
            "PROCTITLE" => "1327",
            "SOCKADDR" => "1306",
            "CONFIG_CHANGE" => "1305",
            _ => "1200",
        };
        format!("type={n} {}", rest.strip_prefix("msg=").unwrap())
    };
    let kmsg: String = raw
        .iter()
        .map(|l| format!("[  12.345678] audit: {}\n", num(l)))
        .collect();
    assert_eq!(cli(&[&write("dmesg.txt", &kmsg)]), want);
    let syslog: String = raw
        .iter()
        .map(|l| {
            format!(
                "Nov 26 04:39:52 host kernel: audit: {}\nNov 26 04:39:52 host sshd[1]: unrelated\n",
                num(l)
            )
        })
        .collect();
    assert_eq!(cli(&[&write("syslog", &syslog)]), want);
    // journalctl -o json (journald's MESSAGE=<TYPE> <fields>).
    let journal = |l: &str| -> (String, String, String, String) {
        let l = l.split('\x1d').next().unwrap();
        let (t, rest) = l.strip_prefix("type=").unwrap().split_once(' ').unwrap();
        let stamp = &rest[rest.find('(').unwrap() + 1..rest.find(')').unwrap()];
        let (time, serial) = stamp.split_once(':').unwrap();
        let (sec, ms) = time.split_once('.').unwrap();
        let usec = format!("{sec}{ms}000");
        let body = rest[rest.find("): ").unwrap() + 3..].to_string();
        let n = num(l)
            .split(' ')
            .next()
            .unwrap()
            .trim_start_matches("type=")
            .to_string();
        (n, serial.to_string(), usec, format!("{t} {body}"))
    };
    let json: String = raw
        .iter()
        .map(|l| {
            let (n, serial, usec, msg) = journal(l);
            serde_json::json!({"_TRANSPORT": "audit", "_AUDIT_TYPE": n, "_AUDIT_ID": serial,
                "_SOURCE_REALTIME_TIMESTAMP": usec, "MESSAGE": msg})
            .to_string()
                + "\n"
        })
        .collect();
    assert_eq!(cli(&[&write("journal.json", &json)]), want);
    let mut export = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        let (n, serial, usec, msg) = journal(l);
        write!(export, "__CURSOR=s={i}\n_TRANSPORT=audit\n_AUDIT_TYPE={n}\n_AUDIT_ID={serial}\n_SOURCE_REALTIME_TIMESTAMP={usec}\nMESSAGE\n").unwrap();
        export.extend_from_slice(&(msg.len() as u64).to_le_bytes());
        export.extend_from_slice(msg.as_bytes());
        export.extend_from_slice(b"\n\n");
    }
    let p = dir.path().join("journal.export");
    std::fs::write(&p, &export).unwrap();
    assert_eq!(cli(&[p.to_str().unwrap()]), want);
    // A rotated, partly compressed set given as a directory: the older
    // half in audit.log.1.gz, the newer in audit.log.
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let half = raw.len() / 2;
    std::fs::write(set.join("audit.log"), raw[half..].join("\n") + "\n").unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(set.join("audit.log.1.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all((raw[..half].join("\n") + "\n").as_bytes())
        .unwrap();
    gz.finish().unwrap();
    assert_eq!(cli(&[set.to_str().unwrap()]), want);
}

/// KILL_32 with a `CONTAINER_ID` record of value `contid` in its event.
fn kill_with_contid(contid: &str) -> KillReport {
    let log = format!(
        "{}\n{}\ntype=CONTAINER_ID msg=audit(1795667992.992:32): contid={contid}\n{}\n",
        KILL_32[0], KILL_32[1], KILL_32[2]
    );
    let (mut k, _) = kills(&log, all());
    assert_eq!(k.len(), 1);
    k.remove(0)
}

#[test]
fn container_id_record_names_the_senders_container_and_not_the_victims() {
    let k = kill_with_contid("3333941723245477888");
    let v = serde_json::to_value(&k).unwrap();
    // The record belongs to the sender's syscall: its container, with the
    // runtime unknown (an orchestrator's number, not a runtime's id).
    assert_eq!(
        v["sender"]["container"],
        serde_json::json!({"runtime": null, "id": "3333941723245477888", "pod_uid": null})
    );
    // Nothing in the log says where the victim ran.
    assert!(v["victim"]["container"].is_null(), "{}", v["victim"]);
    // The raw value stays where it was.
    assert_eq!(v["audit"]["container_id"], "3333941723245477888");
    // Without the record: no container anywhere.
    let log = format!("{}\n{}\n{}\n", KILL_32[0], KILL_32[1], KILL_32[2]);
    let (k, _) = kills(&log, all());
    let v = serde_json::to_value(&k[0]).unwrap();
    assert!(v["sender"]["container"].is_null());
    assert!(v["audit"]["container_id"].is_null());
    // Nested containers (`own^parent`): the process's own id; other
    // ids after `,` are not this process's.
    let c = |contid: &str| {
        kill_with_contid(contid)
            .sender
            .unwrap()
            .context
            .container
            .and_then(|c| c.id)
    };
    assert_eq!(c("42^7").as_deref(), Some("42"));
    assert_eq!(c("42,99").as_deref(), Some("42"));
    // The unset id and garbage name no container (not invented).
    assert_eq!(c("18446744073709551615"), None);
    assert_eq!(c("docker"), None);
    // The text report shows it whole, runtime unknown.
    let text = sigwatch::render::render_text(
        &Report::Kill(kill_with_contid("3333941723245477888")),
        &sigwatch::render::TextOptions::default(),
    );
    assert!(
        text.contains("container (runtime unknown) 3333941723245477888"),
        "{text}"
    );
}

/// The text of `sigwatch replay` (the library's run) over `log`.
fn replay_text_output(log: &str, utc: bool, full: bool, width: Option<usize>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("audit.log");
    std::fs::write(&p, log).unwrap();
    let opts = sigwatch::replay::run::ReplayOptions {
        files: vec![p],
        utc,
        full,
        width,
        config: all(),
        ..Default::default()
    };
    let mut out = Vec::new();
    sigwatch::replay::run::run(&opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn text_output_follows_the_watch_modes_rules_for_time_and_width() {
    // The killer (1428) is the child of a process with a long command
    // line, seen exec'ing earlier in the log.
    let long = format!("guard{}", "x".repeat(150));
    let mut log = exec(1795667990, 30, 900, 1, &long);
    log += &KILL_32[0].replace("ppid=1 ", "ppid=900 ");
    log.push('\n');
    log += KILL_32[1];
    log.push('\n');
    log += KILL_32[2];
    log.push('\n');
    let (k, _) = kills(&log, all());
    assert_eq!(k[0].ancestors[0].pid, 900, "{:?}", k[0].ancestors);
    let t = k[0].time;

    // Local time with offset and zone by default; UTC with --utc.
    let local = sigwatch::render::text_time(
        t,
        &sigwatch::render::TextOptions {
            local_zone: Some(&sigwatch::render::local_zone),
            ..Default::default()
        },
    );
    assert!(local.contains(' ') && !local.ends_with('Z'), "{local}");
    let out = replay_text_output(&log, false, false, Some(80));
    assert!(out.contains(&local), "{local} not in:\n{out}");
    assert!(!out.contains(&t.rfc3339()), "{out}");
    let out_utc = replay_text_output(&log, true, false, Some(80));
    assert!(out_utc.contains(&t.rfc3339()), "{out_utc}");

    // Ancestors' lines cut to the width; whole with --full.
    let anc: Vec<&str> = out.lines().filter(|l| l.contains("guardxxx")).collect();
    assert!(!anc.is_empty(), "{out}");
    for l in &anc {
        assert!(l.chars().count() <= 80, "{} chars: {l}", l.chars().count());
    }
    assert!(!out.contains(&long), "{out}");
    let full = replay_text_output(&log, false, true, Some(80));
    assert!(full.contains(&long), "{full}");
}

#[test]
fn a_record_whose_enrichment_is_cut_is_still_used() {
    // The captured ENRICHED log with every SYSCALL line cut inside the
    // interpretation's last quoted value (a log cut by a crash, a
    // damaged copy): the raw part, all a replay reads, is intact.
    let whole = data("auditd-enriched-kill.log");
    let cut: String = whole
        .lines()
        .map(|l| {
            if l.starts_with("type=SYSCALL") && l.contains('\x1d') {
                let end = l.rfind('"').unwrap();
                l[..end - 1].to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert_ne!(cut, whole);
    let key = |k: &KillReport| (k.victim.pid, k.sender.as_ref().map(|s| s.pid), k.signal);
    let (a, _) = kills(&whole, all());
    let (b, st) = kills(&cut, all());
    assert_eq!(a.len(), 5);
    assert_eq!(
        a.iter().map(key).collect::<Vec<_>>(),
        b.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(st.malformed, 0);
}

/// An event's `OBJ_PID` and `PROCTITLE` before its `SYSCALL` (files given
/// out of order, a log cut between them): the kill is reported from what
/// its `SYSCALL` says, and the separated records are counted, not dropped
/// in silence.
#[test]
fn records_before_their_syscall_are_counted() {
    let text = [KILL_32[1], KILL_32[2], KILL_32[0]].join("\n");
    let (k, stats) = kills(&text, ReplayConfig::default());
    assert_eq!(stats.without_syscall, 1, "{stats:?}");
    assert_eq!(k.len(), 1);
    // In order, nothing is counted.
    let (_, stats) = kills(&KILL_32.join("\n"), ReplayConfig::default());
    assert_eq!(stats.without_syscall, 0, "{stats:?}");
}
