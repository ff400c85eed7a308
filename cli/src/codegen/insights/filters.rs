//! The day-range conditions the queries share. `dt` is the arrival day (a `YYYY-MM-DD` string),
//! `timestamp` the event time: an event arrives on its day or later (ingest clamps `timestamp` to
//! `received_at`), so event days `[from, to]` are read from `dt` in `[from, to + 1]`, which prunes
//! partitions and keeps events that arrived up to a day late.

use super::dialect::Engine;

/// Conditions (for a WHERE) on `events`-shaped rows: event day from `$from_day - days_before`
/// to `$to_day`, both included.
pub fn event_days(e: Engine, days_before: i32) -> String {
    let day = e.utc_day("\"timestamp\"");
    let from = if days_before == 0 {
        "$from_day".to_string()
    } else {
        e.add_days("$from_day", -days_before)
    };
    format!(
        "dt BETWEEN CAST({from} AS VARCHAR) AND CAST({to_next} AS VARCHAR)\n    \
         AND {day} BETWEEN {from} AND $to_day",
        to_next = e.add_days("$to_day", 1),
    )
}

/// Conditions on the arrival day `dt` alone, for the data-quality queries: what arrived from
/// `$from_day` to `$to_day`.
pub fn arrival_days() -> String {
    "dt BETWEEN CAST($from_day AS VARCHAR) AND CAST($to_day AS VARCHAR)".to_string()
}

/// The condition that keeps human traffic: ingest flags bots (`is_bot`, TRAFFIC rules of
/// shared/src/ingest), and rows written before it did have `is_bot` NULL, which count as humans.
/// `IS NOT TRUE` reads the same in DuckDB and Trino.
pub const HUMANS: &str = "is_bot IS NOT TRUE";
