//! Test accounts (`--account EMAIL:PASSWORD`, `--accounts-file`, `DX_ACCOUNTS`): a deployment
//! in its production configuration has no open registration and no hooks, so its operator
//! creates accounts for the suite (`dx-reference add-account`) and hands them over. The
//! checks that need a logged-in user then log in with them instead of registering
//! (spec/conformance.md, "Levels of verification"). Their passwords are secrets: they are
//! cut out of every replay line and report.

use std::sync::{PoisonError, RwLock};

/// The properties whose checks run, whole or in part, with test accounts where the target
/// has neither open registration nor the mint hook (spec/conformance.md, "Levels of
/// verification"), and how many accounts each needs to run whole.
pub const RUNS_WITH_ACCOUNTS: [(u8, usize); 11] = [
    (1, 1),
    (2, 1),
    (4, 1),
    (5, 1),
    (19, 2),
    (20, 1),
    (21, 1),
    (22, 1),
    (23, 2),
    (24, 2),
    (25, 1),
];

/// The environment variable holding accounts, one `EMAIL:PASSWORD` per line, so secrets stay
/// out of shell history.
pub const ACCOUNTS_ENV: &str = "DX_ACCOUNTS";

/// An account the deployment's operator created for the suite.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The email it logs in with.
    pub email: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("email", &self.email)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Why an account was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {reason}")]
pub struct AccountError {
    /// Where it came from (`--account`, a file and line, `DX_ACCOUNTS`).
    pub source_name: String,
    /// What is wrong (never the password).
    pub reason: String,
}

impl Account {
    /// Parses `EMAIL:PASSWORD` (split at the first `:`; the password may hold more).
    pub fn parse(text: &str, source_name: &str) -> Result<Self, AccountError> {
        let bad = |reason: &str| AccountError {
            source_name: source_name.to_owned(),
            reason: reason.to_owned(),
        };
        let (email, password) = text
            .split_once(':')
            .ok_or_else(|| bad("give EMAIL:PASSWORD"))?;
        let email = email.trim();
        if email.is_empty() || !email.contains('@') {
            return Err(bad("the part before the first `:` is not an email"));
        }
        if password.is_empty() {
            return Err(bad("the password after the first `:` is empty"));
        }
        Ok(Self {
            email: email.to_owned(),
            password: password.to_owned(),
        })
    }

    /// One account per line of `text` (blank lines and `#` comments skipped), as in an
    /// accounts file or `DX_ACCOUNTS`.
    pub fn parse_lines(text: &str, source_name: &str) -> Result<Vec<Self>, AccountError> {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .map(|(n, line)| {
                Self::parse(
                    line.trim_end_matches('\r'),
                    &format!("{source_name}, line {}", n + 1),
                )
            })
            .collect()
    }
}

/// Passwords of the accounts in use, cut out of every text a report shows.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Keeps `accounts`' passwords out of every replay line and report from now on.
pub fn keep_secret(accounts: &[Account]) {
    let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    for account in accounts {
        if !secrets.contains(&account.password) {
            secrets.push(account.password.clone());
        }
    }
    // The longest first, so a password that contains another is cut whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every kept secret replaced by `<password>`.
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = text.to_owned();
    for secret in secrets.iter() {
        out = out.replace(secret.as_str(), "<password>");
        // As JSON writes it inside a body.
        if let Ok(quoted) = serde_json::to_string(secret) {
            let inner = &quoted[1..quoted.len() - 1];
            if inner != secret {
                out = out.replace(inner, "<password>");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain("qa@example.com:s3cret", "qa@example.com", "s3cret")]
    #[case::colon_in_password("qa@example.com:a:b:c", "qa@example.com", "a:b:c")]
    #[case::spaces_kept_in_password("qa@example.com: pass word ", "qa@example.com", " pass word ")]
    fn accounts_are_parsed(#[case] text: &str, #[case] email: &str, #[case] password: &str) {
        let account = Account::parse(text, "--account").unwrap();
        assert_eq!(
            (account.email.as_str(), account.password.as_str()),
            (email, password)
        );
    }

    #[rstest]
    #[case::no_colon("qa@example.com")]
    #[case::no_email(":pw")]
    #[case::not_an_email("qa:pw")]
    #[case::no_password("qa@example.com:")]
    fn bad_accounts_are_refused_without_showing_the_password(#[case] text: &str) {
        let err = Account::parse(text, "--account").unwrap_err();
        assert!(err.to_string().starts_with("--account: "), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn files_skip_comments_and_name_the_line() {
        let text = "# staging accounts\na@example.com:one\n\nb@example.com:two\r\n";
        let accounts = Account::parse_lines(text, "accounts.txt").unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[1].password, "two");
        let err = Account::parse_lines("a@example.com:one\nbroken", "accounts.txt").unwrap_err();
        assert_eq!(err.source_name, "accounts.txt, line 2");
    }

    #[test]
    fn passwords_never_show() {
        let account = Account::parse("qa@example.com:Hunter\"2-secret", "--account").unwrap();
        assert!(!format!("{account:?}").contains("Hunter"));
        keep_secret(std::slice::from_ref(&account));
        let body = serde_json::json!({"email": account.email, "password": account.password});
        let line = format!("curl --data-binary '{body}'");
        let shown = redact(&line);
        assert!(!shown.contains("Hunter"), "{shown}");
        assert!(shown.contains("<password>"), "{shown}");
    }
}

/// The test accounts' logins, shared by every check of a run: the checks that only need a
/// logged-in user (sync, the items API) log each account in once, so the target's login
/// budget is left to the checks that test logins.
#[derive(Debug, Default)]
pub struct LoginCache {
    slots: Vec<tokio::sync::Mutex<Option<CachedLogin>>>,
}

/// One account logged in: its user id, an access token, and when that token stops being
/// handed out (a margin before it expires, so no case outlives it).
#[derive(Debug, Clone)]
pub struct CachedLogin {
    /// The user id the token names.
    pub sub: String,
    /// The access token.
    pub access: String,
    /// When to log in again.
    pub renew_at: tokio::time::Instant,
}

impl LoginCache {
    /// A cache for `accounts` accounts.
    pub fn new(accounts: usize) -> Self {
        Self {
            slots: (0..accounts)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
        }
    }

    /// Account `index`'s login, from the cache or from `login` when there is none still
    /// good; `None` when there is no such account.
    pub async fn get_or_login<F, Fut, E>(
        &self,
        index: usize,
        login: F,
    ) -> Option<Result<CachedLogin, E>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<CachedLogin, E>>,
    {
        let mut slot = self.slots.get(index)?.lock().await;
        if let Some(cached) = slot
            .as_ref()
            .filter(|c| tokio::time::Instant::now() < c.renew_at)
        {
            return Some(Ok(cached.clone()));
        }
        Some(login().await.inspect(|fresh| *slot = Some(fresh.clone())))
    }
}
