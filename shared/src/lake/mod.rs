//! The lake: where every object lives in the bucket ([`layout`]), the two tables and their row
//! semantics ([`table`]), the table format ([`delta`]: Delta Lake, the one module that knows it),
//! the data files ([`parquet`]) with their statistics ([`stats`]) and indexes ([`index`]), raw
//! Firehose objects ([`raw`]), and the object stores behind a small trait ([`store`]: a local
//! directory; [`s3`]: Amazon S3 and moto).

pub mod delta;
pub mod error;
pub mod fingerprint;
pub mod index;
pub mod layout;
pub mod parquet;
pub mod raw;
pub mod s3;
pub mod stats;
pub mod store;
pub mod table;

pub use error::{LakeError, Result};
pub use layout::Day;
pub use table::{Table, EVENTS, QUARANTINE, TABLES};
