//! Against the real kernel (root; skipped with a printed reason
//! otherwise). Every test creates its own instance and checks it is
//! gone afterwards; processes signalled are only ones the test started.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{collect_until, open_or_skip};
use tracesig::{
    classify, Config, MarkVictim, OomEvidence, Origin, Record, SignalFilter, SignalGenerate,
    UserSend,
};

const WAIT: Duration = Duration::from_secs(10);

fn sig_for(records: &[Record], target: i32) -> Vec<SignalGenerate> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::SignalGenerate(s) if s.pid == target => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn victim_for(records: &[Record], target: i32) -> Option<MarkVictim> {
    records.iter().find_map(|r| match r {
        Record::MarkVictim(m) if m.pid == target => Some(m.clone()),
        _ => None,
    })
}

/// A `sleep` that has finished its exec: `Command::spawn` can return
/// before the kernel renames the child, and a signal sent in that window
/// names the parent's thread as the target comm.
fn sleeper() -> std::process::Child {
    let child = Command::new("sleep").arg("100").spawn().unwrap();
    let comm = format!("/proc/{}/comm", child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&comm).map_or(true, |c| c.trim() != "sleep") {
        assert!(std::time::Instant::now() < deadline, "sleep never exec'd");
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// `sh -c "kill -<sig> <pid>"`; returns the sh's pid.
fn sh_kill(sig: i32, pid: u32) -> i32 {
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{sig} {pid}"))
        .spawn()
        .unwrap();
    let id = sh.id() as i32;
    assert!(sh.wait().unwrap().success());
    id
}

#[test]
fn sigkill_from_sh_names_sender_and_target_and_filter_excludes_sigterm() {
    let Some(mut src) = open_or_skip(
        "sigkill_from_sh_names_sender_and_target_and_filter_excludes_sigterm",
        &Config::default(),
    ) else {
        return;
    };
    let dir = src.instance().path().to_path_buf();
    assert!(dir.is_dir());
    assert!(src.instance().record_tgid());

    // SIGTERM first (filtered out in the kernel), then SIGKILL to the
    // same process as a marker that the SIGTERM would have arrived.
    let mut victim = sleeper();
    let vpid = victim.id() as i32;
    let term_sender = sh_kill(15, victim.id());
    let status = victim.wait().unwrap();
    assert_eq!(status.signal(), Some(15));
    let mut victim2 = sleeper();
    let v2pid = victim2.id() as i32;
    let kill_sender = sh_kill(9, victim2.id());
    assert_eq!(victim2.wait().unwrap().signal(), Some(9));

    let recs = collect_until(&mut src, WAIT, |r| !sig_for(r, v2pid).is_empty());
    let seen = sig_for(&recs, v2pid);
    assert_eq!(seen.len(), 1, "{recs:?}");
    let ev = &seen[0];
    assert_eq!(ev.sig, 9);
    assert_eq!(ev.ctx.pid, kill_sender);
    assert_eq!(ev.ctx.tgid, Some(kill_sender));
    assert_eq!(ev.ctx.comm, "sh");
    assert_eq!(ev.comm, "sleep");
    assert_eq!(ev.code, 0);
    assert_eq!(
        classify(ev, OomEvidence::NotMarked).origin,
        Origin::User(UserSend::Kill)
    );
    // The SIGTERM never reached the buffer: no line for that target, and
    // none from that sender.
    assert!(sig_for(&recs, vpid).is_empty(), "{recs:?}");
    assert!(!recs.iter().any(|r| matches!(r,
        Record::SignalGenerate(s) if s.ctx.pid == term_sender)));
    let loss = src.loss().unwrap();
    assert_eq!(loss.unparsed, 0);

    drop(src);
    assert!(!dir.exists(), "instance {} left behind", dir.display());
}

/// One event makes trace_pipe readable (the all-CPU pipe ignores
/// `buffer_percent`, which the instance leaves at its default).
#[test]
fn poll_wakes_on_the_first_event() {
    let Some(src) = open_or_skip("poll_wakes_on_the_first_event", &Config::default()) else {
        return;
    };
    let mut victim = sleeper();
    sh_kill(9, victim.id());
    victim.wait().unwrap();
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&src),
        nix::poll::PollFlags::POLLIN,
    )];
    let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
    assert_eq!(n, 1, "trace_pipe not readable 5 s after a SIGKILL");
}

#[test]
fn all_signals_without_filter() {
    let cfg = Config::default().with_signals(SignalFilter::All);
    let Some(mut src) = open_or_skip("all_signals_without_filter", &cfg) else {
        return;
    };
    let dir = src.instance().path().to_path_buf();
    let mut victim = sleeper();
    let vpid = victim.id() as i32;
    let sender = sh_kill(15, victim.id());
    victim.wait().unwrap();
    let recs = collect_until(&mut src, WAIT, |r| !sig_for(r, vpid).is_empty());
    let seen = sig_for(&recs, vpid);
    assert_eq!(seen.len(), 1, "{recs:?}");
    assert_eq!((seen[0].sig, seen[0].ctx.pid), (15, sender));
    drop(src);
    assert!(!dir.exists());
}

