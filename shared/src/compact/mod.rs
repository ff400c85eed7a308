//! Compaction: a day's raw Firehose objects become deduplicated, sorted Parquet parts, committed
//! by a manifest. The protocol, for one table and one day:
//!
//! 1. Read the manifest (if any) and list the day's raw objects. Objects the manifest already
//!    lists were committed by an earlier run that stopped before deleting them: delete them now.
//! 2. Read the new objects (gzip or plain, by magic bytes), hash-partition their rows on the event
//!    id, add the ids of the committed parts (late objects must not duplicate them), dedup, sort.
//! 3. Write the parts, upload them under names that carry the generation and a run id, and
//!    verify each one as stored: row count and event-id checksum.
//! 4. Write the manifest with `If-None-Match: *` (first commit) or `If-Match: <etag read in 1>`:
//!    the commit point. A run that loses this race deletes its own parts and stops.
//! 5. Delete the raw inputs, then parts of this or older generations that no manifest lists
//!    (left by runs that crashed or lost).
//!
//! A crash anywhere leaves either no commit (the raw objects are all still there; the next run
//! starts over) or a commit whose inputs the next run recognises and deletes. Nothing is deleted
//! that a manifest does not cover.

pub mod manifest;
pub mod parquet_io;
pub mod s3;
pub mod spill;
pub mod store;
pub mod table;

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::telemetry::{names, MetricSet, Unit};
use crate::timestamp::{civil_from_days, days_from_civil, format_rfc3339, EpochMillis};
use crate::{Error, Result};
use manifest::{InputEntry, Manifest, PartEntry, RunReport, Unreadable};
use parquet_io::{scan_string_column, Fingerprint, LocalPart, PartWriter};
use spill::{Batch, Partitions, Sorter};
use store::{ObjectMeta, ObjectStore, Precondition};
use table::Table;

pub use table::{EVENTS, QUARANTINE};

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

/// Both lake tables, in the order a day is compacted.
pub static TABLES: [&Table; 2] = [&EVENTS, &QUARANTINE];

const MIB: usize = 1024 * 1024;

