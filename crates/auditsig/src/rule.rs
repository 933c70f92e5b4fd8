//! Audit rules: `struct audit_rule_data` encode/decode, and rendering as
//! the equivalent `auditctl` command line.
//!
//! Layout (`include/uapi/linux/audit.h`), all `__u32` in host order:
//! `flags, action, field_count, mask[64], fields[64], values[64],
//! fieldflags[64], buflen, buf[buflen]` — 1040 bytes plus the string
//! buffer. For string fields `values[i]` is the string's length and the
//! strings are concatenated in `buf` in field order, without NULs.
//!
//! Decoding never fails because of a field type this crate does not know
//! (another tool, or a newer kernel, may have installed it): such fields
//! are kept as [`FieldValue::Opaque`]. Whether an unknown field carries a
//! string cannot be known from the struct; see [`AuditRule::decode`] for
//! how the string buffer is attributed, and [`AuditRule::unattributed`]
//! for bytes that could not be.

mod names;

use crate::error::{Error, Result};
use crate::netlink::read_u32;
use crate::syscalls::Arch;
use std::fmt::Write as _;

/// `AUDIT_BITMASK_SIZE`: 64 words of syscall bitmap.
pub const AUDIT_BITMASK_SIZE: usize = 64;
/// `AUDIT_MAX_FIELDS`.
pub const AUDIT_MAX_FIELDS: usize = 64;
/// `AUDIT_MAX_KEY_LEN`: the kernel rejects longer keys.
pub const AUDIT_MAX_KEY_LEN: usize = 256;
/// Fixed part of `struct audit_rule_data` (before `buf`).
pub const AUDIT_RULE_DATA_LEN: usize = 4 * (3 + AUDIT_BITMASK_SIZE + 3 * AUDIT_MAX_FIELDS + 1);
/// Separator between several keys in one `AUDIT_FILTERKEY` string
/// (`auditctl -k a -k b`), as libaudit writes it.
pub const AUDIT_KEY_SEPARATOR: u8 = 0x01;

/// Filter lists (`AUDIT_FILTER_*`, the low bits of `flags`).
pub mod list {
    /// `AUDIT_FILTER_USER`: user-space generated messages.
    pub const USER: u32 = 0x00;
    /// `AUDIT_FILTER_TASK`: at task creation.
    pub const TASK: u32 = 0x01;
    /// `AUDIT_FILTER_ENTRY`: syscall entry (deprecated).
    pub const ENTRY: u32 = 0x02;
    /// `AUDIT_FILTER_WATCH`.
    pub const WATCH: u32 = 0x03;
    /// `AUDIT_FILTER_EXIT`: at syscall exit — where kill rules live.
    pub const EXIT: u32 = 0x04;
    /// `AUDIT_FILTER_EXCLUDE`: drop records by type.
    pub const EXCLUDE: u32 = 0x05;
    /// `AUDIT_FILTER_FS`.
    pub const FS: u32 = 0x06;
    /// `AUDIT_FILTER_URING_EXIT`.
    pub const URING_EXIT: u32 = 0x07;
    /// `AUDIT_FILTER_PREPEND`: flag, insert at the head of the list.
    pub const PREPEND: u32 = 0x10;

    /// The name auditctl uses (`-a ACTION,LIST`).
    pub fn name(list: u32) -> Option<&'static str> {
        Some(match list {
            USER => "user",
            TASK => "task",
            ENTRY => "entry",
            WATCH => "watch",
            EXIT => "exit",
            EXCLUDE => "exclude",
            FS => "filesystem",
            URING_EXIT => "io_uring",
            _ => return None,
        })
    }
}

/// Rule actions (`AUDIT_NEVER`, `AUDIT_POSSIBLE`, `AUDIT_ALWAYS`).
pub mod action {
    /// `AUDIT_NEVER`.
    pub const NEVER: u32 = 0;
    /// `AUDIT_POSSIBLE` (deprecated).
    pub const POSSIBLE: u32 = 1;
    /// `AUDIT_ALWAYS`.
    pub const ALWAYS: u32 = 2;

    /// The name auditctl uses.
    pub fn name(action: u32) -> Option<&'static str> {
        Some(match action {
            NEVER => "never",
            POSSIBLE => "possible",
            ALWAYS => "always",
            _ => return None,
        })
    }
}

