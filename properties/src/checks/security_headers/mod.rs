//! Property 12: the security headers, judged on every response the suite can provoke. Needs
//! no conformance profile: it runs against any target.

pub mod p12_headers_presence;

use crate::cases::CaseFailure;
use crate::clause::{Clause, security as sc};
use crate::http::Exchange;

/// How strict the judge is: what the target's profile and discovery document allow.
#[derive(Debug, Clone, Copy)]
pub struct HeaderRules {
    /// Development: the CSP may be relaxed and HSTS `max-age=0`.
    pub relaxed: bool,
    /// The target says it sends `includeSubDomains`.
    pub include_subdomains: bool,
}

impl HeaderRules {
    /// The rules where nothing is published: no development allowances, and no
    /// `includeSubDomains` promised.
    pub const STRICT: Self = Self {
        relaxed: false,
        include_subdomains: false,
    };

    /// The rules for `target`.
    pub fn of(target: &crate::target::Target) -> Self {
        let d = target.discovery();
        Self {
            relaxed: d.profile == "development",
            include_subdomains: d
                .raw
                .pointer("/security_headers/hsts_include_subdomains")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        }
    }
}

const REFERRER_POLICIES: &[&str] = &[
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
];

/// The one value of header `name`, or a failure citing the every-response rule.
fn one<'e>(ex: &'e Exchange, name: &str, what: &str) -> Result<&'e str, CaseFailure> {
    let values: Vec<_> = ex.headers.get_all(name).iter().collect();
    match values.as_slice() {
        [v] => v.to_str().map_err(|_| {
            CaseFailure::violates(
                ex,
                &sc::EVERY_RESPONSE,
                format!("{what}: {name} is not text"),
            )
        }),
        [] => Err(CaseFailure::violates(
            ex,
            &sc::EVERY_RESPONSE,
            format!("{what}: no {name} header"),
        )),
        _ => Err(CaseFailure::violates(
            ex,
            &sc::EVERY_RESPONSE,
            format!("{what}: {name} sent {} times", values.len()),
        )),
    }
}

fn bad(ex: &Exchange, clause: &Clause, what: &str, detail: String) -> CaseFailure {
    CaseFailure::violates(ex, clause, format!("{what}: {detail}"))
}

/// Judges the six headers of `ex` (requirements 4.1-4.6).
pub fn judge(ex: &Exchange, rules: HeaderRules, what: &str) -> Result<(), CaseFailure> {
    let csp = one(ex, "content-security-policy", what)?;
    if !rules.relaxed {
        let directives: Vec<(String, Vec<String>)> = csp
            .split(';')
            .filter_map(|d| {
                let mut words = d.split_whitespace();
                let name = words.next()?.to_ascii_lowercase();
                Some((name, words.map(|w| w.to_ascii_lowercase()).collect()))
            })
            .collect();
        let sources = |name: &str| directives.iter().find(|(n, _)| n == name).map(|(_, s)| s);
        if sources("default-src").is_none() || sources("frame-ancestors").is_none() {
            return Err(bad(
                ex,
                &sc::CSP,
                what,
                format!("CSP {csp:?} lacks default-src or frame-ancestors"),
            ));
        }
        let scripts = sources("script-src").or_else(|| sources("default-src"));
        if scripts.is_some_and(|s| {
            s.iter()
                .any(|w| w == "'unsafe-inline'" || w == "'unsafe-eval'")
        }) {
            return Err(bad(
                ex,
                &sc::CSP,
                what,
                format!("CSP {csp:?} allows unsafe scripts"),
            ));
        }
    }
    let hsts = one(ex, "strict-transport-security", what)?;
    let parts: Vec<String> = hsts
        .split(';')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    let max_age = parts
        .iter()
        .find_map(|p| p.strip_prefix("max-age="))
        .and_then(|v| v.trim_matches('"').parse::<u64>().ok());
    match max_age {
        None => {
            return Err(bad(
                ex,
                &sc::HSTS,
                what,
                format!("HSTS {hsts:?} has no max-age"),
            ));
        }
        Some(age) if !rules.relaxed && age < 31_536_000 => {
            return Err(bad(
                ex,
                &sc::HSTS,
                what,
                format!("HSTS max-age {age} is under a year"),
            ));
        }
        Some(_) => {}
    }
    if rules.include_subdomains && !parts.iter().any(|p| p == "includesubdomains") {
        return Err(bad(
            ex,
            &sc::HSTS,
            what,
            format!("HSTS {hsts:?} lacks the configured includeSubDomains"),
        ));
    }
    let frame = one(ex, "x-frame-options", what)?;
    if !frame.eq_ignore_ascii_case("DENY") && !frame.eq_ignore_ascii_case("SAMEORIGIN") {
        return Err(bad(
            ex,
            &sc::FRAME,
            what,
            format!("X-Frame-Options {frame:?}"),
        ));
    }
    let nosniff = one(ex, "x-content-type-options", what)?;
    if !nosniff.eq_ignore_ascii_case("nosniff") {
        return Err(bad(
            ex,
            &sc::NOSNIFF,
            what,
            format!("X-Content-Type-Options {nosniff:?}"),
        ));
    }
    let xss = one(ex, "x-xss-protection", what)?;
    let folded: String = xss.chars().filter(|c| !c.is_whitespace()).collect();
    if folded != "0" && !folded.eq_ignore_ascii_case("1;mode=block") {
        return Err(bad(ex, &sc::XSS, what, format!("X-XSS-Protection {xss:?}")));
    }
    let referrer = one(ex, "referrer-policy", what)?;
    let policies: Vec<String> = referrer
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    if policies
        .iter()
        .any(|p| !REFERRER_POLICIES.contains(&p.as_str()))
    {
        return Err(bad(
            ex,
            &sc::REFERRER,
            what,
            format!("Referrer-Policy {referrer:?}"),
        ));
    }
    Ok(())
}
