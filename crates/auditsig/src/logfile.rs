//! Record sources in auditd's text format: a whole log file, a log file
//! followed across rotation, and standard input (auditd/audisp plugins
//! with `format = string` receive exactly the log-file lines).
//!
//! Every source counts the lines it could not parse ([`SourceStats`]);
//! nothing is dropped silently.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use auditsig::{Assembler, FollowLog, KillEvent, StartAt};
//!
//! let mut log = FollowLog::open("/var/log/audit/audit.log", StartAt::End)?;
//! let mut asm = Assembler::default();
//! let mut records = Vec::new();
//! loop {
//!     log.poll(&mut records)?;
//!     let now = Instant::now();
//!     for r in records.drain(..) {
//!         asm.push(r, now);
//!     }
//!     asm.tick(now);
//!     for event in asm.drain() {
//!         if let Ok(Some(kill)) = KillEvent::from_event(&event) {
//!             println!("{} sent signal {} to {:?}", kill.sender.pid, kill.signal, kill.targets);
//!         }
//!     }
//!     std::thread::sleep(Duration::from_millis(200));
//! }
//! # Ok::<(), auditsig::Error>(())
//! ```

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::record::{ParseError, Record};

/// Lines longer than this are dropped and counted (auditd's own limit,
/// `MAX_AUDIT_MESSAGE_LENGTH`, is 8970 bytes; ENRICHED lines are longer).
pub const MAX_LINE: usize = 1 << 20;

/// What a text source read and what it could not use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SourceStats {
    /// Lines read (blank lines included).
    pub lines: u64,
    /// Records parsed.
    pub records: u64,
    /// Non-blank lines that are not audit records (skipped).
    pub parse_errors: u64,
    /// Lines longer than [`MAX_LINE`] (skipped).
    pub oversized: u64,
    /// Times the followed file was replaced (rotation).
    pub rotations: u64,
    /// Times the followed file shrank (truncation): reading restarts at 0.
    pub truncations: u64,
    /// The last parse error, for diagnostics.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub last_error: Option<ParseError>,
}

impl SourceStats {
    /// Parse one line, counting the outcome. Blank lines are skipped
    /// without counting an error.
    pub fn parse_line(&mut self, line: &[u8]) -> Option<Record> {
        self.lines += 1;
        if line.len() > MAX_LINE {
            self.oversized += 1;
            return None;
        }
        if line.iter().all(|c| c.is_ascii_whitespace() || *c == 0) {
            return None;
        }
        match Record::parse_line(line) {
            Ok(r) => {
                self.records += 1;
                Some(r)
            }
            Err(e) => {
                log::debug!("skipping unparsable audit line: {e}");
                self.parse_errors += 1;
                self.last_error = Some(e);
                None
            }
        }
    }
}

/// Reads records from a byte stream of lines: a whole log file or
/// standard input.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    stats: SourceStats,
}

impl<R: BufRead> LineReader<R> {
    /// Read lines from `reader`.
    pub fn new(reader: R) -> LineReader<R> {
        LineReader {
            reader,
            buf: Vec::with_capacity(1024),
            stats: SourceStats::default(),
        }
    }

    /// The next record; `Ok(None)` at end of input. Unparsable lines are
    /// skipped and counted.
    ///
    /// # Errors
    ///
    /// An I/O error reading the input.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            self.buf.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::io("read audit log", e))?;
            if n == 0 {
                return Ok(None);
            }
            if self.buf.len() > MAX_LINE && self.buf.last() != Some(&b'\n') {
                // Skip the rest of the oversized line.
                self.stats.lines += 1;
                self.stats.oversized += 1;
                loop {
                    self.buf.clear();
                    let n = (&mut self.reader)
                        .take(MAX_LINE as u64)
                        .read_until(b'\n', &mut self.buf)
                        .map_err(|e| Error::io("read audit log", e))?;
                    if n == 0 || self.buf.last() == Some(&b'\n') {
                        break;
                    }
                }
                continue;
            }
            if let Some(r) = self.stats.parse_line(&self.buf) {
                return Ok(Some(r));
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> &SourceStats {
        &self.stats
    }
}

impl<R: BufRead> Iterator for LineReader<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        self.next_record().transpose()
    }
}

/// Open a whole auditd log file.
///
/// # Errors
///
/// An I/O error opening the file.
pub fn open_log(path: impl AsRef<Path>) -> Result<LineReader<BufReader<File>>> {
    let f = File::open(path.as_ref()).map_err(|e| Error::io("open audit log", e))?;
    Ok(LineReader::new(BufReader::with_capacity(64 * 1024, f)))
}

/// Read records from standard input (auditd plugin, `format = string`).
pub fn stdin_reader() -> LineReader<io::StdinLock<'static>> {
    LineReader::new(io::stdin().lock())
}

