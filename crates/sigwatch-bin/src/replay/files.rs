//! Opening what a replay reads: files (gzip-compressed ones recognised by
//! their magic bytes), rotated sets in age order, standard input, and the
//! journal through `journalctl -o export`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::input::{
    classify_line, looks_like_export, ExportReader, InputStats, Item, ReadError, MAX_LINE,
};

/// Read-ahead of a log file: large reads keep the per-line cost low.
const BUF: usize = 1 << 20;

/// The rotation number of `audit.log.3` / `audit.log.3.gz` (3), 0 for
/// `audit.log`, with the base name.
fn rotation(p: &Path) -> (Vec<u8>, u32) {
    let name = p.file_name().map(OsStr::as_bytes).unwrap_or_default();
    let name = name.strip_suffix(b".gz").unwrap_or(name);
    if let Some(dot) = name.iter().rposition(|&c| c == b'.') {
        let digits = &name[dot + 1..];
        if !digits.is_empty() && digits.len() <= 6 && digits.iter().all(u8::is_ascii_digit) {
            let n = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            let mut base = p
                .parent()
                .map(|d| d.as_os_str().as_bytes().to_vec())
                .unwrap_or_default();
            base.push(b'/');
            base.extend_from_slice(&name[..dot]);
            return (base, n);
        }
    }
    let mut base = p
        .parent()
        .map(|d| d.as_os_str().as_bytes().to_vec())
        .unwrap_or_default();
    base.push(b'/');
    base.extend_from_slice(name);
    (base, 0)
}

/// The files to read, oldest first: a directory stands for its rotated
/// set (`audit.log.N`, ..., `audit.log.1`, `audit.log`, compressed or
/// not); members of a rotated set given as files (a shell glob sorts
/// `audit.log.10` before `audit.log.2`) are put in age order too.
///
/// # Errors
///
/// A directory that cannot be listed, or that holds no `audit.log*` file.
pub fn expand(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut set: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| {
                    f.is_file()
                        && f.file_name()
                            .is_some_and(|n| n.as_bytes().starts_with(b"audit.log"))
                })
                .collect();
            if set.is_empty() {
                // Most likely the wrong directory: say so rather than
                // replay nothing.
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{}: no audit.log* file in this directory (a directory stands for auditd's rotated set; name other files one by one)",
                        p.display()
                    ),
                ));
            }
            set.sort_by_key(|f| std::cmp::Reverse(rotation(f).1));
            out.extend(set);
        } else {
            out.push(p.clone());
        }
    }
    // Members of one set move into age order at the place of the set's
    // first member; other files keep the order given.
    let keys: Vec<(Vec<u8>, u32)> = out.iter().map(|p| rotation(p)).collect();
    let mut order: Vec<Vec<u8>> = Vec::new();
    for k in &keys {
        if !order.contains(&k.0) {
            order.push(k.0.clone());
        }
    }
    let mut sorted = Vec::with_capacity(out.len());
    for base in order {
        let mut members: Vec<usize> = (0..out.len()).filter(|&i| keys[i].0 == base).collect();
        members.sort_by_key(|&i| std::cmp::Reverse(keys[i].1));
        sorted.extend(members.into_iter().map(|i| out[i].clone()));
    }
    Ok(sorted)
}

/// A path that names a file already among the inputs (the same path
/// twice, another name of it, or a member of a rotated set also given by
/// name): it is read once, where it first appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The path not read.
    pub path: PathBuf,
    /// The earlier path of the same file, which is read.
    pub same_as: PathBuf,
}

/// What identifies a file however it is named: its device and inode
/// (hard links and symlinks included). Standard input is the file behind
/// it when that can be told (`< audit.log`), else standard input itself.
fn identity(p: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    if p.as_os_str() == "-" {
        return Ok(
            std::fs::metadata("/dev/stdin").map_or((u64::MAX, u64::MAX), |m| (m.dev(), m.ino()))
        );
    }
    let m = std::fs::metadata(p)?;
    if m.is_file() {
        // Regular files are opened now, so that one that cannot be read
        // (permissions) stops the replay before anything is read, as a
        // missing one does. Others (a FIFO, `<(zcat …)`) are not: opening
        // one would wait for, or consume, its writer.
        File::open(p)?;
    }
    Ok((m.dev(), m.ino()))
}

/// The files of a replay, each once (see [`dedup`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The files to read, in order.
    pub files: Vec<PathBuf>,
    /// The paths left out.
    pub duplicates: Vec<Duplicate>,
}

/// A path that cannot be read.
#[derive(Debug)]
pub struct Unopenable {
    /// The path.
    pub path: PathBuf,
    /// Why (`stat` or `open` failed).
    pub error: io::Error,
}

