//! The quarantine record: what ingest keeps of a rejected event (its reason, its errors and the
//! event as sent), the row of the quarantine table compaction parses it into, and the typed view
//! of that row that replay works from. Every reader and writer of the record is here.

use super::text::Text;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::cells::{put_int, put_opt_str, put_str, RowRef};
use super::event::{required, required_time, time};
use super::{from_json_line, LineError, QuarantineColumn};
use crate::schema::FieldError;
use crate::timestamp::EpochMillis;

/// Quarantined events larger than this keep only their first [`QUARANTINE_PREFIX_BYTES`], so a
/// quarantine line always fits one Firehose record.
const QUARANTINE_RAW_MAX_BYTES: usize = 256 * 1024;
const QUARANTINE_PREFIX_BYTES: usize = 64 * 1024;

/// Why an event was rejected, for metrics and the quarantine record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    NotAnObject,
    TooLarge,
    Envelope,
    UnknownEventType,
    UnknownSchemaVersion,
    TooDeep,
    StringTooLong,
    TooManyProperties,
    Properties,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::TooLarge => "too_large",
            RejectReason::Envelope => "envelope",
            RejectReason::UnknownEventType => "unknown_event_type",
            RejectReason::UnknownSchemaVersion => "unknown_schema_version",
            RejectReason::TooDeep => "too_deep",
            RejectReason::StringTooLong => "string_too_long",
            RejectReason::TooManyProperties => "too_many_properties",
            RejectReason::Properties => "properties",
        }
    }
}

/// A quarantine record as ingest writes it.
#[derive(Serialize)]
pub struct QuarantineRecord<'a> {
    pub received_at: String,
    pub sent_at: &'a str,
    pub index: usize,
    pub event_id: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub schema_version: Option<&'a str>,
    pub reason: RejectReason,
    pub errors: &'a [FieldError],
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// The source whose key the request carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a str>,
    /// The event exactly as sent (minified), or `None` when it was too large to keep whole.
    pub raw: Option<&'a RawValue>,
    /// The start of an event too large to keep whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_truncated: Option<&'a str>,
}

impl QuarantineRecord<'_> {
    /// Writes the record as one JSON line (no trailing newline) with `raw`, the event as sent:
    /// whole when it is small enough, minified so the line stays one line (JSON strings cannot
    /// hold raw newlines, so dropping them is safe), or only its start when it is too large.
    pub fn write_line(self, out: &mut Vec<u8>, raw: &RawValue) {
        let text = raw.get();
        let minified: Option<Box<RawValue>>;
        let record = if text.len() > QUARANTINE_RAW_MAX_BYTES {
            let mut cut = QUARANTINE_PREFIX_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            QuarantineRecord {
                raw: None,
                raw_truncated: Some(&text[..cut]),
                ..self
            }
        } else if text.contains(['\n', '\r']) {
            minified = RawValue::from_string(text.replace(['\n', '\r'], "")).ok();
            QuarantineRecord {
                raw: minified.as_deref(),
                ..self
            }
        } else {
            QuarantineRecord {
                raw: Some(raw),
                ..self
            }
        };
        // Serialising plain data into a Vec cannot fail.
        let _ = serde_json::to_writer(out, &record);
    }
}

/// A quarantine line as compaction reads it.
#[derive(Deserialize)]
struct StoredRejection<'a> {
    #[serde(borrow)]
    received_at: Option<Text<'a>>,
    #[serde(borrow)]
    sent_at: Option<Text<'a>>,
    index: Option<i64>,
    #[serde(borrow)]
    event_id: Option<Text<'a>>,
    #[serde(borrow)]
    event_type: Option<Text<'a>>,
    #[serde(borrow)]
    schema_version: Option<Text<'a>>,
    #[serde(borrow)]
    reason: Option<Text<'a>>,
    #[serde(borrow)]
    errors: Option<&'a RawValue>,
    #[serde(borrow)]
    user_agent: Option<Text<'a>>,
    #[serde(borrow)]
    ip: Option<Text<'a>>,
    #[serde(borrow)]
    raw: Option<&'a RawValue>,
    #[serde(borrow)]
    raw_truncated: Option<Text<'a>>,
    #[serde(borrow)]
    source: Option<Text<'a>>,
}