/// Where [`FollowLog`] starts reading the file it opens first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartAt {
    /// From the first byte (replay what is there, then follow).
    Beginning,
    /// From the current end (only new records).
    End,
}

/// Follows an auditd log file like `tail -F`: survives rotation (auditd
/// renames `audit.log` to `audit.log.1` and opens a new `audit.log`) by
/// reading the old file to its end before switching to the new one, and
/// truncation by restarting at offset 0.
///
/// The caller polls ([`FollowLog::poll`]) at its own pace; nothing here
/// blocks or sleeps.
#[derive(Debug)]
pub struct FollowLog {
    path: PathBuf,
    file: Option<File>,
    /// (dev, ino) of the open file.
    id: (u64, u64),
    pos: u64,
    /// Bytes of an incomplete last line.
    partial: Vec<u8>,
    /// True while the current partial line is being skipped (too long).
    skipping: bool,
    chunk: Vec<u8>,
    stats: SourceStats,
}

impl FollowLog {
    /// Follow `path`. A missing file is not an error: it is opened once it
    /// appears.
    ///
    /// # Errors
    ///
    /// An I/O error when the file exists but cannot be opened or read.
    pub fn open(path: impl Into<PathBuf>, start: StartAt) -> Result<FollowLog> {
        let mut f = FollowLog {
            path: path.into(),
            file: None,
            id: (0, 0),
            pos: 0,
            partial: Vec::new(),
            skipping: false,
            chunk: vec![0; 64 * 1024],
            stats: SourceStats::default(),
        };
        if f.reopen()? && start == StartAt::End {
            if let Some(file) = f.file.as_mut() {
                f.pos = file
                    .seek(SeekFrom::End(0))
                    .map_err(|e| Error::io("seek audit log", e))?;
            }
        }
        Ok(f)
    }

    /// Counters.
    pub fn stats(&self) -> &SourceStats {
        &self.stats
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open `self.path` from offset 0; false if it does not exist.
    fn reopen(&mut self) -> Result<bool> {
        match File::open(&self.path) {
            Ok(file) => {
                let md = file
                    .metadata()
                    .map_err(|e| Error::io("stat audit log", e))?;
                self.id = (md.dev(), md.ino());
                self.file = Some(file);
                self.pos = 0;
                self.partial.clear();
                self.skipping = false;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.file = None;
                Ok(false)
            }
            Err(e) => Err(Error::io("open audit log", e)),
        }
    }

    /// Read every complete line that was appended since the last call and
    /// append the records to `out`; returns how many were appended.
    ///
    /// # Errors
    ///
    /// An I/O error reading or stat-ing the file.
    pub fn poll(&mut self, out: &mut Vec<Record>) -> Result<usize> {
        let before = out.len();
        if self.file.is_none() && !self.reopen()? {
            return Ok(0);
        }
        self.read_available(out)?;
        match std::fs::metadata(&self.path) {
            Ok(md) => {
                if (md.dev(), md.ino()) != self.id {
                    // Rotated: the old file may have received lines
                    // between our read and the rename.
                    self.read_available(out)?;
                    self.finish_partial(out);
                    self.stats.rotations += 1;
                    if self.reopen()? {
                        self.read_available(out)?;
                    }
                } else if md.len() < self.pos {
                    self.stats.truncations += 1;
                    self.reopen()?;
                    self.read_available(out)?;
                }
            }
            // Renamed away and the new one not created yet: keep the old.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat audit log", e)),
        }
        Ok(out.len() - before)
    }

    /// The old file's last line lacked a newline and never will get one.
    fn finish_partial(&mut self, out: &mut Vec<Record>) {
        if !self.partial.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.partial);
            out.extend(self.stats.parse_line(&line));
        }
        self.partial.clear();
        self.skipping = false;
    }

    fn read_available(&mut self, out: &mut Vec<Record>) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        loop {
            let n = match file.read(&mut self.chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read audit log", e)),
            };
            self.pos += n as u64;
            let mut data = &self.chunk[..n];
            while let Some(nl) = data.iter().position(|&c| c == b'\n') {
                let piece = &data[..nl];
                if self.skipping {
                    self.skipping = false;
                } else if self.partial.is_empty() {
                    out.extend(self.stats.parse_line(piece));
                } else {
                    self.partial.extend_from_slice(piece);
                    let line = std::mem::take(&mut self.partial);
                    out.extend(self.stats.parse_line(&line));
                }
                data = &data[nl + 1..];
            }
            if !self.skipping {
                self.partial.extend_from_slice(data);
                if self.partial.len() > MAX_LINE {
                    self.stats.lines += 1;
                    self.stats.oversized += 1;
                    self.partial.clear();
                    self.skipping = true;
                }
            }
        }
    }
}
