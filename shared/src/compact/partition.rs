//! Hash partitions of a run's rows, bounded in memory: rows are partitioned on their event id (so
//! every copy of an event lands in the same partition), and partitions spill to local disk when
//! the buffered bytes pass a limit. [`super::dedup`] then takes one partition at a time.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::lake::fingerprint::fnv1a;
use crate::lake::index::key_hash;
use crate::lake::table::Table;
use crate::record::cells::{read_cell, Cell};

/// Entry kinds in a partition stream.
pub(super) const ROW: u8 = 0;
/// An event id already committed for the day: rows with it are late duplicates.
pub(super) const COMMITTED: u8 = 1;

/// Header of an entry: payload length (u32), kind (u8), key hash (u64), source object (u32).
/// The object lets the sort drop the rows of an object that turned out unreadable half-way.
pub(super) const HEADER: usize = 17;

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

    /// Appends the row that `encode` writes, or nothing when `encode` says no (`None`). The
    /// key's hash picks the partition and is returned, for the cross-day dedup probe; rows
    /// without a key (a quarantined event without id) go by their whole encoding.
    pub fn push_row(
        &mut self,
        table: &Table,
        encode: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> Option<Option<u128>> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER]);
        if !encode(&mut self.buf) {
            self.buf.truncate(start);
            return None;
        }
        let payload = &self.buf[start + HEADER..];
        let key_at = (0..table.key_column).fold(0, |pos, _| read_cell(payload, pos).1);
        let key = match read_cell(payload, key_at).0 {
            Cell::Str(key) => Some(key_hash(key)),
            _ => None,
        };
        let hash = key.map_or_else(|| fnv1a(payload), |k| k as u64);
        let len = (self.buf.len() - start - HEADER) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        self.buf[start + 4] = ROW;
        self.buf[start + 5..start + 13].copy_from_slice(&hash.to_le_bytes());
        self.buf[start + 13..start + HEADER].copy_from_slice(&self.object.to_le_bytes());
        Some(key)
    }

    /// Records the hash of a key the table already holds: rows with it are late duplicates.
    pub fn push_committed(&mut self, key: u128) {
        self.buf.extend_from_slice(&16u32.to_le_bytes());
        self.buf.push(COMMITTED);
        self.buf.extend_from_slice(&(key as u64).to_le_bytes());
        self.buf.extend_from_slice(&self.object.to_le_bytes());
        self.buf.extend_from_slice(&key.to_le_bytes());
    }

    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }
}

/// One entry of a partition stream.
pub(super) struct Entry<'a> {
    pub kind: u8,
    pub hash: u64,
    pub object: u32,
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
    /// Where the partitions spill.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

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
            // The buffer is kept for the next rows: what it holds stays within the limit, and
            // growing it again from nothing page-faulted every spill's worth of memory anew.
            p.mem.clear();
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

/// Reads a partition back into `buf` (whose memory is reused); a spill file is removed once read.
pub(super) fn load(data: PartitionData, buf: &mut Vec<u8>) -> io::Result<()> {
    match data {
        PartitionData::Memory(m) => *buf = m,
        PartitionData::Disk { path, bytes } => {
            buf.clear();
            buf.reserve(bytes as usize);
            File::open(&path)?.read_to_end(buf)?;
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Splits a partition that is over the memory limit into `n` smaller ones, streaming.
pub(super) fn split(
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
