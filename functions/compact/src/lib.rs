//! The Lambda adapter around [`driftless::compact`]: which event asked for what, and the answer.

use std::time::{Duration, Instant};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use driftless::compact::{Compaction, CompactionReport, Days, OnError};
use driftless::config::CompactConfig;
use driftless::erasure::{Erasure, ErasureAsk};
use driftless::lake::store::ObjectStore;
use driftless::lake::{Day, LakeError};
use serde::Deserialize;
use serde_json::Value;

/// Time allowed when the deadline makes no sense (`cargo lambda watch` sends its timeout where
/// Lambda sends an epoch time): Lambda's largest timeout.
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(900);

/// What an on-demand invocation may ask for; exactly one field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDemand {
    /// Append the raw objects of this arrival day (a backfill, the demo).
    #[serde(default)]
    date: Option<String>,
    /// Optimize this day of both tables.
    #[serde(default)]
    optimize: Option<String>,
    /// Vacuum both tables.
    #[serde(default)]
    vacuum: Option<bool>,
    /// Erase people: record the request, compact what is waiting without their rows, and run
    /// the erasure job.
    #[serde(default)]
    erase: Option<ErasureAsk>,
}

/// The input EventBridge Scheduler passes (template.yaml sets it).
#[derive(Debug, Deserialize)]
struct SchedulerInput {
    source: String,
    #[serde(default)]
    scheduled_time: Option<String>,
}

/// What an invocation asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// A schedule tick: append everything new, optimize closed days, vacuum daily.
    Scheduled,
    /// Append one day's raw objects.
    Append(Day),
    /// Optimize one day.
    Optimize(Day),
    Vacuum,
    /// Record an erasure request and carry it out.
    Erase(ErasureAsk),
}

const ON_DEMAND: &str = "send {\"date\": \"YYYY-MM-DD\"}, {\"optimize\": \"YYYY-MM-DD\"}, {\"vacuum\": true} or {\"erase\": {\"user_ids\": [...], \"anonymous_ids\": [...], \"requested_by\": \"...\"}}";

/// Reads the invocation payload: an on-demand request, an EventBridge Scheduler input or an
/// EventBridge rule's scheduled event. Anything else is an error that says what is accepted.
pub fn parse_request(payload: &Value) -> Result<Request, LakeError> {
    let on_demand = ["date", "optimize", "vacuum", "erase"]
        .iter()
        .any(|k| payload.get(k).is_some());
    if on_demand {
        let r = OnDemand::deserialize(payload)
            .map_err(|e| LakeError::InvalidRequest(format!("{e}: {ON_DEMAND}")))?;
        return match (r.date, r.optimize, r.vacuum, r.erase) {
            (Some(d), None, None, None) => Ok(Request::Append(Day::parse(&d)?)),
            (None, Some(d), None, None) => Ok(Request::Optimize(Day::parse(&d)?)),
            (None, None, Some(true), None) => Ok(Request::Vacuum),
            (None, None, None, Some(ask)) => Ok(Request::Erase(ask.validated()?)),
            _ => Err(LakeError::InvalidRequest(format!(
                "one request at a time: {ON_DEMAND}"
            ))),
        };
    }
    if let Ok(rule) = EventBridgeEvent::<Value>::deserialize(payload) {
        if rule.detail_type == "Scheduled Event" {
            return Ok(Request::Scheduled);
        }
    }
    if let Ok(s) = SchedulerInput::deserialize(payload) {
        if s.source == "driftless.scheduler" || s.scheduled_time.is_some() {
            return Ok(Request::Scheduled);
        }
    }
    Err(LakeError::InvalidRequest(format!(
        "expected a schedule event (EventBridge rule or Scheduler) or an on-demand request: {ON_DEMAND}"
    )))
}

/// Runs one invocation. A failed step of a scheduled run is in the answer (and the
/// CompactionFailures metric), not an error: the other steps ran. A failed on-demand request is
/// an error, so Lambda retries it and finally sends it to the DLQ.
pub async fn handle<S: ObjectStore>(
    store: &S,
    cfg: &CompactConfig,
    payload: Value,
    remaining: Duration,
    now: i64,
) -> Result<CompactionReport, LakeError> {
    let deadline = Instant::now() + remaining;
    let compaction = Compaction::new(store, cfg, now);
    let report = match parse_request(&payload)? {
        Request::Scheduled => {
            compaction
                .with_on_error(OnError::Continue)
                .scheduled(deadline)
                .await?
        }
        Request::Append(day) => {
            compaction
                .with_on_error(OnError::Stop)
                .append_days(&Days::Only(vec![day]))
                .await?
        }
        Request::Optimize(day) => {
            compaction
                .with_on_error(OnError::Stop)
                .optimize_days(&[day])
                .await?
        }
        Request::Vacuum => {
            compaction
                .with_on_error(OnError::Stop)
                .vacuum_tables()
                .await?
        }
        Request::Erase(ask) => Erasure::new(store, cfg, now).erase_now(ask).await?,
    };
    report.emit_metrics(now);
    Ok(report)
}
