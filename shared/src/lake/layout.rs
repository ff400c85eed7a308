//! The bucket's layout: days, prefixes and object names, in one place (docs/s3-layout.md).
//!
//! ```text
//! raw/<table>/YYYY/MM/DD/HH/<firehose object>              Firehose's arrival-time prefix
//! lake/<table>/_delta_log/                                 the table's transaction log (delta-rs)
//! lake/<table>/dt=YYYY-MM-DD/part-r<run>-<id>-<day>-<n>.parquet   an append's files
//! lake/<table>/dt=YYYY-MM-DD/part-o-<id>-<day>-<n>.parquet        an optimize's files
//! lake/<table>/dt=YYYY-MM-DD/part-e-<id>-<day>-<n>.parquet        an erasure's rewrite
//! lake/<table>/_index/dt=YYYY-MM-DD/<file stem>.idx        each data file's index
//! lake/<table>/_driftless_vacuum.json                      when the table was last vacuumed
//! rejected/<table>/YYYY/MM/DD/HH/<object>.jsonl            lines of a raw object that were not records
//! unreadable/raw/<table>/...                               raw objects that could not be read
//! erasure/requests/<id>.json                               an erasure request
//! erasure/reports/<id>.json                                what an erasure did
//! erasure/links/<time>-<run>.json                          user id / anonymous id pairs found in erased raw rows
//! ```

use std::fmt;
use std::time::Duration;

use super::error::{LakeError, Result};
use super::table::Table;
use crate::timestamp::{civil_from_days, days_from_civil, EpochMillis};

const DAY_MS: i64 = 86_400_000;

/// Erasure requests, one object each (`erasure::request`).
pub const REQUESTS_PREFIX: &str = "erasure/requests/";
/// What each erasure did, one report per request.
pub const REPORTS_PREFIX: &str = "erasure/reports/";
/// The links compaction found between an erased user id and an anonymous id in raw events.
pub const LINKS_PREFIX: &str = "erasure/links/";

/// A UTC calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Day> {
        let bad = || LakeError::InvalidRequest(format!("{s:?} is not a date: use YYYY-MM-DD"));
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().map_err(|_| bad());
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let day = Day(days_from_civil(y, m, d));
        // Round-trip: rejects month 13, February 30 and the like.
        if day.ymd() != (y, m, d) {
            return Err(bad());
        }
        Ok(day)
    }

    pub fn from_millis(ms: EpochMillis) -> Day {
        Day(ms.div_euclid(DAY_MS))
    }

    /// The day's first millisecond.
    pub fn start_millis(self) -> EpochMillis {
        self.0 * DAY_MS
    }

    fn ymd(self) -> (i64, i64, i64) {
        civil_from_days(self.0)
    }

    pub fn next(self) -> Day {
        Day(self.0 + 1)
    }

    pub fn previous(self) -> Day {
        Day(self.0 - 1)
    }

    pub fn days_until(self, later: Day) -> i64 {
        later.0 - self.0
    }

    /// The days from `from` to `to`, both included.
    pub fn range(from: Day, to: Day) -> Result<Vec<Day>> {
        if to < from {
            return Err(LakeError::InvalidRequest(format!(
                "the range ends ({to}) before it starts ({from})"
            )));
        }
        Ok((from.0..=to.0).map(Day).collect())
    }

    /// Firehose's arrival-time prefix of the day: `raw/<table>/YYYY/MM/DD/`.
    pub fn raw_prefix(self, table: &Table) -> String {
        let (y, m, d) = self.ymd();
        format!("{}{y:04}/{m:02}/{d:02}/", raw_prefix(table))
    }

    /// The day's partition of a lake table: `lake/<table>/dt=YYYY-MM-DD/`.
    pub fn lake_prefix(self, table: &Table) -> String {
        format!("lake/{}/dt={self}/", table.name)
    }

    /// The day of a raw day prefix `raw/<table>/YYYY/MM/DD/`, if it is one.
    pub fn of_raw_dir(prefix: &str) -> Option<Day> {
        let parts: Vec<&str> = prefix.trim_end_matches('/').rsplit('/').take(3).collect();
        match parts[..] {
            [d, m, y] => Day::parse(&format!("{y}-{m}-{d}")).ok(),
            _ => None,
        }
    }

    /// A day is closed once Firehose can no longer deliver objects under its prefix: its end
    /// plus the buffer interval and a margin (`close_after`).
    pub fn is_closed(self, now: EpochMillis, close_after: Duration) -> bool {
        (self.0 + 1) * DAY_MS + close_after.as_millis() as i64 <= now
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Where Firehose writes a table's raw objects: `raw/<table>/`.
pub fn raw_prefix(table: &Table) -> String {
    format!("raw/{}/", table.name)
}

/// A run's id: in its part names, so the parts of two runs never collide.
pub fn new_run_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}

/// The stem of the files an append run writes for a day (`-0000.parquet` and so on follow):
/// the run number orders them, the run id keeps two racing runs' files apart.
pub fn append_stem(run: i64, run_id: &str, day: Day) -> String {
    format!("part-r{run:06}-{run_id}-{day}")
}

