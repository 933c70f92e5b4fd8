//! Replays every file of `fuzz/corpus/audit_rule_decode/` through the fuzz
//! target's body, so stable CI runs the corpus; plus checks on some seeds.
#![allow(clippy::unwrap_used)]

/// The fuzz target's file compiled as ordinary code (`libfuzzer_sys` is
/// the `sigwatch-fuzz-shim` crate: `fuzz_target!` defines `run`), so CI
/// builds the target and the replay runs exactly the fuzzer's code.
#[allow(unused_attributes)] // the target's crate-level `#![no_main]`
#[path = "../../../fuzz/fuzz_targets/audit_rule_decode.rs"]
mod audit_rule_decode;

use auditsig::rule::{AuditRule, FieldValue};
use auditsig::Error;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/audit_rule_decode")
}

fn seed(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).unwrap()
}

#[test]
fn replay_corpus() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        audit_rule_decode::run(&data);
        n += 1;
    }
    assert!(n >= 10, "corpus too small: {n} files");
}

#[test]
fn seeds_decode_as_expected() {
    // Little-endian seeds: the layout is host order.
    if cfg!(target_endian = "big") {
        return;
    }
    let r = AuditRule::decode(&seed("kill_b64_a1")).unwrap();
    assert_eq!(
        r.to_auditctl(),
        "-a always,exit -F arch=b64 -S kill,rt_sigqueueinfo,tkill,pidfd_send_signal -F a1=0x9 -F key=sigwatch:1234"
    );
    let r = AuditRule::decode(&seed("unknown_numeric")).unwrap();
    assert_eq!(r.fields[0].value, FieldValue::Opaque(7));
    assert_eq!(r.keys(), vec![b"k".as_slice()]);
    // Two unknown fields of length 3 and 3 bytes left: ambiguous, kept raw.
    let r = AuditRule::decode(&seed("unknown_ambiguous")).unwrap();
    assert_eq!(r.fields[0].value, FieldValue::Opaque(3));
    assert_eq!(r.fields[1].value, FieldValue::Opaque(3));
    assert_eq!(r.fields[2].value, FieldValue::Str(b"k".to_vec()));
    assert_eq!(r.unattributed, b"abc");
    assert!(matches!(
        AuditRule::decode(&seed("field_count_65")),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        AuditRule::decode(&seed("buflen_too_big")),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        AuditRule::decode(&seed("string_overrun")),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        AuditRule::decode(&seed("truncated")),
        Err(Error::Truncated { .. })
    ));
}
