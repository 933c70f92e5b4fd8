//! `sigwatch`: who killed my process? The thin binary: parse the command
//! line, set up logging, dispatch to the library.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use sigwatch::cli::{Cli, Command};
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
        .init();
    let res = match &cli.command {
        None => run_watch(&cli),
        Some(Command::Rules { signal }) => rules(*signal),
        Some(Command::Status) => {
            print!("{}", sigwatch::status::render(&sigwatch::status::checks()));
            Ok(())
        }
        Some(Command::Replay(args)) => replay(args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigwatch: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_watch(cli: &Cli) -> Result<(), sigwatch::Error> {
    // Unbuffered: the watch loop writes each report only when poll says
    // the reader has room (see `watch::run`).
    use std::os::fd::AsFd;
    let stdout = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .map_err(|e| sigwatch::Error::Io {
            what: "standard output".into(),
            source: e,
        })?;
    let summary = sigwatch::watch::run(&cli.watch, stdout)?;
    let text = sigwatch::render::render_text(&Report::Summary(summary), &TextOptions::default());
    eprint!("{text}");
    Ok(())
}

fn rules(signals: SignalSet) -> Result<(), sigwatch::Error> {
    let set = auditsig::killrules::KillRuleSet::new(auditsig::killrules::KEY_PREFIX);
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

fn replay(args: &sigwatch::cli::ReplayArgs) -> Result<(), sigwatch::Error> {
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let summary = sigwatch::replay::run::run(args, out)?;
    eprintln!("{}", summary.render());
    Ok(())
}
