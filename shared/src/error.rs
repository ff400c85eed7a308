//! The one error type of the library, and its mapping to HTTP, in one place.

use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Request-level rejections: the client must change the request.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the body is not a batch: {0}")]
    NotABatch(String),
    #[error("the body is {size} bytes; the limit is {limit} bytes: send smaller batches")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("the body inflates to more than {limit} bytes; the limit is {limit} bytes: send smaller batches")]
    DecompressedTooLarge { limit: usize },
    #[error("the batch has {count} events; the limit is {limit}: split it")]
    TooManyEvents { count: usize, limit: usize },
    #[error("the gzip body cannot be decompressed: {0}")]
    BadGzip(String),
    #[error("Content-Type {0:?} is not accepted: send application/json or text/plain")]
    UnsupportedMediaType(String),
    #[error("Content-Encoding {0:?} is not accepted: send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("origin {0:?} is not allowed: add it to DRIFTLESS_ALLOWED_ORIGINS")]
    OriginNotAllowed(String),
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

    // Deployment and schema problems, found at cold start or by `driftless schema check`.
    #[error("{var}: {message}")]
    Config { var: &'static str, message: String },
    #[error("{file}: {pointer}: {message}")]
    Schema {
        file: String,
        pointer: String,
        message: String,
    },

    // Compaction: the object store, local files, and requests of the compaction function.
    #[error("{operation} {key}: {message}")]
    Storage {
        operation: &'static str,
        key: String,
        message: String,
    },
    #[error("{key} no longer exists")]
    ObjectMissing { key: String },
    #[error("{key} changed since it was read (another run committed first)")]
    PreconditionFailed { key: String },
    #[error("{path}: {message}")]
    Parquet { path: String, message: String },
    #[error("part {key} did not verify: {message}")]
    VerifyFailed { key: String, message: String },
    #[error("invalid compaction request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// The HTTP status a client sees for this error. Only a failed hand-over to Firehose is a 5xx:
    /// bad input is always a 4xx that says what to fix.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::MalformedJson(_) | Error::NotABatch(_) | Error::BadGzip(_) => 400,
            Error::OriginNotAllowed(_) => 403,
            Error::MethodNotAllowed(_) => 405,
            Error::BodyTooLarge { .. }
            | Error::DecompressedTooLarge { .. }
            | Error::TooManyEvents { .. } => 413,
            Error::UnsupportedMediaType(_) | Error::UnsupportedEncoding(_) => 415,
            Error::DeliveryFailed { .. } | Error::Config { .. } | Error::Schema { .. } => 503,
            Error::InvalidRequest(_) => 400,
            Error::Storage { .. }
            | Error::ObjectMissing { .. }
            | Error::PreconditionFailed { .. }
            | Error::Parquet { .. }
            | Error::VerifyFailed { .. } => 500,
        }
    }

    /// A stable, machine-readable name for the error, used in response bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MalformedJson(_) => "malformed_json",
            Error::NotABatch(_) => "not_a_batch",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::DecompressedTooLarge { .. } => "decompressed_body_too_large",
            Error::TooManyEvents { .. } => "too_many_events",
            Error::BadGzip(_) => "bad_gzip",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::UnsupportedEncoding(_) => "unsupported_encoding",
            Error::OriginNotAllowed(_) => "origin_not_allowed",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::DeliveryFailed { .. } => "delivery_failed",
            Error::Config { .. } => "misconfigured",
            Error::Schema { .. } => "schema_invalid",
            Error::Storage { .. } => "storage",
            Error::ObjectMissing { .. } => "object_missing",
            Error::PreconditionFailed { .. } => "precondition_failed",
            Error::Parquet { .. } => "parquet",
            Error::VerifyFailed { .. } => "verify_failed",
            Error::InvalidRequest(_) => "invalid_request",
        }
    }

    /// Seconds a client should wait before retrying, for the errors that are worth a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::DeliveryFailed { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
