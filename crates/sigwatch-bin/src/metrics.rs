//! Kill counters for Prometheus: a pure [`Registry`] that counts kill
//! reports and renders the Prometheus text exposition format (version
//! 0.0.4), for node_exporter's textfile collector (`--metrics-file`).
//!
//! ```
//! use sigwatch::metrics::{Limits, Registry};
//! let mut m = Registry::new(Limits::default(), 1_795_667_968.5);
//! let text = m.render();
//! assert!(text.contains("# TYPE sigwatch_kills_total counter"));
//! assert!(text.contains("sigwatch_start_time_seconds 1795667968.5"));
//! ```
//!
//! The exposition is written by hand rather than with the `prometheus` or
//! `prometheus-client` crates: it is a dozen lines of plain text, the
//! registry must bound its label values itself anyway (neither crate
//! bounds cardinality), and those crates bring global registries, locking
//! and (for `prometheus`) protobuf code that a file written every few
//! seconds does not need.
//!
//! # Metrics
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `sigwatch_kills_total` | counter | `origin`, `reason`, `signal`, `victim`, `sender` |
//! | `sigwatch_kill_label_overflow_total` | counter | `label` (`victim`, `sender`, `series`) |
//! | `sigwatch_events_total` | counter | `source` (`proc`, `audit`, `tracefs`) |
//! | `sigwatch_events_lost_total` | counter | `source` (`proc`, `audit`, `tracefs`, `kmsg`) |
//! | `sigwatch_reports_dropped_total` | counter | |
//! | `sigwatch_witness_up` | gauge | `witness` (`audit`, `tracefs`, `kmsg`) |
//! | `sigwatch_start_time_seconds` | gauge | |
//! | `sigwatch_build_info` | gauge | `version` |
//!
//! `victim` and `sender` are the process's systemd unit, else its comm. A
//! label whose value is unknown (no `reason` for a user kill, no sender
//! known) is left out, which is Prometheus's way of saying null.
//!
//! # Bounds
//!
//! Label values come from watched processes (a comm is whatever a local
//! user names a process), so both their number and the memory they take
//! are bounded: `victim` and `sender` each keep the first
//! [`Limits::values_per_label`] distinct values seen (64 by default, each
//! cut to [`MAX_VALUE_CHARS`] characters) and, besides, the first
//! [`Limits::service_values`] `.service` unit names (256); kills with a
//! later new value are counted under the value `other`. The first values keep their series for
//! the whole run (a counter series never moves or drops). At most
//! [`Limits::max_series`] combinations (1000) get a series of their own;
//! a kill of a new combination beyond that is counted with `victim` and
//! `sender` both `other` where they are known (keeping its origin, reason
//! and signal, so the series stay bounded: at most 3 × 6 × 64 × 4 more). `origin` (3 values), `reason` (5) and `signal`
//! (64) are bounded by construction. Every kill counted under `other`
//! instead of its own value adds to `sigwatch_kill_label_overflow_total`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::report::{KillReport, LossSource, Origin, ProcContext, Summary, Text};
use crate::watcher::WitnessState;

/// The longest label value kept, in characters (after escaping): a unit
/// name is at most 255 bytes, a comm 15.
pub const MAX_VALUE_CHARS: usize = 256;

/// The label value of kills whose own value was not kept.
pub const OTHER: &str = "other";

/// How many label values and series the registry keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Distinct values of `victim`, and of `sender`, before `other`
    /// (systemd services aside, see [`Limits::service_values`]).
    pub values_per_label: usize,
    /// Distinct `.service` unit names of `victim`, and of `sender`, kept
    /// besides: the services an operator alerts on keep their own value
    /// when scopes, sessions and comms have used up the others.
    pub service_values: usize,
    /// `sigwatch_kills_total` series before new combinations collapse
    /// into `victim="other",sender="other"`.
    pub max_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            values_per_label: 64,
            service_values: 256,
            max_series: 1000,
        }
    }
}

impl Limits {
    /// Limits with these bounds ([`Limits::service_values`] as many as
    /// `values_per_label`).
    pub fn new(values_per_label: usize, max_series: usize) -> Limits {
        Limits {
            values_per_label,
            service_values: values_per_label,
            max_series,
        }
    }
}

