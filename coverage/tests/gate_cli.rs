//! End-to-end tests of the `coverage-gate` binary on synthetic llvm-cov
//! exports written to a temporary directory that plays the repository root.

// This whole crate is test code, but clippy's allow-unwrap-in-tests only
// covers `#[test]` functions, not the helpers they share.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

const SHIPPED_GATES: &str = include_str!("../gates.toml");

/// A scratch repository root, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "coverage-gate-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes `cov.json` holding `files` and returns its path.
    fn export(&self, files: Vec<Value>) -> PathBuf {
        let export = json!({
            "data": [{ "files": files, "totals": {} }],
            "type": "llvm.coverage.json.export",
            "version": "2.0.1",
        });
        self.write("cov.json", &export.to_string())
    }

    /// A file under this root, see [`file_at`].
    fn file(&self, relative: &str, covered: &[u64], uncovered: &[u64]) -> Value {
        file_at(&self.0.join(relative), covered, uncovered)
    }

    /// Runs the gate with `--root` set to this directory.
    fn gate(&self, export: &Path, gates: &Path, extra: &[&str]) -> Run {
        let mut args = vec![
            "--export".to_owned(),
            export.display().to_string(),
            "--gates".to_owned(),
            gates.display().to_string(),
            "--root".to_owned(),
            self.0.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        run(&self.0, &args)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An export entry whose `covered` lines ran once and `uncovered` lines never,
/// one region per line, with a summary that agrees.
fn file_at(path: &Path, covered: &[u64], uncovered: &[u64]) -> Value {
    let mut lines: Vec<(u64, u64)> = covered.iter().map(|&l| (l, 1)).collect();
    lines.extend(uncovered.iter().map(|&l| (l, 0)));
    lines.sort_unstable();
    let segments: Vec<Value> = lines
        .iter()
        .flat_map(|&(line, count)| {
            [
                json!([line, 5, count, true, true, false]),
                json!([line, 30, 0, false, false, false]),
            ]
        })
        .collect();
    let count = lines.len();
    json!({
        "filename": path.display().to_string(),
        "summary": { "lines": {
            "count": count,
            "covered": covered.len(),
            "percent": if count == 0 { 0.0 } else { covered.len() as f64 * 100.0 / count as f64 },
        }},
        "segments": segments,
    })
}

/// Lines `1..=n`.
fn lines(n: u64) -> Vec<u64> {
    (1..=n).collect()
}

/// Lines `from..from + n`.
fn lines_from(from: u64, n: u64) -> Vec<u64> {
    (from..from + n).collect()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The table row of a group, split into its cells after the name.
    fn row(&self, group: &str) -> Vec<String> {
        self.stdout
            .lines()
            .find_map(|line| {
                let rest = line.strip_prefix(group)?;
                rest.starts_with("  ")
                    .then(|| rest.split_whitespace().map(str::to_owned).collect())
            })
            .unwrap_or_else(|| panic!("no row for {group:?} in:\n{}", self.stdout))
    }

    fn verdict(&self, group: &str) -> String {
        self.row(group).last().cloned().unwrap()
    }

    /// `(lines, covered)` of a group's row.
    fn totals(&self, group: &str) -> (u64, u64) {
        let row = self.row(group);
        (row[0].parse().unwrap(), row[1].parse().unwrap())
    }

    fn summary(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn run(dir: &Path, args: &[String]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_coverage-gate"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn one_group(name: &str, paths: &str, min: u32) -> String {
    format!("[[group]]\nname = \"{name}\"\npaths = [\"{paths}\"]\nmin_lines = {min}\n")
}

/// [`one_group`] with a file floor.
fn floored_group(name: &str, paths: &str, min: u32, floor: u32) -> String {
    one_group(name, paths, min) + &format!("min_file_lines = {floor}\n")
}

/// Lines `1..=128` but `40..=45` and `120..=128`: 113/128 = 88.28%.
fn safe_mutex_lines() -> (Vec<u64>, Vec<u64>) {
    let uncovered: Vec<u64> = (40..=45).chain(120..=128).collect();
    let covered = lines(128)
        .into_iter()
        .filter(|l| !uncovered.contains(l))
        .collect();
    (covered, uncovered)
}

/// The floor line the gate prints for [`safe_mutex_lines`] under a 90% floor.
const SAFE_MUTEX_UNDER_FLOOR: &str = "FAIL: group \"error\": reference/error/src/safe_mutex.rs \
    has 88.28% < file floor 90%: 113/128 lines covered, 3 more needed, uncovered: 40-45, 120-128";

#[test]
fn each_threshold_passes_at_and_above_and_fails_just_below() {
    for min in [70_u32, 80, 90] {
        for (covered, expected, code) in
            [(min + 1, "PASS", 0), (min, "PASS", 0), (min - 1, "FAIL", 1)]
        {
            let scratch = Scratch::new();
            let gates = scratch.write("gates.toml", &one_group("mod", "src/**", min));
            let covered = u64::from(covered);
            let export = scratch.export(vec![scratch.file(
                "src/lib.rs",
                &lines(covered),
                &lines_from(covered + 1, 100 - covered),
            )]);
            let out = scratch.gate(&export, &gates, &[]);
            assert_eq!(out.code, Some(code), "{min}% with {covered}/100: {out:?}");
            assert_eq!(out.verdict("mod"), expected, "{out:?}");
            assert_eq!(out.totals("mod"), (100, covered), "{out:?}");
        }
    }
}

#[test]
fn a_failing_group_lists_its_least_covered_files_with_uncovered_ranges() {
    let scratch = Scratch::new();
    let gates = scratch.write(
        "gates.toml",
        &one_group("error", "reference/error/src/**", 90),
    );
    let mut covered = lines(11);
    covered.extend(19..=39);
    covered.extend(41..=50);
    let export = scratch.export(vec![
        scratch.file(
            "reference/error/src/lib.rs",
            &covered,
            &[12, 13, 14, 15, 16, 17, 18, 40],
        ),
        scratch.file("reference/error/src/full.rs", &lines(20), &[]),
        scratch.file("reference/error/src/codes.rs", &[1], &[2, 3]),
    ]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.verdict("error"), "FAIL");
    assert!(out.stdout.contains("more needed"), "{out:?}");
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("uncovered:"))
        .collect();
    assert_eq!(
        listed.len(),
        2,
        "fully covered files are not listed: {out:?}"
    );
    assert!(
        listed[0].contains("reference/error/src/codes.rs"),
        "{out:?}"
    );
    assert!(listed[0].ends_with("uncovered: 2-3"), "{out:?}");
    assert!(listed[1].contains("reference/error/src/lib.rs"), "{out:?}");
    assert!(listed[1].ends_with("uncovered: 12-18, 40"), "{out:?}");
    assert_eq!(
        out.summary(),
        "coverage gate: 0 groups passed, 1 failed, 0 pending"
    );
}

#[test]
fn worst_limits_the_files_listed() {
    let scratch = Scratch::new();
    let gates = scratch.write("gates.toml", &one_group("all", "**", 90));
    let files = (0..8)
        .map(|i| scratch.file(&format!("src/f{i}.rs"), &[1], &[2]))
        .collect();
    let export = scratch.export(files);
    let default = scratch.gate(&export, &gates, &[]);
    let count = |run: &Run| run.stdout.matches("uncovered:").count();
    assert_eq!(count(&default), 5, "{default:?}");
    let two = scratch.gate(&export, &gates, &["--worst", "2"]);
    assert_eq!(count(&two), 2, "{two:?}");
    let none = scratch.gate(&export, &gates, &["--worst=0"]);
    assert_eq!(count(&none), 0, "{none:?}");
    assert_eq!(none.code, Some(1));
}

#[test]
fn a_file_under_the_floor_fails_a_group_whose_total_passes() {
    let scratch = Scratch::new();
    let gates = scratch.write(
        "gates.toml",
        &floored_group("error", "reference/error/src/**", 92, 90),
    );
    let (covered, uncovered) = safe_mutex_lines();
    let export = scratch.export(vec![
        scratch.file("reference/error/src/lib.rs", &lines(100), &[]),
        scratch.file("reference/error/src/safe_mutex.rs", &covered, &uncovered),
    ]);
    // --worst=0 lists no least-covered file; the floor still lists its files.
    for extra in [&[][..], &["--worst=0"][..]] {
        let out = scratch.gate(&export, &gates, extra);
        assert_eq!(out.code, Some(1), "{out:?}");
        // 213/228 = 93.42%: the total passes, the table says FAIL.
        assert_eq!(out.totals("error"), (228, 213), "{out:?}");
        assert_eq!(out.row("error")[2..], ["93.42", "92%", "FAIL"], "{out:?}");
        let failures: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect();
        assert_eq!(failures, [SAFE_MUTEX_UNDER_FLOOR], "{out:?}");
        assert!(!out.stdout.contains("least-covered"), "{out:?}");
        assert_eq!(
            out.summary(),
            "coverage gate: 0 groups passed, 1 failed, 0 pending"
        );
    }
}

#[test]
fn files_at_or_over_the_floor_pass() {
    let scratch = Scratch::new();
    let gates = scratch.write("gates.toml", &floored_group("error", "src/**", 90, 90));
    let export = scratch.export(vec![
        scratch.file("src/at.rs", &lines(9), &[10]),
        scratch.file("src/over.rs", &lines(19), &[20]),
        scratch.file("src/full.rs", &lines(30), &[]),
    ]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict("error"), "PASS");
    assert!(!out.stdout.contains("file floor"), "{out:?}");
}

#[test]
fn a_file_without_executable_lines_is_not_held_to_the_floor() {
    let scratch = Scratch::new();
    let gates = scratch.write("gates.toml", &floored_group("error", "src/**", 80, 90));
    let export = scratch.export(vec![
        scratch.file("src/lib.rs", &lines(10), &[]),
        // A module of declarations only: llvm-cov counts no line in it.
        scratch.file("src/mod.rs", &[], &[]),
    ]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict("error"), "PASS");
    assert_eq!(out.totals("error"), (10, 10));
}

#[test]
fn a_pending_group_with_a_floor_does_not_fail() {
    let scratch = Scratch::new();
    let text =
        floored_group("auth", "reference/auth/src/**", 80, 90) + "pending = \"not landed\"\n";
    let gates = scratch.write("gates.toml", &text);
    let export = scratch.export(vec![
        scratch.file("reference/auth/src/lib.rs", &lines(100), &[]),
        scratch.file("reference/auth/src/token.rs", &[1], &lines_from(2, 9)),
    ]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict("auth"), "PENDING");
    assert!(!out.stdout.contains("file floor"), "{out:?}");
    assert!(out.stdout.contains("remove the pending mark"), "{out:?}");
    assert_eq!(
        out.summary(),
        "coverage gate: 0 groups passed, 0 failed, 1 pending"
    );
}

#[test]
fn a_group_failing_on_its_total_lists_its_worst_files_and_those_under_the_floor() {
    let scratch = Scratch::new();
    let gates = scratch.write("gates.toml", &floored_group("error", "src/**", 90, 80));
    let export = scratch.export(vec![
        scratch.file("src/under.rs", &lines(7), &[8, 9, 10]),
        scratch.file("src/at.rs", &lines(8), &[9, 10]),
        scratch.file("src/full.rs", &lines(10), &[]),
    ]);
    let out = scratch.gate(&export, &gates, &["--worst", "2"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.verdict("error"), "FAIL");
    assert!(
        out.stdout
            .contains("FAIL: group \"error\" is at 83.33%, below 90%"),
        "{out:?}"
    );
    assert!(out.stdout.contains("2 least-covered files:"), "{out:?}");
    let floor: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("file floor"))
        .collect();
    assert_eq!(
        floor,
        [
            "FAIL: group \"error\": src/under.rs has 70.00% < file floor 80%: 7/10 lines covered, \
          1 more needed, uncovered: 8-10"
        ],
        "{out:?}"
    );
}

#[test]
fn a_live_group_matching_no_files_fails() {
    let scratch = Scratch::new();
    let text = one_group("error", "reference/error/src/**", 80) + &one_group("all", "**", 70);
    let gates = scratch.write("gates.toml", &text);
    let export = scratch.export(vec![scratch.file(
        "reference/errors/src/lib.rs",
        &lines(10),
        &[],
    )]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.verdict("error"), "FAIL");
    assert_eq!(out.verdict("all"), "PASS");
    assert!(
        out.stdout.contains(
            "group \"error\" matches no files: a renamed folder must not make the gate vacuous"
        ),
        "{out:?}"
    );
}

#[test]
fn a_pending_group_is_reported_but_never_fails() {
    let scratch = Scratch::new();
    let text = one_group("all", "**", 70)
        + &one_group("auth", "reference/auth/src/**", 80)
        + "pending = \"auth issue not landed\"\n";
    let gates = scratch.write("gates.toml", &text);
    let export = scratch.export(vec![scratch.file(
        "reference/error/src/lib.rs",
        &lines(10),
        &[],
    )]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict("auth"), "PENDING");
    assert!(out.stdout.contains("auth issue not landed"), "{out:?}");
    assert_eq!(
        out.summary(),
        "coverage gate: 1 groups passed, 0 failed, 1 pending"
    );
}

#[test]
fn a_pending_group_that_has_code_asks_for_the_mark_to_go() {
    let scratch = Scratch::new();
    let text = one_group("auth", "reference/auth/src/**", 80) + "pending = \"not landed\"\n";
    let gates = scratch.write("gates.toml", &text);
    // 10% covered: far below 80%, still not a failure while pending.
    let export = scratch.export(vec![scratch.file(
        "reference/auth/src/lib.rs",
        &[1],
        &lines_from(2, 9),
    )]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict("auth"), "PENDING");
    assert_eq!(out.totals("auth"), (10, 1));
    assert!(
        out.stdout
            .contains("pending group \"auth\" now has code: remove the pending mark"),
        "{out:?}"
    );
}

#[test]
fn a_file_in_two_groups_counts_in_both() {
    let scratch = Scratch::new();
    let text = one_group("limiter", "reference/security/src/rate_limit/**", 90)
        + &one_group("security", "reference/security/src/**", 80)
        + &one_group("all", "**", 70);
    let gates = scratch.write("gates.toml", &text);
    let export = scratch.export(vec![
        scratch.file(
            "reference/security/src/rate_limit/mod.rs",
            &lines(19),
            &[20],
        ),
        scratch.file("reference/security/src/lib.rs", &lines(8), &[9, 10]),
        scratch.file("reference/error/src/lib.rs", &lines(7), &[8, 9, 10]),
    ]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.totals("limiter"), (20, 19));
    assert_eq!(out.totals("security"), (30, 27));
    assert_eq!(out.totals("all"), (40, 34));
}

#[test]
fn an_excluded_file_counts_in_no_group() {
    let scratch = Scratch::new();
    let text = "exclude = [\n  { pattern = \"reference/server/src/main.rs\", reason = \"start-up\" },\n  { pattern = \"**/tests/**\", reason = \"test code\" },\n]\n".to_owned()
        + &one_group("server", "reference/server/**", 80)
        + &one_group("all", "**", 70);
    let gates = scratch.write("gates.toml", &text);
    let export = scratch.export(vec![
        scratch.file("reference/server/src/lib.rs", &lines(10), &[]),
        scratch.file("reference/server/src/main.rs", &[], &lines(50)),
        scratch.file("reference/server/tests/http.rs", &[], &lines(50)),
    ]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.totals("server"), (10, 10));
    assert_eq!(out.totals("all"), (10, 10));
    assert!(
        out.stdout
            .contains("excluded: 1 file matching \"reference/server/src/main.rs\" (start-up)"),
        "{out:?}"
    );
}

#[test]
fn a_group_of_only_excluded_files_matches_no_files() {
    let scratch = Scratch::new();
    let text = "exclude = [{ pattern = \"cli/src/main.rs\", reason = \"start-up\" }]\n".to_owned()
        + &one_group("cli", "cli/**", 80);
    let gates = scratch.write("gates.toml", &text);
    let export = scratch.export(vec![scratch.file("cli/src/main.rs", &lines(10), &[])]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stdout.contains("group \"cli\" matches no files"),
        "{out:?}"
    );
}

#[test]
fn files_outside_the_root_are_ignored() {
    let scratch = Scratch::new();
    let gates = scratch.write("gates.toml", &one_group("all", "**", 70));
    let registry = Path::new("/nonexistent-home/.cargo/registry/src/serde-1.0.0/src/lib.rs");
    let export = scratch.export(vec![
        scratch.file("src/lib.rs", &lines(10), &[]),
        file_at(registry, &[], &lines(1000)),
    ]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.totals("all"), (10, 10));
    assert!(
        out.stdout.contains("ignored: 1 file outside the root"),
        "{out:?}"
    );
}

#[test]
fn a_wrong_root_is_hinted_at() {
    let scratch = Scratch::new();
    let gates = scratch.write("gates.toml", &one_group("all", "**", 70));
    let elsewhere = Path::new("/nonexistent-checkout/src/lib.rs");
    let export = scratch.export(vec![file_at(elsewhere, &lines(10), &[])]);
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("check --root"), "{out:?}");
}

#[test]
fn the_shipped_gates_pass_on_a_healthy_repository() {
    let scratch = Scratch::new();
    // The default --gates is ROOT/coverage/gates.toml.
    scratch.write("coverage/gates.toml", SHIPPED_GATES);
    let export = scratch.export(vec![
        scratch.file("reference/error/src/lib.rs", &lines(99), &[100]),
        scratch.file(
            "reference/error/src/safe_mutex.rs",
            &lines(97),
            &lines_from(98, 3),
        ),
        scratch.file(
            "reference/server/src/lib.rs",
            &lines(60),
            &lines_from(61, 40),
        ),
        scratch.file("reference/server/src/main.rs", &[], &lines(100)),
        scratch.file("reference/server/src/mutants.rs", &[], &lines(100)),
        scratch.file("reference/auth/src/mutants.rs", &[], &lines(100)),
        scratch.file("reference/auth/src/lib.rs", &lines(99), &[100]),
        scratch.file("reference/security/src/mutants.rs", &[], &lines(100)),
        scratch.file(
            "reference/security/src/rate_limit/window.rs",
            &lines(99),
            &[100],
        ),
        scratch.file("reference/security/src/csrf/manager.rs", &lines(99), &[100]),
        scratch.file("reference/client/src/bump.rs", &lines(99), &[100]),
        scratch.file("reference/query/src/mutants.rs", &[], &lines(100)),
        scratch.file("reference/query/src/client.rs", &lines(99), &[100]),
        scratch.file("reference/sync/src/mutants.rs", &[], &lines(100)),
        scratch.file("reference/sync/src/manager.rs", &lines(99), &[100]),
        scratch.file("reference/ssr/src/render.rs", &lines(99), &[100]),
        scratch.file("properties/cli/src/main.rs", &[], &lines(100)),
        scratch.file("properties/src/runner.rs", &lines(99), &[100]),
    ]);
    let args = [
        "--export".to_owned(),
        export.display().to_string(),
        "--root".to_owned(),
        scratch.path().display().to_string(),
    ];
    let out = run(scratch.path(), &args);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict("error"), "PASS");
    assert_eq!(out.totals("error"), (200, 196));
    assert_eq!(out.verdict("auth"), "PASS");
    assert_eq!(out.totals("auth"), (100, 99));
    assert_eq!(out.verdict("rate limiter"), "PASS");
    assert_eq!(out.verdict("csrf"), "PASS");
    assert_eq!(out.totals("workspace"), (1100, 1048));
    assert_eq!(out.verdict("suite"), "PASS", "{out:?}");
    assert_eq!(out.verdict("sync"), "PASS", "{out:?}");
    assert_eq!(out.totals("sync"), (100, 99));
    assert_eq!(out.verdict("client"), "PASS", "{out:?}");
    assert_eq!(out.totals("client"), (100, 99));
    assert_eq!(out.verdict("ssr"), "PASS", "{out:?}");
    assert_eq!(out.totals("ssr"), (100, 99));
    assert_eq!(out.verdict("query"), "PASS", "{out:?}");
    assert_eq!(
        out.totals("query"),
        (100, 99),
        "the mutant switches are excluded"
    );
    assert_eq!(
        out.summary(),
        "coverage gate: 10 groups passed, 0 failed, 0 pending"
    );
}

/// The shipped "error" group is ratcheted above the design's 80%: losing a
/// few covered lines, in total or in one file, fails the gate.
#[test]
fn the_shipped_error_group_fails_on_its_ratchet_and_its_file_floor() {
    let scratch = Scratch::new();
    scratch.write("coverage/gates.toml", SHIPPED_GATES);
    let (covered, uncovered) = safe_mutex_lines();
    let gate = |files: Vec<Value>| {
        let export = scratch.export(files);
        let args = [
            "--export".to_owned(),
            export.display().to_string(),
            "--root".to_owned(),
            scratch.path().display().to_string(),
        ];
        run(scratch.path(), &args)
    };
    // 713/728 = 97.93%: the total passes, safe_mutex.rs is under the 95% file floor.
    let out = gate(vec![
        scratch.file("reference/error/src/lib.rs", &lines(600), &[]),
        scratch.file("reference/error/src/safe_mutex.rs", &covered, &uncovered),
    ]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.row("error")[2..], ["97.93", "97%", "FAIL"], "{out:?}");
    assert_eq!(out.verdict("workspace"), "PASS");
    assert!(
        out.stdout.contains(
            "reference/error/src/safe_mutex.rs has 88.28% < file floor 95%: 113/128 lines covered"
        ),
        "{out:?}"
    );
    assert!(out.stdout.contains("uncovered: 40-45, 120-128"), "{out:?}");
    // 96/100, every file at 96%: above the design's 80%, under the ratchet.
    let out = gate(vec![
        scratch.file("reference/error/src/lib.rs", &lines(48), &[49, 50]),
        scratch.file("reference/error/src/codes.rs", &lines(48), &[49, 50]),
    ]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.verdict("error"), "FAIL");
    assert!(
        out.stdout
            .contains("FAIL: group \"error\" is at 96.00%, below 97%"),
        "{out:?}"
    );
    assert!(!out.stdout.contains("file floor"), "{out:?}");
}

#[test]
fn list_groups_prints_live_groups_and_their_patterns() {
    let scratch = Scratch::new();
    scratch.write("coverage/gates.toml", SHIPPED_GATES);
    let out = run(scratch.path(), &["--list-groups".to_owned()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout,
        "error\treference/error/src/**\nauth\treference/auth/src/**\nclient\treference/client/src/**\nclient\treference/htip/src/**\nrate limiter\treference/security/src/rate_limit/**\ncsrf\treference/security/src/csrf/**\nquery\treference/query/src/**\nsync\treference/sync/src/**\nssr\treference/ssr/src/**\nsuite\tproperties/src/**\nsuite\tfeatures/src/**\nworkspace\t**\n",
        "{out:?}"
    );
}

#[test]
fn malformed_json_is_an_input_error() {
    let scratch = Scratch::new();
    let gates = scratch.write("gates.toml", &one_group("all", "**", 70));
    let export = scratch.write("cov.json", "{\"data\": [{\"files\": [");
    let out = scratch.gate(&export, &gates, &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("malformed coverage export"), "{out:?}");
    let lcov = scratch.write("lcov.json", "{\"type\": \"something.else\", \"data\": []}");
    let out = scratch.gate(&lcov, &gates, &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("not an llvm-cov JSON export"),
        "{out:?}"
    );
}

#[test]
fn malformed_or_invalid_gates_are_input_errors() {
    let scratch = Scratch::new();
    let export = scratch.export(vec![scratch.file("src/lib.rs", &lines(10), &[])]);
    let broken = scratch.write("broken.toml", "[[group]\nname = ");
    let out = scratch.gate(&export, &broken, &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("malformed gates file"), "{out:?}");
    let too_high = scratch.write("high.toml", &one_group("all", "**", 120));
    let out = scratch.gate(&export, &too_high, &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("invalid gates file"), "{out:?}");
    let floor = scratch.write("floor.toml", &floored_group("all", "**", 70, 101));
    let out = scratch.gate(&export, &floor, &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("group \"all\": min_file_lines 101 is not a percentage"),
        "{out:?}"
    );
}

#[test]
fn missing_files_are_input_errors() {
    let scratch = Scratch::new();
    let gates = scratch.write("gates.toml", &one_group("all", "**", 70));
    let out = scratch.gate(&scratch.path().join("absent.json"), &gates, &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("cannot read coverage export"),
        "{out:?}"
    );
    let export = scratch.export(vec![]);
    let out = scratch.gate(&export, &scratch.path().join("absent.toml"), &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("cannot read gates file"), "{out:?}");
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let scratch = Scratch::new();
    for args in [
        vec!["--bogus"],
        vec![],
        vec!["--export"],
        vec!["--export", "x.json", "--worst", "many"],
        vec!["--export", "x.json", "stray"],
    ] {
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let out = run(scratch.path(), &args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("usage: coverage-gate"),
            "{args:?}: {out:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    let help = run(scratch.path(), &["--help".to_owned()]);
    assert_eq!(help.code, Some(0), "{help:?}");
    assert!(help.stdout.contains("usage: coverage-gate"));
}
