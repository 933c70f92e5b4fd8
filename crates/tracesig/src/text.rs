//! `trace_pipe` text to records, robust to hostile comms.
//!
//! A comm may contain a newline (`prctl(PR_SET_NAME)` accepts any byte
//! but NUL), and the kernel prints comms verbatim, so one event can span
//! several physical lines. [`TextParser`] joins them back:
//!
//! - a line that does not parse on its own but completes the pending
//!   one (`...comm=a` + `b pid=1 grp=1 res=0`: a newline in the target's
//!   comm) is its continuation;
//! - a fragment that does not parse (`            a`: the start of a
//!   sender comm `a\nb`, right-aligned in 16 columns) is joined with the
//!   next line when the result is an event whose task-pid dash sits in
//!   column 16, where the kernel's `%16s-` puts it; a line that parses
//!   by itself already has its dash there, so it is never glued to
//!   garbage in front of it.
//!
//! A comm is at most 15 bytes, so an event spans at most 31 lines (two
//! comms); groups are bounded by that and by [`MAX_LINE`] bytes. Lines
//! that stay unparsable are counted, one per physical line.

use crate::error::Result;
use crate::parse::{parse_line, Record};

/// Longest line (or joined event) kept while waiting for its end (the
/// kernel's trace_seq page is 4 KiB; leave a wide margin).
pub const MAX_LINE: usize = 64 * 1024;

/// At most this many physical lines form one event (a 15-byte comm has
/// at most 15 newlines; an event prints two comms).
const MAX_GROUP_LINES: usize = 31;

/// Column of the dash between the context's `%16s` comm and the pid.
const DASH_COLUMN: usize = 16;

/// Turns `trace_pipe` text, fed in chunks of any size, into records.
///
/// ```
/// use tracesig::{Record, TextParser};
///
/// let mut p = TextParser::new();
/// let mut out = Vec::new();
/// // The target's comm is "a\nb": the kernel printed it verbatim.
/// p.push(b"  sh-7 (7) [000] d..1. 5.000001: signal_generate: sig=9 errno=0 code=0 comm=a\n", &mut out);
/// p.push(b"b pid=8 grp=1 res=0\n", &mut out);
/// p.flush(&mut out);
/// match &out[..] {
///     [Record::SignalGenerate(ev)] => assert_eq!((ev.comm.as_str(), ev.pid), ("a\nb", 8)),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(p.unparsed(), 0);
/// ```
#[derive(Debug, Default)]
pub struct TextParser {
    /// Bytes of an incomplete physical line (no newline yet).
    partial: Vec<u8>,
    /// The event being assembled (physical lines joined by `\n`).
    pending: Vec<u8>,
    /// Its parse, cached.
    pending_parse: Option<Result<Record>>,
    /// Physical lines in `pending`.
    pending_lines: usize,
    unparsed: u64,
}

impl TextParser {
    /// An empty parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Physical lines that could not be parsed (skipped) so far.
    pub fn unparsed(&self) -> u64 {
        self.unparsed
    }

    /// Feeds a chunk of text. Records complete so far are appended to
    /// `out`; the last event is held back until the next line shows it
    /// has no continuation, or until [`TextParser::flush`].
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Record>) {
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if b != b'\n' {
                continue;
            }
            if self.partial.is_empty() {
                self.line(&chunk[start..i], out);
            } else {
                self.partial.extend_from_slice(&chunk[start..i]);
                let line = std::mem::take(&mut self.partial);
                self.line(&line, out);
            }
            start = i + 1;
        }
        self.partial.extend_from_slice(&chunk[start..]);
        // The kernel never prints a line this long; do not let a
        // malformed stream grow the buffer without bound.
        if self.partial.len() > MAX_LINE {
            self.partial.clear();
            self.unparsed += 1;
        }
    }

    /// Whether an incomplete physical line (no newline yet) is held.
    pub fn has_partial_line(&self) -> bool {
        !self.partial.is_empty()
    }

    /// Ends the pending event: call when the text available now has been
    /// fed (the kernel prints an event's lines in one go). An incomplete
    /// physical line stays buffered.
    pub fn flush(&mut self, out: &mut Vec<Record>) {
        if let Some(r) = self.pending_parse.take() {
            match r {
                Ok(rec) => out.push(rec),
                Err(e) => {
                    self.unparsed += self.pending_lines as u64;
                    log::debug!("{e}: {:?}", String::from_utf8_lossy(&self.pending));
                }
            }
        }
        self.pending.clear();
        self.pending_lines = 0;
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Record>) {
        let alone = parse_line(line);
        if let Some(p_ok) = self.pending_parse.as_ref().map(Result::is_ok) {
            let room = self.pending_lines < MAX_GROUP_LINES
                && self.pending.len() + 1 + line.len() <= MAX_LINE;
            if room && alone.is_err() {
                let joined = join(&self.pending, line);
                let j = parse_line(&joined);
                // A continuation of the pending event, or fragments that
                // may still become one.
                if j.is_ok() || !p_ok {
                    self.pending = joined;
                    self.pending_parse = Some(j);
                    self.pending_lines += 1;
                    return;
                }
            } else if room && !p_ok && self.join_fragment(line) {
                return;
            }
            self.flush(out);
        }
        self.pending.clear();
        self.pending.extend_from_slice(line);
        self.pending_parse = Some(alone);
        self.pending_lines = 1;
    }

    /// `line` parses by itself; the pending lines do not. When the last
    /// of them start this line's sender comm (joined, the task-pid dash
    /// sits in column 16), joins them and counts the ones before as
    /// unparsed.
    fn join_fragment(&mut self, line: &[u8]) -> bool {
        // The comm's rest may hold dashes too: try each within reach.
        for d in (0..DASH_COLUMN.min(line.len())).filter(|&d| line[d] == b'-') {
            let tail_len = DASH_COLUMN - d - 1;
            let Some(start) = self.pending.len().checked_sub(tail_len) else {
                continue;
            };
            // The tail must begin a physical line.
            if start > 0 && self.pending[start - 1] != b'\n' {
                continue;
            }
            let joined = join(&self.pending[start..], line);
            let Ok(rec) = parse_line(&joined) else {
                continue;
            };
            let tail_lines = 1 + self.pending[start..]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            let head_lines = self.pending_lines.saturating_sub(tail_lines);
            if head_lines > 0 {
                self.unparsed += head_lines as u64;
                log::debug!(
                    "unparsable trace text: {:?}",
                    String::from_utf8_lossy(&self.pending[..start.saturating_sub(1)])
                );
            }
            self.pending = joined;
            self.pending_parse = Some(Ok(rec));
            self.pending_lines = tail_lines + 1;
            return true;
        }
        false
    }
}

fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(a.len() + 1 + b.len());
    v.extend_from_slice(a);
    v.push(b'\n');
    v.extend_from_slice(b);
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::parse::Record;

    const HDR: &str =
        "(      7) [000] d..1.  5.000001: signal_generate: sig=9 errno=0 code=0 comm=";

    fn run(text: &[u8]) -> (Vec<Record>, u64) {
        let mut p = TextParser::new();
        let mut out = Vec::new();
        p.push(text, &mut out);
        p.flush(&mut out);
        (out, p.unparsed())
    }

    fn sender_line(comm: &str, target: &str) -> String {
        format!("{comm:>16}-7       {HDR}{target} pid=8 grp=1 res=0\n")
    }

    fn only_sg(recs: &[Record]) -> &crate::SignalGenerate {
        match recs {
            [Record::SignalGenerate(ev)] => ev,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn newline_in_target_comm_is_rejoined() {
        for target in [
            "a\nb",
            "\nab",
            "ab\n",
            "a\n\n\nb",
            " pid=1\nx",
            " pid=1 grp=0 res=0\n",
        ] {
            let (recs, bad) = run(sender_line("sh", target).as_bytes());
            let ev = only_sg(&recs);
            assert_eq!(
                (ev.comm.as_str(), ev.pid, bad),
                (target, 8, 0),
                "{target:?}"
            );
        }
    }

    #[test]
    fn newline_in_sender_comm_is_rejoined() {
        for sender in ["a\nb", "\nab", "x\ny\nz", "a\n-1 (1) [0]"] {
            let (recs, bad) = run(sender_line(sender, "t\nu").as_bytes());
            let ev = only_sg(&recs);
            assert_eq!(
                (ev.ctx.comm.as_str(), ev.ctx.pid, ev.comm.as_str(), bad),
                (sender, 7, "t\nu", 0),
                "{sender:?}"
            );
        }
    }

    #[test]
    fn neighbours_are_kept_apart_and_garbage_is_counted() {
        let text = format!(
            "{}garbage\n{}short\nmore garbage\n{}",
            sender_line("sh", "x"),
            sender_line("a\nb", "y"),
            sender_line("kill", "z")
        );
        let (recs, bad) = run(text.as_bytes());
        let comms: Vec<_> = recs
            .iter()
            .map(|r| match r {
                Record::SignalGenerate(e) => (e.ctx.comm.clone(), e.comm.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            comms,
            [
                ("sh".into(), "x".into()),
                ("a\nb".into(), "y".into()),
                ("kill".into(), "z".into())
            ]
        );
        assert_eq!(bad, 3);
    }

    #[test]
    fn split_chunks_and_bounds() {
        let line = sender_line("a\nb", "c\nd");
        let mut p = TextParser::new();
        let mut out = Vec::new();
        for b in line.as_bytes() {
            p.push(std::slice::from_ref(b), &mut out);
        }
        assert!(out.is_empty(), "held until flushed");
        p.flush(&mut out);
        assert_eq!(only_sg(&out).comm, "c\nd");
        // Endless newlines form bounded groups, all counted.
        let (recs, bad) = run(&[b'\n'; 100]);
        assert!(recs.is_empty());
        assert_eq!(bad, 100);
    }
}
