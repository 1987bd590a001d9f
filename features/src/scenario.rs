//! How a Gherkin scenario appears in a report: its id, title, tags and requirement ids
//! (spec/conformance.md).

use cucumber::gherkin::{Feature, Rule, Scenario};

/// The tag prefix that names a requirement id, e.g. `@req-7.1`.
pub const REQUIREMENT_TAG: &str = "req-";

/// The scenario's tags without `@`: the feature's, the rule's, then its own (an outline row
/// also has its `Examples` tags), each once. These select it and appear in the report.
pub fn tags(feature: &Feature, rule: Option<&Rule>, scenario: &Scenario) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let all = feature
        .tags
        .iter()
        .chain(rule.iter().flat_map(|r| &r.tags))
        .chain(&scenario.tags);
    for tag in all {
        let tag = tag.trim_start_matches('@');
        // The id tag names the scenario; it selects nothing else.
        if tag.starts_with(ID_TAG) {
            continue;
        }
        if !out.iter().any(|t| t == tag) {
            out.push(tag.to_owned());
        }
    }
    out
}

/// The requirement ids named by `req-` tags.
pub fn requirements(tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter_map(|t| t.strip_prefix(REQUIREMENT_TAG))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The tag prefix that names a scenario's stable id, e.g. `@id-envelope`.
pub const ID_TAG: &str = "id-";

/// The scenario's id: `<feature file stem>:<name>` for a scenario tagged `@id-<name>`, and for
/// an outline row `<feature file stem>:<name>/<row>`, the row named by its first value (by
/// convention a short `case` column) in lower case with runs of other characters as `-`. Ids
/// stay the same when lines move, so expected-failures files and replay files outlive edits
/// (spec/conformance.md). A scenario without the tag (a user's own features) is
/// `<stem>:<line>`, an outline row's line being its row in the `Examples` table.
pub fn id(feature: &Feature, scenario: &Scenario) -> String {
    let stem = feature
        .path
        .as_deref()
        .and_then(|p| p.file_stem())
        .map_or_else(
            || feature.name.clone(),
            |s| s.to_string_lossy().into_owned(),
        );
    let named = scenario
        .tags
        .iter()
        .find_map(|t| t.trim_start_matches('@').strip_prefix(ID_TAG))
        .filter(|name| !name.is_empty());
    match (named, row_name(scenario)) {
        (Some(name), Some(row)) => format!("{stem}:{name}/{}", slug(&row)),
        (Some(name), None) => format!("{stem}:{name}"),
        (None, _) => format!("{stem}:{}", scenario.position.line),
    }
}

/// An outline row's first value.
fn row_name(scenario: &Scenario) -> Option<String> {
    let table = scenario.examples.first()?.table.as_ref()?;
    table.rows.get(1)?.first().cloned()
}

/// `text` in lower case, every run of characters other than ASCII letters and digits as one
/// `-`, none at either end.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// The scenario's name; for an outline row, followed by the row's first value (by convention
/// a short `case` column naming the row) so that rows can be told apart in a table.
pub fn title(scenario: &Scenario) -> String {
    let row = scenario
        .examples
        .first()
        .and_then(|e| e.table.as_ref())
        .and_then(|t| Some((t.rows.first()?, t.rows.get(1)?)));
    match row {
        Some((_, values)) => match values.first() {
            Some(first) => format!("{}: {first}", scenario.name),
            None => scenario.name.clone(),
        },
        None => scenario.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cucumber::feature::Ext as _;
    use cucumber::gherkin::GherkinEnv;

    const TEXT: &str = r#"@error @p08 @req-7.1
Feature: Demo

  @req-7.2 @p08
  Scenario: Plain
    Given the target

  @id-rows
  Scenario Outline: Row <case>
    Given the target
    When I send "GET" to "<path>"

    @extra
    Examples:
      | case | path |
      | one  | /a   |
      | Two, 2! | /b |
"#;

    fn feature() -> Feature {
        let mut f = Feature::parse(TEXT, GherkinEnv::default()).unwrap();
        f.path = Some("/x/features/errors.feature".into());
        f.expand_examples().unwrap()
    }

    #[test]
    fn tags_merge_feature_scenario_and_examples_without_repeats() {
        let f = feature();
        assert_eq!(
            tags(&f, None, &f.scenarios[0]),
            ["error", "p08", "req-7.1", "req-7.2"]
        );
        assert_eq!(
            tags(&f, None, &f.scenarios[1]),
            ["error", "p08", "req-7.1", "extra"]
        );
        let t = tags(&f, None, &f.scenarios[0]);
        assert_eq!(requirements(&t), ["7.1", "7.2"]);
    }

    #[test]
    fn ids_are_the_id_tag_and_rows_add_their_name() {
        let f = feature();
        // No id tag: the line.
        assert_eq!(id(&f, &f.scenarios[0]), "errors:5");
        assert_eq!(id(&f, &f.scenarios[1]), "errors:rows/one");
        assert_eq!(id(&f, &f.scenarios[2]), "errors:rows/two-2");
        assert!(
            !tags(&f, None, &f.scenarios[1])
                .iter()
                .any(|t| t.starts_with("id"))
        );
        assert_eq!(slug("  A, b--C 1 "), "a-b-c-1");
    }

    #[test]
    fn outline_rows_carry_their_values_in_the_title() {
        let f = feature();
        assert_eq!(title(&f.scenarios[0]), "Plain");
        assert_eq!(title(&f.scenarios[1]), "Row one: one");
        assert_eq!(title(&f.scenarios[2]), "Row Two, 2!: Two, 2!");
    }
}
