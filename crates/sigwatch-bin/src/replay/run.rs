//! The `sigwatch replay` command: inputs in, reports out, and a summary
//! that names every kind of skip.

use std::io::{self, Write};

use super::files::{dedup, expand, Duplicate, Input, Inputs};
use super::input::InputStats;
use super::{Replay, ReplayConfig, ReplayStats};
use crate::render::{write_json, write_text, Renderer};
use crate::report::Report;
use crate::Error;

/// What `sigwatch replay` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Files, directories (rotated sets) or `-`.
    pub files: Vec<std::path::PathBuf>,
    /// Also read the journal through `journalctl`.
    pub journal: bool,
    /// JSON lines instead of text.
    pub json: bool,
    /// Text: times in UTC instead of local time (as watch mode's `--utc`).
    pub utc: bool,
    /// Text: print everything, ancestors' lines whole (as `--full`).
    pub full: bool,
    /// Text: cut ancestor lines to this many characters (the terminal's
    /// width); `None` prints them whole.
    pub width: Option<usize>,
    /// Text: ANSI colours (only when the output is a terminal).
    pub color: bool,
    /// Signals, filters and limits.
    pub config: ReplayConfig,
}

/// What a replay read, reported and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Inputs read (files, standard input, the journal).
    pub inputs: usize,
    /// What the inputs held.
    pub input: InputStats,
    /// What the replay made of it.
    pub replay: ReplayStats,
    /// Inputs that could not be read to their end, in the order read.
    pub broken: Vec<BrokenInput>,
    /// Paths not read because they name a file read already.
    pub duplicates: Vec<Duplicate>,
}

/// An input a replay could not read to its end: the records before the
/// point of failure were used, the rest of it was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenInput {
    /// The input's name (its path, `-`, `journalctl`).
    pub name: String,
    /// Why, in words (`cut short (incomplete gzip stream)`).
    pub cause: String,
}

impl RunSummary {
    /// One paragraph for standard error: what was read and reported, then
    /// what was skipped and why — the counters that are not zero (a line of
    /// zeros hid the one that mattered), or "nothing" — then the notes.
    pub fn render(&self) -> String {
        let i = &self.input;
        let r = &self.replay;
        let some = |items: &[(u64, &str)]| -> Vec<String> {
            items
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect()
        };
        let odd_inputs = some(&[
            (self.broken.len() as u64, "not readable to the end"),
            (self.duplicates.len() as u64, "given twice and read once"),
        ]);
        let mut s = format!(
            "sigwatch replay: {} input(s){}, {} line(s)/entries, {} record(s) used, {} event(s), \
             {} kill event(s), {} report(s)",
            self.inputs,
            if odd_inputs.is_empty() {
                String::new()
            } else {
                format!(" ({})", odd_inputs.join(", "))
            },
            i.lines,
            i.records,
            r.events,
            r.kill_events,
            r.reports,
        );
        let skipped = some(&[
            (i.unparsable, "unparsable line(s)"),
            (i.oversized, "over-long line(s) (> 1 MiB)"),
            (i.not_audit, "non-audit line(s)"),
            (i.unused_records, "record(s) of unused types"),
            (i.framing, "ausearch framing line(s)"),
            (i.interpreted, "`ausearch -i` record(s)"),
            (r.unknown_arch, "event(s) of unknown arch"),
            (r.malformed, "malformed kill event(s)"),
            (r.no_target, "kill(s) without target"),
            (r.targets_dropped, "target(s) over the per-event limit"),
            (r.other_signal, "kill(s) of other signals"),
            (
                r.filtered,
                "kill(s) filtered out (--since/--until/--pid/--comm)",
            ),
            (
                r.without_syscall,
                "event(s) without their SYSCALL record (a cut log, or files out of order)",
            ),
        ]);
        s += &format!(
            "\nskipped: {}",
            if skipped.is_empty() {
                "nothing".to_string()
            } else {
                skipped.join(", ")
            }
        );
        let processes = some(&[
            (r.pid_reuse, "pid reuse(s) seen"),
            (r.processes_evicted, "forgotten to bound memory"),
            (
                r.details_too_long,
                "comm/exe/cwd value(s) over 4096 bytes not kept",
            ),
        ]);
        if !processes.is_empty() {
            s += &format!("\nprocesses: {}", processes.join(", "));
        }
        s + &self.notes()
    }

