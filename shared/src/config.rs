//! Configuration from the environment: every `DRIFTLESS_*` variable a function or the CLI reads
//! is named here, once, and parsed by one reader ([`Env`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::telemetry::FlushPolicy;

/// A variable with a value that cannot be used, and what to set instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

type Result<T> = std::result::Result<T, ConfigError>;

/// Reads variables through a lookup function, so tests need not touch the process environment.
pub struct Env<F> {
    get: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(get: F) -> Env<F> {
        Env { get }
    }

    /// An integer of at least `min`, or `default` when the variable is unset.
    pub fn integer(&self, var: &'static str, default: u64, min: u64) -> Result<u64> {
        match (self.get)(var) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(|| ConfigError {
                    var,
                    message: if min == 1 {
                        format!("must be a positive integer, got {v:?}")
                    } else {
                        format!("must be an integer of at least {min}, got {v:?}")
                    },
                }),
        }
    }

    /// A non-empty string (trimmed), `default` when unset.
    pub fn name(&self, var: &'static str, default: &str, what: &str) -> Result<String> {
        match (self.get)(var) {
            None => Ok(default.to_string()),
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            Some(_) => Err(ConfigError {
                var,
                message: format!("must name {what}"),
            }),
        }
    }

    /// The raw value, when set.
    pub fn optional(&self, var: &'static str) -> Option<String> {
        (self.get)(var)
    }
}

/// The process environment.
pub fn process_env() -> Env<fn(&str) -> Option<String>> {
    Env::new(|k| std::env::var(k).ok())
}

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
    /// When the metrics of many requests are written as one EMF document.
    pub metrics_flush: FlushPolicy,
    /// Where the source keys are; `None`: keyless, any caller is accepted.
    pub source_keys: Option<KeysSetting>,
    /// A MaxMind-format database: a file path, or an `s3://bucket/key` URI.
    pub geoip_database: Option<String>,
    /// The header a proxy in front (CloudFront) puts the caller's address in, lowercase; `None`
    /// trusts the address the endpoint saw.
    pub client_ip_header: Option<String>,
}

/// Where the source keys are configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysSetting {
    /// The JSON list itself (`DRIFTLESS_SOURCE_KEYS`).
    Json(String),
    /// The name of an SSM parameter holding it, read at cold start
    /// (`DRIFTLESS_SOURCE_KEYS_PARAMETER`).
    SsmParameter(String),
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
            metrics_flush: FlushPolicy::default(),
            source_keys: None,
            geoip_database: None,
            client_ip_header: None,
        }
    }
}

/// The largest event a limit may allow: a quarantined event must still fit in one Firehose record
/// with its errors.
const MAX_EVENT_BYTES_CEILING: usize = 512 * 1024;

