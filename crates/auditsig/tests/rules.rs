//! Real-kernel rule tests with Debian's `auditctl` as the oracle: rules
//! added, listed, rendered exactly as `auditctl -l` prints them, deleted;
//! foreign rules with fields of every kind decode; vanished rules are
//! restored; stale rules of a dead owner are cleaned. Root only,
//! serialized by the host-wide audit lock, leaves the rules as found.
#![allow(clippy::unwrap_used)]

mod common;

use auditsig::client::AuditClient;
use auditsig::killrules::{owner_key, remove_stale, same_rule, InstalledRules, KillRuleSet};
use auditsig::rule::{field, AuditRule, FieldValue, Operator, RuleField};
use auditsig::{Arch, KillSyscall};
use common::{auditctl, auditctl_rules, have_auditctl, skip, AuditLock};

fn ready(test: &str) -> bool {
    if skip(test) {
        return false;
    }
    if !have_auditctl() {
        sigwatch_test_support::skip(
            test,
            sigwatch_test_support::Need::Tool("auditctl".into()),
            "auditctl (the oracle) is not installed",
        );
        return false;
    }
    true
}

/// Our rendering of the kernel's list must equal `auditctl -l`, line for
/// line.
fn assert_rendering_matches_auditctl(c: &mut AuditClient) -> Vec<AuditRule> {
    let ours = c.list_rules().unwrap();
    let rendered: Vec<String> = ours.iter().map(AuditRule::to_auditctl).collect();
    assert_eq!(rendered, auditctl_rules());
    ours
}

#[test]
fn kill_rules_added_listed_rendered_restored_removed() {
    if !ready("kill_rules_added_listed_rendered_restored_removed") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = auditctl_rules();
    let mut c = AuditClient::open().unwrap();
    let host_before = c.list_rules().unwrap();

    let key = owner_key(std::process::id() as i32);
    let set = KillRuleSet::new(key.clone()).signals(&[9, 15]);
    let rules = set.build().unwrap();
    assert_eq!(rules.len(), Arch::host_arches().len() * 2 * 2);
    let mut installed =
        InstalledRules::install(AuditClient::open().unwrap(), rules.clone()).unwrap();
    assert_eq!(installed.owned().len(), rules.len());

    // Listed back identically, and rendered as auditctl prints them.
    let listed = assert_rendering_matches_auditctl(&mut c);
    for r in &rules {
        assert!(
            listed.iter().any(|l| same_rule(l, r)),
            "missing {}",
            r.to_auditctl()
        );
    }
    // The documented example line for the b64 SIGKILL rule.
    if Arch::host_arches().first() == Some(&Arch::X86_64) {
        let want = format!(
            "-a always,exit -F arch=b64 -S kill,rt_sigqueueinfo,tkill,pidfd_send_signal -F a1=0x9 -F key={key}"
        );
        assert!(auditctl_rules().contains(&want), "{:?}", auditctl_rules());
    }
    // Now the set is covered by what is installed.
    assert!(set.build_missing(&listed).unwrap().is_empty());
    for arch in Arch::host_arches() {
        for sc in KillSyscall::ALL {
            assert!(auditsig::killrules::rules_cover(
                &listed,
                *arch,
                sc,
                Some(9)
            ));
        }
    }

    // Nothing vanished: no-op.
    assert!(installed.check_and_restore().unwrap().is_noop());

    // Rules vanish: `auditctl -D` if the host had no rules (it deletes
    // all of them), else delete ours by hand.
    if before.is_empty() {
        auditctl(&["-D"]);
    } else {
        for r in &rules {
            c.delete_rule(r).unwrap();
        }
    }
    assert!(!c
        .list_rules()
        .unwrap()
        .iter()
        .any(|l| l.keys().contains(&key.as_bytes())));
    let outcome = installed.check_and_restore().unwrap();
    assert_eq!(outcome.readded.len(), rules.len());
    let listed = c.list_rules().unwrap();
    for r in &rules {
        assert!(listed.iter().any(|l| same_rule(l, r)));
    }

    // Removal takes exactly ours.
    assert_eq!(installed.remove().unwrap(), rules.len());
    assert_eq!(auditctl_rules(), before);
    assert_eq!(c.list_rules().unwrap(), host_before);
}

