//! Finding (and if needed mounting) the tracing file system, and undoing
//! that mount.
//!
//! Kernels ≥ 4.1 have tracefs, mounted at `/sys/kernel/tracing`; older
//! ones only expose the tracing directory inside debugfs at
//! `/sys/kernel/debug/tracing`. Neither is necessarily mounted. When this
//! crate mounts one, it writes a mount mark ([`Locations::mark`]) naming
//! the mounting process by pid and start time. The mount is undone by
//! the last user to leave: the process that mounted it when no trace
//! instance remains, or else whichever process using this crate finishes
//! last after the mounting process died (also by SIGKILL). Every
//! decision is taken under one host-wide lock, [`LOCK_PATH`], which
//! [`crate::TraceSource::open`] also holds while it creates its
//! instance, so a mount is never pulled from under an instance being
//! created.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};
use crate::identity::ProcessIdentity;
use crate::instance::clean_stale_locked;
use crate::mark::{current_mount_id, Mark};

/// Where tracefs lives on kernels ≥ 4.1.
pub const TRACEFS_PATH: &str = "/sys/kernel/tracing";
/// Where debugfs lives (its `tracing/` subdirectory on older kernels).
pub const DEBUGFS_PATH: &str = "/sys/kernel/debug";
/// The default mount mark (see [`Locations::mark`]).
pub const MOUNT_MARK_PATH: &str = "/run/sigwatch-tracefs.mount";
/// The lock serialising mount, unmount, instance creation and stale
/// clean-up between processes using this crate.
pub const LOCK_PATH: &str = "/run/lock/sigwatch-tracefs.lock";

/// Where to look for the tracing directory, where to mount it, and where
/// to mark a mount this crate made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Locations {
    /// tracefs mount point ([`TRACEFS_PATH`]). The kernel creates this
    /// directory only when it has tracefs; when it is missing, debugfs
    /// is used.
    pub tracefs: PathBuf,
    /// debugfs mount point ([`DEBUGFS_PATH`]); the tracing directory is
    /// its `tracing/` subdirectory.
    pub debugfs: PathBuf,
    /// The mount mark file ([`MOUNT_MARK_PATH`] by default): written when
    /// this crate mounts, so that a mount whose owner died is undone by
    /// the next user to leave. `None`: no mark; a mount is then undone
    /// only by the process that made it.
    pub mark: Option<PathBuf>,
}

impl Default for Locations {
    fn default() -> Self {
        Locations {
            tracefs: PathBuf::from(TRACEFS_PATH),
            debugfs: PathBuf::from(DEBUGFS_PATH),
            mark: Some(PathBuf::from(MOUNT_MARK_PATH)),
        }
    }
}

impl Locations {
    /// Other mount points, without a mount mark (add one with
    /// [`Locations::with_mark`]).
    pub fn new(tracefs: impl Into<PathBuf>, debugfs: impl Into<PathBuf>) -> Self {
        Locations {
            tracefs: tracefs.into(),
            debugfs: debugfs.into(),
            mark: None,
        }
    }

    /// Sets the mount mark file.
    #[must_use]
    pub fn with_mark(mut self, mark: impl Into<PathBuf>) -> Self {
        self.mark = Some(mark.into());
        self
    }
}

/// What a clean-up removed: trace instances of processes that are gone
/// and a mount undone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cleanup {
    /// Names of the trace instances removed because their owner is dead
    /// (pid gone, a zombie, or reused by a process started later).
    pub stale_instances: Vec<String>,
    /// The mount point unmounted: this process's mount, or that of a
    /// dead process named by the mount mark.
    pub unmounted: Option<PathBuf>,
}

impl Cleanup {
    /// Nothing was removed.
    pub fn is_empty(&self) -> bool {
        self.stale_instances.is_empty() && self.unmounted.is_none()
    }
}

/// The host-wide lock: a process-wide mutex (flock(2) does not exclude
/// threads of one process that open the file separately) and the
/// flock on [`LOCK_PATH`]. Taken before the handle registry.
#[derive(Debug)]
pub(crate) struct HostLock {
    _file: Option<Flock<File>>,
    _threads: MutexGuard<'static, ()>,
}

static THREADS: Mutex<()> = Mutex::new(());

pub(crate) fn host_lock() -> HostLock {
    let threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    // Without /run/lock (or as non-root) go on unlocked: only other
    // processes' races are lost, never this process's own order.
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_PATH)
        .ok()
        .and_then(|f| Flock::lock(f, FlockArg::LockExclusive).ok());
    HostLock {
        _file: file,
        _threads: threads,
    }
}

/// A tracing directory this process holds handles on.
#[derive(Debug)]
struct Registered {
    root: PathBuf,
    /// The mount point and mount id, when this process mounted it.
    own_mount: Option<(PathBuf, Option<u64>)>,
    /// Live located [`Tracefs`] handles of this process on it.
    users: usize,
}

