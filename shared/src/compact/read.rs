//! Step 2: a day's raw objects downloaded and parsed into range partitions, with bounded
//! concurrency (downloads are async, parsing runs on blocking threads), then the dedup probe:
//! the keys of the run's rows looked up in the file indexes of the dedup window, so that dedup
//! drops the late copies of the ones the table already holds.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::partition::{lock, Partitions};
use super::plan::DayInput;
use super::report::{RunReport, Unreadable};
use crate::erasure::ErasureFilter;
use crate::lake::delta::DataFile;
use crate::lake::index::{key_hash, FileIndex};
use crate::lake::layout::{index_path, unreadable_key};
use crate::lake::parquet::scan_string_column;
use crate::lake::raw::ndjson_reader;
use crate::lake::store::{ObjectMeta, ObjectStore};
use crate::lake::{LakeError, Result, Table};
use crate::record::cells::{index_cells, RowRef};

const MIB: usize = 1024 * 1024;

/// Rejected lines kept per object; the rest are counted. A broken producer must not turn the
/// rejected lines into a second copy of the day.
const REJECTED_KEPT_PER_OBJECT: usize = 100;
/// Characters of a rejected line kept.
const REJECTED_TEXT_CHARS: usize = 4096;
/// Index objects (or data files without one) read at once by the probe.
const PROBE_CONCURRENCY: usize = 8;

/// A line of a readable object that did not become a row, kept for inspection.
#[derive(Debug, Serialize)]
pub struct RejectedLine {
    pub object: String,
    pub line: u64,
    pub error: String,
    pub text: String,
}

/// What reading one raw object gave.
#[derive(Debug)]
struct ObjectRead {
    uncompressed: u64,
    rows: u64,
    rejected: Vec<RejectedLine>,
    rejected_total: u64,
    /// Rows of people being erased, dropped.
    erased: u64,
    links: Vec<(String, String)>,
    error: Option<String>,
}

/// What reading a day's objects gave.
#[derive(Debug, Default)]
pub struct DayRead {
    /// Objects read to the end: the commit lists them, and they are deleted after it.
    pub inputs: Vec<String>,
    /// Objects that could not be read to the end: moved aside, none of their rows used.
    pub unreadable: Vec<Unreadable>,
    /// Object numbers (positions in the day's list) whose rows must be dropped.
    pub skip: HashSet<u32>,
    /// Per object that had them, its lines that were not records.
    pub rejected: Vec<(String, Vec<RejectedLine>)>,
    /// `(user_id, anonymous_id)` pairs of erased rows whose anonymous id is not erased yet.
    pub links: Vec<(String, String)>,
}

/// Where a day's objects go and what is dropped on the way.
pub struct Sink<'a> {
    pub scratch: &'a Path,
    pub partitions: &'a Arc<Mutex<Partitions>>,
    /// The people of erasure requests: their rows are dropped as they are read.
    pub erase: &'a Arc<ErasureFilter>,
}