    /// Whether every input was read to its end.
    pub fn complete(&self) -> bool {
        self.broken.is_empty()
    }

    /// `Ok` when every input was read to its end; else the error that
    /// makes `sigwatch replay` exit 1 after its reports and summary (the
    /// reports stand, but they may lack what the unread part held).
    ///
    /// # Errors
    ///
    /// An input could not be read to its end.
    pub fn check(&self) -> Result<(), Error> {
        if self.input.interpreted > 0 && self.input.records == 0 {
            // `ausearch -i` output only: nothing in it could be replayed,
            // which a script must not take for "no kills".
            return Err(Error::Fatal(
                "the input is `ausearch -i` output, which cannot be replayed (see the note above)"
                    .into(),
            ));
        }
        if self.complete() {
            return Ok(());
        }
        Err(Error::Fatal(format!(
            "{} input(s) could not be read to the end (see the note(s) above): the reports lack what the rest held",
            self.broken.len()
        )))
    }

    /// Notes: inputs not read whole or not read at all, and why a
    /// replay found nothing, when it did not.
    fn notes(&self) -> String {
        let mut s = String::new();
        for b in &self.broken {
            s += &format!(
                "\nnote: {}: {}; the records before that point were used, the rest was not read",
                b.name, b.cause
            );
        }
        for d in &self.duplicates {
            s += &format!(
                "\nnote: {} is the same file as {}: read once",
                d.path.display(),
                d.same_as.display()
            );
        }
        s + &self.empty_notes()
    }

    /// Lines that say why a replay found nothing, when it did not.
    fn empty_notes(&self) -> String {
        let i = &self.input;
        if i.interpreted > 0 {
            format!(
                "\nnote: {} record(s) are `ausearch -i` output, whose interpreted values \
                 (dates, names for numbers) cannot be replayed: run `ausearch --raw` (or \
                 without -i) instead",
                i.interpreted
            )
        } else if !self.broken.is_empty() && i.records == 0 {
            // The notes above say why.
            String::new()
        } else if i.lines == 0 {
            "\nnote: the input held no line: nothing to replay".into()
        } else if i.records == 0 && i.unused_records == 0 {
            "\nnote: no audit record in the input: is it an audit log (auditd's audit.log, \
             `ausearch --raw` output, `journalctl -o export` of the audit messages)?"
                .into()
        } else {
            String::new()
        }
    }
}

/// Runs a replay as the command line asks, writing reports to `out`.
///
/// Every path is checked before anything is read; an input that breaks
/// while it is read (cut short, damaged, a read error, `journalctl`
/// failing) ends only that input: it is named in the summary
/// ([`RunSummary::broken`]) and the others are read. A file named twice
/// (by any name) is read once ([`RunSummary::duplicates`]).
///
/// # Errors
///
/// A path that does not exist or cannot be opened, a directory without
/// a rotated set (all before anything is read), `journalctl` missing, or
/// `out` failing (a reader that went away ends the replay quietly).
pub fn run<W: Write>(args: &ReplayOptions, out: W) -> Result<RunSummary, Error> {
    run_observed(args, out, |_| {})
}

