//! The verdict of each group: its files, line totals and pass/fail/pending.
//! A file may count in several groups; an excluded file counts in none.
//! A group with a file floor (`min_file_lines`) also fails when one of its
//! files with executable lines is under the floor, whatever its total.

use std::cmp::Ordering;

use crate::config::{Gates, Group};
use crate::export::FileCoverage;

/// Why a live group fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The group's total is below `min_lines` (files may also be under the
    /// floor: see [`GroupResult::under_floor`]).
    Shortfall,
    /// The total passes but a file is under the floor `min_file_lines`.
    FileFloor,
    /// No file matches: a renamed folder would otherwise pass vacuously.
    NoFiles,
    /// Files match but none has an executable line: just as vacuous.
    NoLines,
}

/// The outcome for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(Failure),
    /// Marked pending in gates.toml: reported, never failing.
    Pending,
}

/// One group's totals and verdict.
#[derive(Debug, Clone)]
pub struct GroupResult<'a> {
    pub group: &'a Group,
    pub files: Vec<&'a FileCoverage>,
    pub lines: u64,
    pub covered: u64,
    /// Files of a live group under its file floor, least covered first;
    /// empty without a floor, for a pending group and for files with no
    /// executable line.
    pub under_floor: Vec<&'a FileCoverage>,
    pub verdict: Verdict,
}

impl GroupResult<'_> {
    /// A pending group whose code has landed: the pending mark is now stale.
    pub fn pending_with_code(&self) -> bool {
        self.verdict == Verdict::Pending && !self.files.is_empty()
    }
}

/// The verdicts of all groups, plus what the exclusions removed.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    pub groups: Vec<GroupResult<'a>>,
    /// Number of files removed by each `[exclude]` entry, in file order.
    pub excluded: Vec<usize>,
}

impl Evaluation<'_> {
    /// `(passed, failed, pending)` group counts.
    pub fn tally(&self) -> (usize, usize, usize) {
        self.groups
            .iter()
            .fold((0, 0, 0), |(p, f, n), g| match g.verdict {
                Verdict::Pass => (p + 1, f, n),
                Verdict::Fail(_) => (p, f + 1, n),
                Verdict::Pending => (p, f, n + 1),
            })
    }

    /// 0 when every live group passes, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        let (_, failed, _) = self.tally();
        u8::from(failed > 0)
    }
}

/// Assigns files to groups and judges each group.
pub fn evaluate<'a>(gates: &'a Gates, files: &'a [FileCoverage]) -> Evaluation<'a> {
    let mut excluded = vec![0; gates.excludes.len()];
    let mut included = Vec::with_capacity(files.len());
    for file in files {
        match gates.exclusion_of(&file.path) {
            Some(index) => {
                if let Some(n) = excluded.get_mut(index) {
                    *n += 1;
                }
            }
            None => included.push(file),
        }
    }
    let groups = gates
        .groups
        .iter()
        .map(|group| judge(group, &included))
        .collect();
    Evaluation { groups, excluded }
}

