//! `driftless schema check`: the repository's schemas pass; SchemaVer breaks, unsupported keywords
//! and misnamed files fail, naming the file, the property and the rule.

mod common;

use std::path::Path;

use common::{copy_dir, driftless, repo_root, scratch, stdout};
use driftless_cli::check::check_dir;

/// A scratch repository root holding a copy of the real `schema/`.
fn schema_copy(name: &str) -> std::path::PathBuf {
    let root = scratch(name);
    copy_dir(&repo_root().join("schema"), &root.join("schema"));
    root
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join("schema").join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn lines(root: &Path) -> Vec<String> {
    check_dir(&root.join("schema"))
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// checkout_completed 1-0-0 with `edit` applied to its JSON.
fn checkout_variant(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let text =
        std::fs::read_to_string(repo_root().join("schema/checkout_completed/1-0-0.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn the_repository_schemas_pass() {
    let out = driftless(&repo_root(), &["schema", "check"]);
    assert_eq!(stdout(&out), "");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_compatible_addition_passes() {
    let root = schema_copy("addition");
    write(
        &root,
        "checkout_completed/1-0-1.json",
        &checkout_variant(|v| {
            v["$id"] = "driftless:checkout_completed/1-0-1".into();
            v["properties"]["gift_wrap"] = serde_json::json!({"type": "boolean", "description": "Whether the order is gift wrapped."});
        }),
    );
    assert_eq!(lines(&root), Vec::<String>::new());
    let out = driftless(&root, &["schema", "check"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn removing_retyping_or_newly_requiring_a_property_in_an_addition_fails() {
    let root = schema_copy("breaking");
    write(
        &root,
        "checkout_completed/1-0-1.json",
        &checkout_variant(|v| {
            v["$id"] = "driftless:checkout_completed/1-0-1".into();
            let props = v["properties"].as_object_mut().unwrap();
            props.remove("coupon");
            props["total"]["type"] = "string".into();
            props["items"]["items"]["properties"]["quantity"]["type"] = "number".into();
            v["required"]
                .as_array_mut()
                .unwrap()
                .push("shipping_method".into());
        }),
    );
    assert_eq!(
        lines(&root),
        [
            "schema/checkout_completed/1-0-1.json: /properties/total: [schemaver-retype] type changed from number in 1-0-0 to string in 1-0-1: retyping needs a new MODEL (2-0-0)",
            "schema/checkout_completed/1-0-1.json: /properties/items/items/properties/quantity: [schemaver-retype] type changed from integer in 1-0-0 to number in 1-0-1: retyping needs a new MODEL (2-0-0)",
            "schema/checkout_completed/1-0-1.json: /properties/coupon: [schemaver-remove] property \"coupon\" of 1-0-0 is missing in 1-0-1: removing a property needs a new MODEL (2-0-0)",
            "schema/checkout_completed/1-0-1.json: /required: [schemaver-require] property \"shipping_method\" is required in 1-0-1 but was not in 1-0-0: older events lack it, so requiring it needs a new MODEL (2-0-0)",
        ]
    );
    let out = driftless(&root, &["schema", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("[schemaver-remove]"));
}

#[test]
fn the_same_break_as_a_new_model_passes() {
    let root = schema_copy("new-model");
    write(
        &root,
        "checkout_completed/2-0-0.json",
        &checkout_variant(|v| {
            v["$id"] = "driftless:checkout_completed/2-0-0".into();
            v["properties"].as_object_mut().unwrap().remove("coupon");
        }),
    );
    assert_eq!(lines(&root), Vec::<String>::new());
}

#[test]
fn a_revision_may_not_break_either_and_versions_may_not_skip() {
    let root = schema_copy("revision");
    write(
        &root,
        "page_viewed/1-2-0.json",
        &std::fs::read_to_string(repo_root().join("schema/page_viewed/1-0-0.json"))
            .unwrap()
            .replace("driftless:page_viewed/1-0-0", "driftless:page_viewed/1-2-0")
            .replace(
                r#""required": ["path"]"#,
                r#""required": ["path", "title"]"#,
            ),
    );
    assert_eq!(
        lines(&root),
        [
            "schema/page_viewed/1-2-0.json: /: [schemaver-sequence] 1-2-0 does not follow 1-0-0: the next version is one of 1-0-1, 1-1-0 or 2-0-0",
            "schema/page_viewed/1-2-0.json: /required: [schemaver-require] property \"title\" is required in 1-2-0 but was not in 1-0-0: older events lack it, so requiring it needs a new MODEL (2-0-0)",
        ]
    );
}

#[test]
fn unsupported_keywords_bad_names_and_missing_descriptions_are_named() {
    let root = schema_copy("subset");
    write(
        &root,
        "signed_up/1-0-1.json",
        &std::fs::read_to_string(repo_root().join("schema/signed_up/1-0-0.json"))
            .unwrap()
            .replace("driftless:signed_up/1-0-0", "driftless:signed_up/1-0-1")
            .replace(
                r#""minLength": 1, "maxLength": 64"#,
                r#""pattern": "^[A-Z]+$""#,
            ),
    );
    write(
        &root,
        "OrderShipped/1-0-0.json",
        r#"{"type": "object", "additionalProperties": false}"#,
    );
    write(
        &root,
        "order_shipped/1-0.json",
        r#"{"type": "object", "additionalProperties": false}"#,
    );
    write(
        &root,
        "refund_failed/1-0-0.json",
        r#"{"description": "A refund failed.", "type": "object", "additionalProperties": false,
            "properties": {"Amount": {"type": "number", "description": "x"}}}"#,
    );
    write(
        &root,
        "refund_issued/1-0-0.json",
        r#"{"description": "A refund.", "type": "object", "additionalProperties": false,
            "properties": {"amount": {"type": "number"}, "locale": {"type": "string", "description": "x"}}}"#,
    );
    let got = lines(&root);
    let expected = [
        "schema/OrderShipped/1-0-0.json: /: [naming] event type \"OrderShipped\" must be snake_case",
        "schema/order_shipped/1-0.json: /: [naming] file name \"1-0.json\" must be a SchemaVer version",
        "schema/refund_failed/1-0-0.json: /properties/Amount: [naming] property name \"Amount\" must be snake_case",
        "schema/refund_issued/1-0-0.json: /properties/amount: [naming] every property needs a description",
        "schema/refund_issued/1-0-0.json: /properties/locale: [naming] property \"locale\" clashes with the envelope column",
        "schema/signed_up/1-0-1.json: /properties/referral_code/pattern: [subset] keyword \"pattern\" is not supported",
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (line, prefix) in got.iter().zip(expected) {
        assert!(
            line.starts_with(prefix),
            "{line}\n  does not start with\n{prefix}"
        );
    }
}

#[test]
fn invalid_json_and_stray_files_are_reported() {
    let root = schema_copy("json");
    write(&root, "page_viewed/1-0-1.json", "{ not json");
    write(&root, "README.md", "notes");
    let got = lines(&root);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with("schema/README.md: /: [layout] unexpected file"),
        "{}",
        got[0]
    );
    assert!(
        got[1].starts_with("schema/page_viewed/1-0-1.json: /: [json] is not valid JSON"),
        "{}",
        got[1]
    );
}