/// Rule field types (`AUDIT_*` "Rule fields" in audit.h).
pub mod field {
    #![allow(missing_docs)]
    pub const PID: u32 = 0;
    pub const UID: u32 = 1;
    pub const EUID: u32 = 2;
    pub const SUID: u32 = 3;
    pub const FSUID: u32 = 4;
    pub const GID: u32 = 5;
    pub const EGID: u32 = 6;
    pub const SGID: u32 = 7;
    pub const FSGID: u32 = 8;
    pub const LOGINUID: u32 = 9;
    pub const PERS: u32 = 10;
    pub const ARCH: u32 = 11;
    pub const MSGTYPE: u32 = 12;
    pub const SUBJ_USER: u32 = 13;
    pub const SUBJ_ROLE: u32 = 14;
    pub const SUBJ_TYPE: u32 = 15;
    pub const SUBJ_SEN: u32 = 16;
    pub const SUBJ_CLR: u32 = 17;
    pub const PPID: u32 = 18;
    pub const OBJ_USER: u32 = 19;
    pub const OBJ_ROLE: u32 = 20;
    pub const OBJ_TYPE: u32 = 21;
    pub const OBJ_LEV_LOW: u32 = 22;
    pub const OBJ_LEV_HIGH: u32 = 23;
    pub const LOGINUID_SET: u32 = 24;
    pub const SESSIONID: u32 = 25;
    pub const FSTYPE: u32 = 26;
    pub const DEVMAJOR: u32 = 100;
    pub const DEVMINOR: u32 = 101;
    pub const INODE: u32 = 102;
    pub const EXIT: u32 = 103;
    pub const SUCCESS: u32 = 104;
    pub const WATCH: u32 = 105;
    pub const PERM: u32 = 106;
    pub const DIR: u32 = 107;
    pub const FILETYPE: u32 = 108;
    pub const OBJ_UID: u32 = 109;
    pub const OBJ_GID: u32 = 110;
    pub const FIELD_COMPARE: u32 = 111;
    pub const EXE: u32 = 112;
    pub const SADDR_FAM: u32 = 113;
    pub const ARG0: u32 = 200;
    pub const ARG1: u32 = 201;
    pub const ARG2: u32 = 202;
    pub const ARG3: u32 = 203;
    pub const FILTERKEY: u32 = 210;

    /// Field types whose value is a string in `buf` (`values[i]` = its
    /// length): the cases of `audit_data_to_entry()` in
    /// `kernel/auditfilter.c` that call `audit_unpack_string()`.
    pub fn carries_string(f: u32) -> bool {
        matches!(
            f,
            SUBJ_USER
                | SUBJ_ROLE
                | SUBJ_TYPE
                | SUBJ_SEN
                | SUBJ_CLR
                | OBJ_USER
                | OBJ_ROLE
                | OBJ_TYPE
                | OBJ_LEV_LOW
                | OBJ_LEV_HIGH
                | WATCH
                | DIR
                | FILTERKEY
                | EXE
        )
    }

    /// Field types this crate knows to carry a number.
    pub fn is_numeric(f: u32) -> bool {
        matches!(f, 0..=12 | 18 | 24..=26 | 100..=104 | 106 | 108..=111 | 113 | 200..=203)
    }

    /// Whether the field type is one this crate knows (string or number).
    pub fn is_known(f: u32) -> bool {
        carries_string(f) || is_numeric(f)
    }

    /// The name auditctl uses for `-F NAME...` (libaudit `fieldtab.h`).
    pub fn name(f: u32) -> Option<&'static str> {
        Some(match f {
            PID => "pid",
            UID => "uid",
            EUID => "euid",
            SUID => "suid",
            FSUID => "fsuid",
            GID => "gid",
            EGID => "egid",
            SGID => "sgid",
            FSGID => "fsgid",
            LOGINUID => "auid",
            PERS => "pers",
            ARCH => "arch",
            MSGTYPE => "msgtype",
            SUBJ_USER => "subj_user",
            SUBJ_ROLE => "subj_role",
            SUBJ_TYPE => "subj_type",
            SUBJ_SEN => "subj_sen",
            SUBJ_CLR => "subj_clr",
            PPID => "ppid",
            OBJ_USER => "obj_user",
            OBJ_ROLE => "obj_role",
            OBJ_TYPE => "obj_type",
            OBJ_LEV_LOW => "obj_lev_low",
            OBJ_LEV_HIGH => "obj_lev_high",
            SESSIONID => "sessionid",
            FSTYPE => "fstype",
            DEVMAJOR => "devmajor",
            DEVMINOR => "devminor",
            INODE => "inode",
            EXIT => "exit",
            SUCCESS => "success",
            WATCH => "path",
            PERM => "perm",
            DIR => "dir",
            FILETYPE => "filetype",
            OBJ_UID => "obj_uid",
            OBJ_GID => "obj_gid",
            FIELD_COMPARE => "field_compare",
            EXE => "exe",
            SADDR_FAM => "saddr_fam",
            ARG0 => "a0",
            ARG1 => "a1",
            ARG2 => "a2",
            ARG3 => "a3",
            FILTERKEY => "key",
            _ => return None,
        })
    }
}

/// A rule operator (`fieldflags[i]`, `AUDIT_EQUAL` etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Operator {
    /// `AUDIT_EQUAL` (`=`).
    Equal,
    /// `AUDIT_NOT_EQUAL` (`!=`).
    NotEqual,
    /// `AUDIT_BIT_MASK` (`&`).
    BitMask,
    /// `AUDIT_BIT_TEST` (`&=`).
    BitTest,
    /// `AUDIT_LESS_THAN` (`<`).
    LessThan,
    /// `AUDIT_GREATER_THAN` (`>`).
    GreaterThan,
    /// `AUDIT_LESS_THAN_OR_EQUAL` (`<=`).
    LessOrEqual,
    /// `AUDIT_GREATER_THAN_OR_EQUAL` (`>=`).
    GreaterOrEqual,
    /// Any other `fieldflags` value, kept as is.
    Other(u32),
}

