//! `dx-conformance`: runs the dx-www conformance checks (property suites and Gherkin
//! scenarios) against a deployment, or the embedded reference, and prints the report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use dx_conformance::check::tags_of;
use dx_conformance::report::{Format, render, verdict_cell};
use dx_conformance::{CaseConfig, CheckResult, Progress, Report, RunOptions, Target, TargetSpec};
use indicatif::{ProgressBar, ProgressStyle};

/// Conformance suite for dx-www deployments.
#[derive(Debug, Parser)]
#[command(name = "dx-conformance", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the checks against a target and print the report.
    Run(RunArgs),
    /// List the checks and their tags without running them.
    List,
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
    /// Report format (default: terminal; with several --out, each file's extension names its
    /// format instead).
    #[arg(long, value_parser = ["terminal", "json", "junit", "markdown"])]
    format: Option<String>,
    /// Write the report to FILE instead of standard output. Give it several times to write
    /// several formats from one run: .json, .xml (JUnit), .md (Markdown), .txt (terminal).
    #[arg(long, value_name = "FILE")]
    out: Vec<PathBuf>,
    /// Generated cases per property (at least 1).
    #[arg(long, default_value_t = dx_conformance::cases::DEFAULT_CASES, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    cases: u32,
    /// Seed for the generated cases; the same seed replays the same inputs.
    #[arg(long)]
    seed: Option<u64>,
    /// Folder of .feature files (default: the suite's own features/).
    #[arg(long, value_name = "DIR")]
    features: Option<PathBuf>,
    /// Skip the Gherkin scenarios.
    #[arg(long)]
    no_features: bool,
    /// How many lanes of checks run at once (default: the number of cores). The checks of an
    /// area that shares state on the target run in one lane, one after another.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    jobs: Option<u32>,
    /// A client .wasm to check instead of the one the target publishes (Properties 9-11).
    #[arg(long, value_name = "FILE")]
    client: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => list(),
        Command::Run(args) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("dx-conformance: cannot start the async runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            runtime.block_on(run(args))
        }
    }
}

fn list() -> ExitCode {
    let specs = match dx_conformance::spec::properties() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("dx-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let implemented: Vec<u8> = dx_conformance::checks::all()
        .iter()
        .map(|c| c.property)
        .collect();
    let mut text = format!(
        "{:<6} {:<40} {:<14} {:<12} TAGS\n",
        "CHECK", "TITLE", "REQUIREMENTS", "STATUS"
    );
    for p in specs {
        let status = if implemented.contains(&p.number) {
            "checked"
        } else {
            "pending"
        };
        text.push_str(&format!(
            "p{:02}    {:<40} {:<14} {:<12} {}\n",
            p.number,
            p.title,
            p.requirements.join(","),
            status,
            tags_of(p).join(",")
        ));
    }
    text.push_str(&format!(
        "\nScenarios: the .feature files under {}\n",
        dx_features::default_features_dir().display()
    ));
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

async fn run(args: RunArgs) -> ExitCode {
    let outputs = match outputs(args.format.as_deref(), &args.out) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("dx-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let spec = TargetSpec::resolve(args.target.first().map(String::as_str));
    let target = match Target::connect(spec).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dx-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let mut others = Vec::new();
    for url in args.target.iter().skip(1) {
        match Target::connect(TargetSpec::Url(url.clone())).await {
            Ok(t) => others.push(t),
            Err(e) => {
                eprintln!("dx-conformance: instance {url}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let target = target.with_instances(others);
    let target = match &args.client {
        Some(path) => match std::fs::read(path) {
            Ok(wasm) => target.with_client(path.display().to_string(), wasm),
            Err(e) => {
                eprintln!("dx-conformance: --client {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => target,
    };
    let seed = args.seed.unwrap_or_else(|| CaseConfig::default().seed);
    let options = RunOptions {
        cases: CaseConfig {
            cases: args.cases,
            seed,
        },
        tags: args.tags.clone(),
        jobs: args
            .jobs
            .map_or_else(dx_conformance::runner::default_jobs, |n| n as usize),
    };
    let display = Display::new();
    display.header(&target);

    let mut results =
        match dx_conformance::run_properties(&target, &options, &mut |event| display.event(&event))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                display.finish();
                eprintln!("dx-conformance: {e}");
                return ExitCode::from(2);
            }
        };
    if !args.no_features {
        let dir = args
            .features
            .clone()
            .unwrap_or_else(dx_features::default_features_dir);
        display.started("features", &format!("scenarios in {}", dir.display()));
        match dx_features::run_features(&target, &args.tags, &dir).await {
            Ok(scenarios) => {
                display.stopped("features");
                for s in &scenarios {
                    display.finished(s);
                }
                results.extend(scenarios);
            }
            Err(e) => {
                display.finish();
                eprintln!("dx-conformance: cannot run the scenarios: {e}");
                return ExitCode::from(2);
            }
        }
    }
    display.finish();

    let report = Report::new(&target, seed, results, started.elapsed());
    for (format, path) in outputs {
        let text = render(&report, format);
        match path {
            Some(path) => {
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("dx-conformance: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                let s = report.summary();
                eprintln!(
                    "report written to {}: {} passed, {} failed, {} not verified",
                    path.display(),
                    s.pass,
                    s.fail,
                    s.not_verified
                );
            }
            None => {
                let written = write_stdout(&text);
                if written != ExitCode::SUCCESS {
                    return written;
                }
            }
        }
    }
    if report.exit_code() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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

/// Live progress on standard error: a spinner on a terminal, one line per check elsewhere.
struct Display {
    bar: Option<ProgressBar>,
    /// The checks running now, shown beside the spinner.
    running: std::cell::RefCell<Vec<String>>,
}

impl Display {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            running: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn header(&self, target: &Target) {
        let d = target.discovery();
        self.line(&format!(
            "dx-conformance: testing {} ({} {}, profile {}){}",
            target.base_url().as_str().trim_end_matches('/'),
            d.implementation.name,
            d.implementation.version,
            d.profile,
            if target.is_embedded() {
                " [embedded reference]"
            } else {
                ""
            }
        ));
        for other in target.instances().iter().skip(1) {
            self.line(&format!(
                "  and its instance {}",
                other.base_url().as_str().trim_end_matches('/')
            ));
        }
    }

    fn event(&self, event: &Progress<'_>) {
        match event {
            Progress::Started { id, title } => self.started(id, title),
            Progress::Finished(result) => self.finished(result),
        }
    }

    fn started(&self, id: &str, title: &str) {
        self.running.borrow_mut().push(format!("{id} {title}"));
        self.show_running();
    }

    fn stopped(&self, id: &str) {
        let prefix = format!("{id} ");
        self.running
            .borrow_mut()
            .retain(|running| !running.starts_with(&prefix));
        self.show_running();
    }

    fn show_running(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("running: {}", self.running.borrow().join(" | ")));
        }
    }

    fn finished(&self, r: &CheckResult) {
        self.stopped(&r.id);
        self.line(&format!(
            "  {:<10} {:<44} {:>5} cases {:>7.2}s  {}",
            r.id,
            r.title,
            r.cases,
            r.duration.as_secs_f64(),
            verdict_cell(&r.verdict)
        ));
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
