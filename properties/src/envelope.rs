//! Judging error responses: the envelope exactly as spec/error-format.md words it (members,
//! types, code-bound details and headers, request id, a current UTC timestamp), and the absence
//! of internal detail in any response (spec/error-format.md, "Sanitization"). Shared by the
//! property checks and the Gherkin steps; every failure cites the sentence it enforces.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Map, Value};

use crate::cases::CaseFailure;
use crate::clause::{Clause, error_codes, error_format as ef};
use crate::discovery::Discovery;
use crate::http::Exchange;
use crate::leaks::find_leaks;
use crate::spec::{ErrorCodeSpec, error_code_by_wire};

/// A parsed, valid error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The code's table entry.
    pub code: &'static ErrorCodeSpec,
    /// `error.message`.
    pub message: String,
    /// `error.suggestion`.
    pub suggestion: Option<String>,
    /// `error.details`.
    pub details: Option<Value>,
    /// `request_id`.
    pub request_id: String,
}

/// What the envelope rules depend on: the target's profile and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The development profile may add `details.debug`.
    pub development: bool,
    /// `limits.max_body_bytes`, which every 413 states; `None` for a target without a
    /// discovery document, whose 413s need only state some limit.
    pub max_body_bytes: Option<u64>,
}

impl Rules {
    /// The rules for the target that published `discovery`.
    pub fn of(discovery: &Discovery) -> Self {
        Self {
            development: discovery.profile == "development",
            max_body_bytes: Some(discovery.limits.max_body_bytes),
        }
    }

    /// The rules for a target without a discovery document: no profile is published, so
    /// none of the development profile's allowances apply, and no limit is known.
    pub const UNDESCRIBED: Self = Self {
        development: false,
        max_body_bytes: None,
    };
}

/// How far `timestamp` may be from the `Date` header.
const DATE_TOLERANCE_MS: i64 = 2_000;
/// Without a `Date` header, how far it may be from the suite's clock (hosts' clocks differ).
const CLOCK_SKEW_MS: i64 = 300_000;

static TIMESTAMP: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"));
static TOKEN: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"));

/// The codes the query module's members may come with.
const QUERY_CODES: &[u16] = &[2001, 2002, 2003, 2004, 4001, 5003];

/// Which `details` members each code may carry (an empty list: any code), per
/// spec/error-format.md.
const DETAIL_CODES: &[(&str, &[u16])] = &[
    ("field", &[4001]),
    ("checks", &[5004]),
    ("max_body_bytes", &[4013]),
    ("retry_after_seconds", &[1005]),
    ("category", &[1005]),
    ("reason", &[1006]),
    ("error_type", QUERY_CODES),
    ("table", QUERY_CODES),
    ("operation", QUERY_CODES),
    ("constraint", &[2003]),
    ("debug", &[]),
];

