//! This host's name in audit logs: the `node=` auditd writes on every
//! record, as `/etc/audit/auditd.conf` sets it (`name_format`, `name`;
//! `auditd.conf(5)`). A followed log or an audisp stream may carry records
//! of other hosts (auditd's remote logging collects them into one log);
//! their pids are not this host's, so the live watcher takes only its own.

use auditsig::NodeFilter;

/// Where auditd reads its configuration.
pub const AUDITD_CONF: &str = "/etc/audit/auditd.conf";

/// What `auditd.conf` says about the `node=` of this host's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameFormat {
    /// `name_format = none` (auditd's default): no `node=` at all.
    None,
    /// `hostname`: `gethostname()`.
    Hostname,
    /// `user`: the `name` setting (`None` when it is missing).
    User(Option<String>),
    /// `fqd` (the resolved fully qualified name) or `numeric` (an
    /// address): names that depend on name resolution at auditd's start.
    Resolved,
    /// Another value (a newer auditd).
    Other(String),
}

/// `name_format` and `name` of an `auditd.conf` text: `key = value`
/// lines, keys and `name_format`'s value case-insensitive, `#` comments.
/// A missing `name_format` is auditd's default, `none`.
pub fn parse(text: &str) -> NameFormat {
    let mut format = None;
    let mut name = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "name_format" => format = Some(value.to_ascii_lowercase()),
            "name" => name = Some(value.to_string()).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    match format.as_deref() {
        None | Some("none") => NameFormat::None,
        Some("hostname") => NameFormat::Hostname,
        Some("user") => NameFormat::User(name),
        Some("fqd" | "numeric") => NameFormat::Resolved,
        Some(other) => NameFormat::Other(other.to_string()),
    }
}

/// The node filter for this host: `explicit` names (`--audit-node`) when
/// given, else the name `format` gives with this `hostname`. This host's
/// own name (and its first label) always counts besides: a record naming
/// this host is this host's, whatever the configuration file says
/// (another auditd configuration, a log written by another tool). `Err`
/// says why every event is taken instead (a notice for the user).
pub fn filter(
    explicit: &[Vec<u8>],
    format: Option<&NameFormat>,
    hostname: Option<&str>,
) -> Result<NodeFilter, String> {
    let mut own: Vec<Vec<u8>> = Vec::new();
    if let Some(h) = hostname.filter(|h| !h.is_empty()) {
        own.push(h.as_bytes().to_vec());
        if let Some((short, _)) = h.split_once('.').filter(|(s, _)| !s.is_empty()) {
            own.push(short.as_bytes().to_vec());
        }
    }
    let with_own = |mut names: Vec<Vec<u8>>| {
        for n in &own {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        NodeFilter::Only(names)
    };
    if !explicit.is_empty() {
        return Ok(with_own(explicit.to_vec()));
    }
    match format {
        None => Err(format!("{AUDITD_CONF} is not readable")),
        Some(NameFormat::None) => Ok(with_own(Vec::new())),
        Some(NameFormat::Hostname) => hostname
            .map(|_| with_own(Vec::new()))
            .ok_or_else(|| "this host's name is unknown".to_string()),
        Some(NameFormat::User(Some(n))) => Ok(with_own(vec![n.as_bytes().to_vec()])),
        Some(NameFormat::User(None)) => Err(format!(
            "{AUDITD_CONF} has name_format = user without a name"
        )),
        Some(NameFormat::Resolved) => Err(format!(
            "{AUDITD_CONF} names this host by name resolution (name_format = fqd or numeric)"
        )),
        Some(NameFormat::Other(v)) => Err(format!("{AUDITD_CONF} has name_format = {v}")),
    }
}

/// [`filter`] for this host: its `auditd.conf` and `gethostname()`.
pub fn this_host(explicit: &[Vec<u8>]) -> Result<NodeFilter, String> {
    let format = std::fs::read_to_string(AUDITD_CONF).ok().map(|t| parse(&t));
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok());
    filter(explicit, format.as_ref(), hostname.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_format_and_name_are_read_as_auditd_does() {
        assert_eq!(parse(""), NameFormat::None);
        assert_eq!(parse("name_format = NONE\n"), NameFormat::None);
        assert_eq!(parse("  Name_Format=hostname  \n"), NameFormat::Hostname);
        assert_eq!(
            parse("name_format = user\nname = web-01\n"),
            NameFormat::User(Some("web-01".into()))
        );
        assert_eq!(parse("name_format = user\n"), NameFormat::User(None));
        assert_eq!(
            parse("# name_format = user\nname_format = fqd\n"),
            NameFormat::Resolved
        );
        assert_eq!(parse("name_format = numeric"), NameFormat::Resolved);
        assert_eq!(
            parse("name_format = other"),
            NameFormat::Other("other".into())
        );
        // Debian's shipped file (the relevant lines).
        let debian = "#\n# This file controls the configuration of the audit daemon\n#\n\nlocal_events = yes\nwrite_logs = yes\nlog_file = /var/log/audit/audit.log\nlog_group = adm\nlog_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 8\nnum_logs = 5\npriority_boost = 4\nname_format = NONE\n##name = mydomain\n";
        assert_eq!(parse(debian), NameFormat::None);
    }

    #[test]
    fn the_filter_takes_this_hosts_name() {
        let only = |n: &[&str]| NodeFilter::Only(n.iter().map(|s| s.as_bytes().to_vec()).collect());
        // An explicit name wins over the file; this host's own name (and
        // its first label) always counts as this host.
        assert_eq!(
            filter(
                &[b"web-01".to_vec()],
                Some(&NameFormat::Hostname),
                Some("h.example")
            ),
            Ok(only(&["web-01", "h.example", "h"]))
        );
        // `none`: this host's records carry no name; other names are
        // other hosts'.
        assert_eq!(
            filter(&[], Some(&NameFormat::None), Some("h")),
            Ok(only(&["h"]))
        );
        assert_eq!(filter(&[], Some(&NameFormat::None), None), Ok(only(&[])));
        assert_eq!(
            filter(&[], Some(&NameFormat::Hostname), Some("h")),
            Ok(only(&["h"]))
        );
        assert_eq!(
            filter(&[], Some(&NameFormat::User(Some("u".into()))), Some("h")),
            Ok(only(&["u", "h"]))
        );
        for unknown in [
            None,
            Some(&NameFormat::Resolved),
            Some(&NameFormat::User(None)),
        ] {
            assert!(filter(&[], unknown, Some("h")).is_err(), "{unknown:?}");
        }
        assert!(filter(&[], Some(&NameFormat::Hostname), None).is_err());
    }
}
