//! Memory-bounded dedup and sort: rows are hash-partitioned on their event id (so every copy of
//! an event lands in the same partition), partitions spill to local disk when the buffered bytes
//! pass a limit, and each partition is then deduplicated and sorted on its own into a sorted run.
//! A k-way merge of the runs gives the day in output order. A day that fits the budget never
//! touches the disk: one partition, deduplicated and sorted in memory.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::table::{index_cells, read_cell, Cell, RowRef, Table};

/// Entry kinds in a partition stream.
const ROW: u8 = 0;
/// An event id already committed for the day: rows with it are late duplicates.
const COMMITTED: u8 = 1;

/// Header of an entry: payload length (u32), kind (u8), key hash (u64), source object (u32).
/// The object lets the sort drop the rows of an object that turned out unreadable half-way.
const HEADER: usize = 17;

/// 64-bit FNV-1a. Stable across builds and platforms, which the manifest's checksum needs.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The partition of `hash` among `n` at split `level`: each level mixes the hash differently, so a
/// partition that is split again spreads over its sub-partitions.
fn route(hash: u64, level: u32, n: usize) -> usize {
    let mut z = hash ^ u64::from(level).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % n as u64) as usize
}

/// Entries collected by one reader before they are handed to [`Partitions`] in one lock.
pub struct Batch {
    buf: Vec<u8>,
    object: u32,
}

impl Batch {
    /// A batch of the rows of raw object number `object`.
    pub fn new(object: u32) -> Batch {
        Batch {
            buf: Vec::new(),
            object,
        }
    }

    /// Appends the row that `encode` writes. `key` picks the partition; rows without a key (a
    /// quarantined event without id) go by their whole encoding.
    pub fn push_row(&mut self, table: &Table, encode: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER]);
        if !encode(&mut self.buf) {
            self.buf.truncate(start);
            return false;
        }
        let payload = &self.buf[start + HEADER..];
        let key_at = (0..table.key_column).fold(0, |pos, _| read_cell(payload, pos).1);
        let hash = match read_cell(payload, key_at).0 {
            Cell::Str(key) => fnv1a(key),
            _ => fnv1a(payload),
        };
        let len = (self.buf.len() - start - HEADER) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        self.buf[start + 4] = ROW;
        self.buf[start + 5..start + 13].copy_from_slice(&hash.to_le_bytes());
        self.buf[start + 13..start + HEADER].copy_from_slice(&self.object.to_le_bytes());
        true
    }

    /// Records an event id that is already in a committed part of the day.
    pub fn push_committed(&mut self, key: &[u8]) {
        self.buf
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.buf.push(COMMITTED);
        self.buf.extend_from_slice(&fnv1a(key).to_le_bytes());
        self.buf.extend_from_slice(&self.object.to_le_bytes());
        self.buf.extend_from_slice(key);
    }

    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }
}

/// One entry of a partition stream.
struct Entry<'a> {
    kind: u8,
    hash: u64,
    object: u32,
    payload: &'a [u8],
    whole: &'a [u8],
}

/// Iterates the entries of an encoded stream.
fn entries(buf: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos + HEADER > buf.len() {
            return None;
        }
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().ok()?) as usize;
        let kind = buf[pos + 4];
        let hash = u64::from_le_bytes(buf[pos + 5..pos + 13].try_into().ok()?);
        let object = u32::from_le_bytes(buf[pos + 13..pos + HEADER].try_into().ok()?);
        let end = pos + HEADER + len;
        let item = Entry {
            kind,
            hash,
            object,
            payload: &buf[pos + HEADER..end],
            whole: &buf[pos..end],
        };
        pos = end;
        Some(item)
    })
}

struct Partition {
    mem: Vec<u8>,
    file: Option<(PathBuf, BufWriter<File>)>,
    bytes: u64,
}

/// Hash partitions of a day's rows, in memory until `limit` bytes are buffered, then on disk.
pub struct Partitions {
    dir: PathBuf,
    name: String,
    level: u32,
    parts: Vec<Partition>,
    buffered: usize,
    limit: usize,
}

