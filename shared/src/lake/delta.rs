//! The table format: each lake table is a Delta Lake table (`lake/<table>/_delta_log/`), written
//! through the `deltalake` crate (delta-rs) without DataFusion. Our Parquet writer writes the data
//! files; this module commits them as `add` actions, and rewrites (optimize, erasure, retention)
//! as one atomic commit of `remove` + `add`. On S3 a commit is a conditional put of the next log
//! entry (`If-None-Match`), so no lock table is needed. This is the only module that knows the
//! format: the rest of the lake sees [`LakeTable`], [`DataFile`] and [`TableChange`].
//!
//! Guarantees of [`LakeTable::commit`]:
//! - Nothing is retried blindly. When another writer committed first, the table is re-read and
//!   the change is re-checked against it: an append fails if another compaction run committed
//!   (the application transaction of the table moved), a rewrite fails if any file it removes is
//!   gone. Otherwise it is committed on top (its files and their contents do not depend on the
//!   other commit). delta-rs's own conflict checker is not enough here: it lets a data-changing
//!   rewrite commit after an optimize removed the same file without changing data, which would
//!   resurrect the rows the rewrite dropped.
//! - The change is checked against the version it is committed on before the first attempt
//!   too, so a handle refreshed after the change was made cannot commit it blindly.
//! - A commit whose outcome is unknown (the log write failed without an answer) is looked up by
//!   its run id in the log before anything is decided, so a commit that happened is never
//!   mistaken for one that did not.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, DataType, Remove, StructField, Transaction};
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, ObjectStore, TableProperty};
use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use url::Url;

use super::error::{LakeError, Result};
use super::layout::Day;
use super::table::Table;
use crate::record::ColumnType;

/// The partition column of both tables: the arrival day, `YYYY-MM-DD`.
pub const PARTITION_COLUMN: &str = "dt";

/// The key under which our commits carry their own metadata in the log's `commitInfo`.
const INFO_KEY: &str = "driftless";

/// Commits that are re-checked and tried again before a writer gives up to a busy table.
const MAX_ATTEMPTS: usize = 20;

/// Where a table's log lives and how to reach it.
#[derive(Debug, Clone)]
pub struct TableLocation {
    url: Url,
    options: HashMap<String, String>,
    /// An object store to use instead of the one the URL names (tests inject faults with it).
    backend: Option<Arc<dyn ObjectStore>>,
}

impl TableLocation {
    /// A table in a local directory.
    pub fn local(dir: &std::path::Path) -> Result<TableLocation> {
        std::fs::create_dir_all(dir).map_err(|e| LakeError::io(dir.display(), e))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| LakeError::io(dir.display(), e))?;
        let url = Url::from_directory_path(&dir).map_err(|()| {
            LakeError::InvalidRequest(format!("{} is not an absolute directory", dir.display()))
        })?;
        Ok(TableLocation {
            url,
            options: HashMap::new(),
            backend: None,
        })
    }

    /// A table on S3: `s3://<bucket>/<prefix>`, reached at `endpoint` (moto's server locally;
    /// `None` is AWS's own) in `region`, the same ones as the S3 client the raw objects go
    /// through. Credentials come from the default chain (the function's role on Lambda), as
    /// for the AWS SDK.
    pub fn s3(
        bucket: &str,
        prefix: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<TableLocation> {
        let url = Url::parse(&format!("s3://{bucket}/{prefix}"))
            .map_err(|e| LakeError::InvalidRequest(format!("s3://{bucket}/{prefix}: {e}")))?;
        let mut options = HashMap::new();
        if let Some(endpoint) = endpoint {
            options.insert("AWS_ENDPOINT_URL".to_string(), endpoint.to_string());
            if endpoint.starts_with("http://") {
                options.insert("AWS_ALLOW_HTTP".into(), "true".into());
            }
        }
        if let Some(region) = region {
            options.insert("AWS_REGION".to_string(), region.to_string());
        }
        Ok(TableLocation {
            url,
            options,
            backend: None,
        })
    }

    /// The same table through another object store (fault injection in tests).
    pub fn with_backend(mut self, backend: Arc<dyn ObjectStore>) -> TableLocation {
        self.backend = Some(backend);
        self
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    fn builder(&self) -> Result<DeltaTableBuilder> {
        let mut b = DeltaTableBuilder::from_url(self.url.clone())
            .map_err(|e| delta("open", e))?
            .with_storage_options(self.options.clone());
        if let Some(backend) = &self.backend {
            b = b.with_storage_backend(backend.clone(), self.url.clone());
        }
        Ok(b)
    }
}

fn delta(operation: &'static str, source: DeltaTableError) -> LakeError {
    LakeError::Table {
        operation,
        source: Box::new(source),
    }
}

/// A data file the table's current version holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Relative to the table root: `dt=YYYY-MM-DD/<name>.parquet`.
    pub path: String,
    pub day: Option<Day>,
    pub size: u64,
    pub rows: Option<u64>,
    /// The `stats` JSON of its `add` action.
    pub stats: Option<String>,
}

