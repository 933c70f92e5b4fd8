//! Saves raw proc connector datagrams, one file each, to build test
//! fixtures and fuzz seeds from the real kernel.
//!
//! ```text
//! sudo cargo run -p procconn --example capture -- DIR [COUNT] [--pid-min N]
//! ```
//!
//! With `--pid-min N`, only datagrams whose event is about a pid ≥ N are
//! kept (to skip unrelated host activity). Stops after COUNT (default 50)
//! datagrams or 30 s without one.

use std::time::Duration;

use procconn::{parse_datagram, Config, ProcConnector};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: capture DIR [COUNT] [--pid-min N]");
        std::process::exit(2)
    };
    let mut count: usize = 50;
    let mut pid_min = 0;
    while let Some(a) = args.next() {
        if a == "--pid-min" {
            pid_min = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        } else if let Ok(n) = a.parse() {
            count = n;
        }
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("capture: {dir}: {e}");
        std::process::exit(1);
    }
    let mut conn = match ProcConnector::open(&Config::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("capture: {e}");
            std::process::exit(1)
        }
    };
    let mut saved = 0;
    while saved < count {
        match conn.recv_raw(Some(Duration::from_secs(30))) {
            Ok(Some(dg)) => {
                let keep = parse_datagram(dg).any(|r| {
                    r.map(|ev| ev.kind.subject().is_some_and(|(p, _)| p >= pid_min))
                        .unwrap_or(true)
                });
                if !keep {
                    continue;
                }
                let path = format!("{dir}/dg-{saved:03}.bin");
                if let Err(e) = std::fs::write(&path, dg) {
                    eprintln!("capture: {path}: {e}");
                    std::process::exit(1);
                }
                saved += 1;
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("capture: {e}");
                break;
            }
        }
    }
    eprintln!("capture: saved {saved} datagrams to {dir}");
}
