//! `benches/benches.toml`: every benchmark, how to run it and what it needs.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// One benchmark as the manifest describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bench {
    /// The name `--only` and `--skip` take.
    pub id: String,
    /// The report's heading.
    pub title: String,
    /// Run with bash from the repository's root.
    pub command: String,
    /// Commands that must be on PATH.
    #[serde(default)]
    pub needs: Vec<String>,
    /// The Debian packages that provide them.
    #[serde(default)]
    pub apt: Vec<String>,
    /// About how long it takes on two cores once built.
    pub minutes: u32,
    /// What it compares, for the report.
    pub about: String,
    /// What a reader should know about its figures (why a goal is missed, with the profile
    /// that says so), shown after them.
    #[serde(default)]
    pub remarks: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    bench: Vec<Bench>,
}

/// Reads and checks the manifest: ids unique and usable as file names.
pub fn load(path: &Path) -> anyhow::Result<Vec<Bench>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

/// Parses a manifest's text.
pub fn parse(text: &str) -> anyhow::Result<Vec<Bench>> {
    let manifest: Manifest = toml::from_str(text)?;
    let mut seen = std::collections::BTreeSet::new();
    for bench in &manifest.bench {
        if bench.id.is_empty()
            || !bench
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            bail!(
                "bench id {:?}: use lowercase letters, digits and _",
                bench.id
            );
        }
        if !seen.insert(bench.id.clone()) {
            bail!("bench id {:?} appears twice", bench.id);
        }
    }
    Ok(manifest.bench)
}

/// The benches `--only` and `--skip` select, in manifest order; an unknown id is an error.
pub fn select<'a>(
    benches: &'a [Bench],
    only: &[String],
    skip: &[String],
) -> anyhow::Result<Vec<&'a Bench>> {
    for id in only.iter().chain(skip) {
        if !benches.iter().any(|b| &b.id == id) {
            let known: Vec<&str> = benches.iter().map(|b| b.id.as_str()).collect();
            bail!("no bench {id:?}; the benches are {}", known.join(", "));
        }
    }
    Ok(benches
        .iter()
        .filter(|b| only.is_empty() || only.contains(&b.id))
        .filter(|b| !skip.contains(&b.id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_manifest_parses_and_names_every_bench_once() {
        let benches = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches.toml")).unwrap();
        assert!(benches.len() >= 15, "{} benches", benches.len());
        let ids: Vec<&str> = benches.iter().map(|b| b.id.as_str()).collect();
        for id in [
            "tokens",
            "middleware_tcp",
            "first_render",
            "load",
            "faults",
            "soak",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
    }

    #[test]
    fn every_cargo_bench_in_the_workspace_is_in_the_manifest() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let manifest = std::fs::read_to_string(root.join("benches/benches.toml")).unwrap();
        let mut missing = Vec::new();
        for dir in [
            "reference/auth",
            "reference/htip",
            "reference/query",
            "reference/security",
            "reference/server",
            "properties",
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join("benches")) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "rs") {
                    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                    if !manifest.contains(&format!("--bench {name}"))
                        && !manifest.contains(&format!("/{name}.sh"))
                    {
                        missing.push(name);
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "benches not in benches/benches.toml: {missing:?}"
        );
    }

    #[test]
    fn unknown_ids_and_bad_manifests_are_refused() {
        let benches = parse(
            "[[bench]]\nid = \"a\"\ntitle = \"A\"\ncommand = \"true\"\nminutes = 1\nabout = \"x\"\n",
        )
        .unwrap();
        assert!(select(&benches, &["b".into()], &[]).is_err());
        assert_eq!(select(&benches, &[], &["a".into()]).unwrap().len(), 0);
        assert!(
            parse(
                "[[bench]]\nid = \"A B\"\ntitle = \"\"\ncommand = \"\"\nminutes = 1\nabout = \"\"\n"
            )
            .is_err()
        );
        assert!(parse("[[bench]]\nid = \"a\"\ntitle = \"\"\ncommand = \"\"\nminutes = 1\nabout = \"\"\nextra = 1\n").is_err());
    }
}
