//! `sigwatch`: who killed my process? The thin binary: parse the command
//! line, set up logging, dispatch to the library.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

mod cli;
mod diag;
mod generate;
mod metrics_file;
mod priority;
mod run;

use clap::Parser;
use cli::{Cli, Command, RulesArch};
use sigwatch::render::TextOptions;
use sigwatch::report::Report;
use sigwatch::SignalSet;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        // Never block on stderr (see `diag`).
        .target(env_logger::Target::Pipe(Box::new(
            diag::LogWriter::default(),
        )))
        .init();
    let res = match &cli.command {
        None => run_watch(&cli),
        Some(Command::Rules { signal, arch }) => rules(*signal, *arch),
        Some(Command::Status) => {
            let checks = sigwatch::status::checks();
            // (A reader gone early, `| head -3`, is no error: print! would
            // panic on it.)
            let _ = write!(io::stdout().lock(), "{}", sigwatch::status::render(&checks));
            if checks.iter().any(|c| !c.ok) {
                return ExitCode::from(sigwatch::status::EXIT_GAP);
            }
            Ok(())
        }
        Some(Command::Generate { what }) => {
            match generate::generate(*what, &mut io::stdout().lock()) {
                // The reader went away (`| head -1`): its choice, as for
                // any filter; nothing to report.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => r.map_err(|e| sigwatch::Error::Io {
                    what: "writing".into(),
                    source: e,
                }),
            }
        }
        Some(Command::Replay(args)) => replay(args),
    };
    let code = match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            diag::say(&format!("sigwatch: error: {e}"));
            ExitCode::FAILURE
        }
    };
    diag::finish(std::time::Duration::from_secs(2));
    code
}

fn run_watch(cli: &Cli) -> Result<(), sigwatch::Error> {
    // Unbuffered: the watch loop writes each report only when poll says
    // the reader has room (see `run::run`).
    use std::os::fd::AsFd;
    // A pipe gets a private non-blocking file description, so that a
    // report is written whole or not at all (see `OutQueue`).
    let stdout = match sigwatch::output::reopen_pipe_nonblocking(io::stdout().as_fd()) {
        Some(f) => f,
        None => io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .map_err(|e| sigwatch::Error::Io {
                what: "standard output".into(),
                source: e,
            })?,
    };
    let args = &cli.watch;
    let render = match args.output() {
        cli::Output::Json | cli::Output::Journal => sigwatch::render::Renderer::json(),
        cli::Output::Text => sigwatch::render::Renderer::text(
            std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal(),
        )
        .utc(args.utc)
        .full(args.full)
        .width(text_width()),
    };
    let journal = match args.output() {
        cli::Output::Journal => {
            // NOTIFY_SOCKET-style override, for tests against a private journald.
            let path = std::env::var_os("SIGWATCH_JOURNAL_SOCKET").map_or_else(
                || sigwatch::journal::SOCKET.into(),
                std::path::PathBuf::from,
            );
            Some(
                sigwatch::journal::Journal::connect(&path).map_err(|e| {
                    sigwatch::Error::Fatal(format!(
                        "--output journal: cannot connect to the journal at {}: {e}; fix: run where systemd-journald runs (the socket exists once it is up), or use --output text or json",
                        path.display()
                    ))
                })?,
            )
        }
        _ => None,
    };
    warn_long_comms(&args.comm);
    let cfg = args.to_config();
    let opts = run::RunOptions {
        count: args.count,
        metrics_file: args.metrics_file.clone(),
        nice: Some(run::Nice {
            value: args.nice.unwrap_or(run::DEFAULT_NICE),
            explicit: args.nice.is_some(),
        }),
    };
    let summary = run::run(
        &cfg,
        opts,
        &render,
        journal.as_ref(),
        |w| banner(args, w),
        stdout,
    )?;
    let text = sigwatch::render::render_text(&Report::Summary(summary), &TextOptions::default());
    diag::say(&text);
    Ok(())
}