impl IngestConfig {
    pub fn from_env_reader(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<IngestConfig> {
        let d = IngestConfig::default();
        let dl = d.limits;
        let size = |var: &'static str, default: usize| -> Result<usize> {
            env.integer(var, default as u64, 1).map(|n| n as usize)
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
            return Err(ConfigError {
                var: "DRIFTLESS_MAX_EVENT_BYTES",
                message: format!("must be at most {MAX_EVENT_BYTES_CEILING}, so a quarantined event fits a Firehose record"),
            });
        }
        let ip_policy = match env
            .optional("DRIFTLESS_IP_POLICY")
            .as_deref()
            .map(str::trim)
        {
            None | Some("drop") => IpPolicy::Drop,
            Some("truncate") => IpPolicy::Truncate,
            Some("keep") => IpPolicy::Keep,
            Some(other) => {
                return Err(ConfigError {
                    var: "DRIFTLESS_IP_POLICY",
                    message: format!("must be drop, truncate or keep, got {other:?}"),
                })
            }
        };
        let allowed_origins = match env.optional("DRIFTLESS_ALLOWED_ORIGINS") {
            None => None,
            Some(list) if list.split(',').any(|o| o.trim() == "*") => None,
            Some(list) => Some(
                list.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
        };
        let set = |var: &'static str| env.optional(var).filter(|v| !v.trim().is_empty());
        let source_keys = match (
            set("DRIFTLESS_SOURCE_KEYS"),
            set("DRIFTLESS_SOURCE_KEYS_PARAMETER"),
        ) {
            (None, None) => None,
            (Some(json), None) => Some(KeysSetting::Json(json)),
            (None, Some(name)) => Some(KeysSetting::SsmParameter(name.trim().to_string())),
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    var: "DRIFTLESS_SOURCE_KEYS",
                    message: "and DRIFTLESS_SOURCE_KEYS_PARAMETER are both set: keep one".into(),
                })
            }
        };
        if source_keys.is_some() && allowed_origins.is_some() {
            return Err(ConfigError {
                var: "DRIFTLESS_ALLOWED_ORIGINS",
                message: "is for keyless mode: with source keys, list each key's origins with it"
                    .into(),
            });
        }
        let stream = "a delivery stream";
        Ok(IngestConfig {
            source_keys,
            geoip_database: set("DRIFTLESS_GEOIP_DATABASE").map(|v| v.trim().to_string()),
            client_ip_header: set("DRIFTLESS_CLIENT_IP_HEADER")
                .map(|v| v.trim().to_ascii_lowercase()),
            events_stream: env.name("DRIFTLESS_EVENTS_STREAM", &d.events_stream, stream)?,
            quarantine_stream: env.name(
                "DRIFTLESS_QUARANTINE_STREAM",
                &d.quarantine_stream,
                stream,
            )?,
            allowed_origins,
            ip_policy,
            limits,
            max_event_age: Duration::from_secs(env.integer(
                "DRIFTLESS_MAX_EVENT_AGE_SECS",
                d.max_event_age.as_secs(),
                1,
            )?),
            metrics_flush: FlushPolicy {
                invocations: env.integer(
                    "DRIFTLESS_METRICS_FLUSH_INVOCATIONS",
                    d.metrics_flush.invocations,
                    1,
                )?,
                interval: Duration::from_secs(env.integer(
                    "DRIFTLESS_METRICS_FLUSH_SECS",
                    d.metrics_flush.interval.as_secs(),
                    1,
                )?),
            },
        })
    }

    /// Reads `DRIFTLESS_*` variables through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<IngestConfig> {
        IngestConfig::from_env_reader(&Env::new(get))
    }

    pub fn from_env() -> Result<IngestConfig> {
        IngestConfig::from_env_reader(&process_env())
    }
}

const MIB: usize = 1024 * 1024;

/// Compaction settings.
#[derive(Debug, Clone)]
pub struct CompactConfig {
    /// The working set compaction keeps in memory; larger days spill to `scratch_dir`.
    pub memory_budget: usize,
    /// Parts are closed once they reach about this size.
    pub target_file_bytes: u64,
    /// How long after its end a day is closed (`Day::is_closed`).
    pub close_after: Duration,
    /// Local disk for downloads, spills and parts before upload (`/tmp` on Lambda).
    pub scratch_dir: PathBuf,
    /// Raw objects read at once.
    pub read_concurrency: usize,
    /// Deduplication by `event_id` covers at least this much arrival time, across days.
    pub dedup_window: Duration,
    /// Raw objects (as stored) one run takes at most, in whole days, oldest first; the rest
    /// waits for the next run.
    pub max_run_bytes: u64,
    /// Removed data files stay this long for readers of older versions before vacuum deletes
    /// them.
    pub vacuum_retention: Duration,
    /// Closed days this far back that have too many files are optimized by the schedule.
    pub optimize_lookback_days: i64,
    /// Compaction keeps dropping the raw rows of a person this many days after their erasure
    /// request (late arrivals, an offline client's old batch), and for as long as it is open.
    pub erasure_filter_days: i64,
    /// An erasure request still open this many days after it was made is overdue (the
    /// template's alarm fires on the same figure; the legal deadline is usually 30 days).
    pub erasure_alarm_days: i64,
    /// Days of the quarantine table kept (by `dt`); older partitions are deleted. 0 keeps all.
    pub quarantine_retention_days: i64,
    /// Days of the events table kept (by `dt`); 0 (the default) keeps every day.
    pub events_retention_days: i64,
}

impl Default for CompactConfig {
    fn default() -> Self {
        CompactConfig {
            memory_budget: 1536 * MIB,
            target_file_bytes: 256 * MIB as u64,
            close_after: Duration::from_secs(1800),
            scratch_dir: std::env::temp_dir().join("driftless-compact"),
            read_concurrency: 4,
            dedup_window: Duration::from_secs(48 * 3600),
            max_run_bytes: 4096 * MIB as u64,
            vacuum_retention: Duration::from_secs(7 * 24 * 3600),
            optimize_lookback_days: 7,
            erasure_filter_days: 30,
            erasure_alarm_days: 25,
            quarantine_retention_days: 90,
            events_retention_days: 0,
        }
    }
}

