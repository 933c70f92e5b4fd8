//! Typed process events, mirroring `struct proc_event` in
//! `include/uapi/linux/cn_proc.h`.
//!
//! Every value here is plain data: the parser (`crate::parse`) builds them
//! from bytes, the [`crate::ProcessTree`] consumes them.

/// A process or thread id as the kernel reports it (`__kernel_pid_t`).
pub type Pid = i32;

/// `enum proc_cn_event` values (`proc_event.what`).
pub mod what {
    /// `PROC_EVENT_NONE`: the acknowledgement of a LISTEN/IGNORE request.
    pub const NONE: u32 = 0x0000_0000;
    /// `PROC_EVENT_FORK`
    pub const FORK: u32 = 0x0000_0001;
    /// `PROC_EVENT_EXEC`
    pub const EXEC: u32 = 0x0000_0002;
    /// `PROC_EVENT_UID`
    pub const UID: u32 = 0x0000_0004;
    /// `PROC_EVENT_GID`
    pub const GID: u32 = 0x0000_0040;
    /// `PROC_EVENT_SID`
    pub const SID: u32 = 0x0000_0080;
    /// `PROC_EVENT_PTRACE`
    pub const PTRACE: u32 = 0x0000_0100;
    /// `PROC_EVENT_COMM`
    pub const COMM: u32 = 0x0000_0200;
    /// `PROC_EVENT_NONZERO_EXIT` (≥ 6.6): only a filter flag, never sent as `what`.
    pub const NONZERO_EXIT: u32 = 0x2000_0000;
    /// `PROC_EVENT_COREDUMP`
    pub const COREDUMP: u32 = 0x4000_0000;
    /// `PROC_EVENT_EXIT`
    pub const EXIT: u32 = 0x8000_0000;
}

/// One process event with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProcEvent {
    /// `cn_msg.seq`: a per-CPU sequence number (per [`ProcEvent::cpu`]).
    pub seq: u32,
    /// `proc_event.cpu`: the CPU that generated the event.
    pub cpu: u32,
    /// `proc_event.timestamp_ns`: `ktime_get_ns()` (CLOCK_MONOTONIC) at the event.
    pub timestamp_ns: u64,
    /// What happened (`proc_event.what` + `event_data`).
    pub kind: EventKind,
}

/// How a task ended, decoded from the wait status in `exit_proc_event.exit_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ExitStatus {
    /// Normal exit: `WEXITSTATUS` (bits 8..15).
    Exited(u8),
    /// Terminated by a signal: `WTERMSIG` (bits 0..6) and `WCOREDUMP` (bit 7).
    Signaled {
        /// The terminating signal number (9 for SIGKILL).
        signal: u8,
        /// Whether a core dump was written.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// Decodes a wait status as the kernel stores it in `task->exit_code`.
    pub fn from_wait_status(status: u32) -> Self {
        let sig = (status & 0x7f) as u8;
        if sig == 0 {
            ExitStatus::Exited(((status >> 8) & 0xff) as u8)
        } else {
            ExitStatus::Signaled {
                signal: sig,
                core_dumped: status & 0x80 != 0,
            }
        }
    }

    /// The terminating signal, if the task was killed by one.
    pub fn signal(self) -> Option<u8> {
        match self {
            ExitStatus::Signaled { signal, .. } => Some(signal),
            ExitStatus::Exited(_) => None,
        }
    }
}