/// Appends the row of the quarantine table for a quarantine line, cells in column order.
pub fn parse(line: &[u8], out: &mut Vec<u8>) -> Result<(), LineError> {
    let q: StoredRejection<'_> = from_json_line(line)?;
    let received_at = required_time(&q.received_at, "received_at")?;
    let reason = required(&q.reason, "reason")?;
    for column in QuarantineColumn::ALL {
        match column {
            QuarantineColumn::EventId => put_opt_str(out, q.event_id.as_deref()),
            QuarantineColumn::ReceivedAt => put_int(out, Some(received_at)),
            QuarantineColumn::SentAt => put_int(out, time(&q.sent_at, "sent_at").unwrap_or(None)),
            QuarantineColumn::Index => put_int(out, q.index),
            QuarantineColumn::EventType => put_opt_str(out, q.event_type.as_deref()),
            QuarantineColumn::SchemaVersion => put_opt_str(out, q.schema_version.as_deref()),
            QuarantineColumn::Reason => put_str(out, reason),
            QuarantineColumn::Errors => put_opt_str(out, q.errors.map(RawValue::get)),
            QuarantineColumn::UserAgent => put_opt_str(out, q.user_agent.as_deref()),
            QuarantineColumn::Ip => put_opt_str(out, q.ip.as_deref()),
            // `raw` is `null` when the event was too large to keep whole: a null, not "null".
            QuarantineColumn::Raw => {
                put_opt_str(out, q.raw.map(RawValue::get).filter(|r| *r != "null"))
            }
            QuarantineColumn::RawTruncated => put_opt_str(out, q.raw_truncated.as_deref()),
            QuarantineColumn::Source => put_opt_str(out, q.source.as_deref()),
        }
    }
    Ok(())
}

/// A row of the quarantine table, typed: what replay needs to re-validate and forward it.
#[derive(Debug, Clone, Copy)]
pub struct QuarantinedEvent<'a> {
    pub received_at: EpochMillis,
    /// The client's send time; the receive time when the record has none.
    pub sent_at: EpochMillis,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub source: Option<&'a str>,
    /// The event as sent; `None` when it was too large to keep whole.
    pub raw: Option<&'a [u8]>,
}