/// A finished partition: its entries in memory or in a spill file.
pub enum PartitionData {
    Memory(Vec<u8>),
    Disk { path: PathBuf, bytes: u64 },
}

impl PartitionData {
    pub fn bytes(&self) -> u64 {
        match self {
            PartitionData::Memory(m) => m.len() as u64,
            PartitionData::Disk { bytes, .. } => *bytes,
        }
    }
}

impl Partitions {
    /// `name` makes the spill file names unique within `dir`.
    pub fn new(dir: &Path, name: &str, level: u32, n: usize, limit: usize) -> Partitions {
        Partitions {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            level,
            parts: (0..n.max(1))
                .map(|_| Partition {
                    mem: Vec::new(),
                    file: None,
                    bytes: 0,
                })
                .collect(),
            buffered: 0,
            limit,
        }
    }

    pub fn absorb(&mut self, batch: &mut Batch) -> io::Result<()> {
        self.absorb_entries(&batch.buf)?;
        batch.buf.clear();
        Ok(())
    }

    fn absorb_entries(&mut self, buf: &[u8]) -> io::Result<()> {
        let n = self.parts.len();
        for e in entries(buf) {
            let p = &mut self.parts[route(e.hash, self.level, n)];
            p.mem.extend_from_slice(e.whole);
            p.bytes += e.whole.len() as u64;
            self.buffered += e.whole.len();
        }
        if self.buffered > self.limit {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        for (i, p) in self.parts.iter_mut().enumerate() {
            if p.mem.is_empty() {
                continue;
            }
            if p.file.is_none() {
                let path = self.dir.join(format!("{}-{i}.spill", self.name));
                let file = File::create(&path)?;
                p.file = Some((path, BufWriter::with_capacity(1 << 16, file)));
            }
            if let Some((_, w)) = p.file.as_mut() {
                w.write_all(&p.mem)?;
            }
            p.mem = Vec::new();
        }
        self.buffered = 0;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<Vec<PartitionData>> {
        // Once one partition is on disk, all go there: what stays in memory is bounded by the
        // limit, and the caller loads partitions one at a time.
        if self.parts.iter().any(|p| p.file.is_some()) {
            self.spill()?;
        }
        let mut out = Vec::with_capacity(self.parts.len());
        for p in self.parts {
            match p.file {
                Some((path, mut w)) => {
                    w.flush()?;
                    out.push(PartitionData::Disk {
                        path,
                        bytes: p.bytes,
                    });
                }
                None if p.bytes > 0 => out.push(PartitionData::Memory(p.mem)),
                None => {}
            }
        }
        Ok(out)
    }
}

/// Reads a partition back; a spill file is removed once read.
fn load(data: PartitionData) -> io::Result<Vec<u8>> {
    match data {
        PartitionData::Memory(m) => Ok(m),
        PartitionData::Disk { path, bytes } => {
            let mut buf = Vec::with_capacity(bytes as usize);
            File::open(&path)?.read_to_end(&mut buf)?;
            std::fs::remove_file(&path)?;
            Ok(buf)
        }
    }
}

/// Splits a partition that is over the memory limit into `n` smaller ones, streaming.
fn split(
    data: PartitionData,
    dir: &Path,
    name: &str,
    level: u32,
    n: usize,
    limit: usize,
) -> io::Result<Vec<PartitionData>> {
    let mut parts = Partitions::new(dir, name, level, n, limit);
    match data {
        PartitionData::Memory(m) => parts.absorb_entries(&m)?,
        PartitionData::Disk { path, .. } => {
            let mut r = BufReader::with_capacity(1 << 16, File::open(&path)?);
            let mut chunk = Vec::with_capacity(1 << 20);
            let mut header = [0u8; HEADER];
            loop {
                match r.read_exact(&mut header) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
                let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
                chunk.extend_from_slice(&header);
                let start = chunk.len();
                chunk.resize(start + len as usize, 0);
                r.read_exact(&mut chunk[start..])?;
                if chunk.len() >= 1 << 20 {
                    parts.absorb_entries(&chunk)?;
                    chunk.clear();
                }
            }
            parts.absorb_entries(&chunk)?;
            std::fs::remove_file(&path)?;
        }
    }
    parts.spill()?;
    parts.finish()
}

/// What dedup saw in one day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DedupCounts {
    pub rows_in: u64,
    /// Copies of an event seen in this run (a client retry or Firehose redelivery).
    pub duplicates: u64,
    /// Rows whose event is already in a committed part of the day.
    pub already_committed: u64,
}

/// Where sorted, deduplicated rows go.
pub trait RowSink {
    fn push(&mut self, row: RowRef<'_>) -> io::Result<()>;
}

/// Per `anonymous_id`: lowest and highest `seq` and how many distinct events. The share of the
/// `seq` range that arrived is the day's delivery completeness.
#[derive(Debug, Default)]
pub struct Completeness {
    per_user: HashMap<u64, (i64, i64, u64)>,
}

impl Completeness {
    fn merge(&mut self, other: Completeness) {
        for (user, (lo, hi, n)) in other.per_user {
            let e = self.per_user.entry(user).or_insert((lo, hi, 0));
            e.0 = e.0.min(lo);
            e.1 = e.1.max(hi);
            e.2 += n;
        }
    }

