//! A private trace instance (`instances/sigwatch-<pid>-s<start time>`)
//! and the non-blocking `trace_pipe` reader on it.
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
use crate::identity::ProcessIdentity;
use crate::parse::{parse_cpu_stats, Record};
use crate::text::TextParser;
use crate::tracefs::{host_lock, Cleanup, HostLock, Locations, Tracefs};

/// Prefix of the instance directories this crate creates.
pub const INSTANCE_PREFIX: &str = "sigwatch-";

/// Which signals the kernel-side filter lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// How to set up the instance. Start from [`Config::default`] and change
/// what you need with the `with_*` methods:
///
/// ```
/// use tracesig::{Config, SignalFilter};
/// let cfg = Config::default()
///     .with_signals(SignalFilter::Only(vec![9, 15]))
///     .with_buffer_size_kb(1024);
/// assert_eq!(cfg.signals.expression().as_deref(), Some("sig == 9 || sig == 15"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Remove the instances of owners that are dead when opening (see
    /// [`TraceSource::cleaned_at_open`]) and when finishing. Default on.
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

impl Config {
    /// Sets [`Config::signals`].
    #[must_use]
    pub fn with_signals(mut self, signals: SignalFilter) -> Self {
        self.signals = signals;
        self
    }

    /// Sets [`Config::mark_victim`].
    #[must_use]
    pub fn with_mark_victim(mut self, on: bool) -> Self {
        self.mark_victim = on;
        self
    }

    /// Sets [`Config::buffer_size_kb`].
    #[must_use]
    pub fn with_buffer_size_kb(mut self, kb: u32) -> Self {
        self.buffer_size_kb = kb;
        self
    }

    /// Sets [`Config::record_tgid`].
    #[must_use]
    pub fn with_record_tgid(mut self, on: bool) -> Self {
        self.record_tgid = on;
        self
    }

    /// Sets [`Config::tracefs_root`].
    #[must_use]
    pub fn with_tracefs_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.tracefs_root = Some(root.into());
        self
    }

    /// Sets [`Config::locations`].
    #[must_use]
    pub fn with_locations(mut self, locations: Locations) -> Self {
        self.locations = locations;
        self
    }

    /// Sets [`Config::clean_stale`].
    #[must_use]
    pub fn with_clean_stale(mut self, on: bool) -> Self {
        self.clean_stale = on;
        self
    }
}

static INSTANCE_SEQ: AtomicU32 = AtomicU32::new(0);

/// The owner encoded in an instance name of this crate:
/// `sigwatch-<pid>-s<start time>` or `sigwatch-<pid>-s<start time>-<n>`,
/// and the names of older versions without the start time,
/// `sigwatch-<pid>` and `sigwatch-<pid>-<n>` (`start_time` `None`).
/// `None` for any other name.
pub fn instance_identity(name: &str) -> Option<ProcessIdentity> {
    let rest = name.strip_prefix(INSTANCE_PREFIX)?;
    let mut parts = rest.split('-');
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let pid = i32::try_from(num(parts.next()?)?).ok().filter(|&p| p > 0)?;
    let mut start_time = None;
    let mut next = parts.next();
    if let Some(t) = next.and_then(|p| p.strip_prefix('s')) {
        start_time = Some(num(t)?);
        next = parts.next();
    }
    if let Some(seq) = next {
        num(seq)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(ProcessIdentity::new(pid, start_time))
}

/// The pid in an instance name of this crate (see [`instance_identity`]).
pub fn instance_owner(name: &str) -> Option<i32> {
    instance_identity(name).map(|o| o.pid)
}

/// Removes the instances under `root/instances` of owners that are dead
/// (see [`ProcessIdentity::is_alive`]), except `keep`. Returns the names
/// removed; other instances are never touched.
pub(crate) fn clean_stale_locked(
    root: &Path,
    keep: Option<&str>,
    _lock: &HostLock,
) -> Result<Vec<String>> {
    let dir = root.join("instances");
    let mut removed = Vec::new();
    let entries = fs::read_dir(&dir).map_err(|e| Error::io("read_dir", &dir, e))?;
    for ent in entries.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        let Some(owner) = instance_identity(&name) else {
            continue;
        };
        if Some(name.as_str()) == keep || owner.is_alive() {
            continue;
        }
        // Switch its events off first: a busy rmdir should not leave
        // them on.
        let _ = fs::write(ent.path().join("events/enable"), "0");
        match fs::remove_dir(ent.path()) {
            Ok(()) => {
                log::info!("removed stale trace instance {name} ({owner} is gone)");
                removed.push(name);
            }
            Err(e) => log::warn!("cannot remove stale trace instance {name}: {e}"),
        }
    }
    Ok(removed)
}

