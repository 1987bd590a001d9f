//! The human-readable report: the table of groups, then for each failing
//! group where the missing coverage is, so a red build says what to test.
//! A group failing on its total lists its `--worst` least-covered files; a
//! group with a file floor lists every file under it, whatever `--worst`.

use std::io::{self, Write};

use crate::config::Gates;
use crate::export::FileCoverage;
use crate::gate::{Evaluation, Failure, GroupResult, Verdict, by_coverage};
use crate::percent::format_ratio;
use crate::uncovered::{ranges, uncovered_lines};

/// Ranges shown per file before the rest is summarised, to keep lines short.
const MAX_RANGES: usize = 12;

/// What the report needs besides the evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub gates: &'a Gates,
    /// Shown in the hint when nothing of the export lies under it.
    pub root: &'a str,
    pub files_under_root: usize,
    pub outside_root: usize,
    /// How many least-covered files to list per failing group.
    pub worst: usize,
}

/// Writes the whole report, ending with the one-line summary.
pub fn write(out: &mut dyn Write, eval: &Evaluation<'_>, ctx: &Context<'_>) -> io::Result<()> {
    write_table(out, eval)?;
    let mut notes = Vec::new();
    for result in &eval.groups {
        notes.extend(group_notes(result, ctx.worst));
    }
    for (exclude, &count) in ctx.gates.excludes.iter().zip(&eval.excluded) {
        if count > 0 {
            notes.push(format!(
                "excluded: {count} {} matching {:?} ({})",
                plural(count, "file"),
                exclude.pattern.as_str(),
                exclude.reason
            ));
        }
    }
    if ctx.outside_root > 0 {
        notes.push(format!(
            "ignored: {} {} outside the root {} (dependencies, toolchain)",
            ctx.outside_root,
            plural(ctx.outside_root, "file"),
            ctx.root
        ));
        if ctx.files_under_root == 0 {
            notes.push(format!(
                "hint: no file of the export lies under {}: check --root",
                ctx.root
            ));
        }
    }
    if !notes.is_empty() {
        writeln!(out)?;
        for note in notes {
            writeln!(out, "{note}")?;
        }
    }
    let (passed, failed, pending) = eval.tally();
    writeln!(out)?;
    writeln!(
        out,
        "coverage gate: {passed} groups passed, {failed} failed, {pending} pending"
    )
}

fn write_table(out: &mut dyn Write, eval: &Evaluation<'_>) -> io::Result<()> {
    let header = ["group", "lines", "covered", "%", "threshold", "verdict"].map(String::from);
    let rows: Vec<[String; 6]> = eval
        .groups
        .iter()
        .map(|r| {
            [
                r.group.name.clone(),
                r.lines.to_string(),
                r.covered.to_string(),
                format_ratio(r.covered, r.lines),
                r.group.min_lines.to_string(),
                verdict_label(r.verdict).to_owned(),
            ]
        })
        .collect();
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let [name, lines, covered, pct, threshold, verdict] = row;
        let [w0, w1, w2, w3, w4, _] = widths;
        writeln!(
            out,
            "{name:<w0$}  {lines:>w1$}  {covered:>w2$}  {pct:>w3$}  {threshold:>w4$}  {verdict}"
        )?;
    }
    Ok(())
}

fn verdict_label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail(_) => "FAIL",
        Verdict::Pending => "PENDING",
    }
}