    fn observe(&mut self, table: &Table, row: &RowRef<'_>) {
        let Some((anon, seq)) = table.completeness else {
            return;
        };
        let (Cell::Str(id), Cell::Int(seq)) = (row.cell(anon), row.cell(seq)) else {
            return;
        };
        let e = self.per_user.entry(fnv1a(id)).or_insert((seq, seq, 0));
        e.0 = e.0.min(seq);
        e.1 = e.1.max(seq);
        e.2 += 1;
    }

    /// `(expected, received)` events over all users: expected is the span of each user's `seq`.
    pub fn totals(&self) -> (u64, u64) {
        self.per_user
            .values()
            .fold((0, 0), |(exp, got), (lo, hi, n)| {
                (exp + (hi - lo + 1).max(0) as u64, got + n)
            })
    }
}

/// Sorted run files (with their partition number), and what dedup saw making them.
type SortedRuns = (Vec<(usize, PathBuf)>, DedupCounts, Completeness);

/// Dedup and sort configuration of one run.
pub struct Sorter<'a> {
    pub table: &'a Table,
    pub dir: &'a Path,
    /// The most entry bytes one partition may hold when it is loaded.
    pub partition_limit: usize,
    /// Objects whose rows must be dropped: they could not be read to the end.
    pub skip_objects: &'a HashSet<u32>,
    /// Partitions deduplicated and sorted at once (each holds up to `partition_limit`).
    pub threads: usize,
}

/// An in-memory partition, indexed.
struct Loaded {
    buf: Vec<u8>,
    /// Cell offsets, `ncols` per row.
    offsets: Vec<u32>,
    committed: Vec<(usize, usize)>,
}

impl Sorter<'_> {
    /// Deduplicates and sorts all `partitions` into `sink`; returns the counts and completeness.
    pub fn run(
        &self,
        partitions: Vec<PartitionData>,
        sink: &mut dyn RowSink,
    ) -> io::Result<(DedupCounts, Completeness)> {
        let mut counts = DedupCounts::default();
        let mut completeness = Completeness::default();
        let mut fitted = Vec::new();
        for (i, p) in partitions.into_iter().enumerate() {
            self.fit(p, &format!("p{i}"), 1, &mut fitted)?;
        }
        if fitted.len() == 1 {
            // One partition: straight from memory to the sink, no run on disk.
            if let Some(p) = fitted.pop() {
                let loaded = self.index(load(p)?);
                for row in self.survivors(&loaded, &mut counts, &mut completeness) {
                    sink.push(row)?;
                }
            }
            return Ok((counts, completeness));
        }
        // Partitions become sorted runs on `threads` threads; the merge then reads them in order.
        let queue = std::sync::Mutex::new(fitted.into_iter().enumerate().collect::<Vec<_>>());
        let outcomes: Vec<io::Result<SortedRuns>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..self.threads.max(1))
                .map(|_| s.spawn(|| self.sort_partitions(&queue)))
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(io::Error::other("a sort thread panicked")))
                })
                .collect()
        });
        let mut runs = Vec::new();
        for outcome in outcomes {
            let (worker_runs, c, done) = outcome?;
            runs.extend(worker_runs);
            counts.rows_in += c.rows_in;
            counts.duplicates += c.duplicates;
            counts.already_committed += c.already_committed;
            completeness.merge(done);
        }
        runs.sort();
        let runs: Vec<PathBuf> = runs.into_iter().map(|(_, p)| p).collect();
        self.merge(&runs, sink)?;
        for r in runs {
            std::fs::remove_file(r)?;
        }
        Ok((counts, completeness))
    }

    /// Takes partitions off `queue` until it is empty, writing each as a sorted run.
    fn sort_partitions(
        &self,
        queue: &std::sync::Mutex<Vec<(usize, PartitionData)>>,
    ) -> io::Result<SortedRuns> {
        let mut runs = Vec::new();
        let mut counts = DedupCounts::default();
        let mut completeness = Completeness::default();
        loop {
            let next = match queue.lock() {
                Ok(mut q) => q.pop(),
                Err(poisoned) => poisoned.into_inner().pop(),
            };
            let Some((i, p)) = next else {
                return Ok((runs, counts, completeness));
            };
            let loaded = self.index(load(p)?);
            let path = self.dir.join(format!("run-{i}.sorted"));
            let mut w = BufWriter::with_capacity(1 << 16, File::create(&path)?);
            for row in self.survivors(&loaded, &mut counts, &mut completeness) {
                let bytes = row.bytes();
                w.write_all(&(bytes.len() as u32).to_le_bytes())?;
                w.write_all(bytes)?;
            }
            w.flush()?;
            runs.push((i, path));
        }
    }

    /// Splits `p` until every piece fits the partition limit.
    fn fit(
        &self,
        p: PartitionData,
        name: &str,
        level: u32,
        out: &mut Vec<PartitionData>,
    ) -> io::Result<()> {
        // Past a few levels a partition can only be this large by holding copies of few ids
        // (every copy of an event hashes alike), and dedup shrinks it to fit: stop splitting.
        if p.bytes() as usize <= self.partition_limit || level > 4 {
            out.push(p);
            return Ok(());
        }
        let n = (p.bytes() as usize / self.partition_limit + 1).clamp(2, 64);
        for (i, sub) in split(p, self.dir, name, level, n, self.partition_limit)?
            .into_iter()
            .enumerate()
        {
            self.fit(sub, &format!("{name}.{i}"), level + 1, out)?;
        }
        Ok(())
    }

    fn index(&self, buf: Vec<u8>) -> Loaded {
        let ncols = self.table.columns.len();
        let mut offsets = Vec::new();
        let mut committed = Vec::new();
        let mut pos = 0;
        for e in entries(&buf) {
            let start = pos + HEADER;
            if e.kind == COMMITTED {
                committed.push((start, start + e.payload.len()));
            } else if !self.skip_objects.contains(&e.object) {
                index_cells(&buf, start, ncols, &mut offsets);
            }
            pos += e.whole.len();
        }
        Loaded {
            buf,
            offsets,
            committed,
        }
    }

    /// The rows of a partition that survive dedup, in output order.
    fn survivors<'l>(
        &self,
        p: &'l Loaded,
        counts: &mut DedupCounts,
        completeness: &mut Completeness,
    ) -> Vec<RowRef<'l>> {
        let t = self.table;
        let ncols = t.columns.len();
        let rows = p.offsets.chunks_exact(ncols).map(|offsets| RowRef {
            buf: &p.buf,
            offsets,
        });
        counts.rows_in += (p.offsets.len() / ncols) as u64;
        let kept: Vec<RowRef<'l>> = if t.dedup {
            let committed: HashSet<&[u8]> =
                p.committed.iter().map(|&(s, e)| &p.buf[s..e]).collect();
            let mut first: HashMap<&[u8], usize> = HashMap::new();
            let mut kept: Vec<RowRef<'l>> = Vec::new();
            for row in rows {
                let Cell::Str(key) = row.cell(t.key_column) else {
                    kept.push(row);
                    continue;
                };
                if committed.contains(key) {
                    counts.already_committed += 1;
                    continue;
                }
                match first.get(key) {
                    None => {
                        first.insert(key, kept.len());
                        kept.push(row);
                    }
                    Some(&i) => {
                        counts.duplicates += 1;
                        let c = t.received_at_column;
                        if row.cell(c) < kept[i].cell(c) {
                            kept[i] = row;
                        }
                    }
                }
            }
            kept
        } else {
            rows.collect()
        };
        let mut keyed: Vec<([Cell<'l>; 3], RowRef<'l>)> =
            kept.into_iter().map(|r| (t.sort_key(&r), r)).collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        keyed
            .into_iter()
            .map(|(_, row)| {
                completeness.observe(t, &row);
                row
            })
            .collect()
    }

    /// K-way merge of sorted runs into `sink`.
    fn merge(&self, runs: &[PathBuf], sink: &mut dyn RowSink) -> io::Result<()> {
        let ncols = self.table.columns.len();
        let mut readers = Vec::with_capacity(runs.len());
        for path in runs {
            readers.push(RunReader {
                r: BufReader::with_capacity(1 << 18, File::open(path)?),
                buf: Vec::new(),
                offsets: Vec::with_capacity(ncols),
                live: false,
            });
        }
        for r in &mut readers {
            r.advance(ncols)?;
        }
        // A binary min-heap of the live runs, ordered by their current row: about log2(runs)
        // comparisons per row instead of one per run.
        let t = self.table;
        let less = |readers: &[RunReader], a: usize, b: usize| {
            t.cmp_rows(&readers[a].row(), &readers[b].row()).is_lt()
        };
        let mut heap: Vec<usize> = (0..readers.len()).filter(|&i| readers[i].live).collect();
        for i in (0..heap.len() / 2).rev() {
            sift_down(&mut heap, i, |a, b| less(&readers, a, b));
        }
        while let Some(&top) = heap.first() {
            sink.push(readers[top].row())?;
            readers[top].advance(ncols)?;
            if !readers[top].live {
                let last = heap.len() - 1;
                heap.swap(0, last);
                heap.pop();
            }
            sift_down(&mut heap, 0, |a, b| less(&readers, a, b));
        }
        Ok(())
    }
}

