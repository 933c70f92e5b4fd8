//! Prints every SIGKILL (or every signal with `all`) the kernel
//! generates, with the sender and the classifier's verdict, for N
//! seconds (default 10). Root only.
//!
//! `cargo run -p tracesig --example watch -- [seconds] [all]`

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tracesig::classify::si;
use tracesig::{
    classify, Config, MarkVictim, OomEvidence, Record, SignalFilter, SignalGenerate, TraceSource,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let cfg = if args.iter().any(|a| a == "all") {
        Config::default()
            .with_signals(SignalFilter::All)
            .with_buffer_size_kb(1024)
    } else {
        Config::default()
    };
    let mut src = TraceSource::open(&cfg)?;
    eprintln!(
        "instance {} (mark_victim traced: {})",
        src.instance().path().display(),
        src.instance().mark_victim_traced()
    );
    let end = Instant::now() + Duration::from_secs(secs);
    let mut recs = Vec::new();
    // mark_victim comes right after its signal_generate: hold a
    // SIGKILL/SI_KERNEL one poll round so the victim mark can join.
    let mut held: Vec<SignalGenerate> = Vec::new();
    let mut victims = HashMap::new();
    while Instant::now() < end {
        let mut fds = [PollFd::new(src.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(200u16))? > 0 {
            // The kernel fills in the sender's comm/tgid (printed at read
            // time) when that task is next switched out: give it a tick.
            std::thread::sleep(Duration::from_millis(20));
        }
        recs.clear();
        src.read_available(&mut recs)?;
        let mut fresh = Vec::new();
        for r in recs.drain(..) {
            match r {
                Record::MarkVictim(m) => {
                    victims.insert(m.pid, m);
                }
                Record::SignalGenerate(ev) => fresh.push(ev),
                Record::Lost { cpu, events } => eprintln!("cpu {cpu}: lost {events:?} events"),
                _ => {}
            }
        }
        // Events held last round are printed now, whatever joined.
        for ev in std::mem::take(&mut held) {
            report(&src, &victims, &ev);
        }
        for ev in fresh {
            if ev.sig == 9 && ev.code == si::SI_KERNEL && !victims.contains_key(&ev.pid) {
                held.push(ev);
            } else {
                report(&src, &victims, &ev);
            }
        }
    }
    for ev in held {
        report(&src, &victims, &ev);
    }
    eprintln!("loss: {:?}", src.loss()?);
    Ok(())
}

fn report(src: &TraceSource, victims: &HashMap<i32, MarkVictim>, ev: &SignalGenerate) {
    let oom = match victims.get(&ev.pid) {
        Some(m) => OomEvidence::Marked(m),
        None if src.instance().mark_victim_traced() => OomEvidence::NotMarked,
        None => OomEvidence::Unavailable,
    };
    let c = classify(ev, oom);
    println!(
        "{:?} {}[{}/{:?}] -> {}[{}] sig={} code={} grp={:?} res={:?}: {} ({})",
        ev.ctx.timestamp,
        ev.ctx.comm,
        ev.ctx.pid,
        ev.ctx.tgid,
        ev.comm,
        ev.pid,
        ev.sig,
        ev.code,
        ev.group,
        ev.result,
        c.origin.as_str(),
        c.evidence
    );
}
