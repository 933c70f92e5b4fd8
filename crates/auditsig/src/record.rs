//! Audit records: one line of auditd's log, or one netlink message.
//!
//! The kernel writes every record as text (`audit_log_start()` puts
//! `audit(<sec>.<msec>:<serial>): ` in front, then `name=value` fields);
//! the record type travels in `nlmsghdr.nlmsg_type` on netlink and as
//! `type=NAME msg=` in front of the same text in auditd's log file and in
//! the string format auditd hands its plugins.
//!
//! The same record reaches logs in other wrappings too: the kernel prints
//! it to its log as `audit: type=1300 audit(...): ...` when no audit
//! daemon listens (numeric types), and syslog puts its own prefix in
//! front (`Dec  1 12:00:00 host kernel: [ 12.345] audit: type=...`,
//! `... audisp-syslog: node=h type=SYSCALL msg=audit(...)`).
//! [`Record::parse_line`] finds the record inside such lines.
//!
//! [`Record`] owns its text and remembers where each field is, so parsing
//! costs one pass and (at most) two allocations, and values are converted
//! only when asked for (see [`crate::value`]).

mod types;

use std::fmt;

use crate::value::{self, Field, Value};

/// Why a line or netlink body is not an audit record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input is empty (or only whitespace / NUL bytes).
    #[error("empty record")]
    Empty,
    /// A log line holds no `type=` (after an optional `node=`) followed
    /// by an `audit(` header.
    #[error("missing `type=`")]
    MissingType,
    /// The record type is empty or not printable. (A well-formed name
    /// this crate does not know, such as `CONTAINER_ID`, is kept: see
    /// [`RecordType::UNKNOWN_NAME`].)
    #[error("unknown record type name {0:?}")]
    BadType(String),
    /// No `audit(` header where it must be.
    #[error("missing `audit(` header")]
    MissingHeader,
    /// The `audit(SEC.MSEC:SERIAL):` stamp is malformed.
    #[error("malformed timestamp/serial in `audit(...)`")]
    BadStamp,
    /// A quoted value has no closing quote.
    #[error("unterminated quoted value at byte {0}")]
    UnterminatedQuote(usize),
    /// The record is longer than this parser accepts (offsets are `u32`).
    #[error("record too long ({0} bytes)")]
    TooLong(usize),
}

/// The record type, `nlmsg_type` of the netlink message (`AUDIT_SYSCALL` =
/// 1300, ...). Unknown numbers are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RecordType(pub u16);

impl RecordType {
    /// The type of a record whose type name is neither in audit.h's list
    /// known here nor numeric (`type=CONTAINER_ID` written by a newer or
    /// patched auditd): the record is kept and its name is
    /// [`Record::type_name`].
    pub const UNKNOWN_NAME: RecordType = RecordType(0);
}

#[allow(missing_docs)] // The names are those of audit.h without `AUDIT_`.
impl RecordType {
    pub const USER: RecordType = RecordType(1005);
    pub const LOGIN: RecordType = RecordType(1006);
    pub const USER_AUTH: RecordType = RecordType(1100);
    pub const USER_ACCT: RecordType = RecordType(1101);
    pub const USER_START: RecordType = RecordType(1105);
    pub const USER_END: RecordType = RecordType(1106);
    pub const USER_CMD: RecordType = RecordType(1123);
    pub const DAEMON_START: RecordType = RecordType(1200);
    pub const DAEMON_END: RecordType = RecordType(1201);
    pub const DAEMON_ABORT: RecordType = RecordType(1202);
    pub const DAEMON_CONFIG: RecordType = RecordType(1203);
    pub const DAEMON_ROTATE: RecordType = RecordType(1205);
    pub const SYSCALL: RecordType = RecordType(1300);
    pub const PATH: RecordType = RecordType(1302);
    pub const CONFIG_CHANGE: RecordType = RecordType(1305);
    pub const SOCKADDR: RecordType = RecordType(1306);
    pub const CWD: RecordType = RecordType(1307);
    pub const EXECVE: RecordType = RecordType(1309);
    pub const OBJ_PID: RecordType = RecordType(1318);
    pub const EOE: RecordType = RecordType(1320);
    pub const PROCTITLE: RecordType = RecordType(1327);
    pub const BPF: RecordType = RecordType(1334);
    pub const AVC: RecordType = RecordType(1400);
    pub const MAC_UNLBL_ALLOW: RecordType = RecordType(1406);
    pub const MAC_CALIPSO_DEL: RecordType = RecordType(1419);
    pub const ANOM_PROMISCUOUS: RecordType = RecordType(1700);
    pub const ANOM_ABEND: RecordType = RecordType(1701);
    pub const KERNEL: RecordType = RecordType(2000);
}