static REGISTRY: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// A handle on the tracing directory (the one holding `trace_pipe`,
/// `events/` and `instances/`).
#[derive(Debug)]
pub struct Tracefs {
    root: PathBuf,
    /// The mount point this process mounted for `root`, if it did.
    own_mount: Option<PathBuf>,
    /// How it was located; `None` for [`Tracefs::at`] (never unmounted).
    loc: Option<Locations>,
    released: bool,
}

fn is_tracing_dir(p: &Path) -> bool {
    p.join("events").is_dir() && p.join("trace_pipe").exists()
}

fn mount_fs(fstype: &str, at: &Path) -> Result<()> {
    mount(
        Some("nodev"),
        at,
        Some(fstype),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| Error::Unavailable(format!("mount {fstype} on {}: {e}", at.display())))?;
    log::info!("mounted {fstype} on {}", at.display());
    Ok(())
}

impl Tracefs {
    /// Uses the tracing directory at `root` as is (no mounting, no
    /// unmounting, no mark). For tests and unusual layouts.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when `root` has no `events/` and
    /// `trace_pipe`.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if !is_tracing_dir(&root) {
            return Err(Error::Unavailable(format!(
                "{} is not a tracing directory",
                root.display()
            )));
        }
        Ok(Tracefs {
            root,
            own_mount: None,
            loc: None,
            released: false,
        })
    }

    /// Finds the tracing directory at the standard places, mounting
    /// tracefs at [`TRACEFS_PATH`] (or debugfs at [`DEBUGFS_PATH`] on
    /// kernels without tracefs) when it is not mounted, and marking that
    /// mount. A mount made here is undone when the last handle of this
    /// process drops and no trace instance remains. Needs root to mount.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when no tracing directory exists and none
    /// can be mounted.
    pub fn locate_or_mount() -> Result<Self> {
        Self::locate_or_mount_in(&Locations::default())
    }

    /// [`Tracefs::locate_or_mount`] with other mount points (tests force
    /// the debugfs fallback this way on a kernel that has tracefs).
    ///
    /// # Errors
    /// As [`Tracefs::locate_or_mount`].
    pub fn locate_or_mount_in(loc: &Locations) -> Result<Self> {
        let lock = host_lock();
        Self::locate_locked(loc, &lock)
    }

    pub(crate) fn locate_locked(loc: &Locations, _lock: &HostLock) -> Result<Self> {
        let (root, mounted) = Self::find_or_mount(loc)?;
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let own_mount = match reg.iter_mut().find(|r| r.root == root) {
            Some(r) => {
                r.users += 1;
                r.own_mount.as_ref().map(|(mp, _)| mp.clone())
            }
            None => {
                let own = mounted.map(|mp| {
                    let id = current_mount_id(&mp);
                    if let Some(path) = &loc.mark {
                        let mark = Mark {
                            owner: ProcessIdentity::current(),
                            mount_point: mp.clone(),
                            mount_id: id,
                        };
                        if let Err(e) = mark.write(path) {
                            log::warn!("cannot write the mount mark {}: {e}", path.display());
                        }
                    }
                    (mp, id)
                });
                let mp = own.as_ref().map(|(mp, _)| mp.clone());
                reg.push(Registered {
                    root: root.clone(),
                    own_mount: own,
                    users: 1,
                });
                mp
            }
        };
        Ok(Tracefs {
            root,
            own_mount,
            loc: Some(loc.clone()),
            released: false,
        })
    }

    /// Returns the tracing directory and the mount point we mounted.
    fn find_or_mount(loc: &Locations) -> Result<(PathBuf, Option<PathBuf>)> {
        let tracefs = loc.tracefs.as_path();
        let debug_tracing = loc.debugfs.join("tracing");
        if is_tracing_dir(tracefs) {
            return Ok((tracefs.to_path_buf(), None));
        }
        if is_tracing_dir(&debug_tracing) {
            return Ok((debug_tracing, None));
        }
        if tracefs.is_dir() {
            mount_fs("tracefs", tracefs)?;
            if is_tracing_dir(tracefs) {
                return Ok((tracefs.to_path_buf(), Some(tracefs.to_path_buf())));
            }
            let _ = umount2(tracefs, MntFlags::empty());
            return Err(Error::Unavailable(format!(
                "tracefs on {} has no events (CONFIG_EVENT_TRACING off?)",
                tracefs.display()
            )));
        }
        if loc.debugfs.is_dir() && !debug_tracing.exists() {
            mount_fs("debugfs", &loc.debugfs)?;
            if is_tracing_dir(&debug_tracing) {
                return Ok((debug_tracing, Some(loc.debugfs.clone())));
            }
            unmount_all(&loc.debugfs, &debug_tracing);
        }
        Err(Error::Unavailable(format!(
            "no tracing directory at {} or {}",
            tracefs.display(),
            debug_tracing.display()
        )))
    }

    /// The tracing directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `instances/` directory (kernels ≥ 3.10).
    ///
    /// # Errors
    /// [`Error::NoInstances`] when the kernel has none.
    pub fn instances_dir(&self) -> Result<PathBuf> {
        let d = self.root.join("instances");
        if d.is_dir() {
            Ok(d)
        } else {
            Err(Error::NoInstances(self.root.clone()))
        }
    }

    /// The mount point this process mounted for this handle's tracing
    /// directory, or `None` when it was already mounted.
    pub fn own_mount(&self) -> Option<&Path> {
        self.own_mount.as_deref()
    }

    /// Whether this process currently holds any mount it made.
    pub fn mounted_by_us() -> bool {
        REGISTRY
            .lock()
            .map(|r| r.iter().any(|m| m.own_mount.is_some()))
            .unwrap_or(false)
    }

    /// Gives this handle up (once). With `clean_stale`, trace instances
    /// of dead owners are removed first and a mount marked by a dead
    /// process may be undone; without, only this process's own mount
    /// (or its own mark) is considered. The mount is undone only by the
    /// last handle of this process and only when no instance remains.
    pub(crate) fn release(&mut self, clean_stale: bool, lock: &HostLock) -> Result<Cleanup> {
        let mut out = Cleanup::default();
        if std::mem::replace(&mut self.released, true) {
            return Ok(out);
        }
        let Some(loc) = self.loc.take() else {
            return Ok(out);
        };
        let own = {
            let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            let Some(i) = reg.iter().position(|r| r.root == self.root) else {
                return Ok(out);
            };
            reg[i].users = reg[i].users.saturating_sub(1);
            if reg[i].users > 0 {
                None
            } else {
                Some(reg.swap_remove(i).own_mount)
            }
        };
        let mut failed = None;
        if clean_stale && self.root.join("instances").is_dir() {
            match clean_stale_locked(&self.root, None, lock) {
                Ok(v) => out.stale_instances = v,
                Err(e) => failed = Some(e),
            }
        }
        // Unless other handles of this process still use the directory.
        if let Some(own) = own {
            out.unmounted = undo_mount(&loc, own, clean_stale);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// The mount to undo, if any: the mark's when its owner is this process
/// or (with `dead_owners`) a dead one, else this process's own mount.
/// Returns the mount point unmounted.
fn undo_mount(
    loc: &Locations,
    own: Option<(PathBuf, Option<u64>)>,
    dead_owners: bool,
) -> Option<PathBuf> {
    let me = ProcessIdentity::current();
    let mark = loc
        .mark
        .as_deref()
        .and_then(|p| Mark::read(p).map(|m| (p, m)));
    let mut mark_path = None;
    let (mp, id) = match &mark {
        Some((path, m))
            if (m.owner.pid == me.pid
                && m.owner.start_time.is_none_or(|t| Some(t) == me.start_time))
                || (dead_owners && !m.owner.is_alive()) =>
        {
            mark_path = Some(*path);
            (m.mount_point.clone(), m.mount_id)
        }
        _ => own?,
    };
    let remove_mark = || {
        if let Some(p) = mark_path {
            let _ = std::fs::remove_file(p);
        }
    };
    let Some(now) = current_mount_id(&mp) else {
        // Already unmounted.
        remove_mark();
        return None;
    };
    if id.is_some_and(|id| id != now) {
        // Mounted again since, by somebody else: not ours to undo.
        remove_mark();
        return None;
    }
    let root = if mp.join("instances").is_dir() {
        mp.clone()
    } else {
        mp.join("tracing")
    };
    // Somebody's instance means somebody uses it: leave it (and the
    // mark, for whoever leaves last).
    let busy = std::fs::read_dir(root.join("instances"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if busy {
        log::info!("leaving {} mounted: trace instances remain", mp.display());
        return None;
    }
    if unmount_all(&mp, &root) {
        remove_mark();
        Some(mp)
    } else {
        None
    }
}

/// Unmounts `mp`; on kernels with tracefs, touching `debugfs/tracing`
/// automounts tracefs there, which must go first. Returns whether `mp`
/// was unmounted.
fn unmount_all(mp: &Path, root: &Path) -> bool {
    if root != mp {
        match umount2(root, MntFlags::empty()) {
            // EINVAL: not a mount point (old kernels: a plain directory).
            Ok(()) | Err(Errno::EINVAL) => {}
            Err(e) => log::warn!("umount {}: {e}", root.display()),
        }
    }
    match umount2(mp, MntFlags::empty()) {
        Ok(()) => {
            log::info!("unmounted {}", mp.display());
            true
        }
        Err(e) => {
            log::warn!("leaving {} mounted: umount: {e}", mp.display());
            false
        }
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let lock = host_lock();
        if let Err(e) = self.release(false, &lock) {
            log::warn!("releasing {}: {e}", self.root.display());
        }
    }
}
