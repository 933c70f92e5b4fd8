//! Renderers: a human-readable block per report, or one JSON object per
//! line.
//!
//! comm, argv and paths are chosen by the processes we watch, so the text
//! renderer escapes them: control characters (including ESC, which starts
//! ANSI sequences), Unicode bidi overrides and invalid UTF-8 bytes come out
//! as `\xNN` / `\u{NNNN}`, and a backslash as `\\`.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::report::{
    KillReport, OomConstraint, Origin, ProcContext, Reason, Report, Text, Timestamp,
};

/// Options of the text renderer.
pub struct TextOptions<'a> {
    /// Emit ANSI colours (only when the output is a terminal).
    pub color: bool,
    /// Resolves a uid to a user name (e.g. from the passwd database).
    pub user_name: &'a dyn Fn(u32) -> Option<String>,
    /// The local time zone: seconds east of UTC and the zone's
    /// abbreviation at a given instant (seconds since the epoch). `None`
    /// prints UTC (RFC 3339, `Z`).
    pub local_zone: Option<&'a dyn Fn(i64) -> Option<(i64, String)>>,
    /// Ancestor lines are cut to this many characters (the terminal's
    /// width); `None` prints them whole.
    pub width: Option<usize>,
    /// Print everything: each ancestor's cwd, whole lines.
    pub full: bool,
    /// The reports come from a log (`sigwatch replay`), which cannot
    /// record a process's exit: a victim's fate is said to be unknown
    /// instead of "no exit seen", which would read as a failed kill.
    pub exits_unknown: bool,
}

impl std::fmt::Debug for TextOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextOptions")
            .field("color", &self.color)
            .field("local_zone", &self.local_zone.is_some())
            .field("width", &self.width)
            .field("full", &self.full)
            .finish_non_exhaustive()
    }
}

impl Default for TextOptions<'_> {
    fn default() -> Self {
        TextOptions {
            color: false,
            user_name: &|_| None,
            local_zone: None,
            width: None,
            full: false,
            exits_unknown: false,
        }
    }
}

/// A time for the text output: RFC 3339 UTC, or local time with its
/// offset and zone (`2026-11-26 05:39:28.504 +01:00 CET`).
pub fn text_time(t: Timestamp, o: &TextOptions<'_>) -> String {
    let Some(zone) = o.local_zone else {
        return t.rfc3339();
    };
    let secs = (t.0 / 1_000_000_000) as i64;
    let Some((off, abbrev)) = zone(secs) else {
        return t.rfc3339();
    };
    // Shift the instant by the offset and format it as if it were UTC.
    let shifted = (secs + off).max(0) as u64 * 1_000_000_000 + t.0 % 1_000_000_000;
    let utc = Timestamp(shifted).rfc3339();
    let (date, time) = utc.split_once('T').unwrap_or((&utc, ""));
    let time = time.trim_end_matches('Z');
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.unsigned_abs();
    let abbrev = escape(abbrev.as_bytes());
    format!(
        "{date} {time} {sign}{:02}:{:02}{}{abbrev}",
        a / 3600,
        (a % 3600) / 60,
        if abbrev.is_empty() { "" } else { " " }
    )
}

/// Where a process ran, in a few words: the container (runtime, short
/// id, pod), else the systemd unit (and the user manager's unit).
pub fn where_short(c: &ProcContext) -> Option<String> {
    if let Some(ct) = &c.container {
        let mut s = String::new();
        if let Some(r) = ct.runtime {
            s.push_str(r);
        } else {
            s.push_str("container");
        }
        if let Some(id) = &ct.id {
            // Runtime ids (64 hex digits) are cut like `docker ps` does;
            // an audit container id (a number, runtime unknown) is short
            // and whole.
            let numeric = ct.runtime.is_none() && id.bytes().all(|b| b.is_ascii_digit());
            let short: String = if numeric {
                id.clone()
            } else {
                id.chars().take(12).collect()
            };
            let _ = write!(s, " {}", escape(short.as_bytes()));
        }
        if let Some(p) = &ct.pod_uid {
            let _ = write!(s, " pod {}", escape(p.as_bytes()));
        }
        return Some(s);
    }
    match (&c.unit, &c.user_unit) {
        (Some(u), Some(uu)) => Some(format!(
            "{} › {}",
            escape(u.as_bytes()),
            escape(uu.as_bytes())
        )),
        (Some(u), None) => Some(escape(u.as_bytes())),
        _ => None,
    }
}

/// `pid N (comm, where)`.
fn who(pid: i32, comm: &Option<Text>, c: &ProcContext) -> String {
    match where_short(c) {
        Some(w) => format!("pid {pid} ({}, {w})", opt_text(comm)),
        None => format!("pid {pid} ({})", opt_text(comm)),
    }
}

/// Bytes for humans: `512 B`, `64.0 KiB`, `1.5 GiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// The one-line answer: who was killed, by whom, how — without the time
/// (the text output puts it first; the journal has its own).
pub fn answer(k: &KillReport) -> String {
    answer_with(k, false)
}

