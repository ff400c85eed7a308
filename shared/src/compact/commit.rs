//! Step 4: the parts uploaded and verified as stored, the day's commit record written
//! conditionally (the commit point), then the clean-up that only a commit allows: the raw inputs,
//! and the parts of runs that crashed or lost.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use super::plan::CompactionPlan;
use super::read::{ReadOutcome, RejectedLine};
use crate::lake::commit::{Manifest, PartEntry, RunReport, FORMAT};
use crate::lake::fingerprint::Fingerprint;
use crate::lake::layout::{generation_of, rejected_lines_name};
use crate::lake::parquet::{scan_string_column, LocalPart};
use crate::lake::store::ObjectStore;
use crate::lake::{LakeError, Result};
use crate::timestamp::{format_rfc3339, EpochMillis};

/// One run's commit of one table-day. It remembers what it uploaded, so that a run that does not
/// commit can remove it, and whether the commit record was sent, after which an error no longer
/// proves there was no commit.
pub struct Commit<'a, S> {
    store: &'a S,
    plan: &'a CompactionPlan,
    generation: u64,
    run_id: &'a str,
    scratch: &'a Path,
    uploaded: Vec<String>,
    sent: bool,
}

impl<'a, S: ObjectStore> Commit<'a, S> {
    pub fn new(
        store: &'a S,
        plan: &'a CompactionPlan,
        generation: u64,
        run_id: &'a str,
        scratch: &'a Path,
    ) -> Commit<'a, S> {
        Commit {
            store,
            plan,
            generation,
            run_id,
            scratch,
            uploaded: Vec::new(),
            sent: false,
        }
    }

    /// Uploads and verifies `parts` and the rejected lines, then writes the commit record that
    /// adds them to the day. `run` gets the output figures and goes into the record.
    pub async fn commit(
        &mut self,
        parts: &[LocalPart],
        read: ReadOutcome,
        run: &mut RunReport,
        started: Instant,
        now: EpochMillis,
    ) -> Result<Manifest> {
        let lake = self.plan.day.lake_prefix(self.plan.table);
        let mut entries = Vec::with_capacity(parts.len());
        for part in parts {
            let name = part
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let key = format!("{lake}{name}");
            self.uploaded.push(key.clone());
            self.store.upload(&key, &part.path).await?;
            self.verify(&key, part.fingerprint).await?;
            let _ = std::fs::remove_file(&part.path);
            entries.push(PartEntry {
                key,
                rows: part.fingerprint.rows,
                bytes: part.bytes,
                checksum: part.fingerprint.checksum_hex(),
            });
        }
        let rejected_keys = self.upload_rejected(&lake, &read.rejected).await?;
        run.rows_out = entries.iter().map(|p| p.rows).sum();
        run.parts_out = entries.len() as u64;
        run.bytes_out = entries.iter().map(|p| p.bytes).sum();
        run.duration_ms = started.elapsed().as_millis() as u64;

        let previous = self.plan.manifest();
        let mut all_parts = previous.map(|m| m.parts.clone()).unwrap_or_default();
        all_parts.extend(entries);
        let mut inputs = previous.map(|m| m.inputs.clone()).unwrap_or_default();
        inputs.extend(read.inputs);
        let mut unreadable = previous.map(|m| m.unreadable.clone()).unwrap_or_default();
        unreadable.extend(read.unreadable);
        let mut rejected_lines = previous
            .map(|m| m.rejected_lines.clone())
            .unwrap_or_default();
        rejected_lines.extend(rejected_keys);
        let mut runs = previous.map(|m| m.runs.clone()).unwrap_or_default();
        runs.push(run.clone());
        let checksum = all_parts.iter().fold(0u64, |acc, p| {
            acc.wrapping_add(u64::from_str_radix(&p.checksum, 16).unwrap_or_default())
        });
        let manifest = Manifest {
            format: FORMAT,
            table: self.plan.table.name.to_string(),
            date: self.plan.day.to_string(),
            generation: self.generation,
            committed_at: format_rfc3339(now),
            rows: all_parts.iter().map(|p| p.rows).sum(),
            checksum: format!("{checksum:016x}"),
            parts: all_parts,
            inputs,
            unreadable,
            rejected_lines,
            runs,
        };
        self.sent = true;
        manifest
            .commit(
                self.store,
                self.plan.table,
                self.plan.day,
                self.plan.committed.as_ref(),
            )
            .await?;
        Ok(manifest)
    }

    /// Removes what this run uploaded, after it lost the race or failed before the commit.
    /// A commit record write that failed without an answer may still have committed: then the
    /// parts are the lake, and they are left alone (the next commit removes them if they are not).
    pub async fn abandon(self, lost_race: bool) -> Result<()> {
        if lost_race {
            return self.store.delete(&self.uploaded).await;
        }
        if !self.sent {
            // Best effort: the error that stopped the run is the one to report.
            let _ = self.store.delete(&self.uploaded).await;
        }
        Ok(())
    }

    async fn upload_rejected(
        &mut self,
        lake: &str,
        rejected: &[RejectedLine],
    ) -> Result<Vec<String>> {
        if rejected.is_empty() {
            return Ok(Vec::new());
        }
        let key = format!(
            "{lake}{}",
            rejected_lines_name(self.generation, self.run_id)
        );
        let mut body = Vec::new();
        for r in rejected {
            // Serializing a struct of strings and integers cannot fail.
            let _ = serde_json::to_writer(&mut body, r);
            body.push(b'\n');
        }
        self.uploaded.push(key.clone());
        self.store.put_small(&key, body, None).await?;
        Ok(vec![key])
    }

    /// Reads a part back from the store and checks its row count and event-id checksum.
    async fn verify(&self, key: &str, expected: Fingerprint) -> Result<()> {
        let local = self.scratch.join("verify.parquet");
        let path = self.store.fetch(key, &local).await?;
        let key_column = self.plan.table.key_column;
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || scan_string_column(&path, key_column, |_| {}))
                .await
                .map_err(|source| LakeError::Task {
                    what: "verifying a part",
                    source,
                })?
        };
        if path == local {
            let _ = std::fs::remove_file(&local);
        }
        let found = read.map_err(|e| LakeError::VerifyFailed {
            key: key.to_string(),
            message: e.to_string(),
        })?;
        if found != expected {
            return Err(LakeError::VerifyFailed {
                key: key.to_string(),
                message: format!(
                    "expected {} rows with checksum {}, found {} rows with checksum {}",
                    expected.rows,
                    expected.checksum_hex(),
                    found.rows,
                    found.checksum_hex()
                ),
            });
        }
        Ok(())
    }
}

/// Deletes parts and rejected-line files of generation `m.generation` or older that `m` does not
/// list: runs that crashed or lost left them. Newer generations belong to a run in progress.
pub async fn delete_orphans<S: ObjectStore>(
    store: &S,
    plan: &CompactionPlan,
    m: &Manifest,
) -> Result<u64> {
    let listed: HashSet<&str> = m
        .parts
        .iter()
        .map(|p| p.key.as_str())
        .chain(m.rejected_lines.iter().map(String::as_str))
        .collect();
    let orphans: Vec<String> = store
        .list(&plan.day.lake_prefix(plan.table))
        .await?
        .into_iter()
        .filter(|o| {
            let name = o.key.rsplit('/').next().unwrap_or_default();
            !listed.contains(o.key.as_str())
                && generation_of(name).is_some_and(|g| g <= m.generation)
        })
        .map(|o| o.key)
        .collect();
    if !orphans.is_empty() {
        store.delete(&orphans).await?;
    }
    Ok(orphans.len() as u64)
}