/// Checks that `exchange` carries a complete, valid error envelope (Property 8).
pub fn check_envelope(exchange: &Exchange, rules: &Rules) -> Result<Envelope, CaseFailure> {
    let fail = |clause: &Clause, what: String| CaseFailure::violates(exchange, clause, what);
    let content_type = exchange.header("content-type").unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(fail(
            &ef::ENVELOPE,
            format!("Content-Type is `{content_type}`"),
        ));
    }
    let json = exchange
        .json()
        .ok_or_else(|| fail(&ef::ENVELOPE, "the body is not JSON".into()))?;
    let top = json
        .as_object()
        .ok_or_else(|| fail(&ef::ENVELOPE, "the body is not a JSON object".into()))?;
    only_members(top, &["error", "request_id", "timestamp"], "the body")
        .map_err(|w| fail(&ef::MEMBERS, w))?;
    let error = top
        .get("error")
        .and_then(Value::as_object)
        .ok_or_else(|| fail(&ef::MEMBERS, "the body has no `error` object".into()))?;
    only_members(
        error,
        &["code", "number", "message", "details", "suggestion"],
        "`error`",
    )
    .map_err(|w| fail(&ef::MEMBERS, w))?;
    for (name, value) in top.iter().chain(error.iter()) {
        if value.is_null() {
            return Err(fail(&ef::ABSENT_OMITTED, format!("`{name}` is null")));
        }
    }
    let code = code_of(error).map_err(|w| fail(&ef::CODE, w))?;
    match error.get("number") {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(code.number)) => {}
        other => {
            return Err(fail(
                &ef::NUMBER,
                format!(
                    "error.number is {}, but {} is {}",
                    shown(other),
                    code.wire,
                    code.number
                ),
            ));
        }
    }
    if exchange.status.as_u16() != code.http_status {
        return Err(fail(
            &error_codes::STATUS,
            format!(
                "HTTP status {} but {} requires {}",
                exchange.status.as_u16(),
                code.wire,
                code.http_status
            ),
        ));
    }
    let message = match error.get("message") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(fail(
                &ef::MESSAGE,
                format!("error.message is {}", shown(other)),
            ));
        }
    };
    let suggestion = match error.get("suggestion") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(other) => {
            return Err(fail(
                &ef::SUGGESTION,
                format!("error.suggestion is {other}"),
            ));
        }
    };
    let details = error.get("details");
    check_details(exchange, code, details, rules)?;
    check_bound_headers(exchange, code, details)?;
    let request_id = match top.get("request_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(fail(
                &ef::REQUEST_ID,
                format!("request_id is {}", shown(other)),
            ));
        }
    };
    let header_ids: Vec<&str> = exchange
        .headers
        .get_all("x-request-id")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if header_ids != [request_id.as_str()] {
        return Err(fail(
            &ef::REQUEST_ID,
            format!("request_id `{request_id}` but X-Request-Id headers {header_ids:?}"),
        ));
    }
    check_timestamp(exchange, top.get("timestamp"))?;
    if code.http_status >= 500 && message != code.message {
        return Err(fail(
            &ef::DEFAULT_MESSAGE_5XX,
            format!(
                "error.message `{message}`, not the default `{}`",
                code.message
            ),
        ));
    }
    Ok(Envelope {
        code,
        message,
        suggestion,
        details: details.cloned(),
        request_id,
    })
}

/// Checks that `exchange` is an error with the wire code `wire` and its status; `clause` is
/// the sentence that requires that code here. Only what the check needs is judged: the
/// envelope's full shape is the envelope rule's, judged on every response apart
/// (`rules:envelope`, owned by Property 8), so one malformed envelope is reported once, by
/// its cause, not as the failure of every check that read a code from it.
pub fn expect_code(
    exchange: &Exchange,
    wire: &str,
    clause: &Clause,
) -> Result<Envelope, CaseFailure> {
    expect_status(exchange, wire, clause)?;
    let envelope = read_envelope(exchange).map_err(|what| {
        CaseFailure::violates(exchange, clause, format!("the error code {wire}: {what}"))
    })?;
    expect_wire(exchange, &envelope, wire, clause)?;
    Ok(envelope)
}

/// [`expect_code`], with the whole envelope judged (`check_envelope`): for the checks the
/// envelope is the subject of (Property 8, the error-format scenarios).
pub fn expect_code_strict(
    exchange: &Exchange,
    rules: &Rules,
    wire: &str,
    clause: &Clause,
) -> Result<Envelope, CaseFailure> {
    expect_status(exchange, wire, clause)?;
    let envelope = check_envelope(exchange, rules)?;
    expect_wire(exchange, &envelope, wire, clause)?;
    Ok(envelope)
}

fn expect_status(exchange: &Exchange, wire: &str, clause: &Clause) -> Result<(), CaseFailure> {
    if exchange.status.as_u16() < 400 {
        return Err(CaseFailure::violates(
            exchange,
            clause,
            format!(
                "HTTP {} instead of an error with code {wire}",
                exchange.status
            ),
        ));
    }
    Ok(())
}

