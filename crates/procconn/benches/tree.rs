//! Tree update cost per process lifetime (fork + exec + exit events), with
//! the in-memory `FakeProc` standing in for `/proc` (so this measures the
//! tree, not the kernel). Run: `cargo bench -p procconn --bench tree`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use procconn::procfs::{FakeProc, FakeProcess, Snapshot};
use procconn::{EventKind, ExitStatus, Pid, ProcEvent, ProcessTree, TreeConfig};

const MS: u64 = 1_000_000;

struct Bench {
    fake: FakeProc,
    tree: ProcessTree,
    now: u64,
    next_pid: Pid,
    readable: bool,
}

fn snap(pid: Pid, ppid: Pid, start: u64, argv: &[&str]) -> Snapshot {
    let mut s = Snapshot::default();
    s.pid = pid;
    s.comm = b"bash".to_vec();
    s.ppid = ppid;
    s.state = b'S';
    s.start_ticks = start / (10 * MS);
    s.start_time_ns = start;
    s.uid = Some(1000);
    s.euid = Some(1000);
    s.gid = Some(1000);
    s.exe = Some(PathBuf::from(argv[0]));
    s.argv = Some(argv.iter().map(|a| a.as_bytes().to_vec()).collect());
    s.cwd = Some(PathBuf::from("/home/user/src/project"));
    s.cgroup = Some("/user.slice/user-1000.slice/session-3.scope".into());
    s.loginuid = Some(1000);
    s.sessionid = Some(3);
    s
}

impl Bench {
    fn new(readable: bool) -> Self {
        let fake = FakeProc::new();
        fake.insert(FakeProcess {
            snapshot: snap(1, 0, 0, &["/sbin/init"]),
            threads: vec![],
        });
        fake.insert(FakeProcess {
            snapshot: snap(100, 1, MS, &["/bin/bash", "--login", "-i"]),
            threads: vec![],
        });
        let mut tree = ProcessTree::with_source(TreeConfig::default(), fake.clone());
        tree.seed_from_proc().unwrap();
        Bench {
            fake,
            tree,
            now: 1000 * MS,
            next_pid: 1000,
            readable,
        }
    }

    fn apply(&mut self, kind: EventKind) {
        self.now += 20_000; // 50k events/s
        self.tree.apply(&ProcEvent {
            seq: 0,
            cpu: 0,
            timestamp_ns: self.now,
            kind,
        });
    }

    /// One process lifetime: fork from the shell, exec, exit.
    fn lifetime(&mut self) {
        let pid = self.next_pid;
        self.next_pid = if pid >= 4_000_000 { 1000 } else { pid + 1 };
        if self.readable {
            self.fake.insert(FakeProcess {
                snapshot: snap(pid, 100, self.now + 20_000, &["/bin/bash", "--login", "-i"]),
                threads: vec![],
            });
        }
        self.apply(EventKind::Fork {
            parent_pid: 100,
            parent_tgid: 100,
            child_pid: pid,
            child_tgid: pid,
        });
        if self.readable {
            self.fake.update(pid, |p| {
                p.snapshot.exe = Some(PathBuf::from("/usr/bin/git"));
                p.snapshot.argv = Some(vec![
                    b"git".to_vec(),
                    b"status".to_vec(),
                    b"--short".to_vec(),
                ]);
                p.snapshot.comm = b"git".to_vec();
            });
        }
        self.apply(EventKind::Exec {
            process_pid: pid,
            process_tgid: pid,
        });
        if self.readable {
            self.fake.remove(pid);
        }
        self.apply(EventKind::Exit {
            process_pid: pid,
            process_tgid: pid,
            exit_code: 0,
            status: ExitStatus::Exited(0),
            exit_signal: 17,
            parent_pid: Some(100),
            parent_tgid: Some(100),
        });
    }
}

fn tree_updates(c: &mut Criterion) {
    let mut g = c.benchmark_group("tree_fork_exec_exit");
    g.throughput(Throughput::Elements(1));
    for (name, readable) in [("procfs_readable", true), ("procfs_gone", false)] {
        let mut b = Bench::new(readable);
        // Fill retention so that expiry runs in steady state (50k exited).
        for _ in 0..60_000 {
            b.lifetime();
        }
        assert_eq!(b.tree.exited_count(), 50_000);
        g.bench_function(name, |bench| bench.iter(|| b.lifetime()));
    }
    g.finish();

    // Lookups an attributor does per kill: get + ancestry.
    let mut b = Bench::new(true);
    for _ in 0..60_000 {
        b.lifetime();
    }
    let pid = b.next_pid - 1;
    c.bench_function("tree_get_and_ancestry", |bench| {
        bench.iter(|| black_box(b.tree.ancestry(black_box(pid)).len()))
    });

    // Seeding a host of 2000 processes.
    c.bench_function("tree_seed_2000", |bench| {
        let fake = FakeProc::new();
        fake.insert(FakeProcess {
            snapshot: snap(1, 0, 0, &["/sbin/init"]),
            threads: vec![],
        });
        for pid in 2..2000 {
            fake.insert(FakeProcess {
                snapshot: snap(pid, 1, MS * pid as u64, &["/usr/bin/daemon", "--flag"]),
                threads: vec![],
            });
        }
        bench.iter_batched(
            || ProcessTree::with_source(TreeConfig::default(), fake.clone()),
            |mut t| black_box(t.seed_from_proc().unwrap()),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, tree_updates);
criterion_main!(benches);
