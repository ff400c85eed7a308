//! The two lake tables (events and quarantine): their Parquet columns, how a raw NDJSON line
//! becomes a row, and the compact row encoding the rest of compaction moves around.
//!
//! A row is encoded once, when its line is parsed, as a sequence of cells in column order:
//! `0` (null), `1 u32-len bytes` (string) or `2 i64` (integer, millisecond timestamp). Spilling,
//! sorting, merging and the Parquet writer then work on byte slices of that encoding, so a row is
//! never parsed twice and strings reach Parquet without another copy.

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::timestamp::parse_rfc3339;

/// How a column is stored in Parquet. Only logical types that both Athena and DuckDB read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// BYTE_ARRAY annotated STRING.
    Utf8,
    /// INT64 annotated TIMESTAMP(MILLIS, isAdjustedToUTC = true).
    TimestampMillis,
    Int64,
    Int32,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub required: bool,
    /// Dictionary encoding pays off for low-cardinality columns only; unique values (ids, JSON)
    /// would fill the dictionary and fall back anyway, after wasting the work.
    pub dictionary: bool,
}

const fn col(name: &'static str, ty: ColumnType, required: bool, dictionary: bool) -> Column {
    Column {
        name,
        ty,
        required,
        dictionary,
    }
}

/// Why a raw line did not become a row. The line is kept for inspection, with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError(pub String);

/// One lake table: where its raw objects are, its columns, and its row semantics.
pub struct Table {
    /// `events` or `quarantine`: the raw prefix is `raw/<name>/`, the lake prefix `lake/<name>/`.
    pub name: &'static str,
    pub columns: &'static [Column],
    /// Column whose value identifies an event; duplicates of it are dropped when `dedup` is set.
    pub key_column: usize,
    pub dedup: bool,
    /// Among duplicates, the row with the smallest value here wins (ties: the first one read).
    pub received_at_column: usize,
    /// Output order.
    pub sort_columns: [usize; 3],
    /// `(anonymous_id, seq)` columns for delivery completeness, when the table has them.
    pub completeness: Option<(usize, usize)>,
    parse: fn(&[u8], &mut Vec<u8>) -> Result<(), LineError>,
}

impl Table {
    /// Appends the encoded row for `line` to `out`. On error `out` is left as it was.
    pub fn parse_line(&self, line: &[u8], out: &mut Vec<u8>) -> Result<(), LineError> {
        let start = out.len();
        let result = (self.parse)(line, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    pub fn raw_prefix(&self) -> String {
        format!("raw/{}/", self.name)
    }

    /// The cells a row sorts by, decoded once so a sort compares them without decoding again.
    pub fn sort_key<'a>(&self, row: &RowRef<'a>) -> [Cell<'a>; 3] {
        self.sort_columns.map(|c| row.cell(c))
    }

    /// Compares two encoded rows in output order.
    pub fn cmp_rows(&self, a: &RowRef<'_>, b: &RowRef<'_>) -> Ordering {
        self.sort_key(a).cmp(&self.sort_key(b))
    }
}

/// The compacted events table: the envelope as typed columns, `properties` as a JSON string.
/// Its column list is the Glue table's in `template.yaml`.
pub static EVENTS: Table = Table {
    name: "events",
    columns: &[
        col("event_id", ColumnType::Utf8, true, false),
        col("event_type", ColumnType::Utf8, true, true),
        col("schema_version", ColumnType::Utf8, true, true),
        col("timestamp", ColumnType::TimestampMillis, true, false),
        col(
            "client_timestamp",
            ColumnType::TimestampMillis,
            false,
            false,
        ),
        col("sent_at", ColumnType::TimestampMillis, false, false),
        col("received_at", ColumnType::TimestampMillis, true, false),
        col("anonymous_id", ColumnType::Utf8, true, true),
        col("user_id", ColumnType::Utf8, false, true),
        col("session_id", ColumnType::Utf8, false, true),
        col("seq", ColumnType::Int64, false, false),
        col("page_url", ColumnType::Utf8, false, true),
        col("page_referrer", ColumnType::Utf8, false, true),
        col("page_title", ColumnType::Utf8, false, true),
        col("locale", ColumnType::Utf8, false, true),
        col("timezone", ColumnType::Utf8, false, true),
        col("screen_width", ColumnType::Int32, false, true),
        col("screen_height", ColumnType::Int32, false, true),
        col("sdk_name", ColumnType::Utf8, false, true),
        col("sdk_version", ColumnType::Utf8, false, true),
        col("user_agent", ColumnType::Utf8, false, true),
        col("ip", ColumnType::Utf8, false, true),
        col("properties", ColumnType::Utf8, false, false),
    ],
    key_column: 0,
    dedup: true,
    received_at_column: 6,
    // event_type, timestamp, then event_id so the order is total and runs are reproducible.
    sort_columns: [1, 3, 0],
    completeness: Some((7, 10)),
    parse: parse_event,
};

/// The compacted quarantine table: rejected events with their reasons, kept for inspection and
/// replay. Not deduplicated: a client retry of a bad event is itself worth seeing.
pub static QUARANTINE: Table = Table {
    name: "quarantine",
    columns: &[
        col("event_id", ColumnType::Utf8, false, false),
        col("received_at", ColumnType::TimestampMillis, true, false),
        col("sent_at", ColumnType::TimestampMillis, false, false),
        col("index", ColumnType::Int64, false, false),
        col("event_type", ColumnType::Utf8, false, true),
        col("schema_version", ColumnType::Utf8, false, true),
        col("reason", ColumnType::Utf8, true, true),
        col("errors", ColumnType::Utf8, false, false),
        col("user_agent", ColumnType::Utf8, false, true),
        col("ip", ColumnType::Utf8, false, true),
        col("raw", ColumnType::Utf8, false, false),
        col("raw_truncated", ColumnType::Utf8, false, false),
    ],
    key_column: 0,
    dedup: false,
    received_at_column: 1,
    sort_columns: [1, 3, 0],
    completeness: None,
    parse: parse_quarantined,
};

// ------------------------------------------------------------------------------- cell encoding

const NULL: u8 = 0;
const STR: u8 = 1;
const INT: u8 = 2;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(STR);
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.push(NULL),
    }
}