/// Makes an instance directory of a pid that is certainly dead (a child
/// we reaped), and one of a live pid (ours + a suffix) that must stay.
#[test]
fn stale_instances_of_dead_pids_are_removed_and_others_kept() {
    let Some(probe) = open_or_skip(
        "stale_instances_of_dead_pids_are_removed_and_others_kept",
        &Config::default(),
    ) else {
        return;
    };
    // Keep `probe` alive: it keeps tracefs mounted if this process
    // mounted it (the last handle's drop unmounts).
    let inst_dir = probe.instance().tracefs().instances_dir().unwrap();

    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    if Path::new(&format!("/proc/{dead}")).exists() {
        sigwatch_test_support::skip(
            "stale_instances_of_dead_pids_are_removed_and_others_kept",
            sigwatch_test_support::Need::Host("pid not reused at once".into()),
            format!("pid {dead} was reused already"),
        );
        return;
    }
    let stale = inst_dir.join(format!("sigwatch-{dead}"));
    let stale2 = inst_dir.join(format!("sigwatch-{dead}-7"));
    let foreign = inst_dir.join(format!("sigwatch-test-keep-{}", std::process::id()));
    // pid 1 is alive: its (fake) instance must not be touched.
    let alive = inst_dir.join(format!("sigwatch-1-{}", std::process::id()));
    for d in [&stale, &stale2, &foreign, &alive] {
        std::fs::create_dir(d).unwrap();
    }
    let src = tracesig::Instance::create(&Config::default());
    let stale_left = stale.exists() || stale2.exists();
    let kept = foreign.exists() && alive.exists();
    for d in [&stale, &stale2, &foreign, &alive] {
        let _ = std::fs::remove_dir(d);
    }
    let src = src.unwrap();
    assert!(!stale_left, "stale instance not removed");
    assert!(kept, "an instance that is not stale was removed");
    drop(src);
    drop(probe);
}

// ---- kernel-originated signals ----

/// A directory removed (rmdir) on drop, for cgroups.
struct CgroupDir(PathBuf);
impl Drop for CgroupDir {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("could not remove cgroup {}", self.0.display());
    }
}

/// Mount points from /proc/self/mountinfo with the given fs type and
/// (for cgroup v1) super option.
fn mount_point(fstype: &str, opt: Option<&str>) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split(' ');
        let ty = post.next()?;
        let _src = post.next();
        let sopts = post.next().unwrap_or("");
        let mp = pre.split(' ').nth(4)?;
        (ty == fstype && opt.is_none_or(|o| sopts.split(',').any(|s| s == o)))
            .then(|| PathBuf::from(mp))
    })
}

fn killer_config() -> Config {
    Config::default().with_signals(SignalFilter::Only(vec![9, 24, 31]))
}

#[test]
fn oom_in_memory_cgroup_is_classified_oom() {
    let Some(mut src) = open_or_skip("oom_in_memory_cgroup_is_classified_oom", &killer_config())
    else {
        return;
    };
    // The raw tracefs files say whether the tracepoint exists, not tracesig.
    if !sigwatch_test_support::probe::trace_event("oom", "mark_victim") {
        sigwatch_test_support::skip(
            "oom_in_memory_cgroup_is_classified_oom",
            sigwatch_test_support::Need::Kernel("oom:mark_victim".into()),
            "no events/oom/mark_victim in tracefs",
        );
        return;
    }
    assert!(
        src.instance().mark_victim_traced(),
        "events/oom/mark_victim exists but tracesig does not trace it"
    );
    let Some(memcg) = mount_point("cgroup", Some("memory")) else {
        sigwatch_test_support::skip(
            "oom_in_memory_cgroup_is_classified_oom",
            sigwatch_test_support::Need::Host("cgroup v1 memory".into()),
            "no cgroup v1 memory controller mounted",
        );
        return;
    };
    let cg = CgroupDir(memcg.join(format!("sigwatch-tracesig-oom-{}", std::process::id())));
    std::fs::create_dir(&cg.0).unwrap();
    std::fs::write(cg.0.join("memory.limit_in_bytes"), "32M").unwrap();
    // `tail /dev/zero` buffers an endless line: a portable memory hog.
    let mut hog = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec tail /dev/zero",
            cg.0.display()
        ))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let hpid = hog.id() as i32;
    let status = hog.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "hog not OOM-killed: {status:?}");
    let recs = collect_until(&mut src, WAIT, |r| {
        !sig_for(r, hpid).is_empty() && victim_for(r, hpid).is_some()
    });
    let sigs = sig_for(&recs, hpid);
    let mv = victim_for(&recs, hpid).expect("mark_victim for the hog");
    let ev = sigs.iter().find(|s| s.sig == 9).expect("SIGKILL line");
    assert_eq!(ev.code, tracesig::classify::si::SI_KERNEL);
    assert_eq!(mv.comm.as_deref().unwrap_or("tail"), "tail");
    assert_eq!(classify(ev, OomEvidence::Marked(&mv)).origin, Origin::Oom);
}

