//! Compaction's commit protocol on a local object store: exactly once after faults at every step,
//! concurrent runs, late objects, unreadable input and days larger than the memory budget.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use driftless::compact::{Compaction, CompactionReport, DayReport, Outcome};
use driftless::config::CompactConfig;
use driftless::lake::commit::Manifest;
use driftless::lake::parquet::scan_string_column;
use driftless::lake::store::{LocalStore, ObjectMeta, ObjectStore, Precondition};
use driftless::lake::{Day, LakeError, Result, Table, EVENTS, QUARANTINE};
use driftless::timestamp::parse_rfc3339;

const DAY: &str = "2026-11-27";
/// Well after the day closed.
const NOW: &str = "2026-11-28T06:00:00Z";

fn now() -> i64 {
    parse_rfc3339(NOW).unwrap()
}

fn day() -> Day {
    Day::parse(DAY).unwrap()
}

fn temp_root(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "driftless-compact-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One table-day through the entry point every caller uses.
async fn compact_day<S: ObjectStore>(
    store: &S,
    table: &'static Table,
    day: Day,
    cfg: &CompactConfig,
    now: i64,
    include_open_day: bool,
) -> Result<DayReport> {
    Compaction::new(store, cfg, now)
        .with_open_days(include_open_day)
        .table_day(table, day)
        .await
}

/// What the schedule runs.
async fn compact_closed_days<S: ObjectStore>(
    store: &S,
    cfg: &CompactConfig,
    now: i64,
    deadline: Instant,
) -> Result<CompactionReport> {
    Compaction::new(store, cfg, now).closed_days(deadline).await
}

fn config(root: &Path) -> CompactConfig {
    CompactConfig {
        scratch_dir: root.join("scratch"),
        ..CompactConfig::default()
    }
}

/// A stored event line as the ingest writes it. `received` is the minute of arrival.
fn event(id: usize, received_minute: u32) -> String {
    let types = ["page_viewed", "product_viewed", "cart_item_added"];
    format!(
        r#"{{"event_id":"evt-{id:06}","event_type":"{}","schema_version":"1-0-0","timestamp":"2026-11-27T10:{:02}:{:02}.000Z","client_timestamp":"2026-11-27T10:00:00.000Z","sent_at":"2026-11-27T10:00:00.000Z","received_at":"2026-11-27T12:{received_minute:02}:00.000Z","anonymous_id":"anon-{}","user_id":null,"session_id":"s","seq":{},"context":{{"page":{{"url":"https://shop.example/{id}"}},"locale":"de-DE"}},"properties":{{"n":{id}}},"user_agent":"UA","ip":null}}"#,
        types[id % 3],
        id / 60 % 60,
        id % 60,
        id % 7,
        id / 7,
    )
}

fn write_raw(root: &Path, key: &str, lines: &[String], gzip: bool) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut body = lines.join("\n").into_bytes();
    body.push(b'\n');
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&body).unwrap();
        body = enc.finish().unwrap();
    }
    std::fs::write(path, body).unwrap();
}

/// 600 events over four objects (two gzip), 60 of them delivered twice (the copy later).
fn seed_day(root: &Path) -> HashSet<String> {
    let mut ids = HashSet::new();
    for obj in 0..4 {
        let mut lines = Vec::new();
        for i in obj * 150..(obj + 1) * 150 {
            lines.push(event(i, 10));
            ids.insert(format!("evt-{i:06}"));
        }
        if obj > 0 {
            // Redeliveries of the previous object's first 20 events.
            for i in (obj - 1) * 150..(obj - 1) * 150 + 20 {
                lines.push(event(i, 30));
            }
        }
        write_raw(
            root,
            &format!(
                "raw/events/2026/11/27/1{obj}/driftless-events-1-2026-11-27-1{obj}-00-00-{obj}"
            ),
            &lines,
            obj % 2 == 0,
        );
    }
    ids
}