fn put_int(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => {
            out.push(INT);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(NULL),
    }
}

/// Appends one cell in the row encoding.
pub fn push_cell(out: &mut Vec<u8>, cell: Cell<'_>) {
    match cell {
        Cell::Null => out.push(NULL),
        Cell::Int(v) => put_int(out, Some(v)),
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

// ------------------------------------------------------------------------------------- parsing

/// A stored event line, borrowed from the line where it has no escapes.
#[derive(Deserialize)]
struct StoredEvent<'a> {
    #[serde(borrow)]
    event_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    event_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    schema_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    client_timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    sent_at: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    received_at: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    anonymous_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    user_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    session_id: Option<std::borrow::Cow<'a, str>>,
    seq: Option<i64>,
    #[serde(borrow)]
    context: Option<Context<'a>>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    user_agent: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    ip: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Context<'a> {
    #[serde(borrow, default)]
    page: Option<Page<'a>>,
    #[serde(borrow, default)]
    locale: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    timezone: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    screen: Option<Screen>,
    #[serde(borrow, default)]
    sdk: Option<Sdk<'a>>,
}

#[derive(Deserialize, Default)]
struct Page<'a> {
    #[serde(borrow, default)]
    url: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    referrer: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    title: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Screen {
    #[serde(default)]
    width: Option<i64>,
    #[serde(default)]
    height: Option<i64>,
}

#[derive(Deserialize, Default)]
struct Sdk<'a> {
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    version: Option<std::borrow::Cow<'a, str>>,
}

fn required<'s>(
    v: &'s Option<std::borrow::Cow<'_, str>>,
    field: &str,
) -> Result<&'s str, LineError> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(LineError(format!("not a stored event: {field} is missing"))),
    }
}

fn time(v: &Option<std::borrow::Cow<'_, str>>, field: &str) -> Result<Option<i64>, LineError> {
    match v.as_deref() {
        None => Ok(None),
        Some(s) => parse_rfc3339(s)
            .map(Some)
            .ok_or_else(|| LineError(format!("{field} is not an RFC 3339 time: {s:?}"))),
    }
}

fn required_time(v: &Option<std::borrow::Cow<'_, str>>, field: &str) -> Result<i64, LineError> {
    time(v, field)?.ok_or_else(|| LineError(format!("not a stored event: {field} is missing")))
}

/// Screen sizes are validated to 0..=100000 at ingest; anything else is not an INT32.
fn int32(v: Option<i64>) -> Option<i64> {
    v.filter(|v| i32::try_from(*v).is_ok())
}

