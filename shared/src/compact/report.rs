//! What compaction reports: per table and run ([`AppendReport`]), per optimized day
//! ([`OptimizeReport`]), per vacuum, and per invocation ([`CompactionReport`]), serialisable as
//! the function returns them and the CLI prints them, and as EMF metrics, each figure paired with
//! the log line that explains it.

use serde::{Deserialize, Serialize};

use super::completeness::Delivery;
use crate::erasure::ErasureRunReport;
use crate::lake::QUARANTINE;
use crate::telemetry::{names, MetricSet, Unit};
use crate::timestamp::EpochMillis;

/// How a run's append to one table ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// New files were committed.
    Committed,
    /// No raw objects beyond those already committed.
    NothingToDo,
    /// Another run committed first; this run removed its own files.
    LostRace,
}

/// A raw object that could not be read to the end, moved aside for inspection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unreadable {
    pub key: String,
    pub size: u64,
    pub error: String,
    /// Where it is now (`unreadable/<key>`); put a repaired copy back under `key`.
    pub moved_to: String,
}

/// The figures of one run on one table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub run_id: String,
    /// The run's number for the table (the application transaction version it commits).
    pub run: i64,
    /// Arrival days the run took raw objects from.
    pub days: Vec<String>,
    pub objects_in: u64,
    /// Bytes of the raw objects as stored (compressed or not).
    pub bytes_in: u64,
    /// Bytes of NDJSON after decompression.
    pub uncompressed_bytes_in: u64,
    /// Lines that became rows.
    pub events_in: u64,
    /// Lines that were not records, kept under `rejected/`.
    pub rejected_lines: u64,
    /// Raw objects that could not be read, moved aside.
    pub unreadable_objects: u64,
    /// Rows of people with an erasure request, dropped before they were written.
    #[serde(default)]
    pub erased: u64,
    /// Copies of an event within this run.
    pub duplicates_dropped: u64,
    /// Events the table already held (in the dedup window): retries and redeliveries.
    pub already_committed: u64,
    pub rows_out: u64,
    pub files_out: u64,
    pub bytes_out: u64,
    pub duration_ms: u64,
    /// Of `duration_ms`: reading the raw objects and probing the dedup window.
    pub read_ms: u64,
    /// Of `duration_ms`: dedup, sort and Parquet encoding.
    pub write_ms: u64,
    /// Received share of the `seq` range per `anonymous_id` among this run's events, in percent.
    pub completeness_percent: Option<f64>,
    pub expected_events: u64,
    pub received_events: u64,
}

impl RunReport {
    pub fn set_delivery(&mut self, d: Delivery) {
        self.expected_events = d.expected;
        self.received_events = d.received;
        self.completeness_percent = d.percent();
    }
}

/// One run's append to one table.
#[derive(Debug, Clone, Serialize)]
pub struct AppendReport {
    pub table: &'static str,
    pub outcome: Outcome,
    /// The table version the run committed.
    pub version: Option<i64>,
    #[serde(flatten)]
    pub run: RunReport,
    pub unreadable: Vec<Unreadable>,
    /// Raw objects of an earlier commit that this run deleted (that run stopped before it could).
    pub leftovers_deleted: u64,
}

/// How the optimize of a day ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizeOutcome {
    Optimized,
    /// Already as few files as its size needs.
    NothingToDo,
    /// A concurrent commit removed one of its files; the next run tries again.
    Conflict,
}

/// One optimized table-day.
#[derive(Debug, Clone, Serialize)]
pub struct OptimizeReport {
    pub table: &'static str,
    pub date: String,
    pub outcome: OptimizeOutcome,
    pub version: Option<i64>,
    pub files_removed: u64,
    pub files_added: u64,
    pub rows: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub duration_ms: u64,
    /// For the events table: the day's delivery completeness over all its events and the
    /// day's quarantined ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completeness_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// One table's vacuum.
#[derive(Debug, Clone, Serialize)]
pub struct VacuumReport {
    pub table: &'static str,
    pub files_deleted: u64,
    pub indexes_deleted: u64,
}

/// A step that failed, with its error.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub table: &'static str,
    /// `append`, `erase`, `optimize`, `retention` or `vacuum`.
    pub step: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub code: &'static str,
    pub error: String,
}

