//! What the function reads once per cold start besides its environment: the source keys (from
//! the environment or an SSM parameter) and the GeoIP database (from a file, a Lambda layer's
//! for example, or S3).

use driftless::config::{IngestConfig, KeysSetting};
use driftless::ingest::enrich::geo::{GeoDb, GeoDbError};
use driftless::ingest::keys::SourceKeys;

/// Why the function cannot start; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    #[error(transparent)]
    Keys(#[from] driftless::config::ConfigError),
    #[error("the SSM parameter {name:?} with the source keys cannot be read (does it exist, and may the function's role call ssm:GetParameter on it?): {source}")]
    KeysParameter {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the SSM parameter {0:?} has no value")]
    KeysParameterEmpty(String),
    #[error("the GeoIP database {origin:?} cannot be read (DRIFTLESS_GEOIP_DATABASE): {source}")]
    GeoFile {
        origin: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("DRIFTLESS_GEOIP_DATABASE {0:?} is not an s3://bucket/key URI")]
    GeoUri(String),
    #[error(transparent)]
    Geo(#[from] GeoDbError),
}

/// The configured source keys, or `None` when the function is keyless.
pub async fn source_keys(
    config: &IngestConfig,
    ssm: impl FnOnce() -> aws_sdk_ssm::Client,
) -> Result<Option<SourceKeys>, ColdStartError> {
    let json = match &config.source_keys {
        None => return Ok(None),
        Some(KeysSetting::Json(json)) => {
            return Ok(Some(SourceKeys::parse(json, "DRIFTLESS_SOURCE_KEYS")?));
        }
        Some(KeysSetting::SsmParameter(name)) => {
            let out = ssm()
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| ColdStartError::KeysParameter {
                    name: name.clone(),
                    source: Box::new(e),
                })?;
            out.parameter
                .and_then(|p| p.value)
                .ok_or_else(|| ColdStartError::KeysParameterEmpty(name.clone()))?
        }
    };
    Ok(Some(SourceKeys::parse(
        &json,
        "DRIFTLESS_SOURCE_KEYS_PARAMETER",
    )?))
}

/// The configured GeoIP database, or `None` without one.
pub async fn geo_database(
    config: &IngestConfig,
    s3: impl FnOnce() -> aws_sdk_s3::Client,
) -> Result<Option<GeoDb>, ColdStartError> {
    let Some(origin) = config.geoip_database.as_deref() else {
        return Ok(None);
    };
    let bytes = match origin.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, key) = rest
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                .ok_or_else(|| ColdStartError::GeoUri(origin.to_string()))?;
            let file_err = |e: Box<dyn std::error::Error + Send + Sync>| ColdStartError::GeoFile {
                origin: origin.to_string(),
                source: e,
            };
            let object = s3()
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| file_err(Box::new(e)))?;
            object
                .body
                .collect()
                .await
                .map_err(|e| file_err(Box::new(e)))?
                .into_bytes()
                .to_vec()
        }
        None => tokio::fs::read(origin)
            .await
            .map_err(|e| ColdStartError::GeoFile {
                origin: origin.to_string(),
                source: Box::new(e),
            })?,
    };
    Ok(Some(GeoDb::from_bytes(bytes, origin)?))
}
