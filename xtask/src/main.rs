//! `cargo xtask dist`: the release artefacts of sigwatch in `target/dist/`.
//!
//! For x86_64 and aarch64 (static musl binaries): a `.tar.gz` with the
//! binary, the man page sigwatch(8), bash/zsh/fish completions, the systemd
//! unit, an auditd `rules.d` file, the README and the licence texts; a
//! `.deb` and an `.rpm`; and `SHA256SUMS` over all of them. The man page,
//! completions and rules come from the built binary itself (`sigwatch
//! generate …`, `sigwatch rules`), so they match its clap definition.
//!
//! Archives are reproducible: entries sorted, owner root:root, every mtime
//! `SOURCE_DATE_EPOCH` (default: the last commit's time), gzip without a
//! timestamp. Two runs on the same commit give byte-identical files.

mod archive;
mod deb;
mod layout;
mod rpmpkg;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use sha2::{Digest, Sha256};

/// Errors of the release tasks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("{0}")]
    Failed(String),
    /// The rpm builder rejected the package.
    #[error("rpm: {0}")]
    Rpm(#[from] rpm::Error),
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// One architecture sigwatch is shipped for.
#[derive(Debug, Clone, Copy)]
pub struct Arch {
    /// The Rust target triple.
    pub triple: &'static str,
    /// Debian's name (`dpkg --print-architecture`).
    pub deb: &'static str,
    /// RPM's name.
    pub rpm: &'static str,
    /// `sigwatch rules --arch` value.
    pub rules_arch: &'static str,
}

const ARCHES: [Arch; 2] = [
    Arch {
        triple: "x86_64-unknown-linux-musl",
        deb: "amd64",
        rpm: "x86_64",
        rules_arch: "x86_64",
    },
    Arch {
        triple: "aarch64-unknown-linux-musl",
        deb: "arm64",
        rpm: "aarch64",
        rules_arch: "aarch64",
    },
];

const USAGE: &str = "usage: cargo xtask dist [--arch x86_64|aarch64]...

Builds static musl binaries of sigwatch and writes to target/dist/:
  sigwatch-VERSION-TRIPLE.tar.gz, sigwatch_VERSION-1_ARCH.deb,
  sigwatch-VERSION-1.ARCH.rpm (per architecture), SHA256SUMS.
Needs: rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
Environment: SOURCE_DATE_EPOCH (default: the last commit's time).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("dist") => parse_arches(&args[1..]).and_then(|a| dist(&a)),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_arches(args: &[String]) -> Result<Vec<Arch>, Error> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arch" => {
                let name = it.next().map(String::as_str).unwrap_or("");
                let arch = ARCHES
                    .iter()
                    .find(|x| x.triple.starts_with(&format!("{name}-")))
                    .ok_or_else(|| {
                        Error::Failed(format!("unknown --arch {name:?} (x86_64, aarch64)"))
                    })?;
                out.push(*arch);
            }
            other => {
                return Err(Error::Failed(format!(
                    "unknown argument {other:?}\n{USAGE}"
                )))
            }
        }
    }
    if out.is_empty() {
        out = ARCHES.to_vec();
    }
    Ok(out)
}

/// The workspace root (xtask's manifest lives one level below it).
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// `SOURCE_DATE_EPOCH`, else the last commit's time.
fn source_date_epoch(ws: &Path) -> Result<u64, Error> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .map_err(|_| Error::Failed(format!("SOURCE_DATE_EPOCH={v:?} is not a number")));
    }
    let out = Command::new("git")
        .args(["log", "-1", "--format=%ct", "HEAD"])
        .current_dir(ws)
        .output()
        .map_err(io(
            "running git log (set SOURCE_DATE_EPOCH outside a git checkout)",
        ))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| Error::Failed("no commit time from git log: set SOURCE_DATE_EPOCH".into()))
}

/// The cargo profile of the shipped binaries. Not `dist`: cargo keeps a
/// profile's host artefacts (build scripts, proc macros) in
/// `target/<profile>/`, and `target/dist/` is where the artefacts go (and
/// is emptied on every run).
const PROFILE: &str = "release-dist";

