//! Erasure: a person's events removed from every copy the pipeline keeps, on request, with a
//! report that proves it. One entry point, [`Erasure`], serves the compaction function (the
//! `{"erase": {...}}` request and the schedule) and `driftless erase`.
//!
//! - A request ([`request`]) is one object under `erasure/requests/`: when, who asked, the
//!   user ids and anonymous ids. A user id also covers every anonymous id the lake has seen
//!   with it (an `identify`): those are found by reading the rows of the files whose index
//!   holds the user, and by compaction when it drops a raw row that carries both.
//! - While a request is open, and for `erasure_filter_days` after it, every compaction run
//!   drops the raw rows of its people before it writes anything ([`filter`]): raw objects not
//!   yet compacted, and late arrivals, never reach the tables; the raw objects are deleted
//!   after the run's commit, as always.
//! - The job ([`Erasure::apply`]) rewrites, per table and day, only the files whose index
//!   (events) or rows (quarantine: the raw event text too) hold the people, as one Delta
//!   commit of `remove` + `add` (`dataChange=true`), then deletes at once every file of the
//!   table no current version lists that holds them (the rewritten ones, and copies an
//!   optimize removed that vacuum would only delete after its retention) with their indexes,
//!   and their noncurrent versions on a versioned bucket. It reads the tables back, and only
//!   when no row and no raw object holds the people marks the requests done.
//!
//! Crash safety: the job holds no state of its own. Every step is either a commit (atomic) or
//! a deletion of files no current version lists, and a re-run starts from the table as it is:
//! rows already gone are not found again, files already deleted are not listed. Concurrency:
//! each erasure commit also moves the table's `driftless-erasure` application version, and an
//! append that read that version before the commit cannot commit after it (it read its
//! erasure requests earlier and may hold the rows the erasure removed); an optimize that read
//! a file the erasure removed conflicts as it always does, and an erasure that finds its
//! files optimized away starts its pass again.

mod apply;
pub mod filter;
pub mod report;
pub mod request;

use crate::compact::{Compaction, CompactionReport, Days, OnError};
use crate::config::CompactConfig;
use crate::lake::store::ObjectStore;
use crate::lake::Result;
pub use filter::ErasureFilter;
pub use report::{DayErasure, ErasureRunReport, RawErasure, RequestReport, TableErasure};
pub use request::{
    active_filter, load_requests, record_links, ErasureAsk, ErasureRequest, RequestStatus,
};

/// The application id of erasure's commits in the tables' logs.
pub const ERASURE_APP_ID: &str = "driftless-erasure";

/// Erasure on one store, as a builder: `Erasure::new(&store, &cfg, now)`, then `request`,
/// `apply` or `erase_now`.
pub struct Erasure<'a, S> {
    store: &'a S,
    cfg: &'a CompactConfig,
    now: i64,
    every_file: bool,
}

impl<'a, S: ObjectStore> Erasure<'a, S> {
    pub fn new(store: &'a S, cfg: &'a CompactConfig, now: i64) -> Erasure<'a, S> {
        Erasure {
            store,
            cfg,
            now,
            every_file: false,
        }
    }

    /// Rewrites every file of every day instead of only those that hold the people: the naive
    /// approach, which the benchmark measures against.
    pub fn rewriting_every_file(mut self) -> Erasure<'a, S> {
        self.every_file = true;
        self
    }

    /// Records a request; from now on compaction drops its people's raw rows.
    pub async fn request(&self, ask: ErasureAsk) -> Result<ErasureRequest> {
        request::record(self.store, ask, self.now).await
    }

    /// Records a request and carries it out at once: every raw object appended (without the
    /// people's rows), then the job. What `driftless erase` and `{"erase": {...}}` do.
    pub async fn erase_now(&self, ask: ErasureAsk) -> Result<CompactionReport> {
        let request = self.request(ask).await?;
        let mut report = Compaction::new(self.store, self.cfg, self.now)
            .with_on_error(OnError::Stop)
            .append_days(&Days::All)
            .await?;
        report.erasure_request = Some(request.id);
        report.erasure = Some(self.apply().await?);
        Ok(report)
    }
}
