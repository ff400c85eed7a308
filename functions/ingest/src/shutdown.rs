//! The metrics held when Lambda shuts the function down are written before it exits.
//!
//! Lambda sends the runtime SIGTERM at shutdown only when an extension is registered, so this
//! registers an internal extension that subscribes to no events (what lambda_runtime's
//! `spawn_graceful_shutdown_handler` does, here through the runtime's own API client and without
//! a panic when the API refuses), then writes what the aggregator holds on SIGTERM and exits.

use std::sync::Arc;

use driftless::telemetry::MetricsAggregator;
use lambda_http::http::{Method, Uri};
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, Client};
use tokio::signal::unix::{signal, SignalKind};

/// Internal extension names must be unique within a function.
const EXTENSION_NAME: &str = "driftless-metrics-flush";

#[derive(Debug, thiserror::Error)]
pub enum ShutdownHookError {
    #[error("AWS_LAMBDA_RUNTIME_API is not set: not running under Lambda")]
    NoRuntimeApi,
    #[error("the runtime API address {0:?} is not a URI")]
    BadAddress(String),
    #[error("cannot listen for SIGTERM")]
    Signal(#[source] std::io::Error),
    #[error("the extension could not be registered")]
    Register(#[source] lambda_runtime_api_client::BoxError),
    #[error("the extension registration was answered {0} without an identifier")]
    Refused(u16),
}

/// Registers the extension and the SIGTERM handler; call it before `run`, during Init.
pub async fn flush_metrics_at_shutdown(
    metrics: Arc<MetricsAggregator>,
) -> Result<(), ShutdownHookError> {
    let api =
        std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(|_| ShutdownHookError::NoRuntimeApi)?;
    let base: Uri = format!("http://{api}")
        .parse()
        .map_err(|_| ShutdownHookError::BadAddress(api.clone()))?;
    let client = Client::builder()
        .with_endpoint(base)
        .build()
        .map_err(|e| ShutdownHookError::Register(e.into_inner()))?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(ShutdownHookError::Signal)?;
    let register = build_request()
        .method(Method::POST)
        .uri("/2020-01-01/extension/register")
        .header("Lambda-Extension-Name", EXTENSION_NAME)
        .body(Body::from(r#"{"events":[]}"#))
        .map_err(|e| ShutdownHookError::Register(e.into()))?;
    let answer = client
        .call(register)
        .await
        .map_err(ShutdownHookError::Register)?;
    let id = answer
        .headers()
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or(ShutdownHookError::Refused(answer.status().as_u16()))?;
    // An extension ends its part of Init by asking for its next event; subscribed to none, the
    // call stays open until the process ends.
    tokio::spawn(async move {
        let next = build_request()
            .method(Method::GET)
            .uri("/2020-01-01/extension/event/next")
            .header("Lambda-Extension-Identifier", id)
            .body(Body::empty());
        if let Ok(next) = next {
            let _ = client.call(next).await;
        }
    });
    tokio::spawn(async move {
        sigterm.recv().await;
        metrics.flush();
        std::process::exit(0);
    });
    Ok(())
}
