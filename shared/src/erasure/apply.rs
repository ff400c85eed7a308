//! The erasure job: link, rewrite, delete stale copies, scrub, verify, report (see the module
//! docs of [`super`]).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::filter::ErasureFilter;
use super::report::{DayErasure, ErasureRunReport, RawErasure, RequestReport, TableErasure};
use super::request::{
    load_links, load_requests, report_key, save_request, to_json, ErasureRequest, RequestStatus,
};
use super::{Erasure, ERASURE_APP_ID};
use crate::compact::commit::Uploads;
use crate::compact::optimize::DayRewrite;
use crate::compact::{Compaction, Scratch};
use crate::lake::delta::{AppTxn, CommitOutcome, DataFile, LakeTable, Rewrite, TableChange};
use crate::lake::index::FileIndex;
use crate::lake::layout::{erase_stem, index_path, new_run_id, raw_prefix, table_key};
use crate::lake::parquet::read_rows;
use crate::lake::raw::ndjson_reader;
use crate::lake::store::ObjectStore;
use crate::lake::table::PersonSource;
use crate::lake::{Day, LakeError, Result, Table, TABLES};
use crate::timestamp::format_rfc3339;

/// Passes over a table before the job gives up for this run (each pass after the first means a
/// concurrent writer committed in between); the request stays open and the next run goes on.
const MAX_PASSES: u64 = 4;

/// What reading one data file for the people gave.
#[derive(Default)]
struct FileScan {
    rows: u64,
    links: Vec<(String, String)>,
}

