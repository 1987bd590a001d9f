//! Feature: production-readiness, Property 1: Password Hash Round-Trip
//!
//! Black-box form. Passwords at the boundaries of `spec/auth.md` (one byte, exactly the
//! published limit in one-, two- and four-byte characters, control characters, a decomposed
//! form logged in with its composed form) and generated ones (any Unicode, up to the limit)
//! are registered and logged in with: each must succeed, and the same password changed in its
//! last character must fail with `INVALID_CREDENTIALS`. An unknown email must fail with the
//! same body as a wrong password; empty and over-long passwords, and malformed emails, get
//! 422 naming the field. A flood of logins for one account is answered 401 or 503 with
//! `Retry-After`, never left hanging, and the right password still works afterwards.
//! Every case costs a few Argon2id hashes (tens of milliseconds each), so the generated
//! part runs a sixteenth of the configured cases (at least four).

use futures_util::future::join_all;
use proptest::prelude::*;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use crate::cases::{CaseConfig, CaseFailure, for_all, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::auth::{AuthApi, area, fresh_email};
use crate::clause::{auth as ac, http_contract as hc};
use crate::envelope::expect_code;
use crate::http::Exchange;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 1,
    run: run_check,
};

/// Logins sent at once in the flood case.
const FLOOD: usize = 16;

/// A password that round-trips, and how the login spells it.
#[derive(Debug, Clone)]
struct RoundTrip {
    what: &'static str,
    register: String,
    login: String,
}

fn boundaries(max: usize) -> Vec<RoundTrip> {
    let same = |what, p: String| RoundTrip {
        what,
        register: p.clone(),
        login: p,
    };
    vec![
        same("one byte", "a".into()),
        same("the limit in ASCII", "x".repeat(max)),
        same("the limit in two-byte characters", "é".repeat(max / 2)),
        same("the limit in four-byte characters", "😀".repeat(max / 4)),
        same(
            "control characters and quotes",
            "\u{0}\t\n\"\\'; DROP TABLE users; --".into(),
        ),
        same("surrounding white space", "  spaced out  ".into()),
        RoundTrip {
            what: "registered decomposed, logged in composed (NFC)",
            register: "Cafe\u{301} cre\u{300}me".into(),
            login: "Caf\u{e9} cr\u{e8}me".into(),
        },
        RoundTrip {
            what: "decomposed form over the limit whose NFC form fits",
            register: "e\u{301}".repeat(max / 2),
            login: "\u{e9}".repeat(max / 2),
        },
    ]
}

/// The password changed in its last character (to one that cannot compose with the rest).
fn altered(password: &str) -> String {
    let mut chars: Vec<char> = password.chars().collect();
    let last = chars.pop().unwrap_or('a');
    chars.push(if last == 'x' { 'y' } else { 'x' });
    chars.into_iter().collect()
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = AuthApi::new(target, &area);
        if area.register.is_none() {
            return given_accounts(api).await;
        }
        let max = area.max_password_bytes;
        let cases = boundaries(max);
        let outcome = for_each(&cases, |case| round_trip(api, case.clone())).await;
        if outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        let rejected = [
            "empty",
            "over the limit",
            "email without @",
            "email with space",
        ];
        let outcome =
            outcome.followed_by(for_each(&rejected, |what| rejected_case(api, what)).await);
        if outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        let outcome = outcome.followed_by(
            for_each(&["unknown email vs wrong password"], |_| same_failure(api)).await,
        );
        if outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        let outcome = outcome.followed_by(for_each(&["a flood of logins"], |_| flood(api)).await);
        if outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        let outcome =
            outcome.followed_by(for_each(&EMAIL_FORMS, |form| email_form(api, *form)).await);
        if outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        let outcome = outcome.followed_by(
            for_each(&["an email of exactly 254 characters"], |_| {
                longest_email(api)
            })
            .await,
        );
        if outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        let generated = CaseConfig {
            cases: (config.cases / 16).max(4),
            ..config
        };
        let strategy = prop_oneof![
            "\\PC{1,32}",
            "[a-zA-Z0-9 !-~]{1,64}",
            prop::collection::vec(any::<char>(), 1..200)
                .prop_map(|v| v.into_iter().collect::<String>()),
        ]
        .prop_filter("fits the published limit", move |p: &String| {
            let nfc: String = p.nfc().collect();
            !nfc.is_empty() && nfc.len() <= max
        });
        let generated = for_all(strategy, generated, |password| {
            round_trip(
                api,
                RoundTrip {
                    what: "generated",
                    register: password.clone(),
                    login: password,
                },
            )
        })
        .await;
        CheckOutcome::Ran(outcome.followed_by(generated))
    })
}

