//! `dx-conformance list`: the catalogue of checks, as a table that fits 100 columns or as
//! JSON for tools (`--format json`: id, title, kind, status, requirement ids, what each
//! needs of a target, tags).

use dx_conformance::check::tags_of;
use dx_conformance::checks::recommended::Form;
use dx_conformance::report::truncate;
use dx_conformance::{Selection, spec::PropertySpec};
use serde::Serialize;

/// What a catalogue entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One of the 26 properties (`pNN`).
    Property,
    /// A SHOULD-level check (`sNN`, `--strict`).
    Should,
    /// A Gherkin scenario (`<feature>:<name>`).
    Scenario,
    /// A rule every response obeys, judged over the whole run (`rules:<name>`).
    Rule,
}

/// One check of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// What `--only`, `--skip` and expected-failures files take.
    pub id: String,
    /// Its title.
    pub title: String,
    /// What it is.
    pub kind: Kind,
    /// `checked`, `pending` or `n/a` (a SHOULD the suite cannot observe).
    pub status: &'static str,
    /// Requirement ids.
    pub requirements: Vec<String>,
    /// What it needs of a target, each in full.
    pub needs: Vec<String>,
    /// Its selection tags.
    pub tags: Vec<String>,
}

/// Why the catalogue cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The suite's own spec does not parse.
    #[error("{0}")]
    Spec(#[from] dx_conformance::spec::SpecError),
}

/// Every check of the suite, in the order a run reports them.
pub fn catalogue() -> Result<(Vec<Entry>, Option<String>), ListError> {
    let specs = dx_conformance::spec::properties()?;
    let implemented: Vec<u8> = dx_conformance::checks::all()
        .iter()
        .map(|c| c.property)
        .collect();
    let undescribed: Vec<u8> = dx_conformance::checks::undescribed::all()
        .iter()
        .map(|c| c.property)
        .collect();
    let mut entries: Vec<Entry> = specs
        .iter()
        .map(|p| Entry {
            id: format!("p{:02}", p.number),
            title: p.title.clone(),
            kind: Kind::Property,
            status: if implemented.contains(&p.number) {
                "checked"
            } else {
                "pending"
            },
            requirements: p.requirements.clone(),
            needs: needs(p, undescribed.contains(&p.number)),
            tags: tags_of(p),
        })
        .collect();
    entries.extend(
        dx_conformance::checks::recommended::all()
            .into_iter()
            .map(|r| Entry {
                id: r.id.to_owned(),
                title: r.title.to_owned(),
                kind: Kind::Should,
                status: match r.form {
                    Form::Checked { .. } => "checked",
                    Form::Unobservable(_) => "n/a",
                },
                requirements: Vec::new(),
                needs: vec![
                    "--strict".to_owned(),
                    if r.needs_discovery() {
                        "the discovery document".to_owned()
                    } else {
                        "nothing (a form runs without discovery)".to_owned()
                    },
                ],
                tags: r.tags(),
            }),
    );
    let mut problem = None;
    let dir = dx_features::default_features_dir();
    match dx_features::list_scenarios(&dir, &Selection::default()) {
        Ok(scenarios) => entries.extend(scenarios.into_iter().map(|s| {
            let mut needs = vec!["the discovery document".to_owned()];
            if s.tags.iter().any(|t| t == "conformance") {
                needs.push("conformance profile".to_owned());
            }
            Entry {
                id: s.id,
                title: s.title,
                kind: Kind::Scenario,
                status: "checked",
                requirements: s.requirements,
                needs,
                tags: s.tags,
            }
        })),
        Err(e) => problem = Some(format!("scenarios: {e}")),
    }
    entries.extend(dx_conformance::rules::Rule::ALL.iter().map(|rule| Entry {
        id: rule.id().to_owned(),
        title: rule.title().to_owned(),
        kind: Kind::Rule,
        status: "checked",
        requirements: rule.requirements(),
        needs: vec!["nothing: judged on every response of the run".to_owned()],
        tags: rule.tags(),
    }));
    Ok((entries, problem))
}

/// What a property's check needs of a target.
fn needs(p: &PropertySpec, runs_undescribed: bool) -> Vec<String> {
    let mut needs = Vec::new();
    if runs_undescribed {
        needs.push("nothing (a form runs without discovery)".to_owned());
    }
    if let Some(member) = dx_conformance::runner::area_member(&p.area) {
        needs.push(format!("discovery `{member}`"));
    } else if !runs_undescribed {
        needs.push("the discovery document".to_owned());
    }
    let accounts = dx_conformance::accounts::RUNS_WITH_ACCOUNTS
        .iter()
        .find(|(number, _)| *number == p.number);
    if let Some((_, n)) = accounts {
        let accounts = if *n == 1 {
            "an account (--account)".to_owned()
        } else {
            format!("{n} accounts (--account)")
        };
        needs.push(format!("{accounts} or the conformance profile"));
    } else if matches!(p.number, 13 | 14) {
        // Without a partition header they spend one real category, in part
        // (spec/conformance.md, "Spending a budget on purpose").
        needs.push("the conformance profile (in part: one real category)".to_owned());
    } else if p.needs_conformance_profile {
        needs.push("conformance profile".to_owned());
    }
    if p.area == "client" {
        needs.push("client .wasm".to_owned());
    }
    // The checks that spread over every instance given (spec/conformance.md, "Several
    // instances").
    if matches!(p.area.as_str(), "sync" | "auth" | "rate-limit" | "csrf") {
        needs.push("several instances (optional)".to_owned());
    }
    needs
}

