//! Compaction: the raw Firehose objects become the lake's Delta tables (`lake/events/`,
//! `lake/quarantine/`, partitioned by arrival day `dt`). One entry point, [`Compaction`], serves
//! the Lambda (the 15-minute schedule and on-demand requests), the CLI and the benchmarks; each
//! caller says by a value ([`OnError`]) what a failed step means for the others.
//!
//! A run, for each table:
//! 1. [`plan`]: open the table, find the raw objects the last committed run covers (its commit
//!    lists them) and delete those still there, list the new raw objects.
//! 2. [`read`]: read the new objects (gzip or plain, by magic bytes) into range partitions of the
//!    output order, with each row's dedup id ([`partition`]); unreadable objects are moved aside. Then the dedup probe: the
//!    run's event ids are looked up in the file indexes ([`crate::lake::index`]) of the dedup
//!    window (at least 48 hours of arrival, across days), and the ones the table holds are
//!    dropped.
//! 3. [`dedup`] and [`write`]: deduplicate on the ids (first `received_at` wins), sort each
//!    partition and write them in order into Parquet files with statistics and an index;
//!    [`completeness`] measures delivery on the way.
//! 4. [`commit`]: upload the files and indexes, verify each file as stored (row count and
//!    event-id checksum), and commit them to the table in one Delta commit that also carries the
//!    run's number (an application transaction: two runs that read the same version cannot both
//!    commit) and the raw keys it covers. Only then are the raw objects deleted.
//!
//! Once a day is closed, [`optimize`] rewrites its files into a few large sorted ones
//! (`dataChange=false`); [`vacuum`] deletes removed files after the retention period.
//!
//! A crash at any step leaves either no commit (the raw objects are all still there; the next run
//! starts over, and the files it left are never listed by any version) or a commit whose inputs
//! the next run recognises and deletes. Readers see only committed files.

pub mod append;
pub mod commit;
pub mod completeness;
pub mod dedup;
pub mod optimize;
pub mod partition;
pub mod plan;
pub mod read;
pub mod report;
pub mod retention;
pub mod vacuum;
pub mod write;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::CompactConfig;
use crate::erasure::Erasure;
use crate::lake::layout::raw_prefix;
use crate::lake::store::ObjectStore;
use crate::lake::{Day, LakeError, Result, Table, EVENTS, TABLES};
pub use plan::Days;
pub use report::{
    AppendReport, CompactionReport, Failure, OptimizeOutcome, OptimizeReport, Outcome,
    RetentionOutcome, RetentionReport, VacuumReport,
};

/// Makes glibc's malloc use one arena. Compaction frees large buffers on other threads than the
/// ones that allocated them (readers on blocking threads, the sort on another); with glibc's
/// default of 8 arenas per core the freed memory stays mapped in idle arenas: the peak RSS of a
/// 1 GiB day under a 256 MiB budget measured 285-464 MiB with the default, 270 MiB with two
/// arenas and 171 MiB with one, at the same speed (threads allocate little per row). Call it at
/// the start of `main`, before threads exist.
pub fn cap_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_ARENA_MAX: i32 = -8;
        // SAFETY: mallopt only adjusts allocator tuning; it is called before other threads run.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
        }
    }
}

/// Gives the pages of freed memory back to the system (glibc keeps them mapped in its arena).
/// Between reading a day and writing it: the read's partition buffers are freed by then, and
/// the write's buffers otherwise came on top of them: the peak RSS of the 1 GiB day measured
/// 237-243 MB without this and 213-232 MB with it (three runs each).
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns free pages of the allocator's own arenas.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// What a failed step means for the rest of the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Record it in the report and go on with the next one (the schedule, a CLI range).
    Continue,
    /// Stop and return the error (an on-demand request, which Lambda then retries).
    Stop,
}

/// A step started with less time than this left is left for the next run: a step cut off by
/// the timeout is redone from scratch, which is safe but wasted work.
const MIN_TIME_FOR_A_STEP: Duration = Duration::from_secs(60);

/// Compaction of one store, as a builder: `Compaction::new(&store, &cfg, now)`, then
/// `scheduled`, `append`, `optimize_day` or `vacuum`.
pub struct Compaction<'a, S> {
    store: &'a S,
    cfg: &'a CompactConfig,
    now: i64,
    on_error: OnError,
}

