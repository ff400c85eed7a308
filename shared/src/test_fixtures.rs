//! What the unit tests of several modules send and receive: a valid wire event and the request
//! context it arrives in.

use serde_json::{json, Value};

use crate::ingest::enrich::RequestContext;
use crate::timestamp::parse_rfc3339;

/// A valid `page_viewed` event as the SDK sends it, without context.
pub fn valid_event() -> Value {
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

/// A request received at `received`, sent by the client at `sent` (RFC 3339).
pub fn request(received: &str, sent: &'static str) -> RequestContext<'static> {
    RequestContext {
        received_at: parse_rfc3339(received).unwrap(),
        sent_at: parse_rfc3339(sent).unwrap(),
        sent_at_raw: sent,
        ip: None,
        user_agent: None,
        max_event_age_ms: 30 * 86_400_000,
        traffic: Vec::new(),
    }
}
