//! Range partitions of a run's rows, bounded in memory. A row goes to the partition of its place
//! in the output order: the value of the table's first sort column when it is text (events:
//! `event_type`) and the quarter-hour of its first time column (events: `timestamp`;
//! quarantine: `received_at`). Partitions taken in that order, each sorted on its own, give the rows in output
//! order: nothing is merged. Partitions spill to local disk when the buffered bytes pass a limit.
//!
//! Copies of one event can fall in different partitions (a client may resend an id with another
//! timestamp), so every row's dedup id (key hash, `received_at`, where it was read) is kept
//! beside the partitions, and [`super::dedup`] decides the copies on the ids alone.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::FxHashMap;

use crate::lake::index::{key_hash, sort_by_hash};
use crate::lake::table::Table;
use crate::record::cells::{read_cell, Cell};
use crate::record::ColumnType;

/// Header of an entry: payload length (u32), source object (u32), row within the object (u32).
/// The object lets the sort drop the rows of an object that turned out unreadable half-way; the
/// pair names the row in the dedup decision.
pub(super) const HEADER: usize = 12;

/// Quarter-hours: at 10 times the benchmark day a partition of the busiest event type holds
/// about 30 MB, so few are over the limit and split (a pass over them on one thread).
const BUCKET_MS: i64 = 900_000;
/// Time buckets of a day: one for everything before it (and nulls, which sort first), 96 for
/// its quarter-hours, one for everything after. Client clocks put some events outside the day.
const BUCKETS: usize = 98;

/// A row's dedup identity: every copy of an event has the same `key`; among them the smallest
/// `received_at` wins, ties going to the first read (`at`: object, then row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Id {
    pub key: u128,
    pub received_at: i64,
    pub at: u64,
}

impl Id {
    pub fn object(&self) -> u32 {
        (self.at >> 32) as u32
    }
}

/// Where a row's place in the output order is read from.
#[derive(Debug, Clone, Copy)]
struct Ranges {
    /// The first sort column, when it is text: one partition group per value.
    group: Option<usize>,
    /// The time column whose quarter-hour (then finer ranges, when a partition is split) orders the
    /// rows of a group.
    time: Option<usize>,
    /// Start of the day the quarter-hours count from.
    origin: i64,
}

impl Ranges {
    fn of(table: &Table, origin: i64) -> Ranges {
        let ty = |i: usize| table.columns[table.sort_columns[i]].ty;
        let is_time = |t: ColumnType| matches!(t, ColumnType::Timestamp | ColumnType::Int64);
        let (group, time) = if ty(0) == ColumnType::Utf8 {
            (Some(0), is_time(ty(1)).then_some(1))
        } else {
            (None, is_time(ty(0)).then_some(0))
        };
        Ranges {
            group: group.map(|i| table.sort_columns[i]),
            time: time.map(|i| table.sort_columns[i]),
            origin,
        }
    }

    /// The group value and time value of an encoded row (nulls as `None`).
    fn read<'a>(&self, payload: &'a [u8]) -> (Option<&'a [u8]>, Option<i64>) {
        let last = self.group.max(self.time).unwrap_or(0);
        let (mut group, mut time) = (None, None);
        let mut pos = 0;
        for c in 0..=last {
            let (cell, next) = read_cell(payload, pos);
            if Some(c) == self.group {
                group = match cell {
                    Cell::Str(s) => Some(s),
                    _ => None,
                };
            }
            if Some(c) == self.time {
                time = cell.as_int();
            }
            pos = next;
        }
        (group, time)
    }

    fn bucket(&self, time: Option<i64>) -> usize {
        time.map_or(0, |t| {
            (t.saturating_sub(self.origin).div_euclid(BUCKET_MS) + 1).clamp(0, BUCKETS as i64 - 1)
                as usize
        })
    }
}

