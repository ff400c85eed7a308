//! Configuration from the environment: every variable a function reads is named here, once.

use std::time::Duration;

use crate::error::{Error, Result};

/// What ingest does with the caller's IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPolicy {
    /// Not stored (the default: an IP address is personal data).
    Drop,
    /// IPv4 to its /24, IPv6 to its /48: enough for rough geography, not for a person.
    Truncate,
    Keep,
}

/// Input limits; an item exactly at a limit is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_events_per_batch: usize,
    pub max_event_bytes: usize,
    /// Nesting depth inside `properties`: `{"a": 1}` is depth 1, `{"a": {"b": 1}}` depth 2.
    pub max_depth: usize,
    /// Characters of any string in an event.
    pub max_string_length: usize,
    /// Keys directly in `properties`.
    pub max_properties: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_decompressed_bytes: 4 * 1024 * 1024,
            max_events_per_batch: 500,
            max_event_bytes: 32 * 1024,
            max_depth: 8,
            max_string_length: 4096,
            max_properties: 64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub events_stream: String,
    pub quarantine_stream: String,
    /// `None` allows any origin.
    pub allowed_origins: Option<Vec<String>>,
    pub ip_policy: IpPolicy,
    pub limits: Limits,
    /// Corrected timestamps are clamped to at most this long before `received_at`.
    pub max_event_age: Duration,
}

impl Default for IngestConfig {
    fn default() -> IngestConfig {
        IngestConfig {
            events_stream: "driftless-events".into(),
            quarantine_stream: "driftless-quarantine".into(),
            allowed_origins: None,
            ip_policy: IpPolicy::Drop,
            limits: Limits::default(),
            max_event_age: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// The largest event a limit may allow: a quarantined event must still fit in one Firehose record
/// with its errors.
const MAX_EVENT_BYTES_CEILING: usize = 512 * 1024;

impl IngestConfig {
    /// Reads `DRIFTLESS_*` variables through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<IngestConfig> {
        let d = IngestConfig::default();
        let dl = d.limits;
        let size = |var: &'static str, default: usize| -> Result<usize> {
            match get(var) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(Error::Config {
                        var,
                        message: format!("must be a positive integer, got {v:?}"),
                    }),
            }
        };
        let limits = Limits {
            max_body_bytes: size("DRIFTLESS_MAX_BODY_BYTES", dl.max_body_bytes)?,
            max_decompressed_bytes: size(
                "DRIFTLESS_MAX_DECOMPRESSED_BYTES",
                dl.max_decompressed_bytes,
            )?,
            max_events_per_batch: size("DRIFTLESS_MAX_EVENTS_PER_BATCH", dl.max_events_per_batch)?,
            max_event_bytes: size("DRIFTLESS_MAX_EVENT_BYTES", dl.max_event_bytes)?,
            max_depth: size("DRIFTLESS_MAX_DEPTH", dl.max_depth)?,
            max_string_length: size("DRIFTLESS_MAX_STRING_LENGTH", dl.max_string_length)?,
            max_properties: size("DRIFTLESS_MAX_PROPERTIES", dl.max_properties)?,
        };
        if limits.max_event_bytes > MAX_EVENT_BYTES_CEILING {
            return Err(Error::Config {
                var: "DRIFTLESS_MAX_EVENT_BYTES",
                message: format!("must be at most {MAX_EVENT_BYTES_CEILING}, so a quarantined event fits a Firehose record"),
            });
        }
        let ip_policy = match get("DRIFTLESS_IP_POLICY").as_deref().map(str::trim) {
            None | Some("drop") => IpPolicy::Drop,
            Some("truncate") => IpPolicy::Truncate,
            Some("keep") => IpPolicy::Keep,
            Some(other) => {
                return Err(Error::Config {
                    var: "DRIFTLESS_IP_POLICY",
                    message: format!("must be drop, truncate or keep, got {other:?}"),
                })
            }
        };
        let allowed_origins = match get("DRIFTLESS_ALLOWED_ORIGINS") {
            None => None,
            Some(list) if list.split(',').any(|o| o.trim() == "*") => None,
            Some(list) => Some(
                list.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
        };
        let stream = |var: &'static str, default: String| -> Result<String> {
            match get(var) {
                None => Ok(default),
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                Some(_) => Err(Error::Config {
                    var,
                    message: "must name a delivery stream".into(),
                }),
            }
        };
        Ok(IngestConfig {
            events_stream: stream("DRIFTLESS_EVENTS_STREAM", d.events_stream)?,
            quarantine_stream: stream("DRIFTLESS_QUARANTINE_STREAM", d.quarantine_stream)?,
            allowed_origins,
            ip_policy,
            limits,
            max_event_age: Duration::from_secs(size(
                "DRIFTLESS_MAX_EVENT_AGE_SECS",
                d.max_event_age.as_secs() as usize,
            )? as u64),
        })
    }

    pub fn from_env() -> Result<IngestConfig> {
        IngestConfig::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<IngestConfig> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IngestConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = config(&[]).unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.ip_policy, IpPolicy::Drop);
        assert_eq!(c.allowed_origins, None);
    }

    #[test]
    fn variables_override_defaults() {
        let c = config(&[
            ("DRIFTLESS_MAX_BODY_BYTES", "2048"),
            ("DRIFTLESS_IP_POLICY", "truncate"),
            (
                "DRIFTLESS_ALLOWED_ORIGINS",
                "https://a.example, https://b.example/",
            ),
            ("DRIFTLESS_EVENTS_STREAM", "ev"),
        ])
        .unwrap();
        assert_eq!(c.limits.max_body_bytes, 2048);
        assert_eq!(c.ip_policy, IpPolicy::Truncate);
        assert_eq!(
            c.allowed_origins.unwrap(),
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(c.events_stream, "ev");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("DRIFTLESS_MAX_DEPTH", "deep")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DRIFTLESS_MAX_DEPTH: must be a positive integer, got \"deep\""
        );
        let err = config(&[("DRIFTLESS_IP_POLICY", "hash")]).unwrap_err();
        assert!(err.to_string().starts_with("DRIFTLESS_IP_POLICY:"));
    }
}