/// Says how a `--comm` longer than the kernel keeps is matched (its first
/// 15 bytes), so that nobody waits for a name that can never match whole.
fn warn_long_comms(comms: &[String]) {
    for c in comms {
        let kept = sigwatch::attributor::COMM_BYTES;
        if c.len() > kept {
            let cut = String::from_utf8_lossy(&c.as_bytes()[..kept]);
            log::warn!(
                "--comm {c}: the kernel keeps the first {kept} bytes of a command name; matching victims named {cut}"
            );
        }
    }
}

/// The width ancestor lines are cut to: the terminal's, else `COLUMNS`;
/// `None` (whole lines) when standard output is no terminal and `COLUMNS`
/// is unset: a file or a pipe keeps everything (for grep and archives).
fn text_width() -> Option<usize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the valid pointer.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc == 0 && ws.ws_col >= 40 {
        return Some(usize::from(ws.ws_col));
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|&c| c >= 40)
}

/// The line that says what sigwatch watches with.
fn banner(args: &cli::WatchArgs, w: &sigwatch::Watcher) -> String {
    let ws = w.witnesses();
    let signals = if args.signal.is_all() {
        "every signal".to_string()
    } else {
        args.signal
            .iter()
            .map(sigwatch::signal_name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let no_audit = ws.audit == "none";
    format!(
        "sigwatch: watching {signals} (audit: {}; tracefs: {}; kmsg: {}){}",
        ws.audit,
        if ws.tracefs { "signal:signal_generate" } else { "off" },
        if ws.kmsg { "on" } else { "off" },
        match (no_audit, ws.tracefs) {
            (true, false) => "; senders cannot be identified without audit or tracefs",
            (true, true) => "; senders come from tracefs and the process tree (no login uid, session or syscall without audit)",
            _ => "",
        }
    )
}

fn rules(signals: SignalSet, arch: RulesArch) -> Result<(), sigwatch::Error> {
    use auditsig::syscalls::Arch;
    let set = auditsig::killrules::KillRuleSet::new(auditsig::killrules::KEY_PREFIX);
    let set = match arch {
        RulesArch::Native => set,
        RulesArch::X86_64 => set.arches(&[Arch::X86_64, Arch::I386]),
        RulesArch::Aarch64 => set.arches(&[Arch::Aarch64]),
    };
    let set = if signals.is_all() {
        set.all_signals()
    } else {
        set.signals(&signals.iter().collect::<Vec<_>>())
    };
    let rules = set
        .build()
        .map_err(|e| sigwatch::Error::Fatal(e.to_string()))?;
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "## sigwatch: kill-family syscalls sending {} (put in /etc/audit/rules.d/sigwatch.rules)",
        if signals.is_all() {
            "any signal".to_string()
        } else {
            signals
                .iter()
                .map(sigwatch::signal_name)
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    for r in rules {
        let _ = writeln!(out, "{}", r.to_auditctl());
    }
    Ok(())
}

fn replay(args: &cli::ReplayArgs) -> Result<(), sigwatch::Error> {
    warn_long_comms(&args.comm);
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut opts = args.options();
    // The same text rules as watch mode (see `run_watch`).
    opts.width = text_width();
    opts.color = std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal();
    let Some(path) = &args.metrics_file else {
        let summary = sigwatch::replay::run::run(&opts, out)?;
        eprintln!("{}", summary.render());
        // Exit 1 when an input could not be read to its end.
        return summary.check();
    };
    // Checked before the replay (which may take long) starts.
    let file = metrics_file::MetricsFile::start(path)?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut registry =
        sigwatch::metrics::Registry::new(sigwatch::metrics::Limits::default(), started);
    let summary = sigwatch::replay::run::run_observed(&opts, out, |r| {
        if let Report::Kill(k) = r {
            registry.count_kill(k);
        }
    })?;
    eprintln!("{}", summary.render());
    file.finish(registry.render(), std::time::Duration::from_secs(10));
    summary.check()
}
