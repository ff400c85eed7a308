//! `driftless send` against a scripted endpoint on a loopback port: offline validation first,
//! batches by count and bytes, gzip, retries (5xx, 429, timeouts) with Retry-After in both forms,
//! 413 splits, rejections mapped back to file lines, refusals, and the exit status.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{fixtures, repo_root, scratch, stderr, stdout};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    /// None: every event accepted.
    body: Option<Value>,
    delay: Duration,
}

fn status(status: u16) -> Reply {
    Reply {
        status,
        ..Reply::default()
    }
}

struct Received {
    headers: Vec<(String, String)>,
    body: Value,
    /// Decompressed body bytes.
    size: usize,
}

impl Received {
    fn event_ids(&self) -> Vec<String> {
        self.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Script {
    replies: Vec<Reply>,
    received: Vec<Received>,
}

/// An HTTP/1.1 endpoint that records each request and answers from a script, then accepts all.
struct FakeEndpoint {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl FakeEndpoint {
    fn start(replies: Vec<Reply>) -> FakeEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/batch", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script {
            replies,
            received: Vec::new(),
        }));
        let shared = script.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let script = shared.clone();
                std::thread::spawn(move || serve(stream, &script));
            }
        });
        FakeEndpoint { url, script }
    }

    fn received(&self) -> Vec<Received> {
        std::mem::take(&mut self.script.lock().unwrap().received)
    }
}

fn serve(stream: TcpStream, script: &Mutex<Script>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut raw = vec![0; length];
        reader.read_exact(&mut raw).unwrap();
        let gzipped = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
        if gzipped {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut plain)
                .unwrap();
            raw = plain;
        }
        let body: Value = serde_json::from_slice(&raw).unwrap();
        let events = body["events"].as_array().map_or(0, Vec::len);
        let reply = {
            let mut s = script.lock().unwrap();
            s.received.push(Received {
                headers,
                body,
                size: raw.len(),
            });
            if s.replies.is_empty() {
                status(200)
            } else {
                s.replies.remove(0)
            }
        };
        std::thread::sleep(reply.delay);
        let answer = reply
            .body
            .unwrap_or_else(|| json!({"accepted": events, "rejected": []}))
            .to_string();
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            reply.status,
            answer.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(answer.as_bytes()).is_err()
        {
            return; // the client timed out and hung up
        }
    }
}

/// `n` valid events, one per line, with distinct ids.
fn events(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            json!({
                "event_id": format!("01936f4e-8a3c-7b2d-9f10-{i:012x}"),
                "event_type": "page_viewed",
                "schema_version": "1-0-0",
                "timestamp": "2026-11-28T14:30:21.950Z",
                "anonymous_id": "backfill",
                "session_id": "s-1",
                "seq": i,
                "properties": {"path": format!("/p/{i}")}
            })
            .to_string()
        })
        .collect()
}

