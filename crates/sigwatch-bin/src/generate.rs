//! `sigwatch generate`: the man page and shell completions, generated from
//! the clap definition so they never disagree with `--help`. Packaging
//! (`cargo xtask dist`) runs the built binary to produce them.

use std::io::{self, Write};

use crate::cli::{Cli, Generated};
use clap::CommandFactory;

/// The written sections of sigwatch(8) (roff), between the generated
/// options/subcommands and the version: witnesses, output, files, exit
/// status, examples, see also.
const MAN_SECTIONS: &str = include_str!("../man/sections.roff");

/// The man page's DESCRIPTION (`--help` keeps its one-line summary).
const DESCRIPTION: &str = "sigwatch answers \"who killed my process?\". For every SIGKILL (or \
the signals chosen with --signal) on this host it reports the victim, the sender (pid, exe, argv, \
cwd, uid, login uid, session) and the sender's ancestors up to pid 1, even when all of them have \
already exited. It listens to the kernel's process-event connector, the audit subsystem's \
kill-family syscall records, the signal:signal_generate tracepoint and the kernel log; no eBPF. \
It needs root (CAP_NET_ADMIN, CAP_AUDIT_CONTROL, CAP_AUDIT_READ, CAP_SYSLOG) and coexists with \
a running auditd. Without a subcommand it watches until it is stopped (SIGINT, SIGTERM) and then \
removes exactly the audit rules and trace instance it added.";

/// Writes `what` to `out`.
pub fn generate(what: Generated, out: &mut dyn Write) -> io::Result<()> {
    let cmd = Cli::command();
    match what {
        Generated::Man => man(cmd, out),
        Generated::Bash => complete(clap_complete::Shell::Bash, cmd, out),
        Generated::Zsh => complete(clap_complete::Shell::Zsh, cmd, out),
        Generated::Fish => complete(clap_complete::Shell::Fish, cmd, out),
    }
}

fn complete(
    shell: clap_complete::Shell,
    mut cmd: clap::Command,
    out: &mut dyn Write,
) -> io::Result<()> {
    clap_complete::generate(shell, &mut cmd, "sigwatch", out);
    Ok(())
}

fn man(cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    // Section 8: system administration (it needs root); no date in the
    // title line, so the page is the same on every build.
    let man = clap_mangen::Man::new(cmd.long_about(DESCRIPTION))
        .section("8")
        .manual("System Administration")
        .source(format!("sigwatch {}", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    out.write_all(MAN_SECTIONS.as_bytes())?;
    man.render_version_section(out)?;
    Ok(())
}