/// Restores the heap property below `i` (a min-heap under `less`).
fn sift_down(heap: &mut [usize], mut i: usize, less: impl Fn(usize, usize) -> bool) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut smallest = i;
        if l < heap.len() && less(heap[l], heap[smallest]) {
            smallest = l;
        }
        if r < heap.len() && less(heap[r], heap[smallest]) {
            smallest = r;
        }
        if smallest == i {
            return;
        }
        heap.swap(i, smallest);
        i = smallest;
    }
}

struct RunReader {
    r: BufReader<File>,
    buf: Vec<u8>,
    offsets: Vec<u32>,
    live: bool,
}

impl RunReader {
    fn advance(&mut self, ncols: usize) -> io::Result<()> {
        let mut len = [0u8; 4];
        match self.r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.live = false;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.buf.resize(u32::from_le_bytes(len) as usize, 0);
        self.r.read_exact(&mut self.buf)?;
        self.offsets.clear();
        index_cells(&self.buf, 0, ncols, &mut self.offsets);
        self.live = true;
        Ok(())
    }

    fn row(&self) -> RowRef<'_> {
        RowRef {
            buf: &self.buf,
            offsets: &self.offsets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::EVENTS;
    use super::*;

    fn line(id: usize, received: &str, ty: &str) -> String {
        format!(
            r#"{{"event_id":"id-{id}","event_type":"{ty}","schema_version":"1-0-0","timestamp":"2026-11-28T10:00:{:02}.000Z","received_at":"{received}","anonymous_id":"a","session_id":"s","seq":{id}}}"#,
            id % 60
        )
    }

    struct Collect(Vec<(String, i64)>);

    impl RowSink for Collect {
        fn push(&mut self, row: RowRef<'_>) -> io::Result<()> {
            let Cell::Str(id) = row.cell(0) else {
                panic!("event_id")
            };
            let Cell::Int(received) = row.cell(6) else {
                panic!("received_at")
            };
            self.0
                .push((String::from_utf8(id.to_vec()).unwrap(), received));
            Ok(())
        }
    }

    fn scratch(name: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("driftless-spill-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Sorts 2,000 events (10% sent twice, the later copy first) with `limit` bytes of memory.
    fn sort_with_limit(limit: usize, n_partitions: usize) -> (Collect, DedupCounts, u64) {
        let dir = scratch(&format!("{limit}-{n_partitions}"));
        let mut parts = Partitions::new(&dir, "p", 0, n_partitions, limit);
        let mut batch = Batch::new(0);
        for i in 0..2_000 {
            if i % 10 == 0 {
                let l = line(i, "2026-11-28T10:05:00.000Z", "retry");
                assert!(batch.push_row(&EVENTS, |out| EVENTS.parse_line(l.as_bytes(), out).is_ok()));
            }
            let l = line(
                i,
                "2026-11-28T10:01:00.000Z",
                if i % 2 == 0 { "b" } else { "a" },
            );
            assert!(batch.push_row(&EVENTS, |out| EVENTS.parse_line(l.as_bytes(), out).is_ok()));
            if batch.len_bytes() > 4096 {
                parts.absorb(&mut batch).unwrap();
            }
        }
        batch.push_committed(b"id-10");
        parts.absorb(&mut batch).unwrap();
        let parts = parts.finish().unwrap();
        let spilled: u64 = parts
            .iter()
            .filter(|p| matches!(p, PartitionData::Disk { .. }))
            .count() as u64;
        let mut sink = Collect(Vec::new());
        let sorter = Sorter {
            table: &EVENTS,
            dir: &dir,
            partition_limit: limit,
            skip_objects: &HashSet::new(),
            threads: 2,
        };
        let (counts, _) = sorter.run(parts, &mut sink).unwrap();
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "spill files and runs are removed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        (sink, counts, spilled)
    }

    fn check(sink: &Collect, counts: DedupCounts) {
        assert_eq!(counts.rows_in, 2_200);
        assert_eq!(
            counts.duplicates, 199,
            "id-10's retry counts as already committed"
        );
        assert_eq!(counts.already_committed, 2);
        assert_eq!(sink.0.len(), 1_999);
        let ids: HashSet<&str> = sink.0.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids.len(), 1_999, "each event once");
        assert!(!ids.contains("id-10"));
        let first_received = crate::timestamp::parse_rfc3339("2026-11-28T10:01:00.000Z").unwrap();
        assert!(
            sink.0.iter().all(|(_, r)| *r == first_received),
            "the first received copy wins"
        );
    }

    #[test]
    fn a_day_that_fits_memory_is_deduplicated_and_sorted_without_disk() {
        let (sink, counts, spilled) = sort_with_limit(usize::MAX, 1);
        assert_eq!(spilled, 0);
        check(&sink, counts);
    }

    #[test]
    fn a_day_many_times_the_limit_spills_splits_and_merges_to_the_same_result() {
        let (big, _, _) = sort_with_limit(usize::MAX, 1);
        // ~250 KB of entries against 16 KB: partitions spill and are split again.
        let (sink, counts, spilled) = sort_with_limit(16 * 1024, 2);
        assert!(spilled > 0);
        check(&sink, counts);
        assert_eq!(sink.0, big.0, "same rows in the same order");
    }
}
