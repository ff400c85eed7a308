//! Compaction: a day's raw Firehose objects become deduplicated, sorted Parquet parts, committed
//! by the day's commit record. One entry point, [`Compaction`], serves the Lambda (schedule and
//! on-demand), the CLI and the benchmarks; each caller says by a value ([`OnError`]) what a
//! failed table-day means for the others. For one table and one day, the steps are:
//!
//! 1. [`plan`]: read the commit record (if any) and list the day's raw objects. Objects the record
//!    already lists were committed by an earlier run that stopped before deleting them: delete
//!    them now.
//! 2. [`read`]: read the new objects (gzip or plain, by magic bytes) into hash partitions on the
//!    event id ([`partition`]), with the ids of the committed parts (late objects must not
//!    duplicate them).
//! 3. [`dedup`] and [`write`]: deduplicate and sort each partition, merge them into Parquet parts;
//!    [`completeness`] measures delivery on the way.
//! 4. [`commit`]: upload the parts under names that carry the generation and a run id, verify
//!    each one as stored (row count and event-id checksum), and write the commit record with
//!    `If-None-Match: *` (first commit) or `If-Match: <etag read in 1>`: the commit point. A run
//!    that loses this race deletes its own parts and stops.
//! 5. Delete the raw inputs, then parts of this or older generations that no record lists (left
//!    by runs that crashed or lost).
//!
//! A crash anywhere leaves either no commit (the raw objects are all still there; the next run
//! starts over) or a commit whose inputs the next run recognises and deletes. Nothing is deleted
//! that a commit record does not cover.

pub mod commit;
pub mod completeness;
pub mod dedup;
pub mod partition;
pub mod plan;
pub mod read;
pub mod report;
pub mod write;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::CompactConfig;
use crate::lake::commit::RunReport;
use crate::lake::layout::{new_run_id, part_stem, raw_prefix};
use crate::lake::store::ObjectStore;
use crate::lake::{Day, LakeError, Result, Table, TABLES};
use crate::telemetry::{names, MetricSet, Unit};
use crate::timestamp::EpochMillis;
use commit::{delete_orphans, Commit};
use partition::Partitions;
use plan::CompactionPlan;
pub use report::{CompactionReport, DayReport, Failure, Outcome};

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

/// What a failed table-day means for the rest of the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Record it in the report and go on with the next one (the schedule, a CLI range).
    Continue,
    /// Stop and return the error (an on-demand request, which Lambda then retries).
    Stop,
}

/// A start with less time than this left defers a day to the next run: a day cut off by the
/// timeout is redone from scratch, which is safe but wasted work.
const MIN_TIME_FOR_A_DAY: Duration = Duration::from_secs(60);

/// Compaction of one store, as a builder: `Compaction::new(&store, &cfg, now)`, then `days`,
/// `closed_days` or `table_day`.
pub struct Compaction<'a, S> {
    store: &'a S,
    cfg: &'a CompactConfig,
    now: EpochMillis,
    include_open_days: bool,
    on_error: OnError,
}