impl Operator {
    /// `AUDIT_EQUAL`.
    pub const AUDIT_EQUAL: u32 = 0x4000_0000;
    /// `AUDIT_NOT_EQUAL`.
    pub const AUDIT_NOT_EQUAL: u32 = 0x3000_0000;
    /// `AUDIT_BIT_MASK`.
    pub const AUDIT_BIT_MASK: u32 = 0x0800_0000;
    /// `AUDIT_LESS_THAN`.
    pub const AUDIT_LESS_THAN: u32 = 0x1000_0000;
    /// `AUDIT_GREATER_THAN`.
    pub const AUDIT_GREATER_THAN: u32 = 0x2000_0000;

    /// From a raw `fieldflags` value.
    pub fn from_raw(v: u32) -> Operator {
        match v {
            0x4000_0000 => Operator::Equal,
            0x3000_0000 => Operator::NotEqual,
            0x0800_0000 => Operator::BitMask,
            0x4800_0000 => Operator::BitTest,
            0x1000_0000 => Operator::LessThan,
            0x2000_0000 => Operator::GreaterThan,
            0x5000_0000 => Operator::LessOrEqual,
            0x6000_0000 => Operator::GreaterOrEqual,
            other => Operator::Other(other),
        }
    }

    /// The raw `fieldflags` value.
    pub fn raw(self) -> u32 {
        match self {
            Operator::Equal => 0x4000_0000,
            Operator::NotEqual => 0x3000_0000,
            Operator::BitMask => 0x0800_0000,
            Operator::BitTest => 0x4800_0000,
            Operator::LessThan => 0x1000_0000,
            Operator::GreaterThan => 0x2000_0000,
            Operator::LessOrEqual => 0x5000_0000,
            Operator::GreaterOrEqual => 0x6000_0000,
            Operator::Other(v) => v,
        }
    }

    /// The symbol auditctl uses.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Equal => "=",
            Operator::NotEqual => "!=",
            Operator::BitMask => "&",
            Operator::BitTest => "&=",
            Operator::LessThan => "<",
            Operator::GreaterThan => ">",
            Operator::LessOrEqual => "<=",
            Operator::GreaterOrEqual => ">=",
            Operator::Other(_) => "?",
        }
    }
}

/// A field's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum FieldValue {
    /// A number (`values[i]`) of a known numeric field type.
    Num(u32),
    /// A string from `buf` (known string field types, or an unknown type
    /// the decoder attributed buffer bytes to).
    Str(Vec<u8>),
    /// A field of unknown type: `values[i]` kept raw, no buffer bytes.
    Opaque(u32),
}

/// One field condition of a rule (`fields[i]`, `fieldflags[i]`, `values[i]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RuleField {
    /// `fields[i]`: the field type (`AUDIT_ARCH`, `AUDIT_ARG1`, ...).
    pub field: u32,
    /// `fieldflags[i]`: the operator.
    pub op: Operator,
    /// `values[i]` / the string in `buf`.
    pub value: FieldValue,
}

impl RuleField {
    /// A numeric field.
    pub fn num(field: u32, op: Operator, value: u32) -> RuleField {
        RuleField {
            field,
            op,
            value: FieldValue::Num(value),
        }
    }

    /// A string field.
    pub fn string(field: u32, op: Operator, value: impl Into<Vec<u8>>) -> RuleField {
        RuleField {
            field,
            op,
            value: FieldValue::Str(value.into()),
        }
    }

    /// The raw `values[i]` (a string's length for string fields).
    pub fn raw_value(&self) -> u32 {
        match &self.value {
            FieldValue::Num(v) | FieldValue::Opaque(v) => *v,
            FieldValue::Str(s) => s.len() as u32,
        }
    }
}

/// A decoded `struct audit_rule_data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AuditRule {
    /// `flags` without `AUDIT_FILTER_PREPEND`: the filter list
    /// ([`list::EXIT`] for syscall rules).
    pub list: u32,
    /// `AUDIT_FILTER_PREPEND` was set in `flags`.
    pub prepend: bool,
    /// `action`: [`action::ALWAYS`] or [`action::NEVER`].
    pub action: u32,
    /// `mask[64]`: syscall bitmap, bit `nr % 32` of word `nr / 32`.
    pub mask: Vec<u32>,
    /// `fields`/`values`/`fieldflags` plus their strings.
    pub fields: Vec<RuleField>,
    /// Buffer bytes no field could be attributed to (see
    /// [`AuditRule::decode`]); re-encoded after the attributed strings so
    /// a listed rule round-trips byte for byte.
    pub unattributed: Vec<u8>,
}

