//! `driftless validate`: events are judged offline by the ingest function's own `check_event`.

mod common;

use common::{driftless, fixtures, repo_root, stderr, stdout};

#[test]
fn events_are_judged_like_ingest_judges_them() {
    let file = fixtures().join("validate/events.ndjson");
    let out = driftless(&repo_root(), &["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let at = file.display();
    let expected = [
        format!("{at}:4: event 01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9d (properties): /properties/total: must be a number, got string \"10\""),
        format!("{at}:4: event 01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9d (properties): /properties/items: must have at least 1 items, got 0"),
        format!("{at}:5: event 01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9e (unknown_event_type): /event_type: unknown event type \"page_view\": add schema/page_view/1-0-0.json or use one of cart_item_added, checkout_completed, page_viewed, product_viewed, signed_up"),
    ];
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[..3],
        expected.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    assert!(
        lines[3].starts_with(&format!("{at}:6: not valid JSON")),
        "{}",
        lines[3]
    );
    // Line 1 (as sent), line 2 (a lake record with server fields) and line 7 (a quarantined event
    // that the current schema accepts) are valid.
    assert!(
        stderr(&out).contains("validate: 3 valid, 3 invalid"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_file_of_valid_events_passes() {
    let dir = common::scratch("validate-ok");
    let text = std::fs::read_to_string(fixtures().join("validate/events.ndjson")).unwrap();
    let first: String = text.lines().take(2).collect::<Vec<_>>().join("\n");
    std::fs::write(dir.join("ok.ndjson"), first).unwrap();
    let root = repo_root();
    let out = driftless(
        &dir,
        &["--root", root.to_str().unwrap(), "validate", "ok.ndjson"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let out = driftless(&repo_root(), &["validate", "no/such/file.ndjson"]);
    assert_eq!(out.status.code(), Some(2));
}
