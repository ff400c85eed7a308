//! Optimize: once a day is closed, its files (one or more per 15-minute run) are rewritten into a
//! few large ones sorted by `event_type`, `timestamp`, in one commit that removes the old files
//! and adds the new ones without changing data (`dataChange=false`). Readers of older versions
//! keep working until vacuum deletes the old files after the retention period. For the events
//! table it also measures the day's delivery completeness over all its events and the day's
//! quarantined ones.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::commit::Uploads;
use super::completeness::Completeness;
use super::partition::{lock, Partitions};
use super::report::{OptimizeOutcome, OptimizeReport};
use super::write::sort_and_write;
use super::{Compaction, Scratch};
use crate::erasure::ErasureFilter;
use crate::lake::delta::{CommitOutcome, DataFile, LakeTable, NewFile, Rewrite, TableChange};
use crate::lake::layout::{new_run_id, optimize_stem, table_key};
use crate::lake::parquet::read_rows;
use crate::lake::store::ObjectStore;
use crate::lake::{Day, LakeError, Result, Table, QUARANTINE};
use crate::record::cells::Cell;
use crate::record::QuarantineColumn;

const MIB: usize = 1024 * 1024;

/// The files of one day to rewrite as one.
pub(crate) struct DayRewrite<'a> {
    pub day: Day,
    pub files: &'a [DataFile],
    /// Names of the new parts: `<stem>-NNNN.parquet`.
    pub stem: String,
    /// Rows of these people are left out (erasure); `None` keeps every row (optimize).
    pub erase: Option<Arc<ErasureFilter>>,
}

/// What a rewrite uploaded.
pub(crate) struct Rewritten {
    /// The new files with their row counts.
    pub files: Vec<(NewFile, u64)>,
    pub completeness: Completeness,
    /// Rows left out.
    pub erased: u64,
}

