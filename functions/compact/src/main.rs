// delta-rs's commit and vacuum futures nest deeply; the layout of the serving future needs more
// than the default 128 levels of queries to compute.
#![recursion_limit = "256"]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use driftless::config::{lake_bucket, process_env, CompactConfig};
use driftless::lake::s3::S3Store;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

fn main() -> Result<(), Error> {
    driftless::compact::cap_allocator_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), Error> {
    driftless::telemetry::init_logging();
    // Built once per cold start: the configuration and the S3 client.
    let env = process_env();
    let cfg = CompactConfig::from_env_reader(&env)?;
    let bucket = lake_bucket(&env)?;
    let aws = aws_config::load_from_env().await;
    let store = S3Store::new(&aws, bucket);
    let (store, cfg) = (&store, &cfg);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(compact::FALLBACK_BUDGET);
        let now = driftless::clock::now_ms();
        // The error's code becomes the errorType the DLQ message and the logs carry.
        compact::handle(store, cfg, event.payload, remaining, now)
            .await
            .map_err(|e| Diagnostic {
                error_type: e.code().to_string(),
                error_message: e.to_string(),
            })
    }))
    .await
}
