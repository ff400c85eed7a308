//! Shared pieces of the ingest tests: API Gateway v2 requests built from the golden fixture,
//! realistic events, a fixed clock and an in-memory sink.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use driftless::clock::{Clock, FixedClock};
use driftless::config::IngestConfig;
use driftless::ingest::firehose::{CallFailure, RecordSink};
use driftless::ingest::Ingest;
use driftless::schema::Registry;
use driftless::timestamp::parse_rfc3339;
use lambda_http::http::{HeaderName, HeaderValue, Method};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("../../../../tests/fixtures/events/apigw-v2-batch.json");

pub const RECEIVED_AT: &str = "2026-11-28T14:30:23.000Z";
pub const SENT_AT: &str = "2026-11-28T14:30:22.123Z";

/// The golden API Gateway v2 request (a browser's `text/plain` beacon), with its body replaced.
pub fn request(body: impl Into<Body>, headers: &[(&str, &str)]) -> Request {
    let mut req = lambda_http::request::from_str(FIXTURE).expect("fixture parses");
    *req.body_mut() = body.into();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("header name");
        if value.is_empty() {
            req.headers_mut().remove(&name);
        } else {
            req.headers_mut()
                .insert(name, HeaderValue::from_str(value).expect("header value"));
        }
    }
    req
}

pub fn with_method(mut req: Request, method: Method) -> Request {
    *req.method_mut() = method;
    req
}

pub fn fixture_request() -> Request {
    lambda_http::request::from_str(FIXTURE).expect("fixture parses")
}

/// A valid event of one of the starter types, distinct per `n`.
pub fn event(n: u64, anonymous_id: &str) -> Value {
    let event_id = format!("01936f4e-8a3c-7b2d-9f10-{n:012x}");
    let (event_type, properties) = match n % 5 {
        0 => (
            "page_viewed",
            json!({"path": format!("/p/{n}"), "title": "Shoe", "category": "product"}),
        ),
        1 => (
            "product_viewed",
            json!({"product_id": format!("sku-{n}"), "price": 89.9, "currency": "EUR"}),
        ),
        2 => (
            "cart_item_added",
            json!({"cart_id": "c-1", "product_id": format!("sku-{n}"), "quantity": 2, "price": 89.9, "currency": "EUR"}),
        ),
        3 => ("signed_up", json!({"method": "email", "plan": "free"})),
        _ => (
            "checkout_completed",
            json!({"order_id": format!("o-{n}"), "total": 179.8, "currency": "EUR",
              "items": [{"product_id": format!("sku-{n}"), "quantity": 2, "price": 89.9}]}),
        ),
    };
    json!({
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": "1-0-0",
        "timestamp": "2026-11-28T14:30:21.950Z",
        "anonymous_id": anonymous_id,
        "user_id": null,
        "session_id": "01936f4e-0000-7000-8000-000000000001",
        "seq": n,
        "context": {"page": {"url": "https://shop.example/p/42", "referrer": "https://shop.example/", "title": "Shoe 42"},
                    "locale": "de-DE", "timezone": "Europe/Berlin", "screen": {"width": 1440, "height": 900},
                    "sdk": {"name": "driftless-js", "version": "0.1.0"}},
        "properties": properties,
    })
}

/// `(index, reason, first error path)` of each rejection: response entries and quarantine records
/// carry the same three fields.
pub fn verdicts(rejections: &[Value]) -> Vec<(u64, &str, &str)> {
    rejections
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["reason"].as_str().expect("reason"),
                r["errors"][0]["path"].as_str().expect("error path"),
            )
        })
        .collect()
}

pub fn batch(events: Vec<Value>) -> String {
    json!({"sent_at": SENT_AT, "events": events}).to_string()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

pub fn fixed_clock() -> FixedClock {
    FixedClock(parse_rfc3339(RECEIVED_AT).expect("valid"))
}

/// Keeps every record it is given, per stream.
#[derive(Default)]
pub struct MemorySink {
    pub records: Mutex<Vec<(String, Vec<u8>)>>,
}

impl MemorySink {
    /// Every stored line of `stream`, parsed.
    pub fn lines(&self, stream: &str) -> Vec<Value> {
        let records = self.records.lock().expect("lock");
        records
            .iter()
            .filter(|(s, _)| s == stream)
            .flat_map(|(_, r)| {
                r.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::from_slice(l).expect("line is JSON"))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl RecordSink for MemorySink {
    async fn put_record_batch(
        &self,
        stream: &str,
        records: Vec<Vec<u8>>,
    ) -> Result<Vec<Option<String>>, CallFailure> {
        let n = records.len();
        let mut stored = self.records.lock().expect("lock");
        stored.extend(records.into_iter().map(|r| (stream.to_string(), r)));
        Ok(vec![None; n])
    }
}

pub fn service<S: RecordSink>(sink: S, config: IngestConfig) -> Ingest<S, FixedClock> {
    Ingest::new(
        Registry::embedded().expect("schemas compile"),
        config,
        sink,
        fixed_clock(),
    )
}

pub async fn call<S: RecordSink, C: Clock>(
    service: &Ingest<S, C>,
    req: Request,
) -> (u16, Value, Response<Body>) {
    let response = ingest::handle(service, req, SystemTime::now() + Duration::from_secs(10)).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).expect("response body is JSON"),
        Body::Empty => Value::Null,
        Body::Binary(b) => serde_json::from_slice(b).expect("response body is JSON"),
        _ => Value::Null,
    };
    (status, body, response)
}
