//! An embedder's loop: the Watcher beside another descriptor (standard
//! input: a line "quit" or its end stops), typed reports out. Run as root:
//! `cargo run -p sigwatch --example embed`.
use std::io::BufRead;
use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sigwatch::report::Report;
use sigwatch::{WatchConfig, Watcher};

fn main() -> Result<(), sigwatch::Error> {
    let mut watcher = Watcher::start(&WatchConfig::default())?;
    // `start` returns once every witness is live (rules installed, the
    // tracepoint enabled): kills from now on are attributed.
    println!("watching (type quit to stop)");
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        let mut fds = [
            PollFd::new(watcher.as_fd(), PollFlags::POLLIN),
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
        ];
        let wait = watcher.timeout().as_millis() as u16;
        poll(&mut fds, PollTimeout::from(wait)).ok();
        if fds[1].any().unwrap_or(false) {
            line.clear();
            if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 || line.trim() == "quit" {
                break;
            }
        }
        for report in watcher.step()? {
            if let Report::Kill(k) = report {
                let sender = k.sender.as_ref().map(|s| s.pid);
                println!("pid {} killed by {sender:?} ({:?})", k.victim.pid, k.origin);
            }
        }
    }
    let finished = watcher.finish(); // rules, `enabled`, trace instance restored
    println!("{} report(s)", finished.summary.reports);
    Ok(())
}
