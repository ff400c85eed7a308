//! The two lake tables (events and quarantine): their columns (from [`crate::record`]), how a raw
//! line becomes a row, and the row semantics compaction applies (dedup key, sort order).

use std::cmp::Ordering;

use crate::record::cells::{Cell, RowRef};
use crate::record::{
    event, quarantine, Column, EventColumn, LineError, QuarantineColumn, EVENT_COLUMNS,
    QUARANTINE_COLUMNS,
};

/// One lake table: where its raw objects are, its columns, and its row semantics.
pub struct Table {
    /// `events` or `quarantine`: the raw prefix is `raw/<name>/`, the lake prefix `lake/<name>/`.
    pub name: &'static str,
    pub columns: &'static [Column],
    /// Column whose value identifies an event; duplicates of it are dropped when `dedup` is set.
    pub key_column: usize,
    pub dedup: bool,
    /// Among duplicates, the row with the smallest value here wins (ties: the first one read).
    pub received_at_column: usize,
    /// Output order.
    pub sort_columns: [usize; 3],
    /// `(anonymous_id, seq)` columns for delivery completeness, when the table has them.
    pub completeness: Option<(usize, usize)>,
    /// Where a row names the people it is about (the file index and erasure use it).
    pub persons: PersonSource,
    parse: fn(&[u8], &mut Vec<u8>) -> Result<(), LineError>,
}

/// Where a table's rows name the people they are about.
#[derive(Debug, Clone, Copy)]
pub enum PersonSource {
    /// Columns holding the anonymous id and the user id.
    Columns { anonymous: usize, user: usize },
    /// A column holding the raw event as sent, whose `anonymous_id` and `user_id` count.
    RawJson(usize),
}

impl Table {
    /// Appends the encoded row for `line` to `out`. On error `out` is left as it was.
    pub fn parse_line(&self, line: &[u8], out: &mut Vec<u8>) -> Result<(), LineError> {
        let start = out.len();
        let result = (self.parse)(line, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// The index of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The cells a row sorts by, decoded once so a sort compares them without decoding again.
    pub fn sort_key<'a>(&self, row: &RowRef<'a>) -> [Cell<'a>; 3] {
        self.sort_columns.map(|c| row.cell(c))
    }

    /// Compares two encoded rows in output order.
    pub fn cmp_rows(&self, a: &RowRef<'_>, b: &RowRef<'_>) -> Ordering {
        self.sort_key(a).cmp(&self.sort_key(b))
    }
}

#[cfg(test)]
impl Table {
    /// The table as an earlier release made it, with only its first `n` columns.
    pub(crate) fn first_columns(&'static self, n: usize) -> &'static Table {
        Box::leak(Box::new(Table {
            name: self.name,
            columns: &self.columns[..n],
            key_column: self.key_column,
            dedup: self.dedup,
            received_at_column: self.received_at_column,
            sort_columns: self.sort_columns,
            completeness: self.completeness,
            persons: self.persons,
            parse: self.parse,
        }))
    }
}

/// The compacted events table: the envelope as typed columns, `properties` as JSON text.
pub static EVENTS: Table = Table {
    name: "events",
    columns: EVENT_COLUMNS,
    key_column: EventColumn::EventId.index(),
    dedup: true,
    received_at_column: EventColumn::ReceivedAt.index(),
    // event_type, timestamp, then event_id so the order is total and runs are reproducible.
    sort_columns: [
        EventColumn::EventType.index(),
        EventColumn::Timestamp.index(),
        EventColumn::EventId.index(),
    ],
    completeness: Some((EventColumn::AnonymousId.index(), EventColumn::Seq.index())),
    persons: PersonSource::Columns {
        anonymous: EventColumn::AnonymousId.index(),
        user: EventColumn::UserId.index(),
    },
    parse: event::parse,
};

/// The compacted quarantine table: rejected events with their reasons, kept for inspection and
/// replay. Not deduplicated: a client retry of a bad event is itself worth seeing.
pub static QUARANTINE: Table = Table {
    name: "quarantine",
    columns: QUARANTINE_COLUMNS,
    key_column: QuarantineColumn::EventId.index(),
    dedup: false,
    received_at_column: QuarantineColumn::ReceivedAt.index(),
    sort_columns: [
        QuarantineColumn::ReceivedAt.index(),
        QuarantineColumn::Index.index(),
        QuarantineColumn::EventId.index(),
    ],
    completeness: None,
    persons: PersonSource::RawJson(QuarantineColumn::Raw.index()),
    parse: quarantine::parse,
};

/// Both lake tables, in the order a day is compacted.
pub static TABLES: [&Table; 2] = [&EVENTS, &QUARANTINE];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::cells::OwnedRow;

    fn line(ty: &str, ts: &str) -> String {
        format!(
            r#"{{"event_id":"e","event_type":"{ty}","schema_version":"1-0-0","timestamp":"{ts}","received_at":"2026-11-28T14:30:23.000Z","anonymous_id":"a"}}"#
        )
    }

    fn row(line: &str) -> OwnedRow {
        let mut r = OwnedRow::default();
        r.fill(EVENTS.columns.len(), |buf| {
            EVENTS.parse_line(line.as_bytes(), buf)
        })
        .unwrap();
        r
    }

    #[test]
    fn rows_order_by_event_type_then_timestamp_then_event_id() {
        let a = row(&line("a_first", "2026-11-28T14:30:22.827Z"));
        let b = row(&line("product_viewed", "2026-11-28T14:30:22.826Z"));
        let c = row(&line("product_viewed", "2026-11-28T14:30:22.827Z"));
        assert_eq!(EVENTS.cmp_rows(&a.row(), &b.row()), Ordering::Less);
        assert_eq!(EVENTS.cmp_rows(&b.row(), &c.row()), Ordering::Less);
        assert_eq!(EVENTS.cmp_rows(&c.row(), &c.row()), Ordering::Equal);
    }

    #[test]
    fn a_bad_line_leaves_the_buffer_as_it_was() {
        let mut out = vec![7];
        assert!(EVENTS.parse_line(b"{}", &mut out).is_err());
        assert_eq!(out, vec![7]);
    }
}
