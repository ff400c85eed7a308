//! `driftless`: schema check, code generation, lint of tracking calls, offline validation,
//! compaction, erasure, replay and backfill (`send`).
//! Parsing arguments and mapping outcomes to exit statuses is all that happens here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use driftless::compact::{Compaction, Days as RawDays, OnError};
use driftless::config::{CompactConfig, IngestConfig};
use driftless::erasure::{Erasure, ErasureAsk};
use driftless::lake::s3::S3Store;
use driftless::lake::store::LocalStore;
use driftless::lake::Day;
use driftless::replay::Replayer;
use driftless_cli::{
    check, codegen, columns, lint, send, validate, CliError, EXIT_FINDINGS, EXIT_USAGE,
};

#[derive(Parser)]
#[command(name = "driftless", version, about = "Driftless schema toolchain")]
struct Cli {
    /// Repository root: schemas are read from <root>/schema, generated files written under it.
    #[arg(long, global = true, default_value = ".")]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Schema commands.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Generate the SDK's TypeScript types, the Python client's types, the DuckDB and Athena views
    /// and docs/events.md.
    Codegen {
        /// Write nothing; fail when a generated file differs from what the schemas give.
        #[arg(long)]
        check: bool,
    },
    /// Check the SDK's tracking calls in TypeScript/JavaScript files against the schemas.
    Lint {
        /// Files or directories (searched recursively for .ts, .tsx, .js, .jsx, .mts, .cts, .mjs, .cjs).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Validate NDJSON events (or quarantine records) with the ingest function's own checks.
    Validate { file: PathBuf },
    /// The lake tables' columns (the one list the Parquet files, views and Glue tables follow).
    Columns {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Backfill: check an NDJSON file of events offline, then post them to the ingest endpoint
    /// in batches, with the clients' retries; prints what was rejected and what to fix.
    Send(SendArgs),
    /// Append the raw objects of a range of arrival days to the lake tables (re-run or
    /// backfill), as the compaction function does; optionally optimize those days and vacuum.
    Compact {
        #[command(flatten)]
        lake: Lake,
        #[command(flatten)]
        days: Days,
        /// Then rewrite each day's files into a few large sorted ones.
        #[arg(long)]
        optimize: bool,
        /// Then delete removed files older than the retention (DRIFTLESS_VACUUM_RETENTION_HOURS).
        #[arg(long)]
        vacuum: bool,
        /// Working-set bound; larger days spill to --scratch-dir (default DRIFTLESS_MEMORY_BUDGET_MB or 1536).
        #[arg(long)]
        memory_budget_mb: Option<usize>,
        /// Parquet part size (default DRIFTLESS_TARGET_FILE_MB or 256).
        #[arg(long)]
        target_file_mb: Option<u64>,
        /// Local disk for downloads, spills and parts before upload.
        #[arg(long)]
        scratch_dir: Option<PathBuf>,
    },
    /// Erase people from the lake: record the request (erasure/requests/), compact the raw
    /// objects waiting without their rows, rewrite the table files that hold them, delete the
    /// old copies and verify; prints the report (also kept under erasure/reports/).
    Erase {
        #[command(flatten)]
        lake: Lake,
        /// A user id to erase, with every anonymous id seen with it (repeatable).
        #[arg(long = "user-id")]
        user_ids: Vec<String>,
        /// An anonymous id to erase (repeatable).
        #[arg(long = "anonymous-id")]
        anonymous_ids: Vec<String>,
        /// A JSON file {"user_ids": [...], "anonymous_ids": [...], "requested_by": "..."},
        /// the same as the compaction function's {"erase": ...}; ids given above are added.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Who asked (a ticket, an address): kept with the request.
        #[arg(long)]
        requested_by: Option<String>,
        /// Local disk for downloads and rewritten files.
        #[arg(long)]
        scratch_dir: Option<PathBuf>,
    },
    /// Re-validate quarantined events of a date range with the current schemas (under --root)
    /// and forward the ones that now pass to the events stream; the rest stay in quarantine.
    Replay {
        #[command(flatten)]
        lake: Lake,
        #[command(flatten)]
        days: Days,
        /// Delivery stream for the events (default DRIFTLESS_EVENTS_STREAM or driftless-events).
        #[arg(long)]
        stream: Option<String>,
        /// Count what would be forwarded; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(clap::Args)]
struct SendArgs {
    /// NDJSON, one event per line as docs/wire-format.md describes it (with its event_id, so that
    /// sending the file again adds no duplicates to the lake).
    file: PathBuf,
    /// The ingest URL (default DRIFTLESS_ENDPOINT), e.g. https://ingest.example.com/v1/batch.
    #[arg(long)]
    endpoint: Option<String>,
    /// Send the valid events even when some lines are invalid (those are listed, not sent).
    #[arg(long)]
    skip_invalid: bool,
    /// Events per request (the endpoint takes up to 500).
    #[arg(long, default_value_t = driftless_cli::send::MAX_EVENTS_PER_REQUEST)]
    batch_size: usize,
    /// Request body bytes before compression (the endpoint's body limit is 1,048,576).
    #[arg(long, default_value_t = 1_000_000)]
    max_batch_bytes: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Sends of one batch before it is given up (429, 5xx, timeouts and network errors retry).
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// Seconds one request may take, answer included.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// The longest wait before a retry, in seconds (Retry-After included).
    #[arg(long, default_value_t = 30.0)]
    max_retry_delay: f64,
    /// Send bodies uncompressed (default: gzip).
    #[arg(long)]
    no_gzip: bool,
    /// This sender's source key, sent as the X-Driftless-Key header (default DRIFTLESS_KEY); an
    /// endpoint with keys answers 401 without a valid one.
    #[arg(long)]
    key: Option<String>,
}

/// Where the lake is: an S3 bucket (AWS_ENDPOINT_URL is honoured) or a local directory laid out
/// like the bucket.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Lake {
    #[arg(long)]
    bucket: Option<String>,
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The days to work on: `--date D`, or `--from D --to D` (both included).
#[derive(clap::Args)]
#[group(required = true, multiple = true)]
struct Days {
    /// One day, YYYY-MM-DD (or use --from and --to).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    date: Option<String>,
    #[arg(long, requires = "to")]
    from: Option<String>,
    #[arg(long, requires = "from")]
    to: Option<String>,
}

impl Days {
    fn list(&self) -> driftless_cli::Result<Vec<Day>> {
        let (from, to) = match (&self.date, &self.from, &self.to) {
            (Some(d), _, _) => (d, d),
            (None, Some(f), Some(t)) => (f, t),
            _ => return Err(CliError::Usage("give --date or --from and --to".into())),
        };
        let (from, to) = (Day::parse(from)?, Day::parse(to)?);
        if to < from {
            return Err(CliError::Usage(format!(
                "--to {to} is before --from {from}"
            )));
        }
        Ok(Day::range(from, to)?)
    }
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Check every schema: supported subset, naming conventions, SchemaVer rules between versions.
    Check,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("driftless: {e}");
            ExitCode::from(match e {
                CliError::Usage(_)
                | CliError::Io { .. }
                | CliError::Config(_)
                | CliError::Lake(_) => EXIT_USAGE as u8,
                CliError::Schema(_) => EXIT_FINDINGS as u8,
            })
        }
    }
}

fn runtime() -> driftless_cli::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("tokio runtime", e))
}

