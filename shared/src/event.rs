//! One event of a batch: its verdict (envelope, limits, schema) and, when valid, its stored record.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{IpPolicy, Limits};
use crate::schema::{describe, escape_pointer, FieldError, Lookup, Registry};
use crate::timestamp::{parse_rfc3339, write_rfc3339, EpochMillis};

/// Fields only the server sets. A client that sends them inside an event is ignored, not rejected:
/// older or foreign SDKs send some of them, and none of them ever reaches the stored record.
pub const SERVER_FIELDS: &[&str] = &[
    "received_at",
    "client_timestamp",
    "sent_at",
    "ip",
    "user_agent",
];

/// At most this many problems are listed per event, so a response stays small.
const MAX_ERRORS_PER_EVENT: usize = 20;

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

/// What the server knows about the request an event came in.
#[derive(Debug, Clone)]
pub struct RequestContext<'a> {
    pub received_at: EpochMillis,
    pub sent_at: EpochMillis,
    /// `sent_at` exactly as the client wrote it.
    pub sent_at_raw: &'a str,
    /// The caller's address after the IP policy was applied.
    pub ip: Option<String>,
    pub user_agent: Option<&'a str>,
    pub max_event_age_ms: i64,
}

/// The problems that rejected an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub errors: Vec<FieldError>,
}

/// Checks one parsed event against the envelope, the limits and its schema.
pub fn check_event(
    event: &Value,
    raw_len: usize,
    registry: &Registry,
    limits: &Limits,
) -> Result<(), Rejection> {
    if raw_len > limits.max_event_bytes {
        return Err(Rejection {
            reason: RejectReason::TooLarge,
            errors: vec![FieldError::new(
                "",
                format!(
                    "the event is {raw_len} bytes; the limit is {} bytes: send less data per event",
                    limits.max_event_bytes
                ),
            )],
        });
    }
    let Value::Object(map) = event else {
        return Err(Rejection {
            reason: RejectReason::NotAnObject,
            errors: vec![FieldError::new(
                "",
                format!("an event must be an object, got {}", describe(event)),
            )],
        });
    };

    let mut errors = Vec::new();
    check_envelope(map, registry, &mut errors);
    if !errors.is_empty() {
        return Err(rejection(RejectReason::Envelope, errors));
    }

    // The envelope is valid, so these are strings.
    let event_type = map
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = map
        .get("schema_version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let schema = match registry.get(event_type, version) {
        Lookup::Found(schema) => schema,
        Lookup::UnknownType => {
            let known = registry.event_types().join(", ");
            return Err(rejection(
                RejectReason::UnknownEventType,
                vec![FieldError::new(
                    "/event_type",
                    format!("unknown event type {event_type:?}: add schema/{event_type}/1-0-0.json or use one of {known}"),
                )],
            ));
        }
        Lookup::UnknownVersion(known) => {
            let known: Vec<String> = known.iter().map(ToString::to_string).collect();
            return Err(rejection(
                RejectReason::UnknownSchemaVersion,
                vec![FieldError::new(
                    "/schema_version",
                    format!(
                        "unknown version {version:?} of {event_type}; known versions: {}",
                        known.join(", ")
                    ),
                )],
            ));
        }
    };

    let mut path = String::from("/properties");
    match map.get("properties") {
        Some(props @ Value::Object(obj)) => {
            if obj.len() > limits.max_properties {
                return Err(rejection(
                    RejectReason::TooManyProperties,
                    vec![FieldError::new(
                        "/properties",
                        format!(
                            "has {} properties; the limit is {}",
                            obj.len(),
                            limits.max_properties
                        ),
                    )],
                ));
            }
            let depth = nesting_depth(props);
            if depth > limits.max_depth {
                return Err(rejection(
                    RejectReason::TooDeep,
                    vec![FieldError::new(
                        "/properties",
                        format!(
                            "is nested {depth} levels deep; the limit is {}",
                            limits.max_depth
                        ),
                    )],
                ));
            }
        }
        Some(other) => {
            return Err(rejection(
                RejectReason::Envelope,
                vec![FieldError::new(
                    "/properties",
                    format!("must be an object, got {}", describe(other)),
                )],
            ))
        }
        None => {
            return Err(rejection(
                RejectReason::Envelope,
                vec![FieldError::new(
                    "/properties",
                    "is required but missing: send {} when the event has none",
                )],
            ))
        }
    }

    let mut long = Vec::new();
    find_long_strings(
        event,
        limits.max_string_length,
        &mut String::new(),
        &mut long,
    );
    if !long.is_empty() {
        return Err(rejection(RejectReason::StringTooLong, long));
    }

    schema.root.validate(
        map.get("properties").unwrap_or(&Value::Null),
        &mut path,
        &mut errors,
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(rejection(RejectReason::Properties, errors))
    }
}

