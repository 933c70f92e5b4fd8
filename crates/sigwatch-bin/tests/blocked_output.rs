//! A blocked output at exit: sigwatch's stdout is a pipe nobody reads
//! while more reports are due than the pipe holds; on SIGTERM it stops
//! at once, the output holds whole JSON lines only (never a cut line),
//! and the reports that never reached the reader are counted.
//!
//! Uses only process events (`--source proc`): no audit state is touched.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sigwatch_test_support::{cpu_ticks, spawn_ready, wait_idle};

/// The binary under test: `$SIGWATCH_BIN` (the static release binary in
/// CI's guests and its host e2e pass), else the one cargo built.
fn bin() -> std::path::PathBuf {
    std::env::var_os("SIGWATCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_sigwatch").into())
}

/// Bytes waiting in a pipe (FIONREAD).
fn queued(fd: &File) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    assert_eq!(
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) },
        0
    );
    n as usize
}

#[test]
fn blocked_stdout_at_exit_never_ends_in_a_cut_line_and_counts_the_undelivered() {
    blocked_stdout_at_exit(false);
}

/// The same with reports larger than `PIPE_BUF` (4 KiB, which a pipe
/// takes whole only when written at once): each victim's argv is 2,500
/// extra arguments, a report about 11 KB.
#[test]
fn blocked_stdout_at_exit_with_reports_over_pipe_buf_never_ends_in_a_cut_line() {
    blocked_stdout_at_exit(true);
}

