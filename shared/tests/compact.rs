//! Compaction into the Delta tables on a local store: each event exactly once after faults at
//! every store call (raw objects, data files and the table's log), across days, through
//! optimize and vacuum, with concurrent writers, unreadable input and days larger than the
//! memory budget.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use driftless::compact::{
    AppendReport, Compaction, CompactionReport, Days, OptimizeOutcome, Outcome,
};
use driftless::config::CompactConfig;
use driftless::lake::delta::LakeTable;
use driftless::lake::parquet::scan_string_column;
use driftless::lake::store::{LocalStore, ObjectStore};
use driftless::lake::{Day, Result, Table, EVENTS, QUARANTINE};
use driftless::timestamp::parse_rfc3339;

mod common;
use common::config;
use common::faults::{Faults, Faulty, Op};

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
    common::temp_root("compact", name)
}

/// Appends the raw objects of `DAY` to both tables.
async fn append<S: ObjectStore>(store: &S, cfg: &CompactConfig) -> Result<CompactionReport> {
    append_at(store, cfg, now(), &[day()]).await
}

async fn append_at<S: ObjectStore>(
    store: &S,
    cfg: &CompactConfig,
    at: i64,
    days: &[Day],
) -> Result<CompactionReport> {
    Compaction::new(store, cfg, at)
        .append_days(&Days::Only(days.to_vec()))
        .await
}

fn events_of(report: &CompactionReport) -> &AppendReport {
    report
        .appends
        .iter()
        .find(|a| a.table == EVENTS.name)
        .expect("an events report")
}

/// A stored event line as the ingest writes it. `received` is the minute of arrival.
fn event(id: usize, received_minute: u32) -> String {
    event_at(id, &format!("2026-11-27T12:{received_minute:02}:00.000Z"))
}