impl<'a, S: ObjectStore> Compaction<'a, S> {
    /// `now` (milliseconds) decides which days are closed.
    pub fn new(store: &'a S, cfg: &'a CompactConfig, now: i64) -> Compaction<'a, S> {
        Compaction {
            store,
            cfg,
            now,
            on_error: OnError::Continue,
        }
    }

    pub fn with_on_error(mut self, on_error: OnError) -> Compaction<'a, S> {
        self.on_error = on_error;
        self
    }

    /// Records `e` as a failure of `step` (or returns it, with [`OnError::Stop`]).
    fn failed(
        &self,
        report: &mut CompactionReport,
        table: &'static Table,
        step: &'static str,
        day: Option<Day>,
        e: LakeError,
    ) -> Result<()> {
        if self.on_error == OnError::Stop {
            return Err(e);
        }
        tracing::error!(
            message = "A compaction step failed; going on with the next.",
            table = table.name,
            step,
            day = day.map(|d| d.to_string()),
            code = e.code(),
            error = %e
        );
        report.failures.push(Failure {
            table: table.name,
            step,
            date: day.map(|d| d.to_string()),
            code: e.code(),
            error: e.to_string(),
        });
        Ok(())
    }

    /// The raw objects of `days` appended to both tables (a backfill, an on-demand request).
    pub async fn append_days(&self, days: &Days) -> Result<CompactionReport> {
        let mut report = CompactionReport::default();
        for table in TABLES {
            match self.append(table, days).await {
                Ok((a, deferred)) => {
                    report.appends.push(a);
                    report.deferred.extend(deferred.iter().map(Day::to_string));
                }
                Err(e) => self.failed(&mut report, table, "append", None, e)?,
            }
        }
        report.deferred.sort();
        report.deferred.dedup();
        Ok(report)
    }

    /// Optimizes `days` of both tables.
    pub async fn optimize_days(&self, days: &[Day]) -> Result<CompactionReport> {
        let mut report = CompactionReport::default();
        for &day in days {
            for table in TABLES {
                match self.optimize_day(table, day).await {
                    Ok(o) => report.optimized.push(o),
                    Err(e) => self.failed(&mut report, table, "optimize", Some(day), e)?,
                }
            }
        }
        Ok(report)
    }

    /// Vacuums both tables.
    pub async fn vacuum_tables(&self) -> Result<CompactionReport> {
        let mut report = CompactionReport::default();
        for table in TABLES {
            match self.vacuum(table).await {
                Ok(v) => report.vacuumed.push(v),
                Err(e) => self.failed(&mut report, table, "vacuum", None, e)?,
            }
        }
        Ok(report)
    }

    /// What the schedule runs: every new raw object appended, then the erasure job for open
    /// requests, then (time permitting) the closed days with too many files optimized, the
    /// tables' retention, and a vacuum once a day. `lag_days` says how old the oldest raw day
    /// still holding objects is.
    pub async fn scheduled(&self, deadline: Instant) -> Result<CompactionReport> {
        let mut report = self.append_days(&Days::All).await?;
        let today = Day::from_millis(self.now);
        let time_left =
            || deadline.saturating_duration_since(Instant::now()) >= MIN_TIME_FOR_A_STEP;
        if time_left() {
            match Erasure::new(self.store, self.cfg, self.now).apply().await {
                Ok(e) => report.erasure = Some(e),
                Err(e) => self.failed(&mut report, &EVENTS, "erase", None, e)?,
            }
        }
        for table in TABLES {
            let closed: Vec<Day> = match self.days_to_optimize(table, today).await {
                Ok(days) => days
                    .into_iter()
                    .filter(|d| d.is_closed(self.now, self.cfg.close_after))
                    .collect(),
                Err(e) => {
                    self.failed(&mut report, table, "optimize", None, e)?;
                    continue;
                }
            };
            for day in closed {
                if !time_left() {
                    break;
                }
                match self.optimize_day(table, day).await {
                    Ok(o) => report.optimized.push(o),
                    Err(e) => self.failed(&mut report, table, "optimize", Some(day), e)?,
                }
            }
        }
        for table in TABLES {
            if !time_left() {
                break;
            }
            match self.apply_retention(table).await {
                Ok(r) => report.retention.push(r),
                Err(e) => self.failed(&mut report, table, "retention", None, e)?,
            }
        }
        for table in TABLES {
            if !time_left() {
                break;
            }
            match self.vacuumed_recently(table).await {
                Ok(true) => {}
                Ok(false) => match self.vacuum(table).await {
                    Ok(v) => report.vacuumed.push(v),
                    Err(e) => self.failed(&mut report, table, "vacuum", None, e)?,
                },
                Err(e) => self.failed(&mut report, table, "vacuum", None, e)?,
            }
        }
        let oldest = days_with_raw_objects(self.store, &TABLES)
            .await?
            .first()
            .copied();
        report.lag_days = Some(oldest.map_or(0, |d| d.days_until(today).max(0)));
        Ok(report)
    }
}

/// The days that have raw objects in any of `tables`, oldest first.
pub async fn days_with_raw_objects<S: ObjectStore>(
    store: &S,
    tables: &[&'static Table],
) -> Result<Vec<Day>> {
    let mut days = BTreeSet::new();
    for table in tables {
        for year in store.list_dirs(&raw_prefix(table)).await? {
            for month in store.list_dirs(&year).await? {
                for day in store.list_dirs(&month).await? {
                    days.extend(Day::of_raw_dir(&day));
                }
            }
        }
    }
    Ok(days.into_iter().collect())
}

/// A run's scratch directory, removed however the run ends.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn create(dir: PathBuf) -> Result<Scratch> {
        std::fs::create_dir_all(&dir).map_err(|e| LakeError::io(dir.display(), e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
