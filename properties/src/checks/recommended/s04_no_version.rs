//! `s04`, SHOULD-level: no response reveals the server software or its version
//! (spec/security.md, "Security headers"): no `X-Powered-By`, and no digit in `Server`. The
//! answers judged are those any client gets: the discovery document, the health endpoint,
//! an unknown path and a malformed JSON body, from every instance; against a server without
//! a discovery document, its root and the unknown path.

use http::Method;

use crate::cases::{CaseConfig, CaseFailure, CaseOutcome};
use crate::check::{CheckFuture, CheckOutcome};
use crate::clause::should;
use crate::discovery::DISCOVERY_PATH;
use crate::http::{Exchange, HttpClient, RequestSpec};
use crate::target::{Bare, Target};

/// A path no dx-www route serves.
const UNKNOWN: &str = "/dx-conformance/no-such-path";

/// The check.
pub fn run(target: &Target, _config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let mut paths = vec![
            RequestSpec::get(DISCOVERY_PATH),
            RequestSpec::get(target.discovery().endpoints.health.clone()),
        ];
        paths.extend(anyone());
        let clients: Vec<&HttpClient> = target.instances().iter().map(|t| t.http()).collect();
        CheckOutcome::Ran(judge_all(&clients, &paths).await)
    })
}

/// The check against a server without a discovery document.
pub fn run_undescribed(bare: &Bare, _config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let mut paths = vec![RequestSpec::get("/")];
        paths.extend(anyone());
        CheckOutcome::Ran(judge_all(&[bare.http()], &paths).await)
    })
}

/// What any client can ask any server.
fn anyone() -> Vec<RequestSpec> {
    vec![
        RequestSpec::get(UNKNOWN),
        RequestSpec::new(Method::POST, UNKNOWN)
            .header("content-type", "application/json")
            .body(b"{\"unterminated".to_vec()),
    ]
}

async fn judge_all(clients: &[&HttpClient], requests: &[RequestSpec]) -> CaseOutcome {
    let mut cases = 0;
    for client in clients {
        for request in requests {
            cases += 1;
            let verdict = match client.send(request.clone()).await {
                Ok(ex) => judge(&ex),
                Err(e) => Err(CaseFailure::from(e)),
            };
            if let Err(failure) = verdict {
                return CaseOutcome::Failed {
                    cases,
                    failure,
                    counterexample: format!("{} {}", request.method, request.path),
                };
            }
        }
    }
    CaseOutcome::Passed { cases }
}

/// Whether `ex` names its software: an `X-Powered-By`, or a `Server` with a version number.
pub fn judge(ex: &Exchange) -> Result<(), CaseFailure> {
    if let Some(powered) = ex.headers.get("x-powered-by") {
        return Err(CaseFailure::violates(
            ex,
            &should::NO_VERSION,
            format!("X-Powered-By: {}", powered.to_str().unwrap_or("<binary>")),
        ));
    }
    for server in ex.headers.get_all("server") {
        let text = String::from_utf8_lossy(server.as_bytes());
        if text.chars().any(|c| c.is_ascii_digit()) {
            return Err(CaseFailure::violates(
                ex,
                &should::NO_VERSION,
                format!("Server: {text}"),
            ));
        }
    }
    Ok(())
}
