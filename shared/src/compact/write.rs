//! Step 3: the partitions deduplicated and sorted (on blocking threads: this is the CPU-heavy
//! part), merged in output order into Parquet parts on local disk, each with its statistics and
//! file index.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::completeness::Completeness;
use super::dedup::{DedupCounts, Sorter};
use super::partition::Partitions;
use crate::config::CompactConfig;
use crate::lake::parquet::{LocalPart, PartWriter};
use crate::lake::{LakeError, Result, Table};

/// What sorting and writing a set of partitions gave.
pub struct Written {
    pub parts: Vec<LocalPart>,
    pub counts: DedupCounts,
    /// The `(anonymous_id, seq)` pairs of the rows written.
    pub completeness: Completeness,
}

/// Dedups, sorts and writes every partition into parts named `<stem>-NNNN.parquet` under `dir`,
/// dropping the rows of the objects in `skip` and the copies of the `committed` keys (sorted).
pub async fn sort_and_write(
    table: &'static Table,
    partitions: Arc<Mutex<Partitions>>,
    dir: &Path,
    stem: String,
    cfg: &CompactConfig,
    skip: &HashSet<u32>,
    committed: Vec<u128>,
) -> Result<Written> {
    // Every reader has finished, so this is the last handle.
    let partitions = Arc::try_unwrap(partitions)
        .map_err(|_| {
            LakeError::io(
                dir.display(),
                std::io::Error::other("partitions still shared after reading"),
            )
        })?
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = dir.to_path_buf();
    let cfg = cfg.clone();
    let skip = skip.clone();
    tokio::task::spawn_blocking(move || {
        let (data, ids) = partitions
            .finish()
            .map_err(|e| LakeError::io(dir.display(), e))?;
        super::release_free_memory();
        let mut writer = PartWriter::new(
            table,
            &dir,
            &stem,
            cfg.target_file_bytes,
            cfg.row_group_bytes(),
        )?
        .encoding_threads(cfg.sort_threads())
        .in_background();
        let sorter = Sorter {
            table,
            dir: &dir,
            partition_limit: cfg.partition_limit(),
            skip_objects: &skip,
            threads: cfg.sort_threads(),
        };
        let sorted = sorter.run(data, ids, &committed, &mut writer);
        // The writer's own error, if it stopped, explains a failed push better.
        let parts = writer.finish()?;
        // The sort's and the writer's buffers are freed, on the threads that used them: given
        // back before the upload (its index and verification) allocates on another thread.
        super::release_free_memory();
        let (counts, completeness) = sorted.map_err(|e| LakeError::io(dir.display(), e))?;
        Ok(Written {
            parts,
            counts,
            completeness,
        })
    })
    .await
    .map_err(|source| LakeError::Task {
        what: "sorting and writing parts",
        source,
    })?
}
