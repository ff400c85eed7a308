//! A run's append to one table: the raw objects that arrived since the last commit, deduplicated
//! within the run and against the dedup window, sorted, written and committed as one Delta commit
//! (one per table and run, covering every day it read), then the raw inputs deleted.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::commit::Uploads;
use super::completeness::Completeness;
use super::partition::{lock, Partitions};
use super::plan::{append_info, AppendPlan, Days, APP_ID};
use super::read::{probe, read_day, Sink};
use super::report::{AppendReport, Outcome, RunReport};
use super::write::sort_and_write;
use super::{Compaction, Scratch};
use crate::erasure::{self, ErasureFilter, ERASURE_APP_ID};
use crate::lake::delta::{AppTxn, CommitOutcome, DataFile, NewFile, TableChange};
use crate::lake::index::FileIndex;
use crate::lake::layout::{append_stem, new_run_id};
use crate::lake::store::ObjectStore;
use crate::lake::{Day, LakeError, Result, Table};

/// What a run wrote for a commit, gathered day by day.
#[derive(Default)]
struct Gathered {
    files: Vec<NewFile>,
    /// Indexes of the files written, so later days of the run dedup against them too.
    indexes: Vec<FileIndex>,
    inputs: Vec<String>,
    rejected: Vec<String>,
    completeness: Completeness,
    links: Vec<(String, String)>,
}

