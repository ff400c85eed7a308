//! The file index: beside each data file of a lake table, a small sidecar object with the sorted
//! 128-bit hashes of the file's event ids and of the people in it (anonymous and user ids).
//!
//! - Compaction's cross-day dedup reads the indexes of the files of the last days (the dedup
//!   window) instead of the files themselves: 16 bytes per event instead of the event.
//! - Erasure reads every index to find the files that hold a person, and rewrites only those.
//!
//! An index is valid exactly when its data file is in the table: it is written before the commit
//! that adds the file, by the run that wrote the file, under a name derived from the file's
//! (`_index/dt=YYYY-MM-DD/<stem>.idx` for `dt=YYYY-MM-DD/<stem>.parquet`), and it is deleted after
//! the file is vacuumed. Readers of the table never see it (Delta readers read only the files
//! the log lists, and vacuum leaves paths that start with `_` alone).
//!
//! Hashes are xxh3-128: at the dedup window's size (tens of millions of ids), a collision, which
//! would drop a real event as a duplicate, has a probability near 2^-80 a year.

use rustc_hash::FxHashSet;
use serde_json::value::RawValue;
use xxhash_rust::xxh3::xxh3_128;

use super::error::{LakeError, Result};
use super::table::{PersonSource, Table};
use crate::record::cells::{Cell, RowRef};

const MAGIC: &[u8; 8] = b"DLIDX001";
const HEADER: usize = 8 + 8 + 8;

/// The hash of a row's key (its event id) in the index.
pub fn key_hash(key: &[u8]) -> u128 {
    xxh3_128(key)
}

/// Sorts values that are ordered by a key hash first (so `upper`, the hash's top bit, splits
/// them about in half, and every value without it sorts before every value with it): the two
/// halves are sorted at once on two threads. A day's keys and dedup ids are the largest sorts of
/// a run, and they ran on one core while the other waited.
pub fn sort_by_hash<T: Ord + Send>(values: &mut [T], upper: impl Fn(&T) -> bool) {
    if values.len() < 1 << 16 {
        values.sort_unstable();
        return;
    }
    let (mut i, mut j) = (0, values.len());
    while i < j {
        if upper(&values[i]) {
            j -= 1;
            values.swap(i, j);
        } else {
            i += 1;
        }
    }
    let (low, high) = values.split_at_mut(i);
    std::thread::scope(|s| {
        s.spawn(|| low.sort_unstable());
        high.sort_unstable();
    });
}

/// Who a person id belongs to: the same string as an anonymous id and as a user id are two
/// different people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonKind {
    Anonymous,
    User,
}

/// The hash of a person id in the index.
pub fn person_hash(kind: PersonKind, id: &[u8]) -> u128 {
    let prefix = match kind {
        PersonKind::Anonymous => b"a\0",
        PersonKind::User => b"u\0",
    };
    // Ids are short: hashed from the stack, without an allocation per id of every row written.
    let mut stack = [0u8; 130];
    if let Some(buf) = stack.get_mut(..id.len() + 2) {
        buf[..2].copy_from_slice(prefix);
        buf[2..].copy_from_slice(id);
        return xxh3_128(buf);
    }
    xxh3_128(&[prefix.as_slice(), id].concat())
}

/// The index of one data file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileIndex {
    /// Sorted, distinct hashes of the file's keys (empty for tables without a dedup key).
    pub keys: Vec<u128>,
    /// Sorted, distinct hashes of the people in the file.
    pub persons: Vec<u128>,
}

