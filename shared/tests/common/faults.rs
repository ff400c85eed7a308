//! Fault injection for the lake's tests: a local store whose calls, and whose tables' log
//! calls, fail once at a chosen call, before or after doing it.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use driftless::lake::delta::TableLocation;
use driftless::lake::store::{LocalStore, ObjectMeta, ObjectStore, Precondition};
use driftless::lake::{LakeError, Result, Table};
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path as StorePath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    List,
    Fetch,
    Upload,
    PutSmall,
    Delete,
    LogGet,
    LogPut,
    LogList,
    LogDelete,
    LogCopy,
}

/// Counts calls per operation and fails the `nth` call of one: before doing it (the step did not
/// happen) or after (the step happened, then the process died before it heard back).
#[derive(Debug, Default)]
pub struct Faults {
    fault: Option<(Op, usize, bool)>,
    calls: Mutex<HashMap<Op, usize>>,
    pub fired: AtomicUsize,
}

impl Faults {
    pub fn new(fault: Option<(Op, usize, bool)>) -> Arc<Faults> {
        Arc::new(Faults {
            fault,
            ..Faults::default()
        })
    }

    /// Counts a call of `op` and says whether the fault is due before or after it.
    fn enter(&self, op: Op) -> (bool, bool) {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.entry(op).or_insert(0);
        *n += 1;
        match self.fault {
            Some((fop, nth, after)) if fop == op && nth == *n => {
                self.fired.fetch_add(1, Ordering::SeqCst);
                (!after, after)
            }
            _ => (false, false),
        }
    }

    pub fn calls(&self) -> HashMap<Op, usize> {
        self.calls.lock().unwrap().clone()
    }
}

fn injected(op: Op) -> LakeError {
    LakeError::Storage {
        operation: "injected",
        key: format!("{op:?}"),
        source: "fault injected".into(),
    }
}

fn log_injected(op: Op) -> object_store::Error {
    object_store::Error::Generic {
        store: "faulty",
        source: format!("fault injected at {op:?}").into(),
    }
}

/// A local store whose calls (and whose tables' log calls) can fail.
pub struct Faulty {
    pub inner: LocalStore,
    pub root: PathBuf,
    pub faults: Arc<Faults>,
}

impl Faulty {
    async fn call<T>(
        &self,
        op: Op,
        inner: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let (before, after) = self.faults.enter(op);
        if before {
            return Err(injected(op));
        }
        let r = inner.await?;
        if after {
            return Err(injected(op));
        }
        Ok(r)
    }
}

impl ObjectStore for Faulty {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.call(Op::List, self.inner.list(prefix)).await
    }
    async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_dirs(prefix).await
    }
    async fn get_small(&self, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        self.inner.get_small(key).await
    }
    async fn fetch(&self, key: &str, scratch: &Path) -> Result<PathBuf> {
        self.call(Op::Fetch, self.inner.fetch(key, scratch)).await
    }
    async fn upload(&self, key: &str, file: &Path) -> Result<()> {
        self.call(Op::Upload, self.inner.upload(key, file)).await
    }
    async fn put_small(&self, key: &str, body: Vec<u8>, p: Option<Precondition>) -> Result<()> {
        self.call(Op::PutSmall, self.inner.put_small(key, body, p))
            .await
    }
    async fn delete(&self, keys: &[String]) -> Result<()> {
        self.call(Op::Delete, self.inner.delete(keys)).await
    }
    async fn purge_noncurrent(&self, prefix: &str) -> Result<u64> {
        self.inner.purge_noncurrent(prefix).await
    }
    fn table_location(&self, table: &Table) -> Result<TableLocation> {
        let dir = self.root.join(format!("lake/{}", table.name));
        std::fs::create_dir_all(&dir).unwrap();
        // delta-rs takes a store whose "/" is the root of the URL's file system.
        let local = object_store::local::LocalFileSystem::new();
        Ok(
            TableLocation::local(&dir)?.with_backend(Arc::new(FaultyLog {
                inner: Arc::new(local),
                faults: self.faults.clone(),
            })),
        )
    }
}

/// The table log's object store, with the same faults.
#[derive(Debug)]
struct FaultyLog {
    inner: Arc<dyn object_store::ObjectStore>,
    faults: Arc<Faults>,
}

impl std::fmt::Display for FaultyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultyLog({})", self.inner)
    }
}

#[async_trait]
impl object_store::ObjectStore for FaultyLog {
    async fn put_opts(
        &self,
        location: &StorePath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let (before, after) = self.faults.enter(Op::LogPut);
        if before {
            return Err(log_injected(Op::LogPut));
        }
        let r = self.inner.put_opts(location, payload, opts).await?;
        if after {
            return Err(log_injected(Op::LogPut));
        }
        Ok(r)
    }

    async fn put_multipart_opts(
        &self,
        location: &StorePath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let (before, _) = self.faults.enter(Op::LogPut);
        if before {
            return Err(log_injected(Op::LogPut));
        }
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &StorePath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let (before, after) = self.faults.enter(Op::LogGet);
        if before || after {
            return Err(log_injected(Op::LogGet));
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &StorePath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let (before, after) = self.faults.enter(Op::LogGet);
        if before || after {
            return Err(log_injected(Op::LogGet));
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<StorePath>>,
    ) -> BoxStream<'static, object_store::Result<StorePath>> {
        let (before, after) = self.faults.enter(Op::LogDelete);
        if before {
            return futures_util::stream::once(async { Err(log_injected(Op::LogDelete)) }).boxed();
        }
        let deleted = self.inner.delete_stream(locations);
        if after {
            return deleted
                .chain(futures_util::stream::once(async {
                    Err(log_injected(Op::LogDelete))
                }))
                .boxed();
        }
        deleted
    }

    fn list(
        &self,
        prefix: Option<&StorePath>,
    ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        let (before, after) = self.faults.enter(Op::LogList);
        if before {
            return futures_util::stream::once(async { Err(log_injected(Op::LogList)) }).boxed();
        }
        let listed = self.inner.list(prefix);
        if after {
            return listed
                .chain(futures_util::stream::once(async {
                    Err(log_injected(Op::LogList))
                }))
                .boxed();
        }
        listed
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&StorePath>,
    ) -> object_store::Result<ListResult> {
        let (before, after) = self.faults.enter(Op::LogList);
        if before {
            return Err(log_injected(Op::LogList));
        }
        let r = self.inner.list_with_delimiter(prefix).await?;
        if after {
            return Err(log_injected(Op::LogList));
        }
        Ok(r)
    }

    async fn copy_opts(
        &self,
        from: &StorePath,
        to: &StorePath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let (before, after) = self.faults.enter(Op::LogCopy);
        if before {
            return Err(log_injected(Op::LogCopy));
        }
        self.inner.copy_opts(from, to, options).await?;
        if after {
            return Err(log_injected(Op::LogCopy));
        }
        Ok(())
    }

    async fn rename_opts(
        &self,
        from: &StorePath,
        to: &StorePath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let (before, after) = self.faults.enter(Op::LogCopy);
        if before {
            return Err(log_injected(Op::LogCopy));
        }
        self.inner.rename_opts(from, to, options).await?;
        if after {
            return Err(log_injected(Op::LogCopy));
        }
        Ok(())
    }
}