impl Default for AuditRule {
    fn default() -> Self {
        AuditRule::new(list::EXIT, action::ALWAYS)
    }
}

impl AuditRule {
    /// An empty rule on `list` with `action` and no syscalls.
    pub fn new(list: u32, action: u32) -> AuditRule {
        AuditRule {
            list,
            prepend: false,
            action,
            mask: vec![0; AUDIT_BITMASK_SIZE],
            fields: Vec::new(),
            unattributed: Vec::new(),
        }
    }

    /// Adds syscall `nr` to the bitmap (ignored beyond the 2048 bits).
    pub fn add_syscall(&mut self, nr: u32) -> &mut Self {
        if let Some(w) = self.mask.get_mut((nr / 32) as usize) {
            *w |= 1 << (nr % 32);
        }
        self
    }

    /// Sets every syscall bit (`-S all`).
    pub fn all_syscalls(&mut self) -> &mut Self {
        self.mask.iter_mut().for_each(|w| *w = u32::MAX);
        self
    }

    /// Whether syscall `nr`'s bit is set.
    pub fn has_syscall(&self, nr: u32) -> bool {
        self.mask
            .get((nr / 32) as usize)
            .is_some_and(|w| w & (1 << (nr % 32)) != 0)
    }

    /// Whether the rule applies to all syscalls (auditctl's test: the
    /// first 63 words all ones).
    pub fn is_all_syscalls(&self) -> bool {
        self.mask.len() >= AUDIT_BITMASK_SIZE - 1
            && self.mask[..AUDIT_BITMASK_SIZE - 1]
                .iter()
                .all(|w| *w == u32::MAX)
    }

    /// The syscall numbers whose bit is set.
    pub fn syscalls(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (wi, w) in self.mask.iter().enumerate() {
            for b in 0..32 {
                if w & (1 << b) != 0 {
                    out.push(wi as u32 * 32 + b);
                }
            }
        }
        out
    }

    /// Appends a field condition.
    pub fn push_field(&mut self, f: RuleField) -> &mut Self {
        self.fields.push(f);
        self
    }

    /// The `AUDIT_ARCH` value when the rule has an `arch=` condition.
    pub fn arch(&self) -> Option<u32> {
        self.fields
            .iter()
            .find_map(|f| match (f.field, f.op, &f.value) {
                (field::ARCH, Operator::Equal, FieldValue::Num(v)) => Some(*v),
                _ => None,
            })
    }

    /// The rule's keys: every `AUDIT_FILTERKEY` string split at
    /// [`AUDIT_KEY_SEPARATOR`].
    pub fn keys(&self) -> Vec<&[u8]> {
        self.fields
            .iter()
            .filter(|f| f.field == field::FILTERKEY)
            .filter_map(|f| match &f.value {
                FieldValue::Str(s) => Some(s.as_slice()),
                _ => None,
            })
            .flat_map(|s| s.split(|b| *b == AUDIT_KEY_SEPARATOR))
            .filter(|k| !k.is_empty())
            .collect()
    }

