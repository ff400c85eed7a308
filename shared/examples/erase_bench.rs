//! `make bench` (erasure part): erase one person from a day of the events table and from many
//! such days, against the naive approach (rewrite every file), measured in the same run on the
//! same lake.
//!
//! 1. Generates one arrival day of raw events (`--size-mb` of NDJSON, default 1024) as 24 hourly
//!    objects and compacts them as 24 runs (24 files, as the 15-minute schedule leaves a day
//!    before it is optimized, at an hourly grain). The person (a user id, with an anonymous id
//!    linked to it by an identify) is active in two of the hours.
//! 2. One day: erases the person from a copy of the lake with `Erasure` and from another copy
//!    rewriting every file; both must remove the same rows and verify.
//! 3. Many days (`--days`, default 30): the day's files copied into that many `dt` partitions
//!    (one append commit each), the person's files only into the first `--person-days`
//!    (default 3): a person active on a few days of a month. The same two erasures.
//!
//! Prints time, files and bytes rewritten, and the ratios naive/ours. Speed is reported, never
//! asserted; a wrong result (different rows removed, not verified) fails the run.
//!
//!     cargo run --release -p driftless --example erase_bench -- [--size-mb 1024] [--days 30]
//!         [--person-days 3] [--workdir DIR]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use driftless::compact::{Compaction, Days};
use driftless::config::CompactConfig;
use driftless::erasure::{Erasure, ErasureAsk, ErasureFilter, ErasureRunReport};
use driftless::lake::delta::{LakeTable, NewFile, TableChange};
use driftless::lake::index::FileIndex;
use driftless::lake::layout::index_path;
use driftless::lake::store::{LocalStore, ObjectStore};
use driftless::lake::{Day, EVENTS};
use driftless::timestamp::parse_rfc3339;

const DAY: &str = "2026-11-27";
const NOW: &str = "2026-12-28T06:00:00Z";
const USER: &str = "bench-person";
const ANON: &str = "bench-person-device";
const PERSON_HOURS: [u32; 2] = [9, 17];
const MIB: u64 = 1 << 20;