/// What one invocation (a schedule tick, a request, a CLI command) did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactionReport {
    pub appends: Vec<AppendReport>,
    pub optimized: Vec<OptimizeReport>,
    pub vacuumed: Vec<VacuumReport>,
    /// Steps that failed; with [`super::OnError::Continue`] the others still ran.
    pub failures: Vec<Failure>,
    /// Raw days left for the next run because this one reached its size or time budget.
    pub deferred: Vec<String>,
    /// For the schedule: age in days of the oldest raw day still holding objects after this run
    /// (0: only today's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_days: Option<i64>,
    /// The erasure request this invocation recorded (`driftless erase`, `{"erase": ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erasure_request: Option<String>,
    /// What the erasure job did, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erasure: Option<ErasureRunReport>,
    /// Partitions deleted by the tables' retention.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<RetentionReport>,
}

/// How a table's retention ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionOutcome {
    Deleted,
    /// No partition older than the setting (or the table keeps every day).
    NothingToDo,
    /// A concurrent commit removed one of the files; the next run tries again.
    Conflict,
}

/// One table's retention: the `dt` partitions older than the setting deleted in one commit.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    pub table: &'static str,
    pub outcome: RetentionOutcome,
    pub keep_days: i64,
    /// Partitions before this day are deleted.
    pub cutoff: String,
    pub partitions_deleted: Vec<String>,
    pub files_removed: u64,
    pub rows_removed: u64,
    pub version: Option<i64>,
}

impl AppendReport {
    /// The run's figures as EMF metrics. Events-table figures carry the names the template's
    /// alarms and dashboard use; quarantine reports its row count. A lost race is a
    /// `CommitConflicts` count on either table.
    fn metrics(&self) -> MetricSet {
        let mut m = MetricSet::new("compact");
        let r = &self.run;
        if self.outcome == Outcome::LostRace {
            m.put(names::COMMIT_CONFLICTS, Unit::Count, 1.0);
        }
        if !self.unreadable.is_empty() {
            m.put(
                names::CORRUPT_OBJECTS,
                Unit::Count,
                self.unreadable.len() as f64,
            );
        }
        if self.outcome != Outcome::Committed {
            return m;
        }
        if self.table == QUARANTINE.name {
            m.put(names::QUARANTINE_ROWS_OUT, Unit::Count, r.rows_out as f64);
            return m;
        }
        m.put(names::EVENTS_IN, Unit::Count, r.events_in as f64)
            .put(
                names::DUPLICATES_DROPPED,
                Unit::Count,
                (r.duplicates_dropped + r.already_committed) as f64,
            )
            .put(names::ROWS_OUT, Unit::Count, r.rows_out as f64)
            .put(names::BYTES_IN, Unit::Bytes, r.bytes_in as f64)
            .put(names::BYTES_OUT, Unit::Bytes, r.bytes_out as f64)
            .put(names::DURATION_MS, Unit::Milliseconds, r.duration_ms as f64)
            .put(names::REJECTED_LINES, Unit::Count, r.rejected_lines as f64);
        m
    }
}

impl CompactionReport {
    /// Every step's metrics, and the invocation's failures and (for the schedule) its lag.
    pub fn emit_metrics(&self, now: EpochMillis) {
        for a in &self.appends {
            a.metrics().emit(now);
        }
        for o in &self.optimized {
            let mut m = MetricSet::new("compact");
            if o.outcome == OptimizeOutcome::Conflict {
                m.put(names::COMMIT_CONFLICTS, Unit::Count, 1.0);
            }
            if let Some(p) = o.completeness_percent {
                m.put(names::COMPLETENESS, Unit::Percent, p);
            }
            m.emit(now);
        }
        let mut m = MetricSet::new("compact");
        m.put(
            names::COMPACTION_FAILURES,
            Unit::Count,
            self.failures.len() as f64,
        );
        if let Some(lag) = self.lag_days {
            m.put(names::LAG_DAYS, Unit::Count, lag as f64);
        }
        if let Some(e) = &self.erasure {
            m.put(
                names::OLDEST_OPEN_ERASURE_DAYS,
                Unit::Count,
                e.oldest_open_days as f64,
            )
            .put(names::ERASED_ROWS, Unit::Count, e.rows_removed() as f64);
        }
        m.emit(now);
    }
}
