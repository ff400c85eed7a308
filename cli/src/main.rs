//! `driftless`: schema check, code generation, lint of tracking calls and offline validation.
//! Parsing arguments and mapping outcomes to exit statuses is all that happens here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use driftless_cli::{check, codegen, lint, validate, CliError, EXIT_FINDINGS, EXIT_USAGE};

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
    /// Generate the SDK's TypeScript types, the DuckDB and Athena views and docs/events.md.
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
                CliError::Usage(_) | CliError::Io { .. } => EXIT_USAGE as u8,
                CliError::Schema(_) => EXIT_FINDINGS as u8,
            })
        }
    }
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