/// A label value: one the table kept, or `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Slot {
    Kept(u32),
    Other,
}

/// The values of one bounded label, in the order first seen.
#[derive(Debug, Default)]
struct LabelTable {
    values: Vec<String>,
    index: HashMap<String, u32>,
    /// Of `values`, the `.service` unit names.
    services: usize,
}

impl LabelTable {
    /// The slot of `value`: its own while there is room (`max` values, and
    /// `max_services` `.service` names besides), else `other` (`None`: the
    /// table is full and `value` is new).
    fn slot(&mut self, value: String, max: usize, max_services: usize) -> Option<Slot> {
        if let Some(&i) = self.index.get(&value) {
            return Some(Slot::Kept(i));
        }
        let service = value.ends_with(".service");
        let full = if service {
            self.services >= max_services
        } else {
            self.values.len() - self.services >= max
        };
        if full {
            return None;
        }
        self.services += usize::from(service);
        let i = u32::try_from(self.values.len()).ok()?;
        self.index.insert(value.clone(), i);
        self.values.push(value);
        Some(Slot::Kept(i))
    }

    fn name(&self, s: Slot) -> &str {
        match s {
            Slot::Kept(i) => self.values.get(i as usize).map_or(OTHER, String::as_str),
            Slot::Other => OTHER,
        }
    }
}

/// One `sigwatch_kills_total` series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct KillKey {
    origin: &'static str,
    reason: Option<&'static str>,
    signal: i32,
    victim: Option<Slot>,
    sender: Option<Slot>,
}

/// The counters and the exposition. See the [module docs](self).
#[derive(Debug)]
pub struct Registry {
    limits: Limits,
    start_time: f64,
    victims: LabelTable,
    senders: LabelTable,
    kills: BTreeMap<KillKey, u64>,
    /// Kills counted under `other`: victim value, sender value, series.
    overflow: [u64; 3],
    summary: Option<Summary>,
    kmsg_lost: Option<u64>,
    witnesses: Option<WitnessState>,
}

impl Registry {
    /// An empty registry; `start_time` in seconds since the epoch.
    pub fn new(limits: Limits, start_time: f64) -> Registry {
        Registry {
            limits,
            start_time,
            victims: LabelTable::default(),
            senders: LabelTable::default(),
            kills: BTreeMap::new(),
            overflow: [0; 3],
            summary: None,
            kmsg_lost: None,
            witnesses: None,
        }
    }

    /// Counts one kill report.
    pub fn count_kill(&mut self, r: &KillReport) {
        let (max, services) = (self.limits.values_per_label, self.limits.service_values);
        let victim = who(&r.victim.context, r.victim.comm.as_ref()).map(|v| {
            self.victims.slot(v, max, services).unwrap_or_else(|| {
                self.overflow[0] += 1;
                Slot::Other
            })
        });
        let sender = r.sender.as_ref().and_then(|s| {
            who(&s.context, s.comm.as_ref()).map(|v| {
                self.senders.slot(v, max, services).unwrap_or_else(|| {
                    self.overflow[1] += 1;
                    Slot::Other
                })
            })
        });
        let mut key = KillKey {
            origin: origin_name(r.origin),
            reason: r.reason.map(|x| x.as_str()),
            signal: r.signal,
            victim,
            sender,
        };
        if !self.kills.contains_key(&key) && self.kills.len() >= self.limits.max_series {
            self.overflow[2] += 1;
            key.victim = key.victim.map(|_| Slot::Other);
            key.sender = key.sender.map(|_| Slot::Other);
        }
        *self.kills.entry(key).or_insert(0) += 1;
    }

    /// The watcher's counters now: events seen and lost per source, and
    /// reports dropped (`reports_dropped`).
    pub fn set_summary(&mut self, s: Summary) {
        self.summary = Some(s);
    }

    /// Kernel-log records missed so far.
    pub fn set_kmsg_lost(&mut self, n: u64) {
        self.kmsg_lost = Some(n);
    }

    /// Which witnesses the watcher has.
    pub fn set_witnesses(&mut self, w: WitnessState) {
        self.witnesses = Some(w);
    }

