//! Reports as native journal entries (`--output journal`): one entry per
//! report, its fields filterable with `journalctl FIELD=value`.
//!
//! The native protocol (systemd's `man 7 systemd.journal-fields` and "Native
//! Journal Protocol"): a datagram to `/run/systemd/journal/socket` holding
//! `NAME=value\n` for values without a newline, and `NAME\n` + 64-bit
//! little-endian length + value + `\n` otherwise. A payload too large for
//! one datagram goes in a sealed memfd passed with `SCM_RIGHTS`.
//!
//! [`kill_fields`] and [`encode`] are pure; [`Journal`] does the I/O.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use crate::render::answer;
use crate::report::{KillReport, Report};

/// The `MESSAGE_ID` of every kill report (`journalctl
/// MESSAGE_ID=2b60e471098d4342b99e0a561199a84a`; explained by the
/// catalog entry in `contrib/sigwatch.catalog`).
pub const KILL_MESSAGE_ID: &str = "2b60e471098d4342b99e0a561199a84a";

/// The `MESSAGE_ID` of a loss report (a witness lost events).
pub const LOSS_MESSAGE_ID: &str = "544736c361e94c8995f528bc015cda86";

/// journald's socket for native clients.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// One journal field: name (`[A-Z0-9_]`, not starting with `_`) and value.
pub type Field = (String, Vec<u8>);

