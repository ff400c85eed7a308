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
use super::stats::{ColumnStats, FileStats};
use super::table::Table;
use crate::record::cells::{index_cells, push_cell, Cell, RowRef, STR_HEADER};
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
/// `row_group_bytes` of encoded rows (the cells of one row group are held in memory).
pub struct PartWriter<'t> {
    files: Parts<'t>,
    group: RowGroup,
    row_group_bytes: usize,
}

/// The files of a [`PartWriter`]: the part being written and those done.
struct Parts<'t> {
    table: &'t Table,
    dir: PathBuf,
    name: String,
    target_bytes: u64,
    schema: Arc<Type>,
    props: Arc<WriterProperties>,
    open: Option<OpenPart>,
    done: Vec<LocalPart>,
    /// Threads that encode the columns of a row group at once.
    threads: usize,
    /// Per encoding thread, the values handed to the column writer (their memory reused).
    scratch: Vec<Vec<ByteArray>>,
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
            files: Parts {
                table,
                dir: dir.to_path_buf(),
                name: name.to_string(),
                target_bytes,
                schema: schema_of(table.name, table.columns)?,
                props: Arc::new(properties(table)),
                open: None,
                done: Vec::new(),
                threads: 1,
                scratch: vec![Vec::new()],
            },
            group: RowGroup::new(table),
            row_group_bytes,
        })
    }

    /// Encodes and compresses the columns of each row group on `n` threads.
    pub fn encoding_threads(mut self, n: usize) -> Self {
        self.files.threads = n.max(1);
        self.files.scratch = (0..self.files.threads).map(|_| Vec::new()).collect();
        self
    }

    /// Moves the Parquet encoding to a thread of its own, fed one row group at a time, so that
    /// sorting and gathering the next row group go on while the previous one is compressed.
    pub fn in_background(self) -> BackgroundWriter<'t>
    where
        't: 'static,
    {
        let PartWriter {
            mut files,
            group,
            row_group_bytes,
        } = self;
        let table = files.table;
        // A rendezvous channel: one row group is encoded while the next fills, no more. The
        // row groups written go back to be filled again.
        let (tx, rx) = std::sync::mpsc::sync_channel::<RowGroup>(0);
        let (spare_tx, spare) = std::sync::mpsc::channel::<RowGroup>();
        let handle = std::thread::spawn(move || -> Result<Vec<LocalPart>> {
            for mut group in rx {
                files.write(&mut group)?;
                // The sender may be gone (it finished); the row group is then just freed.
                let _ = spare_tx.send(group);
            }
            files.finish()
        });
        BackgroundWriter {
            table,
            tx: Some(tx),
            handle: Some(handle),
            group,
            spare,
            row_group_bytes,
        }
    }

    /// Flushes and closes; returns the parts written, in order.
    pub fn finish(mut self) -> Result<Vec<LocalPart>> {
        self.files.write(&mut self.group)?;
        self.files.finish()
    }
}

impl RowSink for PartWriter<'_> {
    fn push(&mut self, row: RowRef<'_>) -> io::Result<()> {
        self.group.push(self.files.table, &row);
        if self.group.bytes >= self.row_group_bytes {
            self.files
                .write(&mut self.group)
                .map_err(io::Error::other)?;
        }
        Ok(())
    }
}

impl Parts<'_> {
    /// Writes `group` (when it has rows) as the next row group, and empties it.
    fn write(&mut self, group: &mut RowGroup) -> Result<()> {
        if group.rows == 0 {
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
        part.index.append(&mut group.index);
        part.fingerprint.merge(group.fingerprint);
        let written = write_row_group(
            self.table,
            &mut part.writer,
            &mut group.columns,
            &self.props,
            &mut self.scratch,
        )
        .map_err(|e| parquet_err(&part.path, e));
        let rows = group.rows as u64;
        group.clear();
        part.stats.add_row_group(rows, &written?);
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

    fn finish(mut self) -> Result<Vec<LocalPart>> {
        self.close_part()?;
        Ok(self.done)
    }
}

/// A [`PartWriter`] running on its own thread; see [`PartWriter::in_background`].
pub struct BackgroundWriter<'t> {
    table: &'t Table,
    tx: Option<std::sync::mpsc::SyncSender<RowGroup>>,
    handle: Option<std::thread::JoinHandle<Result<Vec<LocalPart>>>>,
    group: RowGroup,
    /// Row groups the writer is done with.
    spare: std::sync::mpsc::Receiver<RowGroup>,
    row_group_bytes: usize,
}

