//! The `.rpm`, through the rpm crate (gzip payload: readable by the rpm of
//! every distribution sigwatch targets, also RHEL 7).

use crate::archive::Entry;
use crate::layout::{self, Files};
use crate::{Arch, Error};

const UNIT_DIR: &str = "usr/lib/systemd/system";

/// %post: reload units; never enable or start.
const POST: &str =
    "if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi";
/// %preun: on erase ($1 = 0), stop a running sigwatch (it cleans up its
/// audit rules and trace instance itself).
const PREUN: &str = "if [ $1 -eq 0 ] && [ -d /run/systemd/system ]; then systemctl stop sigwatch.service >/dev/null 2>&1 || :; fi";
/// %postun: reload; on upgrade ($1 ≥ 1) restart a running sigwatch.
const POSTUN: &str = "if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; if [ $1 -ge 1 ]; then systemctl try-restart sigwatch.service >/dev/null 2>&1 || :; fi; fi";

/// The `.rpm` for `arch`.
///
/// # Errors
/// When the rpm builder rejects a file or fails to write.
pub fn build(f: &Files, version: &str, arch: &Arch, mtime: u64) -> Result<Vec<u8>, Error> {
    let mut files = layout::package_entries(f, UNIT_DIR)?;
    files.push(Entry::file(
        "usr/share/licenses/sigwatch/LICENSE-MIT",
        0o644,
        f.texts.license_mit.clone(),
    ));
    files.push(Entry::file(
        "usr/share/licenses/sigwatch/LICENSE-APACHE",
        0o644,
        f.texts.license_apache.clone(),
    ));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut b = rpm::PackageBuilder::new(
        "sigwatch",
        version,
        "MIT OR Apache-2.0",
        arch.rpm,
        "who killed my process? SIGKILL attribution",
    )
    .release("1")
    .url("https://example.invalid/sigwatch")
    .description(
        "sigwatch reports, for every SIGKILL on the host, the victim, the sender \
         (pid, exe, argv, cwd, uid, login uid, session) and the sender's ancestors up \
         to pid 1, even after all of them exited. Static binary: no dependencies.",
    )
    .group("System Environment/Daemons")
    .using_config(rpm::BuildConfig::v4().compression(rpm::CompressionType::Gzip))
    .build_host("sigwatch-dist")
    .source_date(u32::try_from(mtime).unwrap_or(u32::MAX))
    .post_install_script(POST)
    .pre_uninstall_script(PREUN)
    .post_uninstall_script(POSTUN);
    for e in files {
        let dest = format!("/{}", e.path);
        let mut opts = rpm::FileOptions::new(dest.as_str())
            .mode(rpm::FileMode::regular(e.mode as u16))
            .user("root")
            .group("root");
        if e.path.starts_with("usr/share/licenses/") {
            opts = opts.is_license();
        } else if e.path.starts_with("usr/share/doc/") || e.path.starts_with("usr/share/man/") {
            opts = opts.is_doc();
        }
        b = b.with_file_contents(e.data, opts)?;
    }
    let pkg = b.build()?;
    let mut out = Vec::new();
    pkg.write(&mut out)?;
    Ok(out)
}
