//! The records the pipeline stores, each written and parsed in exactly one place, and the column
//! tables of the two lake tables.
//!
//! - [`event`]: the stored event, the NDJSON line ingest writes for a valid event and compaction
//!   parses into a row of the events table.
//! - [`quarantine`]: the quarantine record, the line ingest writes for a rejected event, which
//!   compaction, replay and `driftless validate` read back.
//! - [`cells`]: the compact row encoding a parsed record travels in through compaction.
//!
//! [`EVENT_COLUMNS`] and [`QUARANTINE_COLUMNS`] are the tables' columns, in order. They are the one
//! list: the Parquet schema, the order a record is parsed in, the envelope columns of the typed
//! views, the Glue columns of the Athena tables and `driftless columns` are all derived from them.
//! Adding a column is one line in [`column_table!`] plus the arm that fills it in the record's
//! parser (the compiler asks for it).

pub mod cells;
pub mod event;
pub mod quarantine;
mod text;

/// How a column is stored and typed. Only types that Athena, DuckDB and Delta readers all read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text: Parquet BYTE_ARRAY annotated STRING.
    Utf8,
    /// JSON text (an object or array as sent): stored like [`ColumnType::Utf8`]; the typed views
    /// extract from it and do not carry it as an envelope column.
    Json,
    /// A UTC instant with millisecond precision.
    Timestamp,
    Int64,
    Int32,
    /// True or false: Parquet BOOLEAN, carried through compaction as the integer 1 or 0.
    Boolean,
}

impl ColumnType {
    /// The Hive type of a Glue column.
    pub fn hive(self) -> &'static str {
        match self {
            ColumnType::Utf8 | ColumnType::Json => "string",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Int64 => "bigint",
            ColumnType::Int32 => "int",
            ColumnType::Boolean => "boolean",
        }
    }
}

/// One column of a lake table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    /// Never null.
    pub required: bool,
    /// Dictionary encoding pays off where values repeat within a row group; unique ones (event
    /// ids, times) would fill the dictionary and fall back anyway, after wasting the work. The
    /// writer falls back to plain by itself once a dictionary passes 1 MiB, so a column whose
    /// values repeat for some event types only (`properties`) still gains where they do. Hashing
    /// every value is the writer's largest cost, but plain encoding measured larger even where
    /// values repeat only a dozen times: on the benchmark day, 1.67x for `properties` and 1.1x for
    /// the people's and sessions' ids, 9% more table in all.
    pub dictionary: bool,
    /// Parquet keeps min/max statistics per page and row group, which readers prune by. Worth it
    /// for the columns the file is sorted by and those that follow them (types, times, counts);
    /// in a column in no order (ids, free text, codes such as locale or country) every row group
    /// spans nearly all values, so the bounds prune nothing and cost a comparison per value (a
    /// quarter of the writer's time on a day of events). The table's log keeps its own
    /// per-file bounds (`lake::stats`) whatever this says.
    pub page_stats: bool,
    /// Where the value is in the stored record, as a dotted JSON path (`context.page.url`).
    pub source: &'static str,
    /// What the column holds, for the docs, the Glue column comments and `driftless columns`.
    pub doc: &'static str,
}

const REQUIRED: bool = true;
const OPTIONAL: bool = false;
const DICTIONARY: bool = true;
const PLAIN: bool = false;
const STATS: bool = true;
const NO_STATS: bool = false;

/// Declares a table's column enum (variant order = column order) and its column slice from one
/// list, so the two cannot drift apart.
macro_rules! column_table {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident in $table:ident {
            $($variant:ident => ($col:literal, $ty:ident, $req:ident, $dict:ident, $stats:ident, $source:literal, $doc:literal),)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($variant,)* }

        impl $name {
            /// Every column, in table order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The column's position in the table (and in an encoded row).
            pub const fn index(self) -> usize {
                self as usize
            }
        }

        $vis static $table: &[Column] = &[
            $(Column {
                name: $col,
                ty: ColumnType::$ty,
                required: $req,
                dictionary: $dict,
                page_stats: $stats,
                source: $source,
                doc: $doc,
            },)*
        ];
    };
}

