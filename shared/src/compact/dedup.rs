//! Memory-bounded dedup and sort. Dedup is decided first, on the run's row ids alone (see
//! [`super::partition::Id`]): among the copies of a key the smallest `received_at` wins, ties
//! going to the first read, and a key the table already holds loses all its copies. Then the
//! range partitions are loaded in output order on `threads` threads, each with its losers
//! dropped and sorted on its own, and handed to the sink in order: no sorted runs, no merge. A
//! run that fits the budget never touches the disk.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};

use super::completeness::Completeness;
use super::partition::{entries, load, split, Id, PartitionData, HEADER};
use crate::lake::parquet::RowSink;
use crate::lake::table::Table;
use crate::record::cells::{index_cells, Cell, RowRef};
use crate::record::ColumnType;

/// What dedup saw in one day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DedupCounts {
    pub rows_in: u64,
    /// Copies of an event seen in this run (a client retry or Firehose redelivery).
    pub duplicates: u64,
    /// Rows whose event is already in a committed part of the day.
    pub already_committed: u64,
}

/// Dedup and sort configuration of one run.
pub struct Sorter<'a> {
    pub table: &'a Table,
    pub dir: &'a Path,
    /// The most entry bytes one partition may hold when it is loaded.
    pub partition_limit: usize,
    /// Objects whose rows must be dropped: they could not be read to the end.
    pub skip_objects: &'a HashSet<u32>,
    /// Partitions loaded and sorted at once (each holds up to `partition_limit`).
    pub threads: usize,
}

/// The rows that lose dedup: a bit per row of each object.
#[derive(Default)]
struct Losers(Vec<Vec<u64>>);

impl Losers {
    fn insert(&mut self, id: &Id) {
        let (object, row) = (id.object() as usize, id.at as u32 as usize);
        if self.0.len() <= object {
            self.0.resize_with(object + 1, Vec::new);
        }
        let bits = &mut self.0[object];
        if bits.len() <= row / 64 {
            bits.resize(row / 64 + 1, 0);
        }
        bits[row / 64] |= 1 << (row % 64);
    }

    fn contains(&self, object: u32, row: u32) -> bool {
        let row = row as usize;
        self.0
            .get(object as usize)
            .and_then(|bits| bits.get(row / 64))
            .is_some_and(|word| word & (1 << (row % 64)) != 0)
    }
}

/// A loaded partition with its surviving rows in output order. Its vectors are filled again
/// with the next partition.
#[derive(Default)]
struct Sorted {
    buf: Vec<u8>,
    /// Cell offsets, `ncols` per surviving row.
    offsets: Vec<u32>,
    /// Surviving rows (by position in `offsets`) in output order, each after its sort prefix.
    order: Vec<(u64, u32)>,
    rows_in: u64,
    completeness: Completeness,
}

/// An order-keeping prefix of a sort cell: equal prefixes say nothing, different ones decide.
fn prefix(cell: Cell<'_>) -> u64 {
    match cell {
        Cell::Null => 0,
        Cell::Int(v) => (v as u64) ^ (1 << 63),
        Cell::Str(s) => {
            let mut b = [0u8; 8];
            let n = s.len().min(8);
            b[..n].copy_from_slice(&s[..n]);
            u64::from_be_bytes(b)
        }
    }
}

