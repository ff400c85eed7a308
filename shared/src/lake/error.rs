//! The lake's errors: the object store, local scratch files, Parquet, and requests of the
//! compaction function and the CLI. Sources are kept, and printed as a chain.

use std::error::Error as StdError;
use std::fmt;

use crate::config::ConfigError;
use crate::ingest::IngestError;
use crate::schema::SchemaError;

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

/// An error from a client library (the S3 SDK), kept whole.
pub type BoxError = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{operation} {key}: {}", Chain(source.as_ref()))]
    Storage {
        operation: &'static str,
        key: String,
        #[source]
        source: BoxError,
    },
    #[error("{key} no longer exists")]
    ObjectMissing { key: String },
    #[error("{key} changed since it was read (another run committed first)")]
    PreconditionFailed { key: String },
    #[error("{path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("table {operation}: {}", Chain(source.as_ref()))]
    Table {
        operation: &'static str,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("{what} is damaged: {message}")]
    Corrupt { what: String, message: String },
    #[error("part {key} did not verify: {message}")]
    VerifyFailed { key: String, message: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("forwarding to {stream}: {source}")]
    Forward {
        stream: String,
        #[source]
        source: Box<IngestError>,
    },
}

impl LakeError {
    pub fn io(path: impl fmt::Display, source: std::io::Error) -> LakeError {
        LakeError::Io {
            path: path.to_string(),
            source,
        }
    }

    pub fn parquet(path: impl fmt::Display, source: parquet::errors::ParquetError) -> LakeError {
        LakeError::Parquet {
            path: path.to_string(),
            source,
        }
    }

    /// A stable, machine-readable name: the Lambda error type and the metrics use it.
    pub fn code(&self) -> &'static str {
        match self {
            LakeError::Storage { .. } => "storage",
            LakeError::ObjectMissing { .. } => "object_missing",
            LakeError::PreconditionFailed { .. } => "precondition_failed",
            LakeError::Parquet { .. } => "parquet",
            LakeError::Io { .. } => "scratch",
            LakeError::Task { .. } => "task",
            LakeError::VerifyFailed { .. } => "verify_failed",
            LakeError::Corrupt { .. } => "corrupt",
            LakeError::Table { .. } => "table",
            LakeError::InvalidRequest(_) => "invalid_request",
            LakeError::Config(_) => "misconfigured",
            LakeError::Schema(_) => "schema_invalid",
            LakeError::Forward { .. } => "forward_failed",
        }
    }
}

/// Prints an error and its sources as `outer: inner: innermost`, skipping a source whose text
/// the outer one already repeats (SDK errors often do).
pub struct Chain<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut next = self.0.source();
        while let Some(e) = next {
            let part = e.to_string();
            if !text.contains(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            next = e.source();
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_error_prints_its_whole_source_chain_once() {
        let inner = std::io::Error::other("connection reset");
        let outer = LakeError::Storage {
            operation: "get",
            key: "lake/x".into(),
            source: Box::new(LakeError::io("dispatch", inner)),
        };
        assert_eq!(outer.to_string(), "get lake/x: dispatch: connection reset");
        assert!(outer.source().is_some());
    }
}
