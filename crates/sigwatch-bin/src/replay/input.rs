//! Where audit records are found, recognised by content: auditd logs (RAW
//! and ENRICHED, with or without `node=`), `ausearch` output (records of an
//! event in reverse order between `----` lines), the kernel log and
//! syslog (`audit: type=1300 audit(...): ...` behind a prefix), and the
//! journal (`journalctl -o json` lines and the `-o export` stream of
//! `_TRANSPORT=audit` entries). Pure functions over bytes; the files and
//! `journalctl` are read in [`super::files`].

use std::collections::HashMap;
use std::io::{self, BufRead, Read};

use auditsig::{Record, RecordType};

/// Lines (and journal fields) longer than this are skipped and counted.
pub const MAX_LINE: usize = 1 << 20;

/// What one line (or journal entry) is.
#[derive(Debug)]
pub enum Item {
    /// An audit record.
    Record(Record),
    /// The end of an event (`----` in ausearch output).
    Boundary,
    /// Nothing for a replay (counted in [`InputStats`] where it matters).
    Skip,
}

/// What the input held, including everything skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InputStats {
    /// Lines or journal entries read.
    pub lines: u64,
    /// Audit records parsed.
    pub records: u64,
    /// Records of types a replay does not use (`PATH`, `AVC`, `USER_*`,
    /// ...), recognised by their type and not parsed further.
    pub unused_records: u64,
    /// Lines that look like audit records but do not parse.
    pub unparsable: u64,
    /// Lines longer than [`MAX_LINE`] (skipped).
    pub oversized: u64,
    /// Lines of a kernel log, syslog or journal that are not audit records.
    pub not_audit: u64,
    /// `ausearch` framing lines (`----`, `time->...`).
    pub framing: u64,
    /// Records as `ausearch -i` prints them (interpreted: a date in the
    /// stamp, names for numbers, `arch=x86_64`): the raw values a replay
    /// needs are gone (`ausearch --raw` keeps them).
    pub interpreted: u64,
    /// Inputs that could not be read to their end (cut short, damaged,
    /// a read error): what was read before is used, the rest is not.
    pub broken: u64,
}

/// Why an input could not be read to its end, in words a user can act
/// on (rather than the decoder's bare io error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The input ends inside a unit that needs an end: a gzip stream
    /// without its end (a copy cut by `head -c`, a file still being
    /// compressed), a journal export entry without its closing empty
    /// line.
    #[error("cut short ({0})")]
    CutShort(&'static str),
    /// The input's structure is broken (a corrupt gzip stream).
    #[error("damaged ({0})")]
    Damaged(String),
    /// The file, pipe or program it comes from failed.
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// The file could not be opened when its turn came (it was checked
    /// before the replay started: it went away since).
    #[error("cannot be opened: {0}")]
    Open(io::Error),
    /// The program it comes from (`journalctl`) failed.
    #[error("{0}")]
    Source(String),
}

impl ReadError {
    /// What `journalctl -o export` output cut inside an entry is.
    const EXPORT_CUT: ReadError = ReadError::CutShort("incomplete journal export entry");
}

/// The record types a replay reads: the caller of every syscall (for the
/// process history), the kill's targets and argv, and the end markers.
fn used_type(t: RecordType) -> bool {
    matches!(
        t,
        RecordType::SYSCALL
            | RecordType::OBJ_PID
            | RecordType::PROCTITLE
            | RecordType::EXECVE
            | RecordType::CWD
            | RecordType::EOE
            | RecordType::UNKNOWN_NAME
    )
}

/// The type token of a line in auditd's format (`[node=N ]type=NAME ...`),
/// without parsing the rest.
fn type_token(line: &[u8]) -> Option<&[u8]> {
    let mut rest = line;
    if let Some(r) = rest.strip_prefix(b"node=") {
        let sp = r.iter().position(|&c| c == b' ')?;
        rest = &r[sp + 1..];
    }
    let r = rest.strip_prefix(b"type=")?;
    let sp = r.iter().position(|&c| c == b' ')?;
    Some(&r[..sp])
}

