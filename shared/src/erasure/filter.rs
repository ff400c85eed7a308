//! Which rows belong to the people being erased: the hashes of their ids (as the file index
//! holds them) to pick files and match rows by their columns, and their ids as JSON strings to
//! match a quarantined event's raw text wherever in it the id is.

use std::collections::HashSet;

use crate::lake::index::{people, person_hash, FileIndex, PersonKind};
use crate::lake::table::{PersonSource, Table};
use crate::record::cells::{Cell, RowRef};

/// The people of one or more erasure requests.
#[derive(Debug, Clone, Default)]
pub struct ErasureFilter {
    /// Sorted, distinct person hashes (see [`person_hash`]).
    hashes: Vec<u128>,
    user_hashes: HashSet<u128>,
    /// Every id as a JSON string literal (`"id"`, quotes included).
    quoted: Vec<Vec<u8>>,
}

impl ErasureFilter {
    /// The filter of these user and anonymous ids.
    pub fn new<'a>(
        user_ids: impl IntoIterator<Item = &'a str>,
        anonymous_ids: impl IntoIterator<Item = &'a str>,
    ) -> ErasureFilter {
        let mut f = ErasureFilter::default();
        for u in user_ids {
            f.add(PersonKind::User, u);
        }
        for a in anonymous_ids {
            f.add(PersonKind::Anonymous, a);
        }
        f
    }

    fn add(&mut self, kind: PersonKind, id: &str) {
        let h = person_hash(kind, id.as_bytes());
        if let Err(at) = self.hashes.binary_search(&h) {
            self.hashes.insert(at, h);
            if kind == PersonKind::User {
                self.user_hashes.insert(h);
            }
            // A string always serializes.
            self.quoted.push(serde_json::to_vec(id).unwrap_or_default());
        }
    }

    pub fn add_users<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for u in ids {
            self.add(PersonKind::User, u);
        }
    }

    /// Adds anonymous ids (found linked to an erased user id).
    pub fn add_anonymous<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for a in ids {
            self.add(PersonKind::Anonymous, a);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether a data file's index says it may hold one of the people.
    pub fn in_index(&self, index: &FileIndex) -> bool {
        index.contains_any_person(&self.hashes)
    }

    /// Whether a row is about one of the people: its anonymous or user id, or (quarantine) its
    /// raw event's ids or the text of any id anywhere in the raw event.
    pub fn matches(&self, table: &Table, row: &RowRef<'_>) -> bool {
        if self.is_empty() {
            return false;
        }
        if people(table, row)
            .iter()
            .any(|(kind, id)| self.hashes.binary_search(&person_hash(*kind, id)).is_ok())
        {
            return true;
        }
        match table.persons {
            PersonSource::RawJson(column) => match row.cell(column) {
                Cell::Str(raw) => self.in_text(raw),
                _ => false,
            },
            PersonSource::Columns { .. } => false,
        }
    }

    /// When a row names an erased user id and an anonymous id not erased yet (the link an
    /// `identify` made): `(user_id, anonymous_id)`.
    pub fn link(&self, table: &Table, row: &RowRef<'_>) -> Option<(String, String)> {
        let ids = people(table, row);
        let user = ids.iter().find(|(kind, id)| {
            *kind == PersonKind::User && self.user_hashes.contains(&person_hash(*kind, id))
        })?;
        let text = |id: &[u8]| String::from_utf8_lossy(id).into_owned();
        ids.iter().find_map(|(kind, id)| {
            (*kind == PersonKind::Anonymous
                && self.hashes.binary_search(&person_hash(*kind, id)).is_err())
            .then(|| (text(&user.1), text(id)))
        })
    }

    /// Whether any id appears in `text` as a JSON string (raw events, rejected lines).
    pub fn in_text(&self, text: &[u8]) -> bool {
        self.quoted
            .iter()
            .any(|q| !q.is_empty() && text.windows(q.len()).any(|w| w == q.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::index::IndexBuilder;
    use crate::lake::{EVENTS, QUARANTINE};
    use crate::record::cells::OwnedRow;

    fn row(table: &Table, line: &str) -> OwnedRow {
        let mut r = OwnedRow::default();
        r.fill(table.columns.len(), |buf| {
            table.parse_line(line.as_bytes(), buf)
        })
        .unwrap();
        r
    }

    fn event(anonymous: &str, user: Option<&str>) -> String {
        let user = user.map_or("null".to_string(), |u| format!("\"{u}\""));
        format!(
            r#"{{"event_id":"e-1","event_type":"t","schema_version":"1-0-0","timestamp":"2026-11-28T10:00:00.000Z","received_at":"2026-11-28T10:00:01.000Z","anonymous_id":"{anonymous}","user_id":{user}}}"#
        )
    }

    #[test]
    fn rows_match_by_either_id_and_an_identify_links_the_anonymous_id() {
        let f = ErasureFilter::new(["u-1"], ["a-9"]);
        let identified = row(&EVENTS, &event("a-1", Some("u-1")));
        let anonymous = row(&EVENTS, &event("a-9", None));
        let other = row(&EVENTS, &event("a-2", Some("u-2")));
        assert!(f.matches(&EVENTS, &identified.row()));
        assert!(f.matches(&EVENTS, &anonymous.row()));
        assert!(!f.matches(&EVENTS, &other.row()));
        assert_eq!(
            f.link(&EVENTS, &identified.row()),
            Some(("u-1".to_string(), "a-1".to_string()))
        );
        assert_eq!(f.link(&EVENTS, &other.row()), None);
        let mut index = IndexBuilder::default();
        index.push(&EVENTS, &other.row());
        assert!(!f.in_index(&index.finish()));
    }

    #[test]
    fn quarantined_rows_match_on_an_id_anywhere_in_their_raw_text() {
        let f = ErasureFilter::new(["u-1"], []);
        // user_id is not a string, so the index cannot see it; the text still names the person.
        let nested = r#"{"received_at":"2026-11-28T10:00:01.000Z","reason":"schema","raw":{"anonymous_id":7,"user_id":{"id":"u-1"}}}"#;
        let unrelated = r#"{"received_at":"2026-11-28T10:00:01.000Z","reason":"schema","raw":{"anonymous_id":"a-1","properties":{"note":"u-10"}}}"#;
        assert!(f.matches(&QUARANTINE, &row(&QUARANTINE, nested).row()));
        assert!(
            !f.matches(&QUARANTINE, &row(&QUARANTINE, unrelated).row()),
            "an id is matched as a whole JSON string, not as a prefix"
        );
        assert!(!ErasureFilter::default().matches(&QUARANTINE, &row(&QUARANTINE, nested).row()));
    }
}
