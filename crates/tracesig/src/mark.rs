//! The mount mark: a file saying which process mounted tracefs (or
//! debugfs), so that whichever process using it exits last, or a
//! successor of an owner that died by SIGKILL, can undo the mount.
//!
//! Content: `<pid> <mount point> <mount id> <start time>\n`. The mount id
//! is the first field of `/proc/self/mountinfo`, so that a tracing file
//! system mounted again at the same place by somebody else is never
//! taken for ours; the start time identifies the owner across pid
//! reuse. Marks of older writers (`<pid> <mount point> [<mount id>]`)
//! still parse, with the missing parts `None`.

use std::path::{Path, PathBuf};

use crate::identity::ProcessIdentity;

/// A parsed mount mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) owner: ProcessIdentity,
    pub(crate) mount_point: PathBuf,
    pub(crate) mount_id: Option<u64>,
}

impl Mark {
    pub(crate) fn parse(text: &str) -> Option<Mark> {
        let mut it = text.split_whitespace();
        let pid = it.next()?.parse().ok()?;
        let mount_point = it.next()?.into();
        let mut num = || match it.next() {
            Some(v) => v.parse().ok().map(Some),
            None => Some(None),
        };
        let mount_id = num()?;
        let start_time = num()?;
        Some(Mark {
            owner: ProcessIdentity::new(pid, start_time),
            mount_point,
            mount_id,
        })
    }

    pub(crate) fn render(&self) -> String {
        let mut s = format!("{} {}", self.owner.pid, self.mount_point.display());
        if let Some(id) = self.mount_id {
            s.push_str(&format!(" {id}"));
            if let Some(t) = self.owner.start_time {
                s.push_str(&format!(" {t}"));
            }
        }
        s.push('\n');
        s
    }

    pub(crate) fn read(path: &Path) -> Option<Mark> {
        Mark::parse(&std::fs::read_to_string(path).ok()?)
    }

    /// Writes the mark atomically (temporary file, then rename), so a
    /// reader never sees half a mark.
    pub(crate) fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(&tmp, path)
    }
}

/// The id of the topmost tracefs/debugfs mount at `mp`, from a
/// `/proc/self/mountinfo` text (mount points with spaces are
/// octal-escaped there; such a mount point never matches).
pub(crate) fn tracing_mount_id(mountinfo: &str, mp: &Path) -> Option<u64> {
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

/// [`tracing_mount_id`] of the calling process's mount namespace.
pub(crate) fn current_mount_id(mp: &Path) -> Option<u64> {
    tracing_mount_id(&std::fs::read_to_string("/proc/self/mountinfo").ok()?, mp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn marks_of_every_version_parse_and_render_round_trips() {
        let m = Mark::parse("123 /sys/kernel/tracing 42 9876\n").unwrap();
        assert_eq!(m.owner, ProcessIdentity::new(123, Some(9876)));
        assert_eq!(m.mount_point, Path::new("/sys/kernel/tracing"));
        assert_eq!(m.mount_id, Some(42));
        assert_eq!(Mark::parse(&m.render()), Some(m));
        let old = Mark::parse("123 /sys/kernel/tracing 42\n").unwrap();
        assert_eq!(old.owner, ProcessIdentity::new(123, None));
        let oldest = Mark::parse("123 /sys/kernel/tracing\n").unwrap();
        assert_eq!((oldest.mount_id, oldest.owner.start_time), (None, None));
        for bad in ["", "x /a", "123", "123 /a zz", "123 /a 1 zz", "\u{0}"] {
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