    /// Kill reports counted so far.
    pub fn kills(&self) -> u64 {
        self.kills.values().sum()
    }

    /// The Prometheus text exposition of everything known.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(512 + self.kills.len() * 128);
        family(
            &mut o,
            "sigwatch_kills_total",
            "counter",
            &format!("Kills reported, by origin, reason, signal, victim and sender (systemd unit, else comm); victim and sender keep {} values and {} .service names each, then \"other\".", self.limits.values_per_label, self.limits.service_values),
        );
        for (k, n) in &self.kills {
            let mut labels: Vec<(&str, &str)> = vec![("origin", k.origin)];
            if let Some(r) = k.reason {
                labels.push(("reason", r));
            }
            let signal = crate::signals::signal_name(k.signal);
            labels.push(("signal", &signal));
            if let Some(v) = k.victim {
                labels.push(("victim", self.victims.name(v)));
            }
            if let Some(s) = k.sender {
                labels.push(("sender", self.senders.name(s)));
            }
            sample(&mut o, "sigwatch_kills_total", &labels, *n);
        }
        family(
            &mut o,
            "sigwatch_kill_label_overflow_total",
            "counter",
            "Kills counted under \"other\" because the label's (or the series') bound was reached.",
        );
        for (i, label) in ["victim", "sender", "series"].iter().enumerate() {
            sample(
                &mut o,
                "sigwatch_kill_label_overflow_total",
                &[("label", label)],
                self.overflow[i],
            );
        }
        if let Some(s) = &self.summary {
            family(
                &mut o,
                "sigwatch_events_total",
                "counter",
                "Events read per witness (process events, audit records, tracefs events).",
            );
            for (src, n) in [
                ("proc", s.proc_events),
                ("audit", s.audit_records),
                ("tracefs", s.trace_events),
            ] {
                sample(&mut o, "sigwatch_events_total", &[("source", src)], n);
            }
            family(
                &mut o,
                "sigwatch_events_lost_total",
                "counter",
                "Events a witness lost (kills among them may be unreported).",
            );
            let lost = [
                (LossSource::Proc, Some(s.proc_lost)),
                (LossSource::Audit, Some(s.audit_lost)),
                (LossSource::Tracefs, Some(s.trace_lost)),
                (LossSource::Kmsg, self.kmsg_lost),
            ];
            for (src, n) in lost {
                if let Some(n) = n {
                    sample(
                        &mut o,
                        "sigwatch_events_lost_total",
                        &[("source", src.as_str())],
                        n,
                    );
                }
            }
            family(
                &mut o,
                "sigwatch_reports_dropped_total",
                "counter",
                "Reports not delivered: the output was blocked, or the journal refused them.",
            );
            sample(
                &mut o,
                "sigwatch_reports_dropped_total",
                &[],
                s.reports_dropped,
            );
        }
        if let Some(w) = &self.witnesses {
            family(
                &mut o,
                "sigwatch_witness_up",
                "gauge",
                "1 when the witness is in use (audit records, tracefs signal_generate, the kernel log), else 0.",
            );
            for (name, up) in [
                ("audit", w.audit != "none"),
                ("tracefs", w.tracefs),
                ("kmsg", w.kmsg),
            ] {
                sample(
                    &mut o,
                    "sigwatch_witness_up",
                    &[("witness", name)],
                    u64::from(up),
                );
            }
        }
        family(
            &mut o,
            "sigwatch_start_time_seconds",
            "gauge",
            "When sigwatch started, in seconds since the epoch.",
        );
        let _ = writeln!(o, "sigwatch_start_time_seconds {}", self.start_time);
        family(
            &mut o,
            "sigwatch_build_info",
            "gauge",
            "The sigwatch version (always 1).",
        );
        sample(
            &mut o,
            "sigwatch_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        o
    }
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::User => "user",
        Origin::Kernel => "kernel",
        Origin::Unknown => "unknown",
    }
}