/// The explanation lines for one group, if it needs any.
fn group_notes(result: &GroupResult<'_>, worst: usize) -> Vec<String> {
    let name = &result.group.name;
    match result.verdict {
        Verdict::Pass => Vec::new(),
        Verdict::Fail(Failure::NoFiles) => vec![format!(
            "FAIL: group {name:?} matches no files: a renamed folder must not make the gate vacuous"
        )],
        Verdict::Fail(Failure::NoLines) => vec![format!(
            "FAIL: group {name:?} matches {} {} but no executable line: the gate would be vacuous",
            result.files.len(),
            plural(result.files.len(), "file")
        )],
        Verdict::Fail(Failure::Shortfall) => {
            let mut notes = shortfall_notes(result, worst);
            notes.extend(floor_notes(result));
            notes
        }
        Verdict::Fail(Failure::FileFloor) => floor_notes(result),
        Verdict::Pending if result.pending_with_code() => vec![format!(
            "warning: pending group {name:?} now has code: remove the pending mark ({} {}, {}%)",
            result.files.len(),
            plural(result.files.len(), "file"),
            format_ratio(result.covered, result.lines)
        )],
        Verdict::Pending => vec![format!(
            "pending: {name:?}: {}",
            result.group.pending.as_deref().unwrap_or_default()
        )],
    }
}

fn shortfall_notes(result: &GroupResult<'_>, worst: usize) -> Vec<String> {
    let threshold = result.group.min_lines;
    let mut notes = vec![format!(
        "FAIL: group {:?} is at {}%, below {threshold}: {} of {} lines covered, {} more needed",
        result.group.name,
        format_ratio(result.covered, result.lines),
        result.covered,
        result.lines,
        threshold.missing_lines(result.covered, result.lines)
    )];
    let files = least_covered(&result.files, worst);
    if files.is_empty() {
        return notes;
    }
    notes.push(format!("  {} least-covered files:", files.len()));
    let path_width = files
        .iter()
        .map(|f| f.path.chars().count())
        .max()
        .unwrap_or(0);
    let ratio_width = files
        .iter()
        .map(|f| format!("{}/{}", f.covered, f.lines).len())
        .max()
        .unwrap_or(0);
    for file in files {
        let ratio = format!("{}/{}", file.covered, file.lines);
        notes.push(format!(
            "    {:<path_width$}  {ratio:>ratio_width$}  {:>6}%  uncovered: {}",
            file.path,
            format_ratio(file.covered, file.lines),
            uncovered_summary(file)
        ));
    }
    notes
}

/// One line per file under the group's file floor, least covered first.
fn floor_notes(result: &GroupResult<'_>) -> Vec<String> {
    let Some(floor) = result.group.min_file_lines else {
        return Vec::new();
    };
    result
        .under_floor
        .iter()
        .map(|file| {
            format!(
                "FAIL: group {:?}: {} has {}% < file floor {floor}: {}/{} lines covered, \
                 {} more needed, uncovered: {}",
                result.group.name,
                file.path,
                format_ratio(file.covered, file.lines),
                file.covered,
                file.lines,
                floor.missing_lines(file.covered, file.lines),
                uncovered_summary(file)
            )
        })
        .collect()
}

/// The `n` files with the lowest coverage (ties: most uncovered lines first),
/// leaving out files with nothing left to cover.
fn least_covered<'a>(files: &[&'a FileCoverage], n: usize) -> Vec<&'a FileCoverage> {
    let mut candidates: Vec<&FileCoverage> = files
        .iter()
        .copied()
        .filter(|f| f.covered < f.lines)
        .collect();
    candidates.sort_by(|a, b| by_coverage(a, b));
    candidates.truncate(n);
    candidates
}

