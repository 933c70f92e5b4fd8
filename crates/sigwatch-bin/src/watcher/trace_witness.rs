//! The tracefs witness: a private trace instance. tracesig owns its
//! lifecycle (mounting tracefs and marking the mount, the lock, removing
//! the instances of dead sigwatches at start, periodically and at exit,
//! and undoing the mount of the last one out).

use crate::notice::Notice;
use crate::signals::SignalSet;

/// Opens the tracefs witness: a private instance tracing the watched
/// signals (`SIGKILL` by default) and `oom:mark_victim`. Stale instances
/// of dead sigwatches that tracesig removed are noted (here, and after
/// each periodic clean-up and at exit through [`stale_notice`]).
pub(crate) fn open_trace(
    signals: SignalSet,
    notices: &mut Vec<Notice>,
) -> Result<tracesig::TraceSource, tracesig::Error> {
    let cfg = if signals.is_all() {
        tracesig::Config::default()
            .with_signals(tracesig::SignalFilter::All)
            .with_buffer_size_kb(1024)
    } else {
        let sigs = signals.iter().collect();
        tracesig::Config::default().with_signals(tracesig::SignalFilter::Only(sigs))
    };
    let src = tracesig::TraceSource::open(&cfg)?;
    notices.extend(stale_notice(src.cleaned_at_open()));
    Ok(src)
}

/// Says which trace instances of dead sigwatches were removed, if any.
pub(crate) fn stale_notice(c: &tracesig::Cleanup) -> Option<Notice> {
    (!c.stale_instances.is_empty()).then(|| {
        Notice::note(format!(
            "removed stale trace instance(s) of a sigwatch that died: {}",
            c.stale_instances.join(", ")
        ))
    })
}
