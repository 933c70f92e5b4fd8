//! Prints process events like `forkstat` does, as text or JSON lines, with
//! a loss summary at exit (Ctrl-C / SIGTERM).
//!
//! ```text
//! sudo cargo run -p procconn --example forkstat -- [--json] [--filter exit,fork,...]
//! ```
//!
//! Arguments are parsed by hand: the library has no CLI dependency.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use procconn::event::what;
use procconn::{Config, EventKind, ExitStatus, Pid, ProcConnector, ProcEvent};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn install_handlers() -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    // No SA_RESTART: a blocked recv returns EINTR and the loop sees STOP.
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { sigaction(sig, &sa) }?;
    }
    Ok(())
}

fn usage() -> ! {
    eprintln!(
        "usage: forkstat [--json] [--filter KINDS]\n\
         KINDS: comma-separated fork,exec,exit,nonzero-exit,uid,gid,sid,ptrace,comm,coredump"
    );
    std::process::exit(2)
}

fn parse_filter(s: &str) -> Option<u32> {
    let mut mask = 0;
    for k in s.split(',') {
        mask |= match k {
            "fork" => what::FORK,
            "exec" => what::EXEC,
            "exit" => what::EXIT,
            "nonzero-exit" => what::NONZERO_EXIT,
            "uid" => what::UID,
            "gid" => what::GID,
            "sid" => what::SID,
            "ptrace" => what::PTRACE,
            "comm" => what::COMM,
            "coredump" => what::COREDUMP,
            _ => return None,
        };
    }
    Some(mask)
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC`, to turn event timestamps into
/// wall-clock time.
fn realtime_offset_ns() -> i128 {
    use nix::time::{clock_gettime, ClockId};
    let ns = |id| {
        clock_gettime(id)
            .map(|t| t.tv_sec() as i128 * 1_000_000_000 + t.tv_nsec() as i128)
            .unwrap_or(0)
    };
    ns(ClockId::CLOCK_REALTIME) - ns(ClockId::CLOCK_MONOTONIC)
}

/// `HH:MM:SS.mmm` (UTC) of a wall-clock time in ns since the epoch.
fn hms(wall_ns: i128) -> String {
    let ms = wall_ns.div_euclid(1_000_000);
    let day_ms = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// The process's argv from `/proc` (best effort), control characters
/// escaped, or `[comm]` for kernel threads / vanished processes.
fn cmdline(pid: Pid) -> String {
    if let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        if !raw.is_empty() {
            let parts: Vec<String> = raw
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(escape)
                .collect();
            return parts.join(" ");
        }
    }
    match std::fs::read(format!("/proc/{pid}/comm")) {
        Ok(c) => format!("[{}]", escape(c.strip_suffix(b"\n").unwrap_or(&c))),
        Err(_) => "<unknown>".to_string(),
    }
}

/// Untrusted bytes to printable text: control characters and invalid
/// UTF-8 become escapes.
fn escape(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn signal_name(sig: u8) -> &'static str {
    nix::sys::signal::Signal::try_from(i32::from(sig))
        .map(|s| s.as_str())
        .unwrap_or("?")
}

fn describe_status(st: ExitStatus) -> String {
    match st {
        ExitStatus::Exited(code) => format!("exited {code}"),
        ExitStatus::Signaled {
            signal,
            core_dumped,
        } => format!(
            "killed by signal {signal} ({}){}",
            signal_name(signal),
            if core_dumped { ", core dumped" } else { "" }
        ),
    }
}

struct Printer {
    json: bool,
    offset: i128,
    /// Command line and start timestamp per pid (thread id), for exits.
    known: HashMap<Pid, (String, u64)>,
    out: io::BufWriter<io::Stdout>,
}

impl Printer {
    fn event(&mut self, ev: &ProcEvent) -> io::Result<()> {
        let (name, pid, info, process): (&str, Pid, String, String) = match &ev.kind {
            EventKind::Ack { err } => ("ack", 0, format!("err {err}"), String::new()),
            EventKind::Fork {
                parent_tgid,
                child_pid,
                child_tgid,
                ..
            } => {
                let cmd = cmdline(*child_tgid);
                self.known
                    .insert(*child_pid, (cmd.clone(), ev.timestamp_ns));
                let info = if child_pid != child_tgid {
                    format!("thread of {child_tgid}")
                } else {
                    format!("parent {parent_tgid}")
                };
                let kind = if child_pid != child_tgid {
                    "clone"
                } else {
                    "fork"
                };
                (kind, *child_pid, info, cmd)
            }
            EventKind::Exec { process_pid, .. } => {
                let cmd = cmdline(*process_pid);
                let start = self.known.get(process_pid).map_or(ev.timestamp_ns, |k| k.1);
                self.known.insert(*process_pid, (cmd.clone(), start));
                ("exec", *process_pid, String::new(), cmd)
            }
            EventKind::Exit {
                process_pid,
                process_tgid,
                status,
                ..
            } => {
                let (cmd, dur) = match self.known.remove(process_pid) {
                    Some((c, start)) => (
                        c,
                        format!(
                            " after {:.3}s",
                            ev.timestamp_ns.saturating_sub(start) as f64 / 1e9
                        ),
                    ),
                    None => (cmdline(*process_tgid), String::new()),
                };
                (
                    "exit",
                    *process_pid,
                    format!("{}{dur}", describe_status(*status)),
                    cmd,
                )
            }
            EventKind::Uid {
                process_pid,
                ruid,
                euid,
                ..
            } => (
                "uid",
                *process_pid,
                format!("ruid {ruid} euid {euid}"),
                cmdline(*process_pid),
            ),
            EventKind::Gid {
                process_pid,
                rgid,
                egid,
                ..
            } => (
                "gid",
                *process_pid,
                format!("rgid {rgid} egid {egid}"),
                cmdline(*process_pid),
            ),
            EventKind::Sid { process_pid, .. } => {
                ("sid", *process_pid, String::new(), cmdline(*process_pid))
            }
            EventKind::Ptrace {
                process_pid,
                tracer_tgid,
                ..
            } => (
                "ptrce",
                *process_pid,
                if *tracer_tgid == 0 {
                    "detach".to_string()
                } else {
                    format!("attach by {tracer_tgid}")
                },
                cmdline(*process_pid),
            ),
            EventKind::Comm {
                process_pid, comm, ..
            } => (
                "comm",
                *process_pid,
                format!("-> {}", escape(comm)),
                cmdline(*process_pid),
            ),
            EventKind::Coredump { process_pid, .. } => {
                ("core", *process_pid, String::new(), cmdline(*process_pid))
            }
            EventKind::Unknown { what, .. } => ("?", 0, format!("what {what:#x}"), String::new()),
            _ => ("?", 0, String::new(), String::new()),
        };
        let wall = hms(ev.timestamp_ns as i128 + self.offset);
        if self.json {
            let mut line = format!(
                "{{\"time\":{},\"timestamp_ns\":{},\"cpu\":{},\"seq\":{},\"event\":{},\"pid\":{pid}",
                json_str(&wall),
                ev.timestamp_ns,
                ev.cpu,
                ev.seq,
                json_str(name),
            );
            if let Some((_, tgid)) = ev.kind.subject() {
                line.push_str(&format!(",\"tgid\":{tgid}"));
            }
            match &ev.kind {
                EventKind::Fork { parent_tgid, .. } => {
                    line.push_str(&format!(",\"parent_tgid\":{parent_tgid}"))
                }
                EventKind::Exit {
                    exit_code,
                    status,
                    exit_signal,
                    ..
                } => {
                    line.push_str(&format!(
                        ",\"exit_code\":{exit_code},\"exit_signal\":{}",
                        *exit_signal as i32
                    ));
                    match status {
                        ExitStatus::Exited(c) => line.push_str(&format!(",\"exit_status\":{c}")),
                        ExitStatus::Signaled {
                            signal,
                            core_dumped,
                        } => line.push_str(&format!(
                            ",\"signal\":{signal},\"signal_name\":{},\"core_dumped\":{core_dumped}",
                            json_str(signal_name(*signal))
                        )),
                    }
                }
                _ => {}
            }
            line.push_str(&format!(
                ",\"info\":{},\"process\":{}}}",
                json_str(&info),
                json_str(&process)
            ));
            writeln!(self.out, "{line}")?;
        } else {
            writeln!(self.out, "{wall} {name:<5} {pid:>7} {info:<32} {process}")?;
        }
        Ok(())
    }
}

fn main() {
    let mut json = false;
    let mut filter = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--filter" => {
                filter = Some(
                    args.next()
                        .and_then(|s| parse_filter(&s))
                        .unwrap_or_else(|| usage()),
                )
            }
            _ => usage(),
        }
    }
    if let Err(e) = install_handlers() {
        eprintln!("forkstat: cannot install signal handlers: {e}");
    }
    let mut conn = match ProcConnector::open(&Config::default().filter(filter)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("forkstat: {e} (run as root)");
            std::process::exit(1);
        }
    };
    eprintln!(
        "forkstat: subscribed ({:?}), receive buffer {} bytes{}",
        conn.subscription(),
        conn.recv_buffer_size(),
        if conn.recv_buffer_forced() {
            " (forced)"
        } else {
            ""
        }
    );
    let mut p = Printer {
        json,
        offset: realtime_offset_ns(),
        known: HashMap::new(),
        out: io::BufWriter::new(io::stdout()),
    };
    if !json {
        let _ = writeln!(
            p.out,
            "Time         Event     PID Info                             Process"
        );
    }
    let mut count: u64 = 0;
    while !STOP.load(Ordering::Relaxed) {
        match conn.next_event(Some(Duration::from_millis(250))) {
            Ok(Some(ev)) => {
                count += 1;
                if p.event(&ev).is_err() {
                    break; // stdout closed
                }
            }
            Ok(None) => {
                if p.out.flush().is_err() {
                    break;
                }
            }
            Err(e) => {
                eprintln!("forkstat: {e}");
                break;
            }
        }
    }
    let loss = conn.loss();
    if json {
        let _ = writeln!(
            p.out,
            "{{\"event\":\"summary\",\"events\":{count},\"missed\":{},\"seq_gap_events\":{},\
             \"enobufs\":{},\"overruns\":{},\"malformed\":{},\"seq_tracking\":{}}}",
            loss.missed_events(),
            loss.seq_gap_events,
            loss.enobufs,
            loss.overruns,
            loss.malformed,
            loss.seq_tracking
        );
    }
    let _ = p.out.flush();
    eprintln!("forkstat: {count} events; loss: {loss}");
}
