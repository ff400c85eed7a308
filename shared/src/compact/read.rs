//! Step 2: the plan's raw objects downloaded and parsed into hash partitions, with bounded
//! concurrency (downloads are async, parsing runs on blocking threads), and the event ids of the
//! day's committed parts added to the same partitions so late copies can be dropped.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::partition::{Batch, Partitions};
use super::plan::CompactionPlan;
use crate::lake::commit::{InputEntry, Manifest, RunReport, Unreadable};
use crate::lake::parquet::scan_string_column;
use crate::lake::raw::{ndjson_reader, trim_line_ending};
use crate::lake::store::{ObjectMeta, ObjectStore};
use crate::lake::{LakeError, Result, Table};

const MIB: usize = 1024 * 1024;

/// Rejected lines kept per object; the rest are counted. A broken producer must not turn the
/// rejected-lines file into a second copy of the day.
const REJECTED_KEPT_PER_OBJECT: usize = 100;
/// Rejected lines kept per run (about 40 MiB at most); the count in the report is complete.
const REJECTED_KEPT_PER_RUN: usize = 10_000;
/// Characters of a rejected line kept.
const REJECTED_TEXT_CHARS: usize = 4096;

/// A line of a readable object that did not become a row, kept for inspection.
#[derive(Debug, Serialize)]
pub struct RejectedLine {
    pub object: String,
    pub line: u64,
    pub error: String,
    pub text: String,
}

/// What reading one raw object gave.
struct ObjectRead {
    uncompressed: u64,
    rows: u64,
    rejected: Vec<RejectedLine>,
    rejected_total: u64,
    error: Option<String>,
}

/// What reading all of a plan's objects gave.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// Objects read to the end: the commit lists them, and they are deleted after it.
    pub inputs: Vec<InputEntry>,
    /// Objects that could not be read to the end, left in place.
    pub unreadable: Vec<Unreadable>,
    /// Object numbers (positions in the plan) whose rows must be dropped.
    pub skip: HashSet<u32>,
    pub rejected: Vec<RejectedLine>,
}

pub(super) fn lock(p: &Mutex<Partitions>) -> MutexGuard<'_, Partitions> {
    match p.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Reads every new object of `plan` into `partitions`, adding the figures to `run`.
pub async fn read_objects<S: ObjectStore>(
    store: &S,
    plan: &CompactionPlan,
    scratch: &Path,
    partitions: &Arc<Mutex<Partitions>>,
    concurrency: usize,
    run: &mut RunReport,
) -> Result<ReadOutcome> {
    let table = plan.table;
    // Owned items: a closure over borrowed ones makes the future not `Send` (rustc #110338).
    let reads: Vec<ObjectRead> = stream::iter(plan.new_objects.iter().cloned().enumerate())
        .map(|(i, o)| read_one(store, table, i, o, scratch, partitions.clone()))
        .buffered(concurrency)
        .try_collect()
        .await?;
    let mut out = ReadOutcome::default();
    for (i, (o, r)) in plan.new_objects.iter().zip(reads).enumerate() {
        run.uncompressed_bytes_in += r.uncompressed;
        if let Some(error) = r.error {
            tracing::warn!(
                message = "Raw object left in place: it cannot be read to the end.",
                table = table.name,
                day = %plan.day,
                key = o.key,
                error
            );
            out.skip.insert(i as u32);
            out.unreadable.push(Unreadable {
                key: o.key.clone(),
                size: o.size,
                error,
            });
            continue;
        }
        run.objects_in += 1;
        run.bytes_in += o.size;
        run.events_in += r.rows;
        run.rejected_lines += r.rejected_total;
        let room = REJECTED_KEPT_PER_RUN.saturating_sub(out.rejected.len());
        out.rejected.extend(r.rejected.into_iter().take(room));
        out.inputs.push(InputEntry {
            key: o.key.clone(),
            size: o.size,
        });
    }
    run.unreadable_objects = out.unreadable.len() as u64;
    if run.rejected_lines > 0 {
        tracing::warn!(
            message = "Lines that are not records were kept aside.",
            table = table.name,
            day = %plan.day,
            lines = run.rejected_lines
        );
    }
    Ok(out)
}

