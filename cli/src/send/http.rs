//! One POST of a batch to the ingest endpoint: gzip, a timeout over the whole exchange, and the
//! answer's status, `Retry-After` and body. hyper, hyper-util and hyper-rustls are the ones the
//! AWS SDK already builds, with features it already enables, so this adds nothing to the build.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::error::{CliError, Result};

const AGENT: &str = concat!("driftless-cli/", env!("CARGO_PKG_VERSION"));

/// The endpoint's answer to one request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Bytes,
}

/// No answer: the connection failed or broke, or the timeout passed. Whether the endpoint got
/// the events is unknown, so the batch is sent again with the same event ids.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Connection(String),
}

/// `http://` endpoints (the local stack) need no certificates; `https://` ones use the system's.
enum Connection {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

pub struct Endpoint {
    connection: Connection,
    uri: Uri,
    timeout: Duration,
    gzip: bool,
    /// The `X-Driftless-Key` header's value.
    key: Option<HeaderValue>,
}

impl Endpoint {
    pub fn new(url: &str, timeout: Duration, gzip: bool, key: Option<&str>) -> Result<Endpoint> {
        let key = key
            .map(|k| {
                HeaderValue::from_str(k)
                    .ok()
                    .filter(|_| !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic()))
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "--key {k:?} is not a source key: it must be visible ASCII characters without spaces"
                        ))
                    })
            })
            .transpose()?;
        let uri: Uri = url.parse().map_err(|e| {
            CliError::Usage(format!("--endpoint {url:?} is not a URL ({e}): give the ingest URL, e.g. https://ingest.example.com/v1/batch"))
        })?;
        let builder = Client::builder(TokioExecutor::new());
        let connection = match (uri.scheme_str(), uri.host()) {
            (Some("http"), Some(_)) => Connection::Plain(builder.build(HttpConnector::new())),
            (Some("https"), Some(_)) => {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
                    .map_err(|e| {
                        CliError::Usage(format!(
                            "no CA certificates for https://: {e} (install the system's ca-certificates)"
                        ))
                    })?
                    .https_only()
                    .enable_http1()
                    .build();
                Connection::Tls(builder.build(https))
            }
            _ => {
                return Err(CliError::Usage(format!(
                    "--endpoint {url:?} is not an http:// or https:// URL: give the ingest URL, e.g. https://ingest.example.com/v1/batch"
                )))
            }
        };
        Ok(Endpoint {
            connection,
            uri,
            timeout,
            gzip,
            key,
        })
    }

    pub async fn post(&self, body: Vec<u8>) -> Result<Answer, TransportError> {
        let mut request = Request::post(self.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, AGENT);
        if let Some(key) = &self.key {
            request = request.header("x-driftless-key", key.clone());
        }
        let body = if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
            gzip(&body)
        } else {
            body
        };
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| TransportError::Connection(e.to_string()))?;
        let exchange = async {
            let response = match &self.connection {
                Connection::Plain(c) => c.request(request).await,
                Connection::Tls(c) => c.request(request).await,
            }
            .map_err(|e| TransportError::Connection(chain(&e)))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| TransportError::Connection(chain(&e)))?
                .to_bytes();
            Ok(Answer {
                status,
                retry_after,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| TransportError::Timeout(self.timeout))?
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::new(6),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// The error and its sources, which say what actually failed ("connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