/// Partition numbers by place: by group value (rows of a null group apart) and range.
#[derive(Default)]
struct Routes {
    null_group: Option<Box<[u32; BUCKETS]>>,
    groups: FxHashMap<Box<[u8]>, [u32; BUCKETS]>,
}

impl Routes {
    /// The number of `(group, range)`, or `next` (then taken for it) when it has none yet.
    fn slot(&mut self, group: Option<&[u8]>, range: usize, next: usize) -> (usize, bool) {
        let known = match group {
            None => self
                .null_group
                .as_ref()
                .map_or(NO_PART, |slots| slots[range]),
            Some(g) => self.groups.get(g).map_or(NO_PART, |slots| slots[range]),
        };
        if known != NO_PART {
            return (known as usize, false);
        }
        let slots = match group {
            None => self
                .null_group
                .get_or_insert_with(|| Box::new([NO_PART; BUCKETS])),
            Some(g) => self
                .groups
                .entry(Box::from(g))
                .or_insert([NO_PART; BUCKETS]),
        };
        slots[range] = next as u32;
        (next, true)
    }
}

/// Rows of one place in the output order.
struct Piece {
    /// The group value (`None` first) and the range within it.
    place: (Option<Box<[u8]>>, usize),
    mem: Vec<u8>,
    span: Span,
}

impl Piece {
    fn new(group: Option<&[u8]>, range: usize) -> Piece {
        Piece {
            place: (group.map(Box::from), range),
            mem: Vec::new(),
            span: Span::EMPTY,
        }
    }
}

/// Rows collected by one reader, already by partition, before they are handed to
/// [`Partitions`] in one lock: the lock then only copies a few runs of bytes.
pub struct Batch {
    ranges: Ranges,
    routes: Routes,
    pieces: Vec<Piece>,
    /// The row being encoded, with its header.
    row: Vec<u8>,
    ids: Vec<Id>,
    object: u32,
    rows: u32,
    bytes: usize,
}

impl Batch {
    /// Appends the row that `encode` writes, or nothing when `encode` says no (`false`); tells
    /// which. Rows without a key (a quarantined event without id) are never duplicates.
    pub fn push_row(&mut self, table: &Table, encode: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        self.row.clear();
        self.row.extend_from_slice(&[0; HEADER]);
        if !encode(&mut self.row) {
            return false;
        }
        let row = self.rows;
        self.rows += 1;
        let payload = &self.row[HEADER..];
        if table.dedup {
            let (mut key, mut received_at) = (None, i64::MIN);
            let mut pos = 0;
            for c in 0..=table.key_column.max(table.received_at_column) {
                let (cell, next) = read_cell(payload, pos);
                match cell {
                    Cell::Str(k) if c == table.key_column => key = Some(key_hash(k)),
                    Cell::Int(t) if c == table.received_at_column => received_at = t,
                    _ => {}
                }
                pos = next;
            }
            if let Some(key) = key {
                self.ids.push(Id {
                    key,
                    received_at,
                    at: u64::from(self.object) << 32 | u64::from(row),
                });
            }
        }
        let (group, time) = self.ranges.read(payload);
        let range = self.ranges.bucket(time);
        let (i, new) = self.routes.slot(group, range, self.pieces.len());
        if new {
            self.pieces.push(Piece::new(group, range));
        }
        let len = (self.row.len() - HEADER) as u32;
        self.row[..4].copy_from_slice(&len.to_le_bytes());
        self.row[4..8].copy_from_slice(&self.object.to_le_bytes());
        self.row[8..HEADER].copy_from_slice(&row.to_le_bytes());
        let piece = &mut self.pieces[i];
        piece.mem.extend_from_slice(&self.row);
        piece.span.add(time.unwrap_or(i64::MIN));
        self.bytes += self.row.len();
        true
    }

    pub fn len_bytes(&self) -> usize {
        self.bytes
    }
}

/// One entry of a partition stream.
pub(super) struct Entry<'a> {
    pub object: u32,
    pub row: u32,
    pub payload: &'a [u8],
    pub whole: &'a [u8],
}

