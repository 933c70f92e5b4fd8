//! A durable record of the audit host state a [`RuleKeeper`] changed, so
//! that a keeper killed before it could clean up (SIGKILL, a crash, a
//! power cut of the process) is undone by the next one — exactly, even
//! when its pid now belongs to another process.
//!
//! Each keeper writes one file, `audit-<pid>-<start>.ledger`, in a
//! directory under `/run` ([`DEFAULT_LEDGER_DIR`]), *before* it changes
//! anything: its identity (pid and start time, `/proc/<pid>/stat` field
//! 22, so a reused pid is never taken for it) and, once it switched audit
//! on, the `enabled` value to restore. The file is written to a temporary
//! name, synced and renamed, so it is always whole. Rules need no entry:
//! they carry the owner's pid in their key (`sigwatch:<pid>`), and the
//! ledger's start time tells whether that pid is still the owner.
//!
//! A keeper reads the directory at start and at every check: the entry
//! of an owner that is gone is adopted — its rules are removed as stale,
//! and the duty to restore `enabled` passes to the living keeper (which
//! keeps audit on while it runs and restores the value the first keeper
//! found when it stops) — and the dead entry is deleted.
//!
//! [`RuleKeeper`]: crate::keeper::RuleKeeper

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where keepers keep their ledgers.
pub const DEFAULT_LEDGER_DIR: &str = "/run/sigwatch";

/// A process by pid and start time: a pid alone may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Identity {
    /// The pid (`pid_t`).
    pub pid: i32,
    /// Start time in clock ticks after boot (`/proc/<pid>/stat` field 22,
    /// `starttime`).
    pub start: u64,
}

/// `starttime` from a `/proc/<pid>/stat` text (`comm` may hold spaces
/// and parentheses: the fields after the last `)` are counted).
fn stat_start(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // Field 3 (state) is the first after `)`; field 22 the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Identity {
    /// A process's identity now; `None` when there is no such process.
    pub fn of_pid(pid: i32) -> Option<Identity> {
        if pid <= 0 {
            return None;
        }
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // A zombie's resources are gone: it owns nothing any more.
        let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
        if matches!(state, "Z" | "X") {
            return None;
        }
        Some(Identity {
            pid,
            start: stat_start(&stat)?,
        })
    }

    /// This process.
    pub fn of_self() -> Option<Identity> {
        Identity::of_pid(std::process::id() as i32)
    }

    /// Whether the process this identity names still runs (same pid and
    /// the same start time).
    pub fn is_alive(&self) -> bool {
        Identity::of_pid(self.pid) == Some(*self)
    }
}

/// Whether the sigwatch whose rules are keyed with `pid` still runs: a
/// process with that pid runs and, when `entries` recorded that pid's
/// owner, it is that very process (a reused pid is not the owner). The
/// rule both a keeper and `sigwatch status` tell stale rules by.
pub fn owner_alive(entries: &[(PathBuf, Entry)]) -> impl Fn(i32) -> bool {
    let recorded: std::collections::HashMap<i32, u64> = entries
        .iter()
        .map(|(_, e)| (e.owner.pid, e.owner.start))
        .collect();
    move |pid| {
        Identity::of_pid(pid)
            .is_some_and(|now| recorded.get(&pid).is_none_or(|&start| start == now.start))
    }
}

/// What one keeper recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The keeper's process.
    pub owner: Identity,
    /// The `enabled` value to put back (the keeper switched audit on).
    pub restore_enabled: Option<u32>,
}

impl Entry {
    /// An entry of `owner` with nothing to restore yet.
    pub fn new(owner: Identity) -> Entry {
        Entry {
            owner,
            restore_enabled: None,
        }
    }

    /// Parses a ledger file's text; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Entry> {
        let mut owner = None;
        let mut restore_enabled = None;
        for line in text.lines() {
            let mut w = line.split_whitespace();
            match w.next() {
                Some("owner") => {
                    let pid = w.next()?.parse().ok()?;
                    let start = w.next()?.parse().ok()?;
                    owner = Some(Identity { pid, start });
                }
                Some("restore-enabled") => restore_enabled = Some(w.next()?.parse().ok()?),
                _ => {}
            }
        }
        Some(Entry {
            owner: owner?,
            restore_enabled,
        })
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "# sigwatch audit ledger: undone by the next keeper if this process dies\nowner {} {}\n",
            self.owner.pid, self.owner.start
        );
        if let Some(v) = self.restore_enabled {
            s.push_str(&format!("restore-enabled {v}\n"));
        }
        s
    }
}

