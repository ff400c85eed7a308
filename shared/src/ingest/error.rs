//! Ingest's errors and their mapping to HTTP, in one place.

use std::time::Duration;

use crate::config::ConfigError;
use crate::schema::SchemaError;

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    // Request-level rejections: the client must change the request.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(#[source] serde_json::Error),
    #[error("the body is not a batch: {0}")]
    NotABatch(String),
    #[error("the body is {size} bytes; the limit is {limit} bytes: send smaller batches")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("the body inflates to more than {limit} bytes; the limit is {limit} bytes: send smaller batches")]
    DecompressedTooLarge { limit: usize },
    #[error("the batch has {count} events; the limit is {limit}: split it")]
    TooManyEvents { count: usize, limit: usize },
    #[error("the gzip body cannot be decompressed: {0}")]
    BadGzip(#[source] std::io::Error),
    #[error("Content-Type {0:?} is not accepted: send application/json or text/plain")]
    UnsupportedMediaType(String),
    #[error("Content-Encoding {0:?} is not accepted: send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("origin {0:?} is not allowed: add it to DRIFTLESS_ALLOWED_ORIGINS, or with source keys to its key's origins")]
    OriginNotAllowed(String),
    #[error("origin {origin:?} is not allowed for the key of source {source_name:?}: add it to the key's origins, or send this site's own key")]
    OriginNotAllowedForKey { origin: String, source_name: String },
    #[error("no source key: send it in the X-Driftless-Key header or as the body's \"key\" field")]
    MissingKey,
    #[error("the source key {0:?} is not known: check the key the client was configured with")]
    UnknownKey(String),
    #[error(
        "the source key of {0:?} is disabled: configure the client with the source's current key"
    )]
    KeyDisabled(String),
    #[error("method {0} is not allowed: send POST (or OPTIONS for a CORS preflight)")]
    MethodNotAllowed(String),

    // The pipeline behind the endpoint could not take the events: the client retries later.
    #[error("the delivery stream {stream:?} did not take {pending} records: {reason}")]
    DeliveryFailed {
        stream: String,
        pending: usize,
        reason: String,
        retry_after: Duration,
    },

    // Deployment and schema problems, found at cold start.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

impl IngestError {
    /// The HTTP status a client sees for this error. Only a failed hand-over to Firehose (or a
    /// broken deployment) is a 5xx: bad input is always a 4xx that says what to fix.
    pub fn http_status(&self) -> u16 {
        match self {
            IngestError::MalformedJson(_) | IngestError::NotABatch(_) | IngestError::BadGzip(_) => {
                400
            }
            IngestError::MissingKey | IngestError::UnknownKey(_) | IngestError::KeyDisabled(_) => {
                401
            }
            IngestError::OriginNotAllowed(_) | IngestError::OriginNotAllowedForKey { .. } => 403,
            IngestError::MethodNotAllowed(_) => 405,
            IngestError::BodyTooLarge { .. }
            | IngestError::DecompressedTooLarge { .. }
            | IngestError::TooManyEvents { .. } => 413,
            IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => 415,
            IngestError::DeliveryFailed { .. }
            | IngestError::Config(_)
            | IngestError::Schema(_) => 503,
        }
    }

    /// A stable, machine-readable name for the error, used in response bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::MalformedJson(_) => "malformed_json",
            IngestError::NotABatch(_) => "not_a_batch",
            IngestError::BodyTooLarge { .. } => "body_too_large",
            IngestError::DecompressedTooLarge { .. } => "decompressed_body_too_large",
            IngestError::TooManyEvents { .. } => "too_many_events",
            IngestError::BadGzip(_) => "bad_gzip",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::UnsupportedEncoding(_) => "unsupported_encoding",
            IngestError::OriginNotAllowed(_) | IngestError::OriginNotAllowedForKey { .. } => {
                "origin_not_allowed"
            }
            IngestError::MissingKey => "missing_key",
            IngestError::UnknownKey(_) => "unknown_key",
            IngestError::KeyDisabled(_) => "key_disabled",
            IngestError::MethodNotAllowed(_) => "method_not_allowed",
            IngestError::DeliveryFailed { .. } => "delivery_failed",
            IngestError::Config(_) => "misconfigured",
            IngestError::Schema(_) => "schema_invalid",
        }
    }

    /// Seconds a client should wait before retrying, for the errors that are worth a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            IngestError::DeliveryFailed { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
