//! Keeping the kill-family syscalls audited while a program runs, and
//! leaving audit exactly as found when it stops.
//!
//! [`RuleKeeper::start`] installs the kill-family rules the host's rules
//! do not already cover ([`KillRuleSet::build_missing`]), removes the
//! rules of a dead predecessor ([`remove_stale`](crate::killrules::remove_stale)),
//! enables audit if it is off, and takes the kernel's `lost` counter as
//! the baseline. [`RuleKeeper::check`], called every few seconds
//! ([`RuleKeeper::CHECK_INTERVAL`]), repairs what others changed and
//! says what it did ([`CheckReport`]); [`RuleKeeper::finish`] (or drop)
//! removes exactly the rules it added and puts `enabled` back.
//!
//! # Co-existence
//!
//! - **Its own rules** carry the key `sigwatch:<pid>`
//!   ([`owner_key`]); nothing else is ever removed, except rules whose key
//!   names a dead process (a predecessor killed before it could clean
//!   up), at start.
//! - **A user's rules** are never touched. When they already record a
//!   kill-family syscall for the watched signals (exit list, action
//!   `always`, no narrowing condition:
//!   [`rules_cover`](crate::killrules::rules_cover)), no rule is added
//!   for it; if they vanish later, [`check`](RuleKeeper::check) adds the
//!   missing ones (removed again at the end).
//! - **Other instances** (another program using a keeper, another
//!   `sigwatch`): each adds only what is not covered, so the second one
//!   often adds nothing and relies on the first one's rules. When the
//!   first one exits it removes its rules and may switch audit off again
//!   (it had enabled it); the next [`check`](RuleKeeper::check) of the
//!   second one sees the gap and the disabled audit, adds its own rules
//!   and re-enables ([`CheckReport::gaps_filled`],
//!   [`CheckReport::reenabled`]), and undoes that at its own end.
//! - **auditd** keeps the audit pid; a keeper never touches it (only a
//!   [`KillSource::unicast`](crate::source::KillSource::unicast) source
//!   takes the pid, and only when nobody holds it). An auditd restart
//!   loads its rules with `auditctl -D` first, which deletes ours: the
//!   next check re-adds them ([`CheckReport::readded`]). `auditctl -e 0`
//!   is undone the same way, and restored at the end.
//! - **Locked audit** (`enabled` 2, `auditctl -e 2`): nothing can change
//!   until reboot. The keeper starts anyway and reports
//!   [`KeeperStart::locked`] and the rules still missing; it changes
//!   nothing and restores nothing.
//!
//! Every change to the host's audit state goes through one place (the
//! private `apply`), which logs it and records it in the
//! [`HostChange`] lists of the reports.
//!
//! ```no_run
//! use auditsig::keeper::{KeeperConfig, RuleKeeper};
//!
//! let mut keeper = RuleKeeper::start(KeeperConfig::default().signals(&[9, 15]))?;
//! println!("{:?}", keeper.start_report());
//! loop {
//!     std::thread::sleep(RuleKeeper::CHECK_INTERVAL);
//!     let r = keeper.check()?;
//!     if r.readded + r.gaps_filled > 0 || r.reenabled || r.lost > 0 {
//!         println!("{r:?}");
//!     }
//! #   break;
//! }
//! let done = keeper.finish()?;
//! println!("removed {} rule(s); kernel lost {} record(s) meanwhile", done.removed, done.lost_total);
//! # Ok::<(), auditsig::Error>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;

use crate::client::AuditClient;
use crate::error::{Error, Result};
use crate::killrules::{key_owner, own_pid, owner_key, same_rule, KillRuleSet, KEY_PREFIX};
use crate::ledger::{Ledger, DEFAULT_LEDGER_DIR};
use crate::rule::AuditRule;
use crate::status::AuditStatus;

/// `enabled` value of a locked configuration.
const LOCKED: u32 = 2;