fn parse_event(line: &[u8], out: &mut Vec<u8>) -> Result<(), LineError> {
    let e: StoredEvent<'_> =
        serde_json::from_slice(line).map_err(|err| LineError(format!("not JSON: {err}")))?;
    let event_id = required(&e.event_id, "event_id")?;
    let event_type = required(&e.event_type, "event_type")?;
    let schema_version = required(&e.schema_version, "schema_version")?;
    let timestamp = required_time(&e.timestamp, "timestamp")?;
    let received_at = required_time(&e.received_at, "received_at")?;
    let anonymous_id = required(&e.anonymous_id, "anonymous_id")?;
    // A client timestamp the ingest kept as sent but that is not a time is a null, not a reason
    // to lose the event: `timestamp` holds the corrected time.
    let client_timestamp = time(&e.client_timestamp, "client_timestamp").unwrap_or(None);
    let sent_at = time(&e.sent_at, "sent_at").unwrap_or(None);
    let ctx = e.context.unwrap_or_default();
    let page = ctx.page.unwrap_or_default();
    let screen = ctx.screen.unwrap_or_default();
    let sdk = ctx.sdk.unwrap_or_default();

    put_str(out, event_id);
    put_str(out, event_type);
    put_str(out, schema_version);
    put_int(out, Some(timestamp));
    put_int(out, client_timestamp);
    put_int(out, sent_at);
    put_int(out, Some(received_at));
    put_str(out, anonymous_id);
    put_opt_str(out, e.user_id.as_deref());
    put_opt_str(out, e.session_id.as_deref());
    put_int(out, e.seq);
    put_opt_str(out, page.url.as_deref());
    put_opt_str(out, page.referrer.as_deref());
    put_opt_str(out, page.title.as_deref());
    put_opt_str(out, ctx.locale.as_deref());
    put_opt_str(out, ctx.timezone.as_deref());
    put_int(out, int32(screen.width));
    put_int(out, int32(screen.height));
    put_opt_str(out, sdk.name.as_deref());
    put_opt_str(out, sdk.version.as_deref());
    put_opt_str(out, e.user_agent.as_deref());
    put_opt_str(out, e.ip.as_deref());
    put_opt_str(out, e.properties.map(RawValue::get));
    Ok(())
}

#[derive(Deserialize)]
struct StoredRejection<'a> {
    #[serde(borrow)]
    received_at: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    sent_at: Option<std::borrow::Cow<'a, str>>,
    index: Option<i64>,
    #[serde(borrow)]
    event_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    event_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    schema_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    errors: Option<&'a RawValue>,
    #[serde(borrow)]
    user_agent: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    ip: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    raw: Option<&'a RawValue>,
    #[serde(borrow)]
    raw_truncated: Option<std::borrow::Cow<'a, str>>,
}

