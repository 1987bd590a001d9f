//! Which checks run (spec/conformance.md, "Selecting checks"): `--tags` keeps the checks
//! carrying any of the tags, `--only` keeps those matching any term by id, tag or area,
//! `--skip` drops those matching any term. A property check's id is `pNN`, a scenario's
//! `<feature>:<line>`; its area is one of its tags.

/// A selection of checks; the default selects every check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `--tags`: keep checks with any of these tags (empty keeps all).
    pub tags: Vec<String>,
    /// `--only`: keep checks matching any of these ids, tags or areas (empty keeps all).
    pub only: Vec<String>,
    /// `--skip`: drop checks matching any of these ids, tags or areas.
    pub skip: Vec<String>,
}

impl Selection {
    /// The checks with any of `tags`.
    pub fn tags<I, S>(tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            tags: tags.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Whether the check `id` carrying `tags` is selected.
    pub fn selects(&self, id: &str, tags: &[String]) -> bool {
        let tagged = |term: &String| {
            let term = bare(term);
            tags.iter().any(|t| t.eq_ignore_ascii_case(term))
        };
        let matches = |term: &String| tagged(term) || id.eq_ignore_ascii_case(bare(term));
        (self.tags.is_empty() || self.tags.iter().any(tagged))
            && (self.only.is_empty() || self.only.iter().any(matches))
            && !self.skip.iter().any(matches)
    }
}

/// A term without its leading `@` and surrounding blanks.
fn bare(term: &str) -> &str {
    term.trim().trim_start_matches('@')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn tags() -> Vec<String> {
        ["p06", "error", "conformance"]
            .iter()
            .map(|t| (*t).to_owned())
            .collect()
    }

    fn terms(list: &str) -> Vec<String> {
        list.split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[rstest]
    #[case::everything("", "", "", true)]
    #[case::tag_any_case("@P06", "", "", true)]
    #[case::any_tag_matches("auth,error", "", "", true)]
    #[case::no_tag_matches("p07", "", "", false)]
    #[case::only_by_id("", "P06", "", true)]
    #[case::only_by_area("", "@error", "", true)]
    #[case::only_elsewhere("", "p07,auth", "", false)]
    #[case::skip_by_id("", "", "p06", false)]
    #[case::skip_by_tag("", "", "@conformance", false)]
    #[case::skip_elsewhere("", "", "p07", true)]
    #[case::skip_wins_over_only("", "error", "p06", false)]
    #[case::tags_and_only_both_apply("auth", "p06", "", false)]
    fn selection(
        #[case] tag_terms: &str,
        #[case] only: &str,
        #[case] skip: &str,
        #[case] expected: bool,
    ) {
        let selection = Selection {
            tags: terms(tag_terms),
            only: terms(only),
            skip: terms(skip),
        };
        assert_eq!(selection.selects("p06", &tags()), expected);
    }

    #[test]
    fn scenarios_are_selected_by_their_id() {
        let selection = Selection {
            only: vec!["errors:12".into()],
            ..Selection::default()
        };
        assert!(selection.selects("errors:12", &["error".into()]));
        assert!(!selection.selects("errors:13", &["error".into()]));
    }
}
