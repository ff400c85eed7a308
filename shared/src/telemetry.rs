//! Logs and metrics: JSON logs through `tracing` on Lambda, and metrics as CloudWatch Embedded
//! Metric Format documents on stdout, which CloudWatch turns into metrics without an API call.
//!
//! A run of compaction writes its documents as it goes ([`MetricSet::emit`]). Ingest, which runs
//! once per request, adds its metrics to a [`MetricsAggregator`] instead: counters are summed and
//! samples (latency, batch size) kept as EMF value arrays, and one document per dimension set is
//! written every N invocations or S seconds, whichever comes first, and at shutdown. A request
//! then costs a few bytes of log instead of two documents.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::timestamp::EpochMillis;

/// EMF's limits: metrics per document, values per metric.
const EMF_MAX_METRICS: usize = 100;
const EMF_MAX_VALUES: usize = 100;

/// Namespace of every Driftless metric.
pub const NAMESPACE: &str = "Driftless";

/// Metric names, one place for the dashboard and alarms in `template.yaml` to match.
pub mod names {
    pub const EVENTS_ACCEPTED: &str = "EventsAccepted";
    pub const EVENTS_REJECTED: &str = "EventsRejected";
    /// Accepted events the bot rules matched: bot share is this over `EventsAccepted`.
    pub const BOT_EVENTS: &str = "BotEvents";
    pub const BATCH_SIZE: &str = "BatchSize";
    pub const FIREHOSE_RETRIES: &str = "FirehoseRetries";
    pub const FIREHOSE_FAILURES: &str = "FirehoseFailures";
    pub const HANDLER_LATENCY_MS: &str = "HandlerLatencyMs";
    pub const REQUESTS_REJECTED: &str = "RequestsRejected";
    // Compaction, per day of the events table unless noted.
    pub const EVENTS_IN: &str = "EventsIn";
    pub const DUPLICATES_DROPPED: &str = "DuplicatesDropped";
    pub const ROWS_OUT: &str = "RowsOut";
    pub const BYTES_IN: &str = "BytesIn";
    pub const BYTES_OUT: &str = "BytesOut";
    pub const DURATION_MS: &str = "DurationMs";
    pub const COMPLETENESS: &str = "Completeness";
    pub const CORRUPT_OBJECTS: &str = "CorruptObjects";
    pub const REJECTED_LINES: &str = "RejectedLines";
    /// Rows written to the quarantine lake.
    pub const QUARANTINE_ROWS_OUT: &str = "QuarantineRowsOut";
    /// Per scheduled run.
    pub const LAG_DAYS: &str = "LagDays";
    pub const COMPACTION_FAILURES: &str = "CompactionFailures";
    /// A run that found another run had committed its day first (either table).
    pub const COMMIT_CONFLICTS: &str = "CommitConflicts";
    /// Age in days of the oldest erasure request still open (the overdue-erasure alarm).
    pub const OLDEST_OPEN_ERASURE_DAYS: &str = "OldestOpenErasureDays";
    /// Rows the erasure job removed from the tables.
    pub const ERASED_ROWS: &str = "ErasedRows";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
    Percent,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
            Unit::Percent => "Percent",
        }
    }
}

/// How an aggregator combines a metric's values between flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregation {
    /// Every value is kept (an EMF value array): averages and percentiles stay exact.
    Sample,
    /// Values are added up: a counter, whose sum is what alarms read.
    Sum,
}

/// One EMF document: a set of dimensions and the metric values recorded under them.
#[derive(Debug, Clone)]
pub struct MetricSet {
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, Unit, f64, Aggregation)>,
}

impl MetricSet {
    pub fn new(function: &str) -> MetricSet {
        MetricSet {
            dimensions: vec![("Function", function.to_string())],
            metrics: Vec::new(),
        }
    }

    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> MetricSet {
        self.dimensions.push((name, value.into()));
        self
    }

    /// A sample (a latency, a size): aggregated, every value is kept.
    pub fn put(&mut self, name: &'static str, unit: Unit, value: f64) -> &mut MetricSet {
        self.metrics.push((name, unit, value, Aggregation::Sample));
        self
    }

    /// A counter: aggregated, the values are summed.
    pub fn count(&mut self, name: &'static str, value: u64) -> &mut MetricSet {
        self.metrics
            .push((name, Unit::Count, value as f64, Aggregation::Sum));
        self
    }

    /// The EMF document as JSON.
    pub fn to_emf(&self, timestamp: EpochMillis) -> Value {
        let metrics = self
            .metrics
            .iter()
            .map(|(name, unit, value, _)| (*name, *unit, json!(value)));
        emf_document(&self.dimensions, metrics, timestamp)
    }