/// Encodes fields in the native protocol. Names are the caller's
/// constants; a value may hold any bytes (newlines select the
/// length-prefixed form).
pub fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|(n, v)| n.len() + v.len() + 10).sum());
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        if value.contains(&b'\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

fn field(out: &mut Vec<Field>, name: &str, value: impl Into<Vec<u8>>) {
    out.push((name.to_string(), value.into()));
}

/// The fields of a process part (victim or sender) under `prefix`.
fn process_fields(
    out: &mut Vec<Field>,
    prefix: &str,
    pid: i32,
    comm: Option<&[u8]>,
    exe: Option<&[u8]>,
    uid: Option<u32>,
    c: &crate::report::ProcContext,
) {
    field(out, &format!("{prefix}_PID"), pid.to_string());
    if let Some(v) = comm {
        field(out, &format!("{prefix}_COMM"), v);
    }
    if let Some(v) = exe {
        field(out, &format!("{prefix}_EXE"), v);
    }
    if let Some(v) = uid {
        field(out, &format!("{prefix}_UID"), v.to_string());
    }
    if let Some(v) = &c.cgroup {
        field(out, &format!("{prefix}_CGROUP"), v.as_bytes());
    }
    if let Some(v) = &c.unit {
        field(out, &format!("{prefix}_UNIT"), v.as_bytes());
    }
    if let Some(v) = &c.user_unit {
        field(out, &format!("{prefix}_USER_UNIT"), v.as_bytes());
    }
    if let Some(ct) = &c.container {
        if let Some(r) = ct.runtime {
            field(out, &format!("{prefix}_CONTAINER_RUNTIME"), r);
        }
        if let Some(id) = &ct.id {
            field(out, &format!("{prefix}_CONTAINER_ID"), id.as_bytes());
        }
        if let Some(p) = &ct.pod_uid {
            field(out, &format!("{prefix}_POD_UID"), p.as_bytes());
        }
    }
}

/// The journal entry of a report: `MESSAGE` (the one-line answer for a
/// kill), `PRIORITY`, `SYSLOG_IDENTIFIER`, `MESSAGE_ID`, `SIGWATCH_*`
/// fields, and `SIGWATCH_REPORT` (the report's JSON line, the contract).
pub fn report_fields(r: &Report) -> Vec<Field> {
    let mut out = Vec::new();
    let json = serde_json::to_vec(r).unwrap_or_default();
    match r {
        Report::Kill(k) => {
            field(&mut out, "MESSAGE", answer(k));
            // warning: something was killed; notice: an attempt failed.
            let prio = if k.success == Some(false) { "5" } else { "4" };
            field(&mut out, "PRIORITY", prio);
            field(&mut out, "MESSAGE_ID", KILL_MESSAGE_ID);
            out.extend(kill_fields(k));
        }
        Report::Loss(l) => {
            field(
                &mut out,
                "MESSAGE",
                format!(
                    "{} lost {} event(s): reports may be missing or incomplete",
                    l.source, l.count
                ),
            );
            field(&mut out, "PRIORITY", "4");
            field(&mut out, "MESSAGE_ID", LOSS_MESSAGE_ID);
            field(&mut out, "SIGWATCH_LOSS_SOURCE", l.source.as_str());
            field(&mut out, "SIGWATCH_LOSS_COUNT", l.count.to_string());
        }
        Report::Summary(_) => {
            field(
                &mut out,
                "MESSAGE",
                // The same words as the summary on stderr.
                crate::render::render_text(r, &crate::render::TextOptions::default())
                    .trim_end()
                    .to_owned(),
            );
            field(&mut out, "PRIORITY", "6");
        }
    }
    field(&mut out, "SYSLOG_IDENTIFIER", "sigwatch");
    field(&mut out, "SIGWATCH_REPORT", json);
    out
}

/// The `SIGWATCH_*` fields of a kill report.
pub fn kill_fields(k: &KillReport) -> Vec<Field> {
    let mut out = Vec::new();
    field(&mut out, "SIGWATCH_SIGNAL", k.signal_name.as_bytes());
    field(
        &mut out,
        "SIGWATCH_ORIGIN",
        format!("{:?}", k.origin).to_lowercase(),
    );
    if let Some(r) = k.reason {
        field(&mut out, "SIGWATCH_REASON", r.as_str());
    }
    if let Some(s) = &k.syscall {
        field(&mut out, "SIGWATCH_SYSCALL", s.as_bytes());
    }
    let v = &k.victim;
    process_fields(
        &mut out,
        "SIGWATCH_VICTIM",
        v.pid,
        v.comm.as_ref().map(|t| t.as_bytes()),
        v.exe.as_ref().map(|t| t.as_bytes()),
        v.uid,
        &v.context,
    );
    // journald adds the victim's own OBJECT_* fields while it still runs.
    field(&mut out, "OBJECT_PID", v.pid.to_string());
    if let Some(s) = &k.sender {
        process_fields(
            &mut out,
            "SIGWATCH_SENDER",
            s.pid,
            s.comm.as_ref().map(|t| t.as_bytes()),
            s.exe.as_ref().map(|t| t.as_bytes()),
            s.uid,
            &s.context,
        );
        if let Some(a) = &s.argv {
            field(
                &mut out,
                "SIGWATCH_SENDER_ARGV",
                crate::render::argv_line(a),
            );
        }
        if let Some(a) = s.auid {
            field(&mut out, "SIGWATCH_SENDER_AUID", a.to_string());
        }
    }
    if let Some(a) = &k.audit {
        field(&mut out, "SIGWATCH_AUDIT_SERIAL", a.serial.to_string());
    }
    if let Some(o) = &k.oom {
        if let Some(c) = o.constraint {
            field(&mut out, "SIGWATCH_OOM_CONSTRAINT", c.as_str());
        }
        if let Some(c) = &o.cgroup {
            field(&mut out, "SIGWATCH_OOM_CGROUP", c.as_bytes());
        }
        if let Some(l) = o.limit_bytes {
            field(&mut out, "SIGWATCH_OOM_LIMIT_BYTES", l.to_string());
        }
    }
    if let Some(c) = k.cgroup_kill.as_ref().and_then(|c| c.cgroup.as_ref()) {
        field(&mut out, "SIGWATCH_KILLED_CGROUP", c.as_bytes());
    }
    let witnesses: Vec<&str> = k.witnesses.iter().map(|w| w.as_str()).collect();
    field(&mut out, "SIGWATCH_WITNESSES", witnesses.join(","));
    out
}

/// A connection to journald's native socket.
#[derive(Debug)]
pub struct Journal {
    sock: UnixDatagram,
    path: PathBuf,
}

impl Journal {
    /// Connects to journald's socket at `path` (normally [`SOCKET`]).
    ///
    /// # Errors
    /// The socket cannot be created or journald does not listen there.
    pub fn connect(path: &Path) -> io::Result<Journal> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(path)?;
        // A stuck journald must not stop sigwatch reading the kernel.
        sock.set_write_timeout(Some(std::time::Duration::from_secs(2)))?;
        Ok(Journal {
            sock,
            path: path.to_path_buf(),
        })
    }

    /// Sends one report.
    ///
    /// # Errors
    /// The datagram (or the memfd for a large one) could not be sent.
    pub fn send(&self, r: &Report) -> io::Result<()> {
        self.send_fields(&report_fields(r))
    }

    /// Sends encoded fields: one datagram, or a sealed memfd when the
    /// payload is larger than a datagram may be (`EMSGSIZE`).
    ///
    /// # Errors
    /// As [`Journal::send`].
    pub fn send_fields(&self, fields: &[Field]) -> io::Result<()> {
        let data = encode(fields);
        match self.sock.send(&data) {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EMSGSIZE)
                    || e.raw_os_error() == Some(libc::ENOBUFS) =>
            {
                self.send_memfd(&data)
            }
            Err(e) => Err(e),
        }
    }

    fn send_memfd(&self, data: &[u8]) -> io::Result<()> {
        use nix::fcntl::{fcntl, FcntlArg, SealFlag};
        use nix::sys::memfd::{memfd_create, MFdFlags};
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
        let fd = memfd_create(
            c"sigwatch-journal",
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )?;
        let mut f = std::fs::File::from(fd);
        io::Write::write_all(&mut f, data)?;
        // journald accepts only a sealed memfd (it must not change under it).
        fcntl(
            &f,
            FcntlArg::F_ADD_SEALS(
                SealFlag::F_SEAL_SHRINK
                    | SealFlag::F_SEAL_GROW
                    | SealFlag::F_SEAL_WRITE
                    | SealFlag::F_SEAL_SEAL,
            ),
        )?;
        let fds = [f.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let addr = UnixAddr::new(&self.path)?;
        sendmsg(
            self.sock.as_raw_fd(),
            &[],
            &cmsg,
            MsgFlags::empty(),
            Some(&addr),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Decodes the native protocol (what journald's `server_process_native_message` accepts).
    fn decode(mut b: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let nl = b.iter().position(|&c| c == b'\n').unwrap();
            let line = &b[..nl];
            if let Some(eq) = line.iter().position(|&c| c == b'=') {
                out.push((
                    String::from_utf8(line[..eq].to_vec()).unwrap(),
                    line[eq + 1..].to_vec(),
                ));
                b = &b[nl + 1..];
            } else {
                let name = String::from_utf8(line.to_vec()).unwrap();
                let len = u64::from_le_bytes(b[nl + 1..nl + 9].try_into().unwrap()) as usize;
                let v = b[nl + 9..nl + 9 + len].to_vec();
                assert_eq!(b[nl + 9 + len], b'\n');
                out.push((name, v));
                b = &b[nl + 10 + len..];
            }
        }
        out
    }

    #[test]
    fn encoder_uses_both_forms() {
        let f: Vec<Field> = vec![
            ("MESSAGE".into(), b"hello".to_vec()),
            ("SIGWATCH_ARGV".into(), b"a\nb".to_vec()),
            ("EMPTY".into(), Vec::new()),
        ];
        let e = encode(&f);
        assert_eq!(
            e,
            b"MESSAGE=hello\nSIGWATCH_ARGV\n\x03\0\0\0\0\0\0\0a\nb\nEMPTY=\n".to_vec()
        );
        assert_eq!(decode(&e), f);
    }

    #[test]
    fn field_names_are_valid_journal_names() {
        use crate::report::*;
        let k = KillReport {
            time: Timestamp(0),
            signal: 9,
            signal_name: "SIGKILL".into(),
            origin: Origin::User,
            reason: None,
            syscall: Some("kill".into()),
            success: Some(true),
            syscall_target: None,
            syscall_target_count: None,
            victim: Victim {
                pid: 5,
                tid: None,
                ppid: None,
                comm: Some(Text::from("a\nb")),
                exe: None,
                argv: None,
                cwd: None,
                uid: Some(0),
                start_time: None,
                exit_confirmed: true,
                argv_truncated: None,
                context: ProcContext::from_cgroup(Some("/system.slice/x.service")),
            },
            sender: None,
            ancestors: Default::default(),
            audit: Some(AuditRef {
                serial: 7,
                key: None,
                container_id: None,
            }),
            witnesses: vec![Witness::Audit],
            trace: None,
            node: None,
            oom: None,
            cgroup_kill: None,
            ancestors_truncated: false,
            extra: KillExtra::default(),
        };
        let f = report_fields(&Report::Kill(k));
        for (n, _) in &f {
            assert!(
                !n.starts_with('_')
                    && n.len() <= 64
                    && n.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{n}"
            );
        }
        let get = |n: &str| f.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("SIGWATCH_VICTIM_UNIT"), Some(b"x.service".to_vec()));
        assert_eq!(get("SIGWATCH_AUDIT_SERIAL"), Some(b"7".to_vec()));
        assert_eq!(get("MESSAGE_ID"), Some(KILL_MESSAGE_ID.as_bytes().to_vec()));
        // A comm with a newline survives (length-prefixed form).
        assert_eq!(get("SIGWATCH_VICTIM_COMM"), Some(b"a\nb".to_vec()));
        let round = decode(&encode(&f));
        assert_eq!(round, f);
    }
}