struct Args {
    size_mb: u64,
    days: usize,
    person_days: usize,
    workdir: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        size_mb: 1024,
        days: 30,
        person_days: 3,
        workdir: std::env::temp_dir().join("driftless-erase-bench"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--size-mb" => a.size_mb = value.parse().expect("--size-mb: a number"),
            "--days" => a.days = value.parse().expect("--days: a number"),
            "--person-days" => a.person_days = value.parse().expect("--person-days: a number"),
            "--workdir" => a.workdir = PathBuf::from(value),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// splitmix64: the generator's dice, so a run makes the same day every time.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// One event as ingest stores it, with the spread of a real shop's traffic (random ids and
/// times, many pages and products, several browsers and locales), so its Parquet is about as
/// large as real data's: a day of near-identical rows would compress to almost nothing and
/// make rewriting a file look free.
fn event(id: u64, hour: u32, anonymous: &str, user: Option<&str>) -> String {
    const TYPES: [&str; 4] = [
        "page_viewed",
        "product_viewed",
        "cart_item_added",
        "checkout_started",
    ];
    const TITLES: [&str; 6] = [
        "Trail runner",
        "Rain jacket",
        "Merino socks",
        "Summit pack 30L",
        "Headlamp",
        "Your basket",
    ];
    const LOCALES: [(&str, &str); 5] = [
        ("de-DE", "Europe/Berlin"),
        ("en-GB", "Europe/London"),
        ("fr-FR", "Europe/Paris"),
        ("en-US", "America/New_York"),
        ("nl-NL", "Europe/Amsterdam"),
    ];
    const AGENTS: [&str; 4] = [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    ];
    let r = mix(id);
    let pick = |salt: u64, n: usize| (mix(r ^ salt) % n as u64) as usize;
    let at = u64::from(hour) * 3_600_000 + mix(r ^ 1) % 3_600_000;
    let skew = mix(r ^ 2) % 1_500;
    let clock = |ms: u64| {
        let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        format!("{DAY}T{h:02}:{m:02}:{s:02}.{f:03}Z")
    };
    let user = user.map_or("null".to_string(), |u| format!("\"{u}\""));
    let product = mix(r ^ 3) % 3_000;
    let (locale, zone) = LOCALES[pick(4, LOCALES.len())];
    format!(
        r#"{{"event_id":"{:016x}{:016x}","event_type":"{}","schema_version":"1-0-0","timestamp":"{}","client_timestamp":"{}","sent_at":"{}","received_at":"{}","anonymous_id":"{anonymous}","user_id":{user},"session_id":"s-{:012x}","seq":{},"context":{{"page":{{"url":"https://shop.example/p/sku-{product:04}?ref={:x}","referrer":"https://www.example.com/search?q={:x}","title":"{}"}},"locale":"{locale}","timezone":"{zone}","screen":{{"width":{},"height":{}}},"sdk":{{"name":"driftless-js","version":"0.3.0"}}}},"properties":{{"product_id":"sku-{product:04}","price":{}.{:02},"currency":"EUR"}},"user_agent":"{}","ip":null}}"#,
        mix(r ^ 5),
        mix(r ^ 6),
        TYPES[pick(7, TYPES.len())],
        clock(at),
        clock(at.saturating_sub(skew)),
        clock(at + mix(r ^ 8) % 4_000),
        clock(at + 4_000 + mix(r ^ 9) % 2_000),
        // One session per browser and hour.
        mix(anonymous
            .bytes()
            .fold(u64::from(hour), |h, b| mix(h ^ u64::from(b))))
            >> 16,
        id % 500,
        mix(r ^ 11) % 0xffff,
        mix(r ^ 12) % 0xfffff,
        TITLES[pick(13, TITLES.len())],
        [360, 390, 1280, 1440, 1920][pick(14, 5)],
        [640, 844, 720, 900, 1080][pick(15, 5)],
        5 + mix(r ^ 16) % 300,
        mix(r ^ 17) % 100,
        AGENTS[pick(18, AGENTS.len())],
    )
}

/// Writes hour `hour`'s raw object: about `bytes` of other people's events, and the person's
/// in their hours.
fn write_hour(root: &Path, hour: u32, bytes: u64, first_id: &mut u64) {
    let dir = root.join(format!("raw/events/{}/{hour:02}", DAY.replace('-', "/")));
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("obj")).unwrap());
    let mut written = 0u64;
    while written < bytes {
        let id = *first_id;
        *first_id += 1;
        let anon = format!("anon-{:012x}", mix(id / 40 % 200_000) >> 16);
        let user = id
            .is_multiple_of(5)
            .then(|| format!("user-{:08x}", mix(id / 40 % 200_000) >> 32));
        let line = event(id, hour, &anon, user.as_deref());
        written += line.len() as u64 + 1;
        writeln!(out, "{line}").unwrap();
    }
    if PERSON_HOURS.contains(&hour) {
        for i in 0..10 {
            let id = *first_id;
            *first_id += 1;
            let user = (i % 2 == 0).then_some(USER);
            writeln!(out, "{}", event(id, hour, ANON, user)).unwrap();
        }
    }
    out.flush().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -r {} {}",
        from.display(),
        to.display()
    );
}

fn config(root: &Path) -> CompactConfig {
    CompactConfig {
        scratch_dir: root.join("scratch"),
        ..CompactConfig::default()
    }
}

fn ask() -> ErasureAsk {
    ErasureAsk {
        user_ids: vec![USER.into()],
        anonymous_ids: Vec::new(),
        requested_by: "bench".into(),
    }
}

async fn erase(root: &Path, naive: bool) -> (ErasureRunReport, f64) {
    let store = LocalStore::new(root);
    let cfg = config(root);
    let now = parse_rfc3339(NOW).unwrap();
    let e = Erasure::new(&store, &cfg, now);
    let e = if naive { e.rewriting_every_file() } else { e };
    e.request(ask()).await.unwrap();
    let started = Instant::now();
    let report = e.apply().await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(
        report.verified,
        "{}: not verified: {report:?}",
        root.display()
    );
    (report, secs)
}

fn files_rewritten(r: &ErasureRunReport) -> u64 {
    r.tables
        .iter()
        .flat_map(|t| &t.days)
        .map(|d| d.files_rewritten)
        .sum()
}

async fn compare(name: &str, ours_root: &Path, naive_root: &Path, lake_bytes: u64) {
    let (ours, ours_s) = erase(ours_root, false).await;
    let (naive, naive_s) = erase(naive_root, true).await;
    assert_eq!(
        ours.rows_removed(),
        naive.rows_removed(),
        "{name}: both remove the person's rows"
    );
    assert!(
        ours.rows_removed() > 0,
        "{name}: the person was in the lake"
    );
    let mb = |b: u64| b as f64 / MIB as f64;
    println!(
        "{name}: lake {:.0} MiB of Parquet, {} rows of the person",
        mb(lake_bytes),
        ours.rows_removed()
    );
    for (who, r, s) in [("ours ", &ours, ours_s), ("naive", &naive, naive_s)] {
        println!(
            "  {who}  {s:8.2} s  {:5} files  {:9.1} MiB rewritten",
            files_rewritten(r),
            mb(r.bytes_rewritten())
        );
    }
    println!(
        "  naive/ours: time {:.1}x, bytes rewritten {:.1}x",
        naive_s / ours_s.max(1e-9),
        naive.bytes_rewritten() as f64 / ours.bytes_rewritten().max(1) as f64
    );
}