async fn read_one<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    i: usize,
    o: ObjectMeta,
    scratch: &Path,
    partitions: Arc<Mutex<Partitions>>,
) -> Result<ObjectRead> {
    let local = scratch.join(format!("raw-{i}"));
    let path = store.fetch(&o.key, &local).await?;
    let read_path = path.clone();
    let read = tokio::task::spawn_blocking(move || {
        read_object(table, &o.key, &read_path, i as u32, &partitions)
    })
    .await
    .map_err(|source| LakeError::Task {
        what: "reading a raw object",
        source,
    })?;
    if path == local {
        let _ = std::fs::remove_file(&local);
    }
    Ok(read)
}

/// Reads one raw object's lines into the partitions (blocking: decompression and parsing).
fn read_object(
    table: &'static Table,
    key: &str,
    path: &Path,
    object: u32,
    partitions: &Mutex<Partitions>,
) -> ObjectRead {
    let mut out = ObjectRead {
        uncompressed: 0,
        rows: 0,
        rejected: Vec::new(),
        rejected_total: 0,
        error: None,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.error = Some(format!("cannot open: {e}"));
            return out;
        }
    };
    let (mut lines, gzip) = ndjson_reader(file);
    let mut line = Vec::with_capacity(4096);
    let mut batch = Batch::new(object);
    let mut n = 0u64;
    let flush = |batch: &mut Batch| lock(partitions).absorb(batch);
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(len) => out.uncompressed += len as u64,
            Err(e) => {
                let what = if gzip { "gzip stream" } else { "object" };
                out.error = Some(format!(
                    "{what} unreadable after {} bytes ({n} lines): {e}",
                    out.uncompressed
                ));
                return out;
            }
        }
        n += 1;
        let text = trim_line_ending(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut error = None;
        let pushed = batch.push_row(table, |buf| match table.parse_line(text, buf) {
            Ok(()) => true,
            Err(e) => {
                error = Some(e.0);
                false
            }
        });
        if pushed {
            out.rows += 1;
        } else if let Some(error) = error {
            out.rejected_total += 1;
            if out.rejected.len() < REJECTED_KEPT_PER_OBJECT {
                out.rejected.push(RejectedLine {
                    object: key.to_string(),
                    line: n,
                    error,
                    text: String::from_utf8_lossy(text)
                        .chars()
                        .take(REJECTED_TEXT_CHARS)
                        .collect(),
                });
            }
        }
        if batch.len_bytes() >= MIB {
            if let Err(e) = flush(&mut batch) {
                out.error = Some(format!("spilling to local disk: {e}"));
                return out;
            }
        }
    }
    if let Err(e) = flush(&mut batch) {
        out.error = Some(format!("spilling to local disk: {e}"));
    }
    out
}

/// Late objects: the event ids of the day's committed parts go into the same partitions, so
/// that dedup drops the late copies of events the lake already has.
pub async fn add_committed_ids<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    manifest: &Manifest,
    scratch: &Path,
    partitions: &Arc<Mutex<Partitions>>,
) -> Result<()> {
    for (i, part) in manifest.parts.iter().enumerate() {
        let local = scratch.join(format!("committed-{i}.parquet"));
        let path = store.fetch(&part.key, &local).await?;
        let partitions = partitions.clone();
        let key_column = table.key_column;
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut batch = Batch::new(u32::MAX);
            let mut failed = None;
            scan_string_column(&path, key_column, |id| {
                batch.push_committed(id);
                if batch.len_bytes() >= MIB && failed.is_none() {
                    if let Err(e) = lock(&partitions).absorb(&mut batch) {
                        failed = Some(e);
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(LakeError::io(path.display(), e));
            }
            lock(&partitions)
                .absorb(&mut batch)
                .map_err(|e| LakeError::io(path.display(), e))?;
            if path == local {
                let _ = std::fs::remove_file(&local);
            }
            Ok(())
        })
        .await
        .map_err(|source| LakeError::Task {
            what: "reading committed event ids",
            source,
        })??;
    }
    Ok(())
}