impl<'a> QuarantinedEvent<'a> {
    /// Reads a row of the quarantine table; `None` if it lacks its receive time (a row
    /// compaction wrote always has one).
    pub fn from_row(row: &RowRef<'a>) -> Option<QuarantinedEvent<'a>> {
        let received_at = row.cell(QuarantineColumn::ReceivedAt.index()).as_int()?;
        Some(QuarantinedEvent {
            received_at,
            sent_at: row
                .cell(QuarantineColumn::SentAt.index())
                .as_int()
                .unwrap_or(received_at),
            user_agent: row.cell(QuarantineColumn::UserAgent.index()).as_str(),
            ip: row.cell(QuarantineColumn::Ip.index()).as_str(),
            source: row.cell(QuarantineColumn::Source.index()).as_str(),
            raw: match row.cell(QuarantineColumn::Raw.index()) {
                super::cells::Cell::Str(raw) => Some(raw),
                _ => None,
            },
        })
    }
}

/// What a line of NDJSON is, for tools that accept several kinds (`driftless validate`).
#[derive(Debug, PartialEq)]
pub enum LineKind<'a> {
    /// An event as a client sends it, or a stored event (its server fields are ignored).
    Event(&'a Value),
    /// A quarantine record with the raw event it kept.
    Quarantined { raw: &'a Value },
    /// A quarantine record of an event too large to keep whole: nothing to check.
    QuarantinedTruncated,
}

/// Tells a quarantine record (it has `reason` and `raw`) from an event.
pub fn classify(value: &Value) -> LineKind<'_> {
    match value.as_object() {
        Some(obj) if obj.contains_key("reason") && obj.contains_key("raw") => match &obj["raw"] {
            Value::Null => LineKind::QuarantinedTruncated,
            raw => LineKind::Quarantined { raw },
        },
        _ => LineKind::Event(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::cells::{Cell, OwnedRow};
    use crate::record::QUARANTINE_COLUMNS;
    use serde_json::json;

    fn parsed(line: &[u8]) -> OwnedRow {
        let mut row = OwnedRow::default();
        row.fill(QUARANTINE_COLUMNS.len(), |buf| parse(line, buf))
            .unwrap();
        row
    }

    #[test]
    fn what_ingest_writes_compaction_and_replay_read_back() {
        let errors = [FieldError::new("/properties/price", "must be a number")];
        let raw = RawValue::from_string(
            r#"{"event_id": "e-1",
            "properties": {"price": "x"}}"#
                .into(),
        )
        .unwrap();
        let mut line = Vec::new();
        QuarantineRecord {
            received_at: "2026-11-28T14:30:23.000Z".into(),
            sent_at: "2026-11-28T14:30:22.123Z",
            index: 1,
            event_id: Some("e-1"),
            event_type: Some("product_viewed"),
            schema_version: Some("1-0-0"),
            reason: RejectReason::Properties,
            errors: &errors,
            user_agent: Some("UA/1"),
            ip: None,
            source: None,
            raw: None,
            raw_truncated: None,
        }
        .write_line(&mut line, &raw);
        assert!(!line.contains(&b'\n'), "one line");
        let owned = parsed(&line);
        let r = owned.row();
        assert_eq!(r.cell(QuarantineColumn::Index.index()), Cell::Int(1));
        assert_eq!(
            r.cell(QuarantineColumn::Reason.index()),
            Cell::Str(b"properties")
        );
        assert_eq!(r.cell(QuarantineColumn::RawTruncated.index()), Cell::Null);
        let q = QuarantinedEvent::from_row(&r).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(q.raw.unwrap()).unwrap(),
            json!({"event_id": "e-1", "properties": {"price": "x"}})
        );
        assert_eq!((q.user_agent, q.ip), (Some("UA/1"), None));
        assert!(q.sent_at < q.received_at);
    }

    #[test]
    fn an_event_too_large_to_keep_keeps_its_start_and_a_null_raw() {
        let big = format!(r#"{{"p":"{}"}}"#, "é".repeat(QUARANTINE_RAW_MAX_BYTES));
        let raw = RawValue::from_string(big).unwrap();
        let mut line = Vec::new();
        QuarantineRecord {
            received_at: "2026-11-28T14:30:23.000Z".into(),
            sent_at: "2026-11-28T14:30:22.123Z",
            index: 0,
            event_id: None,
            event_type: None,
            schema_version: None,
            reason: RejectReason::TooLarge,
            errors: &[],
            user_agent: None,
            ip: None,
            source: None,
            raw: None,
            raw_truncated: None,
        }
        .write_line(&mut line, &raw);
        let owned = parsed(&line);
        let r = owned.row();
        assert_eq!(r.cell(QuarantineColumn::Raw.index()), Cell::Null);
        let Cell::Str(start) = r.cell(QuarantineColumn::RawTruncated.index()) else {
            panic!("the start is kept");
        };
        assert!(start.len() <= QUARANTINE_PREFIX_BYTES && std::str::from_utf8(start).is_ok());
        assert!(QuarantinedEvent::from_row(&r).unwrap().raw.is_none());
    }

    #[test]
    fn quarantine_records_are_told_from_events() {
        let q = json!({"reason": "properties", "raw": {"event_id": "e"}});
        assert_eq!(
            classify(&q),
            LineKind::Quarantined {
                raw: &json!({"event_id": "e"})
            }
        );
        assert_eq!(
            classify(&json!({"reason": "too_large", "raw": null})),
            LineKind::QuarantinedTruncated
        );
        let e = json!({"event_id": "e"});
        assert_eq!(classify(&e), LineKind::Event(&e));
    }
}