/// What a [`RuleKeeper`] does. `Default` plus builder methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeeperConfig {
    /// The rules to keep covered. Default: SIGKILL, every kill-family
    /// syscall, the host's arches, key `sigwatch:<own pid>`.
    pub rules: KillRuleSet,
    /// Add the missing rules. Without it the keeper only reports them
    /// ([`KeeperStart::missing`]). Default on.
    pub install_rules: bool,
    /// Enable audit when it is off, and keep it on. Default on.
    pub enable_audit: bool,
    /// Remove rules of dead predecessors (at start and at every check).
    /// Default on.
    pub remove_stale: bool,
    /// Where the keeper records, before each change, what it must undo
    /// ([`crate::ledger`]); a successor undoes a dead keeper's changes
    /// from it. Default [`DEFAULT_LEDGER_DIR`]; `None`: no ledger (a
    /// keeper killed by SIGKILL then leaves `enabled` as it set it).
    pub ledger_dir: Option<PathBuf>,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        KeeperConfig {
            rules: KillRuleSet::new(owner_key(own_pid())),
            install_rules: true,
            enable_audit: true,
            remove_stale: true,
            ledger_dir: Some(PathBuf::from(DEFAULT_LEDGER_DIR)),
        }
    }
}

impl KeeperConfig {
    /// Record only these signals ([`KillRuleSet::signals`]).
    pub fn signals(mut self, signals: &[i32]) -> Self {
        self.rules = self.rules.signals(signals);
        self
    }

    /// Record every signal ([`KillRuleSet::all_signals`]).
    pub fn all_signals(mut self) -> Self {
        self.rules = self.rules.all_signals();
        self
    }

    /// Sets the rule set (its key should be [`owner_key`] of this
    /// process, so that a successor can tell stale rules).
    pub fn rules(mut self, rules: KillRuleSet) -> Self {
        self.rules = rules;
        self
    }

    /// Sets [`KeeperConfig::install_rules`]. Without installing, the
    /// rules reported as missing carry the plain key `sigwatch` (ready
    /// for `/etc/audit/rules.d/`, never taken for stale).
    pub fn install_rules(mut self, on: bool) -> Self {
        self.install_rules = on;
        if !on && self.rules.key() == owner_key(own_pid()) {
            self.rules = self.rules.clone().with_key(KEY_PREFIX);
        }
        self
    }

    /// Sets [`KeeperConfig::enable_audit`].
    pub fn enable_audit(mut self, on: bool) -> Self {
        self.enable_audit = on;
        self
    }

    /// Sets [`KeeperConfig::remove_stale`].
    pub fn remove_stale(mut self, on: bool) -> Self {
        self.remove_stale = on;
        self
    }

    /// Sets [`KeeperConfig::ledger_dir`].
    pub fn ledger_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.ledger_dir = dir;
        self
    }
}

/// One change a keeper made to the host's audit state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostChange {
    /// `AUDIT_ADD_RULE` of one of its rules.
    RuleAdded(AuditRule),
    /// `AUDIT_DEL_RULE` of one of its rules.
    RuleRemoved(AuditRule),
    /// `AUDIT_DEL_RULE` of a rule whose `sigwatch:<pid>` key names a dead
    /// process.
    StaleRuleRemoved {
        /// The rule.
        rule: AuditRule,
        /// The dead owner's pid.
        owner: i32,
    },
    /// `AUDIT_SET` of `enabled`.
    EnabledSet {
        /// The value before.
        from: u32,
        /// The value set.
        to: u32,
    },
}

/// What [`RuleKeeper::start`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeeperStart {
    /// Every change made, in order.
    pub changes: Vec<HostChange>,
    /// Rules of dead predecessors removed.
    pub stale_removed: usize,
    /// Rules added.
    pub installed: usize,
    /// Audit was off and was enabled (restored at the end).
    pub enabled_audit: bool,
    /// Audit is locked (`enabled` 2): nothing was or will be changed.
    pub locked: bool,
    /// Rules still needed to record every watched kill: when
    /// [`KeeperConfig::install_rules`] is off, or audit is locked. Empty
    /// when the host's and the keeper's rules cover everything.
    pub missing: Vec<AuditRule>,
    /// `enabled` as found.
    pub enabled_before: u32,
    /// The kernel's `lost` counter as found (the baseline).
    pub lost_at_start: u32,
    /// A keeper that died (SIGKILL) had switched audit on from this
    /// value: this keeper restores it at the end.
    pub adopted_enabled: Option<u32>,
}

