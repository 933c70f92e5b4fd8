//! Synthetic inputs shared by the Attributor tests (`attributor.rs`,
//! `tracefs_witness.rs`): clocks, proc events and process snapshots.
#![allow(dead_code)]

use procconn::{EventKind, ExitStatus, Pid, ProcEvent};
use sigwatch::{Clock, ProcessSnapshot};

pub const SEC: u64 = 1_000_000_000;
pub const WALL0: u64 = 1_795_667_968_000_000_000;

/// Monotonic 1000 s of uptime + `ms` milliseconds; wall clock WALL0 + `ms`.
pub fn clock_ms(ms: u64) -> Clock {
    Clock {
        mono_ns: 1000 * SEC + ms * 1_000_000,
        wall_ns: WALL0 + ms * 1_000_000,
    }
}

/// A proc event stamped at `now`.
pub fn ev(now: Clock, kind: EventKind) -> ProcEvent {
    ProcEvent {
        seq: 0,
        cpu: 0,
        timestamp_ns: now.mono_ns,
        kind,
    }
}

/// The exit of thread `pid` of process `tgid` with a wait status.
pub fn exit_event(now: Clock, pid: Pid, tgid: Pid, wait_status: u32) -> ProcEvent {
    ev(
        now,
        EventKind::Exit {
            process_pid: pid,
            process_tgid: tgid,
            exit_code: wait_status,
            status: ExitStatus::from_wait_status(wait_status),
            exit_signal: if pid == tgid { 17 } else { u32::MAX },
            parent_pid: None,
            parent_tgid: None,
        },
    )
}

/// A fully known process: exe `/usr/bin/<comm>`, cwd `/srv`, uid 0.
pub fn proc_(pid: Pid, ppid: Pid, comm: &str, argv: &[&str]) -> ProcessSnapshot {
    ProcessSnapshot {
        pid,
        ppid: Some(ppid),
        spawned_by: Some(ppid),
        comm: Some(comm.as_bytes().to_vec()),
        exe: Some(format!("/usr/bin/{comm}").into()),
        argv: Some(argv.iter().map(|a| a.as_bytes().to_vec()).collect()),
        cwd: Some("/srv".into()),
        uid: Some(0),
        start_time_ns: Some(900 * SEC),
        ..Default::default()
    }
}