impl RecordType {
    /// The audit.h name without `AUDIT_` (`"SYSCALL"`), if known.
    pub fn name(self) -> Option<&'static str> {
        types::TYPE_NAMES
            .binary_search_by_key(&self.0, |&(n, _)| n)
            .ok()
            .map(|i| types::TYPE_NAMES[i].1)
    }

    /// The type for a name as auditd writes it: a known name (`SYSCALL`),
    /// `UNKNOWN[1334]` for numbers auditd has no name for, or a plain
    /// number.
    pub fn from_name(name: &[u8]) -> Option<RecordType> {
        // The records of kill events first: this runs for every log line.
        let fast = match name {
            b"SYSCALL" => Some(Self::SYSCALL),
            b"PROCTITLE" => Some(Self::PROCTITLE),
            b"OBJ_PID" => Some(Self::OBJ_PID),
            b"EOE" => Some(Self::EOE),
            b"PATH" => Some(Self::PATH),
            b"CWD" => Some(Self::CWD),
            b"EXECVE" => Some(Self::EXECVE),
            _ => None,
        };
        if fast.is_some() {
            return fast;
        }
        if let Some(num) = name
            .strip_prefix(b"UNKNOWN[")
            .and_then(|r| r.strip_suffix(b"]"))
        {
            return parse_u16(num).map(RecordType);
        }
        if name.first().is_some_and(u8::is_ascii_digit) {
            return parse_u16(name).map(RecordType);
        }
        // By name: a hash lookup (this runs for every line of a log,
        // most of which are other types than the fast ones above).
        static BY_NAME: std::sync::OnceLock<std::collections::HashMap<&'static [u8], u16>> =
            std::sync::OnceLock::new();
        BY_NAME
            .get_or_init(|| {
                types::TYPE_NAMES
                    .iter()
                    .map(|&(n, s)| (s.as_bytes(), n))
                    .collect()
            })
            .get(name)
            .map(|&v| RecordType(v))
    }

    /// True for record types that form an event on their own, never
    /// followed by more records or an `EOE` for the same serial.
    ///
    /// This mirrors auditd/auparse (`audit_is_last_record()` and the
    /// `ausearch` event grouping): control and user-space messages
    /// (below 1300 except `AUDIT_USER`/`LOGIN`, which the kernel
    /// may emit inside a syscall), the anomaly/integrity/user ranges from
    /// 1700 on, `AUDIT_KERNEL`, and the NetLabel configuration messages.
    pub fn is_single_record_event(self) -> bool {
        let t = self.0;
        (t > Self::LOGIN.0 && t < Self::SYSCALL.0)
            || t == Self::USER.0
            || t >= Self::ANOM_PROMISCUOUS.0
            || t == Self::KERNEL.0
            || (Self::MAC_UNLBL_ALLOW.0..=Self::MAC_CALIPSO_DEL.0).contains(&t)
    }

    /// True for the record the kernel writes last before `EOE` in a
    /// syscall event (`audit_log_exit()` ends with `audit_log_proctitle()`),
    /// which is how an event in a log file without `EOE` records is known
    /// to be complete.
    pub fn is_last_of_syscall_event(self) -> bool {
        self == Self::PROCTITLE || self == Self::EOE
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "UNKNOWN[{}]", self.0),
        }
    }
}

fn parse_u16(b: &[u8]) -> Option<u16> {
    value::parse_dec_u64(b).and_then(|v| u16::try_from(v).ok())
}