fn write_file(name: &str, lines: &[String]) -> PathBuf {
    let dir = scratch(&format!("send-{name}"));
    let path = dir.join("events.ndjson");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn send(file: &Path, endpoint: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .current_dir(repo_root())
        .env_remove("DRIFTLESS_ENDPOINT")
        .args(["send", file.to_str().unwrap(), "--endpoint", endpoint])
        .args(["--concurrency", "1"])
        .args(extra)
        .output()
        .expect("the driftless binary runs")
}

fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn sends_every_event_in_gzip_batches_of_batch_size_and_exits_0() {
    let endpoint = FakeEndpoint::start(vec![]);
    let lines = events(7);
    let file = write_file("ok", &lines);
    let out = send(&file, &endpoint.url, &["--batch-size", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let got = endpoint.received();
    assert_eq!(
        got.iter().map(|r| r.event_ids().len()).collect::<Vec<_>>(),
        [3, 3, 1]
    );
    assert_eq!(
        got.iter().flat_map(Received::event_ids).collect::<Vec<_>>(),
        ids(&lines)
    );
    assert_eq!(got[0].header("content-encoding"), Some("gzip"));
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert!(got[0].body["sent_at"].as_str().unwrap().ends_with('Z'));
    // Events go out exactly as the file has them.
    assert_eq!(
        got[0].body["events"][1],
        serde_json::from_str::<Value>(&lines[1]).unwrap()
    );
    let err = stderr(&out);
    assert!(
        err.contains("7 event(s)") && err.contains("accepted          7"),
        "{err}"
    );
}

#[test]
fn batches_stay_under_max_batch_bytes() {
    let endpoint = FakeEndpoint::start(vec![]);
    let lines = events(40);
    let file = write_file("bytes", &lines);
    let out = send(
        &file,
        &endpoint.url,
        &["--max-batch-bytes", "2048", "--no-gzip"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = endpoint.received();
    assert!(got.len() > 1);
    assert!(got
        .iter()
        .all(|r| r.size <= 2048 && r.header("content-encoding").is_none()));
    assert_eq!(
        got.iter().flat_map(Received::event_ids).collect::<Vec<_>>(),
        ids(&lines)
    );
}

#[test]
fn invalid_lines_stop_the_run_before_anything_is_sent() {
    let endpoint = FakeEndpoint::start(vec![]);
    let file = fixtures().join("validate/events.ndjson");
    let out = send(&file, &endpoint.url, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(endpoint.received().is_empty());
    let text = stdout(&out);
    assert!(
        text.contains(":4: event 01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9d (properties): /properties/total: must be a number"),
        "{text}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("nothing was sent")
            && err.contains("--skip-invalid to send the 3 valid event(s)"),
        "{err}"
    );
}

#[test]
fn skip_invalid_sends_the_valid_events_and_still_fails_the_run() {
    let endpoint = FakeEndpoint::start(vec![]);
    let file = fixtures().join("validate/events.ndjson");
    let out = send(&file, &endpoint.url, &["--skip-invalid"]);
    assert_eq!(out.status.code(), Some(1));
    let got = endpoint.received();
    assert_eq!(got.iter().map(|r| r.event_ids().len()).sum::<usize>(), 3);
    let err = stderr(&out);
    assert!(err.contains("accepted          3"), "{err}");
    assert!(err.contains("invalid           3"), "{err}");
    assert!(err.contains("fix the invalid lines"), "{err}");
}

#[test]
fn a_503_is_retried_after_retry_after_seconds_with_the_same_events() {
    let endpoint = FakeEndpoint::start(vec![Reply {
        status: 503,
        headers: vec![("retry-after", "0".into())],
        body: Some(json!({"error": {"code": "unavailable", "message": "try later"}})),
        ..Reply::default()
    }]);
    let lines = events(5);
    let file = write_file("retry", &lines);
    let out = send(&file, &endpoint.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = endpoint.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].event_ids(), got[1].event_ids());
    let err = stderr(&out);
    assert!(
        err.contains("lines 1-5: 503 (unavailable: try later); retrying in 0.0 s (Retry-After), attempt 2 of 8"),
        "{err}"
    );
    assert!(err.contains("retried           1"), "{err}");
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let endpoint = FakeEndpoint::start(vec![Reply {
        status: 429,
        headers: vec![("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT".into())],
        ..Reply::default()
    }]);
    let file = write_file("retry-date", &events(2));
    let out = send(&file, &endpoint.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("429; retrying in 0.0 s (Retry-After)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_answer_that_does_not_come_in_time_is_retried() {
    let endpoint = FakeEndpoint::start(vec![Reply {
        status: 200,
        delay: Duration::from_secs(3),
        ..Reply::default()
    }]);
    let file = write_file("timeout", &events(2));
    let out = send(&file, &endpoint.url, &["--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no answer within 300ms; retrying"), "{err}");
    let got = endpoint.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].event_ids(), got[1].event_ids());
}

#[test]
fn a_batch_is_given_up_after_max_attempts() {
    let endpoint = FakeEndpoint::start(vec![status(502), status(502), status(502)]);
    let file = write_file("give-up", &events(3));
    let out = send(
        &file,
        &endpoint.url,
        &["--max-attempts", "3", "--max-retry-delay", "0.05"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(endpoint.received().len(), 3);
    let text = stdout(&out);
    assert!(
        text.ends_with(
            ":1-3: 3 event(s) not delivered: gave up after 3 attempts; the last got 502\n"
        ),
        "{text}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("failed            3") && err.contains("run the same command again later"),
        "{err}"
    );
}

#[test]
fn rejected_events_are_reported_at_their_file_line_and_not_resent() {
    let lines = events(5);
    let second_batch_first = ids(&lines)[3].clone();
    let endpoint = FakeEndpoint::start(vec![
        status(200),
        Reply {
            status: 200,
            body: Some(json!({"accepted": 1, "rejected": [{
                "index": 0, "event_id": second_batch_first, "reason": "unknown_event_type",
                "errors": [{"path": "/event_type", "message": "unknown event type \"page_viewed\""}]}]})),
            ..Reply::default()
        },
    ]);
    let file = write_file("rejected", &lines);
    let out = send(&file, &endpoint.url, &["--batch-size", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(endpoint.received().len(), 2);
    assert_eq!(
        stdout(&out),
        format!(
            "{}:4: event {second_batch_first} (unknown_event_type): /event_type: unknown event type \"page_viewed\"\n",
            file.display()
        )
    );
    let err = stderr(&out);
    assert!(
        err.contains("accepted          4") && err.contains("rejected          1"),
        "{err}"
    );
    assert!(err.contains("deploy the current schema"), "{err}");
}

#[test]
fn a_refused_request_stops_the_run_and_says_what_to_fix() {
    let endpoint = FakeEndpoint::start(vec![Reply {
        status: 415,
        body: Some(
            json!({"error": {"code": "unsupported_media_type", "message": "send application/json"}}),
        ),
        ..Reply::default()
    }]);
    let file = write_file("refused", &events(6));
    let out = send(&file, &endpoint.url, &["--batch-size", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(endpoint.received().len(), 1);
    let err = stderr(&out);
    assert!(err.contains("not sent          6"), "{err}");
    assert!(
        err.contains("the endpoint answered 415 (unsupported_media_type: send application/json), which no retry changes"),
        "{err}"
    );
}

#[test]
fn a_413_splits_the_batch_in_halves() {
    let endpoint = FakeEndpoint::start(vec![status(413)]);
    let lines = events(4);
    let file = write_file("split", &lines);
    let out = send(&file, &endpoint.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = endpoint.received();
    let all = ids(&lines);
    assert_eq!(
        got.iter().map(Received::event_ids).collect::<Vec<_>>(),
        [all.clone(), all[..2].to_vec(), all[2..].to_vec()]
    );
}

#[test]
fn the_endpoint_comes_from_the_flag_or_the_environment() {
    let file = write_file("no-endpoint", &events(1));
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .current_dir(repo_root())
        .env_remove("DRIFTLESS_ENDPOINT")
        .args(["send", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --endpoint URL or set DRIFTLESS_ENDPOINT"));

    let endpoint = FakeEndpoint::start(vec![]);
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .current_dir(repo_root())
        .env("DRIFTLESS_ENDPOINT", &endpoint.url)
        .args(["send", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(endpoint.received().len(), 1);

    let out = send(&file, "ftp://example.com/v1/batch", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not an http:// or https:// URL"));
}

#[test]
fn bad_settings_are_usage_errors() {
    let file = write_file("bad-settings", &events(1));
    for (flag, value, message) in [
        (
            "--batch-size",
            "501",
            "--batch-size must be 1 to 500, got 501",
        ),
        (
            "--max-batch-bytes",
            "2000000",
            "--max-batch-bytes must be 1024 to 1048576",
        ),
        ("--timeout", "0", "--timeout must be more than 0 seconds"),
    ] {
        let out = send(&file, "http://127.0.0.1:9/v1/batch", &[flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(stderr(&out).contains(message), "{flag}: {}", stderr(&out));
    }
}
