//! Which command line is the sender's: the audit `PROCTITLE` or the
//! process tree's argv.
//!
//! Neither witness is always right:
//!
//! - `PROCTITLE` (`audit_log_proctitle` in `kernel/auditsc.c`) is read
//!   from the task's memory (`get_cmdline`) at the task's *first* audited
//!   syscall and cached in its audit context (`context->proctitle`), which
//!   lives until the task exits: a later `execve` does not refresh it. On a
//!   host that audits `execve` (laurel's rules, CIS, STIG), the first
//!   audited syscall of `setsid setpriv … guard.sh` is the exec of
//!   `setsid`, so the kill record of `guard.sh` carries `setsid`'s argv.
//!   The kernel also cuts it at 128 bytes (`MAX_PROCTITLE_AUDIT_LEN`) and
//!   trims trailing unprintable bytes (`audit_proctitle_rtrim`).
//! - The process tree reads `/proc/<pid>/cmdline` right after each exec
//!   event, so its argv belongs to the program the process runs now, unless
//!   the read failed (the process was gone) or the process never exec'd
//!   since its fork (then the argv is its parent's, and the process may
//!   have rewritten its own since, as `nginx: worker process` does).
//!
//! `PROCTITLE` is therefore a hint, checked against what the same record
//! says about the current program ([`fits_image`]): `comm` is set by exec
//! (`begin_new_exec`, `fs/exec.c`) to the last component of the path given
//! to `execve`, cut to 15 bytes (`TASK_COMM_LEN` 16) — for a script that is
//! the script's name, for `execveat(fd, "", AT_EMPTY_PATH)` the file's name
//! (6.14+) or the fd number; `prctl(PR_SET_NAME)` and named threads change
//! it later. `exe` is the file actually mapped, symlinks resolved: the
//! interpreter for a script (`/usr/bin/dash` for `#!/bin/sh`). `argv[0]` is
//! whatever the caller passed (a path, a symlink's name such as `sh`,
//! `-bash` for a login shell); for a script `binfmt_script` rewrites argv
//! to `[interpreter as written after #!, its one optional argument, the
//! script's path as given to execve, the original argv[1..]]`.

use std::os::unix::ffi::OsStrExt;

use crate::procview::ProcessSnapshot;

/// `TASK_COMM_LEN` − 1: the bytes of a name `comm` keeps.
const COMM_BYTES: usize = 15;

/// What the audit record says about the sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditView<'a> {
    /// `comm=` of the `SYSCALL` record (the calling thread's name).
    pub comm: Option<&'a [u8]>,
    /// `exe=` of the `SYSCALL` record.
    pub exe: Option<&'a [u8]>,
    /// The `PROCTITLE` record split at NULs.
    pub proctitle: Option<&'a [Vec<u8>]>,
    /// `PROCTITLE` held the kernel's maximum (128 bytes): it may be cut.
    pub proctitle_truncated: bool,
}

/// What the process tree knows about the sender.
#[derive(Debug, Clone, Copy)]
pub struct TreeView<'a> {
    /// `comm` as last read or announced.
    pub comm: Option<&'a [u8]>,
    /// `/proc/<pid>/exe`.
    pub exe: Option<&'a [u8]>,
    /// `/proc/<pid>/cmdline` split at NULs.
    pub argv: &'a [Vec<u8>],
    /// `argv` was read from the process's own `/proc` after its latest
    /// exec (or by the start-up scan), not inherited at fork.
    pub read_after_exec: bool,
    /// `argv` is cut (the tree keeps a bounded prefix).
    pub truncated: bool,
}

/// The sender's argv and what the JSON contract says about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderArgv {
    /// The command line of the program the sender runs, null when no
    /// witness can be trusted to name it.
    pub argv: Option<Vec<Vec<u8>>>,
    /// `argv` is cut (null with `argv`).
    pub truncated: Option<bool>,
    /// `PROCTITLE` was not used because it does not belong to the program
    /// the sender runs; null when the record had none.
    pub proctitle_rejected: Option<bool>,
}