column_table! {
    /// The columns of the events table: the envelope as typed columns, `properties` as JSON text.
    pub enum EventColumn in EVENT_COLUMNS {
        EventId => ("event_id", Utf8, REQUIRED, PLAIN, NO_STATS, "event_id", "UUID made on the client, stable across retries: the table holds each once"),
        EventType => ("event_type", Utf8, REQUIRED, DICTIONARY, STATS, "event_type", "Event type: a directory of schema/"),
        SchemaVersion => ("schema_version", Utf8, REQUIRED, DICTIONARY, STATS, "schema_version", "SchemaVer MODEL-REVISION-ADDITION the event was validated against"),
        Timestamp => ("timestamp", Timestamp, REQUIRED, PLAIN, STATS, "timestamp", "When the event happened: the client's time corrected for its clock skew (UTC)"),
        ClientTimestamp => ("client_timestamp", Timestamp, OPTIONAL, PLAIN, STATS, "client_timestamp", "The event's timestamp exactly as the client sent it"),
        SentAt => ("sent_at", Timestamp, OPTIONAL, PLAIN, STATS, "sent_at", "The client's clock when it sent the batch"),
        ReceivedAt => ("received_at", Timestamp, REQUIRED, PLAIN, STATS, "received_at", "When ingest received the batch (server clock)"),
        AnonymousId => ("anonymous_id", Utf8, REQUIRED, DICTIONARY, NO_STATS, "anonymous_id", "Persisted per browser or device"),
        UserId => ("user_id", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "user_id", "Set by identify(); null while anonymous"),
        SessionId => ("session_id", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "session_id", "Rotates after 30 minutes without activity"),
        Seq => ("seq", Int64, OPTIONAL, DICTIONARY, STATS, "seq", "Per anonymous_id, one more per tracked event: gaps measure loss"),
        PageUrl => ("page_url", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "context.page.url", "The page's URL"),
        PageReferrer => ("page_referrer", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "context.page.referrer", "The page's referrer (document.referrer)"),
        PageTitle => ("page_title", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "context.page.title", "The page's title"),
        Locale => ("locale", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "context.locale", "The client's language tag (BCP 47)"),
        Timezone => ("timezone", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "context.timezone", "The client's time zone (IANA)"),
        ScreenWidth => ("screen_width", Int32, OPTIONAL, DICTIONARY, STATS, "context.screen.width", "Screen width in CSS pixels"),
        ScreenHeight => ("screen_height", Int32, OPTIONAL, DICTIONARY, STATS, "context.screen.height", "Screen height in CSS pixels"),
        SdkName => ("sdk_name", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "context.sdk.name", "The library that sent the event"),
        SdkVersion => ("sdk_version", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "context.sdk.version", "Its version"),
        UserAgent => ("user_agent", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "user_agent", "The request's User-Agent header"),
        Ip => ("ip", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "ip", "The caller's address as the IP policy keeps it (null by default)"),
        Properties => ("properties", Json, OPTIONAL, DICTIONARY, NO_STATS, "properties", "The event's properties as JSON, typed by the views of its event type"),
        // Derived by ingest from the request; added after the first release, so they are nullable
        // and appended (a table made before them gains them by a schema change).
        Source => ("source", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "source", "The source (site or app) whose key the request carried; null without keys"),
        UaBrowser => ("ua_browser", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "ua_browser", "Browser family parsed from the user agent (uap-core), e.g. Chrome, Mobile Safari"),
        UaBrowserVersion => ("ua_browser_version", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "ua_browser_version", "The browser's major version"),
        UaOs => ("ua_os", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "ua_os", "Operating system parsed from the user agent, e.g. Windows, iOS, Android"),
        UaDeviceType => ("ua_device_type", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "ua_device_type", "desktop, mobile, tablet, bot or other"),
        IsBot => ("is_bot", Boolean, OPTIONAL, PLAIN, STATS, "is_bot", "A crawler, script or headless browser by the bot rules; the typed views leave these out (their _all twins keep them)"),
        BotReason => ("bot_reason", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "bot_reason", "The bot rule that matched: crawler_list, headless_browser, non_browser_agent, empty_user_agent, no_accept_language"),
        GeoCountry => ("geo_country", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "geo_country", "Country of the caller's address (ISO 3166-1 alpha-2), when a GeoIP database is configured"),
        GeoRegion => ("geo_region", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "geo_region", "Region of the caller's address (ISO 3166-2, e.g. DE-BY), when the database has it"),
    }
}

column_table! {
    /// The columns of the quarantine table: rejected events with their reasons, for inspection
    /// and replay.
    pub enum QuarantineColumn in QUARANTINE_COLUMNS {
        EventId => ("event_id", Utf8, OPTIONAL, PLAIN, STATS, "event_id", "The event's event_id, when it had a string one"),
        ReceivedAt => ("received_at", Timestamp, REQUIRED, PLAIN, STATS, "received_at", "When ingest received the batch (server clock)"),
        SentAt => ("sent_at", Timestamp, OPTIONAL, PLAIN, STATS, "sent_at", "The client's clock when it sent the batch"),
        Index => ("index", Int64, OPTIONAL, PLAIN, STATS, "index", "Position of the event in its batch"),
        EventType => ("event_type", Utf8, OPTIONAL, DICTIONARY, STATS, "event_type", "The event's event_type, when it had a string one"),
        SchemaVersion => ("schema_version", Utf8, OPTIONAL, DICTIONARY, STATS, "schema_version", "The event's schema_version, when it had a string one"),
        Reason => ("reason", Utf8, REQUIRED, DICTIONARY, STATS, "reason", "Why it was rejected: envelope, properties, unknown_event_type, ..."),
        Errors => ("errors", Json, OPTIONAL, PLAIN, NO_STATS, "errors", "Every problem found, as [{path, message}]"),
        UserAgent => ("user_agent", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "user_agent", "The request's User-Agent header"),
        Ip => ("ip", Utf8, OPTIONAL, DICTIONARY, NO_STATS, "ip", "The caller's address as the IP policy keeps it (null by default)"),
        Raw => ("raw", Json, OPTIONAL, PLAIN, NO_STATS, "raw", "The event exactly as sent (minified), for replay"),
        RawTruncated => ("raw_truncated", Utf8, OPTIONAL, PLAIN, NO_STATS, "raw_truncated", "The start of an event too large to keep whole"),
        Source => ("source", Utf8, OPTIONAL, DICTIONARY, STATS, "source", "The source (site or app) whose key the request carried; null without keys"),
    }
}