fn event_at(id: usize, received_at: &str) -> String {
    let types = ["page_viewed", "product_viewed", "cart_item_added"];
    format!(
        r#"{{"event_id":"evt-{id:06}","event_type":"{}","schema_version":"1-0-0","timestamp":"2026-11-27T10:{:02}:{:02}.000Z","client_timestamp":"2026-11-27T10:00:00.000Z","sent_at":"2026-11-27T10:00:00.000Z","received_at":"{received_at}","anonymous_id":"anon-{}","user_id":null,"session_id":"s","seq":{},"context":{{"page":{{"url":"https://shop.example/{id}"}},"locale":"de-DE"}},"properties":{{"n":{id}}},"user_agent":"UA","ip":null}}"#,
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

/// What a reader of the table's current version finds: every key with its count. Reading every
/// file the version lists also proves that none of them is missing.
async fn table_ids(root: &Path, table: &'static Table) -> HashMap<String, usize> {
    let cfg = config(root);
    let store = LocalStore::new(root);
    let lake = LakeTable::open(
        &store.table_location(table).unwrap(),
        table,
        &cfg.table_settings(),
    )
    .await
    .unwrap();
    let mut ids = HashMap::new();
    for f in lake.files().unwrap() {
        let path = root.join(format!("lake/{}/{}", table.name, f.path));
        assert!(path.is_file(), "the table lists {} but it is gone", f.path);
        scan_string_column(&path, table.key_column, |id| {
            *ids.entry(String::from_utf8(id.to_vec()).unwrap())
                .or_insert(0) += 1;
        })
        .unwrap();
    }
    ids
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

/// Every expected event exactly once in the table's current version.
async fn assert_exactly_once(root: &Path, expected: &HashSet<String>) {
    assert_exactly_once_in(root, expected, "").await
}

async fn assert_exactly_once_in(root: &Path, expected: &HashSet<String>, ctx: &str) {
    let ids = table_ids(root, &EVENTS).await;
    let dupes: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "{ctx}: duplicates: {dupes:?}");
    let got: HashSet<String> = ids.keys().cloned().collect();
    assert_eq!(got.len(), expected.len(), "{ctx}: events in the table");
    assert_eq!(&got, expected, "{ctx}");
}

#[tokio::test]
async fn a_run_appends_each_event_once_and_deletes_raw_only_after_the_commit() {
    let root = temp_root("happy");
    let expected = seed_day(&root);
    let store = LocalStore::new(&root);
    let report = append(&store, &config(&root)).await.unwrap();
    let r = events_of(&report);
    assert_eq!(r.outcome, Outcome::Committed);
    assert_eq!(r.run.objects_in, 4);
    assert_eq!(r.run.events_in, 660);
    assert_eq!(r.run.duplicates_dropped, 60);
    assert_eq!(r.run.rows_out, 600);
    assert_eq!(r.run.run, 1);
    assert!(
        r.run.uncompressed_bytes_in > r.run.bytes_in,
        "two objects were gzip"
    );
    // Seven users, seq 0..=85 each, none missing: complete.
    assert_eq!(r.run.completeness_percent, Some(100.0));
    assert_exactly_once(&root, &expected).await;
    assert_eq!(raw_objects(&root), 0);
    assert!(
        root.join("lake/events/_delta_log/00000000000000000001.json")
            .is_file(),
        "version 0 creates the table, version 1 is the run"
    );

    // A re-run of the same request changes nothing.
    let again = append(&store, &config(&root)).await.unwrap();
    assert_eq!(events_of(&again).outcome, Outcome::NothingToDo);
    assert!(!root
        .join("lake/events/_delta_log/00000000000000000002.json")
        .exists());
}

/// One 15-minute run's object: `n` new events from `first`, and again the 10 events before
/// `first` (a client retry of the previous run's). Returns every event id it holds.
fn run_object(root: &Path, run: usize, first: usize, n: usize) -> HashSet<String> {
    let retried = first.saturating_sub(10)..first;
    let ids: Vec<usize> = retried.clone().chain(first..first + n).collect();
    let lines: Vec<String> = ids.iter().map(|&i| event(i, run as u32)).collect();
    write_raw(
        root,
        &format!("raw/events/2026/11/27/1{run}/run-{run}"),
        &lines,
        run.is_multiple_of(2),
    );
    ids.iter().map(|i| format!("evt-{i:06}")).collect()
}

#[tokio::test]
async fn fifteen_minute_runs_then_optimize_and_vacuum_keep_every_event_once() {
    let root = temp_root("runs");
    let store = LocalStore::new(&root);
    let cfg = CompactConfig {
        vacuum_retention: Duration::ZERO,
        ..config(&root)
    };
    let mut expected = HashSet::new();
    for run in 0..4 {
        expected.extend(run_object(&root, run, run * 100, 100));
        let report = append(&store, &cfg).await.unwrap();
        let r = events_of(&report);
        assert_eq!(r.outcome, Outcome::Committed, "run {run}");
        assert_eq!(r.run.run, run as i64 + 1);
        if run > 0 {
            assert_eq!(
                r.run.already_committed, 10,
                "the retry of the last run is dropped"
            );
        }
        assert_exactly_once(&root, &expected).await;
    }
    let before: Vec<String> = std::fs::read_dir(root.join(format!("lake/events/dt={DAY}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(before.len(), 4, "a file per run");

    let report = Compaction::new(&store, &cfg, now())
        .optimize_days(&[day()])
        .await
        .unwrap();
    let o = report
        .optimized
        .iter()
        .find(|o| o.table == EVENTS.name)
        .unwrap();
    assert_eq!(o.outcome, OptimizeOutcome::Optimized);
    assert_eq!((o.files_removed, o.files_added, o.rows), (4, 1, 400));
    assert_exactly_once(&root, &expected).await;
    // Sorted by event_type across the day.
    let lake = LakeTable::open(
        &store.table_location(&EVENTS).unwrap(),
        &EVENTS,
        &cfg.table_settings(),
    )
    .await
    .unwrap();
    let files = lake.files().unwrap();
    assert_eq!(files.len(), 1);
    let mut types = Vec::new();
    scan_string_column(
        &root.join(format!("lake/events/{}", files[0].path)),
        1,
        |t| types.push(t.to_vec()),
    )
    .unwrap();
    assert!(types.windows(2).all(|w| w[0] <= w[1]), "event_type order");
    // The removed files stay for readers of older versions until vacuum.
    for name in &before {
        assert!(root.join(format!("lake/events/dt={DAY}/{name}")).is_file());
    }
    let report = Compaction::new(&store, &cfg, now())
        .vacuum_tables()
        .await
        .unwrap();
    let v = report
        .vacuumed
        .iter()
        .find(|v| v.table == EVENTS.name)
        .unwrap();
    assert_eq!((v.files_deleted, v.indexes_deleted), (4, 4));
    for name in &before {
        assert!(!root.join(format!("lake/events/dt={DAY}/{name}")).exists());
    }
    assert_exactly_once(&root, &expected).await;
    // A second optimize finds nothing to do.
    let report = Compaction::new(&store, &cfg, now())
        .optimize_days(&[day()])
        .await
        .unwrap();
    assert!(report
        .optimized
        .iter()
        .all(|o| o.outcome == OptimizeOutcome::NothingToDo));
}

#[tokio::test]
async fn a_retry_after_midnight_and_a_replay_two_days_later_land_exactly_once() {
    let root = temp_root("midnight");
    let store = LocalStore::new(&root);
    let cfg = config(&root);
    let ids: Vec<usize> = (0..50).collect();
    let expected: HashSet<String> = ids.iter().map(|i| format!("evt-{i:06}")).collect();
    let batch =
        |received: &str| -> Vec<String> { ids.iter().map(|&i| event_at(i, received)).collect() };
    // Sent at 23:50 on the 27th; the client's retry after a lost response arrives at 00:30,
    // under the 28th's prefix; a replay of the same events comes two days after the first copy.
    write_raw(
        &root,
        "raw/events/2026/11/27/23/a",
        &batch("2026-11-27T23:50:00.000Z"),
        false,
    );
    let d27 = Day::parse("2026-11-27").unwrap();
    let d28 = Day::parse("2026-11-28").unwrap();
    let d29 = Day::parse("2026-11-29").unwrap();
    append_at(&store, &cfg, now(), &[d27]).await.unwrap();
    write_raw(
        &root,
        "raw/events/2026/11/28/00/b",
        &batch("2026-11-28T00:30:00.000Z"),
        true,
    );
    let r = append_at(&store, &cfg, now(), &[d28]).await.unwrap();
    assert_eq!(events_of(&r).run.already_committed, 50);
    write_raw(
        &root,
        "raw/events/2026/11/29/22/c",
        &batch("2026-11-29T22:00:00.000Z"),
        false,
    );
    let at = parse_rfc3339("2026-11-29T23:00:00Z").unwrap();
    let r = append_at(&store, &cfg, at, &[d29]).await.unwrap();
    assert_eq!(events_of(&r).run.already_committed, 50);
    assert_exactly_once(&root, &expected).await;

    // The window is the limit: with 24 hours, a copy three days after the first is a new row,
    // and a copy the day after that copy is caught again.
    let cfg = CompactConfig {
        dedup_window: Duration::from_secs(24 * 3600),
        ..cfg
    };
    let (d30, d01) = (
        Day::parse("2026-11-30").unwrap(),
        Day::parse("2026-12-01").unwrap(),
    );
    write_raw(
        &root,
        "raw/events/2026/11/30/01/d",
        &batch("2026-11-30T01:10:00.000Z"),
        false,
    );
    write_raw(
        &root,
        "raw/events/2026/12/01/00/e",
        &batch("2026-12-01T00:10:00.000Z"),
        false,
    );
    let r = append_at(&store, &cfg, at, &[d30, d01]).await.unwrap();
    assert_eq!(events_of(&r).run.already_committed, 50, "the 1st's copies");
    let ids = table_ids(&root, &EVENTS).await;
    assert!(
        ids.values().all(|n| *n == 2),
        "the 30th's copies are outside the window"
    );
}

/// A committed first run, then late objects: one with a line that is not an event (so a
/// rejected-lines file is written too). Returns every event id the day must hold.
async fn day_with_late_objects(root: &Path) -> HashSet<String> {
    let mut expected = seed_day(root);
    let store = LocalStore::new(root);
    append(&store, &config(root)).await.unwrap();
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

/// Runs `step` against a store that counts its calls, then once per call and side with that
/// call failing, each time on a fresh copy of the scenario `setup` builds; after each faulted
/// run, a clean re-run of `step` and `check` must find the lake exactly as it should be.
async fn fault_every_call<Setup, SetupFut, Step, StepFut>(name: &str, setup: Setup, step: Step)
where
    Setup: Fn(PathBuf) -> SetupFut,
    SetupFut: std::future::Future<Output = HashSet<String>>,
    Step: Fn(Faulty) -> StepFut,
    StepFut: std::future::Future<Output = Result<()>>,
{
    let root = temp_root(&format!("{name}-count"));
    setup(root.clone()).await;
    let counting = Faults::new(None);
    step(Faulty {
        inner: LocalStore::new(&root),
        root: root.clone(),
        faults: counting.clone(),
    })
    .await
    .unwrap();
    let calls = counting.calls();
    for op in [Op::Fetch, Op::Upload, Op::LogPut, Op::LogGet] {
        assert!(
            calls.get(&op).copied().unwrap_or(0) > 0,
            "{name}: no {op:?} call: {calls:?}"
        );
    }
    for (&op, &count) in &calls {
        for nth in 1..=count {
            for after in [false, true] {
                let root = temp_root(name);
                let expected = setup(root.clone()).await;
                let faults = Faults::new(Some((op, nth, after)));
                let first = step(Faulty {
                    inner: LocalStore::new(&root),
                    root: root.clone(),
                    faults: faults.clone(),
                })
                .await;
                let ctx = format!("{name}: {op:?} #{nth} after={after}: first={first:?}");
                assert_eq!(
                    faults.fired.load(Ordering::SeqCst),
                    1,
                    "{ctx}: the fault fired"
                );
                // At this moment a reader finds no event twice and every listed file there.
                let ids = table_ids(&root, &EVENTS).await;
                assert!(
                    ids.values().all(|n| *n == 1),
                    "{ctx}: a reader saw duplicates"
                );
                step(Faulty {
                    inner: LocalStore::new(&root),
                    root: root.clone(),
                    faults: Faults::new(None),
                })
                .await
                .unwrap_or_else(|e| panic!("{ctx}: re-run failed: {e}"));
                assert_exactly_once_in(&root, &expected, &ctx).await;
                assert_eq!(raw_objects(&root), 0, "{ctx}: raw goes once committed");
                assert!(
                    std::fs::read_dir(root.join("scratch")).map_or(0, |d| d.count()) == 0,
                    "{ctx}: scratch cleaned up"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_crash_at_any_call_of_an_append_then_a_rerun_leaves_every_event_exactly_once() {
    fault_every_call(
        "fault-append",
        |root| async move { day_with_late_objects(&root).await },
        |store| async move {
            let cfg = config(&store.root);
            Compaction::new(&store, &cfg, now())
                .with_on_error(driftless::compact::OnError::Stop)
                .append_days(&Days::Only(vec![day()]))
                .await?;
            Ok(())
        },
    )
    .await;
}

/// Four committed runs of the day, so optimize has four files to merge.
async fn day_of_runs(root: &Path) -> HashSet<String> {
    let store = LocalStore::new(root);
    let mut expected = HashSet::new();
    for run in 0..4 {
        expected.extend(run_object(root, run, run * 50, 50));
        append(&store, &config(root)).await.unwrap();
    }
    expected
}

#[tokio::test]
async fn a_crash_at_any_call_of_optimize_or_vacuum_then_a_rerun_leaves_every_event_exactly_once() {
    fault_every_call(
        "fault-optimize",
        |root| async move { day_of_runs(&root).await },
        |store| async move {
            let cfg = CompactConfig {
                vacuum_retention: Duration::ZERO,
                ..config(&store.root)
            };
            let c = Compaction::new(&store, &cfg, now())
                .with_on_error(driftless::compact::OnError::Stop);
            c.optimize_days(&[day()]).await?;
            c.vacuum_tables().await?;
            Ok(())
        },
    )
    .await;
}

#[tokio::test]
async fn of_two_runs_at_once_exactly_one_commits_and_the_other_removes_its_files() {
    let root = temp_root("race");
    let expected = seed_day(&root);
    let (a, b) = (LocalStore::new(&root), LocalStore::new(&root));
    let (cfg_a, cfg_b) = (config(&root), config(&root));
    let (ra, rb) = tokio::join!(append(&a, &cfg_a), append(&b, &cfg_b));
    let outcomes = [
        events_of(&ra.unwrap()).outcome,
        events_of(&rb.unwrap()).outcome,
    ];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Committed)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_exactly_once(&root, &expected).await;
    let files: Vec<_> = std::fs::read_dir(root.join(format!("lake/events/dt={DAY}")))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1, "the losing run removed its file");
}

#[tokio::test]
async fn an_append_and_an_optimize_at_once_both_commit_and_lose_nothing() {
    let root = temp_root("append-optimize");
    let mut expected = day_of_runs(&root).await;
    expected.extend(run_object(&root, 5, 1000, 50));
    let (a, b) = (LocalStore::new(&root), LocalStore::new(&root));
    let (cfg_a, cfg_b) = (config(&root), config(&root));
    let optimizer = Compaction::new(&b, &cfg_b, now());
    let days = [day()];
    let (appended, optimized) = tokio::join!(append(&a, &cfg_a), optimizer.optimize_days(&days));
    assert_eq!(events_of(&appended.unwrap()).outcome, Outcome::Committed);
    let optimized = optimized.unwrap();
    let o = optimized
        .optimized
        .iter()
        .find(|o| o.table == EVENTS.name)
        .unwrap();
    assert_eq!(o.outcome, OptimizeOutcome::Optimized, "{o:?}");
    assert_exactly_once(&root, &expected).await;
}

#[tokio::test]
async fn unreadable_objects_are_moved_aside_and_lines_that_are_not_events_kept() {
    let root = temp_root("corrupt");
    let expected = seed_day(&root);
    // A gzip header followed by garbage, and a gzip object cut in half.
    let mut garbage = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    garbage.extend((0..500).map(|i| (i * 7 % 251) as u8));
    let bad_key = "raw/events/2026/11/27/20/corrupt";
    std::fs::create_dir_all(root.join("raw/events/2026/11/27/20")).unwrap();
    std::fs::write(root.join(bad_key), &garbage).unwrap();
    let lines: Vec<String> = (800..900).map(|i| event(i, 40)).collect();
    let truncated = "raw/events/2026/11/27/20/truncated";
    write_raw(&root, truncated, &lines, true);
    let full = std::fs::read(root.join(truncated)).unwrap();
    std::fs::write(root.join(truncated), &full[..full.len() / 2]).unwrap();
    // A readable object with a non-JSON line and a JSON line that is not an event.
    let mixed = "raw/events/2026/11/27/21/mixed";
    write_raw(
        &root,
        mixed,
        &[
            event(10, 45),
            "{this is not json".into(),
            r#"{"hello":"world"}"#.into(),
        ],
        false,
    );

    let store = LocalStore::new(&root);
    let report = append(&store, &config(&root)).await.unwrap();
    let r = events_of(&report);
    assert_eq!(r.outcome, Outcome::Committed);
    assert_eq!(r.run.unreadable_objects, 2);
    assert_eq!(r.run.rejected_lines, 2);
    let mut unreadable: Vec<_> = r.unreadable.iter().map(|u| u.key.as_str()).collect();
    unreadable.sort();
    assert_eq!(unreadable, [bad_key, truncated]);
    assert!(
        r.unreadable.iter().all(|u| u.error.contains("gzip")),
        "{:?}",
        r.unreadable
    );
    // No event of the truncated object reached the lake, not even the readable first half.
    assert_exactly_once(&root, &expected).await;
    assert_eq!(raw_objects(&root), 0, "moved out of raw/");
    for key in [bad_key, truncated] {
        assert!(
            root.join(format!("unreadable/{key}")).is_file(),
            "{key} kept aside"
        );
    }
    let rejected =
        std::fs::read_to_string(root.join("rejected/events/2026/11/27/21/mixed.jsonl")).unwrap();
    let rejected: Vec<serde_json::Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["object"], mixed);
    assert_eq!(rejected[0]["line"], 2);
    assert_eq!(rejected[0]["text"], "{this is not json");
    assert!(rejected[1]["error"]
        .as_str()
        .unwrap()
        .contains("event_id is missing"));

    // A repaired object put back under its key is picked up.
    std::fs::create_dir_all(root.join(truncated).parent().unwrap()).unwrap();
    std::fs::write(root.join(truncated), &full).unwrap();
    let report = append(&store, &config(&root)).await.unwrap();
    let r = events_of(&report);
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
    let report = append(&store, &cfg).await.unwrap();
    let r = events_of(&report);
    assert_eq!(r.outcome, Outcome::Committed);
    assert_eq!(r.run.rows_out, 20_000);
    assert_eq!(r.run.duplicates_dropped, 2_000);
    assert!(
        r.run.files_out > 1,
        "files roll at the target size: {:?}",
        r.run
    );
    assert_exactly_once(&root, &expected).await;
}

/// A quarantine line of a rejected event of `anonymous_id` with `seq`.
fn quarantined(anonymous_id: &str, seq: i64) -> String {
    format!(
        r#"{{"received_at":"2026-11-27T12:00:00.000Z","sent_at":"2026-11-27T12:00:00.000Z","index":0,"event_id":"q-{anonymous_id}-{seq}","event_type":"product_viewed","schema_version":"1-0-0","reason":"properties","errors":[{{"path":"/properties/price","message":"must be a number"}}],"user_agent":null,"ip":null,"raw":{{"event_id":"q-{anonymous_id}-{seq}","anonymous_id":"{anonymous_id}","seq":{seq},"properties":{{"price":"x"}}}}}}"#
    )
}

#[tokio::test]
async fn a_scheduled_run_appends_today_optimizes_closed_days_and_measures_completeness() {
    let root = temp_root("scheduled");
    let store = LocalStore::new(&root);
    let cfg = config(&root);
    // The 27th: anon-c sends seq 1, 2, 4 (3 is lost), two tabs of anon-d both send seq 7,
    // and anon-e's seq 2 was rejected (quarantined: delivered, not lost). Two runs' files.
    let line = |id: &str, anon: &str, seq: i64| {
        format!(
            r#"{{"event_id":"{id}","event_type":"page_viewed","schema_version":"1-0-0","timestamp":"2026-11-27T10:00:00.000Z","received_at":"2026-11-27T12:00:00.000Z","anonymous_id":"{anon}","seq":{seq},"properties":{{}}}}"#
        )
    };
    write_raw(
        &root,
        "raw/events/2026/11/27/10/a",
        &[
            line("c1", "anon-c", 1),
            line("c2", "anon-c", 2),
            line("d7a", "anon-d", 7),
        ],
        false,
    );
    append(&store, &cfg).await.unwrap();
    write_raw(
        &root,
        "raw/events/2026/11/27/11/b",
        &[
            line("c4", "anon-c", 4),
            line("d7b", "anon-d", 7),
            line("e1", "anon-e", 1),
            line("e3", "anon-e", 3),
        ],
        true,
    );
    write_raw(
        &root,
        "raw/quarantine/2026/11/27/11/q",
        &[quarantined("anon-e", 2)],
        false,
    );
    // Today's objects are appended right away: fresh data, no waiting for the day to close.
    write_raw(
        &root,
        "raw/events/2026/11/28/05/today",
        &[event(999, 1)],
        false,
    );
    let report = Compaction::new(&store, &cfg, now())
        .scheduled(Instant::now() + Duration::from_secs(600))
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.lag_days, Some(0));
    assert_eq!(raw_objects(&root), 0, "today's object is in the lake too");
    let ids = table_ids(&root, &EVENTS).await;
    assert!(ids.contains_key("evt-000999"));
    let quarantined_ids: Vec<String> = table_ids(&root, &QUARANTINE).await.into_keys().collect();
    assert_eq!(quarantined_ids, ["q-anon-e-2"]);
    let o = report
        .optimized
        .iter()
        .find(|o| o.table == EVENTS.name && o.date == DAY)
        .expect("the closed day is optimized");
    assert_eq!(o.outcome, OptimizeOutcome::Optimized);
    // Expected: c 1..=4 (4), d 7 (1), e 1..=3 (3) = 8; received: c 3, d 1, e 3 = 7.
    let d = o.delivery.unwrap();
    assert_eq!((d.expected, d.received), (8, 7));
    assert_eq!(o.completeness_percent, Some(87.5));
    assert!(
        !report.optimized.iter().any(|o| o.date == "2026-11-28"),
        "today is not optimized"
    );
    assert_eq!(report.vacuumed.len(), 2, "both tables vacuumed once a day");
    // The next tick does not vacuum again.
    let report = Compaction::new(&store, &cfg, now())
        .scheduled(Instant::now() + Duration::from_secs(600))
        .await
        .unwrap();
    assert!(report.vacuumed.is_empty());
}
