//! The object store compaction reads and writes, behind a small trait: S3 on Lambda (and against
//! moto in tests), a local directory for benchmarks and local runs, and fault-injecting wrappers
//! in tests.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::delta::TableLocation;
use super::error::{LakeError as Error, Result};
use super::table::Table;

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
}

/// The condition of a conditional write: the manifest is the commit point, and two runs of the
/// same day must not both commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Write only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Write only if the object still has this ETag (`If-Match`).
    Matches(String),
}

/// What compaction needs from an object store. Implementations map "the precondition failed" to
/// [`Error::PreconditionFailed`] and "no such key" to [`Error::ObjectMissing`].
pub trait ObjectStore: Send + Sync {
    /// Every object under `prefix`, all pages.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<ObjectMeta>>> + Send;

    /// The "directories" directly under `prefix` (common prefixes for delimiter `/`), each
    /// ending in `/`.
    fn list_dirs(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// A small object with its ETag, or `None` if there is none.
    fn get_small(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<(Vec<u8>, String)>>> + Send;

    /// Makes the object readable as a local file: downloads it to `scratch`, or returns the path
    /// where it already is (a local store). The caller removes the file only if it is `scratch`.
    fn fetch(&self, key: &str, scratch: &Path) -> impl Future<Output = Result<PathBuf>> + Send;

    /// Uploads a local file.
    fn upload(&self, key: &str, file: &Path) -> impl Future<Output = Result<()>> + Send;

    /// Writes a small object, conditionally.
    fn put_small(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Option<Precondition>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes objects; a key that is already gone is not an error.
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;

    /// Deletes the noncurrent versions and delete markers of the objects under `prefix`, when
    /// the store keeps versions (an S3 bucket with versioning); returns how many it deleted.
    /// Erasure calls it after deleting the objects that held a person.
    fn purge_noncurrent(&self, prefix: &str) -> impl Future<Output = Result<u64>> + Send;

    /// Where the log of a lake table in this store lives, for the table format.
    fn table_location(&self, table: &Table) -> Result<TableLocation>;
}

/// Objects as files under a root directory; keys are relative paths.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

fn io_err(operation: &'static str, key: &str, e: std::io::Error) -> Error {
    Error::Storage {
        operation,
        key: key.to_string(),
        source: Box::new(e),
    }
}

/// A content hash stands in for S3's ETag.
fn etag(bytes: &[u8]) -> String {
    format!("{:016x}", super::fingerprint::fnv1a(bytes))
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore { root: root.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn walk(&self, dir: &Path, out: &mut Vec<ObjectMeta>) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            let path = entry.path();
            if meta.is_dir() {
                self.walk(&path, out)?;
            } else if let Ok(rel) = path.strip_prefix(&self.root) {
                let key = rel.to_string_lossy().replace('\\', "/");
                // Temporary files of an unfinished write are not objects yet.
                if !key.ends_with(".tmp") && !key.ends_with(".lock") {
                    out.push(ObjectMeta {
                        key,
                        size: meta.len(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Writes `key` through a temporary file that `fill` writes, then a rename, so readers never
    /// see half an object.
    fn write_atomic(
        &self,
        key: &str,
        operation: &'static str,
        fill: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> Result<()> {
        let path = self.path(key);
        let err = |e: std::io::Error| io_err(operation, key, e);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let tmp = path.with_extension(format!("{}.tmp", fastrand::u64(..)));
        fill(&tmp).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }

    fn put_body(&self, key: &str, body: &[u8]) -> Result<()> {
        self.write_atomic(key, "put", |tmp| {
            let mut f = std::fs::File::create(tmp)?;
            f.write_all(body)?;
            f.sync_all()
        })
    }
}

impl ObjectStore for LocalStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        // List the deepest directory the prefix names, then filter on the full prefix.
        let dir = match prefix.rfind('/') {
            Some(i) => self.path(&prefix[..i]),
            None => self.root.clone(),
        };
        let mut out = Vec::new();
        self.walk(&dir, &mut out)
            .map_err(|e| io_err("list", prefix, e))?;
        out.retain(|o| o.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(self.path(prefix)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err("list", prefix, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", prefix, e))?;
            if entry.path().is_dir() {
                out.push(format!("{prefix}{}/", entry.file_name().to_string_lossy()));
            }
        }
        out.sort();
        Ok(out)
    }

    async fn get_small(&self, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        match std::fs::read(self.path(key)) {
            Ok(body) => {
                let tag = etag(&body);
                Ok(Some((body, tag)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("get", key, e)),
        }
    }

    async fn fetch(&self, key: &str, _scratch: &Path) -> Result<PathBuf> {
        let path = self.path(key);
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::ObjectMissing {
                key: key.to_string(),
            })
        }
    }

    async fn upload(&self, key: &str, file: &Path) -> Result<()> {
        self.write_atomic(key, "upload", |tmp| std::fs::copy(file, tmp).map(|_| ()))
    }

    async fn put_small(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Option<Precondition>,
    ) -> Result<()> {
        let Some(precondition) = precondition else {
            return self.put_body(key, &body);
        };
        // A lock file makes check-and-write one step between processes, as S3 does it.
        let path = self.path(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err("put", key, e))?;
        }
        let lock = path.with_extension("lock");
        let failed = || Error::PreconditionFailed {
            key: key.to_string(),
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(failed()),
            Err(e) => return Err(io_err("put", key, e)),
        }
        let current = std::fs::read(&path).ok();
        let holds = match (&precondition, &current) {
            (Precondition::Absent, None) => true,
            (Precondition::Matches(tag), Some(body)) => etag(body) == *tag,
            _ => false,
        };
        let result = if holds {
            self.put_body(key, &body)
        } else {
            Err(failed())
        };
        let _ = std::fs::remove_file(&lock);
        result
    }

    fn table_location(&self, table: &Table) -> Result<TableLocation> {
        TableLocation::local(&self.path(&format!("lake/{}", table.name)))
    }

    /// A directory keeps no versions.
    async fn purge_noncurrent(&self, _prefix: &str) -> Result<u64> {
        Ok(0)
    }

    async fn delete(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            let path = self.path(key);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("delete", key, e)),
            }
            // S3 has no directories: drop the ones this left empty, so listings agree.
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| *d != self.root) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        Ok(())
    }
}
