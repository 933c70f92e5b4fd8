//! End-to-end: the context of a kill in the operator's words. Processes
//! are placed in real cgroups named as systemd, docker, Kubernetes
//! (cgroupfs driver) and podman name them, on the host's cgroup v2 tree
//! and on the v1 `name=systemd` hierarchy; a memory cgroup's OOM names its
//! constraint, cgroup and limit; and `--output journal` goes through a
//! real systemd-journald and back out of `journalctl -o json`.
//! Root only (each test says when it skips). Every cgroup created is
//! removed, also when a test fails.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use sigwatch_e2e::*;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ID_VICTIM: &str = "4f3c9a1e2b7d8c6f5a4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e";
const ID_POD: &str = "9b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const ID_SENDER: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const POD_UID: &str = "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f";

fn check_placements(test: &str, root: &Path) {
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let tag = std::process::id();
    let mut cgs = Cgroups::new(root);
    let unit = format!("/system.slice/sigwatch-e2e-{tag}.service");
    let docker = format!("/docker/{ID_VICTIM}");
    let pod = format!("/kubepods/burstable/pod{POD_UID}/{ID_POD}");
    let podman = format!("/machine.slice/libpod-{ID_SENDER}.scope");
    let dirs: Vec<PathBuf> = [&unit, &docker, &pod, &podman]
        .iter()
        .map(|p| cgs.make(p))
        .collect();
    let mut sw = Sigwatch::start(&[]);
    let mut victims: Vec<Child> = dirs[..3].iter().map(|d| sleep_in(d)).collect();
    let mut reports = Vec::new();
    for v in &victims {
        let sender = kill_from(&dirs[3], v.id() as i32);
        let r = sw.wait_kill_of(v.id() as i32);
        reports.push((sender, r));
    }
    for v in &mut victims {
        let _ = v.wait();
    }
    let stderr = sw.stderr();
    drop(sw);
    drop(cgs);
    before.assert_restored();
    eprintln!("{test}: {} reports", reports.len());
    let (_, r) = &reports[0];
    assert_eq!(r["victim"]["cgroup"], unit.as_str(), "{r:#}\n{stderr}");
    assert_eq!(
        r["victim"]["unit"],
        format!("sigwatch-e2e-{tag}.service"),
        "{r:#}"
    );
    assert_eq!(r["victim"]["container"], Value::Null, "{r:#}");
    let (_, r) = &reports[1];
    assert_eq!(r["victim"]["cgroup"], docker.as_str(), "{r:#}");
    assert_eq!(r["victim"]["unit"], Value::Null, "{r:#}");
    assert_eq!(r["victim"]["container"]["runtime"], "docker", "{r:#}");
    assert_eq!(r["victim"]["container"]["id"], ID_VICTIM, "{r:#}");
    assert_eq!(r["victim"]["container"]["pod_uid"], Value::Null, "{r:#}");
    let (_, r) = &reports[2];
    assert_eq!(r["victim"]["cgroup"], pod.as_str(), "{r:#}");
    assert_eq!(r["victim"]["container"]["id"], ID_POD, "{r:#}");
    assert_eq!(r["victim"]["container"]["pod_uid"], POD_UID, "{r:#}");
    // The cgroupfs driver's path does not name the runtime.
    assert_eq!(r["victim"]["container"]["runtime"], Value::Null, "{r:#}");
    for (sender, r) in &reports {
        assert_eq!(r["sender"]["pid"], *sender, "{r:#}");
        assert_eq!(r["sender"]["cgroup"], podman.as_str(), "{r:#}");
        assert_eq!(
            r["sender"]["unit"],
            format!("libpod-{ID_SENDER}.scope"),
            "{r:#}"
        );
        assert_eq!(r["sender"]["container"]["runtime"], "podman", "{r:#}");
        assert_eq!(r["sender"]["container"]["id"], ID_SENDER, "{r:#}");
        // Host pid namespace: the pid there is the pid, no nested namespace.
        assert_eq!(r["sender"]["ns_pid"], *sender, "{r:#}");
        assert_eq!(r["sender"]["pid_ns"], Value::Null, "{r:#}");
        assert_eq!(r["victim"]["user"], "root", "{r:#}");
    }
}

#[test]
fn kills_in_cgroup_v2_name_units_and_containers() {
    let test = "context_v2";
    if !require_root(test) {
        return;
    }
    let Some(root) = hierarchy("cgroup2", None) else {
        eprintln!("SKIP {test}: no cgroup2 mount");
        return;
    };
    check_placements(test, &root);
}

#[test]
fn kills_in_cgroup_v1_name_systemd_name_units_and_containers() {
    let test = "context_v1";
    if !require_root(test) {
        return;
    }
    let Some(root) = hierarchy("cgroup", Some("name=systemd")) else {
        eprintln!("SKIP {test}: no cgroup v1 name=systemd hierarchy");
        return;
    };
    check_placements(test, &root);
}

