//! The lifecycle on the real kernel, with tracefs unmounted: mounting
//! and marking, the unmount by the last user out, and the clean-up after
//! dead owners (SIGKILLed, or whose pid another process holds now).
//!
//! Mount tests never touch the host's mounts: the binary re-runs itself
//! inside `unshare --mount --propagation private`, where it mounts a
//! private tmpfs on /run (the mark and the lock) and unmounts its copy
//! of tracefs/debugfs. Trace instances are global kernel state: the
//! scenarios only create and remove their own, and expect the mount to
//! stay when somebody else's instance exists.
//!
//! No test harness: the binary also re-runs itself as the owner of a
//! trace instance (`--lifecycle-helper hold`), to be SIGKILLed.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use tracesig::{Config, Locations, Record, TraceSource, Tracefs};

const TRACING: &str = "/sys/kernel/tracing";
const DEBUG: &str = "/sys/kernel/debug";
const MARK: &str = "/run/sigwatch-tracefs.mount";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--lifecycle-helper") if args.get(2).map(String::as_str) == Some("hold") => hold(),
        Some("--lifecycle-helper") if args.get(2).map(String::as_str) == Some("ns") => {
            in_namespace()
        }
        _ => outer(),
    }
}

/// Opens a source, prints its instance name, and keeps it until stdin
/// closes (or SIGKILL).
fn hold() {
    let src = TraceSource::open(&Config::default()).unwrap();
    println!("{}", src.instance().name());
    let _ = std::io::stdin().read_line(&mut String::new());
    src.finish().unwrap();
}

fn outer() {
    // Raw probes decide (root, /proc/filesystems), never tracesig.
    if !sigwatch_test_support::require_root("lifecycle") {
        return;
    }
    if let Err(why) = sigwatch_test_support::probe::tracefs() {
        sigwatch_test_support::skip("lifecycle", sigwatch_test_support::Need::Tracefs, why);
        return;
    }
    if !Path::new(TRACING).is_dir() {
        sigwatch_test_support::skip(
            "lifecycle",
            sigwatch_test_support::Need::Kernel("/sys/kernel/tracing".into()),
            format!("no {TRACING} (kernel < 4.1)"),
        );
        return;
    }
    if !sigwatch_test_support::require_tool("lifecycle", "unshare") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let st = match Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(&exe)
        .args(["--lifecycle-helper", "ns"])
        .status()
    {
        Ok(st) => st,
        Err(e) => panic!("unshare is on PATH but cannot run: {e}"),
    };
    assert!(st.success(), "the scenarios in the namespace failed: {st}");
}

fn in_namespace() {
    // Never run the unmounting below in the host's namespace: the
    // parent (the test that ran unshare) must be in another one.
    let ns = |p: String| std::fs::read_link(p).unwrap();
    assert_ne!(
        ns("/proc/self/ns/mnt".into()),
        ns(format!("/proc/{}/ns/mnt", nix::unistd::getppid())),
        "not in a private mount namespace"
    );
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    std::fs::create_dir("/run/lock").unwrap();

    mounts_marks_and_unmounts();
    dead_owner_is_cleaned_periodically_and_its_mount_undone();
    dead_instance_is_cleaned_at_finish_and_does_not_keep_the_mount();
    reused_pid_does_not_keep_an_owner_alive();
    live_owner_mount_is_left_alone();
    debugfs_fallback_mounts_reads_and_unmounts();
    println!("lifecycle: all scenarios passed");
}

// ---- probes (independent of the code under test) ----

/// Mount ids of tracing file systems at `mp` (topmost last).
fn mount_ids(mp: &str) -> Vec<u64> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            let (pre, post) = l.split_once(" - ").unwrap();
            let at = pre.split(' ').nth(4).unwrap();
            (at == mp || at.starts_with(&format!("{mp}/")))
                && (post.starts_with("tracefs ") || post.starts_with("debugfs "))
        })
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

fn mounted(mp: &str) -> bool {
    !mount_ids(mp).is_empty()
}

/// Unmounts this namespace's copies of tracefs and debugfs.
fn unmount_tracing() {
    for mp in [format!("{DEBUG}/tracing"), DEBUG.into(), TRACING.into()] {
        while !mount_ids(&mp).is_empty() {
            umount2(mp.as_str(), MntFlags::MNT_DETACH).unwrap();
        }
    }
    let _ = std::fs::remove_file(MARK);
    assert!(!mounted(TRACING) && !mounted(DEBUG));
}

fn start_time(pid: u32) -> u64 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &st[st.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19).unwrap().parse().unwrap()
}

fn instances() -> PathBuf {
    Path::new(TRACING).join("instances")
}

