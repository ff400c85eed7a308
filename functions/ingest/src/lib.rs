//! The Lambda adapter around [`driftless::ingest::Ingest`]: API Gateway request in, response out.

pub mod cold_start;
pub mod shutdown;

use std::time::{Duration, SystemTime};

use driftless::clock::Clock;
use driftless::ingest::enrich::client_ip;
use driftless::ingest::firehose::RecordSink;
use driftless::ingest::{HttpRequest, Ingest};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// Time allowed for an invocation whose deadline makes no sense.
const FALLBACK_BUDGET: Duration = Duration::from_secs(10);

/// Answers one API Gateway request. `deadline` is when Lambda stops the invocation.
pub async fn handle<S: RecordSink, C: Clock>(
    service: &Ingest<S, C>,
    req: Request,
    deadline: SystemTime,
) -> Response<Body> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    // Behind a proxy (CloudFront) the endpoint sees the proxy's address; the proxy's header
    // names the caller's. Only the configured header is trusted, never one a client adds.
    let source_ip = match service.client_ip_header() {
        Some(name) => header(name).and_then(client_ip),
        None => match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
            _ => None,
        },
    };
    let body: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let request = HttpRequest {
        method: req.method().as_str(),
        origin: header("origin"),
        content_type: header("content-type"),
        content_encoding: header("content-encoding"),
        user_agent: header("user-agent"),
        accept_language: header("accept-language"),
        key: header("x-driftless-key"),
        source_ip: source_ip.as_deref(),
        body,
    };
    // A deadline already past at the start is not a real budget: `cargo lambda watch` sends its
    // timeout (600,000 ms) where Lambda sends an epoch time. Fall back to Lambda's usual timeout.
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(FALLBACK_BUDGET);
    let answer = service
        .handle(&request, tokio::time::Instant::now() + remaining)
        .await;
    let mut response = Response::builder().status(answer.status);
    for (name, value) in answer.headers {
        response = response.header(name, value);
    }
    let body = if answer.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(answer.body)
    };
    // Status and header names are constants and values are ASCII, so building cannot fail.
    response
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
