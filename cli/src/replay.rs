//! `driftless replay`: after a schema fix, re-validate the quarantined events of a date range
//! with the current schemas and forward the ones that now pass to the events stream. Nothing is
//! removed from quarantine; a replayed event that reaches the lake twice (replayed twice, or
//! also delivered by a client retry) is deduplicated there by its `event_id`.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use driftless::compact::parquet_io::read_rows;
use driftless::compact::store::ObjectStore;
use driftless::compact::table::{Cell, RowRef};
use driftless::compact::{open_ndjson, Day, QUARANTINE};
use driftless::config::IngestConfig;
use driftless::event::{check_event, write_record, RequestContext};
use driftless::firehose::{deliver, RecordPacker, RecordSink, RetryPolicy};
use driftless::schema::Registry;
use driftless::timestamp::format_rfc3339;
use serde::Serialize;
use serde_json::Value;

use crate::{CliError, Result};

// Quarantine columns, in `QUARANTINE`'s order.
const RECEIVED_AT: usize = 1;
const SENT_AT: usize = 2;
const USER_AGENT: usize = 8;
const IP: usize = 9;
const RAW: usize = 10;

/// Events forwarded per delivery: a few Firehose calls' worth, so memory stays small.
const LINES_PER_DELIVERY: usize = 5_000;

#[derive(Debug, Default, Serialize)]
pub struct DayReplay {
    pub date: String,
    /// Quarantined events looked at: committed quarantine parts plus raw objects not yet compacted.
    pub read: u64,
    /// Valid now, sent to the events stream.
    pub forwarded: u64,
    /// Still rejected, per reason: they stay in quarantine.
    pub still_invalid: BTreeMap<String, u64>,
    /// Kept only truncated (too large to keep whole): they cannot be replayed.
    pub not_replayable: u64,
}

/// Re-validates and forwards one day's quarantine.
pub struct Replayer<'a, S> {
    pub registry: &'a Registry,
    pub config: &'a IngestConfig,
    pub sink: &'a S,
    pub stream: &'a str,
    pub dry_run: bool,
}

impl<S: RecordSink> Replayer<'_, S> {
    fn check(&self, row: RowRef<'_>, packer: &mut RecordPacker, report: &mut DayReplay) {
        report.read += 1;
        let Cell::Str(raw) = row.cell(RAW) else {
            report.not_replayable += 1;
            return;
        };
        let Ok(event) = serde_json::from_slice::<Value>(raw) else {
            report.not_replayable += 1;
            return;
        };
        let text = |c: usize| match row.cell(c) {
            Cell::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        };
        let Cell::Int(received_at) = row.cell(RECEIVED_AT) else {
            report.not_replayable += 1;
            return;
        };
        let sent_at = match row.cell(SENT_AT) {
            Cell::Int(t) => t,
            _ => received_at,
        };
        let sent_at_raw = format_rfc3339(sent_at);
        match check_event(&event, raw.len(), self.registry, &self.config.limits) {
            Ok(()) => {
                let Value::Object(map) = &event else { return };
                // The event keeps the request it came in: its receive time, user agent and the
                // address as the IP policy already stored it.
                let ctx = RequestContext {
                    received_at,
                    sent_at,
                    sent_at_raw: &sent_at_raw,
                    ip: text(IP).map(str::to_string),
                    user_agent: text(USER_AGENT),
                    max_event_age_ms: self.config.max_event_age.as_millis() as i64,
                };
                let mut line = Vec::with_capacity(raw.len() + 256);
                write_record(&mut line, map, &ctx);
                packer.push_line(&line);
                report.forwarded += 1;
            }
            Err(rejection) => {
                *report
                    .still_invalid
                    .entry(rejection.reason.as_str().to_string())
                    .or_default() += 1;
            }
        }
    }

    async fn flush(&self, packer: &mut RecordPacker, force: bool) -> Result<()> {
        if packer.lines() == 0 || (!force && packer.lines() < LINES_PER_DELIVERY) {
            return Ok(());
        }
        let records = std::mem::take(packer).finish();
        if self.dry_run {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        deliver(
            self.sink,
            self.stream,
            records,
            deadline,
            &RetryPolicy::default(),
        )
        .await?;
        Ok(())
    }

    /// Replays each day in turn.
    pub async fn replay_days<T: ObjectStore>(
        &self,
        store: &T,
        days: &[Day],
        scratch: &Path,
    ) -> Result<Vec<DayReplay>> {
        let mut reports = Vec::with_capacity(days.len());
        for &day in days {
            reports.push(self.replay_day(store, day, scratch).await?);
        }
        Ok(reports)
    }

    /// Replays `day`: its committed quarantine parts, then its raw quarantine objects that no
    /// manifest lists yet.
    async fn replay_day<T: ObjectStore>(
        &self,
        store: &T,
        day: Day,
        scratch: &Path,
    ) -> Result<DayReplay> {
        let mut report = DayReplay {
            date: day.to_string(),
            ..DayReplay::default()
        };
        let mut packer = RecordPacker::default();
        let lake = day.lake_prefix(&QUARANTINE);
        let manifest: Option<driftless::compact::manifest::Manifest> =
            match store.get_small(&format!("{lake}_manifest.json")).await? {
                Some((body, _)) => Some(serde_json::from_slice(&body).map_err(|e| {
                    CliError::Usage(format!("{lake}_manifest.json is not a manifest: {e}"))
                })?),
                None => None,
            };
        std::fs::create_dir_all(scratch).map_err(|e| CliError::io(scratch, e))?;
        let local = scratch.join("replay.tmp");
        for part in manifest.iter().flat_map(|m| m.parts.iter()) {
            let path = store.fetch(&part.key, &local).await?;
            read_rows(&path, &QUARANTINE, |row| {
                self.check(row, &mut packer, &mut report)
            })?;
            self.flush(&mut packer, false).await?;
        }
        let committed: std::collections::HashSet<&str> = manifest
            .iter()
            .flat_map(|m| m.inputs.iter().map(|i| i.key.as_str()))
            .collect();
        let mut row = Vec::new();
        let mut offsets = Vec::new();
        for object in store.list(&day.raw_prefix(&QUARANTINE)).await? {
            if committed.contains(object.key.as_str()) {
                continue;
            }
            let path = store.fetch(&object.key, &local).await?;
            let mut lines = open_ndjson(&path).map_err(|e| CliError::io(&path, e))?;
            let mut line = Vec::new();
            loop {
                line.clear();
                if lines
                    .read_until(b'\n', &mut line)
                    .map_err(|e| CliError::io(&path, e))?
                    == 0
                {
                    break;
                }
                row.clear();
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                if QUARANTINE.parse_line(text, &mut row).is_err() {
                    report.read += 1;
                    report.not_replayable += 1;
                    continue;
                }
                offsets.clear();
                driftless::compact::table::index_cells(
                    &row,
                    0,
                    QUARANTINE.columns.len(),
                    &mut offsets,
                );
                self.check(
                    RowRef {
                        buf: &row,
                        offsets: &offsets,
                    },
                    &mut packer,
                    &mut report,
                );
            }
            self.flush(&mut packer, false).await?;
        }
        let _ = std::fs::remove_file(&local);
        self.flush(&mut packer, true).await?;
        Ok(report)
    }
}