/// One person, two spellings of their email: registered with the first, logged in with the
/// second, the same account (spec/auth.md, "Accounts": NFC, then full lowercase mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EmailForm {
    what: &'static str,
    /// The local part as registered.
    registered: &'static str,
    /// The same local part as the server stores it, logged in with.
    normalised: &'static str,
}

const EMAIL_FORMS: [EmailForm; 6] = [
    EmailForm {
        what: "ASCII capitals",
        registered: "Jane.DOE",
        normalised: "jane.doe",
    },
    EmailForm {
        what: "decomposed (NFD) and capital, logged in composed and small",
        registered: "E\u{301}COLE",
        normalised: "\u{e9}cole",
    },
    EmailForm {
        what: "a capital dotted I (full mapping: i and a combining dot)",
        registered: "\u{130}STANBUL",
        normalised: "i\u{307}stanbul",
    },
    EmailForm {
        what: "a capital sharp s",
        registered: "STRA\u{1e9e}E",
        normalised: "stra\u{df}e",
    },
    EmailForm {
        what: "a word-final capital sigma (final small sigma)",
        registered: "\u{39f}\u{394}\u{39f}\u{3a3}",
        normalised: "\u{3bf}\u{3b4}\u{3bf}\u{3c2}",
    },
    EmailForm {
        what: "fullwidth and accented letters kept, only lowercased",
        registered: "\u{ff2a}\u{c5}SA",
        normalised: "\u{ff4a}\u{e5}sa",
    },
];

async fn email_form(api: AuthApi<'_>, form: EmailForm) -> Result<(), CaseFailure> {
    let tag = fresh_email("p01-form");
    let (local_tag, domain) = tag
        .split_once('@')
        .unwrap_or((tag.as_str(), "dx-conformance.test"));
    let registered = format!("{}-{local_tag}@{domain}", form.registered);
    let normalised = format!("{}-{local_tag}@{domain}", form.normalised);
    let password = "one person, one account";
    let ex = api.register(&registered, password).await?;
    let stored = ex
        .json()
        .and_then(|b| b.get("email").and_then(Value::as_str).map(str::to_owned));
    if ex.status != 201 || stored.as_deref() != Some(normalised.as_str()) {
        return Err(CaseFailure::violates(
            &ex,
            &ac::EMAIL_CASE_MAPPING,
            format!(
                "{}: registering {registered:?} answered {} with email {stored:?}; the normalised email is {normalised:?}",
                form.what, ex.status
            ),
        ));
    }
    for spelled in [&normalised, &registered] {
        let ex = api.login(spelled, password).await?;
        api.expect_pair(&ex, &ac::EMAIL_NORMALISED)
            .map(drop)
            .map_err(|f| f.about(&format!("{}: logging in as {spelled:?}", form.what)))?;
    }
    Ok(())
}

/// What the conformance profile's open registration adds to a run with test accounts.
const REGISTRATION_WOULD_ADD: &str = "only the given accounts' own passwords were logged in with: the conformance profile's open registration would add passwords at every boundary of spec/auth.md (one byte, the limit in one-, two- and four-byte characters, NFC forms, control characters) and generated ones, each registered and logged in, and a flood of logins";

/// One login of a given test account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Its password: a pair.
    Right,
    /// Its email in capitals (ASCII emails): the same account, as emails are normalised.
    EmailInCapitals,
    /// Its password with the last character changed: refused.
    LastCharacterChanged,
    /// Its password with one byte more: refused.
    OneByteMore,
    /// Its password without its last character: refused.
    LastCharacterCut,
    /// A wrong password answered as an unknown email is.
    SameFailure,
}

