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

/// One broken requirement of one header.
type Violation = (&'static Clause, String);

/// The one value of header `name`, or the violation of the every-response rule.
fn one<'e>(ex: &'e Exchange, name: &str) -> Result<&'e str, Violation> {
    let values: Vec<_> = ex.headers.get_all(name).iter().collect();
    match values.as_slice() {
        [v] => v
            .to_str()
            .map_err(|_| (&sc::EVERY_RESPONSE, format!("{name} is not text"))),
        [] => Err((&sc::EVERY_RESPONSE, format!("no {name} header"))),
        _ => Err((
            &sc::EVERY_RESPONSE,
            format!("{name} sent {} times", values.len()),
        )),
    }
}

/// Judges the six headers of `ex` (requirements 4.1-4.6), each on its own: a failure names
/// every header that breaks its rule, so one run tells a user everything to fix.
pub fn judge(ex: &Exchange, rules: HeaderRules, what: &str) -> Result<(), CaseFailure> {
    let violations: Vec<Violation> = [
        csp(ex, rules),
        hsts(ex, rules),
        frame_options(ex),
        nosniff(ex),
        xss_protection(ex),
        referrer_policy(ex),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    if violations.is_empty() {
        return Ok(());
    }
    let mut clauses: Vec<&Clause> = Vec::new();
    for (clause, _) in &violations {
        if !clauses.iter().any(|c| std::ptr::eq(*c, *clause)) {
            clauses.push(clause);
        }
    }
    let expected = clauses
        .iter()
        .map(|c| c.cite())
        .collect::<Vec<_>>()
        .join("\n");
    let details = violations
        .iter()
        .map(|(_, d)| d.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Err(CaseFailure::at(
        ex,
        expected,
        format!(
            "{what}: {} of the six headers break their rule: {details}",
            violations.len()
        ),
    ))
}

fn csp(ex: &Exchange, rules: HeaderRules) -> Result<(), Violation> {
    let csp = one(ex, "content-security-policy")?;
    if rules.relaxed {
        return Ok(());
    }
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
        return Err((
            &sc::CSP,
            format!("CSP {csp:?} lacks default-src or frame-ancestors"),
        ));
    }
    let scripts = sources("script-src").or_else(|| sources("default-src"));
    if scripts.is_some_and(|s| {
        s.iter()
            .any(|w| w == "'unsafe-inline'" || w == "'unsafe-eval'")
    }) {
        return Err((&sc::CSP, format!("CSP {csp:?} allows unsafe scripts")));
    }
    Ok(())
}

fn hsts(ex: &Exchange, rules: HeaderRules) -> Result<(), Violation> {
    let hsts = one(ex, "strict-transport-security")?;
    let parts: Vec<String> = hsts
        .split(';')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    let max_age = parts
        .iter()
        .find_map(|p| p.strip_prefix("max-age="))
        .and_then(|v| v.trim_matches('"').parse::<u64>().ok());
    match max_age {
        None => return Err((&sc::HSTS, format!("HSTS {hsts:?} has no max-age"))),
        Some(age) if !rules.relaxed && age < 31_536_000 => {
            return Err((&sc::HSTS, format!("HSTS max-age {age} is under a year")));
        }
        Some(_) => {}
    }
    if rules.include_subdomains && !parts.iter().any(|p| p == "includesubdomains") {
        return Err((
            &sc::HSTS,
            format!("HSTS {hsts:?} lacks the configured includeSubDomains"),
        ));
    }
    Ok(())
}

fn frame_options(ex: &Exchange) -> Result<(), Violation> {
    let frame = one(ex, "x-frame-options")?;
    if frame.eq_ignore_ascii_case("DENY") || frame.eq_ignore_ascii_case("SAMEORIGIN") {
        Ok(())
    } else {
        Err((&sc::FRAME, format!("X-Frame-Options {frame:?}")))
    }
}

fn nosniff(ex: &Exchange) -> Result<(), Violation> {
    let nosniff = one(ex, "x-content-type-options")?;
    if nosniff.eq_ignore_ascii_case("nosniff") {
        Ok(())
    } else {
        Err((&sc::NOSNIFF, format!("X-Content-Type-Options {nosniff:?}")))
    }
}

fn xss_protection(ex: &Exchange) -> Result<(), Violation> {
    let xss = one(ex, "x-xss-protection")?;
    let folded: String = xss.chars().filter(|c| !c.is_whitespace()).collect();
    if folded == "0" || folded.eq_ignore_ascii_case("1;mode=block") {
        Ok(())
    } else {
        Err((&sc::XSS, format!("X-XSS-Protection {xss:?}")))
    }
}

fn referrer_policy(ex: &Exchange) -> Result<(), Violation> {
    let referrer = one(ex, "referrer-policy")?;
    let policies: Vec<String> = referrer
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    if policies
        .iter()
        .any(|p| !REFERRER_POLICIES.contains(&p.as_str()))
    {
        return Err((&sc::REFERRER, format!("Referrer-Policy {referrer:?}")));
    }
    Ok(())
}
