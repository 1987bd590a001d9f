//! Where a request's CSRF token is: the CSRF header, or the form field of an
//! `application/x-www-form-urlencoded` or `multipart/form-data` body (requirement 6.6).
//! A location used twice (two headers, a field sent twice) is malformed: which copy counts
//! would otherwise depend on the parser.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, header};

use crate::csrf::manager::{CsrfError, TOKEN_CHARS};

/// The tokens a request carries, by location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presented {
    /// From the header.
    pub header: Option<String>,
    /// From the form field.
    pub form: Option<String>,
}

/// The token in header `name`.
pub fn from_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, CsrfError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v
            .to_str()
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|_| CsrfError::Malformed),
        (Some(_), Some(_)) => Err(CsrfError::Malformed),
    }
}

/// The kind of form a body is, from its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKind {
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// `multipart/form-data` with this boundary.
    Multipart(String),
}

/// The form kind of a request, if its body is a form.
pub fn form_kind(headers: &HeaderMap) -> Option<FormKind> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(FormKind::UrlEncoded)
    } else if essence.eq_ignore_ascii_case("multipart/form-data") {
        // A multipart body without a usable boundary cannot be read: an empty boundary
        // makes the parse below fail, which reports the token as malformed.
        Some(FormKind::Multipart(
            multer::parse_boundary(content_type).unwrap_or_default(),
        ))
    } else {
        None
    }
}