/// Iterates the entries of an encoded stream.
pub(super) fn entries(buf: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos + HEADER > buf.len() {
            return None;
        }
        let word = |at: usize| buf[at..at + 4].try_into().ok().map(u32::from_le_bytes);
        let len = word(pos)? as usize;
        let end = pos + HEADER + len;
        let item = Entry {
            object: word(pos + 4)?,
            row: word(pos + 8)?,
            payload: &buf[pos + HEADER..end],
            whole: &buf[pos..end],
        };
        pos = end;
        Some(item)
    })
}

/// The range of time values a partition holds, for splitting it further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub lo: i64,
    pub hi: i64,
}

impl Span {
    const EMPTY: Span = Span {
        lo: i64::MAX,
        hi: i64::MIN,
    };

    fn add(&mut self, t: i64) {
        self.lo = self.lo.min(t);
        self.hi = self.hi.max(t);
    }
}

struct Partition {
    /// The group value (`None` first) and the range within it.
    place: (Option<Box<[u8]>>, usize),
    span: Span,
    /// Its rows in memory: the pieces of the batches, moved in as they are (a copy of every
    /// row under the readers' lock cost more than a list of buffers).
    chunks: Vec<Vec<u8>>,
    /// Where its spilled rows are in the spill file: offset and length of each spill.
    extents: Vec<(u64, usize)>,
    bytes: u64,
}

/// The spill file of a set of partitions, each spill appended whole; removed once no
/// partition needs it.
pub(super) struct SpillFile {
    path: PathBuf,
    /// Opening it can fail: the error is the first write's.
    file: io::Result<File>,
}

