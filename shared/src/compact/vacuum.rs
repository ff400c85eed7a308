//! Vacuum: the data files that commits removed more than the retention period ago are deleted
//! (readers of older versions had that long), with the files of runs that crashed before they
//! could commit, and then the file indexes whose data file is gone.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use super::report::VacuumReport;
use super::Compaction;
use crate::lake::layout::{index_path, table_key, vacuum_record_key};
use crate::lake::store::ObjectStore;
use crate::lake::{Result, Table};

/// How often the schedule vacuums a table.
pub const VACUUM_EVERY: Duration = Duration::from_secs(24 * 3600);

impl<S: ObjectStore> Compaction<'_, S> {
    /// Whether `table` was vacuumed less than [`VACUUM_EVERY`] ago.
    pub(super) async fn vacuumed_recently(&self, table: &'static Table) -> Result<bool> {
        let since = self.now - VACUUM_EVERY.as_millis() as i64;
        Ok(
            match self.store.get_small(&vacuum_record_key(table)).await? {
                Some((body, _)) => serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["at"].as_i64())
                    .is_some_and(|at| at > since),
                None => false,
            },
        )
    }

    /// Vacuums `table` with the configured retention.
    pub async fn vacuum(&self, table: &'static Table) -> Result<VacuumReport> {
        let mut lake = self.open(table).await?;
        let deleted = lake
            .vacuum(
                self.cfg.vacuum_retention,
                serde_json::json!({"kind": "vacuum", "at": self.now}),
            )
            .await?;
        // The indexes of deleted files, and of files that are gone for any other reason.
        let root = format!("lake/{}/", table.name);
        let mut data = HashSet::new();
        let mut indexes = Vec::new();
        for o in self.store.list(&root).await? {
            let rel = &o.key[root.len()..];
            if rel.starts_with("_index/") {
                indexes.push(o.key);
            } else if rel.ends_with(".parquet") && !rel.starts_with('_') {
                data.insert(table_key(table, &index_path(rel)));
            }
        }
        let orphans: Vec<String> = indexes.into_iter().filter(|k| !data.contains(k)).collect();
        if !orphans.is_empty() {
            self.store.delete(&orphans).await?;
        }
        let record = serde_json::json!({
            "at": self.now,
            "files_deleted": deleted.files_deleted.len(),
            "indexes_deleted": orphans.len(),
        });
        self.store
            .put_small(
                &vacuum_record_key(table),
                record.to_string().into_bytes(),
                None,
            )
            .await?;
        tracing::info!(
            message = "Table vacuumed.",
            table = table.name,
            files_deleted = deleted.files_deleted.len(),
            indexes_deleted = orphans.len()
        );
        Ok(VacuumReport {
            table: table.name,
            files_deleted: deleted.files_deleted.len() as u64,
            indexes_deleted: orphans.len() as u64,
        })
    }
}
