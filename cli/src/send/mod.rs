//! `driftless send FILE`: a backfill. Every line of an NDJSON file is first checked offline with
//! the ingest function's own validator (as `driftless validate` does); then the valid events are
//! posted in the wire format, in batches by count and bytes, gzip-compressed, several requests
//! at a time, with the clients' retries: 429, 5xx, timeouts and network errors are retried with
//! full jitter or the server's `Retry-After`, with the same event ids (the lake drops
//! duplicates); a rejected event is never resent.

pub mod http;
pub mod progress;
pub mod retry;

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use driftless::config::Limits;
use driftless::schema::Registry;
use driftless::timestamp::format_rfc3339;
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::error::{CliError, Result};
use crate::validate::{check_line, LineVerdict};
use http::{Answer, Endpoint, TransportError};
use progress::{thousands, Bar, Progress};
use retry::{DelaySource, RetryPolicy};

/// The endpoint's own limits (docs/wire-format.md): 500 events and 1 MiB of body per request.
pub const MAX_EVENTS_PER_REQUEST: usize = 500;
pub const MAX_BODY_BYTES: usize = 1_048_576;
/// `{"sent_at":"<24 chars>","events":[` and `]}`.
const ENVELOPE_BYTES: usize = 50;

#[derive(Debug, Clone)]
pub struct SendOptions {
    pub endpoint: String,
    /// The source key, sent as `X-Driftless-Key`; none for a keyless endpoint.
    pub key: Option<String>,
    /// Events per request, 1 to 500.
    pub batch_size: usize,
    /// Uncompressed body bytes per request, 1,024 to 1,048,576.
    pub max_batch_bytes: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub timeout: Duration,
    pub gzip: bool,
    pub retry: RetryPolicy,
    /// Send the valid events of a file that has invalid lines (they are reported, not sent).
    pub skip_invalid: bool,
}

impl SendOptions {
    pub fn check(&self) -> Result<()> {
        let ranges = [
            ("--batch-size", self.batch_size, 1, MAX_EVENTS_PER_REQUEST),
            (
                "--max-batch-bytes",
                self.max_batch_bytes,
                1024,
                MAX_BODY_BYTES,
            ),
            ("--concurrency", self.concurrency, 1, 64),
            ("--max-attempts", self.retry.max_attempts as usize, 1, 100),
        ];
        for (flag, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                return Err(CliError::Usage(format!(
                    "{flag} must be {low} to {high}, got {value}"
                )));
            }
        }
        Ok(())
    }
}

/// One line of the file that did not get into the pipeline's events, and why:
/// `file:line: message`, in the format of `driftless validate`.
pub type Problem = String;

#[derive(Debug, Default)]
pub struct Summary {
    pub file: String,
    /// Events in the file (lines that are not blank).
    pub events: u64,
    /// Lines that failed the offline check.
    pub invalid: Vec<Problem>,
    pub invalid_lines: u64,
    /// False when invalid lines stopped the run before anything was sent.
    pub sent: bool,
    pub accepted: u64,
    /// Events the endpoint rejected (each with its problems), never resent.
    pub rejected: Vec<Problem>,
    pub rejected_events: u64,
    /// Batches given up after the last attempt: `file:lines: ...`.
    pub failed: Vec<Problem>,
    pub failed_events: u64,
    /// The status and message of an answer no retry can change (400, 401, 403, 415, ...), which
    /// stopped the run.
    pub refused: Option<String>,
    /// Valid events not sent because the run stopped.
    pub not_sent: u64,
    /// Requests sent again, and how many of their waits came from `Retry-After`.
    pub retries: u64,
    pub retry_after_waits: u64,
}

impl Summary {
    /// Every event of the file is in the pipeline's events stream.
    pub fn complete(&self) -> bool {
        self.sent && self.accepted == self.events
    }

