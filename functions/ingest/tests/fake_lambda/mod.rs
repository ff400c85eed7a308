//! A stand-in for Lambda around the real ingest binary: the Runtime API (invocations in,
//! responses out), the Extensions API (the shutdown hook's extension registers and then waits),
//! and Firehose's `PutRecordBatch`, all on one loopback port. The binary runs as on Lambda,
//! until it is sent SIGTERM as Lambda sends it at shutdown.
//!
//! Used by `tests/shutdown_metrics.rs` and by `examples/log_bytes.rs` (`make bench`).
#![allow(dead_code)] // the test and the benchmark use different parts

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

const FIXTURE: &str = include_str!("../../../../tests/fixtures/events/apigw-v2-batch.json");

/// An API Gateway v2 event: the golden beacon request with `body` as its body.
pub fn api_gateway_event(body: &str) -> Vec<u8> {
    let mut event: Value = serde_json::from_str(FIXTURE).expect("fixture parses");
    event["body"] = Value::String(body.to_string());
    serde_json::to_vec(&event).expect("serialise")
}

/// A request id and the event of one invocation.
type Invocation = (String, Vec<u8>);

#[derive(Default)]
struct State {
    /// Invocations waiting for the function's next `GET .../invocation/next`.
    queue: tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<Invocation>>>,
    responses: Mutex<Vec<Value>>,
    responded: Notify,
    extension_registered: AtomicBool,
    firehose_records: AtomicUsize,
}

pub struct FakeLambda {
    pub addr: SocketAddr,
    state: Arc<State>,
    send: mpsc::UnboundedSender<Invocation>,
    next_id: AtomicUsize,
}

impl FakeLambda {
    pub async fn start() -> FakeLambda {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (send, receive) = mpsc::unbounded_channel();
        let state = Arc::new(State::default());
        *state.queue.lock().await = Some(receive);
        let server = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&server)));
            }
        });
        FakeLambda {
            addr,
            state,
            send,
            next_id: AtomicUsize::new(0),
        }
    }

    /// Queues one invocation with `payload` as its event.
    pub fn invoke(&self, payload: Vec<u8>) {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        self.send.send((id, payload)).expect("server runs");
    }

    /// The function's answers, once there are `n` of them (or after `timeout`).
    pub async fn responses(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let wait = async {
            loop {
                let notified = self.state.responded.notified();
                if self.state.responses.lock().unwrap().len() >= n {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
        self.state.responses.lock().unwrap().clone()
    }

    pub fn extension_registered(&self) -> bool {
        self.state.extension_registered.load(Ordering::SeqCst)
    }

    pub fn firehose_records(&self) -> usize {
        self.state.firehose_records.load(Ordering::SeqCst)
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).await.ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line).await.ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

async fn respond(
    stream: &mut BufReader<TcpStream>,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // One write: a head and a body sent apart wait on Nagle and delayed ACKs (40 ms a request).
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    let out = stream.get_mut();
    out.write_all(&message).await?;
    out.flush().await
}

async fn serve(stream: TcpStream, state: Arc<State>) {
    let mut stream = BufReader::new(stream);
    while let Some(req) = read_request(&mut stream).await {
        let answered = match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                let next = {
                    let mut queue = state.queue.lock().await;
                    match queue.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => None,
                    }
                };
                let Some((id, payload)) = next else { return };
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_millis()
                    + 30_000;
                let headers = [
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:eu-central-1:123456789012:function:ingest".into(),
                    ),
                    ("content-type", "application/json".into()),
                ];
                respond(&mut stream, "200 OK", &headers, &payload).await
            }
            ("POST", path) if path.starts_with("/2018-06-01/runtime/") => {
                let answer = serde_json::from_slice(&req.body)
                    .unwrap_or_else(|_| json!({"unparsed": String::from_utf8_lossy(&req.body)}));
                let answer = if path.ends_with("/response") {
                    answer
                } else {
                    json!({"runtime_error": answer, "path": path})
                };
                state.responses.lock().unwrap().push(answer);
                state.responded.notify_waiters();
                respond(&mut stream, "202 Accepted", &[], b"{}").await
            }
            ("POST", "/2020-01-01/extension/register") => {
                state.extension_registered.store(true, Ordering::SeqCst);
                let body = json!({"functionName": "ingest", "functionVersion": "$LATEST", "handler": "bootstrap"});
                respond(
                    &mut stream,
                    "200 OK",
                    &[("lambda-extension-identifier", "ext-1".into())],
                    body.to_string().as_bytes(),
                )
                .await
            }
            // An extension that subscribed to no events waits here until the process ends.
            ("GET", "/2020-01-01/extension/event/next") => std::future::pending().await,
            ("POST", "/")
                if req.headers.get("x-amz-target").map(String::as_str)
                    == Some("Firehose_20150804.PutRecordBatch") =>
            {
                let call: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let n = call["Records"].as_array().map_or(0, Vec::len);
                state.firehose_records.fetch_add(n, Ordering::SeqCst);
                let body = json!({
                    "FailedPutCount": 0,
                    "Encrypted": false,
                    "RequestResponses": (0..n).map(|i| json!({"RecordId": format!("r{i}")})).collect::<Vec<_>>(),
                });
                respond(
                    &mut stream,
                    "200 OK",
                    &[("content-type", "application/x-amz-json-1.1".into())],
                    body.to_string().as_bytes(),
                )
                .await
            }
            _ => respond(&mut stream, "404 Not Found", &[], b"{}").await,
        };
        if answered.is_err() {
            return;
        }
    }
}

/// The ingest binary started as Lambda starts it, against `lambda`, with its output collected.
pub struct RunningFunction {
    child: Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

/// What the function wrote, once it exited.
pub struct Output {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The EMF documents among the stdout lines.
    pub fn emf_documents(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect()
    }

    pub fn log_bytes(&self) -> usize {
        self.stdout.len() + self.stderr.len()
    }
}

pub fn start_function(binary: &Path, lambda: &FakeLambda, env: &[(&str, &str)]) -> RunningFunction {
    let endpoint = format!("http://{}", lambda.addr);
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", lambda.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "ingest")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ingest")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]0")
        .env("AWS_REGION", "eu-central-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the ingest binary starts");
    let collect = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            out
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("stdout")));
    let stderr = collect(Box::new(child.stderr.take().expect("stderr")));
    RunningFunction {
        child,
        stdout,
        stderr,
    }
}

impl RunningFunction {
    /// Sends SIGTERM, as Lambda does at shutdown, and waits for the process to end.
    pub fn shut_down(mut self) -> Output {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                break self.child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            exit_code: status.and_then(|s| s.code()),
            stdout: String::from_utf8_lossy(&self.stdout.join().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr.join().unwrap_or_default()).into_owned(),
        }
    }
}
