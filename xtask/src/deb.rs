//! The `.deb`: an ar archive of `debian-binary`, `control.tar.gz` and
//! `data.tar.gz` (deb(5)). Written directly: the format is three members.

use md5::{Digest, Md5};

use crate::archive::{self, Entry};
use crate::layout::{self, Files};
use crate::{io, Arch, Error};

/// Debian's unit directory (also right on pre-merged-/usr releases).
const UNIT_DIR: &str = "lib/systemd/system";

/// Installing never enables or starts the service; an upgrade restarts it
/// only if it was running.
const POSTINST: &str = "#!/bin/sh
set -e
if [ \"$1\" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  systemctl try-restart sigwatch.service >/dev/null 2>&1 || true
fi
";

/// Removing stops a running sigwatch first (it then removes its audit
/// rules and trace instance itself).
const PRERM: &str = "#!/bin/sh
set -e
if [ \"$1\" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop sigwatch.service >/dev/null 2>&1 || true
fi
";

const POSTRM: &str = "#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
";

/// `/usr/share/doc/sigwatch/copyright` in the machine-readable format,
/// with both licence texts.
fn copyright(f: &Files) -> Vec<u8> {
    let mut s = String::from(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: sigwatch\n\n\
         Files: *\n\
         Copyright: the sigwatch authors\n\
         License: MIT or Apache-2.0\n\n\
         License: MIT\n",
    );
    for (name, text) in [
        ("MIT", &f.texts.license_mit),
        ("Apache-2.0", &f.texts.license_apache),
    ] {
        if name != "MIT" {
            s.push_str(&format!("\nLicense: {name}\n"));
        }
        for line in String::from_utf8_lossy(text).lines() {
            s.push_str(if line.trim().is_empty() { " ." } else { " " });
            s.push_str(line.trim_end());
            s.push('\n');
        }
    }
    s.into_bytes()
}

/// The `.deb` for `arch`.
///
/// # Errors
/// When compressing or writing the archive fails.
pub fn build(f: &Files, version: &str, arch: &Arch, mtime: u64) -> Result<Vec<u8>, Error> {
    let mut data = layout::package_entries(f, UNIT_DIR)?;
    data.push(Entry::file(
        "usr/share/doc/sigwatch/copyright",
        0o644,
        copyright(f),
    ));
    data.sort_by(|a, b| a.path.cmp(&b.path));
    let installed_kib: usize = data.iter().map(|e| e.data.len().div_ceil(1024)).sum();
    let md5sums: String = data
        .iter()
        .map(|e| format!("{:x}  {}\n", Md5::digest(&e.data), e.path))
        .collect();
    let control = format!(
        "Package: sigwatch\n\
         Version: {version}-1\n\
         Architecture: {}\n\
         Maintainer: sigwatch developers <sigwatch@example.invalid>\n\
         Installed-Size: {installed_kib}\n\
         Suggests: auditd\n\
         Section: admin\n\
         Priority: optional\n\
         Homepage: https://example.invalid/sigwatch\n\
         Description: who killed my process? SIGKILL attribution\n \
         sigwatch reports, for every SIGKILL on the host, the victim, the sender\n \
         (pid, exe, argv, cwd, uid, login uid, session) and the sender's ancestors\n \
         up to pid 1, even after all of them exited. It combines the proc\n \
         connector, audit records, the signal_generate tracepoint and the kernel\n \
         log; it coexists with auditd. Static binary: no dependencies.\n",
        arch.deb
    );
    let control_tar = archive::tar_gz(
        &[
            Entry::file("./control", 0o644, control),
            Entry::file("./md5sums", 0o644, md5sums),
            Entry::file("./postinst", 0o755, POSTINST),
            Entry::file("./prerm", 0o755, PRERM),
            Entry::file("./postrm", 0o755, POSTRM),
        ],
        mtime,
    )?;
    let data: Vec<Entry> = data
        .into_iter()
        .map(|e| Entry {
            path: format!("./{}", e.path),
            ..e
        })
        .collect();
    let data_tar = archive::tar_gz(&data, mtime)?;
    let mut ar = ar::Builder::new(Vec::new());
    for (name, body) in [
        ("debian-binary", &b"2.0\n"[..]),
        ("control.tar.gz", &control_tar[..]),
        ("data.tar.gz", &data_tar[..]),
    ] {
        let mut h = ar::Header::new(name.as_bytes().to_vec(), body.len() as u64);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o100644);
        ar.append(&h, body).map_err(io(format!("ar: {name}")))?;
    }
    ar.into_inner().map_err(io("ar"))
}
