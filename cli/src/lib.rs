//! The `driftless` command's logic, as a library so that tests and benchmarks drive the same code
//! the binary runs.

pub mod check;
pub mod codegen;
pub mod columns;
pub mod error;
pub mod lint;
pub mod send;
pub mod validate;

pub use error::{CliError, Result};

/// Exit status for a command that ran and found problems (a broken schema, a stale generated file,
/// a bad tracking call, an invalid event).
pub const EXIT_FINDINGS: i32 = 1;
/// Exit status for a command that could not run: bad arguments, unreadable paths.
pub const EXIT_USAGE: i32 = 2;