impl CompactConfig {
    pub fn from_env_reader(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<CompactConfig> {
        let d = CompactConfig::default();
        Ok(CompactConfig {
            memory_budget: env.integer("DRIFTLESS_MEMORY_BUDGET_MB", 1536, 16)? as usize * MIB,
            target_file_bytes: env.integer("DRIFTLESS_TARGET_FILE_MB", 256, 1)? * MIB as u64,
            close_after: Duration::from_secs(env.integer(
                "DRIFTLESS_CLOSE_AFTER_SECS",
                d.close_after.as_secs(),
                0,
            )?),
            // Not set on Lambda: the temp dir is /tmp, sized by the template.
            scratch_dir: env
                .optional("DRIFTLESS_SCRATCH_DIR")
                .map(PathBuf::from)
                .unwrap_or(d.scratch_dir),
            read_concurrency: env.integer("DRIFTLESS_READ_CONCURRENCY", 4, 1)? as usize,
            dedup_window: Duration::from_secs(
                env.integer("DRIFTLESS_DEDUP_WINDOW_HOURS", 48, 1)? * 3600,
            ),
            max_run_bytes: env.integer("DRIFTLESS_MAX_RUN_MB", 4096, 1)? * MIB as u64,
            vacuum_retention: Duration::from_secs(
                env.integer("DRIFTLESS_VACUUM_RETENTION_HOURS", 168, 0)? * 3600,
            ),
            optimize_lookback_days: env.integer("DRIFTLESS_OPTIMIZE_LOOKBACK_DAYS", 7, 1)? as i64,
            erasure_filter_days: env.integer("DRIFTLESS_ERASURE_FILTER_DAYS", 30, 0)? as i64,
            erasure_alarm_days: env.integer("DRIFTLESS_ERASURE_ALARM_DAYS", 25, 1)? as i64,
            quarantine_retention_days: env.integer("DRIFTLESS_QUARANTINE_RETENTION_DAYS", 90, 0)?
                as i64,
            events_retention_days: env.integer("DRIFTLESS_EVENTS_RETENTION_DAYS", 0, 0)? as i64,
        })
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<CompactConfig> {
        CompactConfig::from_env_reader(&Env::new(get))
    }

    pub fn from_env() -> Result<CompactConfig> {
        CompactConfig::from_env_reader(&process_env())
    }

    /// The dedup window in whole days either side of a row's arrival day.
    pub fn dedup_window_days(&self) -> i64 {
        self.dedup_window.as_secs().div_ceil(86_400) as i64
    }

    /// What a newly created lake table is configured with.
    pub fn table_settings(&self) -> crate::lake::delta::TableSettings {
        crate::lake::delta::TableSettings {
            deleted_file_retention: self.vacuum_retention,
        }
    }

    /// Entry bytes buffered across partitions before they spill. A spill is written while the
    /// next rows fill new buffers, so twice as much is held at times (with what growing buffers
    /// hold in reserve), beside the run's row ids (32 bytes a row).
    pub fn partition_buffer(&self) -> usize {
        self.memory_budget / 6
    }

    /// Threads that deduplicate and sort partitions at once: the cores Lambda gives (two at
    /// 3,008 MB), at most four.
    pub fn sort_threads(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    }

    /// Entry bytes of one partition loaded for dedup and sort. Each sort thread holds one (with
    /// its cell offsets and sort order, about 1.1 times the entries) beside the writer's row
    /// groups, the run's completeness pairs and its file index: an eighteenth of the budget for
    /// two. Partitions are ranges of the output, so more of them cost nothing but file opens.
    pub fn partition_limit(&self) -> usize {
        self.memory_budget / (6 * self.sort_threads() + 6)
    }

    /// Encoded row bytes of one Parquet row group. Two are held at once (one filling while the
    /// other is encoded), the second with its values gathered by column (about as many bytes
    /// again), beside the part's index and the run's completeness pairs.
    pub fn row_group_bytes(&self) -> usize {
        (self.memory_budget / 10).clamp(MIB / 16, 128 * MIB)
    }
}

/// The bucket of the raw objects and the lake (`DRIFTLESS_BUCKET`), which the compaction function
/// must be given.
pub fn lake_bucket(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<String> {
    match env.optional("DRIFTLESS_BUCKET") {
        Some(b) if !b.trim().is_empty() => Ok(b.trim().to_string()),
        _ => Err(ConfigError {
            var: "DRIFTLESS_BUCKET",
            message: "must name the bucket of the lake".into(),
        }),
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
        assert_eq!(c.metrics_flush, FlushPolicy::default());
    }

    #[test]
    fn source_keys_come_from_the_json_or_an_ssm_parameter_never_both() {
        assert_eq!(config(&[]).unwrap().source_keys, None);
        let c = config(&[("DRIFTLESS_SOURCE_KEYS", "[]")]).unwrap();
        assert_eq!(c.source_keys, Some(KeysSetting::Json("[]".into())));
        let c = config(&[("DRIFTLESS_SOURCE_KEYS_PARAMETER", " /driftless/keys ")]).unwrap();
        assert_eq!(
            c.source_keys,
            Some(KeysSetting::SsmParameter("/driftless/keys".into()))
        );
        let err = config(&[
            ("DRIFTLESS_SOURCE_KEYS", "[]"),
            ("DRIFTLESS_SOURCE_KEYS_PARAMETER", "/driftless/keys"),
        ])
        .unwrap_err();
        assert!(err.message.contains("both set"), "{err}");
    }

    #[test]
    fn a_global_origin_list_is_refused_beside_source_keys() {
        let err = config(&[
            ("DRIFTLESS_SOURCE_KEYS", "[]"),
            ("DRIFTLESS_ALLOWED_ORIGINS", "https://a.example"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "DRIFTLESS_ALLOWED_ORIGINS");
    }

    #[test]
    fn the_client_ip_header_is_matched_lowercase() {
        let c = config(&[("DRIFTLESS_CLIENT_IP_HEADER", "CloudFront-Viewer-Address")]).unwrap();
        assert_eq!(
            c.client_ip_header.as_deref(),
            Some("cloudfront-viewer-address")
        );
    }

    #[test]
    fn metrics_flush_is_configurable_and_never_zero() {
        let c = config(&[
            ("DRIFTLESS_METRICS_FLUSH_INVOCATIONS", "10"),
            ("DRIFTLESS_METRICS_FLUSH_SECS", "5"),
        ])
        .unwrap();
        assert_eq!(c.metrics_flush.invocations, 10);
        assert_eq!(c.metrics_flush.interval, Duration::from_secs(5));
        let err = config(&[("DRIFTLESS_METRICS_FLUSH_INVOCATIONS", "0")]).unwrap_err();
        assert_eq!(err.var, "DRIFTLESS_METRICS_FLUSH_INVOCATIONS");
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

    #[test]
    fn compact_config_reads_budget_and_sizes_and_rejects_nonsense() {
        let cfg = CompactConfig::from_lookup(|k| match k {
            "DRIFTLESS_MEMORY_BUDGET_MB" => Some("256".into()),
            "DRIFTLESS_TARGET_FILE_MB" => Some("64".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.memory_budget, 256 * MIB);
        assert_eq!(cfg.target_file_bytes, 64 * MIB as u64);
        assert_eq!(cfg.close_after, Duration::from_secs(1800));
        let err = CompactConfig::from_lookup(|k| {
            (k == "DRIFTLESS_MEMORY_BUDGET_MB").then(|| "lots".into())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "DRIFTLESS_MEMORY_BUDGET_MB: must be an integer of at least 16, got \"lots\""
        );
    }

    #[test]
    fn erasure_and_retention_settings_default_to_the_documented_values() {
        let d = CompactConfig::from_lookup(|_| None).unwrap();
        assert_eq!(
            (
                d.erasure_filter_days,
                d.erasure_alarm_days,
                d.quarantine_retention_days,
                d.events_retention_days
            ),
            (30, 25, 90, 0)
        );
        let c = CompactConfig::from_lookup(|k| match k {
            "DRIFTLESS_EVENTS_RETENTION_DAYS" => Some("400".into()),
            "DRIFTLESS_ERASURE_ALARM_DAYS" => Some("0".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(c.var, "DRIFTLESS_ERASURE_ALARM_DAYS");
    }

    #[test]
    fn the_bucket_is_required_and_named_in_the_error() {
        let err = lake_bucket(&Env::new(|_| None)).unwrap_err();
        assert_eq!(err.var, "DRIFTLESS_BUCKET");
        assert_eq!(lake_bucket(&Env::new(|_| Some(" b ".into()))).unwrap(), "b");
    }
}