    /// Problems for stdout, in file order within each kind.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.invalid
            .iter()
            .chain(&self.rejected)
            .chain(&self.failed)
    }

    /// The summary for stderr: counts, then what to fix.
    pub fn render(&self) -> String {
        let mut out = format!("send: {}: {} event(s)\n", self.file, thousands(self.events));
        if !self.sent {
            let valid = self.events - self.invalid_lines;
            let _ = writeln!(
                out,
                "  invalid   {:>9}  lines fail the offline check (listed above): nothing was sent\n\
                 what to fix:\n  - fix those lines and run again, or pass --skip-invalid to send the {} valid event(s)",
                thousands(self.invalid_lines),
                thousands(valid)
            );
            return out;
        }
        let rows = [
            ("accepted", self.accepted, "by the endpoint"),
            (
                "rejected",
                self.rejected_events,
                "by the endpoint, not resent (listed above; kept in its quarantine)",
            ),
            (
                "invalid",
                self.invalid_lines,
                "lines fail the offline check, not sent (listed above)",
            ),
            (
                "failed",
                self.failed_events,
                "given up after the last attempt (listed above)",
            ),
            (
                "not sent",
                self.not_sent,
                "the run stopped before sending them",
            ),
            (
                "retried",
                self.retries,
                "requests sent again after 429, 5xx, a timeout or a network error",
            ),
        ];
        for (label, n, what) in rows {
            if n > 0 || label == "accepted" {
                let _ = writeln!(out, "  {label:<9} {:>9}  {what}", thousands(n));
            }
        }
        let mut fixes = Vec::new();
        if let Some(refused) = &self.refused {
            fixes.push(format!(
                "the endpoint answered {refused}, which no retry changes: check --endpoint (or DRIFTLESS_ENDPOINT), --key (or DRIFTLESS_KEY) for a 401, and the request it expects, then run again"
            ));
        }
        if self.invalid_lines > 0 {
            fixes.push(
                "fix the invalid lines (`driftless validate` lists them) and send those again"
                    .into(),
            );
        }
        if self.rejected_events > 0 {
            fixes.push(
                "the endpoint rejected events that pass offline: its schemas or limits differ from schema/ here; \
                 deploy the current schema (or fix the events) and send them again"
                    .into(),
            );
        }
        if self.failed_events > 0 || self.not_sent > 0 {
            fixes.push(
                "run the same command again later: events already accepted are sent again with the same \
                 event_id, and the lake keeps one copy of each (within an arrival day)"
                    .into(),
            );
        }
        if !fixes.is_empty() {
            out.push_str("what to fix:\n");
            for fix in fixes {
                let _ = writeln!(out, "  - {fix}");
            }
        }
        out
    }
}

/// The offline pass over the whole file: how many events, and the problems of the invalid ones.
pub fn check_file(registry: &Registry, path: &Path, summary: &mut Summary) -> Result<()> {
    let limits = Limits::default();
    for_each_line(path, |number, line| {
        let verdict = match line {
            Some(line) => check_line(registry, &limits, line),
            None => LineVerdict::Invalid(vec![": not UTF-8 text".into()]),
        };
        match verdict {
            LineVerdict::Blank => {}
            LineVerdict::Valid(_) => summary.events += 1,
            LineVerdict::Invalid(problems) => {
                summary.events += 1;
                summary.invalid_lines += 1;
                let at = format!("{}:{number}", summary.file);
                summary
                    .invalid
                    .extend(problems.into_iter().map(|p| format!("{at}{p}")));
            }
        }
    })
}

/// Checks `path` offline, then sends its valid events (all of them, or none when some lines are
/// invalid and `skip_invalid` is off).
pub fn send_file(registry: &Registry, path: &Path, options: &SendOptions) -> Result<Summary> {
    options.check()?;
    let mut summary = Summary {
        file: path.display().to_string(),
        ..Summary::default()
    };
    check_file(registry, path, &mut summary)?;
    if summary.invalid_lines > 0 && !options.skip_invalid {
        return Ok(summary);
    }
    summary.sent = true;
    let endpoint = Arc::new(Endpoint::new(
        &options.endpoint,
        options.timeout,
        options.gzip,
        options.key.as_deref(),
    )?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("tokio runtime", e))?;
    runtime.block_on(send_valid(registry, path, options, endpoint, &mut summary))?;
    summary.not_sent = summary.events
        - summary.invalid_lines
        - summary.accepted
        - summary.rejected_events
        - summary.failed_events;
    Ok(summary)
}

/// The events of one request, with the file line each came from.
#[derive(Default)]
struct Batch {
    lines: Vec<u64>,
    events: Vec<String>,
    bytes: usize,
}

impl Batch {
    fn fits(&self, event: &str, options: &SendOptions) -> bool {
        self.events.len() < options.batch_size
            // +1 for the comma before it.
            && self.bytes + event.len() < options.max_batch_bytes
    }

    fn push(&mut self, line: u64, event: String) {
        if self.events.is_empty() {
            self.bytes = ENVELOPE_BYTES;
        }
        self.bytes += event.len() + 1;
        self.lines.push(line);
        self.events.push(event);
    }

    fn split(self) -> (Batch, Batch) {
        let half = self.events.len() / 2;
        let mut first = Batch::default();
        let mut second = Batch::default();
        for (i, (line, event)) in self.lines.into_iter().zip(self.events).enumerate() {
            if i < half { &mut first } else { &mut second }.push(line, event);
        }
        (first, second)
    }

    /// `12` or `12-511`: the file lines of the batch, for messages.
    fn span(&self) -> String {
        match (self.lines.first(), self.lines.last()) {
            (Some(a), Some(b)) if a != b => format!("{a}-{b}"),
            (Some(a), _) => a.to_string(),
            _ => String::new(),
        }
    }

