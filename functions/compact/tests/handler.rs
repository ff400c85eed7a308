//! The compaction function's adapter: which payload asks for what (the fixtures are what
//! EventBridge, EventBridge Scheduler and an on-demand invoke send), clear errors for anything
//! else, and whole invocations against a local lake.

use std::path::PathBuf;
use std::time::Duration;

use compact::{handle, parse_request, Request};
use driftless::config::CompactConfig;
use driftless::lake::store::LocalStore;
use driftless::lake::Day;
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/events")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture is JSON")
}

#[test]
fn schedule_payloads_of_eventbridge_rules_and_scheduler_run_the_schedule() {
    assert_eq!(
        parse_request(&fixture("schedule.json")).unwrap(),
        Request::Scheduled
    );
    assert_eq!(
        parse_request(&fixture("scheduler.json")).unwrap(),
        Request::Scheduled
    );
}

#[test]
fn on_demand_payloads_append_a_day_optimize_a_day_or_vacuum() {
    assert_eq!(
        parse_request(&fixture("compact-date.json")).unwrap(),
        Request::Append(Day::parse("2026-11-27").unwrap())
    );
    assert_eq!(
        parse_request(&fixture("compact-optimize.json")).unwrap(),
        Request::Optimize(Day::parse("2026-11-28").unwrap())
    );
    assert_eq!(
        parse_request(&json!({"vacuum": true})).unwrap(),
        Request::Vacuum
    );
}

#[test]
fn an_erase_payload_names_the_ids_and_who_asked() {
    let Request::Erase(ask) = parse_request(&fixture("compact-erase.json")).unwrap() else {
        panic!("an erase request");
    };
    assert_eq!(ask.user_ids, ["u-4711"]);
    assert_eq!(ask.anonymous_ids.len(), 1);
    assert_eq!(ask.requested_by, "ticket 4711");
    for (payload, hint) in [
        (json!({"erase": {"user_ids": ["u"]}}), "requested_by"),
        (json!({"erase": {"requested_by": "x"}}), "at least one"),
        (
            json!({"erase": {"user_ids": ["u"], "requested_by": "x", "emails": []}}),
            "unknown field",
        ),
        (
            json!({"erase": {"user_ids": ["u"], "requested_by": "x"}, "vacuum": true}),
            "one request at a time",
        ),
    ] {
        let err = parse_request(&payload).unwrap_err();
        assert_eq!(err.code(), "invalid_request", "{payload}");
        assert!(err.to_string().contains(hint), "{payload}: {err}");
    }
}

#[test]
fn other_payloads_are_rejected_with_what_to_send() {
    for (payload, hint) in [
        (json!({"date": "2026-13-01"}), "YYYY-MM-DD"),
        (
            json!({"date": "2026-11-28", "force": true}),
            "unknown field",
        ),
        (
            json!({"date": "2026-11-28", "optimize": "2026-11-28"}),
            "one request at a time",
        ),
        (json!({"vacuum": false}), "one request at a time"),
        (json!({"date": 20261128}), "YYYY-MM-DD"),
        (json!({"hello": "world"}), "schedule event"),
        (json!([1, 2]), "schedule event"),
    ] {
        let err = parse_request(&payload).unwrap_err();
        assert_eq!(err.code(), "invalid_request", "{payload}");
        assert!(err.to_string().contains(hint), "{payload}: {err}");
    }
}

#[tokio::test]
async fn an_on_demand_invocation_appends_the_day_to_both_tables() {
    let root = std::env::temp_dir().join(format!("driftless-compact-fn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let raw = root.join("raw/events/2026/11/27/10");
    std::fs::create_dir_all(&raw).unwrap();
    let line = r#"{"event_id":"e1","event_type":"page_viewed","schema_version":"1-0-0","timestamp":"2026-11-27T10:00:00.000Z","received_at":"2026-11-27T10:00:01.000Z","anonymous_id":"a","session_id":"s","seq":0,"context":null,"properties":{}}"#;
    std::fs::write(raw.join("obj"), format!("{line}\n{line}\n")).unwrap();
    let cfg = CompactConfig {
        scratch_dir: root.join("scratch"),
        ..CompactConfig::default()
    };
    let store = LocalStore::new(&root);
    let report = handle(
        &store,
        &cfg,
        fixture("compact-date.json"),
        Duration::from_secs(60),
        driftless::clock::now_ms(),
    )
    .await
    .unwrap();
    let answer = serde_json::to_value(&report).unwrap();
    let appends = answer["appends"].as_array().unwrap();
    assert_eq!(appends[0]["table"], "events");
    assert_eq!(appends[0]["outcome"], "committed");
    assert_eq!(appends[0]["rows_out"], 1);
    assert_eq!(appends[0]["duplicates_dropped"], 1);
    assert_eq!(appends[1]["table"], "quarantine");
    assert_eq!(appends[1]["outcome"], "nothing_to_do");
    assert!(root
        .join("lake/events/_delta_log/00000000000000000001.json")
        .is_file());
    std::fs::remove_dir_all(&root).unwrap();
}
