//! An embedder that uses only auditsig: a `RuleKeeper` keeps the
//! kill-family rules and `enabled` in place (re-adding them after
//! `auditctl -D` or when another program's rules vanish), a `KillSource`
//! yields kill events. Prints one line per kill; a line on standard input
//! (or its end) stops it, and the keeper restores audit as found.
//! Run as root: `cargo run -p auditsig --example keeper_watch`.
use std::io::BufRead;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use auditsig::keeper::{KeeperConfig, RuleKeeper};
use auditsig::source::{KillSource, SourceConfig};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

fn main() -> Result<(), auditsig::Error> {
    let mut keeper = RuleKeeper::start(KeeperConfig::default())?;
    let mut source = KillSource::open_auto(&SourceConfig::default())?;
    println!("ready");
    let (stdin, mut kills, mut last_check) = (std::io::stdin(), Vec::new(), Instant::now());
    loop {
        let mut fds = [
            PollFd::new(source.as_fd(), PollFlags::POLLIN),
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
        ];
        poll(&mut fds, PollTimeout::from(250u16)).ok();
        if fds[1].any().unwrap_or(false) {
            let _ = stdin.lock().read_line(&mut String::new());
            break;
        }
        source.poll_kills(Instant::now(), &mut kills)?;
        for k in kills.drain(..) {
            let victims: Vec<i32> = k.targets.iter().map(|t| t.pid).collect();
            println!("kill {} {victims:?} by {}", k.signal, k.sender.pid);
        }
        if last_check.elapsed() >= RuleKeeper::CHECK_INTERVAL.min(Duration::from_secs(1)) {
            last_check = Instant::now();
            let r = keeper.check()?;
            if !r.is_quiet() {
                let (a, b, c) = (r.readded, r.gaps_filled, r.reenabled);
                eprintln!("keeper: re-added {a}, gaps filled {b}, re-enabled {c}");
            }
        }
    }
    keeper.finish()?;
    Ok(())
}