/// What one [`RuleKeeper::check`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Every change made, in order.
    pub changes: Vec<HostChange>,
    /// Rules of this keeper that had vanished (`auditctl -D`, an auditd
    /// restart) and were added again.
    pub readded: usize,
    /// Rules added because rules of others that covered the watched
    /// syscalls vanished (their owner, e.g. another instance, exited).
    pub gaps_filled: usize,
    /// Audit had been switched off (`auditctl -e 0`, another instance
    /// restoring it at exit) and was enabled again.
    pub reenabled: bool,
    /// Audit is locked (`enabled` 2): nothing could be changed.
    pub locked: bool,
    /// Rules still needed (not installing, or locked).
    pub missing: Vec<AuditRule>,
    /// Records the kernel lost host-wide since the previous check (the
    /// `audit_status.lost` delta; backlog overflow or rate limit).
    pub lost: u64,
}

impl CheckReport {
    /// `true` when nothing changed and nothing was lost.
    pub fn is_quiet(&self) -> bool {
        self.changes.is_empty() && self.lost == 0
    }
}

/// What [`RuleKeeper::finish`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinishReport {
    /// Every change made, in order.
    pub changes: Vec<HostChange>,
    /// Rules of this keeper removed.
    pub removed: usize,
    /// Rules of this keeper someone else had already removed.
    pub already_gone: usize,
    /// `enabled` was put back to this value.
    pub enabled_restored: Option<u32>,
    /// Records the kernel lost since the last check.
    pub lost: u64,
    /// Records the kernel lost since the start.
    pub lost_total: u64,
}

/// The host state a decision is made on.
#[derive(Debug, Clone)]
struct Observed {
    enabled: u32,
    rules: Vec<AuditRule>,
}

/// Why a rule is to be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddReason {
    /// Not covered at start.
    Initial,
    /// One of ours that vanished.
    Readd,
    /// Covered by someone else's rule that vanished.
    Gap,
}

/// What to change, decided from an observation alone (pure, so that the
/// decisions are unit-tested).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Plan {
    stale: Vec<(AuditRule, i32)>,
    add: Vec<(AuditRule, AddReason)>,
    enable: bool,
    locked: bool,
    /// Not covered and not to be added.
    missing: Vec<AuditRule>,
}

/// What may be changed.
#[derive(Debug, Clone, Copy)]
struct Policy {
    install: bool,
    enable: bool,
    remove_stale: bool,
    at_start: bool,
}

fn plan(
    set: &KillRuleSet,
    policy: Policy,
    owned: &[AuditRule],
    obs: &Observed,
    me: i32,
    alive: &dyn Fn(i32) -> bool,
) -> Result<Plan> {
    let mut p = Plan {
        locked: obs.enabled == LOCKED,
        ..Plan::default()
    };
    let mut present: Vec<&AuditRule> = obs.rules.iter().collect();
    if policy.remove_stale && !p.locked {
        present.retain(|r| match crate::killrules::stale_owner_by(r, me, alive) {
            Some(owner) => {
                p.stale.push(((*r).clone(), owner));
                false
            }
            None => true,
        });
    }
    let present: Vec<AuditRule> = present.into_iter().cloned().collect();
    let missing = set.build_missing(&present)?;
    if policy.install && !p.locked {
        p.add = missing
            .into_iter()
            .map(|r| {
                let reason = if policy.at_start {
                    AddReason::Initial
                } else if owned.iter().any(|o| same_rule(o, &r)) {
                    AddReason::Readd
                } else {
                    AddReason::Gap
                };
                (r, reason)
            })
            .collect();
    } else {
        p.missing = missing;
    }
    p.enable = policy.enable && obs.enabled == 0;
    Ok(p)
}

/// The `lost` delta between two readings; a counter that went down was
/// reset (`auditctl --reset-lost`): count from the reset.
fn lost_delta(before: u32, now: u32) -> u64 {
    u64::from(if now >= before { now - before } else { now })
}

