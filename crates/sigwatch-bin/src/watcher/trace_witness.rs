//! The tracefs witness: a private trace instance, and the tracefs mount
//! sigwatch may be responsible for at exit.

use crate::notice::Notice;
use crate::signals::SignalSet;

/// Records that a sigwatch mounted tracefs, so that a successor can undo
/// the mount of a predecessor that died by SIGKILL, or that exited while
/// another sigwatch's trace instance still used the mount (tracesig
/// unmounts only what its own process mounted, and only when no instance
/// is left). Content: `<pid> <mount point> <mount id>`.
const MOUNT_MARK: &str = "/run/sigwatch-tracefs.mount";

/// The lock tracesig takes around its mount decisions.
const TRACEFS_LOCK: &str = "/run/lock/sigwatch-tracefs.lock";

/// The tracefs mount sigwatch may be responsible for at exit.
#[derive(Debug, Default)]
pub(crate) struct TraceMount {
    /// This process located (or mounted) tracefs.
    used: bool,
    /// `finish` ran.
    done: bool,
}

/// The mark's content.
#[derive(Debug, PartialEq, Eq)]
struct Mark {
    pid: i32,
    mount_point: std::path::PathBuf,
    /// The mount's id (`/proc/self/mountinfo`, first field), so that a
    /// tracefs mounted again at the same place by somebody else is never
    /// taken for ours. `None` in marks of older sigwatch versions.
    mount_id: Option<u64>,
}

impl Mark {
    fn parse(text: &str) -> Option<Mark> {
        let mut it = text.split_whitespace();
        let pid = it.next()?.parse().ok()?;
        let mount_point = it.next()?.into();
        let mount_id = match it.next() {
            Some(id) => Some(id.parse().ok()?),
            None => None,
        };
        Some(Mark {
            pid,
            mount_point,
            mount_id,
        })
    }

    fn read() -> Option<Mark> {
        Mark::parse(&std::fs::read_to_string(MOUNT_MARK).ok()?)
    }
}

/// The id of the topmost tracefs/debugfs mount at `mp`, from a
/// `/proc/self/mountinfo` text (mount points with spaces are octal-escaped
/// there; tracing mount points have none).
fn tracing_mount_id(mountinfo: &str, mp: &std::path::Path) -> Option<u64> {
    let mp = mp.to_str()?;
    mountinfo.lines().rev().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let f: Vec<&str> = pre.split(' ').collect();
        let fstype = post.split(' ').next()?;
        (f.get(4) == Some(&mp) && matches!(fstype, "tracefs" | "debugfs"))
            .then(|| f.first()?.parse().ok())
            .flatten()
    })
}

fn current_mount_id(mp: &std::path::Path) -> Option<u64> {
    tracing_mount_id(&std::fs::read_to_string("/proc/self/mountinfo").ok()?, mp)
}

/// Whether `pid` is gone, or a zombie nobody reaped yet (its instance and
/// mount are orphaned too).
fn pid_dead(pid: i32) -> bool {
    pid > 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|st| {
                st.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
            })
            .unwrap_or(true)
}

impl TraceMount {
    /// Writes the mark when this process mounted tracefs.
    fn note(&mut self, tfs: &tracesig::Tracefs) {
        self.used = true;
        if let Some(mp) = tfs.own_mount() {
            let id = current_mount_id(mp).map_or_else(String::new, |i| format!(" {i}"));
            let _ = std::fs::write(
                MOUNT_MARK,
                format!("{} {}{id}\n", std::process::id(), mp.display()),
            );
        }
    }

