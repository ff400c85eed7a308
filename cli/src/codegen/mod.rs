//! `driftless codegen`: every file derived from `schema/`, generated deterministically (sorted
//! event types, schema property order, no timestamps) so that `--check` can compare bytes.

mod docs;
mod glue;
pub mod insights;
mod sql;
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
pub const DUCKDB: &str = "queries/duckdb/views.sql";
pub const ATHENA: &str = "queries/athena/views.sql";
/// The Athena views as Glue tables: the nested stack `AthenaViews` of template.yaml.
pub const ATHENA_VIEWS: &str = "queries/athena/views.template.yaml";
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
            path: DUCKDB,
            contents: sql::duckdb(&latest),
        },
        Output {
            path: ATHENA,
            contents: sql::athena(&latest),
        },
        Output {
            path: ATHENA_VIEWS,
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
