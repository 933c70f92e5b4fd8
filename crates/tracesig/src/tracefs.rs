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

/// What this process mounted, and how many handles use it.
#[derive(Debug)]
struct MountState {
    /// The mount point we mounted, if any.
    mounted: Option<PathBuf>,
    /// Live [`Tracefs`] handles (of this process).
    users: usize,
}

static STATE: Mutex<MountState> = Mutex::new(MountState {
    mounted: None,
    users: 0,
});

/// A handle on the tracing directory (the one holding `trace_pipe`,
/// `events/` and `instances/`).
#[derive(Debug)]
pub struct Tracefs {
    root: PathBuf,
    /// Whether this handle counts in [`STATE`] (not for explicit roots).
    counted: bool,
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
            counted: false,
        })
    }

    /// Finds the tracing directory, mounting tracefs at
    /// [`TRACEFS_PATH`] (or debugfs at [`DEBUGFS_PATH`] on kernels
    /// without tracefs) when it is not mounted. Needs root to mount.
    pub fn locate_or_mount() -> Result<Self> {
        let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let root = Self::find_or_mount(&mut st)?;
        st.users += 1;
        Ok(Tracefs {
            root,
            counted: true,
        })
    }

    fn find_or_mount(st: &mut MountState) -> Result<PathBuf> {
        let tracefs = Path::new(TRACEFS_PATH);
        let debug_tracing = Path::new(DEBUGFS_PATH).join("tracing");
        if is_tracing_dir(tracefs) {
            return Ok(tracefs.to_path_buf());
        }
        if is_tracing_dir(&debug_tracing) {
            return Ok(debug_tracing);
        }
        let _lock = lock_file();
        // Re-check under the lock: another process may just have mounted.
        if is_tracing_dir(tracefs) {
            return Ok(tracefs.to_path_buf());
        }
        // The kernel creates /sys/kernel/tracing as a mount point only
        // when it has tracefs (≥ 4.1).
        if tracefs.is_dir() {
            mount(
                Some("nodev"),
                tracefs,
                Some("tracefs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(|e| Error::Unavailable(format!("mount tracefs on {TRACEFS_PATH}: {e}")))?;
            log::info!("mounted tracefs on {TRACEFS_PATH}");
            st.mounted = Some(tracefs.to_path_buf());
            if is_tracing_dir(tracefs) {
                return Ok(tracefs.to_path_buf());
            }
            return Err(Error::Unavailable(format!(
                "tracefs mounted on {TRACEFS_PATH} but has no events (CONFIG_EVENT_TRACING off?)"
            )));
        }
        let debugfs = Path::new(DEBUGFS_PATH);
        if debugfs.is_dir() && !debug_tracing.exists() {
            mount(
                Some("nodev"),
                debugfs,
                Some("debugfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(|e| Error::Unavailable(format!("mount debugfs on {DEBUGFS_PATH}: {e}")))?;
            log::info!("mounted debugfs on {DEBUGFS_PATH}");
            st.mounted = Some(debugfs.to_path_buf());
            if is_tracing_dir(&debug_tracing) {
                return Ok(debug_tracing);
            }
        }
        Err(Error::Unavailable(
            "no tracefs or debugfs tracing directory".into(),
        ))
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

    /// Whether this process mounted the tracing file system (and will
    /// unmount it when the last handle is dropped and no instance is
    /// left).
    pub fn mounted_by_us() -> bool {
        STATE.lock().map(|s| s.mounted.is_some()).unwrap_or(false)
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
        st.users = st.users.saturating_sub(1);
        if st.users > 0 {
            return;
        }
        let Some(mp) = st.mounted.clone() else {
            return;
        };
        let _lock = lock_file();
        // Someone else's instance means someone else uses it: leave it.
        let busy = std::fs::read_dir(self.root.join("instances"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if busy {
            log::info!("leaving {} mounted: trace instances remain", mp.display());
            st.mounted = None;
            return;
        }
        match umount2(&mp, MntFlags::empty()) {
            Ok(()) => log::info!("unmounted {}", mp.display()),
            Err(e) => log::warn!("leaving {} mounted: umount: {e}", mp.display()),
        }
        st.mounted = None;
    }
}
