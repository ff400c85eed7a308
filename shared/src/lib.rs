//! Driftless core: the event model, the schema registry and validator, the ingest pipeline,
//! Firehose packing and delivery, and compaction of the raw objects into the Parquet lake. Pure logic behind small traits at the I/O seams (a record sink
//! and a clock); the Lambda functions in `functions/` are thin adapters around it.

pub mod body;
pub mod compact;
pub mod config;
pub mod error;
pub mod event;
pub mod firehose;
pub mod ingest;
pub mod schema;
pub mod telemetry;
pub mod timestamp;

pub use error::{Error, Result};
