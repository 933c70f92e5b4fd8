//! The kill-family rule set: building it, telling whether the host's
//! rules already cover it, and installing it with exact clean-up
//! ([`InstalledRules`]).
//!
//! # Key scheme
//!
//! Rules installed by a running sigwatch carry the key `sigwatch:<pid>`
//! ([`owner_key`]), `<pid>` being the installing process. A rule whose key
//! is `sigwatch:<pid>` for a pid that no longer exists is *stale*: its
//! owner died without cleaning up, and [`remove_stale`] deletes it. Rules
//! keyed plain `sigwatch` (e.g. written by a user into
//! `/etc/audit/rules.d/` from [`AuditRule::to_auditctl`] output) belong to
//! nobody and are never removed. A pid reused by an unrelated process
//! makes a stale rule look alive: it stays until that process is gone
//! (the safe direction).

use crate::client::AuditClient;
use crate::error::{Error, Result};
use crate::rule::{action, field, list, AuditRule, FieldValue, Operator, RuleField};
use crate::syscalls::{Arch, KillSyscall};
use nix::errno::Errno;

/// The key prefix of every rule sigwatch installs.
pub const KEY_PREFIX: &str = "sigwatch";

/// `SIGKILL`.
pub const SIGKILL: i32 = 9;

/// The key for rules owned by process `pid`: `sigwatch:<pid>`.
pub fn owner_key(pid: i32) -> String {
    format!("{KEY_PREFIX}:{pid}")
}

/// The owner pid in a `sigwatch:<pid>` key; `None` for any other key
/// (including plain `sigwatch`).
pub fn key_owner(key: &[u8]) -> Option<i32> {
    let rest = key
        .strip_prefix(KEY_PREFIX.as_bytes())?
        .strip_prefix(b":")?;
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(rest)
        .ok()?
        .parse()
        .ok()
        .filter(|pid: &i32| *pid > 0)
}

/// This process's pid as a `pid_t`.
pub(crate) fn own_pid() -> i32 {
    // `pid_t` is an `int`; `std::process::id` widens it to `u32`.
    std::process::id() as i32
}

/// Whether process `pid` exists (checked via `/proc/<pid>`, which
/// signals nothing).
pub fn pid_alive(pid: i32) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// If `rule` carries a `sigwatch:<pid>` key whose owner is dead (and is
/// not `me`), that pid.
pub fn stale_owner(rule: &AuditRule, me: i32) -> Option<i32> {
    stale_owner_by(rule, me, &pid_alive)
}

/// [`stale_owner`] with the owner's liveness told by `alive` (e.g.
/// [`crate::ledger::owner_alive`], which also knows a reused pid).
pub fn stale_owner_by(rule: &AuditRule, me: i32, alive: &dyn Fn(i32) -> bool) -> Option<i32> {
    rule.keys()
        .into_iter()
        .filter_map(key_owner)
        .find(|pid| *pid != me && !alive(*pid))
}

/// Which signals to record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalFilter {
    /// Only these signal numbers (filtered in the kernel on `a1`/`a2`).
    Only(Vec<i32>),
    /// Every signal: no argument filter.
    All,
}

/// Builder for the kill-family audit rules.
///
/// ```
/// use auditsig::killrules::KillRuleSet;
/// use auditsig::Arch;
/// let rules = KillRuleSet::new("sigwatch:42")
///     .arches(&[Arch::X86_64])
///     .build()
///     .unwrap();
/// // kill, tkill, rt_sigqueueinfo, pidfd_send_signal filter a1;
/// // tgkill and rt_tgsigqueueinfo filter a2.
/// assert_eq!(rules.len(), 2);
/// assert_eq!(
///     rules[0].to_auditctl(),
///     "-a always,exit -F arch=b64 -S kill,rt_sigqueueinfo,tkill,pidfd_send_signal -F a1=0x9 -F key=sigwatch:42"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillRuleSet {
    key: String,
    arches: Vec<Arch>,
    signals: SignalFilter,
    syscalls: Vec<KillSyscall>,
}

impl KillRuleSet {
    /// SIGKILL, every kill-family syscall, the host's arches
    /// ([`Arch::host_arches`]), with key `key` (usually [`owner_key`]).
    pub fn new(key: impl Into<String>) -> KillRuleSet {
        KillRuleSet {
            key: key.into(),
            arches: Arch::host_arches().to_vec(),
            signals: SignalFilter::Only(vec![SIGKILL]),
            syscalls: KillSyscall::ALL.to_vec(),
        }
    }

