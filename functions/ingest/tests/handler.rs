//! The ingest handler end to end in process: API Gateway v2 requests in, verdicts and stored
//! records out, with an in-memory sink and a fixed clock.

mod common;

use common::*;
use driftless::config::{IngestConfig, IpPolicy, Limits};
use lambda_http::http::Method;
use lambda_http::Body;
use proptest::prelude::*;
use serde_json::{json, Value};

fn default_config() -> IngestConfig {
    IngestConfig::default()
}

#[tokio::test]
async fn golden_beacon_request_is_accepted_and_stored_with_server_fields() {
    let sink = MemorySink::default();
    let svc = service(&sink, default_config());
    let (status, body, response) = call(&svc, fixture_request()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"accepted": 2, "rejected": []}));
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let lines = sink.lines("driftless-events");
    assert_eq!(lines.len(), 2);
    let rec = &lines[1];
    assert_eq!(rec["event_type"], "product_viewed");
    assert_eq!(rec["received_at"], RECEIVED_AT);
    assert_eq!(rec["sent_at"], "2026-11-28T14:30:22.123Z");
    assert_eq!(rec["client_timestamp"], "2026-11-28T14:30:21.950Z");
    // received_at - (sent_at - timestamp) = 14:30:23.000 - 0.173 s
    assert_eq!(rec["timestamp"], "2026-11-28T14:30:22.827Z");
    assert!(rec["user_agent"]
        .as_str()
        .unwrap()
        .starts_with("Mozilla/5.0"));
    assert_eq!(
        rec["ip"],
        Value::Null,
        "the default IP policy drops the address"
    );
}

#[tokio::test]
async fn mixed_batch_keeps_valid_events_and_quarantines_the_rest_with_reasons() {
    let sink = MemorySink::default();
    let svc = service(&sink, default_config());
    let mut bad_props = event(1, "anon-mixed");
    bad_props["properties"]["price"] = json!("89.90");
    let mut unknown = event(2, "anon-mixed");
    unknown["event_type"] = json!("page_view");
    let events = vec![
        event(0, "anon-mixed"),
        bad_props,
        unknown,
        json!("not an event"),
        event(4, "anon-mixed"),
    ];
    let (status, body, _) = call(&svc, request(batch(events), &[])).await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 2);
    assert_eq!(
        verdicts(body["rejected"].as_array().unwrap()),
        [
            (1, "properties", "/properties/price"),
            (2, "unknown_event_type", "/event_type"),
            (3, "not_an_object", "")
        ]
    );
    assert_eq!(
        body["rejected"][0]["errors"][0]["message"],
        "must be a number, got string \"89.90\""
    );
    assert_eq!(
        body["rejected"][0]["event_id"],
        "01936f4e-8a3c-7b2d-9f10-000000000001"
    );

    let stored: Vec<u64> = sink
        .lines("driftless-events")
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(stored, [0, 4]);
    let quarantined = sink.lines("driftless-quarantine");
    assert_eq!(quarantined.len(), 3);
    assert_eq!(quarantined[0]["reason"], "properties");
    assert_eq!(quarantined[0]["raw"]["properties"]["price"], "89.90");
    assert_eq!(quarantined[0]["received_at"], RECEIVED_AT);
    assert_eq!(quarantined[2]["raw"], "not an event");
}

#[tokio::test]
async fn client_sent_server_fields_never_reach_the_stored_record() {
    let sink = MemorySink::default();
    let config = IngestConfig {
        ip_policy: IpPolicy::Truncate,
        ..default_config()
    };
    let svc = service(&sink, config);
    let mut e = event(0, "anon-spoof");
    e["received_at"] = json!("1999-01-01T00:00:00.000Z");
    e["ip"] = json!("6.6.6.6");
    e["user_agent"] = json!("spoofed");
    e["client_timestamp"] = json!("1999-01-01T00:00:00.000Z");
    let (status, body, _) = call(&svc, request(batch(vec![e]), &[])).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(1)));
    let rec = &sink.lines("driftless-events")[0];
    assert_eq!(rec["received_at"], RECEIVED_AT);
    assert_eq!(rec["ip"], "203.0.113.0", "the request's address, truncated");
    assert!(rec["user_agent"]
        .as_str()
        .unwrap()
        .starts_with("Mozilla/5.0"));
    assert_eq!(rec["client_timestamp"], "2026-11-28T14:30:21.950Z");
    let text = serde_json::to_string(rec).unwrap();
    assert!(
        !text.contains("1999") && !text.contains("6.6.6.6") && !text.contains("spoofed"),
        "{text}"
    );
}

