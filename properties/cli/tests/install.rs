//! What an installed `dx-conformance` says about itself: the version line a bug report
//! quotes, and the shell completions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use rstest::rstest;

fn dx_conformance(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dx-conformance"))
        .args(args)
        .output()
        .expect("dx-conformance runs")
}

/// The commit git names for this checkout, if this is one.
fn head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn version_names_the_suite_the_commit_and_the_spec() {
    let out = dx_conformance(&["--version"]);
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let commit = head().unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(
        line,
        format!(
            "dx-conformance {} (commit {commit}, spec {})",
            env!("CARGO_PKG_VERSION"),
            dx_server::routes::discovery::SPEC_VERSION
        )
    );
}

#[rstest]
#[case::bash("bash", "complete -F", "--target")]
#[case::zsh("zsh", "#compdef dx-conformance", "--target")]
#[case::fish("fish", "complete -c dx-conformance", "-l target")]
fn completions_know_the_subcommands_and_options(
    #[case] shell: &str,
    #[case] marker: &str,
    #[case] option: &str,
) {
    let out = dx_conformance(&["completions", shell]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains(marker),
        "{shell}: no `{marker}` in\n{script}"
    );
    for known in ["replay", "completions", option] {
        assert!(
            script.contains(known),
            "{shell}: no `{known}` in the script"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = dx_conformance(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}