/// The columns of a table that the typed views carry as they are: every column but the JSON
/// ones, which the views type per event type.
pub fn envelope_columns(columns: &[Column]) -> impl Iterator<Item = &Column> {
    columns.iter().filter(|c| c.ty != ColumnType::Json)
}

/// Why a line did not become a row. The line is kept for inspection, with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError(pub String);

/// A stored line deserialised as `T`. The line is checked as UTF-8 once, whole: parsing the
/// bytes instead checks every string on its own, a call per string: a sixth of the parse's time
/// on a day of events, against a twentieth for the one check.
pub(crate) fn from_json_line<'a, T: serde::Deserialize<'a>>(
    line: &'a [u8],
) -> Result<T, LineError> {
    let text = std::str::from_utf8(line)
        .map_err(|err| LineError(format!("not JSON: not UTF-8 text ({err})")))?;
    serde_json::from_str(text).map_err(|err| LineError(format!("not JSON: {err}")))
}

#[cfg(test)]
mod tests {
    use super::cells::{Cell, OwnedRow};
    use super::*;
    use serde_json::{json, Map, Value};

    /// A record with a distinct value at every column's `source`, and the cell each column must
    /// get from it.
    fn record_from_sources(columns: &[Column]) -> (Value, Vec<Value>) {
        let mut record = Map::new();
        let mut expected = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            let value = match c.ty {
                ColumnType::Utf8 => json!(format!("v-{}", c.name)),
                ColumnType::Json => json!({"k": c.name}),
                ColumnType::Timestamp => json!(format!("2026-11-28T14:30:{i:02}.000Z")),
                ColumnType::Int64 | ColumnType::Int32 => json!(100 + i),
                ColumnType::Boolean => json!(true),
            };
            expected.push(value.clone());
            let mut path: Vec<&str> = c.source.split('.').collect();
            let leaf = path.pop().unwrap();
            let mut node = &mut record;
            for step in path {
                node = node
                    .entry(step)
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .unwrap();
            }
            node.insert(leaf.to_string(), value);
        }
        (Value::Object(record), expected)
    }

    fn assert_each_column_reads_its_source(
        columns: &[Column],
        parse: fn(&[u8], &mut Vec<u8>) -> Result<(), LineError>,
    ) {
        let (record, expected) = record_from_sources(columns);
        let line = record.to_string();
        let mut row = OwnedRow::default();
        let r = row
            .fill(columns.len(), |buf| parse(line.as_bytes(), buf))
            .unwrap();
        for (i, (c, want)) in columns.iter().zip(expected).enumerate() {
            let got = r.cell(i);
            let ok = match (c.ty, got) {
                (ColumnType::Utf8, Cell::Str(s)) => want == json!(std::str::from_utf8(s).unwrap()),
                (ColumnType::Json, Cell::Str(s)) => {
                    want == serde_json::from_slice::<Value>(s).unwrap()
                }
                (ColumnType::Timestamp, Cell::Int(ms)) => {
                    want == json!(crate::timestamp::format_rfc3339(ms))
                }
                (ColumnType::Int64 | ColumnType::Int32, Cell::Int(v)) => want == json!(v),
                (ColumnType::Boolean, Cell::Int(v)) => want == json!(v == 1),
                _ => false,
            };
            assert!(
                ok,
                "{}: expected {want} from {}, got {got:?}",
                c.name, c.source
            );
        }
    }

    #[test]
    fn every_events_column_is_read_from_its_declared_source() {
        assert_each_column_reads_its_source(EVENT_COLUMNS, event::parse);
    }

    #[test]
    fn every_quarantine_column_is_read_from_its_declared_source() {
        assert_each_column_reads_its_source(QUARANTINE_COLUMNS, quarantine::parse);
    }

    #[test]
    fn the_enum_and_the_slice_list_the_same_columns_in_the_same_order() {
        assert_eq!(EventColumn::ALL.len(), EVENT_COLUMNS.len());
        assert_eq!(EVENT_COLUMNS[EventColumn::Seq.index()].name, "seq");
        assert_eq!(
            QUARANTINE_COLUMNS[QuarantineColumn::Raw.index()].name,
            "raw"
        );
        for (i, c) in EventColumn::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert!(!EVENT_COLUMNS[i].source.is_empty());
        }
    }

    #[test]
    fn envelope_columns_leave_out_the_json_properties() {
        let names: Vec<&str> = envelope_columns(EVENT_COLUMNS).map(|c| c.name).collect();
        assert!(names.contains(&"event_id") && names.contains(&"ip") && names.contains(&"is_bot"));
        assert!(!names.contains(&"properties"));
        assert_eq!(names.len(), EVENT_COLUMNS.len() - 1);
    }
}