    /// Records only these signals.
    pub fn signals(mut self, signals: &[i32]) -> KillRuleSet {
        self.signals = SignalFilter::Only(signals.to_vec());
        self
    }

    /// Records every signal (no argument filter).
    pub fn all_signals(mut self) -> KillRuleSet {
        self.signals = SignalFilter::All;
        self
    }

    /// Overrides the arches.
    pub fn arches(mut self, arches: &[Arch]) -> KillRuleSet {
        self.arches = arches.to_vec();
        self
    }

    /// Restricts the syscalls (default: all six).
    pub fn syscalls(mut self, syscalls: &[KillSyscall]) -> KillRuleSet {
        self.syscalls = syscalls.to_vec();
        self
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<String>) -> KillRuleSet {
        self.key = key.into();
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Every (arch, syscall, signal) the set records; signal `None` means
    /// any signal.
    pub fn targets(&self) -> Vec<(Arch, KillSyscall, Option<i32>)> {
        let mut out = Vec::new();
        for &arch in &self.arches {
            for &sc in &self.syscalls {
                match &self.signals {
                    SignalFilter::All => out.push((arch, sc, None)),
                    SignalFilter::Only(sigs) => {
                        out.extend(sigs.iter().map(|s| (arch, sc, Some(*s))));
                    }
                }
            }
        }
        out
    }

    fn validate(&self) -> Result<()> {
        if self.arches.is_empty() {
            return Err(Error::Unsupported(format!(
                "no kill-family syscall table for this architecture ({}); supported: x86_64 (with i386 compat), aarch64",
                std::env::consts::ARCH
            )));
        }
        if self.syscalls.is_empty() {
            return Err(Error::InvalidArgument("no syscalls selected".into()));
        }
        if let SignalFilter::Only(s) = &self.signals {
            if s.is_empty() {
                return Err(Error::InvalidArgument("no signals selected".into()));
            }
            if let Some(bad) = s.iter().find(|s| !(1..=64).contains(*s)) {
                return Err(Error::InvalidArgument(format!(
                    "signal {bad} not in 1..=64"
                )));
            }
        }
        if self.key.len() > crate::rule::AUDIT_MAX_KEY_LEN {
            return Err(Error::InvalidArgument("key longer than 256 bytes".into()));
        }
        Ok(())
    }

    /// The rules: one per (arch, signal argument, signal), each covering
    /// the selected syscalls that take the signal in that argument; with
    /// [`SignalFilter::All`], one per arch.
    ///
    /// # Errors
    ///
    /// As [`build_missing`](Self::build_missing).
    pub fn build(&self) -> Result<Vec<AuditRule>> {
        self.build_missing(&[])
    }

    /// Like [`build`](Self::build), leaving out every (arch, syscall,
    /// signal) that `existing` rules already record
    /// ([`rules_cover`]); empty when nothing is missing.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] without a syscall table for the host's arch;
    /// [`Error::InvalidArgument`] for an empty syscall or signal list, a
    /// signal outside 1..=64, or a key longer than 256 bytes.
    pub fn build_missing(&self, existing: &[AuditRule]) -> Result<Vec<AuditRule>> {
        self.validate()?;
        let mut out = Vec::new();
        for &arch in &self.arches {
            let groups: Vec<(Option<usize>, Option<i32>)> = match &self.signals {
                SignalFilter::All => vec![(None, None)],
                SignalFilter::Only(sigs) => {
                    let mut g = Vec::new();
                    for arg in [1usize, 2] {
                        for s in sigs {
                            g.push((Some(arg), Some(*s)));
                        }
                    }
                    g
                }
            };
            for (arg, sig) in groups {
                let syscalls: Vec<KillSyscall> = self
                    .syscalls
                    .iter()
                    .copied()
                    .filter(|sc| arg.is_none_or(|a| sc.signal_arg() == a))
                    .filter(|sc| !rules_cover(existing, arch, *sc, sig))
                    .collect();
                if syscalls.is_empty() {
                    continue;
                }
                let mut r = AuditRule::new(list::EXIT, action::ALWAYS);
                r.push_field(RuleField::num(
                    field::ARCH,
                    Operator::Equal,
                    arch.audit_arch(),
                ));
                for sc in &syscalls {
                    r.add_syscall(sc.number(arch));
                }
                if let (Some(arg), Some(sig)) = (arg, sig) {
                    r.push_field(RuleField::num(
                        field::ARG0 + arg as u32,
                        Operator::Equal,
                        // Validated to 1..=64 above.
                        sig as u32,
                    ));
                }
                r.push_field(RuleField::string(
                    field::FILTERKEY,
                    Operator::Equal,
                    self.key.as_bytes(),
                ));
                out.push(r);
            }
        }
        Ok(out)
    }
}

/// Whether `rule` records `syscall` on `arch` for `signal` (`None`: for
/// every signal) exactly like a kill rule would: exit list, action
/// always, the syscall's bit set, no arch condition or `arch=` this arch,
/// and no signal filter or one equal to `signal` on the syscall's signal
/// argument. Any other condition (uid, exe, another argument...) makes
/// the rule narrower, so it does not count; keys are harmless.
///
/// Without an arch condition the kernel tests the bitmap against the
/// syscall number of whatever arch the task runs, which is what testing
/// `syscall.number(arch)` does here.
pub fn rule_covers(
    rule: &AuditRule,
    arch: Arch,
    syscall: KillSyscall,
    signal: Option<i32>,
) -> bool {
    if rule.list != list::EXIT || rule.action != action::ALWAYS {
        return false;
    }
    if !rule.has_syscall(syscall.number(arch)) {
        return false;
    }
    let sig_field = field::ARG0 + syscall.signal_arg() as u32;
    rule.fields.iter().all(|f| match (f.field, f.op, &f.value) {
        (field::FILTERKEY, ..) => true,
        (field::ARCH, Operator::Equal, FieldValue::Num(v)) => *v == arch.audit_arch(),
        (fid, Operator::Equal, FieldValue::Num(v)) if fid == sig_field => {
            signal.is_some_and(|s| i64::from(*v) == i64::from(s))
        }
        _ => false,
    })
}

/// Whether any of `rules` covers (arch, syscall, signal) ([`rule_covers`]).
pub fn rules_cover(
    rules: &[AuditRule],
    arch: Arch,
    syscall: KillSyscall,
    signal: Option<i32>,
) -> bool {
    rules.iter().any(|r| rule_covers(r, arch, syscall, signal))
}

/// Same rule as the kernel would compare it for `AUDIT_DEL_RULE` (list,
/// action, syscalls, fields in order), ignoring the prepend flag.
pub fn same_rule(a: &AuditRule, b: &AuditRule) -> bool {
    a.list == b.list
        && a.action == b.action
        && a.mask == b.mask
        && a.fields == b.fields
        && a.unattributed == b.unattributed
}

/// Deletes rules whose `sigwatch:<pid>` key names a dead process other
/// than this one; returns the rules removed.
///
/// # Errors
///
/// Listing or deleting rules failed ([`Error::Netlink`],
/// [`Error::Timeout`]); a rule already gone is not an error.
pub fn remove_stale(client: &mut AuditClient) -> Result<Vec<AuditRule>> {
    let me = own_pid();
    let mut removed = Vec::new();
    for r in client.list_rules()? {
        if let Some(pid) = stale_owner(&r, me) {
            match client.delete_rule(&r) {
                Ok(()) => {
                    log::info!(
                        "removed stale audit rule of dead pid {pid}: {}",
                        r.to_auditctl()
                    );
                    removed.push(r);
                }
                // Someone else removed it in between.
                Err(Error::Netlink {
                    errno: Errno::ENOENT,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// What [`InstalledRules::check_and_restore`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreOutcome {
    /// Our rules that had vanished and were added again.
    pub readded: Vec<AuditRule>,
}

impl RestoreOutcome {
    /// `true` if nothing had to be done.
    pub fn is_noop(&self) -> bool {
        self.readded.is_empty()
    }
}

/// Rules this process added, removed exactly on [`remove`](Self::remove)
/// or drop.
///
/// A long-running program wants [`RuleKeeper`](crate::keeper::RuleKeeper)
/// instead: it also adds rules when rules of others it relied on vanish
/// (another instance exiting) and re-enables audit switched off under it;
/// this type only re-adds its own rules. Rules that already existed identically (`EEXIST`) are not
/// ours and are left alone — unless they carry this process's own
/// `sigwatch:<pid>` key (a dead predecessor with the same pid).
#[derive(Debug)]
pub struct InstalledRules {
    client: AuditClient,
    owned: Vec<AuditRule>,
    preexisting: Vec<AuditRule>,
    removed: bool,
}

impl InstalledRules {
    /// Adds `rules`. On failure the rules added so far are removed again.
    ///
    /// # Errors
    ///
    /// The first rule the kernel refused (other than an identical one that
    /// exists); the rules added before it are removed again.
    pub fn install(mut client: AuditClient, rules: Vec<AuditRule>) -> Result<InstalledRules> {
        let mut owned = Vec::new();
        let mut preexisting = Vec::new();
        let me = own_pid();
        for r in rules {
            match client.add_rule(&r) {
                Ok(()) => owned.push(r),
                // An identical rule keyed with our own pid can only be a
                // leftover of a dead predecessor that had the same pid:
                // by the key scheme it is ours.
                Err(Error::Netlink {
                    errno: Errno::EEXIST,
                    ..
                }) if r.keys().into_iter().any(|k| key_owner(k) == Some(me)) => owned.push(r),
                Err(Error::Netlink {
                    errno: Errno::EEXIST,
                    ..
                }) => preexisting.push(r),
                Err(e) => {
                    for o in owned.iter().rev() {
                        if let Err(e2) = client.delete_rule(o) {
                            log::warn!("rollback of {} failed: {e2}", o.to_auditctl());
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(InstalledRules {
            client,
            owned,
            preexisting,
            removed: false,
        })
    }

    /// The rules this process added (and will remove).
    pub fn owned(&self) -> &[AuditRule] {
        &self.owned
    }

    /// Rules that already existed identically and were left alone.
    pub fn preexisting(&self) -> &[AuditRule] {
        &self.preexisting
    }

    /// The control client, e.g. for status queries.
    pub fn client(&mut self) -> &mut AuditClient {
        &mut self.client
    }

    /// Lists the host's rules and re-adds any of ours that vanished (e.g.
    /// `auditctl -D` when auditd restarts). Call it every few seconds.
    ///
    /// # Errors
    ///
    /// Listing or adding rules failed.
    pub fn check_and_restore(&mut self) -> Result<RestoreOutcome> {
        let present = self.client.list_rules()?;
        let mut out = RestoreOutcome::default();
        for r in &self.owned {
            if present.iter().any(|p| same_rule(p, r)) {
                continue;
            }
            match self.client.add_rule(r) {
                Ok(())
                | Err(Error::Netlink {
                    errno: Errno::EEXIST,
                    ..
                }) => out.readded.push(r.clone()),
                Err(e) => return Err(e),
            }
        }
        if !out.readded.is_empty() {
            log::warn!(
                "{} audit rule(s) had vanished and were re-added",
                out.readded.len()
            );
        }
        Ok(out)
    }

    /// Removes exactly the rules this process added; returns how many
    /// were still there.
    ///
    /// # Errors
    ///
    /// The first rule that could not be deleted (a rule already gone is not
    /// an error); the others were still tried.
    pub fn remove(mut self) -> Result<usize> {
        self.remove_inner()
    }

    fn remove_inner(&mut self) -> Result<usize> {
        if self.removed {
            return Ok(0);
        }
        self.removed = true;
        let mut n = 0;
        let mut first_err = None;
        for r in self.owned.iter().rev() {
            match self.client.delete_rule(r) {
                Ok(()) => n += 1,
                Err(Error::Netlink {
                    errno: Errno::ENOENT,
                    ..
                }) => {}
                Err(e) => {
                    log::warn!("could not remove audit rule {}: {e}", r.to_auditctl());
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
}

impl Drop for InstalledRules {
    fn drop(&mut self) {
        if let Err(e) = self.remove_inner() {
            log::warn!("audit rules left behind: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(owner_key(12), "sigwatch:12");
        assert_eq!(key_owner(b"sigwatch:12"), Some(12));
        assert_eq!(key_owner(b"sigwatch"), None);
        assert_eq!(key_owner(b"sigwatch:"), None);
        assert_eq!(key_owner(b"sigwatch:1x"), None);
        assert_eq!(key_owner(b"other:12"), None);
        assert!(pid_alive(own_pid()));
        assert!(!pid_alive(0));
    }

    #[test]
    fn builds_one_rule_per_arch_arg_signal() {
        let rules = KillRuleSet::new("k")
            .arches(&[Arch::X86_64, Arch::I386])
            .signals(&[9, 15])
            .build()
            .unwrap();
        assert_eq!(rules.len(), 2 * 2 * 2);
        let text: Vec<String> = rules.iter().map(AuditRule::to_auditctl).collect();
        assert!(text.contains(
            &"-a always,exit -F arch=b64 -S tgkill,rt_tgsigqueueinfo -F a2=0xF -F key=k"
                .to_string()
        ));
        assert!(text.contains(
            &"-a always,exit -F arch=b32 -S kill,rt_sigqueueinfo,tkill,pidfd_send_signal -F a1=0x9 -F key=k"
                .to_string()
        ));
        let all = KillRuleSet::new("k")
            .arches(&[Arch::Aarch64])
            .all_signals()
            .build()
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].to_auditctl(),
            "-a always,exit -F arch=b64 -S kill,tkill,tgkill,rt_sigqueueinfo,rt_tgsigqueueinfo,pidfd_send_signal -F key=k"
        );
        assert!(matches!(
            KillRuleSet::new("k").arches(&[]).build(),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            KillRuleSet::new("k").signals(&[0]).build(),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn coverage() {
        let ours = KillRuleSet::new("k")
            .arches(&[Arch::X86_64])
            .build()
            .unwrap();
        for sc in KillSyscall::ALL {
            assert!(rules_cover(&ours, Arch::X86_64, sc, Some(9)));
            assert!(!rules_cover(&ours, Arch::X86_64, sc, Some(15)));
            assert!(!rules_cover(&ours, Arch::X86_64, sc, None));
            assert!(!rules_cover(&ours, Arch::I386, sc, Some(9)));
        }
        // A user's `-a always,exit -S kill` (no arch, no filter) covers
        // b64 kill for any signal, and nothing else.
        let mut user = AuditRule::new(list::EXIT, action::ALWAYS);
        user.add_syscall(62);
        let user = vec![user];
        assert!(rules_cover(&user, Arch::X86_64, KillSyscall::Kill, Some(9)));
        assert!(rules_cover(&user, Arch::X86_64, KillSyscall::Kill, None));
        assert!(!rules_cover(
            &user,
            Arch::X86_64,
            KillSyscall::Tgkill,
            Some(9)
        ));
        let missing = KillRuleSet::new("k")
            .arches(&[Arch::X86_64])
            .build_missing(&user)
            .unwrap();
        assert_eq!(
            missing[0].to_auditctl(),
            "-a always,exit -F arch=b64 -S rt_sigqueueinfo,tkill,pidfd_send_signal -F a1=0x9 -F key=k"
        );
        // Narrower rules do not count.
        let mut narrow = AuditRule::new(list::EXIT, action::ALWAYS);
        narrow.add_syscall(62);
        narrow.push_field(RuleField::num(field::UID, Operator::Equal, 0));
        assert!(!rule_covers(
            &narrow,
            Arch::X86_64,
            KillSyscall::Kill,
            Some(9)
        ));
        let mut never = AuditRule::new(list::EXIT, action::NEVER);
        never.add_syscall(62);
        assert!(!rule_covers(
            &never,
            Arch::X86_64,
            KillSyscall::Kill,
            Some(9)
        ));
        // Everything covered: nothing to build.
        assert!(KillRuleSet::new("k2")
            .arches(&[Arch::X86_64])
            .build_missing(&ours)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn stale_detection() {
        let mut r = AuditRule::new(list::EXIT, action::ALWAYS);
        r.push_field(RuleField::string(
            field::FILTERKEY,
            Operator::Equal,
            "sigwatch:999999999",
        ));
        assert_eq!(stale_owner(&r, 1), Some(999_999_999));
        let me = own_pid();
        let mut mine = AuditRule::new(list::EXIT, action::ALWAYS);
        mine.push_field(RuleField::string(
            field::FILTERKEY,
            Operator::Equal,
            owner_key(me),
        ));
        assert_eq!(stale_owner(&mine, me), None);
        let mut plain = AuditRule::new(list::EXIT, action::ALWAYS);
        plain.push_field(RuleField::string(
            field::FILTERKEY,
            Operator::Equal,
            "sigwatch",
        ));
        assert_eq!(stale_owner(&plain, me), None);
    }
}