/// A UTC calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Day> {
        let bad = || Error::InvalidRequest(format!("{s:?} is not a date: use YYYY-MM-DD"));
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().map_err(|_| bad());
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let day = Day(days_from_civil(y, m, d));
        // Round-trip: rejects month 13, February 30 and the like.
        if day.ymd() != (y, m, d) {
            return Err(bad());
        }
        Ok(day)
    }

    pub fn from_millis(ms: EpochMillis) -> Day {
        Day(ms.div_euclid(86_400_000))
    }

    fn ymd(self) -> (i64, i64, i64) {
        civil_from_days(self.0)
    }

    pub fn next(self) -> Day {
        Day(self.0 + 1)
    }

    pub fn days_until(self, later: Day) -> i64 {
        later.0 - self.0
    }

    /// Firehose's arrival-time prefix of the day: `raw/<table>/YYYY/MM/DD/`.
    pub fn raw_prefix(self, table: &Table) -> String {
        let (y, m, d) = self.ymd();
        format!("{}{y:04}/{m:02}/{d:02}/", table.raw_prefix())
    }

    /// `lake/<table>/dt=YYYY-MM-DD/`.
    pub fn lake_prefix(self, table: &Table) -> String {
        format!("lake/{}/dt={self}/", table.name)
    }

    /// A day is closed once Firehose can no longer deliver objects under its prefix: its end
    /// plus the buffer interval and a margin (`close_after`).
    pub fn is_closed(self, now: EpochMillis, close_after: Duration) -> bool {
        (self.0 + 1) * 86_400_000 + close_after.as_millis() as i64 <= now
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Compaction settings, from `DRIFTLESS_*` variables.
#[derive(Debug, Clone)]
pub struct CompactConfig {
    /// The working set compaction keeps in memory; larger days spill to `scratch_dir`.
    pub memory_budget: usize,
    /// Parts are closed once they reach about this size.
    pub target_file_bytes: u64,
    /// See [`Day::is_closed`].
    pub close_after: Duration,
    /// Local disk for downloads, spills and parts before upload (`/tmp` on Lambda).
    pub scratch_dir: PathBuf,
    /// Raw objects read at once.
    pub read_concurrency: usize,
}

impl Default for CompactConfig {
    fn default() -> Self {
        CompactConfig {
            memory_budget: 1536 * MIB,
            target_file_bytes: 256 * MIB as u64,
            close_after: Duration::from_secs(1800),
            scratch_dir: std::env::temp_dir().join("driftless-compact"),
            read_concurrency: 4,
        }
    }
}

impl CompactConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<CompactConfig> {
        let d = CompactConfig::default();
        let number = |var: &'static str, default: u64, min: u64| -> Result<u64> {
            match get(var) {
                None => Ok(default),
                Some(v) => {
                    v.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n >= min)
                        .ok_or(Error::Config {
                            var,
                            message: format!("must be an integer of at least {min}, got {v:?}"),
                        })
                }
            }
        };
        Ok(CompactConfig {
            memory_budget: number("DRIFTLESS_MEMORY_BUDGET_MB", 1536, 16)? as usize * MIB,
            target_file_bytes: number("DRIFTLESS_TARGET_FILE_MB", 256, 1)? * MIB as u64,
            close_after: Duration::from_secs(number(
                "DRIFTLESS_CLOSE_AFTER_SECS",
                d.close_after.as_secs(),
                0,
            )?),
            scratch_dir: get("DRIFTLESS_SCRATCH_DIR")
                .map(PathBuf::from)
                .unwrap_or(d.scratch_dir),
            read_concurrency: number("DRIFTLESS_READ_CONCURRENCY", 4, 1)? as usize,
        })
    }

    pub fn from_env() -> Result<CompactConfig> {
        CompactConfig::from_lookup(|k| std::env::var(k).ok())
    }

    /// Entry bytes buffered across partitions before they spill.
    fn partition_buffer(&self) -> usize {
        self.memory_budget / 3
    }

    /// Threads that deduplicate and sort partitions at once: the cores Lambda gives (two at
    /// 3,008 MB), at most four.
    fn sort_threads(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    }

    /// Entry bytes of one partition loaded for dedup and sort. Each sort thread holds one, with
    /// its index and hash map (about 1.4 times the entries), and the merge's row groups come
    /// after: a quarter of the budget for one thread, a sixth each for two.
    fn partition_limit(&self) -> usize {
        self.memory_budget / (2 * self.sort_threads() + 2)
    }

    /// Encoded row bytes of one Parquet row group, held in memory while it is written.
    fn row_group_bytes(&self) -> usize {
        (self.memory_budget / 8).clamp(MIB / 16, 128 * MIB)
    }
}

/// How a day ended.
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

/// One table-day of a run, as the function returns it and the CLI prints it.
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
    fn new(table: &'static Table, day: Day, outcome: Outcome) -> DayReport {
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
    /// alarms and dashboard use; quarantine only reports its row count.
    pub fn emit_metrics(&self, now: EpochMillis) {
        if self.outcome != Outcome::Committed && self.unreadable.is_empty() {
            return;
        }
        let r = &self.run;
        let mut m = MetricSet::new("compact");
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

/// Removes the run's scratch directory however the run ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn local_err(path: &Path, e: impl fmt::Display) -> Error {
    Error::Storage {
        operation: "scratch",
        key: path.display().to_string(),
        message: e.to_string(),
    }
}

/// What reading one raw object gave.
struct ObjectRead {
    uncompressed: u64,
    rows: u64,
    rejected: Vec<RejectedLine>,
    rejected_total: u64,
    error: Option<String>,
}

/// A line of a readable object that did not become a row.
#[derive(Serialize)]
struct RejectedLine {
    object: String,
    line: u64,
    error: String,
    text: String,
}

/// Rejected lines kept per object; the rest are counted. A broken producer must not turn the
/// rejected-lines file into a second copy of the day.
const REJECTED_KEPT_PER_OBJECT: usize = 100;
/// Rejected lines kept per run (about 40 MiB at most); the count in the report is complete.
const REJECTED_KEPT_PER_RUN: usize = 10_000;
/// Characters of a rejected line kept.
const REJECTED_TEXT_CHARS: usize = 4096;

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
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
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

/// Lines of a raw object, decompressed if it starts with gzip's magic bytes (Firehose writes gzip
/// on AWS and plain objects under moto; the key's extension is not a contract). Also says which.
fn ndjson_reader(file: std::fs::File) -> (Box<dyn BufRead + Send>, bool) {
    let mut raw = BufReader::with_capacity(1 << 17, file);
    let gzip = matches!(raw.fill_buf(), Ok([0x1f, 0x8b, ..]));
    let lines: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            1 << 17,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    (lines, gzip)
}

/// Opens a raw object as lines, gzip or plain.
pub fn open_ndjson(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    Ok(ndjson_reader(std::fs::File::open(path)?).0)
}

/// Part names carry their generation: `part-g00002-<run>-0000.parquet`,
/// `_rejected-g00002-<run>.jsonl`. Cleanup uses it to tell dead parts from a newer run's.
fn generation_of(file_name: &str) -> Option<u64> {
    let rest = file_name
        .strip_prefix("part-g")
        .or_else(|| file_name.strip_prefix("_rejected-g"))?;
    rest.split('-').next()?.parse().ok()
}

fn new_run_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}