    /// Decodes an `audit_rule_data` (an `AUDIT_LIST_RULES` reply payload).
    ///
    /// Known string field types consume `values[i]` bytes of `buf` each,
    /// in field order. Unknown field types are [`FieldValue::Opaque`]
    /// unless the known strings leave buffer bytes over: then, if exactly
    /// one subset of the unknown fields (searched for up to 12 of them)
    /// has lengths summing to the remainder, those become strings; any
    /// bytes still left are kept in [`AuditRule::unattributed`]. When the
    /// attribution is ambiguous, later known strings may be misaligned,
    /// which only a kernel with new string field types could cause.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] or [`Error::Malformed`] for a buffer that is not
    /// a `struct audit_rule_data`.
    pub fn decode(buf: &[u8]) -> Result<AuditRule> {
        if buf.len() < AUDIT_RULE_DATA_LEN {
            return Err(Error::Truncated {
                what: "audit_rule_data",
                need: AUDIT_RULE_DATA_LEN,
                got: buf.len(),
            });
        }
        let w = |i: usize| read_u32(buf, i * 4).unwrap_or(0);
        let flags = w(0);
        let action = w(1);
        let count = w(2) as usize;
        if count > AUDIT_MAX_FIELDS {
            return Err(Error::Malformed {
                what: "audit_rule_data",
                detail: format!("field_count {count} > {AUDIT_MAX_FIELDS}"),
            });
        }
        let mask: Vec<u32> = (0..AUDIT_BITMASK_SIZE).map(|i| w(3 + i)).collect();
        let fields_at = 3 + AUDIT_BITMASK_SIZE;
        let values_at = fields_at + AUDIT_MAX_FIELDS;
        let flags_at = values_at + AUDIT_MAX_FIELDS;
        let buflen = w(flags_at + AUDIT_MAX_FIELDS) as usize;
        let strbuf = buf
            .get(AUDIT_RULE_DATA_LEN..AUDIT_RULE_DATA_LEN.saturating_add(buflen))
            .ok_or(Error::Truncated {
                what: "audit_rule_data buf",
                need: AUDIT_RULE_DATA_LEN.saturating_add(buflen),
                got: buf.len(),
            })?;
        let raw: Vec<(u32, u32, u32)> = (0..count)
            .map(|i| (w(fields_at + i), w(values_at + i), w(flags_at + i)))
            .collect();

        // Which fields take bytes from buf.
        let known_sum: u64 = raw
            .iter()
            .filter(|(f, ..)| field::carries_string(*f))
            .map(|(_, v, _)| *v as u64)
            .sum();
        if known_sum > buflen as u64 {
            return Err(Error::Malformed {
                what: "audit_rule_data",
                detail: format!("string fields need {known_sum} bytes, buflen is {buflen}"),
            });
        }
        let mut takes_string: Vec<bool> = raw
            .iter()
            .map(|(f, ..)| field::carries_string(*f))
            .collect();
        let remainder = buflen as u64 - known_sum;
        if remainder > 0 {
            let unknown: Vec<usize> = (0..count)
                .filter(|i| !field::is_known(raw[*i].0) && raw[*i].1 > 0)
                .collect();
            if let Some(subset) = unique_subset_sum(&unknown, |i| raw[i].1 as u64, remainder) {
                for i in subset {
                    takes_string[i] = true;
                }
            }
        }

        let mut off = 0usize;
        let mut fields = Vec::with_capacity(count);
        for (i, (f, v, op)) in raw.iter().copied().enumerate() {
            let value = if takes_string[i] {
                let end = off.saturating_add(v as usize);
                let s = strbuf.get(off..end).ok_or_else(|| Error::Malformed {
                    what: "audit_rule_data",
                    detail: format!("string of field {f} overruns buf"),
                })?;
                off = end;
                FieldValue::Str(s.to_vec())
            } else if field::is_numeric(f) {
                FieldValue::Num(v)
            } else {
                FieldValue::Opaque(v)
            };
            fields.push(RuleField {
                field: f,
                op: Operator::from_raw(op),
                value,
            });
        }
        Ok(AuditRule {
            list: flags & !list::PREPEND,
            prepend: flags & list::PREPEND != 0,
            action,
            mask,
            fields,
            unattributed: strbuf[off..].to_vec(),
        })
    }

    /// Encodes the rule as `audit_rule_data` for `AUDIT_ADD_RULE` /
    /// `AUDIT_DEL_RULE`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a rule the kernel's layout cannot
    /// hold (too many fields, string buffer over its limit).
    pub fn encode(&self) -> Result<Vec<u8>> {
        if self.fields.len() > AUDIT_MAX_FIELDS {
            return Err(Error::InvalidArgument(format!(
                "{} fields, the kernel takes at most {AUDIT_MAX_FIELDS}",
                self.fields.len()
            )));
        }
        let mut strbuf = Vec::new();
        for f in &self.fields {
            if let FieldValue::Str(s) = &f.value {
                if f.field == field::FILTERKEY && s.len() > AUDIT_MAX_KEY_LEN {
                    return Err(Error::InvalidArgument(format!(
                        "key of {} bytes, the kernel takes at most {AUDIT_MAX_KEY_LEN}",
                        s.len()
                    )));
                }
                strbuf.extend_from_slice(s);
            }
        }
        strbuf.extend_from_slice(&self.unattributed);
        let mut out = Vec::with_capacity(AUDIT_RULE_DATA_LEN + strbuf.len());
        let mut put = |v: u32| out.extend_from_slice(&v.to_ne_bytes());
        put(self.list | if self.prepend { list::PREPEND } else { 0 });
        put(self.action);
        put(self.fields.len() as u32);
        for i in 0..AUDIT_BITMASK_SIZE {
            put(self.mask.get(i).copied().unwrap_or(0));
        }
        for i in 0..AUDIT_MAX_FIELDS {
            put(self.fields.get(i).map_or(0, |f| f.field));
        }
        for i in 0..AUDIT_MAX_FIELDS {
            put(self.fields.get(i).map_or(0, |f| f.raw_value()));
        }
        for i in 0..AUDIT_MAX_FIELDS {
            put(self.fields.get(i).map_or(0, |f| f.op.raw()));
        }
        put(strbuf.len() as u32);
        out.extend_from_slice(&strbuf);
        Ok(out)
    }

