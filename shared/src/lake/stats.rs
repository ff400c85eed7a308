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
use crate::record::cells::{Cell, RowRef};
use crate::record::{Column, ColumnType};
use crate::timestamp::format_rfc3339;

/// Characters of a string bound kept.
const STRING_PREFIX_CHARS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Bound {
    Int(i64),
    Str(Vec<u8>),
}

#[derive(Debug, Clone, Default)]
struct ColumnStats {
    min: Option<Bound>,
    max: Option<Bound>,
    nulls: u64,
}

/// Statistics of one data file, gathered row by row as it is written.
#[derive(Debug, Clone)]
pub struct FileStats {
    columns: &'static [Column],
    rows: u64,
    stats: Vec<ColumnStats>,
    /// Per column: whether it gets bounds.
    bounded: Vec<bool>,
}

impl FileStats {
    /// Statistics of a file of `table`.
    pub fn new(table: &Table) -> FileStats {
        let columns = table.columns;
        let mut bounded: Vec<bool> = columns.iter().map(|c| c.ty != ColumnType::Json).collect();
        if let PersonSource::Columns { anonymous, user } = table.persons {
            bounded[anonymous] = false;
            bounded[user] = false;
        }
        FileStats {
            columns,
            rows: 0,
            stats: vec![ColumnStats::default(); columns.len()],
            bounded,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn push(&mut self, row: &RowRef<'_>) {
        self.rows += 1;
        for (i, (column, s)) in self.columns.iter().zip(&mut self.stats).enumerate() {
            let bound = match (column.ty, row.cell(i)) {
                (_, Cell::Null) => {
                    s.nulls += 1;
                    continue;
                }
                _ if !self.bounded[i] => continue,
                (_, Cell::Int(v)) => Bound::Int(v),
                (_, Cell::Str(v)) => {
                    // Compare before copying: most values are neither a new min nor a new max.
                    let below = s.min.as_ref().is_none_or(|m| match m {
                        Bound::Str(m) => v < m.as_slice(),
                        Bound::Int(_) => false,
                    });
                    let above = s.max.as_ref().is_none_or(|m| match m {
                        Bound::Str(m) => v > m.as_slice(),
                        Bound::Int(_) => false,
                    });
                    if !(below || above) {
                        continue;
                    }
                    Bound::Str(v.to_vec())
                }
            };
            if s.min.as_ref().is_none_or(|m| bound < *m) {
                s.min = Some(bound.clone());
            }
            if s.max.as_ref().is_none_or(|m| bound > *m) {
                s.max = Some(bound);
            }
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
    use crate::record::cells::OwnedRow;

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
        stats.push(&row);
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