/// Event ids in every Parquet part under the day's lake prefix (committed or not), with counts.
fn lake_ids(root: &Path) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    let dir = root.join(format!("lake/events/dt={DAY}"));
    for entry in std::fs::read_dir(&dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "parquet") {
            scan_string_column(&path, 0, |id| {
                *ids.entry(String::from_utf8(id.to_vec()).unwrap())
                    .or_insert(0) += 1;
            })
            .unwrap();
        }
    }
    ids
}

fn manifest(root: &Path) -> Option<Manifest> {
    std::fs::read(root.join(format!("lake/events/dt={DAY}/_manifest.json")))
        .ok()
        .map(|b| serde_json::from_slice(&b).unwrap())
}

fn raw_objects(root: &Path) -> usize {
    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .map(|e| {
                let p = e.unwrap().path();
                if p.is_dir() {
                    count(&p)
                } else {
                    1
                }
            })
            .sum()
    }
    count(&root.join("raw/events"))
}

/// Every event exactly once, every part listed by the manifest, the manifest's figures right.
fn assert_exactly_once(root: &Path, expected: &HashSet<String>) {
    let ids = lake_ids(root);
    let dupes: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "duplicates: {dupes:?}");
    let got: HashSet<String> = ids.keys().cloned().collect();
    assert_eq!(got.len(), expected.len(), "events in the lake");
    assert_eq!(&got, expected);
    let m = manifest(root).expect("a manifest");
    assert_eq!(m.rows as usize, expected.len());
    let listed: HashSet<String> = m
        .parts
        .iter()
        .map(|p| p.key.rsplit('/').next().unwrap().to_string())
        .collect();
    let on_disk: HashSet<String> = std::fs::read_dir(root.join(format!("lake/events/dt={DAY}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert_eq!(on_disk, listed, "no orphan part next to the committed ones");
}

#[tokio::test]
async fn a_day_becomes_deduplicated_sorted_parquet_and_raw_goes_only_after_the_manifest() {
    let root = temp_root("happy");
    let expected = seed_day(&root);
    let store = LocalStore::new(&root);
    let r = compact_day(&store, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Committed);
    assert_eq!(r.run.objects_in, 4);
    assert_eq!(r.run.events_in, 660);
    assert_eq!(r.run.duplicates_dropped, 60);
    assert_eq!(r.run.rows_out, 600);
    assert!(
        r.run.uncompressed_bytes_in > r.run.bytes_in,
        "two objects were gzip"
    );
    // Seven users, seq 0..=85 each, none missing: complete.
    assert_eq!(r.run.completeness_percent, Some(100.0));
    assert_exactly_once(&root, &expected);
    assert_eq!(raw_objects(&root), 0);
    let m = manifest(&root).unwrap();
    assert_eq!((m.generation, m.inputs.len()), (1, 4));
    assert_eq!(m.runs[0].duplicates_dropped, 60);
    let part = scan_string_column(&root.join(&m.parts[0].key), 0, |_| {}).unwrap();
    assert_eq!(part.rows, 600);
    assert_eq!(format!("{:016x}", part.checksum), m.checksum);

    // A re-run of the same request changes nothing.
    let again = compact_day(&store, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::NothingToDo);
    assert_eq!(manifest(&root).unwrap(), m);
}

#[tokio::test]
async fn an_open_day_waits_unless_the_request_includes_it() {
    let root = temp_root("open");
    seed_day(&root);
    let store = LocalStore::new(&root);
    let during = parse_rfc3339("2026-11-27T18:00:00Z").unwrap();
    let r = compact_day(&store, &EVENTS, day(), &config(&root), during, false)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::NotClosed);
    assert_eq!(raw_objects(&root), 4);
    let r = compact_day(&store, &EVENTS, day(), &config(&root), during, true)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Committed);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    List,
    Fetch,
    Upload,
    PutSmall,
    Delete,
}

const OPS: [Op; 5] = [Op::List, Op::Fetch, Op::Upload, Op::PutSmall, Op::Delete];

