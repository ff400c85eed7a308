//! Erasure requests as objects in the bucket: one per request under `erasure/requests/`, with
//! when it was asked, by whom and for which ids; and the links compaction finds between an
//! erased user id and an anonymous id in raw events (`erasure/links/`).

use serde::{Deserialize, Serialize};

use super::filter::ErasureFilter;
use crate::lake::layout::{new_run_id, LINKS_PREFIX, REPORTS_PREFIX, REQUESTS_PREFIX};
use crate::lake::store::{ObjectStore, Precondition};
use crate::lake::{LakeError, Result};
use crate::timestamp::{format_rfc3339, EpochMillis};

/// Ids one request may name: a request is one person (or a few), not a bulk delete.
pub const MAX_IDS_PER_REQUEST: usize = 1000;

const DAY_MS: i64 = 86_400_000;

/// What is asked: the body of `{"erase": {...}}` and of `driftless erase --file`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ErasureAsk {
    #[serde(default)]
    pub user_ids: Vec<String>,
    #[serde(default)]
    pub anonymous_ids: Vec<String>,
    /// Who asked (a ticket, an address, a name): kept with the request as its audit record.
    #[serde(default)]
    pub requested_by: String,
}

impl ErasureAsk {
    /// The ask, trimmed and deduplicated, or what is wrong with it.
    pub fn validated(mut self) -> Result<ErasureAsk> {
        let bad = |m: String| Err(LakeError::InvalidRequest(m));
        self.requested_by = self.requested_by.trim().to_string();
        if self.requested_by.is_empty() {
            return bad("an erasure request needs requested_by (who asked, for the record)".into());
        }
        for (name, ids) in [
            ("user_ids", &mut self.user_ids),
            ("anonymous_ids", &mut self.anonymous_ids),
        ] {
            if let Some(i) = ids.iter().position(|id| id.trim().is_empty()) {
                return bad(format!("{name}[{i}] is empty"));
            }
            ids.sort();
            ids.dedup();
        }
        let n = self.user_ids.len() + self.anonymous_ids.len();
        if n == 0 {
            return bad("name at least one user_id or anonymous_id to erase".into());
        }
        if n > MAX_IDS_PER_REQUEST {
            return bad(format!(
                "{n} ids in one request; at most {MAX_IDS_PER_REQUEST}"
            ));
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Recorded; not yet verified erased everywhere.
    Open,
    /// Erased and verified; the report says how.
    Done,
}

/// One erasure request, as stored at `erasure/requests/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErasureRequest {
    /// `<UTC time>-<random>`: requests list in the order they were made.
    pub id: String,
    pub requested_at: String,
    pub requested_at_ms: EpochMillis,
    pub requested_by: String,
    pub user_ids: Vec<String>,
    pub anonymous_ids: Vec<String>,
    /// Anonymous ids the lake has seen with one of `user_ids` (an `identify`): erased too.
    #[serde(default)]
    pub linked_anonymous_ids: Vec<String>,
    pub status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<String>,
    /// The key of the request's report.
    pub report: String,
}

impl ErasureRequest {
    pub fn key(&self) -> String {
        request_key(&self.id)
    }

    /// Whole days since the request was made.
    pub fn age_days(&self, now: EpochMillis) -> i64 {
        (now - self.requested_at_ms).max(0) / DAY_MS
    }

    pub fn filter(&self) -> ErasureFilter {
        let mut f = ErasureFilter::new(
            self.user_ids.iter().map(String::as_str),
            self.anonymous_ids.iter().map(String::as_str),
        );
        f.add_anonymous(self.linked_anonymous_ids.iter().map(String::as_str));
        f
    }
}

pub fn request_key(id: &str) -> String {
    format!("{REQUESTS_PREFIX}{id}.json")
}

pub fn report_key(id: &str) -> String {
    format!("{REPORTS_PREFIX}{id}.json")
}

/// `20261202T061400Z` for a time.
fn compact_time(ms: EpochMillis) -> String {
    let t = format_rfc3339(ms);
    let mut out: String = t[..19].chars().filter(|c| *c != '-' && *c != ':').collect();
    out.push('Z');
    out
}

/// Records a request; returns it as stored.
pub async fn record<S: ObjectStore>(
    store: &S,
    ask: ErasureAsk,
    now: EpochMillis,
) -> Result<ErasureRequest> {
    let ask = ask.validated()?;
    let id = format!("{}-{}", compact_time(now), new_run_id());
    let request = ErasureRequest {
        report: report_key(&id),
        id,
        requested_at: format_rfc3339(now),
        requested_at_ms: now,
        requested_by: ask.requested_by,
        user_ids: ask.user_ids,
        anonymous_ids: ask.anonymous_ids,
        linked_anonymous_ids: Vec::new(),
        status: RequestStatus::Open,
        done_at: None,
    };
    store
        .put_small(
            &request.key(),
            to_json(&request),
            Some(Precondition::Absent),
        )
        .await?;
    tracing::info!(
        message = "Erasure request recorded.",
        request = request.id,
        requested_by = request.requested_by,
        ids = request.user_ids.len() + request.anonymous_ids.len()
    );
    Ok(request)
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Structs of strings, numbers and enums always serialize.
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], key: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| LakeError::Corrupt {
        what: key.to_string(),
        message: e.to_string(),
    })
}