/// Compacts one table-day. `now` decides whether the day is closed; `include_open_day` compacts
/// it anyway (the demo, or a backfill of today).
pub async fn compact_day<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    day: Day,
    cfg: &CompactConfig,
    now: EpochMillis,
    include_open_day: bool,
) -> Result<DayReport> {
    if !include_open_day && !day.is_closed(now, cfg.close_after) {
        return Ok(DayReport::new(table, day, Outcome::NotClosed));
    }
    let started = Instant::now();
    let lake = day.lake_prefix(table);
    let manifest_key = format!("{lake}_manifest.json");
    let current: Option<(Manifest, String)> = match store.get_small(&manifest_key).await? {
        None => None,
        Some((body, etag)) => {
            let m: Manifest = serde_json::from_slice(&body).map_err(|e| Error::Storage {
                operation: "read manifest",
                key: manifest_key.clone(),
                message: e.to_string(),
            })?;
            Some((m, etag))
        }
    };
    let manifest = current.as_ref().map(|(m, _)| m);
    let committed_inputs: HashSet<&str> = manifest
        .map(|m| m.inputs.iter().map(|i| i.key.as_str()).collect())
        .unwrap_or_default();
    let known_unreadable: HashSet<(&str, u64)> = manifest
        .map(|m| {
            m.unreadable
                .iter()
                .map(|u| (u.key.as_str(), u.size))
                .collect()
        })
        .unwrap_or_default();

    let mut leftovers = Vec::new();
    let mut new_objects = Vec::new();
    for o in store.list(&day.raw_prefix(table)).await? {
        if committed_inputs.contains(o.key.as_str()) {
            leftovers.push(o.key);
        } else if !known_unreadable.contains(&(o.key.as_str(), o.size)) {
            new_objects.push(o);
        }
    }
    let mut report = DayReport::new(table, day, Outcome::NothingToDo);
    report.generation = manifest.map_or(0, |m| m.generation);
    report.unreadable = manifest.map(|m| m.unreadable.clone()).unwrap_or_default();
    if !leftovers.is_empty() {
        // Committed by an earlier run that stopped before deleting its inputs.
        store.delete(&leftovers).await?;
        report.leftovers_deleted = leftovers.len() as u64;
    }
    if new_objects.is_empty() {
        if let Some(m) = manifest {
            report.orphans_deleted = delete_orphans(store, &lake, m).await?;
        }
        return Ok(report);
    }

    let generation = report.generation + 1;
    let run_id = new_run_id();
    let dir = cfg
        .scratch_dir
        .join(format!("{}-{day}-{run_id}", table.name));
    std::fs::create_dir_all(&dir).map_err(|e| local_err(&dir, e))?;
    let scratch = Scratch(dir);
    let mut run = RunReport {
        generation,
        run_id: run_id.clone(),
        ..RunReport::default()
    };

    // Read: every object into hash partitions, sized so one partition fits its memory share.
    let estimate: u64 = new_objects
        .iter()
        .map(|o| {
            if o.key.ends_with(".gz") {
                o.size * 8
            } else {
                o.size
            }
        })
        .sum();
    let n_partitions = (estimate as usize / cfg.partition_limit() + 1).min(256);
    let partitions = Arc::new(Mutex::new(Partitions::new(
        &scratch.0,
        "p",
        0,
        n_partitions,
        cfg.partition_buffer(),
    )));
    let reads = read_objects(store, table, &new_objects, &scratch.0, &partitions, cfg).await;
    let reads = match reads {
        Ok(r) => r,
        Err(Error::ObjectMissing { key }) => {
            // Another run committed the day and deleted its inputs while this one read them.
            tracing::info!(table = table.name, day = %day, key, "input vanished: another run committed");
            report.outcome = Outcome::LostRace;
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    let mut skip = HashSet::new();
    let mut inputs = Vec::new();
    let mut rejected = Vec::new();
    let mut unreadable_now = Vec::new();
    for (i, (o, r)) in new_objects.iter().zip(reads).enumerate() {
        run.uncompressed_bytes_in += r.uncompressed;
        if let Some(error) = r.error {
            tracing::warn!(table = table.name, day = %day, key = o.key, error, "raw object left in place");
            skip.insert(i as u32);
            unreadable_now.push(Unreadable {
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
        let room = REJECTED_KEPT_PER_RUN.saturating_sub(rejected.len());
        rejected.extend(r.rejected.into_iter().take(room));
        inputs.push(InputEntry {
            key: o.key.clone(),
            size: o.size,
        });
    }
    run.unreadable_objects = unreadable_now.len() as u64;

    // Late objects: the ids already committed for the day go into the same partitions.
    if let (Some(m), true) = (manifest, table.dedup) {
        for (i, part) in m.parts.iter().enumerate() {
            let local = scratch.0.join(format!("committed-{i}.parquet"));
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
                    return Err(local_err(&path, e));
                }
                lock(&partitions)
                    .absorb(&mut batch)
                    .map_err(|e| local_err(&path, e))?;
                if path == local {
                    let _ = std::fs::remove_file(&local);
                }
                Ok(())
            })
            .await
            .map_err(|e| local_err(&scratch.0, e))??;
        }
    }

    run.read_ms = started.elapsed().as_millis() as u64;
    // Dedup, sort and write the parts on a blocking thread: this is the CPU-heavy part.
    let part_name = format!("part-g{generation:05}-{run_id}");
    let (local_parts, counts, completeness) = {
        // Every reader has finished, so this is the last handle.
        let partitions = match Arc::try_unwrap(partitions) {
            Ok(p) => p
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            Err(_) => {
                return Err(local_err(
                    &scratch.0,
                    "partitions still shared after reading",
                ))
            }
        };
        let dir = scratch.0.clone();
        let cfg = cfg.clone();
        let skip = skip.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let data = partitions.finish().map_err(|e| local_err(&dir, e))?;
            let mut writer = PartWriter::new(
                table,
                &dir,
                &part_name,
                cfg.target_file_bytes,
                cfg.row_group_bytes(),
            )?
            .in_background();
            let sorter = Sorter {
                table,
                dir: &dir,
                partition_limit: cfg.partition_limit(),
                skip_objects: &skip,
                threads: cfg.sort_threads(),
            };
            let sorted = sorter.run(data, &mut writer);
            // The writer's own error, if it stopped, explains a failed push better.
            let parts = writer.finish()?;
            let (counts, completeness) = sorted.map_err(|e| local_err(&dir, e))?;
            Ok((parts, counts, completeness.totals()))
        })
        .await
        .map_err(|e| local_err(&scratch.0, e))??
    };
    run.write_ms = started.elapsed().as_millis() as u64 - run.read_ms;
    run.duplicates_dropped = counts.duplicates;
    run.already_committed = counts.already_committed;
    let (expected, received) = completeness;
    run.expected_events = expected;
    run.received_events = received;
    run.completeness_percent =
        (expected > 0).then(|| (received as f64 * 100.0 / expected as f64 * 100.0).round() / 100.0);

    // Upload and verify as stored.
    let mut uploaded: Vec<String> = Vec::new();
    let mut manifest_sent = false;
    let outcome = upload_and_commit(
        store,
        table,
        day,
        &lake,
        &manifest_key,
        current.as_ref(),
        &scratch.0,
        CommitInput {
            generation,
            run_id: &run_id,
            parts: &local_parts,
            inputs,
            unreadable: unreadable_now,
            rejected,
            now,
        },
        &mut run,
        (&mut uploaded, &mut manifest_sent),
        started,
    )
    .await;
    match outcome {
        Ok(committed) => {
            report.outcome = Outcome::Committed;
            report.generation = generation;
            report.unreadable = committed.unreadable.clone();
            report.run = run;
            // The commit is durable: only now may the raw inputs go.
            let new_inputs: Vec<String> = new_objects
                .iter()
                .enumerate()
                .filter(|(i, _)| !skip.contains(&(*i as u32)))
                .map(|(_, o)| o.key.clone())
                .collect();
            store.delete(&new_inputs).await?;
            report.orphans_deleted = delete_orphans(store, &lake, &committed).await?;
            Ok(report)
        }
        Err(Error::PreconditionFailed { .. }) => {
            tracing::info!(table = table.name, day = %day, run_id, "another run committed first; removing this run's parts");
            store.delete(&uploaded).await?;
            report.outcome = Outcome::LostRace;
            Ok(report)
        }
        Err(e) => {
            // A manifest write that failed without an answer may still have committed: then
            // these parts are the lake. Left alone, they are either committed or orphans the
            // next commit removes.
            if !manifest_sent {
                let _ = store.delete(&uploaded).await;
            }
            Err(e)
        }
    }
}