/// Chooses the sender's argv.
///
/// The tree's argv counts only when its `exe` (or, without one, its
/// `comm`) is the record's, i.e. it describes the program that made the
/// syscall. Then: a `PROCTITLE` that agrees with it is confirmed (and a
/// cut one completed); one that disagrees loses to an argv read after the
/// latest exec, and wins over one inherited at fork only if it fits the
/// record's `comm`/`exe` (the process rewrote its argv). Without the tree,
/// `PROCTITLE` is used only if it fits `comm`/`exe`; otherwise the argv is
/// null and `proctitle_rejected` true. `resolve` turns an absolute path
/// into the file it names (symlinks followed), for scripts whose
/// interpreter line names a symlink (`#!/bin/sh`).
pub fn sender_argv(
    audit: &AuditView<'_>,
    tree: Option<&TreeView<'_>>,
    resolve: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
) -> SenderArgv {
    let tree = tree.filter(|t| !t.argv.is_empty() && same_program(audit, t));
    let proctitle = audit.proctitle.filter(|p| !p.is_empty());
    let from_tree = |t: &TreeView<'_>, rejected| SenderArgv {
        argv: Some(t.argv.to_vec()),
        truncated: Some(t.truncated),
        proctitle_rejected: rejected,
    };
    let from_proctitle = |p: &[Vec<u8>]| SenderArgv {
        argv: Some(p.to_vec()),
        truncated: Some(audit.proctitle_truncated),
        proctitle_rejected: Some(false),
    };
    match (proctitle, tree) {
        (None, None) => SenderArgv::default(),
        (None, Some(t)) => from_tree(t, None),
        (Some(p), Some(t)) => {
            if agrees(p, audit.proctitle_truncated, t.argv) {
                from_tree(t, Some(false))
            } else if !t.read_after_exec && fits_image(p, audit.comm, audit.exe, resolve) {
                from_proctitle(p)
            } else {
                from_tree(t, Some(true))
            }
        }
        (Some(p), None) => {
            if fits_image(p, audit.comm, audit.exe, resolve) {
                from_proctitle(p)
            } else {
                SenderArgv {
                    argv: None,
                    truncated: None,
                    proctitle_rejected: Some(true),
                }
            }
        }
    }
}

/// Whether the tree's entry describes the program the record names:
/// same `exe`, or the same `comm` when either `exe` is unknown. (`comm`
/// alone is weaker: a named thread's record carries the thread's name.)
fn same_program(audit: &AuditView<'_>, tree: &TreeView<'_>) -> bool {
    match (audit.exe, tree.exe) {
        (Some(a), Some(t)) => same_path(a, t),
        _ => matches!((audit.comm, tree.comm), (Some(a), Some(t)) if a == t),
    }
}

/// Two spellings of one executable: equal, or one is the other seen from
/// another root (a container's `/usr/bin/dash` inside the host's path).
fn same_path(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (strip_deleted(a), strip_deleted(b));
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    long == short || (short.first() == Some(&b'/') && long.ends_with(short) && short.len() > 1)
}

/// `d_path` appends ` (deleted)` to an unlinked file.
fn strip_deleted(p: &[u8]) -> &[u8] {
    p.strip_suffix(b" (deleted)").unwrap_or(p)
}

/// `PROCTITLE` is the start of the tree's argv: equal up to the kernel's
/// trimming of trailing unprintable bytes, or a prefix when cut.
fn agrees(proctitle: &[Vec<u8>], truncated: bool, tree: &[Vec<u8>]) -> bool {
    let p = proctitle.join(&0u8);
    let t = tree.join(&0u8);
    let Some(rest) = t.strip_prefix(p.as_slice()) else {
        return false;
    };
    truncated || rest.iter().all(|&b| !(0x20..=0x7e).contains(&b))
}

