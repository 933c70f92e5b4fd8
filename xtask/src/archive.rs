//! Reproducible tar and gzip: entries sorted by path, parent directories
//! included, owner root:root (uid/gid 0), one fixed mtime, gzip header
//! without a timestamp or file name.

use std::collections::BTreeMap;
use std::io::Write;

use crate::{io, Error};

/// One file of an archive.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path inside the archive, `/`-separated, no leading `/`.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Contents.
    pub data: Vec<u8>,
}

impl Entry {
    /// A regular file.
    pub fn file(path: impl Into<String>, mode: u32, data: impl Into<Vec<u8>>) -> Entry {
        Entry {
            path: path.into(),
            mode,
            data: data.into(),
        }
    }
}

/// gzip with maximum compression and no mtime (the `gzip -n` form).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(data).map_err(io("gzip"))?;
    enc.finish().map_err(io("gzip"))
}

/// A tar archive of `entries` and every parent directory of them (mode
/// 0755), sorted by path.
pub fn tar(entries: &[Entry], mtime: u64) -> Result<Vec<u8>, Error> {
    // path → Some(entry) for files, None for directories
    let mut all: BTreeMap<String, Option<&Entry>> = BTreeMap::new();
    for e in entries {
        let mut dir = e.path.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if parent.is_empty() || parent == "." {
                break;
            }
            all.entry(format!("{parent}/")).or_insert(None);
            dir = parent;
        }
        all.insert(e.path.clone(), Some(e));
    }
    let mut b = tar::Builder::new(Vec::new());
    for (path, entry) in &all {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("root").map_err(io("tar header"))?;
        h.set_groupname("root").map_err(io("tar header"))?;
        h.set_mtime(mtime);
        let data: &[u8] = match entry {
            Some(e) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(e.mode);
                &e.data
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                &[]
            }
        };
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data)
            .map_err(io(format!("tar: {path}")))?;
    }
    b.into_inner().map_err(io("tar"))
}

/// `tar` then `gzip`.
pub fn tar_gz(entries: &[Entry], mtime: u64) -> Result<Vec<u8>, Error> {
    gzip(&tar(entries, mtime)?)
}
