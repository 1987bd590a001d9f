//! BENCHMARKS.md from the manifest and the results store.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::manifest::Bench;

/// The whole report.
pub fn render(benches: &[Bench], store: &[Value]) -> String {
    let mut out = String::new();
    let minutes: u32 = benches.iter().map(|b| b.minutes).sum();
    let _ = write!(
        out,
        "# Benchmarks\n\n\
         Written by `cargo benchmarks` from [benches/results.jsonl](benches/results.jsonl); do not edit it \
         by hand. `cargo benchmarks` runs every benchmark in [benches/benches.toml](benches/benches.toml) \
         (about {minutes} minutes on two cores once built; the first run builds each in release) and writes \
         this file again; `cargo benchmarks --only ID` runs one and replaces only its figures; \
         `cargo benchmarks --list` lists them. With `DATABASE_URL` and `REDIS_URL` set, the benches that \
         can measure PostgreSQL and Redis do.\n\n\
         Every figure is ours beside a peer measured in the same run of the same bench, never a published \
         number; the ratio is ours / peer, and the goal says which way is better. No test asserts a time: \
         these are measurements. Earlier measurements and the investigations behind the figures are in \
         [docs/measurements.md](docs/measurements.md); the suite's power (coverage, mutation scores) in \
         [docs/power.md](docs/power.md).\n\n"
    );
    goals(&mut out, benches, store);
    machines(&mut out, benches, store);
    for bench in benches {
        section(&mut out, bench, store);
    }
    out
}

fn lines_of<'a>(store: &'a [Value], bench: &str) -> impl Iterator<Item = &'a Value> {
    store
        .iter()
        .filter(move |l| str_of(l, "bench") == Some(bench))
}

fn run_of<'a>(store: &'a [Value], bench: &str) -> Option<&'a Value> {
    lines_of(store, bench).find(|l| str_of(l, "kind") == Some("run"))
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn goals(out: &mut String, benches: &[Bench], store: &[Value]) {
    let mut rows = Vec::new();
    let (mut met, mut missed, mut unknown) = (0, 0, 0);
    for bench in benches {
        for line in lines_of(store, &bench.id) {
            let Some(goal) = line.get("goal").filter(|g| !g.is_null()) else {
                continue;
            };
            let verdict = verdict(line.get("met"));
            match line.get("met").and_then(Value::as_bool) {
                Some(true) => met += 1,
                Some(false) => missed += 1,
                None => unknown += 1,
            }
            let what = match str_of(line, "kind") {
                Some("figure") => figure_name(line),
                _ => str_of(line, "what").unwrap_or("?").to_owned(),
            };
            let what = match str_of(line, "group") {
                Some(group) => format!("{group}: {what}"),
                None => what,
            };
            let value = match str_of(line, "kind") {
                Some("figure") => ratio_text(line.get("ratio")),
                _ => value_text(line.get("value"), str_of(line, "unit")),
            };
            rows.push(format!(
                "| [{}](#{}) | {} | {} | {} | {} |",
                bench.id,
                anchor(&bench.title),
                cell(&what),
                value,
                cell(str_of(goal, "text").unwrap_or("")),
                verdict
            ));
        }
    }
    let _ = writeln!(
        out,
        "## Goals\n\n{met} met, {missed} not met{}.\n",
        if unknown > 0 {
            format!(", {unknown} not measured")
        } else {
            String::new()
        }
    );
    if !rows.is_empty() {
        out.push_str("| bench | figure | ratio or value | goal | |\n|---|---|---:|---|---|\n");
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
        out.push('\n');
    }
}

fn machines(out: &mut String, benches: &[Bench], store: &[Value]) {
    let mut by_machine: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for bench in benches {
        if let Some(run) = run_of(store, &bench.id) {
            let label = str_of(run, "machine").unwrap_or("?").to_owned();
            let rustc = run
                .get("machine_details")
                .and_then(|m| str_of(m, "rustc"))
                .unwrap_or("?")
                .to_owned();
            let entry = by_machine.entry(label).or_insert((rustc, Vec::new()));
            entry.1.push(bench.id.clone());
        }
    }
    out.push_str("## Machines\n\n");
    if by_machine.is_empty() {
        out.push_str("No bench has run yet.\n\n");
        return;
    }
    out.push_str("| machine | compiler | benches |\n|---|---|---|\n");
    for (label, (rustc, ids)) in by_machine {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(&label),
            cell(&rustc),
            ids.join(", ")
        );
    }
    out.push('\n');
}

fn section(out: &mut String, bench: &Bench, store: &[Value]) {
    section_figures(out, bench, store);
    if let Some(remarks) = &bench.remarks {
        let _ = write!(out, "{}\n\n", remarks.trim());
    }
}