/// `audit(<sec>.<msec>:<serial>)`: the identity of an event. All records
/// of one event carry the same stamp (`audit_context.stamp` in the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stamp {
    /// Seconds since the epoch (`ctime.tv_sec`).
    pub sec: u64,
    /// Milliseconds (`ctime.tv_nsec / 1000000`).
    pub msec: u32,
    /// The event serial (`audit_context.serial`), unique per boot until
    /// it wraps.
    pub serial: u64,
}

impl Stamp {
    /// The time in milliseconds since the epoch.
    pub fn millis(&self) -> u64 {
        self.sec
            .saturating_mul(1000)
            .saturating_add(u64::from(self.msec))
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}:{}", self.sec, self.msec, self.serial)
    }
}

/// Where one field is in [`Record::text`]: name and raw value (quotes
/// included) as byte ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    name: u32,
    name_len: u32,
    value: u32,
    value_len: u32,
}

/// One audit record.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    rtype: RecordType,
    stamp: Stamp,
    /// The input as given (the whole log line or netlink body).
    text: Vec<u8>,
    /// `node=NAME` prefix of auditd's log (`name_format`), as a range.
    node: Option<(u32, u32)>,
    /// The type name as written, for [`RecordType::UNKNOWN_NAME`].
    type_name: Option<(u32, u32)>,
    fields: Vec<Span>,
    /// Index in `fields` where the interpreted (`ENRICHED`, after `\x1d`)
    /// fields start; `fields.len()` when there are none.
    interpreted_from: usize,
    enriched: bool,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("type", &self.rtype)
            .field("stamp", &self.stamp)
            .field("text", &String::from_utf8_lossy(&self.text))
            .finish()
    }
}

/// The separator auditd's `ENRICHED` format puts between the raw record
/// and its interpretation (`AUDIT_INTERP_SEPARATOR`).
pub const INTERP_SEPARATOR: u8 = 0x1d;

impl Record {
    /// Parse one line of an auditd log file or of the auditd plugin
    /// string format: `[node=N ]type=NAME msg=audit(S.M:N): fields`
    /// (a trailing newline is ignored). Also accepts `type=<number>
    /// audit(...)`, as netlink records are often dumped.
    pub fn parse_line(line: &[u8]) -> Result<Record, ParseError> {
        Record::parse_line_owned(line.to_vec())
    }

    /// [`Record::parse_line`] taking ownership of the buffer (no copy).
    pub fn parse_line_owned(mut text: Vec<u8>) -> Result<Record, ParseError> {
        let mut end = trimmed_len(&text);
        if end == 0 {
            return Err(ParseError::Empty);
        }
        check_len(end)?;
        if !text.starts_with(b"type=") && !text.starts_with(b"node=") {
            // A kernel-log or syslog line: the record follows a prefix.
            let start = find_record_start(&text[..end]).ok_or(ParseError::MissingType)?;
            text.drain(..start);
            end -= start;
        }
        let mut pos = 0;
        let mut node = None;
        if text.starts_with(b"node=") {
            let start = 5;
            let stop = find_byte(&text[..end], b' ', start).ok_or(ParseError::MissingType)?;
            node = Some((start as u32, (stop - start) as u32));
            pos = stop + 1;
        }
        if !text[pos..end].starts_with(b"type=") {
            return Err(ParseError::MissingType);
        }
        pos += 5;
        let stop = find_byte(&text[..end], b' ', pos).ok_or(ParseError::MissingHeader)?;
        let name = &text[pos..stop];
        let mut type_name = None;
        let rtype = match RecordType::from_name(name) {
            Some(t) => t,
            None if is_type_name(name) => {
                type_name = Some((pos as u32, (stop - pos) as u32));
                RecordType::UNKNOWN_NAME
            }
            None => {
                return Err(ParseError::BadType(
                    String::from_utf8_lossy(name).into_owned(),
                ))
            }
        };
        pos = stop + 1;
        if text[pos..end].starts_with(b"msg=") {
            pos += 4;
        }
        let mut r = Record::parse_rest(rtype, text, pos, end, node)?;
        r.type_name = type_name;
        Ok(r)
    }