#[tokio::test]
async fn json_text_plain_and_gzip_bodies_store_the_same_records() {
    let body = batch((0..20).map(|n| event(n, "anon-enc")).collect());
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
        let sink = MemorySink::default();
        let svc = service(&sink, default_config());
        let (status, answer, _) = call(&svc, request(payload, &headers)).await;
        assert_eq!((status, &answer["accepted"]), (200, &json!(20)), "{answer}");
        stored.push(sink.lines("driftless-events"));
    }
    assert_eq!(stored[0], stored[1]);
    assert_eq!(stored[0], stored[2]);
}

#[tokio::test]
async fn malformed_json_and_non_batches_are_400_with_what_to_fix() {
    let svc = service(MemorySink::default(), default_config());
    for (body, code) in [
        ("{\"events\": [", "malformed_json"),
        ("[]", "not_a_batch"),
        ("{\"events\": {}}", "not_a_batch"),
        ("{\"sent_at\": \"2026-11-28T14:30:22Z\"}", "not_a_batch"),
        ("{\"events\": []}", "not_a_batch"),
        (
            "{\"sent_at\": \"yesterday\", \"events\": []}",
            "not_a_batch",
        ),
        ("", "malformed_json"),
    ] {
        let (status, answer, _) = call(&svc, request(Body::Text(body.into()), &[])).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}");
    }
    let (_, answer, _) = call(&svc, request(Body::Text("{\"events\": []}".into()), &[])).await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sent_at is required"),
        "{answer}"
    );
}

#[tokio::test]
async fn other_media_types_encodings_and_methods_are_refused() {
    let svc = service(MemorySink::default(), default_config());
    let body = batch(vec![event(0, "a")]);
    for (headers, status) in [
        (
            vec![("content-type", "application/x-www-form-urlencoded")],
            415,
        ),
        (
            vec![("content-type", "multipart/form-data; boundary=x")],
            415,
        ),
        (vec![("content-encoding", "br")], 415),
        (vec![("content-encoding", "deflate")], 415),
    ] {
        let (got, answer, _) = call(&svc, request(Body::Text(body.clone()), &headers)).await;
        assert_eq!(got, status, "{headers:?}: {answer}");
    }
    let (status, _, _) = call(&svc, with_method(request(Body::Empty, &[]), Method::GET)).await;
    assert_eq!(status, 405);
    let (status, _, _) = call(
        &svc,
        request(
            Body::Binary(b"not gzip".to_vec()),
            &[("content-encoding", "gzip")],
        ),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn cors_allow_list_is_answered_in_one_place_including_preflight() {
    let config = IngestConfig {
        allowed_origins: Some(vec!["https://shop.example".into()]),
        ..default_config()
    };
    let svc = service(MemorySink::default(), config);
    let (status, _, response) = call(
        &svc,
        with_method(request(Body::Empty, &[]), Method::OPTIONS),
    )
    .await;
    assert_eq!(status, 204);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "https://shop.example");
    assert_eq!(h["access-control-allow-methods"], "POST, OPTIONS");
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Content-Encoding"));

    let (status, answer, response) = call(
        &svc,
        request(
            Body::Text(batch(vec![])),
            &[("origin", "https://evil.example")],
        ),
    )
    .await;
    assert_eq!(status, 403);
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("DRIFTLESS_ALLOWED_ORIGINS"));

    // Servers send no Origin and need no CORS.
    let (status, _, _) = call(&svc, request(Body::Text(batch(vec![])), &[("origin", "")])).await;
    assert_eq!(status, 200);
}