/// A local store that counts its calls per operation and fails the `nth` call of `op`: before
/// doing it (the step did not happen) or after (the step happened, then the process died before
/// it heard back). With `fault: None` it only counts, to learn the calls of a clean run.
struct Faulty {
    inner: LocalStore,
    fault: Option<(Op, usize, bool)>,
    calls: Mutex<HashMap<Op, usize>>,
    fired: AtomicUsize,
}

impl Faulty {
    fn new(root: &Path, fault: Option<(Op, usize, bool)>) -> Faulty {
        Faulty {
            inner: LocalStore::new(root),
            fault,
            calls: Mutex::new(HashMap::new()),
            fired: AtomicUsize::new(0),
        }
    }

    /// Counts a call of `op` and says whether the fault is due before or after it.
    fn enter(&self, op: Op) -> (bool, bool) {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.entry(op).or_insert(0);
        *n += 1;
        match self.fault {
            Some((fop, nth, after)) if fop == op && nth == *n => (!after, after),
            _ => (false, false),
        }
    }

    fn fail(&self, op: Op) -> LakeError {
        self.fired.fetch_add(1, Ordering::SeqCst);
        LakeError::Storage {
            operation: "injected",
            key: format!("{op:?}"),
            source: "fault injected".into(),
        }
    }

    async fn call<T>(
        &self,
        op: Op,
        inner: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let (before, after) = self.enter(op);
        if before {
            return Err(self.fail(op));
        }
        let r = inner.await?;
        if after {
            return Err(self.fail(op));
        }
        Ok(r)
    }

    fn calls(&self) -> HashMap<Op, usize> {
        self.calls.lock().unwrap().clone()
    }
}

impl ObjectStore for Faulty {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.call(Op::List, self.inner.list(prefix)).await
    }
    async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_dirs(prefix).await
    }
    async fn get_small(&self, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        self.inner.get_small(key).await
    }
    async fn fetch(&self, key: &str, scratch: &Path) -> Result<PathBuf> {
        self.call(Op::Fetch, self.inner.fetch(key, scratch)).await
    }
    async fn upload(&self, key: &str, file: &Path) -> Result<()> {
        self.call(Op::Upload, self.inner.upload(key, file)).await
    }
    async fn put_small(&self, key: &str, body: Vec<u8>, p: Option<Precondition>) -> Result<()> {
        self.call(Op::PutSmall, self.inner.put_small(key, body, p))
            .await
    }
    async fn delete(&self, keys: &[String]) -> Result<()> {
        self.call(Op::Delete, self.inner.delete(keys)).await
    }
}

/// Generation 1 committed cleanly, then late objects: one with a line that is not an event (so
/// a rejected-lines file is written too). Returns every event id the day must hold.
async fn day_with_late_objects(root: &Path) -> HashSet<String> {
    let mut expected = seed_day(root);
    let store = LocalStore::new(root);
    compact_day(&store, &EVENTS, day(), &config(root), now(), false)
        .await
        .unwrap();
    let mut late: Vec<String> = (590..640).map(|i| event(i, 50)).collect();
    late.push("not json".into());
    expected.extend((600..640).map(|i| format!("evt-{i:06}")));
    write_raw(root, "raw/events/2026/11/27/23/late-1", &late, true);
    write_raw(
        root,
        "raw/events/2026/11/27/23/late-2",
        &[event(700, 55)],
        false,
    );
    expected.insert("evt-000700".into());
    expected
}

