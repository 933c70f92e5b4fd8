//! Linux audit (`NETLINK_AUDIT`) for kill-family syscalls: who sent a
//! signal to whom.
//!
//! # Example: records to a kill event
//!
//! Three records auditd wrote for one `kill(1424, SIGKILL)` (Linux 6.18,
//! from this crate's test fixtures), through the record parser, the
//! assembler and the kill decoder:
//!
//! ```
//! use auditsig::{KillReader, KillSyscall, TargetSpec};
//!
//! let log = br#"type=SYSCALL msg=audit(1795667992.992:32): arch=c000003e syscall=62 success=yes exit=0 a0=590 a1=9 a2=0 a3=7f189bd1eac0 items=0 ppid=1 pid=1428 auid=4294967295 uid=65534 gid=65534 euid=65534 suid=65534 fsuid=65534 egid=65534 sgid=65534 fsgid=65534 tty=(none) ses=4294967295 comm="sh" exe="/usr/bin/dash" key="swtest"
//! type=OBJ_PID msg=audit(1795667992.992:32): opid=1424 oauid=-1 ouid=65534 oses=-1 ocomm="pa-daemon"
//! type=PROCTITLE msg=audit(1795667992.992:32): proctitle=2F62696E2F7368002F7372762F70632D64656D6F2D61707073312F70632F70635F67756172642E7368002D2D6D6F64650072657374617274
//! "#;
//! let kills = KillReader::new(&log[..]).collect::<Result<Vec<_>, _>>()?;
//! let k = &kills[0];
//! assert_eq!(k.syscall, KillSyscall::Kill.into());
//! assert_eq!((k.signal, k.target_spec), (9, TargetSpec::Process(1424)));
//! assert_eq!((k.sender.pid, k.sender.uid, k.sender.auid), (1428, 65534, None));
//! assert_eq!(k.sender.comm.to_string_lossy(), "sh");
//! let argv: Vec<_> = k.sender.argv.iter().flatten().map(|a| a.to_string_lossy()).collect();
//! assert_eq!(argv, ["/bin/sh", "/srv/pc-demo-apps1/pc/pc_guard.sh", "--mode", "restart"]);
//! let ocomm = k.targets[0].comm.as_ref().map(|c| c.to_string_lossy());
//! assert_eq!((k.targets[0].pid, ocomm), (1424, Some("pa-daemon".into())));
//! # Ok::<(), auditsig::Error>(())
//! ```
//!
//! # Example: watching live
//!
//! Keep the kill rules installed and audit enabled ([`RuleKeeper`]: it
//! repairs what others change and restores everything at the end), and
//! read kill events from the best source available ([`KillSource`]) in a
//! `poll` loop (root needed):
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use std::time::{Duration, Instant};
//! use auditsig::{KeeperConfig, KillSource, PollState, RuleKeeper, SourceConfig};
//! use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
//!
//! fn main() -> auditsig::Result<()> {
//!     let mut keeper = RuleKeeper::start(KeeperConfig::default())?;
//!     let mut source = KillSource::open_auto(&SourceConfig::default())?;
//!     println!("reading {}", source.kind());
//!     let mut kills = Vec::new();
//!     let mut last_check = Instant::now();
//!     for _ in 0..1000 {
//!         let wait = source.tick_interval().unwrap_or(Duration::from_secs(1));
//!         let mut fds = [PollFd::new(source.as_fd(), PollFlags::POLLIN)];
//!         let _ = poll(&mut fds, PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX));
//!         if source.poll_kills(Instant::now(), &mut kills)? == PollState::Ended {
//!             break;
//!         }
//!         for k in kills.drain(..) {
//!             let victims: Vec<i32> = k.targets.iter().map(|t| t.pid).collect();
//!             println!("{} ({}) sent {} to {victims:?} via {}",
//!                 k.sender.pid, k.sender.comm.to_string_lossy(), k.signal, k.syscall);
//!         }
//!         if last_check.elapsed() >= RuleKeeper::CHECK_INTERVAL {
//!             last_check = Instant::now();
//!             let r = keeper.check()?; // e.g. after `auditctl -D`: rules re-added
//!             if !r.is_quiet() {
//!                 println!("{r:?}");
//!             }
//!         }
//!     }
//!     println!("{:?}", source.counters());
//!     let done = keeper.finish()?; // exactly our rules removed, `enabled` restored
//!     println!("kernel lost {} record(s)", done.lost_total);
//!     Ok(())
//! }
//! ```
//!
//! # Pieces
//!
//! - [`source`] — [`KillSource`] (multicast group, unicast audit pid,
//!   followed auditd log, a line stream; `AsFd`, non-blocking) and
//!   [`KillReader`] (a finite log), both yielding [`KillEvent`]s and
//!   [`KillCounters`] over one pipeline.
//! - [`keeper`] — [`RuleKeeper`]: the kill rules and `enabled` kept in
//!   place while running, restored exactly at the end; how it coexists
//!   with auditd, a user's rules and other instances.
//! - [`kill`] — the typed [`KillEvent`]: sender, signal, target spec,
//!   targets (`OBJ_PID`), result. Pids and signals are `i32`.
//! - [`client::AuditClient`] — control requests over `NETLINK_AUDIT`:
//!   status (`struct audit_status`), enable and restore
//!   ([`client::EnabledGuard`]), the audit pid, features, and rules (add,
//!   list, delete). Errors carry the kernel's errno ([`Error::Netlink`]).
//! - [`rule::AuditRule`] — `struct audit_rule_data` encode/decode; field
//!   types this crate does not know are kept opaque, never an error;
//!   [`AuditRule::to_auditctl`](rule::AuditRule::to_auditctl) renders the
//!   line `auditctl -l` prints (for `/etc/audit/rules.d/`).
//! - [`killrules`] — the kill-family rule set ([`killrules::KillRuleSet`]),
//!   whether the host's rules already cover it, stale-rule clean-up by
//!   key (`sigwatch:<pid>`).
//! - [`reader`], [`logfile`] — the raw record sources a [`KillSource`]
//!   is built on.
//! - [`record`], [`assemble`] — the record parser and the grouping of
//!   records into events.
#![warn(missing_docs)]

pub mod assemble;
pub mod client;
pub mod error;
pub mod keeper;
pub mod kill;
pub mod killrules;
pub mod ledger;
pub mod logfile;
pub mod netlink;
pub mod reader;
pub mod record;
pub mod rule;
pub mod source;
pub mod status;
pub mod syscalls;
pub mod value;

pub use assemble::{Assembler, AssemblerConfig, Event, EventEnd};
pub use client::AuditClient;
pub use error::{Error, Result};
pub use keeper::{KeeperConfig, RuleKeeper};
pub use kill::{KillEvent, KillEventError, Sender, Syscall, Target, TargetSpec};
pub use killrules::{InstalledRules, KillRuleSet};
pub use logfile::{FollowLog, LineReader, SourceStats, StartAt};
pub use netlink::NetlinkRecord;
pub use reader::{MulticastReader, UnicastReader};
pub use record::{ParseError, Record, RecordType, Stamp};
pub use rule::AuditRule;
pub use source::{
    DecodedEvent, KillCounters, KillDecoder, KillReader, KillSource, NodeFilter, PollState,
    SourceConfig, SourceKind,
};
pub use status::AuditStatus;
pub use syscalls::{Arch, KillSyscall};
