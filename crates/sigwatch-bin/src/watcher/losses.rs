//! Loss accounting: the witnesses' cumulative loss counters turned into
//! `loss` reports (each loss reported once, as it is seen) and totals for
//! the summary.

use crate::report::{LossReport, LossSource, Report};

/// A cumulative loss counter of one witness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Process events missed (per-CPU sequence gaps, ENOBUFS).
    ProcMissed,
    /// Audit socket overflows (ENOBUFS).
    AuditOverflow,
    /// The kernel's audit `lost` counter, since the watcher's baseline.
    AuditKernelLost,
    /// tracefs ring-buffer losses and unparsable lines.
    TraceLost,
}

impl Counter {
    const ALL: [Counter; 4] = [
        Counter::ProcMissed,
        Counter::AuditOverflow,
        Counter::AuditKernelLost,
        Counter::TraceLost,
    ];

    fn source(self) -> LossSource {
        match self {
            Counter::ProcMissed => LossSource::Proc,
            Counter::AuditOverflow | Counter::AuditKernelLost => LossSource::Audit,
            Counter::TraceLost => LossSource::Tracefs,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What was lost so far, per counter and per one-off addition.
#[derive(Debug, Default)]
pub(crate) struct Losses {
    /// The last value seen of each cumulative counter.
    seen: [u64; 4],
    /// Losses added one at a time, per source (kmsg's missed records).
    added: Vec<(LossSource, u64)>,
}

impl Losses {
    /// A cumulative counter now reads `value`: the increase since the last
    /// reading, as a loss report (`None` when nothing new was lost).
    pub(crate) fn observe(&mut self, c: Counter, value: u64) -> Option<Report> {
        let last = &mut self.seen[c.index()];
        if value <= *last {
            return None;
        }
        let count = value - *last;
        *last = value;
        Some(Report::Loss(LossReport {
            source: c.source(),
            count,
        }))
    }

    /// `n` more were lost (a one-off count).
    pub(crate) fn add(&mut self, source: LossSource, n: u64) -> Option<Report> {
        if n == 0 {
            return None;
        }
        self.added.push((source, n));
        Some(Report::Loss(LossReport { source, count: n }))
    }

    /// Everything lost so far by `source`'s witness.
    pub(crate) fn total(&self, source: LossSource) -> u64 {
        let counted: u64 = Counter::ALL
            .iter()
            .filter(|c| c.source() == source)
            .map(|c| self.seen[c.index()])
            .sum();
        counted
            + self
                .added
                .iter()
                .filter(|(s, _)| *s == source)
                .map(|(_, n)| n)
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_loss_is_reported_once_and_totalled_per_source() {
        let mut l = Losses::default();
        assert!(l.observe(Counter::ProcMissed, 0).is_none());
        let r = l.observe(Counter::ProcMissed, 5);
        assert!(matches!(
            r,
            Some(Report::Loss(LossReport {
                source: LossSource::Proc,
                count: 5
            }))
        ));
        assert!(l.observe(Counter::ProcMissed, 5).is_none(), "no new loss");
        assert!(matches!(
            l.observe(Counter::ProcMissed, 7),
            Some(Report::Loss(LossReport { count: 2, .. }))
        ));
        l.observe(Counter::AuditOverflow, 3);
        l.observe(Counter::AuditKernelLost, 4);
        assert!(l.add(LossSource::Kmsg, 0).is_none());
        l.add(LossSource::Kmsg, 2);
        assert_eq!(l.total(LossSource::Proc), 7);
        assert_eq!(l.total(LossSource::Audit), 7);
        assert_eq!(l.total(LossSource::Kmsg), 2);
        assert_eq!(l.total(LossSource::Tracefs), 0);
    }
}
