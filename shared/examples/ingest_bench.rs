//! `make bench` (ingest part): parse + validate + enrich + pack on one core, against plain
//! `serde_json` parsing of the same bytes into `serde_json::Value`, measured in the same run.
//!
//! The corpus is generated: realistic events of about 400 bytes in batches of 100, spread over
//! the five starter event types, all valid (the common case on the hot path).
//!
//! Enrichment (source key, user-agent parsing, bot rules, geo lookup) is measured against the
//! same run without it: requests carry one of 40 real browser user agents (a warm function's
//! cache holds them), and, as the worst case, a user agent never seen before on every request.
//! `ingest_bench [GEOIP.mmdb]`: the database the geo lookup uses (`make bench` builds a small
//! one; a real City database's deeper tree costs more per lookup).
//!
//! `INGEST_BENCH_PASSES=<plain|warm|cold|value>:<n>` runs only `n` passes of one of them (`value`:
//! the peer, `serde_json::from_slice::<Value>`) and prints only the number of events per pass
//! (on stderr): what `scripts/bench_enrich_instructions.py` counts the instructions of under callgrind,
//! a figure that a busy machine does not move. `INGEST_BENCH_BATCHES` makes the corpus smaller.

use std::hint::black_box;
use std::time::{Duration, Instant};

use driftless::clock::SystemClock;
use driftless::config::IngestConfig;
use driftless::ingest::enrich::geo::GeoDb;
use driftless::ingest::firehose::{CallFailure, RecordSink};
use driftless::ingest::keys::SourceKeys;
use driftless::ingest::{Caller, Ingest};
use driftless::schema::Registry;
use serde_json::{json, Value};

const BATCHES: usize = 2_000;
const EVENTS_PER_BATCH: usize = 100;

struct NoSink;

impl RecordSink for NoSink {
    async fn put_record_batch(
        &self,
        _: &str,
        records: Vec<Vec<u8>>,
    ) -> Result<Vec<Option<String>>, CallFailure> {
        Ok(vec![None; records.len()])
    }
}

fn event(n: usize) -> Value {
    let (event_type, properties) = match n % 5 {
        0 => (
            "page_viewed",
            json!({"path": format!("/p/sku-{:03}", n % 997), "title": "Trail runner", "category": "product"}),
        ),
        1 => (
            "product_viewed",
            json!({"product_id": format!("sku-{:03}", n % 997), "price": 129.0, "currency": "EUR", "in_stock": true}),
        ),
        2 => (
            "cart_item_added",
            json!({"cart_id": "cart-3f9a", "product_id": format!("sku-{:03}", n % 997), "quantity": 1, "price": 129.0, "currency": "EUR"}),
        ),
        3 => (
            "signed_up",
            json!({"method": "email", "plan": "free", "newsletter_opt_in": false}),
        ),
        _ => (
            "checkout_completed",
            json!({"order_id": format!("o-{n}"), "total": 258.0, "currency": "EUR",
              "items": [{"product_id": "sku-001", "quantity": 2, "price": 129.0}]}),
        ),
    };
    json!({
        "event_id": format!("01936f4e-8a3c-7b2d-9f10-{n:012x}"),
        "event_type": event_type,
        "schema_version": "1-0-0",
        "timestamp": "2026-11-28T14:30:21.950Z",
        "anonymous_id": "01936f4e-0000-7000-8000-00000000a11c",
        "session_id": "01936f4e-0000-7000-8000-000000000001",
        "seq": n,
        "context": {"page": {"url": "https://shop.example/p/sku-001"}, "locale": "de-DE", "sdk": {"name": "driftless-js", "version": "0.1.0"}},
        "properties": properties,
    })
}

fn corpus(batches: usize) -> Vec<Vec<u8>> {
    (0..batches)
        .map(|b| {
            let events: Vec<Value> = (0..EVENTS_PER_BATCH)
                .map(|i| event(b * EVENTS_PER_BATCH + i))
                .collect();
            serde_json::to_vec(&json!({"sent_at": "2026-11-28T14:30:22.123Z", "events": events}))
                .expect("serialize")
        })
        .collect()
}

