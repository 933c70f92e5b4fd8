//! The sigwatch attribution engine: who killed my process?
//!
//! [`Attributor`] is a pure state machine: feed it process events
//! ([`procconn::ProcEvent`]), audit kill events ([`auditsig::KillEvent`]), tracefs
//! records ([`tracesig::Record`]: `signal_generate`, `mark_victim`; see
//! [`Attributor::on_trace`]), kernel-log lines and the time, and it emits
//! [`Report`]s, which [`render`] prints as text or JSON lines. A kill seen
//! by several witnesses is one report listing them (`witnesses`).
//!
//! ```
//! use auditsig::{Arch, KillEvent, KillSyscall, Sender, Stamp, Target, TargetSpec};
//! use procconn::{EventKind, ExitStatus, ProcEvent};
//! use sigwatch::{Attributor, Clock, Config, MemTree, Report};
//!
//! let mut a = Attributor::new(Config::default(), MemTree::new());
//! let now = Clock { mono_ns: 1_000, wall_ns: 1_795_667_968_504_000_000 };
//! // `kill(1294, SIGKILL)` by an `sh`, as auditsig decodes it.
//! let stamp = Stamp { sec: 1_795_667_968, msec: 504, serial: 23 };
//! let sender = Sender::new(1298, 1, 0, 0, 0, &b"sh"[..]);
//! let mut kill = KillEvent::new(stamp, Arch::X86_64, KillSyscall::Kill, TargetSpec::Process(1294), 9, sender);
//! kill.targets.push(Target::new(1294, 0, &b"pa-daemon"[..]));
//! assert!(a.on_audit_kill(&kill, now).is_empty()); // waits for the exit
//! let exit = ProcEvent {
//!     seq: 1, cpu: 0, timestamp_ns: 1_000,
//!     kind: EventKind::Exit {
//!         process_pid: 1294, process_tgid: 1294, exit_code: 9,
//!         status: ExitStatus::from_wait_status(9), exit_signal: 17,
//!         parent_pid: None, parent_tgid: None,
//!     },
//! };
//! let reports = a.on_proc_event(&exit, now);
//! let Report::Kill(r) = &reports[0] else { panic!() };
//! assert!(r.victim.exit_confirmed);
//! assert_eq!(r.sender.as_ref().map(|s| s.pid), Some(1298));
//! assert_eq!(r.syscall.as_deref(), Some("kill"));
//! ```
#![warn(missing_docs)]

pub mod argv;
pub mod attributor;
pub mod auditd_conf;
pub mod cgroupfs;
pub mod config;
pub mod context;
pub mod input;
pub mod journal;
pub mod metrics;
pub mod notice;
pub mod output;
pub mod procview;
pub mod render;
pub mod replay;
pub mod report;
pub mod signals;
pub mod sources;
pub mod status;
pub mod stop;
pub mod watcher;

pub use attributor::{Attributor, Clock, Config, Stats};
pub use config::{AuditInput, WatchConfig, Witnesses};
pub use input::{parse_kmsg_line, KernelKill};
pub use notice::{Notice, Severity};
pub use procview::{MemTree, ProcessSnapshot, ProcessView};
pub use report::{Ancestry, KillReport, Origin, Report, Summary};
pub use signals::{parse_signal, signal_name, SignalSet};
pub use watcher::{Finished, StopReason, Watcher, WitnessState};

/// Errors of the sigwatch package.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `--signal` item that is neither a signal name nor a number 1..=64.
    #[error("unknown signal {0:?} (use a name like KILL or TERM, a number 1-64, or `all`)")]
    BadSignal(String),
    /// A condition that stops sigwatch, described in one line with its fix.
    #[error("{0}")]
    Fatal(String),
    /// An I/O error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

#[doc(hidden)]
/// One fuzzing step over untrusted bytes (used by the `sigwatch_inputs`
/// fuzz target and its corpus replay): the kernel-log parser, the terminal
/// escaper, a replay of the bytes as audit-log lines, and the same bytes
/// as tracefs `trace_pipe` lines fed to an [`Attributor`]. Panics only when
/// an invariant breaks (escaped text holding a control character).
pub fn fuzz_one(data: &[u8]) {
    if let Some(k) = parse_kmsg_line(data) {
        assert!(k.pid > 0);
    }
    let e = render::escape(data);
    assert!(
        !e.chars().any(char::is_control),
        "escaped text holds a control character: {e:?}"
    );
    let records = data
        .split(|&b| b == b'\n')
        .filter_map(|l| auditsig::Record::parse_line(l).ok());
    let (mut reports, _) = replay::replay_records(records, SignalSet::all());
    // The same bytes as tracefs lines, through the attributor.
    let mut a = Attributor::new(
        Config {
            signals: SignalSet::all(),
            ..Config::default()
        },
        MemTree::new(),
    );
    let now = Clock {
        mono_ns: 1_000_000_000_000,
        wall_ns: 1_795_667_968_000_000_000,
    };
    for line in data.split(|&b| b == b'\n') {
        if let Ok(rec) = tracesig::parse_line(line) {
            reports.extend(a.on_trace(&rec, now));
        }
    }
    reports.extend(a.flush(now));
    for r in &reports {
        let t = render::render_text(r, &render::TextOptions::default());
        assert!(!t.contains('\x1b'), "raw ESC in a report");
        let _ = serde_json::to_string(r);
    }
}
