//! The stored event: the NDJSON line ingest writes for a valid event (the event as sent, with the
//! server's fields) and the row of the events table compaction parses it into. Both directions
//! live here, so the line's shape is defined once.

use super::text::Text;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::cells::{put_int, put_opt_str, put_str};
use super::{from_json_line, EventColumn, LineError};
use crate::timestamp::{format_rfc3339, parse_rfc3339, rfc3339_ascii, EpochMillis};

/// Fields only the server sets. A client that sends them inside an event is ignored, not rejected:
/// older or foreign SDKs send some of them, and none of them ever reaches the stored record.
pub const SERVER_FIELDS: &[&str] = &[
    "received_at",
    "client_timestamp",
    "sent_at",
    "ip",
    "user_agent",
    "source",
    "ua_browser",
    "ua_browser_version",
    "ua_os",
    "ua_device_type",
    "is_bot",
    "bot_reason",
    "geo_country",
    "geo_region",
];

/// What ingest derived from the request an event came in (its source key, user agent and
/// address): the same for every event of the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic<'a> {
    pub source: Option<&'a str>,
    pub ua_browser: Option<&'a str>,
    pub ua_browser_version: Option<&'a str>,
    pub ua_os: Option<&'a str>,
    pub ua_device_type: Option<&'a str>,
    /// `None` when unknown (a replayed event): left out, read as null.
    pub is_bot: Option<bool>,
    pub bot_reason: Option<&'a str>,
    pub geo_country: Option<&'a str>,
    pub geo_region: Option<&'a str>,
}

impl Traffic<'_> {
    /// The fields as every stored line of the request carries them, serialised once per request
    /// (`"name":value,` each). Unknown values are left out, not written as nulls: a reader
    /// treats both alike and the bytes are paid for in every line.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        let fields = [
            ("source", self.source),
            ("ua_browser", self.ua_browser),
            ("ua_browser_version", self.ua_browser_version),
            ("ua_os", self.ua_os),
            ("ua_device_type", self.ua_device_type),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                str_field(&mut out, name, v);
            }
        }
        if let Some(is_bot) = self.is_bot {
            key(&mut out, "is_bot");
            out.extend_from_slice(if is_bot { b"true," } else { b"false," });
        }
        for (name, value) in [
            ("bot_reason", self.bot_reason),
            ("geo_country", self.geo_country),
            ("geo_region", self.geo_region),
        ] {
            if let Some(v) = value {
                str_field(&mut out, name, v);
            }
        }
        out
    }
}

/// What the server adds to a valid event. Ingest fills it from the request (see
/// `ingest::enrich`); replay fills it from the quarantine record.
#[derive(Debug, Clone, Copy)]
pub struct ServerFields<'a> {
    pub received_at: EpochMillis,
    /// The event's time corrected for the client's clock skew.
    pub timestamp: EpochMillis,
    /// `sent_at` exactly as the client wrote it.
    pub sent_at_raw: &'a str,
    pub user_agent: Option<&'a str>,
    /// The caller's address after the IP policy: `None` stores `"ip": null`.
    pub ip: Option<&'a str>,
    /// The request's [`Traffic`], encoded; empty for an event that has none (a replayed one
    /// from before the fields existed).
    pub traffic: &'a [u8],
}

/// The client's fields of a valid event, as the record writer reads them: a parsed event
/// (`Map`), or the ingest fast path's fields already serialised (`ingest::fast_path`).
pub trait EventFields {
    /// Appends the JSON of the field `key`, as `serde_json` writes it; false when the event has
    /// no such field.
    fn write_value(&self, key: &str, out: &mut Vec<u8>) -> bool;
    /// The event's `timestamp` as the client sent it (empty when it is not a string).
    fn client_timestamp(&self) -> &str;
}

impl EventFields for Map<String, Value> {
    fn write_value(&self, key: &str, out: &mut Vec<u8>) -> bool {
        match self.get(key) {
            // Writing a Value into a Vec cannot fail.
            Some(value) => serde_json::to_writer(&mut *out, value).is_ok(),
            None => false,
        }
    }

