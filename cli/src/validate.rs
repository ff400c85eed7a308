//! `driftless validate`: NDJSON events checked offline by `driftless::ingest::event::check_event`, the very
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
        match check_line(registry, &limits, line) {
            LineVerdict::Blank => {}
            LineVerdict::Valid(_) => report.valid += 1,
            LineVerdict::Invalid(problems) => {
                report.invalid += 1;
                let at = format!("{file}:{}", i + 1);
                report
                    .problems
                    .extend(problems.into_iter().map(|p| format!("{at}{p}")));
            }
        }
    }
    report
}

/// What one NDJSON line holds, judged as ingest judges an event.
pub enum LineVerdict<'a> {
    /// Empty or whitespace: not an event, skipped.
    Blank,
    /// An event that passes, and its text as ingest should receive it: the line itself, or the
    /// raw event of a quarantine record.
    Valid(std::borrow::Cow<'a, str>),
    /// Why not, one entry per problem, each starting with `: ` or `:` and the event id, to
    /// follow a `file:line` prefix.
    Invalid(Vec<String>),
}

pub fn check_line<'a>(registry: &Registry, limits: &Limits, line: &'a str) -> LineVerdict<'a> {
    let line = line.trim();
    if line.is_empty() {
        return LineVerdict::Blank;
    }
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return LineVerdict::Invalid(vec![format!(": not valid JSON: {e}")]),
    };
    let (event, text) = match classify(&value) {
        LineKind::Quarantined { raw } => (raw, std::borrow::Cow::Owned(raw.to_string())),
        LineKind::QuarantinedTruncated => {
            return LineVerdict::Invalid(vec![
                ": quarantine record without its raw event (it was too large to keep whole)".into(),
            ])
        }
        LineKind::Event(event) => (event, std::borrow::Cow::Borrowed(line)),
    };
    match check_event(event, text.len(), registry, limits) {
        Ok(()) => LineVerdict::Valid(text),
        Err(rejection) => {
            let id = event
                .get("event_id")
                .and_then(Value::as_str)
                .map(|id| format!(" event {id}"))
                .unwrap_or_default();
            LineVerdict::Invalid(
                rejection
                    .errors
                    .into_iter()
                    .map(|e| {
                        let pointer = if e.path.is_empty() { "/" } else { &e.path };
                        format!(
                            ":{id} ({}): {pointer}: {}",
                            rejection.reason.as_str(),
                            e.message
                        )
                    })
                    .collect(),
            )
        }
    }
}
