//! Linux audit (`NETLINK_AUDIT`) for kill-family syscalls: who sent a
//! signal to whom.
//!
//! # Pieces
//!
//! - [`client::AuditClient`] — control requests over `NETLINK_AUDIT`:
//!   status (`struct audit_status`, every field the kernel sends), enable
//!   and restore ([`client::EnabledGuard`]), the audit pid, features, and
//!   rules (add, list, delete). Errors carry the kernel's errno
//!   ([`Error::Netlink`]).
//! - [`rule::AuditRule`] — `struct audit_rule_data` encode/decode; field
//!   types this crate does not know are kept opaque, never an error;
//!   [`AuditRule::to_auditctl`](rule::AuditRule::to_auditctl) renders the
//!   line `auditctl -l` prints (for `/etc/audit/rules.d/`).
//! - [`killrules`] — the kill-family rule set ([`killrules::KillRuleSet`]:
//!   kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo,
//!   pidfd_send_signal, signal filtered in the kernel on `a1`/`a2`), a
//!   check whether the host's rules already cover it, stale-rule clean-up
//!   by key (`sigwatch:<pid>`), and [`killrules::InstalledRules`], which
//!   removes exactly what it added and re-adds rules someone flushed.
//! - [`reader`] — record sources over netlink: the multicast group
//!   (default, coexists with auditd) and the unicast audit pid (only when
//!   free), yielding raw [`netlink::NetlinkRecord`]s.
//! - [`record`], [`assemble`], [`kill`], [`logfile`] — the record parser,
//!   grouping records into events, the typed [`KillEvent`], and auditd
//!   log-file / stdin sources.
//!
//! # Example
//!
//! Check status, enable audit (restored on exit), install the SIGKILL
//! rules, and read raw records (root needed):
//!
//! ```no_run
//! use auditsig::client::AuditClient;
//! use auditsig::killrules::{owner_key, remove_stale, InstalledRules, KillRuleSet};
//! use auditsig::reader::MulticastReader;
//! use std::time::Duration;
//!
//! fn main() -> auditsig::Result<()> {
//!     let mut client = AuditClient::open()?;
//!     let status = client.status()?;
//!     println!("audit enabled={} pid={} lost={}", status.enabled, status.pid, status.lost);
//!
//!     // Restores `enabled` exactly as found when dropped.
//!     let _enabled = AuditClient::open()?.enable()?;
//!
//!     // Rules of a predecessor that died without cleaning up.
//!     remove_stale(&mut client)?;
//!     // Skip what the host's own rules already record.
//!     let existing = client.list_rules()?;
//!     let rules = KillRuleSet::new(owner_key(std::process::id()))
//!         .build_missing(&existing)?;
//!     for r in &rules {
//!         println!("installing: {}", r.to_auditctl());
//!     }
//!     // Removes exactly these rules when dropped.
//!     let mut installed = InstalledRules::install(AuditClient::open()?, rules)?;
//!
//!     let mut reader = MulticastReader::open()?;
//!     for _ in 0..100 {
//!         if let Some(rec) = reader.recv_timeout(Some(Duration::from_secs(5)))? {
//!             // 1300 = SYSCALL, 1318 = OBJ_PID, 1327 = PROCTITLE, 1320 = EOE
//!             println!("{} {}", rec.msg_type, String::from_utf8_lossy(&rec.body));
//!             if let Ok(parsed) = auditsig::Record::from_netlink(rec.msg_type, &rec.body) {
//!                 let _ = parsed.stamp();
//!             }
//!         }
//!         // Someone ran `auditctl -D`? Put our rules back.
//!         installed.check_and_restore()?;
//!     }
//!     println!("kernel lost {} records meanwhile", reader.lost_since_start()?);
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub mod assemble;
pub mod client;
pub mod error;
pub mod keeper;
pub mod kill;
pub mod killrules;
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
pub use source::{KillCounters, KillReader, KillSource, PollState, SourceConfig, SourceKind};
pub use status::AuditStatus;
pub use syscalls::{Arch, KillSyscall};