    fn client_timestamp(&self) -> &str {
        self.get("timestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Appends the stored record of a valid event as one JSON line (no trailing newline).
pub fn write(out: &mut Vec<u8>, event: &impl EventFields, server: &ServerFields<'_>) {
    out.push(b'{');
    for key in ["event_id", "event_type", "schema_version"] {
        event_field(out, event, key);
    }
    stamp_field(out, "timestamp", server.timestamp);
    str_field(out, "client_timestamp", event.client_timestamp());
    str_field(out, "sent_at", server.sent_at_raw);
    stamp_field(out, "received_at", server.received_at);
    for key in ["anonymous_id", "user_id", "session_id", "seq"] {
        event_field(out, event, key);
    }
    // Optional objects are left out when the event has none: a `null` would make the stored
    // record fail the envelope (`context` must be an object) when it is validated again.
    for name in ["context", "properties"] {
        let start = out.len();
        key(out, name);
        if event.write_value(name, out) {
            out.push(b',');
        } else {
            out.truncate(start);
        }
    }
    opt_str_field(out, "user_agent", server.user_agent);
    opt_str_field(out, "ip", server.ip);
    out.extend_from_slice(server.traffic);
    // Every field above wrote a trailing comma; replace the last one.
    out.pop();
    out.push(b'}');
}

/// A field the record always has: `null` when the event has none.
fn event_field(out: &mut Vec<u8>, event: &impl EventFields, name: &str) {
    key(out, name);
    if !event.write_value(name, out) {
        out.extend_from_slice(b"null");
    }
    out.push(b',');
}

fn key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// A stamp as `format_rfc3339` writes it: digits, a sign and separators, nothing to escape.
fn stamp_field(out: &mut Vec<u8>, name: &str, ms: EpochMillis) {
    key(out, name);
    match rfc3339_ascii(ms) {
        Some(text) => {
            out.push(b'"');
            out.extend_from_slice(&text);
            out.push(b'"');
        }
        None => write_verbatim(out, &format_rfc3339(ms)),
    }
    out.push(b',');
}

fn str_field(out: &mut Vec<u8>, name: &str, value: &str) {
    key(out, name);
    write_str(out, value);
    out.push(b',');
}

/// Appends `s` as the JSON string `serde_json` writes for it. Most strings need no escape (no
/// `"`, `\\` or control character): they are copied between quotes, a far shorter path than the
/// serializer's, which the ingest profile found to be a sixth of the time per event.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    if needs_no_escape(s.as_bytes()) {
        write_verbatim(out, s);
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// `s` between quotes, for a string known to need no escape.
pub(crate) fn write_verbatim(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// No byte of `b` is a control character, `"` or `\\`: eight bytes at a time (the test of
/// `serde_json`'s own string scan), since user agents and URLs are long.
fn needs_no_escape(b: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        let quote =
            (x ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES) & !(x ^ (ONES * u64::from(b'"')));
        let slash =
            (x ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES) & !(x ^ (ONES * u64::from(b'\\')));
        if (control | quote | slash) & (ONES << 7) != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&c| c >= 0x20 && c != b'"' && c != b'\\')
}

fn opt_str_field(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    match value {
        Some(v) => str_field(out, name, v),
        None => {
            key(out, name);
            out.extend_from_slice(b"null,");
        }
    }
}

/// A stored event line as compaction reads it, borrowed from the line where it has no escapes.
#[derive(Deserialize)]
struct StoredEvent<'a> {
    #[serde(borrow)]
    event_id: Option<Text<'a>>,
    #[serde(borrow)]
    event_type: Option<Text<'a>>,
    #[serde(borrow)]
    schema_version: Option<Text<'a>>,
    #[serde(borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    client_timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    sent_at: Option<Text<'a>>,
    #[serde(borrow)]
    received_at: Option<Text<'a>>,
    #[serde(borrow)]
    anonymous_id: Option<Text<'a>>,
    #[serde(borrow)]
    user_id: Option<Text<'a>>,
    #[serde(borrow)]
    session_id: Option<Text<'a>>,
    seq: Option<i64>,
    #[serde(borrow)]
    context: Option<Context<'a>>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    user_agent: Option<Text<'a>>,
    #[serde(borrow)]
    ip: Option<Text<'a>>,
    #[serde(borrow)]
    source: Option<Text<'a>>,
    #[serde(borrow)]
    ua_browser: Option<Text<'a>>,
    #[serde(borrow)]
    ua_browser_version: Option<Text<'a>>,
    #[serde(borrow)]
    ua_os: Option<Text<'a>>,
    #[serde(borrow)]
    ua_device_type: Option<Text<'a>>,
    is_bot: Option<bool>,
    #[serde(borrow)]
    bot_reason: Option<Text<'a>>,
    #[serde(borrow)]
    geo_country: Option<Text<'a>>,
    #[serde(borrow)]
    geo_region: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct Context<'a> {
    #[serde(borrow, default)]
    page: Option<Page<'a>>,
    #[serde(borrow, default)]
    locale: Option<Text<'a>>,
    #[serde(borrow, default)]
    timezone: Option<Text<'a>>,
    #[serde(default)]
    screen: Option<Screen>,
    #[serde(borrow, default)]
    sdk: Option<Sdk<'a>>,
}

#[derive(Deserialize, Default)]
struct Page<'a> {
    #[serde(borrow, default)]
    url: Option<Text<'a>>,
    #[serde(borrow, default)]
    referrer: Option<Text<'a>>,
    #[serde(borrow, default)]
    title: Option<Text<'a>>,
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
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
}

pub(super) fn required<'s>(v: &'s Option<Text<'_>>, field: &str) -> Result<&'s str, LineError> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(LineError(format!(
            "not a stored record: {field} is missing"
        ))),
    }
}