/// The stem of the files an optimize of `day` writes.
pub fn optimize_stem(run_id: &str, day: Day) -> String {
    format!("part-o-{run_id}-{day}")
}

/// The stem of the files an erasure's rewrite of `day` writes.
pub fn erase_stem(run_id: &str, day: Day) -> String {
    format!("part-e-{run_id}-{day}")
}

/// The key of a table file (`path` relative to the table root, as the log names it).
pub fn table_key(table: &Table, path: &str) -> String {
    format!("lake/{}/{path}", table.name)
}

/// Where the index of the data file at `data_path` (relative to the table root) lives.
pub fn index_path(data_path: &str) -> String {
    let stem = data_path.strip_suffix(".parquet").unwrap_or(data_path);
    format!("_index/{stem}.idx")
}

/// The record of a table's last vacuum, beside its log (a vacuum that deletes nothing commits
/// nothing, so the log cannot say when it ran).
pub fn vacuum_record_key(table: &Table) -> String {
    table_key(table, "_driftless_vacuum.json")
}

/// Where the lines of a raw object that were not records are kept: one file per object, named
/// after it, so a run that reads the object again writes the same file.
pub fn rejected_key(table: &Table, raw_key: &str) -> String {
    let rest = raw_key.strip_prefix(&raw_prefix(table)).unwrap_or(raw_key);
    format!("rejected/{}/{rest}.jsonl", table.name)
}

/// Where an unreadable raw object is moved: out of the raw prefix (so it is not read again),
/// under a prefix of its own for inspection.
pub fn unreadable_key(key: &str) -> String {
    format!("unreadable/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::table::{EVENTS, QUARANTINE};

    #[test]
    fn dates_parse_strictly_and_map_to_firehose_prefixes() {
        let d = Day::parse("2026-11-28").unwrap();
        assert_eq!(d.to_string(), "2026-11-28");
        assert_eq!(d.raw_prefix(&EVENTS), "raw/events/2026/11/28/");
        assert_eq!(d.lake_prefix(&QUARANTINE), "lake/quarantine/dt=2026-11-28/");
        assert_eq!(Day::of_raw_dir("raw/events/2026/11/28/"), Some(d));
        assert_eq!(d.next().to_string(), "2026-11-29");
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-11-28",
            "2026/11/28",
            "2026-11-2x",
        ] {
            let err = Day::parse(bad).unwrap_err().to_string();
            assert!(err.contains("YYYY-MM-DD"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_range_lists_every_day_and_refuses_to_run_backwards() {
        let (a, b) = (
            Day::parse("2026-02-27").unwrap(),
            Day::parse("2026-03-01").unwrap(),
        );
        let days: Vec<String> = Day::range(a, b)
            .unwrap()
            .iter()
            .map(Day::to_string)
            .collect();
        assert_eq!(days, ["2026-02-27", "2026-02-28", "2026-03-01"]);
        assert!(Day::range(b, a).is_err());
    }

    #[test]
    fn a_day_closes_after_its_end_plus_the_margin() {
        let d = Day::parse("2026-11-27").unwrap();
        let end = crate::timestamp::parse_rfc3339("2026-11-28T00:00:00Z").unwrap();
        let margin = Duration::from_secs(1800);
        assert!(!d.is_closed(end, margin));
        assert!(!d.is_closed(end + 1_799_999, margin));
        assert!(d.is_closed(end + 1_800_000, margin));
    }

    #[test]
    fn file_names_sort_by_run_and_keep_racing_runs_apart() {
        let d = Day::parse("2026-11-28").unwrap();
        assert_eq!(
            append_stem(7, "0a1b2c3d", d),
            "part-r000007-0a1b2c3d-2026-11-28"
        );
        assert!(append_stem(7, "ffffffff", d) < append_stem(10, "00000000", d));
        assert_eq!(optimize_stem("0a1b2c3d", d), "part-o-0a1b2c3d-2026-11-28");
        assert_eq!(erase_stem("0a1b2c3d", d), "part-e-0a1b2c3d-2026-11-28");
        assert_eq!(
            index_path("dt=2026-11-28/part-r000007-ab-2026-11-28-0000.parquet"),
            "_index/dt=2026-11-28/part-r000007-ab-2026-11-28-0000.idx"
        );
        assert_eq!(
            table_key(&EVENTS, "_delta_log/00000000000000000000.json"),
            "lake/events/_delta_log/00000000000000000000.json"
        );
    }

    #[test]
    fn set_aside_objects_keep_their_raw_names() {
        let key = "raw/quarantine/2026/11/28/13/driftless-quarantine-1-2026-11-28-13-00-00-x.gz";
        assert_eq!(
            rejected_key(&QUARANTINE, key),
            "rejected/quarantine/2026/11/28/13/driftless-quarantine-1-2026-11-28-13-00-00-x.gz.jsonl"
        );
        assert_eq!(unreadable_key(key), format!("unreadable/{key}"));
        assert_eq!(
            vacuum_record_key(&EVENTS),
            "lake/events/_driftless_vacuum.json"
        );
    }
}