impl<S: ObjectStore> Compaction<'_, S> {
    /// The days of `table` before `before` (within the look-back) that have more files than
    /// their size needs: what the schedule optimizes.
    pub(super) async fn days_to_optimize(
        &self,
        table: &'static Table,
        before: Day,
    ) -> Result<Vec<Day>> {
        let lake = self.open(table).await?;
        let mut per_day: std::collections::BTreeMap<Day, (u64, u64)> = Default::default();
        for f in lake.files()? {
            if let Some(day) = f.day {
                let e = per_day.entry(day).or_default();
                e.0 += 1;
                e.1 += f.size;
            }
        }
        let target = self.cfg.target_file_bytes.max(1);
        Ok(per_day
            .into_iter()
            .filter(|(day, (files, bytes))| {
                *day < before
                    && day.days_until(before) <= self.cfg.optimize_lookback_days
                    && *files > bytes.div_ceil(target).max(1)
            })
            .map(|(day, _)| day)
            .collect())
    }

    pub(crate) async fn open(&self, table: &'static Table) -> Result<LakeTable> {
        LakeTable::open(
            &self.store.table_location(table)?,
            table,
            &self.cfg.table_settings(),
        )
        .await
    }

    /// Rewrites the files of `day` into as few as its size needs.
    pub async fn optimize_day(&self, table: &'static Table, day: Day) -> Result<OptimizeReport> {
        let started = Instant::now();
        let mut lake = self.open(table).await?;
        let files: Vec<DataFile> = lake
            .files()?
            .into_iter()
            .filter(|f| f.day == Some(day))
            .collect();
        let bytes_before: u64 = files.iter().map(|f| f.size).sum();
        let mut report = OptimizeReport {
            table: table.name,
            date: day.to_string(),
            outcome: OptimizeOutcome::NothingToDo,
            version: None,
            files_removed: 0,
            files_added: 0,
            rows: 0,
            bytes_before,
            bytes_after: bytes_before,
            duration_ms: 0,
            completeness_percent: None,
            delivery: None,
        };
        if files.len() as u64
            <= bytes_before
                .div_ceil(self.cfg.target_file_bytes.max(1))
                .max(1)
        {
            return Ok(report);
        }
        let run_id = new_run_id();
        let scratch = Scratch::create(
            self.cfg
                .scratch_dir
                .join(format!("{}-optimize-{day}-{run_id}", table.name)),
        )?;
        let mut uploads = Uploads::new(self.store, table, &scratch.0);
        let rewritten = self
            .rewrite(
                table,
                DayRewrite {
                    day,
                    files: &files,
                    stem: optimize_stem(&run_id, day),
                    erase: None,
                },
                &scratch,
                &mut uploads,
            )
            .await;
        let Rewritten {
            files: new_files,
            mut completeness,
            ..
        } = match rewritten {
            Ok(r) => r,
            Err(e) => {
                let _ = uploads.discard().await;
                return Err(e);
            }
        };
        report.rows = new_files.iter().map(|(_, rows)| rows).sum();
        let new_files: Vec<_> = new_files.into_iter().map(|(f, _)| f).collect();
        report.files_added = new_files.len() as u64;
        report.bytes_after = new_files.iter().map(|f| f.size).sum();
        if table.completeness.is_some() {
            self.add_quarantined(day, &scratch, &mut completeness)
                .await?;
            let delivery = completeness.totals();
            report.completeness_percent = delivery.percent();
            report.delivery = Some(delivery);
        }
        let change = TableChange::Rewrite {
            remove: files.clone(),
            add: new_files,
            kind: Rewrite::Optimize {
                day,
                target_size: self.cfg.target_file_bytes,
            },
            txn: None,
        };
        // The day's completeness goes in the log too: readers of the table find it there.
        let info = serde_json::json!({
            "kind": "optimize",
            "date": day.to_string(),
            "at": self.now,
            "completeness_percent": report.completeness_percent,
            "delivery": report.delivery,
        });
        match lake.commit(change, &run_id, info, self.now).await? {
            CommitOutcome::Committed { version } => {
                report.outcome = OptimizeOutcome::Optimized;
                report.version = Some(version);
                report.files_removed = files.len() as u64;
                tracing::info!(
                    message = "Day optimized.",
                    table = table.name,
                    day = %day,
                    files_before = files.len(),
                    files_after = report.files_added,
                    completeness = report.completeness_percent
                );
            }
            CommitOutcome::Conflict { reason } => {
                tracing::info!(
                    message = "A concurrent commit changed the day; the next run optimizes it.",
                    table = table.name,
                    day = %day,
                    reason
                );
                uploads.discard().await?;
                report.outcome = OptimizeOutcome::Conflict;
                report.files_added = 0;
                report.bytes_after = bytes_before;
            }
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Reads the files of a day into partitions (dropping the rows of people being erased),
    /// sorts and writes them, uploads the new parts. Optimize and erasure share it.
    pub(crate) async fn rewrite(
        &self,
        table: &'static Table,
        input: DayRewrite<'_>,
        scratch: &Scratch,
        uploads: &mut Uploads<'_, S>,
    ) -> Result<Rewritten> {
        let DayRewrite {
            day,
            files,
            stem,
            erase,
        } = input;
        let partitions = Arc::new(Mutex::new(Partitions::new(
            &scratch.0,
            "o",
            table,
            day.start_millis(),
            self.cfg.partition_buffer(),
        )));
        let mut erased = 0;
        for (i, f) in files.iter().enumerate() {
            erased += self
                .read_file_into(
                    table,
                    (i as u32, f),
                    &scratch.0.join(format!("in-{i}")),
                    &partitions,
                    erase.clone(),
                )
                .await?;
        }
        let written = sort_and_write(
            table,
            partitions,
            &scratch.0,
            stem,
            self.cfg,
            &Default::default(),
            Vec::new(),
        )
        .await?;
        let mut out = Vec::with_capacity(written.parts.len());
        for part in &written.parts {
            out.push((uploads.part(day, part).await?, part.stats.rows()));
        }
        Ok(Rewritten {
            files: out,
            completeness: written.completeness,
            erased,
        })
    }

    /// Downloads a data file and adds its rows to the partitions, except those `erase`
    /// matches; returns how many it dropped.
    async fn read_file_into(
        &self,
        table: &'static Table,
        (number, file): (u32, &DataFile),
        local: &std::path::Path,
        partitions: &Arc<Mutex<Partitions>>,
        erase: Option<Arc<ErasureFilter>>,
    ) -> Result<u64> {
        let path = self
            .store
            .fetch(&table_key(table, &file.path), local)
            .await?;
        let partitions = partitions.clone();
        let read_path = path.clone();
        let erased = tokio::task::spawn_blocking(move || -> Result<u64> {
            let mut batch = lock(&partitions).batch(number);
            let mut failed = None;
            let mut erased = 0;
            read_rows(&read_path, table, |row| {
                if erase.as_ref().is_some_and(|e| e.matches(table, &row)) {
                    erased += 1;
                    return;
                }
                batch.push_row(table, |buf| {
                    buf.extend_from_slice(row.bytes());
                    true
                });
                if batch.len_bytes() >= MIB && failed.is_none() {
                    failed = Partitions::absorb(&partitions, &mut batch).err();
                }
            })?;
            if let Some(e) = failed {
                return Err(LakeError::io(read_path.display(), e));
            }
            Partitions::absorb(&partitions, &mut batch)
                .map_err(|e| LakeError::io(read_path.display(), e))?;
            Ok(erased)
        })
        .await
        .map_err(|source| LakeError::Task {
            what: "reading a data file",
            source,
        })??;
        if path == local {
            let _ = std::fs::remove_file(local);
        }
        Ok(erased)
    }

    /// Adds the day's quarantined events (their `anonymous_id` and `seq`, from the raw event)
    /// to the completeness: a rejected event was delivered, not lost.
    async fn add_quarantined(
        &self,
        day: Day,
        scratch: &Scratch,
        completeness: &mut Completeness,
    ) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Seq {
            anonymous_id: Option<String>,
            seq: Option<i64>,
        }
        let lake = self.open(&QUARANTINE).await?;
        for (i, f) in lake
            .files()?
            .into_iter()
            .filter(|f| f.day == Some(day))
            .enumerate()
        {
            let local = scratch.0.join(format!("q-{i}"));
            let path = self
                .store
                .fetch(&table_key(&QUARANTINE, &f.path), &local)
                .await?;
            read_rows(&path, &QUARANTINE, |row| {
                if let Cell::Str(raw) = row.cell(QuarantineColumn::Raw.index()) {
                    if let Ok(Seq {
                        anonymous_id: Some(a),
                        seq: Some(s),
                    }) = serde_json::from_slice::<Seq>(raw)
                    {
                        completeness.observe_pair(a.as_bytes(), s);
                    }
                }
            })?;
            if path == local {
                let _ = std::fs::remove_file(&local);
            }
        }
        Ok(())
    }
}