/// The token in form field `field` of `body`.
pub async fn from_form(
    kind: &FormKind,
    body: Bytes,
    field: &str,
) -> Result<Option<String>, CsrfError> {
    match kind {
        FormKind::UrlEncoded => {
            let mut found = None;
            for (name, value) in form_urlencoded::parse(&body) {
                if name == field {
                    if found.is_some() {
                        return Err(CsrfError::Malformed);
                    }
                    found = Some(value.into_owned());
                }
            }
            Ok(found)
        }
        FormKind::Multipart(boundary) => {
            if boundary.is_empty() {
                return Err(CsrfError::Malformed);
            }
            let stream =
                futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
            let constraints = multer::Constraints::new()
                .size_limit(multer::SizeLimit::new().for_field(field, (TOKEN_CHARS * 4) as u64));
            let mut multipart =
                multer::Multipart::with_constraints(stream, boundary.clone(), constraints);
            let mut found = None;
            loop {
                match multipart.next_field().await {
                    Ok(Some(part)) => {
                        if part.name() == Some(field) {
                            if found.is_some() {
                                return Err(CsrfError::Malformed);
                            }
                            let text = part.text().await.map_err(|_| CsrfError::Malformed)?;
                            found = Some(text.trim().to_owned());
                        }
                    }
                    Ok(None) => return Ok(found),
                    Err(_) => return Err(CsrfError::Malformed),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_type(ct: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        h
    }

    #[test]
    fn headers_give_one_token_or_malformed() {
        let name = HeaderName::from_static("x-csrf-token");
        let mut h = HeaderMap::new();
        assert_eq!(from_header(&h, &name), Ok(None));
        h.append(&name, HeaderValue::from_static(" abc "));
        assert_eq!(from_header(&h, &name), Ok(Some("abc".into())));
        h.append(&name, HeaderValue::from_static("def"));
        assert_eq!(from_header(&h, &name), Err(CsrfError::Malformed));
        let mut bad = HeaderMap::new();
        bad.insert(&name, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(from_header(&bad, &name), Err(CsrfError::Malformed));
    }

    #[test]
    fn form_kinds_come_from_the_content_type() {
        assert_eq!(
            form_kind(&with_type(
                "application/x-www-form-urlencoded; charset=utf-8"
            )),
            Some(FormKind::UrlEncoded)
        );
        assert_eq!(
            form_kind(&with_type("Multipart/Form-Data; boundary=XyZ")),
            Some(FormKind::Multipart("XyZ".into()))
        );
        assert_eq!(
            form_kind(&with_type("multipart/form-data")),
            Some(FormKind::Multipart(String::new()))
        );
        assert_eq!(form_kind(&with_type("application/json")), None);
        assert_eq!(form_kind(&HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn urlencoded_fields_are_read_once() {
        let kind = FormKind::UrlEncoded;
        let got = from_form(&kind, Bytes::from_static(b"a=1&_csrf=t%2Bk&b=2"), "_csrf").await;
        assert_eq!(got, Ok(Some("t+k".into())));
        assert_eq!(
            from_form(&kind, Bytes::from_static(b"a=1"), "_csrf").await,
            Ok(None)
        );
        assert_eq!(
            from_form(&kind, Bytes::from_static(b"_csrf=1&_csrf=2"), "_csrf").await,
            Err(CsrfError::Malformed)
        );
    }

    fn fields() -> impl proptest::strategy::Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec(("[a-z]{1,8}", "[ -~]{0,30}"), 0..6)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]

        /// Feature: production-readiness, Property 18: CSRF Token Location Flexibility
        #[test]
        fn the_token_is_found_in_the_header_or_either_form(
            token in "[A-Za-z0-9_-]{96}",
            before in fields(),
            after in fields(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let name = HeaderName::from_static("x-csrf-token");
            let mut h = HeaderMap::new();
            h.insert(&name, http::HeaderValue::from_str(&token).unwrap());
            proptest::prop_assert_eq!(from_header(&h, &name), Ok(Some(token.clone())));
            let mut all = before.clone();
            all.push(("_csrf".to_owned(), token.clone()));
            all.extend(after.clone());
            let mut encoded = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &all {
                encoded.append_pair(k, v);
            }
            let body = Bytes::from(encoded.finish());
            let found = rt.block_on(from_form(&FormKind::UrlEncoded, body, "_csrf"));
            proptest::prop_assert_eq!(found, Ok(Some(token.clone())));
            let mut mp = String::new();
            for (k, v) in &all {
                mp.push_str(&format!("--BB\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
            }
            mp.push_str("--BB--\r\n");
            let found = rt.block_on(from_form(&FormKind::Multipart("BB".into()), Bytes::from(mp), "_csrf"));
            proptest::prop_assert_eq!(found, Ok(Some(token)));
        }
    }

    #[tokio::test]
    async fn multipart_fields_are_read_once() {
        let kind = FormKind::Multipart("B".into());
        let body = "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--B\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\ntok\r\n--B--\r\n";
        assert_eq!(
            from_form(&kind, Bytes::from(body), "_csrf").await,
            Ok(Some("tok".into()))
        );
        assert_eq!(from_form(&kind, Bytes::from(body), "other").await, Ok(None));
        let twice = "--B\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\na\r\n--B\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nb\r\n--B--\r\n";
        assert_eq!(
            from_form(&kind, Bytes::from(twice), "_csrf").await,
            Err(CsrfError::Malformed)
        );
        assert_eq!(
            from_form(&kind, Bytes::from_static(b"garbage"), "_csrf").await,
            Err(CsrfError::Malformed)
        );
        assert_eq!(
            from_form(
                &FormKind::Multipart(String::new()),
                Bytes::from(body),
                "_csrf"
            )
            .await,
            Err(CsrfError::Malformed)
        );
        // A field of a few hundred bytes is still read (the token check then judges it).
        let long = format!(
            "--B\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{}\r\n--B--\r\n",
            "a".repeat(300)
        );
        assert_eq!(
            from_form(&kind, Bytes::from(long), "_csrf").await,
            Ok(Some("a".repeat(300)))
        );
        let huge = format!(
            "--B\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{}\r\n--B--\r\n",
            "a".repeat(10_000)
        );
        assert_eq!(
            from_form(&kind, Bytes::from(huge), "_csrf").await,
            Err(CsrfError::Malformed)
        );
    }
}
