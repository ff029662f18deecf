//! `vigil`: the command line of the vigil early-warning engine. It parses, validates and calls
//! the library crates; all the work happens in `vigil-core`, `vigil-models`, `vigil-report`,
//! `vigil-share` and `vigil-api`.

mod failpoint;
mod inputs;
mod lock;
mod progress;
mod runner;
mod settings;
mod shards;
mod spec;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use spec::{Overrides, SpecProblems};
use std::path::PathBuf;
use std::process::ExitCode;

/// See the workspace Cargo.toml for why the binary does not use the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when the job spec (or a mapping it names) has problems.
const EXIT_CONFIG: u8 = 2;
/// Exit code when a data-quality gate failed.
const EXIT_GATE: u8 = 3;
/// Exit code for any other failure.
const EXIT_FAILURE: u8 = 1;
/// Exit code when another run of the same job holds its lock (or a crashed one left it).
const EXIT_LOCKED: u8 = 4;

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Early-warning analytics for peace operations: incident data in, panels, forecasts, charts and a manifest out.",
    long_about = None,
    after_help = "Examples:
  vigil run jobs/specs/monthly.toml                 run the monthly job on the shipped UCDP GED data
  vigil run jobs/specs/monthly.toml --as-of 2019-06 the same job as it would have run in June 2019
  vigil run jobs/specs/monthly.toml --set forecast.horizon=3   one setting changed for this run
  vigil run jobs/specs/monthly.toml --shard 2/4     one of four shards (e.g. a Slurm array task)
  vigil merge jobs/specs/monthly.toml --shards 4    finish the sharded run: byte-identical to one process
  vigil validate jobs/specs/*.toml                  check specs and their schema mappings, all problems at once
  vigil ingest jobs/specs/monthly.toml --out out/   stage 1 only: incidents, quarantine, quality report
  vigil panel jobs/specs/monthly.toml --out out/    stages 1-2: also the zero-filled region × period panel
  vigil forecast --model runs/monthly/latest/hurdle reproduce a saved model's forecast from its run
  vigil report runs/monthly/latest                  rebuild a finished run's report.html from its files
  vigil synth --events 1000000 --regions 1000 --out events.parquet   seeded synthetic events for benchmarks
  vigil token new --role hq                         make an API token (printed once; only its hash is kept)
  vigil serve --bind 127.0.0.1:8080                 the read-only HTTP API over ./runs and ./exports

Exit codes: 0 success (or nothing to do), 1 failure, 2 invalid spec or usage, 3 data-quality gate failed,
4 the job is locked by another run (or a crashed run left its lock: the message says which and what to do)."
)]
struct Cli {
    /// Only print warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log lines as text (default; with a progress bar when stderr is a terminal) or as JSON,
    /// one object per line (for log collectors; no progress bar).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// The job spec (TOML). Input and mapping paths in it are relative to the spec file.
    spec: PathBuf,
    /// Run as of this date (YYYY-MM-DD, or YYYY-MM for the month's end): the last period of the
    /// panel. Overrides `job.as_of`; recorded in the manifest.
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Change one setting of the spec for this run, as `section.key=value` with the value in
    /// TOML (`--set forecast.horizon=3`, `--set 'forecast.models=["naive","tsb"]'`,
    /// `--set inputs.0.classification=confidential`). Repeatable; checked like the file;
    /// recorded in the manifest and part of the run id.
    #[arg(long, value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// What `vigil token` does.
#[derive(Subcommand)]
enum TokenCommand {
    /// Make an API token for the HTTP service and add its hash to the token file. The token is
    /// printed once, on stdout; only its sha256 is stored, so a lost token is replaced, not
    /// recovered.
    New {
        /// analyst, hq or partner:<partner id>.
        #[arg(long)]
        role: String,
        /// For analysts: the highest classification they may read (public, unclassified,
        /// confidential, strictly_confidential).
        #[arg(long)]
        clearance: Option<String>,
        /// The token file.
        #[arg(long, value_name = "FILE", default_value = "tokens.toml")]
        file: PathBuf,
    },
    /// List the tokens of the token file: id, role and clearance (secrets are never stored).
    List {
        /// The token file.
        #[arg(long, value_name = "FILE", default_value = "tokens.toml")]
        file: PathBuf,
    },
    /// Revoke a token by its id (the part after `vgl_`, as shown by `vigil token list` and in
    /// the access log). A running `vigil serve` refuses it from the next request on.
    Revoke {
        /// The token's id.
        id: String,
        /// The token file.
        #[arg(long, value_name = "FILE", default_value = "tokens.toml")]
        file: PathBuf,
    },
}

/// What `vigil audit` does.
#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of an audit log: every entry's own hash, each entry's link to the
    /// one before, the sequence numbers, and the last entry against the head file. Exits 1 and
    /// names each break if an entry was edited, removed, inserted or reordered.
    Verify {
        /// The log (default: runs/audit.jsonl; each runs folder has one).
        #[arg(long, value_name = "FILE", default_value = "runs/audit.jsonl")]
        log: PathBuf,
    },
}

/// Options of a run (also of its shards and their merge, which must get the same ones).
#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Folder for run folders (default: `outputs.dir` of the spec, else ./runs).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Redo a run even if an identical one (same spec, inputs, as-of) already exists.
    #[arg(long)]
    force: bool,
    /// Backtest forecast origins (default: `backtest.origins` of the spec, else 12). Every
    /// model is refitted at each origin and scored on horizons 1..H.
    #[arg(long, value_name = "N")]
    origins: Option<usize>,
    /// Periods between backtest origins (default: `backtest.step`, else 1).
    #[arg(long, value_name = "PERIODS")]
    step: Option<usize>,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            as_of: self.common.as_of.clone(),
            out: self.out.clone(),
            origins: self.origins,
            step: self.step,
            sets: self.common.set.clone(),
        }
    }
}

/// Prints what a run did: the summary on stderr, the run folder on stdout.
fn report_outcome(outcome: runner::Outcome) {
    match outcome {
        runner::Outcome::Complete {
            folder,
            seconds,
            stages,
        } => {
            let parts: Vec<String> = stages
                .iter()
                .filter(|(name, _)| name != "total")
                .map(|(name, s)| format!("{} {s:.1} s", name.replace('_', " ")))
                .collect();
            if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
                tracing::info!(
                    run_folder = %folder.display(),
                    seconds,
                    stages = %parts.join(", "),
                    "run complete"
                );
            } else {
                eprintln!(
                    "run complete in {seconds:.1} s ({}): {}",
                    parts.join(", "),
                    folder.display()
                );
            }
            println!("{}", folder.display());
        }
        runner::Outcome::AlreadyDone { folder } => {
            eprintln!(
                "nothing to do: an identical run (same spec, inputs and as-of) is already complete; use --force to redo it"
            );
            println!("{}", folder.display());
        }
    }
}

/// Whether logs are JSON lines (set once in `main`): the end-of-run summary is then a log event.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job: ingest, quality, panel, backtest, forecasts, rolling change, charts. Writes
    /// OUT/<job>/<run id>/ atomically and points OUT/<job>/latest at it.
    Run {
        #[command(flatten)]
        run: RunArgs,
        /// Compute only shard I of N (0 ≤ I < N): the local models' backtests and forecasts of
        /// every Nth region (by position in the sorted region list, starting at I), written
        /// atomically to OUT/<job>/<run id>.parts/. Run all N (e.g. as a Slurm job array), then
        /// `vigil merge` with the same spec and options. A rerun shard replaces its part.
        #[arg(long, value_name = "I/N")]
        shard: Option<vigil_core::forecast::shard::Shard>,
    },
    /// Finish a sharded run: read the N shard parts, fit the pooled models (global models and
    /// ensemble) once on all regions, and write the run folder exactly as one `vigil run` would
    /// (byte-identical tables, charts and report). Give the spec and options the shards got.
    Merge {
        #[command(flatten)]
        run: RunArgs,
        /// How many shards the run was split into.
        #[arg(long, value_name = "N")]
        shards: usize,
    },
    /// Check job specs and the schema mappings they name; reports every problem, not just the first.
    Validate {
        /// One or more job specs.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
    /// Stage 1: read the inputs, apply the quality rules, write incidents.parquet,
    /// quarantine.parquet and quality.json into --out.
    Ingest {
        #[command(flatten)]
        common: Common,
        /// Folder to write into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Stages 1-2: ingest, then build the zero-filled panel; writes panel.parquet and
    /// regions.parquet (plus the ingest outputs) into --out.
    Panel {
        #[command(flatten)]
        common: Common,
        /// Folder to write into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Rebuild the report of a finished run (report.html: findings, alerts, charts, data quality,
    /// provenance) from the run's files, without recomputing anything, and say whether it matches
    /// the run's own report.html byte for byte.
    Report {
        /// The run folder (e.g. runs/monthly/latest).
        run: PathBuf,
        /// Where to write the report (default: ./<run id>-report.html). Never inside the run
        /// folder, which stays as the run left it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Build a partner's data package from a finished run, as its agreement allows: the panel
    /// coarsened to the agreed geography and time step, small counts (1..k-1) suppressed with
    /// complementary suppression so no hidden count can be worked out from the totals, a
    /// manifest and a README. Refuses an expired or not-yet-valid agreement and outputs it does
    /// not list; checks the run's integrity first; records the release in the audit log.
    Export {
        /// The partner's agreement (TOML; see README "Sharing data with partners").
        #[arg(long, value_name = "FILE")]
        agreement: PathBuf,
        /// The run folder (e.g. runs/monthly/latest).
        run: PathBuf,
        /// Folder for packages; the package is <partner>-<run id>/ inside it.
        #[arg(long, value_name = "DIR", default_value = "exports")]
        out: PathBuf,
    },
    /// Delete runs and partner packages older than a retention policy allows (TOML:
    /// runs_days, exports_days). The latest run of each job is kept, and folders without a
    /// vigil manifest are left alone. Each deletion is written to the audit log before it
    /// happens. --dry-run lists what would go.
    Retention {
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// The runs folder (its audit.jsonl records the deletions).
        #[arg(long, value_name = "DIR", default_value = "runs")]
        runs: PathBuf,
        /// The partner packages folder.
        #[arg(long, value_name = "DIR", default_value = "exports")]
        exports: PathBuf,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check a finished run: recompute the sha256 of every file its manifest lists and report
    /// changed, missing and unlisted files. Exits 1 unless the run is exactly as written.
    Verify {
        /// The run folder (e.g. runs/monthly/latest).
        run: PathBuf,
    },
    /// Serve the read-only HTTP API over the runs and partner packages, for headquarters,
    /// analysts and partners. Every /v1 request needs `Authorization: Bearer <token>` (make
    /// tokens with `vigil token new`); each role reads only what its clearance or agreement
    /// allows. Prints the address it listens on (stdout) and logs one line per request (token
    /// id, never the token). Plain HTTP: off loopback, put it behind a TLS reverse proxy (see
    /// README). Stops gracefully on Ctrl-C or SIGTERM.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
        bind: String,
        /// The runs folder (the --out of your jobs).
        #[arg(long, value_name = "DIR", default_value = "runs")]
        runs: PathBuf,
        /// The partner packages folder (the --out of vigil export).
        #[arg(long, value_name = "DIR", default_value = "exports")]
        exports: PathBuf,
        /// Folder of the partners' agreement files: a partner reads its packages only while one
        /// of them is in force.
        #[arg(long, value_name = "DIR", default_value = "agreements")]
        agreements: PathBuf,
        /// The token file (re-read when it changes: new and revoked tokens apply at once).
        #[arg(long, value_name = "FILE", default_value = "tokens.toml")]
        tokens: PathBuf,
        /// Requests per second per token (average).
        #[arg(long, value_name = "N", default_value_t = 50)]
        rate: u32,
        /// Requests a token may make in a burst before the rate applies.
        #[arg(long, value_name = "N", default_value_t = 100)]
        burst: u32,
        /// Seconds a request may take before it is answered 503.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        timeout: u64,
        /// Largest page of table rows (`limit`).
        #[arg(long, value_name = "ROWS", default_value_t = 10_000)]
        max_page: usize,
        /// Failed authentications allowed per client address and second (bursts of four
        /// times as many); beyond that the address gets 429.
        #[arg(long, value_name = "N", default_value_t = 5)]
        failed_auth_rate: u32,
    },
    /// Generate seeded synthetic incident events for benchmarks and scale tests: REGIONS admin-1
    /// units (50 to a country) over MONTHS months from January 2001, with log-normal levels,
    /// trends, yearly seasons, bursts and negative-binomial counts, a share of them intermittent,
    /// scaled to about EVENTS events. Parquet in vigil's canonical schema (read it with
    /// data/schemas/canonical.toml) or GED's (data/schemas/ucdp_ged.toml); --series also writes
    /// every region's monthly event counts (unique_id, ds, y). The same seed gives the same bytes.
    Synth {
        /// Expected number of events.
        #[arg(long, value_name = "N", default_value_t = 1_000_000)]
        events: u64,
        /// Admin-1 regions.
        #[arg(long, value_name = "N", default_value_t = 1_000)]
        regions: usize,
        /// Months, from January 2001.
        #[arg(long, value_name = "N", default_value_t = 240)]
        months: usize,
        /// Share of regions whose series are mostly zero.
        #[arg(long, value_name = "SHARE", default_value_t = 0.4)]
        intermittent: f64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Column names and types: canonical or ged.
        #[arg(long, default_value = "canonical")]
        schema: vigil_benches::synth::SynthSchema,
        /// The events file to write (parquet).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Also write each region's monthly event counts here (parquet: unique_id, ds, y).
        #[arg(long, value_name = "FILE")]
        series: Option<PathBuf>,
    },
    /// API tokens for the HTTP service (roles: analyst, hq, partner:<id>).
    Token {
        #[command(subcommand)]
        what: TokenCommand,
    },
    /// The audit log of releases (runs, partner exports, deletions).
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
    /// Reproduce a past forecast from a saved model: reads RUN/models/MODEL/model.json and the
    /// run's panel.parquet (both checked against the model card's sha256), forecasts again and
    /// writes the table; then compares it byte for byte with the run's own forecast.parquet.
    /// Exits 1 if they differ.
    Forecast {
        /// RUN/MODEL: a run folder and a model saved in it (e.g. runs/monthly/latest/hurdle;
        /// RUN/models/MODEL works too). Saved models: global_nb, hurdle.
        #[arg(long, value_name = "RUN/MODEL")]
        model: PathBuf,
        /// Where to write the forecast (default: ./<MODEL>-forecast.parquet). Never inside the
        /// run folder, which stays as the run left it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cli.log_format {
        LogFormat::Text => {
            if terminal && !cli.quiet {
                progress::enable();
            }
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(|| progress::LogWriter)
                .with_ansi(terminal)
                .with_target(false)
                .init();
        }
        LogFormat::Json => {
            JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_target(false)
                .init();
        }
    }
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            let (code, message) = if let Some(p) = e.downcast_ref::<SpecProblems>() {
                (EXIT_CONFIG, p.to_string())
            } else if let Some(g) = e.downcast_ref::<runner::GateFailed>() {
                (EXIT_GATE, g.to_string())
            } else if let Some(l) = e.downcast_ref::<lock::LockError>()
                && !matches!(l, lock::LockError::Io { .. })
            {
                (EXIT_LOCKED, l.to_string())
            } else {
                (EXIT_FAILURE, format!("{e:#}"))
            };
            if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
                tracing::error!(exit_code = code, "{message}");
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::from(code)
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run { run, shard } => {
            let overrides = run.overrides();
            let spec = spec::load(&run.common.spec, &overrides)?;
            match shard {
                None => report_outcome(runner::run(&spec, &overrides, run.force, runner::Local::Here)?),
                Some(shard) => match shards::run_shard(&spec, &overrides, shard, run.force)? {
                    shards::ShardOutcome::Written {
                        part,
                        regions,
                        seconds,
                    } => {
                        eprintln!("shard {shard} complete in {seconds:.1} s: {regions} regions");
                        println!("{}", part.display());
                    }
                    shards::ShardOutcome::AlreadyDone { part } => {
                        eprintln!(
                            "nothing to do: shard {shard} of this run is already written; use --force to redo it"
                        );
                        println!("{}", part.display());
                    }
                },
            }
        }
        Command::Merge { run, shards } => {
            if shards == 0 {
                anyhow::bail!("--shards must be at least 1");
            }
            let overrides = run.overrides();
            let spec = spec::load(&run.common.spec, &overrides)?;
            report_outcome(runner::run(
                &spec,
                &overrides,
                run.force,
                runner::Local::Merge(shards),
            )?);
        }
        Command::Validate { specs } => {
            let mut bad = 0;
            for path in &specs {
                match spec::load(path, &Overrides::default()) {
                    Ok(s) => println!(
                        "ok: {} (job '{}': {}; {} input(s))",
                        path.display(),
                        s.name,
                        s.description,
                        s.inputs.len()
                    ),
                    Err(p) => {
                        bad += 1;
                        eprintln!("{p}");
                    }
                }
            }
            if bad > 0 {
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
        }
        Command::Ingest { common, out } => {
            stage(common, out, false)?;
        }
        Command::Panel { common, out } => {
            stage(common, out, true)?;
        }
        Command::Forecast { model, out } => return forecast(&model, out),
        Command::Verify { run } => return verify(&run),
        Command::Retention {
            policy,
            runs,
            exports,
            dry_run,
        } => {
            use vigil_share::retention::{Policy, delete, expired};
            let p = Policy::load(&policy)?;
            let gone = expired(&p, &runs, &exports, chrono::Utc::now());
            for e in &gone {
                eprintln!(
                    "{} {} {} (created {}, {} days old)",
                    if dry_run { "would delete" } else { "deleting" },
                    e.kind,
                    e.path.display(),
                    e.created_at,
                    e.age_days
                );
            }
            if !dry_run {
                delete(&gone, &policy, &runs.join(vigil_share::audit::LOG))?;
            }
            eprintln!(
                "{} folder(s) {} under the policy (runs {} days, exports {} days)",
                gone.len(),
                if dry_run { "would be deleted" } else { "deleted" },
                p.runs_days,
                p.exports_days
            );
        }
        Command::Export { agreement, run, out } => return export(&agreement, &run, &out),
        Command::Token {
            what:
                TokenCommand::New {
                    role,
                    clearance,
                    file,
                },
        } => {
            use vigil_share::access::{Role, TokenFile};
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let clearance = clearance
                .map(|c| c.parse::<vigil_core::Classification>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let mut tokens = TokenFile::load(&file)?;
            let token = tokens.issue(&role, clearance)?;
            tokens.save(&file)?;
            eprintln!(
                "new {role} token added to {} (only its hash is stored; this is the only time it is shown)",
                file.display()
            );
            println!("{token}");
        }
        Command::Token {
            what: TokenCommand::List { file },
        } => {
            let tokens = vigil_share::access::TokenFile::load(&file)?;
            for t in &tokens.token {
                let clearance = t
                    .clearance
                    .map(|c| format!(" (clearance {c})"))
                    .unwrap_or_default();
                println!("{}  {}{clearance}", t.id, t.role);
            }
            eprintln!("{} token(s) in {}", tokens.token.len(), file.display());
        }
        Command::Token {
            what: TokenCommand::Revoke { id, file },
        } => {
            let mut tokens = vigil_share::access::TokenFile::load(&file)?;
            let before = tokens.token.len();
            tokens.token.retain(|t| t.id != id);
            if tokens.token.len() == before {
                anyhow::bail!(
                    "no token with id {id} in {} (see `vigil token list --file {}`)",
                    file.display(),
                    file.display()
                );
            }
            tokens.save(&file)?;
            eprintln!("token {id} revoked in {}", file.display());
        }
        Command::Synth {
            events,
            regions,
            months,
            intermittent,
            seed,
            schema,
            out,
            series,
        } => {
            let spec = vigil_benches::synth::SynthSpec {
                events,
                regions,
                months,
                intermittent,
                seed,
                schema,
            };
            synth(&spec, &out, series.as_deref())?;
        }
        Command::Serve {
            bind,
            runs,
            exports,
            agreements,
            tokens,
            rate,
            burst,
            timeout,
            max_page,
            failed_auth_rate,
        } => {
            let config = vigil_api::ApiConfig {
                runs,
                exports,
                agreements,
                tokens,
                rate_per_second: rate,
                burst,
                timeout: std::time::Duration::from_secs(timeout),
                max_page,
                failures_per_second: failed_auth_rate,
                ..vigil_api::ApiConfig::default()
            };
            serve(&bind, config)?;
        }
        Command::Audit {
            what: AuditCommand::Verify { log },
        } => return audit_verify(&log),
        Command::Report { run, out } => return report(&run, out),
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the folder of `out` and refuses an `out` inside the run folder `run`, which stays as
/// the run left it.
fn out_of_run(run: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let run_dir = std::fs::canonicalize(run).with_context(|| format!("resolving {}", run.display()))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        if std::fs::canonicalize(parent).is_ok_and(|p| p.starts_with(&run_dir)) {
            anyhow::bail!(
                "--out {} is inside the run folder; write it elsewhere",
                out.display()
            );
        }
    }
    Ok(())
}

/// `vigil synth`: writes to temporary names and renames when complete, so an interrupted run
/// leaves no file that looks finished.
fn synth(
    spec: &vigil_benches::synth::SynthSpec,
    out: &std::path::Path,
    series: Option<&std::path::Path>,
) -> Result<()> {
    let tmp = |p: &std::path::Path| {
        let mut name = p.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        p.with_file_name(name)
    };
    for p in std::iter::once(out).chain(series) {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let started = std::time::Instant::now();
    let series_tmp = series.map(tmp);
    let summary = vigil_benches::synth::generate(spec, &tmp(out), series_tmp.as_deref())?;
    std::fs::rename(tmp(out), out).with_context(|| format!("renaming into {}", out.display()))?;
    if let (Some(from), Some(to)) = (series_tmp, series) {
        std::fs::rename(&from, to).with_context(|| format!("renaming into {}", to.display()))?;
    }
    eprintln!(
        "{} events in {} regions ({} countries) × {} months ({:.1}% of region-months without events), {} schema, seed {}, in {:.1} s",
        summary.events,
        summary.regions,
        summary.countries,
        summary.months,
        100.0 * summary.zero_months as f64 / (summary.regions * summary.months) as f64,
        spec.schema,
        spec.seed,
        started.elapsed().as_secs_f64()
    );
    println!("{}", out.display());
    Ok(())
}

/// `vigil serve`: the HTTP API until Ctrl-C or SIGTERM.
fn serve(bind: &str, config: vigil_api::ApiConfig) -> Result<()> {
    use std::io::Write as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                "serving plain HTTP on {addr}: put it behind a TLS reverse proxy (README, \"HTTP API\")"
            );
        }
        tracing::info!(
            "vigil API on http://{addr}: runs {}, exports {}, agreements {}, tokens {}",
            config.runs.display(),
            config.exports.display(),
            config.agreements.display(),
            config.tokens.display()
        );
        println!("http://{addr}");
        std::io::stdout().flush().ok();
        vigil_api::serve(listener, config, shutdown_signal()).await?;
        tracing::info!("stopped: requests under way were finished");
        Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests under way");
}

/// `vigil export --agreement FILE RUN`.
fn export(
    agreement_path: &std::path::Path,
    run: &std::path::Path,
    out: &std::path::Path,
) -> Result<ExitCode> {
    let agreement = vigil_share::export::Agreement::load(agreement_path)?;
    let run = std::fs::canonicalize(run).with_context(|| format!("no run folder {}", run.display()))?;
    // The runs folder (OUT of OUT/<job>/<run id>) holds the audit log.
    let runs_root = run
        .parent()
        .and_then(|p| p.parent())
        .context("the run folder must be OUT/<job>/<run id>")?;
    let log = runs_root.join(vigil_share::audit::LOG);
    let today = chrono::Utc::now().date_naive();
    let summary = vigil_share::export::export(&run, &agreement, agreement_path, out, today, &log)?;
    for (measure, published, primary, complementary) in &summary.tables {
        eprintln!(
            "{measure}: {published} values published, {primary} suppressed as small (1..{}), {complementary} to protect them",
            agreement.k - 1
        );
    }
    eprintln!("export for {} recorded in {}", agreement.partner, log.display());
    println!("{}", summary.folder.display());
    Ok(ExitCode::SUCCESS)
}

/// `vigil verify RUN`.
fn verify(run: &std::path::Path) -> Result<ExitCode> {
    let v = vigil_core::output::integrity::verify_run(run)?;
    for (file, want, got) in &v.changed {
        eprintln!("changed: {file} (manifest sha256 {want}, now {got})");
    }
    for file in &v.missing {
        eprintln!("missing: {file}");
    }
    for file in &v.unlisted {
        eprintln!("unlisted: {file} (not in the manifest)");
    }
    if v.intact() {
        eprintln!(
            "{}: intact ({} files match the manifest)",
            run.display(),
            v.checked
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{}: NOT intact: {} changed, {} missing, {} unlisted of {} listed files",
            run.display(),
            v.changed.len(),
            v.missing.len(),
            v.unlisted.len(),
            v.checked + v.missing.len()
        );
        Ok(ExitCode::from(EXIT_FAILURE))
    }
}

/// `vigil audit verify`.
fn audit_verify(log: &std::path::Path) -> Result<ExitCode> {
    if !log.is_file() {
        anyhow::bail!("{} does not exist: pass the log with --log", log.display());
    }
    let check = vigil_share::audit::verify(log)?;
    for p in &check.problems {
        eprintln!("broken: {p}");
    }
    let head = check.head.as_ref().map_or_else(
        || "empty".to_string(),
        |h| format!("head entry {} {}", h.seq, h.hash),
    );
    if check.problems.is_empty() {
        eprintln!(
            "{}: {} entries, chain intact, {head}",
            log.display(),
            check.entries
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{}: NOT intact: {} problem(s) in {} entries",
            log.display(),
            check.problems.len(),
            check.entries
        );
        Ok(ExitCode::from(EXIT_FAILURE))
    }
}

/// `vigil report RUN`.
fn report(run: &std::path::Path, out: Option<PathBuf>) -> Result<ExitCode> {
    let text = std::fs::read_to_string(run.join("manifest.json")).with_context(|| {
        format!(
            "{} is not a finished run (no manifest.json); pass a run folder such as runs/monthly/latest",
            run.display()
        )
    })?;
    let m: serde_json::Value = serde_json::from_str(&text).context("reading manifest.json")?;
    let field = |k: &str| m[k].as_str().unwrap_or("").to_string();
    let classification: vigil_core::Classification =
        serde_json::from_value(m["classification"].clone()).context("manifest.json: classification")?;
    let meta = vigil_report::report::ReportMeta {
        job: field("job"),
        run_id: field("run_id"),
        as_of: field("as_of"),
        classification,
    };
    let provenance = vigil_report::report::provenance_from_manifest(run)?;
    let html = vigil_report::report::render(run, &meta, &provenance)?;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{}-report.html", meta.run_id)));
    out_of_run(run, &out)?;
    std::fs::write(&out, &html).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", out.display());
    let own = run.join(vigil_report::report::REPORT);
    match std::fs::read_to_string(&own) {
        Ok(saved) if saved == html => eprintln!("identical to {}", own.display()),
        Ok(_) => eprintln!(
            "note: differs from {} (made by another vigil version?)",
            own.display()
        ),
        Err(_) => eprintln!("note: the run has no report.html of its own"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `vigil forecast --model RUN/MODEL`.
fn forecast(model: &std::path::Path, out: Option<PathBuf>) -> Result<ExitCode> {
    let name = model
        .file_name()
        .and_then(|n| n.to_str())
        .context("--model must end in a model name, e.g. runs/monthly/latest/hurdle")?
        .to_string();
    let mut run = model.parent().map(PathBuf::from).unwrap_or_default();
    if run.file_name().is_some_and(|n| n == "models") {
        run.pop();
    }
    if !run.join("manifest.json").is_file() {
        anyhow::bail!(
            "{} is not a run folder (no manifest.json); --model takes RUN/MODEL, e.g. runs/monthly/latest/hurdle",
            run.display()
        );
    }
    let (mut df, card) = vigil_core::forecast::registry::reproduce(&run, &name)?;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{name}-forecast.parquet")));
    out_of_run(&run, &out)?;
    vigil_core::output::write_parquet(&out, &mut df, card.classification, &card.run_id)?;
    let got = vigil_core::output::sha256_file(&out)?;
    let saved = vigil_core::forecast::registry::model_dir(&run, &name).join("forecast.parquet");
    eprintln!(
        "{name} of run {}: {} regions × {} horizons forecast from the saved model",
        card.run_id,
        card.training.regions,
        card.training.rows.len()
    );
    println!("{}", out.display());
    if got == card.forecast_sha256 {
        eprintln!("identical to {} (sha256 {got})", saved.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: the forecast differs from {} (sha256 {got}, the run wrote {})",
            saved.display(),
            card.forecast_sha256
        );
        Ok(ExitCode::from(EXIT_FAILURE))
    }
}

fn stage(common: Common, out: PathBuf, with_panel: bool) -> Result<()> {
    let overrides = Overrides {
        as_of: common.as_of,
        out: None,
        origins: None,
        step: None,
        sets: common.set,
    };
    let spec = spec::load(&common.spec, &overrides)?;
    inputs::write_stage_folder(&spec, &out, with_panel)?;
    println!("{}", out.display());
    Ok(())
}