    /// Renders the rule as `auditctl` prints it with `-l`, so it can be
    /// pasted into `/etc/audit/rules.d/` (e.g. `-a always,exit -F
    /// arch=b64 -S kill -F a1=0x9 -F key=sigwatch`).
    ///
    /// Follows `print_rule()` of auditctl 3.x: arch first (`b64`/`b32`),
    /// syscalls by name for the rule's arch (the host's when absent) or
    /// `-S all`, then the fields in order; `a0..a3` in upper-case hex,
    /// other numbers as signed decimal, `-C` for field comparisons,
    /// watches as `-w PATH -p PERM -k KEY`. Unknown field types print as
    /// `fN<op>V` like auditctl does. Differences: `exe` keeps its
    /// operator (auditctl 3.0.9 always prints `=`), `exit` prints the
    /// number rather than the errno name for errnos this crate does not
    /// name, and `msgtype` uses the record type names of
    /// [`RecordType::name`](crate::record::RecordType::name).
    pub fn to_auditctl(&self) -> String {
        let mut s = String::new();
        let watch = self.is_watch();
        if !watch {
            let _ = write!(
                s,
                "-a {},{}",
                action::name(self.action).unwrap_or("unknown"),
                list::name(self.list).unwrap_or("unknown")
            );
            let mut arch_val = None;
            for f in &self.fields {
                if f.field == field::ARCH {
                    let v = f.raw_value();
                    arch_val = Some(v);
                    match Arch::from_audit_arch(v) {
                        Some(_) => {
                            let b = if v & 0x8000_0000 != 0 { "b64" } else { "b32" };
                            let _ = write!(s, " -F arch{}{b}", f.op.symbol());
                        }
                        None => {
                            let _ = write!(s, " -F arch{}0x{v:X}", f.op.symbol());
                        }
                    }
                }
            }
            // Rules on these lists take no syscalls (auditctl prints none).
            if !matches!(self.list, list::USER | list::TASK | list::EXCLUDE) {
                self.render_syscalls(&mut s, arch_val);
            }
        }
        for f in &self.fields {
            if f.field == field::ARCH {
                continue;
            }
            let op = f.op.symbol();
            let Some(name) = field::name(f.field) else {
                let _ = write!(s, " f{}{op}{}", f.field, f.raw_value() as i32);
                continue;
            };
            match (&f.value, f.field) {
                (FieldValue::Str(v), field::WATCH | field::DIR) if watch => {
                    let _ = write!(s, "-w {}", String::from_utf8_lossy(v));
                }
                (FieldValue::Str(v), field::FILTERKEY) => {
                    for k in v
                        .split(|b| *b == AUDIT_KEY_SEPARATOR)
                        .filter(|k| !k.is_empty())
                    {
                        let k = String::from_utf8_lossy(k);
                        if watch {
                            let _ = write!(s, " -k {k}");
                        } else {
                            let _ = write!(s, " -F key={k}");
                        }
                    }
                }
                (FieldValue::Str(v), _) => {
                    let _ = write!(s, " -F {name}{op}{}", String::from_utf8_lossy(v));
                }
                (_, field::PERM) => {
                    let v = f.raw_value();
                    let mut p = String::new();
                    for (bit, c) in [(4, 'r'), (2, 'w'), (1, 'x'), (8, 'a')] {
                        if v & bit != 0 {
                            p.push(c);
                        }
                    }
                    if watch {
                        let _ = write!(s, " -p {p}");
                    } else {
                        let _ = write!(s, " -F perm={p}");
                    }
                }
                (_, field::MSGTYPE) => {
                    let v = f.raw_value();
                    let name_of = u16::try_from(v)
                        .ok()
                        .and_then(|t| crate::record::RecordType(t).name());
                    match name_of {
                        Some(t) => {
                            let _ = write!(s, " -F {name}{op}{t}");
                        }
                        None => {
                            let _ = write!(s, " -F {name}{op}{}", v as i32);
                        }
                    }
                }
                (_, field::INODE) => {
                    let _ = write!(s, " -F {name}{op}{}", f.raw_value());
                }
                (_, field::FIELD_COMPARE) => match compare_name(f.raw_value()) {
                    Some((a, b)) => {
                        let _ = write!(s, " -C {a}{op}{b}");
                    }
                    None => {
                        let _ = write!(s, " -F {name}{op}{}", f.raw_value());
                    }
                },
                (_, field::ARG0..=field::ARG3) => {
                    let _ = write!(s, " -F {name}{op}0x{:X}", f.raw_value());
                }
                (_, field::EXIT) => {
                    let v = f.raw_value() as i32;
                    match errno_name(v.unsigned_abs()) {
                        Some(e) if v < 0 => {
                            let _ = write!(s, " -F {name}{op}-{e}");
                        }
                        _ => {
                            let _ = write!(s, " -F {name}{op}{v}");
                        }
                    }
                }
                _ => {
                    let _ = write!(s, " -F {name}{op}{}", f.raw_value() as i32);
                }
            }
        }
        s
    }

    fn render_syscalls(&self, s: &mut String, arch_val: Option<u32>) {
        if self.is_all_syscalls() {
            s.push_str(" -S all");
            return;
        }
        let arch = match arch_val {
            Some(v) => Arch::from_audit_arch(v),
            None => Arch::host_arches().first().copied(),
        };
        let mut first = true;
        for nr in self.syscalls() {
            s.push_str(if first { " -S " } else { "," });
            first = false;
            match arch.and_then(|a| syscall_name(a, nr)) {
                Some(n) => s.push_str(n),
                None => {
                    let _ = write!(s, "{nr}");
                }
            }
        }
    }