#[tokio::test]
async fn a_crash_at_any_step_then_a_rerun_leaves_every_event_exactly_once() {
    // Every store call a clean run of generation 2 makes, counted: each one is then faulted,
    // before and after it happens.
    let root = temp_root("fault-count");
    day_with_late_objects(&root).await;
    let counting = Faulty::new(&root, None);
    compact_day(&counting, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    let calls = counting.calls();
    // list raw and lake; fetch 2 raw objects, 1 committed part and 1 part to verify; upload 1
    // part; put the rejected lines and the manifest; delete the raw inputs.
    let expected_calls: HashMap<Op, usize> = [
        (Op::List, 2),
        (Op::Fetch, 4),
        (Op::Upload, 1),
        (Op::PutSmall, 2),
        (Op::Delete, 1),
    ]
    .into();
    assert_eq!(calls, expected_calls, "the calls of a clean run");

    for op in OPS {
        for nth in 1..=calls.get(&op).copied().unwrap_or(0) {
            for after in [false, true] {
                let root = temp_root("fault");
                let expected = day_with_late_objects(&root).await;
                let store = LocalStore::new(&root);
                let faulty = Faulty::new(&root, Some((op, nth, after)));
                let first =
                    compact_day(&faulty, &EVENTS, day(), &config(&root), now(), false).await;
                let ctx = format!("{op:?} #{nth} after={after}: first={first:?}");
                assert_eq!(
                    faulty.fired.load(Ordering::SeqCst),
                    1,
                    "{ctx}: the fault fired"
                );
                assert!(first.is_err(), "{ctx}: the faulted run reports the fault");
                let again = compact_day(&store, &EVENTS, day(), &config(&root), now(), false)
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: re-run failed: {e}"));
                assert!(
                    matches!(again.outcome, Outcome::Committed | Outcome::NothingToDo),
                    "{ctx}: again={:?}",
                    again.outcome
                );
                assert_exactly_once(&root, &expected);
                assert_eq!(raw_objects(&root), 0, "{ctx}");
                let m = manifest(&root).unwrap();
                assert_eq!(m.generation, 2, "{ctx}");
                assert_eq!(m.rejected_lines.len(), 1, "{ctx}");
                assert!(
                    std::fs::read_dir(root.join("scratch")).map_or(0, |d| d.count()) == 0,
                    "{ctx}: scratch cleaned up"
                );
            }
        }
    }
}

/// Commits the day with another run the moment this run is about to write its manifest.
struct Interleaved {
    inner: LocalStore,
    root: PathBuf,
}

impl ObjectStore for Interleaved {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.inner.list(prefix).await
    }
    async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_dirs(prefix).await
    }
    async fn get_small(&self, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        self.inner.get_small(key).await
    }
    async fn fetch(&self, key: &str, scratch: &Path) -> Result<PathBuf> {
        self.inner.fetch(key, scratch).await
    }
    async fn upload(&self, key: &str, file: &Path) -> Result<()> {
        self.inner.upload(key, file).await
    }
    async fn put_small(&self, key: &str, body: Vec<u8>, p: Option<Precondition>) -> Result<()> {
        if key.ends_with("_manifest.json") {
            let other = compact_day(
                &self.inner,
                &EVENTS,
                day(),
                &config(&self.root),
                now(),
                false,
            )
            .await?;
            assert_eq!(other.outcome, Outcome::Committed);
        }
        self.inner.put_small(key, body, p).await
    }
    async fn delete(&self, keys: &[String]) -> Result<()> {
        self.inner.delete(keys).await
    }
}

#[tokio::test]
async fn of_two_runs_at_once_exactly_one_commits_and_the_other_removes_its_parts() {
    let root = temp_root("race");
    let expected = seed_day(&root);
    let racing = Interleaved {
        inner: LocalStore::new(&root),
        root: root.clone(),
    };
    let r = compact_day(&racing, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::LostRace);
    assert_exactly_once(&root, &expected);
    assert_eq!(manifest(&root).unwrap().generation, 1);

    // Truly concurrent runs on a fresh day: one commits, the other loses or finds nothing.
    let root = temp_root("race2");
    let expected = seed_day(&root);
    let (a, b) = (LocalStore::new(&root), LocalStore::new(&root));
    let (cfg_a, cfg_b) = (config(&root), config(&root));
    let (ra, rb) = tokio::join!(
        compact_day(&a, &EVENTS, day(), &cfg_a, now(), false),
        compact_day(&b, &EVENTS, day(), &cfg_b, now(), false),
    );
    let outcomes = [ra.unwrap().outcome, rb.unwrap().outcome];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Committed)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_exactly_once(&root, &expected);
}

