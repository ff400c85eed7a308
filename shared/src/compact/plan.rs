//! Step 1: what a run of one table-day has to do, from the day's commit record and a listing of
//! its raw objects.

use std::collections::HashSet;

use crate::lake::commit::{Committed, Manifest};
use crate::lake::store::{ObjectMeta, ObjectStore};
use crate::lake::{Day, Result, Table};

/// The work of one table-day.
pub struct CompactionPlan {
    pub table: &'static Table,
    pub day: Day,
    /// The day's commit record as read, if any: the next commit must still find it there.
    pub committed: Option<Committed>,
    /// Raw objects an earlier commit already covers: its run stopped before deleting them.
    pub leftovers: Vec<String>,
    /// Raw objects to read: neither committed nor known to be unreadable as they are.
    pub new_objects: Vec<ObjectMeta>,
}

impl CompactionPlan {
    /// Reads the commit record and lists the day's raw objects (every page).
    pub async fn build<S: ObjectStore>(
        store: &S,
        table: &'static Table,
        day: Day,
    ) -> Result<CompactionPlan> {
        let committed = Manifest::load(store, table, day).await?;
        let manifest = committed.as_ref().map(|c| &c.manifest);
        let committed_inputs: HashSet<&str> = manifest
            .map(|m| m.inputs.iter().map(|i| i.key.as_str()).collect())
            .unwrap_or_default();
        // A replaced object (same key, new size) is read again.
        let known_unreadable: HashSet<(&str, u64)> = manifest
            .map(|m| {
                m.unreadable
                    .iter()
                    .map(|u| (u.key.as_str(), u.size))
                    .collect()
            })
            .unwrap_or_default();
        let mut leftovers = Vec::new();
        let mut new_objects = Vec::new();
        for o in store.list(&day.raw_prefix(table)).await? {
            if committed_inputs.contains(o.key.as_str()) {
                leftovers.push(o.key);
            } else if !known_unreadable.contains(&(o.key.as_str(), o.size)) {
                new_objects.push(o);
            }
        }
        Ok(CompactionPlan {
            table,
            day,
            committed,
            leftovers,
            new_objects,
        })
    }

    pub fn manifest(&self) -> Option<&Manifest> {
        self.committed.as_ref().map(|c| &c.manifest)
    }

    /// The generation the day has now (0: never committed).
    pub fn committed_generation(&self) -> u64 {
        self.manifest().map_or(0, |m| m.generation)
    }

    /// The size of the day's new input as it will be once decompressed, to size the partitions.
    pub fn estimated_bytes(&self) -> u64 {
        // Firehose's gzip objects end in .gz on AWS; NDJSON compresses about 8 to 1.
        self.new_objects
            .iter()
            .map(|o| {
                if o.key.ends_with(".gz") {
                    o.size * 8
                } else {
                    o.size
                }
            })
            .sum()
    }
}