/// [`answer`]; with `exits_unknown` (a report from a log, which records
/// no exits) an unconfirmed kill does not say "no exit seen".
fn answer_with(k: &KillReport, exits_unknown: bool) -> String {
    let v = &k.victim;
    let victim = who(v.pid, &v.comm, &v.context);
    let sig = escape(k.signal_name.as_bytes());
    let failed = k.success == Some(false);
    let how = match (&k.sender, k.origin, k.reason) {
        (_, Origin::Kernel, Some(Reason::Oom)) => {
            let mut s = "the kernel's OOM killer".to_string();
            match k.oom.as_ref().and_then(|o| o.constraint.map(|c| (o, c))) {
                Some((o, OomConstraint::Memcg)) => {
                    let _ = write!(s, ": memory cgroup {}", opt_text(&o.cgroup));
                    match o.limit_bytes {
                        Some(l) => {
                            let _ = write!(s, " hit its limit of {}", human_bytes(l));
                        }
                        None => s.push_str(" hit its limit"),
                    }
                }
                Some((_, OomConstraint::Machine)) => {
                    s.push_str(": the whole machine ran out of memory")
                }
                Some((_, OomConstraint::Cpuset)) => s.push_str(": a cpuset's memory nodes ran out"),
                Some((_, OomConstraint::MemoryPolicy)) => {
                    s.push_str(": a memory policy's nodes ran out")
                }
                None => {}
            }
            s
        }
        (Some(snd), Origin::Kernel, Some(Reason::CgroupKill)) => format!(
            "{} writing cgroup.kill{}",
            who(snd.pid, &snd.comm, &snd.context),
            k.cgroup_kill
                .as_ref()
                .and_then(|c| c.cgroup.as_ref())
                .map_or_else(String::new, |c| format!(" (killed {})", escape(&c.0)))
        ),
        (_, Origin::Kernel, Some(r)) => format!("the kernel ({})", r.as_str()),
        (_, Origin::Kernel, None) => "the kernel".to_string(),
        (Some(snd), _, _) => {
            let mut s = who(snd.pid, &snd.comm, &snd.context);
            if let Some(sc) = &k.syscall {
                let _ = write!(s, " via {}()", escape(sc.as_bytes()));
            }
            if k.origin == Origin::Unknown {
                s.push_str(" (unconfirmed: kill() or the kernel)");
            }
            s
        }
        (None, _, _) => "an unknown sender".to_string(),
    };
    if failed {
        let e = k.extra.errno.map_or_else(|| "failed".into(), errno_name);
        format!("{sig} to {victim} from {how}: not delivered ({e})")
    } else if v.exit_confirmed {
        format!("{victim} killed by {sig} from {how}")
    } else if exits_unknown {
        format!("{sig} to {victim} from {how}")
    } else {
        format!("{sig} to {victim} from {how} (no exit by it seen)")
    }
}