/// Whether `argv` can be the command line of the program the record's
/// `comm` and `exe` name (see the module notes for the kernel facts):
///
/// - `argv[0]`'s last component (without a login shell's `-`) is `comm`
///   (cut to 15 bytes) or the basename of `exe`;
/// - `argv[0]` is a retitled name starting with `comm` (`nginx: worker
///   process`);
/// - a script (or `binfmt_misc`) layout: `argv[0]` names `exe` (same
///   basename, or it resolves to it) and `argv[1]`, or `argv[2]` after the
///   interpreter's one optional argument (an option other than `-c`), is
///   a path whose last component is `comm`.
///
/// It cannot tell two programs with the same name apart (`sh` exec'ing
/// `sh`): the tree's argv settles those. A process that renamed itself and
/// whose `argv[0]` names neither `comm` nor `exe` does not fit.
pub fn fits_image(
    argv: &[Vec<u8>],
    comm: Option<&[u8]>,
    exe: Option<&[u8]>,
    resolve: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
) -> bool {
    let Some(a0) = argv.first() else {
        return false;
    };
    let name0 = basename(a0);
    let name0 = name0.strip_prefix(b"-").unwrap_or(name0);
    let exe_name = exe.map(|e| basename(strip_deleted(e)));
    if let Some(c) = comm {
        if !c.is_empty() && (as_comm(name0) == c || retitled(a0, c)) {
            return true;
        }
    }
    let names_exe = match exe {
        Some(e) => {
            exe_name == Some(name0)
                || (a0.first() == Some(&b'/') && resolve(a0).is_some_and(|r| same_path(&r, e)))
        }
        None => false,
    };
    if !names_exe {
        return false;
    }
    let Some(c) = comm.filter(|c| !c.is_empty()) else {
        // No comm to check against: argv[0] naming exe is all there is.
        return true;
    };
    let script_at = |k: usize| {
        argv.get(k)
            .is_some_and(|s| !s.is_empty() && as_comm(basename(s)) == c)
    };
    // The interpreter's optional argument is an option (`-e`, `-u`, awk's
    // `-f`); `-c` takes a command string, not a script path.
    let interp_option = argv
        .get(1)
        .is_some_and(|a| a.first() == Some(&b'-') && a.as_slice() != b"-c");
    script_at(1) || (interp_option && script_at(2))
}