impl Sorter<'_> {
    /// Deduplicates (on `ids`, against the `committed` keys, sorted) and sorts all `partitions`
    /// (in output order) into `sink`; returns the counts and completeness.
    pub fn run(
        &self,
        partitions: Vec<PartitionData>,
        ids: Vec<Id>,
        committed: &[u128],
        sink: &mut dyn RowSink,
    ) -> io::Result<(DedupCounts, Completeness)> {
        let mut counts = DedupCounts::default();
        let mut completeness = match self.table.completeness {
            Some(_) => Completeness::with_capacity(ids.len()),
            None => Completeness::default(),
        };
        let losers = self.decide(ids, committed, &mut counts);
        let mut fitted = Vec::new();
        for (i, p) in partitions.into_iter().enumerate() {
            self.fit(p, &format!("p{i}"), 1, &mut fitted)?;
        }
        let ncols = self.table.columns.len();
        // Gives the sink a partition's rows; returns its vectors for the next one.
        let mut emit = |mut sorted: Sorted| -> io::Result<Sorted> {
            counts.rows_in += sorted.rows_in;
            completeness.merge(std::mem::take(&mut sorted.completeness));
            for &(_, r) in &sorted.order {
                let at = r as usize * ncols;
                sink.push(RowRef {
                    buf: &sorted.buf,
                    offsets: &sorted.offsets[at..at + ncols],
                })?;
            }
            Ok(sorted)
        };
        let threads = self.threads.clamp(1, fitted.len().max(1));
        if threads == 1 {
            let mut reuse = Sorted::default();
            for p in fitted {
                reuse = emit(self.sort(p, &losers, reuse)?)?;
            }
            return Ok((counts, completeness));
        }
        // Partition k is sorted by thread k % threads and handed over through a channel without
        // room; the thread then waits for its vectors back to fill them with its next partition.
        // So `threads` partitions are in memory at once, and no vector is allocated again: freed
        // ones of this size are reused by the allocator only in part (the RSS grew by half).
        let n = fitted.len();
        let mut shares: Vec<Vec<PartitionData>> = (0..threads).map(|_| Vec::new()).collect();
        for (k, p) in fitted.into_iter().enumerate() {
            shares[k % threads].push(p);
        }
        let losers = &losers;
        std::thread::scope(|s| {
            let mut workers = Vec::with_capacity(threads);
            let mut channels: Vec<Receiver<io::Result<Sorted>>> = Vec::with_capacity(threads);
            let mut returns: Vec<Sender<Sorted>> = Vec::with_capacity(threads);
            for share in shares {
                let (tx, rx) = sync_channel(0);
                let (back, spare) = channel();
                channels.push(rx);
                returns.push(back);
                workers.push(s.spawn(move || {
                    let mut reuse = Sorted::default();
                    for p in share {
                        // A closed channel: the sink failed and the run is over.
                        if tx.send(self.sort(p, losers, reuse)).is_err() {
                            return;
                        }
                        match spare.recv() {
                            Ok(used) => reuse = used,
                            Err(_) => return,
                        }
                    }
                }));
            }
            let mut outcome = Ok(());
            for k in 0..n {
                let sorted = channels[k % threads]
                    .recv()
                    .unwrap_or_else(|_| Err(io::Error::other("a sort thread stopped")));
                match sorted.and_then(&mut emit) {
                    // The thread may be done: then the vectors are dropped.
                    Ok(used) => drop(returns[k % threads].send(used)),
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            drop(channels);
            for w in workers {
                if w.join().is_err() && outcome.is_ok() {
                    outcome = Err(io::Error::other("a sort thread panicked"));
                }
            }
            outcome
        })?;
        Ok((counts, completeness))
    }

    /// The rows that lose dedup, from the ids of every row read (rows of skipped objects aside:
    /// they are dropped, so they must not win).
    fn decide(&self, mut ids: Vec<Id>, committed: &[u128], counts: &mut DedupCounts) -> Losers {
        let mut losers = Losers::default();
        if !self.table.dedup {
            return losers;
        }
        if !self.skip_objects.is_empty() {
            ids.retain(|id| !self.skip_objects.contains(&id.object()));
        }
        // In key order, and among a key's copies the winner first.
        ids.sort_unstable();
        let mut i = 0;
        while i < ids.len() {
            let key = ids[i].key;
            let end = i + ids[i..].iter().take_while(|id| id.key == key).count();
            let first_loser = if committed.binary_search(&key).is_ok() {
                counts.already_committed += (end - i) as u64;
                i
            } else {
                counts.duplicates += (end - i - 1) as u64;
                i + 1
            };
            for id in &ids[first_loser..end] {
                losers.insert(id);
            }
            i = end;
        }
        losers
    }

    /// Splits `p` until every piece fits the partition limit.
    fn fit(
        &self,
        p: PartitionData,
        name: &str,
        level: u32,
        out: &mut Vec<PartitionData>,
    ) -> io::Result<()> {
        // Past a few levels a partition can only be this large by holding many rows of nearly
        // one time: it is loaded as it is.
        if p.bytes() as usize <= self.partition_limit || level > 4 {
            out.push(p);
            return Ok(());
        }
        let n = p.bytes() as usize / self.partition_limit + 1;
        match split(p, self.table, self.dir, name, n, self.partition_limit)? {
            Err(whole) => out.push(whole),
            Ok(pieces) => {
                for (i, piece) in pieces.into_iter().enumerate() {
                    self.fit(piece, &format!("{name}.{i}"), level + 1, out)?;
                }
            }
        }
        Ok(())
    }

    /// Loads a partition (into the memory of `reuse`) and sorts the rows that survive dedup.
    fn sort(&self, p: PartitionData, losers: &Losers, reuse: Sorted) -> io::Result<Sorted> {
        let t = self.table;
        let ncols = t.columns.len();
        let Sorted {
            mut buf,
            mut offsets,
            mut order,
            ..
        } = reuse;
        load(p, &mut buf)?;
        offsets.clear();
        order.clear();
        let mut rows_in = 0;
        let mut pos = 0;
        for e in entries(&buf) {
            if !self.skip_objects.contains(&e.object) {
                rows_in += 1;
                if !losers.contains(e.object, e.row) {
                    index_cells(&buf, pos + HEADER, ncols, &mut offsets);
                }
            }
            pos += e.whole.len();
        }
        // The rows of a partition share its first sort cell when that is text (one event type):
        // left out, the sort starts at the timestamp instead of comparing the same string.
        let first = usize::from(t.columns[t.sort_columns[0]].ty == ColumnType::Utf8);
        let row = |i: u32| RowRef {
            buf: &buf,
            offsets: &offsets[i as usize * ncols..(i as usize + 1) * ncols],
        };
        let mut completeness = Completeness::default();
        // Prefixes are taken in buffer order, where the cells they read are cached, and most
        // comparisons end at them; only equal prefixes compare the cells, in sorted order.
        for i in 0..(offsets.len() / ncols) as u32 {
            let r = row(i);
            completeness.observe(t, &r);
            order.push((prefix(r.cell(t.sort_columns[first])), i));
        }
        let cells = |i: u32| t.sort_columns[first..].iter().map(move |&c| row(i).cell(c));
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| cells(a.1).cmp(cells(b.1))));
        Ok(Sorted {
            buf,
            offsets,
            order,
            rows_in,
            completeness,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::partition::{lock, Batch, Partitions};
    use super::*;
    use crate::lake::index::key_hash;
    use crate::lake::table::EVENTS;
    use crate::lake::Day;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// Event `id`, its timestamp spread over 30 hours from 22:00 the day before.
    fn line(id: usize, received: &str, ty: &str) -> String {
        let hour = 22 + id % 30;
        let (day, hour) = (27 + hour / 24, hour % 24);
        format!(
            r#"{{"event_id":"id-{id}","event_type":"{ty}","schema_version":"1-0-0","timestamp":"2026-11-{day}T{hour:02}:00:{:02}.000Z","received_at":"{received}","anonymous_id":"a","session_id":"s","seq":{id}}}"#,
            id % 60
        )
    }

    /// The rows a sink was given: event id, event type, timestamp, received at.
    struct Collect(Vec<(String, String, i64, i64)>);

    impl RowSink for Collect {
        fn push(&mut self, row: RowRef<'_>) -> io::Result<()> {
            let text = |c: usize| String::from(row.cell(c).as_str().unwrap());
            let int = |c: usize| row.cell(c).as_int().unwrap();
            self.0.push((text(0), text(1), int(3), int(6)));
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

    fn push(batch: &mut Batch, line: &str) {
        assert!(batch.push_row(&EVENTS, |out| EVENTS
            .parse_line(line.as_bytes(), out)
            .is_ok()));
    }

    fn sorter<'a>(
        dir: &'a Path,
        limit: usize,
        skip: &'a HashSet<u32>,
        threads: usize,
    ) -> Sorter<'a> {
        Sorter {
            table: &EVENTS,
            dir,
            partition_limit: limit,
            skip_objects: skip,
            threads,
        }
    }

    /// Sorts 2,000 events (10% sent again later as another event type, in another object) with
    /// `limit` bytes of memory on `threads` threads; `id-10` is already in the table.
    fn sort_with_limit(limit: usize, threads: usize) -> (Collect, DedupCounts, bool) {
        let dir = scratch(&format!("{limit}-{threads}"));
        let origin = Day::parse("2026-11-28").unwrap().start_millis();
        let parts = Mutex::new(Partitions::new(&dir, "p", &EVENTS, origin, limit));
        let mut first = lock(&parts).batch(0);
        let mut retries = lock(&parts).batch(1);
        for i in 0..2_000 {
            if i % 10 == 0 {
                push(&mut retries, &line(i, "2026-11-28T10:05:00.000Z", "retry"));
            }
            let ty = if i % 2 == 0 { "b" } else { "a" };
            push(&mut first, &line(i, "2026-11-28T10:01:00.000Z", ty));
            if first.len_bytes() > 4096 {
                Partitions::absorb(&parts, &mut first).unwrap();
            }
        }
        Partitions::absorb(&parts, &mut first).unwrap();
        Partitions::absorb(&parts, &mut retries).unwrap();
        let mut parts = parts.into_inner().unwrap();
        let keys = parts.keys();
        assert_eq!(keys.len(), 2_000, "distinct keys for the probe");
        let (parts, ids) = parts.finish().unwrap();
        let spilled = std::fs::read_dir(&dir).unwrap().count() > 0;
        let mut sink = Collect(Vec::new());
        let skip = HashSet::new();
        let (counts, _) = sorter(&dir, limit, &skip, threads)
            .run(parts, ids, &[key_hash(b"id-10")], &mut sink)
            .unwrap();
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "spill files are removed"
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
        let ids: HashSet<&str> = sink.0.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(ids.len(), 1_999, "each event once");
        assert!(!ids.contains("id-10"));
        let first_received = crate::timestamp::parse_rfc3339("2026-11-28T10:01:00.000Z").unwrap();
        assert!(
            sink.0
                .iter()
                .all(|r| r.3 == first_received && r.1 != "retry"),
            "the first received copy wins, though its retry fell in another partition"
        );
        let mut sorted = sink.0.clone();
        sorted.sort_by(|a, b| (&a.1, a.2, &a.0).cmp(&(&b.1, b.2, &b.0)));
        assert!(sorted == sink.0, "rows in event type, timestamp, id order");
    }

    #[test]
    fn a_day_that_fits_memory_is_deduplicated_and_sorted_without_disk() {
        let (sink, counts, spilled) = sort_with_limit(usize::MAX, 1);
        assert!(!spilled, "no spill file");
        check(&sink, counts);
    }

    #[test]
    fn a_day_many_times_the_limit_spills_splits_and_comes_out_the_same() {
        let (whole, _, _) = sort_with_limit(usize::MAX, 1);
        // ~250 KB of entries against 16 KB: partitions spill and are split into time ranges.
        for threads in [1, 2, 3] {
            let (sink, counts, spilled) = sort_with_limit(16 * 1024, threads);
            assert!(spilled, "a spill file");
            check(&sink, counts);
            assert!(sink.0 == whole.0, "same rows in the same order");
        }
    }

    #[test]
    fn the_copy_in_an_unreadable_object_never_wins() {
        let dir = scratch("skip");
        let parts = Mutex::new(Partitions::new(&dir, "p", &EVENTS, 0, usize::MAX));
        let mut bad = lock(&parts).batch(0);
        let mut good = lock(&parts).batch(1);
        push(&mut bad, &line(1, "2026-11-28T10:00:00.000Z", "a"));
        push(&mut good, &line(1, "2026-11-28T10:09:00.000Z", "a"));
        push(&mut good, &line(1, "2026-11-28T10:09:00.000Z", "b"));
        Partitions::absorb(&parts, &mut bad).unwrap();
        Partitions::absorb(&parts, &mut good).unwrap();
        let (parts, ids) = parts.into_inner().unwrap().finish().unwrap();
        let skip = HashSet::from([0]);
        let mut sink = Collect(Vec::new());
        let (counts, _) = sorter(&dir, usize::MAX, &skip, 2)
            .run(parts, ids, &[], &mut sink)
            .unwrap();
        assert_eq!(sink.0.len(), 1);
        assert_eq!(
            sink.0[0].1, "a",
            "a tie goes to the first read of the readable copies"
        );
        assert_eq!((counts.rows_in, counts.duplicates), (2, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
