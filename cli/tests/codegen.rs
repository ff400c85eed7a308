//! `driftless codegen`: the checked-in outputs are current, `--check` catches a stale file, the
//! TypeScript compiles under `tsc --strict` and rejects a wrong property, and the DuckDB views run
//! against Parquet shaped like the lake's and return typed columns.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_dir, driftless, repo_root, scratch, stderr, stdout};
use driftless_cli::codegen;

fn generated(name: &str) -> String {
    let registry = codegen::load(&repo_root().join("schema")).unwrap();
    codegen::generate(&registry)
        .into_iter()
        .find(|o| o.path == name)
        .unwrap()
        .contents
}

#[test]
fn the_checked_in_generated_files_are_current() {
    let out = driftless(&repo_root(), &["codegen", "--check"]);
    assert_eq!(stdout(&out), "", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn generation_is_deterministic() {
    let registry = codegen::load(&repo_root().join("schema")).unwrap();
    assert_eq!(codegen::generate(&registry), codegen::generate(&registry));
}

#[test]
fn check_fails_after_a_schema_edit_and_passes_after_regenerating() {
    let root = scratch("codegen-stale");
    copy_dir(&repo_root().join("schema"), &root.join("schema"));
    let out = driftless(&root, &["codegen", "--check"]);
    assert_eq!(out.status.code(), Some(1), "missing files are stale");

    assert_eq!(driftless(&root, &["codegen"]).status.code(), Some(0));
    assert_eq!(
        driftless(&root, &["codegen", "--check"]).status.code(),
        Some(0)
    );

    // A compatible ADDITION: page_viewed 1-0-1 with one more optional property.
    let old = std::fs::read_to_string(root.join("schema/page_viewed/1-0-0.json")).unwrap();
    let new = old
        .replace("driftless:page_viewed/1-0-0", "driftless:page_viewed/1-0-1")
        .replace(
            r#""properties": {"#,
            r#""properties": {
    "referrer_domain": { "type": "string", "maxLength": 256, "description": "Host of the referring page." },"#,
        );
    std::fs::write(root.join("schema/page_viewed/1-0-1.json"), new).unwrap();
    assert_eq!(
        driftless(&root, &["schema", "check"]).status.code(),
        Some(0)
    );

    let out = driftless(&root, &["codegen", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let stale: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        stale,
        [
            codegen::TYPESCRIPT,
            codegen::PYTHON,
            codegen::DUCKDB,
            codegen::ATHENA,
            codegen::ATHENA_CATALOG,
            codegen::DOCS
        ]
    );

    assert_eq!(driftless(&root, &["codegen"]).status.code(), Some(0));
    assert_eq!(
        driftless(&root, &["codegen", "--check"]).status.code(),
        Some(0)
    );
    let ts = std::fs::read_to_string(root.join(codegen::TYPESCRIPT)).unwrap();
    assert!(ts.contains("  referrer_domain?: string;"));
    assert!(ts.contains(r#"event_type: "page_viewed"; schema_version: "1-0-1""#));
}

fn tsc() -> PathBuf {
    let tsc = repo_root().join("sdk/node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "{} is missing: run `cd sdk && npm ci` (make test does)",
        tsc.display()
    );
    tsc
}

fn run_tsc(dir: &Path, file: &str) -> std::process::Output {
    Command::new(tsc())
        .current_dir(dir)
        .args([
            "--strict",
            "--noEmit",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            file,
        ])
        .output()
        .unwrap()
}

const TRACK: &str = r#"import type { EventType, PropertiesOf } from "./events.generated";
export declare function track<K extends EventType>(type: K, properties: PropertiesOf<K>): void;
"#;

#[test]
fn generated_typescript_compiles_strict_and_rejects_a_wrong_property() {
    let dir = scratch("tsc");
    std::fs::write(
        dir.join("events.generated.ts"),
        generated(codegen::TYPESCRIPT),
    )
    .unwrap();
    std::fs::write(dir.join("track.ts"), TRACK).unwrap();
    std::fs::write(
        dir.join("good.ts"),
        r#"import { track } from "./track";
import { SCHEMA_VERSIONS } from "./events.generated";
track("checkout_completed", {
  order_id: "o-1",
  total: 10.5,
  currency: "EUR",
  items: [{ product_id: "p-1", quantity: 2, price: 5.25 }],
  shipping_method: "express",
});
track("signed_up", { method: "github" });
track("page_viewed", { path: "/" });
const v: "1-0-0" = SCHEMA_VERSIONS.page_viewed;
export { v };
"#,
    )
    .unwrap();
    let out = run_tsc(&dir, "good.ts");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let cases = [
        (
            "wrong_property.ts",
            r#"track("checkout_completed", { order_id: "o-1", total: 1, currency: "EUR", items: [], colour: "red" });"#,
            "colour",
        ),
        (
            "wrong_type.ts",
            r#"track("product_viewed", { product_id: "p", price: "9.90", currency: "EUR" });"#,
            "Type 'string' is not assignable to type 'number'",
        ),
        (
            "wrong_enum.ts",
            r#"track("signed_up", { method: "myspace" });"#,
            "myspace",
        ),
        (
            "missing_required.ts",
            r#"track("page_viewed", { title: "Home" });"#,
            "path",
        ),
        (
            "unknown_event.ts",
            r#"track("page_view", { path: "/" });"#,
            "page_view",
        ),
    ];
    for (file, body, needle) in cases {
        std::fs::write(
            dir.join(file),
            format!("import {{ track }} from \"./track\";\n{body}\n"),
        )
        .unwrap();
        let out = run_tsc(&dir, file);
        let text = stdout(&out);
        assert!(!out.status.success(), "{file} compiled");
        assert!(
            text.contains(&format!("{file}(2,")) && text.contains(needle),
            "{file}: {text}"
        );
    }
}

const DUCKDB_SCRIPT: &str = r#"
import json, sys
import duckdb

lake, views, columns = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])["tables"]["events"]
types = {"string": "VARCHAR", "json": "VARCHAR", "timestamp": "TIMESTAMP", "int64": "BIGINT", "int32": "INTEGER", "boolean": "BOOLEAN"}
con = duckdb.connect()
con.execute("CREATE TABLE raw (" + ", ".join(f'"{c["name"]}" {types[c["type"]]}' for c in columns) + ")")
rows = [
  ("checkout_completed", '{"order_id":"o-1","total":10.5,"currency":"EUR","items":[{"product_id":"p","quantity":2,"price":5.25}],"shipping_method":"express"}'),
  ("cart_item_added", '{"cart_id":"c","product_id":"p","quantity":3,"price":5.25,"currency":"EUR"}'),
  ("product_viewed", '{"product_id":"p","price":9.9,"currency":"EUR","in_stock":true}'),
  ("page_viewed", '{"path":"/","category":"home"}'),
]
for i, (event_type, props) in enumerate(rows):
    values = {"event_id": f"e{i}", "event_type": event_type, "schema_version": "1-0-0",
              "timestamp": "2026-11-28 14:30:21.950", "client_timestamp": "2026-11-28 14:30:21.950",
              "sent_at": "2026-11-28 14:30:22.123", "received_at": "2026-11-28 14:30:22.200",
              "anonymous_id": "anon", "session_id": "sess", "seq": i, "page_url": "https://shop.example/",
              "page_referrer": "", "page_title": "Shop", "locale": "de-DE", "timezone": "Europe/Berlin",
              "screen_width": 1440, "screen_height": 900, "sdk_name": "driftless-js", "sdk_version": "0.1.0",
              "user_agent": "test", "properties": props}
    names = ", ".join(f'"{c["name"]}"' for c in columns if c["name"] in values)
    marks = ", ".join("?" for c in columns if c["name"] in values)
    con.execute(f"INSERT INTO raw ({names}) VALUES ({marks})", [values[c["name"]] for c in columns if c["name"] in values])
con.execute(f"COPY raw TO '{lake}/dt=2026-11-28/part-0.parquet' (FORMAT parquet)")
con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{lake}/dt=*/*.parquet', hive_partitioning = true)")
con.execute(open(views).read())
out = {}
for view in ["checkout_completed", "cart_item_added", "product_viewed", "page_viewed", "signed_up"]:
    types = {name: str(t) for name, t in zip([d[0] for d in con.execute(f"SELECT * FROM {view}").description], [r[1] for r in con.execute(f"DESCRIBE {view}").fetchall()])}
    rows = con.execute(f"SELECT * FROM {view}").fetchall()
    names = [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
    out[view] = {"types": types, "rows": [dict(zip(names, [v if isinstance(v, (int, float, bool, str, type(None))) else str(v) for v in r])) for r in rows]}
print(json.dumps(out))
"#;

#[test]
fn duckdb_views_return_typed_columns_from_lake_parquet() {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: make test creates the venv with duckdb",
        python.display()
    );
    let dir = scratch("duckdb");
    let lake = dir.join("lake/events");
    std::fs::create_dir_all(lake.join("dt=2026-11-28")).unwrap();
    let views = dir.join("views.sql");
    std::fs::write(&views, generated(codegen::DUCKDB)).unwrap();
    let out = Command::new(python)
        .args(["-c", DUCKDB_SCRIPT])
        .arg(&lake)
        .arg(&views)
        .arg(driftless_cli::columns::to_json().to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();

    let checkout = &got["checkout_completed"];
    assert_eq!(checkout["types"]["order_id"], "VARCHAR");
    assert_eq!(checkout["types"]["total"], "DOUBLE");
    assert_eq!(checkout["types"]["items"], "JSON");
    assert_eq!(checkout["types"]["shipping_method"], "VARCHAR");
    assert_eq!(checkout["types"]["timestamp"], "TIMESTAMP");
    assert_eq!(checkout["types"]["screen_width"], "INTEGER");
    let rows = checkout["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["total"], 10.5);
    assert_eq!(rows[0]["order_id"], "o-1");
    assert_eq!(rows[0]["coupon"], serde_json::Value::Null);
    assert_eq!(rows[0]["shipping_method"], "express");

    assert_eq!(got["cart_item_added"]["types"]["quantity"], "BIGINT");
    assert_eq!(got["cart_item_added"]["rows"][0]["quantity"], 3);
    assert_eq!(got["product_viewed"]["types"]["in_stock"], "BOOLEAN");
    assert_eq!(got["product_viewed"]["rows"][0]["in_stock"], true);
    assert_eq!(got["page_viewed"]["rows"][0]["category"], "home");
    assert_eq!(got["signed_up"]["rows"].as_array().unwrap().len(), 0);
}

const ODD_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "driftless:refund_issued/1-0-0",
  "title": "refund_issued",
  "description": "A refund with \"quotes\" and a backslash \\ in its description.",
  "type": "object",
  "properties": {
    "from": { "type": "string", "maxLength": 64, "description": "A Python keyword as a property name." },
    "amount": { "type": ["number", "null"], "description": "Refunded amount, null when unknown." },
    "ratio": { "type": "number", "enum": [0.5, 1.5], "description": "Float enums have no Literal." },
    "level": { "type": "integer", "enum": [1, 2, 3] },
    "address": {
      "type": "object",
      "properties": { "city": { "type": "string", "maxLength": 64 } },
      "required": ["city"],
      "additionalProperties": false
    }
  },
  "required": ["from", "address"],
  "additionalProperties": false
}"#;

/// A schema's corner cases through the Python generator: a keyword as a property name (the
/// functional TypedDict syntax), a nullable number, a float enum, a nested object, quotes in a
/// docstring, and a single event type (one `track` signature, no overloads).
#[test]
fn generated_python_handles_keywords_nested_objects_and_a_single_event_type() {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: make test creates the venv with mypy and the client",
        python.display()
    );
    let registry = driftless::schema::Registry::from_sources([(
        "refund_issued/1-0-0.json".to_string(),
        ODD_SCHEMA.to_string(),
    )])
    .unwrap();
    let code = codegen::generate(&registry)
        .into_iter()
        .find(|o| o.path == codegen::PYTHON)
        .unwrap()
        .contents;
    assert!(!code.contains("@overload"), "{code}");
    let dir = scratch("python-odd");
    std::fs::write(dir.join("odd_events.py"), &code).unwrap();
    std::fs::write(
        dir.join("good.py"),
        r#"from odd_events import RefundIssuedProperties, Tracker
def use(t: Tracker) -> None:
    p: RefundIssuedProperties = {"from": "shop", "amount": None, "ratio": 1.5, "level": 2, "address": {"city": "Linz"}}
    t.track("refund_issued", p, user_id="u")
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.py"),
        r#"from odd_events import RefundIssuedProperties, Tracker
def use(t: Tracker) -> None:
    p: RefundIssuedProperties = {"from": "shop", "level": 4, "address": {}}
    t.track("refund_issue", p, user_id="u")
"#,
    )
    .unwrap();
    let mypy = |file: &str| {
        Command::new(&python)
            .current_dir(&dir)
            .args([
                "-m",
                "mypy",
                "--strict",
                "--no-incremental",
                "odd_events.py",
                file,
            ])
            .output()
            .unwrap()
    };
    let good = mypy("good.py");
    assert!(
        good.status.success(),
        "{}{}\n{code}",
        stdout(&good),
        stderr(&good)
    );
    let bad = mypy("bad.py");
    let text = stdout(&bad);
    assert!(!bad.status.success());
    for needle in [
        "bad.py:3: error: Incompatible types (expression has type \"Literal[4]\"",
        "bad.py:3: error: Missing key \"city\"",
        "bad.py:4: error: Argument 1 to \"track\" of \"Tracker\" has incompatible type",
    ] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
}
