//! Finding (and if needed mounting) the tracing file system.
//!
//! Kernels ≥ 4.1 have tracefs, mounted at `/sys/kernel/tracing`; older
//! ones only expose the tracing directory inside debugfs at
//! `/sys/kernel/debug/tracing`. Neither is necessarily mounted (the
//! test host of this project has neither). A mount we make is shared by
//! every [`Tracefs`] handle of this process and undone when the last one
//! goes away, but only if no trace instance remains (somebody else may
//! have started using it) and nothing holds a file open (plain
//! `umount`, which fails with `EBUSY` then).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};

/// Where tracefs lives on kernels ≥ 4.1.
pub const TRACEFS_PATH: &str = "/sys/kernel/tracing";
/// Where debugfs lives (its `tracing/` subdirectory on older kernels).
pub const DEBUGFS_PATH: &str = "/sys/kernel/debug";
/// Serialises mount/unmount decisions between processes using this
/// crate (several `sigwatch` test binaries may run at once).
const MOUNT_LOCK: &str = "/run/lock/sigwatch-tracefs.lock";

/// Where to look for the tracing directory, and where to mount it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    /// tracefs mount point ([`TRACEFS_PATH`]). The kernel creates this
    /// directory only when it has tracefs; when it is missing, debugfs
    /// is used.
    pub tracefs: PathBuf,
    /// debugfs mount point ([`DEBUGFS_PATH`]); the tracing directory is
    /// its `tracing/` subdirectory.
    pub debugfs: PathBuf,
}

impl Default for Locations {
    fn default() -> Self {
        Locations {
            tracefs: PathBuf::from(TRACEFS_PATH),
            debugfs: PathBuf::from(DEBUGFS_PATH),
        }
    }
}

/// A mount this process made, and how many handles use it.
#[derive(Debug)]
struct OwnMount {
    /// The mount point.
    mount_point: PathBuf,
    /// The tracing directory inside it.
    root: PathBuf,
    /// Live [`Tracefs`] handles of this process on it.
    users: usize,
}

static MOUNTS: Mutex<Vec<OwnMount>> = Mutex::new(Vec::new());

/// A handle on the tracing directory (the one holding `trace_pipe`,
/// `events/` and `instances/`).
#[derive(Debug)]
pub struct Tracefs {
    root: PathBuf,
    /// The mount point this process mounted for `root`, if it did.
    own_mount: Option<PathBuf>,
}

fn is_tracing_dir(p: &Path) -> bool {
    p.join("events").is_dir() && p.join("trace_pipe").exists()
}

fn lock_file() -> Option<Flock<File>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(MOUNT_LOCK)
        .ok()?;
    Flock::lock(f, FlockArg::LockExclusive).ok()
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
    /// unmounting). For tests and unusual layouts.
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
        })
    }

    /// Finds the tracing directory at the standard places, mounting
    /// tracefs at [`TRACEFS_PATH`] (or debugfs at [`DEBUGFS_PATH`] on
    /// kernels without tracefs) when it is not mounted. Needs root to
    /// mount.
    pub fn locate_or_mount() -> Result<Self> {
        Self::locate_or_mount_in(&Locations::default())
    }

    /// [`Tracefs::locate_or_mount`] with other mount points (tests force
    /// the debugfs fallback this way on a kernel that has tracefs).
    pub fn locate_or_mount_in(loc: &Locations) -> Result<Self> {
        let mut mounts = MOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        // Reuse our own mount if we made one for these locations.
        if let Some(m) = mounts
            .iter_mut()
            .find(|m| m.mount_point == loc.tracefs || m.mount_point == loc.debugfs)
        {
            m.users += 1;
            return Ok(Tracefs {
                root: m.root.clone(),
                own_mount: Some(m.mount_point.clone()),
            });
        }
        let (root, mounted) = Self::find_or_mount(loc)?;
        if let Some(mp) = &mounted {
            mounts.push(OwnMount {
                mount_point: mp.clone(),
                root: root.clone(),
                users: 1,
            });
        }
        Ok(Tracefs {
            root,
            own_mount: mounted,
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
        let _lock = lock_file();
        // Re-check under the lock: another process may just have mounted.
        if is_tracing_dir(tracefs) {
            return Ok((tracefs.to_path_buf(), None));
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
        if is_tracing_dir(&debug_tracing) {
            return Ok((debug_tracing, None));
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
    pub fn instances_dir(&self) -> Result<PathBuf> {
        let d = self.root.join("instances");
        if d.is_dir() {
            Ok(d)
        } else {
            Err(Error::NoInstances(self.root.clone()))
        }
    }

    /// The mount point this process mounted for this handle's tracing
    /// directory (unmounted when the last handle is dropped and no
    /// instance is left), or `None` when it was already mounted.
    pub fn own_mount(&self) -> Option<&Path> {
        self.own_mount.as_deref()
    }

    /// Whether this process currently holds any mount it made.
    pub fn mounted_by_us() -> bool {
        MOUNTS.lock().map(|m| !m.is_empty()).unwrap_or(false)
    }
}

/// Unmounts `mp`; on kernels with tracefs, touching `debugfs/tracing`
/// automounts tracefs there, which must go first.
fn unmount_all(mp: &Path, root: &Path) {
    if root != mp {
        match umount2(root, MntFlags::empty()) {
            // EINVAL: not a mount point (old kernels: a plain directory).
            Ok(()) | Err(Errno::EINVAL) => {}
            Err(e) => log::warn!("umount {}: {e}", root.display()),
        }
    }
    match umount2(mp, MntFlags::empty()) {
        Ok(()) => log::info!("unmounted {}", mp.display()),
        Err(e) => log::warn!("leaving {} mounted: umount: {e}", mp.display()),
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        let Some(mp) = self.own_mount.take() else {
            return;
        };
        let mut mounts = MOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = mounts.iter().position(|m| m.mount_point == mp) else {
            return;
        };
        mounts[i].users = mounts[i].users.saturating_sub(1);
        if mounts[i].users > 0 {
            return;
        }
        let own = mounts.swap_remove(i);
        let _lock = lock_file();
        // Someone else's instance means someone else uses it: leave it.
        let busy = std::fs::read_dir(own.root.join("instances"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if busy {
            log::info!("leaving {} mounted: trace instances remain", mp.display());
            return;
        }
        unmount_all(&mp, &own.root);
    }
}