fn section_figures(out: &mut String, bench: &Bench, store: &[Value]) {
    let _ = write!(out, "## {}\n\n{}\n\n", bench.title, bench.about);
    let _ = writeln!(out, "`{}`", bench.command);
    let Some(run) = run_of(store, &bench.id) else {
        out.push_str("\nNot measured yet by `cargo benchmarks`.\n\n");
        return;
    };
    let load = match (
        run.get("load_before").and_then(Value::as_f64),
        run.get("load_after").and_then(Value::as_f64),
    ) {
        (Some(a), Some(b)) => format!(", load average {a:.1} → {b:.1}"),
        _ => String::new(),
    };
    let services = run.get("services").map_or(String::new(), |s| {
        let on: Vec<&str> = [("postgres", "PostgreSQL"), ("redis", "Redis")]
            .into_iter()
            .filter(|(key, _)| s.get(*key).and_then(Value::as_bool) == Some(true))
            .map(|(_, name)| name)
            .collect();
        if on.is_empty() {
            String::new()
        } else {
            format!(", with {}", on.join(" and "))
        }
    });
    let status = match str_of(run, "status") {
        Some("ok") => String::new(),
        Some(other) => format!(
            "\n\n**{}**: {}",
            other,
            str_of(run, "reason").unwrap_or("no reason given")
        ),
        None => "\n\n**status unknown**".to_owned(),
    };
    let _ = write!(
        out,
        "\nMeasured {} on {} at {}, {} s{load}{services}.{status}\n\n",
        date(str_of(run, "date")),
        str_of(run, "machine").unwrap_or("?"),
        str_of(run, "commit").unwrap_or("?"),
        run.get("seconds")
            .and_then(Value::as_f64)
            .map_or("?".to_owned(), |s| format!("{s:.0}")),
    );
    let mut groups: Vec<Option<&str>> = Vec::new();
    for line in lines_of(store, &bench.id) {
        if str_of(line, "kind") == Some("run") {
            continue;
        }
        let group = str_of(line, "group");
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    // The bench's own figures first, then each named part under its heading.
    groups.sort_by_key(Option::is_some);
    for group in groups {
        if let Some(group) = group {
            let _ = write!(out, "### {}: {group}\n\n", bench.id);
        }
        let in_group = |kind: &str| -> Vec<&Value> {
            lines_of(store, &bench.id)
                .filter(|l| str_of(l, "kind") == Some(kind) && str_of(l, "group") == group)
                .collect()
        };
        let figures = in_group("figure");
        if !figures.is_empty() {
            out.push_str("| figure | ours | peer | ratio | goal |\n|---|---:|---:|---:|---|\n");
            for line in figures {
                let unit = str_of(line, "unit");
                let side = |key: &str| value_text(line.get(key).and_then(|s| s.get("value")), unit);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    cell(&with_note(figure_name(line), line)),
                    side("ours"),
                    side("peer"),
                    ratio_text(line.get("ratio")),
                    goal_text(line)
                );
            }
            out.push('\n');
        }
        let counts = in_group("count");
        if !counts.is_empty() {
            out.push_str("| what | value | goal |\n|---|---:|---|\n");
            for line in counts {
                let unit = str_of(line, "unit");
                let mut value = value_text(line.get("value"), unit);
                if let Some(of) = line.get("of").and_then(Value::as_f64) {
                    let _ = write!(value, " of {}", number(of));
                }
                let what = with_note(str_of(line, "what").unwrap_or("?").to_owned(), line);
                let _ = writeln!(out, "| {} | {} | {} |", cell(&what), value, goal_text(line));
            }
            out.push('\n');
        }
    }
}

fn figure_name(line: &Value) -> String {
    let figure = str_of(line, "figure").unwrap_or("?");
    let name = |key: &str| line.get(key).and_then(|s| str_of(s, "name"));
    match (name("ours"), name("peer")) {
        (Some(ours), Some(peer)) => format!("{figure}: {ours} against {peer}"),
        (Some(ours), None) => format!("{figure}: {ours}"),
        _ => figure.to_owned(),
    }
}

fn with_note(text: String, line: &Value) -> String {
    match str_of(line, "note") {
        Some(note) => format!("{text} ({note})"),
        None => text,
    }
}

fn goal_text(line: &Value) -> String {
    let Some(goal) = line.get("goal").filter(|g| !g.is_null()) else {
        return String::new();
    };
    format!(
        "{}: {}",
        cell(str_of(goal, "text").unwrap_or("")),
        verdict(line.get("met"))
    )
}

