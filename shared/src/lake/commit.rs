//! The commit record of a compacted day, `lake/<table>/dt=<day>/_manifest.json`. Writing it
//! (conditionally) is the commit point: parts it does not list are not part of the lake, and raw
//! objects it lists are safe to delete.

use serde::{Deserialize, Serialize};

use super::error::{LakeError, Result};
use super::layout::Day;
use super::store::{ObjectStore, Precondition};
use super::table::Table;

/// Bumped when a reader of an older format could misread a newer one.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub table: String,
    pub date: String,
    /// 1 for the first commit of the day, one more for each later commit (late objects).
    pub generation: u64,
    pub committed_at: String,
    /// Every committed part of the day.
    pub parts: Vec<PartEntry>,
    pub rows: u64,
    /// Wrapping sum of the parts' checksums: the day's event-id checksum.
    pub checksum: String,
    /// Every raw object folded into the day, over all generations.
    pub inputs: Vec<InputEntry>,
    /// Raw objects that could not be read; left in place for inspection.
    pub unreadable: Vec<Unreadable>,
    /// `_rejected-*.jsonl` files: lines of readable objects that were not events.
    pub rejected_lines: Vec<String>,
    /// The report of each commit, oldest first.
    pub runs: Vec<RunReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartEntry {
    pub key: String,
    pub rows: u64,
    pub bytes: u64,
    pub checksum: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputEntry {
    pub key: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unreadable {
    pub key: String,
    pub size: u64,
    pub error: String,
}

/// What one run did to one day: the figures the manifest keeps and the metrics report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub generation: u64,
    pub run_id: String,
    pub objects_in: u64,
    /// Bytes of the raw objects as stored (compressed or not).
    pub bytes_in: u64,
    /// Bytes of NDJSON after decompression.
    pub uncompressed_bytes_in: u64,
    /// Lines that became rows.
    pub events_in: u64,
    /// Lines that were not events, kept in a `_rejected-*.jsonl` file.
    pub rejected_lines: u64,
    /// Raw objects that could not be read, left in place.
    pub unreadable_objects: u64,
    /// Copies of an event within this run.
    pub duplicates_dropped: u64,
    /// Events already in a part committed earlier for the day (late redeliveries).
    pub already_committed: u64,
    pub rows_out: u64,
    pub parts_out: u64,
    pub bytes_out: u64,
    pub duration_ms: u64,
    /// Of `duration_ms`: reading and partitioning the raw objects (and committed ids).
    #[serde(default)]
    pub read_ms: u64,
    /// Of `duration_ms`: dedup, sort and Parquet encoding.
    #[serde(default)]
    pub write_ms: u64,
    /// Received share of the `seq` range per `anonymous_id`, in percent; `None` without events.
    pub completeness_percent: Option<f64>,
    pub expected_events: u64,
    pub received_events: u64,
}

/// A day's commit record as read, with the ETag its next commit must match.
#[derive(Debug, Clone)]
pub struct Committed {
    pub manifest: Manifest,
    pub etag: String,
}

impl Manifest {
    /// The day's commit record, if the day has one.
    pub async fn load<S: ObjectStore>(
        store: &S,
        table: &Table,
        day: Day,
    ) -> Result<Option<Committed>> {
        let key = day.manifest_key(table);
        let Some((body, etag)) = store.get_small(&key).await? else {
            return Ok(None);
        };
        let manifest = serde_json::from_slice(&body).map_err(|e| LakeError::Storage {
            operation: "read manifest",
            key,
            source: Box::new(e),
        })?;
        Ok(Some(Committed { manifest, etag }))
    }

    /// Writes the record on the condition that the day's record is still `previous` (or that
    /// there is none): the commit point. Fails with [`LakeError::PreconditionFailed`] when
    /// another run committed first.
    pub async fn commit<S: ObjectStore>(
        &self,
        store: &S,
        table: &Table,
        day: Day,
        previous: Option<&Committed>,
    ) -> Result<()> {
        let key = day.manifest_key(table);
        let body = serde_json::to_vec_pretty(self).map_err(|e| LakeError::Storage {
            operation: "write manifest",
            key: key.clone(),
            source: Box::new(e),
        })?;
        let precondition = match previous {
            Some(c) => Precondition::Matches(c.etag.clone()),
            None => Precondition::Absent,
        };
        store.put_small(&key, body, Some(precondition)).await
    }
}
