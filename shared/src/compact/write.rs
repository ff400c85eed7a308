//! Step 3: the partitions deduplicated and sorted (on blocking threads: this is the CPU-heavy
//! part), merged in output order into Parquet parts on local disk.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::dedup::Sorter;
use super::partition::Partitions;
use crate::config::CompactConfig;
use crate::lake::commit::RunReport;
use crate::lake::parquet::{LocalPart, PartWriter};
use crate::lake::{LakeError, Result, Table};

/// Dedups, sorts and writes every partition into parts named `<stem>-NNNN.parquet` under `dir`,
/// dropping the rows of the objects in `skip`; adds dedup and completeness figures to `run`.
pub async fn sort_and_write(
    table: &'static Table,
    partitions: Arc<Mutex<Partitions>>,
    dir: &Path,
    stem: String,
    cfg: &CompactConfig,
    skip: &HashSet<u32>,
    run: &mut RunReport,
) -> Result<Vec<LocalPart>> {
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
    let (parts, counts, (expected, received)) = tokio::task::spawn_blocking(move || {
        let data = partitions
            .finish()
            .map_err(|e| LakeError::io(dir.display(), e))?;
        let mut writer = PartWriter::new(
            table,
            &dir,
            &stem,
            cfg.target_file_bytes,
            cfg.row_group_bytes(),
        )?
        .in_background();
        let sorter = Sorter {
            table,
            dir: &dir,
            partition_limit: cfg.partition_limit(),
            skip_objects: &skip,
            threads: cfg.sort_threads(),
        };
        let sorted = sorter.run(data, &mut writer);
        // The writer's own error, if it stopped, explains a failed push better.
        let parts = writer.finish()?;
        let (counts, completeness) = sorted.map_err(|e| LakeError::io(dir.display(), e))?;
        Ok::<_, LakeError>((parts, counts, completeness.totals()))
    })
    .await
    .map_err(|source| LakeError::Task {
        what: "sorting and writing parts",
        source,
    })??;
    run.duplicates_dropped = counts.duplicates;
    run.already_committed = counts.already_committed;
    run.expected_events = expected;
    run.received_events = received;
    run.completeness_percent =
        (expected > 0).then(|| (received as f64 * 100.0 / expected as f64 * 100.0).round() / 100.0);
    Ok(parts)
}