impl<S: ObjectStore> Compaction<'_, S> {
    /// Appends the new raw objects of `days` to `table`.
    pub(super) async fn append(
        &self,
        table: &'static Table,
        days: &Days,
    ) -> Result<(AppendReport, Vec<Day>)> {
        let started = Instant::now();
        let mut plan = AppendPlan::build(
            self.store,
            table,
            &self.cfg.table_settings(),
            days,
            self.cfg.max_run_bytes,
        )
        .await?;
        let mut report = AppendReport {
            table: table.name,
            outcome: Outcome::NothingToDo,
            version: None,
            run: RunReport {
                run: plan.run,
                ..RunReport::default()
            },
            unreadable: Vec::new(),
            leftovers_deleted: 0,
        };
        if !plan.leftovers.is_empty() {
            tracing::info!(
                message = "Deleting raw objects the last commit covers.",
                table = table.name,
                objects = plan.leftovers.len()
            );
            self.store.delete(&plan.leftovers).await?;
            report.leftovers_deleted = plan.leftovers.len() as u64;
        }
        let deferred = std::mem::take(&mut plan.deferred);
        if plan.is_empty() {
            return Ok((report, deferred));
        }
        // The erasure version is read before the requests: a request recorded after this read
        // is applied by a commit that makes this run's commit conflict (see `TableChange`).
        let erasure_seen = AppTxn {
            app_id: ERASURE_APP_ID,
            version: plan.lake.app_version(ERASURE_APP_ID).await?.unwrap_or(-1),
        };
        let (erase, _) =
            erasure::active_filter(self.store, self.now, self.cfg.erasure_filter_days).await?;
        let erase = Arc::new(erase);
        let run_id = new_run_id();
        report.run.run_id = run_id.clone();
        let scratch = Scratch::create(
            self.cfg
                .scratch_dir
                .join(format!("{}-r{}-{run_id}", table.name, plan.run)),
        )?;
        let mut uploads = Uploads::new(self.store, table, &scratch.0);
        let gathered = match self
            .gather(&plan, &scratch, &erase, &mut uploads, &mut report, started)
            .await
        {
            Ok(g) => g,
            Err(LakeError::ObjectMissing { key }) => {
                // Another run committed these objects and deleted them while this one read.
                tracing::info!(
                    message = "A raw object vanished while it was read: another run committed it.",
                    table = table.name,
                    key
                );
                uploads.discard().await?;
                report.outcome = Outcome::LostRace;
                return Ok((report, deferred));
            }
            Err(e) => {
                // Best effort: the error that stopped the run is the one to report.
                let _ = uploads.discard().await;
                return Err(e);
            }
        };
        let run = &mut report.run;
        run.set_delivery(gathered.completeness.totals());
        run.files_out = gathered.files.len() as u64;
        run.bytes_out = gathered.files.iter().map(|f| f.size).sum();
        run.duration_ms = started.elapsed().as_millis() as u64;
        let info = append_info(
            plan.run,
            &gathered.inputs,
            &gathered.rejected,
            serde_json::to_value(&*run).unwrap_or_default(),
        );
        // Before the commit: once it is made, the erased rows that carried the links are gone.
        erasure::record_links(self.store, self.now, &run_id, gathered.links).await?;
        let change = TableChange::Append {
            files: gathered.files,
            app_id: APP_ID,
            app_version: plan.run,
            unchanged: Some(erasure_seen),
        };
        // An error here leaves the uploads alone: the commit may have happened. If it did not,
        // they are files no version lists, which vacuum deletes once they are old enough.
        match plan.lake.commit(change, &run_id, info, self.now).await? {
            CommitOutcome::Committed { version } => {
                report.outcome = Outcome::Committed;
                report.version = Some(version);
                // The commit is durable: only now may the raw inputs go.
                self.store.delete(&gathered.inputs).await?;
                tracing::info!(
                    message = "Run committed.",
                    table = table.name,
                    run = plan.run,
                    version,
                    rows = report.run.rows_out,
                    duplicates = report.run.duplicates_dropped + report.run.already_committed,
                    duration_ms = report.run.duration_ms
                );
            }
            CommitOutcome::Conflict { reason } => {
                tracing::info!(
                    message = "Another run committed first; removing this run's files.",
                    table = table.name,
                    run = plan.run,
                    reason
                );
                uploads.discard().await?;
                report.outcome = Outcome::LostRace;
            }
        }
        Ok((report, deferred))
    }

    /// Reads, dedups, writes and uploads every day of the plan.
    async fn gather(
        &self,
        plan: &AppendPlan,
        scratch: &Scratch,
        erase: &Arc<ErasureFilter>,
        uploads: &mut Uploads<'_, S>,
        report: &mut AppendReport,
        started: Instant,
    ) -> Result<Gathered> {
        let table = plan.table;
        let active = plan.lake.files()?;
        let mut out = Gathered::default();
        for input in &plan.days {
            let day = input.day;
            let partitions = Arc::new(Mutex::new(Partitions::new(
                &scratch.0,
                &format!("p{day}"),
                table,
                day.start_millis(),
                self.cfg.partition_buffer(),
            )));
            let read_started = Instant::now();
            let read = read_day(
                self.store,
                table,
                input,
                Sink {
                    scratch: &scratch.0,
                    partitions: &partitions,
                    erase,
                },
                self.cfg.read_concurrency,
                &mut report.run,
            )
            .await?;
            out.links.extend(read.links);
            let window: Vec<DataFile> = active
                .iter()
                .filter(|f| {
                    f.day
                        .is_some_and(|d| d.days_until(day).abs() <= self.cfg.dedup_window_days())
                })
                .cloned()
                .collect();
            // The run's keys (16 bytes an event) are freed before the sort needs the memory.
            let keys = lock(&partitions).keys();
            let committed =
                probe(self.store, table, &keys, &window, &out.indexes, &scratch.0).await?;
            drop(keys);
            report.run.read_ms += read_started.elapsed().as_millis() as u64;

            let write_started = Instant::now();
            let stem = append_stem(plan.run, &report.run.run_id, day);
            let written = sort_and_write(
                table, partitions, &scratch.0, stem, self.cfg, &read.skip, committed,
            )
            .await?;
            report.run.write_ms += write_started.elapsed().as_millis() as u64;
            report.run.duplicates_dropped += written.counts.duplicates;
            report.run.already_committed += written.counts.already_committed;
            out.completeness.merge(written.completeness);
            // Moved, not cloned: a day's index is 16 bytes a row, and the peak RSS of the
            // benchmark day came at this point.
            for part in written.parts {
                report.run.rows_out += part.stats.rows();
                out.files.push(uploads.part(day, &part).await?);
                out.indexes.push(part.index);
            }
            for (object, lines) in &read.rejected {
                out.rejected.push(uploads.rejected(object, lines).await?);
            }
            out.inputs.extend(read.inputs);
            report.unreadable.extend(read.unreadable);
            report.run.days.push(day.to_string());
            tracing::debug!(
                message = "Day read and written.",
                table = table.name,
                day = %day,
                elapsed_ms = started.elapsed().as_millis() as u64
            );
        }
        Ok(out)
    }
}