/// Escapes attacker-controlled bytes for a terminal.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x80 && c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() || is_format_hazard(c) => {
                    let _ = write!(out, "\\u{{{:04x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Characters that reorder or hide text on a terminal: bidi controls
/// (also the Arabic letter mark), zero-width and line/paragraph
/// separators, and the rest of Unicode's default-ignorable code points
/// (soft hyphen, fillers, variation selectors, tags, interlinear
/// annotation marks), which render as nothing and so can make two names
/// look alike.
pub(crate) fn is_format_hazard(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5
        | 0x180B..=0x180F | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F
        | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// One argv, escaped, each argument quoted when it contains spaces or
/// quotes or is empty, so argument boundaries stay visible.
pub fn argv_line(argv: &[Text]) -> String {
    argv.iter()
        .map(|a| {
            let e = escape(&a.0);
            if e.is_empty() || e.contains([' ', '"', '\'']) {
                format!("\"{}\"", e.replace('"', "\\\""))
            } else {
                e
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A duration for humans: `850ms`, `3.2s`, `4m05s`, `2h03m`, `3d04h`.
pub fn human_duration(ns: u64) -> String {
    let ms = ns / 1_000_000;
    let s = ns / 1_000_000_000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{}.{}s", s, (ms % 1000) / 100),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The symbolic name of an errno a kill can fail with.
pub fn errno_name(e: i32) -> String {
    match e {
        1 => "EPERM".into(),
        3 => "ESRCH".into(),
        9 => "EBADF".into(),
        22 => "EINVAL".into(),
        _ => format!("errno {e}"),
    }
}

struct Style {
    on: bool,
}

impl Style {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn red(&self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}

fn opt_text(t: &Option<Text>) -> String {
    t.as_ref().map_or_else(|| "?".to_string(), |t| escape(&t.0))
}

fn user(uid: Option<u32>, o: &TextOptions<'_>) -> String {
    match uid {
        None => "?".into(),
        Some(u) => match (o.user_name)(u) {
            Some(n) => format!("{u} ({})", escape(n.as_bytes())),
            None => u.to_string(),
        },
    }
}

fn unset(v: Option<u32>) -> String {
    v.map_or_else(|| "unset".to_string(), |v| v.to_string())
}

/// Renders one report as a text block (ending in a newline).
pub fn render_text(r: &Report, o: &TextOptions<'_>) -> String {
    let st = Style { on: o.color };
    match r {
        Report::Kill(k) => render_kill(k, o, &st),
        Report::Loss(l) => format!(
            "{} {} lost {} event(s): reports may be missing or incomplete\n",
            st.red("LOSS"),
            l.source.as_str(),
            l.count
        ),
        Report::Summary(s) => format!(
            "sigwatch: {} report(s); proc events {} (lost {}), audit records {} (lost {}), tracefs events {} (lost {}); {} repeat kill(s) of reported victims{}\n",
            s.reports, s.proc_events, s.proc_lost, s.audit_records, s.audit_lost, s.trace_events, s.trace_lost, s.repeat_kills,
            if s.failed_attempts_suppressed > 0 {
                format!(
                    "; {} failed attempt(s) not reported (more than {} in {} s by one user)",
                    s.failed_attempts_suppressed,
                    crate::attributor::FAILED_ATTEMPTS_PER_SENDER,
                    crate::attributor::FAILED_ATTEMPTS_WINDOW_NS / 1_000_000_000
                )
            } else {
                String::new()
            }
        ),
    }
}

fn render_kill(k: &KillReport, o: &TextOptions<'_>, st: &Style) -> String {
    let mut s = String::new();
    let v = &k.victim;
    // The host a forwarded record came from (`node=`): the same pids on
    // two hosts are two kills.
    let node = k
        .node
        .as_ref()
        .map_or_else(String::new, |n| format!(" [{}]", escape(&n.0)));
    let _ = writeln!(
        s,
        "{}{} {}",
        st.bold(&text_time(k.time, o)),
        node,
        st.red(&answer_with(k, o.exits_unknown))
    );
    // Victim.
    let mut line = format!("  victim   pid {}", v.pid);
    if let Some(t) = v.tid.filter(|&t| t != v.pid) {
        let _ = write!(line, " (thread {t})");
    }
    let _ = write!(line, " {}", opt_text(&v.comm));
    if let Some(p) = v.ppid {
        let _ = write!(line, "  ppid {p}");
    }
    let _ = write!(line, "  uid {}", user(v.uid, o));
    if let Some(ns) = k.extra.victim_ran_ns {
        let _ = write!(line, "  ran {}", human_duration(ns));
    }
    if let Some(t) = v.start_time {
        let _ = write!(line, " (started {})", text_time(t, o));
    }
    let died = if v.exit_confirmed {
        "died of it".to_string()
    } else if k.success == Some(false) {
        "not delivered".to_string()
    } else if o.exits_unknown {
        st.dim("exit unknown: a log records none")
    } else {
        st.dim("no exit by this signal seen")
    };
    let _ = writeln!(s, "{line}  [{died}]");
    if let Some(a) = &v.argv {
        let _ = writeln!(s, "           argv {}", argv_line(a));
    }
    if v.exe.is_some() || v.cwd.is_some() {
        let _ = writeln!(
            s,
            "           exe {}  cwd {}",
            opt_text(&v.exe),
            opt_text(&v.cwd)
        );
    }
    if let Some(l) = context_line(&v.context) {
        let _ = writeln!(s, "           {l}");
    }
    // Sender.
    match &k.sender {
        Some(snd) => {
            let mut line = format!("  sender   pid {}", snd.pid);
            if let Some(t) = snd.tid.filter(|&t| t != snd.pid) {
                let _ = write!(line, " (thread {t})");
            }
            let _ = write!(line, " {}", opt_text(&snd.comm));
            if let Some(p) = snd.ppid {
                let _ = write!(line, "  ppid {p}");
            }
            match snd.exited {
                Some(true) => line.push_str(&format!("  {}", st.dim("[exited]"))),
                Some(false) => line.push_str("  [running]"),
                None => {}
            }
            let _ = writeln!(s, "{line}");
            let sc = match (&k.syscall, &k.trace) {
                (Some(sc), _) => sc.as_str(),
                (None, Some(_)) if k.reason.as_deref() == Some("cgroup_kill") => {
                    "none (it wrote to cgroup.kill; the kernel sent the signal)"
                }
                (None, Some(_)) => "? (seen by tracefs only: no audit record)",
                (None, None) => "?",
            };
            let mut call = format!("           syscall {}", escape(sc.as_bytes()));
            if let Some(a) = k.extra.target_arg {
                match k.extra.target_tid {
                    Some(t) => {
                        let _ = write!(call, "({a}, {t}, {})", k.signal);
                    }
                    None => {
                        let _ = write!(call, "({a}, {})", k.signal);
                    }
                }
                if k.syscall.as_deref() == Some("kill") {
                    // The argument counts in the sender's pid namespace: a
                    // containerised `kill -9 -1` reached only that one.
                    let nested = snd.context.pid_ns.is_some();
                    let scope = if nested { " of its pid namespace" } else { "" };
                    match a {
                        0 => call.push_str(" — its own process group"),
                        -1 if nested => call.push_str(" — every process of its pid namespace"),
                        -1 => call.push_str(" — every process it may signal"),
                        a if a < -1 => {
                            let _ = write!(call, " — process group {}{scope}", -a);
                        }
                        _ => {}
                    }
                }
            }
            if k.extra.targets > 1 {
                let _ = write!(call, ", {} targets", k.extra.targets);
            }
            match k.success {
                Some(true) => {}
                Some(false) => {
                    let e = k.extra.errno.map_or_else(|| "failed".into(), errno_name);
                    let _ = write!(call, "  {}", st.red(&format!("FAILED ({e})")));
                }
                None => {}
            }
            let _ = writeln!(s, "{call}");
            let mut argv = snd
                .argv
                .as_ref()
                .map_or_else(|| "?".to_string(), |a| argv_line(a));
            if snd.argv_truncated == Some(true) {
                argv.push_str(" […truncated]");
            }
            if snd.argv.is_none() && snd.proctitle_rejected == Some(true) {
                // The record's PROCTITLE names an earlier program.
                argv.push_str(" (audit PROCTITLE is not this program's)");
            }
            let _ = writeln!(s, "           argv {argv}");
            let _ = writeln!(
                s,
                "           exe {}  cwd {}",
                opt_text(&snd.exe),
                opt_text(&snd.cwd)
            );
            let mut ids = format!("           uid {}", user(snd.uid, o));
            if snd.euid.is_some() && snd.euid != snd.uid {
                let _ = write!(ids, "  euid {}", user(snd.euid, o));
            }
            if k.audit.is_none() {
                // Only audit knows these: "unset" would be a claim.
                ids.push_str("  login uid, session, tty unknown (no audit record)");
            } else {
                let _ = write!(
                    ids,
                    "  login uid {}  session {}  tty {}",
                    match snd.auid {
                        Some(a) => user(Some(a), o),
                        None => "unset".into(),
                    },
                    unset(snd.ses),
                    snd.tty
                        .as_ref()
                        .map_or_else(|| "none".into(), |t| escape(&t.0))
                );
            }
            let _ = writeln!(s, "{ids}");
            if let Some(l) = context_line(&snd.context) {
                let _ = writeln!(s, "           {l}");
            }
        }
        None => {
            let why = match k.origin {
                Origin::Kernel => "the kernel (no process sent it)",
                _ => "unknown: no audit record and no tracefs sighting (both off, or events lost; without tracefs also a sender started before audit was first enabled)",
            };
            let _ = writeln!(s, "  sender   {why}");
        }
    }
    // Ancestry: one line each, cut to the width unless `full`.
    if !k.ancestors.is_empty() {
        let _ = writeln!(s, "  spawned by (nearest first)");
        for a in &k.ancestors {
            let mut head = format!("    {} {}", a.pid, opt_text(&a.comm));
            if a.exited == Some(true) {
                head.push_str(" [exited]");
            }
            if let Some(w) = where_short(&a.context) {
                let _ = write!(head, "  [{w}]");
            }
            if a.uid.is_some() {
                let _ = write!(head, "  uid {}", user(a.uid, o));
            }
            let mut line = head;
            if let Some(argv) = &a.argv {
                let _ = write!(line, "  {}", argv_line(argv));
            } else if let Some(e) = &a.exe {
                let _ = write!(line, "  {}", escape(&e.0));
            }
            if o.full {
                if let Some(c) = &a.cwd {
                    let _ = write!(line, "  (cwd {})", escape(&c.0));
                }
                if let Some(cg) = &a.context.cgroup {
                    let _ = write!(line, "  (cgroup {})", escape(&cg.0));
                }
            }
            let line = match o.width.filter(|_| !o.full) {
                Some(w) => cut(&line, w),
                None => line,
            };
            let _ = writeln!(s, "{line}");
        }
        if k.ancestors_truncated {
            let _ = writeln!(
                s,
                "    … more above: only the nearest {} are kept",
                crate::report::MAX_ANCESTORS
            );
        }
    }
    if let Some(oom) = &k.oom {
        let _ = writeln!(s, "  oom      {}", oom_line(oom));
    }
    if let Some(c) = &k.cgroup_kill {
        let _ = writeln!(
            s,
            "  cgroup.kill  {} (the cgroup written to, or one below it: the deepest that held every process the write killed)",
            opt_text(&c.cgroup)
        );
    }
    if let Some(t) = &k.trace {
        // The evidence names the code (and grp) it went by; the raw values
        // only when it does not.
        let raw = if t.evidence.contains("code=") {
            String::new()
        } else {
            format!(
                "  code {}  grp {}",
                t.code,
                match t.grp {
                    Some(true) => "1",
                    Some(false) => "0",
                    None => "?",
                }
            )
        };
        let _ = writeln!(
            s,
            "  tracefs  current {} {}{raw}{}: {}",
            t.current_pid,
            opt_text(&t.current_comm),
            if t.mark_victim { "  mark_victim" } else { "" },
            t.evidence
        );
    }
    if !k.witnesses.is_empty() {
        let _ = writeln!(
            s,
            "  seen by  {}",
            k.witnesses
                .iter()
                .map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(a) = &k.audit {
        let _ = writeln!(
            s,
            "  audit    serial {}  key {}",
            a.serial,
            a.key
                .as_ref()
                .map_or_else(|| "(none)".into(), |k| escape(&k.0))
        );
    }
    s
}

/// The cgroup, unit, container and pid namespace of a process, on one
/// line; `None` when nothing is known.
fn context_line(c: &ProcContext) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(cg) = &c.cgroup {
        parts.push(format!("cgroup {}", escape(&cg.0)));
    }
    if let Some(u) = &c.unit {
        parts.push(format!("unit {}", escape(u.as_bytes())));
    }
    if let Some(u) = &c.user_unit {
        parts.push(format!("user unit {}", escape(u.as_bytes())));
    }
    if let Some(ct) = &c.container {
        let mut t = format!("container {}", ct.runtime.unwrap_or("(runtime unknown)"));
        if let Some(id) = &ct.id {
            let _ = write!(t, " {}", escape(id.as_bytes()));
        }
        if let Some(p) = &ct.pod_uid {
            let _ = write!(t, "  pod {}", escape(p.as_bytes()));
        }
        parts.push(t);
    }
    if let Some(ns) = c.pid_ns {
        let mut t = format!("pid namespace {ns}");
        if let Some(p) = c.ns_pid {
            let _ = write!(t, " (pid {p} there)");
        }
        parts.push(t);
    }
    (!parts.is_empty()).then(|| parts.join("  "))
}

fn oom_line(o: &crate::report::OomContext) -> String {
    let mut s = match o.constraint {
        Some(OomConstraint::Memcg) => format!(
            "memory cgroup {} hit its limit{}",
            opt_text(&o.cgroup),
            o.limit_bytes
                .map_or_else(String::new, |l| format!(" ({})", human_bytes(l)))
        ),
        Some(OomConstraint::Machine) => "the whole machine ran out of memory".to_string(),
        Some(c) => format!("constraint {c}"),
        None => "constraint unknown (no oom-kill: line read)".to_string(),
    };
    if let Some(vc) = &o.victim_cgroup {
        let _ = write!(s, "; victim's memory cgroup {}", escape(&vc.0));
    }
    let figures: Vec<String> = [
        ("anon-rss", o.anon_rss_bytes),
        ("file-rss", o.file_rss_bytes),
        ("shmem-rss", o.shmem_rss_bytes),
        ("total-vm", o.total_vm_bytes),
    ]
    .iter()
    .filter_map(|(n, v)| v.map(|v| format!("{n} {}", human_bytes(v))))
    .collect();
    if !figures.is_empty() {
        let _ = write!(s, "; victim used {}", figures.join(", "));
    }
    if let Some(a) = o.oom_score_adj {
        let _ = write!(s, "; oom_score_adj {a}");
    }
    s
}

/// Cuts a line to `width` characters, ending in `…` when cut.
fn cut(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut out: String = line.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Writes one report as a JSON line and flushes (so a consumer sees each
/// report as soon as it exists).
///
/// The line is serialized first and written with one `write_all`: a write
/// error keeps its kind (a `BrokenPipe` stays `BrokenPipe`, which the
/// watch loop treats as "the reader went away", not as a failure), and a
/// reader never sees half a line followed by an error.
pub fn write_json<W: Write>(w: &mut W, r: &Report) -> io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

/// Writes one report as a text block followed by a blank line, and flushes.
pub fn write_text<W: Write>(w: &mut W, r: &Report, o: &TextOptions<'_>) -> io::Result<()> {
    w.write_all(render_text(r, o).as_bytes())?;
    if matches!(r, Report::Kill(_)) {
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Fills the user names (`user`, `euser`, `login_user`) of a kill
/// report's processes from `lookup`.
pub fn name_users(r: &mut Report, lookup: &dyn Fn(u32) -> Option<String>) {
    let Report::Kill(k) = r else {
        return;
    };
    k.victim.context.user = k.victim.uid.and_then(lookup);
    if let Some(snd) = k.sender.as_mut() {
        snd.context.user = snd.uid.and_then(lookup);
        snd.euser = snd.euid.and_then(lookup);
        snd.login_user = snd.auid.and_then(lookup);
    }
    for a in k.ancestors.make_mut() {
        a.context.user = a.uid.and_then(lookup);
    }
}

/// The local time zone at an instant (seconds since the epoch): offset
/// east of UTC in seconds and the zone's abbreviation (`localtime_r`,
/// i.e. `TZ` or `/etc/localtime`).
pub fn local_zone(secs: i64) -> Option<(i64, String)> {
    let t: libc::time_t = secs;
    // SAFETY: an all-zero `tm` is valid (integers and a null pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a time_t and a tm owned by this frame.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return None;
    }
    let abbrev = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points to a NUL-terminated string kept by libc
        // for the life of the process (the tz database's abbreviations).
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    Some((tm.tm_gmtoff, abbrev))
}

/// The output format of a program: JSON lines, or text with user names
/// looked up once per uid (and colour when the output is a terminal).
#[derive(Debug)]
pub struct Renderer {
    json: bool,
    color: bool,
    utc: bool,
    width: Option<usize>,
    full: bool,
    names: std::cell::RefCell<std::collections::HashMap<u32, Option<String>>>,
}

impl Renderer {
    /// JSON lines (the contract in the README).
    pub fn json() -> Renderer {
        Renderer {
            json: true,
            color: false,
            utc: true,
            width: None,
            full: true,
            names: Default::default(),
        }
    }

    /// Text blocks, with ANSI colours if `color`, times in local time.
    pub fn text(color: bool) -> Renderer {
        Renderer {
            json: false,
            color,
            utc: false,
            width: None,
            full: false,
            names: Default::default(),
        }
    }

    /// Text times in UTC (RFC 3339) instead of local time.
    pub fn utc(mut self, utc: bool) -> Renderer {
        self.utc = utc;
        self
    }

    /// Cut ancestor lines to this many characters.
    pub fn width(mut self, width: Option<usize>) -> Renderer {
        self.width = width;
        self
    }

    /// Print everything (whole ancestor lines, their cwd and cgroup).
    pub fn full(mut self, full: bool) -> Renderer {
        self.full = full;
        self
    }

    /// Whether this renders JSON lines.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The user name of `uid` (the passwd database, looked up once).
    pub fn user_name(&self, uid: u32) -> Option<String> {
        self.names
            .borrow_mut()
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .clone()
    }

    /// A copy of `r` with the user names filled in.
    pub fn named(&self, r: &Report) -> Report {
        let mut r = r.clone();
        if matches!(r, Report::Kill(_)) {
            name_users(&mut r, &|u| self.user_name(u));
        }
        r
    }

    /// The text options this renderer uses.
    pub fn text_options<'a>(&self, lookup: &'a dyn Fn(u32) -> Option<String>) -> TextOptions<'a> {
        TextOptions {
            color: self.color,
            user_name: lookup,
            local_zone: (!self.utc).then_some(&local_zone as &dyn Fn(i64) -> Option<(i64, String)>),
            width: self.width,
            full: self.full,
            exits_unknown: false,
        }
    }

    /// One report, rendered.
    ///
    /// # Errors
    /// Only if a report cannot be serialized (never for reports the
    /// engine makes).
    pub fn render(&self, r: &Report) -> io::Result<Vec<u8>> {
        let mut w = Vec::with_capacity(2048);
        if self.json {
            write_json(&mut w, &self.named(r))?;
        } else {
            let lookup = |uid: u32| self.user_name(uid);
            write_text(&mut w, r, &self.text_options(&lookup))?;
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::report::*;

    #[test]
    fn escape_neutralizes_terminal_tricks() {
        assert_eq!(escape(b"plain /usr/bin"), "plain /usr/bin");
        assert_eq!(escape(b"\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(escape(b"a\nb\tc\\"), "a\\nb\\tc\\\\");
        assert_eq!(escape(b"\xff\xfe"), "\\xff\\xfe");
        assert_eq!(escape("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escape("x\u{202e}y".as_bytes()), "x\\u{202e}y");
        assert_eq!(escape("\u{9b}2J".as_bytes()), "\\u{009b}2J");
        assert_eq!(escape(b"\x7f\x00"), "\\x7f\\x00");
        // Invisible ones that would make two names look alike.
        for c in [
            '\u{061c}',
            '\u{00ad}',
            '\u{034f}',
            '\u{115f}',
            '\u{3164}',
            '\u{ffa0}',
            '\u{180e}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{fff9}',
            '\u{1d173}',
            '\u{17b4}',
            '\u{fe0f}',
        ] {
            let e = escape(format!("a{c}b").as_bytes());
            assert_eq!(e, format!("a\\u{{{:04x}}}b", c as u32), "{:04x}", c as u32);
        }
        // Visible non-ASCII text stays as it is.
        assert_eq!(escape("Zürich 東京 مرحبا".as_bytes()), "Zürich 東京 مرحبا");
    }

    #[test]
    fn a_cut_ancestry_says_so() {
        let mut k = sample();
        let text = |k: &KillReport| {
            let r = Renderer::text(false);
            String::from_utf8(r.render(&Report::Kill(k.clone())).unwrap()).unwrap()
        };
        assert!(!text(&k).contains("more above"));
        k.ancestors_truncated = true;
        assert!(
            text(&k).contains("    … more above: only the nearest 64 are kept\n"),
            "{}",
            text(&k)
        );
    }

    #[test]
    fn argv_keeps_boundaries() {
        let a = vec![
            Text::from("sh"),
            Text::from("-c"),
            Text::from("kill -9 1"),
            Text::from(""),
        ];
        assert_eq!(argv_line(&a), "sh -c \"kill -9 1\" \"\"");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(850_000_000), "850ms");
        assert_eq!(human_duration(3_250_000_000), "3.2s");
        assert_eq!(human_duration(245_000_000_000), "4m05s");
        assert_eq!(human_duration(7_380_000_000_000), "2h03m");
    }

    fn sample() -> KillReport {
        KillReport {
            time: Timestamp(1_795_667_968_504_000_000),
            signal: 9,
            signal_name: "SIGKILL".into(),
            origin: Origin::User,
            reason: None,
            syscall: Some("kill".into()),
            success: Some(true),
            syscall_target: Some(1294),
            syscall_target_count: Some(1),
            victim: Victim {
                pid: 1294,
                tid: None,
                ppid: Some(1),
                comm: Some(Text::from("pa-daemon")),
                exe: None,
                argv: Some(vec![Text::from("pa-daemon"), Text::from("--x")]),
                argv_truncated: Some(false),
                cwd: None,
                uid: Some(65534),
                start_time: None,
                exit_confirmed: true,
                context: ProcContext::from_cgroup(Some("/system.slice/pa-daemon.service")),
            },
            sender: Some(Sender {
                pid: 1298,
                tid: None,
                ppid: Some(1),
                comm: Some(Text(b"s\x1b]0;pwn\x07h".to_vec())),
                exe: Some(Text::from("/usr/bin/dash")),
                argv: Some(vec![Text::from("/bin/sh"), Text::from("/srv/guard.sh")]),
                argv_truncated: Some(false),
                cwd: Some(Text::from("/srv")),
                uid: Some(65534),
                euid: Some(65534),
                auid: None,
                ses: None,
                tty: None,
                exited: Some(true),
                proctitle_rejected: Some(false),
                context: ProcContext::from_cgroup(Some(
                    "/docker/4f3c9a1e2b7d8c6f5a4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e",
                )),
                euser: None,
                login_user: None,
            }),
            ancestors: vec![Ancestor {
                pid: 1297,
                comm: Some(Text::from("launcher")),
                exe: None,
                argv: Some(vec![Text::from("launcher"), Text::from("--now")]),
                cwd: None,
                uid: Some(0),
                start_time: None,
                exited: Some(true),
                context: ProcContext::default(),
            }]
            .into(),
            audit: Some(AuditRef {
                serial: 23,
                key: Some(Text::from("sigwatch")),
                container_id: None,
            }),
            witnesses: vec![Witness::Audit, Witness::Proc],
            trace: None,
            node: None,
            oom: None,
            cgroup_kill: None,
            ancestors_truncated: false,
            extra: KillExtra {
                victim_ran_ns: Some(3_000_000_000),
                errno: None,
                kmsg: false,
                targets: 1,
                target_arg: Some(1294),
                target_tid: None,
                sender_comm_from_audit: true,
                trace_wall: None,
            },
        }
    }

    #[test]
    fn text_block_has_the_story_and_no_raw_escapes() {
        let names = |u: u32| (u == 65534).then(|| "nobody".to_string());
        let o = TextOptions {
            color: false,
            user_name: &names,
            ..TextOptions::default()
        };
        let t = render_text(&Report::Kill(sample()), &o);
        assert!(!t.contains('\x1b'), "{t}");
        let first = t.lines().next().unwrap();
        assert_eq!(
            first,
            "2026-11-26T04:39:28.504Z pid 1294 (pa-daemon, pa-daemon.service) killed by SIGKILL from pid 1298 (s\\x1b]0;pwn\\x07h, docker 4f3c9a1e2b7d) via kill()"
        );
        assert!(
            t.contains("cgroup /system.slice/pa-daemon.service  unit pa-daemon.service"),
            "{t}"
        );
        assert!(
            t.contains(
                "container docker 4f3c9a1e2b7d8c6f5a4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e"
            ),
            "{t}"
        );
        assert!(t.contains("ran 3.0s"), "{t}");
        assert!(t.contains("s\\x1b]0;pwn\\x07h"), "{t}");
        assert!(t.contains("uid 65534 (nobody)"), "{t}");
        assert!(
            t.contains("login uid unset  session unset  tty none"),
            "{t}"
        );
        assert!(
            t.contains("\n    1297 launcher [exited]  uid 0  launcher --now\n"),
            "{t}"
        );
        assert!(t.contains("syscall kill(1294, 9)"), "{t}");
        let c = render_text(
            &Report::Kill(sample()),
            &TextOptions {
                color: true,
                user_name: &names,
                ..TextOptions::default()
            },
        );
        assert!(c.contains("\x1b[1;31mpid 1294"), "{c}");
    }

    /// The syscall line shows the call's own arguments: a thread-directed
    /// call its thread id, `kill(0)` whose group it hit.
    #[test]
    fn syscall_line_shows_the_calls_own_arguments() {
        let line = |k: &KillReport| {
            let t = render_text(&Report::Kill(k.clone()), &TextOptions::default());
            t.lines()
                .find(|l| l.trim_start().starts_with("syscall "))
                .unwrap()
                .trim()
                .to_string()
        };
        let mut k = sample();
        k.syscall = Some("tgkill".into());
        k.extra.target_arg = Some(1294);
        k.extra.target_tid = Some(1301);
        assert_eq!(line(&k), "syscall tgkill(1294, 1301, 9)");
        k.syscall = Some("kill".into());
        k.extra.target_tid = None;
        k.extra.target_arg = Some(0);
        k.extra.targets = 2;
        assert_eq!(
            line(&k),
            "syscall kill(0, 9) — its own process group, 2 targets"
        );
        k.extra.target_arg = Some(-77);
        assert_eq!(
            line(&k),
            "syscall kill(-77, 9) — process group 77, 2 targets"
        );
        // A sender in a nested pid namespace: its numbers count there.
        k.sender.as_mut().unwrap().context.pid_ns = Some(4_026_532_300);
        assert_eq!(
            line(&k),
            "syscall kill(-77, 9) — process group 77 of its pid namespace, 2 targets"
        );
        k.extra.target_arg = Some(-1);
        assert_eq!(
            line(&k),
            "syscall kill(-1, 9) — every process of its pid namespace, 2 targets"
        );
        // A negative first argument means a group only to kill().
        k.extra.target_arg = Some(-77);
        k.syscall = Some("rt_sigqueueinfo".into());
        assert_eq!(line(&k), "syscall rt_sigqueueinfo(-77, 9), 2 targets");
    }

    #[test]
    fn tracefs_only_sender_claims_no_audit_facts() {
        let mut k = sample();
        k.audit = None;
        k.syscall = None;
        k.origin = Origin::Kernel;
        k.reason = Some(Reason::CgroupKill);
        k.witnesses = vec![Witness::Tracefs, Witness::Proc];
        k.trace = Some(crate::report::TraceFacts {
            current_tid: 1298,
            current_pid: 1298,
            current_comm: Some(Text::from("sh")),
            target_tid: 1294,
            code: 0,
            grp: Some(false),
            mark_victim: false,
            class: "cgroup_kill",
            evidence: "SIGKILL code=SI_USER grp=0",
        });
        let names = |_: u32| None;
        let o = TextOptions {
            color: false,
            user_name: &names,
            ..TextOptions::default()
        };
        let t = render_text(&Report::Kill(k), &o);
        assert!(
            t.contains("killed by SIGKILL from pid 1298 (s\\x1b]0;pwn\\x07h, docker 4f3c9a1e2b7d) writing cgroup.kill"),
            "{t}"
        );
        assert!(t.contains("syscall none (it wrote to cgroup.kill"), "{t}");
        assert!(t.contains("login uid, session, tty unknown"), "{t}");
        assert!(!t.contains("login uid unset"), "{t}");
        // The evidence names the code; the raw numbers are not repeated.
        assert!(
            t.contains("tracefs  current 1298 sh: SIGKILL code=SI_USER grp=0"),
            "{t}"
        );
        assert!(!t.contains("code 0  grp 0"), "{t}");
        assert!(t.contains("seen by  tracefs, proc"), "{t}");
    }

    #[test]
    fn local_time_with_zone_and_utc() {
        let t = Timestamp(1_795_667_968_504_000_000);
        let cet = |_: i64| Some((3600, "CET".to_string()));
        let o = TextOptions {
            local_zone: Some(&cet),
            ..TextOptions::default()
        };
        assert_eq!(text_time(t, &o), "2026-11-26 05:39:28.504 +01:00 CET");
        let west = |_: i64| Some((-(3 * 3600 + 1800), String::new()));
        let o = TextOptions {
            local_zone: Some(&west),
            ..TextOptions::default()
        };
        assert_eq!(text_time(t, &o), "2026-11-26 01:09:28.504 -03:30");
        assert_eq!(
            text_time(t, &TextOptions::default()),
            "2026-11-26T04:39:28.504Z"
        );
        // The real zone database: UTC is UTC.
        std::env::set_var("TZ", "UTC");
        assert_eq!(local_zone(1_795_667_968), Some((0, "UTC".to_string())));
    }

    #[test]
    fn ancestors_are_cut_to_the_width_unless_full() {
        let mut k = sample();
        k.ancestors.make_mut()[0].argv = Some(vec![
            Text::from("launcher"),
            Text::from("--env"),
            Text::from("x".repeat(1500).as_str()),
        ]);
        k.ancestors.make_mut()[0].cwd = Some(Text::from("/srv/app"));
        let o = TextOptions {
            width: Some(60),
            ..TextOptions::default()
        };
        let t = render_text(&Report::Kill(k.clone()), &o);
        let line = t.lines().find(|l| l.contains("1297 launcher")).unwrap();
        assert_eq!(line.chars().count(), 60, "{line}");
        assert!(line.ends_with('…'), "{line}");
        assert!(!t.contains("cwd /srv/app"), "{t}");
        let o = TextOptions {
            width: Some(60),
            full: true,
            ..TextOptions::default()
        };
        let t = render_text(&Report::Kill(k), &o);
        let line = t.lines().find(|l| l.contains("1297 launcher")).unwrap();
        assert!(line.contains(&"x".repeat(1500)), "{line}");
        assert!(line.contains("(cwd /srv/app)"), "{line}");
    }

    #[test]
    fn oom_answers_name_the_limit() {
        let mut k = sample();
        k.origin = Origin::Kernel;
        k.reason = Some(Reason::Oom);
        k.sender = None;
        k.syscall = None;
        k.oom = Some(crate::report::OomContext {
            constraint: Some(OomConstraint::Memcg),
            cgroup: Some(Text::from("/jobs/batch")),
            limit_bytes: Some(64 << 20),
            victim_cgroup: Some(Text::from("/jobs/batch/w1")),
            anon_rss_bytes: Some(63 << 20),
            ..Default::default()
        });
        let a = answer(&k);
        assert_eq!(
            a,
            "pid 1294 (pa-daemon, pa-daemon.service) killed by SIGKILL from the kernel's OOM killer: memory cgroup /jobs/batch hit its limit of 64.0 MiB"
        );
        let t = render_text(&Report::Kill(k.clone()), &TextOptions::default());
        assert!(
            t.contains("oom      memory cgroup /jobs/batch hit its limit (64.0 MiB); victim's memory cgroup /jobs/batch/w1; victim used anon-rss 63.0 MiB"),
            "{t}"
        );
        k.oom.as_mut().unwrap().constraint = Some(OomConstraint::Machine);
        assert!(answer(&k).ends_with("OOM killer: the whole machine ran out of memory"));
    }

    #[test]
    fn user_names_fill_json_fields() {
        let mut r = Report::Kill(sample());
        name_users(&mut r, &|u| (u == 65534).then(|| "nobody".to_string()));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["victim"]["user"], "nobody");
        assert_eq!(v["sender"]["user"], "nobody");
        assert_eq!(v["sender"]["euser"], "nobody");
        assert!(v["sender"]["login_user"].is_null());
        assert!(v["ancestors"][0]["user"].is_null());
        assert_eq!(v["sender"]["container"]["runtime"], "docker");
        assert_eq!(v["victim"]["unit"], "pa-daemon.service");
    }

    /// A writer whose reader went away.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::EPIPE))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_reported_as_broken_pipe() {
        // `sigwatch --json | head -1`: the watch loop stops cleanly on
        // BrokenPipe; any other kind is a fatal "error: writing a report".
        let e = write_json(&mut ClosedPipe, &Report::Kill(sample())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
        let e = write_text(
            &mut ClosedPipe,
            &Report::Kill(sample()),
            &TextOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
    }

    #[test]
    fn json_line_is_one_flushed_line_with_nulls() {
        let mut buf = Vec::new();
        write_json(&mut buf, &Report::Kill(sample())).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(s.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["type"], "kill");
        assert_eq!(v["time"], "2026-11-26T04:39:28.504Z");
        assert_eq!(v["origin"], "user");
        assert!(v["reason"].is_null());
        assert!(v["sender"]["auid"].is_null());
        assert!(v["victim"]["tid"].is_null());
        assert_eq!(v["sender"]["comm"], "s\u{1b}]0;pwn\u{7}h");
        assert_eq!(v["ancestors"][0]["exited"], true);
        assert_eq!(v["audit"]["serial"], 23);
        assert!(v.get("extra").is_none());
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        for k in [
            "type",
            "time",
            "signal",
            "signal_name",
            "origin",
            "reason",
            "syscall",
            "success",
            "syscall_target",
            "syscall_target_count",
            "victim",
            "sender",
            "ancestors",
            "audit",
            "witnesses",
            "trace",
            "node",
            "oom",
            "cgroup_kill",
            "ancestors_truncated",
        ] {
            assert!(keys.contains(&k.to_string()), "{k}");
        }
        assert_eq!(keys.len(), 20);
        assert!(v["node"].is_null());
        assert!(v["audit"]["container_id"].is_null());
        assert_eq!(v["witnesses"], serde_json::json!(["audit", "proc"]));
        assert!(v["trace"].is_null());
    }
}
