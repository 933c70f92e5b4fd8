//! Real-kernel kill events: SIGKILLs sent by processes this test starts,
//! read from the multicast group, parsed, assembled and decoded into
//! `KillEvent`s, checked field by field against what the test knows.
//!
//! Root only; serialized by the host-wide audit lock; rules and `enabled`
//! are restored (guards, also on panic). Senders are processes forked
//! *after* audit was enabled (only those have an audit context). Helper
//! processes are this test binary re-run with `AUDITSIG_KILL_HELPER` set.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auditsig::client::{AuditClient, EnabledGuard};
use auditsig::kill::{Bytes, TargetSpec};
use auditsig::killrules::{owner_key, InstalledRules, KillRuleSet};
use auditsig::reader::MulticastReader;
use auditsig::{Assembler, KillEvent, KillSyscall, Record};
use common::{skip, AuditLock};

const HELPER_ENV: &str = "AUDITSIG_KILL_HELPER";

/// Audit set up for one test; fields drop in order: rules, enabled, lock.
struct Audit {
    reader: MulticastReader,
    rules: Option<InstalledRules>,
    enabled: Option<EnabledGuard>,
    asm: Assembler,
    seen: Vec<KillEvent>,
    /// `enabled` as found, checked again after clean-up.
    enabled_before: u32,
    _lock: AuditLock,
}

impl Audit {
    fn start(test: &str) -> Option<Audit> {
        if std::env::var_os(HELPER_ENV).is_some() || skip(test) {
            return None;
        }
        let lock = AuditLock::acquire();
        let reader = common::multicast(test, MulticastReader::open)?;
        let enabled_before = AuditClient::open().unwrap().status().unwrap().enabled;
        let enabled = AuditClient::open().unwrap().enable().unwrap();
        let rules = KillRuleSet::new(owner_key(std::process::id() as i32))
            .build()
            .unwrap();
        let rules = InstalledRules::install(AuditClient::open().unwrap(), rules).unwrap();
        Some(Audit {
            reader,
            rules: Some(rules),
            enabled: Some(enabled),
            asm: Assembler::default(),
            seen: Vec::new(),
            enabled_before,
            _lock: lock,
        })
    }

    /// Reads records until a kill event matching `pred` is complete, or
    /// 10 s pass.
    fn wait_for(&mut self, pred: impl Fn(&KillEvent) -> bool) -> Option<KillEvent> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(k) = self.seen.iter().find(|k| pred(k)) {
                return Some(k.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            let rec = self
                .reader
                .recv_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let now = Instant::now();
            if let Some(r) = rec {
                self.asm.push(Record::try_from(r).unwrap(), now);
            } else {
                self.asm.tick(now);
            }
            for e in self.asm.drain() {
                if let Some(k) = KillEvent::from_event(&e).unwrap() {
                    self.seen.push(k);
                }
            }
        }
    }

    /// Removes the rules and restores `enabled` (also done on drop).
    fn finish(&mut self) {
        if let Some(r) = self.rules.take() {
            r.remove().unwrap();
        }
        if let Some(e) = self.enabled.take() {
            e.restore().unwrap();
        }
        // Audit is left exactly as found: `enabled` and no rule of ours.
        let mut c = AuditClient::open().unwrap();
        assert_eq!(c.status().unwrap().enabled, self.enabled_before);
        let key = owner_key(std::process::id() as i32);
        let ours = c
            .list_rules()
            .unwrap()
            .into_iter()
            .filter(|r| r.keys().contains(&key.as_bytes()))
            .count();
        assert_eq!(ours, 0, "rules with key {key} left behind");
    }
}

/// A `sleep 1000` that has finished its exec. `spawn()` can return
/// before the child's comm changes: the vfork-style parent is woken in
/// `begin_new_exec()` (mm release) before `__set_task_comm()`, and a kill
/// in that window records `ocomm` = the parent's thread name.
fn sleeper() -> Child {
    let child = Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let comm = format!("/proc/{}/comm", child.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&comm).unwrap_or_default() != "sleep\n"
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    child
}

fn b(s: &str) -> Bytes {
    Bytes::from(s)
}