/// One keeper's ledger file in a ledger directory.
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    path: PathBuf,
    entry: Entry,
    written: bool,
}

impl Ledger {
    /// The ledger of this process in `dir` (created, mode 0700, if
    /// missing). Nothing is written until [`Ledger::record`].
    ///
    /// # Errors
    ///
    /// The directory cannot be created, or this process's identity
    /// cannot be read.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Ledger> {
        let dir = dir.into();
        create_dir(&dir)?;
        let me =
            Identity::of_self().ok_or_else(|| io::Error::other("cannot read /proc/self/stat"))?;
        let path = dir.join(format!("audit-{}-{}.ledger", me.pid, me.start));
        Ok(Ledger {
            dir,
            path,
            entry: Entry::new(me),
            written: false,
        })
    }

    /// This keeper's entry as last recorded (or to be recorded).
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// Records `restore_enabled` durably (the file is whole at any time:
    /// written aside, synced, renamed, the directory synced). Call it
    /// before the change it describes.
    ///
    /// # Errors
    ///
    /// Writing, syncing or renaming failed.
    pub fn record(&mut self, restore_enabled: Option<u32>) -> io::Result<()> {
        if self.written && self.entry.restore_enabled == restore_enabled {
            return Ok(());
        }
        self.entry.restore_enabled = restore_enabled;
        // Created again if the last keeper out removed it meanwhile.
        create_dir(&self.dir)?;
        write_atomically(&self.dir, &self.path, self.entry.render().as_bytes())?;
        self.written = true;
        Ok(())
    }

    /// Makes sure the entry exists on disk (before the first rule is
    /// added: it tells a successor this pid's start time).
    ///
    /// # Errors
    ///
    /// As [`Ledger::record`].
    pub fn ensure(&mut self) -> io::Result<()> {
        if self.written {
            return Ok(());
        }
        self.record(self.entry.restore_enabled)
    }

    /// Deletes the entry (everything it recorded was undone), and the
    /// directory when no other entry is left in it: nothing stays behind.
    pub fn remove(&mut self) {
        if self.written {
            let _ = fs::remove_file(&self.path);
            self.written = false;
        }
        // Fails (and is left) while other keepers' entries are in it.
        let _ = fs::remove_dir(&self.dir);
    }

    /// Removes the half-written files (`audit-<pid>-<start>.tmp`) of
    /// keepers that died between writing and renaming.
    pub fn remove_dead_temporaries(&self) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for p in rd.flatten().map(|e| e.path()) {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(id) = name
                .strip_prefix("audit-")
                .and_then(|n| n.strip_suffix(".tmp"))
                .and_then(|n| n.split_once('-'))
                .and_then(|(pid, start)| Some((pid.parse().ok()?, start.parse().ok()?)))
                .map(|(pid, start)| Identity { pid, start })
            else {
                continue;
            };
            if !id.is_alive() {
                let _ = fs::remove_file(&p);
            }
        }
    }

    /// The entries of other keepers in the directory (unreadable or
    /// foreign files are skipped).
    pub fn others(&self) -> Vec<(PathBuf, Entry)> {
        let mut out = entries(&self.dir);
        out.retain(|(p, _)| *p != self.path);
        out
    }
}

/// Every entry in a ledger directory (unreadable or foreign files
/// skipped), oldest owner pid first: for a status display, without
/// becoming a keeper.
pub fn entries(dir: &Path) -> Vec<(PathBuf, Entry)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Entry)> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ledger"))
        .filter_map(|p| {
            let e = Entry::parse(&fs::read_to_string(&p).ok()?)?;
            Some((p, e))
        })
        .collect();
    out.sort_by_key(|(_, e)| (e.owner.pid, e.owner.start));
    out
}

