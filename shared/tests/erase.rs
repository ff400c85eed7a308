//! Erasure on a local store: a person spread over three days, raw and compacted, accepted and
//! quarantined, with an `identify` linking two anonymous ids, erased by user id; late arrivals
//! filtered; faults at every store call of the job then a re-run; erasure against a concurrent
//! append and a concurrent optimize in both orders; retention by whole partitions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use driftless::compact::{Compaction, CompactionReport, Days, OnError, Outcome, RetentionOutcome};
use driftless::config::CompactConfig;
use driftless::erasure::{load_requests, Erasure, ErasureAsk, RequestReport, RequestStatus};
use driftless::lake::delta::{LakeTable, TableLocation};
use driftless::lake::fingerprint::fnv1a;
use driftless::lake::parquet::read_rows;
use driftless::lake::store::{LocalStore, ObjectMeta, ObjectStore, Precondition};
use driftless::lake::{Day, Result, Table, EVENTS, QUARANTINE};
use driftless::record::cells::Cell;
use driftless::timestamp::parse_rfc3339;

mod common;
use common::config;
use common::faults::{Faults, Faulty};

const NOW: &str = "2026-11-28T06:00:00Z";
const USER: &str = "u-erase";
/// The person's first device (anonymous, then identified) and second device.
const ANON_1: &str = "a-erase-1";
const ANON_2: &str = "a-erase-2";

fn now() -> i64 {
    parse_rfc3339(NOW).unwrap()
}

fn temp_root(name: &str) -> PathBuf {
    common::temp_root("erase", name)
}

fn event(id: &str, day: &str, anonymous: &str, user: Option<&str>, seq: usize) -> String {
    let user = user.map_or("null".to_string(), |u| format!("\"{u}\""));
    format!(
        r#"{{"event_id":"{id}","event_type":"page_viewed","schema_version":"1-0-0","timestamp":"{day}T10:00:{:02}.000Z","received_at":"{day}T10:01:00.000Z","anonymous_id":"{anonymous}","user_id":{user},"session_id":"s","seq":{seq},"context":{{"page":{{"url":"https://shop.example/{id}"}}}},"properties":{{"n":{seq}}}}}"#,
        seq % 60
    )
}

fn quarantined(id: &str, day: &str, raw: &str) -> String {
    format!(
        r#"{{"received_at":"{day}T12:00:00.000Z","sent_at":"{day}T12:00:00.000Z","index":0,"event_id":"{id}","event_type":"product_viewed","schema_version":"1-0-0","reason":"properties","errors":[{{"path":"/properties/price","message":"must be a number"}}],"user_agent":null,"ip":null,"raw":{raw}}}"#
    )
}

fn write_raw(root: &Path, key: &str, lines: &[String]) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut body = lines.join("\n").into_bytes();
    body.push(b'\n');
    std::fs::write(path, body).unwrap();
}

fn raw_key(table: &Table, day: &str, hour: u32, name: &str) -> String {
    format!(
        "raw/{}/{}/{hour:02}/{name}",
        table.name,
        day.replace('-', "/")
    )
}

/// The lines of one arrival day: other people's events, and (with `person`) the person's.
struct DayLines {
    events: Vec<String>,
    quarantine: Vec<String>,
}

