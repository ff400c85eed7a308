//! Logs and metrics: JSON logs through `tracing` on Lambda, and metrics as CloudWatch Embedded
//! Metric Format documents on stdout, which CloudWatch turns into metrics without an API call.

use serde_json::{json, Map, Value};

use crate::timestamp::EpochMillis;

/// Namespace of every Driftless metric.
pub const NAMESPACE: &str = "Driftless";

/// Metric names, one place for the dashboard and alarms in `template.yaml` to match.
pub mod names {
    pub const EVENTS_ACCEPTED: &str = "EventsAccepted";
    pub const EVENTS_REJECTED: &str = "EventsRejected";
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

/// One EMF document: a set of dimensions and the metric values recorded under them.
#[derive(Debug, Clone)]
pub struct MetricSet {
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, Unit, f64)>,
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

    pub fn put(&mut self, name: &'static str, unit: Unit, value: f64) -> &mut MetricSet {
        self.metrics.push((name, unit, value));
        self
    }

    /// The EMF document as JSON.
    pub fn to_emf(&self, timestamp: EpochMillis) -> Value {
        let mut doc = Map::new();
        let dims: Vec<&str> = self.dimensions.iter().map(|(k, _)| *k).collect();
        let defs: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dims], "Metrics": defs}]
            }),
        );
        for (k, v) in &self.dimensions {
            doc.insert((*k).into(), Value::String(v.clone()));
        }
        for (name, _, value) in &self.metrics {
            doc.insert((*name).into(), json!(value));
        }
        Value::Object(doc)
    }

    /// Writes the document as one line on stdout, where the Lambda agent picks it up.
    pub fn emit(&self, timestamp: EpochMillis) {
        if self.metrics.is_empty() {
            return;
        }
        // One `println!` per document keeps each one a single line; tests capture it.
        println!("{}", self.to_emf(timestamp));
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
}
