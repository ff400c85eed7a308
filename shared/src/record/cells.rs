//! The row encoding: a record is parsed once into a sequence of cells in column order,
//! `0` (null), `1 u32-len bytes` (string) or `2 i64` (integer, millisecond timestamp). Spilling,
//! sorting, merging and the Parquet writer then work on byte slices of that encoding, so a row is
//! never parsed twice and strings reach Parquet without another copy.

const NULL: u8 = 0;
const STR: u8 = 1;
const INT: u8 = 2;

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    push_cell(out, Cell::Str(s.as_bytes()));
}

pub(crate) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    push_cell(out, s.map_or(Cell::Null, |s| Cell::Str(s.as_bytes())));
}

pub(crate) fn put_int(out: &mut Vec<u8>, v: Option<i64>) {
    push_cell(out, v.map_or(Cell::Null, Cell::Int));
}

/// Appends one cell in the row encoding.
pub fn push_cell(out: &mut Vec<u8>, cell: Cell<'_>) {
    match cell {
        Cell::Null => out.push(NULL),
        Cell::Int(v) => {
            out.push(INT);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Cell::Str(s) => {
            out.push(STR);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
    }
}

/// One decoded cell. Ordering: null first, then integers, then strings (bytewise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Str(&'a [u8]),
}

impl<'a> Cell<'a> {
    /// The cell as text, when it is a string of valid UTF-8.
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Cell::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }

    pub fn as_int(self) -> Option<i64> {
        match self {
            Cell::Int(v) => Some(v),
            _ => None,
        }
    }
}

/// Decodes the cell at `pos`, returning it and the position after it.
pub fn read_cell(buf: &[u8], pos: usize) -> (Cell<'_>, usize) {
    match buf[pos] {
        STR => {
            let len = u32::from_le_bytes(buf[pos + 1..pos + 5].try_into().unwrap_or([0; 4]));
            let end = pos + 5 + len as usize;
            (Cell::Str(&buf[pos + 5..end]), end)
        }
        INT => {
            let v = i64::from_le_bytes(buf[pos + 1..pos + 9].try_into().unwrap_or([0; 8]));
            (Cell::Int(v), pos + 9)
        }
        _ => (Cell::Null, pos + 1),
    }
}

/// The encoded bytes of a string cell's header: the tag and the length. Writers that slice
/// strings out of an encoded buffer skip this many bytes.
pub const STR_HEADER: usize = 5;

/// Appends the start offset of each of a row's `n` cells to `offsets`; returns the row's end.
pub fn index_cells(buf: &[u8], start: usize, n: usize, offsets: &mut Vec<u32>) -> usize {
    let mut pos = start;
    for _ in 0..n {
        offsets.push(pos as u32);
        pos = read_cell(buf, pos).1;
    }
    pos
}

/// An encoded row with its cell offsets, as the sort and the writer see it.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    pub buf: &'a [u8],
    pub offsets: &'a [u32],
}

impl<'a> RowRef<'a> {
    pub fn cell(&self, c: usize) -> Cell<'a> {
        read_cell(self.buf, self.offsets[c] as usize).0
    }

    /// The whole row's encoded bytes.
    pub fn bytes(&self) -> &'a [u8] {
        let first = self.offsets[0] as usize;
        let last = *self.offsets.last().unwrap_or(&0) as usize;
        &self.buf[first..read_cell(self.buf, last).1]
    }
}

/// One row with its own buffer: for code that handles rows one at a time (replay, tests).
#[derive(Debug, Default, Clone)]
pub struct OwnedRow {
    buf: Vec<u8>,
    offsets: Vec<u32>,
}

impl OwnedRow {
    /// Replaces the row with the one `encode` writes (`columns` cells); on error the row is
    /// empty and the error is returned.
    pub fn fill<E>(
        &mut self,
        columns: usize,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<RowRef<'_>, E> {
        self.buf.clear();
        self.offsets.clear();
        encode(&mut self.buf)?;
        index_cells(&self.buf, 0, columns, &mut self.offsets);
        Ok(self.row())
    }

    pub fn row(&self) -> RowRef<'_> {
        RowRef {
            buf: &self.buf,
            offsets: &self.offsets,
        }
    }
}
