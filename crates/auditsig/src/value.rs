//! Field values of audit records.
//!
//! The kernel formats record fields with `audit_log_format()` as
//! `name=value`, separated by single spaces. A value is one of:
//!
//! * a double-quoted string (`comm="sh"`), written by
//!   `audit_log_untrustedstring()` when the bytes are "safe" (printable,
//!   no space, no `"`, no control byte);
//! * the same untrusted string hex-encoded *without* quotes when it is not
//!   safe (`proctitle=2F62696E2F7368002D63`): the caller has to know which
//!   fields are such "encoded" fields to tell them from plain hex numbers;
//! * the markers `(null)` (no string, e.g. `key=(null)`), `(none)`
//!   (`tty=(none)`) and `?` (unknown);
//! * a bare word: decimal numbers (`pid=1298`, `exit=-1`), hex numbers
//!   without `0x` (`arch=c000003e`, `a0..a3`), `yes`/`no`, ...
//!
//! auditd and other user-space writers add single-quoted values
//! (`msg='op=... res=success'`) and, in the `ENRICHED` log format, braces
//! (`SADDR={ saddr_fam=inet laddr=... }`) in the interpreted part.

use std::borrow::Cow;

use crate::record::RecordType;

/// One `name=value` field of a record, borrowed from the record's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name (`pid`, `a1[0]`, `AUID`, ...).
    pub name: &'a [u8],
    /// The value.
    pub value: Value<'a>,
}