#[tokio::test]
async fn late_objects_after_a_commit_are_merged_without_duplicates() {
    let root = temp_root("late");
    let mut expected = seed_day(&root);
    let store = LocalStore::new(&root);
    compact_day(&store, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    // A redelivery of 100 committed events and 50 new ones.
    let late: Vec<String> = (500..650).map(|i| event(i, 59)).collect();
    expected.extend((600..650).map(|i| format!("evt-{i:06}")));
    write_raw(&root, "raw/events/2026/11/27/23/late", &late, true);
    let r = compact_day(&store, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Committed);
    assert_eq!(r.generation, 2);
    assert_eq!(r.run.already_committed, 100);
    assert_eq!(r.run.rows_out, 50);
    assert_exactly_once(&root, &expected);
    let m = manifest(&root).unwrap();
    assert_eq!((m.inputs.len(), m.runs.len()), (5, 2));
}

#[tokio::test]
async fn unreadable_objects_and_lines_are_reported_and_kept_while_the_rest_is_compacted() {
    let root = temp_root("corrupt");
    let expected = seed_day(&root);
    // A gzip header followed by garbage, and a gzip object cut in half.
    let mut garbage = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    garbage.extend((0..500).map(|i| (i * 7 % 251) as u8));
    let bad_key = "raw/events/2026/11/27/20/corrupt";
    std::fs::create_dir_all(root.join("raw/events/2026/11/27/20")).unwrap();
    std::fs::write(root.join(bad_key), &garbage).unwrap();
    let lines: Vec<String> = (800..900).map(|i| event(i, 40)).collect();
    write_raw(&root, "raw/events/2026/11/27/20/truncated", &lines, true);
    let full = std::fs::read(root.join("raw/events/2026/11/27/20/truncated")).unwrap();
    std::fs::write(
        root.join("raw/events/2026/11/27/20/truncated"),
        &full[..full.len() / 2],
    )
    .unwrap();
    // A readable object with a non-JSON line and a JSON line that is not an event.
    write_raw(
        &root,
        "raw/events/2026/11/27/21/mixed",
        &[
            event(10, 45),
            "{this is not json".into(),
            r#"{"hello":"world"}"#.into(),
        ],
        false,
    );

    let store = LocalStore::new(&root);
    let r = compact_day(&store, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Committed);
    assert_eq!(r.run.unreadable_objects, 2);
    assert_eq!(r.run.rejected_lines, 2);
    let mut unreadable: Vec<_> = r.unreadable.iter().map(|u| u.key.as_str()).collect();
    unreadable.sort();
    assert_eq!(unreadable, [bad_key, "raw/events/2026/11/27/20/truncated"]);
    assert!(
        r.unreadable.iter().all(|u| u.error.contains("gzip")),
        "{:?}",
        r.unreadable
    );
    // No event of the truncated object reached the lake, not even the readable first half.
    assert_exactly_once(&root, &expected);
    assert_eq!(
        raw_objects(&root),
        2,
        "unreadable objects stay for inspection"
    );
    let m = manifest(&root).unwrap();
    let rejected = std::fs::read_to_string(root.join(&m.rejected_lines[0])).unwrap();
    let rejected: Vec<serde_json::Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["object"], "raw/events/2026/11/27/21/mixed");
    assert_eq!(rejected[0]["line"], 2);
    assert_eq!(rejected[0]["text"], "{this is not json");
    assert!(rejected[1]["error"]
        .as_str()
        .unwrap()
        .contains("event_id is missing"));

    // The next run does not retry known-unreadable objects; a repaired one is picked up.
    let r = compact_day(&store, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::NothingToDo);
    assert_eq!(r.unreadable.len(), 2);
    std::fs::write(root.join("raw/events/2026/11/27/20/truncated"), &full).unwrap();
    let r = compact_day(&store, &EVENTS, day(), &config(&root), now(), false)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Committed);
    assert_eq!(r.run.rows_out, 100);
}

