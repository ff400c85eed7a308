//! Replay: after a schema fix, re-validate the quarantined events of some days with the current
//! schemas and forward the ones that now pass to the events stream. Nothing is removed from
//! quarantine; a replayed event that reaches the lake twice (replayed twice, or also delivered by
//! a client retry) is deduplicated there by its `event_id`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::config::CompactConfig;
use crate::config::IngestConfig;
use crate::ingest::enrich::RequestContext;
use crate::ingest::event::check_event;
use crate::ingest::firehose::{deliver, RecordPacker, RecordSink, RetryPolicy};
use crate::lake::delta::LakeTable;
use crate::lake::parquet::read_rows;
use crate::lake::raw::open_ndjson;
use crate::lake::store::ObjectStore;
use crate::lake::{Day, LakeError, Result, QUARANTINE};
use crate::record::cells::{OwnedRow, RowRef};
use crate::record::event::Traffic;
use crate::record::quarantine::QuarantinedEvent;
use crate::record::QUARANTINE_COLUMNS;
use crate::schema::Registry;
use crate::timestamp::format_rfc3339;

/// Events forwarded per delivery: a few Firehose calls' worth, so memory stays small.
const LINES_PER_DELIVERY: usize = 5_000;

/// What replay did with one day's quarantine.
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

/// Re-validates and forwards quarantined events, as a builder over its collaborators.
pub struct Replayer<'a, S> {
    pub registry: &'a Registry,
    pub config: &'a IngestConfig,
    pub sink: &'a S,
    pub stream: &'a str,
    /// Count what would be forwarded; send nothing.
    pub dry_run: bool,
}

impl<S: RecordSink> Replayer<'_, S> {
    fn check(&self, row: RowRef<'_>, packer: &mut RecordPacker, report: &mut DayReplay) {
        report.read += 1;
        let Some(q) = QuarantinedEvent::from_row(&row) else {
            report.not_replayable += 1;
            return;
        };
        let Some(Ok(event)) = q.raw.map(serde_json::from_slice::<Value>) else {
            report.not_replayable += 1;
            return;
        };
        let raw_len = q.raw.map_or(0, <[u8]>::len);
        match check_event(&event, raw_len, self.registry, &self.config.limits) {
            Ok(()) => {
                let Value::Object(map) = &event else { return };
                // The event keeps the request it came in: its receive time, user agent, source
                // and the address as the IP policy already stored it. What was derived from the
                // request and not kept in quarantine (user-agent fields, bot verdict, geography)
                // stays unknown rather than guessed.
                let sent_at_raw = format_rfc3339(q.sent_at);
                let traffic = Traffic {
                    source: q.source,
                    ..Traffic::default()
                }
                .encode();
                let ctx = RequestContext {
                    received_at: q.received_at,
                    sent_at: q.sent_at,
                    sent_at_raw: &sent_at_raw,
                    ip: q.ip.map(str::to_string),
                    user_agent: q.user_agent,
                    max_event_age_ms: self.config.max_event_age.as_millis() as i64,
                    traffic,
                };
                let mut line = Vec::with_capacity(raw_len + 256);
                crate::record::event::write(&mut line, map, &ctx.server_fields(map));
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
        .await
        .map_err(|e| LakeError::Forward {
            stream: self.stream.to_string(),
            source: Box::new(e),
        })?;
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

    /// Replays `day`: the quarantine table's files of the day, then its raw quarantine objects
    /// that compaction has not taken yet. (A raw object a commit covers but that is not
    /// deleted yet is read twice; the events it forwards twice are deduplicated in the lake.)
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
        let table = LakeTable::open(
            &store.table_location(&QUARANTINE)?,
            &QUARANTINE,
            &CompactConfig::default().table_settings(),
        )
        .await?;
        std::fs::create_dir_all(scratch).map_err(|e| LakeError::io(scratch.display(), e))?;
        let local = scratch.join("replay.tmp");
        for file in table.files()?.into_iter().filter(|f| f.day == Some(day)) {
            let path = store
                .fetch(&format!("lake/{}/{}", QUARANTINE.name, file.path), &local)
                .await?;
            read_rows(&path, &QUARANTINE, |row| {
                self.check(row, &mut packer, &mut report)
            })?;
            self.flush(&mut packer, false).await?;
        }
        let mut row = OwnedRow::default();
        for object in store.list(&day.raw_prefix(&QUARANTINE)).await? {
            let path = store.fetch(&object.key, &local).await?;
            let io = |e| LakeError::io(path.display(), e);
            let mut lines = open_ndjson(&path).map_err(io)?;
            while let Some(text) = lines.next_line().map_err(io)? {
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match row.fill(QUARANTINE_COLUMNS.len(), |buf| {
                    QUARANTINE.parse_line(text, buf)
                }) {
                    Ok(parsed) => self.check(parsed, &mut packer, &mut report),
                    Err(_) => {
                        report.read += 1;
                        report.not_replayable += 1;
                    }
                }
            }
            self.flush(&mut packer, false).await?;
        }
        let _ = std::fs::remove_file(&local);
        self.flush(&mut packer, true).await?;
        Ok(report)
    }
}
