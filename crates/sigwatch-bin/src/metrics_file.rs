//! `--metrics-file`: the exposition written atomically (a temporary file
//! in the same directory, then `rename`, as node_exporter's textfile
//! collector expects) by a thread of its own, so that a slow or hung file
//! system never holds up the watch loop. The loop hands over the latest
//! text and goes on; a text not yet taken is replaced by the newer one.
//! A failed write is a diagnostic (rate-limited by `diag`) and the next
//! interval tries again.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The file is rewritten at least this often (its mtime, which
/// node_exporter exports as `node_textfile_mtime_seconds`, then says that
/// sigwatch is alive).
pub const WRITE_EVERY: Duration = Duration::from_secs(5);
/// A new kill is written after at most this long (an alert should not
/// wait for the next periodic write).
const WRITE_AFTER_KILL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Slot {
    next: Option<String>,
    closing: bool,
}

#[derive(Debug, Default)]
struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
}

/// The writer of one metrics file.
#[derive(Debug)]
pub struct MetricsFile {
    path: PathBuf,
    shared: Arc<Shared>,
    done: Receiver<()>,
    last_write: Option<Instant>,
    last_kills: u64,
}

impl MetricsFile {
    /// Starts the writer thread for `path`, after checking that its
    /// directory exists (a typo should stop sigwatch at the start, not
    /// print a diagnostic every few seconds).
    pub fn start(path: &Path) -> Result<MetricsFile, sigwatch::Error> {
        let dir = parent(path);
        if !dir.is_dir() || path.file_name().is_none() {
            return Err(sigwatch::Error::Fatal(format!(
                "--metrics-file {}: {} is not a directory; fix: create it, or name a file in an existing directory (e.g. node_exporter's --collector.textfile.directory)",
                path.display(),
                dir.display()
            )));
        }
        if path.is_dir() {
            return Err(sigwatch::Error::Fatal(format!(
                "--metrics-file {}: is a directory; fix: name a file in it, e.g. {}",
                path.display(),
                path.join("sigwatch.prom").display()
            )));
        }
        let shared = Arc::new(Shared::default());
        let (tx, done) = channel();
        let (p, s) = (path.to_path_buf(), Arc::clone(&shared));
        std::thread::Builder::new()
            .name("metrics-file".into())
            .spawn(move || {
                writer(&p, &s);
                let _ = tx.send(());
            })
            .map_err(|e| sigwatch::Error::Io {
                what: "starting the metrics file writer".into(),
                source: e,
            })?;
        Ok(MetricsFile {
            path: path.to_path_buf(),
            shared,
            done,
            last_write: None,
            last_kills: 0,
        })
    }

    /// Whether a write is due now, given the kills counted so far.
    pub fn due(&self, now: Instant, kills: u64) -> bool {
        match self.last_write {
            None => true,
            Some(t) => {
                let since = now.duration_since(t);
                since >= WRITE_EVERY || (kills != self.last_kills && since >= WRITE_AFTER_KILL)
            }
        }
    }

    /// Hands `text` to the writer (never blocks on the file).
    pub fn submit(&mut self, now: Instant, kills: u64, text: String) {
        self.last_write = Some(now);
        self.last_kills = kills;
        if let Ok(mut s) = self.shared.slot.lock() {
            s.next = Some(text);
        }
        self.shared.wake.notify_one();
    }

    /// Writes `text` as the last state and waits for it at most `grace`.
    pub fn finish(mut self, text: String, grace: Duration) {
        self.submit(Instant::now(), 0, text);
        if let Ok(mut s) = self.shared.slot.lock() {
            s.closing = true;
        }
        self.shared.wake.notify_one();
        if self.done.recv_timeout(grace).is_err() {
            crate::diag::say(&format!(
                "sigwatch: the metrics file {} was not written at exit: the write took longer than {} s",
                self.path.display(),
                grace.as_secs()
            ));
        }
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The writer thread: writes the latest text handed over until told to
/// close (after writing what is left).
fn writer(path: &Path, shared: &Shared) {
    loop {
        let (text, closing) = {
            let Ok(mut s) = shared.slot.lock() else {
                return;
            };
            while s.next.is_none() && !s.closing {
                s = match shared.wake.wait(s) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
            (s.next.take(), s.closing)
        };
        if let Some(t) = text {
            if let Err(e) = write_atomically(path, t.as_bytes()) {
                crate::diag::say(&format!(
                    "sigwatch: cannot write the metrics file {}: {e} (tried again in {} s)",
                    path.display(),
                    WRITE_EVERY.as_secs()
                ));
            }
        }
        if closing {
            return;
        }
    }
}

/// Writes `bytes` to a temporary file next to `path`, then renames it
/// over `path`: a reader sees the old file or the new one, never a part.
/// The temporary name starts with a dot and does not end in `.prom`, so
/// the textfile collector never reads it. No fsync: the file is rewritten
/// every few seconds and worthless after a crash.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = parent(path).join(format!(".{name}.{}.tmp", std::process::id()));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            // A symlink planted at the temporary name is not followed.
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tmpdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_file_stays() {
        let d = tmpdir();
        let p = d.path().join("sigwatch.prom");
        write_atomically(&p, b"a 1\n").unwrap();
        write_atomically(&p, b"a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a 2\n");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("sigwatch.prom")]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        // World-readable (node_exporter runs as its own user), subject to umask.
        assert_eq!(mode & 0o600, 0o600);
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let d = tmpdir();
        // The target is a non-empty directory: rename fails.
        let p = d.path().join("sigwatch.prom");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("x"), "").unwrap();
        assert!(write_atomically(&p, b"a 1\n").is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_writer_writes_the_last_text_at_finish() {
        let d = tmpdir();
        let p = d.path().join("m.prom");
        let mut m = MetricsFile::start(&p).unwrap();
        let t0 = Instant::now();
        assert!(m.due(t0, 0));
        m.submit(t0, 0, "a 1\n".into());
        assert!(!m.due(t0 + Duration::from_millis(500), 0));
        assert!(
            !m.due(t0 + Duration::from_millis(500), 1),
            "a kill waits 1 s"
        );
        assert!(m.due(t0 + WRITE_AFTER_KILL, 1));
        assert!(m.due(t0 + WRITE_EVERY, 0));
        m.finish("a 2\n".into(), Duration::from_secs(5));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a 2\n");
    }

    #[test]
    fn a_missing_directory_is_refused_at_the_start() {
        let d = tmpdir();
        let e = MetricsFile::start(&d.path().join("nope/m.prom")).unwrap_err();
        assert!(e.to_string().contains("is not a directory"), "{e}");
    }

    #[test]
    fn a_directory_as_the_file_is_refused_at_the_start() {
        let d = tmpdir();
        let e = MetricsFile::start(d.path()).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert!(e.to_string().contains("sigwatch.prom"), "{e}");
    }
}
