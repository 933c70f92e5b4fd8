//! Real kernel: a program that uses only a `RuleKeeper` and a
//! `KillSource` keeps seeing kills while others change audit under it —
//! a co-running instance whose rules it relied on exits (removes them and
//! switches audit off), and `auditctl -D` flushes everything.
//!
//! Root only; serialized by the host-wide audit lock; the host's rules
//! and `enabled` are put back as found (also on panic).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auditsig::client::AuditClient;
use auditsig::keeper::{HostChange, KeeperConfig, RuleKeeper};
use auditsig::killrules::{owner_key, InstalledRules, KillRuleSet};
use auditsig::source::{KillSource, SourceConfig};
use auditsig::{Error, KillEvent};
use common::{auditctl_rules, have_auditctl, skip, AuditLock};

/// Puts `enabled` back to the value found, whatever happens.
struct RestoreEnabled(u32);

impl Drop for RestoreEnabled {
    fn drop(&mut self) {
        if let Ok(mut c) = AuditClient::open() {
            let _ = c.set_enabled(self.0);
        }
    }
}

/// A `sleep` to be killed; reaped (and killed if still alive) on drop.
struct Victim(Child);

impl Victim {
    fn spawn() -> Victim {
        Victim(
            Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills a fresh victim with `kill -9` from a fresh `sh` (forked now, so
/// it has an audit context) and waits until `source` yields that kill.
fn kill_is_seen(source: &mut KillSource, what: &str) -> KillEvent {
    let mut victim = Victim::spawn();
    let vpid = victim.pid();
    let st = Command::new("sh")
        .args(["-c", &format!("kill -9 {vpid}")])
        .status()
        .unwrap();
    assert!(st.success(), "{what}: sh kill failed");
    assert_eq!(victim.0.wait().unwrap().signal(), Some(9));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut kills = Vec::new();
    while Instant::now() < deadline {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(source),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16));
        source.poll_kills(Instant::now(), &mut kills).unwrap();
        if let Some(k) = kills
            .iter()
            .find(|k| k.targets.iter().any(|t| t.pid == vpid))
        {
            assert_eq!(k.signal, 9);
            return k.clone();
        }
    }
    panic!("{what}: the kill of {vpid} was not seen within 10 s");
}

fn key_rules(key: &str) -> Vec<String> {
    let needle = format!("key={key}");
    auditctl_rules()
        .into_iter()
        .filter(|l| l.split_whitespace().any(|w| w == needle))
        .collect()
}

/// The audit state a test runs in; put back as found on drop (the
/// `enabled` guard drops before the lock).
struct Setup {
    control: AuditClient,
    before: auditsig::status::AuditStatus,
    host_rules: Vec<String>,
    _restore: RestoreEnabled,
    _lock: AuditLock,
}

/// `None` (after saying why) when the test cannot run here.
fn setup(test: &str) -> Option<Setup> {
    if skip(test) {
        return None;
    }
    if !have_auditctl() {
        eprintln!("SKIP {test}: auditctl (the oracle) is not installed");
        return None;
    }
    let lock = AuditLock::acquire();
    let mut control = AuditClient::open().unwrap();
    let before = control.status().unwrap();
    if before.enabled == 2 {
        eprintln!("SKIP {test}: audit is locked (enabled 2)");
        return None;
    }
    Some(Setup {
        control,
        before,
        host_rules: auditctl_rules(),
        _restore: RestoreEnabled(before.enabled),
        _lock: lock,
    })
}

#[test]
fn keeper_survives_a_departing_instance_a_disable_and_a_flush() {
    let test = "keeper_survives_a_departing_instance_a_disable_and_a_flush";
    let Some(mut s) = setup(test) else {
        return;
    };
    let mut source = match KillSource::multicast(&SourceConfig::default()) {
        Err(Error::Unsupported(why)) => {
            eprintln!("SKIP {test}: {why}");
            return;
        }
        r => r.unwrap(),
    };

    // Another instance is running: it enabled audit (if it was off) and
    // installed the kill rules under its own (live) pid.
    let mut other_proc = Victim::spawn();
    let other_key = owner_key(other_proc.pid());
    let other_enabled = AuditClient::open().unwrap().enable().unwrap();
    let other = InstalledRules::install(
        AuditClient::open().unwrap(),
        KillRuleSet::new(other_key.clone()).build().unwrap(),
    )
    .unwrap();
    assert!(!key_rules(&other_key).is_empty());

    // The keeper finds everything covered and audit on: it changes nothing.
    let keeper = RuleKeeper::start(KeeperConfig::default()).unwrap();
    let my_key = keeper.config().rules.key().to_string();
    let start = keeper.start_report().clone();
    assert_eq!(start.changes, vec![], "{start:?}");
    assert_eq!((start.installed, start.enabled_audit), (0, false));
    let mut keeper = Some(keeper);
    let k = kill_is_seen(&mut source, "relying on the other instance's rules");
    assert_eq!(
        k.key.map(|b| b.to_string_lossy().into_owned()),
        Some(other_key.clone())
    );

    // The other instance exits: removes its rules and restores `enabled`.
    let removed = other.remove().unwrap();
    assert!(removed > 0);
    drop(other_enabled);
    let _ = other_proc.0.kill();
    assert!(key_rules(&other_key).is_empty());
    let now = s.control.status().unwrap().enabled;
    assert_eq!(now, s.before.enabled);
    let r = keeper.as_mut().unwrap().check().unwrap();
    assert!(r.gaps_filled > 0, "{r:?}");
    assert_eq!(r.readded, 0);
    assert_eq!(r.reenabled, s.before.enabled == 0, "{r:?}");
    assert_eq!(key_rules(&my_key).len(), r.gaps_filled);
    assert_eq!(s.control.status().unwrap().enabled, 1);
    let k = kill_is_seen(&mut source, "after the other instance left");
    assert_eq!(
        k.key.map(|b| b.to_string_lossy().into_owned()),
        Some(my_key.clone())
    );

    // Audit switched off by hand and the rules flushed (an auditd restart
    // does `auditctl -D`). A real flush only when the host had no rules of
    // its own: they could not be put back exactly otherwise.
    common::auditctl(&["-e", "0"]);
    if s.host_rules.is_empty() {
        common::auditctl(&["-D"]);
    } else {
        for r in keeper.as_ref().unwrap().owned_rules() {
            s.control.delete_rule(r).unwrap();
        }
    }
    assert!(key_rules(&my_key).is_empty());
    let owned = keeper.as_ref().unwrap().owned_rules().len();
    let r = keeper.as_mut().unwrap().check().unwrap();
    assert_eq!(
        (r.readded, r.gaps_filled, r.reenabled),
        (owned, 0, true),
        "{r:?}"
    );
    assert!(r
        .changes
        .contains(&HostChange::EnabledSet { from: 0, to: 1 }));
    assert_eq!(key_rules(&my_key).len(), owned);
    kill_is_seen(&mut source, "after auditctl -e 0 and -D");

    // Nothing to repair: a quiet check.
    let r = keeper.as_mut().unwrap().check().unwrap();
    assert!(r.changes.is_empty(), "{r:?}");

    // The end: exactly its rules removed, `enabled` back to the value the
    // keeper found before it first changed it (off: the hand-made
    // `auditctl -e 0`).
    let done = keeper.take().unwrap().finish().unwrap();
    assert_eq!((done.removed, done.already_gone), (owned, 0));
    assert_eq!(done.enabled_restored, Some(0));
    assert_eq!(s.control.status().unwrap().enabled, 0);
    assert_eq!(auditctl_rules(), s.host_rules);
    drop(source);
    let _ = s.control.set_enabled(s.before.enabled);
    assert_eq!(s.control.status().unwrap().enabled, s.before.enabled);
}

#[test]
fn drop_restores_exactly() {
    let Some(mut s) = setup("drop_restores_exactly") else {
        return;
    };
    // Audit off for this test so that enabling is observable.
    s.control.set_enabled(0).unwrap();
    let keeper = RuleKeeper::start(KeeperConfig::default().signals(&[9, 15])).unwrap();
    let start = keeper.start_report().clone();
    assert!(start.enabled_audit);
    assert_eq!(start.enabled_before, 0);
    assert!(start.installed > 0);
    assert_eq!(
        key_rules(keeper.config().rules.key()).len(),
        start.installed,
        "{start:?}"
    );
    assert_eq!(s.control.status().unwrap().enabled, 1);
    drop(keeper);
    assert_eq!(s.control.status().unwrap().enabled, 0);
    assert_eq!(auditctl_rules(), s.host_rules);
}
