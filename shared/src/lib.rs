//! Driftless core: the stored records and the lake's columns ([`record`]), the schema registry and
//! validator ([`schema`]), the ingest pipeline ([`ingest`]), the lake's layout, tables and stores
//! ([`lake`]), compaction ([`compact`]), erasure ([`erasure`]) and replay ([`replay`]), with configuration, the clock and
//! telemetry. Pure logic behind small traits at the I/O seams (a record sink, an object store, a
//! clock); the Lambda functions in `functions/` and the CLI are thin adapters around it.

pub mod clock;
pub mod compact;
pub mod config;
pub mod erasure;
pub mod ingest;
pub mod lake;
pub mod record;
pub mod replay;
pub mod schema;
pub mod telemetry;
#[cfg(test)]
mod test_fixtures;
pub mod timestamp;
