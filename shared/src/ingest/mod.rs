//! The ingest service: one HTTP request in, per-event verdicts out, valid events handed to the
//! `events` delivery stream and rejected ones, with their errors, to `quarantine`.
//!
//! It knows nothing of Lambda: the function crate turns its request into an [`HttpRequest`] and
//! the [`HttpResponse`] back, so tests drive the real service with a fixed clock and any sink.
//!
//! - [`body`]: media types, size limits, gzip with a cap.
//! - [`batch`]: the batch's `sent_at`, `key` and event texts, in one read of the body.
//! - [`event`]: one event's verdict (envelope, limits, schema), the reference path.
//! - [`fast_path`]: a valid event checked and stored in one read of its text, no `Value` tree.
//! - [`keys`]: source keys, which site or app sent a request.
//! - [`enrich`]: the server's fields of a valid event (receive time, skew, caller, traffic).
//! - [`firehose`]: packing lines into records and delivering them with retries.
//! - [`error`]: ingest's errors and their HTTP mapping.

pub mod batch;
pub mod body;
pub mod enrich;
pub mod error;
pub mod event;
pub mod fast_path;
pub mod firehose;
pub mod keys;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::time::Instant;

use crate::clock::{Clock, SystemClock};
use crate::config::IngestConfig;
use crate::record::quarantine::{QuarantineRecord, RejectReason};
use crate::schema::{FieldError, Registry};
use crate::telemetry::{names, write_documents, MetricSet, MetricsAggregator, Unit};
use crate::timestamp::{format_rfc3339, parse_rfc3339, EpochMillis};
use body::decode_body;
use enrich::geo::GeoDb;
use enrich::{agent, apply_ip_policy, Enricher, Origin, RequestContext};
pub use error::{IngestError, Result};
use event::check_event;
use firehose::{deliver, DeliveryReport, RecordPacker, RecordSink, RetryPolicy};
use keys::SourceKeys;

type Error = IngestError;

/// The parts of an HTTP request that ingest reads.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub origin: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub accept_language: Option<&'a str>,
    /// The `X-Driftless-Key` header.
    pub key: Option<&'a str>,
    /// The caller's address: the endpoint's, or the one a trusted proxy's header names.
    pub source_ip: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// One rejected event, as the response lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedEvent {
    pub index: usize,
    pub event_id: Option<String>,
    pub reason: RejectReason,
    pub errors: Vec<FieldError>,
}

/// A batch after validation and enrichment, packed for Firehose.
#[derive(Debug, Default)]
pub struct ProcessedBatch {
    pub accepted: usize,
    pub rejected: Vec<RejectedEvent>,
    pub events_records: Vec<Vec<u8>>,
    pub quarantine_records: Vec<Vec<u8>>,
    /// Accepted events of a request the bot rules matched.
    pub bots: usize,
}

/// The body of a 200 response.
#[derive(Debug, Serialize)]
struct Verdicts<'a> {
    accepted: usize,
    rejected: &'a [RejectedEvent],
}

/// What the request carried besides its body, for enrichment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    pub origin: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub accept_language: Option<&'a str>,
    /// The key from the header; the body's `key` field is read when there is none.
    pub key: Option<&'a str>,
    pub source_ip: Option<&'a str>,
}

pub struct Ingest<S, C = SystemClock> {
    registry: Registry,
    /// The fast path's view of `registry`'s envelope.
    layout: fast_path::Layout,
    config: IngestConfig,
    sink: S,
    clock: C,
    retry: RetryPolicy,
    metrics: Arc<MetricsAggregator>,
    /// `None`: keyless, any caller is accepted.
    keys: Option<SourceKeys>,
    enricher: Enricher,
}

impl<S: RecordSink, C: Clock> Ingest<S, C> {
    pub fn new(registry: Registry, config: IngestConfig, sink: S, clock: C) -> Ingest<S, C> {
        let metrics = Arc::new(MetricsAggregator::new(config.metrics_flush));
        Ingest {
            layout: fast_path::Layout::new(&registry),
            registry,
            config,
            sink,
            clock,
            retry: RetryPolicy::default(),
            metrics,
            keys: None,
            // The parser is the process's (built once); it fails only for a broken build,
            // which the function reports at cold start.
            enricher: Enricher::new(agent::shared().ok()),
        }
    }

    /// Requires a valid source key on every request.
    pub fn with_source_keys(mut self, keys: SourceKeys) -> Ingest<S, C> {
        self.keys = Some(keys);
        self
    }

    /// Looks up each caller's country and region.
    pub fn with_geo(mut self, geo: GeoDb) -> Ingest<S, C> {
        self.enricher = self.enricher.with_geo(geo);
        self
    }