fn lock(p: &Mutex<Partitions>) -> std::sync::MutexGuard<'_, Partitions> {
    match p.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Reads the objects with bounded concurrency: downloads are async, parsing runs on blocking
/// threads (both cores), rows go straight into the shared partitions.
async fn read_objects<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    objects: &[ObjectMeta],
    scratch: &Path,
    partitions: &Arc<Mutex<Partitions>>,
    cfg: &CompactConfig,
) -> Result<Vec<ObjectRead>> {
    // Owned items: a closure over borrowed ones makes the future not `Send` (rustc #110338).
    stream::iter(objects.iter().cloned().enumerate())
        .map(|(i, o)| read_one(store, table, i, o, scratch, partitions.clone()))
        .buffered(cfg.read_concurrency)
        .try_collect()
        .await
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
    .map_err(|e| local_err(&path, e))?;
    if path == local {
        let _ = std::fs::remove_file(&local);
    }
    Ok(read)
}

struct CommitInput<'a> {
    generation: u64,
    run_id: &'a str,
    parts: &'a [LocalPart],
    inputs: Vec<InputEntry>,
    unreadable: Vec<Unreadable>,
    rejected: Vec<RejectedLine>,
    now: EpochMillis,
}

/// Steps 3 and 4: upload, verify, write the manifest. Keys uploaded so far go to `uploaded`, so
/// the caller can remove them if the commit does not happen; `sent` records that the manifest
/// write was attempted, after which an error no longer proves there was no commit.
#[allow(clippy::too_many_arguments)]
async fn upload_and_commit<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    day: Day,
    lake: &str,
    manifest_key: &str,
    current: Option<&(Manifest, String)>,
    scratch: &Path,
    input: CommitInput<'_>,
    run: &mut RunReport,
    (uploaded, sent): (&mut Vec<String>, &mut bool),
    started: Instant,
) -> Result<Manifest> {
    let mut entries = Vec::with_capacity(input.parts.len());
    for part in input.parts {
        let name = part
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = format!("{lake}{name}");
        uploaded.push(key.clone());
        store.upload(&key, &part.path).await?;
        verify(store, &key, scratch, part.fingerprint, table.key_column).await?;
        let _ = std::fs::remove_file(&part.path);
        entries.push(PartEntry {
            key,
            rows: part.fingerprint.rows,
            bytes: part.bytes,
            checksum: part.fingerprint.checksum_hex(),
        });
    }
    let mut rejected_keys = Vec::new();
    if !input.rejected.is_empty() {
        let key = format!(
            "{lake}_rejected-g{:05}-{}.jsonl",
            input.generation, input.run_id
        );
        let mut body = Vec::new();
        for r in &input.rejected {
            // Serializing a struct of strings and integers cannot fail.
            let _ = serde_json::to_writer(&mut body, r);
            body.push(b'\n');
        }
        uploaded.push(key.clone());
        store.put_small(&key, body, None).await?;
        rejected_keys.push(key);
    }

    run.rows_out = entries.iter().map(|p| p.rows).sum();
    run.parts_out = entries.len() as u64;
    run.bytes_out = entries.iter().map(|p| p.bytes).sum();
    run.duration_ms = started.elapsed().as_millis() as u64;

    let (previous, precondition) = match current {
        Some((m, etag)) => (Some(m), Precondition::Matches(etag.clone())),
        None => (None, Precondition::Absent),
    };
    let mut parts = previous.map(|m| m.parts.clone()).unwrap_or_default();
    parts.extend(entries);
    let mut inputs = previous.map(|m| m.inputs.clone()).unwrap_or_default();
    inputs.extend(input.inputs);
    let mut unreadable = previous.map(|m| m.unreadable.clone()).unwrap_or_default();
    unreadable.extend(input.unreadable);
    let mut rejected_lines = previous
        .map(|m| m.rejected_lines.clone())
        .unwrap_or_default();
    rejected_lines.extend(rejected_keys);
    let mut runs = previous.map(|m| m.runs.clone()).unwrap_or_default();
    runs.push(run.clone());
    let checksum = parts.iter().fold(0u64, |acc, p| {
        acc.wrapping_add(u64::from_str_radix(&p.checksum, 16).unwrap_or_default())
    });
    let manifest = Manifest {
        format: manifest::FORMAT,
        table: table.name.to_string(),
        date: day.to_string(),
        generation: input.generation,
        committed_at: format_rfc3339(input.now),
        rows: parts.iter().map(|p| p.rows).sum(),
        checksum: format!("{checksum:016x}"),
        parts,
        inputs,
        unreadable,
        rejected_lines,
        runs,
    };
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Storage {
        operation: "write manifest",
        key: manifest_key.to_string(),
        message: e.to_string(),
    })?;
    *sent = true;
    store
        .put_small(manifest_key, body, Some(precondition))
        .await?;
    Ok(manifest)
}