#[test]
fn a_pid_namespace_is_named() {
    let test = "context_pidns";
    if !require_root(test) || !require_tool(test, "unshare") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let mut sw = Sigwatch::start(&[]);
    // sleep is pid 1 of a new pid namespace.
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "sleep", "300"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let victim = loop {
        let kids =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
                .unwrap_or_default();
        if let Some(p) = kids
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<i32>().ok())
        {
            if std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
            {
                break p;
            }
        }
        assert!(Instant::now() < deadline, "no sleep in the new namespace");
        std::thread::sleep(Duration::from_millis(5));
    };
    let ns = std::fs::read_link(format!("/proc/{victim}/ns/pid")).unwrap();
    settle();
    unsafe { libc::kill(victim, libc::SIGKILL) };
    let r = sw.wait_kill_of(victim);
    let _ = child.wait();
    drop(sw);
    before.assert_restored();
    let inode: u64 = ns
        .to_str()
        .and_then(|s| s.strip_prefix("pid:["))
        .and_then(|s| s.strip_suffix(']'))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r["victim"]["ns_pid"], 1, "{r:#}");
    assert_eq!(r["victim"]["pid_ns"], inode, "{r:#}");
}

#[test]
fn memory_cgroup_oom_names_constraint_cgroup_and_limit() {
    let test = "context_oom";
    if !require_root(test) {
        return;
    }
    let Some(cg) = MemoryCgroup::create(test, "ctx-oom") else {
        return;
    };
    let path = format!("/sigwatch-e2e-ctx-oom-{}", std::process::id());
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let mut sw = Sigwatch::start(&[]);
    let (victim, _) = cg.run_hog();
    let r = sw.wait_kill_of(victim);
    drop(sw);
    drop(cg);
    before.assert_restored();
    assert_eq!(r["reason"], "oom", "{r:#}");
    let oom = &r["oom"];
    assert_eq!(oom["constraint"], "memcg", "{r:#}");
    assert_eq!(oom["cgroup"], path.as_str(), "{r:#}");
    // MemoryCgroup sets memory.limit_in_bytes to 32 MiB.
    assert_eq!(oom["limit_bytes"], 33_554_432, "{r:#}");
    assert_eq!(oom["victim_cgroup"], path.as_str(), "{r:#}");
    let rss = oom["anon_rss_bytes"].as_u64().unwrap();
    assert!(rss > 16 << 20 && rss <= 33_554_432, "{r:#}");
    assert_eq!(r["victim"]["cgroup"], path.as_str(), "{r:#}");
}

/// A systemd-journald of our own: started in a private mount namespace
/// (tmpfs over its runtime and storage directories, nothing reaches the
/// host's journal), in journal namespace `ns`; its socket is reached
/// through `/proc/<pid>/root`.
struct Journald {
    child: Child,
    ns: String,
}

