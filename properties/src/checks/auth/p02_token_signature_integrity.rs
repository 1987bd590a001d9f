//! Feature: production-readiness, Property 2: Token Signature Integrity
//!
//! Black-box form. The suite logs in and verifies both tokens itself, with the keys of the
//! discovery document (`spec/tokens.md`). Then it changes them: every single bit of the
//! access token's text is flipped and sent to `me` as a header (bytes ≥ 0x80 over a raw
//! connection). A flip that makes a control character cannot travel in a header, so those
//! flips are made in the refresh token's text and sent to the refresh endpoint in the JSON
//! body instead; between them every kind of single-bit change is covered (a text flip changes
//! the payload, the signature or the footer, or breaks the encoding). The token is also cut
//! at every length.
//! Each must be refused with `TOKEN_INVALID`. So must tokens of other PASETO versions and
//! purposes, non-canonical encodings, a valid signature by a key the target does not know
//! (under the target's key id and under its own), a refresh token used as an access token and
//! the reverse, malformed `Authorization` headers, and a token over 4096 characters.

use ed25519_dalek::SigningKey;
use http::Method;

use crate::cases::{CaseConfig, CaseFailure, for_each, for_each_concurrently};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::auth::{AuthApi, Pair, area};
use crate::clause::{http_contract as hc, tokens as tc};
use crate::http::RequestSpec;
use crate::raw::{RawAnswer, RawRequest};
use crate::target::Target;
use crate::token::sign;

/// Changed tokens in flight at once: the space is thousands of cheap requests.
const CONCURRENCY: usize = 32;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 2,
    run: run_check,
};

/// Where a changed token is presented.
#[derive(Debug, Clone)]
enum Probe {
    /// `GET me` with `Authorization: Bearer` and this text.
    Me(String),
    /// `GET me` over a raw connection with these header value bytes (not UTF-8).
    MeRaw(Vec<u8>),
    /// The refresh endpoint with this text.
    Refresh(String),
    /// `GET me` with these `Authorization` header values.
    Header(Vec<String>),
    /// `GET me` with an `Authorization` header of this many bytes: refused as a token, or by
    /// the parser as a header section over its limit.
    Huge(usize),
}

/// One changed token.
#[derive(Debug, Clone)]
struct Case {
    what: String,
    probe: Probe,
}

fn flip_text(text: &str, bit: usize) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes[bit / 8] ^= 1 << (bit % 8);
    bytes
}

/// Every changed form of the pair, in a fixed order.
fn cases(pair: &Pair, server_kid: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let access = &pair.access.text;
    let refresh = &pair.refresh.text;
    for bit in 0..access.len() * 8 {
        let bytes = flip_text(access, bit);
        let what = format!("access token, text bit {bit}");
        let byte = bytes[bit / 8];
        if byte >= 0x80 {
            out.push(Case {
                what,
                probe: Probe::MeRaw(bytes),
            });
        } else if byte >= 0x20 && byte != 0x7f {
            out.push(Case {
                what,
                probe: Probe::Me(String::from_utf8_lossy(&bytes).into_owned()),
            });
        }
    }
    for bit in 0..refresh.len() * 8 {
        let bytes = flip_text(refresh, bit);
        let byte = bytes[bit / 8];
        if byte < 0x20 || byte == 0x7f {
            out.push(Case {
                what: format!("refresh token, text bit {bit}"),
                probe: Probe::Refresh(String::from_utf8_lossy(&bytes).into_owned()),
            });
        }
    }
    let t = &pair.access;
    for len in 0..access.len() {
        out.push(Case {
            what: format!("access token cut to {len} characters"),
            probe: Probe::Me(access[..len].to_owned()),
        });
    }
    let stranger = SigningKey::from_bytes(&[0x5a; 32]);
    let footer_server = format!("{{\"kid\":\"{server_kid}\"}}");
    let mut named = |what: &str, probe: Probe| {
        out.push(Case {
            what: what.to_owned(),
            probe,
        })
    };
    named(
        "signed by an unknown key under the target's key id",
        Probe::Me(sign(&stranger, &t.payload, footer_server.as_bytes())),
    );
    named(
        "signed by an unknown key under its own key id",
        Probe::Me(sign(
            &stranger,
            &t.payload,
            br#"{"kid":"dx-conformance-stranger"}"#,
        )),
    );
    named(
        "a refresh token as an access token",
        Probe::Me(refresh.clone()),
    );
    named(
        "an access token as a refresh token",
        Probe::Refresh(access.clone()),
    );
    named(
        "v4.local",
        Probe::Me(access.replacen("v4.public.", "v4.local.", 1)),
    );
    named(
        "v2.public",
        Probe::Me(access.replacen("v4.public.", "v2.public.", 1)),
    );
    named(
        "v3.public",
        Probe::Me(access.replacen("v4.public.", "v3.public.", 1)),
    );
    named(
        "upper-case header",
        Probe::Me(access.replacen("v4.public.", "V4.PUBLIC.", 1)),
    );
    named(
        "no footer",
        Probe::Me(
            access
                .rsplit_once('.')
                .map_or_else(String::new, |(head, _)| head.to_owned()),
        ),
    );
    named(
        "empty footer",
        Probe::Me(format!(
            "{}.",
            access.rsplit_once('.').map_or("", |(head, _)| head)
        )),
    );
    named("padded", Probe::Me(format!("{access}=")));
    named("an extra part", Probe::Me(format!("{access}.e30")));
    // `+` and `/` are standard base64, not base64url: a token using them is not canonical.
    let body_at = "v4.public.".len() + 10;
    for c in ['+', '/'] {
        let mut text = access.clone();
        text.replace_range(body_at..=body_at, &c.to_string());
        named(&format!("a `{c}` in the body"), Probe::Me(text));
    }
    named(
        "4097 characters",
        Probe::Me(format!(
            "{access}{}",
            "A".repeat(4097usize.saturating_sub(access.len()))
        )),
    );
    named("a 64 KiB Authorization header", Probe::Huge(64 * 1024));
    named("a 1 MiB Authorization header", Probe::Huge(1024 * 1024));
    named("no Authorization header", Probe::Header(vec![]));
    named("an empty bearer", Probe::Header(vec!["Bearer ".into()]));
    named(
        "another scheme",
        Probe::Header(vec![format!("Basic {access}")]),
    );
    named(
        "the token without a scheme",
        Probe::Header(vec![access.clone()]),
    );
    named(
        "two Authorization headers",
        Probe::Header(vec![format!("Bearer {access}"), format!("Bearer {access}")]),
    );
    named(
        "a space inside the token",
        Probe::Header(vec![format!("Bearer {} {}", &access[..20], &access[20..])]),
    );
    out
}

