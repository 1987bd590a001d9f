//! Runs every feature against `DX_TARGET`, or the embedded reference when it is unset, and
//! fails when a scenario fails or none ran. `DX_FEATURE_TAGS=@p08,@conformance` selects.

use std::process::exit;

use dx_conformance::verdict::{Summary, Verdict};
use dx_conformance::{CheckResult, Target};
use dx_features::{default_features_dir, run_features};

#[tokio::main]
async fn main() {
    let target = match Target::from_env().await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot reach the target: {e}");
            exit(1);
        }
    };
    let tags: Vec<String> = std::env::var("DX_FEATURE_TAGS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    println!(
        "features against {} ({}, profile {})",
        target.base_url(),
        target.discovery().implementation.name,
        target.discovery().profile
    );
    let results = match run_features(&target, &tags, &default_features_dir()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            exit(1);
        }
    };
    for result in &results {
        print_result(result);
    }
    let summary = Summary::of(&results);
    println!(
        "{} passed, {} failed, {} skipped",
        summary.pass, summary.fail, summary.not_verified
    );
    if summary.fail > 0 || summary.pass + summary.fail == 0 {
        exit(1);
    }
}

fn print_result(result: &CheckResult) {
    let mark = match &result.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail(_) => "FAIL",
        Verdict::NotVerified(_) => "skip",
    };
    println!(
        "{mark} {:<10} {} (steps run: {}, {} ms)",
        result.id,
        result.title,
        result.cases,
        result.duration.as_millis()
    );
    match &result.verdict {
        Verdict::Pass => {}
        Verdict::NotVerified(reason) => println!("     not verified: {reason}"),
        Verdict::Fail(f) => {
            println!("     expected: {}", f.expected);
            println!("     actual:   {}", indent(&f.actual));
            if let Some(replay) = &f.replay {
                println!("     replay:   {replay}");
            }
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().collect::<Vec<_>>().join("\n               ")
}