/// The event-specific payload (`proc_event.event_data`).
///
/// `*_pid` fields are thread ids, `*_tgid` fields are process ids.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum EventKind {
    /// `PROC_EVENT_NONE`: acknowledgement of a subscription request;
    /// `err` is `ack.err` (0 on success).
    ///
    /// Acks are multicast: every listener sees every listener's acks.
    /// Current kernels stamp them with a CPU and number them in that CPU's
    /// sequence like any event; older ones send `cpu = u32::MAX` and the
    /// requester's `seq` (see [`crate::loss::LossTracker::observe`]).
    Ack {
        /// `proc_event.event_data.ack.err`
        err: u32,
    },
    /// `fork_proc_event`: a new process, or a new thread when
    /// `child_pid != child_tgid` (then the parent fields name the
    /// process's real parent, not the creating thread).
    Fork {
        /// `fork_proc_event.parent_pid`: thread id of the parent.
        parent_pid: Pid,
        /// `fork_proc_event.parent_tgid`: process id of the parent.
        parent_tgid: Pid,
        /// `fork_proc_event.child_pid`: thread id of the new task.
        child_pid: Pid,
        /// `fork_proc_event.child_tgid`: process id of the new task.
        child_tgid: Pid,
    },
    /// `exec_proc_event`. No file name: read `/proc` for exe/argv.
    Exec {
        /// `exec_proc_event.process_pid`
        process_pid: Pid,
        /// `exec_proc_event.process_tgid`
        process_tgid: Pid,
    },
    /// `id_proc_event` for `PROC_EVENT_UID`.
    Uid {
        /// `id_proc_event.process_pid`
        process_pid: Pid,
        /// `id_proc_event.process_tgid`
        process_tgid: Pid,
        /// `id_proc_event.r.ruid`: real uid.
        ruid: u32,
        /// `id_proc_event.e.euid`: effective uid.
        euid: u32,
    },
    /// `id_proc_event` for `PROC_EVENT_GID`.
    Gid {
        /// `id_proc_event.process_pid`
        process_pid: Pid,
        /// `id_proc_event.process_tgid`
        process_tgid: Pid,
        /// `id_proc_event.r.rgid`: real gid.
        rgid: u32,
        /// `id_proc_event.e.egid`: effective gid.
        egid: u32,
    },
    /// `sid_proc_event`: the process called `setsid()`.
    Sid {
        /// `sid_proc_event.process_pid`
        process_pid: Pid,
        /// `sid_proc_event.process_tgid`
        process_tgid: Pid,
    },
    /// `ptrace_proc_event`: attach (tracer ≠ 0) or detach (tracer = 0).
    Ptrace {
        /// `ptrace_proc_event.process_pid`: the traced thread.
        process_pid: Pid,
        /// `ptrace_proc_event.process_tgid`: the traced process.
        process_tgid: Pid,
        /// `ptrace_proc_event.tracer_pid` (0 on detach).
        tracer_pid: Pid,
        /// `ptrace_proc_event.tracer_tgid` (0 on detach).
        tracer_tgid: Pid,
    },
    /// `comm_proc_event`: the task's `comm` changed (16 bytes, NUL-trimmed).
    Comm {
        /// `comm_proc_event.process_pid`
        process_pid: Pid,
        /// `comm_proc_event.process_tgid`
        process_tgid: Pid,
        /// `comm_proc_event.comm`: the new name, bytes up to the first NUL (chosen by the process: untrusted).
        comm: Vec<u8>,
    },
    /// `coredump_proc_event`; parent fields only on kernels that send them.
    Coredump {
        /// `coredump_proc_event.process_pid`
        process_pid: Pid,
        /// `coredump_proc_event.process_tgid`
        process_tgid: Pid,
        /// `coredump_proc_event.parent_pid`, absent on kernels whose message is shorter.
        parent_pid: Option<Pid>,
        /// `coredump_proc_event.parent_tgid`, absent on kernels whose message is shorter.
        parent_tgid: Option<Pid>,
    },
    /// `exit_proc_event`: one per exiting thread.
    Exit {
        /// `exit_proc_event.process_pid`: the exiting thread.
        process_pid: Pid,
        /// `exit_proc_event.process_tgid`: its process.
        process_tgid: Pid,
        /// Raw `exit_code` (a wait status).
        exit_code: u32,
        /// `exit_code` decoded.
        status: ExitStatus,
        /// `exit_signal`: the signal sent to the parent (-1 for threads as
        /// `u32::MAX`, usually SIGCHLD for processes).
        exit_signal: u32,
        /// `parent_pid`, absent on kernels whose message is shorter.
        parent_pid: Option<Pid>,
        /// `parent_tgid`, absent on kernels whose message is shorter.
        parent_tgid: Option<Pid>,
    },
    /// A `what` value this crate does not know; payload kept verbatim.
    Unknown {
        /// `proc_event.what`.
        what: u32,
        /// `proc_event.event_data` bytes (up to `cn_msg.len`).
        data: Vec<u8>,
    },
}

impl EventKind {
    /// The thread id and process id this event is about (the child for a
    /// fork), or `None` for acks and unknown events.
    pub fn subject(&self) -> Option<(Pid, Pid)> {
        match *self {
            EventKind::Fork {
                child_pid,
                child_tgid,
                ..
            } => Some((child_pid, child_tgid)),
            EventKind::Exec {
                process_pid,
                process_tgid,
            }
            | EventKind::Uid {
                process_pid,
                process_tgid,
                ..
            }
            | EventKind::Gid {
                process_pid,
                process_tgid,
                ..
            }
            | EventKind::Sid {
                process_pid,
                process_tgid,
            }
            | EventKind::Ptrace {
                process_pid,
                process_tgid,
                ..
            }
            | EventKind::Comm {
                process_pid,
                process_tgid,
                ..
            }
            | EventKind::Coredump {
                process_pid,
                process_tgid,
                ..
            }
            | EventKind::Exit {
                process_pid,
                process_tgid,
                ..
            } => Some((process_pid, process_tgid)),
            EventKind::Ack { .. } | EventKind::Unknown { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_decodes_sigkill_and_exit_codes() {
        assert_eq!(
            ExitStatus::from_wait_status(9),
            ExitStatus::Signaled {
                signal: 9,
                core_dumped: false
            }
        );
        assert_eq!(
            ExitStatus::from_wait_status(0x86),
            ExitStatus::Signaled {
                signal: 6,
                core_dumped: true
            }
        );
        assert_eq!(ExitStatus::from_wait_status(3 << 8), ExitStatus::Exited(3));
        assert_eq!(ExitStatus::from_wait_status(0).signal(), None);
    }
}