    fn body(&self) -> Vec<u8> {
        let sent_at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut body = Vec::with_capacity(self.bytes);
        body.extend_from_slice(b"{\"sent_at\":\"");
        body.extend_from_slice(format_rfc3339(sent_at).as_bytes());
        body.extend_from_slice(b"\",\"events\":[");
        for (i, event) in self.events.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(event.as_bytes());
        }
        body.extend_from_slice(b"]}");
        body
    }
}

/// What became of one batch (and the halves a 413 split it into).
#[derive(Default)]
struct Outcome {
    accepted: u64,
    rejected: Vec<Problem>,
    rejected_events: u64,
    failed: Vec<Problem>,
    failed_events: u64,
    refused: Option<String>,
    retries: u64,
    retry_after_waits: u64,
}

async fn send_valid(
    registry: &Registry,
    path: &Path,
    options: &SendOptions,
    endpoint: Arc<Endpoint>,
    summary: &mut Summary,
) -> Result<()> {
    let limits = Limits::default();
    let mut bar = Bar::for_stderr();
    let mut progress = Progress {
        total: summary.events - summary.invalid_lines,
        ..Progress::default()
    };
    let mut running: JoinSet<Outcome> = JoinSet::new();
    let mut batch = Batch::default();
    let file: Arc<str> = summary.file.clone().into();
    let mut stopped = false;
    // Lines are read from a blocking reader on this task: the file is local and a batch is
    // built far faster than it is sent, so the reads never hold up a request.
    let mut lines: Vec<(u64, Option<String>)> = Vec::new();
    let mut ready: Vec<Batch> = Vec::new();
    let mut reader = LineReader::open(path)?;
    loop {
        let more = reader.next_chunk(&mut lines, 4096)?;
        for (number, line) in lines.drain(..) {
            let Some(line) = line else { continue };
            if let LineVerdict::Valid(event) = check_line(registry, &limits, &line) {
                if !batch.events.is_empty() && !batch.fits(&event, options) {
                    ready.push(std::mem::take(&mut batch));
                }
                batch.push(number, event.into_owned());
            }
        }
        if !more && !batch.events.is_empty() {
            ready.push(std::mem::take(&mut batch));
        }
        for next in ready.drain(..) {
            while running.len() >= options.concurrency {
                if let Some(done) = running.join_next().await {
                    stopped |= record(done, summary, &mut progress, &mut bar);
                }
            }
            if stopped {
                break;
            }
            running.spawn(deliver(endpoint.clone(), options.retry, file.clone(), next));
        }
        if !more || stopped {
            break;
        }
    }
    while let Some(done) = running.join_next().await {
        record(done, summary, &mut progress, &mut bar);
    }
    bar.finish(&progress);
    Ok(())
}

/// Adds a finished batch to the summary; true when the run must stop (a refused request).
fn record(
    done: std::result::Result<Outcome, tokio::task::JoinError>,
    summary: &mut Summary,
    progress: &mut Progress,
    bar: &mut Bar,
) -> bool {
    let outcome = match done {
        Ok(outcome) => outcome,
        Err(e) => {
            summary.refused = Some(format!("an internal error ({e})"));
            return true;
        }
    };
    summary.accepted += outcome.accepted;
    summary.rejected_events += outcome.rejected_events;
    summary.rejected.extend(outcome.rejected);
    summary.failed_events += outcome.failed_events;
    summary.failed.extend(outcome.failed);
    summary.retries += outcome.retries;
    summary.retry_after_waits += outcome.retry_after_waits;
    progress.accepted = summary.accepted;
    progress.rejected = summary.rejected_events;
    progress.failed = summary.failed_events;
    progress.retries = summary.retries;
    bar.update(progress);
    match outcome.refused {
        Some(refused) => {
            summary.refused.get_or_insert(refused);
            true
        }
        None => false,
    }
}

/// The endpoint's `200` answer (docs/wire-format.md).
#[derive(Deserialize)]
struct Verdicts {
    #[serde(default)]
    rejected: Vec<RejectedEvent>,
}

#[derive(Deserialize)]
struct RejectedEvent {
    index: usize,
    event_id: Option<String>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    errors: Vec<RejectedField>,
}