impl<'a, S: ObjectStore> Compaction<'a, S> {
    /// `now` decides which days are closed.
    pub fn new(store: &'a S, cfg: &'a CompactConfig, now: EpochMillis) -> Compaction<'a, S> {
        Compaction {
            store,
            cfg,
            now,
            include_open_days: false,
            on_error: OnError::Continue,
        }
    }

    /// Compacts days that are still open too (the demo, or a backfill of today): objects that
    /// arrive later are merged by the next run.
    pub fn with_open_days(mut self, include: bool) -> Compaction<'a, S> {
        self.include_open_days = include;
        self
    }

    pub fn with_on_error(mut self, on_error: OnError) -> Compaction<'a, S> {
        self.on_error = on_error;
        self
    }

    /// Both tables of each day, in order.
    pub async fn days(&self, days: &[Day]) -> Result<CompactionReport> {
        let mut report = CompactionReport::default();
        for &day in days {
            self.both_tables(day, &mut report).await?;
        }
        Ok(report)
    }

    /// Every closed day that has raw objects, oldest first, until `deadline` is near: what the
    /// schedule runs. The report's `lag_days` is the age of the oldest closed day left.
    pub async fn closed_days(&self, deadline: Instant) -> Result<CompactionReport> {
        let today = Day::from_millis(self.now);
        let mut report = CompactionReport::default();
        let mut oldest_pending: Option<Day> = None;
        for day in days_with_raw_objects(self.store).await? {
            if !day.is_closed(self.now, self.cfg.close_after) {
                continue;
            }
            if deadline.saturating_duration_since(Instant::now()) < MIN_TIME_FOR_A_DAY {
                report.deferred.push(day.to_string());
                oldest_pending.get_or_insert(day);
                continue;
            }
            let failures = report.failures.len();
            self.both_tables(day, &mut report).await?;
            let lost = report
                .days
                .iter()
                .any(|d| d.date == day.to_string() && d.outcome == Outcome::LostRace);
            if lost || report.failures.len() > failures {
                oldest_pending.get_or_insert(day);
            }
        }
        report.lag_days = Some(oldest_pending.map_or(0, |d| d.days_until(today)));
        Ok(report)
    }

    async fn both_tables(&self, day: Day, report: &mut CompactionReport) -> Result<()> {
        for table in TABLES {
            match self.table_day(table, day).await {
                Ok(r) => report.days.push(r),
                Err(e) if self.on_error == OnError::Continue => {
                    tracing::error!(
                        message = "Compaction of a day failed; going on with the next.",
                        table = table.name,
                        day = %day,
                        code = e.code(),
                        error = %e
                    );
                    report.failures.push(Failure {
                        table: table.name,
                        date: day.to_string(),
                        code: e.code(),
                        error: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One table-day.
    pub async fn table_day(&self, table: &'static Table, day: Day) -> Result<DayReport> {
        if !self.include_open_days && !day.is_closed(self.now, self.cfg.close_after) {
            return Ok(DayReport::new(table, day, Outcome::NotClosed));
        }
        let started = Instant::now();
        let plan = CompactionPlan::build(self.store, table, day).await?;
        let mut report = DayReport::new(table, day, Outcome::NothingToDo);
        report.generation = plan.committed_generation();
        report.unreadable = plan
            .manifest()
            .map(|m| m.unreadable.clone())
            .unwrap_or_default();
        if !plan.leftovers.is_empty() {
            tracing::info!(
                message = "Deleting raw objects an earlier commit covers.",
                table = table.name,
                day = %day,
                objects = plan.leftovers.len()
            );
            self.store.delete(&plan.leftovers).await?;
            report.leftovers_deleted = plan.leftovers.len() as u64;
        }
        if plan.new_objects.is_empty() {
            if let Some(m) = plan.manifest() {
                report.orphans_deleted = delete_orphans(self.store, &plan, m).await?;
            }
            return Ok(report);
        }

        let generation = report.generation + 1;
        let run_id = new_run_id();
        let scratch = Scratch::create(
            self.cfg
                .scratch_dir
                .join(format!("{}-{day}-{run_id}", table.name)),
        )?;
        let mut run = RunReport {
            generation,
            run_id: run_id.clone(),
            ..RunReport::default()
        };

        // Partitions sized so that one partition fits its memory share.
        let n_partitions =
            (plan.estimated_bytes() as usize / self.cfg.partition_limit() + 1).min(256);
        let partitions = Arc::new(Mutex::new(Partitions::new(
            &scratch.0,
            "p",
            0,
            n_partitions,
            self.cfg.partition_buffer(),
        )));
        let read = match read::read_objects(
            self.store,
            &plan,
            &scratch.0,
            &partitions,
            self.cfg.read_concurrency,
            &mut run,
        )
        .await
        {
            Ok(read) => read,
            Err(LakeError::ObjectMissing { key }) => {
                // Another run committed the day and deleted its inputs while this one read them.
                tracing::info!(
                    message = "A raw object vanished while it was read: another run committed the day.",
                    table = table.name,
                    day = %day,
                    key
                );
                report.outcome = Outcome::LostRace;
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        if let (Some(m), true) = (plan.manifest(), table.dedup) {
            read::add_committed_ids(self.store, table, m, &scratch.0, &partitions).await?;
        }
        run.read_ms = started.elapsed().as_millis() as u64;

        let parts = write::sort_and_write(
            table,
            partitions,
            &scratch.0,
            part_stem(generation, &run_id),
            self.cfg,
            &read.skip,
            &mut run,
        )
        .await?;
        run.write_ms = started.elapsed().as_millis() as u64 - run.read_ms;

        let inputs: Vec<String> = read.inputs.iter().map(|i| i.key.clone()).collect();
        let mut commit = Commit::new(self.store, &plan, generation, &run_id, &scratch.0);
        match commit
            .commit(&parts, read, &mut run, started, self.now)
            .await
        {
            Ok(manifest) => {
                report.outcome = Outcome::Committed;
                report.generation = generation;
                report.unreadable = manifest.unreadable.clone();
                report.run = run;
                // The commit is durable: only now may the raw inputs go.
                self.store.delete(&inputs).await?;
                report.orphans_deleted = delete_orphans(self.store, &plan, &manifest).await?;
                tracing::info!(
                    message = "Day committed.",
                    table = table.name,
                    day = %day,
                    generation,
                    rows = report.run.rows_out,
                    duplicates = report.run.duplicates_dropped,
                    duration_ms = report.run.duration_ms
                );
                Ok(report)
            }
            Err(LakeError::PreconditionFailed { .. }) => {
                tracing::info!(
                    message = "Another run committed the day first; removing this run's parts.",
                    table = table.name,
                    day = %day,
                    run_id
                );
                commit.abandon(true).await?;
                report.outcome = Outcome::LostRace;
                Ok(report)
            }
            Err(e) => {
                commit.abandon(false).await?;
                Err(e)
            }
        }
    }
}

impl CompactionReport {
    /// Every table-day's metrics, and the invocation's failures and (for the schedule) its lag.
    pub fn emit_metrics(&self, now: EpochMillis) {
        for day in &self.days {
            day.emit_metrics(now);
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
        m.emit(now);
    }
}

/// The days that have raw objects in any table, oldest first.
pub async fn days_with_raw_objects<S: ObjectStore>(store: &S) -> Result<Vec<Day>> {
    let mut days = BTreeSet::new();
    for table in TABLES {
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

/// The run's scratch directory, removed however the run ends.
struct Scratch(PathBuf);

impl Scratch {
    fn create(dir: PathBuf) -> Result<Scratch> {
        std::fs::create_dir_all(&dir).map_err(|e| LakeError::io(dir.display(), e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
