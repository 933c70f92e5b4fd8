//! A private trace instance (`instances/sigwatch-<pid>`) and the
//! non-blocking `trace_pipe` reader on it.
//!
//! `mkdir instances/<name>` gives a ring buffer, event switches and
//! options of our own, so the global buffer and other tracing users are
//! never touched; `rmdir` frees it. Everything written here is inside
//! that directory.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::parse::{parse_cpu_stats, parse_line, Record};
use crate::tracefs::{Locations, Tracefs};

/// Prefix of the instance directories this crate creates.
pub const INSTANCE_PREFIX: &str = "sigwatch-";

/// Which signals the kernel-side filter lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalFilter {
    /// Every signal (no filter: expect SIGCHLD for every exit).
    All,
    /// Only these signal numbers (`sig == 9 || sig == 15`).
    Only(Vec<i32>),
}

impl SignalFilter {
    /// The filter expression written to `events/signal/signal_generate/filter`
    /// (`None`: no filter).
    pub fn expression(&self) -> Option<String> {
        match self {
            SignalFilter::All => None,
            SignalFilter::Only(sigs) if sigs.is_empty() => None,
            SignalFilter::Only(sigs) => Some(
                sigs.iter()
                    .map(|s| format!("sig == {s}"))
                    .collect::<Vec<_>>()
                    .join(" || "),
            ),
        }
    }
}

/// How to set up the instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Kernel-side signal filter. Default: SIGKILL only.
    pub signals: SignalFilter,
    /// Also trace `oom:mark_victim` where the kernel has it. Default: on.
    pub mark_victim: bool,
    /// Per-CPU ring buffer size (`buffer_size_kb`). Default 256 kB: with
    /// a SIGKILL filter that is thousands of events per CPU between two
    /// reads; raise it with [`SignalFilter::All`].
    pub buffer_size_kb: u32,
    /// Record the sender's tgid (`options/record-tgid`, 4.13+). Default on.
    pub record_tgid: bool,
    /// Use this tracing directory as is instead of locating / mounting
    /// one.
    pub tracefs_root: Option<PathBuf>,
    /// Where to locate (or mount) tracefs / debugfs when `tracefs_root`
    /// is `None`. Default: the standard places.
    pub locations: Locations,
    /// Remove stale `sigwatch-<pid>` instances whose process is gone.
    /// Default on.
    pub clean_stale: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            signals: SignalFilter::Only(vec![libc::SIGKILL]),
            mark_victim: true,
            buffer_size_kb: 256,
            record_tgid: true,
            tracefs_root: None,
            locations: Locations::default(),
            clean_stale: true,
        }
    }
}

static INSTANCE_SEQ: AtomicU32 = AtomicU32::new(0);

/// Longest line kept while waiting for its newline (the kernel's
/// trace_seq page is 4 KiB; leave a wide margin).
const MAX_LINE: usize = 64 * 1024;

