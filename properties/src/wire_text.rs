//! Inputs and bodies shown in the wire's terms, for reports: bytes as text where printable
//! and `\xNN` where not, JSON as JSON text. A reader compares a counterexample with what the
//! target received, so `[104, 105]` or `"{\"a\":1}"` (Rust's `Debug`) would make them decode
//! it first.

use std::fmt::{Debug, Write as _};

/// Integer lists shorter than this stay numbers: a pair or triple is more often a tuple of
/// counts than a payload.
const MIN_BYTES: usize = 4;

/// `bytes` as text: valid UTF-8 as itself (control characters escaped), anything else as
/// `\xNN`.
pub fn bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\n' | '\t' => out.push(c),
        '\r' => out.push_str("\\r"),
        c if c.is_control() => {
            let _ = if (c as u32) < 0x100 {
                write!(out, "\\x{:02x}", c as u32)
            } else {
                write!(out, "\\u{{{:x}}}", c as u32)
            };
        }
        c => out.push(c),
    }
}

/// A generated input as reports show it: its `Debug` form (on one line when short), with every byte
/// list written as a byte string (`b"GET /\r\n"`) and every string that holds JSON written
/// as that JSON.
pub fn input<T: Debug + ?Sized>(value: &T) -> String {
    let compact = rewrite(&format!("{value:?}"));
    if compact.chars().count() <= ONE_LINE {
        compact
    } else {
        rewrite(&format!("{value:#?}"))
    }
}

/// An input whose one-line form is at most this long is shown on one line; a longer one
/// is pretty-printed, a member a line.
const ONE_LINE: usize = 100;

/// [`input`] on a `Debug` text already formatted.
pub fn rewrite(debug: &str) -> String {
    let chars: Vec<char> = debug.chars().collect();
    let mut out = String::with_capacity(debug.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' => {
                let (literal, end) = string_literal(&chars, i);
                match literal {
                    Some(text) if is_json_document(&text) => out.push_str(&text),
                    _ => out.extend(&chars[i..end]),
                }
                i = end;
            }
            '[' => match byte_list(&chars, i) {
                Some((list, end)) => {
                    let _ = write!(out, "b\"{}\"", byte_string(&list));
                    i = end;
                }
                None => {
                    out.push('[');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The string literal starting at `start` (a `"`), unescaped, and the index after it. The
/// text is `None` when an escape is not one `Debug` writes.
fn string_literal(chars: &[char], start: usize) -> (Option<String>, usize) {
    let mut text = String::new();
    let mut ok = true;
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return (ok.then_some(text), i + 1),
            '\\' if i + 1 < chars.len() => {
                match chars[i + 1] {
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    'r' => text.push('\r'),
                    '0' => text.push('\0'),
                    '\\' => text.push('\\'),
                    '"' => text.push('"'),
                    '\'' => text.push('\''),
                    _ => ok = false,
                }
                i += 2;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    (None, chars.len())
}

/// `list` as the inside of a one-line byte string: [`bytes`], with quotes, backslashes and
/// line ends escaped.
fn byte_string(list: &[u8]) -> String {
    let mut out = String::new();
    for c in bytes(list).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `text` is a JSON object or array (a body), not a bare scalar.
fn is_json_document(text: &str) -> bool {
    let trimmed = text.trim_start();
    (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde_json::Value>(text).is_ok()
}

/// The list of integers 0-255 starting at `start` (a `[`), at least [`MIN_BYTES`] long, and
/// the index after its `]`.
fn byte_list(chars: &[char], start: usize) -> Option<(Vec<u8>, usize)> {
    let mut list = Vec::new();
    let mut i = start + 1;
    let mut number = String::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '0'..='9' => number.push(c),
            ',' | ']' => {
                if !number.is_empty() {
                    list.push(number.parse::<u8>().ok()?);
                    number.clear();
                } else if c == ',' {
                    return None;
                }
                if c == ']' {
                    return (list.len() >= MIN_BYTES).then_some((list, i + 1));
                }
            }
            c if c.is_whitespace() => {
                // Debug output never splits a number; a space ends one only before `,`.
                if !number.is_empty() && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                    return None;
                }
            }
            _ => return None,
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Case {
        method: &'static str,
        body: Vec<u8>,
        json: String,
        counts: Vec<u32>,
        big: Vec<u32>,
    }

    #[test]
    fn byte_lists_become_text_and_json_strings_become_json() {
        let shown = input(&Case {
            method: "POST",
            body: b"GET /\r\n\x00\xff".to_vec(),
            json: "{\"email\":\"a@b\"}".into(),
            counts: vec![1, 2],
            big: vec![1, 2, 300, 4],
        });
        assert!(shown.contains(r#"body: b"GET /\r"#), "{shown}");
        assert!(shown.contains(r"\x00\xff"), "{shown}");
        assert!(shown.contains(r#"json: {"email":"a@b"}"#), "{shown}");
        assert!(shown.contains("method: \"POST\""), "{shown}");
        // Short lists and lists beyond a byte stay numbers.
        assert!(!shown.contains("counts: b\""), "{shown}");
        assert!(shown.contains("300"), "{shown}");
    }

    #[test]
    fn bytes_escape_what_is_not_printable() {
        assert_eq!(bytes(b"ok\x01\xc3"), r"ok\x01\xc3");
        assert_eq!(bytes("é\r\n".as_bytes()), "é\\r\n");
    }
}
