//! Feature: production-readiness, Property 19: SQL Injection Prevention
//!
//! Black-box form, through the items API. Each case takes a fresh account and stores one to
//! four items whose names and bodies are injection payloads (quotes, semicolons, comment
//! markers, `%` and `_`, backslashes, placeholders, Unicode, or strings proptest makes of
//! them); every item must come back byte for byte, a search for a payload must list exactly
//! the account's items whose names contain it (the suite knows every one), and an item of
//! another account, created before the check, must be unchanged after every case; a search
//! repeated after one more matching item is stored must list it too (a write ends what a
//! cached search said). A text
//! with U+0000 must be refused with 422 before any of that.
//!
//! With test accounts (`--account`) instead of fresh ones, an account holds items from before
//! the case: the cases run one at a time, each first lists the account's items matching its
//! search (each must match), expects them again beside its own, scopes its names (names are
//! unique within an account) and deletes what it stored.

use futures_util::future::join_all;
use proptest::prelude::*;

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::query::{Item, ItemsApi, Owner, area, parse_item};
use crate::checks::support::unique_scope;
use crate::clause::query as qc;
use crate::envelope::expect_code;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 19,
    run: run_check,
};

/// Classic payloads; each is also a search.
pub const PAYLOADS: &[&str] = &[
    "'; DROP TABLE dx_items; --",
    "' OR '1'='1",
    "\" OR \"\"=\"",
    "1; DELETE FROM dx_items WHERE 1=1",
    "admin'--",
    "/* comment */ SELECT",
    "%",
    "_",
    "\\",
    "\\'",
    "'; UPDATE dx_items SET owner = 'mallory' WHERE ''='",
    "$1",
    "?1",
    ":name",
    "Robert'); DROP TABLE Students;--",
    "' UNION SELECT owner, name, body FROM dx_items --",
    "\u{202e}\u{feff}ünïcødé 🦀 ' ; --",
];

/// A payload: a classic one, one made of SQL's special characters, any text without
/// U+0000, or a classic one inside letters.
fn payload() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(PAYLOADS).prop_map(str::to_owned),
        "[';\"\\\\/*%_ a-zA-Z0-9()=$?:-]{1,24}",
        "[^\u{0}]{1,24}",
        (proptest::sample::select(PAYLOADS), "[a-z]{0,3}").prop_map(|(p, s)| format!("{s}{p}{s}")),
    ]
}

/// One case: the items' payloads and the search.
fn case() -> impl Strategy<Value = (Vec<(String, String)>, Search)> {
    (
        proptest::collection::vec((payload(), payload()), 1..=4),
        prop_oneof![
            any::<prop::sample::Index>().prop_map(Search::OneOfTheNames),
            payload().prop_map(Search::Text),
        ],
    )
}

/// What a case searches for.
#[derive(Debug, Clone)]
enum Search {
    /// A name the case stored, minus its unique prefix.
    OneOfTheNames(prop::sample::Index),
    /// Any payload.
    Text(String),
}

/// A case's item name: unique within the account, then the payload.
fn name_of(i: usize, payload: &str) -> String {
    format!("{i}:{payload}")
}

async fn expect_unchanged(
    api: &ItemsApi<'_>,
    owner: &Owner,
    canary: &crate::checks::query::Item,
) -> Result<(), CaseFailure> {
    let ex = api
        .get(owner, canary.id, &[&canary.name, &canary.body])
        .await?;
    let now = parse_item(&ex)?;
    if ex.status != 200 || &now != canary {
        return Err(CaseFailure::violates(
            &ex,
            &qc::BYTE_FOR_BYTE,
            format!("another account's item changed: was {canary:?}, now {now:?}"),
        ));
    }
    Ok(())
}

fn run_check(target: &crate::target::Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = match ItemsApi::new(target, area) {
            Ok(api) => api,
            Err(outcome) => return outcome,
        };
        let setup = async {
            let bystander = api.owner("p19-bystander").await?;
            let canary = api
                .create(&bystander, "canary ' ; --", "must never change")
                .await?;
            // U+0000 is refused before the database, in the name and in the body.
            for (name, body) in [("a\u{0}b", ""), ("nul", "a\u{0}b")] {
                let ex = api
                    .send(&bystander, api.create_request(name, body), &[])
                    .await?;
                expect_code(&ex, "VALIDATION_FAILED", &qc::NUL_REFUSED)?;
            }
            Ok::<_, CaseFailure>((bystander, canary))
        };
        let (bystander, canary) = match setup.await {
            Ok(s) => s,
            Err(failure) => return CheckOutcome::SetupFailed(failure),
        };
        let (api, bystander, canary) = (&api, &bystander, &canary);
        // Each case has an owner of its own: several run at once. Test accounts are shared:
        // their cases run one at a time and delete what they stored.
        let at_once = if api.shared { 1 } else { CASES_AT_ONCE };
        let outcome =
            for_all_concurrently(case(), config, at_once, |(entries, search)| async move {
                let owner = api.owner("p19").await?;
                let mut created = Vec::new();
                let outcome = one_case(api, &owner, &entries, &search, &mut created).await;
                if api.shared {
                    api.remove(&owner, &created).await;
                }
                outcome?;
                expect_unchanged(api, bystander, canary).await
            })
            .await;
        if api.shared {
            api.remove(bystander, &[canary.id]).await;
        }
        CheckOutcome::Ran(outcome)
    })
}