impl FileIndex {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 16 * (self.keys.len() + self.persons.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.keys.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.persons.len() as u64).to_le_bytes());
        for h in self.keys.iter().chain(&self.persons) {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out
    }

    /// Reads an encoded index; `what` names it in the error.
    pub fn decode(bytes: &[u8], what: &str) -> Result<FileIndex> {
        let bad = |message: String| LakeError::Corrupt {
            what: what.to_string(),
            message,
        };
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(bad("not a file index (bad magic)".into()));
        }
        let count =
            |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let (keys, persons) = (count(8) as usize, count(16) as usize);
        let body = &bytes[HEADER..];
        if body.len() != 16 * (keys + persons) {
            return Err(bad(format!(
                "{} bytes for {keys} keys and {persons} persons",
                body.len()
            )));
        }
        let mut hashes = body
            .chunks_exact(16)
            .map(|c| u128::from_le_bytes(c.try_into().unwrap_or_default()));
        Ok(FileIndex {
            keys: hashes.by_ref().take(keys).collect(),
            persons: hashes.collect(),
        })
    }

    pub fn contains_key(&self, hash: u128) -> bool {
        self.keys.binary_search(&hash).is_ok()
    }

    pub fn contains_any_person(&self, hashes: &[u128]) -> bool {
        hashes.iter().any(|h| self.persons.binary_search(h).is_ok())
    }
}

/// Builds a file's index from the rows written to it.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    keys: Vec<u128>,
    /// A set: a person has many events, and a file of a day holds every row's person ids (tens
    /// of megabytes as a list) for a few distinct ones.
    persons: FxHashSet<u128>,
}

impl IndexBuilder {
    pub fn push(&mut self, table: &Table, row: &RowRef<'_>) {
        if table.dedup {
            if let Cell::Str(key) = row.cell(table.key_column) {
                self.keys.push(key_hash(key));
            }
        }
        for_each_person(table, row, |kind, id| {
            self.persons.insert(person_hash(kind, id));
        });
    }

    /// Moves the keys and people of `other` (gathered apart: a row group's) into this one.
    pub fn append(&mut self, other: &mut IndexBuilder) {
        self.keys.append(&mut other.keys);
        self.persons.extend(other.persons.drain());
    }

    pub fn finish(mut self) -> FileIndex {
        sort_by_hash(&mut self.keys, |k| k >> 127 == 1);
        self.keys.dedup();
        let mut persons: Vec<u128> = self.persons.into_iter().collect();
        persons.sort_unstable();
        FileIndex {
            keys: self.keys,
            persons,
        }
    }
}

/// The people a row is about: its anonymous and user ids, from columns or, for quarantined
/// events, from the raw event as sent.
pub fn people(table: &Table, row: &RowRef<'_>) -> Vec<(PersonKind, Vec<u8>)> {
    let mut out = Vec::with_capacity(2);
    for_each_person(table, row, |kind, id| out.push((kind, id.to_vec())));
    out
}

/// Calls `f` with each person a row is about (see [`people`]), without copying ids out of
/// columns.
pub fn for_each_person(table: &Table, row: &RowRef<'_>, mut f: impl FnMut(PersonKind, &[u8])) {
    match table.persons {
        PersonSource::Columns { anonymous, user } => {
            for (kind, column) in [(PersonKind::Anonymous, anonymous), (PersonKind::User, user)] {
                if let Cell::Str(id) = row.cell(column) {
                    f(kind, id);
                }
            }
        }
        PersonSource::RawJson(column) => {
            if let Cell::Str(raw) = row.cell(column) {
                for (kind, id) in people_in_raw(raw) {
                    f(kind, &id);
                }
            }
        }
    }
}

