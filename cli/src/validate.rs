//! `driftless validate`: NDJSON events checked offline by `driftless::event::check_event`, the very
//! function the ingest Lambda runs, with its default limits. A line may be an event as sent, a
//! stored lake record (server fields are ignored, as at ingest) or a quarantine record, whose
//! `raw` event is re-checked: after a schema fix, this tells which quarantined events now pass.

use std::path::Path;

use driftless::config::Limits;
use driftless::ingest::event::check_event;
use driftless::record::quarantine::{classify, LineKind};
use driftless::schema::Registry;
use serde_json::Value;

use crate::error::{CliError, Result};

#[derive(Debug, Default)]
pub struct Report {
    pub valid: usize,
    pub invalid: usize,
    /// `file:line: message` for every problem, in file order.
    pub problems: Vec<String>,
}

pub fn validate_file(registry: &Registry, path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    Ok(validate_text(registry, &path.display().to_string(), &text))
}

pub fn validate_text(registry: &Registry, file: &str, text: &str) -> Report {
    let limits = Limits::default();
    let mut report = Report::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = format!("{file}:{}", i + 1);
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                report.invalid += 1;
                report.problems.push(format!("{at}: not valid JSON: {e}"));
                continue;
            }
        };
        let (event, raw_len) = match classify(&value) {
            LineKind::Quarantined { raw } => (raw, raw.to_string().len()),
            LineKind::QuarantinedTruncated => {
                report.invalid += 1;
                report.problems.push(format!(
                    "{at}: quarantine record without its raw event (it was too large to keep whole)"
                ));
                continue;
            }
            LineKind::Event(event) => (event, line.len()),
        };
        match check_event(event, raw_len, registry, &limits) {
            Ok(()) => report.valid += 1,
            Err(rejection) => {
                report.invalid += 1;
                let id = event
                    .get("event_id")
                    .and_then(Value::as_str)
                    .map(|id| format!(" event {id}"))
                    .unwrap_or_default();
                for e in rejection.errors {
                    let pointer = if e.path.is_empty() { "/" } else { &e.path };
                    report.problems.push(format!(
                        "{at}:{id} ({}): {pointer}: {}",
                        rejection.reason.as_str(),
                        e.message
                    ));
                }
            }
        }
    }
    report
}
