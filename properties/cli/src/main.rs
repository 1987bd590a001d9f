//! `dx-conformance`: runs the dx-www conformance checks (property suites and Gherkin
//! scenarios) against a deployment, or the embedded reference, and prints the report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use dx_conformance::accounts::{ACCOUNTS_ENV, Account};
use dx_conformance::check::tags_of;
use dx_conformance::client::{Chromium, ClientRuntime};
use dx_conformance::expected::ExpectedFailures;
use dx_conformance::gate::Requirement;
use dx_conformance::probes::UserRoute;
use dx_conformance::replay::{ReplayFile, Replayed, replay_command};
use dx_conformance::report::{Format, render, render_terminal_with};
use dx_conformance::{CaseConfig, Reached, Report, RunOptions, Selection, Target, TargetSpec};

mod listing;
mod progress;
mod term;

use progress::Display;
use term::ColorWhen;

mod completions;
mod version;

/// Conformance suite for dx-www deployments.
#[derive(Debug, Parser)]
#[command(name = "dx-conformance", version = version::line(), about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour: `auto` on a terminal unless NO_COLOR is set, `always`, or `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the checks against a target and print the report.
    #[command(after_help = format!("{EXIT_CODES}\n\n{RUN_EXAMPLES}"))]
    Run(Box<RunArgs>),
    /// List the checks, their requirement ids, what they need and their tags.
    List(ListArgs),
    /// Run the one failing case a replay file recorded, and say whether it fails the same way.
    Replay(ReplayArgs),
    /// Print the shell completion script for SHELL (e.g. `dx-conformance completions bash >
    /// ~/.local/share/bash-completion/completions/dx-conformance`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// `table` (fits the terminal, 100 columns in a pipe) or `json` (every field, whole).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The replay file a failed run wrote (`dx-replays/pNN.json`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The deployment to replay against (default: the recorded target; the embedded
    /// reference when the failure was found there).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// The most the check may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    /// Folder of .feature files, for a scenario's replay (default: the suite's own).
    #[arg(long, value_name = "DIR")]
    features: Option<PathBuf>,
    /// The engine to run the client in (default: the one the failure was found in).
    #[arg(long, value_enum, value_name = "RUNTIME")]
    client_runtime: Option<ClientRuntimeArg>,
    /// The Chromium binary, when the client runs in Chromium [default: DX_CHROMIUM, else
    /// chromium on PATH].
    #[arg(long, value_name = "PATH")]
    chromium: Option<PathBuf>,
    /// Trust this CA certificate (PEM; one or a bundle) for an https:// target, beside the
    /// system's roots: a private CA or a test deployment's own. Repeatable.
    #[arg(long, value_name = "PEM")]
    ca_cert: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Base URL of the deployment (default: $DX_TARGET, else the embedded reference). Give
    /// it again for each further instance of the same deployment: the cross-instance checks
    /// spread their connections over every instance given.
    #[arg(long, value_name = "URL")]
    target: Vec<String>,
    /// Run only checks with any of these tags (comma-separated; e.g. @p06,@error).
    #[arg(long, value_delimiter = ',', value_name = "TAGS")]
    tags: Vec<String>,
    /// Run only the checks matching any of these ids, tags or areas (comma-separated; e.g.
    /// p06,errors:12,sync).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    only: Vec<String>,
    /// Leave out the checks matching any of these ids, tags or areas (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    skip: Vec<String>,
    /// Report format (default: terminal; with several --out, each file's extension names its
    /// format instead).
    #[arg(long, value_parser = ["terminal", "json", "junit", "markdown", "html"])]
    format: Option<String>,
    /// Write the report to FILE instead of standard output. Give it several times to write
    /// several formats from one run: .json, .xml (JUnit), .md (Markdown), .html, .txt
    /// (terminal). The file is written whatever happens, an unreachable target included.
    #[arg(long, value_name = "FILE")]
    out: Vec<PathBuf>,
    /// The most one check may take, in seconds, not counting its waits for the target's
    /// rate limits; past it the check fails.
    #[arg(long, value_name = "SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    /// The most one check waits, in all, for the target's rate-limit budgets (the suite
    /// paces itself within them and waits out every Retry-After); past it the check is not
    /// verified: rate limited. 0 never waits.
    #[arg(long, value_name = "SECONDS", default_value_t = dx_conformance::budget::DEFAULT_MAX_WAIT.as_secs(), value_parser = clap::value_parser!(u64).range(0..=86_400))]
    max_wait: u64,
    /// A TOML file of checks known to fail, each with a reason and an expiry date: they are
    /// reported but do not fail the run until they expire.
    #[arg(long, value_name = "FILE")]
    expected_failures: Option<PathBuf>,
    /// Where each failure is saved as a replay file (`dx-conformance replay FILE`).
    #[arg(long, value_name = "DIR", default_value = "dx-replays")]
    replay_dir: PathBuf,
    /// Generated cases per property (at least 1).
    #[arg(long, default_value_t = dx_conformance::cases::DEFAULT_CASES, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    cases: u32,
    /// Seed for the generated cases: a number (the same seed replays the same inputs), or
    /// `random` to draw one (printed, so the run can be repeated).
    #[arg(long, value_name = "N|random", value_parser = parse_seed)]
    seed: Option<Seed>,
    /// Fail the run (exit 1) unless these were verified, not merely not failed: `all` (every
    /// selected check), a number (at least that many of the 26 properties, whole or in part)
    /// or check ids (comma-separated). Without it, a run that verified nothing exits 0.
    #[arg(long, value_delimiter = ',', value_name = "all|N|IDS")]
    require: Vec<String>,
    /// Folder of .feature files (default: the suite's own features/).
    #[arg(long, value_name = "DIR")]
    features: Option<PathBuf>,
    /// Skip the Gherkin scenarios.
    #[arg(long)]
    no_features: bool,
    /// How many lanes of checks run at once (default: the number of cores, at least 4 against
    /// the embedded reference and 12 against --target). Most checks run in a lane of their
    /// own, longest first; checks that lean on one resource of the target share one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    jobs: Option<u32>,
    /// A test account on the deployment, EMAIL:PASSWORD (repeatable; two let the sync checks
    /// pair users): the checks that need a logged-in user log in with it where the target
    /// has no open registration (production). Prefer --accounts-file or DX_ACCOUNTS (one
    /// EMAIL:PASSWORD per line) to keep passwords out of shell history; reports never show
    /// them. Create them with `dx-reference add-account`.
    #[arg(long, value_name = "EMAIL:PASSWORD")]
    account: Vec<String>,
    /// A file of test accounts, one EMAIL:PASSWORD per line (# comments).
    #[arg(long, value_name = "FILE")]
    accounts_file: Option<PathBuf>,
    /// A route of the deployment to probe too (repeatable): Properties 8, 12 and 26 send it
    /// malformed, mistyped and hostile requests, e.g. --probe 'POST /api/login'. Spec'd
    /// routes are probed anyway; name the others, above all on a target without a discovery
    /// document.
    #[arg(long, value_name = "'METHOD /PATH'")]
    probe: Vec<String>,
    /// An OpenAPI 3 document (JSON) whose every operation is probed as --probe would.
    #[arg(long, value_name = "FILE")]
    openapi: Option<PathBuf>,
    /// A client .wasm to check instead of the one the target publishes (Properties 9-11).
    #[arg(long, value_name = "FILE")]
    client: Option<PathBuf>,
    /// The engine the client checks (Properties 9-11, the client and SSR scenarios) run the
    /// target's client in: wasmi, in this process; or chromium, Chromium's own WebAssembly
    /// engine (headless), through the same host imports and memory cap.
    #[arg(long, value_enum, default_value_t = ClientRuntimeArg::Wasmi, value_name = "RUNTIME")]
    client_runtime: ClientRuntimeArg,
    /// The Chromium binary for --client-runtime chromium [default: DX_CHROMIUM, else
    /// chromium, chromium-browser or google-chrome on PATH].
    #[arg(long, value_name = "PATH")]
    chromium: Option<PathBuf>,
    /// Also run the SHOULD-level checks (`sNN`, spec/conformance.md): a failure of one then
    /// fails the run.
    #[arg(long)]
    strict: bool,
    /// Trust this CA certificate (PEM; one or a bundle) for an https:// target, beside the
    /// system's roots: a private CA or a test deployment's own. Repeatable.
    #[arg(long, value_name = "PEM")]
    ca_cert: Vec<PathBuf>,
}

