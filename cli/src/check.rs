//! `driftless schema check`: every schema compiles under the supported subset, follows the naming
//! conventions, and consecutive versions of one event type obey SchemaVer.
//!
//! Compilation is the library's own (`Registry::from_sources`), one file at a time, so the check
//! accepts exactly what the ingest function accepts and reports every broken file, not just the first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use driftless::schema::{EventSchema, JsonType, Node, Registry, SchemaError, SchemaVer};

use crate::error::{CliError, Result};

/// The columns every typed view carries from the lake: the events table's envelope columns
/// (`driftless::record`) and its partition column. A property with one of these names would clash.
pub fn envelope_columns() -> Vec<&'static str> {
    crate::codegen::sql::envelope(driftless::record::EVENT_COLUMNS)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The lake tables' partition column: the arrival day, `YYYY-MM-DD`.
pub const PARTITION_COLUMN: &str = "dt";

/// One broken rule, located by file and JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub file: String,
    pub pointer: String,
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(
            f,
            "schema/{}: {}: [{}] {}",
            self.file, pointer, self.rule, self.message
        )
    }
}

fn problem(file: &str, pointer: impl Into<String>, rule: &'static str, message: String) -> Problem {
    Problem {
        file: file.to_string(),
        pointer: pointer.into(),
        rule,
        message,
    }
}

/// Checks `dir` (the `schema/` directory); an empty result means every rule holds.
pub fn check_dir(dir: &Path) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let mut compiled: BTreeMap<String, Vec<EventSchema>> = BTreeMap::new();
    let mut entries = read_dir_sorted(dir)?;
    if !entries
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == "envelope.json"))
    {
        problems.push(problem(
            "envelope.json",
            "",
            "layout",
            "is missing: every event's envelope is described by schema/envelope.json".into(),
        ));
    }
    for path in entries.drain(..) {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            for file in read_dir_sorted(&path)? {
                let file_name = file.file_name().unwrap_or_default().to_string_lossy();
                let rel = format!("{name}/{file_name}");
                if file.is_dir() || !file_name.ends_with(".json") {
                    problems.push(problem(
                        &rel,
                        "",
                        "layout",
                        "only <MODEL-REVISION-ADDITION>.json files belong in an event type's directory".into(),
                    ));
                    continue;
                }
                let text = std::fs::read_to_string(&file).map_err(|e| CliError::io(&file, e))?;
                match compile_one(&rel, &text) {
                    Ok(schema) => {
                        conventions(&schema, &mut problems);
                        compiled
                            .entry(schema.event_type.clone())
                            .or_default()
                            .push(schema);
                    }
                    Err(p) => problems.push(p),
                }
            }
        } else if name == "envelope.json" {
            let text = std::fs::read_to_string(&path).map_err(|e| CliError::io(&path, e))?;
            // The envelope compiles under the same subset; passing it as a pseudo event type reuses
            // the library's compiler unchanged (its `$id` is `driftless:envelope/1-0-0`).
            if let Err(mut p) = compile_one("envelope/1-0-0.json", &text) {
                p.file = "envelope.json".into();
                problems.push(p);
            }
        } else {
            problems.push(problem(
                &name,
                "",
                "layout",
                "unexpected file: schemas live at schema/<event_type>/<MODEL-REVISION-ADDITION>.json".into(),
            ));
        }
    }
    for versions in compiled.values_mut() {
        versions.sort_by_key(|s| s.version);
        sequence(versions, &mut problems);
        for pair in versions.windows(2) {
            compatibility(&pair[0], &pair[1], &mut problems);
        }
    }
    Ok(problems)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| CliError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    Ok(paths)
}

fn compile_one(rel: &str, text: &str) -> Result<EventSchema, Problem> {
    let registry = Registry::from_sources([(rel.to_string(), text.to_string())]).map_err(
        |SchemaError {
             file,
             pointer,
             message,
         }| {
            let rule = if message.contains("not valid JSON") {
                "json"
            } else if pointer.is_empty() || pointer == "/$id" || message.contains("snake_case") {
                "naming"
            } else {
                "subset"
            };
            problem(&file, pointer, rule, message)
        },
    )?;
    let schema = registry
        .latest()
        .into_iter()
        .next()
        .cloned()
        .ok_or_else(|| problem(rel, "", "subset", "compiled to nothing".into()))?;
    Ok(schema)
}

/// Rules the validator does not need but the generated code and the tracking plan do.
fn conventions(schema: &EventSchema, problems: &mut Vec<Problem>) {
    let file = &schema.file;
    if schema.root.description.as_deref().is_none_or(str::is_empty) {
        problems.push(problem(
            file,
            "/description",
            "naming",
            "every event type needs a description: it heads its section of docs/events.md".into(),
        ));
    }
    for (name, node) in &schema.root.properties {
        let pointer = format!("/properties/{name}");
        if !driftless::schema::is_event_type_name(name) {
            problems.push(problem(
                file,
                &pointer,
                "naming",
                format!("property {name:?} must be snake_case (a-z, 0-9, _; starting with a letter): it becomes a column of the typed views"),
            ));
        }
        if envelope_columns().contains(&name.as_str()) {
            problems.push(problem(
                file,
                &pointer,
                "naming",
                format!("property {name:?} clashes with the envelope column of the same name in the typed views; rename it"),
            ));
        }
        describe_all(file, &pointer, node, problems);
    }
}