    /// Build a record from a netlink message: the type from
    /// `nlmsghdr.nlmsg_type`, the body `audit(S.M:N): fields` (trailing
    /// NUL bytes and newlines, which some kernels count in `nlmsg_len`,
    /// are ignored).
    pub fn from_netlink(msg_type: u16, body: &[u8]) -> Result<Record, ParseError> {
        Record::from_netlink_owned(msg_type, body.to_vec())
    }

    /// [`Record::from_netlink`] taking ownership of the body (no copy).
    pub fn from_netlink_owned(msg_type: u16, body: Vec<u8>) -> Result<Record, ParseError> {
        let end = trimmed_len(&body);
        if end == 0 {
            return Err(ParseError::Empty);
        }
        check_len(end)?;
        Record::parse_rest(RecordType(msg_type), body, 0, end, None)
    }

    /// Parse `audit(S.M:N): fields` starting at `pos`.
    fn parse_rest(
        rtype: RecordType,
        text: Vec<u8>,
        pos: usize,
        end: usize,
        node: Option<(u32, u32)>,
    ) -> Result<Record, ParseError> {
        let (stamp, mut pos) = parse_stamp(&text[..end], pos)?;
        let t = &text[..end];
        let mut fields = Vec::with_capacity((end - pos) / 10 + 1);
        let mut interpreted_from = None;
        loop {
            while pos < end && t[pos] == b' ' {
                pos += 1;
            }
            if pos >= end {
                break;
            }
            if t[pos] == INTERP_SEPARATOR {
                if interpreted_from.is_none() {
                    interpreted_from = Some(fields.len());
                }
                pos += 1;
                continue;
            }
            let name_start = pos;
            while pos < end && !matches!(t[pos], b'=' | b' ' | INTERP_SEPARATOR) {
                pos += 1;
            }
            let name_len = pos - name_start;
            if pos >= end || t[pos] != b'=' {
                // A token without `=` (`avc:  denied  { read } for ...`):
                // kept as a field with an empty value.
                fields.push(Span {
                    name: name_start as u32,
                    name_len: name_len as u32,
                    value: pos as u32,
                    value_len: 0,
                });
                continue;
            }
            pos += 1; // '='
            let value_start = pos;
            let close = match t.get(pos) {
                Some(b'"') => Some(b'"'),
                Some(b'\'') => Some(b'\''),
                Some(b'{') => Some(b'}'),
                _ => None,
            };
            match close {
                Some(c) => {
                    let stop = find_byte(t, c, pos + 1)
                        .ok_or(ParseError::UnterminatedQuote(value_start))?;
                    pos = stop + 1;
                }
                None => {
                    while pos < end && t[pos] != b' ' && t[pos] != INTERP_SEPARATOR {
                        pos += 1;
                    }
                }
            }
            fields.push(Span {
                name: name_start as u32,
                name_len: name_len as u32,
                value: value_start as u32,
                value_len: (pos - value_start) as u32,
            });
        }
        let enriched = interpreted_from.is_some();
        Ok(Record {
            rtype,
            stamp,
            interpreted_from: interpreted_from.unwrap_or(fields.len()),
            enriched,
            text,
            node,
            type_name: None,
            fields,
        })
    }

    /// The record type.
    pub fn record_type(&self) -> RecordType {
        self.rtype
    }

    /// The event stamp (time and serial).
    pub fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// The text the record was parsed from.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The type name as the line wrote it (`SYSCALL`, `CONTAINER_ID`),
    /// `None` for a known type given by number (`type=1300`, netlink).
    pub fn type_name(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self.type_name {
            Some((s, l)) => Some(String::from_utf8_lossy(
                &self.text[s as usize..(s + l) as usize],
            )),
            None => self.rtype.name().map(std::borrow::Cow::Borrowed),
        }
    }

    /// The `node=` name auditd put in front of the line, if any.
    pub fn node(&self) -> Option<&[u8]> {
        self.node
            .map(|(s, l)| &self.text[s as usize..(s + l) as usize])
    }