/// A batch of `n` events whose serialized size is exactly `size` bytes (by padding a title).
fn body_of_exact_size(size: usize) -> String {
    let mut e = event(0, "anon-size");
    e["properties"]["title"] = json!("");
    let base = batch(vec![e.clone()]).len();
    e["properties"]["title"] = json!("x".repeat(size - base));
    let body = batch(vec![e]);
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn body_limit_accepts_exactly_the_limit_and_refuses_one_byte_over() {
    let limits = Limits {
        max_body_bytes: 2_000,
        ..Limits::default()
    };
    let svc = service(
        MemorySink::default(),
        IngestConfig {
            limits,
            ..default_config()
        },
    );
    let (status, _, _) = call(&svc, request(Body::Text(body_of_exact_size(2_000)), &[])).await;
    assert_eq!(status, 200);
    let (status, answer, _) = call(&svc, request(Body::Text(body_of_exact_size(2_001)), &[])).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "body_too_large");
}

#[tokio::test]
async fn decompressed_limit_accepts_exactly_the_limit_and_refuses_one_byte_over() {
    let limits = Limits {
        max_decompressed_bytes: 3_000,
        ..Limits::default()
    };
    let svc = service(
        MemorySink::default(),
        IngestConfig {
            limits,
            ..default_config()
        },
    );
    let gz = |n| Body::Binary(gzip(body_of_exact_size(n).as_bytes()));
    let (status, _, _) = call(&svc, request(gz(3_000), &[("content-encoding", "gzip")])).await;
    assert_eq!(status, 200);
    let (status, answer, _) = call(&svc, request(gz(3_001), &[("content-encoding", "gzip")])).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "decompressed_body_too_large");
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_without_inflating_past_the_cap() {
    // 256 MiB of spaces inside a valid batch would be accepted JSON if it were ever inflated.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    use std::io::Write;
    enc.write_all(b"{\"sent_at\": \"2026-11-28T14:30:22Z\", \"events\": []")
        .unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&spaces).unwrap();
    }
    enc.write_all(b"}").unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb itself fits the body limit");
    let svc = service(MemorySink::default(), default_config());
    let (status, answer, _) = call(
        &svc,
        request(Body::Binary(bomb), &[("content-encoding", "gzip")]),
    )
    .await;
    assert_eq!(status, 413, "{answer}");
}

#[tokio::test]
async fn events_per_batch_limit_accepts_the_limit_and_refuses_one_more() {
    let limits = Limits {
        max_events_per_batch: 5,
        ..Limits::default()
    };
    let svc = service(
        MemorySink::default(),
        IngestConfig {
            limits,
            ..default_config()
        },
    );
    let (status, body, _) = call(
        &svc,
        request(batch((0..5).map(|n| event(n, "a")).collect()), &[]),
    )
    .await;
    assert_eq!((status, &body["accepted"]), (200, &json!(5)));
    let (status, body, _) = call(
        &svc,
        request(batch((0..6).map(|n| event(n, "a")).collect()), &[]),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "too_many_events");
}

/// Sends `[at_limit, over_limit]` under `limits` and expects only the second to be rejected.
async fn expect_second_rejected(limits: Limits, at_limit: Value, over_limit: Value, reason: &str) {
    let svc = service(
        MemorySink::default(),
        IngestConfig {
            limits,
            ..default_config()
        },
    );
    let (status, body, _) = call(&svc, request(batch(vec![at_limit, over_limit]), &[])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1, "{reason}: {body}");
    assert_eq!(body["rejected"][0]["index"], 1, "{reason}: {body}");
    assert_eq!(body["rejected"][0]["reason"], reason, "{body}");
}

