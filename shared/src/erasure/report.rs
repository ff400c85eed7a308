//! What erasure reports: per table and day what was rewritten, what was deleted beside it, and
//! the verification; one [`ErasureRunReport`] per run of the job, kept in every request's
//! report object ([`RequestReport`], `erasure/reports/<id>.json`) as its proof.

use serde::{Deserialize, Serialize};

use super::request::{ErasureRequest, RequestStatus};

/// One table-day rewritten: one Delta commit that removes the files holding the people and
/// adds their other rows back (`dataChange=true`, operation `DELETE`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DayErasure {
    pub date: String,
    pub version: i64,
    pub rows_removed: u64,
    pub files_rewritten: u64,
    /// Bytes of the files removed (read and rewritten).
    pub bytes_rewritten: u64,
    pub files_added: u64,
    pub bytes_added: u64,
}

/// One table's erasure.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableErasure {
    pub table: String,
    pub days: Vec<DayErasure>,
    /// Data files the table holds (current version) when the job started.
    pub files_in_table: u64,
    /// Attempts (a concurrent commit or a late append makes the job go again).
    pub passes: u64,
    /// Files no current version lists that held the people (removed by the rewrite, or by an
    /// earlier optimize and kept for readers of older versions), deleted with their indexes.
    pub stale_files_deleted: u64,
    /// Noncurrent object versions deleted (versioned buckets).
    pub versions_purged: u64,
    /// Verification: rows of the people in the table's current version after the job.
    pub rows_remaining: u64,
}

impl TableErasure {
    pub fn rows_removed(&self) -> u64 {
        self.days.iter().map(|d| d.rows_removed).sum()
    }

    pub fn bytes_rewritten(&self) -> u64 {
        self.days.iter().map(|d| d.bytes_rewritten).sum()
    }
}

/// Raw objects and rejected lines.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RawErasure {
    /// Raw objects still waiting for compaction, read through.
    pub objects_scanned: u64,
    /// Verification: of those, the ones that hold an id (0 once compaction took them all).
    pub objects_holding: u64,
    /// Lines kept under `rejected/` (not events at all) that named an id, removed.
    pub rejected_lines_removed: u64,
    pub versions_purged: u64,
}

/// One run of the erasure job over the open requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErasureRunReport {
    pub at: String,
    /// The requests this run applied (together, in one rewrite per table and day).
    pub requests: Vec<String>,
    /// Anonymous ids found linked to an erased user id (counted; the request lists them).
    pub linked_anonymous_ids: u64,
    pub tables: Vec<TableErasure>,
    pub raw: RawErasure,
    /// Every table reads back with no row of the people and no raw object holds them.
    pub verified: bool,
    /// Requests marked done by this run.
    pub done: Vec<String>,
    pub duration_ms: u64,
    /// Age in days of the oldest request still open after this run (0: none).
    pub oldest_open_days: i64,
    /// Open requests older than the alarm threshold.
    pub overdue: Vec<String>,
}

impl ErasureRunReport {
    pub fn rows_removed(&self) -> u64 {
        self.tables.iter().map(TableErasure::rows_removed).sum()
    }

    pub fn bytes_rewritten(&self) -> u64 {
        self.tables.iter().map(TableErasure::bytes_rewritten).sum()
    }
}

/// The report object of one request: who asked and when, and every run that worked on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestReport {
    pub request: String,
    pub requested_at: String,
    pub requested_by: String,
    pub status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<String>,
    pub runs: Vec<ErasureRunReport>,
}

impl RequestReport {
    pub fn new(request: &ErasureRequest) -> RequestReport {
        RequestReport {
            request: request.id.clone(),
            requested_at: request.requested_at.clone(),
            requested_by: request.requested_by.clone(),
            status: request.status,
            done_at: request.done_at.clone(),
            runs: Vec::new(),
        }
    }
}
