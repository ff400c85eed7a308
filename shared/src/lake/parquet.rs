//! Parquet parts: written from sorted rows, rolled at a target size, and read back for
//! verification and for the event ids of committed parts. Uses the `parquet` crate's column API
//! directly (no Arrow), so strings go from the row encoding to pages without conversion.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel};
use parquet::column::reader::{get_typed_column_reader, ColumnReader};
use parquet::column::writer::{get_column_writer, get_typed_column_writer_mut, ColumnCloseResult};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, ColumnPath, Type};

use super::error::{LakeError as Error, Result};
pub use super::fingerprint::Fingerprint;
use super::index::{FileIndex, IndexBuilder};
use super::stats::FileStats;
use super::table::Table;
use crate::record::cells::{index_cells, push_cell, read_cell, Cell, RowRef, STR_HEADER};
use crate::record::{Column, ColumnType};

/// Where rows go in output order: a Parquet writer, or a test's collector.
pub trait RowSink {
    fn push(&mut self, row: RowRef<'_>) -> io::Result<()>;
}

fn parquet_err(path: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::parquet(path.display(), e)
}

fn io_err(path: &Path, e: io::Error) -> Error {
    Error::io(path.display(), e)
}

/// A part written to local disk, ready to upload.
#[derive(Debug, Clone)]
pub struct LocalPart {
    pub path: PathBuf,
    pub bytes: u64,
    pub fingerprint: Fingerprint,
    /// Column statistics for the table's log.
    pub stats: FileStats,
    /// The part's file index (its keys and people).
    pub index: FileIndex,
}

/// A part being written.
struct OpenPart {
    path: PathBuf,
    writer: SerializedFileWriter<File>,
    fingerprint: Fingerprint,
    stats: FileStats,
    index: IndexBuilder,
}

/// Timestamps are kept in milliseconds and stored in microseconds, the unit of Delta's
/// `timestamp` type.
const MICROS_PER_MILLI: i64 = 1000;

/// The Parquet schema of a table's data files, from its column list.
pub fn schema_of(name: &str, columns: &[Column]) -> Result<Arc<Type>> {
    let group = columns
        .iter()
        .map(|c| {
            let (physical, logical) = match c.ty {
                ColumnType::Utf8 | ColumnType::Json => {
                    (Physical::BYTE_ARRAY, Some(LogicalType::String))
                }
                ColumnType::Timestamp => (
                    Physical::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                ),
                ColumnType::Int64 => (Physical::INT64, None),
                ColumnType::Int32 => (Physical::INT32, None),
                ColumnType::Boolean => (Physical::BOOLEAN, None),
            };
            let repetition = if c.required {
                Repetition::REQUIRED
            } else {
                Repetition::OPTIONAL
            };
            Type::primitive_type_builder(c.name, physical)
                .with_repetition(repetition)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<parquet::errors::Result<Vec<_>>>()
        .and_then(|fields| {
            Type::group_type_builder("schema")
                .with_fields(fields)
                .build()
        })
        .map_err(|e| parquet_err(Path::new(name), e))?;
    Ok(Arc::new(group))
}

fn properties(table: &Table) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_created_by(format!("driftless {}", env!("CARGO_PKG_VERSION")))
        // zstd level 3: most of level 9's ratio on this data at a fraction of the time.
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Long strings (URLs, user agents, JSON) would bloat footers and column indexes with
        // min/max values nobody filters on whole.
        .set_statistics_truncate_length(Some(64))
        .set_column_index_truncate_length(Some(64));
    for c in table.columns {
        let path = ColumnPath::from(c.name);
        b = b.set_column_dictionary_enabled(path.clone(), c.dictionary);
        if !c.page_stats {
            b = b.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    b.build()
}

/// Writes sorted rows into parts of about `target_bytes` each, in row groups of about
/// `row_group_bytes` of encoded rows (the rows of one row group are held in memory).
pub struct PartWriter<'t> {
    table: &'t Table,
    dir: PathBuf,
    name: String,
    target_bytes: u64,
    row_group_bytes: usize,
    schema: Arc<Type>,
    props: Arc<WriterProperties>,
    open: Option<OpenPart>,
    rows: Vec<u8>,
    done: Vec<LocalPart>,
    /// Threads that encode the columns of a row group at once.
    threads: usize,
    /// The columns of the row group being written, kept for the next (their memory reused).
    columns: Vec<Gathered>,
}

impl<'t> PartWriter<'t> {
    /// Parts are written to `dir` as `<name>-NNNN.parquet`.
    pub fn new(
        table: &'t Table,
        dir: &Path,
        name: &str,
        target_bytes: u64,
        row_group_bytes: usize,
    ) -> Result<PartWriter<'t>> {
        Ok(PartWriter {
            table,
            dir: dir.to_path_buf(),
            name: name.to_string(),
            target_bytes,
            row_group_bytes,
            schema: schema_of(table.name, table.columns)?,
            props: Arc::new(properties(table)),
            open: None,
            rows: Vec::new(),
            done: Vec::new(),
            threads: 1,
            columns: gathered(table),
        })
    }

    /// Encodes and compresses the columns of each row group on `n` threads.
    pub fn encoding_threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    fn flush_row_group(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        if self.open.is_none() {
            let path = self
                .dir
                .join(format!("{}-{:04}.parquet", self.name, self.done.len()));
            let file = File::create(&path).map_err(|e| io_err(&path, e))?;
            let writer = SerializedFileWriter::new(file, self.schema.clone(), self.props.clone())
                .map_err(|e| parquet_err(&path, e))?;
            self.open = Some(OpenPart {
                path,
                writer,
                fingerprint: Fingerprint::default(),
                stats: FileStats::new(self.table),
                index: IndexBuilder::default(),
            });
        }
        let Some(part) = self.open.as_mut() else {
            return Ok(());
        };
        let buf = Bytes::from(std::mem::take(&mut self.rows));
        transpose(self.table, &buf, part, &mut self.columns);
        let written = write_row_group(&mut part.writer, &self.columns, &self.props, self.threads)
            .map_err(|e| parquet_err(&part.path, e));
        self.columns.iter_mut().for_each(Gathered::clear);
        written?;
        // The column values that borrowed the buffer are gone: it is taken back for the next
        // row group instead of mapping (and page-faulting) as much memory again.
        if let Ok(rows) = buf.try_into_mut() {
            self.rows = Vec::from(rows);
            self.rows.clear();
        }
        if part.writer.bytes_written() as u64 >= self.target_bytes {
            self.close_part()?;
        }
        Ok(())
    }

    fn close_part(&mut self) -> Result<()> {
        if let Some(part) = self.open.take() {
            part.writer
                .close()
                .map_err(|e| parquet_err(&part.path, e))?;
            let bytes = std::fs::metadata(&part.path)
                .map_err(|e| io_err(&part.path, e))?
                .len();
            self.done.push(LocalPart {
                path: part.path,
                bytes,
                fingerprint: part.fingerprint,
                stats: part.stats,
                index: part.index.finish(),
            });
        }
        Ok(())
    }

    /// Writes `rows` (encoded rows, back to back) as one row group; returns the emptied buffer.
    fn write_row_group_of(&mut self, rows: Vec<u8>) -> Result<Vec<u8>> {
        self.flush_row_group()?;
        self.rows = rows;
        self.flush_row_group()?;
        Ok(std::mem::take(&mut self.rows))
    }

    /// Moves the Parquet encoding to a thread of its own, fed one row group at a time, so that
    /// sorting and merging go on while the previous row group is compressed.
    pub fn in_background(self) -> BackgroundWriter
    where
        't: 'static,
    {
        let row_group_bytes = self.row_group_bytes;
        // A rendezvous channel: one row group is encoded while the next fills, no more. The
        // buffers written go back to be filled again.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(0);
        let (spare_tx, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let mut writer = self;
        let handle = std::thread::spawn(move || -> Result<Vec<LocalPart>> {
            for rows in rx {
                let emptied = writer.write_row_group_of(rows)?;
                // The sender may be gone (it finished); the buffer is then just freed.
                let _ = spare_tx.send(emptied);
            }
            writer.finish()
        });
        BackgroundWriter {
            tx: Some(tx),
            handle: Some(handle),
            rows: Vec::with_capacity(row_group_bytes + (1 << 16)),
            spare,
            row_group_bytes,
        }
    }

    /// Flushes and closes; returns the parts written, in order.
    pub fn finish(mut self) -> Result<Vec<LocalPart>> {
        self.flush_row_group()?;
        self.close_part()?;
        Ok(self.done)
    }
}

impl RowSink for PartWriter<'_> {
    fn push(&mut self, row: RowRef<'_>) -> io::Result<()> {
        self.rows.extend_from_slice(row.bytes());
        if self.rows.len() >= self.row_group_bytes {
            self.flush_row_group().map_err(io::Error::other)?;
        }
        Ok(())
    }
}

/// A [`PartWriter`] running on its own thread; see [`PartWriter::in_background`].
pub struct BackgroundWriter {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    handle: Option<std::thread::JoinHandle<Result<Vec<LocalPart>>>>,
    rows: Vec<u8>,
    /// Buffers the writer is done with.
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    row_group_bytes: usize,
}

impl BackgroundWriter {
    fn send(&mut self) -> io::Result<()> {
        let next = match self.spare.try_recv() {
            Ok(mut spare) => {
                spare.reserve(self.row_group_bytes + (1 << 16));
                spare
            }
            Err(_) => Vec::with_capacity(self.row_group_bytes + (1 << 16)),
        };
        let rows = std::mem::replace(&mut self.rows, next);
        match self.tx.as_ref() {
            Some(tx) => tx
                .send(rows)
                .map_err(|_| io::Error::other("the Parquet writer stopped")),
            None => Ok(()),
        }
    }

    /// Flushes, waits for the writer and returns its parts (or the error that stopped it).
    pub fn finish(mut self) -> Result<Vec<LocalPart>> {
        let sent = if self.rows.is_empty() {
            Ok(())
        } else {
            self.send()
        };
        self.tx = None;
        let parts = match self.handle.take().map(std::thread::JoinHandle::join) {
            Some(Ok(parts)) => parts,
            Some(Err(_)) | None => Err(parquet_err(
                Path::new("parquet writer"),
                ParquetError::General("the writer thread panicked".into()),
            )),
        }?;
        sent.map_err(|e| io_err(Path::new("parquet writer"), e))?;
        Ok(parts)
    }
}

impl RowSink for BackgroundWriter {
    fn push(&mut self, row: RowRef<'_>) -> io::Result<()> {
        self.rows.extend_from_slice(row.bytes());
        if self.rows.len() >= self.row_group_bytes {
            self.send()?;
        }
        Ok(())
    }
}

/// The non-null values of one column of a row group, gathered for the column writer.
enum Values {
    Bytes(Vec<ByteArray>),
    Int64(Vec<i64>),
    Int32(Vec<i32>),
    Bool(Vec<bool>),
}

/// One column of a row group: its values, and a definition level per row when it is optional.
struct Gathered {
    values: Values,
    def: Option<Vec<i16>>,
}

/// Empty columns for the rows of `table`.
fn gathered(table: &Table) -> Vec<Gathered> {
    table
        .columns
        .iter()
        .map(|c| Gathered {
            values: match c.ty {
                ColumnType::Utf8 | ColumnType::Json => Values::Bytes(Vec::new()),
                ColumnType::Timestamp | ColumnType::Int64 => Values::Int64(Vec::new()),
                ColumnType::Int32 => Values::Int32(Vec::new()),
                ColumnType::Boolean => Values::Bool(Vec::new()),
            },
            def: (!c.required).then(Vec::new),
        })
        .collect()
}

impl Gathered {
    /// Drops the values (and the row buffer slices they hold), keeping the memory.
    fn clear(&mut self) {
        match &mut self.values {
            Values::Bytes(v) => v.clear(),
            Values::Int64(v) => v.clear(),
            Values::Int32(v) => v.clear(),
            Values::Bool(v) => v.clear(),
        }
        if let Some(def) = self.def.as_mut() {
            def.clear();
        }
    }
}

/// Turns rows (encoded back to back in `buf`) into `columns` (empty on entry) in one pass over
/// the cells, adding each row to the part's fingerprint, statistics and index. Strings are
/// slices of `buf`: no copy.
fn transpose(table: &Table, buf: &Bytes, part: &mut OpenPart, columns: &mut [Gathered]) {
    let mut pos = 0;
    let mut offsets = Vec::with_capacity(table.columns.len());
    while pos < buf.len() {
        offsets.clear();
        index_cells(buf, pos, table.columns.len(), &mut offsets);
        let row = RowRef {
            buf,
            offsets: &offsets,
        };
        part.stats.push(&row);
        part.index.push(table, &row);
        for (c, column) in columns.iter_mut().enumerate() {
            let (cell, next) = read_cell(buf, pos);
            if c == table.key_column {
                part.fingerprint.add(match cell {
                    Cell::Str(key) => key,
                    _ => b"",
                });
            }
            // A null, or a value of another kind (which the parsers never write), is absent.
            let present = match (&mut column.values, cell) {
                (Values::Bytes(v), Cell::Str(s)) => {
                    v.push(ByteArray::from(
                        buf.slice(pos + STR_HEADER..pos + STR_HEADER + s.len()),
                    ));
                    true
                }
                (Values::Int64(v), Cell::Int(x)) => {
                    v.push(if table.columns[c].ty == ColumnType::Timestamp {
                        x.saturating_mul(MICROS_PER_MILLI)
                    } else {
                        x
                    });
                    true
                }
                (Values::Int32(v), Cell::Int(x)) => {
                    v.push(i32::try_from(x).unwrap_or_default());
                    true
                }
                (Values::Bool(v), Cell::Int(x)) => {
                    v.push(x != 0);
                    true
                }
                _ => false,
            };
            if let Some(def) = column.def.as_mut() {
                def.push(i16::from(present));
            }
            pos = next;
        }
    }
}

/// Writes one row group: its columns are encoded and compressed into memory on `threads`
/// threads (a column is the unit of work), then appended to the file in schema order.
fn write_row_group(
    writer: &mut SerializedFileWriter<File>,
    columns: &[Gathered],
    props: &Arc<WriterProperties>,
    threads: usize,
) -> parquet::errors::Result<()> {
    let descrs: Vec<ColumnDescPtr> = writer.schema_descr().columns().to_vec();
    let work: Vec<(ColumnDescPtr, &Gathered)> = descrs.into_iter().zip(columns).collect();
    let queue = std::sync::Mutex::new(work.into_iter().enumerate());
    let encode_all = || {
        let mut done = Vec::new();
        loop {
            let next = match queue.lock() {
                Ok(mut q) => q.next(),
                Err(poisoned) => poisoned.into_inner().next(),
            };
            let Some((i, (descr, column))) = next else {
                return done;
            };
            done.push((i, encode_column(descr, props, column)));
        }
    };
    let mut encoded: Vec<(usize, parquet::errors::Result<(Bytes, ColumnCloseResult)>)> =
        std::thread::scope(|s| {
            let helpers: Vec<_> = (1..threads.max(1)).map(|_| s.spawn(encode_all)).collect();
            let mut all = encode_all();
            for h in helpers {
                match h.join() {
                    Ok(done) => all.extend(done),
                    Err(_) => all.push((
                        usize::MAX,
                        Err(ParquetError::General("a column encoder panicked".into())),
                    )),
                }
            }
            all
        });
    encoded.sort_by_key(|(i, _)| *i);
    let mut rg = writer.next_row_group()?;
    for (_, chunk) in encoded {
        let (bytes, close) = chunk?;
        rg.append_column(&bytes, close)?;
    }
    rg.close()?;
    Ok(())
}

/// One column chunk, encoded and compressed into memory.
fn encode_column(
    descr: ColumnDescPtr,
    props: &Arc<WriterProperties>,
    column: &Gathered,
) -> parquet::errors::Result<(Bytes, ColumnCloseResult)> {
    let mut sink = TrackedWrite::new(Vec::new());
    let close = {
        let pages = Box::new(SerializedPageWriter::new(&mut sink));
        let mut w = get_column_writer(descr, props.clone(), pages);
        let def = column.def.as_deref();
        match &column.values {
            Values::Bytes(v) => {
                get_typed_column_writer_mut::<ByteArrayType>(&mut w).write_batch(v, def, None)?
            }
            Values::Int64(v) => {
                get_typed_column_writer_mut::<Int64Type>(&mut w).write_batch(v, def, None)?
            }
            Values::Int32(v) => {
                get_typed_column_writer_mut::<Int32Type>(&mut w).write_batch(v, def, None)?
            }
            Values::Bool(v) => {
                get_typed_column_writer_mut::<BoolType>(&mut w).write_batch(v, def, None)?
            }
        };
        w.close()?
    };
    Ok((Bytes::from(sink.into_inner()?), close))
}

/// Calls `f` with every non-null value of string column `column` of a local Parquet file, and
/// returns the file's row count and the fingerprint of that column (nulls count as empty).
pub fn scan_string_column(
    path: &Path,
    column: usize,
    mut f: impl FnMut(&[u8]),
) -> Result<Fingerprint> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| parquet_err(path, e))?;
    let mut fp = Fingerprint::default();
    let mut values: Vec<ByteArray> = Vec::with_capacity(8192);
    let mut def: Vec<i16> = Vec::with_capacity(8192);
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(|e| parquet_err(path, e))?;
        let expected = rg.metadata().num_rows() as u64;
        let col = rg
            .get_column_reader(column)
            .map_err(|e| parquet_err(path, e))?;
        if !matches!(col, ColumnReader::ByteArrayColumnReader(_)) {
            return Err(parquet_err(
                path,
                ParquetError::General(format!("column {column} is not a string")),
            ));
        }
        let mut col = get_typed_column_reader::<ByteArrayType>(col);
        let mut seen = 0u64;
        loop {
            values.clear();
            def.clear();
            let (records, _, _) = col
                .read_records(8192, Some(&mut def), None, &mut values)
                .map_err(|e| parquet_err(path, e))?;
            if records == 0 {
                break;
            }
            seen += records as u64;
            let mut v = values.iter();
            if def.is_empty() {
                // A REQUIRED column has no definition levels: every record has a value.
                for value in v.by_ref() {
                    fp.add(value.data());
                    f(value.data());
                }
            } else {
                for level in &def {
                    if *level > 0 {
                        if let Some(value) = v.next() {
                            fp.add(value.data());
                            f(value.data());
                        }
                    } else {
                        fp.add(b"");
                    }
                }
            }
        }
        if seen != expected {
            return Err(parquet_err(
                path,
                ParquetError::General(format!(
                    "row group {g} has {expected} rows but {seen} values were read"
                )),
            ));
        }
    }
    Ok(fp)
}