/// The `victim`/`sender` value of a process: its unit, else its comm
/// (`None` when neither is known). A comm is whatever a local user names
/// a process: one that looks like a unit (`nginx.service`) gets ` (comm)`
/// after it, so that it neither passes for the service in an alert nor
/// uses up the `.service` names kept for real units.
fn who(ctx: &ProcContext, comm: Option<&Text>) -> Option<String> {
    match (&ctx.unit, comm) {
        (Some(u), _) => Some(label_text(u.as_bytes())),
        (None, Some(c)) => {
            let v = label_text(c.as_bytes());
            Some(if v.ends_with(".service") {
                format!("{v} (comm)")
            } else {
                v
            })
        }
        (None, None) => None,
    }
}

/// A name as it may stand in a label value: control characters, the
/// characters that reorder or hide text, and bytes that are not UTF-8
/// written as `\xNN` / `\u{NNNN}` (an alert template puts the value into
/// mail or chat, where a raw escape sequence must not arrive), cut to
/// [`MAX_VALUE_CHARS`]. Backslashes stay as they are (systemd's unit
/// names hold `\x2d`); the exposition format's own escaping comes later.
pub fn label_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().min(MAX_VALUE_CHARS));
    let mut chars = 0usize;
    let mut push = |out: &mut String, s: &str| {
        for c in s.chars() {
            if chars < MAX_VALUE_CHARS {
                out.push(c);
                chars += 1;
            }
        }
    };
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && (c as u32) < 0x100 {
                push(&mut out, &format!("\\x{:02x}", c as u32));
            } else if c.is_control() || crate::render::is_format_hazard(c) {
                push(&mut out, &format!("\\u{{{:04x}}}", c as u32));
            } else {
                push(&mut out, c.encode_utf8(&mut [0; 4]));
            }
        }
        for b in chunk.invalid() {
            push(&mut out, &format!("\\x{b:02x}"));
        }
    }
    out
}

/// Escapes a label value as the text exposition format requires:
/// backslash, double quote and line feed.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    // HELP text escapes backslash and line feed (none of ours has either).
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

