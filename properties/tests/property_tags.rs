//! Every property of spec/properties.toml has both tagged forms: a white-box property test
//! next to the code (proptest) and a black-box check in the suite, each carrying
//! `Feature: production-readiness, Property N: <title>` in a doc comment at the path the spec
//! names. The properties whose areas have not landed yet are listed in [`PENDING`], the one
//! place later work shrinks to empty.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use dx_conformance::spec::properties;

/// Properties without their two forms yet, by area: sync (22-25).
const PENDING: &[u8] = &[];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn tag(number: u8, title: &str) -> String {
    format!("Feature: production-readiness, Property {number}: {title}")
}

/// Whether `file` carries the tag in a doc comment (`///` or `//!`).
fn has_tag(file: &Path, tag: &str) -> bool {
    std::fs::read_to_string(file).is_ok_and(|text| {
        text.lines()
            .map(str::trim_start)
            .any(|l| (l.starts_with("///") || l.starts_with("//!")) && l.contains(tag))
    })
}

#[test]
fn every_property_has_both_tagged_forms_unless_pending() {
    let root = repo_root();
    let mut problems = Vec::new();
    for p in properties().unwrap() {
        let tag = tag(p.number, &p.title);
        let white = root.join(&p.white_box);
        let black = root.join(&p.black_box);
        let white_ok = has_tag(&white, &tag);
        let black_ok = has_tag(&black, &tag);
        let white_is_proptest =
            std::fs::read_to_string(&white).is_ok_and(|t| t.contains("proptest!"));
        let pending = PENDING.contains(&p.number);
        if pending {
            if white_ok && black_ok {
                problems.push(format!(
                    "Property {} now has both forms: remove it from PENDING",
                    p.number
                ));
            }
            continue;
        }
        if !white_ok {
            problems.push(format!(
                "Property {}: no `{tag}` doc comment in {}",
                p.number, p.white_box
            ));
        } else if !white_is_proptest {
            problems.push(format!(
                "Property {}: {} has no proptest! block",
                p.number, p.white_box
            ));
        }
        if !black_ok {
            problems.push(format!(
                "Property {}: no `{tag}` doc comment in {}",
                p.number, p.black_box
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_checked_property_is_registered_and_not_pending() {
    let registered: Vec<u8> = dx_conformance::checks::all()
        .iter()
        .map(|c| c.property)
        .collect();
    for n in &registered {
        assert!(
            !PENDING.contains(n),
            "Property {n} has a check but is listed as pending"
        );
    }
    for p in properties().unwrap() {
        if !PENDING.contains(&p.number) {
            assert!(
                registered.contains(&p.number),
                "Property {} is not pending but has no registered check",
                p.number
            );
        }
    }
}

#[test]
fn white_box_property_tests_run_at_least_100_cases() {
    let root = repo_root();
    for p in properties()
        .unwrap()
        .iter()
        .filter(|p| !PENDING.contains(&p.number))
    {
        let text = std::fs::read_to_string(root.join(&p.white_box)).unwrap();
        for (i, _) in text.match_indices("with_cases(") {
            let digits: String = text[i + "with_cases(".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let cases: u32 = digits.parse().unwrap();
            assert!(
                cases >= 100,
                "{}: with_cases({cases}) is under 100",
                p.white_box
            );
        }
    }
}

/// `cargo test` runs each property's check through `tests/black_box.rs`, one test per property
/// named `pNN_…`, so a failure names it and `--only pNN` (coverage/suite-mutation-score.sh)
/// can select it: a property without its test there would be checked by no `cargo test`.
#[test]
fn every_property_has_its_black_box_test() {
    let text = std::fs::read_to_string(repo_root().join("properties/tests/black_box.rs")).unwrap();
    for p in properties()
        .unwrap()
        .iter()
        .filter(|p| !PENDING.contains(&p.number))
    {
        let test = format!("async fn p{:02}_", p.number);
        let call = format!("assert_property_holds({}).await", p.number);
        assert!(
            text.contains(&test) && text.contains(&call),
            "tests/black_box.rs has no `{test}…` test calling `{call}`"
        );
    }
}