/// A data file to add.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Relative to the table root.
    pub path: String,
    pub day: Day,
    pub size: u64,
    /// The `stats` JSON (see `lake::stats`).
    pub stats: String,
}

/// What a rewrite does, for the log's operation and its conflict rules.
#[derive(Debug, Clone)]
pub enum Rewrite {
    /// Small files of a day merged into large sorted ones: no data changes.
    Optimize { day: Day, target_size: u64 },
    /// Rows removed (erasure, retention): `predicate` says which, for people reading the log.
    Delete { predicate: String },
}

/// An application transaction (`txn` action): a writer's own version counter in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppTxn {
    pub app_id: &'static str,
    pub version: i64,
}

/// One atomic change of a table.
#[derive(Debug, Clone)]
pub enum TableChange {
    /// New files from one compaction run. `app_version` is the run's number for the table:
    /// one more than the last committed run's.
    /// `unchanged`: the last version of another application the writer saw (-1: none); the
    /// append conflicts if that application committed since (erasure does: an append that
    /// read its erasure requests before a new one was recorded must not commit the rows the
    /// erasure removed).
    Append {
        files: Vec<NewFile>,
        app_id: &'static str,
        app_version: i64,
        unchanged: Option<AppTxn>,
    },
    /// Files replaced by others (either list may be empty). `txn`, when set, is committed
    /// with them, and the rewrite conflicts if that application already reached its version.
    Rewrite {
        remove: Vec<DataFile>,
        add: Vec<NewFile>,
        kind: Rewrite,
        txn: Option<AppTxn>,
    },
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed {
        version: i64,
    },
    /// Another writer's commit made this change wrong; nothing was committed.
    Conflict {
        reason: String,
    },
}

/// What a vacuum deleted.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VacuumReport {
    /// Data files deleted, relative to the table root.
    pub files_deleted: Vec<String>,
}

/// One lake table, opened (and created on first use) at a location.
pub struct LakeTable {
    delta: DeltaTable,
    table: &'static Table,
}

fn data_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Utf8 | ColumnType::Json => DataType::STRING,
        ColumnType::Timestamp => DataType::TIMESTAMP,
        ColumnType::Int64 => DataType::LONG,
        ColumnType::Int32 => DataType::INTEGER,
        ColumnType::Boolean => DataType::BOOLEAN,
    }
}

/// The Delta schema of a table: its columns, then the partition column.
pub fn schema_fields(table: &Table) -> Vec<StructField> {
    table
        .columns
        .iter()
        .map(|c| StructField::new(c.name, data_type(c.ty), !c.required))
        .chain([StructField::new(PARTITION_COLUMN, DataType::STRING, false)])
        .collect()
}

/// A table made by an earlier release lacks the columns added since (all nullable, appended):
/// they are added in one schema commit, so readers see them, null in the older files. Two
/// writers that both evolve it race like any two commits; the loser finds the columns there.
async fn evolve(
    location: &TableLocation,
    found: DeltaTable,
    table: &'static Table,
) -> Result<LakeTable> {
    let snapshot = found.snapshot().map_err(|e| delta("open", e))?;
    let present: Vec<String> = snapshot
        .schema()
        .fields()
        .map(|f| f.name().to_string())
        .collect();
    let missing: Vec<StructField> = schema_fields(table)
        .into_iter()
        .filter(|f| !present.iter().any(|p| p == f.name()))
        .collect();
    if missing.is_empty() {
        return Ok(LakeTable {
            delta: found,
            table,
        });
    }
    let names: Vec<String> = missing.iter().map(|f| f.name().to_string()).collect();
    match found.add_columns().with_fields(missing).await {
        Ok(delta) => {
            tracing::info!(message = "Table schema gained columns.", table = table.name, columns = ?names);
            Ok(LakeTable { delta, table })
        }
        // Another writer changed the table first (most likely the same schema change): use
        // theirs; a column still missing is added by the next open.
        Err(e) if is_conflict(&e) => {
            let delta = location
                .builder()?
                .load()
                .await
                .map_err(|e| delta("open", e))?;
            Ok(LakeTable { delta, table })
        }
        Err(e) => Err(delta("evolve", e)),
    }
}

