//! dx-www authentication, usable without the dx-www server.
//!
//! - [`token`]: the seed's [`AuthToken`] and [`TokenGenerator`], as PASETO `v4.public`
//!   tokens signed with Ed25519 ([`paseto`]), keys in a rotating [`KeyRing`];
//! - [`password`]: Argon2id [`PasswordHasher`] with NFC normalisation and a length limit, run
//!   on the bounded [`HashingPool`];
//! - [`store`]: the [`CredentialStore`] trait with Postgres, SQLite and memory back ends and
//!   the generic test suite every back end passes;
//! - [`AuthService`]: register, login, refresh rotation with reuse detection, revocation.
//!
//! The normative description is `spec/auth.md` and `spec/tokens.md`.

pub mod account;
pub mod clock;
pub mod error;
pub mod keys;
pub mod mutants;
pub mod paseto;
pub mod password;
pub mod pool;
pub mod refresh;
pub mod revocation;
pub mod service;
pub mod store;
pub mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, CredentialRule, InvalidReason};
pub use keys::{KeyRing, PublicKeyEntry, key_id};
pub use mutants::{AuthMutant, AuthMutations};
pub use password::{HashCost, MAX_PASSWORD_BYTES, PasswordHasher};
pub use pool::HashingPool;
pub use service::{AuthService, TokenPair};
pub use store::{CredentialStore, MemoryStore, PostgresStore, SqliteStore, StoreError};
pub use token::{AuthToken, TokenGenerator, TokenType};