impl SpillFile {
    fn file(&self) -> io::Result<&File> {
        self.file
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

/// Rows taken out of the partitions, to be written at their places in the spill file.
struct Spill {
    file: Arc<SpillFile>,
    writes: Vec<(u64, Vec<u8>)>,
}

impl Spill {
    fn write(self) -> io::Result<()> {
        let file = self.file.file()?;
        for (offset, rows) in &self.writes {
            file.write_all_at(rows, *offset)?;
        }
        Ok(())
    }
}

/// The partitions, locked; a reader that panicked left them consistent (rows are moved in
/// whole pieces), so a poisoned lock is taken as it is.
pub(super) fn lock(p: &Mutex<Partitions>) -> MutexGuard<'_, Partitions> {
    match p.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // Nothing to do about a failure here: the run's scratch directory goes at its end.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Range partitions of a day's rows, in memory until `limit` bytes are buffered, then on disk.
pub struct Partitions {
    dir: PathBuf,
    name: String,
    ranges: Ranges,
    parts: Vec<Partition>,
    routes: Routes,
    ids: Vec<Id>,
    buffered: usize,
    limit: usize,
    /// The spill file and its length, once anything spilled.
    spilled: Option<(Arc<SpillFile>, u64)>,
}

/// A finished partition: its entries in memory or in a spill file.
pub struct PartitionData {
    pub(super) stored: Stored,
    pub(super) bytes: u64,
    pub(super) span: Span,
}

pub(super) enum Stored {
    Memory(Vec<Vec<u8>>),
    Disk {
        file: Arc<SpillFile>,
        extents: Vec<(u64, usize)>,
    },
}

impl PartitionData {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

const NO_PART: u32 = u32::MAX;

impl Partitions {
    /// Where the partitions spill.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Partitions of `table`'s rows of the day starting at `origin` (epoch milliseconds); `name`
    /// makes the spill file names unique within `dir`.
    pub fn new(dir: &Path, name: &str, table: &Table, origin: i64, limit: usize) -> Partitions {
        Partitions::with_ranges(dir, name, Ranges::of(table, origin), limit)
    }

    fn with_ranges(dir: &Path, name: &str, ranges: Ranges, limit: usize) -> Partitions {
        Partitions {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            ranges,
            parts: Vec::new(),
            routes: Routes::default(),
            ids: Vec::new(),
            buffered: 0,
            limit,
            spilled: None,
        }
    }

    /// A batch for the rows of raw object (or data file) number `object`.
    pub fn batch(&self, object: u32) -> Batch {
        Batch {
            ranges: self.ranges,
            routes: Routes::default(),
            pieces: Vec::new(),
            row: Vec::new(),
            ids: Vec::new(),
            object,
            rows: 0,
            bytes: 0,
        }
    }

    /// Moves a batch's rows into the partitions that the readers share; a spill is written after
    /// the lock is released, so that the other readers go on meanwhile.
    pub fn absorb(partitions: &Mutex<Partitions>, batch: &mut Batch) -> io::Result<()> {
        let spill = lock(partitions).take(batch);
        match spill {
            Some(spill) => spill.write(),
            None => Ok(()),
        }
    }

    /// Moves a batch's rows into the partitions; the spill to write when they are over the limit.
    fn take(&mut self, batch: &mut Batch) -> Option<Spill> {
        for piece in &mut batch.pieces {
            if piece.mem.is_empty() {
                continue;
            }
            let (group, range) = (piece.place.0.as_deref(), piece.place.1);
            let len = piece.mem.len();
            // The piece starts again at about the size it reached; the chunk gives its spare
            // capacity back (in place: no copy) so that buffered bytes are the memory held.
            let mut chunk = std::mem::replace(&mut piece.mem, Vec::with_capacity(len));
            chunk.shrink_to_fit();
            let p = self.part(group, range);
            p.chunks.push(chunk);
            p.span.add(piece.span.lo);
            p.span.add(piece.span.hi);
            p.bytes += len as u64;
            self.buffered += len;
            piece.span = Span::EMPTY;
        }
        batch.bytes = 0;
        self.ids.append(&mut batch.ids);
        (self.buffered > self.limit).then(|| self.spill_out())
    }

    /// Adds the entries of `buf`, of one partition being split, by equal time ranges of
    /// `width` from `lo` (its rows share a group: the range alone orders them).
    fn absorb_split(&mut self, buf: &[u8], lo: i64, width: i128) -> io::Result<()> {
        for e in entries(buf) {
            let time = self.ranges.read(e.payload).1;
            let t = time.unwrap_or(i64::MIN).max(lo);
            let range = (((i128::from(t) - i128::from(lo)) / width) as usize).min(BUCKETS - 1);
            let p = self.part(None, range);
            match p.chunks.last_mut() {
                Some(chunk) => chunk.extend_from_slice(e.whole),
                None => p.chunks.push(e.whole.to_vec()),
            }
            p.span.add(time.unwrap_or(i64::MIN));
            p.bytes += e.whole.len() as u64;
            self.buffered += e.whole.len();
        }
        if self.buffered > self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// The partition of `(group, range)`, made on first use.
    fn part(&mut self, group: Option<&[u8]>, range: usize) -> &mut Partition {
        let (i, new) = self.routes.slot(group, range, self.parts.len());
        if new {
            self.parts.push(Partition {
                place: (group.map(Box::from), range),
                span: Span::EMPTY,
                chunks: Vec::new(),
                extents: Vec::new(),
                bytes: 0,
            });
        }
        &mut self.parts[i]
    }

    /// The sorted, distinct keys of the rows absorbed so far (for the cross-day dedup probe).
    pub fn keys(&mut self) -> Vec<u128> {
        sort_by_hash(&mut self.ids, |id| id.key >> 127 == 1);
        let mut keys: Vec<u128> = self.ids.iter().map(|id| id.key).collect();
        keys.dedup();
        keys
    }

    fn spill(&mut self) -> io::Result<()> {
        self.spill_out().write()
    }

    /// Takes every partition's buffered rows out, each with its place in the spill file.
    fn spill_out(&mut self) -> Spill {
        let name = &self.name;
        let (file, end) = self.spilled.get_or_insert_with(|| {
            let path = self.dir.join(format!("{name}.spill"));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path);
            (Arc::new(SpillFile { path, file }), 0)
        });
        // One file for all partitions: a file each cost an open, a create and the file
        // system's bookkeeping per partition and spill (a tenth of the run).
        let mut writes = Vec::new();
        for p in &mut self.parts {
            // A partition's chunks go one after the other: one extent per spill.
            let start = *end;
            for chunk in p.chunks.drain(..) {
                let len = chunk.len() as u64;
                writes.push((*end, chunk));
                *end += len;
            }
            if *end > start {
                p.extents.push((start, (*end - start) as usize));
            }
        }
        self.buffered = 0;
        Spill {
            file: file.clone(),
            writes,
        }
    }

    /// The partitions in output order, and the ids of their rows.
    pub fn finish(mut self) -> io::Result<(Vec<PartitionData>, Vec<Id>)> {
        // Once one partition is on disk, all go there: what stays in memory is bounded by the
        // limit, and the caller loads partitions one at a time.
        if self.spilled.is_some() {
            self.spill()?;
        }
        self.parts.sort_unstable_by(|a, b| a.place.cmp(&b.place));
        let spill = self.spilled.map(|(file, _)| file);
        let out = self
            .parts
            .into_iter()
            .map(|p| PartitionData {
                stored: match &spill {
                    Some(file) => Stored::Disk {
                        file: file.clone(),
                        extents: p.extents,
                    },
                    None => Stored::Memory(p.chunks),
                },
                bytes: p.bytes,
                span: p.span,
            })
            .collect();
        Ok((out, self.ids))
    }
}

/// Reads a partition back into `buf` (whose memory is reused); the spill file is removed once
/// the last partition in it is read.
pub(super) fn load(data: PartitionData, buf: &mut Vec<u8>) -> io::Result<()> {
    match data.stored {
        Stored::Memory(mut chunks) if chunks.len() == 1 => *buf = chunks.swap_remove(0),
        Stored::Memory(chunks) => {
            buf.clear();
            buf.reserve(data.bytes as usize);
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
            }
        }
        Stored::Disk { file, extents } => {
            buf.clear();
            buf.reserve(data.bytes as usize);
            for (offset, len) in extents {
                let start = buf.len();
                buf.resize(start + len, 0);
                file.file()?.read_exact_at(&mut buf[start..], offset)?;
            }
        }
    }
    Ok(())
}

/// Splits a partition that is over the memory limit into `n` smaller ones of equal time ranges,
/// in order, streaming; `None` when its rows all have one time value and cannot be split.
pub(super) fn split(
    data: PartitionData,
    table: &Table,
    dir: &Path,
    name: &str,
    n: usize,
    limit: usize,
) -> io::Result<Result<Vec<PartitionData>, PartitionData>> {
    let Span { lo, hi } = data.span;
    if lo >= hi {
        return Ok(Err(data));
    }
    let width = (i128::from(hi) - i128::from(lo)) / n.min(BUCKETS) as i128 + 1;
    // Every row of a partition has the same group, so the range alone orders the pieces.
    let mut parts = Partitions::with_ranges(dir, name, Ranges::of(table, 0), limit);
    match data.stored {
        Stored::Memory(chunks) => {
            for chunk in chunks {
                parts.absorb_split(&chunk, lo, width)?;
            }
        }
        Stored::Disk { file, extents } => {
            // A spill holds whole entries: each is split as it is read.
            let mut chunk = Vec::new();
            for (offset, len) in extents {
                chunk.resize(len, 0);
                file.file()?.read_exact_at(&mut chunk, offset)?;
                parts.absorb_split(&chunk, lo, width)?;
            }
        }
    }
    parts.spill()?;
    Ok(Ok(parts.finish()?.0))
}
