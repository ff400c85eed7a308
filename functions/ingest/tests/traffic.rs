//! Trusted traffic through the real handler: source keys (missing, unknown, disabled, rotated,
//! from an origin they do not allow), and what is stored of the request's traffic (source,
//! parsed user agent, bot verdict).

mod common;

use common::*;
use driftless::clock::FixedClock;
use driftless::config::IngestConfig;
use driftless::ingest::keys::SourceKeys;
use driftless::ingest::Ingest;
use lambda_http::http::Method;
use lambda_http::Body;
use serde_json::{json, Value};

const KEYS: &str = r#"[
    {"key": "dk_web_2026b", "source": "web", "origins": ["https://shop.example"]},
    {"key": "dk_web_2026a", "source": "web", "origins": ["https://shop.example"]},
    {"key": "dk_web_2025", "source": "web", "origins": ["https://shop.example"], "enabled": false},
    {"key": "dk_backend", "source": "backend"}
]"#;

fn keyed(sink: &MemorySink) -> Ingest<&MemorySink, FixedClock> {
    service(sink, IngestConfig::default())
        .with_source_keys(SourceKeys::parse(KEYS, "DRIFTLESS_SOURCE_KEYS").unwrap())
}

fn body_with_key(key: &str) -> String {
    let mut b: Value = serde_json::from_str(&batch(vec![event(0, "anon-key")])).unwrap();
    b["key"] = json!(key);
    b.to_string()
}

