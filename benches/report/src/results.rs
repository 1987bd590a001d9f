//! `benches/results.jsonl`: every bench's latest results, one JSON object a line, kept in the
//! repository so the report can be written again and a bench run alone replaces only its own.
//!
//! A bench writes `figure` and `count` lines (benches/record); the runner stamps each with the
//! bench's id, the machine, the commit and the date, and adds one `run` line per bench saying
//! how the run went.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// What the runner adds to every line a bench wrote.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// The bench's id.
    pub bench: String,
    /// The machine's label.
    pub machine: String,
    /// The commit measured.
    pub commit: String,
    /// When the bench ran (RFC 3339, UTC).
    pub date: String,
}

impl Stamp {
    fn apply(&self, object: &mut Map<String, Value>) {
        object.insert("bench".into(), self.bench.clone().into());
        object.insert("machine".into(), self.machine.clone().into());
        object.insert("commit".into(), self.commit.clone().into());
        object.insert("date".into(), self.date.clone().into());
    }
}

/// Parses what a bench wrote and stamps it; a line that is not a figure or a count is an error
/// naming it, so a broken bench cannot slip text into the report.
pub fn stamp(written: &str, stamp: &Stamp) -> anyhow::Result<Vec<Value>> {
    let mut lines = Vec::new();
    for (n, line) in written.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut value: Value = serde_json::from_str(line)
            .with_context(|| format!("result line {} is not JSON: {line:.120}", n + 1))?;
        let Some(object) = value.as_object_mut() else {
            bail!("result line {} is not an object", n + 1);
        };
        match object.get("kind").and_then(Value::as_str) {
            Some("figure" | "count") => {}
            other => bail!(
                "result line {} has kind {other:?}, not \"figure\" or \"count\"",
                n + 1
            ),
        }
        stamp.apply(object);
        lines.push(value);
    }
    Ok(lines)
}

/// Reads the store; a missing file is an empty store.
pub fn read(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{} line {} is not JSON", path.display(), n + 1))
        })
        .collect()
}

/// Writes the store, one object a line, atomically (a temporary file, then a rename).
pub fn write(path: &Path, lines: &[Value]) -> anyhow::Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let temporary = path.with_extension("jsonl.tmp");
    std::fs::write(&temporary, text).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

/// The store with `bench`'s lines replaced by `new` (a bench's results are only ever those of
/// its latest run).
pub fn replace(store: Vec<Value>, bench: &str, new: Vec<Value>) -> Vec<Value> {
    let mut kept: Vec<Value> = store
        .into_iter()
        .filter(|line| line.get("bench").and_then(Value::as_str) != Some(bench))
        .collect();
    kept.extend(new);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(bench: &str) -> Stamp {
        Stamp {
            bench: bench.into(),
            machine: "2 cores".into(),
            commit: "abc1234".into(),
            date: "2026-12-07T21:00:00Z".into(),
        }
    }

    #[test]
    fn what_a_bench_wrote_is_stamped_with_where_and_when() {
        let lines = stamp(
            "{\"kind\":\"figure\",\"figure\":\"x\"}\n\n{\"kind\":\"count\",\"what\":\"y\"}\n",
            &at("tokens"),
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["bench"], "tokens");
        assert_eq!(lines[1]["commit"], "abc1234");
    }

    #[test]
    fn a_line_that_is_not_a_result_is_refused_by_number() {
        let error = stamp("{\"kind\":\"figure\"}\nnot json\n", &at("a")).unwrap_err();
        assert!(format!("{error:#}").contains("line 2"), "{error:#}");
        let error = stamp("{\"kind\":\"run\"}\n", &at("a")).unwrap_err();
        assert!(format!("{error:#}").contains("kind"), "{error:#}");
        assert!(stamp("[1]\n", &at("a")).is_err());
    }

    #[test]
    fn a_bench_replaces_only_its_own_lines() {
        let store = vec![
            json!({"bench": "a", "v": 1}),
            json!({"bench": "b", "v": 2}),
            json!({"bench": "a", "v": 3}),
        ];
        let store = replace(store, "a", vec![json!({"bench": "a", "v": 4})]);
        assert_eq!(
            store,
            vec![json!({"bench": "b", "v": 2}), json!({"bench": "a", "v": 4})]
        );
    }

    #[test]
    fn the_store_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("dx-benchmarks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.jsonl");
        assert!(read(&path).unwrap().is_empty());
        let lines = vec![json!({"bench": "a"}), json!({"bench": "b", "x": [1, 2]})];
        write(&path, &lines).unwrap();
        assert_eq!(read(&path).unwrap(), lines);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
