//! The Lambda adapter around [`driftless::compact`]: which event asked for what, and the answer.

use std::time::{Duration, Instant};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use driftless::compact::{Compaction, CompactionReport, OnError};
use driftless::config::CompactConfig;
use driftless::lake::store::ObjectStore;
use driftless::lake::{Day, LakeError};
use serde::Deserialize;
use serde_json::Value;

/// Time allowed when the deadline makes no sense (`cargo lambda watch` sends its timeout where
/// Lambda sends an epoch time): Lambda's largest timeout.
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(900);

/// `{"date": "YYYY-MM-DD", "include_open_day": true}`: one day, on demand (backfill, demo).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDemand {
    date: String,
    #[serde(default)]
    include_open_day: bool,
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
    /// Every closed day with raw objects.
    ClosedDays,
    /// One day.
    Day { day: Day, include_open_day: bool },
}

/// Reads the invocation payload: an on-demand request, an EventBridge Scheduler input or an
/// EventBridge rule's scheduled event. Anything else is an error that says what is accepted.
pub fn parse_request(payload: &Value) -> Result<Request, LakeError> {
    if payload.get("date").is_some() {
        let r = OnDemand::deserialize(payload).map_err(|e| {
            LakeError::InvalidRequest(format!(
                "{e}: send {{\"date\": \"YYYY-MM-DD\", \"include_open_day\": false}}"
            ))
        })?;
        return Ok(Request::Day {
            day: Day::parse(&r.date)?,
            include_open_day: r.include_open_day,
        });
    }
    if let Ok(rule) = EventBridgeEvent::<Value>::deserialize(payload) {
        if rule.detail_type == "Scheduled Event" {
            return Ok(Request::ClosedDays);
        }
    }
    if let Ok(s) = SchedulerInput::deserialize(payload) {
        if s.source == "driftless.scheduler" || s.scheduled_time.is_some() {
            return Ok(Request::ClosedDays);
        }
    }
    Err(LakeError::InvalidRequest(
        "expected a schedule event (EventBridge rule or Scheduler) or {\"date\": \"YYYY-MM-DD\"}"
            .into(),
    ))
}

/// Runs one invocation. A failed day of a scheduled run is in the answer (and the
/// CompactionFailures metric), not an error: the other days were compacted. A failed on-demand
/// day is an error, so Lambda retries it and finally sends it to the DLQ.
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
        Request::ClosedDays => {
            compaction
                .with_on_error(OnError::Continue)
                .closed_days(deadline)
                .await?
        }
        Request::Day {
            day,
            include_open_day,
        } => {
            compaction
                .with_open_days(include_open_day)
                .with_on_error(OnError::Stop)
                .days(&[day])
                .await?
        }
    };
    report.emit_metrics(now);
    Ok(report)
}
