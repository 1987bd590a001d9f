//! A benchmark's results as the benchmark report reads them.
//!
//! Every benchmark in the repository measures our code beside a peer in the same run and
//! prints what it measured for people. For the report (`cargo benchmarks`, which writes
//! `BENCHMARKS.md`) it also hands each result over as one JSON line, appended to the file
//! named by [`RESULTS_ENV`]. A run outside the report (no such variable) writes nothing, so a
//! benchmark run by hand behaves as before.
//!
//! Two kinds of result:
//! - a [`Figure`]: ours beside a peer measured in the same run, in one unit, with which way is
//!   better, the ratio ours / peer, and the goal the ratio (or our value) is held to;
//! - a [`Count`]: what a run holds whatever the speed, such as acknowledged writes lost (goal 0)
//!   or a fitted memory slope, with its bound.
//!
//! The report stamps each line with the benchmark's id, the machine, the commit and the date,
//! so a benchmark writes only what it measured.
//!
//! ```
//! use dx_bench_record::{Figure, Goal};
//! Figure::lower_is_better("token verify", "µs")
//!     .ours("TokenGenerator::verify_text", 51.2)
//!     .peer("VerifyingKey::verify_strict", 48.9)
//!     .goal(Goal::RatioAtMost(1.10), "everything around the signature under 10 %")
//!     .record()
//!     .unwrap();
//! ```

use std::fs::OpenOptions;
use std::io::{self, Write};

use serde_json::{Value, json};

/// The environment variable naming the JSON-lines file results are appended to.
pub const RESULTS_ENV: &str = "DX_BENCH_RESULTS";

/// Which way a figure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Times, bytes, memory.
    Lower,
    /// Rates, throughput.
    Higher,
}

impl Better {
    fn as_str(self) -> &'static str {
        match self {
            Self::Lower => "lower",
            Self::Higher => "higher",
        }
    }
}

/// What a figure or count is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// ours / peer at most this (e.g. 1.10: under 10 % overhead).
    RatioAtMost(f64),
    /// ours / peer at least this (e.g. 1.5: half again the peer's throughput).
    RatioAtLeast(f64),
    /// Our value at most this, in the figure's unit (a size budget, a count of losses).
    AtMost(f64),
    /// Our value at least this, in the figure's unit.
    AtLeast(f64),
}

impl Goal {
    fn test(self) -> (&'static str, f64) {
        match self {
            Self::RatioAtMost(b) => ("ratio_at_most", b),
            Self::RatioAtLeast(b) => ("ratio_at_least", b),
            Self::AtMost(b) => ("at_most", b),
            Self::AtLeast(b) => ("at_least", b),
        }
    }

    /// Whether `value` (ours) and `ratio` meet the goal; `None` when what it tests is unknown.
    pub fn met(self, value: f64, ratio: Option<f64>) -> Option<bool> {
        let finite = |x: f64| x.is_finite().then_some(x);
        match self {
            Self::RatioAtMost(b) => ratio.and_then(finite).map(|r| r <= b),
            Self::RatioAtLeast(b) => ratio.and_then(finite).map(|r| r >= b),
            Self::AtMost(b) => finite(value).map(|v| v <= b),
            Self::AtLeast(b) => finite(value).map(|v| v >= b),
        }
    }
}

/// One measured side of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// What was measured, as the benchmark names it.
    pub name: String,
    /// Its value, in the figure's unit.
    pub value: f64,
}

/// Ours beside a peer from the same run.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a figure is written only by `record`"]
pub struct Figure {
    figure: String,
    unit: String,
    better: Better,
    group: Option<String>,
    ours: Option<Side>,
    peer: Option<Side>,
    goal: Option<(Goal, String)>,
    note: Option<String>,
}

impl Figure {
    /// A figure where less is better (a time, a size).
    pub fn lower_is_better(figure: impl Into<String>, unit: impl Into<String>) -> Self {
        Self::new(figure, unit, Better::Lower)
    }

    /// A figure where more is better (a rate).
    pub fn higher_is_better(figure: impl Into<String>, unit: impl Into<String>) -> Self {
        Self::new(figure, unit, Better::Higher)
    }

    fn new(figure: impl Into<String>, unit: impl Into<String>, better: Better) -> Self {
        Self {
            figure: figure.into(),
            unit: unit.into(),
            better,
            group: None,
            ours: None,
            peer: None,
            goal: None,
            note: None,
        }
    }

    /// The part of the benchmark this figure belongs to (a page, a configuration), shown as a
    /// heading of its own in the report.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Our side.
    pub fn ours(mut self, name: impl Into<String>, value: f64) -> Self {
        self.ours = Some(Side {
            name: name.into(),
            value,
        });
        self
    }

    /// The peer's side, measured in the same run.
    pub fn peer(mut self, name: impl Into<String>, value: f64) -> Self {
        self.peer = Some(Side {
            name: name.into(),
            value,
        });
        self
    }

    /// The goal, and the words that say it to a reader.
    pub fn goal(mut self, goal: Goal, text: impl Into<String>) -> Self {
        self.goal = Some((goal, text.into()));
        self
    }

    /// A short remark shown beside the figure (how many rounds, what disturbed it).
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// ours / peer, when both are known and the peer is not zero.
    pub fn ratio(&self) -> Option<f64> {
        let (ours, peer) = (self.ours.as_ref()?, self.peer.as_ref()?);
        let ratio = ours.value / peer.value;
        ratio.is_finite().then_some(ratio)
    }