/// Reads a part back from the store and checks its row count and event-id checksum.
async fn verify<S: ObjectStore>(
    store: &S,
    key: &str,
    scratch: &Path,
    expected: Fingerprint,
    key_column: usize,
) -> Result<()> {
    let local = scratch.join("verify.parquet");
    let path = store.fetch(key, &local).await?;
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || scan_string_column(&path, key_column, |_| {}))
            .await
            .map_err(|e| local_err(&local, e))?
    };
    if path == local {
        let _ = std::fs::remove_file(&local);
    }
    let found = read.map_err(|e| Error::VerifyFailed {
        key: key.to_string(),
        message: e.to_string(),
    })?;
    if found != expected {
        return Err(Error::VerifyFailed {
            key: key.to_string(),
            message: format!(
                "expected {} rows with checksum {}, found {} rows with checksum {}",
                expected.rows,
                expected.checksum_hex(),
                found.rows,
                found.checksum_hex()
            ),
        });
    }
    Ok(())
}

/// Deletes parts and rejected-line files of generation `m.generation` or older that `m` does not
/// list: runs that crashed or lost left them. Newer generations belong to a run in progress.
async fn delete_orphans<S: ObjectStore>(store: &S, lake: &str, m: &Manifest) -> Result<u64> {
    let listed: HashSet<&str> = m
        .parts
        .iter()
        .map(|p| p.key.as_str())
        .chain(m.rejected_lines.iter().map(String::as_str))
        .collect();
    let orphans: Vec<String> = store
        .list(lake)
        .await?
        .into_iter()
        .filter(|o| {
            let name = o.key.rsplit('/').next().unwrap_or_default();
            !listed.contains(o.key.as_str())
                && generation_of(name).is_some_and(|g| g <= m.generation)
        })
        .map(|o| o.key)
        .collect();
    if !orphans.is_empty() {
        store.delete(&orphans).await?;
    }
    Ok(orphans.len() as u64)
}