fn rejection(reason: RejectReason, mut errors: Vec<FieldError>) -> Rejection {
    if errors.len() > MAX_ERRORS_PER_EVENT {
        let more = errors.len() - MAX_ERRORS_PER_EVENT;
        errors.truncate(MAX_ERRORS_PER_EVENT);
        errors.push(FieldError::new("", format!("and {more} more problems")));
    }
    Rejection { reason, errors }
}

fn check_envelope(map: &Map<String, Value>, registry: &Registry, errors: &mut Vec<FieldError>) {
    let envelope = registry.envelope();
    for name in &envelope.required {
        if !map.contains_key(name) {
            errors.push(FieldError::new(
                format!("/{name}"),
                "is required but missing",
            ));
        }
    }
    let mut path = String::new();
    for (key, value) in map {
        if key == "properties" || SERVER_FIELDS.contains(&key.as_str()) {
            continue;
        }
        path.clear();
        path.push('/');
        path.push_str(&escape_pointer(key));
        match envelope.properties.iter().find(|(name, _)| name == key) {
            Some((_, node)) => node.validate(value, &mut path, errors),
            None => errors.push(FieldError::new(
                path.clone(),
                "is not an envelope field: put event data under properties",
            )),
        }
    }
}

/// `{}` and scalars are depth 0 below their container; `{"a": 1}` is 1, `{"a": {"b": 1}}` is 2.
fn nesting_depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(nesting_depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(nesting_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn find_long_strings(v: &Value, max: usize, path: &mut String, out: &mut Vec<FieldError>) {
    match v {
        // Counting characters only past the byte length keeps the common case cheap.
        Value::String(s) if s.len() > max && s.chars().count() > max => out.push(FieldError::new(
            path.clone(),
            format!(
                "is {} characters long; the limit is {max}",
                s.chars().count()
            ),
        )),
        Value::Object(m) => {
            for (k, child) in m {
                let len = path.len();
                path.push('/');
                path.push_str(&escape_pointer(k));
                find_long_strings(child, max, path, out);
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                find_long_strings(child, max, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// `received_at - (sent_at - timestamp)`, clamped to `[received_at - max_age, received_at]`:
/// the client's clock may be wrong, but the time between the event and the send is not.
pub fn corrected_timestamp(client_ts: EpochMillis, ctx: &RequestContext<'_>) -> EpochMillis {
    let corrected = ctx
        .received_at
        .saturating_sub(ctx.sent_at.saturating_sub(client_ts));
    corrected.clamp(ctx.received_at - ctx.max_event_age_ms, ctx.received_at)
}

/// Applies the IP policy to the caller's address.
pub fn apply_ip_policy(ip: Option<&str>, policy: IpPolicy) -> Option<String> {
    let ip = ip?;
    match policy {
        IpPolicy::Drop => None,
        IpPolicy::Keep => Some(ip.to_string()),
        IpPolicy::Truncate => match ip.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Some(std::net::Ipv4Addr::new(a, b, c, 0).to_string())
            }
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                Some(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string())
            }
        },
    }
}

/// Appends the stored record of a valid event as one JSON line (no trailing newline).
pub fn write_record(out: &mut Vec<u8>, event: &Map<String, Value>, ctx: &RequestContext<'_>) {
    let client_ts_raw = event
        .get("timestamp")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let client_ts = parse_rfc3339(client_ts_raw).unwrap_or(ctx.received_at);
    let mut stamp = String::with_capacity(24);
    out.push(b'{');
    for key in ["event_id", "event_type", "schema_version"] {
        field(out, key, event.get(key).unwrap_or(&Value::Null));
    }
    write_rfc3339(&mut stamp, corrected_timestamp(client_ts, ctx));
    str_field(out, "timestamp", &stamp);
    str_field(out, "client_timestamp", client_ts_raw);
    str_field(out, "sent_at", ctx.sent_at_raw);
    stamp.clear();
    write_rfc3339(&mut stamp, ctx.received_at);
    str_field(out, "received_at", &stamp);
    for key in ["anonymous_id", "user_id", "session_id", "seq"] {
        field(out, key, event.get(key).unwrap_or(&Value::Null));
    }
    // Optional objects are left out when the event has none: a `null` would make the stored
    // record fail the envelope (`context` must be an object) when it is validated again.
    for key in ["context", "properties"] {
        if let Some(value) = event.get(key) {
            field(out, key, value);
        }
    }
    str_or_null_field(out, "user_agent", ctx.user_agent);
    str_or_null_field(out, "ip", ctx.ip.as_deref());
    // Every field above wrote a trailing comma; replace the last one.
    out.pop();
    out.push(b'}');
}

/// What the quarantine stream keeps of a rejected event: enough to inspect and replay it.
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
    /// The event exactly as sent (minified), or `None` when it was too large to keep whole.
    pub raw: Option<&'a serde_json::value::RawValue>,
    /// The start of an event too large to keep whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_truncated: Option<&'a str>,
}

fn field(out: &mut Vec<u8>, key: &str, value: &Value) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
    out.push(b',');
}

fn str_field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    let _ = serde_json::to_writer(&mut *out, value);
    out.push(b',');
}

fn str_or_null_field(out: &mut Vec<u8>, key: &str, value: Option<&str>) {
    match value {
        Some(v) => str_field(out, key, v),
        None => field(out, key, &Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(received: &str, sent: &'static str) -> RequestContext<'static> {
        RequestContext {
            received_at: parse_rfc3339(received).unwrap(),
            sent_at: parse_rfc3339(sent).unwrap(),
            sent_at_raw: sent,
            ip: None,
            user_agent: None,
            max_event_age_ms: 30 * 86_400_000,
        }
    }

    fn valid() -> Value {
        json!({
            "event_id": "01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9b",
            "event_type": "page_viewed",
            "schema_version": "1-0-0",
            "timestamp": "2026-11-28T14:30:21.950Z",
            "anonymous_id": "a-1",
            "session_id": "s-1",
            "seq": 3,
            "properties": {"path": "/"}
        })
    }

    fn check(v: &Value) -> Result<(), Rejection> {
        let reg = Registry::embedded().unwrap();
        check_event(
            v,
            serde_json::to_string(v).unwrap().len(),
            &reg,
            &Limits::default(),
        )
    }

    #[test]
    fn skew_correction_keeps_the_gap_between_event_and_send() {
        // The client clock is 1 h 2 min fast; the event happened 170 ms before the send.
        let c = ctx("2026-11-28T13:28:22.000Z", "2026-11-28T14:30:22.120Z");
        let ts = parse_rfc3339("2026-11-28T14:30:21.950Z").unwrap();
        assert_eq!(
            corrected_timestamp(ts, &c),
            parse_rfc3339("2026-11-28T13:28:21.830Z").unwrap()
        );
    }

    #[test]
    fn skew_correction_is_clamped_to_received_at_and_max_age() {
        let c = ctx("2026-11-28T12:00:00.000Z", "2026-11-28T12:00:00.000Z");
        let future = parse_rfc3339("2026-11-29T12:00:00.000Z").unwrap();
        assert_eq!(corrected_timestamp(future, &c), c.received_at);
        let ancient = parse_rfc3339("2001-01-01T00:00:00.000Z").unwrap();
        assert_eq!(
            corrected_timestamp(ancient, &c),
            c.received_at - 30 * 86_400_000
        );
    }

    #[test]
    fn a_valid_event_passes() {
        assert_eq!(check(&valid()), Ok(()));
    }

    #[test]
    fn server_fields_sent_by_a_client_are_ignored_not_rejected() {
        let mut v = valid();
        v["received_at"] = json!("1999-01-01T00:00:00Z");
        v["ip"] = json!("6.6.6.6");
        assert_eq!(check(&v), Ok(()));
    }

    #[test]
    fn envelope_problems_are_all_listed() {
        let mut v = valid();
        v["event_id"] = json!("nope");
        v["seq"] = json!(-1);
        v["colour"] = json!("red");
        v.as_object_mut().unwrap().remove("session_id");
        let err = check(&v).unwrap_err();
        assert_eq!(err.reason, RejectReason::Envelope);
        let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/session_id", "/event_id", "/colour", "/seq"]);
    }

    #[test]
    fn unknown_types_and_versions_say_what_exists() {
        let mut v = valid();
        v["event_type"] = json!("page_view");
        let err = check(&v).unwrap_err();
        assert_eq!(err.reason, RejectReason::UnknownEventType);
        assert!(
            err.errors[0].message.contains("page_viewed"),
            "{:?}",
            err.errors
        );
        let mut v = valid();
        v["schema_version"] = json!("2-0-0");
        let err = check(&v).unwrap_err();
        assert_eq!(err.reason, RejectReason::UnknownSchemaVersion);
        assert_eq!(
            err.errors[0].message,
            "unknown version \"2-0-0\" of page_viewed; known versions: 1-0-0"
        );
    }

    #[test]
    fn per_event_limits_accept_the_limit_and_reject_one_over() {
        let reg = Registry::embedded().unwrap();
        // 36 characters: the longest envelope string in `valid()` is the event_id.
        let limits = Limits {
            max_string_length: 36,
            max_depth: 1,
            max_properties: 2,
            max_event_bytes: 500,
            ..Limits::default()
        };
        let mut v = valid();
        v["properties"] = json!({"path": format!("/{}", "x".repeat(35)), "title": "t"});
        assert_eq!(check_event(&v, 500, &reg, &limits), Ok(()));
        assert_eq!(
            check_event(&v, 501, &reg, &limits).unwrap_err().reason,
            RejectReason::TooLarge
        );
        v["properties"]["path"] = json!(format!("/{}", "x".repeat(36)));
        let err = check_event(&v, 100, &reg, &limits).unwrap_err();
        assert_eq!(err.reason, RejectReason::StringTooLong);
        assert_eq!(err.errors[0].path, "/properties/path");
        v["properties"] = json!({"path": "/", "title": "t", "search": "?q"});
        assert_eq!(
            check_event(&v, 100, &reg, &limits).unwrap_err().reason,
            RejectReason::TooManyProperties
        );
        v["properties"] = json!({"path": {"nested": "x"}});
        assert_eq!(
            check_event(&v, 100, &reg, &limits).unwrap_err().reason,
            RejectReason::TooDeep
        );
    }

    #[test]
    fn ip_policy_drops_truncates_or_keeps() {
        assert_eq!(apply_ip_policy(Some("203.0.113.77"), IpPolicy::Drop), None);
        assert_eq!(
            apply_ip_policy(Some("203.0.113.77"), IpPolicy::Truncate).as_deref(),
            Some("203.0.113.0")
        );
        assert_eq!(
            apply_ip_policy(Some("2001:db8:abcd:12:1:2:3:4"), IpPolicy::Truncate).as_deref(),
            Some("2001:db8:abcd::")
        );
        assert_eq!(
            apply_ip_policy(Some("203.0.113.77"), IpPolicy::Keep).as_deref(),
            Some("203.0.113.77")
        );
    }

    #[test]
    fn stored_record_has_server_fields_and_corrected_timestamp() {
        let mut v = valid();
        v["ip"] = json!("6.6.6.6");
        let c = RequestContext {
            ip: Some("203.0.113.0".into()),
            user_agent: Some("UA/1"),
            ..ctx("2026-11-28T14:30:23.000Z", "2026-11-28T14:30:22.000Z")
        };
        let mut out = Vec::new();
        write_record(&mut out, v.as_object().unwrap(), &c);
        let rec: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(rec["timestamp"], "2026-11-28T14:30:22.950Z");
        assert_eq!(rec["client_timestamp"], "2026-11-28T14:30:21.950Z");
        assert_eq!(rec["received_at"], "2026-11-28T14:30:23.000Z");
        assert_eq!(rec["sent_at"], "2026-11-28T14:30:22.000Z");
        assert_eq!(rec["ip"], "203.0.113.0");
        assert_eq!(rec["user_agent"], "UA/1");
        assert_eq!(rec["user_id"], Value::Null);
        assert_eq!(rec["properties"], json!({"path": "/"}));
    }

    #[test]
    fn stored_record_of_an_event_without_context_passes_validation_again() {
        // `valid()` has no context: the stored record must not invent a `"context": null`.
        let mut out = Vec::new();
        write_record(
            &mut out,
            valid().as_object().unwrap(),
            &ctx("2026-11-28T14:30:23.000Z", "2026-11-28T14:30:22.000Z"),
        );
        let rec: Value = serde_json::from_slice(&out).unwrap();
        assert!(rec.get("context").is_none(), "{rec}");
        assert_eq!(check(&rec), Ok(()));
    }
}