/// The inputs in `files` (as [`expand`] lists them), each file once:
/// checked before anything is read, so that a mistyped or unreadable
/// path costs nothing, and with the paths left out because they name a
/// file listed earlier.
///
/// # Errors
///
/// Every path that does not exist or cannot be opened, with its error.
pub fn dedup(files: Vec<PathBuf>) -> Result<Inputs, Vec<Unopenable>> {
    let mut seen: Vec<((u64, u64), usize)> = Vec::with_capacity(files.len());
    let mut out = Inputs::default();
    let mut bad = Vec::new();
    for p in files {
        match identity(&p) {
            Ok(id) => match seen.iter().find(|(i, _)| *i == id) {
                Some(&(_, first)) => out.duplicates.push(Duplicate {
                    same_as: out.files[first].clone(),
                    path: p,
                }),
                None => {
                    seen.push((id, out.files.len()));
                    out.files.push(p);
                }
            },
            Err(error) => bad.push(Unopenable { path: p, error }),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

/// Marks the errors of the file (or pipe) itself, so that they are not
/// taken for the gzip decoder's.
struct Raw<R>(R);

/// An error of the file or pipe under a decoder.
#[derive(Debug)]
struct RawError(io::Error);

impl std::fmt::Display for RawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RawError {}

impl<R: Read> Read for Raw<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The kind is kept (an `Interrupted` read is retried above).
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), RawError(e)))
    }
}

/// Says what an error of reading an input means: a gzip stream cut short
/// or damaged, or an error of the file itself.
fn read_error(e: io::Error, gzip: bool) -> ReadError {
    if e.get_ref().is_some_and(|i| i.is::<RawError>()) {
        return match e.into_inner().map(|i| i.downcast::<RawError>()) {
            Some(Ok(raw)) => ReadError::Io(raw.0),
            // (Not reached: checked just above.)
            _ => ReadError::Io(io::Error::other("read error")),
        };
    }
    if !gzip {
        return ReadError::Io(e);
    }
    // flate2 reports a stream that ends early (inside the header, the
    // data or the trailer) as `UnexpectedEof`, anything else as damage.
    match e.kind() {
        io::ErrorKind::UnexpectedEof => ReadError::CutShort("incomplete gzip stream"),
        _ => ReadError::Damaged(format!("corrupt gzip stream: {e}")),
    }
}

/// One opened input.
pub struct Input {
    name: String,
    kind: Kind,
    child: Option<Child>,
    /// Whether it is gzip-compressed (for what its read errors mean).
    gzip: bool,
}

enum Kind {
    Lines(Box<dyn BufRead>, Vec<u8>),
    Export(ExportReader<Box<dyn BufRead>>),
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("name", &self.name).finish()
    }
}