/// Classifies and parses one line. Never panics.
pub fn classify_line(line: &[u8], stats: &mut InputStats) -> Item {
    stats.lines += 1;
    if line.len() > MAX_LINE {
        stats.oversized += 1;
        return Item::Skip;
    }
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let line = &line[..end];
    if line.iter().all(|c| c.is_ascii_whitespace() || *c == 0) {
        return Item::Skip;
    }
    if line.starts_with(b"----") {
        stats.framing += 1;
        return Item::Boundary;
    }
    if line.starts_with(b"time->") {
        stats.framing += 1;
        return Item::Skip;
    }
    if line.first() == Some(&b'{') {
        return match journal_json_record(line) {
            JournalEntry::Audit(r) => {
                stats.records += 1;
                Item::Record(r)
            }
            JournalEntry::Other => {
                stats.not_audit += 1;
                Item::Skip
            }
            JournalEntry::Malformed => {
                stats.unparsable += 1;
                Item::Skip
            }
        };
    }
    if let Some(name) = type_token(line) {
        // auditd's own format: skip unused types before parsing fields.
        if let Some(t) = RecordType::from_name(name) {
            if !used_type(t) {
                stats.unused_records += 1;
                return Item::Skip;
            }
        }
        // A replay reads no ENRICHED interpretation (`\x1d` and after:
        // `ARCH=x86_64 SYSCALL=kill AUID="root" ...`): not parsing it saves
        // a third of a `SYSCALL` line. The kernel hex-encodes any value
        // with a control byte, so a `\x1d` is never inside a raw value.
        let raw = match memchr::memchr(auditsig::record::INTERP_SEPARATOR, line) {
            Some(i) => &line[..i],
            None => line,
        };
        return parse(raw, stats);
    }
    if contains(line, b"type=") && contains(line, b"audit(") {
        return parse(line, stats);
    }
    stats.not_audit += 1;
    Item::Skip
}

fn parse(line: &[u8], stats: &mut InputStats) -> Item {
    match Record::parse_line(line) {
        Ok(r) if used_type(r.record_type()) => {
            stats.records += 1;
            Item::Record(r)
        }
        Ok(_) => {
            stats.unused_records += 1;
            Item::Skip
        }
        Err(_) if interpreted_stamp(line) => {
            stats.interpreted += 1;
            Item::Skip
        }
        Err(e) => {
            log::debug!("unparsable audit line: {e}");
            stats.unparsable += 1;
            Item::Skip
        }
    }
}

/// Whether the record's stamp is a date (`msg=audit(11/26/26
/// 04:39:28.504:23)`, as `ausearch -i` prints it) rather than epoch
/// seconds.
fn interpreted_stamp(line: &[u8]) -> bool {
    const STAMP: &[u8] = b"msg=audit(";
    memchr::memmem::find(line, STAMP)
        .and_then(|i| line.get(i + STAMP.len()..i + STAMP.len() + 3))
        .is_some_and(|d| d[0].is_ascii_digit() && d[1].is_ascii_digit() && d[2] == b'/')
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

/// The journal fields an audit record is rebuilt from.
#[derive(Debug, Default)]
struct JournalAudit {
    transport_audit: bool,
    rtype: Option<u16>,
    id: Option<u64>,
    usec: Option<u64>,
    message: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
}

impl JournalAudit {
    fn set(&mut self, key: &[u8], value: Vec<u8>) {
        let num = |v: &[u8]| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok();
        match key {
            b"_TRANSPORT" => self.transport_audit = value == b"audit",
            b"_AUDIT_TYPE" => self.rtype = num(&value).and_then(|v| u16::try_from(v).ok()),
            b"_AUDIT_ID" => self.id = num(&value),
            b"_SOURCE_REALTIME_TIMESTAMP" => self.usec = num(&value),
            b"MESSAGE" => self.message = Some(value),
            b"_HOSTNAME" => self.host = Some(value),
            _ => {}
        }
    }

    /// journald stores `MESSAGE=<TYPE NAME> <fields>` with the stamp split
    /// into `_SOURCE_REALTIME_TIMESTAMP` (sec·10⁶ + msec·10³) and
    /// `_AUDIT_ID` (`process_audit_string()` in `journald-audit.c`): put
    /// the record back together as auditd would write it.
    fn record(self) -> Result<Option<Record>, ()> {
        if !self.transport_audit {
            return Ok(None);
        }
        let (Some(t), Some(id), Some(usec), Some(msg)) =
            (self.rtype, self.id, self.usec, self.message)
        else {
            return Err(());
        };
        let body = match msg.iter().position(|&c| c == b' ') {
            Some(i) => &msg[i + 1..],
            None => &[][..],
        };
        let mut line = Vec::with_capacity(body.len() + 64);
        if let Some(h) = self.host.filter(|h| !h.is_empty() && !h.contains(&b' ')) {
            line.extend_from_slice(b"node=");
            line.extend_from_slice(&h);
            line.push(b' ');
        }
        let sec = usec / 1_000_000;
        let msec = (usec % 1_000_000) / 1_000;
        line.extend_from_slice(format!("type={t} msg=audit({sec}.{msec:03}:{id}): ").as_bytes());
        line.extend_from_slice(body);
        Record::parse_line_owned(line).map(Some).map_err(|_| ())
    }
}

/// What a journal entry is to a replay.
#[derive(Debug)]
pub enum JournalEntry {
    /// An audit record (`_TRANSPORT=audit`).
    Audit(Record),
    /// An entry of another transport.
    Other,
    /// Not a journal entry, or an audit entry without its fields.
    Malformed,
}

/// One `journalctl -o json` line. journalctl writes fields that are not
/// valid UTF-8 as arrays of byte values.
pub fn journal_json_record(line: &[u8]) -> JournalEntry {
    match journal_json(line) {
        Ok(Some(r)) => JournalEntry::Audit(r),
        Ok(None) => JournalEntry::Other,
        Err(()) => JournalEntry::Malformed,
    }
}

fn journal_json(line: &[u8]) -> Result<Option<Record>, ()> {
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).map_err(|_| ())?;
    let mut j = JournalAudit::default();
    for (k, val) in v {
        let bytes = match val {
            serde_json::Value::String(s) => s.into_bytes(),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()
                .ok_or(())?,
            serde_json::Value::Number(n) => n.to_string().into_bytes(),
            _ => continue,
        };
        j.set(k.as_bytes(), bytes);
    }
    j.record()
}