impl<S: ObjectStore> Erasure<'_, S> {
    fn compaction(&self) -> Compaction<'_, S> {
        Compaction::new(self.store, self.cfg, self.now)
    }

    /// Carries out every open request (and links compaction found since the last run) in one
    /// pass per table, verifies, writes each request's report and marks the verified ones done.
    pub async fn apply(&self) -> Result<ErasureRunReport> {
        let started = Instant::now();
        let mut open: Vec<ErasureRequest> = load_requests(self.store)
            .await?
            .into_iter()
            .filter(|r| r.status == RequestStatus::Open)
            .collect();
        let links = load_links(self.store).await?;
        let mut report = ErasureRunReport {
            at: format_rfc3339(self.now),
            requests: open.iter().map(|r| r.id.clone()).collect(),
            ..ErasureRunReport::default()
        };
        let pending_links: Vec<&String> = links
            .iter()
            .filter(|(_, l)| !l.applied)
            .map(|(k, _)| k)
            .collect();
        if open.is_empty() && pending_links.is_empty() {
            return Ok(report);
        }
        let run_id = new_run_id();
        let scratch = Scratch::create(self.cfg.scratch_dir.join(format!("erase-{run_id}")))?;

        // The people: every open request's, and every anonymous id linked to an erased user.
        let mut filter = ErasureFilter::default();
        for r in &open {
            filter.add_users(r.user_ids.iter().map(String::as_str));
            filter.add_anonymous(
                r.anonymous_ids
                    .iter()
                    .chain(&r.linked_anonymous_ids)
                    .map(String::as_str),
            );
        }
        let mut pairs: Vec<(String, String)> = links
            .iter()
            .flat_map(|(_, l)| l.pairs.iter().cloned())
            .collect();
        for table in TABLES {
            pairs.extend(self.find_links(table, &filter, &scratch.0).await?);
        }
        filter.add_anonymous(pairs.iter().map(|(_, a)| a.as_str()));
        let linked: HashSet<&str> = pairs.iter().map(|(_, a)| a.as_str()).collect();
        report.linked_anonymous_ids = linked.len() as u64;
        // Recorded with the requests before anything is erased: a re-run erases them too.
        for r in &mut open {
            let mut changed = false;
            for (user, anonymous) in &pairs {
                if r.user_ids.contains(user) && !r.linked_anonymous_ids.contains(anonymous) {
                    r.linked_anonymous_ids.push(anonymous.clone());
                    changed = true;
                }
            }
            if changed {
                r.linked_anonymous_ids.sort();
                save_request(self.store, r).await?;
            }
        }

        let filter = Arc::new(filter);
        let predicate = format!(
            "rows of the people of erasure requests {}",
            report.requests.join(", ")
        );
        for table in TABLES {
            report.tables.push(
                self.erase_table(table, &filter, &predicate, &scratch.0)
                    .await?,
            );
        }
        report.raw = self.erase_raw(&filter, &scratch.0).await?;
        report.verified =
            report.tables.iter().all(|t| t.rows_remaining == 0) && report.raw.objects_holding == 0;
        report.duration_ms = started.elapsed().as_millis() as u64;
        self.finish(&mut open, &mut report).await?;
        if report.verified {
            for (key, l) in &links {
                if !l.applied {
                    let mut l = l.clone();
                    l.applied = true;
                    self.store.put_small(key, to_json(&l), None).await?;
                }
            }
        }
        tracing::info!(
            message = "Erasure job ran.",
            requests = report.requests.len(),
            rows_removed = report.rows_removed(),
            bytes_rewritten = report.bytes_rewritten(),
            verified = report.verified,
            done = report.done.len(),
            duration_ms = report.duration_ms
        );
        Ok(report)
    }

    /// Writes each request's report (the runs accumulate), then marks the verified ones done,
    /// and works out what is overdue.
    async fn finish(
        &self,
        open: &mut [ErasureRequest],
        report: &mut ErasureRunReport,
    ) -> Result<()> {
        for r in open.iter_mut() {
            if report.verified {
                r.status = RequestStatus::Done;
                r.done_at = Some(format_rfc3339(self.now));
                report.done.push(r.id.clone());
            }
        }
        let still_open: Vec<&ErasureRequest> = open
            .iter()
            .filter(|r| r.status == RequestStatus::Open)
            .collect();
        report.oldest_open_days = still_open
            .iter()
            .map(|r| r.age_days(self.now))
            .max()
            .unwrap_or(0);
        report.overdue = still_open
            .iter()
            .filter(|r| r.age_days(self.now) >= self.cfg.erasure_alarm_days)
            .map(|r| r.id.clone())
            .collect();
        for r in open.iter() {
            let key = report_key(&r.id);
            let mut kept = match self.store.get_small(&key).await? {
                Some((body, _)) => serde_json::from_slice::<RequestReport>(&body).map_err(|e| {
                    LakeError::Corrupt {
                        what: key.clone(),
                        message: e.to_string(),
                    }
                })?,
                None => RequestReport::new(r),
            };
            kept.status = r.status;
            kept.done_at = r.done_at.clone();
            kept.runs.push(report.clone());
            // The report first: a request is never done without its proof.
            self.store.put_small(&key, to_json(&kept), None).await?;
            if r.status == RequestStatus::Done {
                save_request(self.store, r).await?;
            }
        }
        Ok(())
    }

    /// The `(user_id, anonymous_id)` links in the table's rows of erased users.
    async fn find_links(
        &self,
        table: &'static Table,
        filter: &ErasureFilter,
        scratch: &Path,
    ) -> Result<Vec<(String, String)>> {
        let lake = self.compaction().open(table).await?;
        let mut out = Vec::new();
        for f in self.candidates(table, &lake.files()?, filter).await? {
            out.extend(self.scan(table, &f.path, filter, scratch).await?.links);
        }
        Ok(out)
    }

    /// The files that may hold the people: for a table that names them in columns, those whose
    /// index holds one of them (or that have no index); for quarantine every file, since a
    /// rejected event can carry an id anywhere in its raw text.
    async fn candidates(
        &self,
        table: &'static Table,
        files: &[DataFile],
        filter: &ErasureFilter,
    ) -> Result<Vec<DataFile>> {
        if self.every_file || matches!(table.persons, PersonSource::RawJson(_)) {
            return Ok(files.to_vec());
        }
        let mut out = Vec::new();
        for f in files {
            if self
                .index_holds(table, &f.path, filter)
                .await?
                .unwrap_or(true)
            {
                out.push(f.clone());
            }
        }
        Ok(out)
    }

    /// Whether the index of a data file holds one of the people; `None` when it has none.
    async fn index_holds(
        &self,
        table: &'static Table,
        path: &str,
        filter: &ErasureFilter,
    ) -> Result<Option<bool>> {
        let key = table_key(table, &index_path(path));
        Ok(match self.store.get_small(&key).await? {
            Some((body, _)) => Some(filter.in_index(&FileIndex::decode(&body, &key)?)),
            None => None,
        })
    }

    /// Reads a data file: how many rows belong to the people, and the links in it.
    async fn scan(
        &self,
        table: &'static Table,
        path: &str,
        filter: &ErasureFilter,
        scratch: &Path,
    ) -> Result<FileScan> {
        let local = scratch.join("scan.parquet");
        let fetched = self.store.fetch(&table_key(table, path), &local).await?;
        let mut out = FileScan::default();
        read_rows(&fetched, table, |row| {
            if filter.matches(table, &row) {
                out.rows += 1;
                out.links.extend(filter.link(table, &row));
            }
        })?;
        if fetched == local {
            let _ = std::fs::remove_file(&local);
        }
        Ok(out)
    }

    /// The files of the table's current version that hold rows of the people, by day.
    async fn holding_by_day(
        &self,
        table: &'static Table,
        lake: &LakeTable,
        filter: &ErasureFilter,
        scratch: &Path,
    ) -> Result<BTreeMap<Day, Vec<DataFile>>> {
        let mut days: BTreeMap<Day, Vec<DataFile>> = BTreeMap::new();
        for f in self.candidates(table, &lake.files()?, filter).await? {
            // An index hit is exact (128-bit hashes); files without one, and quarantine's, are read.
            let indexed = match table.persons {
                PersonSource::Columns { .. } => {
                    self.index_holds(table, &f.path, filter).await?.is_some()
                }
                PersonSource::RawJson(_) => false,
            };
            let holds = self.every_file
                || indexed
                || self.scan(table, &f.path, filter, scratch).await?.rows > 0;
            if let (true, Some(day)) = (holds, f.day) {
                days.entry(day).or_default().push(f);
            }
        }
        Ok(days)
    }

    /// Rewrites the table's days that hold the people, deletes its stale copies, verifies.
    async fn erase_table(
        &self,
        table: &'static Table,
        filter: &Arc<ErasureFilter>,
        predicate: &str,
        scratch: &Path,
    ) -> Result<TableErasure> {
        let mut out = TableErasure {
            table: table.name.to_string(),
            ..TableErasure::default()
        };
        let compaction = self.compaction();
        while out.passes < MAX_PASSES {
            out.passes += 1;
            let mut lake = compaction.open(table).await?;
            if out.passes == 1 {
                out.files_in_table = lake.files()?.len() as u64;
            }
            let days = self.holding_by_day(table, &lake, filter, scratch).await?;
            let mut next = lake.app_version(ERASURE_APP_ID).await?.unwrap_or(-1) + 1;
            let mut conflict = false;
            if days.is_empty() {
                // Nothing to rewrite, but the erasure version still moves: an append that read
                // its requests before this job must not commit (see the module docs).
                let change = TableChange::Rewrite {
                    remove: Vec::new(),
                    add: Vec::new(),
                    kind: Rewrite::Delete {
                        predicate: predicate.to_string(),
                    },
                    txn: Some(AppTxn {
                        app_id: ERASURE_APP_ID,
                        version: next,
                    }),
                };
                let info = serde_json::json!({"kind": "erase", "at": self.now, "rows_removed": 0});
                conflict = matches!(
                    lake.commit(change, &new_run_id(), info, self.now).await?,
                    CommitOutcome::Conflict { .. }
                );
            }
            for (day, files) in days {
                match self
                    .erase_day(
                        &compaction,
                        &mut lake,
                        (day, &files),
                        filter,
                        predicate,
                        next,
                    )
                    .await?
                {
                    Some(d) => {
                        out.days.push(d);
                        next += 1;
                    }
                    None => {
                        conflict = true;
                        break;
                    }
                }
            }
            lake.refresh().await?;
            let (stale, versions) = self.delete_stale(table, &lake, filter, scratch).await?;
            out.stale_files_deleted += stale;
            out.versions_purged += versions;
            out.rows_remaining = self.rows_remaining(table, filter, scratch).await?;
            if !conflict && out.rows_remaining == 0 {
                break;
            }
            tracing::info!(
                message = "A concurrent commit changed the table during erasure; going again.",
                table = table.name,
                pass = out.passes,
                rows_remaining = out.rows_remaining
            );
        }
        Ok(out)
    }

    /// One day's files rewritten without the people's rows and committed; `None` when a
    /// concurrent commit got in the way (the pass starts again).
    async fn erase_day(
        &self,
        compaction: &Compaction<'_, S>,
        lake: &mut LakeTable,
        (day, files): (Day, &[DataFile]),
        filter: &Arc<ErasureFilter>,
        predicate: &str,
        version: i64,
    ) -> Result<Option<DayErasure>> {
        let table = lake.table();
        let run_id = new_run_id();
        let scratch = Scratch::create(
            self.cfg
                .scratch_dir
                .join(format!("{}-erase-{day}-{run_id}", table.name)),
        )?;
        let mut uploads = Uploads::new(self.store, table, &scratch.0);
        let rewritten = compaction
            .rewrite(
                table,
                DayRewrite {
                    day,
                    files,
                    stem: erase_stem(&run_id, day),
                    erase: Some(filter.clone()),
                },
                &scratch,
                &mut uploads,
            )
            .await;
        let rewritten = match rewritten {
            Ok(r) => r,
            Err(e) => {
                let _ = uploads.discard().await;
                return Err(e);
            }
        };
        let mut d = DayErasure {
            date: day.to_string(),
            rows_removed: rewritten.erased,
            files_rewritten: files.len() as u64,
            bytes_rewritten: files.iter().map(|f| f.size).sum(),
            files_added: rewritten.files.len() as u64,
            bytes_added: rewritten.files.iter().map(|(f, _)| f.size).sum(),
            version: -1,
        };
        let change = TableChange::Rewrite {
            remove: files.to_vec(),
            add: rewritten.files.into_iter().map(|(f, _)| f).collect(),
            kind: Rewrite::Delete {
                predicate: format!("dt = '{day}' and {predicate}"),
            },
            txn: Some(AppTxn {
                app_id: ERASURE_APP_ID,
                version,
            }),
        };
        // The log says what and how much, never whose: no id goes into it.
        let info = serde_json::json!({
            "kind": "erase",
            "date": day.to_string(),
            "at": self.now,
            "rows_removed": d.rows_removed,
        });
        match lake.commit(change, &run_id, info, self.now).await? {
            CommitOutcome::Committed { version } => {
                d.version = version;
                tracing::info!(
                    message = "Day rewritten without the erased rows.",
                    table = table.name,
                    day = %day,
                    version,
                    rows_removed = d.rows_removed,
                    files_rewritten = d.files_rewritten
                );
                Ok(Some(d))
            }
            CommitOutcome::Conflict { reason } => {
                tracing::info!(
                    message = "A concurrent commit changed the day; erasing it again.",
                    table = table.name,
                    day = %day,
                    reason
                );
                uploads.discard().await?;
                Ok(None)
            }
        }
    }

    /// Deletes the data files of the table that no current version lists and that hold the
    /// people, with their indexes and noncurrent versions. Files of a run still in progress
    /// may be among them: such a run read its requests before this job and cannot commit (it
    /// conflicts on the erasure version, or on the files this job removed).
    async fn delete_stale(
        &self,
        table: &'static Table,
        lake: &LakeTable,
        filter: &ErasureFilter,
        scratch: &Path,
    ) -> Result<(u64, u64)> {
        let active: HashSet<String> = lake.files()?.into_iter().map(|f| f.path).collect();
        let root = format!("lake/{}/", table.name);
        let mut doomed = Vec::new();
        for o in self.store.list(&root).await? {
            let rel = &o.key[root.len()..];
            if rel.starts_with('_') || !rel.ends_with(".parquet") || active.contains(rel) {
                continue;
            }
            let holds = match (table.persons, self.index_holds(table, rel, filter).await?) {
                (PersonSource::Columns { .. }, Some(hit)) => hit,
                _ => match self.scan(table, rel, filter, scratch).await {
                    Ok(s) => s.rows > 0,
                    // Deleted meanwhile (a losing run cleaning up, a vacuum).
                    Err(LakeError::ObjectMissing { .. }) => false,
                    Err(e) => return Err(e),
                },
            };
            if holds {
                doomed.push(o.key.clone());
                doomed.push(table_key(table, &index_path(rel)));
            }
        }
        self.store.delete(&doomed).await?;
        let mut versions = 0;
        for key in &doomed {
            versions += self.store.purge_noncurrent(key).await?;
        }
        Ok(((doomed.len() / 2) as u64, versions))
    }

    /// Verification: the rows of the people in the table's current version, read back.
    async fn rows_remaining(
        &self,
        table: &'static Table,
        filter: &ErasureFilter,
        scratch: &Path,
    ) -> Result<u64> {
        let lake = self.compaction().open(table).await?;
        let mut rows = 0;
        for f in self.candidates(table, &lake.files()?, filter).await? {
            rows += self.scan(table, &f.path, filter, scratch).await?.rows;
        }
        Ok(rows)
    }

    /// Raw objects still waiting (checked, and their noncurrent versions purged) and the
    /// rejected lines kept beside the tables (scrubbed).
    async fn erase_raw(&self, filter: &ErasureFilter, scratch: &Path) -> Result<RawErasure> {
        let mut out = RawErasure::default();
        for table in TABLES {
            let prefix = raw_prefix(table);
            for o in self.store.list(&prefix).await? {
                out.objects_scanned += 1;
                let local = scratch.join("raw");
                let path = match self.store.fetch(&o.key, &local).await {
                    Ok(p) => p,
                    // Compacted and deleted by a concurrent run.
                    Err(LakeError::ObjectMissing { .. }) => continue,
                    Err(e) => return Err(e),
                };
                if object_holds(&path, filter)? {
                    out.objects_holding += 1;
                    tracing::warn!(
                        message = "A raw object not yet compacted holds erased ids; the next compaction run drops them.",
                        key = o.key
                    );
                }
                if path == local {
                    let _ = std::fs::remove_file(&local);
                }
            }
            out.versions_purged += self.store.purge_noncurrent(&prefix).await?;
            let rejected = format!("rejected/{}/", table.name);
            for o in self.store.list(&rejected).await? {
                let Some((body, _)) = self.store.get_small(&o.key).await? else {
                    continue;
                };
                let kept: Vec<&[u8]> = body
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .filter(|l| !filter.in_text(l))
                    .collect();
                let removed = body
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count()
                    - kept.len();
                if removed == 0 {
                    continue;
                }
                out.rejected_lines_removed += removed as u64;
                if kept.is_empty() {
                    self.store.delete(std::slice::from_ref(&o.key)).await?;
                } else {
                    let mut text = kept.join(&b'\n');
                    text.push(b'\n');
                    self.store.put_small(&o.key, text, None).await?;
                }
                out.versions_purged += self.store.purge_noncurrent(&o.key).await?;
            }
        }
        Ok(out)
    }
}

/// Whether a raw object (gzip or plain NDJSON) names one of the people.
fn object_holds(path: &Path, filter: &ErasureFilter) -> Result<bool> {
    let file = std::fs::File::open(path).map_err(|e| LakeError::io(path.display(), e))?;
    let (mut lines, _) = ndjson_reader(file);
    loop {
        match lines.next_line() {
            Ok(None) => return Ok(false),
            Ok(Some(line)) if filter.in_text(line) => return Ok(true),
            Ok(Some(_)) => {}
            // An unreadable object is moved aside by compaction; what it holds cannot be read.
            Err(_) => return Ok(false),
        }
    }
}