impl Journald {
    /// `audit_enabled`: audit's `enabled` as found. journald sets it at
    /// start (`Audit=`, whose default in 252 is `no`: it would switch the
    /// host's audit off), so it is told the value it already has.
    fn start(ns: &str, audit_enabled: Option<&str>) -> Journald {
        let audit = match audit_enabled {
            Some("1") | Some("2") => "yes",
            _ => "no",
        };
        // The catalog too: only sigwatch's, in tmpfs, for `journalctl -x`;
        // its own configuration in a tmpfs over /etc/systemd.
        let script = "mount -t tmpfs tmpfs /etc/systemd && \
             printf '[Journal]\\nAudit=%s\\nReadKMsg=no\\n' \"$2\" > /etc/systemd/journald@\"$0\".conf && \
             mount -t tmpfs tmpfs /run/systemd && \
             if [ -d /run/log ]; then mount -t tmpfs tmpfs /run/log; fi && \
             if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi && \
             mount -t tmpfs tmpfs /usr/lib/systemd/catalog && \
             mount -t tmpfs tmpfs /var/lib/systemd/catalog && \
             cp \"$1\" /usr/lib/systemd/catalog/ && journalctl --update-catalog && \
             exec /lib/systemd/systemd-journald \"$0\"";
        let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/sigwatch.catalog");
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                ns,
            ])
            .arg(catalog)
            .arg(audit)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let j = Journald {
            child,
            ns: ns.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !j.socket().exists() {
            assert!(
                Instant::now() < deadline,
                "journald did not create {}",
                j.socket().display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        j
    }

    fn socket(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/run/systemd/journal.{}/socket",
            self.child.id(),
            self.ns
        ))
    }

    /// `journalctl --namespace NS ARGS` in its mount namespace.
    fn journalctl(&self, args: &[&str]) -> String {
        let out = Command::new("nsenter")
            .args(["-t", &self.child.id().to_string(), "-m", "journalctl"])
            .arg(format!("--namespace={}", self.ns))
            .arg("--no-pager")
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `journalctl -o json --all MATCH`: the entries as JSON.
    fn entries(&self, matches: &[&str]) -> Vec<Value> {
        let mut args = vec!["-o", "json", "--all"];
        args.extend_from_slice(matches);
        self.journalctl(&args)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn journal_entries_round_trip_through_journald() {
    let test = "journal_round_trip";
    if !require_root(test) || !require_tool(test, "unshare") || !require_tool(test, "nsenter") {
        return;
    }
    if !Path::new("/lib/systemd/systemd-journald").exists() || !require_tool(test, "journalctl") {
        eprintln!("SKIP {test}: systemd-journald/journalctl not installed");
        return;
    }
    let Some(root) = hierarchy("cgroup2", None) else {
        eprintln!("SKIP {test}: no cgroup2 mount");
        return;
    };
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let jd = Journald::start(
        &format!("sigwatch-e2e-{}", std::process::id()),
        before.enabled(),
    );
    let mut cgs = Cgroups::new(&root);
    let unit = cgs.make(&format!(
        "/system.slice/sigwatch-e2e-j{}.service",
        std::process::id()
    ));
    // sigwatch --output journal, ready when it says READY=1.
    let dir = TempDir::new("journal");
    let notify_path = dir.0.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let stderr_path = dir.0.join("stderr.log");
    let mut sw = Command::new(sigwatch_bin())
        .args(["--output", "journal", "-c", "1"])
        .env("SIGWATCH_JOURNAL_SOCKET", jd.socket())
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    loop {
        let n = notify.recv(&mut buf).expect("sigwatch never said READY=1");
        if String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "READY=1")
        {
            break;
        }
    }
    let mut victim = sleep_in(&unit);
    let vpid = victim.id() as i32;
    unsafe { libc::kill(vpid, libc::SIGKILL) };
    let _ = victim.wait();
    let status = wait_timeout(&mut sw, Duration::from_secs(20));
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert_eq!(status, Some(0), "sigwatch -c 1: {stderr}");
    // Reports and the summary go to the journal only: under systemd a line
    // on standard output would be a stray journal entry.
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut sw.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(
        stdout, "",
        "nothing on standard output with --output journal"
    );
    // A payload larger than any datagram goes as a sealed memfd.
    let big = vec![b'x'; 4 << 20];
    let j = sigwatch::journal::Journal::connect(&jd.socket()).unwrap();
    j.send_fields(&[
        ("MESSAGE".into(), b"sigwatch e2e: memfd".to_vec()),
        ("SIGWATCH_E2E_BIG".into(), big),
    ])
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (kills, bigs) = loop {
        let kills = jd.entries(&[&format!(
            "MESSAGE_ID={}",
            sigwatch::journal::KILL_MESSAGE_ID
        )]);
        let bigs = jd.entries(&["MESSAGE=sigwatch e2e: memfd"]);
        if (!kills.is_empty() && !bigs.is_empty()) || Instant::now() > deadline {
            break (kills, bigs);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let explained = jd.journalctl(&[
        "-x",
        &format!("MESSAGE_ID={}", sigwatch::journal::KILL_MESSAGE_ID),
    ]);
    drop(cgs);
    drop(jd);
    before.assert_restored();
    eprintln!("{explained}");
    assert!(
        explained.contains(&format!("Subject: Process {vpid} (sleep) got SIGKILL"))
            && explained.contains("sigwatch attributed a signal: pid"),
        "journalctl -x: {explained}"
    );
    assert_eq!(kills.len(), 1, "{kills:#?}\n{stderr}");
    let e = &kills[0];
    let msg = e["MESSAGE"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!("pid {vpid} (sleep, sigwatch-e2e-j"))
            && msg.contains("killed by SIGKILL from pid"),
        "{e:#}"
    );
    assert_eq!(e["PRIORITY"], "4", "{e:#}");
    assert_eq!(e["SYSLOG_IDENTIFIER"], "sigwatch", "{e:#}");
    assert_eq!(e["SIGWATCH_VICTIM_PID"], vpid.to_string(), "{e:#}");
    assert_eq!(e["SIGWATCH_VICTIM_COMM"], "sleep", "{e:#}");
    assert_eq!(
        e["SIGWATCH_VICTIM_UNIT"],
        format!("sigwatch-e2e-j{}.service", std::process::id()),
        "{e:#}"
    );
    assert_eq!(
        e["SIGWATCH_SENDER_PID"],
        std::process::id().to_string(),
        "{e:#}"
    );
    assert_eq!(e["SIGWATCH_ORIGIN"], "user", "{e:#}");
    let report: Value = serde_json::from_str(e["SIGWATCH_REPORT"].as_str().unwrap()).unwrap();
    assert_eq!(report["victim"]["pid"], vpid, "{e:#}");
    assert_eq!(bigs.len(), 1);
    assert_eq!(
        bigs[0]["SIGWATCH_E2E_BIG"].as_str().map(str::len),
        Some(4 << 20)
    );
}

/// A podman of our own: storage in a temporary directory (`vfs`, no
/// mounts), cgroupfs manager, runc, no network; removes its containers,
/// storage and the `libpod_parent` cgroups it created.
struct Podman {
    dir: TempDir,
    /// podman refuses a runroot path longer than 50 characters.
    runroot: PathBuf,
    parents_before: Vec<PathBuf>,
}

impl Podman {
    fn new() -> Podman {
        let runroot = PathBuf::from(format!("/tmp/swpm-{}", std::process::id()));
        std::fs::create_dir_all(&runroot).unwrap();
        Podman {
            dir: TempDir::new("podman"),
            runroot,
            parents_before: libpod_parents(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.dir.0.join("root"))
            .arg("--runroot")
            .arg(&self.runroot)
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
                "--runtime",
                "runc",
            ]);
        c
    }

    /// Runs podman; stdout, or stderr as the error.
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self.cmd().args(args).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn libpod_parents() -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("libpod_parent"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default()
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-a", "-f", "-t", "0"]);
        let _ = self.run(&["rmi", "-a", "-f"]);
        let _ = std::fs::remove_dir_all(&self.runroot);
        for p in libpod_parents() {
            if self.parents_before.contains(&p) {
                continue;
            }
            // conmon's group, then the parent (conmon may take a moment
            // to exit after `rm -f`).
            remove_cgroup_dir(&p.join("conmon"));
            remove_cgroup_dir(&p);
        }
    }
}

#[test]
fn kill_inside_a_podman_container_names_it() {
    let test = "context_podman";
    if !require_root(test) || !require_tool(test, "podman") || !require_tool(test, "runc") {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        eprintln!("SKIP {test}: no /bin/busybox for the container's root file system");
        return;
    }
    let pm = Podman::new();
    // A root file system of one static busybox, imported locally.
    let rootfs = pm.dir.0.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "sleep", "kill"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let tar = pm.dir.0.join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let image = format!("localhost/sigwatch-e2e-{}", std::process::id());
    pm.run(&["import", tar.to_str().unwrap(), &image]).unwrap();
    let _lock = AuditLock::acquire();
    let before = AuditSnapshot::take();
    let mut sw = Sigwatch::start(&[]);
    // The independent probe: does a container run on this host at all?
    // Its init (a shell, long-lived, so its exec is read) starts the
    // victim, then kills it two seconds later: victim and killer both in
    // the container.
    let id = match pm.run(&[
        "run",
        "-d",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        &image,
        "/bin/sh",
        "-c",
        "sleep 300 & sleep 2; kill -9 $!; sleep 300",
    ]) {
        Ok(id) => id,
        Err(e) => {
            drop(sw);
            before.assert_restored();
            eprintln!("SKIP {test}: podman cannot run a container here: {e}");
            return;
        }
    };
    let init: i32 = pm
        .run(&["inspect", "-f", "{{.State.Pid}}", &id])
        .unwrap()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let victim = loop {
        let kids = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
            .unwrap_or_default();
        let found = kids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .find(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == b"sleep\x00300\x00")
            });
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no sleep 300 in the container");
        std::thread::sleep(Duration::from_millis(10));
    };
    let status = std::fs::read_to_string(format!("/proc/{victim}/status")).unwrap();
    let ns_pid: i32 = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap();
    let ns = std::fs::read_link(format!("/proc/{victim}/ns/pid")).unwrap();
    let inode: u64 = ns
        .to_str()
        .and_then(|s| s.strip_prefix("pid:["))
        .and_then(|s| s.strip_suffix(']'))
        .unwrap()
        .parse()
        .unwrap();
    let r = sw.wait_kill_of(victim);
    drop(sw);
    drop(pm);
    before.assert_restored();
    eprintln!("{test}: victim {} sender {}", r["victim"], r["sender"]);
    for who in ["victim", "sender"] {
        let p = &r[who];
        assert_eq!(p["container"]["runtime"], "podman", "{who}: {r:#}");
        assert_eq!(p["container"]["id"], id.as_str(), "{who}: {r:#}");
        assert_eq!(p["pid_ns"], inode, "{who}: {r:#}");
    }
    assert_eq!(r["victim"]["ns_pid"], ns_pid, "{r:#}");
    assert_eq!(r["sender"]["pid"], init, "{r:#}");
    assert_eq!(r["sender"]["ns_pid"], 1, "{r:#}");
    assert_eq!(r["origin"], "user", "{r:#}");
}