    /// True when the record carries an `ENRICHED` interpreted part.
    pub fn is_enriched(&self) -> bool {
        self.enriched
    }

    fn field_at(&self, s: &Span) -> Field<'_> {
        let name = &self.text[s.name as usize..(s.name + s.name_len) as usize];
        let raw = &self.text[s.value as usize..(s.value + s.value_len) as usize];
        Field {
            name,
            value: Value::classify(self.rtype, name, raw),
        }
    }

    /// The raw fields, in order (without the interpreted part). Unknown
    /// fields are kept.
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        self.fields[..self.interpreted_from]
            .iter()
            .map(move |s| self.field_at(s))
    }

    /// The fields of the `ENRICHED` interpreted part (`AUID="unset"`,
    /// `SYSCALL=kill`, ...), in order; empty for raw records.
    pub fn interpreted(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        self.fields[self.interpreted_from..]
            .iter()
            .map(move |s| self.field_at(s))
    }

    /// The raw fields as `(name, value text)` with quotes kept and no
    /// classification: the cheapest way to scan a record.
    pub fn raw_fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields[..self.interpreted_from].iter().map(move |s| {
            (
                &self.text[s.name as usize..(s.name + s.name_len) as usize],
                &self.text[s.value as usize..(s.value + s.value_len) as usize],
            )
        })
    }

    /// The value of the first raw field called `name`.
    pub fn get(&self, name: &str) -> Option<Value<'_>> {
        let name = name.as_bytes();
        self.fields[..self.interpreted_from]
            .iter()
            .find(|s| &self.text[s.name as usize..(s.name + s.name_len) as usize] == name)
            .map(|s| self.field_at(s).value)
    }

    /// The value of the first interpreted field called `name` (upper case,
    /// e.g. `"AUID"`).
    pub fn get_interpreted(&self, name: &str) -> Option<Value<'_>> {
        let name = name.as_bytes();
        self.fields[self.interpreted_from..]
            .iter()
            .find(|s| &self.text[s.name as usize..(s.name + s.name_len) as usize] == name)
            .map(|s| self.field_at(s).value)
    }

    /// Number of raw fields.
    pub fn field_count(&self) -> usize {
        self.interpreted_from
    }
}

impl TryFrom<crate::netlink::NetlinkRecord> for Record {
    type Error = ParseError;

    /// [`Record::from_netlink_owned`] on a record read from an audit
    /// netlink socket (no copy).
    fn try_from(r: crate::netlink::NetlinkRecord) -> Result<Record, ParseError> {
        Record::from_netlink_owned(r.msg_type, r.body)
    }
}

/// A type name auditd could have written: upper-case letters, digits and
/// `_`, at most 64 bytes.
fn is_type_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// Where the record starts in a line with a foreign prefix (kernel log,
/// syslog): the first `type=NAME` at a token start whose next token is
/// `msg=audit(` or `audit(`, or the `node=` token just before it.
fn find_record_start(t: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = find_sub(t, b"type=", from) {
        from = at + 5;
        if at > 0 && !matches!(t[at - 1], b' ' | b'\t' | b';' | b':') {
            continue;
        }
        let sp = find_byte(t, b' ', at + 5)?;
        let rest = &t[sp + 1..];
        if !(rest.starts_with(b"msg=audit(") || rest.starts_with(b"audit(")) {
            continue;
        }
        // `node=NAME ` right before?
        let before = &t[..at];
        let trimmed = before.strip_suffix(b" ").unwrap_or(before);
        let tok_start = trimmed
            .iter()
            .rposition(|&c| c == b' ' || c == b'\t' || c == b';' || c == b':')
            .map_or(0, |i| i + 1);
        if trimmed.len() < before.len() && trimmed[tok_start..].starts_with(b"node=") {
            return Some(tok_start);
        }
        return Some(at);
    }
    None
}

