//! Emails as account names: normalised (NFC, then lowercase) so one person has one account
//! whatever their keyboard sends, and checked for shape (`spec/auth.md`, "Accounts").

use unicode_normalization::UnicodeNormalization;

use crate::error::{AuthError, CredentialRule};

/// Longest email accepted, in characters (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;

/// The account name for `email`: NFC, lowercase, exactly one `@` with text on both sides, no
/// white space or control characters, at most [`MAX_EMAIL_CHARS`] characters.
pub fn normalize_email(email: &str) -> Result<String, AuthError> {
    let invalid = || AuthError::Rejected(CredentialRule::EmailInvalid);
    let normal: String = email.nfc().collect::<String>().to_lowercase();
    if normal.chars().count() > MAX_EMAIL_CHARS
        || normal.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    match normal.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(normal)
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("User@Example.TEST", Some("user@example.test"))]
    #[case("e\u{301}@x.test", Some("\u{e9}@x.test"))]
    #[case("' OR 1=1 --@x.test", None)]
    #[case("'OR'1'='1'--@x.test", Some("'or'1'='1'--@x.test"))]
    #[case("a@b", Some("a@b"))]
    #[case("@x.test", None)]
    #[case("a@", None)]
    #[case("a@b@c", None)]
    #[case("no-at-sign", None)]
    #[case("", None)]
    #[case(" a@b", None)]
    #[case("a\u{0}@b", None)]
    fn emails(#[case] input: &str, #[case] expected: Option<&str>) {
        assert_eq!(normalize_email(input).ok().as_deref(), expected);
    }

    #[test]
    fn the_length_limit_counts_characters() {
        let at_limit = format!("{}@x", "é".repeat(MAX_EMAIL_CHARS - 2));
        assert!(normalize_email(&at_limit).is_ok());
        assert!(normalize_email(&format!("e{at_limit}")).is_err());
    }
}