fn instance_names() -> Vec<String> {
    std::fs::read_dir(instances())
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// After the last user left: unmounted with the mark gone, unless
/// somebody else's instance (another test on the host) keeps it.
fn expect_unmounted(unmounted: Option<&Path>, what: &str) {
    if mounted(TRACING) {
        let others = instance_names();
        assert!(
            !others.is_empty(),
            "{what}: tracefs left mounted with no instance in it"
        );
        assert!(Path::new(MARK).exists(), "{what}: mark gone, mount kept");
        println!("NOTE {what}: kept mounted for other instances {others:?}");
        unmount_tracing();
        return;
    }
    assert_eq!(unmounted, Some(Path::new(TRACING)), "{what}");
    assert!(!Path::new(MARK).exists(), "{what}: mark left behind");
}

fn spawn_holder() -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--lifecycle-helper", "hold"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut name = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut name)
        .unwrap();
    let name = name.trim().to_string();
    assert!(!name.is_empty(), "the holder did not open its source");
    (child, name)
}

fn sigkill(mut child: Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
}

/// Mounts tracefs by hand and writes a mark naming a live `sleep` with
/// its start time shifted by `shift` (-1: a reused pid). Returns the
/// sleep and its real start time.
fn mount_marked_by_a_sleep(shift: i64) -> (Child, u64) {
    unmount_tracing();
    mount(
        Some("nodev"),
        TRACING,
        Some("tracefs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let sleeper = Command::new("sleep").arg("100").spawn().unwrap();
    let t = start_time(sleeper.id());
    let id = *mount_ids(TRACING).last().unwrap();
    let marked = t.checked_add_signed(shift).unwrap();
    std::fs::write(MARK, format!("{} {TRACING} {id} {marked}\n", sleeper.id())).unwrap();
    (sleeper, t)
}

// ---- scenarios ----

fn mounts_marks_and_unmounts() {
    unmount_tracing();
    let src = TraceSource::open(&Config::default()).unwrap();
    assert!(mounted(TRACING));
    assert_eq!(
        src.instance().tracefs().own_mount(),
        Some(Path::new(TRACING))
    );
    let me = std::process::id();
    let t = start_time(me);
    assert_eq!(src.instance().name(), format!("sigwatch-{me}-s{t}"));
    let mark = std::fs::read_to_string(MARK).unwrap();
    let id = *mount_ids(TRACING).last().unwrap();
    assert_eq!(mark, format!("{me} {TRACING} {id} {t}\n"));
    // A second source of the process shares the mount.
    let second = TraceSource::open(&Config::default()).unwrap();
    assert_eq!(src.finish().unwrap().unmounted, None);
    assert!(mounted(TRACING), "unmounted under the second source");
    let c = second.finish().unwrap();
    expect_unmounted(c.unmounted.as_deref(), "own mount");
}

fn dead_owner_is_cleaned_periodically_and_its_mount_undone() {
    unmount_tracing();
    let (child, dead_name) = spawn_holder();
    // The holder mounted tracefs and marked it.
    let mark = std::fs::read_to_string(MARK).unwrap();
    assert!(
        mark.starts_with(&format!("{} {TRACING} ", child.id())),
        "{mark}"
    );
    let survivor = TraceSource::open(&Config::default()).unwrap();
    assert_eq!(survivor.instance().tracefs().own_mount(), None);
    assert!(survivor.cleaned_at_open().is_empty());
    sigkill(child);
    assert!(instances().join(&dead_name).exists());
    let c = survivor.clean_stale().unwrap();
    assert_eq!(c.stale_instances, [dead_name.as_str()]);
    assert!(!instances().join(&dead_name).exists());
    assert!(mounted(TRACING), "unmounted while the survivor runs");
    let c = survivor.finish().unwrap();
    assert!(c.stale_instances.is_empty());
    expect_unmounted(c.unmounted.as_deref(), "dead owner's mount");
}

fn dead_instance_is_cleaned_at_finish_and_does_not_keep_the_mount() {
    unmount_tracing();
    let survivor = TraceSource::open(&Config::default()).unwrap();
    let (child, dead_name) = spawn_holder();
    sigkill(child);
    let c = survivor.finish().unwrap();
    assert_eq!(c.stale_instances, [dead_name.as_str()]);
    assert!(!mounted(TRACING) || !instances().join(&dead_name).exists());
    expect_unmounted(c.unmounted.as_deref(), "dead instance at finish");
}

/// The mark and an instance name a live pid with another start time:
/// their owner is dead, the pid was reused.
fn reused_pid_does_not_keep_an_owner_alive() {
    // Mounted by "somebody": the mark names the reused pid.
    let (mut sleeper, t) = mount_marked_by_a_sleep(-1);
    let pid = sleeper.id();
    let survivor = TraceSource::open(&Config::default()).unwrap();
    assert_eq!(survivor.instance().tracefs().own_mount(), None);
    let reused = format!("sigwatch-{pid}-s{}", t - 1);
    let live = format!("sigwatch-{pid}-s{t}");
    let old_live = format!("sigwatch-{pid}");
    for n in [&reused, &live, &old_live] {
        std::fs::create_dir(instances().join(n)).unwrap();
    }
    let c = survivor.clean_stale();
    let left: Vec<bool> = [&reused, &live, &old_live]
        .iter()
        .map(|n| instances().join(n).exists())
        .collect();
    for n in [&live, &old_live] {
        let _ = std::fs::remove_dir(instances().join(n));
    }
    assert_eq!(c.unwrap().stale_instances, [reused.as_str()]);
    assert_eq!(left, [false, true, true], "{reused}, {live}, {old_live}");
    let c = survivor.finish().unwrap();
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    expect_unmounted(c.unmounted.as_deref(), "mount of a reused pid's owner");
}

fn live_owner_mount_is_left_alone() {
    let (mut sleeper, _) = mount_marked_by_a_sleep(0);
    let mark = std::fs::read_to_string(MARK).unwrap();
    let src = TraceSource::open(&Config::default()).unwrap();
    let c = src.finish().unwrap();
    let still = mounted(TRACING);
    let mark_now = std::fs::read_to_string(MARK).ok();
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    unmount_tracing();
    assert_eq!(c.unmounted, None);
    assert!(still, "a live owner's mount was undone");
    assert_eq!(mark_now.as_deref(), Some(mark.as_str()));
}

/// The debugfs fallback of old kernels (< 4.1, no tracefs), forced on
/// this kernel: the tracefs mount point is made to be missing and debugfs
/// is mounted on a temporary directory. On kernels with tracefs,
/// `debugfs/tracing` automounts tracefs, which must be unmounted before
/// debugfs.
fn debugfs_fallback_mounts_reads_and_unmounts() {
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap();
    if !fs.lines().any(|l| l.ends_with("\tdebugfs")) {
        sigwatch_test_support::skip(
            "debugfs_fallback",
            sigwatch_test_support::Need::Debugfs,
            "kernel without debugfs",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let debug = tmp.path().join("debug");
    std::fs::create_dir(&debug).unwrap();
    let mark = tmp.path().join("mark");
    let cfg = Config::default().with_locations(
        Locations::new(tmp.path().join("no-tracefs-here"), &debug).with_mark(&mark),
    );
    let mut src = TraceSource::open(&cfg).unwrap();
    assert!(src
        .instance()
        .path()
        .starts_with(debug.join("tracing/instances")));
    assert_eq!(src.instance().tracefs().own_mount(), Some(debug.as_path()));
    assert!(Tracefs::mounted_by_us());
    // The mount is marked with this process's identity and mount.
    let me = std::process::id();
    let debug_str = debug.to_str().unwrap();
    let id = *mount_ids(debug_str).first().unwrap();
    assert_eq!(
        std::fs::read_to_string(&mark).unwrap(),
        format!("{me} {debug_str} {id} {}\n", start_time(me))
    );

    let mut victim = Command::new("sleep").arg("100").spawn().unwrap();
    let vpid = victim.id() as i32;
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -9 {vpid}"))
        .spawn()
        .unwrap();
    let spid = sh.id() as i32;
    sh.wait().unwrap();
    victim.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut recs = Vec::new();
    let ev = loop {
        src.read_available(&mut recs).unwrap();
        if let Some(ev) = recs.iter().find_map(|r| match r {
            Record::SignalGenerate(s) if s.pid == vpid => Some(s.clone()),
            _ => None,
        }) {
            break ev;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGKILL not seen through debugfs/tracing"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(ev.ctx.pid, spid);

    let name = src.instance().name().to_string();
    let cleaned = src.finish().unwrap();
    assert!(!Tracefs::mounted_by_us());
    assert!(!debug.join("tracing/instances").join(&name).exists());
    if mounted(debug_str) {
        // Somebody else's instance keeps it (instances are global).
        let others = std::fs::read_dir(debug.join("tracing/instances"))
            .unwrap()
            .count();
        for mp in [format!("{debug_str}/tracing"), debug_str.to_string()] {
            let _ = umount2(mp.as_str(), MntFlags::MNT_DETACH);
        }
        assert!(others > 0, "debugfs left mounted with no instance in it");
        assert!(mark.exists(), "mark gone, mount kept");
        println!("NOTE debugfs_fallback: kept mounted for {others} other instance(s)");
        return;
    }
    assert_eq!(cleaned.unmounted.as_deref(), Some(debug.as_path()));
    assert!(!mark.exists(), "mark left behind");
}
