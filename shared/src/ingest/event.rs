//! One event of a batch: its verdict against the envelope, the limits and its schema.

use serde_json::{Map, Value};

use crate::config::Limits;
use crate::record::event::SERVER_FIELDS;
pub use crate::record::quarantine::RejectReason;
use crate::schema::{describe, escape_pointer, FieldError, Lookup, Registry};

/// At most this many problems are listed per event, so a response stays small.
const MAX_ERRORS_PER_EVENT: usize = 20;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::event::write;
    use crate::test_fixtures::{request as ctx, valid_event as valid};
    use serde_json::json;

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
    fn stored_record_of_an_event_without_context_passes_validation_again() {
        // `valid()` has no context: the stored record must not invent a `"context": null`.
        let mut out = Vec::new();
        let event = valid();
        let event = event.as_object().unwrap();
        let c = ctx("2026-11-28T14:30:23.000Z", "2026-11-28T14:30:22.000Z");
        write(&mut out, event, &c.server_fields(event));
        let rec: Value = serde_json::from_slice(&out).unwrap();
        assert!(rec.get("context").is_none(), "{rec}");
        assert_eq!(check(&rec), Ok(()));
    }
}