#[test]
fn foreign_rules_decode_and_render_like_auditctl() {
    if !ready("foreign_rules_decode_and_render_like_auditctl") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = auditctl_rules();
    let mut c = AuditClient::open().unwrap();
    // Rules as another tool would install them: string fields (exe, dir,
    // path, subj_type, key), comparisons, operators, errno, unset auid,
    // all syscalls, other lists, a watch.
    let foreign: &[&[&str]] = &[
        &[
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "kill",
            "-F",
            "exe=/usr/bin/true",
            "-k",
            "swtest-a",
        ],
        &[
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "kill",
            "-F",
            "uid=1000",
            "-F",
            "auid!=unset",
            "-F",
            "exit=-EPERM",
            "-F",
            "success=0",
            "-k",
            "swtest-b",
        ],
        &[
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "kill",
            "-F",
            "a1>=9",
            "-F",
            "a0&0x10",
            "-F",
            "ppid<5",
            "-F",
            "a3&=7",
            "-k",
            "swtest-c",
        ],
        &[
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "kill",
            "-C",
            "uid!=auid",
            "-F",
            "subj_type=swtest_t",
            "-F",
            "sessionid=3",
            "-k",
            "swtest-d",
        ],
        &[
            "-a",
            "never,exit",
            "-F",
            "arch=b32",
            "-S",
            "all",
            "-F",
            "pid=1",
            "-k",
            "swtest-e",
        ],
        &[
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-F",
            "path=/etc/swtest",
            "-F",
            "perm=r",
            "-k",
            "swtest-f",
        ],
        &["-w", "/etc/swtest-watch", "-p", "wa", "-k", "swtest-g"],
        &["-a", "always,exclude", "-F", "msgtype=1305"],
        &[
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "kill",
            "-F",
            "a1=-1",
            "-k",
            "swtest-h",
            "-k",
            "swtest-i",
        ],
    ];
    let mut added = Vec::new();
    for args in foreign {
        auditctl(args);
        added.push(*args);
    }
    let result = std::panic::catch_unwind(|| {
        let mut c = AuditClient::open().unwrap();
        let listed = assert_rendering_matches_auditctl(&mut c);
        // Round trip of every listed rule, byte for byte.
        for r in &listed {
            let again = AuditRule::decode(&r.encode().unwrap()).unwrap();
            assert_eq!(&again, r);
        }
        let exe = listed
            .iter()
            .find(|r| r.keys() == vec![b"swtest-a".as_slice()])
            .unwrap();
        assert!(exe.fields.iter().any(
            |f| f.field == field::EXE && f.value == FieldValue::Str(b"/usr/bin/true".to_vec())
        ));
        // A user's narrower kill rule does not count as coverage.
        assert!(!auditsig::killrules::rules_cover(
            &listed,
            Arch::X86_64,
            KillSyscall::Kill,
            Some(9)
        ));
    });
    // Remove exactly what we added, with the same arguments.
    for args in added.iter().rev() {
        let mut del: Vec<&str> = args.to_vec();
        match del[0] {
            "-a" => del[0] = "-d",
            "-w" => del[0] = "-W",
            _ => unreachable!(),
        }
        auditctl(&del);
    }
    assert_eq!(auditctl_rules(), before);
    drop(c.list_rules().unwrap());
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn user_rule_covering_kill_skips_installation() {
    if !ready("user_rule_covering_kill_skips_installation") {
        return;
    }
    if Arch::host_arches().first() != Some(&Arch::X86_64) {
        sigwatch_test_support::skip(
            "user_rule_covering_kill_skips_installation",
            sigwatch_test_support::Need::Host("x86_64".into()),
            "the rule under test is written for x86_64",
        );
        return;
    }
    let _lock = AuditLock::acquire();
    let before = auditctl_rules();
    let args = [
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "kill,tgkill",
        "-k",
        "swtest-user",
    ];
    auditctl(&args);
    let mut c = AuditClient::open().unwrap();
    let listed = c.list_rules().unwrap();
    let missing = KillRuleSet::new("k")
        .arches(&[Arch::X86_64])
        .build_missing(&listed)
        .unwrap();
    let mut del = args.to_vec();
    del[0] = "-d";
    auditctl(&del);
    assert_eq!(auditctl_rules(), before);
    let text: Vec<String> = missing.iter().map(AuditRule::to_auditctl).collect();
    assert_eq!(
        text,
        [
            "-a always,exit -F arch=b64 -S rt_sigqueueinfo,tkill,pidfd_send_signal -F a1=0x9 -F key=k",
            "-a always,exit -F arch=b64 -S rt_tgsigqueueinfo -F a2=0x9 -F key=k",
        ]
    );
}

#[test]
fn stale_rules_of_a_dead_owner_are_removed_others_kept() {
    if !ready("stale_rules_of_a_dead_owner_are_removed_others_kept") {
        return;
    }
    let _lock = AuditLock::acquire();
    let before = auditctl_rules();
    // A pid that just died.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id() as i32;
    child.wait().unwrap();
    let mut c = AuditClient::open().unwrap();
    let stale = KillRuleSet::new(owner_key(dead))
        .arches(&[Arch::host_arches()[0]])
        .build()
        .unwrap();
    let alive = KillRuleSet::new(owner_key(std::process::id() as i32))
        .arches(&[Arch::host_arches()[0]])
        .build()
        .unwrap();
    let mut plain = AuditRule::default();
    plain.add_syscall(KillSyscall::Kill.number(Arch::host_arches()[0]));
    plain.push_field(RuleField::num(
        field::ARCH,
        Operator::Equal,
        Arch::host_arches()[0].audit_arch(),
    ));
    plain.push_field(RuleField::string(
        field::FILTERKEY,
        Operator::Equal,
        "sigwatch",
    ));
    for r in stale.iter().chain(&alive).chain([&plain]) {
        c.add_rule(r).unwrap();
    }
    let removed = remove_stale(&mut c).unwrap();
    let listed = c.list_rules().unwrap();
    for r in alive.iter().chain([&plain]) {
        c.delete_rule(r).unwrap();
    }
    assert_eq!(auditctl_rules(), before);
    assert_eq!(removed.len(), stale.len());
    for r in &stale {
        assert!(removed.iter().any(|x| same_rule(x, r)));
        assert!(!listed.iter().any(|x| same_rule(x, r)));
    }
    for r in alive.iter().chain([&plain]) {
        assert!(listed.iter().any(|x| same_rule(x, r)));
    }
}