/// Keeps the kill-family syscalls audited. See the [module
/// documentation](self).
#[derive(Debug)]
pub struct RuleKeeper {
    client: AuditClient,
    config: KeeperConfig,
    /// Rules this keeper added and has not removed.
    owned: Vec<AuditRule>,
    /// `enabled` before this keeper first changed it.
    restore_enabled: Option<u32>,
    lost_start: u32,
    lost_last: u32,
    lost_total: u64,
    start: KeeperStart,
    finished: bool,
    /// The durable record of what to undo (see [`crate::ledger`]).
    ledger: Option<Ledger>,
    /// Dead keepers whose entries were adopted (pid → start time): their
    /// rules are stale even when the pid now belongs to someone else.
    adopted: HashMap<i32, u64>,
}

impl RuleKeeper {
    /// How often [`check`](Self::check) should run: rules flushed by an
    /// auditd restart are back within this time.
    pub const CHECK_INTERVAL: Duration = Duration::from_secs(3);

    /// Reads the audit status (the `lost` baseline), removes stale rules,
    /// adds the missing ones and enables audit, as `config` says. A
    /// locked configuration is not an error ([`KeeperStart::locked`]).
    ///
    /// # Errors
    ///
    /// Audit cannot be queried or changed ([`Error::Netlink`] with
    /// `EPERM` without `CAP_AUDIT_CONTROL`, an I/O error without audit);
    /// an invalid rule set ([`Error::InvalidArgument`],
    /// [`Error::Unsupported`] on an arch without a syscall table). Rules
    /// added before the failure are removed again.
    pub fn start(config: KeeperConfig) -> Result<RuleKeeper> {
        let mut client = AuditClient::open()?;
        let status = client.status()?;
        let mut keeper = RuleKeeper {
            client,
            config,
            owned: Vec::new(),
            restore_enabled: None,
            lost_start: status.lost,
            lost_last: status.lost,
            lost_total: 0,
            start: KeeperStart {
                enabled_before: status.enabled,
                lost_at_start: status.lost,
                ..KeeperStart::default()
            },
            finished: false,
            ledger: None,
            adopted: HashMap::new(),
        };
        if let Some(dir) = keeper.config.ledger_dir.clone() {
            match Ledger::open(&dir) {
                Ok(l) => keeper.ledger = Some(l),
                Err(e) => log::warn!(
                    "no audit ledger in {} ({e}): a keeper killed by SIGKILL leaves audit enabled",
                    dir.display()
                ),
            }
        }
        keeper.adopt_dead();
        let obs = Observed {
            enabled: status.enabled,
            rules: keeper.client.list_rules()?,
        };
        let policy = keeper.policy(true);
        let p = plan(
            &keeper.config.rules,
            policy,
            &[],
            &obs,
            own_pid(),
            &keeper.liveness(),
        )?;
        let mut changes = Vec::new();
        let r = keeper.carry_out(&p, obs.enabled, &mut changes);
        keeper.start.changes = changes;
        // On failure, dropping the keeper undoes what was done.
        r?;
        let s = &mut keeper.start;
        s.stale_removed = p.stale.len();
        s.installed = count_added(&s.changes);
        s.enabled_audit = p.enable;
        s.locked = p.locked;
        s.missing = p.missing;
        Ok(keeper)
    }

    fn policy(&self, at_start: bool) -> Policy {
        Policy {
            install: self.config.install_rules,
            enable: self.config.enable_audit,
            remove_stale: self.config.remove_stale,
            at_start,
        }
    }

    /// What [`start`](Self::start) found and did.
    pub fn start_report(&self) -> &KeeperStart {
        &self.start
    }

    /// The configuration.
    pub fn config(&self) -> &KeeperConfig {
        &self.config
    }

    /// The rules this keeper added and will remove.
    pub fn owned_rules(&self) -> &[AuditRule] {
        &self.owned
    }

    /// The kernel's audit status now.
    ///
    /// # Errors
    ///
    /// As [`AuditClient::status`].
    pub fn status(&mut self) -> Result<AuditStatus> {
        self.client.status()
    }

