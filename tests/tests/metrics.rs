//! End-to-end: `--metrics-file` read by real monitoring. Debian's
//! `prometheus-node-exporter` (textfile collector only) reads the metrics
//! directory, Debian's `prometheus` scrapes it every second and evaluates
//! `contrib/sigwatch-alerts.yml`, both on free loopback ports; after real
//! kills of processes placed in cgroups named like systemd units,
//! Prometheus's HTTP API answers `sigwatch_kills_total` with the counts by
//! label, and the alert fires. `promtool check metrics` passes on the
//! file, `promtool check rules` on the rules. Root only; skips
//! (`tool:prometheus`) without the packages. The daemons are stopped and
//! every cgroup removed also when the test fails.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use sigwatch_e2e::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon of the test's own, killed and reaped on drop.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Daemon {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} cannot start: {e}"));
        Daemon { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with its log if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("{} exited ({st}):\n{}", self.name, self.log());
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free now (bound, then released for the daemon).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes a query-string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET path` over plain HTTP/1.0: (status, body), or None when nothing
/// answers.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The result vector of an instant query (`/api/v1/query`).
fn query(port: u16, promql: &str) -> Vec<Value> {
    let Some((200, body)) = http_get(port, &format!("/api/v1/query?query={}", encode(promql)))
    else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{v:#}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// `(labels, value)` of each series in a query result.
fn series(result: &[Value]) -> Vec<(serde_json::Map<String, Value>, f64)> {
    result
        .iter()
        .map(|s| {
            let mut m = s["metric"].as_object().cloned().unwrap();
            for internal in ["__name__", "instance", "job"] {
                m.remove(internal);
            }
            let v = s["value"][1].as_str().unwrap().parse().unwrap();
            (m, v)
        })
        .collect()
}

fn promtool(args: &[&str], stdin: Option<&Path>) -> (bool, String) {
    let mut c = Command::new("promtool");
    c.args(args);
    if let Some(p) = stdin {
        c.stdin(std::fs::File::open(p).unwrap());
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn rules_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/sigwatch-alerts.yml")
}

#[test]
fn prometheus_scrapes_kill_counters_through_node_exporter() {
    let test = "metrics_prometheus";
    if !require_root(test) || !require_sender_witness(test) {
        return;
    }
    for tool in ["prometheus", "prometheus-node-exporter", "promtool"] {
        if sigwatch_test_support::probe::tool(tool).is_none() {
            skip(
                test,
                Need::Tool("prometheus".into()),
                format!("`{tool}` is not on PATH (Debian packages prometheus, prometheus-node-exporter)"),
            );
            return;
        }
    }
    let Some(root) = hierarchy("cgroup2", None) else {
        skip(
            test,
            Need::Host("cgroup2".into()),
            "no cgroup2 mount to place victims in units",
        );
        return;
    };
    let (ok, out) = promtool(&["check", "rules", rules_file().to_str().unwrap()], None);
    assert!(ok, "promtool check rules: {out}");

    let dir = TempDir::new("metrics");
    let textfiles = dir.0.join("textfile");
    std::fs::create_dir(&textfiles).unwrap();
    let prom_file = textfiles.join("sigwatch.prom");
    let node_port = free_port();
    let mut node = Daemon::spawn(
        "node_exporter",
        Command::new("prometheus-node-exporter")
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!(
                "--collector.textfile.directory={}",
                textfiles.display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}")),
        dir.0.join("node_exporter.log"),
    );
    let prom_port = free_port();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n",
            rules_file().display()
        ),
    )
    .unwrap();
    let mut prom = Daemon::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        dir.0.join("prometheus.log"),
    );

    let tag = std::process::id();
    let mut cgs = Cgroups::new(&root);
    let unit_a = format!("sigwatch-e2e-m{tag}-a.service");
    let unit_b = format!("sigwatch-e2e-m{tag}-b.service");
    let unit_k = format!("sigwatch-e2e-m{tag}-k.service");
    let cg_a = cgs.make(&format!("/system.slice/{unit_a}"));
    let cg_b = cgs.make(&format!("/system.slice/{unit_b}"));
    let cg_k = cgs.make(&format!("/system.slice/{unit_k}"));

    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let metrics_arg = prom_file.to_str().unwrap().to_string();
    let mut sw = Sigwatch::start(&["--metrics-file", &metrics_arg]);
    // Three kills of a process in unit a, one in unit b, all sent from a
    // shell in unit k.
    let mut expected = Vec::new();
    for (cg, unit) in [
        (&cg_a, &unit_a),
        (&cg_a, &unit_a),
        (&cg_a, &unit_a),
        (&cg_b, &unit_b),
    ] {
        let mut v = sleep_in(cg);
        let vpid = v.id() as i32;
        kill_from(&cg_k, vpid);
        let _ = v.wait();
        let r = sw.wait_kill_of(vpid);
        assert_eq!(r["victim"]["unit"], unit.as_str(), "{r:#}");
        assert_eq!(r["sender"]["unit"], unit_k.as_str(), "{r:#}");
        expected.push(r);
    }
    let origin = expected[0]["origin"].as_str().unwrap().to_string();
    assert!(
        expected.iter().all(|r| r["origin"] == origin.as_str()),
        "{expected:#?}"
    );

    // Prometheus's view, through node_exporter.
    let promql = format!("sigwatch_kills_total{{victim=~\"sigwatch-e2e-m{tag}-.*\"}}");
    let want = |unit: &str, n: f64| {
        let mut m = serde_json::Map::new();
        m.insert("origin".into(), origin.clone().into());
        m.insert("signal".into(), "SIGKILL".into());
        m.insert("victim".into(), unit.into());
        m.insert("sender".into(), unit_k.clone().into());
        (m, n)
    };
    let mut want_set = vec![want(&unit_a, 3.0), want(&unit_b, 1.0)];
    want_set.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        node.assert_running();
        prom.assert_running();
        let mut got = series(&query(prom_port, &promql));
        got.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
        if got == want_set || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let file_now = std::fs::read_to_string(&prom_file).unwrap_or_default();
    assert_eq!(
        got,
        want_set,
        "Prometheus's answer to {promql}\nmetrics file:\n{file_now}\nnode_exporter:\n{}\nprometheus:\n{}\nsigwatch:\n{}",
        node.log(),
        prom.log(),
        sw.stderr()
    );
    eprintln!("{test}: Prometheus answered {promql}: {got:?}");
    // node_exporter read the file without complaint.
    let scrape_error = series(&query(prom_port, "node_textfile_scrape_error"));
    assert_eq!(scrape_error.len(), 1, "{scrape_error:?}");
    assert_eq!(scrape_error[0].1, 0.0, "node_exporter: {}", node.log());
    // The contrib rules: a kill alert per unit that keeps firing (not
    // only at the evaluation that saw its series appear), and the
    // "killed repeatedly" page for unit a alone (3 kills; b had 1).
    let firing = |name: &str| {
        let q = format!(
            "ALERTS{{alertname=\"{name}\",alertstate=\"firing\",victim=~\"sigwatch-e2e-m{tag}-.*\"}}"
        );
        let mut victims: Vec<String> = series(&query(prom_port, &q))
            .iter()
            .map(|(l, _)| l["victim"].as_str().unwrap().to_string())
            .collect();
        victims.sort();
        victims
    };
    let both = vec![unit_a.clone(), unit_b.clone()];
    let only_a = vec![unit_a.clone()];
    let fired = wait_until(Duration::from_secs(20), || {
        firing("SigwatchProcessKilled") == both
            && firing("SigwatchServiceKilledRepeatedly") == only_a
    });
    assert!(
        fired,
        "alerts: {:?} / {:?}",
        firing("SigwatchProcessKilled"),
        firing("SigwatchServiceKilledRepeatedly")
    );
    // Three more evaluations later, still firing.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(firing("SigwatchProcessKilled"), both);
    assert_eq!(firing("SigwatchServiceKilledRepeatedly"), only_a);

    // The exposition passes Prometheus's own linter, as written while
    // running and as written at exit.
    let (ok, out) = promtool(&["check", "metrics"], Some(&prom_file));
    assert!(ok, "promtool check metrics: {out}\n{file_now}");
    let (status, _) = sw.stop();
    assert_eq!(status, Some(0));
    let at_exit = std::fs::read_to_string(&prom_file).unwrap();
    let (ok, out) = promtool(&["check", "metrics"], Some(&prom_file));
    assert!(ok, "promtool check metrics (at exit): {out}\n{at_exit}");
    for (unit, n) in [(&unit_a, 3), (&unit_b, 1)] {
        let line = format!(
            "sigwatch_kills_total{{origin=\"{origin}\",signal=\"SIGKILL\",victim=\"{unit}\",sender=\"{unit_k}\"}} {n}"
        );
        assert!(
            at_exit.lines().any(|l| l == line),
            "no {line} in\n{at_exit}"
        );
    }
    // The watcher's own counters: process events were read (the kills'
    // exits among them), the witnesses in use say so.
    let value = |name: &str| {
        at_exit
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{at_exit}"))
    };
    assert!(value("sigwatch_events_total{source=\"proc\"}") >= 4.0);
    assert_eq!(value("sigwatch_reports_dropped_total"), 0.0);
    assert_eq!(
        value("sigwatch_witness_up{witness=\"audit\"}"),
        if audit_present() { 1.0 } else { 0.0 }
    );
    if audit_present() {
        assert!(value("sigwatch_events_total{source=\"audit\"}") >= 4.0);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&textfiles)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("sigwatch.prom")]);
    drop(cgs);
    before.assert_restored();
    trace_before.assert_restored();
}

#[test]
fn replay_writes_the_metrics_file_once_at_the_end() {
    let test = "metrics_replay";
    if sigwatch_test_support::probe::tool("promtool").is_none() {
        skip(
            test,
            Need::Tool("prometheus".into()),
            "`promtool` is not on PATH (Debian package prometheus)",
        );
        return;
    }
    let log = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/sigwatch-bin/tests/data/auditd-enriched-kill.log");
    assert!(log.exists(), "{}", log.display());
    let dir = TempDir::new("metrics-replay");
    let file = dir.0.join("replay.prom");
    let out = Command::new(sigwatch_bin())
        .args(["replay", "--json", "--metrics-file"])
        .arg(&file)
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kills = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"type\":\"kill\""))
        .count() as u64;
    assert!(kills > 0, "the fixture has kills");
    let text = std::fs::read_to_string(&file).unwrap();
    let counted: u64 = text
        .lines()
        .filter(|l| l.starts_with("sigwatch_kills_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, kills, "{text}");
    let (ok, out) = promtool(&["check", "metrics"], Some(&file));
    assert!(ok, "promtool check metrics: {out}\n{text}");
}

/// A metrics file that cannot be written (a directory comes to stand at
/// its name after the start, so the rename fails; one there at the start
/// is refused then) costs a diagnostic, not the watch: kills are still
/// reported, and once the obstacle is gone the next interval writes the
/// file with the kill counted.
#[test]
fn a_failing_metrics_write_neither_stops_the_watch_nor_stays_failed() {
    let test = "metrics_write_failure";
    if !require_root(test) || !require_sender_witness(test) {
        return;
    }
    let dir = TempDir::new("metrics-fail");
    let file = dir.0.join("sigwatch.prom");
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let mut sw = Sigwatch::start(&["--metrics-file", file.to_str().unwrap()]);
    assert!(
        wait_until(Duration::from_secs(10), || file.is_file()),
        "the first write"
    );
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    std::fs::write(file.join("blocker"), "").unwrap();
    let mut victim = spawn_sleep();
    let vpid = victim.id() as i32;
    settle();
    unsafe { libc::kill(vpid, libc::SIGKILL) };
    let _ = victim.wait();
    let r = sw.wait_kill_of(vpid);
    assert!(
        wait_until(Duration::from_secs(10), || sw
            .stderr()
            .contains("cannot write the metrics file")),
        "no diagnostic: {}",
        sw.stderr()
    );
    // Still watching: another kill is reported.
    let mut second = spawn_sleep();
    let second_pid = second.id() as i32;
    settle();
    unsafe { libc::kill(second_pid, libc::SIGKILL) };
    let _ = second.wait();
    sw.wait_kill_of(second_pid);
    std::fs::remove_dir_all(&file).unwrap();
    let who = r["victim"]["unit"]
        .as_str()
        .or(r["victim"]["comm"].as_str())
        .unwrap()
        .to_string();
    let written = wait_for_some(Duration::from_secs(10), || {
        let t = std::fs::read_to_string(&file).ok()?;
        t.lines()
            .any(|l| {
                l.starts_with("sigwatch_kills_total{") && l.contains(&format!("victim=\"{who}\""))
            })
            .then_some(t)
    });
    let stderr = sw.stderr();
    let (status, _) = sw.stop();
    before.assert_restored();
    trace_before.assert_restored();
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        written.is_some(),
        "the file was not written after the obstacle went\n{stderr}"
    );
}

/// A `--metrics-file` in a directory that does not exist is refused
/// before the host is touched: no audit rule, no trace instance, not even
/// the process tree's scan of `/proc` (which `-v` would log).
#[test]
fn a_wrong_metrics_path_is_refused_before_the_host_is_touched() {
    let test = "wrong_metrics_path";
    if !require_root(test) {
        return;
    }
    let dir = TempDir::new("metrics-wrong");
    let file = dir.0.join("no-such-dir").join("sigwatch.prom");
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let trace_before = TraceSnapshot::take();
    let out = Command::new(sigwatch_bin())
        .args(["-v", "--metrics-file", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    before.assert_restored();
    trace_before.assert_restored();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--metrics-file") && stderr.contains("is not a directory"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("process tree seeded") && !stderr.contains("watching"),
        "the watch started before the path was checked:\n{stderr}"
    );
}