fn sh_exe() -> Bytes {
    Bytes(
        std::fs::canonicalize("/bin/sh")
            .unwrap()
            .into_os_string()
            .into_encoded_bytes(),
    )
}

#[test]
fn sigkill_from_short_lived_sh() {
    let Some(mut audit) = Audit::start("sigkill_from_short_lived_sh") else {
        return;
    };
    let mut victim = sleeper();
    let vpid = victim.id() as i32;
    let script = format!("kill -9 {vpid}");
    let sh = Command::new("/bin/sh")
        .args(["-c", &script])
        .spawn()
        .unwrap();
    let sh_pid = sh.id() as i32;
    let st = sh.wait_with_output().unwrap().status;
    let ws = victim.wait().unwrap();
    let k = audit.wait_for(|k| k.sender.pid == sh_pid);
    audit.finish();

    assert!(st.success());
    assert_eq!(ws.signal(), Some(9));
    let k = k.expect("no kill event from the sh");
    assert_eq!(k.syscall, KillSyscall::Kill.into());
    assert_eq!(k.signal, 9);
    assert_eq!(k.target_spec, TargetSpec::Process(vpid));
    assert!(k.success);
    assert_eq!((k.exit, k.errno), (0, None));
    assert_eq!(k.sender.ppid, std::process::id() as i32);
    assert_eq!((k.sender.uid, k.sender.euid, k.sender.gid), (0, 0, 0));
    assert_eq!(k.sender.comm, b("sh"));
    assert_eq!(k.sender.exe, Some(sh_exe()));
    assert_eq!(k.sender.argv, Some(vec![b("/bin/sh"), b("-c"), b(&script)]));
    assert!(!k.sender.argv_truncated);
    assert_eq!(k.targets.len(), 1);
    assert_eq!(k.targets[0].pid, vpid);
    assert_eq!(k.targets[0].uid, 0);
    assert_eq!(k.targets[0].comm, Some(b("sleep")));
    assert_eq!(k.key, Some(b(&owner_key(std::process::id() as i32))));
}

/// `kill -9 -PGID` inside a new pid namespace (so only our processes can
/// be hit): one `OBJ_PID` per member of the group.
#[test]
fn process_group_kill_yields_all_targets() {
    let Some(mut audit) = Audit::start("process_group_kill_yields_all_targets") else {
        return;
    };
    // The inner `sh` is started with setsid (no fork: a background job of
    // a non-interactive shell is not a group leader), so `$!` is the
    // group: that sh and its two sleeps.
    let script = "setsid /bin/sh -c 'sleep 1000 & sleep 1000 & wait' & \
                  sleep 0.5; kill -9 -$!; wait";
    let unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "/bin/sh", "-c", script])
        .stdin(Stdio::null())
        .spawn();
    let Ok(unshare) = unshare else {
        audit.finish();
        sigwatch_test_support::skip(
            "process_group_kill_yields_all_targets",
            sigwatch_test_support::Need::Tool("unshare".into()),
            "`unshare` cannot be run",
        );
        return;
    };
    let upid = unshare.id() as i32;
    let st = unshare.wait_with_output().unwrap().status;
    let k = audit.wait_for(|k| k.sender.ppid == upid && k.targets.len() >= 3);
    audit.finish();

    assert!(st.success(), "{st:?}");
    let k = k.expect("no process-group kill event");
    assert_eq!(k.syscall, KillSyscall::Kill.into());
    assert_eq!(k.signal, 9);
    // a0 is the namespace's pgid, negated.
    assert!(
        matches!(k.target_spec, TargetSpec::ProcessGroup(p) if p > 1),
        "{k:?}"
    );
    assert!(k.success);
    assert_eq!(k.sender.comm, b("sh"));
    let mut comms: Vec<_> = k.targets.iter().map(|t| t.comm.clone()).collect();
    comms.sort();
    assert_eq!(
        comms,
        vec![Some(b("sh")), Some(b("sleep")), Some(b("sleep"))],
        "{k:?}"
    );
    let mut pids: Vec<i32> = k.targets.iter().map(|t| t.pid).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 3);
}

