use std::time::{Duration, UNIX_EPOCH};

use driftless::clock::SystemClock;
use driftless::config::IngestConfig;
use driftless::ingest::Ingest;
use driftless::schema::Registry;
use ingest::cold_start;
use lambda_http::{run, service_fn, Error, Request, RequestExt};

#[tokio::main]
async fn main() -> Result<(), Error> {
    driftless::telemetry::init_logging();
    // Built once per cold start: the compiled schemas, the configuration and the Firehose client.
    let registry = Registry::embedded()?;
    let config = IngestConfig::from_env()?;
    let aws = aws_config::load_from_env().await;
    let firehose = aws_sdk_firehose::Client::new(&aws);
    // The user-agent parser compiles its regexes now, not on the first request.
    driftless::ingest::enrich::agent::shared()?;
    let keys = cold_start::source_keys(&config, || aws_sdk_ssm::Client::new(&aws)).await?;
    let geo = cold_start::geo_database(&config, || aws_sdk_s3::Client::new(&aws)).await?;
    let mut service = Ingest::new(registry, config, firehose, SystemClock);
    match keys {
        Some(keys) => service = service.with_source_keys(keys),
        None => tracing::warn!(
            message = "No source keys configured: any caller is accepted and events carry no source. Set DRIFTLESS_SOURCE_KEYS or DRIFTLESS_SOURCE_KEYS_PARAMETER."
        ),
    }
    if let Some(geo) = geo {
        tracing::info!(
            message = "GeoIP database loaded.",
            database_type = geo.database_type()
        );
        service = service.with_geo(geo);
    }
    // Metrics are written every few invocations; what is held when Lambda stops the function
    // is written before it exits. Without the hook they are still written by count and time.
    if let Err(error) = ingest::shutdown::flush_metrics_at_shutdown(service.metrics()).await {
        tracing::warn!(message = "No shutdown hook: metrics held at shutdown are lost.", error = %error);
    }
    let service = &service;
    run(service_fn(move |req: Request| async move {
        let deadline = UNIX_EPOCH + Duration::from_millis(req.lambda_context().deadline);
        Ok::<_, Error>(ingest::handle(service, req, deadline).await)
    }))
    .await
}