/// A field value, classified but not converted (conversion is lazy so that
/// parsing stays cheap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A double-quoted string; the bytes between the quotes. The kernel
    /// never escapes inside quotes: it hex-encodes the whole value instead.
    Str(&'a [u8]),
    /// The hex digits of a hex-encoded untrusted string (an "encoded"
    /// field such as `proctitle`, `comm`, `exe` written without quotes).
    /// [`Value::bytes`] decodes it.
    Hex(&'a [u8]),
    /// A single-quoted string (`msg='...'` from user-space writers); the
    /// bytes between the quotes.
    SingleQuoted(&'a [u8]),
    /// A braced group of the `ENRICHED` format (`{ saddr_fam=inet ... }`);
    /// the bytes between the braces.
    Braced(&'a [u8]),
    /// `(null)`: no value (e.g. `key=(null)`: the rule had no key).
    Null,
    /// `(none)`: e.g. `tty=(none)` for a process without a terminal.
    None,
    /// `?`: the kernel could not determine the value.
    Unknown,
    /// Any other unquoted value: a decimal or hex number, `yes`, ...
    Bare(&'a [u8]),
}

impl<'a> Value<'a> {
    /// Classify the raw value text of field `name` in a record of type
    /// `rtype`. `raw` is the value as it appears after `=`, quotes
    /// included.
    pub fn classify(rtype: RecordType, name: &[u8], raw: &'a [u8]) -> Value<'a> {
        match raw {
            [b'"', inner @ .., b'"'] => Value::Str(inner),
            [b'\'', inner @ .., b'\''] => Value::SingleQuoted(inner),
            [b'{', inner @ .., b'}'] => Value::Braced(inner),
            b"(null)" => Value::Null,
            b"(none)" => Value::None,
            b"?" => Value::Unknown,
            _ => {
                if is_encoded_field(rtype, name) && is_hex_string(raw) {
                    Value::Hex(raw)
                } else {
                    Value::Bare(raw)
                }
            }
        }
    }

    /// The value as bytes: quoted strings without their quotes, hex-encoded
    /// strings decoded, bare words as written. `None` for `(null)`,
    /// `(none)` and `?`.
    pub fn bytes(&self) -> Option<Cow<'a, [u8]>> {
        match *self {
            Value::Str(b) | Value::SingleQuoted(b) | Value::Braced(b) | Value::Bare(b) => {
                Some(Cow::Borrowed(b))
            }
            // `is_hex_string` guaranteed an even number of hex digits.
            Value::Hex(h) => Some(Cow::Owned(decode_hex(h).unwrap_or_default())),
            Value::Null | Value::None | Value::Unknown => None,
        }
    }

    /// The raw text of the value without quotes (hex digits stay encoded).
    pub fn raw(&self) -> &'a [u8] {
        match *self {
            Value::Str(b)
            | Value::SingleQuoted(b)
            | Value::Braced(b)
            | Value::Bare(b)
            | Value::Hex(b) => b,
            Value::Null => b"(null)",
            Value::None => b"(none)",
            Value::Unknown => b"?",
        }
    }

    /// A decimal unsigned number (`pid=1298`, `auid=4294967295`).
    pub fn as_dec_u64(&self) -> Option<u64> {
        match *self {
            Value::Bare(b) => parse_dec_u64(b),
            _ => None,
        }
    }

    /// A decimal signed number (`exit=-1`, `oauid=-1`).
    pub fn as_dec_i64(&self) -> Option<i64> {
        match *self {
            Value::Bare(b) => parse_dec_i64(b),
            _ => None,
        }
    }

    /// A hex number without `0x` (`arch=c000003e`, `a0=fffffa3d`).
    /// Encoded-string fields made only of hex digits are accepted too.
    pub fn as_hex_u64(&self) -> Option<u64> {
        match *self {
            Value::Bare(b) | Value::Hex(b) => parse_hex_u64(b),
            _ => None,
        }
    }
}

impl Field<'_> {
    /// True for the upper-case names of the interpreted part of the
    /// `ENRICHED` format (`AUID`, `SYSCALL`, ...).
    pub fn is_interpreted(&self) -> bool {
        self.name.first().is_some_and(|c| c.is_ascii_uppercase())
    }
}

/// Whether field `name` of a record of type `rtype` holds an untrusted
/// string that the kernel (or a user-space writer using
/// `audit_encode_nv_string`) hex-encodes when unsafe.
///
/// The list follows the "encoded" fields of the Linux audit field
/// dictionary plus `EXECVE` arguments (`a0`, `a1[2]`, which in `SYSCALL`
/// records are hex *numbers* instead).
pub fn is_encoded_field(rtype: RecordType, name: &[u8]) -> bool {
    if rtype == RecordType::EXECVE && is_execve_arg_name(name) {
        return true;
    }
    matches!(
        name,
        b"proctitle"
            | b"comm"
            | b"exe"
            | b"cwd"
            | b"name"
            | b"ocomm"
            | b"path"
            | b"data"
            | b"cmd"
            | b"key"
            | b"acct"
            | b"addr"
            | b"apparmor"
            | b"cgroup"
            | b"device"
            | b"dir"
            | b"file"
            | b"grp"
            | b"invalid_context"
            | b"saddr"
            | b"vm"
            | b"watch"
            | b"root_dir"
            | b"new-chardev"
            | b"old-chardev"
            | b"new-disk"
            | b"old-disk"
            | b"new-fs"
            | b"old-fs"
            | b"new-net"
            | b"old-net"
            | b"new-rng"
            | b"old-rng"
    )
}

/// `aN` or `aN[i]` (the argument pieces of an `EXECVE` record).
fn is_execve_arg_name(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b"a") else {
        return false;
    };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    match &rest[digits..] {
        [] => true,
        [b'[', idx @ .., b']'] => !idx.is_empty() && idx.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// Non-empty, even length, hex digits only.
pub(crate) fn is_hex_string(b: &[u8]) -> bool {
    !b.is_empty() && b.len() % 2 == 0 && b.iter().all(u8::is_ascii_hexdigit)
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decode a hex string (`2F62696E` → `/bin`). `None` for odd length or a
/// non-hex digit.
pub fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        out.push((hex_nibble(pair[0])? << 4) | hex_nibble(pair[1])?);
    }
    Some(out)
}

/// Parse an unsigned decimal number (no sign, no spaces, no overflow).
pub fn parse_dec_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b.len() <= 19 {
        // 19 digits cannot overflow a u64: no checked arithmetic (this
        // runs for every stamp and pid of a log).
        let mut v: u64 = 0;
        for &c in b {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + u64::from(d);
        }
        return Some(v);
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Parse a signed decimal number (`-1`, `42`).
pub fn parse_dec_i64(b: &[u8]) -> Option<i64> {
    match b.strip_prefix(b"-") {
        Some(digits) => {
            let v = parse_dec_u64(digits)?;
            if v == 1u64 << 63 {
                Some(i64::MIN)
            } else {
                i64::try_from(v).ok().map(|v| -v)
            }
        }
        None => i64::try_from(parse_dec_u64(b)?).ok(),
    }
}

/// Parse a hex number without `0x` prefix (up to 16 digits).
pub fn parse_hex_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        v = (v << 4) | u64::from(hex_nibble(c)?);
    }
    Some(v)
}

/// Split a decoded `PROCTITLE` value into arguments. The kernel copies the
/// process's argument area (`get_cmdline()`), NUL-separated, and trims
/// trailing NULs; an empty argument in the middle is kept.
pub fn split_proctitle(decoded: &[u8]) -> Vec<Vec<u8>> {
    if decoded.is_empty() {
        return Vec::new();
    }
    decoded.split(|&c| c == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_values() {
        let t = RecordType::SYSCALL;
        assert_eq!(Value::classify(t, b"comm", b"\"sh\""), Value::Str(b"sh"));
        assert_eq!(Value::classify(t, b"key", b"(null)"), Value::Null);
        assert_eq!(Value::classify(t, b"tty", b"(none)"), Value::None);
        assert_eq!(Value::classify(t, b"exe", b"?"), Value::Unknown);
        assert_eq!(
            Value::classify(t, b"comm", b"6120620A"),
            Value::Hex(b"6120620A")
        );
        // a0 is a number in SYSCALL, an encoded string in EXECVE.
        assert_eq!(Value::classify(t, b"a0", b"3e"), Value::Bare(b"3e"));
        assert_eq!(
            Value::classify(RecordType::EXECVE, b"a0", b"3e"),
            Value::Hex(b"3e")
        );
        assert_eq!(
            Value::classify(RecordType::EXECVE, b"a1[3]", b"3e"),
            Value::Hex(b"3e")
        );
        assert_eq!(
            Value::classify(RecordType::EXECVE, b"a1_len", b"30"),
            Value::Bare(b"30")
        );
        // Odd length: cannot be hex-encoded.
        assert_eq!(Value::classify(t, b"comm", b"abc"), Value::Bare(b"abc"));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_dec_u64(b"4294967295"), Some(4294967295));
        assert_eq!(parse_dec_u64(b"99999999999999999999"), None);
        assert_eq!(parse_dec_i64(b"-1"), Some(-1));
        assert_eq!(parse_dec_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_dec_i64(b"-"), None);
        assert_eq!(parse_hex_u64(b"c000003e"), Some(0xc000_003e));
        assert_eq!(parse_hex_u64(b"ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_hex_u64(b"1ffffffffffffffff"), None);
        assert_eq!(parse_hex_u64(b"xyz"), None);
    }

    #[test]
    fn hex_and_proctitle() {
        assert_eq!(decode_hex(b"2F62696E"), Some(b"/bin".to_vec()));
        assert_eq!(decode_hex(b"2F6"), None);
        assert_eq!(decode_hex(b"zz"), None);
        assert_eq!(
            split_proctitle(b"sh\0-c\0\0x"),
            vec![b"sh".to_vec(), b"-c".to_vec(), b"".to_vec(), b"x".to_vec()]
        );
        assert!(split_proctitle(b"").is_empty());
    }
}
