//! The lake: where every object lives in the bucket ([`layout`]), the two tables and their row
//! semantics ([`table`]), their data files ([`parquet`]), a day's commit record ([`commit`]),
//! raw Firehose objects ([`raw`]), and the object stores behind a small trait ([`store`]: a local
//! directory; [`s3`]: Amazon S3 and moto).

pub mod commit;
pub mod error;
pub mod fingerprint;
pub mod layout;
pub mod parquet;
pub mod raw;
pub mod s3;
pub mod store;
pub mod table;

pub use error::{LakeError, Result};
pub use layout::Day;
pub use table::{Table, EVENTS, QUARANTINE, TABLES};