    /// auditctl's watch test: only path/dir/perm/key fields, a perm field,
    /// and all syscalls (or a list that takes no syscalls).
    fn is_watch(&self) -> bool {
        let mut perm = false;
        for f in &self.fields {
            match f.field {
                field::PERM => perm = true,
                field::FILTERKEY | field::DIR | field::WATCH => {}
                _ => return false,
            }
        }
        let all =
            matches!(self.list, list::USER | list::TASK | list::EXCLUDE) || self.is_all_syscalls();
        perm && all
    }
}

/// The fuzz target body (shared by `fuzz/fuzz_targets/audit_rule_decode.rs`
/// and the corpus replay test): decodes `data` as `audit_rule_data`, and
/// on success checks that encoding and decoding again is lossless and that
/// rendering works; also runs the netlink splitters over `data`. Panics
/// only on a broken invariant (a bug).
#[doc(hidden)]
pub fn fuzz_rule_decode(data: &[u8]) {
    if let Ok(rule) = AuditRule::decode(data) {
        let _ = rule.to_auditctl();
        let _ = rule.keys();
        let _ = rule.syscalls();
        if let Ok(bytes) = rule.encode() {
            match AuditRule::decode(&bytes) {
                Ok(again) => {
                    assert_eq!(again.to_auditctl(), rule.to_auditctl());
                    assert_eq!(
                        again.encode().ok(),
                        Some(bytes),
                        "re-encoding is not stable"
                    );
                }
                Err(e) => panic!("re-encoded rule does not decode: {e}"),
            }
        }
    }
    let _ = crate::netlink::split_messages(data).count();
    let mut out = Vec::new();
    let _ = crate::netlink::split_records(data, &mut out);
}

/// The name of syscall `nr` on `arch` (auditctl's tables).
pub fn syscall_name(arch: Arch, nr: u32) -> Option<&'static str> {
    let table = match arch {
        Arch::X86_64 => names::X86_64,
        Arch::I386 => names::I386,
        Arch::Aarch64 => names::AARCH64,
        // Arches without a full name table here: the kill family at least.
        other => return crate::syscalls::KillSyscall::from_number(other, nr).map(|s| s.name()),
    };
    let nr = u16::try_from(nr).ok()?;
    table
        .binary_search_by_key(&nr, |(n, _)| *n)
        .ok()
        .map(|i| table[i].1)
}

fn compare_name(v: u32) -> Option<(&'static str, &'static str)> {
    Some(match v {
        1 => ("uid", "obj_uid"),
        2 => ("gid", "obj_gid"),
        3 => ("euid", "obj_uid"),
        4 => ("egid", "obj_gid"),
        5 => ("auid", "obj_uid"),
        6 => ("suid", "obj_uid"),
        7 => ("sgid", "obj_gid"),
        8 => ("fsuid", "obj_uid"),
        9 => ("fsgid", "obj_gid"),
        10 => ("uid", "auid"),
        11 => ("uid", "euid"),
        12 => ("uid", "fsuid"),
        13 => ("uid", "suid"),
        14 => ("auid", "fsuid"),
        15 => ("auid", "suid"),
        16 => ("auid", "euid"),
        17 => ("euid", "suid"),
        18 => ("euid", "fsuid"),
        19 => ("suid", "fsuid"),
        20 => ("gid", "egid"),
        21 => ("gid", "fsgid"),
        22 => ("gid", "sgid"),
        23 => ("egid", "fsgid"),
        24 => ("egid", "sgid"),
        25 => ("sgid", "fsgid"),
        _ => return None,
    })
}

/// Common errno names for `-F exit=-EPERM` rendering (auditctl knows all).
fn errno_name(e: u32) -> Option<&'static str> {
    Some(match e {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        28 => "ENOSPC",
        30 => "EROFS",
        38 => "ENOSYS",
        _ => return None,
    })
}

