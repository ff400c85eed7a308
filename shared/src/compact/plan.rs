//! Step 1: what a run has to do for one table, from the table's log and a listing of its raw
//! objects.
//!
//! Every append commit carries the keys of the raw objects it covers. A run deletes those of the
//! last committed run that are still there (that run stopped between its commit and its
//! clean-up) before it reads anything, so at any moment only the newest committed run can have
//! inputs left, and they are recognised instead of being read twice.

use std::collections::HashSet;

use serde_json::Value;

use super::days_with_raw_objects;
use crate::lake::delta::{LakeTable, TableSettings};
use crate::lake::store::{ObjectMeta, ObjectStore};
use crate::lake::{Day, Result, Table};

/// The application id of compaction's appends in the tables' logs: two runs that read the same
/// table version cannot both commit.
pub const APP_ID: &str = "driftless-compact";

/// Commits searched for the last run's record (runs are the commits of every 15 minutes; other
/// writers add a few a day).
const HISTORY_SEARCHED: usize = 1024;

/// The raw days a run looks at.
#[derive(Debug, Clone)]
pub enum Days {
    /// Every day that has raw objects (the schedule).
    All,
    /// These days only (a backfill, an on-demand request).
    Only(Vec<Day>),
}

/// The new raw objects of one arrival day.
#[derive(Debug, Clone)]
pub struct DayInput {
    pub day: Day,
    pub objects: Vec<ObjectMeta>,
}

/// The work of one run on one table.
pub struct AppendPlan {
    pub table: &'static Table,
    pub lake: LakeTable,
    /// The run's number: one more than the last committed run's.
    pub run: i64,
    /// Raw objects the last committed run covers that are still there.
    pub leftovers: Vec<String>,
    /// The days this run compacts, oldest first.
    pub days: Vec<DayInput>,
    /// Days with new objects left for the next run (over the run's size budget).
    pub deferred: Vec<Day>,
}

/// What an append commit records about itself in the log.
pub fn append_info(run: i64, inputs: &[String], rejected: &[String], report: Value) -> Value {
    serde_json::json!({
        "kind": "append",
        "run": run,
        "inputs": inputs,
        "rejected": rejected,
        "report": report,
    })
}

impl AppendPlan {
    /// Opens the table, finds the last run's leftovers and lists the new raw objects of `days`,
    /// taking whole days, oldest first, until about `max_bytes` of raw objects (at least one day).
    pub async fn build<S: ObjectStore>(
        store: &S,
        table: &'static Table,
        settings: &TableSettings,
        days: &Days,
        max_bytes: u64,
    ) -> Result<AppendPlan> {
        let lake = LakeTable::open(&store.table_location(table)?, table, settings).await?;
        let committed = lake.app_version(APP_ID).await?;
        let covered = match committed {
            Some(run) => last_run_inputs(&lake, run).await?,
            None => HashSet::new(),
        };
        let days = match days {
            Days::All => days_with_raw_objects(store, &[table]).await?,
            Days::Only(days) => days.clone(),
        };
        let mut plan = AppendPlan {
            table,
            lake,
            run: committed.unwrap_or(0) + 1,
            leftovers: Vec::new(),
            days: Vec::new(),
            deferred: Vec::new(),
        };
        let mut bytes = 0u64;
        for day in days {
            let mut objects = Vec::new();
            for o in store.list(&day.raw_prefix(table)).await? {
                if covered.contains(&o.key) {
                    plan.leftovers.push(o.key);
                } else {
                    objects.push(o);
                }
            }
            if objects.is_empty() {
                continue;
            }
            if !plan.days.is_empty() && bytes >= max_bytes {
                plan.deferred.push(day);
                continue;
            }
            bytes += objects.iter().map(|o| o.size).sum::<u64>();
            plan.days.push(DayInput { day, objects });
        }
        Ok(plan)
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }
}

/// The raw objects committed by run `run`, from its record in the log.
async fn last_run_inputs(lake: &LakeTable, run: i64) -> Result<HashSet<String>> {
    for info in lake.recent_commits(HISTORY_SEARCHED).await? {
        if info.get("kind").and_then(Value::as_str) == Some("append")
            && info.get("run").and_then(Value::as_i64) == Some(run)
        {
            return Ok(info
                .get("inputs")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default());
        }
    }
    tracing::warn!(
        message =
            "The last compaction run's record is not in the recent log; no leftovers assumed.",
        table = lake.table().name,
        run
    );
    Ok(HashSet::new())
}