/// Settings of a new table.
#[derive(Debug, Clone)]
pub struct TableSettings {
    /// How long removed files stay for readers of older versions before vacuum deletes them.
    pub deleted_file_retention: Duration,
}

fn interval(d: Duration) -> String {
    let hours = d.as_secs() / 3600;
    if hours > 0 && d.as_secs().is_multiple_of(3600) {
        format!("interval {hours} hours")
    } else {
        format!("interval {} seconds", d.as_secs())
    }
}

impl LakeTable {
    /// Opens the table, creating it if there is none yet.
    pub async fn open(
        location: &TableLocation,
        table: &'static Table,
        settings: &TableSettings,
    ) -> Result<LakeTable> {
        let mut found = location.builder()?.build().map_err(|e| delta("open", e))?;
        match found.load().await {
            Ok(()) => return evolve(location, found, table).await,
            Err(DeltaTableError::NotATable(_)) => {}
            Err(e) => return Err(delta("open", e)),
        }
        let created = found
            .create()
            .with_table_name(table.name)
            .with_columns(schema_fields(table))
            .with_partition_columns([PARTITION_COLUMN])
            .with_configuration_property(
                TableProperty::DeletedFileRetentionDuration,
                Some(interval(settings.deleted_file_retention)),
            )
            .with_save_mode(SaveMode::ErrorIfExists)
            .await;
        match created {
            Ok(delta) => Ok(LakeTable { delta, table }),
            // Another writer created it first: use theirs.
            Err(_) => {
                let delta = location
                    .builder()?
                    .load()
                    .await
                    .map_err(|e| delta("open", e))?;
                Ok(LakeTable { delta, table })
            }
        }
    }