/// The day's files copied into `days` partitions, the person's only into the first
/// `person_days`; one append commit per day. Returns the lake's Parquet bytes.
async fn many_days(base: &Path, root: &Path, days: usize, person_days: usize) -> u64 {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let base_store = LocalStore::new(base);
    let cfg = config(base);
    let lake = LakeTable::open(
        &base_store.table_location(&EVENTS).unwrap(),
        &EVENTS,
        &cfg.table_settings(),
    )
    .await
    .unwrap();
    let filter = ErasureFilter::new([USER], [ANON]);
    let mut files = Vec::new();
    for f in lake.files().unwrap() {
        let key = format!("lake/events/{}", index_path(&f.path));
        let (body, _) = base_store.get_small(&key).await.unwrap().expect("an index");
        let holds = filter.in_index(&FileIndex::decode(&body, &key).unwrap());
        files.push((f, holds));
    }
    let store = LocalStore::new(root);
    let mut target = LakeTable::open(
        &store.table_location(&EVENTS).unwrap(),
        &EVENTS,
        &config(root).table_settings(),
    )
    .await
    .unwrap();
    let mut day = Day::parse(DAY).unwrap();
    let mut bytes = 0;
    for i in 0..days {
        let mut add = Vec::new();
        for (f, holds) in &files {
            if *holds && i >= person_days {
                continue;
            }
            let name = f.path.rsplit('/').next().unwrap();
            let path = format!("dt={day}/{name}");
            for (from, to) in [(&f.path, &path), (&index_path(&f.path), &index_path(&path))] {
                let to = root.join("lake/events").join(to);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(base.join("lake/events").join(from), &to).unwrap();
            }
            bytes += f.size;
            add.push(NewFile {
                path,
                day,
                size: f.size,
                stats: f.stats.clone().unwrap_or_default(),
            });
        }
        let change = TableChange::Append {
            files: add,
            app_id: "driftless-bench",
            app_version: i as i64 + 1,
            unchanged: None,
        };
        target
            .commit(
                change,
                &format!("bench-{i}"),
                serde_json::json!({"kind": "bench"}),
                0,
            )
            .await
            .unwrap();
        day = day.next();
    }
    bytes
}

fn main() {
    driftless::compact::cap_allocator_arenas();
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Named by the generator's version: a changed generator makes a new day.
        let base = a.workdir.join(format!("base-v2-{}mb", a.size_mb));
        if !base.join("lake/events/_delta_log").is_dir() {
            let _ = std::fs::remove_dir_all(&base);
            std::fs::create_dir_all(&base).unwrap();
            let store = LocalStore::new(&base);
            let cfg = config(&base);
            let now = parse_rfc3339(NOW).unwrap();
            let started = Instant::now();
            let mut id = 0;
            for hour in 0..24 {
                write_hour(&base, hour, a.size_mb * MIB / 24, &mut id);
                Compaction::new(&store, &cfg, now)
                    .append_days(&Days::Only(vec![Day::parse(DAY).unwrap()]))
                    .await
                    .unwrap();
            }
            println!(
                "setup: {} MiB of NDJSON ({id} events) compacted as 24 runs in {:.1} s",
                a.size_mb,
                started.elapsed().as_secs_f64()
            );
        }
        let store = LocalStore::new(&base);
        let lake = LakeTable::open(
            &store.table_location(&EVENTS).unwrap(),
            &EVENTS,
            &config(&base).table_settings(),
        )
        .await
        .unwrap();
        let day_bytes: u64 = lake.files().unwrap().iter().map(|f| f.size).sum();
        let (ours, naive) = (a.workdir.join("one-ours"), a.workdir.join("one-naive"));
        copy_dir(&base, &ours);
        copy_dir(&base, &naive);
        compare(
            &format!("one {} MiB day (24 files)", a.size_mb),
            &ours,
            &naive,
            day_bytes,
        )
        .await;

        let (ours, naive) = (a.workdir.join("many-ours"), a.workdir.join("many-naive"));
        let bytes = many_days(&base, &ours, a.days, a.person_days).await;
        copy_dir(&ours, &naive);
        compare(
            &format!("{} such days, the person on {}", a.days, a.person_days),
            &ours,
            &naive,
            bytes,
        )
        .await;
        for dir in ["one-ours", "one-naive", "many-ours", "many-naive"] {
            let _ = std::fs::remove_dir_all(a.workdir.join(dir));
        }
    });
}
