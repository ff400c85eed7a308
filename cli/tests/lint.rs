//! `driftless lint` against fixture apps: a correct one passes, each kind of mistake is reported
//! with its rule, message and position.

mod common;

use common::{driftless, fixtures, repo_root, stderr, stdout};

fn lint(args: &[&str]) -> std::process::Output {
    let root = repo_root();
    let mut all = vec!["--root", root.to_str().unwrap(), "lint"];
    all.extend_from_slice(args);
    driftless(&fixtures().join("lint"), &all)
}

#[test]
fn a_correctly_tracking_app_passes() {
    let out = lint(&["app-ok"]);
    assert_eq!(stdout(&out), "", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // Every literal call in the fixture was seen, in .ts, .tsx, .js and .jsx files.
    assert!(
        stderr(&out).contains("5 file(s), 7 tracking call(s) checked, 0 finding(s)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn each_kind_of_mistake_is_reported_at_its_position() {
    let out = lint(&["app-bad"]);
    assert_eq!(out.status.code(), Some(1));
    let expected = [
        r#"app-bad/src/components/Checkout.tsx:16:13: unknown property "colour" for checkout_completed 1-0-0; known: order_id, total, currency, items, coupon, shipping_method"#,
        r#"app-bad/src/missing_required.ts:6:34: missing required property "currency" for product_viewed 1-0-0"#,
        r#"app-bad/src/unknown_event.ts:4:19: unknown event type "checkout_complete"; known: cart_item_added, checkout_completed, page_viewed, product_viewed, signed_up"#,
        r#"app-bad/src/unknown_property.ts:4:42: unknown property "titel" for page_viewed 1-0-0; known: path, title, search, category"#,
        r#"app-bad/src/wrong_type.ts:4:75: property "quantity" of cart_item_added 1-0-0 must be an integer, got string "2""#,
        r#"app-bad/src/wrong_type.ts:5:47: property "plan" of signed_up 1-0-0 must be one of "free", "pro", "team", got string "gold""#,
        r#"app-bad/src/wrong_type.ts:10:44: property "items[0].quantity" of checkout_completed 1-0-0 must be an integer, got number 1.5"#,
    ];
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), expected);
}

#[test]
fn json_output_carries_file_position_and_rule() {
    let out = lint(&[
        "--format",
        "json",
        "app-bad/src/components",
        "app-bad/src/unknown_event.ts",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let findings: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let got: Vec<(String, u64, u64, String)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["col"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "app-bad/src/components/Checkout.tsx".into(),
                16,
                13,
                "unknown-property".into()
            ),
            (
                "app-bad/src/unknown_event.ts".into(),
                4,
                19,
                "unknown-event".into()
            ),
        ]
    );
    assert!(findings[0]["message"]
        .as_str()
        .unwrap()
        .contains("\"colour\""));
}

#[test]
fn json_rules_name_each_kind_of_mistake() {
    let out = lint(&["--format", "json", "app-bad", "app-broken"]);
    let findings: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut rules: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    rules.sort_unstable();
    rules.dedup();
    assert_eq!(
        rules,
        [
            "missing-required",
            "parse-error",
            "unknown-event",
            "unknown-property",
            "wrong-type"
        ]
    );
}

#[test]
fn a_file_that_cannot_be_parsed_is_reported_not_skipped() {
    let out = lint(&["app-broken"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "app-broken/src/broken.ts:3:24: cannot parse: Unexpected token\n"
    );
}

#[test]
fn usage_errors_exit_with_status_2() {
    assert_eq!(lint(&["does-not-exist"]).status.code(), Some(2));
    assert_eq!(lint(&[]).status.code(), Some(2));
    assert_eq!(lint(&["--format", "xml", "app-ok"]).status.code(), Some(2));
}

#[test]
fn the_linter_finds_calls_in_source_text_directly() {
    let registry = driftless::schema::Registry::from_dir(&repo_root().join("schema")).unwrap();
    let mut linter = driftless_cli::lint::Linter::new(&registry);
    let mut report = driftless_cli::lint::Report::default();
    let source = "window.analytics!.track(`signed_up`, { method: 'email', plan: 42 } as const);\n";
    linter.lint_source("inline.ts", source, oxc_span::SourceType::ts(), &mut report);
    let got: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        ["inline.ts:1:63: property \"plan\" of signed_up 1-0-0 must be a string, got number 42"]
    );
}
