//! Which lines of a file are uncovered, recomputed from the export's
//! segments so the report can say *where* to add tests.
//!
//! The rule mirrors llvm-cov's own line statistics (`LineCoverageStats`), so
//! the lines found here are the ones `llvm-cov show` and the HTML report mark
//! as not executed:
//!
//! * a line's *starting* segments are those that begin on it; its *wrapped*
//!   segment is the last one that began on an earlier line (still in force);
//! * a line is executable if a counted region starts on it, or if the wrapped
//!   segment has a count, unless the line opens a skipped region (first
//!   starting segment is a region entry without count);
//! * its count is the wrapped count, raised to the largest count of the
//!   non-gap region entries starting on it;
//! * an executable line with count 0 is uncovered.
//!
//! Only the lines from the first to the last segment are considered.
//!
//! The gate's totals still come from the export's summaries (the numbers
//! `cargo llvm-cov` prints); llvm-cov sums those per function, so a line
//! holding a closure counts twice there and totals may differ by a few lines
//! from a count of the lines found here.

use crate::export::Segment;

/// The execution count of each executable line, in line order.
pub fn line_counts(segments: &[Segment]) -> Vec<(u64, u64)> {
    let mut sorted = segments.to_vec();
    sorted.sort_by_key(|s| (s.line, s.col));
    let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let (first_line, last_line) = (first.line, last.line);
    let mut counts = Vec::new();
    let mut wrapped: Option<Segment> = None;
    let mut rest = sorted.as_slice();
    for line in first_line..=last_line {
        let starting = rest.iter().take_while(|s| s.line == line).count();
        let (on_line, after) = rest.split_at(starting);
        rest = after;
        if let Some(count) = line_count(on_line, wrapped) {
            counts.push((line, count));
        }
        if let Some(last) = on_line.last() {
            wrapped = Some(*last);
        }
    }
    counts
}

/// One line's count, or `None` when the line is not executable.
fn line_count(starting: &[Segment], wrapped: Option<Segment>) -> Option<u64> {
    let starts_region = |s: &&Segment| !s.is_gap_region && s.has_count && s.is_region_entry;
    let region_starts = starting.iter().filter(starts_region).count();
    let skipped = starting
        .first()
        .is_some_and(|s| !s.has_count && s.is_region_entry);
    let wrapped_counted = wrapped.is_some_and(|w| w.has_count);
    let mapped = (!skipped && (wrapped_counted || region_starts > 0))
        || starting.iter().any(|s| s.is_region_entry && s.has_count);
    if !mapped {
        return None;
    }
    let base = wrapped.map_or(0, |w| w.count);
    Some(
        starting
            .iter()
            .filter(starts_region)
            .map(|s| s.count)
            .fold(base, u64::max),
    )
}

/// The executable lines that never ran.
pub fn uncovered_lines(segments: &[Segment]) -> Vec<u64> {
    line_counts(segments)
        .into_iter()
        .filter(|&(_, count)| count == 0)
        .map(|(line, _)| line)
        .collect()
}

/// Compresses sorted line numbers into ranges: `[12..=18, 40]` -> "12-18, 40".
pub fn ranges(lines: &[u64]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = lines.iter().copied();
    let Some(mut start) = iter.next() else {
        return out;
    };
    let mut end = start;
    for line in iter {
        if line == end + 1 {
            end = line;
            continue;
        }
        out.push(range(start, end));
        start = line;
        end = line;
    }
    out.push(range(start, end));
    out
}

fn range(start: u64, end: u64) -> String {
    if start == end {
        start.to_string()
    } else {
        format!("{start}-{end}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(line: u64, col: u64, count: u64, has_count: bool, entry: bool) -> Segment {
        Segment {
            line,
            col,
            count,
            has_count,
            is_region_entry: entry,
            is_gap_region: false,
        }
    }

    #[test]
    fn compresses_ranges() {
        assert_eq!(
            ranges(&[12, 13, 14, 15, 16, 17, 18, 40]).join(", "),
            "12-18, 40"
        );
        assert_eq!(ranges(&[1, 3, 4]).join(", "), "1, 3-4");
        assert!(ranges(&[]).is_empty());
    }

    #[test]
    fn a_multi_line_region_with_count_zero_is_uncovered_throughout() {
        // fn body 1..=20 ran once; an `if` body 12..=18 never did.
        let segments = [
            seg(1, 1, 1, true, true),
            seg(12, 10, 0, true, true),
            seg(18, 6, 1, true, false),
            seg(20, 2, 0, false, false),
        ];
        // Line 12 keeps the function's count (its `if` condition ran); the
        // body and the line that closes it (where the count 0 still wraps)
        // did not run.
        assert_eq!(uncovered_lines(&segments), (13..=18).collect::<Vec<_>>());
        let counts = line_counts(&segments);
        assert_eq!(counts.len(), 20);
        assert_eq!(counts[11], (12, 1));
        assert_eq!(counts[19], (20, 1));
    }

    #[test]
    fn a_covered_region_starting_on_a_line_makes_it_covered() {
        let segments = [
            seg(1, 1, 0, true, true),
            seg(1, 9, 3, true, true),
            seg(2, 1, 0, false, false),
        ];
        // Line 2 still has the count wrapped from line 1, as in llvm-cov.
        assert_eq!(line_counts(&segments), vec![(1, 3), (2, 3)]);
        assert!(uncovered_lines(&segments).is_empty());
    }

    #[test]
    fn lines_outside_regions_and_skipped_regions_do_not_count() {
        let segments = [
            seg(1, 1, 0, true, true),
            seg(2, 2, 0, false, false),
            // Lines 3..=4 are outside any region; 5 starts a skipped region.
            seg(5, 1, 0, false, true),
            seg(6, 1, 0, false, false),
        ];
        assert_eq!(uncovered_lines(&segments), vec![1, 2]);
    }

    #[test]
    fn gap_regions_do_not_raise_a_line_count() {
        let mut gap = seg(3, 1, 7, true, true);
        gap.is_gap_region = true;
        let segments = [seg(1, 1, 0, true, true), gap, seg(4, 1, 0, false, false)];
        // Line 3: the gap region does not count, the wrapped count 0 does.
        assert_eq!(line_counts(&segments), vec![(1, 0), (2, 0), (3, 0), (4, 7)]);
    }

    #[test]
    fn no_segments_no_lines() {
        assert!(line_counts(&[]).is_empty());
    }
}