/// Day `n` (0, 1, 2) of the scenario. Day 0: the person browses anonymously on device 1, then
/// signs in (identify: anonymous id 1 with the user id). Day 1: device 2 anonymously, then
/// signed in. Day 2: signed in on device 1. Rejected events of the person on days 0 and 2,
/// one naming the user only inside a nested raw value.
fn day_lines(n: usize, person: bool) -> DayLines {
    let day = ["2026-11-25", "2026-11-26", "2026-11-27"][n];
    let mut events = Vec::new();
    let mut quarantine = Vec::new();
    for i in 0..120 {
        let anon = format!("anon-{}", i % 6);
        let user = (i % 3 == 0).then(|| format!("user-{}", i % 6));
        events.push(event(
            &format!("e-{n}-{i:04}"),
            day,
            &anon,
            user.as_deref(),
            n * 200 + i,
        ));
    }
    for i in 0..10 {
        let raw = format!(r#"{{"anonymous_id":"anon-{i}","properties":{{"price":"x"}}}}"#);
        quarantine.push(quarantined(&format!("q-{n}-{i}"), day, &raw));
    }
    if person {
        let mine: Vec<(&str, Option<&str>)> = match n {
            0 => vec![(ANON_1, None), (ANON_1, None), (ANON_1, Some(USER))],
            1 => vec![(ANON_2, None), (ANON_2, None), (ANON_2, Some(USER))],
            _ => vec![(ANON_1, Some(USER)), (ANON_1, Some(USER))],
        };
        for (i, (anon, user)) in mine.into_iter().enumerate() {
            events.push(event(&format!("p-{n}-{i}"), day, anon, user, 900 + i));
        }
        let raw = match n {
            0 => format!(r#"{{"anonymous_id":"{ANON_1}","properties":{{"price":"x"}}}}"#),
            1 => format!(r#"{{"anonymous_id":"{ANON_2}","user_id":"{USER}"}}"#),
            _ => format!(r#"{{"anonymous_id":7,"traits":{{"user":"{USER}"}}}}"#),
        };
        quarantine.push(quarantined(&format!("pq-{n}"), day, &raw));
    }
    DayLines { events, quarantine }
}

fn write_day(root: &Path, n: usize, person: bool, part: &str) {
    let day = ["2026-11-25", "2026-11-26", "2026-11-27"][n];
    let lines = day_lines(n, person);
    // Two objects of events per day (the person's at the end of the second) and one of rejections.
    let half = lines.events.len() / 2;
    write_raw(
        root,
        &raw_key(&EVENTS, day, 10, &format!("{part}-a")),
        &lines.events[..half],
    );
    write_raw(
        root,
        &raw_key(&EVENTS, day, 11, &format!("{part}-b")),
        &lines.events[half..],
    );
    write_raw(
        root,
        &raw_key(&QUARANTINE, day, 12, part),
        &lines.quarantine,
    );
}

async fn append_all<S: ObjectStore>(store: &S, cfg: &CompactConfig) -> CompactionReport {
    Compaction::new(store, cfg, now())
        .with_on_error(OnError::Stop)
        .append_days(&Days::All)
        .await
        .unwrap()
}

/// Days 0 and 1 compacted (day 1 in two runs, then optimized into one file, so the removed
/// files are still there for readers of older versions), day 2 still raw.
async fn three_days(root: &Path, person: bool) {
    let store = LocalStore::new(root);
    let cfg = config(root);
    write_day(root, 0, person, "r0");
    append_all(&store, &cfg).await;
    let lines = day_lines(1, person);
    let half = lines.events.len() / 2;
    write_raw(
        root,
        &raw_key(&EVENTS, "2026-11-26", 9, "r1-a"),
        &lines.events[..half],
    );
    append_all(&store, &cfg).await;
    write_raw(
        root,
        &raw_key(&EVENTS, "2026-11-26", 10, "r1-b"),
        &lines.events[half..],
    );
    write_raw(
        root,
        &raw_key(&QUARANTINE, "2026-11-26", 10, "r1"),
        &lines.quarantine,
    );
    append_all(&store, &cfg).await;
    Compaction::new(&store, &cfg, now())
        .optimize_day(&EVENTS, Day::parse("2026-11-26").unwrap())
        .await
        .unwrap();
    write_day(root, 2, person, "r2");
}

fn ask() -> ErasureAsk {
    ErasureAsk {
        user_ids: vec![USER.into()],
        anonymous_ids: Vec::new(),
        requested_by: "ticket-4711".into(),
    }
}

fn is_person(text: &[u8]) -> bool {
    [USER, ANON_1, ANON_2]
        .iter()
        .any(|id| text.windows(id.len()).any(|w| w == id.as_bytes()))
}

/// Every Parquet file under a table's prefix in the store (current, removed, or never
/// committed), with the rows in it that name the person.
fn person_rows_in_storage(root: &Path, table: &Table) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let dir = root.join(format!("lake/{}", table.name));
    for path in walk(&dir) {
        if path.extension().is_some_and(|e| e == "parquet") {
            let mut n = 0;
            read_rows(&path, table, |row| {
                if is_person(row.bytes()) {
                    n += 1;
                }
            })
            .unwrap();
            out.insert(path.display().to_string(), n);
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The table's current version: each row's key with a checksum of the whole row.
async fn table_rows(root: &Path, table: &'static Table) -> BTreeMap<String, Vec<u64>> {
    let store = LocalStore::new(root);
    let lake = LakeTable::open(
        &store.table_location(table).unwrap(),
        table,
        &config(root).table_settings(),
    )
    .await
    .unwrap();
    let mut rows: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for f in lake.files().unwrap() {
        let path = root.join(format!("lake/{}/{}", table.name, f.path));
        read_rows(&path, table, |row| {
            let key = match row.cell(table.key_column) {
                Cell::Str(k) => String::from_utf8_lossy(k).into_owned(),
                _ => String::new(),
            };
            rows.entry(key).or_default().push(fnv1a(row.bytes()));
        })
        .unwrap();
    }
    rows
}

/// The person is nowhere: no row of any table file in storage (so in no readable version),
/// no raw object, no rejected line; and the lake equals the reference lake, which never saw
/// the person, row for row.
async fn assert_erased(root: &Path, reference: &Path, ctx: &str) {
    for table in [&EVENTS, &QUARANTINE] {
        let found: Vec<_> = person_rows_in_storage(root, table)
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert!(
            found.is_empty(),
            "{ctx}: {} files hold the person: {found:?}",
            table.name
        );
        assert_eq!(
            table_rows(root, table).await,
            table_rows(reference, table).await,
            "{ctx}: every other row of {} is intact",
            table.name
        );
    }
    for path in walk(&root.join("raw"))
        .into_iter()
        .chain(walk(&root.join("rejected")))
    {
        assert!(
            !is_person(&std::fs::read(&path).unwrap()),
            "{ctx}: {} holds the person",
            path.display()
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for path in walk(from) {
        let target = to.join(path.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&path, &target).unwrap();
    }
}

async fn reference_lake() -> PathBuf {
    let root = temp_root("reference");
    three_days(&root, false).await;
    append_all(&LocalStore::new(&root), &config(&root)).await;
    root
}

#[tokio::test]
async fn erasing_a_user_id_removes_every_row_of_the_person_across_days_tables_and_devices() {
    let root = temp_root("three-days");
    three_days(&root, true).await;
    let reference = reference_lake().await;
    let store = LocalStore::new(&root);
    let cfg = config(&root);
    assert!(
        person_rows_in_storage(&root, &EVENTS)
            .values()
            .sum::<usize>()
            > 0,
        "the scenario puts the person in the lake"
    );
    let report = Erasure::new(&store, &cfg, now())
        .erase_now(ask())
        .await
        .unwrap();
    let e = report.erasure.as_ref().unwrap();
    assert!(e.verified, "{e:#?}");
    assert_eq!(e.done.len(), 1);
    assert_eq!(e.linked_anonymous_ids, 2, "both devices' anonymous ids");
    // Compacted days 0 and 1: rewritten. Day 2 was raw: its rows were dropped by the append.
    let events = &e.tables[0];
    let days: Vec<&str> = events.days.iter().map(|d| d.date.as_str()).collect();
    assert_eq!(days, ["2026-11-25", "2026-11-26"]);
    assert_eq!(
        events.rows_removed(),
        6,
        "three events a day on the compacted days"
    );
    assert!(
        events.stale_files_deleted >= 3,
        "the rewritten files and the ones optimize removed: {events:?}"
    );
    assert_eq!(events.rows_remaining, 0);
    let dropped_at_append: u64 = report.appends.iter().map(|a| a.run.erased).sum();
    assert_eq!(
        dropped_at_append, 3,
        "day 2's event and rejected rows, still raw: {report:?}"
    );
    assert_eq!(
        e.tables[1].rows_removed(),
        2,
        "quarantine rows of days 0 and 1"
    );
    assert_erased(&root, &reference, "after erase").await;

    // The request and its report, as stored.
    let requests = load_requests(&store).await.unwrap();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.status, RequestStatus::Done);
    assert_eq!(r.requested_by, "ticket-4711");
    assert_eq!(r.linked_anonymous_ids, [ANON_1, ANON_2]);
    let (body, _) = store.get_small(&r.report).await.unwrap().unwrap();
    let kept: RequestReport = serde_json::from_slice(&body).unwrap();
    assert_eq!(kept.status, RequestStatus::Done);
    assert!(kept.runs.last().unwrap().verified);
    // The table log says what was done, never whose rows.
    for path in walk(&root.join("lake")) {
        if path.to_string_lossy().contains("_delta_log") {
            assert!(
                !is_person(&std::fs::read(&path).unwrap()),
                "{} names the person",
                path.display()
            );
        }
    }

    // Idempotent: another run has nothing to do and changes nothing.
    let before = table_rows(&root, &EVENTS).await;
    let again = Erasure::new(&store, &cfg, now()).apply().await.unwrap();
    assert!(
        again.requests.is_empty() && again.tables.is_empty(),
        "{again:?}"
    );
    assert_eq!(table_rows(&root, &EVENTS).await, before);
}

#[tokio::test]
async fn a_late_raw_object_of_an_erased_person_is_filtered_at_compaction() {
    let root = temp_root("late");
    three_days(&root, true).await;
    let store = LocalStore::new(&root);
    let cfg = config(&root);
    let e = Erasure::new(&store, &cfg, now())
        .erase_now(ask())
        .await
        .unwrap();
    assert!(e.erasure.unwrap().verified);
    // An offline client's batch arrives a day later: the person on device 2, and others.
    let late_day = "2026-11-28";
    let mut lines = vec![
        event("late-1", late_day, ANON_2, None, 1),
        event("late-2", late_day, ANON_1, Some(USER), 2),
        event("late-3", late_day, "a-new-device", Some(USER), 3),
    ];
    lines.extend((0..20).map(|i| event(&format!("late-o-{i}"), late_day, "anon-9", None, i)));
    write_raw(&root, &raw_key(&EVENTS, late_day, 3, "late"), &lines);
    let later = now() + 3_600_000;
    let report = Compaction::new(&store, &cfg, later)
        .scheduled(std::time::Instant::now() + std::time::Duration::from_secs(900))
        .await
        .unwrap();
    let events = report.appends.iter().find(|a| a.table == "events").unwrap();
    assert_eq!(events.outcome, Outcome::Committed);
    assert_eq!(
        events.run.erased, 3,
        "the person's late events, a new device's too"
    );
    assert_eq!(events.run.rows_out, 20);
    for table in [&EVENTS, &QUARANTINE] {
        let found: usize = person_rows_in_storage(&root, table).values().sum();
        assert_eq!(found, 0, "{}", table.name);
    }
    let rows = table_rows(&root, &EVENTS).await;
    assert_eq!(rows.keys().filter(|k| k.starts_with("late-o-")).count(), 20);
}

/// The scenario with the request recorded, not yet carried out.
async fn requested(root: PathBuf) {
    three_days(&root, true).await;
    let store = LocalStore::new(&root);
    Erasure::new(&store, &config(&root), now())
        .request(ask())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_crash_at_any_call_of_the_erasure_job_then_a_rerun_ends_in_the_same_state() {
    let reference = reference_lake().await;
    let step = |store: Faulty| async move {
        let cfg = config(&store.root);
        append_all_result(&store, &cfg).await?;
        let e = Erasure::new(&store, &cfg, now()).apply().await?;
        Ok::<_, driftless::lake::LakeError>(e)
    };
    // The scenario is built once and copied for every run.
    let template = temp_root("fault-template");
    requested(template.clone()).await;
    let root = temp_root("fault-count");
    copy_dir(&template, &root);
    let counting = Faults::new(None);
    step(Faulty {
        inner: LocalStore::new(&root),
        root: root.clone(),
        faults: counting.clone(),
    })
    .await
    .unwrap();
    let calls = counting.calls();
    assert!(
        calls.len() >= 6,
        "the job uses the store and the log: {calls:?}"
    );
    let mut runs = 0;
    let mut missed = 0;
    for (&op, &count) in &calls {
        for nth in 1..=count {
            for after in [false, true] {
                let root = temp_root("fault");
                copy_dir(&template, &root);
                let faults = Faults::new(Some((op, nth, after)));
                let first = step(Faulty {
                    inner: LocalStore::new(&root),
                    root: root.clone(),
                    faults: faults.clone(),
                })
                .await;
                let ctx = format!(
                    "{op:?} #{nth} after={after}: first={:?}",
                    first.as_ref().map(|e| e.verified)
                );
                if faults.fired.load(Ordering::SeqCst) == 0 {
                    // The count of log reads is not the same in every run (CI saw a run make
                    // fewer LogGets than the counting run): a run without an `nth` call of
                    // `op` has nothing to fail, and its end state is checked all the same.
                    let made = faults.calls().get(&op).copied().unwrap_or(0);
                    assert!(made < nth, "{ctx}: call {nth} of {made} did not fail");
                    missed += 1;
                }
                let store = LocalStore::new(&root);
                let cfg = config(&root);
                append_all(&store, &cfg).await;
                Erasure::new(&store, &cfg, now())
                    .apply()
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: re-run failed: {e}"));
                let requests = load_requests(&store).await.unwrap();
                assert_eq!(requests[0].status, RequestStatus::Done, "{ctx}");
                assert_erased(&root, &reference, &ctx).await;
                let _ = std::fs::remove_dir_all(&root);
                runs += 1;
            }
        }
    }
    assert!(runs > 50, "{runs} faulted runs");
    assert!(
        missed * 20 <= runs,
        "{missed} of {runs} runs had no call to fail: the count is no longer a guide"
    );
}

async fn append_all_result<S: ObjectStore>(
    store: &S,
    cfg: &CompactConfig,
) -> Result<CompactionReport> {
    Compaction::new(store, cfg, now())
        .with_on_error(OnError::Stop)
        .append_days(&Days::All)
        .await
}

/// A local store that stops the first upload of an events data file until released: the
/// writer holding it has read everything and is about to commit.
struct Gated {
    inner: LocalStore,
    armed: AtomicBool,
    paused: AtomicBool,
    released: AtomicBool,
}

impl Gated {
    fn new(root: &Path) -> Gated {
        Gated {
            inner: LocalStore::new(root),
            armed: AtomicBool::new(true),
            paused: AtomicBool::new(false),
            released: AtomicBool::new(false),
        }
    }

    /// Waits until the writer is stopped at its upload.
    async fn until_paused(&self) {
        while !self.paused.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }
}

impl ObjectStore for Gated {
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
        if key.starts_with("lake/events/dt=") && self.armed.swap(false, Ordering::SeqCst) {
            self.paused.store(true, Ordering::SeqCst);
            while !self.released.load(Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        self.inner.upload(key, file).await
    }
    async fn put_small(&self, key: &str, body: Vec<u8>, p: Option<Precondition>) -> Result<()> {
        self.inner.put_small(key, body, p).await
    }
    async fn delete(&self, keys: &[String]) -> Result<()> {
        self.inner.delete(keys).await
    }
    async fn purge_noncurrent(&self, prefix: &str) -> Result<u64> {
        self.inner.purge_noncurrent(prefix).await
    }
    fn table_location(&self, table: &Table) -> Result<TableLocation> {
        self.inner.table_location(table)
    }
}

#[tokio::test]
async fn an_append_that_read_its_requests_before_an_erasure_cannot_commit_after_it() {
    let root = temp_root("race-append");
    three_days(&root, true).await;
    let reference = reference_lake().await;
    let cfg = config(&root);
    let gated = Gated::new(&root);
    let plain = LocalStore::new(&root);
    // The append reads day 2's raw objects (with the person: no request yet) and stops before
    // its upload; meanwhile the request is made and the job runs.
    let (appended, erased) = tokio::join!(append_all_result(&gated, &cfg), async {
        gated.until_paused().await;
        let e = Erasure::new(&plain, &cfg, now());
        e.request(ask()).await.unwrap();
        let report = e.apply().await.unwrap();
        gated.release();
        report
    });
    let appended = appended.unwrap();
    let events = appended
        .appends
        .iter()
        .find(|a| a.table == "events")
        .unwrap();
    assert_eq!(
        events.outcome,
        Outcome::LostRace,
        "the erasure moved the table's erasure version"
    );
    assert!(
        !erased.verified,
        "day 2's raw objects still held the person"
    );
    // The next scheduled run: the append drops the person, the job verifies and closes.
    let report = append_all(&plain, &cfg).await;
    assert_eq!(report.appends[0].outcome, Outcome::Committed);
    let done = Erasure::new(&plain, &cfg, now()).apply().await.unwrap();
    assert!(done.verified && done.done.len() == 1, "{done:?}");
    assert_erased(&root, &reference, "after the race").await;
}

#[tokio::test]
async fn an_optimize_and_an_erasure_at_once_lose_nothing_and_resurrect_nothing_in_either_order() {
    let reference = reference_lake().await;
    for optimize_first in [true, false] {
        let root = temp_root("race-optimize");
        three_days(&root, true).await;
        let cfg = config(&root);
        let plain = LocalStore::new(&root);
        // A second day-1 file so optimize has work: the day's late objects.
        append_all(&plain, &cfg).await;
        let late = vec![event("p-late", "2026-11-26", ANON_2, None, 950)];
        write_raw(&root, &raw_key(&EVENTS, "2026-11-26", 23, "late"), &late);
        append_all(&plain, &cfg).await;
        Erasure::new(&plain, &cfg, now())
            .request(ask())
            .await
            .unwrap();
        let gated = Gated::new(&root);
        let day = Day::parse("2026-11-26").unwrap();
        if optimize_first {
            // The erasure stops before its upload; the optimize commits meanwhile.
            let erasure = Erasure::new(&gated, &cfg, now());
            let (e, o) = tokio::join!(erasure.apply(), async {
                gated.until_paused().await;
                let o = Compaction::new(&plain, &cfg, now())
                    .optimize_day(&EVENTS, day)
                    .await;
                gated.release();
                o
            });
            let (e, o) = (e.unwrap(), o.unwrap());
            assert_eq!(o.outcome, driftless::compact::OptimizeOutcome::Optimized);
            assert!(e.verified, "{e:?}");
            assert!(e.tables[0].passes >= 2, "the erasure went again: {e:?}");
        } else {
            let optimizer = Compaction::new(&gated, &cfg, now());
            let (o, e) = tokio::join!(optimizer.optimize_day(&EVENTS, day), async {
                gated.until_paused().await;
                let e = Erasure::new(&plain, &cfg, now()).apply().await;
                gated.release();
                e
            });
            let (o, e) = (o.unwrap(), e.unwrap());
            assert_eq!(
                o.outcome,
                driftless::compact::OptimizeOutcome::Conflict,
                "the optimize read files the erasure removed"
            );
            assert!(e.verified, "{e:?}");
        }
        let reference_rows = table_rows(&reference, &EVENTS).await;
        let mut rows = table_rows(&root, &EVENTS).await;
        rows.remove("p-late");
        assert_eq!(rows, reference_rows, "optimize_first={optimize_first}");
        let found: usize = person_rows_in_storage(&root, &EVENTS).values().sum();
        assert_eq!(found, 0, "optimize_first={optimize_first}");
    }
}

#[tokio::test]
async fn retention_deletes_exactly_the_partitions_older_than_the_setting() {
    let root = temp_root("retention");
    let store = LocalStore::new(&root);
    // Today is 2026-11-28; 90 days kept means 2026-08-30 and later stay.
    let days = [
        "2026-08-20",
        "2026-08-29",
        "2026-08-30",
        "2026-10-28",
        "2026-10-29",
        "2026-11-27",
    ];
    for day in days {
        write_raw(
            &root,
            &raw_key(&QUARANTINE, day, 1, "q"),
            &[quarantined(
                &format!("q-{day}"),
                day,
                r#"{"anonymous_id":"x"}"#,
            )],
        );
        write_raw(
            &root,
            &raw_key(&EVENTS, day, 1, "e"),
            &[event(&format!("e-{day}"), day, "x", None, 1)],
        );
    }
    let cfg = CompactConfig {
        events_retention_days: 30,
        ..config(&root)
    };
    append_all(&store, &cfg).await;
    let c = Compaction::new(&store, &cfg, now());
    let q = c.apply_retention(&QUARANTINE).await.unwrap();
    assert_eq!(q.outcome, RetentionOutcome::Deleted);
    assert_eq!(q.cutoff, "2026-08-30");
    assert_eq!(q.partitions_deleted, ["2026-08-20", "2026-08-29"]);
    assert_eq!(q.rows_removed, 2);
    let e = c.apply_retention(&EVENTS).await.unwrap();
    assert_eq!(e.cutoff, "2026-10-29");
    assert_eq!(
        e.partitions_deleted,
        ["2026-08-20", "2026-08-29", "2026-08-30", "2026-10-28"]
    );
    let q_keys: Vec<String> = table_rows(&root, &QUARANTINE).await.into_keys().collect();
    assert_eq!(
        q_keys,
        [
            "q-2026-08-30",
            "q-2026-10-28",
            "q-2026-10-29",
            "q-2026-11-27"
        ]
    );
    let e_keys: Vec<String> = table_rows(&root, &EVENTS).await.into_keys().collect();
    assert_eq!(e_keys, ["e-2026-10-29", "e-2026-11-27"]);
    // Again: nothing older left.
    let again = c.apply_retention(&QUARANTINE).await.unwrap();
    assert_eq!(again.outcome, RetentionOutcome::NothingToDo);
    let keep_all = CompactConfig {
        events_retention_days: 0,
        ..config(&root)
    };
    let none = Compaction::new(&store, &keep_all, now())
        .apply_retention(&EVENTS)
        .await
        .unwrap();
    assert_eq!(
        none.outcome,
        RetentionOutcome::NothingToDo,
        "0 keeps every day"
    );
}