/// A victim with a second thread: prints "VICTIM TGID TID" and sleeps.
fn threaded_victim() -> (Child, i32, i32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, "victim")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    // A reader thread so that a helper that never prints cannot hang us.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            // libtest prints its own lines too.
            if let Some(i) = line.find("VICTIM ") {
                let _ = tx.send(line[i + 7..].to_string());
            }
        }
    });
    let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) else {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("victim helper did not report its thread");
    };
    let mut it = line.split_whitespace().map(|s| s.parse::<i32>().unwrap());
    let (tgid, tid) = (it.next().unwrap(), it.next().unwrap());
    (child, tgid, tid)
}

/// Run this binary as a sender doing `what` (see [`helper`]).
fn run_sender(what: &str) -> (i32, std::process::ExitStatus) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, what)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    (pid, child.wait_with_output().unwrap().status)
}

#[test]
fn tgkill_at_a_non_leader_thread() {
    let Some(mut audit) = Audit::start("tgkill_at_a_non_leader_thread") else {
        return;
    };
    let (mut victim, tgid, tid) = threaded_victim();
    assert_ne!(tgid, tid);
    let (sender, st) = run_sender(&format!("tgkill {tgid} {tid}"));
    let ws = victim.wait().unwrap();
    let k = audit.wait_for(|k| k.sender.pid == sender);
    audit.finish();

    assert!(st.success(), "{st:?}");
    assert_eq!(ws.signal(), Some(9));
    let k = k.expect("no tgkill event");
    assert_eq!(k.syscall, KillSyscall::Tgkill.into());
    assert_eq!(k.signal, 9);
    assert_eq!(k.args[2], 9);
    assert_eq!(k.target_spec, TargetSpec::ThreadOf { tgid, tid });
    assert!(k.success);
    // OBJ_PID names the process (tgid), not the thread.
    assert_eq!(k.targets.len(), 1);
    assert_eq!(k.targets[0].pid, tgid);
    let exe = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(
        k.sender.exe,
        Some(Bytes(exe.into_os_string().into_encoded_bytes()))
    );
    // argv[0] as we ran it (PROCTITLE may cut a long path at 128 bytes).
    let argv = k.sender.argv.unwrap();
    let me = std::env::current_exe()
        .unwrap()
        .into_os_string()
        .into_encoded_bytes();
    assert!(!argv.is_empty() && me.starts_with(&argv[0].0), "{argv:?}");
    if !k.sender.argv_truncated {
        assert_eq!(argv[1], b("--exact"));
    }
}

#[test]
fn pidfd_send_signal_and_rt_sigqueueinfo() {
    let Some(mut audit) = Audit::start("pidfd_send_signal_and_rt_sigqueueinfo") else {
        return;
    };
    let mut v1 = sleeper();
    let mut v2 = sleeper();
    let (s1, st1) = run_sender(&format!("pidfd {}", v1.id()));
    let (s2, st2) = run_sender(&format!("sigqueue {}", v2.id()));
    let (w1, w2) = (v1.wait().unwrap(), v2.wait().unwrap());
    let k1 = audit.wait_for(|k| k.sender.pid == s1);
    let k2 = audit.wait_for(|k| k.sender.pid == s2);
    audit.finish();

    assert!(st1.success() && st2.success(), "{st1:?} {st2:?}");
    assert_eq!((w1.signal(), w2.signal()), (Some(9), Some(9)));
    let k1 = k1.expect("no pidfd_send_signal event");
    assert_eq!(k1.syscall, KillSyscall::PidfdSendSignal.into());
    assert!(matches!(k1.target_spec, TargetSpec::Pidfd(fd) if fd >= 0));
    assert_eq!((k1.signal, k1.success), (9, true));
    assert_eq!(k1.targets.len(), 1);
    assert_eq!(k1.targets[0].pid, v1.id() as i32);
    let k2 = k2.expect("no rt_sigqueueinfo event");
    assert_eq!(k2.syscall, KillSyscall::RtSigqueueinfo.into());
    assert_eq!(k2.target_spec, TargetSpec::Process(v2.id() as i32));
    assert_eq!((k2.signal, k2.success), (9, true));
    assert_eq!(k2.targets.len(), 1);
    assert_eq!(k2.targets[0].pid, v2.id() as i32);
}

