//! Delivery completeness: the SDK numbers each anonymous_id's events (`seq`), so the share of each
//! sequence that arrived measures what was lost on the way.
//!
//! Per `anonymous_id`, the expected events are the span of its `seq` values (the highest minus
//! the lowest, plus one) and the received ones its distinct `seq` values: two tabs that repeat a
//! `seq` count once, and a quarantined event counts as received (it was delivered, it was only
//! rejected). Memory: 16 bytes per event observed, sorted once at the end.

use crate::lake::fingerprint::fnv1a;
use crate::lake::table::Table;
use crate::record::cells::{Cell, RowRef};

/// The `(anonymous_id, seq)` pairs seen.
#[derive(Debug, Default)]
pub struct Completeness {
    pairs: Vec<(u64, i64)>,
}

/// Expected and received events over all anonymous ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub expected: u64,
    pub received: u64,
}

impl Delivery {
    /// Received over expected, in percent with two decimals; `None` without events.
    pub fn percent(&self) -> Option<f64> {
        (self.expected > 0)
            .then(|| (self.received as f64 * 100.0 / self.expected as f64 * 100.0).round() / 100.0)
    }
}

impl Completeness {
    pub fn merge(&mut self, other: Completeness) {
        self.pairs.extend(other.pairs);
    }

    /// Room for `n` rows: the pairs of a day are its largest vector, grown by doubling otherwise.
    pub fn with_capacity(n: usize) -> Completeness {
        Completeness {
            pairs: Vec::with_capacity(n),
        }
    }

    /// Notes a row of `table` (tables without `(anonymous_id, seq)` columns are ignored).
    pub fn observe(&mut self, table: &Table, row: &RowRef<'_>) {
        let Some((anon, seq)) = table.completeness else {
            return;
        };
        if let (Cell::Str(id), Cell::Int(seq)) = (row.cell(anon), row.cell(seq)) {
            self.observe_pair(id, seq);
        }
    }

    /// Notes one delivered event of `anonymous_id` with `seq`.
    pub fn observe_pair(&mut self, anonymous_id: &[u8], seq: i64) {
        self.pairs.push((fnv1a(anonymous_id), seq));
    }

    pub fn totals(mut self) -> Delivery {
        self.pairs.sort_unstable();
        self.pairs.dedup();
        let mut out = Delivery::default();
        let mut i = 0;
        while i < self.pairs.len() {
            let user = self.pairs[i].0;
            let first = self.pairs[i].1;
            let mut j = i;
            while j + 1 < self.pairs.len() && self.pairs[j + 1].0 == user {
                j += 1;
            }
            out.expected += (self.pairs[j].1 - first + 1).max(0) as u64;
            out.received += (j - i + 1) as u64;
            i = j + 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_as_missing_and_repeated_seqs_count_once() {
        let mut c = Completeness::default();
        // a: 1..=5 with 3 missing; two tabs both sent seq 4.
        for seq in [1, 2, 4, 4, 5] {
            c.observe_pair(b"a", seq);
        }
        // b: 10 and 11 (one of them quarantined, observed all the same).
        c.observe_pair(b"b", 10);
        let mut other = Completeness::default();
        other.observe_pair(b"b", 11);
        c.merge(other);
        let d = c.totals();
        assert_eq!(
            d,
            Delivery {
                expected: 5 + 2,
                received: 4 + 2
            }
        );
        assert_eq!(d.percent(), Some(85.71));
        assert_eq!(Completeness::default().totals().percent(), None);
    }
}