pub(super) fn time(v: &Option<Text<'_>>, field: &str) -> Result<Option<i64>, LineError> {
    match v.as_deref() {
        None => Ok(None),
        Some(s) => parse_rfc3339(s)
            .map(Some)
            .ok_or_else(|| LineError(format!("{field} is not an RFC 3339 time: {s:?}"))),
    }
}

pub(super) fn required_time(v: &Option<Text<'_>>, field: &str) -> Result<i64, LineError> {
    time(v, field)?.ok_or_else(|| LineError(format!("not a stored record: {field} is missing")))
}

/// Screen sizes are validated to 0..=100000 at ingest; anything else is not an INT32.
fn int32(v: Option<i64>) -> Option<i64> {
    v.filter(|v| i32::try_from(*v).is_ok())
}

/// Appends the row of the events table for a stored event line, cells in column order.
pub fn parse(line: &[u8], out: &mut Vec<u8>) -> Result<(), LineError> {
    let e: StoredEvent<'_> = from_json_line(line)?;
    // Checked before any cell is written, so a bad line leaves `out` as it was.
    let event_id = required(&e.event_id, "event_id")?;
    let event_type = required(&e.event_type, "event_type")?;
    let schema_version = required(&e.schema_version, "schema_version")?;
    let timestamp = required_time(&e.timestamp, "timestamp")?;
    let received_at = required_time(&e.received_at, "received_at")?;
    let anonymous_id = required(&e.anonymous_id, "anonymous_id")?;
    let ctx = e.context.unwrap_or_default();
    let page = ctx.page.unwrap_or_default();
    let screen = ctx.screen.unwrap_or_default();
    let sdk = ctx.sdk.unwrap_or_default();
    for column in EventColumn::ALL {
        match column {
            EventColumn::EventId => put_str(out, event_id),
            EventColumn::EventType => put_str(out, event_type),
            EventColumn::SchemaVersion => put_str(out, schema_version),
            EventColumn::Timestamp => put_int(out, Some(timestamp)),
            // A client timestamp the ingest kept as sent but that is not a time is a null, not
            // a reason to lose the event: `timestamp` holds the corrected time.
            EventColumn::ClientTimestamp => put_int(
                out,
                time(&e.client_timestamp, "client_timestamp").unwrap_or(None),
            ),
            EventColumn::SentAt => put_int(out, time(&e.sent_at, "sent_at").unwrap_or(None)),
            EventColumn::ReceivedAt => put_int(out, Some(received_at)),
            EventColumn::AnonymousId => put_str(out, anonymous_id),
            EventColumn::UserId => put_opt_str(out, e.user_id.as_deref()),
            EventColumn::SessionId => put_opt_str(out, e.session_id.as_deref()),
            EventColumn::Seq => put_int(out, e.seq),
            EventColumn::PageUrl => put_opt_str(out, page.url.as_deref()),
            EventColumn::PageReferrer => put_opt_str(out, page.referrer.as_deref()),
            EventColumn::PageTitle => put_opt_str(out, page.title.as_deref()),
            EventColumn::Locale => put_opt_str(out, ctx.locale.as_deref()),
            EventColumn::Timezone => put_opt_str(out, ctx.timezone.as_deref()),
            EventColumn::ScreenWidth => put_int(out, int32(screen.width)),
            EventColumn::ScreenHeight => put_int(out, int32(screen.height)),
            EventColumn::SdkName => put_opt_str(out, sdk.name.as_deref()),
            EventColumn::SdkVersion => put_opt_str(out, sdk.version.as_deref()),
            EventColumn::UserAgent => put_opt_str(out, e.user_agent.as_deref()),
            EventColumn::Ip => put_opt_str(out, e.ip.as_deref()),
            EventColumn::Properties => put_opt_str(out, e.properties.map(RawValue::get)),
            EventColumn::Source => put_opt_str(out, e.source.as_deref()),
            EventColumn::UaBrowser => put_opt_str(out, e.ua_browser.as_deref()),
            EventColumn::UaBrowserVersion => put_opt_str(out, e.ua_browser_version.as_deref()),
            EventColumn::UaOs => put_opt_str(out, e.ua_os.as_deref()),
            EventColumn::UaDeviceType => put_opt_str(out, e.ua_device_type.as_deref()),
            EventColumn::IsBot => put_int(out, e.is_bot.map(i64::from)),
            EventColumn::BotReason => put_opt_str(out, e.bot_reason.as_deref()),
            EventColumn::GeoCountry => put_opt_str(out, e.geo_country.as_deref()),
            EventColumn::GeoRegion => put_opt_str(out, e.geo_region.as_deref()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::cells::{Cell, OwnedRow};
    use crate::record::EVENT_COLUMNS;
    use serde_json::json;

    const LINE: &str = r#"{"event_id":"01936f4e-8a3d-7c1e-8a20-5d6e7f8a9b0c","event_type":"product_viewed","schema_version":"1-0-0","timestamp":"2026-11-28T14:30:22.827Z","client_timestamp":"2026-11-28T14:30:21.950Z","sent_at":"2026-11-28T14:30:22.123Z","received_at":"2026-11-28T14:30:23.000Z","anonymous_id":"a-1","user_id":null,"session_id":"s-1","seq":17,"context":{"page":{"url":"https://shop.example/p/42"},"locale":"de-DE","screen":{"width":390,"height":844}},"properties":{"product_id":"42","price":89.9},"user_agent":"UA \"quoted\"","ip":null}"#;

    #[test]
    fn writes_strings_as_serde_json_does() {
        for s in [
            "",
            "plain",
            "Grüße, 東京 🌍",
            "a \"quote\"",
            "back\\slash",
            "line\nbreak\ttab\u{0}\u{1f}",
            "\u{7f} and / stay",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
        // Each character to escape at every place of a word and of the tail.
        for c in ['"', '\\', '\n', '\u{1f}', '\u{0}', 'ä'] {
            for at in 0..21 {
                let mut s = "x".repeat(21);
                s.replace_range(at..at + 1, &c.to_string());
                let mut out = Vec::new();
                write_str(&mut out, &s);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    serde_json::to_string(&s).unwrap(),
                    "{s:?}"
                );
            }
        }
    }

    fn parsed(line: &str) -> OwnedRow {
        let mut row = OwnedRow::default();
        row.fill(EVENT_COLUMNS.len(), |buf| parse(line.as_bytes(), buf))
            .unwrap();
        row
    }

    #[test]
    fn stored_event_becomes_typed_cells_in_column_order() {
        let owned = parsed(LINE);
        let r = owned.row();
        assert_eq!(
            r.cell(EventColumn::EventId.index()),
            Cell::Str(b"01936f4e-8a3d-7c1e-8a20-5d6e7f8a9b0c")
        );
        assert_eq!(
            r.cell(EventColumn::Timestamp.index()),
            Cell::Int(1_795_876_222_827)
        );
        assert_eq!(r.cell(EventColumn::UserId.index()), Cell::Null);
        assert_eq!(r.cell(EventColumn::Seq.index()), Cell::Int(17));
        assert_eq!(
            r.cell(EventColumn::PageUrl.index()),
            Cell::Str(b"https://shop.example/p/42")
        );
        assert_eq!(r.cell(EventColumn::PageReferrer.index()), Cell::Null);
        assert_eq!(r.cell(EventColumn::ScreenWidth.index()), Cell::Int(390));
        assert_eq!(
            r.cell(EventColumn::UserAgent.index()),
            Cell::Str(b"UA \"quoted\""),
            "escapes decoded"
        );
        assert_eq!(
            r.cell(EventColumn::Properties.index()),
            Cell::Str(br#"{"product_id":"42","price":89.9}"#),
            "properties kept as the JSON text"
        );
    }

    #[test]
    fn lines_that_are_not_stored_events_say_why_and_leave_no_bytes() {
        let mut out = vec![7];
        let err = parse(b"{not json", &mut out).unwrap_err();
        assert!(err.0.starts_with("not JSON"), "{err:?}");
        let err = parse(br#"{"event_id":"x","event_type":"a"}"#, &mut out).unwrap_err();
        assert!(err.0.contains("schema_version is missing"), "{err:?}");
        let err = parse(b"[1,2]", &mut out).unwrap_err();
        assert!(err.0.starts_with("not JSON"), "{err:?}");
        let err = parse(b"{\"event_id\":\"\xff\"}", &mut out).unwrap_err();
        assert!(err.0.starts_with("not JSON: not UTF-8 text"), "{err:?}");
        assert_eq!(out, vec![7]);
    }

    #[test]
    fn what_ingest_writes_compaction_reads_back() {
        let mut event = crate::test_fixtures::valid_event();
        event["context"] = json!({"page": {"url": "https://shop.example/"}});
        let server = ServerFields {
            received_at: parse_rfc3339("2026-11-28T14:30:23.000Z").unwrap(),
            timestamp: parse_rfc3339("2026-11-28T14:30:22.950Z").unwrap(),
            sent_at_raw: "2026-11-28T14:30:22.000Z",
            user_agent: Some("UA/1"),
            ip: None,
            traffic: &Traffic {
                source: Some("web"),
                ua_browser: Some("Chrome"),
                ua_device_type: Some("desktop"),
                is_bot: Some(true),
                bot_reason: Some("headless_browser"),
                geo_country: Some("DE"),
                geo_region: Some("DE-BY"),
                ..Traffic::default()
            }
            .encode(),
        };
        let mut line = Vec::new();
        write(&mut line, event.as_object().unwrap(), &server);
        let owned = parsed(std::str::from_utf8(&line).unwrap());
        let r = owned.row();
        assert_eq!(
            r.cell(EventColumn::Timestamp.index()),
            Cell::Int(server.timestamp)
        );
        assert_eq!(
            r.cell(EventColumn::ClientTimestamp.index()),
            Cell::Int(parse_rfc3339("2026-11-28T14:30:21.950Z").unwrap())
        );
        assert_eq!(
            r.cell(EventColumn::ReceivedAt.index()),
            Cell::Int(server.received_at)
        );
        assert_eq!(r.cell(EventColumn::UserAgent.index()), Cell::Str(b"UA/1"));
        assert_eq!(r.cell(EventColumn::Ip.index()), Cell::Null);
        assert_eq!(
            r.cell(EventColumn::PageUrl.index()),
            Cell::Str(b"https://shop.example/")
        );
        assert_eq!(
            r.cell(EventColumn::Properties.index()),
            Cell::Str(br#"{"path":"/"}"#)
        );
        assert_eq!(r.cell(EventColumn::Source.index()), Cell::Str(b"web"));
        assert_eq!(r.cell(EventColumn::UaBrowser.index()), Cell::Str(b"Chrome"));
        assert_eq!(r.cell(EventColumn::UaOs.index()), Cell::Null);
        assert_eq!(r.cell(EventColumn::IsBot.index()), Cell::Int(1));
        assert_eq!(
            r.cell(EventColumn::BotReason.index()),
            Cell::Str(b"headless_browser")
        );
        assert_eq!(r.cell(EventColumn::GeoRegion.index()), Cell::Str(b"DE-BY"));
    }

    #[test]
    fn a_line_from_before_the_traffic_fields_reads_them_as_null() {
        let owned = parsed(LINE);
        let r = owned.row();
        assert_eq!(r.cell(EventColumn::IsBot.index()), Cell::Null);
        assert_eq!(r.cell(EventColumn::Source.index()), Cell::Null);
    }

    #[test]
    fn a_stored_record_leaves_out_absent_objects_and_writes_a_null_ip() {
        let event = json!({"event_id": "e", "event_type": "t", "schema_version": "1-0-0",
            "timestamp": "2026-11-28T14:30:21.950Z", "anonymous_id": "a", "session_id": "s", "seq": 1});
        let mut line = Vec::new();
        write(
            &mut line,
            event.as_object().unwrap(),
            &ServerFields {
                received_at: 0,
                timestamp: 0,
                sent_at_raw: "1970-01-01T00:00:00.000Z",
                user_agent: None,
                ip: None,
                traffic: b"",
            },
        );
        let rec: Value = serde_json::from_slice(&line).unwrap();
        assert!(rec.get("context").is_none() && rec.get("properties").is_none());
        assert_eq!(rec["ip"], Value::Null);
        assert_eq!(rec["user_id"], Value::Null);
    }
}