/// Every request, oldest first. A damaged request object is an error: erasure must not skip it.
pub async fn load_requests<S: ObjectStore>(store: &S) -> Result<Vec<ErasureRequest>> {
    let mut out = Vec::new();
    for o in store.list(REQUESTS_PREFIX).await? {
        if let Some((body, _)) = store.get_small(&o.key).await? {
            out.push(parse::<ErasureRequest>(&body, &o.key)?);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

pub async fn save_request<S: ObjectStore>(store: &S, request: &ErasureRequest) -> Result<()> {
    store
        .put_small(&request.key(), to_json(request), None)
        .await
}

/// Anonymous ids a compaction run found with an erased user id in raw events it filtered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Links {
    pub found_at_ms: EpochMillis,
    /// `(user_id, anonymous_id)` pairs.
    pub pairs: Vec<(String, String)>,
    /// Set once an erasure job has erased the anonymous ids' rows from the tables.
    #[serde(default)]
    pub applied: bool,
}

/// Records links before the commit of the run that found them, so a crash cannot lose them.
pub async fn record_links<S: ObjectStore>(
    store: &S,
    now: EpochMillis,
    run_id: &str,
    mut pairs: Vec<(String, String)>,
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    pairs.sort();
    pairs.dedup();
    let links = Links {
        found_at_ms: now,
        pairs,
        applied: false,
    };
    let key = format!("{LINKS_PREFIX}{}-{run_id}.json", compact_time(now));
    store.put_small(&key, to_json(&links), None).await
}

/// Every links object with its key.
pub async fn load_links<S: ObjectStore>(store: &S) -> Result<Vec<(String, Links)>> {
    let mut out = Vec::new();
    for o in store.list(LINKS_PREFIX).await? {
        if let Some((body, _)) = store.get_small(&o.key).await? {
            out.push((o.key.clone(), parse::<Links>(&body, &o.key)?));
        }
    }
    Ok(out)
}

/// What compaction filters out of raw rows: the people of every open request and of every
/// request made less than `filter_days` ago (late arrivals, an offline client's old batch),
/// with the anonymous ids linked to them. Returns the filter and the requests it holds.
pub async fn active_filter<S: ObjectStore>(
    store: &S,
    now: EpochMillis,
    filter_days: i64,
) -> Result<(ErasureFilter, Vec<ErasureRequest>)> {
    let active: Vec<ErasureRequest> = load_requests(store)
        .await?
        .into_iter()
        .filter(|r| r.status == RequestStatus::Open || r.age_days(now) < filter_days)
        .collect();
    let mut filter = ErasureFilter::default();
    for r in &active {
        filter.add_users(r.user_ids.iter().map(String::as_str));
        filter.add_anonymous(
            r.anonymous_ids
                .iter()
                .chain(&r.linked_anonymous_ids)
                .map(String::as_str),
        );
    }
    if !active.is_empty() {
        for (_, links) in load_links(store).await? {
            filter.add_anonymous(links.pairs.iter().map(|(_, a)| a.as_str()));
        }
    }
    Ok((filter, active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ask_needs_ids_and_who_asked_and_is_normalised() {
        let ask = |u: &[&str], a: &[&str], by: &str| ErasureAsk {
            user_ids: u.iter().map(|s| s.to_string()).collect(),
            anonymous_ids: a.iter().map(|s| s.to_string()).collect(),
            requested_by: by.into(),
        };
        let ok = ask(&["u-2", "u-1", "u-2"], &[], " dpo@shop.example ")
            .validated()
            .unwrap();
        assert_eq!(ok.user_ids, ["u-1", "u-2"]);
        assert_eq!(ok.requested_by, "dpo@shop.example");
        for (bad, says) in [
            (ask(&[], &[], "x"), "at least one"),
            (ask(&["u"], &[], " "), "requested_by"),
            (ask(&["u", ""], &[], "x"), "user_ids[1] is empty"),
        ] {
            let err = bad.validated().unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        let payload: serde_json::Value =
            serde_json::json!({"user_ids": ["u"], "requested_by": "x", "email": "e"});
        assert!(
            serde_json::from_value::<ErasureAsk>(payload).is_err(),
            "unknown fields"
        );
    }

    #[test]
    fn request_ids_sort_by_time() {
        assert_eq!(compact_time(0), "19700101T000000Z");
        assert!(compact_time(1_000) < compact_time(86_400_000));
    }
}