fn run_check(target: &Target, _config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = AuthApi::new(target, &area);
        let pair = match api.session("p02").await {
            Ok((_, pair)) => pair,
            Err(failure) => return CheckOutcome::SetupFailed(failure),
        };
        // The genuine tokens work where they belong.
        let genuine = for_each(&[()], |_| genuine(api, &pair)).await;
        if genuine.is_failed() {
            return CheckOutcome::Ran(genuine);
        }
        let space = cases(&pair, &area.signing_kid);
        let changed = for_each_concurrently(&space, CONCURRENCY, |case| refused(api, case)).await;
        CheckOutcome::Ran(genuine.followed_by(changed))
    })
}

async fn genuine(api: AuthApi<'_>, pair: &Pair) -> Result<(), CaseFailure> {
    let ex = api.me(&pair.access.text).await?;
    let user = ex
        .json()
        .and_then(|b| b.get("user_id").and_then(|u| u.as_str().map(str::to_owned)));
    let expired_meanwhile = super::response_date(&ex).is_some_and(|d| d >= pair.access.claims.exp);
    if (ex.status != 200 && !expired_meanwhile)
        || (ex.status == 200 && user.as_deref() != Some(pair.access.claims.sub.as_str()))
    {
        return Err(CaseFailure::violates(
            &ex,
            &tc::VERIFY,
            "the genuine access token was not accepted by `me`",
        ));
    }
    Ok(())
}

/// The server still answers after a request it refused at the parser.
async fn still_serving(api: AuthApi<'_>) -> Result<(), CaseFailure> {
    let health = api.observer.target.discovery().endpoints.health.clone();
    let ex = api.observer.send(RequestSpec::get(health), &[]).await?;
    if ex.status == 200 {
        Ok(())
    } else {
        Err(CaseFailure::violates(
            &ex,
            &hc::UNPARSEABLE,
            "the health endpoint failed after a huge Authorization header",
        ))
    }
}

async fn refused(api: AuthApi<'_>, case: &Case) -> Result<(), CaseFailure> {
    let ex = match &case.probe {
        Probe::Me(text) => api.me(text).await?,
        Probe::Refresh(text) => api.refresh(text).await?,
        Probe::Header(values) => {
            let mut request = RequestSpec::new(Method::GET, api.area.me.clone());
            for v in values {
                request = request.header("Authorization", v.clone());
            }
            let ex = api.send(request).await?;
            return api
                .expect(&ex, "TOKEN_INVALID", &hc::BEARER)
                .map_err(|f| f.about(&case.what));
        }
        Probe::Huge(bytes) => {
            let request = RequestSpec::new(Method::GET, api.area.me.clone()).header(
                "Authorization",
                format!("Bearer v4.public.{}", "A".repeat(*bytes)),
            );
            let ex = match api.target_http_send(request).await {
                Ok(ex) => ex,
                // Closing the connection is one of the answers the parsing rule allows.
                Err(_) => return still_serving(api).await,
            };
            if ex.status == 401 {
                return api
                    .expect(&ex, "TOKEN_INVALID", &tc::VERIFY)
                    .map_err(|f| f.about(&case.what));
            }
            if ex.status.as_u16() < 400 {
                return Err(CaseFailure::violates(
                    &ex,
                    &tc::VERIFY,
                    format!("{}: accepted", case.what),
                ));
            }
            return still_serving(api).await;
        }
        Probe::MeRaw(bytes) => {
            let target = api.observer.instance();
            let host = target
                .base_url()
                .host_str()
                .unwrap_or("127.0.0.1")
                .to_owned();
            let head = [
                format!("GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAuthorization: Bearer ", api.area.me).into_bytes(),
                bytes.clone(),
                b"\r\n\r\n".to_vec(),
            ]
            .concat();
            let request = RawRequest::whole(case.what.clone(), head);
            let answer = target
                .send_raw(&request, std::time::Duration::from_secs(5))
                .await?;
            return match answer {
                RawAnswer::Response(ex) => {
                    api.observer.judge_sanitization(&ex)?;
                    api.expect(&ex, "TOKEN_INVALID", &tc::VERIFY)
                        .map_err(|f| f.about(&case.what))
                }
                other => Err(CaseFailure::plain(
                    tc::VERIFY.cite(),
                    format!("{}: {other:?}", case.what),
                )),
            };
        }
    };
    api.expect(&ex, "TOKEN_INVALID", &tc::VERIFY)
        .map_err(|f| f.about(&case.what))
}