fn blocked_stdout_at_exit(long: bool) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP blocked_stdout_at_exit: needs root (process events as root)");
        return;
    }
    let tag = if long { "long" } else { "short" };
    let dir = std::env::temp_dir().join(format!("sigwatch-blocked-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Close-on-exec: sigwatch must not inherit the read end (it would
    // then never see its reader go away, and outlive a failed test).
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let read_end = File::from(r);
    let stderr_path = dir.join("stderr");
    // A distinct victim name: only this test's children are reported.
    let comm = format!("swblk{}{}", &tag[..1], std::process::id() % 100_000);
    let mut sw = spawn_ready(
        Command::new(bin())
            .args([
                "--json",
                "--source",
                "proc",
                "--window-ms",
                "20",
                "--comm",
                &comm,
            ])
            .stdout(Stdio::from(w))
            .stderr(File::create(&stderr_path).unwrap()),
        &dir,
    );
    // 150 SIGKILLed children named `comm`: about 1 KB of JSON each, more
    // than a 64 KiB pipe holds.
    // (The kernel names a process after the file it executes: a link
    // named `comm` to sleep.)
    let link = dir.join(&comm);
    std::os::unix::fs::symlink("/bin/sleep", &link).unwrap();
    // `sleep` adds up its arguments: 300 and 2,500 zeros is 300 s.
    let zeros = if long {
        "0 ".repeat(2500)
    } else {
        String::new()
    };
    let script = format!(
        "i=0; while [ $i -lt 150 ]; do {link} 300 {zeros} & p=$!; \
         while [ \"$(cat /proc/$p/comm 2>/dev/null)\" != {comm} ]; do :; done; kill -9 $p; i=$((i+1)); done; wait",
        link = link.display()
    );
    let st = Command::new("bash").args(["-c", &script]).status().unwrap();
    assert!(st.success());
    // Wait (with a deadline) until the pipe is full: more than half of its
    // 64 KiB queued and no growth for 300 ms. (How many bytes a full pipe
    // holds depends on the line length: each line is written on its own
    // and a page takes only whole writes, so a page of ~700-byte lines
    // holds 5 of them, 3.5 KB.)
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = (0, Instant::now());
    loop {
        let q = queued(&read_end);
        if q != last.0 {
            last = (q, Instant::now());
        } else if q > 32_768 && last.1.elapsed() >= Duration::from_millis(300) {
            break;
        }
        assert!(Instant::now() < deadline, "the pipe never filled: {q}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // With reports larger than a page: free two pages of the full pipe,
    // less than one report. The pipe polls writable now, but a report
    // goes in only whole: sigwatch must wait without spinning (it once
    // woke at once, again and again, at 100 % CPU).
    let mut head = vec![0u8; if long { 8192 } else { 0 }];
    let mut read_end = read_end;
    if long {
        read_end.read_exact(&mut head).unwrap();
        let ticks = |pid: u32| cpu_ticks(pid as i32).unwrap_or(0);
        std::thread::sleep(Duration::from_millis(300));
        let before = ticks(sw.id());
        let queued_before = queued(&read_end);
        std::thread::sleep(Duration::from_secs(1));
        let used = ticks(sw.id()) - before;
        // The premise: room for less than one report, so nothing went in.
        assert_eq!(
            queued(&read_end),
            queued_before,
            "a report went into less room than it needs"
        );
        eprintln!("waiting for pipe room: {used} ticks of CPU in 1 s");
        assert!(
            used <= 20,
            "sigwatch used {used} ticks of CPU in 1 s waiting for pipe room (spinning)"
        );
    }
    // And until sigwatch is idle (asleep, its CPU time still for 300 ms):
    // on a loaded machine it may still be reading the deaths, or be
    // runnable and waiting for a CPU.
    wait_idle(
        sw.id() as i32,
        Duration::from_millis(300),
        deadline.saturating_duration_since(Instant::now()),
    );
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sw.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = sw.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = sw.kill();
            panic!("sigwatch did not stop on SIGTERM with its output blocked");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    eprintln!("stopped {} ms after SIGTERM", t.elapsed().as_millis());
    let mut out = head;
    read_end.read_to_end(&mut out).unwrap();
    assert!(out.ends_with(b"\n"), "the output ends in a cut line");
    let mut kills = 0u64;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {}", String::from_utf8_lossy(line)));
        if v["type"] == "kill" {
            assert_eq!(v["victim"]["comm"], comm.as_str());
            kills += 1;
        }
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let dropped: u64 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("sigwatch: ")?
                .split_once(" report(s) dropped")?
                .0
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no dropped count on stderr:\n{stderr}"));
    let reported: u64 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("sigwatch: ")?
                .split_once(" report(s); proc events")?
                .0
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no summary on stderr:\n{stderr}"));
    assert!(dropped > 0);
    // (A few of the 150 deaths may still have been unread at SIGTERM.)
    assert!(reported > 100, "{reported} of 150 deaths reported");
    assert_eq!(
        kills + dropped,
        reported,
        "every report is either delivered whole or counted as dropped (stderr:\n{stderr})"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn auditctl(arg: &str) -> Option<String> {
    let o = Command::new("auditctl").arg(arg).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// `enabled` and `pid` lines of `auditctl -s`, and `auditctl -l`.
fn audit_state() -> Option<(String, String)> {
    let s = auditctl("-s")?;
    let s = s
        .lines()
        .filter(|l| l.starts_with("enabled ") || l.starts_with("pid "))
        .collect::<Vec<_>>()
        .join(" ");
    Some((s, auditctl("-l")?))
}

/// stderr is a pipe that is already full (a terminal stopped with Ctrl-S
/// behaves the same): sigwatch still starts, and SIGTERM still puts audit
/// back as it was found, at once.
#[test]
fn blocked_stderr_never_delays_the_clean_up() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP blocked_stderr: needs root");
        return;
    }
    let Some(_) = audit_state() else {
        panic!("auditctl (the oracle) cannot run: install Debian's auditd package (apt-get install auditd)");
    };
    let _lock = sigwatch_test_support::AuditLock::acquire();
    let before = audit_state().unwrap();
    let dir = std::env::temp_dir().join(format!("sigwatch-blocked-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Close-on-exec: sigwatch must not inherit the read end (it would
    // then never see its reader go away, and outlive a failed test).
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // Fill the pipe: every later write to it would block.
    nix::fcntl::fcntl(
        &w,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut filled = 0;
    while let Ok(n) = nix::unistd::write(&w, &[b'.'; 4096]) {
        filled += n;
    }
    assert!(filled >= 4096);
    nix::fcntl::fcntl(
        &w,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .unwrap();
    let mut sw = Command::new(bin())
        .args(["--json", "-vv"])
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::from(w))
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let ready = notify.recv(&mut buf);
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sw.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = sw.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let after = audit_state().unwrap();
    if status.is_none() {
        let _ = sw.kill();
        let _ = sw.wait();
    }
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ready.is_ok(),
        "sigwatch never became ready with stderr blocked"
    );
    let status = status.expect("sigwatch did not stop on SIGTERM with stderr blocked");
    assert!(status.success(), "{status:?}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "clean-up waited for stderr ({} ms)",
        t.elapsed().as_millis()
    );
    assert_eq!(after, before, "audit not left as found");
}