/// Reads every object of `input` into the sink's partitions, adding the figures to `run`.
pub async fn read_day<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    input: &DayInput,
    sink: Sink<'_>,
    concurrency: usize,
    run: &mut RunReport,
) -> Result<DayRead> {
    let Sink {
        scratch,
        partitions,
        erase,
    } = sink;
    // Owned items: a closure over borrowed ones makes the future not `Send` (rustc #110338).
    let reads: Vec<ObjectRead> = stream::iter(input.objects.iter().cloned().enumerate())
        .map(|(i, o)| {
            read_one(
                store,
                table,
                (i, o),
                scratch,
                partitions.clone(),
                erase.clone(),
            )
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    let mut out = DayRead::default();
    for (i, (o, r)) in input.objects.iter().zip(reads).enumerate() {
        run.uncompressed_bytes_in += r.uncompressed;
        if let Some(error) = r.error {
            let moved_to = unreadable_key(&o.key);
            tracing::warn!(
                message = "Raw object cannot be read to the end; moved aside.",
                table = table.name,
                day = %input.day,
                key = o.key,
                moved_to,
                error
            );
            move_object(store, &o.key, &moved_to, scratch).await?;
            out.skip.insert(i as u32);
            out.unreadable.push(Unreadable {
                key: o.key.clone(),
                size: o.size,
                error,
                moved_to,
            });
            continue;
        }
        run.objects_in += 1;
        run.bytes_in += o.size;
        run.events_in += r.rows;
        run.rejected_lines += r.rejected_total;
        run.erased += r.erased;
        out.links.extend(r.links);
        if !r.rejected.is_empty() {
            out.rejected.push((o.key.clone(), r.rejected));
        }
        out.inputs.push(o.key.clone());
    }
    run.unreadable_objects += out.unreadable.len() as u64;
    Ok(out)
}

/// Moves an object to another key through local disk (the store trait has no copy).
async fn move_object<S: ObjectStore>(
    store: &S,
    from: &str,
    to: &str,
    scratch: &Path,
) -> Result<()> {
    let local = scratch.join("moving");
    let path = store.fetch(from, &local).await?;
    store.upload(to, &path).await?;
    if path == local {
        let _ = std::fs::remove_file(&local);
    }
    store.delete(&[from.to_string()]).await
}

async fn read_one<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    (i, o): (usize, ObjectMeta),
    scratch: &Path,
    partitions: Arc<Mutex<Partitions>>,
    erase: Arc<ErasureFilter>,
) -> Result<ObjectRead> {
    let local = scratch.join(format!("raw-{i}"));
    let path = store.fetch(&o.key, &local).await?;
    let read_path = path.clone();
    let read = tokio::task::spawn_blocking(move || {
        read_object(table, &o.key, &read_path, i as u32, &partitions, &erase)
    })
    .await
    .map_err(|source| LakeError::Task {
        what: "reading a raw object",
        source,
    })?
    // A local failure (the downloaded copy, the spill files) says nothing about the object: the
    // run fails and the next one reads it again, instead of moving a good object aside.
    .map_err(|(path, source)| LakeError::Io { path, source })?;
    if path == local {
        let _ = std::fs::remove_file(&local);
    }
    Ok(read)
}

/// Reads one raw object's lines into the partitions (blocking: decompression and parsing).
/// What is wrong with the object is in the result's `error`; an error of local disk (with its
/// path) is the `Err`.
fn read_object(
    table: &'static Table,
    key: &str,
    path: &Path,
    object: u32,
    partitions: &Mutex<Partitions>,
    erase: &ErasureFilter,
) -> std::result::Result<ObjectRead, (String, std::io::Error)> {
    let mut out = ObjectRead {
        uncompressed: 0,
        rows: 0,
        rejected: Vec::new(),
        rejected_total: 0,
        erased: 0,
        links: Vec::new(),
        error: None,
    };
    let mut offsets = Vec::with_capacity(table.columns.len());
    let file = std::fs::File::open(path).map_err(|e| (path.display().to_string(), e))?;
    let spill_dir = || lock(partitions).dir().display().to_string();
    let (mut lines, gzip) = ndjson_reader(file);
    let mut batch = lock(partitions).batch(object);
    let mut n = 0u64;
    let flush = |batch: &mut _| Partitions::absorb(partitions, batch);
    loop {
        let text = match lines.next_line() {
            Ok(None) => break,
            Ok(Some(text)) => text,
            Err(e) => {
                let what = if gzip { "gzip stream" } else { "object" };
                out.uncompressed = lines.bytes();
                out.error = Some(format!(
                    "{what} unreadable after {} bytes ({n} lines): {e}",
                    out.uncompressed
                ));
                return Ok(out);
            }
        };
        n += 1;
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut error = None;
        let mut erased = false;
        let pushed = batch.push_row(table, |buf| {
            let start = buf.len();
            match table.parse_line(text, buf) {
                Ok(()) if erase.is_empty() => true,
                Ok(()) => {
                    offsets.clear();
                    index_cells(buf, start, table.columns.len(), &mut offsets);
                    let row = RowRef {
                        buf: buf.as_slice(),
                        offsets: &offsets,
                    };
                    erased = erase.matches(table, &row);
                    if erased {
                        out.links.extend(erase.link(table, &row));
                    }
                    !erased
                }
                Err(e) => {
                    error = Some(e.0);
                    false
                }
            }
        });
        match pushed {
            true => out.rows += 1,
            false if erased => out.erased += 1,
            false => {
                out.rejected_total += 1;
                // A line that names a person being erased is counted, not kept.
                if out.rejected.len() < REJECTED_KEPT_PER_OBJECT && !erase.in_text(text) {
                    out.rejected.push(RejectedLine {
                        object: key.to_string(),
                        line: n,
                        error: error.unwrap_or_default(),
                        text: String::from_utf8_lossy(text)
                            .chars()
                            .take(REJECTED_TEXT_CHARS)
                            .collect(),
                    });
                }
            }
        }
        if batch.len_bytes() >= MIB {
            flush(&mut batch).map_err(|e| (spill_dir(), e))?;
        }
    }
    flush(&mut batch).map_err(|e| (spill_dir(), e))?;
    out.uncompressed = lines.bytes();
    Ok(out)
}

/// The keys of `keys` (sorted) that are in `index` (sorted): a merge of the two lists.
fn matches(keys: &[u128], index: &[u128], out: &mut Vec<u128>) {
    let (mut i, mut j) = (0, 0);
    while i < keys.len() && j < index.len() {
        match keys[i].cmp(&index[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(keys[i]);
                i += 1;
                j += 1;
            }
        }
    }
}

/// The keys of a data file: its index, or (for a file written without one) its key column.
async fn file_keys<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    file: &DataFile,
    scratch: &Path,
    n: usize,
) -> Result<Vec<u128>> {
    let root = format!("lake/{}/", table.name);
    let index_key = format!("{root}{}", index_path(&file.path));
    if let Some((body, _)) = store.get_small(&index_key).await? {
        return Ok(FileIndex::decode(&body, &index_key)?.keys);
    }
    let local = scratch.join(format!("probe-{n}.parquet"));
    let path = store.fetch(&format!("{root}{}", file.path), &local).await?;
    let key_column = table.key_column;
    let scanned = path.clone();
    let mut keys = tokio::task::spawn_blocking(move || {
        let mut keys = Vec::new();
        scan_string_column(&scanned, key_column, |k| keys.push(key_hash(k))).map(|_| keys)
    })
    .await
    .map_err(|source| LakeError::Task {
        what: "reading a file's keys",
        source,
    })??;
    if path == local {
        let _ = std::fs::remove_file(&local);
    }
    keys.sort_unstable();
    Ok(keys)
}