fn describe_all(file: &str, pointer: &str, node: &Node, problems: &mut Vec<Problem>) {
    if node.description.as_deref().is_none_or(str::is_empty) {
        problems.push(problem(
            file,
            pointer,
            "naming",
            "every property needs a description: the SDK's types and docs/events.md show it".into(),
        ));
    }
    for (name, child) in &node.properties {
        describe_all(
            file,
            &format!("{pointer}/properties/{name}"),
            child,
            problems,
        );
    }
    if let Some(items) = &node.items {
        // Array items are described by their array; only their own properties need descriptions.
        for (name, child) in &items.properties {
            describe_all(
                file,
                &format!("{pointer}/items/properties/{name}"),
                child,
                problems,
            );
        }
    }
}

/// Versions of one event type start at 1-0-0 and each one is the next MODEL, REVISION or ADDITION.
fn sequence(versions: &[EventSchema], problems: &mut Vec<Problem>) {
    let Some(first) = versions.first() else {
        return;
    };
    if first.version
        != (SchemaVer {
            model: 1,
            revision: 0,
            addition: 0,
        })
    {
        problems.push(problem(
            &first.file,
            "",
            "schemaver-sequence",
            format!(
                "the first version of {} must be 1-0-0, got {}",
                first.event_type, first.version
            ),
        ));
    }
    for pair in versions.windows(2) {
        let (a, b) = (pair[0].version, pair[1].version);
        let next = [
            SchemaVer {
                addition: a.addition + 1,
                ..a
            },
            SchemaVer {
                revision: a.revision + 1,
                addition: 0,
                ..a
            },
            SchemaVer {
                model: a.model + 1,
                revision: 0,
                addition: 0,
            },
        ];
        if !next.contains(&b) {
            problems.push(problem(
                &pair[1].file,
                "",
                "schemaver-sequence",
                format!(
                    "{b} does not follow {a}: the next version is one of {}, {} or {}",
                    next[0], next[1], next[2]
                ),
            ));
        }
    }
}

/// Within one MODEL, data valid under the older version must stay valid: no property may be
/// removed, retyped or newly required, and an ADDITION may not drop enum values.
fn compatibility(old: &EventSchema, new: &EventSchema, problems: &mut Vec<Problem>) {
    if old.version.model != new.version.model {
        return;
    }
    let bump = SchemaVer {
        model: new.version.model + 1,
        revision: 0,
        addition: 0,
    };
    let ctx = Compat {
        file: &new.file,
        old: old.version,
        new: new.version,
        bump,
        is_addition: new.version.revision == old.version.revision,
    };
    ctx.compare("", &old.root, &new.root, problems);
}

struct Compat<'a> {
    file: &'a str,
    old: SchemaVer,
    new: SchemaVer,
    bump: SchemaVer,
    is_addition: bool,
}

impl Compat<'_> {
    fn compare(&self, pointer: &str, old: &Node, new: &Node, problems: &mut Vec<Problem>) {
        let (o, n, bump) = (self.old, self.new, self.bump);
        if sorted(&old.types) != sorted(&new.types) {
            problems.push(problem(
                self.file,
                if pointer.is_empty() { "/type" } else { pointer },
                "schemaver-retype",
                format!(
                    "type changed from {} in {o} to {} in {n}: retyping needs a new MODEL ({bump})",
                    type_names(&old.types),
                    type_names(&new.types)
                ),
            ));
            return;
        }
        if self.is_addition {
            if let (Some(old_enum), Some(new_enum)) = (&old.enumeration, &new.enumeration) {
                for v in old_enum.iter().filter(|v| !new_enum.contains(v)) {
                    problems.push(problem(
                        self.file,
                        format!("{pointer}/enum"),
                        "schemaver-enum",
                        format!("enum value {v} of {o} is gone in {n}: an ADDITION may not remove enum values; bump the REVISION or the MODEL ({bump})"),
                    ));
                }
            }
        }
        for (name, old_child) in &old.properties {
            let child_ptr = format!("{pointer}/properties/{name}");
            match new.properties.iter().find(|(n, _)| n == name) {
                None => problems.push(problem(
                    self.file,
                    &child_ptr,
                    "schemaver-remove",
                    format!("property {name:?} of {o} is missing in {n}: removing a property needs a new MODEL ({bump})"),
                )),
                Some((_, new_child)) => self.compare(&child_ptr, old_child, new_child, problems),
            }
        }
        for name in new.required.iter().filter(|r| !old.required.contains(r)) {
            problems.push(problem(
                self.file,
                format!("{pointer}/required"),
                "schemaver-require",
                format!("property {name:?} is required in {n} but was not in {o}: older events lack it, so requiring it needs a new MODEL ({bump})"),
            ));
        }
        if let (Some(old_items), Some(new_items)) = (&old.items, &new.items) {
            self.compare(&format!("{pointer}/items"), old_items, new_items, problems);
        }
    }
}

fn sorted(types: &[JsonType]) -> Vec<JsonType> {
    let mut t = types.to_vec();
    t.sort();
    t
}

fn type_names(types: &[JsonType]) -> String {
    types.iter().map(|t| t.name()).collect::<Vec<_>>().join("|")
}