fn parse_quarantined(line: &[u8], out: &mut Vec<u8>) -> Result<(), LineError> {
    let q: StoredRejection<'_> =
        serde_json::from_slice(line).map_err(|err| LineError(format!("not JSON: {err}")))?;
    let received_at = required_time(&q.received_at, "received_at")?;
    let reason = required(&q.reason, "reason")?;
    put_opt_str(out, q.event_id.as_deref());
    put_int(out, Some(received_at));
    put_int(out, time(&q.sent_at, "sent_at").unwrap_or(None));
    put_int(out, q.index);
    put_opt_str(out, q.event_type.as_deref());
    put_opt_str(out, q.schema_version.as_deref());
    put_str(out, reason);
    put_opt_str(out, q.errors.map(RawValue::get));
    put_opt_str(out, q.user_agent.as_deref());
    put_opt_str(out, q.ip.as_deref());
    // `raw` is `null` when the event was too large to keep whole; that is a null, not "null".
    put_opt_str(out, q.raw.map(RawValue::get).filter(|r| *r != "null"));
    put_opt_str(out, q.raw_truncated.as_deref());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"event_id":"01936f4e-8a3d-7c1e-8a20-5d6e7f8a9b0c","event_type":"product_viewed","schema_version":"1-0-0","timestamp":"2026-11-28T14:30:22.827Z","client_timestamp":"2026-11-28T14:30:21.950Z","sent_at":"2026-11-28T14:30:22.123Z","received_at":"2026-11-28T14:30:23.000Z","anonymous_id":"a-1","user_id":null,"session_id":"s-1","seq":17,"context":{"page":{"url":"https://shop.example/p/42"},"locale":"de-DE","screen":{"width":390,"height":844}},"properties":{"product_id":"42","price":89.9},"user_agent":"UA \"quoted\"","ip":null}"#;

    fn row(table: &Table, line: &str) -> (Vec<u8>, Vec<u32>) {
        let mut buf = Vec::new();
        table.parse_line(line.as_bytes(), &mut buf).unwrap();
        let mut offsets = Vec::new();
        let end = index_cells(&buf, 0, table.columns.len(), &mut offsets);
        assert_eq!(end, buf.len(), "the row is exactly its cells");
        (buf, offsets)
    }

    #[test]
    fn stored_event_becomes_typed_cells_in_column_order() {
        let (buf, offsets) = row(&EVENTS, LINE);
        let r = RowRef {
            buf: &buf,
            offsets: &offsets,
        };
        assert_eq!(
            r.cell(0),
            Cell::Str(b"01936f4e-8a3d-7c1e-8a20-5d6e7f8a9b0c")
        );
        assert_eq!(r.cell(3), Cell::Int(1_795_876_222_827));
        assert_eq!(r.cell(8), Cell::Null, "user_id null");
        assert_eq!(r.cell(10), Cell::Int(17));
        assert_eq!(r.cell(11), Cell::Str(b"https://shop.example/p/42"));
        assert_eq!(r.cell(12), Cell::Null, "no referrer");
        assert_eq!(r.cell(16), Cell::Int(390));
        assert_eq!(r.cell(20), Cell::Str(b"UA \"quoted\""), "escapes decoded");
        assert_eq!(
            r.cell(22),
            Cell::Str(br#"{"product_id":"42","price":89.9}"#),
            "properties kept as the JSON text"
        );
        assert_eq!(r.bytes(), &buf[..]);
    }

    #[test]
    fn lines_that_are_not_stored_events_say_why_and_leave_no_bytes() {
        let mut out = vec![7];
        let err = EVENTS.parse_line(b"{not json", &mut out).unwrap_err();
        assert!(err.0.starts_with("not JSON"), "{err:?}");
        let err = EVENTS
            .parse_line(br#"{"event_id":"x","event_type":"a"}"#, &mut out)
            .unwrap_err();
        assert!(err.0.contains("schema_version is missing"), "{err:?}");
        let err = EVENTS.parse_line(b"[1,2]", &mut out).unwrap_err();
        assert!(err.0.starts_with("not JSON"), "{err:?}");
        assert_eq!(out, vec![7]);
    }

    #[test]
    fn rows_order_by_event_type_then_timestamp_then_event_id() {
        let a = LINE.replace("product_viewed", "a_first");
        let b = LINE.replace("14:30:22.827Z", "14:30:22.826Z");
        let (ra, oa) = row(&EVENTS, &a);
        let (rb, ob) = row(&EVENTS, &b);
        let (rc, oc) = row(&EVENTS, LINE);
        let (ra, rb, rc) = (
            RowRef {
                buf: &ra,
                offsets: &oa,
            },
            RowRef {
                buf: &rb,
                offsets: &ob,
            },
            RowRef {
                buf: &rc,
                offsets: &oc,
            },
        );
        assert_eq!(EVENTS.cmp_rows(&ra, &rb), Ordering::Less);
        assert_eq!(EVENTS.cmp_rows(&rb, &rc), Ordering::Less);
        assert_eq!(EVENTS.cmp_rows(&rc, &rc), Ordering::Equal);
    }

    #[test]
    fn quarantine_line_keeps_reason_errors_and_raw_text() {
        let line = r#"{"received_at":"2026-11-28T14:30:23.000Z","sent_at":"2026-11-28T14:30:22.123Z","index":1,"event_id":null,"event_type":"product_viewed","schema_version":"1-0-0","reason":"properties","errors":[{"path":"/properties/price","message":"must be a number"}],"user_agent":null,"ip":null,"raw":{"a":1}}"#;
        let (buf, offsets) = row(&QUARANTINE, line);
        let r = RowRef {
            buf: &buf,
            offsets: &offsets,
        };
        assert_eq!(r.cell(0), Cell::Null);
        assert_eq!(r.cell(3), Cell::Int(1));
        assert_eq!(r.cell(6), Cell::Str(b"properties"));
        assert_eq!(r.cell(10), Cell::Str(br#"{"a":1}"#));
        assert_eq!(r.cell(11), Cell::Null);
    }
}