/// The last path component (`kbasename`).
fn basename(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

/// A name as `comm` keeps it: at most 15 bytes.
fn as_comm(name: &[u8]) -> &[u8] {
    &name[..name.len().min(COMM_BYTES)]
}

/// `argv[0]` rewritten by the process to `<comm>: …` or `<comm> …`.
fn retitled(a0: &[u8], comm: &[u8]) -> bool {
    a0.strip_prefix(comm)
        .is_some_and(|rest| matches!(rest.first(), Some(b':' | b' ')))
}

/// [`sender_argv`] for an audit record's sender and the process tree's
/// entry for its pid (`None` when the tree has none, or only details from
/// before an exec it could not read), resolving paths on this host.
pub fn sender_argv_of(audit: &auditsig::Sender, tree: Option<&ProcessSnapshot>) -> SenderArgv {
    let exe = tree
        .and_then(|t| t.exe.as_ref())
        .map(|e| e.as_os_str().as_bytes());
    let tree = tree.and_then(|t| {
        Some(TreeView {
            comm: t.comm.as_deref(),
            exe,
            argv: t.argv.as_deref()?,
            read_after_exec: t.argv_after_exec,
            truncated: t.argv_truncated,
        })
    });
    let proctitle: Option<Vec<Vec<u8>>> = audit
        .argv
        .as_ref()
        .map(|a| a.iter().map(|b| b.0.clone()).collect());
    let view = AuditView {
        comm: Some(audit.comm.as_bytes()).filter(|c| !c.is_empty()),
        exe: audit.exe.as_ref().map(|e| e.as_bytes()),
        proctitle: proctitle.as_deref(),
        proctitle_truncated: audit.argv_truncated,
    };
    sender_argv(&view, tree.as_ref(), &resolve_on_host)
}

/// `sigwatch replay`: keeps the argv of a process rebuilt from a log the
/// argv of the program it runs now, from one audit event of that process
/// (its `SYSCALL` record names it). Call it before the entry's `comm`/`exe`
/// are updated from the same event.
///
/// An `EXECVE` record sets it: the kernel writes it at the exec's syscall
/// exit from the new image's memory (`audit_log_execve_info` reads
/// `mm->arg_start`), so it is the argv of the program that event's
/// `comm`/`exe` name. An exec the log did not record (no `execve` rule)
/// shows as another `exe` (or `comm`, without one): the argv known so far
/// is then an earlier program's and is dropped. `PROCTITLE` fills an
/// unknown argv only when it is whole and fits the event's `comm`/`exe`
/// ([`fits_image`]).
pub fn replay_learn_argv(p: &mut ProcessSnapshot, ev: &auditsig::Event) {
    use auditsig::RecordType;
    let Some(sc) = ev.first(RecordType::SYSCALL) else {
        return;
    };
    let field = |f: &str| {
        sc.get(f)
            .and_then(|v| v.bytes())
            .map(std::borrow::Cow::into_owned)
            .filter(|b| b.as_slice() != b"(null)" && !b.is_empty())
    };
    let (comm, exe) = (field("comm"), field("exe"));
    if let Some(a) = ev.execve_argv().filter(|a| !a.args.is_empty()) {
        p.argv = Some(a.args);
        p.argv_after_exec = true;
        return;
    }
    let old_exe = p.exe.as_ref().map(|e| e.as_os_str().as_bytes());
    let changed = match (old_exe, exe.as_deref()) {
        (Some(old), Some(new)) => !same_path(old, new),
        _ => matches!((p.comm.as_deref(), comm.as_deref()), (Some(o), Some(n)) if o != n),
    };
    if changed {
        p.argv = None;
        p.argv_after_exec = false;
    }
    if p.argv.is_some() {
        return;
    }
    let proctitle = ev
        .first(RecordType::PROCTITLE)
        .and_then(|r| r.get("proctitle"))
        .and_then(|v| v.bytes())
        .map(|b| auditsig::value::split_proctitle(&b))
        // A cut PROCTITLE is not a whole argv.
        .filter(|a| a.join(&0u8).len() < auditsig::kill::MAX_PROCTITLE_AUDIT_LEN);
    if let Some(a) =
        proctitle.filter(|a| fits_image(a, comm.as_deref(), exe.as_deref(), &resolve_on_host))
    {
        p.argv = Some(a);
        p.argv_after_exec = false;
    }
}

/// Resolves an absolute path on this host (symlinks followed), for
/// [`sender_argv`]'s `resolve`; `None` when it does not exist here.
pub fn resolve_on_host(path: &[u8]) -> Option<Vec<u8>> {
    if path.first() != Some(&b'/') {
        return None;
    }
    let p = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
    std::fs::canonicalize(p)
        .ok()
        .map(|c| c.as_os_str().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// `/bin/sh` → `/usr/bin/dash`, `/usr/bin/python3` →
    /// `/usr/bin/python3.11`, as on Debian; nothing else resolves.
    fn debian(p: &[u8]) -> Option<Vec<u8>> {
        match p {
            b"/bin/sh" | b"/usr/bin/sh" => Some(b"/usr/bin/dash".to_vec()),
            b"/usr/bin/python3" => Some(b"/usr/bin/python3.11".to_vec()),
            _ => None,
        }
    }

    fn fits(argv: &[&str], comm: &str, exe: &str) -> bool {
        fits_image(
            &v(argv),
            Some(comm.as_bytes()),
            Some(exe.as_bytes()),
            &debian,
        )
    }

    #[test]
    fn direct_exec_fits_by_argv0_basename() {
        assert!(fits(&["sleep", "300"], "sleep", "/usr/bin/sleep"));
        assert!(fits(&["/usr/bin/sleep", "300"], "sleep", "/usr/bin/sleep"));
        // Exec'd through a symlink: comm and argv[0] are the link's name.
        assert!(fits(&["sh", "-c", "kill -9 1"], "sh", "/usr/bin/dash"));
        assert!(fits(&["vi", "x"], "vi", "/usr/bin/vim.basic"));
        // A login shell's argv[0].
        assert!(fits(&["-bash"], "bash", "/usr/bin/bash"));
    }

    #[test]
    fn long_names_are_compared_as_comm_keeps_them() {
        assert!(fits(
            &["/usr/lib/systemd/systemd-journald"],
            "systemd-journal",
            "/usr/lib/systemd/systemd-journald"
        ));
        assert!(fits(
            &["./a-very-long-script-name.sh", "x"],
            "a-very-long-scr",
            "/usr/bin/dash"
        ));
    }

    #[test]
    fn retitled_argv0_fits() {
        assert!(fits(&["nginx: worker process"], "nginx", "/usr/sbin/nginx"));
        assert!(fits(
            &["postgres: checkpointer"],
            "postgres",
            "/usr/lib/postgresql/15/bin/postgres"
        ));
        // A prefix without a separator is another name.
        assert!(!fits(&["nginxctl"], "nginx", "/usr/sbin/nginx"));
    }

    #[test]
    fn script_layout_fits_through_the_interpreter_symlink() {
        // `/opt/jobs/guard.sh --mode restart` with `#!/bin/sh`.
        assert!(fits(
            &["/bin/sh", "/opt/jobs/guard.sh", "--mode", "restart"],
            "guard.sh",
            "/usr/bin/dash"
        ));
        // With the interpreter's optional argument (`#!/bin/sh -e`).
        assert!(fits(
            &["/bin/sh", "-e", "./guard.sh"],
            "guard.sh",
            "/usr/bin/dash"
        ));
        // Interpreter named by its real name.
        assert!(fits(
            &["/usr/bin/python3.11", "/srv/tool.py"],
            "tool.py",
            "/usr/bin/python3.11"
        ));
        assert!(fits(
            &["/usr/bin/python3", "-u", "/srv/tool.py"],
            "tool.py",
            "/usr/bin/python3.11"
        ));
    }

    #[test]
    fn the_issues_stale_proctitle_does_not_fit() {
        // `setsid setpriv … /opt/jobs/guard.sh`, each exec'ing the next:
        // the cached PROCTITLE is setsid's; the record says guard.sh/dash.
        let stale = [
            "setsid",
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/opt/jobs/guard.sh",
            "--mode",
            "restart",
        ];
        assert!(!fits(&stale, "guard.sh", "/usr/bin/dash"));
        // The same with absolute paths: setsid does not resolve to dash.
        assert!(!fits(
            &["/usr/bin/setsid", "/opt/jobs/guard.sh"],
            "guard.sh",
            "/usr/bin/dash"
        ));
        // setpriv's own argv after setsid: argv[0] names neither.
        assert!(!fits(
            &["setpriv", "--reuid=65534", "/opt/jobs/guard.sh"],
            "guard.sh",
            "/usr/bin/dash"
        ));
    }

    #[test]
    fn an_earlier_shell_of_the_same_interpreter_does_not_fit() {
        // `bash -c "exec /opt/x.sh"`, x.sh being `#!/bin/bash`: argv[0]
        // names the exe, but `-c`'s command is not a script path.
        assert!(!fits(
            &["bash", "-c", "exec /opt/x.sh"],
            "x.sh",
            "/usr/bin/bash"
        ));
        // `bash wrapper.sh` exec'ing guard.sh: the script slot names
        // another script.
        assert!(!fits(
            &["bash", "/opt/wrapper.sh"],
            "guard.sh",
            "/usr/bin/bash"
        ));
        // A different interpreter before: `sh wrapper.sh` → `#!/bin/sh`
        // guard.sh.
        assert!(!fits(
            &["/bin/sh", "/opt/wrapper.sh", "guard.sh"],
            "guard.sh",
            "/usr/bin/dash"
        ));
    }

    #[test]
    fn renamed_processes_and_arbitrary_argv0_do_not_fit() {
        // A named thread (comm is the thread's) whose argv[0] does not
        // name it: unverifiable, so not trusted on its own.
        assert!(!fits(
            &["java", "-jar", "x.jar"],
            "GC Thread#0",
            "/usr/bin/java"
        ));
        // `exec -a foo sleep 10`.
        assert!(!fits(&["foo", "10"], "sleep", "/usr/bin/sleep"));
        assert!(!fits(&[], "sleep", "/usr/bin/sleep"));
    }

    #[test]
    fn relative_argv0_is_never_resolved() {
        let resolved = std::cell::Cell::new(false);
        let spy = |_: &[u8]| {
            resolved.set(true);
            Some(b"/usr/bin/dash".to_vec())
        };
        assert!(!fits_image(
            &v(&["sh", "guard.sh"]),
            Some(b"guard.sh"),
            Some(b"/usr/bin/dash"),
            &spy
        ));
        assert!(!resolved.get());
    }

    #[test]
    fn without_comm_argv0_must_name_exe() {
        assert!(fits_image(
            &v(&["sleep", "1"]),
            None,
            Some(b"/usr/bin/sleep"),
            &debian
        ));
        assert!(!fits_image(
            &v(&["setsid", "sleep"]),
            None,
            Some(b"/usr/bin/sleep"),
            &debian
        ));
        assert!(!fits_image(&v(&["sleep"]), None, None, &debian));
    }

    fn audit<'a>(
        comm: &'a str,
        exe: &'a str,
        proctitle: Option<&'a [Vec<u8>]>,
        truncated: bool,
    ) -> AuditView<'a> {
        AuditView {
            comm: Some(comm.as_bytes()),
            exe: Some(exe.as_bytes()),
            proctitle,
            proctitle_truncated: truncated,
        }
    }

    fn tree<'a>(comm: &'a str, exe: &'a str, argv: &'a [Vec<u8>], after: bool) -> TreeView<'a> {
        TreeView {
            comm: Some(comm.as_bytes()),
            exe: Some(exe.as_bytes()),
            argv,
            read_after_exec: after,
            truncated: false,
        }
    }

    fn pick(a: &AuditView<'_>, t: Option<&TreeView<'_>>) -> SenderArgv {
        sender_argv(a, t, &debian)
    }

    #[test]
    fn tree_read_after_the_last_exec_beats_a_stale_proctitle() {
        let stale = v(&["setsid", "setpriv", "--reuid=65534", "/opt/jobs/guard.sh"]);
        let now = v(&["/bin/sh", "/opt/jobs/guard.sh", "--mode", "restart"]);
        let a = audit("guard.sh", "/usr/bin/dash", Some(&stale), false);
        let t = tree("guard.sh", "/usr/bin/dash", &now, true);
        assert_eq!(
            pick(&a, Some(&t)),
            SenderArgv {
                argv: Some(now.clone()),
                truncated: Some(false),
                proctitle_rejected: Some(true),
            }
        );
    }

    #[test]
    fn stale_proctitle_without_the_tree_is_null_and_rejected() {
        let stale = v(&["setsid", "setpriv", "/opt/jobs/guard.sh"]);
        let a = audit("guard.sh", "/usr/bin/dash", Some(&stale), false);
        let want = SenderArgv {
            argv: None,
            truncated: None,
            proctitle_rejected: Some(true),
        };
        assert_eq!(pick(&a, None), want);
        // A tree entry of an earlier program (its exec was not read yet,
        // or it is another process with that pid) is no better.
        let old = v(&["setpriv", "--reuid=65534", "/opt/jobs/guard.sh"]);
        let t = tree("setpriv", "/usr/bin/setpriv", &old, true);
        assert_eq!(pick(&a, Some(&t)), want);
    }

    #[test]
    fn fitting_proctitle_without_the_tree_is_used() {
        let p = v(&["sh", "-c", "kill -9 1"]);
        let a = audit("sh", "/usr/bin/dash", Some(&p), false);
        assert_eq!(
            pick(&a, None),
            SenderArgv {
                argv: Some(p.clone()),
                truncated: Some(false),
                proctitle_rejected: Some(false),
            }
        );
    }

    #[test]
    fn cut_proctitle_is_completed_by_the_tree() {
        let long = "x".repeat(200);
        let full = v(&["sh", "-c", &long]);
        let joined = full.join(&0u8);
        let cut: Vec<Vec<u8>> = joined[..128]
            .split(|&b| b == 0)
            .map(<[u8]>::to_vec)
            .collect();
        let a = audit("sh", "/usr/bin/dash", Some(&cut), true);
        let t = tree("sh", "/usr/bin/dash", &full, false);
        let r = pick(&a, Some(&t));
        assert_eq!(r.argv.as_ref(), Some(&full));
        assert_eq!(r.truncated, Some(false));
        assert_eq!(r.proctitle_rejected, Some(false));
        // Without the tree it stays cut, and says so.
        let r = pick(&a, None);
        assert_eq!(r.argv.as_ref(), Some(&cut));
        assert_eq!(r.truncated, Some(true));
    }

    #[test]
    fn proctitle_equal_but_for_trimmed_trailing_bytes_agrees() {
        // printf 'a\n' : the kernel trims the trailing newline.
        let full = v(&["printf", "a\n"]);
        let p = v(&["printf", "a"]);
        let a = audit("printf", "/usr/bin/printf", Some(&p), false);
        let t = tree("printf", "/usr/bin/printf", &full, true);
        let r = pick(&a, Some(&t));
        assert_eq!(r.argv.as_ref(), Some(&full));
        assert_eq!(r.proctitle_rejected, Some(false));
        // A real difference after the common prefix is not trimming.
        let other = v(&["printf", "ab"]);
        let t = tree("printf", "/usr/bin/printf", &other, true);
        assert_eq!(pick(&a, Some(&t)).proctitle_rejected, Some(true));
    }

    #[test]
    fn forked_child_that_retitled_itself_keeps_its_proctitle() {
        // The tree's argv is the master's, inherited at fork; the worker
        // rewrote its own, and has not exec'd since (so PROCTITLE is fresh).
        let master = v(&["nginx", "-g", "daemon off;"]);
        let p = v(&["nginx: worker process"]);
        let a = audit("nginx", "/usr/sbin/nginx", Some(&p), false);
        let t = tree("nginx", "/usr/sbin/nginx", &master, false);
        let r = pick(&a, Some(&t));
        assert_eq!(r.argv.as_ref(), Some(&p));
        assert_eq!(r.proctitle_rejected, Some(false));
        // Read after its own exec, the tree's argv is the exec'd one.
        let t = tree("nginx", "/usr/sbin/nginx", &master, true);
        let r = pick(&a, Some(&t));
        assert_eq!(r.argv.as_ref(), Some(&master));
        assert_eq!(r.proctitle_rejected, Some(true));
    }

    #[test]
    fn named_thread_uses_the_tree_by_exe() {
        let argv = v(&["java", "-jar", "x.jar"]);
        let a = audit("GC Thread#0", "/usr/bin/java", Some(&argv), false);
        let t = tree("java", "/usr/bin/java", &argv, true);
        let r = pick(&a, Some(&t));
        assert_eq!(r.argv.as_ref(), Some(&argv));
        assert_eq!(r.proctitle_rejected, Some(false));
    }

    #[test]
    fn no_proctitle_uses_the_tree_of_the_same_program_only() {
        let argv = v(&["sleep", "1"]);
        let a = audit("sleep", "/usr/bin/sleep", None, false);
        let t = tree("sleep", "/usr/bin/sleep", &argv, true);
        assert_eq!(
            pick(&a, Some(&t)),
            SenderArgv {
                argv: Some(argv.clone()),
                truncated: Some(false),
                proctitle_rejected: None,
            }
        );
        let t = tree("bash", "/usr/bin/bash", &argv, true);
        assert_eq!(pick(&a, Some(&t)), SenderArgv::default());
        assert_eq!(pick(&a, None), SenderArgv::default());
    }

    #[test]
    fn tree_without_exe_is_matched_by_comm() {
        let argv = v(&["sleep", "1"]);
        let a = audit("sleep", "/usr/bin/sleep", None, false);
        let t = TreeView {
            exe: None,
            ..tree("sleep", "", &argv, true)
        };
        assert_eq!(pick(&a, Some(&t)).argv.as_ref(), Some(&argv));
        let t = TreeView {
            exe: None,
            ..tree("bash", "", &argv, true)
        };
        assert_eq!(pick(&a, Some(&t)).argv, None);
    }

    #[test]
    fn exe_paths_from_another_root_or_deleted_are_the_same_program() {
        assert!(same_path(b"/usr/bin/dash", b"/usr/bin/dash (deleted)"));
        assert!(same_path(
            b"/var/lib/containers/merged/usr/bin/dash",
            b"/usr/bin/dash"
        ));
        assert!(!same_path(b"/usr/bin/dash", b"/usr/bin/bash"));
        assert!(!same_path(b"/usr/bin/xdash", b"dash"));
        assert!(!same_path(b"/usr/bin/dash", b"/"));
    }

    #[test]
    fn resolve_on_host_follows_symlinks_of_absolute_paths_only() {
        let dir = std::env::temp_dir().join(format!("sigwatch-argv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let target = dir.join("real");
        let link = dir.join("link");
        let _ = std::fs::write(&target, b"");
        let _ = std::fs::remove_file(&link);
        let linked = std::os::unix::fs::symlink(&target, &link).is_ok();
        if linked {
            assert_eq!(
                resolve_on_host(link.as_os_str().as_bytes()),
                std::fs::canonicalize(&target)
                    .ok()
                    .map(|c| c.as_os_str().as_bytes().to_vec())
            );
        }
        assert_eq!(resolve_on_host(b"link"), None);
        assert_eq!(resolve_on_host(b"/nonexistent/sigwatch/x"), None);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(linked, "could not create a symlink in {}", dir.display());
    }
}