    /// Writes the document as one line on stdout, where the Lambda agent picks it up.
    pub fn emit(&self, timestamp: EpochMillis) {
        if self.metrics.is_empty() {
            return;
        }
        // One `println!` per document keeps each one a single line; tests capture it.
        write_documents(vec![self.to_emf(timestamp)]);
    }
}

/// One EMF document of `metrics` (name, unit, value or array of values) under `dimensions`.
fn emf_document(
    dimensions: &[(&'static str, String)],
    metrics: impl Iterator<Item = (&'static str, Unit, Value)>,
    timestamp: EpochMillis,
) -> Value {
    let mut doc = Map::new();
    let dims: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let mut defs = Vec::new();
    let mut values = Vec::new();
    for (name, unit, value) in metrics {
        defs.push(json!({"Name": name, "Unit": unit.as_str()}));
        values.push((name, value));
    }
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dims], "Metrics": defs}]
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).into(), Value::String(v.clone()));
    }
    for (name, value) in values {
        doc.insert(name.into(), value);
    }
    Value::Object(doc)
}

/// When a [`MetricsAggregator`] writes what it holds (`DRIFTLESS_METRICS_FLUSH_INVOCATIONS`,
/// `DRIFTLESS_METRICS_FLUSH_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// After this many invocations.
    pub invocations: u64,
    /// Or once this long has passed since the first value it holds, at the end of an invocation.
    pub interval: Duration,
}

impl Default for FlushPolicy {
    fn default() -> FlushPolicy {
        FlushPolicy {
            invocations: 100,
            interval: Duration::from_secs(60),
        }
    }
}

/// One metric between flushes.
#[derive(Debug)]
struct Held {
    unit: Unit,
    aggregation: Aggregation,
    values: Vec<f64>,
}

#[derive(Debug, Default)]
struct Window {
    /// When the first value of the window was recorded: the documents' timestamp.
    started: Option<EpochMillis>,
    invocations: u64,
    sets: BTreeMap<Vec<(&'static str, String)>, BTreeMap<&'static str, Held>>,
}

impl Window {
    fn is_full(&self) -> bool {
        self.sets
            .values()
            .flat_map(BTreeMap::values)
            .any(|m| m.values.len() >= EMF_MAX_VALUES)
    }

    /// The documents of the window, at most [`EMF_MAX_METRICS`] metrics each; empties it.
    fn drain(&mut self) -> Vec<Value> {
        let timestamp = self.started.take().unwrap_or_default();
        self.invocations = 0;
        let mut docs = Vec::new();
        for (dimensions, metrics) in std::mem::take(&mut self.sets) {
            let metrics: Vec<_> = metrics.into_iter().collect();
            for chunk in metrics.chunks(EMF_MAX_METRICS) {
                let values = chunk.iter().map(|(name, held)| {
                    let value = match (held.aggregation, held.values.as_slice()) {
                        (Aggregation::Sum, values) => json!(values.iter().sum::<f64>()),
                        (Aggregation::Sample, [one]) => json!(one),
                        (Aggregation::Sample, values) => json!(values),
                    };
                    (*name, held.unit, value)
                });
                docs.push(emf_document(&dimensions, values, timestamp));
            }
        }
        docs
    }
}

/// Metrics of many invocations, written as few EMF documents: one per dimension set per flush.
/// Nothing recorded is lost: a flush comes before any value array passes EMF's 100 values, and
/// the function flushes what is left when Lambda shuts it down ([`MetricsAggregator::flush`]).
#[derive(Debug)]
pub struct MetricsAggregator {
    policy: FlushPolicy,
    window: Mutex<Window>,
}

impl MetricsAggregator {
    pub fn new(policy: FlushPolicy) -> MetricsAggregator {
        MetricsAggregator {
            policy,
            window: Mutex::new(Window::default()),
        }
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // A panic while holding the lock leaves whole values behind: keep using them.
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds the values of `set`, recorded at `now`.
    pub fn record(&self, set: MetricSet, now: EpochMillis) {
        let mut window = self.window();
        window.started.get_or_insert(now);
        let metrics = window.sets.entry(set.dimensions).or_default();
        for (name, unit, value, aggregation) in set.metrics {
            let held = metrics.entry(name).or_insert_with(|| Held {
                unit,
                aggregation,
                values: Vec::new(),
            });
            match held.aggregation {
                Aggregation::Sum if !held.values.is_empty() => held.values[0] += value,
                _ => held.values.push(value),
            }
        }
    }

    /// Ends one invocation at `now`; returns the documents due by the policy (empty when none).
    pub fn end_invocation(&self, now: EpochMillis) -> Vec<Value> {
        let mut window = self.window();
        window.invocations += 1;
        let interval = self.policy.interval.as_millis() as i64;
        let due = window.invocations >= self.policy.invocations
            || window
                .started
                .is_some_and(|started| now.saturating_sub(started) >= interval)
            || window.is_full();
        if due {
            window.drain()
        } else {
            Vec::new()
        }
    }

    /// Everything held, as documents, whatever the policy: at shutdown.
    pub fn drain(&self) -> Vec<Value> {
        self.window().drain()
    }

    /// Writes everything held to stdout, one line per document.
    pub fn flush(&self) {
        write_documents(self.drain());
    }
}

/// Each document as one line on stdout, where the Lambda agent picks them up.
pub fn write_documents(docs: Vec<Value>) {
    for doc in docs {
        println!("{doc}");
    }
}

/// JSON logs on Lambda (where `AWS_LAMBDA_FUNCTION_NAME` is set), compact text elsewhere;
/// the level comes from `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .without_time()
            .init();
    } else {
        builder.compact().init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric_and_dimension() {
        let mut set = MetricSet::new("ingest").dimension("Reason", "properties");
        set.put(names::EVENTS_REJECTED, Unit::Count, 3.0);
        let doc = set.to_emf(1_000);
        assert_eq!(doc["_aws"]["Timestamp"], 1_000);
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "Driftless");
        assert_eq!(cw["Dimensions"], json!([["Function", "Reason"]]));
        assert_eq!(
            cw["Metrics"],
            json!([{"Name": "EventsRejected", "Unit": "Count"}])
        );
        assert_eq!(doc["Function"], "ingest");
        assert_eq!(doc["Reason"], "properties");
        assert_eq!(doc["EventsRejected"], 3.0);
    }