/// Builds the static binary for `arch` with [`PROFILE`]; returns its path.
fn build(ws: &Path, arch: &Arch) -> Result<PathBuf, Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The build machine's paths stay out of the binary (panic locations).
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let flags = [
        format!("--remap-path-prefix={}=/build/sigwatch", ws.display()),
        format!("--remap-path-prefix={}=/build/cargo", cargo_home.display()),
    ]
    .join("\x1f");
    eprintln!("xtask: building sigwatch for {}", arch.triple);
    let status = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--profile",
            PROFILE,
            "-p",
            "sigwatch",
            "--bin",
            "sigwatch",
            "--target",
        ])
        .arg(arch.triple)
        .env("CARGO_ENCODED_RUSTFLAGS", flags)
        .current_dir(ws)
        .status()
        .map_err(io("running cargo build"))?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "cargo build for {} failed ({status}); is the target installed? rustup target add {}",
            arch.triple, arch.triple
        )));
    }
    Ok(ws
        .join("target")
        .join(arch.triple)
        .join(PROFILE)
        .join("sigwatch"))
}

/// Runs `bin` with `args`; its standard output.
fn run_binary(bin: &Path, args: &[&str]) -> Result<Vec<u8>, Error> {
    let out = Command::new(bin).args(args).output().map_err(io(format!(
        "running {} {}",
        bin.display(),
        args.join(" ")
    )))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "{} {} failed ({}): {}",
            bin.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out.stdout)
}

fn dist(arches: &[Arch]) -> Result<(), Error> {
    let ws = workspace_root();
    let epoch = source_date_epoch(&ws)?;
    let version = env!("CARGO_PKG_VERSION");
    let mut binaries = Vec::new();
    for arch in arches {
        binaries.push((*arch, build(&ws, arch)?));
    }
    // The generated texts come from a binary this machine can run: the
    // x86_64 one when it was built (and this is an x86_64 host), else the
    // first. They are the same clap definition on every architecture.
    let runner = binaries
        .iter()
        .find(|(a, _)| a.triple.starts_with(std::env::consts::ARCH))
        .or(binaries.first())
        .map(|(_, p)| p.clone())
        .ok_or_else(|| Error::Failed("no architecture selected".into()))?;
    let mut generated = layout::Generated {
        man: run_binary(&runner, &["generate", "man"])?,
        bash: run_binary(&runner, &["generate", "bash"])?,
        zsh: run_binary(&runner, &["generate", "zsh"])?,
        fish: run_binary(&runner, &["generate", "fish"])?,
        rules: Vec::new(),
    };
    let read = |p: &str| std::fs::read(ws.join(p)).map_err(io(format!("reading {p}")));
    let texts = layout::Texts {
        unit: read("contrib/sigwatch.service")?,
        readme: read("README.md")?,
        license_mit: read("LICENSE-MIT")?,
        license_apache: read("LICENSE-APACHE")?,
    };
    let out = ws.join("target").join("dist");
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(io(format!("removing {}", out.display())))?;
    }
    std::fs::create_dir_all(&out).map_err(io(format!("creating {}", out.display())))?;
    let mut written = Vec::new();
    for (arch, bin) in &binaries {
        let binary = std::fs::read(bin).map_err(io(format!("reading {}", bin.display())))?;
        // The rules name syscalls of the target machine's tables.
        generated.rules = run_binary(&runner, &["rules", "--arch", arch.rules_arch])?;
        let files = layout::Files {
            binary,
            generated: &generated,
            texts: &texts,
        };
        let tar_name = format!("sigwatch-{version}-{}.tar.gz", arch.triple);
        let top = format!("sigwatch-{version}-{}", arch.triple);
        let tgz = archive::tar_gz(&layout::tarball_entries(&files, &top)?, epoch)?;
        written.push((tar_name, tgz));
        let deb_name = format!("sigwatch_{version}-1_{}.deb", arch.deb);
        written.push((deb_name, deb::build(&files, version, arch, epoch)?));
        let rpm_name = format!("sigwatch-{version}-1.{}.rpm", arch.rpm);
        written.push((rpm_name, rpmpkg::build(&files, version, arch, epoch)?));
    }
    let mut sums = String::new();
    written.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, data) in &written {
        let path = out.join(name);
        std::fs::write(&path, data).map_err(io(format!("writing {}", path.display())))?;
        sums.push_str(&format!("{:x}  {name}\n", Sha256::digest(data)));
    }
    std::fs::write(out.join("SHA256SUMS"), &sums).map_err(io("writing SHA256SUMS"))?;
    println!("target/dist/ (SOURCE_DATE_EPOCH={epoch}):");
    for (name, data) in &written {
        println!("  {:>10} bytes  {name}", data.len());
    }
    println!("  {:>10} bytes  SHA256SUMS", sums.len());
    Ok(())
}