impl BackgroundWriter<'_> {
    fn send(&mut self) -> io::Result<()> {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| RowGroup::new(self.table));
        let group = std::mem::replace(&mut self.group, next);
        match self.tx.as_ref() {
            Some(tx) => tx
                .send(group)
                .map_err(|_| io::Error::other("the Parquet writer stopped")),
            None => Ok(()),
        }
    }

    /// Flushes, waits for the writer and returns its parts (or the error that stopped it).
    pub fn finish(mut self) -> Result<Vec<LocalPart>> {
        let sent = if self.group.rows == 0 {
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

impl RowSink for BackgroundWriter<'_> {
    fn push(&mut self, row: RowRef<'_>) -> io::Result<()> {
        self.group.push(self.table, &row);
        if self.group.bytes >= self.row_group_bytes {
            self.send()?;
        }
        Ok(())
    }
}

/// The non-null values of one column of a row group, in the form its column writer takes.
enum Values {
    /// Strings back to back, and where each ends: one buffer per column, so that the encoders
    /// each read their own, side by side, and the row buffers are not kept for them.
    Bytes {
        data: Vec<u8>,
        ends: Vec<u32>,
    },
    Int64(Vec<i64>),
    Int32(Vec<i32>),
    Bool(Vec<bool>),
}

impl Values {
    /// The memory of the values, a measure of the work of encoding them.
    fn bytes(&self) -> usize {
        match self {
            Values::Bytes { data, ends } => data.len() + 4 * ends.len(),
            Values::Int64(v) => 8 * v.len(),
            Values::Int32(v) => 4 * v.len(),
            Values::Bool(v) => v.len(),
        }
    }
}

/// One column of a row group: its values, and a definition level per row when it is optional.
struct ColumnCells {
    values: Values,
    def: Option<Vec<i16>>,
}

/// A row group being gathered, column by column, with the index and fingerprint of its rows
/// (added to its part's when it is written; the column statistics are gathered by the column
/// encoders). Gathering it is the writer's only pass over the rows; it runs while the previous
/// row group is encoded.
struct RowGroup {
    columns: Vec<ColumnCells>,
    rows: usize,
    /// Encoded bytes of its rows, the measure of `row_group_bytes`.
    bytes: usize,
    index: IndexBuilder,
    fingerprint: Fingerprint,
}

impl RowGroup {
    fn new(table: &Table) -> RowGroup {
        RowGroup {
            columns: table
                .columns
                .iter()
                .map(|c| ColumnCells {
                    values: match c.ty {
                        ColumnType::Utf8 | ColumnType::Json => Values::Bytes {
                            data: Vec::new(),
                            ends: Vec::new(),
                        },
                        ColumnType::Timestamp | ColumnType::Int64 => Values::Int64(Vec::new()),
                        ColumnType::Int32 => Values::Int32(Vec::new()),
                        ColumnType::Boolean => Values::Bool(Vec::new()),
                    },
                    def: (!c.required).then(Vec::new),
                })
                .collect(),
            rows: 0,
            bytes: 0,
            index: IndexBuilder::default(),
            fingerprint: Fingerprint::default(),
        }
    }

    fn push(&mut self, table: &Table, row: &RowRef<'_>) {
        self.rows += 1;
        self.index.push(table, row);
        for (c, column) in self.columns.iter_mut().enumerate() {
            let cell = row.cell(c);
            if c == table.key_column {
                self.fingerprint.add(match cell {
                    Cell::Str(key) => key,
                    _ => b"",
                });
            }
            self.bytes += cell_len(cell);
            // A null, or a value of another kind (which the parsers never write), is absent.
            let present = match (&mut column.values, cell) {
                (Values::Bytes { data, ends }, Cell::Str(s)) => {
                    data.extend_from_slice(s);
                    ends.push(data.len() as u32);
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
        }
    }

    /// Empties it for the next row group, keeping the memory of its columns.
    fn clear(&mut self) {
        for column in &mut self.columns {
            match &mut column.values {
                Values::Bytes { data, ends } => {
                    data.clear();
                    ends.clear();
                }
                Values::Int64(v) => v.clear(),
                Values::Int32(v) => v.clear(),
                Values::Bool(v) => v.clear(),
            }
            if let Some(def) = column.def.as_mut() {
                def.clear();
            }
        }
        self.rows = 0;
        self.bytes = 0;
        self.fingerprint = Fingerprint::default();
    }
}

/// Writes one row group: its columns are encoded and compressed into memory on one thread per
/// `scratch` (a column is the unit of work), then appended to the file in schema order.
/// Returns the statistics of its columns.
fn write_row_group(
    table: &Table,
    writer: &mut SerializedFileWriter<File>,
    columns: &mut [ColumnCells],
    props: &Arc<WriterProperties>,
    scratch: &mut [Vec<ByteArray>],
) -> parquet::errors::Result<Vec<ColumnStats>> {
    let descrs: Vec<ColumnDescPtr> = writer.schema_descr().columns().to_vec();
    let mut work: Vec<(usize, (ColumnDescPtr, &mut ColumnCells))> = descrs
        .into_iter()
        .zip(columns.iter_mut())
        .enumerate()
        .collect();
    // The largest columns first: in schema order the largest (user agent, properties) came
    // last, and one thread encoded them alone while the others waited for the next row group.
    work.sort_by_key(|(_, (_, column))| std::cmp::Reverse(column.values.bytes()));
    let queue = std::sync::Mutex::new(work.into_iter());
    let encode_all = |values: &mut Vec<ByteArray>| {
        let mut done = Vec::new();
        loop {
            let next = match queue.lock() {
                Ok(mut q) => q.next(),
                Err(poisoned) => poisoned.into_inner().next(),
            };
            let Some((i, (descr, column))) = next else {
                return done;
            };
            let stats = ColumnStats::of(table, i);
            let scale = match table.columns[i].ty {
                ColumnType::Timestamp => MICROS_PER_MILLI,
                _ => 1,
            };
            done.push((
                i,
                encode_column(descr, props, column, values, (stats, scale)),
            ));
        }
    };
    let (mine, others) = scratch.split_at_mut(1);
    let mut encoded: Vec<(usize, parquet::errors::Result<Encoded>)> = std::thread::scope(|s| {
        let helpers: Vec<_> = others
            .iter_mut()
            .map(|values| s.spawn(|| encode_all(values)))
            .collect();
        let mut all = encode_all(&mut mine[0]);
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
    let mut stats = Vec::with_capacity(encoded.len());
    for (_, chunk) in encoded {
        let (bytes, close, column) = chunk?;
        rg.append_column(&bytes, close)?;
        stats.push(column);
    }
    rg.close()?;
    Ok(stats)
}

/// A column chunk encoded into memory, and the column's statistics.
type Encoded = (Bytes, ColumnCloseResult, ColumnStats);

/// Bytes of a cell in the row encoding (see `record::cells`).
fn cell_len(cell: Cell<'_>) -> usize {
    match cell {
        Cell::Null => 1,
        Cell::Int(_) => 9,
        Cell::Str(s) => STR_HEADER + s.len(),
    }
}

/// One column chunk, encoded and compressed into memory, with the statistics of its values
/// (stored timestamps are divided by `scale` for them, back to milliseconds). Strings are
/// handed to the writer as slices of their column's buffer (no copy), in `values`, which is
/// left empty.
fn encode_column(
    descr: ColumnDescPtr,
    props: &Arc<WriterProperties>,
    column: &mut ColumnCells,
    values: &mut Vec<ByteArray>,
    (mut stats, scale): (ColumnStats, i64),
) -> parquet::errors::Result<Encoded> {
    let mut sink = TrackedWrite::new(Vec::new());
    let def = column.def.as_deref();
    let present = match &column.values {
        Values::Bytes { ends, .. } => ends.len(),
        Values::Int64(v) => v.len(),
        Values::Int32(v) => v.len(),
        Values::Bool(v) => v.len(),
    };
    stats.add_nulls(def.map_or(0, |d| d.len() - present) as u64);
    let close = {
        let pages = Box::new(SerializedPageWriter::new(&mut sink));
        let mut w = get_column_writer(descr, props.clone(), pages);
        match &mut column.values {
            Values::Bytes { data, ends } => {
                let shared = Bytes::from(std::mem::take(data));
                let mut start = 0;
                values.extend(ends.iter().map(|&end| {
                    let range = start..end as usize;
                    start = end as usize;
                    stats.push_str(&shared[range.clone()]);
                    ByteArray::from(shared.slice(range))
                }));
                let written = get_typed_column_writer_mut::<ByteArrayType>(&mut w)
                    .write_batch(values, def, None);
                values.clear();
                // The slices are gone: the buffer is taken back for the next row group.
                if let Ok(back) = shared.try_into_mut() {
                    *data = Vec::from(back);
                }
                written?
            }
            Values::Int64(v) => {
                v.iter().for_each(|x| stats.push_int(x / scale));
                get_typed_column_writer_mut::<Int64Type>(&mut w).write_batch(v, def, None)?
            }
            Values::Int32(v) => {
                v.iter().for_each(|x| stats.push_int(i64::from(*x)));
                get_typed_column_writer_mut::<Int32Type>(&mut w).write_batch(v, def, None)?
            }
            Values::Bool(v) => {
                v.iter().for_each(|x| stats.push_int(i64::from(*x)));
                get_typed_column_writer_mut::<BoolType>(&mut w).write_batch(v, def, None)?
            }
        };
        w.close()?
    };
    Ok((Bytes::from(sink.into_inner()?), close, stats))
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
            total.merge(fp);
        }
        assert_eq!(total, expected);
        assert_eq!(ids, 1_000);
        // Each part's statistics and index are those of its own rows, whatever its row groups.
        for p in &parts {
            assert_eq!(p.stats.rows(), p.fingerprint.rows);
            assert_eq!(p.index.keys.len() as u64, p.fingerprint.rows);
        }
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
        // Several row groups, their statistics and indexes added up into the part's.
        let part = &parts[0];
        assert_eq!((part.stats.rows(), part.fingerprint.rows), (3_000, 3_000));
        assert_eq!(part.index.keys.len(), 3_000);
        assert_eq!(
            part.index.persons.len(),
            50 + 17,
            "50 anonymous ids, 17 users"
        );
        std::fs::read(&part.path).unwrap()
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
