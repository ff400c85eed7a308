//! `driftless compact`: re-run or backfill compaction for a date range, on S3 or on a local
//! directory laid out like the bucket.

use driftless::compact::store::ObjectStore;
use driftless::compact::{compact_day, CompactConfig, Day, DayReport, TABLES};
use serde::Serialize;

use crate::{CliError, Result};

/// The days from `from` to `to`, both included.
pub fn day_range(from: &str, to: &str) -> Result<Vec<Day>> {
    let (from, to) = (Day::parse(from)?, Day::parse(to)?);
    if to < from {
        return Err(CliError::Usage(format!(
            "--to {to} is before --from {from}"
        )));
    }
    let mut days = vec![from];
    while let Some(&last) = days.last().filter(|d| **d < to) {
        days.push(last.next());
    }
    Ok(days)
}

/// Every table-day of a range, as the compaction function reports it.
#[derive(Debug, Serialize)]
pub struct RangeReport {
    pub days: Vec<DayReport>,
    /// `table/day` and the error, for days that failed; the other days still ran.
    pub failures: Vec<(String, String)>,
}

pub async fn compact_range<S: ObjectStore>(
    store: &S,
    cfg: &CompactConfig,
    days: &[Day],
    include_open_day: bool,
    now: i64,
) -> RangeReport {
    let mut report = RangeReport {
        days: Vec::new(),
        failures: Vec::new(),
    };
    for &day in days {
        for table in TABLES {
            match compact_day(store, table, day, cfg, now, include_open_day).await {
                Ok(r) => report.days.push(r),
                Err(e) => report
                    .failures
                    .push((format!("{}/{day}", table.name), e.to_string())),
            }
        }
    }
    report
}
