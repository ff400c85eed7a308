//! Delivery completeness: the SDK numbers each anonymous_id's events (`seq`), so the share of each
//! sequence that arrived measures what was lost on the way.

use std::collections::HashMap;

use crate::lake::fingerprint::fnv1a;
use crate::lake::table::Table;
use crate::record::cells::{Cell, RowRef};

/// Per `anonymous_id`: lowest and highest `seq` and how many distinct events. The share of the
/// `seq` range that arrived is the day's delivery completeness.
#[derive(Debug, Default)]
pub struct Completeness {
    per_user: HashMap<u64, (i64, i64, u64)>,
}

impl Completeness {
    pub(super) fn merge(&mut self, other: Completeness) {
        for (user, (lo, hi, n)) in other.per_user {
            let e = self.per_user.entry(user).or_insert((lo, hi, 0));
            e.0 = e.0.min(lo);
            e.1 = e.1.max(hi);
            e.2 += n;
        }
    }

    pub(super) fn observe(&mut self, table: &Table, row: &RowRef<'_>) {
        let Some((anon, seq)) = table.completeness else {
            return;
        };
        let (Cell::Str(id), Cell::Int(seq)) = (row.cell(anon), row.cell(seq)) else {
            return;
        };
        let e = self.per_user.entry(fnv1a(id)).or_insert((seq, seq, 0));
        e.0 = e.0.min(seq);
        e.1 = e.1.max(seq);
        e.2 += 1;
    }

    /// `(expected, received)` events over all users: expected is the span of each user's `seq`.
    pub fn totals(&self) -> (u64, u64) {
        self.per_user
            .values()
            .fold((0, 0), |(exp, got), (lo, hi, n)| {
                (exp + (hi - lo + 1).max(0) as u64, got + n)
            })
    }
}