impl Input {
    /// Opens `path` (`-` for standard input), decompressing gzip and
    /// recognising the journal's export format by content.
    ///
    /// # Errors
    ///
    /// The file cannot be opened ([`ReadError::Open`]), or its first
    /// bytes cannot be read (cut short, damaged, a read error).
    pub fn open(path: &Path) -> Result<Input, ReadError> {
        let name = path.display().to_string();
        let raw: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).map_err(ReadError::Open)?)
        };
        Input::from_reader(name, raw, None)
    }

    /// Runs `journalctl -o export _TRANSPORT=audit` (from `since_sec` on)
    /// and reads its output.
    ///
    /// # Errors
    ///
    /// `journalctl` cannot be started.
    pub fn journal(since_sec: Option<u64>) -> io::Result<Input> {
        let mut cmd = Command::new("journalctl");
        cmd.args(["-o", "export", "--no-pager", "_TRANSPORT=audit"]);
        if let Some(s) = since_sec {
            cmd.arg(format!("--since=@{s}"));
        }
        let mut child = cmd.stdout(Stdio::piped()).stdin(Stdio::null()).spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("journalctl: no stdout"))?;
        Input::from_reader("journalctl".into(), Box::new(out), Some(child)).map_err(|e| match e {
            ReadError::Io(e) | ReadError::Open(e) => e,
            other => io::Error::other(other.to_string()),
        })
    }

    /// Reads `raw` (named `name` in messages) as [`Input::open`] does;
    /// `child` is the program writing it, waited for by [`Input::finish`].
    ///
    /// # Errors
    ///
    /// As [`Input::open`].
    pub fn from_reader(
        name: String,
        raw: Box<dyn Read>,
        child: Option<Child>,
    ) -> Result<Input, ReadError> {
        let mut br = BufReader::with_capacity(BUF, Raw(raw));
        let head = br.fill_buf().map_err(|e| read_error(e, false))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let mut reader: Box<dyn BufRead> = if gzip {
            Box::new(BufReader::with_capacity(
                BUF,
                flate2::read::MultiGzDecoder::new(br),
            ))
        } else {
            Box::new(br)
        };
        let export = looks_like_export(reader.fill_buf().map_err(|e| read_error(e, gzip))?);
        let kind = if export {
            Kind::Export(ExportReader::new(reader))
        } else {
            Kind::Lines(reader, Vec::with_capacity(4096))
        };
        Ok(Input {
            name,
            kind,
            child,
            gzip,
        })
    }

    /// The input's name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next item; `Ok(None)` at the end.
    ///
    /// # Errors
    ///
    /// Why the input cannot be read further (see [`ReadError`]): a gzip
    /// stream cut short or damaged, a journal export stream cut inside an
    /// entry, a read error. The items returned before stay valid.
    pub fn next_item(&mut self, stats: &mut InputStats) -> Result<Option<Item>, ReadError> {
        let gzip = self.gzip;
        match &mut self.kind {
            Kind::Export(r) => r.next_item(stats).map_err(|e| match e {
                ReadError::Io(e) => read_error(e, gzip),
                other => other,
            }),
            Kind::Lines(r, buf) => Self::next_line(r, buf, stats).map_err(|e| read_error(e, gzip)),
        }
    }

    fn next_line(
        r: &mut Box<dyn BufRead>,
        buf: &mut Vec<u8>,
        stats: &mut InputStats,
    ) -> io::Result<Option<Item>> {
        // A whole line in the reader's buffer is classified where it is
        // (no copy); one that straddles the buffer's end is gathered in
        // `buf`.
        let avail = r.fill_buf()?;
        if let Some(nl) = memchr::memchr(b'\n', avail) {
            if nl <= MAX_LINE {
                let item = classify_line(&avail[..=nl], stats);
                r.consume(nl + 1);
                return Ok(Some(item));
            }
        }
        buf.clear();
        let n = r
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(None);
        }
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            // Skip the rest of the over-long line.
            loop {
                buf.clear();
                let n = r.by_ref().take(MAX_LINE as u64).read_until(b'\n', buf)?;
                if n == 0 || buf.last() == Some(&b'\n') {
                    break;
                }
            }
            stats.lines += 1;
            stats.oversized += 1;
            return Ok(Some(Item::Skip));
        }
        Ok(Some(classify_line(buf, stats)))
    }

    /// Waits for `journalctl` (if this input is one). Its output is
    /// closed first: a `journalctl` whose output was not read to the end
    /// (the input broke) then ends instead of waiting for a reader.
    ///
    /// # Errors
    ///
    /// `journalctl` failed.
    pub fn finish(self) -> Result<(), ReadError> {
        let Input { kind, child, .. } = self;
        drop(kind);
        if let Some(mut c) = child {
            let st = c.wait()?;
            if !st.success() {
                return Err(ReadError::Source(format!("journalctl failed ({st})")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    #[test]
    fn rotated_sets_in_age_order() {
        let paths: Vec<PathBuf> = [
            "d/audit.log",
            "d/audit.log.1",
            "d/audit.log.10.gz",
            "d/audit.log.2",
            "other.txt",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let got = expand(&paths).unwrap();
        let got: Vec<&str> = got.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            got,
            [
                "d/audit.log.10.gz",
                "d/audit.log.2",
                "d/audit.log.1",
                "d/audit.log",
                "other.txt"
            ]
        );
    }

    /// A directory without `audit.log*` is most likely the wrong one: an
    /// error naming it, not a replay of nothing.
    #[test]
    fn a_directory_without_a_rotated_set_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("messages"), "x\n").unwrap();
        let e = expand(&[dir.path().to_path_buf()]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("no audit.log"), "{msg}");
        std::fs::write(dir.path().join("audit.log"), "").unwrap();
        assert_eq!(expand(&[dir.path().to_path_buf()]).unwrap().len(), 1);
    }

    #[test]
    fn gzip_and_plain_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=62 pid=5\nnot audit\n";
        std::fs::write(dir.path().join("audit.log"), text).unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            File::create(dir.path().join("audit.log.1.gz")).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(text).unwrap();
        gz.finish().unwrap();
        let files = expand(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].to_str().unwrap().ends_with(".gz"));
        let mut st = InputStats::default();
        for f in files {
            let mut i = Input::open(&f).unwrap();
            while i.next_item(&mut st).unwrap().is_some() {}
        }
        assert_eq!((st.records, st.not_audit), (2, 2));
    }
}