#[tokio::test]
async fn a_day_many_times_the_memory_budget_compacts_to_the_same_lake() {
    let root = temp_root("budget");
    let mut expected = HashSet::new();
    // ~8 MB of encoded rows against a 1 MiB budget, with duplicates across objects.
    for obj in 0..8 {
        let mut lines = Vec::new();
        for i in obj * 2_500..(obj + 1) * 2_500 {
            lines.push(event(i, 10));
            expected.insert(format!("evt-{i:06}"));
        }
        for i in (0..2_500).step_by(10) {
            lines.push(event((i * 7 + obj * 13) % 20_000, 20));
        }
        write_raw(
            &root,
            &format!("raw/events/2026/11/27/0{obj}/obj-{obj}.gz"),
            &lines,
            true,
        );
    }
    let store = LocalStore::new(&root);
    let cfg = CompactConfig {
        memory_budget: 1024 * 1024,
        target_file_bytes: 64 * 1024,
        ..config(&root)
    };
    let r = compact_day(&store, &EVENTS, day(), &cfg, now(), false)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Committed);
    assert_eq!(r.run.rows_out, 20_000);
    assert_eq!(r.run.duplicates_dropped, 2_000);
    assert!(
        r.run.parts_out > 1,
        "parts roll at the target size: {:?}",
        r.run
    );
    assert_exactly_once(&root, &expected);

    // Sorted by event_type, then timestamp, across part boundaries.
    let m = manifest(&root).unwrap();
    let mut types = Vec::new();
    for p in &m.parts {
        scan_string_column(&root.join(&p.key), 1, |t| types.push(t.to_vec())).unwrap();
    }
    assert!(types.windows(2).all(|w| w[0] <= w[1]), "event_type order");
}

#[tokio::test]
async fn a_scheduled_run_compacts_closed_days_of_both_tables_and_leaves_today() {
    let root = temp_root("scheduled");
    let expected = seed_day(&root);
    // Today's objects, and a quarantined event of the closed day.
    write_raw(
        &root,
        "raw/events/2026/11/28/05/today",
        &[event(999, 1)],
        false,
    );
    write_raw(
        &root,
        "raw/quarantine/2026/11/27/12/q",
        &[r#"{"received_at":"2026-11-27T12:00:00.000Z","sent_at":"2026-11-27T12:00:00.000Z","index":0,"event_id":"x","event_type":"nope","schema_version":"1-0-0","reason":"unknown_event_type","errors":[{"path":"/event_type","message":"unknown"}],"user_agent":null,"ip":null,"raw":{"event_type":"nope"}}"#.to_string()],
        true,
    );
    let store = LocalStore::new(&root);
    let report = compact_closed_days(
        &store,
        &config(&root),
        now(),
        Instant::now() + Duration::from_secs(600),
    )
    .await
    .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.lag_days, Some(0));
    let committed: Vec<_> = report
        .days
        .iter()
        .map(|d| (d.table, d.date.as_str(), d.outcome))
        .collect();
    assert_eq!(
        committed,
        [
            ("events", DAY, Outcome::Committed),
            ("quarantine", DAY, Outcome::Committed)
        ]
    );
    assert_exactly_once(&root, &expected);
    assert_eq!(raw_objects(&root), 1, "today's object waits");
    let q: Manifest = serde_json::from_slice(
        &std::fs::read(root.join(format!("{}_manifest.json", day().lake_prefix(&QUARANTINE))))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(q.rows, 1);

    // Out of time: the day is deferred and the lag says how old it is.
    write_raw(&root, "raw/events/2026/11/25/05/old", &[event(1, 1)], false);
    let report = compact_closed_days(&store, &config(&root), now(), Instant::now())
        .await
        .unwrap();
    assert_eq!(report.deferred, ["2026-11-25"]);
    assert_eq!(report.lag_days, Some(3));
}
