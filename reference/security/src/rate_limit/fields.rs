//! The `RateLimit-Policy` and `RateLimit` response fields of the IETF draft
//! draft-ietf-httpapi-ratelimit-headers-09 (Structured Fields lists): the policy names the
//! category and states its quota `q` and window `w`; the live field states the remaining
//! quota `r` and the seconds `t` until a slot frees.

use http::HeaderValue;

use crate::rate_limit::limiter::{EndpointCategory, RateLimit};

/// The `RateLimit-Policy` field name.
pub const POLICY: &str = "ratelimit-policy";
/// The `RateLimit` field name.
pub const RATELIMIT: &str = "ratelimit";

/// `"api";q=100;w=60`. (Category names and numbers are always valid header text; the
/// `Option` only spares a panic path.)
pub fn policy(category: EndpointCategory, limit: RateLimit) -> Option<HeaderValue> {
    let text = format!(
        "\"{category}\";q={};w={}",
        limit.max_requests, limit.window_seconds
    );
    HeaderValue::from_str(&text).ok()
}

/// `"api";r=99;t=60`.
pub fn current(
    category: EndpointCategory,
    remaining: u32,
    reset_seconds: u64,
) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{category}\";r={remaining};t={reset_seconds}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_draft() {
        let limit = RateLimit {
            max_requests: 100,
            window_seconds: 60,
        };
        assert_eq!(
            policy(EndpointCategory::Api, limit).unwrap(),
            "\"api\";q=100;w=60"
        );
        assert_eq!(
            current(EndpointCategory::Auth, 0, 7).unwrap(),
            "\"auth\";r=0;t=7"
        );
    }
}