/// `--client-runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ClientRuntimeArg {
    /// wasmi, in the suite's process.
    Wasmi,
    /// Chromium's own WebAssembly engine, headless.
    Chromium,
}

/// The runtime `wanted`, Chromium started when it is that one; exit 2 when it cannot start.
fn client_runtime(
    wanted: ClientRuntimeArg,
    chromium: Option<&std::path::Path>,
) -> Result<ClientRuntime, ExitCode> {
    match wanted {
        ClientRuntimeArg::Wasmi => Ok(ClientRuntime::Wasmi),
        ClientRuntimeArg::Chromium => Chromium::launch(chromium)
            .map(ClientRuntime::Chromium)
            .map_err(|e| {
                eprintln!("dx-conformance: --client-runtime chromium: {e}");
                ExitCode::from(2)
            }),
    }
}

/// `--seed`: a number, or one drawn for this run.
#[derive(Debug, Clone, Copy)]
enum Seed {
    Given(u64),
    Random,
}

fn parse_seed(text: &str) -> Result<Seed, String> {
    if text.eq_ignore_ascii_case("random") {
        return Ok(Seed::Random);
    }
    text.parse()
        .map(Seed::Given)
        .map_err(|_| format!("`{text}` is neither a number nor `random`"))
}

const EXIT_CODES: &str = "Exit codes:
  0  every selected check passed, failed as expected, or was not verified (see --require)
  1  a check failed, an expected-failures entry expired or passes, or --require was not met
  2  usage error (an unknown option, check id, tag or area; an invalid file) or the target
     cannot be reached";

