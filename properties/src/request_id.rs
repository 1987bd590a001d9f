//! Request ids (spec/error-format.md, "Request ids"): which ids a response must carry.

use std::sync::LazyLock;

use regex::Regex;

use crate::cases::CaseFailure;
use crate::clause::error_format as ef;
use crate::http::Exchange;

/// A generated request id: a UUID v4 in lower-case hyphenated form (spec/error-format.md).
static GENERATED_ID: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
});
/// A request id a server keeps.
static VALID_ID: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9._:-]{1,128}$"));

/// Whether `id` is a generated request id.
pub fn is_generated_id(id: &str) -> bool {
    GENERATED_ID.as_ref().is_ok_and(|re| re.is_match(id))
}

/// Checks the response's `X-Request-Id` against the ids the request carried (`sent`).
pub fn check_request_id(exchange: &Exchange, sent: &[String]) -> Result<(), CaseFailure> {
    let got: Vec<String> = exchange
        .headers
        .get_all("x-request-id")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let [id] = got.as_slice() else {
        return Err(CaseFailure::violates(
            exchange,
            &ef::ID_ON_EVERY_RESPONSE,
            format!("{} X-Request-Id headers: {got:?}", got.len()),
        ));
    };
    let kept = match sent {
        [one] if VALID_ID.as_ref().is_ok_and(|re| re.is_match(one)) => Some(one),
        _ => None,
    };
    match kept {
        Some(one) if id != one => Err(CaseFailure::violates(
            exchange,
            &ef::ID_KEPT,
            format!("sent X-Request-Id `{one}`, got `{id}`"),
        )),
        None if !is_generated_id(id) || sent.contains(id) => Err(CaseFailure::violates(
            exchange,
            &ef::ID_GENERATED,
            format!("sent X-Request-Id {sent:?}, got `{id}`"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_lower_case_uuid_v4() {
        assert!(is_generated_id("4f1c2a9e-8d7b-4c3a-9e21-5b6d7f8a9c0d"));
        assert!(!is_generated_id("4F1C2A9E-8D7B-4C3A-9E21-5B6D7F8A9C0D"));
        assert!(!is_generated_id("4f1c2a9e-8d7b-1c3a-9e21-5b6d7f8a9c0d"));
        assert!(!is_generated_id("has space"));
    }
}
