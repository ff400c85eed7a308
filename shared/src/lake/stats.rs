//! Per-file column statistics in the form the Delta log keeps them with each `add` action
//! (`numRecords`, `minValues`, `maxValues`, `nullCount`), which readers use to skip files: a
//! query on `event_type`, `timestamp` or `dt` reads only the files whose ranges can match.
//!
//! Strings are compared bytewise (UTF-8 order, as Spark and delta-rs compare them) and kept to
//! their first 32 characters: a truncated minimum is still a lower bound; a maximum that would
//! need truncating is left out (a missing bound is "unknown", never wrong). JSON columns get no
//! bounds. Timestamps are written as RFC 3339 with milliseconds, as Delta writers do.
//!
//! The columns that name a person (anonymous and user id) get no bounds either: the log keeps
//! the stats of every file it ever added until its entries expire, and an erased person's id
//! must not stay behind in it as a minimum or maximum.

use serde_json::{Map, Value};

use crate::lake::table::{PersonSource, Table};
use crate::record::{Column, ColumnType};
use crate::timestamp::format_rfc3339;

/// Characters of a string bound kept.
const STRING_PREFIX_CHARS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Bound {
    Int(i64),
    Str(Vec<u8>),
}

/// Bounds and null count of one column, gathered value by value: the Parquet writer keeps one
/// per column of a row group, in the job that encodes the column.
#[derive(Debug, Clone, Default)]
pub struct ColumnStats {
    /// Whether the column gets bounds.
    bounded: bool,
    min: Option<Bound>,
    max: Option<Bound>,
    nulls: u64,
}

impl ColumnStats {
    /// Empty statistics of column `i` of `table`.
    pub fn of(table: &Table, i: usize) -> ColumnStats {
        let person = match table.persons {
            PersonSource::Columns { anonymous, user } => i == anonymous || i == user,
            PersonSource::RawJson(_) => false,
        };
        ColumnStats {
            bounded: table.columns[i].ty != ColumnType::Json && !person,
            ..ColumnStats::default()
        }
    }

    pub fn add_nulls(&mut self, n: u64) {
        self.nulls += n;
    }

    pub fn push_int(&mut self, v: i64) {
        if self.bounded {
            self.bound(Bound::Int(v));
        }
    }

    pub fn push_str(&mut self, v: &[u8]) {
        if !self.bounded {
            return;
        }
        // Compare before copying: most values are neither a new min nor a new max.
        let outside = |b: &Option<Bound>, beyond: fn(&[u8], &[u8]) -> bool| match b {
            Some(Bound::Str(m)) => beyond(v, m),
            Some(Bound::Int(_)) => false,
            None => true,
        };
        if outside(&self.min, |v, m| v < m) || outside(&self.max, |v, m| v > m) {
            self.bound(Bound::Str(v.to_vec()));
        }
    }

    fn bound(&mut self, b: Bound) {
        if self.min.as_ref().is_none_or(|m| b < *m) {
            self.min = Some(b.clone());
        }
        if self.max.as_ref().is_none_or(|m| b > *m) {
            self.max = Some(b);
        }
    }

    fn merge(&mut self, other: &ColumnStats) {
        self.nulls += other.nulls;
        for b in [&other.min, &other.max].into_iter().flatten() {
            self.bound(b.clone());
        }
    }
}

/// Statistics of one data file, gathered column by column as its row groups are written.
#[derive(Debug, Clone)]
pub struct FileStats {
    columns: &'static [Column],
    rows: u64,
    stats: Vec<ColumnStats>,
}