    fn request(
        aggregator: &MetricsAggregator,
        accepted: u64,
        latency: f64,
        now: EpochMillis,
    ) -> Vec<Value> {
        let mut set = MetricSet::new("ingest");
        set.count(names::EVENTS_ACCEPTED, accepted).put(
            names::HANDLER_LATENCY_MS,
            Unit::Milliseconds,
            latency,
        );
        aggregator.record(set, now);
        aggregator.end_invocation(now)
    }

    #[test]
    fn aggregated_counters_are_summed_and_samples_kept_until_the_invocation_count_is_reached() {
        let policy = FlushPolicy {
            invocations: 3,
            interval: Duration::from_secs(60),
        };
        let aggregator = MetricsAggregator::new(policy);
        assert_eq!(request(&aggregator, 2, 1.5, 1_000), Vec::<Value>::new());
        assert_eq!(request(&aggregator, 3, 2.5, 2_000), Vec::<Value>::new());
        let docs = request(&aggregator, 4, 3.5, 3_000);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["EventsAccepted"], 9.0);
        assert_eq!(docs[0]["HandlerLatencyMs"], json!([1.5, 2.5, 3.5]));
        assert_eq!(
            docs[0]["_aws"]["Timestamp"], 1_000,
            "the window's first value"
        );
        assert_eq!(
            aggregator.drain(),
            Vec::<Value>::new(),
            "nothing is written twice"
        );
    }

    #[test]
    fn aggregated_metrics_are_written_when_the_interval_has_passed() {
        let policy = FlushPolicy {
            invocations: 100,
            interval: Duration::from_secs(60),
        };
        let aggregator = MetricsAggregator::new(policy);
        assert!(request(&aggregator, 1, 1.0, 0).is_empty());
        assert!(request(&aggregator, 1, 1.0, 59_999).is_empty());
        let docs = request(&aggregator, 1, 1.0, 60_000);
        assert_eq!(docs[0]["EventsAccepted"], 3.0);
    }

    #[test]
    fn a_value_array_is_written_before_it_passes_emfs_100_values() {
        let aggregator = MetricsAggregator::new(FlushPolicy {
            invocations: 1_000,
            interval: Duration::from_secs(3_600),
        });
        let mut written = Vec::new();
        for n in 0..250 {
            written.extend(request(&aggregator, 1, n as f64, 0));
        }
        written.extend(aggregator.drain());
        let lengths: Vec<usize> = written
            .iter()
            .map(|d| d["HandlerLatencyMs"].as_array().map_or(1, Vec::len))
            .collect();
        assert_eq!(lengths, [100, 100, 50]);
        let accepted: f64 = written
            .iter()
            .map(|d| d["EventsAccepted"].as_f64().unwrap())
            .sum();
        assert_eq!(accepted, 250.0);
    }

    #[test]
    fn each_dimension_set_gets_its_own_document() {
        let aggregator = MetricsAggregator::new(FlushPolicy::default());
        for reason in ["properties", "envelope", "properties"] {
            let mut set = MetricSet::new("ingest").dimension("Reason", reason);
            set.count(names::EVENTS_REJECTED, 2);
            aggregator.record(set, 5);
        }
        let docs = aggregator.drain();
        let got: Vec<(&str, f64)> = docs
            .iter()
            .map(|d| {
                (
                    d["Reason"].as_str().unwrap(),
                    d["EventsRejected"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, [("envelope", 2.0), ("properties", 4.0)]);
    }
}