/// Among `items`, the unique subset whose weights sum to `target`
/// (`None` when there is none or more than one, or too many items to
/// search cheaply).
fn unique_subset_sum(
    items: &[usize],
    weight: impl Fn(usize) -> u64,
    target: u64,
) -> Option<Vec<usize>> {
    const MAX_ITEMS: usize = 12;
    if items.is_empty() || items.len() > MAX_ITEMS {
        return None;
    }
    let mut found: Option<u32> = None;
    for bits in 1u32..(1 << items.len()) {
        let sum: u64 = (0..items.len())
            .filter(|j| bits & (1 << j) != 0)
            .map(|j| weight(items[j]))
            .sum();
        if sum == target {
            if found.is_some() {
                return None;
            }
            found = Some(bits);
        }
    }
    let bits = found?;
    Some(
        (0..items.len())
            .filter(|j| bits & (1 << j) != 0)
            .map(|j| items[j])
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kill_rule() -> AuditRule {
        let mut r = AuditRule::new(list::EXIT, action::ALWAYS);
        r.push_field(RuleField::num(field::ARCH, Operator::Equal, 0xc000_003e));
        for nr in [62, 200, 234, 129, 297, 424] {
            r.add_syscall(nr);
        }
        r.push_field(RuleField::num(field::ARG1, Operator::Equal, 9));
        r.push_field(RuleField::string(
            field::FILTERKEY,
            Operator::Equal,
            "sigwatch:12",
        ));
        r
    }

    #[test]
    fn encode_decode_round_trip() {
        let r = kill_rule();
        let b = r.encode().unwrap();
        assert_eq!(b.len(), AUDIT_RULE_DATA_LEN + 11);
        let d = AuditRule::decode(&b).unwrap();
        assert_eq!(d, r);
        assert_eq!(d.arch(), Some(0xc000_003e));
        assert_eq!(d.keys(), vec![b"sigwatch:12".as_slice()]);
        assert!(d.has_syscall(62) && d.has_syscall(424) && !d.has_syscall(63));
        assert_eq!(d.encode().unwrap(), b);
    }

    #[test]
    fn renders_like_auditctl() {
        // Output of `auditctl -l` on this project's test host.
        assert_eq!(
            kill_rule().to_auditctl(),
            "-a always,exit -F arch=b64 -S kill,rt_sigqueueinfo,tkill,tgkill,rt_tgsigqueueinfo,pidfd_send_signal -F a1=0x9 -F key=sigwatch:12"
        );
        let mut r = AuditRule::new(list::EXIT, action::ALWAYS);
        r.push_field(RuleField::num(field::ARCH, Operator::Equal, 0xc000_003e));
        r.add_syscall(62);
        r.push_field(RuleField::num(field::UID, Operator::Equal, 1000));
        r.push_field(RuleField::num(
            field::LOGINUID,
            Operator::NotEqual,
            u32::MAX,
        ));
        r.push_field(RuleField::num(field::EXIT, Operator::Equal, (-1i32) as u32));
        r.push_field(RuleField::num(field::SUCCESS, Operator::Equal, 0));
        assert_eq!(
            r.to_auditctl(),
            "-a always,exit -F arch=b64 -S kill -F uid=1000 -F auid!=-1 -F exit=-EPERM -F success=0"
        );
        let mut w = AuditRule::new(list::EXIT, action::ALWAYS);
        w.all_syscalls();
        w.push_field(RuleField::string(
            field::WATCH,
            Operator::Equal,
            "/etc/passwd",
        ));
        w.push_field(RuleField::num(field::PERM, Operator::Equal, 2 | 8));
        w.push_field(RuleField::string(field::FILTERKEY, Operator::Equal, "pw"));
        assert_eq!(w.to_auditctl(), "-w /etc/passwd -p wa -k pw");
    }

    #[test]
    fn unknown_fields_are_kept() {
        // An unknown numeric field (300) and an unknown string field (301)
        // whose 3 bytes come before the key's.
        let mut r = AuditRule::new(list::EXIT, action::ALWAYS);
        r.add_syscall(62);
        r.push_field(RuleField {
            field: 300,
            op: Operator::Equal,
            value: FieldValue::Opaque(7),
        });
        r.push_field(RuleField::string(301, Operator::Equal, "abc"));
        r.push_field(RuleField::string(field::FILTERKEY, Operator::Equal, "k"));
        let b = r.encode().unwrap();
        let d = AuditRule::decode(&b).unwrap();
        assert_eq!(d.fields[0].value, FieldValue::Opaque(7));
        assert_eq!(d.fields[1].value, FieldValue::Str(b"abc".to_vec()));
        // Key decoded in field order, after the unknown string.
        assert_eq!(d.fields[2].value, FieldValue::Str(b"k".to_vec()));
        assert_eq!(d.encode().unwrap(), b);
        assert!(d.to_auditctl().contains(" f300=7"));
    }

    #[test]
    fn short_and_garbage_buffers() {
        assert!(matches!(
            AuditRule::decode(&[0; 100]),
            Err(Error::Truncated {
                need: AUDIT_RULE_DATA_LEN,
                got: 100,
                ..
            })
        ));
        let mut b = kill_rule().encode().unwrap();
        b.truncate(b.len() - 1);
        assert!(matches!(
            AuditRule::decode(&b),
            Err(Error::Truncated { .. })
        ));
        let mut b = kill_rule().encode().unwrap();
        b[8..12].copy_from_slice(&65u32.to_ne_bytes());
        assert!(matches!(
            AuditRule::decode(&b),
            Err(Error::Malformed { .. })
        ));
        // Key length larger than buflen.
        let mut b = kill_rule().encode().unwrap();
        let key_value_at = 4 * (3 + 64 + 64 + 2);
        b[key_value_at..key_value_at + 4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(matches!(
            AuditRule::decode(&b),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn syscall_tables_sorted() {
        for t in [names::X86_64, names::I386, names::AARCH64] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
        assert_eq!(syscall_name(Arch::I386, 37), Some("kill"));
        assert_eq!(syscall_name(Arch::Aarch64, 131), Some("tgkill"));
    }
}
