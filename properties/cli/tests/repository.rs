//! The repository's front door and packaging, checked like code: the README stays short and
//! undated with the install and the deployment command on its first screen, every relative
//! link in the docs resolves, and the container image is built by the same command as CI's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use regex::Regex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Markdown pages a reader reaches from the README.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = ["README.md", "CHANGELOG.md", "CI.md", "BENCHMARKS.md"]
        .iter()
        .map(|p| root().join(p))
        .filter(|p| p.exists())
        .collect();
    let docs = root().join("docs");
    for entry in std::fs::read_dir(&docs).expect("docs/ exists") {
        let path = entry.expect("a docs entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages
}

#[test]
fn the_readme_is_short_undated_and_says_what_install_and_run_first() {
    let readme = read("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    assert!(
        lines.len() < 150,
        "README.md has {} lines; move detail to docs/",
        lines.len()
    );
    let dated = Regex::new(r"20\d\d-\d\d-\d\d").unwrap();
    if let Some(line) = lines.iter().find(|l| dated.is_match(l)) {
        panic!("README.md carries a date: {line}");
    }
    // The first screen, 40 lines of a 100-column terminal: what the kit is, how to install
    // it, the command for the reader's own deployment.
    let mut shown = 0;
    let first_screen: Vec<&str> = lines
        .iter()
        .take_while(|l| {
            shown += l.chars().count().div_ceil(100).max(1);
            shown <= 40
        })
        .copied()
        .collect();
    let first_screen = first_screen.join("\n");
    for must in [
        "cargo install --path properties/cli",
        "docker build",
        "dx-conformance run --target https://",
    ] {
        assert!(
            first_screen.contains(must),
            "README.md's first screen lacks `{must}`"
        );
    }
    // Exactly the two set-up commands, in one block.
    assert!(readme.contains(
        "```sh\ncargo conformance run     # the main job: the suite against the embedded reference, with a readable report\ncargo test --workspace    # the tests\n```"
    ));
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let link = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for captures in link.captures_iter(&text) {
            let target = &captures[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !resolved.exists() {
                broken.push(format!("{}: {target}", page.display()));
            } else if !anchor.is_empty()
                && resolved.extension().is_some_and(|e| e == "md")
                && !anchors(&resolved).iter().any(|a| a == anchor)
            {
                broken.push(format!("{}: {target} (no such heading)", page.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links that resolve to nothing:\n{}",
        broken.join("\n")
    );
}

/// The anchors GitHub gives a Markdown page's headings: lower case, punctuation but `-` and
/// `_` dropped, spaces as `-`.
fn anchors(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

/// The one build command, in `.ci/build-cli.sh`.
const BUILD_SCRIPT: &str = ".ci/build-cli.sh";

#[test]
fn the_image_is_built_by_the_command_ci_runs() {
    let script = read(BUILD_SCRIPT);
    let builds: Vec<&str> = script
        .lines()
        .filter(|l| l.contains("cargo build"))
        .collect();
    assert_eq!(
        builds,
        ["exec cargo build --locked -p dx-conformance-cli --bin dx-conformance \"$@\""],
        "{BUILD_SCRIPT} holds the one build command"
    );
    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let runs_script: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.contains(BUILD_SCRIPT))
        .collect();
    assert_eq!(runs_script, [&"RUN .ci/build-cli.sh --release"]);
    assert!(
        !instructions
            .iter()
            .any(|l| l.contains("cargo build") || l.contains("cargo install")),
        "the Dockerfile builds only through {BUILD_SCRIPT}"
    );
    assert!(dockerfile.contains(r#"ENTRYPOINT ["dx-conformance"]"#));
    let ci = read(".ci/run");
    assert!(ci.contains(BUILD_SCRIPT), ".ci/run runs {BUILD_SCRIPT}");
    let other = ci
        .lines()
        .find(|l| l.contains("cargo build") && l.contains("--bin dx-conformance "));
    assert_eq!(other, None, ".ci/run builds the binary another way");
}

#[test]
fn the_image_builds_with_the_pinned_toolchain() {
    let toolchain: toml::Table = read("rust-toolchain.toml").parse().unwrap();
    let channel = toolchain["toolchain"]["channel"]
        .as_str()
        .unwrap()
        .to_owned();
    let workspace: toml::Table = read("Cargo.toml").parse().unwrap();
    let rust_version = workspace["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        channel.starts_with(&format!("{rust_version}.")),
        "rust-toolchain.toml pins {channel}, the workspace says rust-version {rust_version}"
    );
    let from = format!("FROM rust:{rust_version}-bookworm AS build");
    assert!(
        read("Dockerfile").contains(&from),
        "the Dockerfile's builder is `{from}`"
    );
}

#[test]
fn the_licences_the_manifest_names_are_shipped() {
    assert!(read("Cargo.toml").contains(r#"license = "MIT OR Apache-2.0""#));
    assert!(read("LICENSE-MIT").contains("Permission is hereby granted"));
    assert!(read("LICENSE-APACHE").contains("Version 2.0, January 2004"));
}