/// A trace instance of this process; removed on drop (see
/// [`Instance::finish`]).
#[derive(Debug)]
pub struct Instance {
    dir: PathBuf,
    name: String,
    mark_victim: bool,
    record_tgid: bool,
    clean_stale: bool,
    cleaned_at_open: Cleanup,
    finished: bool,
    // Dropped last: keeps tracefs mounted while the instance exists.
    tracefs: Tracefs,
}

fn write_file(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

impl Instance {
    /// Locates or mounts tracefs, removes the instances of dead owners
    /// (with [`Config::clean_stale`]), then creates and configures the
    /// instance, all under the host-wide lock ([`crate::tracefs::LOCK_PATH`]).
    ///
    /// # Errors
    /// [`Error::Unavailable`] without a usable tracing directory,
    /// [`Error::NoInstances`] on kernels without instances,
    /// [`Error::MissingEvent`] without `signal:signal_generate`, and
    /// [`Error::Io`] when a tracefs file cannot be created or written.
    pub fn create(cfg: &Config) -> Result<Self> {
        let lock = host_lock();
        let tracefs = match &cfg.tracefs_root {
            Some(r) => Tracefs::at(r)?,
            None => Tracefs::locate_locked(&cfg.locations, &lock)?,
        };
        let made = Self::make_dir(&tracefs, cfg, &lock);
        // Unlock before `tracefs` may drop (its drop takes the lock).
        drop(lock);
        let (name, dir, cleaned_at_open) = made?;
        let mut inst = Instance {
            dir,
            name,
            mark_victim: false,
            record_tgid: false,
            clean_stale: cfg.clean_stale,
            cleaned_at_open,
            finished: false,
            tracefs,
        };
        // From here on, Drop removes the directory if configuring fails.
        inst.configure(cfg)?;
        Ok(inst)
    }

    /// Checks the tracing directory, cleans stale instances and makes
    /// the instance directory; returns its name, path and the clean-up.
    fn make_dir(
        tracefs: &Tracefs,
        cfg: &Config,
        lock: &HostLock,
    ) -> Result<(String, PathBuf, Cleanup)> {
        let inst_dir = tracefs.instances_dir()?;
        if !tracefs
            .root()
            .join("events/signal/signal_generate")
            .is_dir()
        {
            return Err(Error::MissingEvent("signal:signal_generate"));
        }
        let mut cleaned = Cleanup::default();
        if cfg.clean_stale {
            cleaned.stale_instances = clean_stale_locked(tracefs.root(), None, lock)?;
        }
        let me = ProcessIdentity::current();
        let id = match me.start_time {
            Some(t) => format!("{}-s{t}", me.pid),
            None => me.pid.to_string(),
        };
        // The first instance of the process has no sequence number; more
        // (tests run in threads) get one.
        loop {
            let seq = INSTANCE_SEQ.fetch_add(1, Ordering::Relaxed);
            let name = if seq == 0 {
                format!("{INSTANCE_PREFIX}{id}")
            } else {
                format!("{INSTANCE_PREFIX}{id}-{seq}")
            };
            let dir = inst_dir.join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => return Ok((name, dir, cleaned)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("mkdir", &dir, e)),
            }
        }
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

    /// The instance name (`sigwatch-<pid>-s<start time>`, with `-<n>`
    /// for a second instance of the process; see [`instance_identity`]).
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

    /// What was removed while opening: instances of dead owners.
    pub fn cleaned_at_open(&self) -> &Cleanup {
        &self.cleaned_at_open
    }

    /// Removes the instances of dead owners now (another instance's owner
    /// may have died since this one was opened); call it periodically.
    ///
    /// # Errors
    /// [`Error::Io`] when the instances directory cannot be read.
    pub fn clean_stale(&self) -> Result<Cleanup> {
        let lock = host_lock();
        Ok(Cleanup {
            stale_instances: clean_stale_locked(self.tracefs.root(), Some(&self.name), &lock)?,
            unmounted: None,
        })
    }

    /// Removes the instance, then (with [`Config::clean_stale`]) the
    /// instances of dead owners, and undoes the tracefs mount when this
    /// process or a dead owner made it and no instance remains. Dropping
    /// the instance does the same, logging what `finish` returns.
    ///
    /// # Errors
    /// [`Error::Io`] when the instance cannot be removed (the rest is
    /// still done) or the instances directory cannot be read.
    pub fn finish(mut self) -> Result<Cleanup> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<Cleanup> {
        if std::mem::replace(&mut self.finished, true) {
            return Ok(Cleanup::default());
        }
        let removed = self.remove();
        let lock = host_lock();
        let cleaned = self.tracefs.release(self.clean_stale, &lock);
        removed?;
        cleaned
    }

    /// Loss so far, from every `per_cpu/cpuN/stats` of the instance.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Parse`] when a stats file cannot be
    /// read or parsed.
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
        match self.shutdown() {
            Ok(c) => {
                log::debug!("removed trace instance {}", self.name);
                if !c.stale_instances.is_empty() {
                    log::info!("removed stale trace instances {:?}", c.stale_instances);
                }
            }
            Err(e) => log::warn!("{e}"),
        }
    }
}