/// Reads the `journalctl -o export` stream: entries of `KEY=value` lines
/// (or `KEY`, a 64-bit little-endian length and that many bytes for
/// binary values) ended by an empty line.
#[derive(Debug)]
pub struct ExportReader<R> {
    reader: R,
    line: Vec<u8>,
}

impl<R: BufRead> ExportReader<R> {
    /// Reads entries from `reader`.
    pub fn new(reader: R) -> Self {
        ExportReader {
            reader,
            line: Vec::new(),
        }
    }

    /// The next entry as an [`Item`]; `Ok(None)` at the end.
    ///
    /// journalctl ends every entry with an empty line: an entry the
    /// stream ends in without one is cut (its last value may be cut in
    /// the middle), so it is not used and the stream is reported cut
    /// short.
    ///
    /// # Errors
    ///
    /// [`ReadError::CutShort`] for a stream that ends inside an entry,
    /// [`ReadError::Io`] for read errors of the underlying reader.
    pub fn next_item(&mut self, stats: &mut InputStats) -> Result<Option<Item>, ReadError> {
        let mut j = JournalAudit::default();
        let mut any = false;
        let mut bad = false;
        let eof = |e: io::Error| match e.kind() {
            io::ErrorKind::UnexpectedEof => ReadError::EXPORT_CUT,
            _ => ReadError::Io(e),
        };
        loop {
            self.line.clear();
            let n = self
                .reader
                .by_ref()
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.line)?;
            if n == 0 {
                if !any {
                    return Ok(None);
                }
                return Err(ReadError::EXPORT_CUT);
            }
            if self.line == b"\n" {
                if any {
                    break;
                }
                continue;
            }
            any = true;
            if self.line.len() > MAX_LINE {
                bad = true;
                skip_line(&mut self.reader)?;
                continue;
            }
            if self.line.last() != Some(&b'\n') {
                // The stream ended inside this field.
                return Err(ReadError::EXPORT_CUT);
            }
            let l = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            match l.iter().position(|&c| c == b'=') {
                Some(eq) => {
                    let (k, v) = (l[..eq].to_vec(), l[eq + 1..].to_vec());
                    j.set(&k, v);
                }
                None => {
                    let key = l.to_vec();
                    let mut len = [0u8; 8];
                    self.reader.read_exact(&mut len).map_err(eof)?;
                    let len = u64::from_le_bytes(len);
                    if len > MAX_LINE as u64 {
                        bad = true;
                        let want = len.saturating_add(1);
                        let got = io::copy(&mut self.reader.by_ref().take(want), &mut io::sink())?;
                        if got < want {
                            return Err(ReadError::EXPORT_CUT);
                        }
                        continue;
                    }
                    let mut v = vec![0u8; len as usize];
                    self.reader.read_exact(&mut v).map_err(eof)?;
                    let mut nl = [0u8; 1];
                    self.reader.read_exact(&mut nl).map_err(eof)?;
                    j.set(&key, v);
                }
            }
        }
        stats.lines += 1;
        if bad {
            stats.oversized += 1;
            return Ok(Some(Item::Skip));
        }
        Ok(Some(match j.record() {
            Ok(Some(r)) => {
                stats.records += 1;
                Item::Record(r)
            }
            Ok(None) => {
                stats.not_audit += 1;
                Item::Skip
            }
            Err(()) => {
                stats.unparsable += 1;
                Item::Skip
            }
        }))
    }
}