/// [`run`], showing every report to `observe` before it is written (the
/// `--metrics-file` counters).
///
/// # Errors
///
/// As [`run`].
pub fn run_observed<W: Write>(
    args: &ReplayOptions,
    mut out: W,
    mut observe: impl FnMut(&Report),
) -> Result<RunSummary, Error> {
    let mut replay = Replay::with_config(args.config.clone());
    let mut stats = InputStats::default();
    // The watch mode's text rules through the same renderer: local time
    // unless --utc, ancestors cut to the terminal unless --full. User
    // names are not looked up: the log may come from another host, whose
    // uids this host's passwd database does not know.
    let renderer = Renderer::text(args.color)
        .utc(args.utc)
        .full(args.full)
        .width(args.width);
    let no_names = |_: u32| None;
    let mut opts = renderer.text_options(&no_names);
    // A log records no exits: its text does not say "no exit seen".
    opts.exits_unknown = true;
    let mut closed = false;
    let mut emit = |reports: Vec<Report>, closed: &mut bool| -> Result<(), Error> {
        reports.iter().for_each(&mut observe);
        if *closed {
            return Ok(());
        }
        for rep in reports {
            let res = if args.json {
                write_json(&mut out, &rep)
            } else {
                write_text(&mut out, &rep, &opts)
            };
            match res {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    *closed = true;
                    return Ok(());
                }
                Err(e) => {
                    return Err(Error::Io {
                        what: "writing a report".into(),
                        source: e,
                    })
                }
            }
        }
        Ok(())
    };
    let files = expand(&args.files).map_err(|e| Error::Io {
        what: "listing the rotated set".into(),
        source: e,
    })?;
    // A mistyped or unreadable path stops the replay before anything is
    // read: no partial output to mistake for the whole.
    let Inputs { files, duplicates } = dedup(files).map_err(|bad| {
        Error::Fatal(
            bad.iter()
                .map(|u| format!("cannot open {}: {}", u.path.display(), u.error))
                .collect::<Vec<_>>()
                .join("; ")
                + " (nothing was read)",
        )
    })?;
    let mut inputs = Vec::new();
    if args.journal {
        inputs.push(None);
    }
    inputs.extend(files.into_iter().map(Some));
    let n_inputs = inputs.len();
    let mut broken = Vec::new();
    for which in inputs {
        let opened = match &which {
            None => Input::journal(args.config.since_ms.map(|ms| ms / 1000)).map_err(|e| {
                Error::Fatal(format!(
                    "cannot run journalctl ({e}): install systemd's journalctl or pass the exported file"
                ))
            })?,
            Some(p) => match Input::open(p) {
                Ok(i) => i,
                Err(e) => {
                    // Checked before the start: it went away, or its
                    // first bytes are damaged. The other inputs are read.
                    stats.broken += 1;
                    broken.push(BrokenInput {
                        name: p.display().to_string(),
                        cause: e.to_string(),
                    });
                    continue;
                }
            },
        };
        let mut input = opened;
        let mut failed = None;
        loop {
            match input.next_item(&mut stats) {
                Ok(Some(item)) => emit(replay.push_item(item), &mut closed)?,
                Ok(None) => break,
                Err(e) => {
                    // What was read stays used; the rest of this input
                    // cannot be, the next inputs can.
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        let name = input.name().to_string();
        let finished = input.finish();
        // A journalctl cut off after a read error fails too: the read
        // error is the cause to name.
        if let (None, Err(e)) = (&failed, finished) {
            failed = Some(e.to_string());
        }
        if let Some(cause) = failed {
            stats.broken += 1;
            broken.push(BrokenInput { name, cause });
        }
    }
    emit(replay.finish(), &mut closed)?;
    if !closed {
        match out.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                return Err(Error::Io {
                    what: "writing a report".into(),
                    source: e,
                })
            }
        }
    }
    Ok(RunSummary {
        inputs: n_inputs,
        input: stats,
        replay: replay.stats(),
        broken,
        duplicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replay that found nothing says why: an empty input, or lines
    /// that are no audit records; an audit log without kills needs no note.
    #[test]
    fn a_replay_that_found_nothing_says_why() {
        let mut s = RunSummary {
            inputs: 1,
            ..RunSummary::default()
        };
        assert!(s.render().contains("note: the input held no line"));
        s.input.lines = 3;
        s.input.not_audit = 3;
        assert!(s.render().contains("note: no audit record in the input"));
        s.input.unused_records = 2;
        assert!(!s.render().contains("note:"), "{}", s.render());
        s.input.unused_records = 0;
        s.input.records = 1;
        assert!(!s.render().contains("note:"), "{}", s.render());
        s.input.interpreted = 4;
        assert!(s.render().contains("ausearch --raw"), "{}", s.render());
        // Some raw records among them: replayed, exit 0.
        assert!(s.check().is_ok());
        // Only `ausearch -i` output: nothing could be replayed, exit 1.
        s.input.records = 0;
        assert!(s.check().is_err());
    }
}