/// Loss counters of a [`TraceSource`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
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
/// [`TraceSource::read_available`]; call [`TraceSource::clean_stale`]
/// now and then, and [`TraceSource::finish`] (or drop it) at the end.
#[derive(Debug)]
pub struct TraceSource {
    // Field order matters: the pipe must be closed before the instance's
    // rmdir (which fails with EBUSY while it is open).
    pipe: File,
    buf: Vec<u8>,
    text: TextParser,
    instance: Instance,
}

impl TraceSource {
    /// Everything the witness needs, in one call: locates or mounts
    /// tracefs (marking a mount it makes), removes the instances of dead
    /// owners (see [`TraceSource::cleaned_at_open`]), creates and
    /// configures this process's instance, and opens its `trace_pipe`.
    ///
    /// # Errors
    /// As [`Instance::create`], and [`Error::Io`] when `trace_pipe`
    /// cannot be opened.
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
            text: TextParser::new(),
            instance,
        })
    }

    /// The instance behind this source.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// What [`TraceSource::open`] removed: instances of dead owners.
    pub fn cleaned_at_open(&self) -> &Cleanup {
        self.instance.cleaned_at_open()
    }

    /// Removes the instances of owners that died since (see
    /// [`Instance::clean_stale`]).
    ///
    /// # Errors
    /// [`Error::Io`] when the instances directory cannot be read.
    pub fn clean_stale(&self) -> Result<Cleanup> {
        self.instance.clean_stale()
    }

    /// Closes `trace_pipe`, removes the instance and cleans up after
    /// dead owners and the mount (see [`Instance::finish`]); returns what
    /// was removed besides this source's own instance.
    ///
    /// # Errors
    /// As [`Instance::finish`].
    pub fn finish(self) -> Result<Cleanup> {
        let TraceSource { pipe, instance, .. } = self;
        drop(pipe);
        instance.finish()
    }

    /// Reads whatever `trace_pipe` holds now without blocking, parses
    /// it, and appends the records to `out`. Returns how many were
    /// appended. Events whose comm holds a newline are joined back
    /// ([`TextParser`]); lines that fail to parse are skipped and
    /// counted in [`Loss::unparsed`]. Reads at most ~1 MiB per call so a
    /// flood cannot starve the caller's other sources.
    ///
    /// # Errors
    /// [`Error::Io`] when reading `trace_pipe` fails.
    pub fn read_available(&mut self, out: &mut Vec<Record>) -> Result<usize> {
        let before = out.len();
        let mut budget: usize = 1 << 20;
        loop {
            if budget == 0 {
                // More may be waiting: keep an event that may continue,
                // unless the text ended at a line boundary.
                if !self.text.has_partial_line() {
                    self.text.flush(out);
                }
                break;
            }
            let n = match self.pipe.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::io(
                        "read",
                        self.instance.path().join("trace_pipe"),
                        e,
                    ))
                }
            };
            if n == 0 {
                // The kernel prints an event's lines in one go: what is
                // pending now is complete.
                self.text.flush(out);
                break;
            }
            budget = budget.saturating_sub(n);
            self.text.push(&self.buf[..n], out);
        }
        Ok(out.len() - before)
    }

    /// Current loss counters (reads the per-CPU stats files).
    ///
    /// # Errors
    /// As [`Instance::buffer_loss`].
    pub fn loss(&self) -> Result<Loss> {
        Ok(Loss {
            buffer: self.instance.buffer_loss()?,
            unparsed: self.text.unparsed(),
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