#[test]
fn cgroup_kill_names_the_writer() {
    let Some(mut src) = open_or_skip("cgroup_kill_names_the_writer", &killer_config()) else {
        return;
    };
    let Some(v2) = mount_point("cgroup2", None) else {
        sigwatch_test_support::skip(
            "cgroup_kill_names_the_writer",
            sigwatch_test_support::Need::Host("cgroup2".into()),
            "no cgroup2 mounted",
        );
        return;
    };
    let cg = CgroupDir(v2.join(format!("sigwatch-tracesig-kill-{}", std::process::id())));
    std::fs::create_dir(&cg.0).unwrap();
    if !cg.0.join("cgroup.kill").exists() {
        sigwatch_test_support::skip(
            "cgroup_kill_names_the_writer",
            sigwatch_test_support::Need::Kernel("cgroup.kill".into()),
            "no cgroup.kill (kernel < 5.14)",
        );
        return;
    }
    let mut members: Vec<_> = (0..2)
        .map(|_| {
            Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "echo $$ > {}/cgroup.procs && exec sleep 100",
                    cg.0.display()
                ))
                .spawn()
                .unwrap()
        })
        .collect();
    // Wait until both have exec'd `sleep` (hence are in the group).
    for m in &members {
        let comm = format!("/proc/{}/comm", m.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&comm).map_or(true, |c| c.trim() != "sleep") {
            assert!(std::time::Instant::now() < deadline, "member never exec'd");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for _ in 0..100 {
        let procs = std::fs::read_to_string(cg.0.join("cgroup.procs")).unwrap();
        if procs.lines().count() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg(format!("echo 1 > {}/cgroup.kill", cg.0.display()))
        .spawn()
        .unwrap();
    let wpid = writer.id() as i32;
    assert!(writer.wait().unwrap().success());
    let pids: Vec<i32> = members.iter().map(|c| c.id() as i32).collect();
    for m in &mut members {
        assert_eq!(m.wait().unwrap().signal(), Some(9));
    }
    let recs = collect_until(&mut src, WAIT, |r| {
        pids.iter().all(|&p| !sig_for(r, p).is_empty())
    });
    for p in pids {
        let ev = &sig_for(&recs, p)[0];
        assert_eq!(ev.ctx.pid, wpid, "sender is the writer");
        assert_eq!(ev.comm, "sleep");
        assert_eq!(
            classify(ev, OomEvidence::NotMarked).origin,
            Origin::CgroupKill
        );
    }
}

#[test]
fn rlimit_cpu_is_classified_rlimit() {
    let Some(mut src) = open_or_skip("rlimit_cpu_is_classified_rlimit", &killer_config()) else {
        return;
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("trap '' XCPU; while :; do :; done");
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1,
                rlim_max: 2,
            };
            if libc::setrlimit(libc::RLIMIT_CPU, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    let recs = collect_until(&mut src, WAIT, |r| {
        sig_for(r, pid).iter().any(|s| s.sig == 9)
    });
    let sigs = sig_for(&recs, pid);
    let sigs: Vec<_> = sigs.iter().map(|s| (s.sig, s.ctx.pid, s.code)).collect();
    assert_eq!(sigs, [(24, pid, 128), (9, pid, 128)], "{recs:?}");
    for s in sig_for(&recs, pid) {
        assert_eq!(classify(&s, OomEvidence::NotMarked).origin, Origin::Rlimit);
    }
}

#[test]
fn seccomp_kill_is_classified_seccomp() {
    let Some(mut src) = open_or_skip("seccomp_kill_is_classified_seccomp", &killer_config()) else {
        return;
    };
    let mut cmd = Command::new("true");
    // SAFETY: only prctl calls between fork and exec; the filter kills
    // the child at its next syscall (the execve itself).
    unsafe {
        cmd.pre_exec(|| {
            let mut filter = [libc::sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_KILL_PROCESS,
            }];
            let prog = libc::sock_fprog {
                len: 1,
                filter: filter.as_mut_ptr(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn();
    // Command::spawn reports exec failure through a pipe; a child killed
    // at execve makes spawn fail or the child die of SIGSYS.
    let pid;
    match child.as_mut() {
        Ok(c) => {
            pid = c.id() as i32;
            assert_eq!(c.wait().unwrap().signal(), Some(libc::SIGSYS));
        }
        Err(e) => panic!("spawn: {e}"),
    }
    let recs = collect_until(&mut src, WAIT, |r| !sig_for(r, pid).is_empty());
    let s = &sig_for(&recs, pid)[0];
    assert_eq!((s.sig, s.ctx.pid), (libc::SIGSYS, pid));
    assert_eq!(classify(s, OomEvidence::NotMarked).origin, Origin::Seccomp);
}
