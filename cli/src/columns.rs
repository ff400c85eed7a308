//! `driftless columns`: the lake tables' columns as `driftless::record` defines them, for people
//! (a table) and for tools in other languages (JSON), so that nothing has to copy the list.

use driftless::lake::{Table, TABLES};
use driftless::record::{Column, ColumnType};
use serde_json::{json, Value};

use crate::check::PARTITION_COLUMN;

fn type_name(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Utf8 => "string",
        ColumnType::Json => "json",
        ColumnType::Timestamp => "timestamp",
        ColumnType::Int64 => "int64",
        ColumnType::Int32 => "int32",
        ColumnType::Boolean => "boolean",
    }
}

fn column_json(c: &Column) -> Value {
    json!({
        "name": c.name,
        "type": type_name(c.ty),
        "hive": c.ty.hive(),
        "required": c.required,
        "source": c.source,
        "doc": c.doc,
    })
}

/// `{"partition": "dt", "tables": {"events": [...], "quarantine": [...]}}`.
pub fn to_json() -> Value {
    let tables: serde_json::Map<String, Value> = TABLES
        .iter()
        .map(|t| {
            (
                t.name.to_string(),
                Value::Array(t.columns.iter().map(column_json).collect()),
            )
        })
        .collect();
    json!({"partition": PARTITION_COLUMN, "tables": tables})
}

/// One block per table: name, type, null or not, what it holds.
pub fn to_text() -> String {
    let mut out = String::new();
    for t in TABLES {
        write_table(&mut out, t);
    }
    out
}

fn write_table(out: &mut String, table: &Table) {
    out.push_str(&format!(
        "{} (partitioned by {PARTITION_COLUMN})\n",
        table.name
    ));
    let width = table
        .columns
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    for c in table.columns {
        out.push_str(&format!(
            "  {:width$}  {:9}  {:8}  {}\n",
            c.name,
            type_name(c.ty),
            if c.required { "not null" } else { "null" },
            c.doc
        ));
    }
    out.push('\n');
}
