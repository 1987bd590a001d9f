//! The commands an operator runs against the configured database and that exit: `migrate`
//! and `add-account`. Both check the connection first, so a database that cannot be reached
//! is reported with its cause at once, and both use the server's own components (the same
//! migrations, the same [`dx_auth::AuthService::register`] as `POST /api/v1/auth/register`).

use std::error::Error as StdError;

use dx_auth::AuthError;
use dx_auth::store::UserRecord;
use dx_error::DxError;

use crate::auth::Auth;
use crate::config::Config;
use crate::keys::ServerKey;
use crate::query::Query;
use crate::services::{CONNECT_CHECK_TIMEOUT, ConnectError, Services, check_database};

/// Why a command failed; [`CommandError::exit_code`] is what the binary exits with.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The database cannot be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The components could not be built from the configuration.
    #[error("{}", chain(.0))]
    Setup(DxError),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The email or password breaks a rule of registration (the same message the register
    /// endpoint answers with).
    #[error("{0}")]
    Rejected(String),
    /// The email has an account already.
    #[error("an account with the email {0} already exists (pass --if-missing to accept that)")]
    Exists(String),
    /// The credential store failed.
    #[error("the credential store failed: {0}")]
    Store(String),
}

impl CommandError {
    /// 2 for what the operator must change in the command (a usage error), 1 for what went
    /// wrong in the store.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Setup(_) | Self::Rejected(_) => 2,
            Self::Connect(_) | Self::Migration(_) | Self::Exists(_) | Self::Store(_) => 1,
        }
    }
}

/// What `add-account` did.
#[derive(Debug)]
pub enum AccountOutcome {
    /// The account was created.
    Added(Account),
    /// It existed already (`--if-missing`).
    Existing(Account),
}

/// An account as the command reports it (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The id, the tokens' `sub`.
    pub id: String,
    /// The normalised email.
    pub email: String,
}

impl From<UserRecord> for Account {
    fn from(user: UserRecord) -> Self {
        Self {
            id: user.id,
            email: user.email,
        }
    }
}

/// Applies every migration (the auth store's and the query module's) to the configured
/// database: `dx-reference migrate`.
pub async fn migrate(config: &Config) -> Result<(), CommandError> {
    migrated_auth(config).await.map(drop)
}

/// Creates an account as `POST /api/v1/auth/register` does, after migrating:
/// `dx-reference add-account`. With `if_missing`, an existing account is not an error.
pub async fn add_account(
    config: &Config,
    email: &str,
    password: &str,
    if_missing: bool,
) -> Result<AccountOutcome, CommandError> {
    let auth = migrated_auth(config).await?;
    match auth.register(email, password).await {
        Ok(user) => Ok(AccountOutcome::Added(user.into())),
        Err(AuthError::AccountExists) => {
            let normal = dx_auth::account::normalize_email(email)
                .map_err(|e| CommandError::Rejected(DxError::from(e).message().to_owned()))?;
            if !if_missing {
                return Err(CommandError::Exists(normal));
            }
            match auth.service().store().find_user(&normal).await {
                Ok(Some(user)) => Ok(AccountOutcome::Existing(user.into())),
                Ok(None) => Err(CommandError::Store(format!(
                    "{normal} was reported to exist but cannot be found"
                ))),
                Err(e) => Err(CommandError::Store(chain(&e))),
            }
        }
        Err(e @ AuthError::Rejected(_)) => Err(CommandError::Rejected(
            DxError::from(e).message().to_owned(),
        )),
        Err(e) => Err(CommandError::Store(chain(&e))),
    }
}

/// The auth component on the configured database, every schema migrated.
async fn migrated_auth(config: &Config) -> Result<Auth, CommandError> {
    check_database(&config.database, CONNECT_CHECK_TIMEOUT).await?;
    let services = Services::open(config).map_err(CommandError::Setup)?;
    // Nothing is signed here; the server's key file is not needed.
    let key = ServerKey::ephemeral()
        .map_err(|e| CommandError::Setup(DxError::config("key_file", e.to_string())))?;
    let auth = Auth::build(config, &key, &services).map_err(CommandError::Setup)?;
    auth.ready()
        .await
        .map_err(|e| CommandError::Migration(format!("auth store: {}", chain(&e))))?;
    Query::build(config, &services)
        .items()
        .await
        .map_err(|e| CommandError::Migration(format!("query module: {}", chain(&e))))?;
    Ok(auth)
}

/// An error and its causes, `: `-separated, for an operator's terminal.
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}
