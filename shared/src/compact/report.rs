//! What compaction reports: per table-day ([`DayReport`]) and per invocation
//! ([`CompactionReport`]), serialisable as the function returns them and the CLI prints them,
//! and as EMF metrics, each figure paired with the log line that explains it.

use serde::Serialize;

use crate::lake::commit::{RunReport, Unreadable};
use crate::lake::{Day, Table, QUARANTINE};
use crate::telemetry::{names, MetricSet, Unit};
use crate::timestamp::EpochMillis;

/// How a table-day ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new generation of the day was committed.
    Committed,
    /// No raw objects beyond those already committed (or known to be unreadable).
    NothingToDo,
    /// Another run committed the day first; this run removed its own parts.
    LostRace,
    /// The day is still open and the request did not ask to include it.
    NotClosed,
}

/// One table-day of a run.
#[derive(Debug, Clone, Serialize)]
pub struct DayReport {
    pub table: &'static str,
    pub date: String,
    pub outcome: Outcome,
    pub generation: u64,
    #[serde(flatten)]
    pub run: RunReport,
    /// Raw objects that could not be read (all runs), left in place.
    pub unreadable: Vec<Unreadable>,
    /// Left-over raw objects of an earlier commit deleted by this run.
    pub leftovers_deleted: u64,
    /// Uncommitted parts of crashed or losing runs deleted by this run.
    pub orphans_deleted: u64,
}

impl DayReport {
    pub(super) fn new(table: &'static Table, day: Day, outcome: Outcome) -> DayReport {
        DayReport {
            table: table.name,
            date: day.to_string(),
            outcome,
            generation: 0,
            run: RunReport::default(),
            unreadable: Vec::new(),
            leftovers_deleted: 0,
            orphans_deleted: 0,
        }
    }

    /// The day's figures as EMF metrics. Events-table figures carry the names the template's
    /// alarms and dashboard use; quarantine reports its row count. A lost race is a
    /// `CommitConflicts` count on either table.
    pub fn emit_metrics(&self, now: EpochMillis) {
        let mut m = MetricSet::new("compact");
        if self.outcome == Outcome::LostRace {
            m.put(names::COMMIT_CONFLICTS, Unit::Count, 1.0);
        }
        if self.outcome != Outcome::Committed && self.unreadable.is_empty() {
            m.emit(now);
            return;
        }
        let r = &self.run;
        if self.table == QUARANTINE.name {
            m.put(names::QUARANTINE_ROWS_OUT, Unit::Count, r.rows_out as f64);
            m.emit(now);
            return;
        }
        m.put(names::EVENTS_IN, Unit::Count, r.events_in as f64)
            .put(
                names::DUPLICATES_DROPPED,
                Unit::Count,
                r.duplicates_dropped as f64,
            )
            .put(names::ROWS_OUT, Unit::Count, r.rows_out as f64)
            .put(names::BYTES_IN, Unit::Bytes, r.bytes_in as f64)
            .put(names::BYTES_OUT, Unit::Bytes, r.bytes_out as f64)
            .put(names::DURATION_MS, Unit::Milliseconds, r.duration_ms as f64)
            .put(
                names::CORRUPT_OBJECTS,
                Unit::Count,
                self.unreadable.len() as f64,
            )
            .put(names::REJECTED_LINES, Unit::Count, r.rejected_lines as f64);
        if let Some(p) = r.completeness_percent {
            m.put(names::COMPLETENESS, Unit::Percent, p);
        }
        m.emit(now);
    }
}

/// A table-day that failed, with its error.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub table: &'static str,
    pub date: String,
    pub code: &'static str,
    pub error: String,
}

/// What one invocation (a schedule tick, a request for days, a CLI range) did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactionReport {
    pub days: Vec<DayReport>,
    /// Table-days that failed; with [`super::OnError::Continue`] the others still ran.
    pub failures: Vec<Failure>,
    /// Closed days left for the next run because this one ran out of time.
    pub deferred: Vec<String>,
    /// For the schedule: age in days of the oldest closed day still not compacted after this
    /// run (0: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_days: Option<i64>,
}
