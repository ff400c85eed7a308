//! Step 4: the parts uploaded beside their file indexes and verified as stored, the rejected
//! lines kept, then the table commit (the commit point), then the clean-up only a commit allows:
//! the raw inputs.

use std::path::Path;

use super::read::RejectedLine;
use crate::lake::delta::NewFile;
use crate::lake::fingerprint::Fingerprint;
use crate::lake::layout::{index_path, rejected_key, table_key};
use crate::lake::parquet::{scan_string_column, LocalPart};
use crate::lake::store::ObjectStore;
use crate::lake::{Day, LakeError, Result, Table};

/// The files one writer uploads for a commit. It remembers them, so that a writer that does not
/// commit can remove them.
pub struct Uploads<'a, S> {
    store: &'a S,
    table: &'static Table,
    scratch: &'a Path,
    uploaded: Vec<String>,
}

impl<'a, S: ObjectStore> Uploads<'a, S> {
    pub fn new(store: &'a S, table: &'static Table, scratch: &'a Path) -> Uploads<'a, S> {
        Uploads {
            store,
            table,
            scratch,
            uploaded: Vec::new(),
        }
    }

    /// Uploads a part of `day` and its index, verifies the part as stored, and returns what the
    /// commit adds. The local file is removed.
    pub async fn part(&mut self, day: Day, part: &LocalPart) -> Result<NewFile> {
        let name = part
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = format!("dt={day}/{name}");
        let key = table_key(self.table, &path);
        let index_key = table_key(self.table, &index_path(&path));
        self.uploaded.push(key.clone());
        self.store.upload(&key, &part.path).await?;
        self.uploaded.push(index_key.clone());
        // The index goes up while the part is read back (on a blocking thread).
        tokio::try_join!(
            self.verify(&key, part.fingerprint),
            self.store.put_small(&index_key, part.index.encode(), None),
        )?;
        let _ = std::fs::remove_file(&part.path);
        Ok(NewFile {
            path,
            day,
            size: part.bytes,
            stats: part.stats.to_delta_json(),
        })
    }

    /// Keeps the rejected lines of one raw object; returns their key.
    pub async fn rejected(&mut self, raw_key: &str, lines: &[RejectedLine]) -> Result<String> {
        let key = rejected_key(self.table, raw_key);
        let mut body = Vec::new();
        for r in lines {
            // Serializing a struct of strings and integers cannot fail.
            let _ = serde_json::to_writer(&mut body, r);
            body.push(b'\n');
        }
        self.store.put_small(&key, body, None).await?;
        Ok(key)
    }

    /// Removes the parts and indexes uploaded, after the commit did not happen. (Rejected-lines
    /// files stay: they are named after their raw object, and a run that did commit the object
    /// wrote the same file.)
    pub async fn discard(self) -> Result<()> {
        self.store.delete(&self.uploaded).await
    }

    /// Reads a part back from the store and checks its row count and key checksum.
    async fn verify(&self, key: &str, expected: Fingerprint) -> Result<()> {
        let local = self.scratch.join("verify.parquet");
        let path = self.store.fetch(key, &local).await?;
        let key_column = self.table.key_column;
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
