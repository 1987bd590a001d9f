//! Who gets server-rendered HTML: a request whose `User-Agent` a maintained crawler list
//! matches (`spec/ssr.md`, "Crawlers"). The list is the `isbot` crate's (pinned in
//! `Cargo.lock`), one regular expression over a few hundred patterns, which keeps real
//! browsers out; a deployment can add patterns for crawlers of its own and drop ones it wants
//! to treat as browsers.

use isbot::Bots;

/// What the crawler rule is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrawlerConfig {
    /// Regular expressions (case-insensitive) added to the list.
    pub extra_patterns: Vec<String>,
    /// Patterns of the list to drop, as the list spells them.
    pub removed_patterns: Vec<String>,
}

/// Decides whether a `User-Agent` is a crawler's.
pub struct CrawlerRule {
    bots: Bots,
    description: String,
}

impl std::fmt::Debug for CrawlerRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrawlerRule")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// A pattern that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("crawler pattern {pattern:?} is not a valid regular expression")]
pub struct PatternError {
    /// The pattern.
    pub pattern: String,
}

/// The name and version of the list, as the discovery document reports it.
pub const LIST: &str = "isbot 0.1.3";

impl CrawlerRule {
    /// The maintained list, changed as `config` says.
    pub fn new(config: &CrawlerConfig) -> Result<Self, PatternError> {
        for pattern in &config.extra_patterns {
            // `Bots::append` would panic on a bad pattern: check it first.
            if regex_is_invalid(pattern) {
                return Err(PatternError {
                    pattern: pattern.clone(),
                });
            }
        }
        let mut bots = Bots::default();
        let removed: Vec<&str> = config.removed_patterns.iter().map(String::as_str).collect();
        if !removed.is_empty() {
            bots.remove(&removed);
        }
        let extra: Vec<&str> = config.extra_patterns.iter().map(String::as_str).collect();
        if !extra.is_empty() {
            bots.append(&extra);
        }
        let mut description = LIST.to_owned();
        if !extra.is_empty() || !removed.is_empty() {
            description.push_str(&format!(
                " with {} pattern(s) added and {} removed",
                extra.len(),
                removed.len()
            ));
        }
        Ok(Self { bots, description })
    }

    /// Whether `user_agent` is a crawler's. A request without one is not.
    pub fn is_crawler(&self, user_agent: Option<&str>) -> bool {
        user_agent.is_some_and(|ua| !ua.trim().is_empty() && self.bots.is_bot(ua))
    }

    /// What the rule is, for the discovery document.
    pub fn describe(&self) -> &str {
        &self.description
    }
}

impl Default for CrawlerRule {
    fn default() -> Self {
        Self {
            bots: Bots::default(),
            description: LIST.to_owned(),
        }
    }
}

/// dx-www's own rule: one of ten names in the lower-cased `User-Agent`. Only the
/// `ssr-ten-crawlers` mutant uses it, to prove the suite tells it from a maintained list.
pub fn upstream_rule(user_agent: Option<&str>) -> bool {
    const NAMES: [&str; 10] = [
        "googlebot",
        "bingbot",
        "slurp",
        "duckduckbot",
        "baiduspider",
        "yandexbot",
        "facebookexternalhit",
        "twitterbot",
        "linkedinbot",
        "whatsapp",
    ];
    let ua = user_agent.unwrap_or_default().to_lowercase();
    NAMES.iter().any(|name| ua.contains(name))
}

