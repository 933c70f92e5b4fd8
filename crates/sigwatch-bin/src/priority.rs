//! `--nice`: the watch loop sets its own scheduling priority (by default,
//! raises it).
//!
//! A short-lived sender's argv, exe and cwd can only be read from `/proc`
//! between its exec and its exit. A woken watcher at the default priority
//! may wait behind the very process it must read (a freshly exec'd
//! program runs on for its start-up and the scheduler need not preempt it
//! for an equal-priority task), and miss it. auditd boosts itself for the
//! same reason (`priority_boost` in auditd.conf). Measured in the README's
//! capture figures.

/// The nice value to set, if any. An `explicit` value is what was asked
/// for (`--nice 5` lowers a sigwatch started at nice 0: its operator wants
/// it to yield to the host's work). The default applies only to a
/// sigwatch started at nice 0: a nice chosen by whoever started it
/// (`nice -n 5`, a unit's `Nice=`) is theirs.
fn target(current: i32, wanted: i32, explicit: bool) -> Option<i32> {
    if explicit {
        return (wanted != current).then_some(wanted);
    }
    (current == 0 && wanted < current).then_some(wanted)
}

/// The calling thread's nice value (`getpriority`; on Linux, per thread).
fn current() -> Option<i32> {
    nix::errno::Errno::clear();
    // SAFETY: getpriority has no memory-safety preconditions.
    let v = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    // -1 is a valid nice value: only errno tells an error.
    (v != -1 || nix::errno::Errno::last_raw() == 0).then_some(v)
}

/// Sets the calling thread (and the threads it starts later) to nice
/// `wanted` as [`target`] decides. A refusal to raise (no
/// `CAP_SYS_NICE`) is a warning when the value was `explicit`, else a
/// note: sigwatch runs on either way.
pub fn set_to(wanted: i32, explicit: bool) {
    let Some(now) = current() else {
        log::warn!("--nice: cannot read the scheduling priority; left as is");
        return;
    };
    let Some(n) = target(now, wanted, explicit) else {
        log::debug!("runs at nice {now}: kept");
        return;
    };
    // SAFETY: setpriority has no memory-safety preconditions.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) } == 0 {
        log::info!("scheduling priority set from nice {now} to {n}");
    } else {
        let level = if explicit {
            log::Level::Warn
        } else {
            log::Level::Info
        };
        log::log!(
            level,
            "--nice {n}: cannot raise the scheduling priority from nice {now} ({}); short-lived senders may be missed on a busy host; fix: run as root (CAP_SYS_NICE), or set the service's Nice=",
            nix::errno::Errno::last()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn an_explicit_value_is_set_either_way() {
        assert_eq!(target(0, -10, true), Some(-10));
        assert_eq!(target(5, -10, true), Some(-10));
        assert_eq!(target(-15, -10, true), Some(-10));
        assert_eq!(target(-10, -10, true), None);
        // `--nice 5`: yield to the host's work, as asked.
        assert_eq!(target(0, 5, true), Some(5));
    }

    #[test]
    fn the_default_leaves_a_chosen_nice_alone() {
        assert_eq!(target(0, -10, false), Some(-10));
        // `nice -n 10 sigwatch`, a unit's Nice=5 or Nice=-15: theirs.
        assert_eq!(target(10, -10, false), None);
        assert_eq!(target(5, -10, false), None);
        assert_eq!(target(-15, -10, false), None);
    }
}