fn uncovered_summary(file: &FileCoverage) -> String {
    if file.segments.is_empty() {
        return "unknown (the export has no segments: do not use --summary-only)".to_owned();
    }
    let all = ranges(&uncovered_lines(&file.segments));
    if all.is_empty() {
        return "none found in segments".to_owned();
    }
    let shown = all
        .iter()
        .take(MAX_RANGES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match all.len().saturating_sub(MAX_RANGES) {
        0 => shown,
        more => format!("{shown}, ... ({more} more ranges)"),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, lines: u64, covered: u64) -> FileCoverage {
        FileCoverage {
            path: path.to_owned(),
            lines,
            covered,
            segments: Vec::new(),
        }
    }

    #[test]
    fn least_covered_orders_by_ratio_then_missed_lines() {
        let files = [
            file("full.rs", 10, 10),
            file("half_small.rs", 2, 1),
            file("half_big.rs", 100, 50),
            file("zero.rs", 1, 0),
            file("most.rs", 10, 9),
        ];
        let refs: Vec<&FileCoverage> = files.iter().collect();
        let worst: Vec<&str> = least_covered(&refs, 3)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(worst, ["zero.rs", "half_big.rs", "half_small.rs"]);
        assert_eq!(least_covered(&refs, 10).len(), 4);
        assert!(least_covered(&refs, 0).is_empty());
    }

    fn report(gates_text: &str, files: &[FileCoverage], worst: usize) -> String {
        let gates = crate::config::parse(gates_text, std::path::Path::new("g.toml")).unwrap();
        let eval = crate::gate::evaluate(&gates, files);
        let ctx = Context {
            gates: &gates,
            root: ".",
            files_under_root: files.len(),
            outside_root: 0,
            worst,
        };
        let mut out = Vec::new();
        write(&mut out, &eval, &ctx).unwrap();
        String::from_utf8(out).unwrap()
    }

    use crate::gate::tests::FLOORED;

    #[test]
    fn files_under_the_floor_are_each_listed_whatever_worst_says() {
        let files = [
            file("e/full.rs", 100, 100),
            file("e/safe_mutex.rs", 128, 113),
            file("e/lower.rs", 20, 17),
        ];
        let text = report(FLOORED, &files, 0);
        let floor: Vec<&str> = text.lines().filter(|l| l.contains("file floor")).collect();
        assert_eq!(
            floor,
            [
                "FAIL: group \"error\": e/lower.rs has 85.00% < file floor 90%: 17/20 lines covered, \
                 1 more needed, uncovered: unknown (the export has no segments: do not use --summary-only)",
                "FAIL: group \"error\": e/safe_mutex.rs has 88.28% < file floor 90%: 113/128 lines \
                 covered, 3 more needed, uncovered: unknown (the export has no segments: do not use \
                 --summary-only)",
            ],
            "{text}"
        );
        assert!(!text.contains("least-covered"), "{text}");
        let row: Vec<&str> = text
            .lines()
            .find(|l| l.starts_with("error "))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            row,
            ["error", "248", "230", "92.74", "80%", "FAIL"],
            "{text}"
        );
    }

    #[test]
    fn a_total_shortfall_lists_the_worst_files_and_the_floor() {
        let files = [file("e/a.rs", 10, 10), file("e/b.rs", 10, 5)];
        let text = report(FLOORED, &files, 1);
        assert!(
            text.contains("FAIL: group \"error\" is at 75.00%, below 80%"),
            "{text}"
        );
        assert!(text.contains("1 least-covered files:"), "{text}");
        assert!(
            text.contains("FAIL: group \"error\": e/b.rs has 50.00% < file floor 90%"),
            "{text}"
        );
    }

    #[test]
    fn long_range_lists_are_cut() {
        let mut f = file("a.rs", 100, 0);
        // Twenty separate uncovered lines: 1, 3, 5, ...
        f.segments = (0..20)
            .flat_map(|i| {
                let line = 1 + 2 * i;
                [
                    crate::export::Segment {
                        line,
                        col: 1,
                        count: 0,
                        has_count: true,
                        is_region_entry: true,
                        is_gap_region: false,
                    },
                    crate::export::Segment {
                        line,
                        col: 9,
                        count: 0,
                        has_count: false,
                        is_region_entry: false,
                        is_gap_region: false,
                    },
                ]
            })
            .collect();
        let summary = uncovered_summary(&f);
        assert!(summary.starts_with("1, 3, 5"), "{summary}");
        assert!(summary.ends_with("... (8 more ranges)"), "{summary}");
    }
}