#[tokio::test]
async fn per_event_limits_accept_the_limit_and_reject_only_the_event_one_over() {
    let with_title = |len: usize| {
        let mut e = event(0, "anon-limits");
        e["properties"]["title"] = json!("t".repeat(len));
        e
    };
    let sized = |size: usize| {
        let base = serde_json::to_string(&with_title(0)).unwrap().len();
        with_title(size - base)
    };
    let event_bytes = Limits {
        max_event_bytes: 1_000,
        ..Limits::default()
    };
    expect_second_rejected(event_bytes, sized(1_000), sized(1_001), "too_large").await;

    let string_length = Limits {
        max_string_length: 50,
        ..Limits::default()
    };
    expect_second_rejected(
        string_length,
        with_title(50),
        with_title(51),
        "string_too_long",
    )
    .await;

    let mut depth_3 = event(4, "anon-limits");
    depth_3["properties"]["items"] = json!([{"product_id": "p", "quantity": 1, "price": 1}]);
    let mut depth_4 = event(4, "anon-limits");
    depth_4["properties"]["items"] =
        json!([{"product_id": {"nested": "x"}, "quantity": 1, "price": 1}]);
    expect_second_rejected(
        Limits {
            max_depth: 3,
            ..Limits::default()
        },
        depth_3,
        depth_4,
        "too_deep",
    )
    .await;

    let mut three = event(0, "anon-limits");
    three["properties"] = json!({"path": "/", "title": "t", "search": "?q"});
    let mut four = three.clone();
    four["properties"]["category"] = json!("home");
    expect_second_rejected(
        Limits {
            max_properties: 3,
            ..Limits::default()
        },
        three,
        four,
        "too_many_properties",
    )
    .await;
}

#[tokio::test]
async fn a_huge_quarantined_event_keeps_its_start_and_fits_a_record() {
    let limits = Limits {
        max_body_bytes: 2 << 20,
        ..Limits::default()
    };
    let sink = MemorySink::default();
    let svc = service(
        &sink,
        IngestConfig {
            limits,
            ..default_config()
        },
    );
    let mut e = event(0, "anon-huge");
    e["properties"]["title"] = json!("h".repeat(600 * 1024));
    let (status, body, _) = call(&svc, request(batch(vec![e]), &[])).await;
    assert_eq!(status, 200);
    assert_eq!(body["rejected"][0]["reason"], "too_large");
    let q = &sink.lines("driftless-quarantine")[0];
    assert_eq!(q["raw"], Value::Null);
    assert_eq!(q["raw_truncated"].as_str().unwrap().len(), 64 * 1024);
    assert_eq!(q["event_id"], "01936f4e-8a3c-7b2d-9f10-000000000000");
}