/// Property 1 with the accounts the operator gave (`--account`), where the suite may not
/// register: each logs in with its password (also with its email in capitals), is refused
/// with every password one character or byte away, and a wrong password is answered as an
/// unknown email is. A pass in part: registration would add the boundaries.
async fn given_accounts(api: AuthApi<'_>) -> CheckOutcome {
    let attempts: Vec<(usize, Attempt)> = (0..api.area.accounts.len())
        .flat_map(|i| {
            [
                Attempt::Right,
                Attempt::EmailInCapitals,
                Attempt::LastCharacterChanged,
                Attempt::OneByteMore,
                Attempt::LastCharacterCut,
                Attempt::SameFailure,
            ]
            .map(|a| (i, a))
        })
        .collect();
    let outcome = for_each(&attempts, |(i, attempt)| given_account(api, *i, *attempt)).await;
    CheckOutcome::RanInPart {
        outcome: Box::new(outcome),
        unverified: REGISTRATION_WOULD_ADD.into(),
    }
}

async fn given_account(
    api: AuthApi<'_>,
    index: usize,
    attempt: Attempt,
) -> Result<(), CaseFailure> {
    let account = &api.area.accounts[index];
    let (email, password) = (account.email.as_str(), account.password.as_str());
    let refused = |what: &'static str, wrong: String| async move {
        let ex = api.login(email, &wrong).await?;
        api.expect(&ex, "INVALID_CREDENTIALS", &ac::EVERY_BYTE)
            .map_err(|f| f.about(&format!("{email}: {what}")))
    };
    match attempt {
        Attempt::Right | Attempt::EmailInCapitals => {
            let spelled = if attempt == Attempt::Right {
                email.to_owned()
            } else if email.is_ascii() {
                email.to_ascii_uppercase()
            } else {
                return Ok(());
            };
            let ex = api.login(&spelled, password).await?;
            if ex.status == 401 && attempt == Attempt::Right {
                return Err(CaseFailure::blocked(format!(
                    "the test account {email} does not log in (HTTP 401): check the email and password given with --account"
                )));
            }
            let clause = if attempt == Attempt::Right {
                &ac::LOGIN_ISSUES
            } else {
                &ac::EMAIL_NORMALISED
            };
            api.expect_pair(&ex, clause)
                .map(drop)
                .map_err(|f| f.about(&format!("logging in as {spelled}")))
        }
        Attempt::LastCharacterChanged => {
            refused(
                "the password with its last character changed",
                altered(password),
            )
            .await
        }
        Attempt::OneByteMore => {
            refused("the password with one byte more", format!("{password}x")).await
        }
        Attempt::LastCharacterCut => {
            let mut cut: Vec<char> = password.chars().collect();
            if cut.len() < 2 {
                return Ok(());
            }
            cut.pop();
            refused(
                "the password without its last character",
                cut.into_iter().collect(),
            )
            .await
        }
        Attempt::SameFailure => {
            let wrong = api.login(email, &altered(password)).await?;
            let unknown = api
                .login(&fresh_email("p01-nobody"), &altered(password))
                .await?;
            for ex in [&wrong, &unknown] {
                api.expect(ex, "INVALID_CREDENTIALS", &ac::SAME_FAILURE)?;
            }
            if comparable(&wrong) == comparable(&unknown) {
                Ok(())
            } else {
                Err(CaseFailure::violates(
                    &unknown,
                    &ac::SAME_FAILURE,
                    format!(
                        "a wrong password answered {} but an unknown email this",
                        comparable(&wrong)
                    ),
                ))
            }
        }
    }
}

async fn round_trip(api: AuthApi<'_>, case: RoundTrip) -> Result<(), CaseFailure> {
    let (email, _) = api.account("p01", &case.register).await?;
    let ex = api.login(&email, &case.login).await?;
    if ex.status != 200 {
        let clause = if case.register == case.login {
            &ac::PASSWORD_LENGTH
        } else {
            &ac::NFC
        };
        return Err(CaseFailure::violates(
            &ex,
            clause,
            format!("{}: the registered password did not log in", case.what),
        ));
    }
    api.expect_pair(&ex, &ac::LOGIN_ISSUES)?;
    let wrong = api.login(&email, &altered(&case.login)).await?;
    api.expect(&wrong, "INVALID_CREDENTIALS", &ac::EVERY_BYTE)
        .map_err(|f| {
            f.about(&format!(
                "{}: the password with its last character changed",
                case.what
            ))
        })
}