fn skip_line<R: BufRead>(r: &mut R) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r
            .by_ref()
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() == Some(&b'\n') {
            return Ok(());
        }
    }
}

/// Whether `head` (the first bytes of an input) is the journal's export
/// format: it starts with the journal's own `__` fields.
pub fn looks_like_export(head: &[u8]) -> bool {
    head.starts_with(b"__CURSOR=")
        || head.starts_with(b"__REALTIME_TIMESTAMP=")
        || head.starts_with(b"__SEQNUM=")
}

/// All items of `data` read as the export format (for fuzzing and tests);
/// a stream that ends inside an entry is counted in
/// [`InputStats::broken`], its complete entries are used.
pub fn export_items(data: &[u8], stats: &mut InputStats) -> Vec<Item> {
    let mut r = ExportReader::new(data);
    let mut out = Vec::new();
    loop {
        match r.next_item(stats) {
            Ok(Some(i)) => out.push(i),
            Ok(None) => break,
            Err(_) => {
                stats.broken += 1;
                break;
            }
        }
    }
    out
}

/// Counts of `Item`s by kind (for tests).
pub fn kinds(items: &[Item]) -> HashMap<&'static str, usize> {
    let mut m = HashMap::new();
    for i in items {
        let k = match i {
            Item::Record(_) => "record",
            Item::Boundary => "boundary",
            Item::Skip => "skip",
        };
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formats_by_content() {
        let mut st = InputStats::default();
        let lines: [&[u8]; 9] = [
            b"type=SYSCALL msg=audit(1795667968.504:23): arch=c000003e syscall=62 pid=5",
            b"node=web1 type=OBJ_PID msg=audit(1795667968.504:23): opid=6 ocomm=\"x\"",
            b"type=PATH msg=audit(1795667968.504:23): item=0 name=\"/x\"",
            b"----",
            b"time->Thu Nov 26 04:39:28 2026",
            b"Dec  1 12:00:00 h kernel: [ 1.2] audit: type=1300 audit(1795667968.504:23): pid=5",
            b"Dec  1 12:00:00 h sshd[9]: session opened",
            b"type=SYSCALL msg=audit(1795667968.504:23: broken",
            b"type=CONTAINER_ID msg=audit(1795667968.504:23): contid=42",
        ];
        let got: Vec<&str> = lines
            .iter()
            .map(|l| match classify_line(l, &mut st) {
                Item::Record(_) => "r",
                Item::Boundary => "b",
                Item::Skip => "s",
            })
            .collect();
        assert_eq!(got, ["r", "r", "s", "b", "s", "r", "s", "s", "r"]);
        assert_eq!(
            st,
            InputStats {
                lines: 9,
                records: 4,
                unused_records: 1,
                unparsable: 1,
                oversized: 0,
                not_audit: 1,
                framing: 2,
                interpreted: 0,
                broken: 0,
            }
        );
        // `ausearch -i` output: counted apart, with its own note.
        let interp = b"type=SYSCALL msg=audit(11/26/26 04:39:28.504:23) : arch=x86_64 syscall=kill success=yes exit=0 a0=0x50e a1=SIGKILL";
        assert!(matches!(classify_line(interp, &mut st), Item::Skip));
        assert_eq!((st.interpreted, st.unparsable), (1, 1));
        let long = vec![b'a'; MAX_LINE + 1];
        assert!(matches!(classify_line(&long, &mut st), Item::Skip));
        assert_eq!(st.oversized, 1);
    }

    #[test]
    fn journal_json_and_export() {
        let json = br#"{"_TRANSPORT":"audit","_AUDIT_TYPE":"1318","_AUDIT_ID":"23","_SOURCE_REALTIME_TIMESTAMP":"1795667968504000","_HOSTNAME":"web1","MESSAGE":"OBJ_PID opid=1294 oauid=-1 ouid=65534 oses=-1 ocomm=\"pa-daemon\""}"#;
        let JournalEntry::Audit(r) = journal_json_record(json) else {
            panic!()
        };
        assert_eq!(r.record_type(), RecordType::OBJ_PID);
        assert_eq!(
            (r.stamp().sec, r.stamp().msec, r.stamp().serial),
            (1795667968, 504, 23)
        );
        assert_eq!(r.node(), Some(&b"web1"[..]));
        assert_eq!(r.get("opid").and_then(|v| v.as_dec_u64()), Some(1294));
        // A byte-array MESSAGE (not UTF-8) and another transport.
        let arr = br#"{"_TRANSPORT":"audit","_AUDIT_TYPE":"1300","_AUDIT_ID":"9","_SOURCE_REALTIME_TIMESTAMP":"1000000","MESSAGE":[83,89,83,67,65,76,76,32,112,105,100,61,53]}"#;
        let JournalEntry::Audit(r) = journal_json_record(arr) else {
            panic!()
        };
        assert_eq!(r.get("pid").and_then(|v| v.as_dec_u64()), Some(5));
        assert!(matches!(
            journal_json_record(br#"{"_TRANSPORT":"kernel","MESSAGE":"x"}"#),
            JournalEntry::Other
        ));
        assert!(matches!(
            journal_json_record(br#"{"_TRANSPORT":"audit"}"#),
            JournalEntry::Malformed
        ));
        assert!(matches!(
            journal_json_record(b"{not json"),
            JournalEntry::Malformed
        ));

        let mut export = Vec::new();
        export.extend_from_slice(b"__CURSOR=s=1\n_TRANSPORT=audit\n_AUDIT_TYPE=1300\n_AUDIT_ID=23\n_SOURCE_REALTIME_TIMESTAMP=1795667968504000\n");
        let msg = b"SYSCALL arch=c000003e syscall=62 pid=5 comm=\"a\nb\"";
        export.extend_from_slice(b"MESSAGE\n");
        export.extend_from_slice(&(msg.len() as u64).to_le_bytes());
        export.extend_from_slice(msg);
        export.extend_from_slice(b"\n\n__CURSOR=s=2\n_TRANSPORT=syslog\nMESSAGE=hello\n\n");
        assert!(looks_like_export(&export));
        let mut st = InputStats::default();
        let items = export_items(&export, &mut st);
        assert_eq!(items.len(), 2);
        let Item::Record(r) = &items[0] else { panic!() };
        assert_eq!(r.record_type(), RecordType::SYSCALL);
        assert_eq!(r.stamp().serial, 23);
        assert_eq!((st.records, st.not_audit), (1, 1));
        // Truncated input ends without a panic.
        let mut st = InputStats::default();
        let _ = export_items(&export[..export.len() / 2], &mut st);
    }

    /// A `journalctl -o export` stream cut anywhere: the entries before
    /// the cut are used, the cut one is not (its last value may be cut in
    /// the middle), and the stream is counted as broken, with the cause
    /// in words.
    #[test]
    fn a_cut_export_stream_keeps_its_complete_entries_and_is_counted() {
        let entry = |serial: u32| {
            let mut e = Vec::new();
            e.extend_from_slice(format!("__CURSOR=s={serial}\n_TRANSPORT=audit\n_AUDIT_TYPE=1300\n_AUDIT_ID={serial}\n_SOURCE_REALTIME_TIMESTAMP=1795667968504000\n").as_bytes());
            let msg = b"SYSCALL arch=c000003e syscall=62 pid=5";
            e.extend_from_slice(b"MESSAGE\n");
            e.extend_from_slice(&(msg.len() as u64).to_le_bytes());
            e.extend_from_slice(msg);
            e.extend_from_slice(b"\n\n");
            e
        };
        let first = entry(1);
        let mut export = first.clone();
        export.extend_from_slice(&entry(2));
        // Whole: two records, nothing broken.
        let mut st = InputStats::default();
        assert_eq!(export_items(&export, &mut st).len(), 2);
        assert_eq!((st.records, st.broken), (2, 0));
        // Every cut inside the second entry (its closing empty line
        // included) keeps the first record and counts the stream.
        for cut in first.len() + 1..export.len() {
            let mut st = InputStats::default();
            let items = export_items(&export[..cut], &mut st);
            assert_eq!((st.records, st.broken), (1, 1), "cut at {cut}");
            assert_eq!(items.len(), 1, "cut at {cut}");
        }
        // The cause is said in words.
        let mut r = ExportReader::new(&export[..export.len() - 3]);
        let mut st = InputStats::default();
        assert!(r.next_item(&mut st).unwrap().is_some());
        let e = r.next_item(&mut st).unwrap_err();
        assert_eq!(e.to_string(), "cut short (incomplete journal export entry)");
    }
}
