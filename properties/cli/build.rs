//! Records the commit the command is built from, for `dx-conformance --version`: a report
//! found in CI can then be traced to the suite's exact source. Outside a git checkout (a
//! source archive) the commit is "unknown".
//!
//! Cargo reruns this script when `HEAD` moves (a checkout, a commit on the current branch, a
//! fetch that updates packed refs), so the commit is right without `cargo clean`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DX_CONFORMANCE_COMMIT");
    let commit = std::env::var("DX_CONFORMANCE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DX_CONFORMANCE_COMMIT={commit}");
    watch_head();
}

/// Asks cargo to rerun this script when `HEAD` or the branch it names moves. In a worktree,
/// `HEAD` lives in the worktree's git directory and the branches in the common one.
fn watch_head() {
    let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--absolute-git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) else {
        return;
    };
    let git_dir = PathBuf::from(git_dir);
    let common = absolute(PathBuf::from(common));
    println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        for dir in [&git_dir, &common] {
            let file = dir.join(&branch);
            if file.is_file() {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
    }
    let packed = common.join("packed-refs");
    if packed.is_file() {
        println!("cargo:rerun-if-changed={}", packed.display());
    }
}

/// `--git-common-dir` may be relative to the directory git ran in (this crate's).
fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        return path;
    }
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join(path)
}

/// The trimmed output of `git ARGS` run in this crate's directory, if it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (!text.is_empty()).then_some(text)
}
