//! Faults moto cannot produce, through a mocked Firehose client (aws-smithy-mocks): partial
//! failures, persistent failures, and the service limits on every call.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_firehose::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_firehose::operation::put_record_batch::{PutRecordBatchInput, PutRecordBatchOutput};
use aws_sdk_firehose::types::PutRecordBatchResponseEntry;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use common::*;
use driftless::config::{IngestConfig, Limits};
use driftless::ingest::firehose::{
    RetryPolicy, MAX_BYTES_PER_CALL, MAX_RECORDS_PER_CALL, MAX_RECORD_BYTES,
};
use driftless::ingest::Ingest;
use driftless::schema::Registry;
use lambda_http::Body;
use serde_json::json;

/// Every call the mock saw: the records' bytes.
type Calls = Arc<Mutex<Vec<Vec<Vec<u8>>>>>;

fn records_of(input: &PutRecordBatchInput) -> Vec<Vec<u8>> {
    input
        .records()
        .iter()
        .map(|r| r.data().as_ref().to_vec())
        .collect()
}

fn output(failed: &[bool]) -> PutRecordBatchOutput {
    let entries = failed.iter().map(|&f| {
        if f {
            PutRecordBatchResponseEntry::builder()
                .error_code("ServiceUnavailableException")
                .error_message("Slow down.")
                .build()
        } else {
            PutRecordBatchResponseEntry::builder()
                .record_id("ok")
                .build()
        }
    });
    PutRecordBatchOutput::builder()
        .failed_put_count(failed.iter().filter(|f| **f).count() as i32)
        .set_request_responses(Some(entries.collect()))
        .build()
        .expect("valid output")
}

/// A Firehose client whose answers come from `rule`. Built by hand rather than with
/// `mock_client!`, which needs the SDK's `test-util` feature: that feature would make every
/// test build compile the AWS SDK a second time.
fn mocked_firehose(rule: &Rule) -> aws_sdk_firehose::Client {
    let config = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(rule),
        )
        .build();
    aws_sdk_firehose::Client::from_conf(config)
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        safety_margin: Duration::from_millis(100),
        retry_after: Duration::from_secs(7),
    }
}

/// Room for a request large enough to span several records.
fn large_requests() -> IngestConfig {
    let limits = Limits {
        max_body_bytes: 16 << 20,
        max_decompressed_bytes: 16 << 20,
        max_events_per_batch: 5_000,
        ..Limits::default()
    };
    IngestConfig {
        limits,
        ..IngestConfig::default()
    }
}

/// `n` page views of about 2 KiB each.
fn page_views(n: u64, anonymous_id: &str) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            let mut e = event(i * 5, anonymous_id);
            e["properties"]["search"] = json!(format!("?q={}", "y".repeat(1_900)));
            e
        })
        .collect()
}

#[tokio::test]
async fn a_partial_failure_resends_only_the_failed_records() {
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    // The first call loses every other record; later calls take everything.
    let rule =
        mock!(aws_sdk_firehose::Client::put_record_batch).then_compute_output(move |input| {
            let records = records_of(input);
            let mut seen = seen.lock().unwrap();
            let first = seen.is_empty();
            let failed: Vec<bool> = (0..records.len()).map(|i| first && i % 2 == 1).collect();
            seen.push(records);
            output(&failed)
        });
    let client = mocked_firehose(&rule);
    // 1,400 events of ~2.6 KiB: several records of up to 1,000 KiB, one call of under 4 MiB.
    let svc = Ingest::new(
        Registry::embedded().unwrap(),
        large_requests(),
        client,
        fixed_clock(),
    )
    .with_retry_policy(fast_retries());
    let events = page_views(1_400, "anon-partial");
    let n_events = events.len();
    let (status, body, _) = call(&svc, request(Body::Text(batch(events)), &[])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], n_events);

    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2, "one call, then one resend");
    let first = &calls[0];
    assert!(first.len() >= 2, "the batch spans several records");
    let failed: Vec<&Vec<u8>> = first
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, r)| r)
        .collect();
    let resent: Vec<&Vec<u8>> = calls[1].iter().collect();
    assert_eq!(resent, failed, "exactly the failed records, in order");
    // Every event went through exactly once across the two calls' successes.
    let delivered: Vec<&[u8]> = first
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, r)| r.as_slice())
        .chain(calls[1].iter().map(Vec::as_slice))
        .flat_map(|r| r.split(|b| *b == b'\n').filter(|l| !l.is_empty()))
        .collect();
    let ids: HashSet<String> = delivered
        .iter()
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!((delivered.len(), ids.len()), (n_events, n_events));
}

#[tokio::test]
async fn a_persistent_failure_answers_503_with_retry_after_before_the_deadline() {
    let rule = mock!(aws_sdk_firehose::Client::put_record_batch)
        .then_compute_output(|input| output(&vec![true; input.records().len()]));
    let client = mocked_firehose(&rule);
    let svc = Ingest::new(
        Registry::embedded().unwrap(),
        IngestConfig::default(),
        client,
        fixed_clock(),
    )
    .with_retry_policy(fast_retries());
    let started = std::time::Instant::now();
    let response = ingest::handle(
        &svc,
        request(Body::Text(batch(vec![event(0, "a")])), &[]),
        std::time::SystemTime::now() + Duration::from_millis(600),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "stopped before the deadline"
    );
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "7");
    assert!(rule.num_calls() > 1, "retried before giving up");
    let Body::Text(body) = response.body() else {
        panic!("JSON body")
    };
    assert!(body.contains("delivery_failed"), "{body}");
}

#[tokio::test]
async fn no_call_exceeds_500_records_or_4_mib_and_no_record_exceeds_1000_kib() {
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let rule =
        mock!(aws_sdk_firehose::Client::put_record_batch).then_compute_output(move |input| {
            let records = records_of(input);
            let n = records.len();
            seen.lock().unwrap().push(records);
            output(&vec![false; n])
        });
    let client = mocked_firehose(&rule);
    // 13 MiB of valid events in one request: many records, several calls.
    let svc = Ingest::new(
        Registry::embedded().unwrap(),
        large_requests(),
        client,
        fixed_clock(),
    );
    let events = page_views(5_000, "anon-big");
    let (status, body, _) = call(&svc, request(Body::Text(batch(events)), &[])).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(5_000)));
    let calls = calls.lock().unwrap();
    assert!(calls.len() >= 3, "{} calls", calls.len());
    for call in calls.iter() {
        assert!(call.len() <= MAX_RECORDS_PER_CALL);
        assert!(call.iter().map(Vec::len).sum::<usize>() <= MAX_BYTES_PER_CALL);
        assert!(call.iter().all(|r| r.len() <= MAX_RECORD_BYTES));
    }
    let records: usize = calls.iter().map(Vec::len).sum();
    let bytes: usize = calls.iter().flatten().map(Vec::len).sum();
    assert_eq!(
        records,
        bytes.div_ceil(MAX_RECORD_BYTES),
        "packed into the fewest records"
    );
}