    pub fn table(&self) -> &'static Table {
        self.table
    }

    /// The column names of the table's schema, in order.
    pub fn schema_columns(&self) -> Result<Vec<String>> {
        let snapshot = self.delta.snapshot().map_err(|e| delta("open", e))?;
        Ok(snapshot
            .schema()
            .fields()
            .map(|f| f.name().to_string())
            .collect())
    }

    pub fn version(&self) -> i64 {
        self.delta.version().map_or(-1, |v| v as i64)
    }

    /// Reads the commits made since this handle last looked.
    pub async fn refresh(&mut self) -> Result<()> {
        self.delta
            .update_state()
            .await
            .map_err(|e| delta("refresh", e))
    }

    /// Every data file of the current version.
    pub fn files(&self) -> Result<Vec<DataFile>> {
        let snapshot = self.delta.snapshot().map_err(|e| delta("read", e))?;
        Ok(snapshot
            .log_data()
            .iter()
            .map(|f| {
                let path = f.path().into_owned();
                let stats = f.stats();
                DataFile {
                    day: day_of(&path),
                    size: f.size().max(0) as u64,
                    rows: stats
                        .as_deref()
                        .and_then(|s| serde_json::from_str::<Value>(s).ok())
                        .and_then(|s| s["numRecords"].as_u64()),
                    stats,
                    path,
                }
            })
            .collect())
    }

    /// The number of the last committed run of `app_id`, if any.
    pub async fn app_version(&self, app_id: &str) -> Result<Option<i64>> {
        let snapshot = self.delta.snapshot().map_err(|e| delta("read", e))?;
        snapshot
            .transaction_version(self.delta.log_store().as_ref(), app_id)
            .await
            .map_err(|e| delta("read", e))
    }

    /// Our metadata of the last `limit` commits, newest first (commits by other writers, and
    /// ours of vacuum, carry none and are left out).
    pub async fn recent_commits(&self, limit: usize) -> Result<Vec<Map<String, Value>>> {
        let infos: Vec<_> = self
            .delta
            .history(Some(limit))
            .try_collect()
            .await
            .map_err(|e| delta("history", e))?;
        Ok(infos
            .into_iter()
            .filter_map(|c| c.info.get(INFO_KEY).and_then(Value::as_object).cloned())
            .collect())
    }

    /// Commits `change` with `info` (our metadata: the run id, inputs, figures) in the log. See
    /// the module docs for what happens when another writer commits first.
    pub async fn commit(
        &mut self,
        change: TableChange,
        run_id: &str,
        info: Value,
        now_ms: i64,
    ) -> Result<CommitOutcome> {
        let mut meta = match info {
            Value::Object(m) => m,
            other => Map::from_iter([("details".to_string(), other)]),
        };
        meta.insert("run_id".into(), Value::String(run_id.to_string()));
        let (actions, operation) = actions(&change, now_ms);
        // The handle may have been refreshed since the change was made (a writer that commits
        // several changes in a row): the change is checked against the version it goes on.
        if let Some(reason) = self.still_valid(&change).await? {
            return Ok(CommitOutcome::Conflict { reason });
        }
        for _ in 0..MAX_ATTEMPTS {
            let snapshot = self.delta.snapshot().map_err(|e| delta("commit", e))?;
            let read_version = snapshot.version() as i64;
            let properties = CommitProperties::default()
                .with_max_retries(0)
                .with_create_checkpoint(true)
                .with_metadata([(INFO_KEY.to_string(), Value::Object(meta.clone()))]);
            let result = CommitBuilder::from(properties)
                .with_actions(actions.clone())
                .build(Some(snapshot), self.delta.log_store(), operation.clone())
                .await;
            match result {
                Ok(done) => {
                    let version = done.version() as i64;
                    self.refresh().await?;
                    return Ok(CommitOutcome::Committed { version });
                }
                Err(err) => {
                    // Whatever the error, first learn whether the commit happened after all.
                    self.refresh().await?;
                    if let Some(version) = self.committed_by(run_id, read_version).await? {
                        return Ok(CommitOutcome::Committed { version });
                    }
                    if !is_conflict(&err) {
                        return Err(delta("commit", err));
                    }
                    if let Some(reason) = self.still_valid(&change).await? {
                        return Ok(CommitOutcome::Conflict { reason });
                    }
                    tracing::info!(
                        message = "Another writer committed first; committing on top of it.",
                        table = self.table.name,
                        read_version,
                        version = self.version()
                    );
                }
            }
        }
        Ok(CommitOutcome::Conflict {
            reason: format!("the table kept changing through {MAX_ATTEMPTS} attempts"),
        })
    }

    /// The version our run's commit landed at, if it is among the commits after `since`.
    async fn committed_by(&self, run_id: &str, since: i64) -> Result<Option<i64>> {
        let newer = (self.version() - since).max(0) as usize;
        if newer == 0 {
            return Ok(None);
        }
        let infos: Vec<_> = self
            .delta
            .history(Some(newer))
            .try_collect()
            .await
            .map_err(|e| delta("history", e))?;
        Ok(infos.into_iter().find_map(|c| {
            let ours = c
                .info
                .get(INFO_KEY)
                .and_then(|m| m.get("run_id"))
                .and_then(Value::as_str)
                == Some(run_id);
            ours.then_some(c.read_version.map_or(since + 1, |v| v as i64 + 1))
        }))
    }

    /// `None` when `change` may still be committed on the current version, else why not.
    async fn still_valid(&self, change: &TableChange) -> Result<Option<String>> {
        match change {
            TableChange::Append {
                app_id,
                app_version,
                unchanged,
                ..
            } => {
                let committed = self.app_version(app_id).await?.unwrap_or(-1);
                if committed >= *app_version {
                    return Ok(Some(format!(
                        "another compaction run committed run {committed} of {app_id} first"
                    )));
                }
                if let Some(other) = unchanged {
                    let now = self.app_version(other.app_id).await?.unwrap_or(-1);
                    if now != other.version {
                        return Ok(Some(format!(
                            "{} committed version {now} since this run read {}",
                            other.app_id, other.version
                        )));
                    }
                }
                Ok(None)
            }
            TableChange::Rewrite { remove, txn, .. } => {
                if let Some(txn) = txn {
                    let now = self.app_version(txn.app_id).await?.unwrap_or(-1);
                    if now >= txn.version {
                        return Ok(Some(format!(
                            "{} already committed version {now}",
                            txn.app_id
                        )));
                    }
                }
                let active: HashSet<String> = self.files()?.into_iter().map(|f| f.path).collect();
                Ok(remove
                    .iter()
                    .find(|f| !active.contains(&f.path))
                    .map(|f| format!("{} was removed by a concurrent commit", f.path)))
            }
        }
    }

    /// Deletes the data files removed more than `retention` ago, and the files no version
    /// lists that are that old (runs that crashed before they committed); `info` goes into the
    /// log with the vacuum's commits.
    pub async fn vacuum(&mut self, retention: Duration, info: Value) -> Result<VacuumReport> {
        let (delta_table, metrics) = self
            .delta
            .clone()
            .vacuum()
            .with_retention_period(
                chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX),
            )
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .with_commit_properties(
                CommitProperties::default().with_metadata([(INFO_KEY.to_string(), info)]),
            )
            .await
            .map_err(|e| delta("vacuum", e))?;
        self.delta = delta_table;
        let root = self.delta.table_url().to_string();
        Ok(VacuumReport {
            files_deleted: metrics
                .files_deleted
                .into_iter()
                .map(|f| f.strip_prefix(&root).map(str::to_string).unwrap_or(f))
                .collect(),
        })
    }
}