const RUN_EXAMPLES: &str = "Examples:
  dx-conformance run                                   the embedded reference
  dx-conformance run --target https://staging.example.com --out report.html --out report.xml
  dx-conformance run --target URL --require all        fail unless every check was verified
  dx-conformance run --target URL --only p12,p26 --seed random
  dx-conformance run --target URL --max-wait 600       ride out a production rate limit";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List(args) => list(&args, cli.color),
        Command::Run(args) => match runtime() {
            Ok(rt) => rt.block_on(run(*args, cli.color)),
            Err(code) => code,
        },
        Command::Replay(args) => match runtime() {
            Ok(rt) => rt.block_on(replay(args)),
            Err(code) => code,
        },
        Command::Completions { shell } => write_stdout(&completions::script(
            shell,
            &mut <Cli as clap::CommandFactory>::command(),
        )),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("dx-conformance: cannot start the async runtime: {e}");
            ExitCode::from(2)
        })
}

fn list(args: &ListArgs, color: ColorWhen) -> ExitCode {
    let (entries, problem) = match listing::catalogue() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dx-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(problem) = problem {
        eprintln!("dx-conformance: {problem}");
    }
    let text = if args.format == "json" {
        listing::json(&entries)
    } else {
        listing::table(&entries, term::style_for(term::Stream::Stdout, color).width)
    };
    write_stdout(&text)
}

/// Writes `text` to standard output. A reader that stops early (`| head`) closes the pipe:
/// that ends the listing quietly, as for any Unix tool, instead of a panic.
fn write_stdout(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dx-conformance: cannot write to standard output: {e}");
            ExitCode::from(2)
        }
    }
}

/// Trusts the `--ca-cert` files; a file that cannot be used is a usage error (exit 2).
fn trust(files: &[PathBuf]) -> Result<(), ExitCode> {
    for path in files {
        if let Err(e) = dx_conformance::tls::trust_ca_file(path) {
            eprintln!("dx-conformance: --ca-cert: {e}");
            return Err(ExitCode::from(2));
        }
    }
    Ok(())
}