/// The non-null values of one column of a row group, read whole (integers widened to i64).
enum ColumnValues {
    Bytes(Vec<ByteArray>),
    Ints(Vec<i64>),
}

/// Calls `f` with every row of a local Parquet file written for `table`, in the row encoding.
/// Holds one row group in memory at a time (the writer bounds row groups by the memory budget).
pub fn read_rows(path: &Path, table: &Table, mut f: impl FnMut(RowRef<'_>)) -> Result<u64> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| parquet_err(path, e))?;
    let ncols = table.columns.len();
    let mut total = 0u64;
    let mut buf = Vec::new();
    let mut offsets = Vec::with_capacity(ncols);
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(|e| parquet_err(path, e))?;
        let rows = rg.metadata().num_rows() as usize;
        let mut columns = Vec::with_capacity(ncols);
        for c in 0..ncols {
            let mut def: Vec<i16> = Vec::with_capacity(rows);
            let col = rg.get_column_reader(c).map_err(|e| parquet_err(path, e))?;
            let values = match col {
                ColumnReader::ByteArrayColumnReader(mut r) => {
                    let mut v: Vec<ByteArray> = Vec::with_capacity(rows);
                    r.read_records(rows, Some(&mut def), None, &mut v)
                        .map_err(|e| parquet_err(path, e))?;
                    ColumnValues::Bytes(v)
                }
                ColumnReader::Int64ColumnReader(mut r) => {
                    let mut v: Vec<i64> = Vec::with_capacity(rows);
                    r.read_records(rows, Some(&mut def), None, &mut v)
                        .map_err(|e| parquet_err(path, e))?;
                    if table.columns[c].ty == ColumnType::Timestamp {
                        for x in &mut v {
                            *x = x.div_euclid(MICROS_PER_MILLI);
                        }
                    }
                    ColumnValues::Ints(v)
                }
                ColumnReader::Int32ColumnReader(mut r) => {
                    let mut v: Vec<i32> = Vec::with_capacity(rows);
                    r.read_records(rows, Some(&mut def), None, &mut v)
                        .map_err(|e| parquet_err(path, e))?;
                    ColumnValues::Ints(v.into_iter().map(i64::from).collect())
                }
                ColumnReader::BoolColumnReader(mut r) => {
                    let mut v: Vec<bool> = Vec::with_capacity(rows);
                    r.read_records(rows, Some(&mut def), None, &mut v)
                        .map_err(|e| parquet_err(path, e))?;
                    ColumnValues::Ints(v.into_iter().map(i64::from).collect())
                }
                _ => {
                    return Err(parquet_err(
                        path,
                        ParquetError::General(format!(
                            "column {c} has a type {} does not write",
                            table.name
                        )),
                    ))
                }
            };
            columns.push((values, def, 0usize));
        }
        for r in 0..rows {
            buf.clear();
            for (values, def, next) in columns.iter_mut() {
                // No definition levels: a required column, a value in every row.
                let present = def.is_empty() || def[r] > 0;
                let cell = match (present, &*values) {
                    (false, _) => Cell::Null,
                    (true, ColumnValues::Bytes(v)) => Cell::Str(v[*next].data()),
                    (true, ColumnValues::Ints(v)) => Cell::Int(v[*next]),
                };
                if present {
                    *next += 1;
                }
                push_cell(&mut buf, cell);
            }
            offsets.clear();
            index_cells(&buf, 0, ncols, &mut offsets);
            f(RowRef {
                buf: &buf,
                offsets: &offsets,
            });
        }
        total += rows as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::table::EVENTS;

    /// Parses a stored event and pushes its row into `w`.
    fn push_line(w: &mut PartWriter<'_>, line: &str) {
        let mut buf = Vec::new();
        EVENTS.parse_line(line.as_bytes(), &mut buf).unwrap();
        let mut offsets = Vec::new();
        index_cells(&buf, 0, EVENTS.columns.len(), &mut offsets);
        w.push(RowRef {
            buf: &buf,
            offsets: &offsets,
        })
        .unwrap();
    }

    #[test]
    fn parts_roll_at_the_target_size_and_read_back_with_their_fingerprint() {
        let dir = std::env::temp_dir().join(format!("driftless-pq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Row groups of ~20 KB and parts of at least 1 byte: every row group closes a part.
        let mut w = PartWriter::new(&EVENTS, &dir, "part-test", 1, 20_000).unwrap();
        let mut expected = Fingerprint::default();
        for i in 0..1_000 {
            let line = format!(
                r#"{{"event_id":"e{i}","event_type":"t","schema_version":"1-0-0","timestamp":"2026-11-28T10:00:00.000Z","received_at":"2026-11-28T10:00:01.000Z","anonymous_id":"a","session_id":null,"seq":{i},"properties":{{"n":{i}}}}}"#
            );
            push_line(&mut w, &line);
            expected.add(format!("e{i}").as_bytes());
        }
        let parts = w.finish().unwrap();
        assert!(parts.len() > 3, "{} parts", parts.len());
        let mut total = Fingerprint::default();
        let mut ids = 0;
        for p in &parts {
            let fp = scan_string_column(&p.path, 0, |_| ids += 1).unwrap();
            assert_eq!(fp, p.fingerprint);
            total.rows += fp.rows;
            total.checksum = total.checksum.wrapping_add(fp.checksum);
        }
        assert_eq!(total, expected);
        assert_eq!(ids, 1_000);
        // Whole rows come back as they were encoded.
        let mut seqs = Vec::new();
        read_rows(&parts[0].path, &EVENTS, |row| {
            assert_eq!(row.cell(9), Cell::Null);
            assert_eq!(row.cell(2), Cell::Str(b"1-0-0"));
            if let Cell::Int(seq) = row.cell(10) {
                seqs.push(seq);
            }
        })
        .unwrap();
        assert_eq!(seqs.len() as u64, parts[0].fingerprint.rows);
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "rows in written order"
        );
        // session_id is null everywhere: read back as rows with no value.
        let fp = scan_string_column(&parts[0].path, 9, |_| panic!("no value")).unwrap();
        assert_eq!(fp.rows, parts[0].fingerprint.rows);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Writes 3,000 varied rows (nulls, repeated and unique strings) with `threads` encoders.
    fn write_with_threads(dir: &Path, threads: usize) -> Vec<u8> {
        let mut w = PartWriter::new(&EVENTS, dir, &format!("part-t{threads}"), u64::MAX, 64_000)
            .unwrap()
            .encoding_threads(threads);
        for i in 0..3_000 {
            let user = if i % 3 == 0 {
                "null".to_string()
            } else {
                format!(r#""u{}""#, i % 17)
            };
            let line = format!(
                r#"{{"event_id":"e{i}","event_type":"t{}","schema_version":"1-0-0","timestamp":"2026-11-28T10:00:00.000Z","received_at":"2026-11-28T10:00:01.000Z","anonymous_id":"a{}","user_id":{user},"seq":{i},"context":{{"locale":"de-DE","screen":{{"width":390}}}},"is_bot":{},"properties":{{"n":{}}}}}"#,
                i % 4,
                i % 50,
                i % 7 == 0,
                i % 9
            );
            push_line(&mut w, &line);
        }
        let parts = w.finish().unwrap();
        assert_eq!(parts.len(), 1);
        std::fs::read(&parts[0].path).unwrap()
    }

    #[test]
    fn columns_encoded_on_several_threads_make_the_same_file_as_on_one() {
        let dir = std::env::temp_dir().join(format!("driftless-pq-threads-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let one = write_with_threads(&dir, 1);
        let many = write_with_threads(&dir, 3);
        assert!(one.len() > 10_000, "{} bytes", one.len());
        assert!(one == many, "the same bytes whatever the thread count");
        // And the file is whole: every row group of every column reads back.
        let path = dir.join("part-t3-0000.parquet");
        let mut rows = 0;
        let read = read_rows(&path, &EVENTS, |row| {
            assert!(matches!(row.cell(0), Cell::Str(_)));
            rows += 1;
        })
        .unwrap();
        assert_eq!((read, rows), (3_000, 3_000));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
