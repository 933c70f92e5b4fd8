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
        Generated::Man => {
            // Non-ASCII (`≥`, `…`) as groff's Unicode escapes: troff
            // reads its input as Latin-1 and warns about UTF-8 bytes.
            let mut page = Vec::new();
            man(cmd, &mut page)?;
            let page = String::from_utf8_lossy(&page);
            let ascii: String = page
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        c.to_string()
                    } else {
                        format!("\\[u{:04X}]", u32::from(c))
                    }
                })
                .collect();
            out.write_all(ascii.as_bytes())
        }
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
    let cmd = cmd.long_about(DESCRIPTION);
    // Section 8: system administration (it needs root); no date in the
    // title line, so the page is the same on every build.
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .source(format!("sigwatch {}", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    subcommands(&cmd, out)?;
    out.write_all(MAN_SECTIONS.as_bytes())?;
    man.render_version_section(out)?;
    Ok(())
}

/// The SUBCOMMANDS section: each subcommand with its own options, in this
/// one page (clap_mangen's section points to a page per subcommand, which
/// is not installed).
fn subcommands(cmd: &clap::Command, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, ".SH SUBCOMMANDS")?;
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        let positionals: String = sub
            .get_positionals()
            .map(|a| format!(" [{}]", a.get_id().as_str().to_uppercase()))
            .collect();
        writeln!(
            out,
            ".TP\n\\fBsigwatch {}\\fR{}",
            roff(sub.get_name()),
            roff(&positionals)
        )?;
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            writeln!(out, "{}", roff(&about.to_string()))?;
        }
        let args: Vec<_> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "verbose")
            .collect();
        if args.is_empty() {
            continue;
        }
        writeln!(out, ".RS")?;
        for a in args {
            let mut head = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("-{s}, --{l}"),
                (None, Some(l)) => format!("--{l}"),
                (Some(s), None) => format!("-{s}"),
                (None, None) => a.get_id().as_str().to_uppercase(),
            };
            if a.get_long().is_some() && a.get_action().takes_values() {
                if let Some(v) = a.get_value_names().and_then(|v| v.first()) {
                    head.push_str(&format!(" {v}"));
                }
            }
            writeln!(out, ".TP\n\\fB{}\\fR", roff(&head))?;
            if let Some(h) = a.get_long_help().or(a.get_help()) {
                writeln!(out, "{}", roff(&h.to_string()))?;
            }
        }
        writeln!(out, ".RE")?;
    }
    Ok(())
}

/// Text for a roff line: backslashes and dashes escaped, and no line
/// starting with a control character.
fn roff(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e").replace('-', "\\-");
            if l.starts_with(['.', '\'']) {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
