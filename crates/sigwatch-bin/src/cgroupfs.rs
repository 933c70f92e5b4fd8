//! Reads from the host's cgroup file systems (the I/O edge of the OOM
//! context): the memory limit of a memory cgroup named by the kernel log.

use std::path::{Path, PathBuf};

/// Where the memory controller's files for `cgroup` live: the v1 `memory`
/// hierarchy, the v2 tree at `/sys/fs/cgroup`, or a hybrid host's v2 tree
/// at `/sys/fs/cgroup/unified`. `None` for a path that is not a plain
/// absolute cgroup path (`..` would leave the hierarchy).
fn candidates(root: &Path, cgroup: &str) -> Option<Vec<(PathBuf, &'static str)>> {
    if !cgroup.starts_with('/') || cgroup.split('/').any(|c| c == ".." || c == ".") {
        return None;
    }
    let rel = cgroup.trim_start_matches('/');
    Some(vec![
        (root.join("memory").join(rel), "memory.limit_in_bytes"),
        (root.join(rel), "memory.max"),
        (root.join("unified").join(rel), "memory.max"),
    ])
}

/// Parses `memory.max` (`max` or bytes) or v1 `memory.limit_in_bytes`
/// (bytes; "unlimited" is `PAGE_COUNTER_MAX` pages, i.e. ≥ 2^62). `None`
/// when unlimited or malformed.
pub fn parse_limit(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return None;
    }
    t.parse::<u64>().ok().filter(|&v| v < 1 << 62)
}

/// The memory limit of `cgroup` (a path as the kernel prints it, e.g.
/// `oom_memcg=/a/b`) under the cgroup mount `root` (`/sys/fs/cgroup`).
/// `None` when unlimited, gone, or unreadable.
pub fn memory_limit(root: &Path, cgroup: &str) -> Option<u64> {
    for (dir, file) in candidates(root, cgroup)? {
        match std::fs::read_to_string(dir.join(file)) {
            Ok(s) => return parse_limit(&s),
            Err(_) => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("67108864\n"), Some(64 << 20));
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("x"), None);
    }

    #[test]
    fn reads_v1_and_v2_layouts_and_refuses_escapes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("memory/a/b")).unwrap();
        std::fs::write(
            d.path().join("memory/a/b/memory.limit_in_bytes"),
            "1048576\n",
        )
        .unwrap();
        std::fs::create_dir_all(d.path().join("c")).unwrap();
        std::fs::write(d.path().join("c/memory.max"), "2097152\n").unwrap();
        std::fs::create_dir_all(d.path().join("unified/e")).unwrap();
        std::fs::write(d.path().join("unified/e/memory.max"), "max\n").unwrap();
        assert_eq!(memory_limit(d.path(), "/a/b"), Some(1 << 20));
        assert_eq!(memory_limit(d.path(), "/c"), Some(2 << 20));
        assert_eq!(memory_limit(d.path(), "/e"), None);
        assert_eq!(memory_limit(d.path(), "/nope"), None);
        assert_eq!(memory_limit(d.path(), "/../c"), None);
        assert_eq!(memory_limit(d.path(), "c"), None);
    }
}
