//! The deployment's own routes (`--probe 'POST /api/login'`, `--openapi FILE`): a target
//! without a discovery document cannot tell the suite which of its routes to probe, and a
//! described one publishes only the routes spec/ names. Properties 8, 12 and 26 (and so the
//! rules every response obeys) send each named route what a careless client or an attacker
//! sends: no body, malformed and mistyped JSON, a body of another media type, hostile path
//! and query text. A framework's parser message or a traceback that only such a route
//! reveals is then judged like any other answer.

use http::Method;
use serde_json::Value;

use crate::http::RequestSpec;

/// A route of the deployment, named by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRoute {
    /// The method.
    pub method: Method,
    /// The path, starting with `/`; `{name}` segments of an OpenAPI template are filled in.
    pub path: String,
}

/// Why a `--probe` or `--openapi` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(String);

/// The methods a probe may name.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl UserRoute {
    /// Parses `METHOD /path` (`--probe`).
    pub fn parse(text: &str) -> Result<Self, ProbeError> {
        let bad =
            |why: &str| ProbeError(format!("--probe {text:?}: {why} (e.g. 'POST /api/login')"));
        let mut words = text.split_whitespace();
        let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad("give a method and a path"));
        };
        let method = method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(bad(&format!("the method is one of {}", METHODS.join(", "))));
        }
        if !path.starts_with('/') || path.chars().any(|c| c.is_control()) {
            return Err(bad("the path starts with / and has no control characters"));
        }
        Ok(Self {
            method: Method::from_bytes(method.as_bytes()).map_err(|_| bad("bad method"))?,
            path: path.to_owned(),
        })
    }

    /// Every operation of an OpenAPI 3 document (JSON): each path with each method it lists,
    /// path parameters (`{id}`) filled with `1`.
    pub fn from_openapi(document: &[u8], shown: &str) -> Result<Vec<Self>, ProbeError> {
        let bad = |why: String| ProbeError(format!("--openapi {shown}: {why}"));
        let json: Value = serde_json::from_slice(document).map_err(|e| {
            bad(format!(
                "not a JSON OpenAPI document ({e}); convert YAML first"
            ))
        })?;
        let paths = json
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("no `paths` object".into()))?;
        let mut routes = Vec::new();
        for (template, operations) in paths {
            let Some(operations) = operations.as_object() else {
                continue;
            };
            for method in METHODS {
                if operations.contains_key(&method.to_ascii_lowercase()) {
                    routes.push(Self::parse(&format!("{method} {}", fill(template)))?);
                }
            }
        }
        if routes.is_empty() {
            return Err(bad("no operations under `paths`".into()));
        }
        Ok(routes)
    }

    /// What each probe of this route sends: a description and the request.
    pub fn requests(&self) -> Vec<(String, RequestSpec)> {
        let name = format!("{} {}", self.method, self.path);
        let at = |what: &str| format!("{name} with {what}");
        let with_query = |query: &str| {
            let sep = if self.path.contains('?') { '&' } else { '?' };
            format!("{}{sep}{query}", self.path)
        };
        let mut list = vec![
            (
                at("no body"),
                RequestSpec::new(self.method.clone(), &self.path),
            ),
            (
                at("hostile query text"),
                RequestSpec::new(
                    self.method.clone(),
                    with_query("dx=%27%22%3Cscript%3E%25s%25n%00..%2F..%2Fetc%2Fpasswd"),
                ),
            ),
        ];
        if matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return list;
        }
        let json = |body: &[u8]| {
            RequestSpec::new(self.method.clone(), &self.path)
                .header("content-type", "application/json")
                .body(body.to_vec())
        };
        list.extend([
            (at("malformed JSON"), json(b"{\"email\":")),
            (at("JSON of the wrong type"), json(b"[1,\"x\",null]")),
            (
                at("JSON with mistyped members"),
                json(b"{\"email\":7,\"password\":[],\"id\":{}}"),
            ),
            (at("deeply nested JSON"), json(&nested(600))),
            (at("an empty JSON body"), json(b"")),
            (
                at("a text body"),
                RequestSpec::new(self.method.clone(), &self.path)
                    .header("content-type", "text/plain")
                    .body(b"dx-conformance".to_vec()),
            ),
            (
                at("a form body"),
                RequestSpec::new(self.method.clone(), &self.path)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(b"email=%27&password=%00".to_vec()),
            ),
        ]);
        list
    }
}

/// An OpenAPI path template with each `{parameter}` filled in.
fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in template.chars() {
        match (c, inside) {
            ('{', _) => inside = true,
            ('}', true) => {
                inside = false;
                out.push('1');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// `depth` nested JSON arrays: parsers with recursion limits fail on it.
fn nested(depth: usize) -> Vec<u8> {
    let mut body = "[".repeat(depth).into_bytes();
    body.extend("]".repeat(depth).into_bytes());
    body
}

/// Every request of every route in `routes`.
pub fn requests_of(routes: &[UserRoute]) -> Vec<(String, RequestSpec)> {
    routes.iter().flat_map(UserRoute::requests).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain("POST /api/login", "POST", "/api/login")]
    #[case::lower_case_method("put /x/1", "PUT", "/x/1")]
    #[case::query("GET /search?q=1", "GET", "/search?q=1")]
    fn probes_are_parsed(#[case] text: &str, #[case] method: &str, #[case] path: &str) {
        let route = UserRoute::parse(text).unwrap();
        assert_eq!((route.method.as_str(), route.path.as_str()), (method, path));
    }

    #[rstest]
    #[case::no_path("POST")]
    #[case::no_slash("POST api/login")]
    #[case::unknown_method("FETCH /x")]
    #[case::three_words("POST /x /y")]
    #[case::empty("")]
    fn bad_probes_are_refused(#[case] text: &str) {
        assert!(UserRoute::parse(text).is_err(), "{text}");
    }

    #[test]
    fn openapi_operations_become_routes() {
        let doc = br#"{"openapi":"3.0.0","paths":{
            "/api/auth/login":{"post":{}},
            "/api/users/{id}":{"get":{},"delete":{},"parameters":[]}}}"#;
        let routes = UserRoute::from_openapi(doc, "api.json").unwrap();
        let shown: Vec<String> = routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            shown,
            [
                "POST /api/auth/login",
                "GET /api/users/1",
                "DELETE /api/users/1"
            ]
        );
        assert!(UserRoute::from_openapi(b"openapi: 3.0.0", "api.yaml").is_err());
        assert!(UserRoute::from_openapi(b"{\"paths\":{}}", "api.json").is_err());
    }

    #[test]
    fn a_route_with_a_body_is_sent_every_kind_of_bad_body() {
        let post = UserRoute::parse("POST /api/login").unwrap().requests();
        assert_eq!(post.len(), 9);
        assert!(post.iter().any(|(what, r)| what.ends_with("malformed JSON")
            && r.body.as_deref() == Some(b"{\"email\":".as_slice())));
        let get = UserRoute::parse("GET /api/items").unwrap().requests();
        assert_eq!(get.len(), 2);
    }
}