/// The pid encoded in an instance name `sigwatch-<pid>` or
/// `sigwatch-<pid>-<n>`, if it is one of ours.
pub fn instance_owner(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(INSTANCE_PREFIX)?;
    let (pid, seq) = match rest.split_once('-') {
        Some((p, s)) => (p, Some(s)),
        None => (rest, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(pid) || seq.is_some_and(|s| !all_digits(s)) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

fn pid_alive(pid: i32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes `sigwatch-<pid>` instances whose process no longer exists.
/// Returns the names removed. Other instances are never touched.
pub fn clean_stale_instances(tracefs: &Tracefs) -> Result<Vec<String>> {
    let dir = tracefs.instances_dir()?;
    let me = std::process::id() as i32;
    let mut removed = Vec::new();
    let entries = fs::read_dir(&dir).map_err(|e| Error::io("read_dir", &dir, e))?;
    for ent in entries.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        let Some(pid) = instance_owner(&name) else {
            continue;
        };
        if pid == me || pid_alive(pid) {
            continue;
        }
        match fs::remove_dir(ent.path()) {
            Ok(()) => {
                log::info!("removed stale trace instance {name} (pid {pid} is gone)");
                removed.push(name);
            }
            Err(e) => log::warn!("cannot remove stale trace instance {name}: {e}"),
        }
    }
    Ok(removed)
}

/// A trace instance of this process; removed on drop.
#[derive(Debug)]
pub struct Instance {
    dir: PathBuf,
    name: String,
    mark_victim: bool,
    record_tgid: bool,
    // Dropped last: keeps tracefs mounted while the instance exists.
    tracefs: Tracefs,
}

fn write_file(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

impl Instance {
    /// Creates and configures the instance (see [`Config`]).
    pub fn create(cfg: &Config) -> Result<Self> {
        let tracefs = match &cfg.tracefs_root {
            Some(r) => Tracefs::at(r)?,
            None => Tracefs::locate_or_mount_in(&cfg.locations)?,
        };
        let inst_dir = tracefs.instances_dir()?;
        if !tracefs
            .root()
            .join("events/signal/signal_generate")
            .is_dir()
        {
            return Err(Error::MissingEvent("signal:signal_generate"));
        }
        if cfg.clean_stale {
            clean_stale_instances(&tracefs)?;
        }
        let pid = std::process::id();
        // The first instance of the process is `sigwatch-<pid>`; more
        // (tests run in threads) get a sequence number.
        let (name, dir) = loop {
            let seq = INSTANCE_SEQ.fetch_add(1, Ordering::Relaxed);
            let name = if seq == 0 {
                format!("{INSTANCE_PREFIX}{pid}")
            } else {
                format!("{INSTANCE_PREFIX}{pid}-{seq}")
            };
            let dir = inst_dir.join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => break (name, dir),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("mkdir", &dir, e)),
            }
        };
        let mut inst = Instance {
            dir,
            name,
            mark_victim: false,
            record_tgid: false,
            tracefs,
        };
        // From here on, Drop removes the directory if configuring fails.
        inst.configure(cfg)?;
        Ok(inst)
    }

    fn configure(&mut self, cfg: &Config) -> Result<()> {
        let d = &self.dir;
        write_file(&d.join("buffer_size_kb"), &cfg.buffer_size_kb.to_string())?;
        // buffer_percent is left alone: it only gates the per-CPU
        // trace_pipe_raw waiters; for the all-CPU trace_pipe the ring
        // buffer ignores it ("Full only makes sense on per cpu reads",
        // ring_buffer.c), so poll() wakes on the first event (tested).
        // CLOCK_MONOTONIC timestamps, comparable with the proc
        // connector's timestamp_ns; keep the default where absent.
        if let Ok(clocks) = fs::read_to_string(d.join("trace_clock")) {
            if clocks
                .split_whitespace()
                .any(|c| c.trim_matches(['[', ']']) == "mono")
            {
                write_file(&d.join("trace_clock"), "mono")?;
            }
        }
        let tgid_opt = d.join("options/record-tgid");
        if cfg.record_tgid && tgid_opt.exists() {
            write_file(&tgid_opt, "1")?;
            self.record_tgid = true;
        }
        let sg = d.join("events/signal/signal_generate");
        match cfg.signals.expression() {
            Some(expr) => write_file(&sg.join("filter"), &expr)?,
            None => write_file(&sg.join("filter"), "0")?,
        }
        write_file(&sg.join("enable"), "1")?;
        let mv = d.join("events/oom/mark_victim");
        if cfg.mark_victim && mv.is_dir() {
            write_file(&mv.join("enable"), "1")?;
            self.mark_victim = true;
        }
        Ok(())
    }

    /// The instance directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The instance name (`sigwatch-<pid>` or `sigwatch-<pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tracing file system the instance lives in.
    pub fn tracefs(&self) -> &Tracefs {
        &self.tracefs
    }

    /// Whether `oom:mark_victim` is traced (the tracepoint exists).
    pub fn mark_victim_traced(&self) -> bool {
        self.mark_victim
    }

    /// Whether the sender's tgid column is recorded.
    pub fn record_tgid(&self) -> bool {
        self.record_tgid
    }

    /// Loss so far, from every `per_cpu/cpuN/stats` of the instance.
    pub fn buffer_loss(&self) -> Result<u64> {
        let per_cpu = self.dir.join("per_cpu");
        let mut total = 0u64;
        let entries = fs::read_dir(&per_cpu).map_err(|e| Error::io("read_dir", &per_cpu, e))?;
        for ent in entries.flatten() {
            let p = ent.path().join("stats");
            let text = fs::read(&p).map_err(|e| Error::io("read", &p, e))?;
            total = total.saturating_add(parse_cpu_stats(&text)?.lost());
        }
        Ok(total)
    }

    fn remove(&mut self) -> Result<()> {
        // Switch our events off first (harmless if it fails); rmdir
        // would do it too, but a busy rmdir should not leave them on.
        let _ = fs::write(self.dir.join("events/enable"), "0");
        let mut last = None;
        for _ in 0..10 {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                // EBUSY while a reader still has a file open.
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        match last {
            Some(e) => Err(Error::io("rmdir", &self.dir, e)),
            None => Ok(()),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        match self.remove() {
            Ok(()) => log::debug!("removed trace instance {}", self.name),
            Err(e) => log::warn!("{e}"),
        }
    }
}

/// Loss counters of a [`TraceSource`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loss {
    /// Events the ring buffers lost (sum of `overrun`, `commit overrun`
    /// and `dropped events` over all CPUs). The `CPU:n [LOST m EVENTS]`
    /// lines of `trace_pipe` report the same events, not extra ones.
    pub buffer: u64,
    /// Lines that could not be parsed (skipped).
    pub unparsed: u64,
}

/// The reader: a configured [`Instance`] and its `trace_pipe`, opened
/// non-blocking. Poll its fd ([`AsFd`]) for readability, then call
/// [`TraceSource::read_available`].
#[derive(Debug)]
pub struct TraceSource {
    // Field order matters: the pipe must be closed before the instance's
    // rmdir (which fails with EBUSY while it is open).
    pipe: File,
    buf: Vec<u8>,
    /// Bytes of an incomplete last line kept for the next read.
    partial: Vec<u8>,
    unparsed: u64,
    instance: Instance,
}

impl TraceSource {
    /// Creates the instance and opens its `trace_pipe`.
    pub fn open(cfg: &Config) -> Result<Self> {
        let instance = Instance::create(cfg)?;
        let p = instance.path().join("trace_pipe");
        let pipe = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&p)
            .map_err(|e| Error::io("open", &p, e))?;
        Ok(TraceSource {
            pipe,
            buf: vec![0; 64 * 1024],
            partial: Vec::new(),
            unparsed: 0,
            instance,
        })
    }

    /// The instance behind this source.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Reads whatever `trace_pipe` holds now without blocking, parses
    /// it, and appends the records to `out`. Returns how many were
    /// appended. Lines that fail to parse are skipped and counted in
    /// [`Loss::unparsed`]. Reads at most ~1 MiB per call so a flood
    /// cannot starve the caller's other sources.
    pub fn read_available(&mut self, out: &mut Vec<Record>) -> Result<usize> {
        let before = out.len();
        let mut budget: usize = 1 << 20;
        while budget > 0 {
            let n = match self.pipe.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::io(
                        "read",
                        self.instance.path().join("trace_pipe"),
                        e,
                    ))
                }
            };
            budget = budget.saturating_sub(n);
            let chunk = &self.buf[..n];
            // Lines are usually whole per read; handle a split anyway.
            let mut start = 0;
            for (i, &b) in chunk.iter().enumerate() {
                if b != b'\n' {
                    continue;
                }
                let line: &[u8] = if self.partial.is_empty() {
                    &chunk[start..i]
                } else {
                    self.partial.extend_from_slice(&chunk[start..i]);
                    &self.partial
                };
                match parse_line(line) {
                    Ok(r) => out.push(r),
                    Err(e) => {
                        self.unparsed += 1;
                        log::debug!("{e}: {:?}", String::from_utf8_lossy(line));
                    }
                }
                self.partial.clear();
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
        Ok(out.len() - before)
    }

    /// Current loss counters (reads the per-CPU stats files).
    pub fn loss(&self) -> Result<Loss> {
        Ok(Loss {
            buffer: self.instance.buffer_loss()?,
            unparsed: self.unparsed,
        })
    }
}

impl AsFd for TraceSource {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }
}

impl AsRawFd for TraceSource {
    fn as_raw_fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }
}
