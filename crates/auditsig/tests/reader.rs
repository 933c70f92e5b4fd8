//! Real-kernel reader tests: a `kill -9` of a `sleep` started by the test
//! produces raw SYSCALL (1300) and OBJ_PID (1318) records naming the
//! victim, on the multicast group and (when no daemon holds it) as the
//! unicast audit pid. Root only, serialized by the host-wide audit lock;
//! rules, `enabled` and the audit pid are left as found.
#![allow(clippy::unwrap_used)]

mod common;

use auditsig::client::AuditClient;
use auditsig::killrules::{owner_key, InstalledRules, KillRuleSet};
use auditsig::netlink::NetlinkRecord;
use auditsig::reader::{MulticastReader, UnicastReader};
use auditsig::Error;
use common::{skip, AuditLock};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `audit(SEC.MSEC:SERIAL)` → SERIAL.
fn serial(body: &[u8]) -> Option<&[u8]> {
    let s = body.strip_prefix(b"audit(")?;
    let colon = s.iter().position(|b| *b == b':')?;
    let close = s.iter().position(|b| *b == b')')?;
    s.get(colon + 1..close)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Starts `sleep`, kills it with SIGKILL from a fresh `sh` (forked after
/// audit was enabled, so it has an audit context), and returns the
/// victim's pid.
fn kill_a_sleep() -> u32 {
    let mut victim = Command::new("sleep")
        .arg("100")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = victim.id();
    // spawn() returns once exec has replaced the memory map, but the
    // kernel renames the task (comm) a moment later: wait for it so the
    // OBJ_PID record names `sleep`.
    let t = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n"
        && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -9 {pid}"))
        .status()
        .unwrap();
    assert!(st.success());
    let ws = victim.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(ws.signal(), Some(9));
    pid
}

/// Reads until a SYSCALL and an OBJ_PID record of the same event name
/// `victim`, or 10 s pass.
fn wait_for_kill(
    mut recv: impl FnMut(Duration) -> auditsig::Result<Option<NetlinkRecord>>,
    victim: u32,
) -> (NetlinkRecord, NetlinkRecord) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: Vec<NetlinkRecord> = Vec::new();
    while Instant::now() < deadline {
        if let Some(r) = recv(Duration::from_millis(200)).unwrap() {
            seen.push(r);
        }
        let obj = seen
            .iter()
            .find(|r| r.msg_type == 1318 && contains(&r.body, &format!("opid={victim} ")));
        if let Some(obj) = obj {
            let s = serial(&obj.body).unwrap();
            if let Some(sys) = seen
                .iter()
                .find(|r| r.msg_type == 1300 && serial(&r.body) == Some(s))
            {
                assert!(contains(&sys.body, &format!("a0={victim:x} ")), "{sys:?}");
                assert!(contains(&sys.body, "a1=9 "), "{sys:?}");
                assert!(!sys.body.ends_with(b"\0"));
                // The whole text, not cut 16 bytes short by the unicast
                // nlmsg_len quirk: the key is the SYSCALL record's last field.
                let key = format!("key=\"{}\"", owner_key(std::process::id() as i32));
                assert!(sys.body.ends_with(key.as_bytes()), "{sys:?}");
                return (sys.clone(), obj.clone());
            }
        }
    }
    panic!(
        "no SYSCALL+OBJ_PID for victim {victim}; got {} records: {:?}",
        seen.len(),
        seen.iter()
            .map(|r| (r.msg_type, String::from_utf8_lossy(&r.body).into_owned()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn multicast_reader_sees_a_kill() {
    if skip("multicast_reader_sees_a_kill") {
        return;
    }
    let _lock = AuditLock::acquire();
    let Some(mut reader) = common::multicast("multicast_reader_sees_a_kill", MulticastReader::open)
    else {
        return;
    };
    let enabled = AuditClient::open().unwrap().enable().unwrap();
    let rules = KillRuleSet::new(owner_key(std::process::id() as i32))
        .build()
        .unwrap();
    let installed = InstalledRules::install(AuditClient::open().unwrap(), rules).unwrap();

    let victim = kill_a_sleep();
    let (sys, obj) = wait_for_kill(|t| reader.recv_timeout(Some(t)), victim);
    let stats = reader.stats();
    let lost = reader.lost_since_start();

    installed.remove().unwrap();
    enabled.restore().unwrap();

    assert!(
        contains(
            &sys.body,
            &format!("key=\"{}\"", owner_key(std::process::id() as i32))
        ),
        "{sys:?}"
    );
    assert!(contains(&obj.body, "ocomm=\"sleep\""), "{obj:?}");
    assert!(stats.records >= 2 && stats.datagrams >= 2, "{stats:?}");
    assert_eq!(stats.unparsable, 0);
    assert!(stats.rcvbuf >= 1024 * 1024, "{stats:?}");
    lost.unwrap();
    // Non-blocking receive returns at once.
    let t = Instant::now();
    let _ = reader.try_recv().unwrap();
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn unicast_reader_registers_only_when_free_and_releases() {
    if skip("unicast_reader_registers_only_when_free_and_releases") {
        return;
    }
    let _lock = AuditLock::acquire();
    let mut c = AuditClient::open().unwrap();
    let before = c.status().unwrap();
    if before.pid != 0 {
        // Held by someone (auditd): we must be refused, and leave it.
        match UnicastReader::register() {
            Err(Error::AuditPidHeld { pid }) => assert_eq!(pid, before.pid),
            other => panic!("expected AuditPidHeld, got {other:?}"),
        }
        assert_eq!(c.status().unwrap().pid, before.pid);
        sigwatch_test_support::partial(
            "unicast_reader_registers_only_when_free_and_releases",
            sigwatch_test_support::Need::AuditIdle,
            format!(
                "audit pid {} is held: only the refusal was checked, not registering and reading",
                before.pid
            ),
        );
        return;
    }
    let enabled = AuditClient::open().unwrap().enable().unwrap();
    let rules = KillRuleSet::new(owner_key(std::process::id() as i32))
        .build()
        .unwrap();
    let installed = InstalledRules::install(AuditClient::open().unwrap(), rules).unwrap();

    let mut reader = UnicastReader::register().unwrap();
    let registered_pid = c.status().unwrap().pid;
    // A second registration is refused: we hold it now.
    let second = UnicastReader::register();
    let victim = kill_a_sleep();
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for_kill(|t| reader.recv_timeout(Some(t)), victim)
    }));
    reader.release().unwrap();
    let after_release = c.status().unwrap().pid;
    drop(reader);
    installed.remove().unwrap();
    enabled.restore().unwrap();

    assert_eq!(registered_pid, std::process::id() as i32);
    assert!(
        matches!(second, Err(Error::AuditPidHeld { .. })),
        "{second:?}"
    );
    assert_eq!(after_release, 0);
    let (sys, _obj) = found.unwrap();
    // Unicast bodies are cut at the datagram, not at the short nlmsg_len.
    assert!(contains(&sys.body, "key="), "{sys:?}");
    assert_eq!(c.status().unwrap().pid, 0);
}

/// A burst of audited kill syscalls from one shell: every event arrives,
/// or the loss is accounted for (kernel `lost` delta or ENOBUFS) — never
/// silent. Prints the figures.
#[test]
fn multicast_burst_loses_nothing_silently() {
    if skip("multicast_burst_loses_nothing_silently") {
        return;
    }
    const N: u32 = 2000;
    // A pid above pid_max: kill() fails with ESRCH, nobody is signalled,
    // and the exit rule still records the call.
    const NOBODY: u32 = 999_999_999;
    let _lock = AuditLock::acquire();
    let Some(mut reader) = common::multicast(
        "multicast_burst_loses_nothing_silently",
        MulticastReader::open,
    ) else {
        return;
    };
    let enabled = AuditClient::open().unwrap().enable().unwrap();
    let key = owner_key(std::process::id() as i32);
    let rules = KillRuleSet::new(key.clone()).build().unwrap();
    let installed = InstalledRules::install(AuditClient::open().unwrap(), rules).unwrap();

    let start = Instant::now();
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "i=0; while [ $i -lt {N} ]; do kill -9 {NOBODY} 2>/dev/null; i=$((i+1)); done"
        ))
        .spawn()
        .unwrap();
    let needle = format!("a0={NOBODY:x} ");
    let mut received = 0u32;
    let mut quiet_since: Option<Instant> = None;
    loop {
        match reader
            .recv_timeout(Some(Duration::from_millis(100)))
            .unwrap()
        {
            Some(r) => {
                quiet_since = None;
                if r.msg_type == 1300 && contains(&r.body, &needle) {
                    received += 1;
                }
            }
            None => {
                let exited = sh.try_wait().unwrap().is_some();
                let q = *quiet_since.get_or_insert_with(Instant::now);
                if exited && (received == N || q.elapsed() > Duration::from_secs(2)) {
                    break;
                }
                if start.elapsed() > Duration::from_secs(120) {
                    break;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let st = sh.wait().unwrap();
    let stats = reader.stats();
    let lost = reader.lost_since_start().unwrap();
    installed.remove().unwrap();
    enabled.restore().unwrap();

    eprintln!(
        "burst: {N} kill syscalls, {received} SYSCALL records received in {:.2?} \
         ({:.0} events/s), kernel lost +{lost}, ENOBUFS {}, records {}, rcvbuf {}",
        elapsed,
        received as f64 / elapsed.as_secs_f64(),
        stats.enobufs,
        stats.records,
        stats.rcvbuf
    );
    assert!(st.success());
    assert!(received <= N);
    assert!(
        received == N || lost > 0 || stats.enobufs > 0,
        "silent loss: {received}/{N}, lost +{lost}, {stats:?}"
    );
}

/// `Drops` of the netlink socket `fd` in /proc/net/netlink (columns: sk
/// Eth Pid Groups Rmem Wmem Dump Locks Drops Inode), found by inode.
fn netlink_drops(fd: std::os::fd::RawFd) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?.ino();
    let table = std::fs::read_to_string("/proc/net/netlink").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(9)?.parse::<u64>().ok()? == ino).then(|| f.get(8)?.parse().ok())?
    })
}

/// With a tiny receive buffer and nobody reading during a burst, the
/// socket overflows: the reader must report it (ENOBUFS), not hide it.
#[test]
fn multicast_overflow_is_counted_as_enobufs() {
    if skip("multicast_overflow_is_counted_as_enobufs") {
        return;
    }
    const N: u32 = 500;
    const NOBODY: u32 = 999_999_998;
    let _lock = AuditLock::acquire();
    let Some(mut reader) = common::multicast("multicast_overflow_is_counted_as_enobufs", || {
        MulticastReader::with_rcvbuf(4096)
    }) else {
        return;
    };
    reader.set_nonblocking(true).unwrap();
    let enabled = AuditClient::open().unwrap().enable().unwrap();
    let rules = KillRuleSet::new(owner_key(std::process::id() as i32))
        .build()
        .unwrap();
    let installed = InstalledRules::install(AuditClient::open().unwrap(), rules).unwrap();
    // Not reading while the shell runs.
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "i=0; while [ $i -lt {N} ]; do kill -9 {NOBODY} 2>/dev/null; i=$((i+1)); done"
        ))
        .status()
        .unwrap();
    // Not a sleep: wait until the kernel itself counts drops on this
    // socket (`Drops` of /proc/net/netlink, by socket inode).
    let dropped = sigwatch_test_support::wait_until(Duration::from_secs(10), || {
        netlink_drops(reader.as_raw_fd()).is_some_and(|d| d > 0)
    });
    assert!(
        dropped,
        "the kernel dropped nothing on a 4 KiB socket after {N} records"
    );
    let needle = format!("a0={NOBODY:x} ");
    let mut received = 0;
    while let Some(r) = reader.try_recv().unwrap() {
        if r.msg_type == 1300 && contains(&r.body, &needle) {
            received += 1;
        }
    }
    let stats = reader.stats();
    installed.remove().unwrap();
    enabled.restore().unwrap();
    eprintln!(
        "overflow: {N} kills, {received} of their SYSCALL records received ({} records in all) \
         with rcvbuf {}, ENOBUFS {}",
        stats.records, stats.rcvbuf, stats.enobufs
    );
    assert!(st.success());
    assert!(received < N, "{received}");
    assert!(stats.enobufs > 0, "{stats:?}");
}