/// One case as `owner`: its items stored (each id also in `created`) and read back, then
/// searched before and after a write. With a shared test account, the account's items
/// from before the case that match are listed first: each must match, and they are
/// expected again beside the case's own.
async fn one_case(
    api: &ItemsApi<'_>,
    owner: &Owner,
    entries: &[(String, String)],
    search: &Search,
    created: &mut Vec<i64>,
) -> Result<(), CaseFailure> {
    let needle = match search {
        Search::OneOfTheNames(index) => entries[index.index(entries.len())].0.clone(),
        Search::Text(text) => text.clone(),
    };
    let before = if api.shared {
        earlier_matches(api, owner, &needle).await?
    } else {
        Vec::new()
    };
    // Names are unique within an account: in a shared one, a case's names carry a scope.
    let scope = if api.shared {
        format!("{} ", unique_scope("p19"))
    } else {
        String::new()
    };
    // The items are stored at once, then read back at once: each stands alone, and one
    // after another they cost two round trips each.
    let names: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, (payload, _))| format!("{scope}{}", name_of(i, payload)))
        .collect();
    let made = join_all(
        names
            .iter()
            .zip(entries)
            .map(|(name, (_, body))| api.create(owner, name, body)),
    )
    .await;
    created.extend(made.iter().flatten().map(|item| item.id));
    let stored = made.into_iter().collect::<Result<Vec<_>, _>>()?;
    let reads = join_all(
        stored
            .iter()
            .map(|item| async move { api.get(owner, item.id, &[&item.name, &item.body]).await }),
    )
    .await;
    for (item, ex) in stored.iter().zip(reads) {
        let ex = ex?;
        let read = parse_item(&ex)?;
        if ex.status != 200 || &read != item {
            return Err(CaseFailure::violates(
                &ex,
                &qc::BYTE_FOR_BYTE,
                format!("stored {item:?}, read back {read:?}"),
            ));
        }
    }
    let mut stored = stored;
    let mut want: Vec<i64> = stored
        .iter()
        .filter(|i| i.name.contains(needle.as_str()))
        .chain(&before)
        .map(|i| i.id)
        .collect();
    want.sort_unstable();
    let texts = texts_of(&stored, &before);
    let got = api.search(owner, &needle, &texts).await?;
    if got != want {
        return Err(CaseFailure::plain(
            qc::LISTING.cite(),
            format!(
                "searching {needle:?} among {:?} listed ids {got:?}, not {want:?}",
                stored.iter().map(|i| (&i.name, i.id)).collect::<Vec<_>>()
            ),
        ));
    }
    // Another search, with no write between: it must not be answered with the first
    // one's rows (a cache key must hold every parameter).
    let absent = format!("{needle}\u{1F9EA} matches nothing");
    let none = api.search(owner, &absent, &texts).await?;
    if !none.is_empty() {
        return Err(CaseFailure::plain(
            qc::LISTING.cite(),
            format!("searching {absent:?}, which no name contains, listed ids {none:?}"),
        ));
    }
    // A write ends what a cached search said: one more matching item is listed.
    let name = format!("{scope}{}", name_of(stored.len(), &needle));
    let added = api.create(owner, &name, "").await?;
    created.push(added.id);
    stored.push(added.clone());
    want.push(added.id);
    want.sort_unstable();
    let texts = texts_of(&stored, &before);
    let again = api.search(owner, &needle, &texts).await?;
    if again != want {
        return Err(CaseFailure::plain(
            qc::CACHE_WRITE.cite(),
            format!(
                "after adding item {} named {name:?}, searching {needle:?} listed {again:?}, not {want:?}",
                added.id
            ),
        ));
    }
    // Deleting is a write too: the item is gone, from reads and from the search.
    let ex = api.send(owner, api.delete_request(added.id), &[]).await?;
    if ex.status != 204 {
        return Err(CaseFailure::violates(
            &ex,
            &qc::DELETED,
            format!("HTTP {} deleting item {}", ex.status, added.id),
        ));
    }
    stored.pop();
    want.retain(|id| *id != added.id);
    let texts = texts_of(&stored, &before);
    let after = api.search(owner, &needle, &texts).await?;
    if after != want {
        return Err(CaseFailure::plain(
            qc::CACHE_WRITE.cite(),
            format!(
                "after deleting item {}, searching {needle:?} listed {after:?}, not {want:?}",
                added.id
            ),
        ));
    }
    let gone = api.get(owner, added.id, &[]).await?;
    if gone.status != 404 {
        return Err(CaseFailure::violates(
            &gone,
            &qc::DELETED,
            format!(
                "HTTP {} reading item {} after deleting it",
                gone.status, added.id
            ),
        ));
    }
    Ok(())
}

/// The texts a listing may return: those of the items the case stored and of the items the
/// account held before it.
fn texts_of<'i>(stored: &'i [Item], before: &'i [Item]) -> Vec<&'i str> {
    stored
        .iter()
        .chain(before)
        .flat_map(|i| [i.name.as_str(), i.body.as_str()])
        .collect()
}

/// The items of a shared test account whose names contain `needle`, before a case stores
/// any: every one listed must contain it.
async fn earlier_matches(
    api: &ItemsApi<'_>,
    owner: &Owner,
    needle: &str,
) -> Result<Vec<Item>, CaseFailure> {
    let listed = api.search_items(owner, needle, &[]).await?;
    if let Some(stray) = listed.iter().find(|i| !i.name.contains(needle)) {
        return Err(CaseFailure::plain(
            qc::LISTING.cite(),
            format!(
                "searching {needle:?} listed item {} named {:?}, which does not contain it",
                stray.id, stray.name
            ),
        ));
    }
    Ok(listed)
}
