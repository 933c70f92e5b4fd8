//! The audit host state the watcher changes and keeps: `enabled`, the
//! kill-family rules (added when missing, re-added when flushed, removed
//! exactly at the end), and the kernel's `lost` counter.

use auditsig::client::{AuditClient, EnabledGuard};
use auditsig::killrules::{owner_key, remove_stale, InstalledRules, KillRuleSet};

use crate::notice::Notice;
use crate::signals::SignalSet;

/// Audit control state to undo at exit.
#[derive(Default)]
pub(crate) struct AuditControl {
    pub(crate) enabled: Option<EnabledGuard>,
    /// Rules this process added: at start-up, then whenever the rules it
    /// relied on vanished (see [`AuditControl::cover_gaps`]).
    pub(crate) rules: Vec<InstalledRules>,
    /// A client for status queries when `rules` holds none.
    status: Option<AuditClient>,
    pub(crate) lost_base: Option<u32>,
    /// The rule set to keep covered while running (`None` with
    /// `--no-rules` or without an audit source).
    keep_covered: Option<KillRuleSet>,
    /// An audit source is live: `enabled` must stay on.
    pub(crate) keep_enabled: bool,
}

impl AuditControl {
    pub(crate) fn client(&mut self) -> Option<&mut AuditClient> {
        match self.rules.first_mut() {
            Some(r) => Some(r.client()),
            None => self.status.as_mut(),
        }
    }

    /// Rules that made ours unnecessary at start-up (a user's, or those of
    /// another sigwatch that has since exited and removed them) may
    /// vanish: adds whatever the host's rules no longer cover. Returns how
    /// many rules were added.
    pub(crate) fn cover_gaps(&mut self) -> Result<usize, auditsig::Error> {
        let Some(set) = self.keep_covered.clone() else {
            return Ok(0);
        };
        let present = match self.client() {
            Some(c) => c.list_rules()?,
            None => return Ok(0),
        };
        let missing = set.build_missing(&present)?;
        if missing.is_empty() {
            return Ok(0);
        }
        let r = InstalledRules::install(AuditClient::open()?, missing)?;
        let n = r.owned().len();
        self.rules.push(r);
        Ok(n)
    }

    /// Audit was switched off while running (another sigwatch that had
    /// enabled it restored it at its exit, or `auditctl -e 0`): no record
    /// would arrive any more. Enables it again; it is restored to off at
    /// exit. Returns whether it did.
    pub(crate) fn ensure_enabled(&mut self, enabled_now: u32) -> Result<bool, auditsig::Error> {
        if !self.keep_enabled || enabled_now != 0 {
            return Ok(false);
        }
        match self.enabled.as_mut().and_then(|g| g.client()) {
            // We had enabled it: the guard still restores the original.
            Some(c) => c.set_enabled(1)?,
            None => {
                let g = AuditClient::open()?.enable()?;
                if !g.changed() {
                    return Ok(false);
                }
                self.enabled = Some(g);
            }
        }
        Ok(true)
    }

    /// Removes exactly our rules, then restores `enabled`. Problems are
    /// returned as notices (at exit there is nobody else to tell).
    pub(crate) fn cleanup(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        while let Some(r) = self.rules.pop() {
            match r.remove() {
                Ok(n) => log::info!("removed {n} audit rule(s) sigwatch had added"),
                Err(e) => notices.push(Notice::warning(format!(
                    "could not remove every audit rule: {e}"
                ))),
            }
        }
        if let Some(g) = self.enabled.take() {
            let orig = g.original();
            match g.restore() {
                Ok(()) => log::info!("audit `enabled` restored to {orig}"),
                Err(e) => notices.push(Notice::warning(format!(
                    "could not restore audit enabled={orig}: {e}"
                ))),
            }
        }
        notices
    }
}

impl Drop for AuditControl {
    fn drop(&mut self) {
        for n in self.cleanup() {
            log::warn!("{n}");
        }
    }
}

/// Cleans a dead predecessor's rules and installs the missing kill rules
/// (unless `--no-rules`).
pub(crate) fn setup_rules(
    signals: SignalSet,
    install: bool,
    ctl: &mut AuditControl,
    notices: &mut Vec<Notice>,
) {
    let mut client = match AuditClient::open() {
        Ok(c) => c,
        Err(e) => {
            notices.push(Notice::warning(format!(
                "cannot talk to audit ({e}); no rules installed"
            )));
            return;
        }
    };
    match remove_stale(&mut client) {
        Ok(v) if !v.is_empty() => notices.push(Notice::warning(format!(
            "removed {} stale audit rule(s) left by a previous sigwatch that died",
            v.len()
        ))),
        Ok(_) => {}
        Err(e) => log::warn!("cleaning stale rules: {e}"),
    }
    let existing = match client.list_rules() {
        Ok(r) => r,
        Err(e) => {
            notices.push(Notice::warning(format!(
                "cannot list audit rules ({e}); fix: run as root (CAP_AUDIT_CONTROL)"
            )));
            ctl.status = Some(client);
            return;
        }
    };
    // Rules we install carry our pid (so a successor can tell stale ones);
    // rules we only suggest (--no-rules) carry the plain key.
    let key = if !install {
        auditsig::killrules::KEY_PREFIX.to_string()
    } else {
        owner_key(std::process::id())
    };
    let set = KillRuleSet::new(key);
    let set = if signals.is_all() {
        set.all_signals()
    } else {
        set.signals(&signals.iter().collect::<Vec<_>>())
    };
    let missing = match set.build_missing(&existing) {
        Ok(m) => m,
        Err(e) => {
            notices.push(Notice::warning(format!("{e}")));
            ctl.status = Some(client);
            return;
        }
    };
    if missing.is_empty() {
        log::info!("the host's audit rules already record the kill-family syscalls; none added");
        ctl.status = Some(client);
        if install {
            ctl.keep_covered = Some(set);
        }
        return;
    }
    if !install {
        notices.push(Notice::warning(format!(
            "--no-rules and the host's rules do not record every kill-family syscall; missing:\n{}",
            missing
                .iter()
                .map(|r| format!("  auditctl {}", r.to_auditctl()))
                .collect::<Vec<_>>()
                .join("\n")
        )));
        ctl.status = Some(client);
        return;
    }
    match InstalledRules::install(client, missing) {
        Ok(r) => {
            log::info!(
                "installed {} audit rule(s): {}",
                r.owned().len(),
                r.owned()
                    .iter()
                    .map(|x| x.to_auditctl())
                    .collect::<Vec<_>>()
                    .join(" ; ")
            );
            ctl.rules.push(r);
            ctl.keep_covered = Some(set);
        }
        Err(e) => notices.push(Notice::warning(format!(
            "cannot add audit rules ({e}); fix: run as root (CAP_AUDIT_CONTROL), and audit must not be locked (enabled=2)"
        ))),
    }
}