impl FileStats {
    /// Statistics of a file of `table`.
    pub fn new(table: &Table) -> FileStats {
        FileStats {
            columns: table.columns,
            rows: 0,
            stats: (0..table.columns.len())
                .map(|i| ColumnStats::of(table, i))
                .collect(),
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds a row group of `rows` rows, with the statistics of each of its columns.
    pub fn add_row_group<'a>(
        &mut self,
        rows: u64,
        columns: impl IntoIterator<Item = &'a ColumnStats>,
    ) {
        self.rows += rows;
        for (s, o) in self.stats.iter_mut().zip(columns) {
            s.merge(o);
        }
    }

    /// The `stats` string of the file's `add` action.
    pub fn to_delta_json(&self) -> String {
        let mut min = Map::new();
        let mut max = Map::new();
        let mut nulls = Map::new();
        for (column, s) in self.columns.iter().zip(&self.stats) {
            nulls.insert(column.name.into(), Value::from(s.nulls));
            if let Some(v) = s.min.as_ref().and_then(|b| value(column.ty, b, Side::Min)) {
                min.insert(column.name.into(), v);
            }
            if let Some(v) = s.max.as_ref().and_then(|b| value(column.ty, b, Side::Max)) {
                max.insert(column.name.into(), v);
            }
        }
        serde_json::json!({
            "numRecords": self.rows,
            "minValues": min,
            "maxValues": max,
            "nullCount": nulls,
        })
        .to_string()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Min,
    Max,
}

fn value(ty: ColumnType, bound: &Bound, side: Side) -> Option<Value> {
    match (ty, bound) {
        (ColumnType::Timestamp, Bound::Int(ms)) => Some(Value::String(format_rfc3339(*ms))),
        (ColumnType::Int64 | ColumnType::Int32, Bound::Int(v)) => Some(Value::from(*v)),
        (ColumnType::Utf8, Bound::Str(bytes)) => {
            let text = String::from_utf8_lossy(bytes);
            if text.chars().count() <= STRING_PREFIX_CHARS {
                Some(Value::String(text.into_owned()))
            } else if side == Side::Min {
                Some(Value::String(
                    text.chars().take(STRING_PREFIX_CHARS).collect(),
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::table::EVENTS;
    use crate::record::cells::{Cell, OwnedRow};

    fn push(stats: &mut FileStats, ty: &str, ts: &str, url: Option<&str>) {
        let url = url.map_or(String::new(), |u| {
            format!(r#","context":{{"page":{{"url":"{u}"}}}}"#)
        });
        let line = format!(
            r#"{{"event_id":"e","event_type":"{ty}","schema_version":"1-0-0","timestamp":"{ts}","received_at":"2026-11-28T10:00:01.000Z","anonymous_id":"a","seq":3{url},"properties":{{"p":1}}}}"#
        );
        let mut r = OwnedRow::default();
        let row = r
            .fill(EVENTS.columns.len(), |buf| {
                EVENTS.parse_line(line.as_bytes(), buf)
            })
            .unwrap();
        let columns: Vec<ColumnStats> = (0..EVENTS.columns.len())
            .map(|i| {
                let mut c = ColumnStats::of(&EVENTS, i);
                match row.cell(i) {
                    Cell::Null => c.add_nulls(1),
                    Cell::Int(v) => c.push_int(v),
                    Cell::Str(v) => c.push_str(v),
                }
                c
            })
            .collect();
        stats.add_row_group(1, &columns);
    }

    #[test]
    fn stats_hold_the_bounds_readers_skip_files_with() {
        let mut stats = FileStats::new(&EVENTS);
        push(&mut stats, "page_viewed", "2026-11-28T10:00:00.000Z", None);
        push(
            &mut stats,
            "cart_item_added",
            "2026-11-28T09:00:00.500Z",
            Some("https://a.example/"),
        );
        let long = format!("https://shop.example/{}", "x".repeat(40));
        push(
            &mut stats,
            "signed_up",
            "2026-11-28T11:00:00.000Z",
            Some(&long),
        );
        let json: Value = serde_json::from_str(&stats.to_delta_json()).unwrap();
        assert_eq!(json["numRecords"], 3);
        assert_eq!(json["minValues"]["event_type"], "cart_item_added");
        assert_eq!(json["maxValues"]["event_type"], "signed_up");
        assert_eq!(json["minValues"]["timestamp"], "2026-11-28T09:00:00.500Z");
        assert_eq!(json["maxValues"]["timestamp"], "2026-11-28T11:00:00.000Z");
        assert_eq!(json["minValues"]["seq"], 3);
        assert_eq!(json["nullCount"]["page_url"], 1);
        assert_eq!(json["nullCount"]["user_id"], 3);
        assert_eq!(json["minValues"]["page_url"], "https://a.example/");
        assert!(
            json["maxValues"].get("page_url").is_none(),
            "a maximum that would need truncating is left out"
        );
        assert!(
            json["minValues"].get("properties").is_none(),
            "no bounds on JSON"
        );
        assert_eq!(json["nullCount"]["properties"], 0);
        for person in ["anonymous_id", "user_id"] {
            assert!(
                json["minValues"].get(person).is_none() && json["maxValues"].get(person).is_none(),
                "no bounds on {person}: the log must not keep a person's id"
            );
        }
        assert_eq!(json["minValues"]["event_id"], "e");
    }
}
