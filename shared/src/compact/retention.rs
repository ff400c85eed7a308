//! Retention: a table's `dt` partitions older than its setting (`DRIFTLESS_QUARANTINE_RETENTION_DAYS`,
//! `DRIFTLESS_EVENTS_RETENTION_DAYS`; 0 keeps every day) deleted in one Delta commit of `remove`
//! actions (operation `DELETE`, `dataChange=true`); vacuum deletes the files after its
//! retention period, as for any removed file. A day `D` is deleted once `D < today - keep_days`:
//! with 90 days kept, today and the 90 days before it stay.

use super::report::{RetentionOutcome, RetentionReport};
use super::Compaction;
use crate::lake::delta::{CommitOutcome, DataFile, Rewrite, TableChange};
use crate::lake::layout::new_run_id;
use crate::lake::store::ObjectStore;
use crate::lake::{Day, Result, Table, QUARANTINE};

impl<S: ObjectStore> Compaction<'_, S> {
    /// Days of `table` kept: 0 keeps every day.
    pub fn retention_days(&self, table: &Table) -> i64 {
        if table.name == QUARANTINE.name {
            self.cfg.quarantine_retention_days
        } else {
            self.cfg.events_retention_days
        }
    }

    /// Deletes the partitions of `table` older than its retention.
    pub async fn apply_retention(&self, table: &'static Table) -> Result<RetentionReport> {
        let keep_days = self.retention_days(table);
        let today = Day::from_millis(self.now);
        let cutoff = (0..keep_days).fold(today, |d, _| d.previous());
        let mut report = RetentionReport {
            table: table.name,
            outcome: RetentionOutcome::NothingToDo,
            keep_days,
            cutoff: cutoff.to_string(),
            partitions_deleted: Vec::new(),
            files_removed: 0,
            rows_removed: 0,
            version: None,
        };
        if keep_days == 0 {
            return Ok(report);
        }
        let mut lake = self.open(table).await?;
        let old: Vec<DataFile> = lake
            .files()?
            .into_iter()
            .filter(|f| f.day.is_some_and(|d| d < cutoff))
            .collect();
        if old.is_empty() {
            return Ok(report);
        }
        let mut days: Vec<String> = old
            .iter()
            .filter_map(|f| f.day)
            .map(|d| d.to_string())
            .collect();
        days.sort();
        days.dedup();
        let rows: u64 = old.iter().filter_map(|f| f.rows).sum();
        let files = old.len() as u64;
        let change = TableChange::Rewrite {
            remove: old,
            add: Vec::new(),
            kind: Rewrite::Delete {
                predicate: format!("dt < '{cutoff}'"),
            },
            txn: None,
        };
        let info = serde_json::json!({
            "kind": "retention",
            "at": self.now,
            "cutoff": cutoff.to_string(),
            "partitions": days,
        });
        match lake.commit(change, &new_run_id(), info, self.now).await? {
            CommitOutcome::Committed { version } => {
                tracing::info!(
                    message = "Partitions older than the retention deleted.",
                    table = table.name,
                    cutoff = %cutoff,
                    partitions = days.len(),
                    rows
                );
                report.outcome = RetentionOutcome::Deleted;
                report.version = Some(version);
                report.partitions_deleted = days;
                report.files_removed = files;
                report.rows_removed = rows;
            }
            CommitOutcome::Conflict { reason } => {
                tracing::info!(
                    message =
                        "A concurrent commit changed an old partition; the next run deletes it.",
                    table = table.name,
                    reason
                );
                report.outcome = RetentionOutcome::Conflict;
            }
        }
        Ok(report)
    }
}
