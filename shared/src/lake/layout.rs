//! The bucket's layout: days, prefixes and object names, in one place (docs/s3-layout.md).
//!
//! ```text
//! raw/<table>/YYYY/MM/DD/HH/<firehose object>     Firehose's arrival-time prefix
//! lake/<table>/dt=YYYY-MM-DD/_manifest.json        a day's commit record
//! lake/<table>/dt=YYYY-MM-DD/part-g<gen>-<run>-<n>.parquet
//! lake/<table>/dt=YYYY-MM-DD/_rejected-g<gen>-<run>.jsonl
//! ```

use std::fmt;
use std::time::Duration;

use super::error::{LakeError, Result};
use super::table::Table;
use crate::timestamp::{civil_from_days, days_from_civil, EpochMillis};

const DAY_MS: i64 = 86_400_000;

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

    /// The day's commit record.
    pub fn manifest_key(self, table: &Table) -> String {
        format!("{}_manifest.json", self.lake_prefix(table))
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

/// `part-g00002-<run>`: the stem of a run's parts (`-0000.parquet` and so on follow).
pub fn part_stem(generation: u64, run_id: &str) -> String {
    format!("part-g{generation:05}-{run_id}")
}

/// The file of a run's lines that were not records.
pub fn rejected_lines_name(generation: u64, run_id: &str) -> String {
    format!("_rejected-g{generation:05}-{run_id}.jsonl")
}

/// The generation a part or rejected-lines file belongs to; cleanup uses it to tell dead files
/// from a newer run's.
pub fn generation_of(file_name: &str) -> Option<u64> {
    let rest = file_name
        .strip_prefix("part-g")
        .or_else(|| file_name.strip_prefix("_rejected-g"))?;
    rest.split('-').next()?.parse().ok()
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
        assert_eq!(
            d.manifest_key(&EVENTS),
            "lake/events/dt=2026-11-28/_manifest.json"
        );
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
    fn part_names_carry_their_generation() {
        assert_eq!(part_stem(2, "0a1b2c3d"), "part-g00002-0a1b2c3d");
        assert_eq!(generation_of("part-g00002-0a1b2c3d-0000.parquet"), Some(2));
        assert_eq!(
            generation_of(&rejected_lines_name(13, "0a1b2c3d")),
            Some(13)
        );
        assert_eq!(generation_of("_manifest.json"), None);
        assert_eq!(generation_of("part-other.parquet"), None);
    }
}