/// nobody tries to SIGKILL a root process: EPERM, success false. The
/// kernel records the target before the permission check
/// (`audit_signal_info()` in `check_kill_permission()`).
#[test]
fn denied_kill_is_recorded_as_failed() {
    let Some(mut audit) = Audit::start("denied_kill_is_recorded_as_failed") else {
        return;
    };
    let mut victim = sleeper();
    let vpid = victim.id() as i32;
    let sh = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["/bin/sh", "-c", &format!("kill -9 {vpid}")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(sh) = sh else {
        audit.finish();
        victim.kill().unwrap();
        victim.wait().unwrap();
        sigwatch_test_support::skip(
            "denied_kill_is_recorded_as_failed",
            sigwatch_test_support::Need::Tool("setpriv".into()),
            "`setpriv` cannot be run",
        );
        return;
    };
    let sh_pid = sh.id() as i32;
    let st = sh.wait_with_output().unwrap().status;
    let k = audit.wait_for(|k| k.sender.pid == sh_pid);
    audit.finish();
    let still_alive = victim.try_wait().unwrap().is_none();
    victim.kill().unwrap();
    victim.wait().unwrap();

    assert!(!st.success(), "kill as nobody must fail");
    assert!(still_alive);
    let k = k.expect("no event for the denied kill");
    assert_eq!(k.syscall, KillSyscall::Kill.into());
    assert!(!k.success);
    assert_eq!((k.exit, k.errno), (-1, Some(libc::EPERM)));
    assert_eq!(
        (k.sender.uid, k.sender.euid, k.sender.gid),
        (65534, 65534, 65534)
    );
    assert_eq!(k.targets.len(), 1, "{k:?}");
    assert_eq!(k.targets[0].pid, vpid);
    assert_eq!(k.targets[0].uid, 0);
}

/// Not a test of its own: the body of the helper processes, run only as
/// `--exact helper --ignored` with `AUDITSIG_KILL_HELPER` set (run any
/// other way it fails instead of passing without testing anything).
#[test]
#[ignore = "helper process of the kill tests (needs AUDITSIG_KILL_HELPER)"]
fn helper() {
    let what = std::env::var(HELPER_ENV).unwrap_or_else(|_| {
        panic!("a helper process: run by the kill tests with {HELPER_ENV} set")
    });
    let words: Vec<&str> = what.split_whitespace().collect();
    let num = |i: usize| -> libc::c_long { words[i].parse().unwrap() };
    // SAFETY: raw syscalls with integer arguments and a zeroed siginfo
    // the kernel only reads.
    unsafe {
        match words[0] {
            "victim" => {
                let tid = std::sync::Arc::new(std::sync::Mutex::new(0));
                let t2 = tid.clone();
                let _t = std::thread::spawn(move || {
                    *t2.lock().unwrap() = libc::gettid();
                    std::thread::sleep(Duration::from_secs(1000));
                });
                while *tid.lock().unwrap() == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
                // Straight to fd 1: libtest may capture `println!`.
                let line = format!("VICTIM {} {}\n", std::process::id(), *tid.lock().unwrap());
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes()).unwrap();
                out.flush().unwrap();
                drop(out);
                std::thread::sleep(Duration::from_secs(1000));
            }
            "tgkill" => {
                let rc = libc::syscall(libc::SYS_tgkill, num(1), num(2), 9);
                assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
            }
            "pidfd" => {
                let fd = libc::syscall(libc::SYS_pidfd_open, num(1), 0);
                assert!(fd >= 0, "{}", std::io::Error::last_os_error());
                let rc = libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd,
                    9,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
                assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
            }
            "sigqueue" => {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                info.si_signo = 9;
                info.si_code = libc::SI_QUEUE;
                info.si_errno = 0;
                let rc = libc::syscall(
                    libc::SYS_rt_sigqueueinfo,
                    num(1),
                    9,
                    &info as *const libc::siginfo_t,
                );
                assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
            }
            other => panic!("unknown helper {other}"),
        }
    }
}