fn judge<'a>(group: &'a Group, included: &[&'a FileCoverage]) -> GroupResult<'a> {
    let files: Vec<&FileCoverage> = included
        .iter()
        .copied()
        .filter(|f| group.contains(&f.path))
        .collect();
    let lines = files.iter().map(|f| f.lines).sum();
    let covered = files.iter().map(|f| f.covered).sum();
    let under_floor = match group.min_file_lines {
        Some(floor) if group.pending.is_none() => {
            let mut under: Vec<&FileCoverage> = files
                .iter()
                .copied()
                .filter(|f| f.lines > 0 && !floor.is_met(f.covered, f.lines))
                .collect();
            under.sort_by(|a, b| by_coverage(a, b));
            under
        }
        _ => Vec::new(),
    };
    let verdict = if group.pending.is_some() {
        Verdict::Pending
    } else if files.is_empty() {
        Verdict::Fail(Failure::NoFiles)
    } else if lines == 0 {
        Verdict::Fail(Failure::NoLines)
    } else if !group.min_lines.is_met(covered, lines) {
        Verdict::Fail(Failure::Shortfall)
    } else if !under_floor.is_empty() {
        Verdict::Fail(Failure::FileFloor)
    } else {
        Verdict::Pass
    };
    GroupResult {
        group,
        files,
        lines,
        covered,
        under_floor,
        verdict,
    }
}

/// Least covered first: lowest ratio (compared exactly), then most uncovered
/// lines, then path.
pub fn by_coverage(a: &FileCoverage, b: &FileCoverage) -> Ordering {
    let ratio = (u128::from(a.covered) * u128::from(b.lines))
        .cmp(&(u128::from(b.covered) * u128::from(a.lines)));
    let missed = |f: &FileCoverage| f.lines.saturating_sub(f.covered);
    ratio
        .then_with(|| missed(b).cmp(&missed(a)))
        .then_with(|| a.path.cmp(&b.path))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;
    use crate::config;

    fn gates(text: &str) -> Gates {
        config::parse(text, Path::new("g.toml")).unwrap()
    }

    fn file(path: &str, lines: u64, covered: u64) -> FileCoverage {
        FileCoverage {
            path: path.to_owned(),
            lines,
            covered,
            segments: Vec::new(),
        }
    }

    const TWO_GROUPS: &str = r#"
        exclude = [{ pattern = "a/src/main.rs", reason = "start-up" }]
        [[group]]
        name = "a"
        paths = ["a/src/**"]
        min_lines = 80
        [[group]]
        name = "all"
        paths = ["**"]
        min_lines = 70
    "#;

    #[test]
    fn boundary_passes_and_below_fails() {
        let g = gates(TWO_GROUPS);
        let at = [file("a/src/lib.rs", 10, 8)];
        let eval = evaluate(&g, &at);
        assert_eq!(eval.groups[0].verdict, Verdict::Pass);
        assert_eq!(eval.exit_code(), 0);
        let below = [file("a/src/lib.rs", 100, 79)];
        let eval = evaluate(&g, &below);
        assert_eq!(eval.groups[0].verdict, Verdict::Fail(Failure::Shortfall));
        assert_eq!(eval.groups[1].verdict, Verdict::Pass);
        assert_eq!(eval.exit_code(), 1);
        assert_eq!(eval.tally(), (1, 1, 0));
    }

    #[test]
    fn files_count_in_every_matching_group_but_excluded_in_none() {
        let g = gates(TWO_GROUPS);
        let files = [
            file("a/src/lib.rs", 10, 9),
            file("b/src/lib.rs", 10, 5),
            file("a/src/main.rs", 50, 0),
        ];
        let eval = evaluate(&g, &files);
        assert_eq!((eval.groups[0].lines, eval.groups[0].covered), (10, 9));
        assert_eq!((eval.groups[1].lines, eval.groups[1].covered), (20, 14));
        assert_eq!(eval.excluded, vec![1]);
    }

    #[test]
    fn empty_groups_fail_unless_pending() {
        let g = gates(
            r#"
            [[group]]
            name = "gone"
            paths = ["renamed/**"]
            min_lines = 80
            [[group]]
            name = "later"
            paths = ["later/**"]
            min_lines = 90
            pending = "not yet"
            [[group]]
            name = "hollow"
            paths = ["h/**"]
            min_lines = 90
            "#,
        );
        let files = [file("h/mod.rs", 0, 0)];
        let eval = evaluate(&g, &files);
        assert_eq!(eval.groups[0].verdict, Verdict::Fail(Failure::NoFiles));
        assert_eq!(eval.groups[1].verdict, Verdict::Pending);
        assert!(!eval.groups[1].pending_with_code());
        assert_eq!(eval.groups[2].verdict, Verdict::Fail(Failure::NoLines));
        assert_eq!(eval.tally(), (0, 2, 1));
    }

    /// A group with a 90 % file floor under an 80 % total, shared with the report's tests.
    pub(crate) const FLOORED: &str = r#"
        [[group]]
        name = "error"
        paths = ["e/**"]
        min_lines = 80
        min_file_lines = 90
    "#;

    #[test]
    fn a_file_under_the_floor_fails_a_group_whose_total_passes() {
        let g = gates(FLOORED);
        let files = [
            file("e/full.rs", 100, 100),
            file("e/low.rs", 128, 113),
            file("e/lower.rs", 10, 5),
            file("e/at.rs", 10, 9),
        ];
        let eval = evaluate(&g, &files);
        let result = &eval.groups[0];
        assert!(g.groups[0].min_lines.is_met(result.covered, result.lines));
        assert_eq!(result.verdict, Verdict::Fail(Failure::FileFloor));
        let under: Vec<&str> = result.under_floor.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(under, ["e/lower.rs", "e/low.rs"], "least covered first");
        assert_eq!(eval.exit_code(), 1);
        assert_eq!(eval.tally(), (0, 1, 0));
    }

    #[test]
    fn files_at_or_over_the_floor_pass() {
        let g = gates(FLOORED);
        let files = [file("e/at.rs", 10, 9), file("e/over.rs", 128, 127)];
        let eval = evaluate(&g, &files);
        assert_eq!(eval.groups[0].verdict, Verdict::Pass);
        assert!(eval.groups[0].under_floor.is_empty());
    }

    #[test]
    fn a_file_without_executable_lines_is_not_held_to_the_floor() {
        let g = gates(FLOORED);
        let files = [file("e/lib.rs", 10, 10), file("e/mod.rs", 0, 0)];
        let eval = evaluate(&g, &files);
        assert_eq!(eval.groups[0].verdict, Verdict::Pass);
        assert!(eval.groups[0].under_floor.is_empty());
    }

    #[test]
    fn a_total_shortfall_wins_but_the_floor_is_still_checked() {
        let g = gates(FLOORED);
        let files = [file("e/lib.rs", 10, 10), file("e/low.rs", 10, 5)];
        let eval = evaluate(&g, &files);
        assert_eq!(eval.groups[0].verdict, Verdict::Fail(Failure::Shortfall));
        assert_eq!(eval.groups[0].under_floor.len(), 1);
    }

    #[test]
    fn a_pending_group_with_a_floor_does_not_fail() {
        let g = gates(&format!("{FLOORED}pending = \"not yet\"\n"));
        let files = [file("e/lib.rs", 10, 10), file("e/low.rs", 10, 5)];
        let eval = evaluate(&g, &files);
        assert_eq!(eval.groups[0].verdict, Verdict::Pending);
        assert!(eval.groups[0].under_floor.is_empty());
        assert_eq!(eval.exit_code(), 0);
    }

    #[test]
    fn by_coverage_orders_by_ratio_then_missed_lines_then_path() {
        let (half_small, half_big) = (file("b.rs", 2, 1), file("a.rs", 100, 50));
        assert_eq!(by_coverage(&half_big, &half_small), Ordering::Less);
        let (x, y) = (file("x.rs", 4, 2), file("y.rs", 4, 2));
        assert_eq!(by_coverage(&x, &y), Ordering::Less);
        assert_eq!(by_coverage(&file("z.rs", 10, 1), &half_big), Ordering::Less);
    }

    #[test]
    fn pending_group_with_code_is_flagged_but_does_not_fail() {
        let g = gates(
            r#"
            [[group]]
            name = "later"
            paths = ["later/**"]
            min_lines = 90
            pending = "not yet"
            "#,
        );
        let files = [file("later/lib.rs", 10, 1)];
        let eval = evaluate(&g, &files);
        assert_eq!(eval.groups[0].verdict, Verdict::Pending);
        assert!(eval.groups[0].pending_with_code());
        assert_eq!(eval.exit_code(), 0);
    }
}
