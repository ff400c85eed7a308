//! The real ingest binary under a stand-in Lambda: metrics are written a few invocations at a
//! time, and what is held at shutdown (SIGTERM) is written before the process exits, so the
//! documents' totals are exactly what the requests carried.

mod common;
mod fake_lambda;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{batch, event};
use fake_lambda::{api_gateway_event, start_function, FakeLambda};
use serde_json::{json, Value};

/// The sum of one metric over every document, with the `Reason` dimension (or none).
fn total(docs: &[Value], metric: &str, reason: Option<&str>) -> f64 {
    docs.iter()
        .filter(|d| d.get("Reason").and_then(Value::as_str) == reason)
        .filter_map(|d| d.get(metric))
        .map(|v| match v {
            Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
            v => v.as_f64().unwrap_or(0.0),
        })
        .sum()
}

/// How many values (samples) of one metric the documents hold.
fn samples(docs: &[Value], metric: &str) -> usize {
    docs.iter()
        .filter_map(|d| d.get(metric))
        .map(|v| v.as_array().map_or(1, Vec::len))
        .sum()
}

#[tokio::test]
async fn metrics_flushed_every_few_invocations_and_at_shutdown_add_up_to_every_event_sent() {
    let lambda = FakeLambda::start().await;
    let function = start_function(
        Path::new(env!("CARGO_BIN_EXE_ingest")),
        &lambda,
        &[("DRIFTLESS_METRICS_FLUSH_INVOCATIONS", "4")],
    );
    // 7 batches (4 flush on the count, 3 are left for the shutdown) and one request refused.
    let mut sent_valid = 0;
    let mut sent_by_reason: BTreeMap<&str, u64> = BTreeMap::new();
    for b in 0..7u64 {
        let mut events: Vec<Value> = (0..=b).map(|i| event(b * 10 + i, "anon-metrics")).collect();
        sent_valid += events.len();
        if b % 2 == 0 {
            let mut bad = event(b * 10 + 9, "anon-metrics");
            bad["properties"] = json!({"colour": "red"});
            events.push(bad);
            *sent_by_reason.entry("properties").or_default() += 1;
        }
        if b % 3 == 0 {
            events.push(json!("not an event"));
            *sent_by_reason.entry("not_an_object").or_default() += 1;
        }
        lambda.invoke(api_gateway_event(&batch(events)));
    }
    lambda.invoke(api_gateway_event("not json"));
    let responses = lambda.responses(8, Duration::from_secs(60)).await;
    assert_eq!(responses.len(), 8, "answers: {responses:?}");
    let statuses: Vec<u64> = responses
        .iter()
        .map(|r| r["statusCode"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 400]);
    assert!(
        lambda.extension_registered(),
        "the shutdown hook registers an extension"
    );

    let output = function.shut_down();
    assert_eq!(output.exit_code, Some(0), "stderr: {}", output.stderr);
    let docs = output.emf_documents();
    let rejected: u64 = sent_by_reason.values().sum();
    assert_eq!(total(&docs, "EventsAccepted", None), sent_valid as f64);
    assert_eq!(total(&docs, "EventsRejected", None), rejected as f64);
    for (reason, n) in &sent_by_reason {
        assert_eq!(
            total(&docs, "EventsRejected", Some(reason)),
            *n as f64,
            "{reason}"
        );
    }
    assert_eq!(
        total(&docs, "RequestsRejected", Some("malformed_json")),
        1.0
    );
    assert_eq!(total(&docs, "FirehoseFailures", None), 0.0);
    assert_eq!(samples(&docs, "HandlerLatencyMs"), 8);
    assert_eq!(samples(&docs, "BatchSize"), 7);
    assert_eq!(
        total(&docs, "BatchSize", None),
        (sent_valid as u64 + rejected) as f64
    );
    // The count flushed once after 4 invocations, the shutdown once: a document per dimension
    // set each time, never one per request.
    let plain: Vec<&Value> = docs.iter().filter(|d| d.get("Reason").is_none()).collect();
    assert_eq!(plain.len(), 2, "{docs:?}");
    assert!(
        !output.stdout.contains("Batch ingested."),
        "the per-request line is debug: {}",
        output.stdout
    );
}
