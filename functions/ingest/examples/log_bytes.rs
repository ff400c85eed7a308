//! `make bench` (ingest logs): the bytes the ingest binary writes to stdout and stderr per
//! request, which CloudWatch Logs bills, measured on the real binary under a stand-in Lambda
//! (`tests/fake_lambda`): 1,000 requests of 10 and of 20 valid events, then the shutdown.
//!
//! The peer, in the same run, is the same binary writing its metrics after every invocation
//! with the per-request info line on (`DRIFTLESS_METRICS_FLUSH_INVOCATIONS=1`,
//! `RUST_LOG=info,ingest=debug,driftless=debug`): what a request cost when each wrote its own
//! documents and line.
//!
//! Usage: `log_bytes <path of the ingest binary> [<path of another ingest binary>]`; the second
//! is measured with its defaults too (an older build, for a before/after).

#[path = "../tests/fake_lambda/mod.rs"]
mod fake_lambda;

use std::path::Path;
use std::time::Duration;

use fake_lambda::{api_gateway_event, start_function, FakeLambda};
use serde_json::json;

const REQUESTS: usize = 1_000;

fn event(n: usize) -> serde_json::Value {
    json!({
        "event_id": format!("01936f4e-8a3c-7b2d-9f10-{n:012x}"),
        "event_type": "page_viewed",
        "schema_version": "1-0-0",
        "timestamp": "2026-11-28T14:30:21.950Z",
        "anonymous_id": "01936f4e-0000-7000-8000-00000000a11c",
        "session_id": "01936f4e-0000-7000-8000-000000000001",
        "seq": n,
        "context": {"page": {"url": "https://shop.example/p/sku-001"}, "locale": "de-DE",
                    "sdk": {"name": "driftless-js", "version": "0.1.0"}},
        "properties": {"path": format!("/p/sku-{:03}", n % 997), "title": "Trail runner"},
    })
}

/// Bytes per request of one run of `binary` with `env`, and the number of EMF documents.
async fn measure(binary: &Path, events_per_request: usize, env: &[(&str, &str)]) -> (f64, usize) {
    let lambda = FakeLambda::start().await;
    let function = start_function(binary, &lambda, env);
    for r in 0..REQUESTS {
        let events: Vec<_> = (0..events_per_request)
            .map(|i| event(r * events_per_request + i))
            .collect();
        let body = json!({"sent_at": "2026-11-28T14:30:22.123Z", "events": events}).to_string();
        lambda.invoke(api_gateway_event(&body));
    }
    let answers = lambda.responses(REQUESTS, Duration::from_secs(300)).await;
    assert_eq!(answers.len(), REQUESTS, "every request answered");
    assert!(
        answers.iter().all(|a| a["statusCode"] == 200),
        "every request accepted: {:?}",
        answers.iter().find(|a| a["statusCode"] != 200)
    );
    let output = function.shut_down();
    let docs = output.emf_documents().len();
    (output.log_bytes() as f64 / REQUESTS as f64, docs)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .expect("usage: log_bytes <ingest binary> [<other ingest binary>]");
    let other = args.next();
    let per_request = [
        ("DRIFTLESS_METRICS_FLUSH_INVOCATIONS", "1"),
        ("RUST_LOG", "info,ingest=debug,driftless=debug"),
    ];
    println!(
        "{:<58} {:>9} {:>9} {:>9}",
        format!("{REQUESTS} requests, stdout + stderr"),
        "events",
        "B/request",
        "EMF docs"
    );
    for events in [10, 20] {
        let mut rows = vec![
            ("this binary, defaults", binary.clone(), &[][..]),
            (
                "this binary, metrics per request + info line (peer)",
                binary.clone(),
                &per_request[..],
            ),
        ];
        if let Some(other) = &other {
            rows.push(("other binary, defaults", other.clone(), &[][..]));
        }
        let mut ours = 0.0;
        for (name, bin, env) in rows {
            let (bytes, docs) = measure(Path::new(&bin), events, env).await;
            if ours == 0.0 {
                ours = bytes;
            }
            println!("{name:<58} {events:>9} {bytes:>9.1} {docs:>9}");
            if ours != bytes {
                println!(
                    "{:<58} {:>9} {:>8.0}x",
                    "  ratio to this binary's defaults",
                    "",
                    bytes / ours
                );
            }
        }
    }
}