async fn refused(headers: &[(&str, &str)], body: String) -> (u16, String, String) {
    let sink = MemorySink::default();
    let svc = keyed(&sink);
    let (status, answer, _) = call(&svc, request(Body::Text(body), headers)).await;
    assert!(
        sink.lines("driftless-events").is_empty() && sink.lines("driftless-quarantine").is_empty(),
        "a refused request stores nothing"
    );
    (
        status,
        answer["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn a_request_without_a_key_is_401_and_says_where_to_put_it() {
    let (status, code, message) = refused(&[], batch(vec![event(0, "a")])).await;
    assert_eq!((status, code.as_str()), (401, "missing_key"));
    assert!(message.contains("X-Driftless-Key"), "{message}");
}

#[tokio::test]
async fn an_unknown_key_is_401_in_the_header_or_the_body() {
    let (status, code, _) = refused(&[("x-driftless-key", "dk_nope")], batch(vec![])).await;
    assert_eq!((status, code.as_str()), (401, "unknown_key"));
    let (status, code, _) = refused(&[], body_with_key("dk_nope")).await;
    assert_eq!((status, code.as_str()), (401, "unknown_key"));
}

#[tokio::test]
async fn a_disabled_key_is_401_and_names_its_source() {
    let (status, code, message) =
        refused(&[("x-driftless-key", "dk_web_2025")], batch(vec![])).await;
    assert_eq!((status, code.as_str()), (401, "key_disabled"));
    assert!(message.contains("\"web\""), "{message}");
}

#[tokio::test]
async fn a_browser_key_from_an_origin_it_does_not_allow_is_403() {
    let headers = [
        ("x-driftless-key", "dk_web_2026a"),
        ("origin", "https://evil.example"),
    ];
    let (status, code, _) = refused(&headers, batch(vec![event(0, "a")])).await;
    assert_eq!((status, code.as_str()), (403, "origin_not_allowed"));
    // Without an Origin (a script replaying the key) it is refused too.
    let (status, _, message) = refused(
        &[("x-driftless-key", "dk_web_2026a"), ("origin", "")],
        batch(vec![event(0, "a")]),
    )
    .await;
    assert_eq!(status, 403);
    assert!(message.contains("key's origins"), "{message}");
}

#[tokio::test]
async fn both_keys_of_a_rotation_store_their_events_under_the_same_source() {
    let sink = MemorySink::default();
    let svc = keyed(&sink);
    let (status, body, _) = call(
        &svc,
        request(
            Body::Text(batch(vec![event(0, "anon-rot")])),
            &[("x-driftless-key", "dk_web_2026a")],
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The new key in the body, as sendBeacon sends it.
    let (status, body, response) = call(
        &svc,
        request(Body::Text(body_with_key("dk_web_2026b")), &[]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let lines = sink.lines("driftless-events");
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["source"] == "web"), "{lines:?}");
}

#[tokio::test]
async fn the_header_key_wins_over_the_body_key() {
    let sink = MemorySink::default();
    let svc = keyed(&sink);
    let (status, _, _) = call(
        &svc,
        request(
            Body::Text(body_with_key("dk_nope")),
            &[("x-driftless-key", "dk_web_2026a")],
        ),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_preflight_is_answered_for_a_keys_origin_and_allows_the_key_header() {
    let sink = MemorySink::default();
    let svc = keyed(&sink);
    let (status, _, response) = call(
        &svc,
        with_method(request(Body::Empty, &[]), Method::OPTIONS),
    )
    .await;
    assert_eq!(status, 204);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "https://shop.example");
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("X-Driftless-Key"));
    let (status, _, _) = call(
        &svc,
        with_method(
            request(Body::Empty, &[("origin", "https://evil.example")]),
            Method::OPTIONS,
        ),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_key_without_origins_is_taken_from_any_page_which_can_read_the_answer() {
    let sink = MemorySink::default();
    let svc = keyed(&sink);
    let page = [("origin", "http://127.0.0.1:41234")];
    let (status, body, response) = call(
        &svc,
        request(Body::Text(body_with_key("dk_backend")), &page),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://127.0.0.1:41234"
    );
    let rec = &sink.lines("driftless-events")[0];
    assert_eq!(rec["source"], "backend");
    assert_eq!(rec["is_bot"], false, "a server key's caller is no browser");
    // A refusal is answered with CORS headers too: the SDK reads the 401 and drops the batch
    // instead of retrying what it takes for a network error.
    let (status, _, response) =
        call(&svc, request(Body::Text(batch(vec![event(1, "a")])), &page)).await;
    assert_eq!(status, 401);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://127.0.0.1:41234"
    );
}

#[tokio::test]
async fn a_browser_event_is_stored_with_its_source_parsed_user_agent_and_no_bot_flag() {
    let sink = MemorySink::default();
    let svc = keyed(&sink);
    let (status, _, _) = call(
        &svc,
        request(Body::Text(body_with_key("dk_web_2026a")), &[]),
    )
    .await;
    assert_eq!(status, 200);
    let rec = &sink.lines("driftless-events")[0];
    assert_eq!(rec["source"], "web");
    assert_eq!(rec["ua_browser"], "Chrome");
    assert_eq!(rec["ua_browser_version"], "131");
    assert_eq!(rec["ua_os"], "Mac OS X");
    assert_eq!(rec["ua_device_type"], "desktop");
    assert_eq!(rec["is_bot"], false);
    assert!(rec.get("bot_reason").is_none());
}

#[tokio::test]
async fn crawler_and_headless_traffic_is_kept_and_flagged_with_the_rule_that_matched() {
    let cases = [
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "de-DE",
            "crawler_list",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
            "en-US",
            "headless_browser",
        ),
        ("curl/8.5.0", "en-US", "non_browser_agent"),
        ("", "en-US", "empty_user_agent"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "",
            "no_accept_language",
        ),
    ];
    for (ua, language, reason) in cases {
        let sink = MemorySink::default();
        let svc = keyed(&sink);
        let (status, body, _) = call(
            &svc,
            request(
                Body::Text(body_with_key("dk_web_2026a")),
                &[("user-agent", ua), ("accept-language", language)],
            ),
        )
        .await;
        assert_eq!((status, &body["accepted"]), (200, &json!(1)), "{ua}");
        let rec = &sink.lines("driftless-events")[0];
        assert_eq!(
            (&rec["is_bot"], &rec["bot_reason"]),
            (&json!(true), &json!(reason)),
            "{ua}"
        );
    }
}

#[tokio::test]
async fn a_server_side_key_gets_no_user_agent_fields_and_is_never_a_bot() {
    let sink = MemorySink::default();
    let svc = keyed(&sink);
    let (status, _, _) = call(
        &svc,
        request(
            Body::Text(batch(vec![event(0, "anon-server")])),
            &[
                ("x-driftless-key", "dk_backend"),
                ("origin", ""),
                ("accept-language", ""),
                ("user-agent", "python-requests/2.32.3"),
            ],
        ),
    )
    .await;
    assert_eq!(status, 200);
    let rec = &sink.lines("driftless-events")[0];
    assert_eq!(rec["source"], "backend");
    assert_eq!(rec["is_bot"], false);
    assert!(rec.get("ua_browser").is_none() && rec.get("bot_reason").is_none());
    assert_eq!(
        rec["user_agent"], "python-requests/2.32.3",
        "the header itself is kept"
    );
}

#[tokio::test]
async fn a_quarantined_event_keeps_its_source() {
    let sink = MemorySink::default();
    let svc = keyed(&sink);
    let mut bad = event(1, "anon-q");
    bad["properties"]["price"] = json!("free");
    let (status, _, _) = call(
        &svc,
        request(
            Body::Text(batch(vec![bad])),
            &[("x-driftless-key", "dk_web_2026a")],
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sink.lines("driftless-quarantine")[0]["source"], "web");
}

#[tokio::test]
async fn without_keys_a_browser_request_is_enriched_and_carries_no_source() {
    let sink = MemorySink::default();
    let svc = service(&sink, IngestConfig::default());
    let (status, _, _) = call(&svc, fixture_request()).await;
    assert_eq!(status, 200);
    let rec = &sink.lines("driftless-events")[0];
    assert!(rec.get("source").is_none());
    assert_eq!(rec["ua_browser"], "Chrome");
    assert_eq!(rec["is_bot"], false);
}
