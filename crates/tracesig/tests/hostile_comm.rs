//! Real kills of processes whose comms (set with `prctl(PR_SET_NAME)`)
//! hold newlines, spaces, parentheses, colons and field-like text, sent
//! by processes with such comms: every kill must come out of
//! `TraceSource` whole, with nothing counted unparsable.
//!
//! No test harness: the binary re-runs itself as the victim and sender
//! helpers (`--hostile-helper ...`), which must be processes of their own
//! to carry their own comm.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use tracesig::{Config, Record, SignalGenerate};

/// (victim comm, sender comm); at most 15 bytes each.
const PAIRS: &[(&[u8], &[u8])] = &[
    (b"a\nb", b"x\ny"),
    (b"\nsig=9 comm=", b"\n"),
    (b"ends\n", b"s\n-1 (1) [0]"),
    (b" pid=1\nrest", b"two words"),
    (b"p(a)r)en( x", b"co:lo:n: x"),
    (b"x comm=y pid=1", b"a\n\n\nb"),
    // A sender comm cannot start with a space: the text pads it with
    // spaces to 16 columns, so leading ones are indistinguishable.
    (b"\n\n\n\n\n\n\n", b"pid=2 grp=1\n"),
];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn set_comm(comm: &[u8]) {
    let c = std::ffi::CString::new(comm).unwrap();
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
    // bytes from the pointer, which outlives the call.
    let r = unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr(), 0, 0, 0) };
    assert_eq!(r, 0, "prctl(PR_SET_NAME)");
}

fn helper(args: &[String]) {
    match args {
        [mode, comm] if mode == "victim" => {
            set_comm(&unhex(comm));
            println!("ready");
            std::io::stdout().flush().unwrap();
            // Until killed (or the test goes away and closes stdin).
            let _ = std::io::stdin().read_line(&mut String::new());
        }
        [mode, comm, pid] if mode == "sender" => {
            set_comm(&unhex(comm));
            let pid = nix::unistd::Pid::from_raw(pid.parse().unwrap());
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        }
        other => panic!("unknown helper {other:?}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--hostile-helper") {
        return helper(&args[2..]);
    }
    let Some(mut src) = common::open_or_skip("hostile_comm", &Config::default()) else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let mut kills = Vec::new();
    for &(victim_comm, sender_comm) in PAIRS {
        let mut victim = Command::new(&exe)
            .args(["--hostile-helper", "victim", &hex(victim_comm)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(victim.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready, "ready\n");
        // Independent probe: the kernel holds the comm we asked for.
        let mut shown = std::fs::read(format!("/proc/{}/comm", victim.id())).unwrap();
        assert_eq!(shown.pop(), Some(b'\n'));
        assert_eq!(shown, victim_comm, "prctl did not set the comm");
        let sender = Command::new(&exe)
            .args([
                "--hostile-helper",
                "sender",
                &hex(sender_comm),
                &victim.id().to_string(),
            ])
            .status()
            .unwrap();
        assert!(sender.success());
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(victim.wait().unwrap().signal(), Some(9));
        kills.push((victim.id() as i32, victim_comm, sender_comm));
    }
    // The senders exited: their comms are in the kernel's cache.
    let recs = common::collect_until(&mut src, Duration::from_secs(10), |r| {
        kills.iter().all(|k| find(r, k.0).is_some())
    });
    let mut exact_sender_comms = 0;
    for &(pid, victim_comm, sender_comm) in &kills {
        let ev = find(&recs, pid).unwrap_or_else(|| panic!("kill of {pid} lost"));
        assert_eq!(ev.comm.as_bytes(), victim_comm, "target comm of {pid}");
        assert_eq!(ev.sig, 9);
        // The sender's comm is looked up when the line is read; `<...>`
        // when the kernel's cache has no entry (no newline to join then).
        if ev.ctx.comm.as_bytes() == sender_comm {
            exact_sender_comms += 1;
        } else {
            assert_eq!(ev.ctx.comm, "<...>", "sender comm of the kill of {pid}");
        }
    }
    let loss = src.loss().unwrap();
    assert_eq!(loss.unparsed, 0, "lines left unparsed");
    src.finish().unwrap();
    println!(
        "hostile_comm: {} kills whole; {exact_sender_comms} with the exact sender comm",
        kills.len()
    );
}

fn find(recs: &[Record], pid: i32) -> Option<&SignalGenerate> {
    recs.iter().find_map(|r| match r {
        Record::SignalGenerate(s) if s.pid == pid => Some(s),
        _ => None,
    })
}