fn find_sub(t: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    t.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Length without trailing `\n`, `\r` and NUL bytes.
fn trimmed_len(b: &[u8]) -> usize {
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    end
}

fn check_len(len: usize) -> Result<(), ParseError> {
    if len > u32::MAX as usize / 2 {
        Err(ParseError::TooLong(len))
    } else {
        Ok(())
    }
}

fn find_byte(t: &[u8], c: u8, from: usize) -> Option<usize> {
    memchr::memchr(c, t.get(from..)?).map(|i| i + from)
}

/// The latest second a stamp may name: its time in nanoseconds since the
/// epoch still fits a `u64` (2554-07-21).
pub const MAX_STAMP_SEC: u64 = u64::MAX / 1_000_000_000 - 1;

/// Parse `audit(S.M:N):` at `pos`; returns the stamp and the position after
/// `):`.
fn parse_stamp(t: &[u8], pos: usize) -> Result<(Stamp, usize), ParseError> {
    let rest = t.get(pos..).ok_or(ParseError::MissingHeader)?;
    let rest = rest
        .strip_prefix(b"audit(")
        .ok_or(ParseError::MissingHeader)?;
    let close = rest
        .iter()
        .position(|&c| c == b')')
        .ok_or(ParseError::BadStamp)?;
    let inner = &rest[..close];
    let dot = inner
        .iter()
        .position(|&c| c == b'.')
        .ok_or(ParseError::BadStamp)?;
    let colon = inner
        .iter()
        .position(|&c| c == b':')
        .ok_or(ParseError::BadStamp)?;
    if colon < dot {
        return Err(ParseError::BadStamp);
    }
    let sec = value::parse_dec_u64(&inner[..dot]).ok_or(ParseError::BadStamp)?;
    // A time the reports' nanoseconds cannot hold (after 2554) is no
    // kernel's: refused, not shown as some invented date.
    if sec > MAX_STAMP_SEC {
        return Err(ParseError::BadStamp);
    }
    // The kernel writes three digits (`%03lu`); fewer are read as a
    // number of milliseconds, as auditd's own parser (`strtoul` in
    // ausearch) reads them: `.5` is 5 ms there and here.
    let msec_digits = &inner[dot + 1..colon];
    if msec_digits.len() > 3 {
        return Err(ParseError::BadStamp);
    }
    let msec = value::parse_dec_u64(msec_digits).ok_or(ParseError::BadStamp)? as u32;
    let serial = value::parse_dec_u64(&inner[colon + 1..]).ok_or(ParseError::BadStamp)?;
    let after = &rest[close + 1..];
    if after.first() != Some(&b':') {
        return Err(ParseError::BadStamp);
    }
    // pos + "audit(" + inner + ")" + ":"
    let next = pos + 6 + close + 2;
    Ok((Stamp { sec, msec, serial }, next))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(RecordType(1300).name(), Some("SYSCALL"));
        assert_eq!(RecordType(1318).name(), Some("OBJ_PID"));
        assert_eq!(RecordType(2000).name(), Some("KERNEL"));
        assert_eq!(RecordType(9999).name(), None);
        assert_eq!(RecordType(9999).to_string(), "UNKNOWN[9999]");
        assert_eq!(
            RecordType::from_name(b"UNKNOWN[1334]"),
            Some(RecordType(1334))
        );
        assert_eq!(
            RecordType::from_name(b"DAEMON_START"),
            Some(RecordType::DAEMON_START)
        );
        assert_eq!(RecordType::from_name(b"1320"), Some(RecordType::EOE));
        assert_eq!(RecordType::from_name(b"NOPE"), None);
        assert_eq!(RecordType::from_name(b"UNKNOWN[99999]"), None);
        for &(n, name) in types::TYPE_NAMES {
            assert_eq!(RecordType::from_name(name.as_bytes()), Some(RecordType(n)));
        }
        assert!(types::TYPE_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn single_record_types() {
        for t in [1100u16, 1123, 1200, 1201, 1005, 1700, 2000, 2100, 1406] {
            assert!(RecordType(t).is_single_record_event(), "{t}");
        }
        for t in [1006u16, 1300, 1302, 1318, 1320, 1327, 1305, 1400] {
            assert!(!RecordType(t).is_single_record_event(), "{t}");
        }
    }

    #[test]
    fn kernel_log_and_syslog_wrapped_lines() {
        for (line, node) in [
            (&b"audit: type=1300 audit(1795667968.504:23): pid=5 comm=\"sh\""[..], None),
            (b"[  12.345678] audit: type=1300 audit(1795667968.504:23): pid=5 comm=\"sh\"", None),
            (b"6,1234,5678901,-;audit: type=1300 audit(1795667968.504:23): pid=5 comm=\"sh\"", None),
            (b"Dec  1 12:00:00 web1 kernel: [ 1.2] audit: type=1300 audit(1795667968.504:23): pid=5 comm=\"sh\"", None),
            (b"Dec  1 12:00:00 web1 audisp-syslog: type=SYSCALL msg=audit(1795667968.504:23): pid=5 comm=\"sh\"", None),
            (b"<13>1 2026-12-01T12:00:00Z web1 audisp-syslog - - - node=web1 type=SYSCALL msg=audit(1795667968.504:23): pid=5 comm=\"sh\"", Some(&b"web1"[..])),
        ] {
            let r = Record::parse_line(line).unwrap();
            assert_eq!(r.record_type(), RecordType::SYSCALL);
            assert_eq!(r.stamp().serial, 23);
            assert_eq!(r.get("pid").and_then(|v| v.as_dec_u64()), Some(5));
            assert_eq!(r.node(), node);
        }
        // A syslog line that only mentions `type=` is not a record.
        for bad in [
            &b"Dec  1 12:00:00 web1 kernel: audit: audit_lost=5 type=x"[..],
            b"Dec  1 12:00:00 web1 sshd[1]: Accepted publickey for root",
            b"audit: backlog limit exceeded",
        ] {
            assert!(
                Record::parse_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn unknown_type_names_are_kept() {
        let r = Record::parse_line(
            b"type=CONTAINER_ID msg=audit(1603291876.655:6731): contid=3333941723245477888",
        )
        .unwrap();
        assert_eq!(r.record_type(), RecordType::UNKNOWN_NAME);
        assert_eq!(r.type_name().as_deref(), Some("CONTAINER_ID"));
        assert_eq!(
            r.get("contid").and_then(|v| v.as_dec_u64()),
            Some(3333941723245477888)
        );
        let r = Record::parse_line(b"type=UNKNOWN[1339] msg=audit(1.000:1): x=1").unwrap();
        assert_eq!(r.record_type(), RecordType(1339));
        let r = Record::parse_line(b"type=1300 audit(1.000:1): x=1").unwrap();
        assert_eq!(r.type_name().as_deref(), Some("SYSCALL"));
        // Not a name auditd writes.
        assert!(Record::parse_line(b"type=sys\x01call msg=audit(1.000:1): x").is_err());
    }

    #[test]
    fn stamp() {
        let (s, next) = parse_stamp(b"audit(1795667968.504:23): x", 0).unwrap();
        assert_eq!(
            s,
            Stamp {
                sec: 1795667968,
                msec: 504,
                serial: 23
            }
        );
        assert_eq!(next, 25);
        assert_eq!(s.to_string(), "1795667968.504:23");
        // Fewer than three digits are milliseconds, as ausearch reads them.
        let (short, _) = parse_stamp(b"audit(1795667992.5:2): ", 0).unwrap();
        assert_eq!(short.msec, 5);
        let (last, _) = parse_stamp(b"audit(18446744072.999:1): ", 0).unwrap();
        assert_eq!(last.sec, MAX_STAMP_SEC);
        for bad in [
            &b"audit(1.2)"[..],
            b"audit(1:2.3):",
            b"audit(a.1:2):",
            b"audit(1.1234:2):",
            b"audit(1.1:2)",
            b"audit(1.1:2",
            b"audt(1.1:2):",
            // Beyond what nanoseconds since the epoch can hold.
            b"audit(18446744073709551615.999:2):",
            b"audit(9999999999999.000:3):",
        ] {
            assert!(
                parse_stamp(bad, 0).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