fn expect_wire(
    exchange: &Exchange,
    envelope: &Envelope,
    wire: &str,
    clause: &Clause,
) -> Result<(), CaseFailure> {
    if envelope.code.wire != wire {
        return Err(CaseFailure::violates(
            exchange,
            clause,
            format!("code {} instead of {wire}", envelope.code.wire),
        ));
    }
    if exchange.status.as_u16() != envelope.code.http_status {
        return Err(CaseFailure::violates(
            exchange,
            clause,
            format!(
                "HTTP status {} but {wire} requires {}",
                exchange.status.as_u16(),
                envelope.code.http_status
            ),
        ));
    }
    Ok(())
}

/// The envelope's members as far as they can be read, nothing else judged: for a check that
/// reads a member (a detail, the message) and leaves the shape to the envelope rule.
pub fn read_envelope(exchange: &Exchange) -> Result<Envelope, String> {
    let json = exchange.json().ok_or("the body is not JSON")?;
    let error = json
        .get("error")
        .and_then(Value::as_object)
        .ok_or("the body has no `error` object")?;
    let code = code_of(error)?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    Ok(Envelope {
        code,
        message: text(error.get("message")).unwrap_or_default(),
        suggestion: text(error.get("suggestion")),
        details: error.get("details").cloned(),
        request_id: text(json.get("request_id")).unwrap_or_default(),
    })
}

fn only_members(object: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(format!("{what} has the undefined member `{extra}`")),
        None => Ok(()),
    }
}

fn code_of(error: &Map<String, Value>) -> Result<&'static ErrorCodeSpec, String> {
    match error.get("code") {
        Some(Value::String(wire)) => error_code_by_wire(wire)
            .ok_or_else(|| format!("error.code `{wire}` is not in spec/error-codes.toml")),
        other => Err(format!("error.code is {}", shown(other))),
    }
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "missing".to_owned(), Value::to_string)
}

