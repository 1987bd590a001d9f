//! `cargo benchmarks`: runs every benchmark in the repository (benches/benches.toml), keeps
//! their results in benches/results.jsonl and writes BENCHMARKS.md from them.
//!
//! Each bench measures our code beside a peer in the same run and writes its figures as JSON
//! lines (benches/record) to the file named by `DX_BENCH_RESULTS`; this program names that
//! file, stamps every line with the bench, the machine, the commit and the date, and renders
//! the report. A bench that cannot run here (a tool missing and not installable) or fails is
//! reported as such, beside whatever it measured.

mod machine;
mod manifest;
mod report;
mod results;
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

/// Runs the repository's benchmarks and writes BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(
    name = "dx-benchmarks",
    after_help = "Examples:\n  cargo benchmarks                  every bench, then BENCHMARKS.md\n  cargo benchmarks --only tokens    one bench; the others' figures stay\n  cargo benchmarks --report         BENCHMARKS.md again from benches/results.jsonl\n  cargo benchmarks --list\n\nExit status: 0 when every bench selected ran (goals met or not), 1 when one failed or could not run, 2 on a usage error."
)]
struct Cli {
    /// Run only these benches (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run all but these benches.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// List the benches, what they need and how long they take, and stop.
    #[arg(long)]
    list: bool,
    /// Run nothing; write the report from the results already kept.
    #[arg(long, conflicts_with_all = ["only", "skip", "list"])]
    report: bool,
    /// Where the report goes.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dx-benchmarks: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: &Cli) -> anyhow::Result<ExitCode> {
    let root = repository_root()?;
    let benches = manifest::load(&root.join("benches/benches.toml"))?;
    let selected = manifest::select(&benches, &cli.only, &cli.skip)?;
    let store_path = root.join("benches/results.jsonl");
    let out = if cli.out.is_absolute() {
        cli.out.clone()
    } else {
        root.join(&cli.out)
    };
    if cli.list {
        for bench in &selected {
            let needs = if bench.needs.is_empty() {
                String::new()
            } else {
                format!("  needs {}", bench.needs.join(", "))
            };
            println!(
                "{:<16} ~{:>2} min  {}{needs}",
                bench.id, bench.minutes, bench.title
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = results::read(&store_path)?;
    let mut failed = Vec::new();
    if !cli.report {
        let at = run::Workspace {
            logs: root.join("target/benchmarks"),
            root: root.clone(),
        };
        std::fs::create_dir_all(&at.logs)
            .with_context(|| format!("creating {}", at.logs.display()))?;
        let machine = machine::Machine::this();
        let commit = machine::commit();
        let minutes: u32 = selected.iter().map(|b| b.minutes).sum();
        eprintln!(
            "dx-benchmarks: {} benches, about {minutes} min once built, on {} at {commit}",
            selected.len(),
            machine.label()
        );
        for (n, bench) in selected.iter().enumerate() {
            eprintln!(
                "\n=== [{}/{}] {}: {} ({})",
                n + 1,
                selected.len(),
                bench.id,
                bench.title,
                bench.command
            );
            let lines = run::run(bench, &at, &machine, &commit);
            let outcome = lines.last().cloned().unwrap_or_default();
            let status = outcome
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or("?")
                .to_owned();
            let reason = outcome
                .get("reason")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .to_owned();
            eprintln!(
                "=== {}: {status}{}",
                bench.id,
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                }
            );
            if status != "ok" {
                failed.push(bench.id.clone());
            }
            // Read again: another run may have replaced other benches' lines meanwhile.
            store = results::replace(results::read(&store_path)?, &bench.id, lines);
            // Kept after each bench, so an interrupted run loses only the bench it was in.
            results::write(&store_path, &store)?;
        }
    }
    std::fs::write(&out, report::render(&benches, &store))
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("dx-benchmarks: wrote {}", display(&out, &root));
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "dx-benchmarks: did not run to the end: {}",
            failed.join(", ")
        );
        Ok(ExitCode::from(1))
    }
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The repository holding this crate (commands run from its root).
fn repository_root() -> anyhow::Result<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here
        .join("../..")
        .canonicalize()
        .with_context(|| format!("the repository above {}", here.display()))?;
    anyhow::ensure!(
        root.join("benches/benches.toml").is_file(),
        "no benches/benches.toml under {}",
        root.display()
    );
    Ok(root)
}