#[derive(Deserialize)]
struct RejectedField {
    #[serde(default)]
    path: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Sends one batch until it is accepted, refused or out of attempts.
async fn deliver(
    endpoint: Arc<Endpoint>,
    policy: RetryPolicy,
    file: Arc<str>,
    batch: Batch,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut pending = vec![batch];
    while let Some(batch) = pending.pop() {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (cause, retry_after) = match endpoint.post(batch.body()).await {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    verdicts(&answer, &batch, &file, &mut outcome);
                    break;
                }
                Ok(answer) if answer.status == 413 && batch.events.len() > 1 => {
                    // The endpoint's limits are lower than these batches: halves may fit.
                    let (first, second) = batch.split();
                    pending.push(second);
                    pending.push(first);
                    break;
                }
                Ok(answer) => {
                    let cause = describe(&answer);
                    if answer.status != 429 && answer.status < 500 {
                        outcome.refused = Some(cause);
                        return outcome;
                    }
                    (cause, answer.retry_after)
                }
                Err(e @ (TransportError::Timeout(_) | TransportError::Connection(_))) => {
                    (e.to_string(), None)
                }
            };
            if attempt >= policy.max_attempts {
                outcome.failed_events += batch.events.len() as u64;
                outcome.failed.push(format!(
                    "{file}:{}: {} event(s) not delivered: gave up after {attempt} attempts; the last got {cause}",
                    batch.span(),
                    batch.events.len()
                ));
                break;
            }
            let (wait, source) = policy.delay(
                attempt,
                retry_after.as_deref(),
                SystemTime::now(),
                fastrand::f64(),
            );
            outcome.retries += 1;
            if source == DelaySource::RetryAfter {
                outcome.retry_after_waits += 1;
            }
            let from = match source {
                DelaySource::RetryAfter => "Retry-After",
                DelaySource::Backoff => "backoff",
            };
            eprintln!(
                "{}send: lines {}: {cause}; retrying in {:.1} s ({from}), attempt {} of {}",
                progress_clear(),
                batch.span(),
                wait.as_secs_f64(),
                attempt + 1,
                policy.max_attempts
            );
            tokio::time::sleep(wait).await;
        }
    }
    outcome
}

/// Clears the progress bar's line before a note, when there is a bar.
fn progress_clear() -> &'static str {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        "\r\x1b[2K"
    } else {
        ""
    }
}

fn describe(answer: &Answer) -> String {
    match serde_json::from_slice::<ErrorBody>(&answer.body) {
        Ok(body) => format!(
            "{} ({}: {})",
            answer.status, body.error.code, body.error.message
        ),
        Err(_) => answer.status.to_string(),
    }
}

fn verdicts(answer: &Answer, batch: &Batch, file: &str, outcome: &mut Outcome) {
    let rejected = match serde_json::from_slice::<Verdicts>(&answer.body) {
        Ok(v) => v.rejected,
        // The status says the batch was taken; without verdicts there is nothing to report.
        Err(_) => Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for r in rejected {
        let Some(line) = batch.lines.get(r.index) else {
            continue;
        };
        if !seen.insert(r.index) {
            continue;
        }
        let id = r
            .event_id
            .map(|id| format!(" event {id}"))
            .unwrap_or_default();
        if r.errors.is_empty() {
            outcome.rejected.push(format!(
                "{file}:{line}:{id} ({}): rejected by the endpoint",
                r.reason
            ));
        }
        for e in r.errors {
            let pointer = if e.path.is_empty() { "/" } else { &e.path };
            outcome.rejected.push(format!(
                "{file}:{line}:{id} ({}): {pointer}: {}",
                r.reason, e.message
            ));
        }
    }
    outcome.rejected_events += seen.len() as u64;
    outcome.accepted += batch.events.len() as u64 - seen.len() as u64;
}

/// Calls `each(line number, text)` for every line of `path` (`None`: the line is not UTF-8).
fn for_each_line(path: &Path, mut each: impl FnMut(u64, Option<&str>)) -> Result<()> {
    let mut reader = LineReader::open(path)?;
    let mut lines = Vec::new();
    loop {
        let more = reader.next_chunk(&mut lines, 4096)?;
        for (number, line) in lines.drain(..) {
            each(number, line.as_deref());
        }
        if !more {
            return Ok(());
        }
    }
}

/// Numbered lines of a file, read in chunks, so that a file of any size is held one chunk at a
/// time. A line that is not UTF-8 comes as `None`: it is reported, never "repaired".
struct LineReader {
    path: std::path::PathBuf,
    reader: std::io::BufReader<std::fs::File>,
    number: u64,
}

impl LineReader {
    fn open(path: &Path) -> Result<LineReader> {
        let file = std::fs::File::open(path).map_err(|e| CliError::io(path, e))?;
        Ok(LineReader {
            path: path.to_path_buf(),
            reader: std::io::BufReader::with_capacity(1 << 20, file),
            number: 0,
        })
    }

    /// Appends up to `n` lines to `out`; false at the end of the file.
    fn next_chunk(&mut self, out: &mut Vec<(u64, Option<String>)>, n: usize) -> Result<bool> {
        let mut buf = Vec::new();
        for _ in 0..n {
            buf.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| CliError::io(&self.path, e))?;
            if read == 0 {
                return Ok(false);
            }
            self.number += 1;
            out.push((
                self.number,
                String::from_utf8(std::mem::take(&mut buf)).ok(),
            ));
        }
        Ok(true)
    }
}
