//! The ingest handler with the real AWS SDK clients against moto's server (the local stack):
//! what a request stores is read back from S3 where Firehose delivered it.
//! Needs `make stack-up` (or `make test`, which starts it); without it the binary says so in one line.

mod common;
#[path = "../../../tests/support/local_stack.rs"]
mod local_stack;

use std::collections::HashSet;

use aws_sdk_s3::Client as S3;
use common::*;
use driftless::config::IngestConfig;
use lambda_http::Body;
use serde_json::{json, Value};

use local_stack::BUCKET;

async fn clients() -> (aws_sdk_firehose::Client, S3) {
    let conf = local_stack::moto_config().await;
    // A loopback endpoint has no bucket subdomains: path-style addressing.
    let s3 = S3::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    local_stack::require_bucket(&s3).await;
    (aws_sdk_firehose::Client::new(&conf), s3)
}

async fn keys(s3: &S3, prefix: &str) -> HashSet<String> {
    let mut keys = HashSet::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.expect("list").contents() {
            keys.insert(o.key().unwrap_or_default().to_string());
        }
    }
    keys
}

/// Lines of the objects under `prefix` that are not in `before`, whose `field` equals `value`.
async fn new_lines(
    s3: &S3,
    prefix: &str,
    before: &HashSet<String>,
    pick: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut new: Vec<String> = keys(s3, prefix).await.difference(before).cloned().collect();
    new.sort();
    let mut lines = Vec::new();
    for key in new {
        let object = s3
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .expect("get");
        let bytes = object.body.collect().await.expect("read").into_bytes();
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line).expect("stored line is JSON");
            if pick(&v) {
                lines.push(v);
            }
        }
    }
    lines
}

fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn the_same_batch_as_json_text_plain_and_gzip_stores_the_same_records() {
    let (firehose, s3) = clients().await;
    let svc = service(firehose, IngestConfig::default());
    let anon = unique("anon-encodings");
    let body = batch((0..50).map(|n| event(n, &anon)).collect());
    let mine = |v: &Value| v["anonymous_id"] == anon.as_str();
    let mut stored = Vec::new();
    for (payload, headers) in [
        (
            Body::Text(body.clone()),
            vec![("content-type", "application/json")],
        ),
        (
            Body::Text(body.clone()),
            vec![("content-type", "text/plain;charset=UTF-8")],
        ),
        (
            Body::Binary(gzip(body.as_bytes())),
            vec![("content-type", "text/plain"), ("content-encoding", "gzip")],
        ),
    ] {
        let before = keys(&s3, "raw/events/").await;
        let (status, answer, _) = call(&svc, request(payload, &headers)).await;
        assert_eq!((status, &answer["accepted"]), (200, &json!(50)), "{answer}");
        stored.push(new_lines(&s3, "raw/events/", &before, mine).await);
    }
    assert_eq!(stored[0].len(), 50);
    assert_eq!(stored[0], stored[1]);
    assert_eq!(stored[0], stored[2]);
}

#[tokio::test]
async fn a_mixed_batch_lands_valid_events_in_events_and_invalid_ones_in_quarantine() {
    let (firehose, s3) = clients().await;
    let svc = service(firehose, IngestConfig::default());
    let anon = unique("anon-mixed");
    let mut bad = event(1, &anon);
    bad["properties"]["currency"] = json!(978);
    let mut unknown = event(2, &anon);
    unknown["schema_version"] = json!("7-0-0");
    let before_events = keys(&s3, "raw/events/").await;
    let before_quarantine = keys(&s3, "raw/quarantine/").await;
    let (status, answer, _) = call(
        &svc,
        request(
            batch(vec![event(0, &anon), bad, unknown, event(3, &anon)]),
            &[],
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["accepted"], 2);

    let events = new_lines(&s3, "raw/events/", &before_events, |v| {
        v["anonymous_id"] == anon.as_str()
    })
    .await;
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [0, 3]);
    for e in &events {
        for field in [
            "event_id",
            "event_type",
            "schema_version",
            "timestamp",
            "client_timestamp",
            "sent_at",
            "received_at",
            "anonymous_id",
            "session_id",
            "seq",
            "context",
            "properties",
            "user_agent",
        ] {
            assert!(!e[field].is_null(), "{field} missing in {e}");
        }
    }
    let quarantined = new_lines(&s3, "raw/quarantine/", &before_quarantine, |v| {
        v["raw"]["anonymous_id"] == anon.as_str()
    })
    .await;
    assert_eq!(
        verdicts(&quarantined),
        [
            (1, "properties", "/properties/currency"),
            (2, "unknown_schema_version", "/schema_version")
        ]
    );
    assert_eq!(
        quarantined[0]["errors"][0]["message"],
        "must be a string, got number 978"
    );
    assert_eq!(quarantined[0]["received_at"], RECEIVED_AT);
}