#[tokio::test]
async fn pretty_printed_events_are_quarantined_on_one_line() {
    let sink = MemorySink::default();
    let svc = service(&sink, default_config());
    let mut e = event(0, "anon-pretty");
    e["seq"] = json!("three");
    let body = serde_json::to_string_pretty(&json!({"sent_at": SENT_AT, "events": [e]})).unwrap();
    let (status, answer, _) = call(&svc, request(Body::Text(body), &[])).await;
    assert_eq!((status, &answer["accepted"]), (200, &json!(0)));
    let q = sink.lines("driftless-quarantine");
    assert_eq!(q.len(), 1, "one JSON line per quarantined event");
    assert_eq!(q[0]["raw"]["seq"], "three");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_never_answer_5xx(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        gzip_it in any::<bool>(),
        content_type in prop::sample::select(vec!["application/json", "text/plain", "application/octet-stream", ""]),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let svc = service(MemorySink::default(), default_config());
        let (payload, encoding) = if gzip_it { (gzip(&bytes), "gzip") } else { (bytes, "") };
        let (status, _, _) = rt.block_on(call(&svc, request(Body::Binary(payload), &[("content-type", content_type), ("content-encoding", encoding)])));
        prop_assert!(status < 500, "status {}", status);
    }

    #[test]
    fn arbitrary_json_events_never_panic_and_never_answer_5xx(events in proptest::collection::vec(arb_json(), 0..8)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let svc = service(MemorySink::default(), default_config());
        let body = json!({"sent_at": SENT_AT, "events": events}).to_string();
        let (status, answer, _) = rt.block_on(call(&svc, request(Body::Text(body), &[])));
        prop_assert_eq!(status, 200);
        let rejected = answer["rejected"].as_array().map_or(0, Vec::len) as u64;
        prop_assert_eq!(answer["accepted"].as_u64().unwrap() + rejected, events.len() as u64);
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z_]{0,12}".prop_map(Value::String),
        Just(json!("01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9b")),
        Just(json!("page_viewed")),
        Just(json!("1-0-0")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop::sample::select(vec![
                    "event_id",
                    "event_type",
                    "schema_version",
                    "timestamp",
                    "anonymous_id",
                    "session_id",
                    "seq",
                    "properties",
                    "path",
                    "x"
                ])
                .prop_map(String::from),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What `process` answers, with an error's message left out: its line and column move with
/// the body's length.
fn outcome<S: driftless::ingest::firehose::RecordSink, C: driftless::clock::Clock>(
    svc: &driftless::ingest::Ingest<S, C>,
    body: &str,
) -> String {
    let caller = driftless::ingest::Caller {
        origin: Some("https://shop.example"),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0"),
        ..Default::default()
    };
    match svc.process(body.as_bytes(), caller, 1_795_876_223_000) {
        Ok(done) => format!(
            "accepted {} rejected {:?} events {:?} quarantine {:?}",
            done.accepted, done.rejected, done.events_records, done.quarantine_records
        ),
        Err(e) => format!("error {}", e.code()),
    }
}

#[test]
fn a_body_gets_serdes_answer_whether_it_is_scanned_streamed_or_parsed() {
    let sink = MemorySink::default();
    let config = IngestConfig {
        limits: Limits {
            max_events_per_batch: 4,
            ..Limits::default()
        },
        ..default_config()
    };
    let svc = service(&sink, config);
    let e: Vec<String> = (0..4).map(|n| event(n, "anon-paths").to_string()).collect();
    let mut bad = event(5, "anon-paths");
    bad["properties"]["price"] = json!("89.90");
    let bad = bad.to_string();
    let s = format!("\"sent_at\":\"{SENT_AT}\"");
    let bodies = [
        // Streamed (events last), valid and rejected events, whitespace between them.
        format!("{{{s},\"events\":[{}, {bad} ,\n{}]}}", e[0], e[1]),
        format!("{{{s},\"key\":null,\"events\":[]}}"),
        // Found out while streaming: an event that is not JSON, one that is not an object, a
        // field after the events, a trailing comma, too many events.
        format!("{{{s},\"events\":[{},{{\"a\":tru}},{}]}}", e[0], e[1]),
        format!("{{{s},\"events\":[{},\"not an event\",{}]}}", e[0], e[1]),
        format!("{{{s},\"events\":[{}],\"x\":[1]}}", e[0]),
        format!("{{{s},\"events\":[{},]}}", e[0]),
        format!(
            "{{{s},\"events\":[{},{},{},{},{}]}}",
            e[0], e[1], e[2], e[3], e[0]
        ),
        // Scanned whole (events before sent_at), and not taken by the scan at all.
        format!("{{\"events\":[{},{bad}],{s}}}", e[2]),
        format!("{{\"events\":[{}],{s},\"other\":{{}}}}", e[3]),
        format!("{{\"events\":[{}]}}", e[0]),
        format!("{{\"sent_at\":\"yesterday\",\"events\":[{}]}}", e[0]),
    ];
    for body in bodies {
        // The same batch with `events` written with an escape, which only serde reads.
        let parsed = body.replacen("\"events\"", "\"\\u0065vents\"", 1);
        assert_ne!(parsed, body);
        assert_eq!(outcome(&svc, &body), outcome(&svc, &parsed), "{body}");
    }
}