    /// The JSON line's object.
    pub fn to_json(&self) -> Value {
        let ratio = self.ratio();
        let ours = self.ours.as_ref().map_or(f64::NAN, |s| s.value);
        json!({
            "kind": "figure",
            "group": self.group,
            "figure": self.figure,
            "unit": self.unit,
            "better": self.better.as_str(),
            "ours": self.ours.as_ref().map(side_json),
            "peer": self.peer.as_ref().map(side_json),
            "ratio": ratio,
            "goal": self.goal.as_ref().map(|(g, text)| goal_json(*g, text)),
            "met": self.goal.as_ref().and_then(|(g, _)| g.met(ours, ratio)),
            "note": self.note,
        })
    }

    /// Appends the figure to the results file, if the report asked for one.
    pub fn record(self) -> io::Result<()> {
        append(&self.to_json())
    }
}

/// What a run holds whatever the speed: a count or a bound on one value.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a count is written only by `record`"]
pub struct Count {
    what: String,
    value: f64,
    unit: String,
    group: Option<String>,
    of: Option<f64>,
    goal: Option<(Goal, String)>,
    note: Option<String>,
}

impl Count {
    /// `value` of `what`, in `unit` (e.g. `Count::new("acknowledged writes lost", 0.0, "writes")`).
    pub fn new(what: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            value,
            unit: unit.into(),
            group: None,
            of: None,
            goal: None,
            note: None,
        }
    }

    /// The part of the benchmark this count belongs to.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Out of how many (e.g. 0 lost of 33,633 acknowledged).
    pub fn of(mut self, total: f64) -> Self {
        self.of = Some(total);
        self
    }

    /// The bound, and the words that say it.
    pub fn goal(mut self, goal: Goal, text: impl Into<String>) -> Self {
        self.goal = Some((goal, text.into()));
        self
    }

    /// A short remark shown beside the count.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The JSON line's object.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": "count",
            "group": self.group,
            "what": self.what,
            "value": finite(self.value),
            "unit": self.unit,
            "of": self.of.and_then(finite),
            "goal": self.goal.as_ref().map(|(g, text)| goal_json(*g, text)),
            "met": self.goal.as_ref().and_then(|(g, _)| g.met(self.value, None)),
            "note": self.note,
        })
    }

    /// Appends the count to the results file, if the report asked for one.
    pub fn record(self) -> io::Result<()> {
        append(&self.to_json())
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn side_json(side: &Side) -> Value {
    json!({ "name": side.name, "value": finite(side.value) })
}

fn goal_json(goal: Goal, text: &str) -> Value {
    let (test, bound) = goal.test();
    json!({ "text": text, "test": test, "bound": bound })
}

/// One line, written with a single `write` so lines from concurrent writers never interleave.
fn append(value: &Value) -> io::Result<()> {
    match std::env::var_os(RESULTS_ENV) {
        Some(path) => append_to(std::path::Path::new(&path), value),
        None => Ok(()),
    }
}

fn append_to(path: &std::path::Path, value: &Value) -> io::Result<()> {
    let mut line = value.to_string();
    line.push('\n');
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_carries_its_ratio_and_whether_it_met_its_goal() {
        let figure = Figure::lower_is_better("verify", "µs")
            .ours("ours", 55.0)
            .peer("raw", 50.0)
            .goal(Goal::RatioAtMost(1.10), "under 10 %");
        let json = figure.to_json();
        assert_eq!(json["ratio"], json!(1.1));
        assert_eq!(json["met"], json!(true));
        assert_eq!(json["goal"]["test"], "ratio_at_most");
        let missed = Figure::higher_is_better("rate", "1/s")
            .ours("ours", 10.0)
            .peer("peer", 20.0)
            .goal(Goal::RatioAtLeast(0.85), "85 %")
            .to_json();
        assert_eq!(missed["met"], json!(false));
        assert_eq!(missed["better"], "higher");
    }

    #[test]
    fn an_unknown_side_leaves_the_ratio_and_the_verdict_unknown() {
        let json = Figure::lower_is_better("t", "ms")
            .ours("ours", 1.0)
            .peer("peer", 0.0)
            .goal(Goal::RatioAtMost(2.0), "x")
            .to_json();
        assert_eq!(json["ratio"], Value::Null);
        assert_eq!(json["met"], Value::Null);
        let no_peer = Figure::lower_is_better("t", "ms").ours("ours", f64::NAN);
        assert_eq!(no_peer.to_json()["ours"]["value"], Value::Null);
    }

    #[test]
    fn lines_are_appended_one_json_object_each() {
        let dir = std::env::temp_dir().join(format!("dx-bench-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.jsonl");
        let _ = std::fs::remove_file(&path);
        append_to(&path, &Count::new("a", 1.0, "x").to_json()).unwrap();
        append_to(&path, &Count::new("b", 2.0, "x").to_json()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let whats: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["what"].to_string())
            .collect();
        assert_eq!(whats, ["\"a\"", "\"b\""]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_count_is_held_to_its_bound() {
        let lost = Count::new("lost", 0.0, "writes")
            .of(100.0)
            .goal(Goal::AtMost(0.0), "none");
        assert_eq!(lost.to_json()["met"], json!(true));
        let too_many = Count::new("lost", 1.0, "writes").goal(Goal::AtMost(0.0), "none");
        assert_eq!(too_many.to_json()["met"], json!(false));
    }
}
