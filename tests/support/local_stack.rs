//! The local stack for the Rust tests that talk to moto's server (`functions/*/tests/moto.rs`):
//! its endpoint, an SDK configuration for it, and one line that says how to start it when it is
//! not there, instead of a panic deep inside a test. Each test file includes it by path
//! (`#[path = "../../../tests/support/local_stack.rs"] mod local_stack;`).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

/// The bucket `scripts/local_stack.py` creates.
pub const BUCKET: &str = "driftless-local";

/// Where `scripts/stack.sh` starts moto unless `MOTO_PORT` says otherwise.
const DEFAULT_PORT: u16 = 4566;

/// `AWS_ENDPOINT_URL` (the Makefile sets it from `MOTO_PORT`), or the stack's default endpoint.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{DEFAULT_PORT}"))
}

/// Held by the test that stops the binary: tests run on parallel threads, and one line is enough.
static STOPPING: Mutex<()> = Mutex::new(());

/// Ends the test binary with `message` as its only output. The harness captures `eprintln!`
/// inside tests and would lose it on exit, so the line goes to stderr directly; exiting (rather
/// than panicking in every test) keeps it to one line whatever the number of tests. A second
/// test that gets here waits on the lock until the process is gone.
fn stop(message: &str) -> ! {
    let _first = STOPPING.lock();
    let _ = writeln!(std::io::stderr(), "{message}");
    std::process::exit(2)
}

/// How to start the stack on the port `endpoint` names.
fn start_hint(endpoint: &str) -> String {
    match port_of(endpoint) {
        Some(DEFAULT_PORT) | None => "`make stack-up`".to_string(),
        Some(port) => format!("`MOTO_PORT={port} make stack-up`"),
    }
}

/// `host:port` of an `http://host:port/...` endpoint (port 80 when it has none).
fn authority(endpoint: &str) -> Option<String> {
    let rest = endpoint.strip_prefix("http://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    })
}

fn port_of(endpoint: &str) -> Option<u16> {
    authority(endpoint)?.rsplit(':').next()?.parse().ok()
}

/// Stops the tests with one line unless something listens at `endpoint`. A plain TCP connect:
/// the SDK would retry with backoff first and then fail with a "dispatch failure".
fn require_listening(endpoint: &str) {
    let Some(addrs) = authority(endpoint).and_then(|a| a.to_socket_addrs().ok()) else {
        stop(&format!(
            "AWS_ENDPOINT_URL={endpoint} is not an http://host:port endpoint of moto's server"
        ));
    };
    let reachable = addrs
        .into_iter()
        .any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if !reachable {
        stop(&format!(
            "moto's server (the local stack) is not running at {endpoint}: start it with {} \
             (or run `make test`, which starts and stops it).",
            start_hint(endpoint)
        ));
    }
}

/// The SDK configuration for moto's server, once it is known to listen: its endpoint, the test
/// credentials it accepts, and us-east-1.
pub async fn moto_config() -> aws_config::SdkConfig {
    let endpoint = endpoint();
    require_listening(&endpoint);
    // The Delta tables are opened through delta-rs, which takes its credentials from the default
    // chain; without them in the environment that chain ends at the instance metadata service,
    // which never answers here.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        stop(
            "AWS_ACCESS_KEY_ID is not set: run these tests through `make test` (or export the \
              local stack's AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test).",
        );
    }
    aws_config::from_env()
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

/// Stops the tests with one line unless the stack's bucket exists.
pub async fn require_bucket(s3: &aws_sdk_s3::Client) {
    if let Err(e) = s3.head_bucket().bucket(BUCKET).send().await {
        let endpoint = endpoint();
        stop(&format!(
            "moto's server at {endpoint} has no bucket {BUCKET} ({}): {} creates it.",
            aws_sdk_s3::error::DisplayErrorContext(e),
            start_hint(&endpoint)
        ));
    }
}