fn verdict(met: Option<&Value>) -> &'static str {
    match met.and_then(Value::as_bool) {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

fn ratio_text(ratio: Option<&Value>) -> String {
    match ratio.and_then(Value::as_f64) {
        Some(r) if r >= 100.0 => format!("{r:.0}x"),
        Some(r) if r >= 0.1 => format!("{r:.2}x"),
        Some(r) => format!("{r:.3}x"),
        None => "–".to_owned(),
    }
}

fn value_text(value: Option<&Value>, unit: Option<&str>) -> String {
    match (value.and_then(Value::as_f64), unit) {
        (Some(v), Some(unit)) if !unit.is_empty() => format!("{} {unit}", number(v)),
        (Some(v), _) => number(v),
        (None, _) => "–".to_owned(),
    }
}

/// A number as a reader wants it: thousands separated, three significant digits below 100.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 || (a >= 100.0 && v.fract() == 0.0) || (v.fract() == 0.0 && a < 1e15) {
        let rounded = v.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        return if rounded < 0 {
            format!("-{grouped}")
        } else {
            grouped
        };
    }
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn date(rfc3339: Option<&str>) -> String {
    rfc3339
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map_or("at an unknown date".to_owned(), |d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
}

/// GitHub's anchor for a heading.
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Text safe in a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(33_633.0), "33,633");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1234.56), "1,235");
        assert_eq!(number(123.4), "123");
        assert_eq!(number(51.23), "51.2");
        assert_eq!(number(1.046), "1.05");
        assert_eq!(number(0.1234), "0.123");
        assert_eq!(number(-2500.0), "-2,500");
    }

    #[test]
    fn anchors_follow_github() {
        assert_eq!(
            anchor("`/health` while logins saturate"),
            "health-while-logins-saturate"
        );
        assert_eq!(
            anchor("DXDP patches against zstd, xdelta3"),
            "dxdp-patches-against-zstd-xdelta3"
        );
    }

    fn bench(id: &str) -> Bench {
        Bench {
            id: id.into(),
            title: format!("Bench {id}"),
            command: format!("cargo bench --bench {id}"),
            needs: Vec::new(),
            apt: Vec::new(),
            minutes: 2,
            about: format!("What {id} compares."),
            remarks: (id == "load").then(|| "Why the goal is missed.".to_owned()),
        }
    }

    fn stamped(mut line: Value, bench: &str) -> Value {
        line["bench"] = bench.into();
        line["machine"] = "2 cores, Test CPU, 24 GiB, Debian".into();
        line["commit"] = "abc1234".into();
        line["date"] = "2026-12-07T21:30:00Z".into();
        line
    }

    #[test]
    fn the_report_shows_each_figure_beside_its_peer_with_goal_machine_and_date() {
        let figure = dx_bench_record::Figure::lower_is_better("token verify", "µs")
            .ours("verify_text", 51.2)
            .peer("verify_strict", 48.9)
            .goal(
                dx_bench_record::Goal::RatioAtMost(1.10),
                "under 10 % overhead",
            )
            .to_json();
        let missed = dx_bench_record::Figure::higher_is_better("GET", "requests/s")
            .group("wrk -c32")
            .ours("production pipeline", 30_000.0)
            .peer("bare axum", 60_000.0)
            .goal(
                dx_bench_record::Goal::RatioAtLeast(0.85),
                "85 % of bare axum",
            )
            .note("median of 3")
            .to_json();
        let count = dx_bench_record::Count::new("acknowledged writes lost", 0.0, "writes")
            .of(33_633.0)
            .goal(dx_bench_record::Goal::AtMost(0.0), "none")
            .to_json();
        let run = json!({
            "kind": "run", "status": "ok", "seconds": 61.4, "load_before": 1.2,
            "load_after": 1.9, "services": {"postgres": true, "redis": false},
            "machine_details": {"rustc": "rustc 1.95.0"},
        });
        let failed = json!({
            "kind": "run", "status": "not run", "reason": "needs wrk on PATH (apt-get install wrk)",
            "seconds": 0.0, "machine_details": {"rustc": "rustc 1.95.0"},
        });
        let store = vec![
            stamped(figure, "tokens"),
            stamped(run.clone(), "tokens"),
            stamped(missed, "load"),
            stamped(count, "load"),
            stamped(run, "load"),
            stamped(failed, "wrk"),
        ];
        let report = render(
            &[bench("tokens"), bench("load"), bench("wrk"), bench("never")],
            &store,
        );
        insta::assert_snapshot!(report);
    }
}

#[cfg(test)]
mod committed {
    use std::path::Path;

    /// BENCHMARKS.md is only ever what `cargo benchmarks` writes from the kept results: a
    /// figure edited by hand, or results committed without the report, fail here.
    #[test]
    fn the_committed_report_is_what_the_kept_results_render_to() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let benches = crate::manifest::load(&root.join("benches/benches.toml")).unwrap();
        let store = crate::results::read(&root.join("benches/results.jsonl")).unwrap();
        let committed = std::fs::read_to_string(root.join("BENCHMARKS.md")).unwrap();
        assert!(
            committed == super::render(&benches, &store),
            "BENCHMARKS.md differs from what benches/results.jsonl renders to: run `cargo benchmarks --report`"
        );
    }
}