/// Whether `pattern` fails to compile as `isbot` uses it: lower-cased, one alternative of a
/// single expression. Each alternative valid alone keeps the whole valid, so `Bots::append`
/// (which would panic) never sees a bad one.
fn regex_is_invalid(pattern: &str) -> bool {
    pattern.trim().is_empty() || regex::Regex::new(&pattern.to_ascii_lowercase()).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::googlebot("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")]
    #[case::applebot(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"
    )]
    #[case::petalbot(
        "Mozilla/5.0 (compatible;PetalBot;+https://webmaster.petalsearch.com/site/petalbot)"
    )]
    fn crawlers_are_crawlers(#[case] ua: &str) {
        assert!(CrawlerRule::default().is_crawler(Some(ua)));
    }

    #[rstest]
    #[case::chrome(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    )]
    #[case::firefox("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")]
    fn browsers_are_not(#[case] ua: &str) {
        assert!(!CrawlerRule::default().is_crawler(Some(ua)));
    }

    #[test]
    fn a_rule_shows_what_it_is() {
        let debug = format!("{:?}", CrawlerRule::default());
        assert!(debug.contains("isbot 0.1.3"), "{debug}");
    }

    #[test]
    fn no_user_agent_is_not_a_crawler() {
        let rule = CrawlerRule::default();
        assert!(!rule.is_crawler(None));
        assert!(!rule.is_crawler(Some("  ")));
    }

    #[test]
    fn patterns_can_be_added_and_removed() {
        let custom = "ExampleInternalIndexer/1.0";
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let lighthouse = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.97 Safari/537.36 Chrome-Lighthouse";
        let rule = CrawlerRule::new(&CrawlerConfig {
            extra_patterns: vec!["exampleinternalindexer".into()],
            removed_patterns: vec!["chrome-lighthouse".into()],
        })
        .unwrap();
        assert!(rule.is_crawler(Some(custom)));
        assert!(!rule.is_crawler(Some(lighthouse)));
        assert!(!rule.is_crawler(Some(firefox)));
        assert!(rule.describe().contains("1 pattern(s) added and 1 removed"));
    }

    #[rstest]
    #[case::unbalanced("bad(")]
    #[case::empty("")]
    #[case::bad_class("[z-a]")]
    fn a_bad_pattern_is_an_error_not_a_panic(#[case] pattern: &str) {
        let config = CrawlerConfig {
            extra_patterns: vec![pattern.into()],
            removed_patterns: vec![],
        };
        assert!(CrawlerRule::new(&config).is_err());
    }

    #[test]
    fn the_upstream_rule_misses_crawlers_the_list_knows() {
        let applebot = "Mozilla/5.0 (compatible; Applebot/0.1; +http://www.apple.com/go/applebot)";
        assert!(!upstream_rule(Some(applebot)));
        assert!(CrawlerRule::default().is_crawler(Some(applebot)));
    }
}

#[cfg(test)]
mod pinned {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Agent {
        name: String,
        ua: String,
        #[serde(default)]
        beyond_ten: bool,
    }

    #[derive(serde::Deserialize)]
    struct Pinned {
        crawlers: Vec<Agent>,
        browsers: Vec<Agent>,
    }

    fn pinned() -> Pinned {
        toml::from_str(include_str!("../../../spec/crawlers.toml")).unwrap()
    }

    /// spec/crawlers.toml: every crawler gets the rendered page, every browser the shell.
    #[test]
    fn the_rule_classes_every_pinned_user_agent() {
        let rule = CrawlerRule::default();
        let pinned = pinned();
        let wrong: Vec<&str> = pinned
            .crawlers
            .iter()
            .filter(|a| !rule.is_crawler(Some(&a.ua)))
            .chain(
                pinned
                    .browsers
                    .iter()
                    .filter(|a| rule.is_crawler(Some(&a.ua))),
            )
            .map(|a| a.name.as_str())
            .collect();
        assert!(wrong.is_empty(), "misclassed: {wrong:?}");
    }

    /// The pinned list has teeth against dx-www's rule: exactly the crawlers marked
    /// `beyond_ten` are missed by it.
    #[test]
    fn the_upstream_rule_misses_exactly_the_marked_crawlers() {
        for agent in pinned().crawlers {
            assert_eq!(
                upstream_rule(Some(&agent.ua)),
                !agent.beyond_ten,
                "{}",
                agent.name
            );
        }
    }
}