/// The run's keys (sorted, distinct) that the table already holds: in the files of `window`
/// (their indexes) or in `written` (indexes of files this run wrote for earlier days).
pub async fn probe<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    keys: &[u128],
    window: &[DataFile],
    written: &[FileIndex],
    scratch: &Path,
) -> Result<Vec<u128>> {
    let mut found = Vec::new();
    if keys.is_empty() || !table.dedup {
        return Ok(found);
    }
    for index in written {
        matches(keys, &index.keys, &mut found);
    }
    let per_file: Vec<Vec<u128>> = stream::iter(window.iter().enumerate())
        .map(|(n, f)| async move {
            let file_keys = file_keys(store, table, f, scratch, n).await?;
            let mut hit = Vec::new();
            matches(keys, &file_keys, &mut hit);
            Ok::<_, LakeError>(hit)
        })
        .buffer_unordered(PROBE_CONCURRENCY)
        .try_collect()
        .await?;
    found.extend(per_file.into_iter().flatten());
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_finds_exactly_the_shared_keys() {
        let keys = [1u128, 3, 5, 7, 9];
        let index = [2u128, 3, 4, 9, 11];
        let mut out = Vec::new();
        matches(&keys, &index, &mut out);
        assert_eq!(out, [3, 9]);
        out.clear();
        matches(&keys, &[], &mut out);
        assert!(out.is_empty());
    }

    /// A stored event line as ingest writes it.
    const LINE: &str = concat!(
        r#"{"event_id":"0192f3a0-0000-7000-8000-000000000001","event_type":"page_viewed","#,
        r#""schema_version":"1-0-0","timestamp":"2026-11-28T10:00:00.000Z","#,
        r#""received_at":"2026-11-28T10:00:01.000Z","anonymous_id":"a1","properties":{}}"#,
        "\n"
    );

    #[test]
    fn a_local_disk_failure_fails_the_read_instead_of_blaming_the_object() {
        let dir = std::env::temp_dir().join(format!("driftless-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join("raw.ndjson");
        std::fs::write(&raw, LINE.repeat(3)).unwrap();
        let table = &crate::lake::table::EVENTS;
        // Spilling at the first byte into a directory that does not exist.
        let gone = dir.join("no-such-dir");
        let partitions = Mutex::new(Partitions::new(&gone, "t", table, 0, 0));
        let err = read_object(
            table,
            "raw/events/x",
            &raw,
            0,
            &partitions,
            &ErasureFilter::default(),
        )
        .unwrap_err();
        assert!(err.0.contains("no-such-dir"), "{}", err.0);
        // The downloaded copy gone.
        let partitions = Mutex::new(Partitions::new(&dir, "t", table, 0, 1 << 20));
        let missing = dir.join("missing");
        assert!(read_object(
            table,
            "raw/events/x",
            &missing,
            0,
            &partitions,
            &ErasureFilter::default()
        )
        .is_err());
        // The object itself bad: a verdict on the object, not an error of the run.
        std::fs::write(&raw, b"\x1f\x8b\x08\x00garbage").unwrap();
        let read = read_object(
            table,
            "raw/events/x",
            &raw,
            0,
            &partitions,
            &ErasureFilter::default(),
        )
        .unwrap();
        assert!(read.error.unwrap().contains("gzip"));
        std::fs::write(&raw, LINE.repeat(3)).unwrap();
        let read = read_object(
            table,
            "raw/events/x",
            &raw,
            0,
            &partitions,
            &ErasureFilter::default(),
        )
        .unwrap();
        assert_eq!((read.rows, read.error), (3, None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