    /// Looks at the host's audit state and repairs it: re-adds this
    /// keeper's rules that vanished, adds rules for what others' vanished
    /// rules covered, re-enables audit that was switched off, and reads
    /// the kernel's `lost` counter.
    ///
    /// # Errors
    ///
    /// Audit cannot be queried or a change is refused; changes made
    /// before the failure are kept (and undone at the end).
    pub fn check(&mut self) -> Result<CheckReport> {
        self.adopt_dead();
        let status = self.client.status()?;
        let lost = self.take_lost(status.lost);
        let obs = Observed {
            enabled: status.enabled,
            rules: self.client.list_rules()?,
        };
        let p = plan(
            &self.config.rules,
            self.policy(false),
            &self.owned,
            &obs,
            own_pid(),
            &self.liveness(),
        )?;
        let mut report = CheckReport {
            lost,
            locked: p.locked,
            missing: p.missing.clone(),
            readded: p.add.iter().filter(|a| a.1 == AddReason::Readd).count(),
            gaps_filled: p.add.iter().filter(|a| a.1 == AddReason::Gap).count(),
            reenabled: p.enable,
            ..CheckReport::default()
        };
        self.carry_out(&p, obs.enabled, &mut report.changes)?;
        Ok(report)
    }

    /// Removes exactly the rules this keeper added and puts `enabled`
    /// back to the value it had before this keeper changed it; reads the
    /// `lost` counter a last time. Every step is tried.
    ///
    /// # Errors
    ///
    /// The first step that failed (each failure is also logged); later
    /// steps were tried all the same.
    pub fn finish(mut self) -> Result<FinishReport> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<FinishReport> {
        let mut report = FinishReport::default();
        if std::mem::replace(&mut self.finished, true) {
            return Ok(report);
        }
        let mut first_err = None;
        let status = match self.client.status() {
            Ok(s) => {
                report.lost = self.take_lost(s.lost);
                Some(s)
            }
            Err(e) => {
                log::warn!("audit status at the end: {e}");
                first_err = Some(e);
                None
            }
        };
        report.lost_total = self.lost_total;
        for rule in std::mem::take(&mut self.owned).into_iter().rev() {
            match self.apply(Change::DeleteRule(rule.clone()), &mut report.changes) {
                Ok(Applied::Done) => report.removed += 1,
                Ok(Applied::AlreadyThere) => report.already_gone += 1,
                Err(e) => {
                    log::warn!("could not remove audit rule {}: {e}", rule.to_auditctl());
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(orig) = self.restore_enabled.take() {
            let now = status.map_or(u32::MAX, |s| s.enabled);
            if now != orig && now != LOCKED {
                match self.apply(
                    Change::SetEnabled {
                        from: now,
                        to: orig,
                    },
                    &mut report.changes,
                ) {
                    Ok(_) => report.enabled_restored = Some(orig),
                    Err(e) => {
                        log::warn!("could not restore audit enabled={orig}: {e}");
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => {
                // Everything recorded was undone.
                if let Some(l) = self.ledger.as_mut() {
                    l.remove();
                }
                Ok(report)
            }
        }
    }

    /// Liveness of a rule key's owner pid: a process with that pid runs,
    /// and, when a ledger recorded the owner's start time, it is that
    /// process (a reused pid is not the owner).
    fn liveness(&self) -> impl Fn(i32) -> bool {
        let others = self.ledger.as_ref().map(|l| l.others()).unwrap_or_default();
        let recorded: HashSet<i32> = others.iter().map(|(_, e)| e.owner.pid).collect();
        let alive = crate::ledger::owner_alive(&others);
        let adopted = self.adopted.clone();
        // An adopted (dead) keeper's entry is gone: its pid, if running,
        // is another process now.
        move |pid| alive(pid) && (recorded.contains(&pid) || !adopted.contains_key(&pid))
    }

    /// Takes over what dead keepers recorded: the duty to restore
    /// `enabled` passes to this keeper (it keeps audit on meanwhile);
    /// their rules go as stale in the next plan; their entries are
    /// deleted once adopted.
    fn adopt_dead(&mut self) {
        let Some(ledger) = self.ledger.as_mut() else {
            return;
        };
        ledger.remove_dead_temporaries();
        for (path, e) in ledger.others() {
            if e.owner.is_alive() {
                continue;
            }
            if let Some(v) = e.restore_enabled {
                if self.restore_enabled.is_none() {
                    if let Err(err) = ledger.record(Some(v)) {
                        log::warn!("audit ledger: {err}; not adopting pid {}", e.owner.pid);
                        continue;
                    }
                    self.restore_enabled = Some(v);
                    self.start.adopted_enabled = Some(v);
                    log::info!(
                        "adopted from dead keeper pid {}: audit enabled is restored to {v} at the end",
                        e.owner.pid
                    );
                }
            }
            self.adopted.insert(e.owner.pid, e.owner.start);
            let _ = std::fs::remove_file(&path);
        }
    }

    fn take_lost(&mut self, now: u32) -> u64 {
        let d = lost_delta(self.lost_last, now);
        self.lost_last = now;
        self.lost_total += d;
        d
    }

    /// Kernel records lost since the start (as of the last reading).
    pub fn lost_since_start(&self) -> u64 {
        self.lost_total
    }

    /// The `lost` counter's value at the start.
    pub fn lost_baseline(&self) -> u32 {
        self.lost_start
    }

    /// Carries out a plan; every change is appended to `changes`.
    fn carry_out(&mut self, p: &Plan, enabled: u32, changes: &mut Vec<HostChange>) -> Result<()> {
        for (rule, owner) in &p.stale {
            self.apply(
                Change::DeleteStale {
                    rule: rule.clone(),
                    owner: *owner,
                },
                changes,
            )?;
        }
        for (rule, _) in &p.add {
            self.apply(Change::AddRule(rule.clone()), changes)?;
        }
        if p.enable {
            self.apply(
                Change::SetEnabled {
                    from: enabled,
                    to: 1,
                },
                changes,
            )?;
        }
        Ok(())
    }

    /// The one place that changes the host's audit state: applies
    /// `change`, keeps the keeper's books (owned rules, the `enabled` to
    /// restore), logs it and records it in `changes`.
    fn apply(&mut self, change: Change, changes: &mut Vec<HostChange>) -> Result<Applied> {
        let me = own_pid();
        match change {
            Change::AddRule(rule) => {
                // Write-ahead: the rule's key names this pid; the ledger
                // tells a successor this pid's start time.
                if let Some(l) = self.ledger.as_mut() {
                    if let Err(e) = l.ensure() {
                        log::warn!("audit ledger: {e}");
                    }
                }
                let applied = match self.client.add_rule(&rule) {
                    Ok(()) => Applied::Done,
                    // An identical rule: ours only if it has our key (a
                    // predecessor with our pid, or a re-add racing with
                    // itself); someone else's covers us and stays theirs.
                    Err(Error::Netlink {
                        errno: Errno::EEXIST,
                        ..
                    }) => Applied::AlreadyThere,
                    Err(e) => return Err(e),
                };
                let ours = applied == Applied::Done
                    || rule.keys().into_iter().any(|k| key_owner(k) == Some(me));
                if ours && !self.owned.iter().any(|o| same_rule(o, &rule)) {
                    self.owned.push(rule.clone());
                }
                if applied == Applied::Done {
                    log::info!("added audit rule: {}", rule.to_auditctl());
                    changes.push(HostChange::RuleAdded(rule));
                }
                Ok(applied)
            }
            Change::DeleteRule(rule) => match self.client.delete_rule(&rule) {
                Ok(()) => {
                    log::info!("removed audit rule: {}", rule.to_auditctl());
                    changes.push(HostChange::RuleRemoved(rule));
                    Ok(Applied::Done)
                }
                Err(Error::Netlink {
                    errno: Errno::ENOENT,
                    ..
                }) => Ok(Applied::AlreadyThere),
                Err(e) => Err(e),
            },
            Change::DeleteStale { rule, owner } => match self.client.delete_rule(&rule) {
                Ok(()) => {
                    log::info!(
                        "removed stale audit rule of dead pid {owner}: {}",
                        rule.to_auditctl()
                    );
                    changes.push(HostChange::StaleRuleRemoved { rule, owner });
                    Ok(Applied::Done)
                }
                Err(Error::Netlink {
                    errno: Errno::ENOENT,
                    ..
                }) => Ok(Applied::AlreadyThere),
                Err(e) => Err(e),
            },
            Change::SetEnabled { from, to } => {
                // Write-ahead: a successor must know what to restore even
                // if this process dies right after the change.
                if to != from && self.restore_enabled.is_none() {
                    if let Some(l) = self.ledger.as_mut() {
                        if let Err(e) = l.record(Some(from)) {
                            log::warn!("audit ledger: {e}");
                        }
                    }
                }
                self.client.set_enabled(to)?;
                // Restore what was there before the first change; a later
                // re-enable after someone switched audit off restores
                // "off" as well.
                if to != from {
                    match self.restore_enabled {
                        None => self.restore_enabled = Some(from),
                        Some(orig) if orig == to => {
                            self.restore_enabled = None;
                            if let Some(l) = self.ledger.as_mut() {
                                let _ = l.record(None);
                            }
                        }
                        Some(_) => {}
                    }
                }
                log::info!("audit enabled {from} -> {to}");
                changes.push(HostChange::EnabledSet { from, to });
                Ok(Applied::Done)
            }
        }
    }
}

fn count_added(changes: &[HostChange]) -> usize {
    changes
        .iter()
        .filter(|c| matches!(c, HostChange::RuleAdded(_)))
        .count()
}

/// A change to make (see `RuleKeeper::apply`).
#[derive(Debug, Clone)]
enum Change {
    AddRule(AuditRule),
    DeleteRule(AuditRule),
    DeleteStale { rule: AuditRule, owner: i32 },
    SetEnabled { from: u32, to: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Done,
    /// `EEXIST` on add, `ENOENT` on delete: the state was already so.
    AlreadyThere,
}

impl Drop for RuleKeeper {
    fn drop(&mut self) {
        if let Err(e) = self.finish_inner() {
            log::warn!("audit state not fully restored: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rule::{action, field, list, Operator, RuleField};
    use crate::syscalls::Arch;

    fn set(key: &str) -> KillRuleSet {
        KillRuleSet::new(key).arches(&[Arch::X86_64])
    }

    fn policy(at_start: bool) -> Policy {
        Policy {
            install: true,
            enable: true,
            remove_stale: true,
            at_start,
        }
    }

    fn obs(enabled: u32, rules: Vec<AuditRule>) -> Observed {
        Observed { enabled, rules }
    }

    const ME: i32 = 100;
    fn alive(pid: i32) -> bool {
        pid == ME || pid == 200
    }

    #[test]
    fn start_installs_what_is_missing_and_enables() {
        let s = set("sigwatch:100");
        let p = plan(&s, policy(true), &[], &obs(0, vec![]), ME, &alive).unwrap();
        assert_eq!(p.add.len(), 2);
        assert!(p.add.iter().all(|a| a.1 == AddReason::Initial));
        assert!(p.enable && !p.locked);
        assert!(p.missing.is_empty() && p.stale.is_empty());
        // Already enabled: left alone.
        let p = plan(&s, policy(true), &[], &obs(1, vec![]), ME, &alive).unwrap();
        assert!(!p.enable);
    }

    #[test]
    fn host_rules_that_cover_are_used_and_never_touched() {
        let user = set("mine").build().unwrap();
        let s = set("sigwatch:100");
        let p = plan(&s, policy(true), &[], &obs(1, user.clone()), ME, &alive).unwrap();
        assert_eq!(p, Plan::default());
        // A live instance's rules cover too; a dead one's are stale.
        let live = set("sigwatch:200").build().unwrap();
        let p = plan(&s, policy(true), &[], &obs(1, live), ME, &alive).unwrap();
        assert_eq!(p, Plan::default());
        let dead = set("sigwatch:300").build().unwrap();
        let p = plan(&s, policy(true), &[], &obs(1, dead.clone()), ME, &alive).unwrap();
        assert_eq!(p.stale.len(), 2);
        assert!(p.stale.iter().all(|(_, o)| *o == 300));
        assert_eq!(p.add.len(), 2, "what the stale rules covered is added");
        // Also while running (a co-running keeper killed by SIGKILL):
        // its rules go, what they covered is added as a gap.
        let p = plan(&s, policy(false), &[], &obs(1, dead), ME, &alive).unwrap();
        assert_eq!(p.stale.len(), 2);
        assert!(p.add.iter().all(|(_, r)| *r == AddReason::Gap));
    }

    #[test]
    fn check_tells_readds_from_gaps() {
        let s = set("sigwatch:100");
        let ours = s.build().unwrap();
        // Flushed (auditctl -D): ours come back as re-adds.
        let p = plan(&s, policy(false), &ours, &obs(1, vec![]), ME, &alive).unwrap();
        assert_eq!(p.add.len(), 2);
        assert!(p.add.iter().all(|a| a.1 == AddReason::Readd));
        // Nothing of ours, another instance's rules gone: gaps.
        let p = plan(&s, policy(false), &[], &obs(1, vec![]), ME, &alive).unwrap();
        assert!(p.add.iter().all(|a| a.1 == AddReason::Gap));
        // Everything in place: nothing to do.
        let p = plan(&s, policy(false), &ours, &obs(1, ours.clone()), ME, &alive).unwrap();
        assert_eq!(p, Plan::default());
        // Only one of two vanished.
        let p = plan(
            &s,
            policy(false),
            &ours,
            &obs(1, vec![ours[1].clone()]),
            ME,
            &alive,
        )
        .unwrap();
        assert_eq!(p.add.len(), 1);
        assert!(same_rule(&p.add[0].0, &ours[0]));
        // Switched off meanwhile: re-enable.
        let p = plan(&s, policy(false), &ours, &obs(0, ours.clone()), ME, &alive).unwrap();
        assert!(p.enable && p.add.is_empty());
    }

    #[test]
    fn a_narrower_user_rule_does_not_count() {
        let s = set("sigwatch:100");
        let mut narrow = AuditRule::new(list::EXIT, action::ALWAYS);
        narrow.add_syscall(62);
        narrow.push_field(RuleField::num(field::UID, Operator::Equal, 0));
        let p = plan(&s, policy(true), &[], &obs(1, vec![narrow]), ME, &alive).unwrap();
        assert_eq!(p.add.len(), 2);
    }

    #[test]
    fn locked_audit_changes_nothing_and_says_what_is_missing() {
        let s = set("sigwatch:100");
        let dead = set("sigwatch:300").build().unwrap();
        let p = plan(&s, policy(true), &[], &obs(LOCKED, vec![]), ME, &alive).unwrap();
        assert!(p.locked && !p.enable && p.add.is_empty());
        assert_eq!(p.missing.len(), 2);
        let p = plan(&s, policy(true), &[], &obs(LOCKED, dead), ME, &alive).unwrap();
        assert!(p.stale.is_empty() && p.missing.is_empty());
    }

    #[test]
    fn without_installing_only_missing_is_reported() {
        let s = set("sigwatch");
        let pol = Policy {
            install: false,
            enable: false,
            ..policy(true)
        };
        let p = plan(&s, pol, &[], &obs(0, vec![]), ME, &alive).unwrap();
        assert!(p.add.is_empty() && !p.enable);
        assert_eq!(p.missing.len(), 2);
        assert!(p.missing[0].to_auditctl().ends_with("-F key=sigwatch"));
        let cfg = KeeperConfig::default().install_rules(false);
        assert_eq!(cfg.rules.key(), KEY_PREFIX);
    }

    #[test]
    fn lost_counter_deltas() {
        assert_eq!(lost_delta(5, 9), 4);
        assert_eq!(lost_delta(5, 5), 0);
        // Reset to 0 then 2 lost.
        assert_eq!(lost_delta(5, 2), 2);
    }
}
