//! The CLI's one error type: everything that stops a command before it can give a verdict.
//! Findings (a broken schema, a stale file, a bad tracking call) are results, not errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Schema(#[from] driftless::schema::SchemaError),
    #[error(transparent)]
    Config(#[from] driftless::config::ConfigError),
    #[error(transparent)]
    Lake(#[from] driftless::lake::LakeError),
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> CliError {
        CliError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