/// The day of a data file from its partition directory.
fn day_of(path: &str) -> Option<Day> {
    let dir = path.split('/').next()?;
    Day::parse(dir.strip_prefix("dt=")?).ok()
}

fn is_conflict(err: &DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError;
    match err {
        DeltaTableError::VersionAlreadyExists(_) => true,
        DeltaTableError::Transaction { source } => matches!(
            source,
            TransactionError::VersionAlreadyExists(_)
                | TransactionError::MaxCommitAttempts(_)
                | TransactionError::CommitConflict(_)
        ),
        _ => false,
    }
}

fn partition(day: Day) -> HashMap<String, Option<String>> {
    HashMap::from([(PARTITION_COLUMN.to_string(), Some(day.to_string()))])
}

fn add(f: &NewFile, data_change: bool, now_ms: i64) -> Action {
    Action::Add(Add {
        path: f.path.clone(),
        partition_values: partition(f.day),
        size: f.size as i64,
        modification_time: now_ms,
        data_change,
        stats: Some(f.stats.clone()),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    })
}

fn remove(f: &DataFile, data_change: bool, now_ms: i64) -> Action {
    Action::Remove(Remove {
        path: f.path.clone(),
        data_change,
        deletion_timestamp: Some(now_ms),
        extended_file_metadata: Some(true),
        partition_values: f.day.map(partition),
        size: Some(f.size as i64),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
    })
}

fn txn_action(app_id: &str, version: i64, now_ms: i64) -> Action {
    Action::Txn(Transaction {
        app_id: app_id.to_string(),
        version,
        last_updated: Some(now_ms),
    })
}

fn actions(change: &TableChange, now_ms: i64) -> (Vec<Action>, DeltaOperation) {
    match change {
        TableChange::Append {
            files,
            app_id,
            app_version,
            ..
        } => {
            let mut actions: Vec<Action> = files.iter().map(|f| add(f, true, now_ms)).collect();
            actions.push(txn_action(app_id, *app_version, now_ms));
            (
                actions,
                DeltaOperation::Write {
                    mode: SaveMode::Append,
                    partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
                    predicate: None,
                },
            )
        }
        TableChange::Rewrite {
            remove: r,
            add: a,
            kind,
            txn,
        } => {
            let data_change = !matches!(kind, Rewrite::Optimize { .. });
            let actions = r
                .iter()
                .map(|f| remove(f, data_change, now_ms))
                .chain(a.iter().map(|f| add(f, data_change, now_ms)))
                .chain(txn.map(|t| txn_action(t.app_id, t.version, now_ms)))
                .collect();
            let operation = match kind {
                Rewrite::Optimize { day, target_size } => DeltaOperation::Optimize {
                    predicate: Some(format!("{PARTITION_COLUMN} = '{day}'")),
                    target_size: *target_size as i64,
                },
                Rewrite::Delete { predicate } => DeltaOperation::Delete {
                    predicate: Some(predicate.clone()),
                },
            };
            (actions, operation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::table::EVENTS;
    use crate::record::EventColumn;

    #[tokio::test]
    async fn a_table_made_before_the_traffic_columns_gains_them_on_open() {
        let dir = std::env::temp_dir().join(format!("driftless-evolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let location = TableLocation::local(&dir).unwrap();
        let settings = TableSettings {
            deleted_file_retention: Duration::from_secs(3600),
        };
        let old = EVENTS.first_columns(EventColumn::Properties.index() + 1);
        let before = LakeTable::open(&location, old, &settings).await.unwrap();
        assert!(!before
            .schema_columns()
            .unwrap()
            .iter()
            .any(|c| c == "is_bot"));

        let after = LakeTable::open(&location, &EVENTS, &settings)
            .await
            .unwrap();
        let columns = after.schema_columns().unwrap();
        let want: Vec<String> = schema_fields(&EVENTS)
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        let mut got = columns.clone();
        got.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(got, want_sorted, "every column, once");
        assert_eq!(after.version(), before.version() + 1, "one schema commit");

        let again = LakeTable::open(&location, &EVENTS, &settings)
            .await
            .unwrap();
        assert_eq!(
            again.version(),
            after.version(),
            "nothing to add the second time"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
