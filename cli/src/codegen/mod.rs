//! `driftless codegen`: every file derived from `schema/`, generated deterministically (sorted
//! event types, schema property order, no timestamps) so that `--check` can compare bytes.

mod docs;
pub mod glue;
pub mod insights;
mod python;
pub mod sql;
mod typescript;

use std::path::Path;

use driftless::schema::Registry;

use crate::error::{CliError, Result};

/// One generated file: its path relative to the repository root and its full contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub path: &'static str,
    pub contents: String,
}

pub const TYPESCRIPT: &str = "sdk/src/events.generated.ts";
/// The Python client's typed events and `track` overloads.
pub const PYTHON: &str = "clients/python/src/driftless/events.py";
pub const DUCKDB: &str = "queries/duckdb/views.sql";
pub const ATHENA: &str = "queries/athena/views.sql";
/// The lake's Glue catalog (the events table and the typed views): the nested stack
/// `AthenaCatalog` of template.yaml.
pub const ATHENA_CATALOG: &str = "queries/athena/catalog.template.yaml";
pub const DOCS: &str = "docs/events.md";

/// Compiles `schema/` with the library's registry (the one the ingest function uses).
pub fn load(schema_dir: &Path) -> Result<Registry> {
    if !schema_dir.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is not a directory: run from the repository root or pass --root",
            schema_dir.display()
        )));
    }
    Ok(Registry::from_dir(schema_dir)?)
}

pub fn generate(registry: &Registry) -> Vec<Output> {
    let latest = registry.latest();
    let mut outputs = vec![
        Output {
            path: TYPESCRIPT,
            contents: typescript::generate(&latest),
        },
        Output {
            path: PYTHON,
            contents: python::generate(&latest),
        },
        Output {
            path: DUCKDB,
            contents: sql::duckdb(&latest),
        },
        Output {
            path: ATHENA,
            contents: sql::athena(&latest),
        },
        Output {
            path: ATHENA_CATALOG,
            contents: glue::generate(&latest),
        },
        Output {
            path: DOCS,
            contents: docs::generate(registry),
        },
    ];
    outputs.extend(insights::generate(&latest));
    outputs
}

/// Writes every output under `root`; returns the paths whose contents changed.
pub fn write(root: &Path, outputs: &[Output]) -> Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    for out in outputs {
        let path = root.join(out.path);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == out.contents) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
        }
        std::fs::write(&path, &out.contents).map_err(|e| CliError::io(&path, e))?;
        changed.push(out.path);
    }
    Ok(changed)
}

/// The outputs whose file under `root` is missing or differs.
pub fn stale(root: &Path, outputs: &[Output]) -> Result<Vec<&'static str>> {
    Ok(outputs
        .iter()
        .filter(|out| {
            std::fs::read_to_string(root.join(out.path)).map_or(true, |old| old != out.contents)
        })
        .map(|out| out.path)
        .collect())
}

/// `checkout_completed` -> `CheckoutCompleted`.
pub(crate) fn pascal_case(s: &str) -> String {
    s.split('_')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

pub(crate) fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use driftless::record::{Column, ColumnType, EVENT_COLUMNS};

    use super::*;

    #[test]
    fn a_change_to_the_column_table_alone_changes_parquet_views_and_glue_together() {
        let mut columns = EVENT_COLUMNS.to_vec();
        columns.insert(
            columns.len() - 1,
            Column {
                name: "plan_tier",
                ty: ColumnType::Utf8,
                required: false,
                dictionary: true,
                page_stats: true,
                source: "plan_tier",
                doc: "A column added for this test",
            },
        );
        let registry = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema")).unwrap();
        let latest = registry.latest();

        let parquet = driftless::lake::parquet::schema_of("events", &columns).unwrap();
        assert!(parquet.get_fields().iter().any(|f| f.name() == "plan_tier"));
        for sql in [
            sql::duckdb_with(&columns, &latest),
            sql::athena_with(&columns, &latest),
        ] {
            // One envelope column more in every typed view and its _all twin.
            assert_eq!(sql.matches("plan_tier").count(), 2 * latest.len(), "{sql}");
        }
        let glue = glue::generate_with(&columns, &latest);
        assert!(
            glue.contains("- { Name: \"plan_tier\", Type: string"),
            "the Glue table column"
        );
        // The view definitions and their Glue columns name it too.
        assert!(glue.matches("plan_tier").count() > 2 * latest.len());
        // And none of it without the change.
        for out in [sql::duckdb(&latest), glue::generate(&latest)] {
            assert!(!out.contains("plan_tier"));
        }
    }
}