fn check_details(
    exchange: &Exchange,
    code: &ErrorCodeSpec,
    details: Option<&Value>,
    rules: &Rules,
) -> Result<(), CaseFailure> {
    let fail = |clause: &Clause, what: String| CaseFailure::violates(exchange, clause, what);
    let empty = Map::new();
    let map = match details {
        None => &empty,
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(fail(
                &ef::DETAILS_MEMBERS,
                format!("error.details is {other}"),
            ));
        }
    };
    for name in map.keys() {
        match DETAIL_CODES.iter().find(|(n, _)| n == name) {
            None => {
                return Err(fail(
                    &ef::DETAILS_MEMBERS,
                    format!("error.details has the unlisted member `{name}`"),
                ));
            }
            Some((_, numbers)) if !numbers.is_empty() && !numbers.contains(&code.number) => {
                return Err(fail(
                    &ef::DETAILS_MEMBERS,
                    format!(
                        "error.details.{name} with code {}, but it is listed only with {numbers:?}",
                        code.number
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if map.contains_key("debug") && !rules.development {
        return Err(fail(
            &ef::DEBUG_ONLY_DEVELOPMENT,
            "error.details.debug is present".into(),
        ));
    }
    match code.number {
        4001 => match map.get("field") {
            Some(Value::String(s)) if !s.is_empty() => {}
            other => {
                return Err(fail(
                    &ef::FIELD,
                    format!("error.details.field is {}", shown(other)),
                ));
            }
        },
        4013 => {
            let limit = map.get("max_body_bytes").and_then(Value::as_u64);
            let stated = match rules.max_body_bytes {
                Some(published) => limit == Some(published),
                None => limit.is_some(),
            };
            if !stated {
                let published = rules
                    .max_body_bytes
                    .map_or_else(|| "unpublished".to_owned(), |l| l.to_string());
                return Err(fail(
                    &ef::MAX_BODY_BYTES,
                    format!(
                        "error.details.max_body_bytes is {}, the published limit is {published}",
                        shown(map.get("max_body_bytes")),
                    ),
                ));
            }
        }
        _ => {}
    }
    if let Some(checks) = map.get("checks") {
        let valid = checks
            .as_object()
            .is_some_and(|c| c.values().all(is_check_state));
        if !valid {
            return Err(fail(
                &ef::CHECKS,
                format!("error.details.checks is {checks}"),
            ));
        }
    }
    Ok(())
}

/// Whether `value` is one of the readiness states `spec/http-contract.md` defines.
pub fn is_check_state(value: &Value) -> bool {
    matches!(
        value.as_str(),
        Some("ok" | "not_configured" | "unavailable")
    )
}

/// The headers (and the detail) bound to 405 and 429.
fn check_bound_headers(
    exchange: &Exchange,
    code: &ErrorCodeSpec,
    details: Option<&Value>,
) -> Result<(), CaseFailure> {
    let values = |name: &str| -> Vec<String> {
        exchange
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    match code.http_status {
        405 => {
            let allow = values("allow");
            let valid = allow.len() == 1 && !allowed_methods(&allow[0]).is_empty();
            if !valid {
                return Err(CaseFailure::violates(
                    exchange,
                    &ef::ALLOW,
                    format!("Allow headers {allow:?}"),
                ));
            }
        }
        429 => {
            let retry = values("retry-after");
            let seconds = match retry.as_slice() {
                [one] if one.bytes().all(|b| b.is_ascii_digit()) => one.parse::<u64>().ok(),
                _ => None,
            };
            let detail = details
                .and_then(|d| d.get("retry_after_seconds"))
                .and_then(Value::as_u64);
            if seconds.is_none_or(|s| s < 1) || detail != seconds {
                return Err(CaseFailure::violates(
                    exchange,
                    &ef::RETRY_AFTER,
                    format!(
                        "Retry-After headers {retry:?}, details.retry_after_seconds {detail:?}"
                    ),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The methods an `Allow` value lists, upper-cased; empty when any item is not a token.
pub fn allowed_methods(allow: &str) -> Vec<String> {
    let Ok(token) = TOKEN.as_ref() else {
        return Vec::new();
    };
    let items: Vec<&str> = allow.split(',').map(str::trim).collect();
    if items.iter().any(|m| !token.is_match(m)) {
        return Vec::new();
    }
    let mut methods: Vec<String> = items.iter().map(|m| m.to_ascii_uppercase()).collect();
    methods.sort();
    methods.dedup();
    methods
}

fn check_timestamp(exchange: &Exchange, value: Option<&Value>) -> Result<(), CaseFailure> {
    let stamp = value.and_then(Value::as_str).unwrap_or("");
    let form_ok = TIMESTAMP.as_ref().is_ok_and(|re| re.is_match(stamp));
    let parsed = DateTime::parse_from_rfc3339(stamp).ok().filter(|_| form_ok);
    let Some(at) = parsed.map(|t| t.with_timezone(&Utc)) else {
        return Err(CaseFailure::violates(
            exchange,
            &ef::TIMESTAMP_FORM,
            format!("timestamp is {}", shown(value)),
        ));
    };
    let date = exchange.date();
    let (reference, tolerance, what) = match date {
        Some(d) => (d, DATE_TOLERANCE_MS, "the Date header"),
        None => (
            Utc::now(),
            CLOCK_SKEW_MS,
            "the suite's clock (no Date header)",
        ),
    };
    // The Date header has one-second resolution, so it may lag by up to a second more.
    let distance = (at - reference).num_milliseconds().abs();
    if distance > tolerance + 1_000 * i64::from(date.is_some()) {
        return Err(CaseFailure::violates(
            exchange,
            &ef::TIMESTAMP_CURRENT,
            format!("timestamp `{stamp}` is {distance} ms away from {what} ({reference})"),
        ));
    }
    Ok(())
}

/// Checks that no header or body of `exchange` reveals internal details: none of `markers`
/// (strings the suite planted in internal causes), and nothing the leak judge recognises.
/// In the development profile, `details.debug` is exempt (spec/error-format.md).
pub fn check_no_leak(
    exchange: &Exchange,
    markers: &[String],
    rules: &Rules,
) -> Result<(), CaseFailure> {
    let mut seen: Vec<String> = Vec::new();
    let mut clauses: Vec<&'static Clause> = Vec::new();
    let mut note = |clause: &'static Clause, what: String| {
        if !clauses.iter().any(|c| std::ptr::eq(*c, clause)) {
            clauses.push(clause);
        }
        seen.push(what);
    };
    let body = public_body(exchange, rules);
    for marker in markers.iter().filter(|m| !m.is_empty()) {
        if body.contains(marker.as_str()) {
            note(
                &ef::NO_SOURCE_TEXT,
                format!("the body contains the internal marker `{marker}`"),
            );
        }
    }
    for leak in find_leaks(&body) {
        note(
            leak.clause(),
            format!("the body reveals {}", leak.describe()),
        );
    }
    for (name, value) in &exchange.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let judged = if *name == http::header::SET_COOKIE {
            cookie_without_name(&value)
        } else {
            value.as_ref()
        };
        if let Some(marker) = markers
            .iter()
            .find(|m| !m.is_empty() && judged.contains(m.as_str()))
        {
            note(
                &ef::NO_SOURCE_TEXT,
                format!("header {name} contains the internal marker `{marker}`"),
            );
        }
        for leak in find_leaks(judged) {
            note(
                leak.clause(),
                format!("header {name} reveals {}", leak.describe()),
            );
        }
    }
    if seen.is_empty() {
        return Ok(());
    }
    let expected = clauses
        .iter()
        .map(|c| c.cite())
        .collect::<Vec<_>>()
        .join("\n");
    Err(CaseFailure::at(exchange, expected, seen.join("; ")))
}

/// A `Set-Cookie` value without its cookie's name: `XSRF-TOKEN=…` is the cookie syntax of
/// RFC 6265, not an environment assignment, and the name is the target's to choose and
/// publish (spec/security.md, "CSRF"); the value and the attributes are still judged.
fn cookie_without_name(value: &str) -> &str {
    value.split_once('=').map_or(value, |(_, rest)| rest)
}

/// The body as a client-facing text: without `error.details.debug` in development.
fn public_body(exchange: &Exchange, rules: &Rules) -> String {
    if rules.development
        && let Some(mut json) = exchange.json()
        && let Some(details) = json
            .pointer_mut("/error/details")
            .and_then(Value::as_object_mut)
    {
        details.remove("debug");
        return json.to_string();
    }
    exchange.text()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::RequestSpec;
    use http::{HeaderMap, HeaderValue, StatusCode};
    use serde_json::json;

    const RULES: Rules = Rules {
        development: false,
        max_body_bytes: Some(1024),
    };

    fn now() -> String {
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    fn exchange(status: u16, body: &Value, headers: &[(&'static str, &str)]) -> Exchange {
        let mut map = HeaderMap::new();
        map.insert("content-type", HeaderValue::from_static("application/json"));
        map.insert("x-request-id", HeaderValue::from_static("rid"));
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        Exchange {
            url: "http://h/x".into(),
            request: RequestSpec::get("/x"),
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.to_string().into_bytes(),
            raw_replay: None,
        }
    }

    fn body(code: &str, number: u16, message: &str) -> Value {
        json!({"error": {"code": code, "number": number, "message": message}, "request_id": "rid", "timestamp": now()})
    }

    /// The sentence a failing envelope is blamed on.
    fn blamed(ex: &Exchange) -> String {
        check_envelope(ex, &RULES).unwrap_err().expected
    }

    #[test]
    fn a_complete_envelope_passes() {
        let ex = exchange(404, &body("NOT_FOUND", 4004, " "), &[]);
        let envelope = check_envelope(&ex, &RULES).unwrap();
        assert_eq!(envelope.code.number, 4004);
        assert_eq!(envelope.message, " ", "white space is a message");
    }

    #[test]
    fn each_rule_is_enforced_and_cited() {
        let mut extra = body("NOT_FOUND", 4004, "m");
        extra["trace_id"] = json!("x");
        assert_eq!(blamed(&exchange(404, &extra, &[])), ef::MEMBERS.cite());
        let mut null = body("NOT_FOUND", 4004, "m");
        null["error"]["suggestion"] = Value::Null;
        assert_eq!(
            blamed(&exchange(404, &null, &[])),
            ef::ABSENT_OMITTED.cite()
        );
        assert_eq!(
            blamed(&exchange(404, &body("NOPE", 4004, "m"), &[])),
            ef::CODE.cite()
        );
        assert_eq!(
            blamed(&exchange(404, &body("NOT_FOUND", 4005, "m"), &[])),
            ef::NUMBER.cite()
        );
        assert_eq!(
            blamed(&exchange(400, &body("NOT_FOUND", 4004, "m"), &[])),
            error_codes::STATUS.cite()
        );
        assert_eq!(
            blamed(&exchange(404, &body("NOT_FOUND", 4004, ""), &[])),
            ef::MESSAGE.cite()
        );
        let mut offset = body("NOT_FOUND", 4004, "m");
        offset["timestamp"] = json!("2026-11-25T18:00:00+00:00");
        assert_eq!(
            blamed(&exchange(404, &offset, &[])),
            ef::TIMESTAMP_FORM.cite()
        );
        let mut old = body("NOT_FOUND", 4004, "m");
        old["timestamp"] = json!("2020-01-01T00:00:00Z");
        assert_eq!(
            blamed(&exchange(404, &old, &[])),
            ef::TIMESTAMP_CURRENT.cite()
        );
        let mut other_id = body("NOT_FOUND", 4004, "m");
        other_id["request_id"] = json!("other");
        assert_eq!(
            blamed(&exchange(404, &other_id, &[])),
            ef::REQUEST_ID.cite()
        );
        assert_eq!(
            blamed(&exchange(500, &body("INTERNAL_ERROR", 5000, "boom"), &[])),
            ef::DEFAULT_MESSAGE_5XX.cite()
        );
    }

    #[test]
    fn code_bound_members_and_headers_are_required() {
        assert_eq!(
            blamed(&exchange(422, &body("VALIDATION_FAILED", 4001, "m"), &[])),
            ef::FIELD.cite()
        );
        assert_eq!(
            blamed(&exchange(413, &body("PAYLOAD_TOO_LARGE", 4013, "m"), &[])),
            ef::MAX_BODY_BYTES.cite()
        );
        let mut limit = body("PAYLOAD_TOO_LARGE", 4013, "m");
        limit["error"]["details"] = json!({"max_body_bytes": 1024});
        assert!(check_envelope(&exchange(413, &limit, &[]), &RULES).is_ok());
        assert_eq!(
            blamed(&exchange(405, &body("METHOD_NOT_ALLOWED", 4005, "m"), &[])),
            ef::ALLOW.cite()
        );
        assert!(
            check_envelope(
                &exchange(
                    405,
                    &body("METHOD_NOT_ALLOWED", 4005, "m"),
                    &[("allow", "GET, HEAD")]
                ),
                &RULES
            )
            .is_ok()
        );
        let mut limited = body("RATE_LIMITED", 1005, "m");
        limited["error"]["details"] = json!({"retry_after_seconds": 2});
        assert_eq!(
            blamed(&exchange(429, &limited, &[("retry-after", "3")])),
            ef::RETRY_AFTER.cite()
        );
        assert!(check_envelope(&exchange(429, &limited, &[("retry-after", "2")]), &RULES).is_ok());
        let mut misplaced = body("NOT_FOUND", 4004, "m");
        misplaced["error"]["details"] = json!({"field": "x"});
        assert_eq!(
            blamed(&exchange(404, &misplaced, &[])),
            ef::DETAILS_MEMBERS.cite()
        );
        let mut debug = body("NOT_FOUND", 4004, "m");
        debug["error"]["details"] = json!({"debug": {}});
        assert_eq!(
            blamed(&exchange(404, &debug, &[])),
            ef::DEBUG_ONLY_DEVELOPMENT.cite()
        );
        let development = Rules {
            development: true,
            ..RULES
        };
        assert!(check_envelope(&exchange(404, &debug, &[]), &development).is_ok());
    }

    /// A cookie's name is the target's to choose (`XSRF-TOKEN`, `JSESSIONID`): it is cookie
    /// syntax, not an environment assignment; what the cookie carries is still judged.
    #[test]
    fn cookie_names_in_capitals_are_not_environment_assignments() {
        for cookie in [
            "XSRF-TOKEN=9f8e7d; Path=/; SameSite=Lax",
            "JSESSIONID=abc123; HttpOnly",
            "__Host-DX_SESSION=x; Secure; Path=/",
        ] {
            let ex = exchange(200, &json!({}), &[("set-cookie", cookie)]);
            assert_eq!(check_no_leak(&ex, &[], &RULES), Ok(()), "{cookie}");
        }
        let ex = exchange(
            200,
            &json!({}),
            &[("set-cookie", "S=DATABASE_URL=postgres://db/x; Path=/")],
        );
        assert!(check_no_leak(&ex, &[], &RULES).is_err());
    }

    /// A response that reveals several kinds of detail names them all.
    #[test]
    fn every_kind_of_leak_in_a_response_is_named() {
        let ex = exchange(
            500,
            &json!({"trace": "Traceback (most recent call last):\n  File \"/srv/app/views.py\", line 41"}),
            &[("x-debug", "SELECT * FROM users")],
        );
        let failure = check_no_leak(&ex, &[], &RULES).unwrap_err();
        for kind in [
            "a file system path",
            "stack trace",
            "header x-debug reveals SQL text",
        ] {
            assert!(failure.actual.contains(kind), "{kind}: {}", failure.actual);
        }
        assert_eq!(failure.expected.lines().count(), 3, "{}", failure.expected);
    }

    #[test]
    fn leaks_are_found_in_bodies_and_headers_but_not_in_development_debug() {
        let ex = exchange(404, &body("NOT_FOUND", 4004, "see /etc/dx/keys"), &[]);
        assert_eq!(
            check_no_leak(&ex, &[], &RULES).unwrap_err().expected,
            ef::NO_PATH.cite()
        );
        let ex = exchange(
            404,
            &body("NOT_FOUND", 4004, "m"),
            &[("x-debug", "dxmark1")],
        );
        assert!(check_no_leak(&ex, &["dxmark1".into()], &RULES).is_err());
        let mut debug = body("NOT_FOUND", 4004, "m");
        debug["error"]["details"] = json!({"debug": {"sources": ["panicked at src/x.rs:1"]}});
        let ex = exchange(404, &debug, &[]);
        assert!(check_no_leak(&ex, &[], &RULES).is_err());
        assert!(
            check_no_leak(
                &ex,
                &[],
                &Rules {
                    development: true,
                    ..RULES
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn allow_values_are_token_lists() {
        assert_eq!(allowed_methods("GET, HEAD"), vec!["GET", "HEAD"]);
        assert_eq!(allowed_methods("head,get,GET"), vec!["GET", "HEAD"]);
        assert!(allowed_methods("").is_empty());
        assert!(allowed_methods("GET, ").is_empty());
        assert!(allowed_methods("GET;HEAD").is_empty());
    }

    #[test]
    fn only_listed_members_pass() {
        let map = serde_json::json!({"a": 1, "b": 2});
        let map = map.as_object().unwrap();
        assert!(only_members(map, &["a", "b"], "x").is_ok());
        assert_eq!(
            only_members(map, &["a"], "x").unwrap_err(),
            "x has the undefined member `b`"
        );
    }
}