/// The days that have raw objects in any table, oldest first.
pub async fn days_with_raw_objects<S: ObjectStore>(store: &S) -> Result<Vec<Day>> {
    let mut days = std::collections::BTreeSet::new();
    for table in TABLES {
        for year in store.list_dirs(&table.raw_prefix()).await? {
            for month in store.list_dirs(&year).await? {
                for day in store.list_dirs(&month).await? {
                    // raw/<table>/YYYY/MM/DD/
                    let parts: Vec<&str> = day.trim_end_matches('/').rsplit('/').take(3).collect();
                    if let [d, m, y] = parts[..] {
                        if let Ok(day) = Day::parse(&format!("{y}-{m}-{d}")) {
                            days.insert(day);
                        }
                    }
                }
            }
        }
    }
    Ok(days.into_iter().collect())
}

/// What a scheduled run did.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduledReport {
    pub days: Vec<DayReport>,
    /// Days that failed, with the error.
    pub failures: Vec<(String, String)>,
    /// Closed days left for the next run because this one ran out of time.
    pub deferred: Vec<String>,
    /// Age in days of the oldest closed day still not compacted after this run (0: none).
    pub lag_days: i64,
}

/// Compacts every closed day with raw objects, oldest first, until `deadline` is near. A failed
/// day is reported and the run goes on with the next one.
pub async fn compact_closed_days<S: ObjectStore>(
    store: &S,
    cfg: &CompactConfig,
    now: EpochMillis,
    deadline: Instant,
) -> Result<ScheduledReport> {
    let today = Day::from_millis(now);
    let mut report = ScheduledReport {
        days: Vec::new(),
        failures: Vec::new(),
        deferred: Vec::new(),
        lag_days: 0,
    };
    let mut oldest_pending: Option<Day> = None;
    for day in days_with_raw_objects(store).await? {
        if !day.is_closed(now, cfg.close_after) {
            continue;
        }
        // A day is started only with a fair share of time left; a day cut off by the timeout
        // is redone from scratch by the next run, which is safe but wasted work.
        if deadline.saturating_duration_since(Instant::now()) < Duration::from_secs(60) {
            report.deferred.push(day.to_string());
            oldest_pending.get_or_insert(day);
            continue;
        }
        for table in TABLES {
            match compact_day(store, table, day, cfg, now, false).await {
                Ok(r) => {
                    r.emit_metrics(now);
                    if r.outcome == Outcome::LostRace {
                        oldest_pending.get_or_insert(day);
                    }
                    report.days.push(r);
                }
                Err(e) => {
                    tracing::error!(table = table.name, day = %day, error = %e, "compaction failed");
                    report
                        .failures
                        .push((format!("{}/{day}", table.name), e.to_string()));
                    oldest_pending.get_or_insert(day);
                }
            }
        }
    }
    report.lag_days = oldest_pending.map_or(0, |d| d.days_until(today));
    let mut m = MetricSet::new("compact");
    m.put(names::LAG_DAYS, Unit::Count, report.lag_days as f64)
        .put(
            names::COMPACTION_FAILURES,
            Unit::Count,
            report.failures.len() as f64,
        );
    m.emit(now);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly_and_map_to_firehose_prefixes() {
        let d = Day::parse("2026-11-28").unwrap();
        assert_eq!(d.to_string(), "2026-11-28");
        assert_eq!(d.raw_prefix(&EVENTS), "raw/events/2026/11/28/");
        assert_eq!(d.lake_prefix(&QUARANTINE), "lake/quarantine/dt=2026-11-28/");
        assert_eq!(d.next().to_string(), "2026-11-29");
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-11-28",
            "2026/11/28",
            "2026-11-2x",
        ] {
            let err = Day::parse(bad).unwrap_err().to_string();
            assert!(err.contains("YYYY-MM-DD"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_day_closes_after_its_end_plus_the_margin() {
        let d = Day::parse("2026-11-27").unwrap();
        let end = crate::timestamp::parse_rfc3339("2026-11-28T00:00:00Z").unwrap();
        let margin = Duration::from_secs(1800);
        assert!(!d.is_closed(end, margin));
        assert!(!d.is_closed(end + 1_799_999, margin));
        assert!(d.is_closed(end + 1_800_000, margin));
    }

    #[test]
    fn part_names_carry_their_generation() {
        assert_eq!(generation_of("part-g00002-0a1b2c3d-0000.parquet"), Some(2));
        assert_eq!(generation_of("_rejected-g00013-0a1b2c3d.jsonl"), Some(13));
        assert_eq!(generation_of("_manifest.json"), None);
        assert_eq!(generation_of("part-other.parquet"), None);
    }

    #[test]
    fn config_reads_budget_and_sizes_and_rejects_nonsense() {
        let cfg = CompactConfig::from_lookup(|k| match k {
            "DRIFTLESS_MEMORY_BUDGET_MB" => Some("256".into()),
            "DRIFTLESS_TARGET_FILE_MB" => Some("64".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.memory_budget, 256 * MIB);
        assert_eq!(cfg.target_file_bytes, 64 * MIB as u64);
        assert_eq!(cfg.close_after, Duration::from_secs(1800));
        let err = CompactConfig::from_lookup(|k| {
            (k == "DRIFTLESS_MEMORY_BUDGET_MB").then(|| "lots".into())
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("DRIFTLESS_MEMORY_BUDGET_MB"),
            "{err}"
        );
    }
}