    /// The header a trusted proxy puts the caller's address in.
    pub fn client_ip_header(&self) -> Option<&str> {
        self.config.client_ip_header.as_deref()
    }

    /// The metrics of the requests answered so far and not yet written: the function flushes
    /// them when Lambda shuts it down.
    pub fn metrics(&self) -> Arc<MetricsAggregator> {
        Arc::clone(&self.metrics)
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Ingest<S, C> {
        self.retry = retry;
        self
    }

    /// Answers one HTTP request. Never panics on input and never answers 5xx for bad input: the
    /// only 5xx is a 503 when the delivery stream could not take the events before `deadline`.
    pub async fn handle(&self, req: &HttpRequest<'_>, deadline: Instant) -> HttpResponse {
        let response = self.answer(req, deadline).await;
        write_documents(self.metrics.end_invocation(self.clock.now_ms()));
        response
    }

    async fn answer(&self, req: &HttpRequest<'_>, deadline: Instant) -> HttpResponse {
        let started = std::time::Instant::now();
        let cors = match self.cors_headers(req.origin, req.method == "OPTIONS") {
            Ok(headers) => headers,
            Err(err) => return self.reject_request(&err, Vec::new()),
        };
        match req.method {
            "OPTIONS" => return preflight(cors),
            "POST" => {}
            other => return self.reject_request(&Error::MethodNotAllowed(other.to_string()), cors),
        }
        let caller = Caller {
            origin: req.origin,
            user_agent: req.user_agent,
            accept_language: req.accept_language,
            key: req.key,
            source_ip: req.source_ip,
        };
        let outcome = match decode_body(
            req.content_type,
            req.content_encoding,
            req.body,
            &self.config.limits,
        ) {
            Ok(json) => self.ingest(&json, caller, deadline).await,
            Err(err) => Err(err),
        };
        let response = match outcome {
            Ok(batch) => {
                let body = serde_json::to_string(&Verdicts {
                    accepted: batch.accepted,
                    rejected: &batch.rejected,
                })
                .unwrap_or_default();
                json_response(200, cors, body)
            }
            Err(err) => self.reject_request(&err, cors),
        };
        let mut metrics = MetricSet::new("ingest");
        // Hundredths of a millisecond: finer digits would only cost log bytes.
        let latency_ms = (started.elapsed().as_secs_f64() * 1e5).round() / 100.0;
        metrics.put(names::HANDLER_LATENCY_MS, Unit::Milliseconds, latency_ms);
        self.metrics.record(metrics, self.clock.now_ms());
        response
    }

    /// Validates, enriches and delivers one decoded batch.
    pub async fn ingest(
        &self,
        json: &[u8],
        caller: Caller<'_>,
        deadline: Instant,
    ) -> Result<ProcessedBatch> {
        let received_at = self.clock.now_ms();
        let mut batch = self.process(json, caller, received_at)?;
        let events = std::mem::take(&mut batch.events_records);
        let quarantine = std::mem::take(&mut batch.quarantine_records);
        let (events_result, quarantine_result) = tokio::join!(
            self.deliver(&self.config.events_stream, events, deadline),
            self.deliver(&self.config.quarantine_stream, quarantine, deadline),
        );
        let mut metrics = MetricSet::new("ingest");
        let mut retried = 0;
        let mut failures = 0;
        for result in [&events_result, &quarantine_result] {
            match result {
                Ok(report) => retried += report.retried_records,
                Err(_) => failures += 1,
            }
        }
        metrics
            .put(
                names::BATCH_SIZE,
                Unit::Count,
                (batch.accepted + batch.rejected.len()) as f64,
            )
            .count(names::EVENTS_ACCEPTED, batch.accepted as u64)
            .count(names::EVENTS_REJECTED, batch.rejected.len() as u64)
            .count(names::BOT_EVENTS, batch.bots as u64)
            .count(names::FIREHOSE_RETRIES, retried as u64)
            .count(names::FIREHOSE_FAILURES, failures);
        self.metrics.record(metrics, received_at);
        let mut by_reason: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &batch.rejected {
            *by_reason.entry(r.reason.as_str()).or_default() += 1;
        }
        for (reason, n) in by_reason {
            let mut m = MetricSet::new("ingest").dimension("Reason", reason);
            m.count(names::EVENTS_REJECTED, n);
            self.metrics.record(m, received_at);
        }
        events_result?;
        quarantine_result?;
        tracing::debug!(
            message = "Batch ingested.",
            accepted = batch.accepted,
            rejected = batch.rejected.len()
        );
        Ok(batch)
    }

    async fn deliver(
        &self,
        stream: &str,
        records: Vec<Vec<u8>>,
        deadline: Instant,
    ) -> Result<DeliveryReport> {
        if records.is_empty() {
            return Ok(DeliveryReport::default());
        }
        deliver(&self.sink, stream, records, deadline, &self.retry).await
    }

    /// Parse, validate, enrich and pack, with no I/O: the hot path the benchmark measures.
    pub fn process(
        &self,
        json: &[u8],
        caller: Caller<'_>,
        received_at: EpochMillis,
    ) -> Result<ProcessedBatch> {
        let limit = self.config.limits.max_events_per_batch;
        if let Some(batch) = batch::split(json, limit) {
            // Any refusal is serde's to make, so that its message is the same whatever the scan
            // saw first (a streamed body is checked only as its events are read).
            if let Ok(Some(done)) = self.process_batch(batch, true, caller, received_at) {
                return Ok(done);
            }
        }
        // A body the scan did not take, one with an event that is not JSON, or one refused:
        // serde reads it, and every event of its batch is JSON.
        self.process_batch(batch::parse(json)?, false, caller, received_at)?
            .ok_or_else(|| Error::NotABatch("an event is not valid JSON".into()))
    }

    /// One batch, found by the scan (`split`) or by serde. `None` when an event is not valid
    /// JSON or the streamed body turns out to be of another shape: for the scan's batch, serde
    /// must judge the whole body; serde's has neither.
    fn process_batch(
        &self,
        batch: batch::Batch<'_>,
        split: bool,
        caller: Caller<'_>,
        received_at: EpochMillis,
    ) -> Result<Option<ProcessedBatch>> {
        let limits = &self.config.limits;
        let Some(sent_at_raw) = batch.sent_at else {
            return Err(Error::NotABatch(
                "sent_at is required: the client's clock when the batch was sent, as an RFC 3339 string".into(),
            ));
        };
        let sent_at = parse_rfc3339(&sent_at_raw).ok_or_else(|| {
            Error::NotABatch(format!("sent_at {sent_at_raw:?} is not an RFC 3339 date-time such as 2026-11-28T14:30:22.123Z"))
        })?;
        // A streamed batch stops at the limit, and serde counts it.
        if let Some(count) = batch.events.known_count() {
            if count > limits.max_events_per_batch {
                return Err(Error::TooManyEvents {
                    count,
                    limit: limits.max_events_per_batch,
                });
            }
        }
        // The key is checked before anything is stored.
        let source = match &self.keys {
            Some(keys) => Some(keys.authorize(caller.key.or(batch.key.as_deref()), caller.origin)?),
            None => None,
        };
        let (traffic, is_bot) = self.enricher.traffic(&Origin {
            source: source.map(|s| s.name.as_str()),
            browser: source.map_or(caller.origin.is_some(), |s| s.is_browser()),
            user_agent: caller.user_agent,
            accept_language: caller.accept_language,
            ip: caller.source_ip,
        });
        // Geography is looked up above, before the policy drops or truncates the address.
        let ip = apply_ip_policy(caller.source_ip, self.config.ip_policy);
        let ctx = RequestContext {
            received_at,
            sent_at,
            sent_at_raw: &sent_at_raw,
            ip,
            user_agent: caller.user_agent,
            max_event_age_ms: self.config.max_event_age.as_millis() as i64,
            traffic,
        };
        let received_at_text = format_rfc3339(received_at);
        let mut events = RecordPacker::default();
        // A stored record is its event plus the server's fields (a few hundred bytes).
        events.reserve(batch.events.bytes() * 3 / 2);
        let mut quarantine = RecordPacker::default();
        let mut out = ProcessedBatch::default();
        let mut line = Vec::with_capacity(1024);
        let mut scratch = fast_path::Scratch::new(&self.layout);
        let mut batch_events = batch.events;
        for index in 0.. {
            line.clear();
            let read =
                |text| fast_path::read(text, &self.registry, limits, &ctx, &mut scratch, &mut line);
            let Ok(next) = batch_events.next_event(read) else {
                return Ok(None);
            };
            let Some((text, taken)) = next else {
                break;
            };
            if taken {
                events.push_line(&line);
                out.accepted += 1;
                continue;
            }
            // Parsed once: a rejected event's id and type for the quarantine record come from
            // the same value its verdict was made on.
            let parsed = serde_json::from_str::<Value>(text);
            if split && parsed.is_err() {
                return Ok(None);
            }
            let verdict = match &parsed {
                Ok(value) => check_event(value, text.len(), &self.registry, limits),
                Err(e) => Err(not_an_object(format!("is not valid JSON: {e}"))),
            };
            line.clear();
            match (verdict, parsed) {
                (Ok(()), Ok(Value::Object(event))) => {
                    crate::record::event::write(&mut line, &event, &ctx.server_fields(&event));
                    events.push_line(&line);
                    out.accepted += 1;
                }
                (verdict, parsed) => {
                    // check_event accepts only objects, so the fallback never applies; it keeps
                    // the hot path free of panics.
                    let rejection = verdict
                        .err()
                        .unwrap_or_else(|| not_an_object("an event must be an object".into()));
                    let parsed = parsed.ok();
                    let field = |k: &str| {
                        parsed
                            .as_ref()
                            .and_then(|v| v.get(k))
                            .and_then(Value::as_str)
                    };
                    // Valid JSON: serde's RawValue, or the scan's event, which parsed above.
                    let Ok(raw) = serde_json::from_str::<&RawValue>(text) else {
                        return Ok(None);
                    };
                    QuarantineRecord {
                        received_at: received_at_text.clone(),
                        sent_at: &sent_at_raw,
                        index,
                        event_id: field("event_id"),
                        event_type: field("event_type"),
                        schema_version: field("schema_version"),
                        reason: rejection.reason,
                        errors: &rejection.errors,
                        user_agent: caller.user_agent,
                        ip: ctx.ip.as_deref(),
                        source: source.map(|s| s.name.as_str()),
                        raw: None,
                        raw_truncated: None,
                    }
                    .write_line(&mut line, raw);
                    quarantine.push_line(&line);
                    out.rejected.push(RejectedEvent {
                        index,
                        event_id: field("event_id").map(str::to_string),
                        reason: rejection.reason,
                        errors: rejection.errors,
                    });
                }
            }
        }
        if is_bot {
            out.bots = out.accepted;
        }
        out.events_records = events.finish();
        out.quarantine_records = quarantine.finish();
        Ok(Some(out))
    }

    /// CORS, answered here and nowhere else: any origin when no allow-list is set, otherwise only
    /// the listed ones. A request without `Origin` is not from a browser and needs no headers.
    /// With source keys, a preflight (which carries no key) is answered for the origins an enabled
    /// key lists; a request is answered for its origin, which its key then allows or refuses in
    /// `process`: a browser key only from its origins, a key without origins from anywhere. Its
    /// refusal (401, 403) is readable by the page, so the SDK drops the batch instead of retrying.
    fn cors_headers(
        &self,
        origin: Option<&str>,
        preflight: bool,
    ) -> Result<Vec<(&'static str, String)>> {
        let Some(origin) = origin else {
            return Ok(Vec::new());
        };
        let allowed = match (&self.keys, &self.config.allowed_origins) {
            (Some(keys), _) if !preflight || keys.allows_origin(origin) => origin.to_string(),
            (Some(_), _) => return Err(Error::OriginNotAllowed(origin.to_string())),
            (None, None) => "*".to_string(),
            (None, Some(list)) if list.iter().any(|o| o == origin.trim_end_matches('/')) => {
                origin.to_string()
            }
            (None, Some(_)) => return Err(Error::OriginNotAllowed(origin.to_string())),
        };
        Ok(vec![
            ("access-control-allow-origin", allowed),
            // The SDK reads Retry-After on a 503, which CORS hides unless it is exposed.
            ("access-control-expose-headers", "Retry-After".to_string()),
            ("vary", "Origin".to_string()),
        ])
    }

    /// The one place a request-level error becomes a response.
    fn reject_request(
        &self,
        err: &Error,
        mut headers: Vec<(&'static str, String)>,
    ) -> HttpResponse {
        let status = err.http_status();
        if let Some(after) = err.retry_after() {
            headers.push(("retry-after", after.as_secs().max(1).to_string()));
        }
        if status >= 500 {
            tracing::error!(message = "Request failed.", code = err.code(), error = %err);
        } else {
            tracing::debug!(message = "Request rejected.", status, code = err.code(), error = %err);
        }
        let mut m = MetricSet::new("ingest").dimension("Reason", err.code());
        m.count(names::REQUESTS_REJECTED, 1);
        self.metrics.record(m, self.clock.now_ms());
        let body = serde_json::json!({"error": {"code": err.code(), "message": err.to_string()}})
            .to_string();
        json_response(status, headers, body)
    }
}

fn preflight(mut headers: Vec<(&'static str, String)>) -> HttpResponse {
    headers.push(("access-control-allow-methods", "POST, OPTIONS".into()));
    headers.push((
        "access-control-allow-headers",
        "Content-Type, Content-Encoding, X-Driftless-Key".into(),
    ));
    headers.push(("access-control-max-age", "86400".into()));
    HttpResponse {
        status: 204,
        headers,
        body: String::new(),
    }
}

fn json_response(
    status: u16,
    mut headers: Vec<(&'static str, String)>,
    body: String,
) -> HttpResponse {
    headers.push(("content-type", "application/json".into()));
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn not_an_object(message: String) -> event::Rejection {
    event::Rejection {
        reason: RejectReason::NotAnObject,
        errors: vec![FieldError::new("", message)],
    }
}