    /// At exit, after this process's trace instance is gone (also on
    /// drop, so that an error return or a panic runs it; idempotent).
    /// A mount marked by this process or by a dead sigwatch is unmounted
    /// when no trace instance is left in it; while other instances remain
    /// the mark stays, for whichever sigwatch exits last. A live owner's
    /// mark is left alone.
    pub(crate) fn finish(&mut self) {
        if !self.used || std::mem::replace(&mut self.done, true) {
            return;
        }
        // tracesig's lock: no instance is created or mount made meanwhile.
        let _lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(TRACEFS_LOCK)
            .ok()
            .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
        let Some(mark) = Mark::read() else {
            return;
        };
        let me = std::process::id() as i32;
        if mark.pid != me && !pid_dead(mark.pid) {
            return;
        }
        let mp = &mark.mount_point;
        let Some(id) = current_mount_id(mp) else {
            // Already unmounted (by tracesig when this process mounted it).
            let _ = std::fs::remove_file(MOUNT_MARK);
            return;
        };
        if mark.mount_id.is_some_and(|m| m != id) {
            // Mounted again since, by somebody else: not ours.
            let _ = std::fs::remove_file(MOUNT_MARK);
            return;
        }
        let root = if mp.join("instances").is_dir() {
            mp.clone()
        } else {
            mp.join("tracing")
        };
        let empty = std::fs::read_dir(root.join("instances"))
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            log::info!(
                "leaving {} mounted for the sigwatch still using it",
                mp.display()
            );
            return;
        }
        match nix::mount::umount2(mp, nix::mount::MntFlags::empty()) {
            Ok(()) => {
                log::info!(
                    "unmounted {} (mounted by sigwatch {})",
                    mp.display(),
                    mark.pid
                );
                let _ = std::fs::remove_file(MOUNT_MARK);
            }
            Err(e) => log::warn!("leaving {} mounted: {e}", mp.display()),
        }
    }
}

impl Drop for TraceMount {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Opens the tracefs witness: a private instance tracing the watched
/// signals (`SIGKILL` by default) and `oom:mark_victim`. A stale instance of
/// a dead predecessor is removed first.
pub(crate) fn open_trace(
    signals: SignalSet,
    mount: &mut TraceMount,
    notices: &mut Vec<Notice>,
) -> Result<tracesig::TraceSource, tracesig::Error> {
    let mut cfg = tracesig::Config::default();
    if signals.is_all() {
        cfg.signals = tracesig::SignalFilter::All;
        cfg.buffer_size_kb = 1024;
    } else {
        cfg.signals = tracesig::SignalFilter::Only(signals.iter().map(|s| s as i32).collect());
    }
    // Stale instances are cleaned here rather than inside `open`, to say so.
    cfg.clean_stale = false;
    let tfs = tracesig::Tracefs::locate_or_mount()?;
    mount.note(&tfs);
    match tracesig::clean_stale_instances(&tfs) {
        Ok(v) if !v.is_empty() => notices.push(Notice::note(format!(
            "removed stale trace instance(s) of a previous sigwatch that died: {}",
            v.join(", ")
        ))),
        Ok(_) => {}
        Err(e) => log::warn!("cleaning stale trace instances: {e}"),
    }
    let src = tracesig::TraceSource::open(&cfg);
    drop(tfs);
    src
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    #[test]
    fn mount_mark_parses_old_and_new_forms() {
        assert_eq!(
            Mark::parse("123 /sys/kernel/tracing 42\n"),
            Some(Mark {
                pid: 123,
                mount_point: "/sys/kernel/tracing".into(),
                mount_id: Some(42)
            })
        );
        assert_eq!(
            Mark::parse("123 /sys/kernel/tracing\n").map(|m| m.mount_id),
            Some(None)
        );
        for bad in ["", "x /a", "123", "123 /a zz", "\u{0}"] {
            assert_eq!(Mark::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mount_id_is_the_topmost_tracing_mount() {
        let mi = "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n\
                  42 22 0:13 / /sys/kernel/tracing rw,nosuid - tracefs nodev rw\n\
                  50 22 0:7 / /sys/kernel/debug rw - debugfs debugfs rw\n\
                  61 42 0:13 / /sys/kernel/tracing rw - tracefs nodev rw\n\
                  70 1 0:99 / /mnt rw - ext4 /dev/sda1 rw\n";
        assert_eq!(
            tracing_mount_id(mi, Path::new("/sys/kernel/tracing")),
            Some(61)
        );
        assert_eq!(
            tracing_mount_id(mi, Path::new("/sys/kernel/debug")),
            Some(50)
        );
        assert_eq!(tracing_mount_id(mi, Path::new("/mnt")), None);
        assert_eq!(tracing_mount_id(mi, Path::new("/nope")), None);
        assert_eq!(tracing_mount_id("garbage\n- -\n", Path::new("/")), None);
    }
}
