//! Feature: production-readiness, Property 18: CSRF Token Location Flexibility
//!
//! Black-box form. For every unsafe method, a valid token is sent in the header, in an
//! urlencoded form field and in a multipart form field: the CSRF check must let each through
//! (the route may still answer for its own reasons, e.g. 405). Sent in both places, both valid
//! passes and a wrong form value is refused. A session is ended through a form post (204),
//! after which its token is refused. proptest then surrounds the token field with arbitrary
//! other fields, before and after it, in either form encoding.

use http::Method;
use proptest::prelude::*;

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::csrf::{CsrfApi, Place, UNSAFE, area, multipart, urlencoded};
use crate::clause::security as sc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 18,
    run: run_check,
};

const PLACES: [Place; 3] = [Place::Header, Place::UrlEncoded, Place::Multipart];

async fn in_place(api: CsrfApi<'_>, method: Method, place: Place) -> Result<(), CaseFailure> {
    let s = api.session().await?;
    let request = api.request(
        method.clone(),
        &api.area.token_endpoint,
        Some(&s.cookie),
        &s.token,
        place,
    );
    api.accepted(
        &s,
        request,
        &format!("{method} with the token in {place:?}"),
    )
    .await
    .map(|_| ())
}

async fn both_places(api: CsrfApi<'_>) -> Result<(), CaseFailure> {
    let s = api.session().await?;
    let both = api
        .request(
            Method::POST,
            &api.area.token_endpoint,
            Some(&s.cookie),
            &s.token,
            Place::UrlEncoded,
        )
        .header(&api.area.header, &s.token);
    api.accepted(&s, both, "the token in the header and the form field")
        .await?;
    let wrong_form = api
        .request(
            Method::POST,
            &api.area.token_endpoint,
            Some(&s.cookie),
            "not-a-token",
            Place::UrlEncoded,
        )
        .header(&api.area.header, &s.token);
    api.refused(
        wrong_form,
        &["malformed", "invalid"],
        "a valid header beside a wrong form field",
    )
    .await
}

async fn end_by_form(api: CsrfApi<'_>) -> Result<(), CaseFailure> {
    let s = api.session().await?;
    let end = api
        .accepted(
            &s,
            api.request(
                Method::POST,
                &api.area.session_end,
                Some(&s.cookie),
                &s.token,
                Place::Multipart,
            ),
            "ending a session by a multipart form",
        )
        .await?;
    if end.status != 204 {
        return Err(CaseFailure::violates(
            &end,
            &sc::SESSION_END,
            "ending a session by a form post",
        ));
    }
    api.refused(
        api.request(
            Method::POST,
            &api.area.token_endpoint,
            Some(&s.cookie),
            &s.token,
            Place::UrlEncoded,
        ),
        &["no-session"],
        "the token of the ended session",
    )
    .await
}

#[derive(Debug, Clone)]
enum Case {
    Place(Method, Place),
    BothPlaces,
    EndByForm,
}

fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[a-z]{1,8}", "[ -~]{0,30}"), 0..6)
}

async fn surrounded(
    api: CsrfApi<'_>,
    before: Vec<(String, String)>,
    after: Vec<(String, String)>,
    multipart_form: bool,
    method: usize,
) -> Result<(), CaseFailure> {
    let s = api.session().await?;
    let mut all = before;
    all.push((api.area.form_field.clone(), s.token.clone()));
    all.extend(after);
    let mut request =
        crate::http::RequestSpec::new(UNSAFE[method].clone(), &api.area.token_endpoint)
            .header("cookie", &s.cookie);
    request = if multipart_form {
        request
            .header(
                "content-type",
                "multipart/form-data; boundary=dxconformance",
            )
            .body(multipart("dxconformance", &all))
    } else {
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencoded(&all))
    };
    api.accepted(&s, request, "the token among other form fields")
        .await
        .map(|_| ())
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = CsrfApi::new(target, &area);
        let mut cases: Vec<Case> = UNSAFE
            .iter()
            .flat_map(|m| PLACES.iter().map(move |p| Case::Place(m.clone(), *p)))
            .collect();
        cases.push(Case::BothPlaces);
        cases.push(Case::EndByForm);
        let enumerated = for_each(&cases, |c| async move {
            match c {
                Case::Place(m, p) => in_place(api, m.clone(), *p).await,
                Case::BothPlaces => both_places(api).await,
                Case::EndByForm => end_by_form(api).await,
            }
        })
        .await;
        if enumerated.is_failed() {
            return CheckOutcome::Ran(enumerated);
        }
        // Each case has a session of its own: several run at once.
        let generated = for_all_concurrently(
            (fields(), fields(), any::<bool>(), 0usize..4),
            config,
            CASES_AT_ONCE,
            |(before, after, multipart_form, method)| {
                surrounded(api, before, after, multipart_form, method)
            },
        )
        .await;
        CheckOutcome::Ran(enumerated.followed_by(generated))
    })
}
