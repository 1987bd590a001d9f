//! Reading the `Cookie` request header (RFC 6265 section 5.4) and writing `Set-Cookie`.

use http::HeaderMap;

/// The value of cookie `name`, if the request sends it exactly once. A cookie sent twice
/// (e.g. a second one planted for a parent domain) is ambiguous and counts as absent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for header in headers.get_all(http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((n, v)) = pair.trim().split_once('=')
                && n == name
            {
                if found.is_some() {
                    return None;
                }
                found = Some(v.trim_matches('"'));
            }
        }
    }
    found
}

/// Whether the request sends any cookie at all.
pub fn has_cookies(headers: &HeaderMap) -> bool {
    headers.contains_key(http::header::COOKIE)
}

/// How a cookie is sent back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieAttributes {
    /// `HttpOnly`: scripts cannot read it.
    pub http_only: bool,
    /// `Secure`: HTTPS only (required by the `__Host-` prefix).
    pub secure: bool,
    /// `Max-Age` in seconds; 0 deletes the cookie.
    pub max_age: u64,
}

/// A `Set-Cookie` value: `name=value; Path=/; SameSite=Lax; Max-Age=N[; HttpOnly][; Secure]`.
pub fn set_cookie(name: &str, value: &str, attributes: CookieAttributes) -> String {
    let mut text = format!(
        "{name}={value}; Path=/; SameSite=Lax; Max-Age={}",
        attributes.max_age
    );
    if attributes.http_only {
        text.push_str("; HttpOnly");
    }
    if attributes.secure {
        text.push_str("; Secure");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::COOKIE, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cookies_are_found_once_or_not_at_all() {
        let h = headers(&["a=1; sid=abc", "b=\"2\""]);
        assert_eq!(cookie(&h, "sid"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(cookie(&headers(&["sid=1; sid=2"]), "sid"), None);
        assert_eq!(cookie(&headers(&["sid=1", "sid=2"]), "sid"), None);
        assert_eq!(cookie(&headers(&["xsid=1; sidx=2"]), "sid"), None);
        assert!(has_cookies(&h));
        assert!(!has_cookies(&HeaderMap::new()));
        let mut bad = HeaderMap::new();
        bad.insert(
            http::header::COOKIE,
            HeaderValue::from_bytes(b"sid=\xff").unwrap(),
        );
        assert_eq!(cookie(&bad, "sid"), None);
    }

    #[test]
    fn set_cookie_carries_its_attributes() {
        let all = CookieAttributes {
            http_only: true,
            secure: true,
            max_age: 60,
        };
        assert_eq!(
            set_cookie("__Host-s", "v", all),
            "__Host-s=v; Path=/; SameSite=Lax; Max-Age=60; HttpOnly; Secure"
        );
        let none = CookieAttributes {
            http_only: false,
            secure: false,
            max_age: 0,
        };
        assert_eq!(
            set_cookie("t", "", none),
            "t=; Path=/; SameSite=Lax; Max-Age=0"
        );
    }
}
