//! Well-formed JSON as spec/http-contract.md defines it ("JSON request bodies"): one value in
//! UTF-8 without a byte order mark, no object with two members of the same name, no escaped
//! lone surrogate, at most [`MAX_DEPTH`] nested arrays and objects. `serde_json` alone keeps
//! the last of two duplicate members and nests up to 128 deep, so the body is parsed through
//! a visitor that enforces the rest.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// How deep arrays and objects may nest.
pub const MAX_DEPTH: usize = 64;

/// Where and why a body is not well-formed; the message is ours, never the parser's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (line {line}, column {column})")]
pub struct Malformed {
    /// What is wrong, in our words.
    pub reason: &'static str,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub column: usize,
}

const DUPLICATE: &str = "an object has two members with the same name";
const TOO_DEEP: &str = "arrays and objects nest more than 64 deep";

/// Parses `bytes` as well-formed JSON.
pub fn parse(bytes: &[u8]) -> Result<Value, Malformed> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { depth: 0 }
        .deserialize(&mut deserializer)
        .and_then(|v| deserializer.end().map(|()| v))
        .map_err(|e| Malformed {
            reason: reason_of(&e),
            line: e.line(),
            column: e.column(),
        })?;
    Ok(value)
}

/// Our words for a parse failure.
fn reason_of(e: &serde_json::Error) -> &'static str {
    let text = e.to_string();
    if text.starts_with(DUPLICATE) {
        DUPLICATE
    } else if text.starts_with(TOO_DEEP) || text.starts_with("recursion limit") {
        TOO_DEEP
    } else if e.is_eof() {
        "the body ends before the JSON value is complete"
    } else if text.contains("surrogate") || text.contains("hex escape") {
        "a string holds a lone surrogate or an invalid \\u escape"
    } else {
        "the body is not well-formed JSON"
    }
}

/// Builds a [`Value`] while checking depth and duplicate names.
struct Strict {
    depth: usize,
}

impl Strict {
    fn nested<E: serde::de::Error>(&self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(Self {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("the body is not well-formed JSON"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict { depth: inner.depth })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut members = Map::new();
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(A::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(Strict { depth: inner.depth })?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nest(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn well_formed_bodies_parse() {
        assert_eq!(
            parse(br#"{"a": [1, "x"]}"#).unwrap(),
            serde_json::json!({"a": [1, "x"]})
        );
        assert_eq!(parse(b"  null ").unwrap(), Value::Null);
        assert!(parse(nest(MAX_DEPTH).as_bytes()).is_ok());
        assert!(
            parse(br#""\ud83d\ude42""#).is_ok(),
            "a surrogate pair is fine"
        );
    }

    #[test]
    fn each_rule_has_its_reason() {
        let reason = |b: &[u8]| parse(b).unwrap_err().reason;
        assert_eq!(reason(br#"{"a": 1, "a": 2}"#), DUPLICATE);
        assert_eq!(reason(br#"[{"b": {"a": 1, "a": 2}}]"#), DUPLICATE);
        assert_eq!(reason(nest(MAX_DEPTH + 1).as_bytes()), TOO_DEEP);
        assert_eq!(reason(nest(500).as_bytes()), TOO_DEEP);
        assert_eq!(
            reason(br#"{"a": "#),
            "the body ends before the JSON value is complete"
        );
        for lone in [&br#""\ud800""#[..], br#""x\udc00y""#] {
            assert_eq!(
                reason(lone),
                "a string holds a lone surrogate or an invalid \\u escape"
            );
        }
        assert_eq!(
            reason(b"\xef\xbb\xbf{}"),
            "the body is not well-formed JSON"
        );
        assert_eq!(reason(b"{} x"), "the body is not well-formed JSON");
        let at = parse(b"{\n  \"a\": x}").unwrap_err();
        assert_eq!((at.line, at.column), (2, 8));
        assert_eq!(
            at.to_string(),
            "the body is not well-formed JSON (line 2, column 8)"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any value serde_json writes (no duplicates, shallow) parses back to itself.
        #[test]
        fn written_values_round_trip(v in any::<Vec<(String, Option<i32>)>>()) {
            let value: Value = v.into_iter().map(|(k, n)| (k, n.map_or(Value::Null, Value::from))).collect::<Map<_, _>>().into();
            prop_assert_eq!(parse(value.to_string().as_bytes()).unwrap(), value);
        }
    }
}
