//! Opening what a replay reads: files (gzip-compressed ones recognised by
//! their magic bytes), rotated sets in age order, standard input, and the
//! journal through `journalctl -o export`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::input::{classify_line, looks_like_export, ExportReader, InputStats, Item, MAX_LINE};

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

/// One opened input.
pub struct Input {
    name: String,
    kind: Kind,
    child: Option<Child>,
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
    /// The file cannot be opened or read.
    pub fn open(path: &Path) -> io::Result<Input> {
        let name = path.display().to_string();
        let raw: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path)?)
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
        Input::from_reader("journalctl".into(), Box::new(out), Some(child))
    }

    fn from_reader(name: String, raw: Box<dyn Read>, child: Option<Child>) -> io::Result<Input> {
        let mut br = BufReader::with_capacity(BUF, raw);
        let head = br.fill_buf()?;
        let reader: Box<dyn BufRead> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(BufReader::with_capacity(
                BUF,
                flate2::read::MultiGzDecoder::new(br),
            ))
        } else {
            Box::new(br)
        };
        let mut reader = reader;
        let export = looks_like_export(reader.fill_buf()?);
        let kind = if export {
            Kind::Export(ExportReader::new(reader))
        } else {
            Kind::Lines(reader, Vec::with_capacity(4096))
        };
        Ok(Input { name, kind, child })
    }

    /// The input's name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next item; `Ok(None)` at the end.
    ///
    /// # Errors
    ///
    /// Read errors (a corrupt gzip stream included).
    pub fn next_item(&mut self, stats: &mut InputStats) -> io::Result<Option<Item>> {
        match &mut self.kind {
            Kind::Export(r) => r.next_item(stats),
            Kind::Lines(r, buf) => {
                // A whole line in the reader's buffer is classified where
                // it is (no copy); one that straddles the buffer's end is
                // gathered in `buf`.
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
        }
    }

    /// Waits for `journalctl` (if this input is one).
    ///
    /// # Errors
    ///
    /// `journalctl` failed.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(mut c) = self.child.take() {
            let st = c.wait()?;
            if !st.success() {
                return Err(io::Error::other(format!("journalctl exited with {st}")));
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