async fn run(args: RunArgs, color: ColorWhen) -> ExitCode {
    if let Err(code) = trust(&args.ca_cert) {
        return code;
    }
    let outputs = match outputs(args.format.as_deref(), &args.out) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("dx-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let expected = match &args.expected_failures {
        Some(path) => match ExpectedFailures::load(path) {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("dx-conformance: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let client = match &args.client {
        Some(path) => match std::fs::read(path) {
            Ok(wasm) => Some((path.display().to_string(), wasm)),
            Err(e) => {
                eprintln!("dx-conformance: --client {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    if let Err(message) = known_terms(&args) {
        eprintln!("dx-conformance: {message}");
        return ExitCode::from(2);
    }
    let runtime = match client_runtime(args.client_runtime, args.chromium.as_deref()) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let probes = match user_routes(&args) {
        Ok(routes) => routes,
        Err(message) => {
            eprintln!("dx-conformance: {message}");
            return ExitCode::from(2);
        }
    };
    let accounts = match test_accounts(&args) {
        Ok(accounts) => accounts,
        Err(message) => {
            eprintln!("dx-conformance: {message}");
            return ExitCode::from(2);
        }
    };
    let requirements = match Requirement::parse(&args.require, known_id) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("dx-conformance: {message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let seed = match args.seed {
        Some(Seed::Given(seed)) => seed,
        Some(Seed::Random) => {
            let seed = rand::random::<u64>();
            eprintln!("dx-conformance: seed {seed} (drawn; repeat this run with --seed {seed})");
            seed
        }
        None => CaseConfig::default().seed,
    };
    let options = RunOptions {
        cases: CaseConfig {
            cases: args.cases,
            seed,
        },
        selection: Selection {
            tags: args.tags.clone(),
            only: args.only.clone(),
            skip: args.skip.clone(),
        },
        jobs: args.jobs.map_or_else(
            || {
                dx_conformance::runner::default_jobs_for(&TargetSpec::resolve(
                    args.target.first().map(String::as_str),
                ))
            },
            |n| n as usize,
        ),
        timeout: Duration::from_secs(args.timeout),
        focus: None,
        strict: args.strict,
        max_wait: Duration::from_secs(args.max_wait),
    };
    let features_dir = args
        .features
        .clone()
        .unwrap_or_else(dx_features::default_features_dir);
    let display = Display::new(color);
    let checked = check(
        &args,
        &options,
        &features_dir,
        Given {
            client,
            runtime,
            probes,
            accounts,
        },
        &display,
        started,
    )
    .await;
    display.finish();
    match checked {
        Ok((mut report, embedded)) => {
            if let Some(expected) = &expected {
                report.notices = expected.apply_today(&mut report.results);
            }
            report
                .notices
                .extend(requirements.iter().filter_map(|r| r.judge(&report.results)));
            let code = if report.exit_code() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
            finish(report, &outputs, embedded, &args, color, code)
        }
        Err(Stop::Usage(message)) => {
            eprintln!("dx-conformance: {message}");
            ExitCode::from(2)
        }
        Err(Stop::Unreachable(report)) => {
            eprintln!(
                "dx-conformance: {}",
                report.problem.as_deref().unwrap_or("unreachable")
            );
            finish(*report, &outputs, false, &args, color, ExitCode::from(2))
        }
    }
}

/// Every check this suite has, with its tags: properties, SHOULD-level checks, scenarios of
/// the suite's own features and the rules every response obeys.
fn catalogue(features: Option<&std::path::Path>) -> Vec<(String, Vec<String>)> {
    let mut all: Vec<(String, Vec<String>)> = Vec::new();
    if let Ok(specs) = dx_conformance::spec::properties() {
        all.extend(
            specs
                .iter()
                .map(|p| (format!("p{:02}", p.number), tags_of(p))),
        );
    }
    all.extend(
        dx_conformance::checks::recommended::all()
            .iter()
            .map(|r| (r.id.to_owned(), r.tags())),
    );
    let dir = features.map_or_else(
        dx_features::default_features_dir,
        std::path::Path::to_path_buf,
    );
    if let Ok(scenarios) = dx_features::list_scenarios(&dir, &Selection::default()) {
        all.extend(scenarios.into_iter().map(|s| (s.id, s.tags)));
    }
    all.extend(
        dx_conformance::rules::Rule::ALL
            .iter()
            .map(|r| (r.id().to_owned(), r.tags())),
    );
    all
}

/// The accounts of `--account`, `--accounts-file` and `DX_ACCOUNTS`.
fn test_accounts(args: &RunArgs) -> Result<Vec<Account>, String> {
    let mut accounts = args
        .account
        .iter()
        .map(|a| Account::parse(a, "--account"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if let Some(path) = &args.accounts_file {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--accounts-file {shown}: cannot read it: {e}"))?;
        accounts.extend(Account::parse_lines(&text, &shown).map_err(|e| e.to_string())?);
    }
    if let Ok(text) = std::env::var(ACCOUNTS_ENV) {
        accounts.extend(Account::parse_lines(&text, ACCOUNTS_ENV).map_err(|e| e.to_string())?);
    }
    Ok(accounts)
}

/// The routes of `--probe` and `--openapi`.
fn user_routes(args: &RunArgs) -> Result<Vec<UserRoute>, String> {
    let mut routes = args
        .probe
        .iter()
        .map(|p| UserRoute::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if let Some(path) = &args.openapi {
        let shown = path.display().to_string();
        let document =
            std::fs::read(path).map_err(|e| format!("--openapi {shown}: cannot read it: {e}"))?;
        routes.extend(UserRoute::from_openapi(&document, &shown).map_err(|e| e.to_string())?);
    }
    Ok(routes)
}

/// Whether `id` names a check of the suite's catalogue.
fn known_id(id: &str) -> bool {
    catalogue(None)
        .iter()
        .any(|(known, _)| known.eq_ignore_ascii_case(id))
}

/// Every `--tags`, `--only` and `--skip` term must select something: an unknown one is a
/// typo, and a run that silently checks nothing for it would exit 0.
fn known_terms(args: &RunArgs) -> Result<(), String> {
    let all = catalogue(args.features.as_deref());
    let known = |term: &str| {
        let term = term.trim().trim_start_matches('@');
        all.iter().any(|(id, tags)| {
            id.eq_ignore_ascii_case(term) || tags.iter().any(|t| t.eq_ignore_ascii_case(term))
        })
    };
    let unknown: Vec<String> = [
        ("--tags", &args.tags),
        ("--only", &args.only),
        ("--skip", &args.skip),
    ]
    .iter()
    .flat_map(|(option, terms)| {
        terms
            .iter()
            .filter(|t| !t.trim().is_empty() && !known(t))
            .map(move |t| format!("{option} {t}"))
    })
    .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "no check, tag or area matches {} (`dx-conformance list` shows every id and tag)",
            unknown.join(", ")
        ))
    }
}

/// What the user gave the run beyond the target: a client to check, routes to probe, test
/// accounts.
struct Given {
    client: Option<(String, Vec<u8>)>,
    runtime: ClientRuntime,
    probes: Vec<UserRoute>,
    accounts: Vec<Account>,
}

/// Why a run ends without the verdicts of its checks.
enum Stop {
    /// The suite cannot run as asked (its own spec or scenarios unreadable): exit code 2.
    Usage(String),
    /// The target (or one of its instances) does not answer: a report saying so, exit code 2.
    Unreachable(Box<Report>),
}

/// Reaches the target and runs the selected checks and scenarios on it: all of them against
/// a described target, the no-discovery forms against an undescribed one. Returns the report
/// and whether the target was the embedded reference.
async fn check(
    args: &RunArgs,
    options: &RunOptions,
    features_dir: &std::path::Path,
    given: Given,
    display: &Display,
    started: Instant,
) -> Result<(Report, bool), Stop> {
    let spec = TargetSpec::resolve(args.target.first().map(String::as_str));
    let shown_url = match &spec {
        TargetSpec::Url(url) => url.clone(),
        TargetSpec::Embedded(_) => "the embedded reference".to_owned(),
    };
    let unreachable = |url: &str, problem: String| {
        Stop::Unreachable(Box::new(Report::unreachable(
            url,
            &problem,
            options.cases,
            started.elapsed(),
        )))
    };
    let usage = |e: &dyn std::fmt::Display| Stop::Usage(e.to_string());
    let reached = Target::reach(spec)
        .await
        .map_err(|e| unreachable(&shown_url, e.to_string()))?;
    match reached {
        Reached::Undescribed(bare) => {
            let bare = bare.with_probes(given.probes);
            bare.http().budgets().set_max_wait(options.max_wait);
            display.watch_budgets(bare.http().budgets().clone());
            display.line(&format!(
                "dx-conformance: {} has no valid discovery document ({}); running only the checks that need none",
                bare.base_url().as_str().trim_end_matches('/'),
                bare.problem()
            ));
            if args.target.len() > 1 {
                display.line(
                    "  the other instances given are not checked without a discovery document",
                );
            }
            let mut results =
                dx_conformance::run_undescribed(&bare, options, &mut |event| display.event(&event))
                    .await
                    .map_err(|e| usage(&e))?;
            if !args.no_features {
                let reason = format!(
                    "no discovery document: scenarios read the target's routes, limits and areas from it; {}",
                    bare.problem()
                );
                let scenarios =
                    dx_features::scenarios_not_verified(features_dir, &options.selection, &reason)
                        .map_err(|e| usage(&format!("cannot read the scenarios: {e}")))?;
                results.extend(scenarios);
            }
            results.extend(dx_conformance::runner::rule_results(
                bare.http().ledger(),
                &options.selection,
            ));
            Ok((
                Report::undescribed(&bare, options.cases, results, started.elapsed()),
                false,
            ))
        }
        Reached::Described(target) => {
            let mut others = Vec::new();
            for url in args.target.iter().skip(1) {
                let other = Target::connect(TargetSpec::Url(url.clone()))
                    .await
                    .map_err(|e| unreachable(url, format!("instance {url}: {e}")))?;
                others.push(other);
            }
            let mut target = target
                .with_instances(others)
                .with_probes(given.probes)
                .with_accounts(given.accounts);
            target.http().budgets().set_max_wait(options.max_wait);
            display.watch_budgets(target.http().budgets().clone());
            if let Some((source, wasm)) = given.client {
                target = target.with_client(source, wasm);
            }
            target = target.with_client_runtime(given.runtime);
            display.header(&target);
            let mut results = dx_conformance::run_properties(&target, options, &mut |event| {
                display.event(&event)
            })
            .await
            .map_err(|e| usage(&e))?;
            if !args.no_features {
                display.started(
                    "features",
                    &format!("scenarios in {}", features_dir.display()),
                );
                let scenarios = dx_features::run_selected_features_within(
                    &target,
                    &options.selection,
                    features_dir,
                    options.timeout,
                )
                .await
                .map_err(|e| usage(&format!("cannot run the scenarios: {e}")))?;
                display.stopped("features");
                display.finished_batch(&scenarios);
                results.extend(scenarios);
            }
            results.extend(dx_conformance::runner::rule_results(
                target.http().ledger(),
                &options.selection,
            ));
            Ok((
                Report::new(&target, options.cases, results, started.elapsed()),
                target.is_embedded(),
            ))
        }
    }
}

/// Saves every failure as a replay file, writes the report to each output and returns `code`
/// (or 2 when a report cannot be written).
fn finish(
    mut report: Report,
    outputs: &[(Format, Option<&std::path::Path>)],
    embedded: bool,
    args: &RunArgs,
    color: ColorWhen,
    code: ExitCode,
) -> ExitCode {
    let replayable: Vec<ReplayFile> = report
        .results
        .iter()
        .filter_map(|r| ReplayFile::of(&report, r, embedded))
        .collect();
    for file in replayable {
        match file.write_into(&args.replay_dir) {
            Ok(path) => report
                .replays
                .push((file.check.clone(), replay_command(&path))),
            Err(e) => eprintln!("dx-conformance: cannot save a replay file: {e}"),
        }
    }
    let mut files = Vec::new();
    for (format, path) in outputs {
        match path {
            Some(path) => {
                if let Err(e) = std::fs::write(path, render(&report, *format)) {
                    eprintln!("dx-conformance: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                files.push(*path);
            }
            None => {
                // On a terminal the table fits its width, in colour if wanted; a pipe gets
                // what a file gets.
                let text = match format {
                    Format::Terminal => {
                        render_terminal_with(&report, term::style_for(term::Stream::Stdout, color))
                    }
                    other => render(&report, *other),
                };
                let written = write_stdout(&text);
                if written != ExitCode::SUCCESS {
                    return written;
                }
            }
        }
    }
    if outputs.iter().all(|(_, path)| path.is_some()) {
        eprintln!("{}", dx_conformance::report::summary_line(&report));
    }
    let width = term::style_for(term::Stream::Stderr, color).width;
    for line in progress::closing_lines(&report, &files, width) {
        eprintln!("{line}");
    }
    code
}

async fn replay(args: ReplayArgs) -> ExitCode {
    if let Err(code) = trust(&args.ca_cert) {
        return code;
    }
    let file = match ReplayFile::load(&args.file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("dx-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let spec = match (&args.target, file.embedded) {
        (Some(url), _) => TargetSpec::Url(url.clone()),
        (None, true) => TargetSpec::resolve(None),
        (None, false) => TargetSpec::Url(file.target.clone()),
    };
    let options = file.run_options(Duration::from_secs(args.timeout));
    let wanted = args.client_runtime.unwrap_or(match file.client_runtime {
        Some(_) => ClientRuntimeArg::Chromium,
        None => ClientRuntimeArg::Wasmi,
    });
    let runtime = match client_runtime(wanted, args.chromium.as_deref()) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    eprintln!(
        "dx-conformance: replaying {} {} (seed {}, {} cases{})",
        file.check,
        file.title,
        file.seed,
        file.cases,
        file.position
            .map(|p| format!(", case {} of step {}", p.case, p.driver))
            .unwrap_or_default()
    );
    let reached = match Target::reach(spec).await {
        Ok(Reached::Described(target)) => {
            Reached::Described(Box::new((*target).with_client_runtime(runtime)))
        }
        Ok(r) => r,
        Err(e) => {
            eprintln!("dx-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let results = match (&reached, file.is_property()) {
        (Reached::Described(target), true) => {
            dx_conformance::run_properties(target, &options, &mut |_| {}).await
        }
        (Reached::Undescribed(bare), true) => {
            dx_conformance::run_undescribed(bare, &options, &mut |_| {}).await
        }
        (Reached::Described(target), false) => {
            let dir = args
                .features
                .clone()
                .unwrap_or_else(dx_features::default_features_dir);
            match dx_features::run_selected_features_within(
                target,
                &options.selection,
                &dir,
                options.timeout,
            )
            .await
            {
                Ok(r) => Ok(r),
                Err(e) => {
                    eprintln!("dx-conformance: cannot run the scenario: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        (Reached::Undescribed(bare), false) => {
            eprintln!(
                "dx-conformance: {} has no valid discovery document ({}); a scenario needs one",
                bare.base_url(),
                bare.problem()
            );
            return ExitCode::from(2);
        }
    };
    let result = match results {
        Ok(mut r) if !r.is_empty() => r.remove(0),
        Ok(_) => {
            eprintln!("dx-conformance: this suite has no check {}", file.check);
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("dx-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let mut text = format!(
        "Recorded:  {}\n           expected: {}\n",
        file.failure.actual.lines().next().unwrap_or(""),
        file.failure.expected
    );
    let outcome = Replayed::judge(&file.failure, &result.verdict);
    match &outcome {
        Replayed::Same(f) => text.push_str(&format!(
            "Replayed:  fails again the same way\nActual:    {}\n",
            f.actual
        )),
        Replayed::Different(f) => text.push_str(&format!(
            "Replayed:  fails again, differently\nExpected:  {}\nActual:    {}\nCounterexample: {}\n",
            f.expected,
            f.actual,
            f.counterexample.as_deref().unwrap_or("(none)")
        )),
        Replayed::Passed => text.push_str("Replayed:  passes now\n"),
        Replayed::NotVerified(why) => {
            text.push_str(&format!("Replayed:  not verified: {why}\n"));
        }
    }
    if let dx_conformance::Verdict::Fail(f) = &result.verdict
        && let Some(exchange) = &f.replay
    {
        text.push_str(&format!("Exchange:  {exchange}\n"));
    }
    let written = write_stdout(&text);
    if written != ExitCode::SUCCESS {
        return written;
    }
    if outcome.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Where each report goes: standard output in `--format` (default terminal); one `--out` file
/// in `--format` or the format its extension names; several, each by its extension.
fn outputs<'a>(
    format: Option<&str>,
    out: &'a [PathBuf],
) -> Result<Vec<(Format, Option<&'a std::path::Path>)>, String> {
    let named = match format {
        Some(name) => Some(Format::parse(name).ok_or_else(|| format!("unknown format {name}"))?),
        None => None,
    };
    match (named, out) {
        (named, []) => Ok(vec![(named.unwrap_or(Format::Terminal), None)]),
        (Some(format), [one]) => Ok(vec![(format, Some(one.as_path()))]),
        (Some(_), _) => Err(
            "--format names the format of one --out; with several, each file's extension names its format"
                .into(),
        ),
        (None, files) => files
            .iter()
            .map(|path| {
                Format::from_extension(path)
                    .map(|f| (f, Some(path.as_path())))
                    .ok_or_else(|| {
                        format!(
                            "--out {}: name the format with --format, or use .json, .xml, .md or .txt",
                            path.display()
                        )
                    })
            })
            .collect(),
    }
}