async fn rejected_case(api: AuthApi<'_>, what: &&str) -> Result<(), CaseFailure> {
    let max = api.area.max_password_bytes;
    let (email, password, field, clause) = match *what {
        "empty" => (
            fresh_email("p01"),
            String::new(),
            "password",
            &ac::PASSWORD_LENGTH,
        ),
        "over the limit" => (
            fresh_email("p01"),
            "é".repeat(max / 2) + "x",
            "password",
            &ac::PASSWORD_LENGTH,
        ),
        "email without @" => (
            "no-at-sign.dx-conformance.test".to_owned(),
            "pw".to_owned(),
            "email",
            &ac::EMAIL,
        ),
        _ => (
            "white space@dx-conformance.test".to_owned(),
            "pw".to_owned(),
            "email",
            &ac::EMAIL,
        ),
    };
    for ex in [
        api.register(&email, &password).await?,
        api.login(&email, &password).await?,
    ] {
        api.expect(&ex, "VALIDATION_FAILED", clause)
            .map_err(|f| f.about(what))?;
        let named = ex.json().and_then(|b| {
            b.pointer("/error/details/field")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if named.as_deref() != Some(field) {
            return Err(CaseFailure::violates(
                &ex,
                clause,
                format!("{what}: details.field is {named:?}, not {field:?}"),
            ));
        }
    }
    Ok(())
}

/// The longest email the rules allow registers and logs in (spec/auth.md, Accounts).
async fn longest_email(api: AuthApi<'_>) -> Result<(), CaseFailure> {
    let fresh = fresh_email("p01");
    let email = format!(
        "{}{fresh}",
        "e".repeat(254usize.saturating_sub(fresh.chars().count()))
    );
    let ex = api.register(&email, "longest email").await?;
    if ex.status != 201 {
        return Err(CaseFailure::violates(
            &ex,
            &ac::EMAIL,
            "an email of 254 characters was refused",
        ));
    }
    let ex = api.login(&email, "longest email").await?;
    api.expect_pair(&ex, &ac::LOGIN_ISSUES).map(drop)
}

/// The body without what may differ between two answers.
fn comparable(ex: &Exchange) -> Value {
    let mut body = ex.json().unwrap_or(Value::Null);
    if let Some(o) = body.as_object_mut() {
        o.remove("request_id");
        o.remove("timestamp");
    }
    body
}

async fn same_failure(api: AuthApi<'_>) -> Result<(), CaseFailure> {
    let (email, _) = api.account("p01", "the right one").await?;
    // One email, one account: registering it again is a conflict, whatever the password.
    let again = api.register(&email, "another one").await?;
    api.expect(&again, "DB_CONSTRAINT_VIOLATION", &hc::AUTH_ANSWERS)
        .map_err(|f| f.about("registering an email that has an account"))?;
    let wrong = api.login(&email, "the wrong one").await?;
    let unknown = api
        .login(&fresh_email("p01-nobody"), "the wrong one")
        .await?;
    let injected = api
        .login("'or'1'='1@dx-conformance.test", "' OR '1'='1")
        .await?;
    for ex in [&wrong, &unknown, &injected] {
        api.expect(ex, "INVALID_CREDENTIALS", &ac::SAME_FAILURE)?;
    }
    if comparable(&wrong) != comparable(&unknown) || comparable(&wrong) != comparable(&injected) {
        return Err(CaseFailure::violates(
            &unknown,
            &ac::SAME_FAILURE,
            format!(
                "a wrong password answered {} but an unknown email this",
                comparable(&wrong)
            ),
        ));
    }
    Ok(())
}

async fn flood(api: AuthApi<'_>) -> Result<(), CaseFailure> {
    let (email, _) = api.account("p01", "flood-password").await?;
    let request = AuthApi::login_request(&api.area.login, &email, "not the password");
    let answers = join_all((0..FLOOD).map(|_| api.send_once(request.clone()))).await;
    for ex in answers {
        let ex = ex?;
        match ex.status.as_u16() {
            401 => api.expect(&ex, "INVALID_CREDENTIALS", &ac::SAME_FAILURE)?,
            503 => {
                expect_code(&ex, "RESOURCE_EXHAUSTED", &ac::BOUNDED)?;
                if ex.header("retry-after").is_none() {
                    return Err(CaseFailure::violates(
                        &ex,
                        &ac::BOUNDED,
                        "a 503 to a login flood without Retry-After",
                    ));
                }
            }
            _ => {
                return Err(CaseFailure::violates(
                    &ex,
                    &hc::AUTH_ANSWERS,
                    "a wrong password in a flood",
                ));
            }
        }
    }
    // `login` waits out any Retry-After.
    let ex = api.login(&email, "flood-password").await?;
    api.expect_pair(&ex, &ac::LOGIN_ISSUES).map(drop)
}