fn run(cli: Cli) -> driftless_cli::Result<i32> {
    let schema_dir = cli.root.join("schema");
    match cli.command {
        Command::Schema {
            command: SchemaCommand::Check,
        } => {
            let problems = check::check_dir(&schema_dir)?;
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                eprintln!("schema check: ok");
                Ok(0)
            } else {
                eprintln!("schema check: {} problem(s)", problems.len());
                Ok(EXIT_FINDINGS)
            }
        }
        Command::Codegen { check } => {
            let registry = codegen::load(&schema_dir)?;
            let outputs = codegen::generate(&registry);
            if check {
                let stale = codegen::stale(&cli.root, &outputs)?;
                for path in &stale {
                    println!("{path}: stale: run `driftless codegen` and commit the result");
                }
                Ok(if stale.is_empty() { 0 } else { EXIT_FINDINGS })
            } else {
                for path in codegen::write(&cli.root, &outputs)? {
                    eprintln!("wrote {path}");
                }
                Ok(0)
            }
        }
        Command::Lint { paths, format } => {
            let registry = codegen::load(&schema_dir)?;
            let report = lint::lint_paths(&registry, &paths)?;
            match format {
                Format::Text => {
                    for f in &report.findings {
                        println!("{f}");
                    }
                    eprintln!(
                        "lint: {} file(s), {} tracking call(s) checked, {} finding(s)",
                        report.files,
                        report.calls,
                        report.findings.len()
                    );
                }
                Format::Json => println!("{}", lint::to_json(&report.findings)),
            }
            Ok(if report.findings.is_empty() {
                0
            } else {
                EXIT_FINDINGS
            })
        }
        Command::Compact {
            lake,
            days,
            optimize,
            vacuum,
            memory_budget_mb,
            target_file_mb,
            scratch_dir,
        } => {
            let days = days.list()?;
            let mut cfg = CompactConfig::from_env()?;
            if let Some(mb) = memory_budget_mb {
                cfg.memory_budget = mb * 1024 * 1024;
            }
            if let Some(mb) = target_file_mb {
                cfg.target_file_bytes = mb * 1024 * 1024;
            }
            if let Some(dir) = scratch_dir {
                cfg.scratch_dir = dir;
            }
            let now = driftless::clock::now_ms();
            driftless::compact::cap_allocator_arenas();
            let report = runtime()?.block_on(async {
                match (lake.bucket, lake.dir) {
                    (Some(bucket), _) => {
                        let aws = aws_config::load_from_env().await;
                        let store = S3Store::new(&aws, bucket);
                        compact_days(&store, &cfg, &days, (optimize, vacuum), now).await
                    }
                    (None, Some(dir)) => {
                        let store = LocalStore::new(dir);
                        compact_days(&store, &cfg, &days, (optimize, vacuum), now).await
                    }
                    (None, None) => unreachable!("clap requires --bucket or --dir"),
                }
            })?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            for f in &report.failures {
                let day = f.date.as_deref().unwrap_or("-");
                eprintln!(
                    "driftless compact: {} {} {day}: {}",
                    f.step, f.table, f.error
                );
            }
            Ok(if report.failures.is_empty() {
                0
            } else {
                EXIT_FINDINGS
            })
        }
        Command::Erase {
            lake,
            user_ids,
            anonymous_ids,
            file,
            requested_by,
            scratch_dir,
        } => {
            let mut ask = match &file {
                Some(path) => {
                    let body = std::fs::read(path)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
                    serde_json::from_slice::<ErasureAsk>(&body)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
                }
                None => ErasureAsk::default(),
            };
            ask.user_ids.extend(user_ids);
            ask.anonymous_ids.extend(anonymous_ids);
            if let Some(who) = requested_by {
                ask.requested_by = who;
            }
            let ask = ask
                .validated()
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let mut cfg = CompactConfig::from_env()?;
            if let Some(dir) = scratch_dir {
                cfg.scratch_dir = dir;
            }
            let now = driftless::clock::now_ms();
            let report = runtime()?.block_on(async {
                match (lake.bucket, lake.dir) {
                    (Some(bucket), _) => {
                        let aws = aws_config::load_from_env().await;
                        let store = S3Store::new(&aws, bucket);
                        Erasure::new(&store, &cfg, now).erase_now(ask).await
                    }
                    (None, Some(dir)) => {
                        let store = LocalStore::new(dir);
                        Erasure::new(&store, &cfg, now).erase_now(ask).await
                    }
                    (None, None) => unreachable!("clap requires --bucket or --dir"),
                }
            })?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            let verified = report.erasure.as_ref().is_some_and(|e| e.verified);
            if !verified {
                eprintln!(
                    "driftless erase: not verified yet; the request stays open and the next compaction run carries on"
                );
            }
            Ok(if verified { 0 } else { EXIT_FINDINGS })
        }
        Command::Replay {
            lake,
            days,
            stream,
            dry_run,
        } => {
            let days = days.list()?;
            let registry = codegen::load(&schema_dir)?;
            let config = IngestConfig::from_env()?;
            let stream = stream.unwrap_or_else(|| config.events_stream.clone());
            let scratch = CompactConfig::from_env()?.scratch_dir.join("replay");
            let reports = runtime()?.block_on(async {
                let aws = aws_config::load_from_env().await;
                let firehose = aws_sdk_firehose::Client::new(&aws);
                let replayer = Replayer {
                    registry: &registry,
                    config: &config,
                    sink: &firehose,
                    stream: &stream,
                    dry_run,
                };
                match (lake.bucket, lake.dir) {
                    (Some(bucket), _) => {
                        let store = S3Store::new(&aws, bucket);
                        replayer.replay_days(&store, &days, &scratch).await
                    }
                    (None, Some(dir)) => {
                        replayer
                            .replay_days(&LocalStore::new(dir), &days, &scratch)
                            .await
                    }
                    (None, None) => unreachable!("clap requires --bucket or --dir"),
                }
            })?;
            println!(
                "{}",
                serde_json::json!({ "stream": stream, "dry_run": dry_run, "days": reports })
            );
            Ok(0)
        }
        Command::Columns { format } => {
            match format {
                Format::Text => print!("{}", columns::to_text()),
                Format::Json => println!("{}", columns::to_json()),
            }
            Ok(0)
        }
        Command::Send(args) => {
            let endpoint = args
                .endpoint
                .or_else(|| {
                    std::env::var("DRIFTLESS_ENDPOINT")
                        .ok()
                        .filter(|e| !e.is_empty())
                })
                .ok_or_else(|| {
                    CliError::Usage(
                        "no endpoint: pass --endpoint URL or set DRIFTLESS_ENDPOINT".into(),
                    )
                })?;
            let seconds = |flag: &str, s: f64| {
                if s.is_finite() && s > 0.0 {
                    Ok(std::time::Duration::from_secs_f64(s))
                } else {
                    Err(CliError::Usage(format!(
                        "{flag} must be more than 0 seconds, got {s}"
                    )))
                }
            };
            let key = args.key.or_else(|| {
                std::env::var("DRIFTLESS_KEY")
                    .ok()
                    .filter(|k| !k.is_empty())
            });
            let options = send::SendOptions {
                endpoint,
                key,
                batch_size: args.batch_size,
                max_batch_bytes: args.max_batch_bytes,
                concurrency: args.concurrency,
                timeout: seconds("--timeout", args.timeout)?,
                gzip: !args.no_gzip,
                retry: send::retry::RetryPolicy {
                    max_attempts: args.max_attempts,
                    cap: seconds("--max-retry-delay", args.max_retry_delay)?,
                    ..send::retry::RetryPolicy::default()
                },
                skip_invalid: args.skip_invalid,
            };
            let registry = codegen::load(&schema_dir)?;
            let summary = send::send_file(&registry, &args.file, &options)?;
            for problem in summary.problems() {
                println!("{problem}");
            }
            eprint!("{}", summary.render());
            Ok(if summary.complete() { 0 } else { EXIT_FINDINGS })
        }
        Command::Validate { file } => {
            let registry = codegen::load(&schema_dir)?;
            let report = validate::validate_file(&registry, &file)?;
            for line in &report.problems {
                println!("{line}");
            }
            eprintln!(
                "validate: {} valid, {} invalid",
                report.valid, report.invalid
            );
            Ok(if report.invalid == 0 {
                0
            } else {
                EXIT_FINDINGS
            })
        }
    }
}

/// A range of days on one store, each failure reported and the others still run: the raw
/// objects appended, then, as asked, the days optimized and the tables vacuumed.
async fn compact_days<S: driftless::lake::store::ObjectStore>(
    store: &S,
    cfg: &CompactConfig,
    days: &[Day],
    (optimize, vacuum): (bool, bool),
    now: i64,
) -> driftless::lake::Result<driftless::compact::CompactionReport> {
    let compaction = Compaction::new(store, cfg, now).with_on_error(OnError::Continue);
    let mut report = compaction
        .append_days(&RawDays::Only(days.to_vec()))
        .await?;
    if optimize {
        let o = compaction.optimize_days(days).await?;
        report.optimized = o.optimized;
        report.failures.extend(o.failures);
    }
    if vacuum {
        let v = compaction.vacuum_tables().await?;
        report.vacuumed = v.vacuumed;
        report.failures.extend(v.failures);
    }
    Ok(report)
}