/// The ledger directory, mode 0700.
fn create_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `path` whole: a temporary file in `dir`, synced, renamed over
/// `path`, then the directory synced (so the rename survives a crash).
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A rule's owner lives when its pid runs, and, if the ledger
    /// recorded that pid, when it is the very process recorded (a pid
    /// reused since is not the owner): the rule `sigwatch status` and a
    /// keeper both use.
    #[test]
    fn an_owner_lives_only_as_the_process_recorded() {
        let me = Identity::of_self().unwrap();
        let none = owner_alive(&[]);
        assert!(none(me.pid));
        assert!(none(1), "pid 1 runs, and no ledger says otherwise");
        assert!(!none(i32::MAX), "no such process");
        let recorded = |owner: Identity| (PathBuf::from("x"), Entry::new(owner));
        let entries = [
            recorded(me),
            // pid 1 is recorded with another start: its sigwatch died and
            // the pid is someone else's now.
            recorded(Identity {
                pid: 1,
                start: Identity::of_pid(1).unwrap().start + 1,
            }),
        ];
        let alive = owner_alive(&entries);
        assert!(alive(me.pid));
        assert!(!alive(1));
        let rule = crate::KillRuleSet::new(crate::killrules::owner_key(1))
            .build()
            .unwrap()
            .remove(0);
        assert_eq!(
            crate::killrules::stale_owner_by(&rule, me.pid, &alive),
            Some(1)
        );
        assert_eq!(crate::killrules::stale_owner_by(&rule, me.pid, &none), None);
    }

    #[test]
    fn entries_round_trip_and_bad_text_is_rejected() {
        let e = Entry {
            owner: Identity {
                pid: 42,
                start: 1234,
            },
            restore_enabled: Some(0),
        };
        assert_eq!(Entry::parse(&e.render()), Some(e.clone()));
        let e2 = Entry::new(Identity { pid: 7, start: 9 });
        assert_eq!(Entry::parse(&e2.render()), Some(e2));
        for bad in [
            "",
            "owner x 1",
            "owner 1",
            "restore-enabled 0\n",
            "owner 1 2\nrestore-enabled x",
        ] {
            assert_eq!(Entry::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn start_time_is_field_22_even_with_a_hostile_comm() {
        let stat =
            "123 (a) b) c) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(stat_start(stat), Some(987_654));
        assert_eq!(stat_start("garbage"), None);
        let me = Identity::of_self().unwrap();
        assert!(me.is_alive());
        let other = Identity {
            start: me.start + 1,
            ..me
        };
        assert!(
            !other.is_alive(),
            "same pid, another start: another process"
        );
    }

    #[test]
    fn a_ledger_is_written_whole_found_by_others_and_removed() {
        let dir = std::env::temp_dir().join(format!("auditsig-ledger-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut l = Ledger::open(&dir).unwrap();
        assert!(
            fs::read_dir(&dir).unwrap().next().is_none(),
            "nothing before a record"
        );
        l.record(Some(0)).unwrap();
        let dead = Entry {
            owner: Identity {
                pid: i32::MAX - 1,
                start: 1,
            },
            restore_enabled: Some(0),
        };
        fs::write(dir.join("audit-2147483646-1.ledger"), dead.render()).unwrap();
        fs::write(dir.join("junk.ledger"), "not a ledger").unwrap();
        let dead_tmp = dir.join("audit-2147483646-1.tmp");
        fs::write(&dead_tmp, "owner 2147483646 1\n").unwrap();
        l.remove_dead_temporaries();
        assert!(
            !dead_tmp.exists(),
            "a dead keeper's half-written file is removed"
        );
        let others = l.others();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].1, dead);
        assert!(!others[0].1.owner.is_alive());
        let text = fs::read_to_string(&l.path).unwrap();
        assert_eq!(Entry::parse(&text).unwrap().restore_enabled, Some(0));
        l.remove();
        assert!(!l.path.exists());
        assert!(dir.exists(), "another keeper's entry is still in it");
        fs::remove_file(dir.join("audit-2147483646-1.ledger")).unwrap();
        fs::remove_file(dir.join("junk.ledger")).unwrap();
        l.record(None).unwrap();
        l.remove();
        assert!(!dir.exists(), "the last one out removes the directory");
    }
}