/// A need in a few words, for the table (the JSON has it whole).
fn short(need: &str) -> String {
    match need {
        "nothing (a form runs without discovery)" => "no discovery (a form)".to_owned(),
        "the discovery document" => "discovery".to_owned(),
        "conformance profile" => "conformance".to_owned(),
        "several instances (optional)" => "+instances".to_owned(),
        "the conformance profile (in part: one real category)" => "conformance|part".to_owned(),
        "nothing: judged on every response of the run" => "every response".to_owned(),
        // `an account (--account) or the conformance profile`, `2 accounts (…) or …`.
        other => other
            .replace("an account (--account)", "account")
            .replace(" accounts (--account)", " accounts")
            .replace(" or the conformance profile", "|conformance"),
    }
}

/// The status column, as wide as `pending`.
const STATUS_W: usize = 7;

/// A title keeps at least this many columns; the needs give way first.
const MIN_TITLE_W: usize = 24;

/// The catalogue as tables at most `width` columns wide, one per kind (properties, SHOULD
/// checks, scenarios, rules), each with columns as wide as its own entries need: scenario
/// ids run to 43 characters where a property's is 3.
pub fn table(entries: &[Entry], width: usize) -> String {
    let mut text = String::new();
    for (kind, heading) in [
        (Kind::Property, "PROP"),
        (Kind::Should, "SHOULD"),
        (Kind::Scenario, "SCENARIO"),
        (Kind::Rule, "RULE"),
    ] {
        let group: Vec<(&Entry, String)> = entries
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| {
                let needs: Vec<String> = e.needs.iter().map(|n| short(n)).collect();
                (e, needs.join("; "))
            })
            .collect();
        if group.is_empty() {
            continue;
        }
        let id_w = group
            .iter()
            .map(|(e, _)| e.id.chars().count())
            .chain([heading.len()])
            .max()
            .unwrap_or(5);
        let title_need = group
            .iter()
            .map(|(e, _)| e.title.chars().count())
            .max()
            .unwrap_or(5);
        let needs_need = group
            .iter()
            .map(|(_, n)| n.chars().count())
            .max()
            .unwrap_or(5);
        let room = width.saturating_sub(id_w + 2 + STATUS_W + 2 + 2);
        // The title first: the needs take what it leaves, down to three fifths of the room.
        let title_w = title_need
            .min(room.saturating_sub(needs_need).max(room * 3 / 5))
            .max(MIN_TITLE_W);
        let row = |id: &str, status: &str, title: &str, needs: &str| {
            let line = format!(
                "{id:<id_w$}  {status:<STATUS_W$}  {:<title_w$}  {needs}",
                truncate(title, title_w)
            );
            truncate(line.trim_end(), width)
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&row(heading, "STATUS", "TITLE", "NEEDS"));
        text.push('\n');
        for (e, needs) in &group {
            text.push_str(&row(&e.id, e.status, &e.title, needs));
            text.push('\n');
        }
    }
    text.push('\n');
    text.push_str(&truncate(
        "Requirement ids, tags and each need in full: dx-conformance list --format json",
        width,
    ));
    text.push('\n');
    text
}

/// The catalogue as one JSON document: `{"checks": [...]}`.
pub fn json(entries: &[Entry]) -> String {
    serde_json::to_string_pretty(&serde_json::json!({ "checks": entries }))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, title: &str, needs: &[&str]) -> Entry {
        Entry {
            id: id.into(),
            title: title.into(),
            kind: Kind::Property,
            status: "checked",
            requirements: vec!["1.1".into()],
            needs: needs.iter().map(|n| (*n).to_owned()).collect(),
            tags: vec!["p01".into()],
        }
    }

    #[test]
    fn the_table_fits_its_width_and_lines_up() {
        let entries = [
            entry(
                "p01",
                "Password Hash Round Trip With A Title Too Long To Keep",
                &[
                    "discovery `auth`",
                    "an account (--account) or the conformance profile",
                    "several instances (optional)",
                ],
            ),
            entry("p02", "Kept ids", &["the discovery document"]),
        ];
        let text = table(&entries, 100);
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "{line:?}");
        }
        let titles: Vec<usize> = text
            .lines()
            .take(3)
            .map(|l| {
                l.find("TITLE")
                    .or_else(|| l.find("Password"))
                    .or_else(|| l.find("Kept"))
                    .unwrap_or(0)
            })
            .collect();
        assert!(titles.iter().all(|t| *t == titles[0]), "{text}");
        insta::assert_snapshot!("list_table", text);
    }
}