/// The best of `rounds` passes over the corpus: the least disturbed by the rest of the machine.
fn timed(pass: impl FnOnce()) -> Duration {
    let start = Instant::now();
    pass();
    start.elapsed()
}

/// 40 browser user agents: 4 browsers and OSes times 10 versions.
fn user_agents() -> Vec<String> {
    let mut out = Vec::new();
    for v in 122..132 {
        out.push(format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"));
        out.push(format!("Mozilla/5.0 (iPhone; CPU iPhone OS 17_{} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{} Mobile/15E148 Safari/604.1", v - 122, v - 122));
        out.push(format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        ));
        out.push(format!("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36"));
    }
    out
}

const KEYS: &str = r#"[{"key": "dk_bench", "source": "web", "origins": ["https://shop.example"]}]"#;

fn main() {
    let batches = std::env::var("INGEST_BENCH_BATCHES")
        .ok()
        .map_or(BATCHES, |n| {
            n.parse()
                .expect("INGEST_BENCH_BATCHES: a number of batches")
        });
    let corpus = corpus(batches);
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    let events = batches * EVENTS_PER_BATCH;
    let service = Ingest::new(
        Registry::embedded().expect("schemas"),
        IngestConfig::default(),
        NoSink,
        SystemClock,
    );
    // Enrichment off: the same requests from a caller ingest does not enrich (no keys, no
    // Origin: no user-agent parsing, no bot rules, no geo), so both runs store the same raw
    // user agent and differ only by what enrichment derives.
    let plain_caller = |ua: &'static str| Caller {
        user_agent: Some(ua),
        accept_language: Some("de-DE,de;q=0.9,en;q=0.8"),
        source_ip: Some("203.0.113.7"),
        ..Caller::default()
    };
    let geo = std::env::args().nth(1).map(|path| {
        let bytes = std::fs::read(&path).expect("the GeoIP database given");
        GeoDb::from_bytes(bytes, &path).expect("a MaxMind-format database")
    });
    let has_geo = geo.is_some();
    let mut enriched = Ingest::new(
        Registry::embedded().expect("schemas"),
        IngestConfig::default(),
        NoSink,
        SystemClock,
    )
    .with_source_keys(SourceKeys::parse(KEYS, "bench").expect("keys"));
    if let Some(geo) = geo {
        enriched = enriched.with_geo(geo);
    }
    let agents = user_agents();
    let browser = |ua: &'static str| Caller {
        origin: Some("https://shop.example"),
        user_agent: Some(ua),
        accept_language: Some("de-DE,de;q=0.9,en;q=0.8"),
        key: Some("dk_bench"),
        source_ip: Some("203.0.113.7"),
    };
    let agents: Vec<&'static str> = agents.into_iter().map(|a| &*a.leak()).collect();
    let unique: Vec<&'static str> = (0..batches * 6)
        .map(|i| &*format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{i}.0 Safari/537.36").leak())
        .collect();

    // Every event must be accepted, or the benchmark measures the wrong path.
    let check = service
        .process(&corpus[0], plain_caller(agents[0]), 1_795_876_223_000)
        .expect("valid batch");
    assert_eq!(
        check.accepted,
        EVENTS_PER_BATCH,
        "rejected: {:?}",
        check.rejected.first()
    );

    let check = enriched
        .process(&corpus[0], browser(agents[0]), 1_795_876_223_000)
        .expect("valid batch with a key");
    assert_eq!(
        check.accepted, EVENTS_PER_BATCH,
        "the keyed path accepts them too"
    );

    let pass_plain = || {
        for (i, batch) in corpus.iter().enumerate() {
            let caller = plain_caller(agents[i % agents.len()]);
            black_box(
                service
                    .process(black_box(batch), caller, 1_795_876_223_000)
                    .expect("valid"),
            );
        }
    };
    let pass_warm = || {
        for (i, batch) in corpus.iter().enumerate() {
            let caller = browser(agents[i % agents.len()]);
            black_box(
                enriched
                    .process(black_box(batch), caller, 1_795_876_223_000)
                    .expect("valid"),
            );
        }
    };
    let pass_value = || {
        for batch in &corpus {
            black_box(serde_json::from_slice::<Value>(black_box(batch)).expect("valid"));
        }
    };
    let mut fresh = unique.iter().copied().cycle();
    let mut pass_cold = || {
        for batch in &corpus {
            let caller = browser(fresh.next().expect("endless"));
            black_box(
                enriched
                    .process(black_box(batch), caller, 1_795_876_223_000)
                    .expect("valid"),
            );
        }
    };

    if let Ok(only) = std::env::var("INGEST_BENCH_PASSES") {
        let (mode, n) = only
            .split_once(':')
            .and_then(|(m, n)| Some((m, n.parse::<usize>().ok()?)))
            .expect("INGEST_BENCH_PASSES: <plain|warm|cold|value>:<n>");
        for _ in 0..n {
            match mode {
                "plain" => pass_plain(),
                "warm" => pass_warm(),
                "cold" => pass_cold(),
                "value" => pass_value(),
                other => panic!("INGEST_BENCH_PASSES: {other:?} is not plain, warm, cold or value"),
            }
        }
        // For the instruction counter, which divides by it.
        eprintln!("events per pass: {events}");
        return;
    }

    // The runs (the peer's too) alternate, round after round, so a disturbance of the machine hits
    // each alike; each keeps its best round.
    let mut ours = Duration::MAX;
    let mut with_enrichment = Duration::MAX;
    let mut cold_cache = Duration::MAX;
    let mut plain = Duration::MAX;
    for _ in 0..5 {
        plain = plain.min(timed(pass_value));
        ours = ours.min(timed(pass_plain));
        with_enrichment = with_enrichment.min(timed(pass_warm));
        cold_cache = cold_cache.min(timed(&mut pass_cold));
    }

    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    println!("corpus: {events} events in {batches} batches of {EVENTS_PER_BATCH}, {:.0} bytes/event, {:.1} MB", bytes as f64 / events as f64, bytes as f64 / 1e6);
    println!("{:<44} {:>12} {:>10}", "one core", "events/s", "MB/s");
    println!(
        "{:<44} {:>12.0} {:>10.1}",
        "driftless parse+validate+enrich+pack",
        rate(ours),
        mbps(ours)
    );
    println!(
        "{:<44} {:>12.0} {:>10.1}",
        "serde_json::from_slice::<Value> (peer)",
        rate(plain),
        mbps(plain)
    );
    println!(
        "ratio driftless / plain parse: {:.2}x (goal >= 2x; goal >= 500,000 events/s)",
        plain.as_secs_f64() / ours.as_secs_f64()
    );
    let geo_note = if has_geo {
        "key, user agent, bot rules, geo"
    } else {
        "key, user agent, bot rules; no geo database given"
    };
    println!(
        "{:<44} {:>12.0} {:>10.1}",
        "driftless with enrichment (40 agents, cached)",
        rate(with_enrichment),
        mbps(with_enrichment)
    );
    println!(
        "{:<44} {:>12.0} {:>10.1}",
        "driftless with enrichment (every agent new)",
        rate(cold_cache),
        mbps(cold_cache)
    );
    println!(
        "enrichment ({geo_note}): {:+.1}% time per event with a warm cache, {:+.1}% with every user agent new (goal < +5%)",
        (with_enrichment.as_secs_f64() / ours.as_secs_f64() - 1.0) * 100.0,
        (cold_cache.as_secs_f64() / ours.as_secs_f64() - 1.0) * 100.0
    );
}