/// `anonymous_id` and `user_id` of a raw event, when they are strings.
fn people_in_raw(raw: &[u8]) -> Vec<(PersonKind, Vec<u8>)> {
    #[derive(serde::Deserialize)]
    struct Ids<'a> {
        #[serde(borrow, default)]
        anonymous_id: Option<&'a RawValue>,
        #[serde(borrow, default)]
        user_id: Option<&'a RawValue>,
    }
    let Ok(ids) = serde_json::from_slice::<Ids<'_>>(raw) else {
        return Vec::new();
    };
    let text = |v: Option<&RawValue>| v.and_then(|v| serde_json::from_str::<String>(v.get()).ok());
    let mut out = Vec::new();
    if let Some(a) = text(ids.anonymous_id) {
        out.push((PersonKind::Anonymous, a.into_bytes()));
    }
    if let Some(u) = text(ids.user_id) {
        out.push((PersonKind::User, u.into_bytes()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::table::{EVENTS, QUARANTINE};
    use crate::record::cells::OwnedRow;

    #[test]
    fn sorting_by_hash_on_two_threads_gives_the_plain_sort() {
        // Past the size where the halves are sorted apart, with copies and both top bits.
        let mut values: Vec<u128> = (0..200_000u64)
            .map(|i| key_hash(format!("e{}", i % 150_000).as_bytes()))
            .collect();
        let mut expected = values.clone();
        expected.sort_unstable();
        sort_by_hash(&mut values, |k| k >> 127 == 1);
        assert_eq!(values, expected);
        let mut small = vec![3u128 << 126, 1, 2 << 126, 0];
        sort_by_hash(&mut small, |k| k >> 127 == 1);
        assert_eq!(small, [0, 1, 2 << 126, 3 << 126]);
    }

    fn row(table: &Table, line: &str) -> OwnedRow {
        let mut r = OwnedRow::default();
        r.fill(table.columns.len(), |buf| {
            table.parse_line(line.as_bytes(), buf)
        })
        .unwrap();
        r
    }

    #[test]
    fn an_index_round_trips_and_answers_membership() {
        let mut b = IndexBuilder::default();
        for id in ["e-2", "e-1", "e-2"] {
            let line = format!(
                r#"{{"event_id":"{id}","event_type":"t","schema_version":"1-0-0","timestamp":"2026-11-28T10:00:00.000Z","received_at":"2026-11-28T10:00:01.000Z","anonymous_id":"a-1","user_id":"u-1"}}"#
            );
            b.push(&EVENTS, &row(&EVENTS, &line).row());
        }
        let index = b.finish();
        assert_eq!(index.keys.len(), 2, "distinct keys");
        assert_eq!(index.persons.len(), 2, "one anonymous id, one user id");
        let back = FileIndex::decode(&index.encode(), "test").unwrap();
        assert_eq!(back, index);
        assert!(back.contains_key(key_hash(b"e-1")));
        assert!(!back.contains_key(key_hash(b"e-3")));
        assert!(back.contains_any_person(&[person_hash(PersonKind::User, b"u-1")]));
        assert!(
            !back.contains_any_person(&[person_hash(PersonKind::User, b"a-1")]),
            "an anonymous id is not the user id of the same text"
        );
    }

    #[test]
    fn quarantined_events_are_indexed_by_the_people_in_their_raw_text() {
        let line = r#"{"received_at":"2026-11-28T10:00:01.000Z","reason":"properties","raw":{"anonymous_id":"a-9","user_id":null,"properties":{}}}"#;
        let mut b = IndexBuilder::default();
        b.push(&QUARANTINE, &row(&QUARANTINE, line).row());
        let index = b.finish();
        assert!(index.keys.is_empty(), "quarantine has no dedup key");
        assert_eq!(
            index.persons,
            vec![person_hash(PersonKind::Anonymous, b"a-9")]
        );
    }

    #[test]
    fn a_person_hash_is_the_hash_of_kind_and_id_whatever_the_id_length() {
        for len in [0, 1, 36, 127, 128, 129, 1000] {
            let id = "x".repeat(len);
            assert_eq!(
                person_hash(PersonKind::User, id.as_bytes()),
                xxh3_128(format!("u\0{id}").as_bytes()),
                "{len}"
            );
        }
    }

    #[test]
    fn a_damaged_index_is_an_error_not_a_panic() {
        let mut bytes = FileIndex {
            keys: vec![1, 2],
            persons: vec![3],
        }
        .encode();
        bytes.pop();
        assert!(FileIndex::decode(&bytes, "x").is_err());
        assert!(FileIndex::decode(b"nope", "x").is_err());
    }
}