fn sample(o: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    o.push_str(name);
    if !labels.is_empty() {
        o.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "{k}=\"{}\"", escape_label_value(v));
        }
        o.push('}');
    }
    let _ = writeln!(o, " {value}");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::report::{KillExtra, Reason, Sender, Timestamp, Victim};

    fn ctx(unit: Option<&str>) -> ProcContext {
        ProcContext {
            unit: unit.map(str::to_string),
            ..ProcContext::default()
        }
    }

    fn kill(victim: (&[u8], Option<&str>), sender: Option<(&[u8], Option<&str>)>) -> KillReport {
        KillReport {
            time: Timestamp(0),
            signal: 9,
            signal_name: "SIGKILL".into(),
            origin: if sender.is_some() {
                Origin::User
            } else {
                Origin::Unknown
            },
            reason: None,
            syscall: None,
            success: None,
            syscall_target: None,
            syscall_target_count: None,
            victim: Victim {
                pid: 100,
                tid: None,
                ppid: None,
                comm: Some(Text::from(victim.0)),
                exe: None,
                argv: None,
                cwd: None,
                uid: None,
                start_time: None,
                exit_confirmed: true,
                argv_truncated: None,
                context: ctx(victim.1),
            },
            sender: sender.map(|(comm, unit)| Sender {
                pid: 200,
                tid: None,
                ppid: None,
                comm: Some(Text::from(comm)),
                exe: None,
                argv: None,
                argv_truncated: None,
                cwd: None,
                uid: None,
                euid: None,
                auid: None,
                ses: None,
                tty: None,
                exited: None,
                proctitle_rejected: None,
                context: ctx(unit),
                euser: None,
                login_user: None,
            }),
            ancestors: Default::default(),
            audit: None,
            witnesses: Vec::new(),
            trace: None,
            node: None,
            oom: None,
            cgroup_kill: None,
            ancestors_truncated: false,
            extra: KillExtra::default(),
        }
    }

    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .collect()
    }

    #[test]
    fn kills_are_counted_by_unit_else_comm() {
        let mut m = Registry::new(Limits::default(), 1.0);
        for _ in 0..3 {
            m.count_kill(&kill(
                (b"postgres", Some("postgresql@15-main.service")),
                Some((b"sh", Some("cron.service"))),
            ));
        }
        m.count_kill(&kill((b"sleep", None), Some((b"bash", None))));
        let mut oom = kill((b"hog", None), None);
        oom.origin = Origin::Kernel;
        oom.reason = Some(Reason::Oom);
        m.count_kill(&oom);
        let text = m.render();
        assert_eq!(
            samples(&text, "sigwatch_kills_total"),
            vec![
                r#"sigwatch_kills_total{origin="kernel",reason="oom",signal="SIGKILL",victim="hog"} 1"#,
                r#"sigwatch_kills_total{origin="user",signal="SIGKILL",victim="postgresql@15-main.service",sender="cron.service"} 3"#,
                r#"sigwatch_kills_total{origin="user",signal="SIGKILL",victim="sleep",sender="bash"} 1"#,
            ],
            "{text}"
        );
        assert_eq!(m.kills(), 5);
        assert!(text.contains("# TYPE sigwatch_kills_total counter\n"));
        // Without a watcher's counters, no per-source families.
        assert!(!text.contains("sigwatch_events_total"), "{text}");
    }

    #[test]
    fn label_values_are_escaped_for_the_format_and_for_people() {
        let mut m = Registry::new(Limits::default(), 1.0);
        m.count_kill(&kill(
            (b"a\"b\\c\nd\x1b[31m\xff", None),
            Some((b"x\xe2\x80\xaey", None)),
        ));
        let text = m.render();
        let line = samples(&text, "sigwatch_kills_total")[0];
        // `"` and `\` escaped once for the format; newline, ESC and the
        // invalid byte written out as text first (their backslash then
        // escaped for the format); the bidi override as \u{202e}.
        assert_eq!(
            line,
            r#"sigwatch_kills_total{origin="user",signal="SIGKILL",victim="a\"b\\c\\x0ad\\x1b[31m\\xff",sender="x\\u{202e}y"} 1"#
        );
        assert!(!text.contains('\x1b'));
        assert_eq!(escape_label_value("q\"\\\n"), "q\\\"\\\\\\n");
        assert_eq!(
            label_text(b"systemd-fsck@dev-disk-by\\x2duuid.service"),
            "systemd-fsck@dev-disk-by\\x2duuid.service"
        );
        assert_eq!(label_text(&[b'x'; 1000]).chars().count(), MAX_VALUE_CHARS);
    }

    #[test]
    fn values_beyond_the_bound_are_other_and_memory_stays_bounded() {
        let mut m = Registry::new(Limits::new(3, 1000), 1.0);
        // A local user spawning many distinct comms.
        for i in 0..10_000 {
            let comm = format!("c{i}");
            m.count_kill(&kill((comm.as_bytes(), None), Some((b"killer", None))));
        }
        assert_eq!(m.victims.values.len(), 3);
        assert_eq!(m.senders.values.len(), 1);
        assert_eq!(m.kills.len(), 4, "three kept victims and other");
        let text = m.render();
        let kills = samples(&text, "sigwatch_kills_total");
        assert!(kills.contains(
            &r#"sigwatch_kills_total{origin="user",signal="SIGKILL",victim="c0",sender="killer"} 1"#
        ));
        assert!(kills.contains(
            &r#"sigwatch_kills_total{origin="user",signal="SIGKILL",victim="other",sender="killer"} 9997"#
        ));
        assert!(text.contains("sigwatch_kill_label_overflow_total{label=\"victim\"} 9997\n"));
        assert_eq!(m.kills(), 10_000);
        // A kept value keeps its series once others overflow.
        m.count_kill(&kill((b"c1", None), Some((b"killer", None))));
        assert!(m.render().contains(
            r#"sigwatch_kills_total{origin="user",signal="SIGKILL",victim="c1",sender="killer"} 2"#
        ));
    }

    #[test]
    fn services_keep_their_own_values_when_scopes_and_comms_used_up_the_rest() {
        let mut m = Registry::new(Limits::new(3, 1000), 1.0);
        // Session scopes and comms come and go on a long-running host.
        for i in 0..50 {
            let scope = format!("session-{i}.scope");
            m.count_kill(&kill(
                (b"bash", Some(scope.as_str())),
                Some((b"killer", None)),
            ));
        }
        let k = kill(
            (b"postgres", Some("postgresql.service")),
            Some((b"killer", None)),
        );
        for _ in 0..3 {
            m.count_kill(&k);
        }
        assert!(m.render().contains(
            r#"sigwatch_kills_total{origin="user",signal="SIGKILL",victim="postgresql.service",sender="killer"} 3"#
        ));
        // The service quota is bounded too.
        for i in 0..10 {
            let unit = format!("run-u{i}.service");
            m.count_kill(&kill((b"x", Some(unit.as_str())), Some((b"killer", None))));
        }
        assert_eq!(m.victims.services, 3);
        assert_eq!(m.victims.values.len(), 6);
    }

    /// A comm is a local user's choice: one named like a unit neither
    /// passes for the service (the alert matches `.service` values) nor
    /// uses up the names kept for real units.
    #[test]
    fn a_comm_named_like_a_service_does_not_pass_for_one() {
        let mut m = Registry::new(Limits::new(3, 1000), 1.0);
        for i in 0..300 {
            let comm = format!("a{i}.service");
            m.count_kill(&kill(
                (comm.as_bytes(), None),
                Some((b"cron.service", None)),
            ));
        }
        assert_eq!(m.victims.services, 0, "no real unit's slot was taken");
        m.count_kill(&kill(
            (b"nginx", Some("nginx.service")),
            Some((b"cron.service", None)),
        ));
        let text = m.render();
        assert!(
            text.contains(r#"victim="nginx.service",sender="cron.service (comm)"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"victim="a0.service (comm)""#), "{text}");
        assert!(!text.contains(r#"sender="cron.service""#), "{text}");
    }

    #[test]
    fn series_beyond_the_bound_collapse_into_other() {
        let mut m = Registry::new(Limits::new(100, 5), 1.0);
        for i in 0..20 {
            let comm = format!("v{i}");
            m.count_kill(&kill((comm.as_bytes(), None), Some((b"k", None))));
        }
        assert_eq!(m.kills.len(), 6, "5 series and their overflow");
        let text = m.render();
        assert!(text.contains(
            r#"sigwatch_kills_total{origin="user",signal="SIGKILL",victim="other",sender="other"} 15"#
        ), "{text}");
        assert!(text.contains("sigwatch_kill_label_overflow_total{label=\"series\"} 15\n"));
    }

    #[test]
    fn the_watchers_counters_and_witnesses_are_rendered() {
        let mut m = Registry::new(Limits::default(), 1_795_667_968.25);
        let s = Summary {
            proc_events: 10,
            proc_lost: 1,
            audit_records: 20,
            audit_lost: 2,
            trace_events: 30,
            trace_lost: 3,
            reports_dropped: 4,
            ..Summary::default()
        };
        m.set_summary(s);
        m.set_kmsg_lost(5);
        m.set_witnesses(WitnessState {
            audit: "multicast",
            tracefs: false,
            kmsg: true,
        });
        let text = m.render();
        for line in [
            "sigwatch_events_total{source=\"proc\"} 10",
            "sigwatch_events_total{source=\"audit\"} 20",
            "sigwatch_events_total{source=\"tracefs\"} 30",
            "sigwatch_events_lost_total{source=\"proc\"} 1",
            "sigwatch_events_lost_total{source=\"audit\"} 2",
            "sigwatch_events_lost_total{source=\"tracefs\"} 3",
            "sigwatch_events_lost_total{source=\"kmsg\"} 5",
            "sigwatch_reports_dropped_total 4",
            "sigwatch_witness_up{witness=\"audit\"} 1",
            "sigwatch_witness_up{witness=\"tracefs\"} 0",
            "sigwatch_witness_up{witness=\"kmsg\"} 1",
            "sigwatch_start_time_seconds 1795667968.25",
            concat!(
                "sigwatch_build_info{version=\"",
                env!("CARGO_PKG_VERSION"),
                "\"} 1"
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Every family is announced once, before its samples.
        let mut announced = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                assert!(announced.insert(rest.split(' ').next().unwrap().to_string()));
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(announced.contains(name), "{name} before its TYPE");
            }
        }
        assert!(text.ends_with('\n'));
    }
}
