//! Query failures (requirement 8.4): every one has a kind that maps to its code, the table
//! and operation it concerns, and a detail written by this module from the driver's error
//! codes and schema names only. The driver's own message is never copied: PostgreSQL puts
//! bound values into it ("invalid input syntax for type bigint: \"…\"", "Key (name)=(…)
//! already exists"), and a connection error may name the host.

use std::time::Duration;

use dx_error::{Context, DxError, ErrorCode};
use serde_json::json;

use crate::statement::{Operation, Statement};

/// What went wrong, as far as a caller can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryErrorKind {
    /// The database could not be reached or dropped the connection (2001).
    ConnectionFailed,
    /// The query did not finish within its timeout (2002).
    Timeout,
    /// A unique, foreign-key, not-null or check constraint refused the change (2003).
    ConstraintViolation,
    /// The transaction could not complete: a serialization failure, a deadlock, a lock the
    /// database gave up waiting for, or any other failure of the statement (2004).
    TransactionFailed,
    /// Every connection of the pool was busy for the whole acquire timeout (5003, with
    /// `Retry-After`): the server answers at once instead of queueing without bound.
    PoolExhausted,
    /// The database refused a bound value as data (PostgreSQL's class 22: a NUL byte in
    /// text, a number out of range): the request's fault (4001).
    InvalidInput,
    /// A row did not have the shape the caller asked for: a bug of the caller (5000).
    Decode,
}

impl QueryErrorKind {
    /// The name in error details (`details.error_type`) and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionFailed => "connection_failed",
            Self::Timeout => "timeout",
            Self::ConstraintViolation => "constraint_violation",
            Self::TransactionFailed => "transaction_failed",
            Self::PoolExhausted => "pool_exhausted",
            Self::InvalidInput => "invalid_input",
            Self::Decode => "decode",
        }
    }

    /// The error code (spec/error-codes.toml).
    pub fn code(self) -> ErrorCode {
        match self {
            Self::ConnectionFailed => ErrorCode::DbConnectionFailed,
            Self::Timeout => ErrorCode::DbQueryTimeout,
            Self::ConstraintViolation => ErrorCode::DbConstraintViolation,
            Self::TransactionFailed => ErrorCode::DbTransactionFailed,
            Self::PoolExhausted => ErrorCode::ResourceExhausted,
            Self::InvalidInput => ErrorCode::ValidationFailed,
            Self::Decode => ErrorCode::Internal,
        }
    }
}

/// A failed query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} on {table}: {operation}: {detail}", kind.as_str())]
pub struct QueryError {
    kind: QueryErrorKind,
    table: &'static str,
    operation: Operation,
    detail: String,
    constraint: Option<String>,
    /// The driver's own text, set only by the `driver-message-passthrough` mutant.
    exposed: Option<String>,
}

/// Seconds a client is told to wait when the pool is exhausted.
pub const POOL_RETRY_AFTER_SECONDS: u64 = 1;

impl QueryError {
    /// An error of `kind` in `statement`, with a detail this crate wrote.
    pub fn new(kind: QueryErrorKind, statement: &Statement, detail: impl Into<String>) -> Self {
        Self {
            kind,
            table: statement.table(),
            operation: statement.operation(),
            detail: detail.into(),
            constraint: None,
            exposed: None,
        }
    }

    /// The same error carrying the driver's own `text` as its message: the
    /// `driver-message-passthrough` mutant's bug.
    pub fn exposing(mut self, text: String) -> Self {
        self.exposed = Some(text);
        self
    }

    /// The statement ran out of `limit`.
    pub fn timeout(statement: &Statement, limit: Duration) -> Self {
        Self::new(
            QueryErrorKind::Timeout,
            statement,
            format!("no answer within {} ms", limit.as_millis()),
        )
    }

    /// Classifies a driver error of `statement` (see the module's doc for what is kept).
    pub fn from_sqlx(error: &sqlx::Error, statement: &Statement) -> Self {
        use sqlx::Error as E;
        let (kind, detail) = match error {
            E::PoolTimedOut => (
                QueryErrorKind::PoolExhausted,
                "no pooled connection became free in time".to_owned(),
            ),
            E::PoolClosed => (
                QueryErrorKind::ConnectionFailed,
                "the pool is closed".to_owned(),
            ),
            E::Io(io) => (
                QueryErrorKind::ConnectionFailed,
                format!("io: {}", io.kind()),
            ),
            E::Tls(_) => (QueryErrorKind::ConnectionFailed, "tls failed".to_owned()),
            E::Protocol(_) | E::WorkerCrashed => (
                QueryErrorKind::ConnectionFailed,
                "the connection broke".to_owned(),
            ),
            E::Configuration(_) => (
                QueryErrorKind::ConnectionFailed,
                "the database URL was refused".to_owned(),
            ),
            E::Database(db) => {
                let mut classified = Self::from_database(db.as_ref(), statement);
                if classified.kind == QueryErrorKind::ConstraintViolation {
                    classified.constraint = db.constraint().map(str::to_owned);
                }
                return classified;
            }
            E::RowNotFound
            | E::ColumnNotFound(_)
            | E::ColumnIndexOutOfBounds { .. }
            | E::ColumnDecode { .. }
            | E::Decode(_)
            | E::TypeNotFound { .. } => (
                QueryErrorKind::Decode,
                "a row did not have the expected shape".to_owned(),
            ),
            _ => (
                QueryErrorKind::TransactionFailed,
                "the statement failed".to_owned(),
            ),
        };
        Self::new(kind, statement, detail)
    }

    fn from_database(db: &dyn sqlx::error::DatabaseError, statement: &Statement) -> Self {
        use sqlx::error::ErrorKind as K;
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let kind = match db.kind() {
            K::UniqueViolation
            | K::ForeignKeyViolation
            | K::NotNullViolation
            | K::CheckViolation => QueryErrorKind::ConstraintViolation,
            _ => classify_code(&code),
        };
        let what = match db.kind() {
            K::UniqueViolation => "unique violation",
            K::ForeignKeyViolation => "foreign key violation",
            K::NotNullViolation => "not-null violation",
            K::CheckViolation => "check violation",
            _ => "database error",
        };
        let detail = match db.constraint() {
            Some(constraint) => format!("{what} of {constraint} (code {code})"),
            None => format!("{what} (code {code})"),
        };
        Self::new(kind, statement, detail)
    }

    /// The kind.
    pub fn kind(&self) -> QueryErrorKind {
        self.kind
    }

    /// The table.
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// What happened, in words this crate wrote.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The constraint that refused a change, when the database named it.
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }
}

/// The kind of a database error without a constraint kind, by its SQLSTATE (PostgreSQL) or
/// result code (SQLite, as a decimal string).
fn classify_code(code: &str) -> QueryErrorKind {
    match code {
        // PostgreSQL: query_canceled (statement_timeout), lock_not_available.
        "57014" => QueryErrorKind::Timeout,
        // PostgreSQL: admin/crash shutdown, cannot connect now, too many connections.
        "57P01" | "57P02" | "57P03" | "53300" => QueryErrorKind::ConnectionFailed,
        // SQLite: SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_RANGE.
        "18" | "20" | "25" => QueryErrorKind::InvalidInput,
        // SQLite: SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_CANTOPEN, SQLITE_NOTADB, with their
        // extended codes (the primary code is the low byte).
        _ if sqlite_primary(code).is_some_and(|c| matches!(c, 10 | 11 | 14 | 26)) => {
            QueryErrorKind::ConnectionFailed
        }
        // PostgreSQL: connection exceptions.
        _ if code.starts_with("08") => QueryErrorKind::ConnectionFailed,
        // PostgreSQL: data exceptions (a NUL byte in text, a value out of range).
        _ if code.starts_with("22") => QueryErrorKind::InvalidInput,
        // Anything else failed the statement and its transaction: serialization failures
        // and deadlocks (class 40), SQLITE_BUSY/LOCKED, and the rest.
        _ => QueryErrorKind::TransactionFailed,
    }
}

/// SQLite's primary result code of a numeric `code`.
fn sqlite_primary(code: &str) -> Option<u32> {
    code.parse::<u32>().ok().map(|c| c & 0xff)
}

impl From<QueryError> for DxError {
    fn from(e: QueryError) -> Self {
        let code = e.kind.code();
        let mut details = json!({
            "error_type": e.kind.as_str(),
            "table": e.table,
            "operation": e.operation.as_str(),
        });
        if let Some(map) = details.as_object_mut() {
            if let Some(constraint) = &e.constraint {
                map.insert("constraint".to_owned(), json!(constraint));
            }
            // Every 4001 names a field (spec/error-format.md); the database does not say
            // which bound value it refused, so the request as a whole is named.
            if e.kind == QueryErrorKind::InvalidInput {
                map.insert("field".to_owned(), json!("$"));
            }
        }
        let context = Context::Query(format!("{}: {}", e.table, e.operation));
        let message = e
            .exposed
            .clone()
            .unwrap_or_else(|| code.default_message().to_owned());
        DxError::new(code, message)
            .with_details(details)
            .with_context(context)
            .with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use std::borrow::Cow;

    const INSERT: Statement = Statement::insert("dx_items", "INSERT INTO dx_items VALUES ($1)");

    #[rstest]
    #[case("57014", QueryErrorKind::Timeout)]
    #[case("57P01", QueryErrorKind::ConnectionFailed)]
    #[case("57P02", QueryErrorKind::ConnectionFailed)]
    #[case("57P03", QueryErrorKind::ConnectionFailed)]
    #[case("53300", QueryErrorKind::ConnectionFailed)]
    #[case("08006", QueryErrorKind::ConnectionFailed)]
    #[case("08001", QueryErrorKind::ConnectionFailed)]
    #[case("22021", QueryErrorKind::InvalidInput)]
    #[case("22P02", QueryErrorKind::InvalidInput)]
    #[case("22003", QueryErrorKind::InvalidInput)]
    #[case("40001", QueryErrorKind::TransactionFailed)]
    #[case("40P01", QueryErrorKind::TransactionFailed)]
    #[case("42601", QueryErrorKind::TransactionFailed)]
    #[case("", QueryErrorKind::TransactionFailed)]
    #[case("5", QueryErrorKind::TransactionFailed)]
    #[case("6", QueryErrorKind::TransactionFailed)]
    #[case("18", QueryErrorKind::InvalidInput)]
    #[case("20", QueryErrorKind::InvalidInput)]
    #[case("25", QueryErrorKind::InvalidInput)]
    #[case("10", QueryErrorKind::ConnectionFailed)]
    #[case("266", QueryErrorKind::ConnectionFailed)]
    #[case("11", QueryErrorKind::ConnectionFailed)]
    #[case("14", QueryErrorKind::ConnectionFailed)]
    #[case("26", QueryErrorKind::ConnectionFailed)]
    #[case("1", QueryErrorKind::TransactionFailed)]
    fn database_codes_classify(#[case] code: &str, #[case] kind: QueryErrorKind) {
        assert_eq!(classify_code(code), kind);
    }

    #[rstest]
    #[case(QueryErrorKind::ConnectionFailed, 2001, "connection_failed")]
    #[case(QueryErrorKind::Timeout, 2002, "timeout")]
    #[case(QueryErrorKind::ConstraintViolation, 2003, "constraint_violation")]
    #[case(QueryErrorKind::TransactionFailed, 2004, "transaction_failed")]
    #[case(QueryErrorKind::PoolExhausted, 5003, "pool_exhausted")]
    #[case(QueryErrorKind::InvalidInput, 4001, "invalid_input")]
    #[case(QueryErrorKind::Decode, 5000, "decode")]
    fn kinds_map_to_codes_and_names(
        #[case] kind: QueryErrorKind,
        #[case] code: u16,
        #[case] name: &str,
    ) {
        assert_eq!(kind.code().number(), code);
        assert_eq!(kind.as_str(), name);
    }

    #[test]
    fn driver_errors_classify_without_their_text() {
        let io = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connect to postgres://app:hunter2@db:5432 failed",
        ));
        let e = QueryError::from_sqlx(&io, &INSERT);
        assert_eq!(e.kind(), QueryErrorKind::ConnectionFailed);
        assert_eq!(e.detail(), "io: connection refused");
        assert_eq!(
            e.to_string(),
            "connection_failed on dx_items: insert: io: connection refused"
        );
        let cases = [
            (sqlx::Error::PoolTimedOut, QueryErrorKind::PoolExhausted),
            (sqlx::Error::PoolClosed, QueryErrorKind::ConnectionFailed),
            (sqlx::Error::WorkerCrashed, QueryErrorKind::ConnectionFailed),
            (
                sqlx::Error::Tls(Box::new(std::io::Error::other("certificate for hunter2"))),
                QueryErrorKind::ConnectionFailed,
            ),
            (
                sqlx::Error::Protocol("password hunter2".into()),
                QueryErrorKind::ConnectionFailed,
            ),
            (
                sqlx::Error::Configuration("postgres://app:hunter2@db".into()),
                QueryErrorKind::ConnectionFailed,
            ),
            (sqlx::Error::RowNotFound, QueryErrorKind::Decode),
            (
                sqlx::Error::ColumnNotFound("hunter2".into()),
                QueryErrorKind::Decode,
            ),
            (
                sqlx::Error::Decode("hunter2".into()),
                QueryErrorKind::Decode,
            ),
        ];
        for (error, kind) in cases {
            let e = QueryError::from_sqlx(&error, &INSERT);
            assert_eq!(e.kind(), kind, "{error:?}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
            assert_eq!((e.table(), e.operation()), ("dx_items", Operation::Insert));
            assert_eq!(e.constraint(), None);
        }
    }

    #[test]
    fn the_envelope_carries_kind_table_and_operation() {
        let mut e = QueryError::new(QueryErrorKind::ConstraintViolation, &INSERT, "unique");
        e.constraint = Some("dx_items_owner_name".to_owned());
        let dx = DxError::from(e);
        assert_eq!(dx.code(), ErrorCode::DbConstraintViolation);
        assert_eq!(dx.message(), "Conflicts with existing data");
        assert_eq!(
            dx.details(),
            Some(&json!({
                "error_type": "constraint_violation",
                "table": "dx_items",
                "operation": "insert",
                "constraint": "dx_items_owner_name",
            }))
        );
        let invalid = DxError::from(QueryError::new(QueryErrorKind::InvalidInput, &INSERT, "x"));
        assert_eq!(
            invalid.details().and_then(|d| d.get("field")),
            Some(&json!("$"))
        );
        let timeout = DxError::from(QueryError::timeout(&INSERT, Duration::from_millis(250)));
        assert_eq!(timeout.code(), ErrorCode::DbQueryTimeout);
        assert_eq!(
            timeout.details().and_then(|d| d.get("constraint")),
            None,
            "no constraint member when none refused"
        );
    }

    /// A database error as a driver reports it: a message that may quote anything, a code,
    /// a kind and the schema objects involved.
    #[derive(Debug)]
    struct DriverError {
        message: String,
        code: String,
        kind: u8,
        constraint: Option<String>,
    }

    impl std::fmt::Display for DriverError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for DriverError {}

    impl sqlx::error::DatabaseError for DriverError {
        fn message(&self) -> &str {
            &self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(&self.code))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            use sqlx::error::ErrorKind as K;
            match self.kind {
                0 => K::UniqueViolation,
                1 => K::ForeignKeyViolation,
                2 => K::NotNullViolation,
                3 => K::CheckViolation,
                _ => K::Other,
            }
        }
        fn constraint(&self) -> Option<&str> {
            self.constraint.as_deref()
        }
    }

    /// Each constraint kind keeps its name in the detail (what an operator reads in the log
    /// and the envelope), with the constraint when the driver names one.
    #[rstest]
    #[case(0, "unique violation")]
    #[case(1, "foreign key violation")]
    #[case(2, "not-null violation")]
    #[case(3, "check violation")]
    #[case(9, "database error")]
    fn database_errors_name_their_kind(#[case] kind: u8, #[case] what: &str) {
        let error = sqlx::Error::Database(Box::new(DriverError {
            message: "value hunter2 refused".into(),
            code: "23000".into(),
            kind,
            constraint: Some("dx_items_owner_name".into()),
        }));
        let e = QueryError::from_sqlx(&error, &INSERT);
        assert_eq!(
            e.detail(),
            format!("{what} of dx_items_owner_name (code 23000)")
        );
        if kind <= 3 {
            assert_eq!(e.kind(), QueryErrorKind::ConstraintViolation);
            assert_eq!(e.constraint(), Some("dx_items_owner_name"));
        } else {
            assert_eq!(e.constraint(), None, "only constraint failures name one");
        }
    }

    /// Any failure a driver can report: a database error with any code and kind, an I/O
    /// error, a protocol or configuration error quoting anything, pool exhaustion.
    #[derive(Debug, Clone)]
    enum Failure {
        Database {
            code: String,
            kind: u8,
            constraint: Option<String>,
        },
        Io,
        Protocol,
        Configuration,
        PoolTimedOut,
        PoolClosed,
    }

    impl Failure {
        fn with_secret(self, secret: &str) -> sqlx::Error {
            let url = format!("postgres://app:{secret}@db");
            match self {
                Self::Database {
                    code,
                    kind,
                    constraint,
                } => sqlx::Error::Database(Box::new(DriverError {
                    message: format!("Key (name)=({secret}) failed on {url}"),
                    code,
                    kind,
                    constraint,
                })),
                Self::Io => sqlx::Error::Io(std::io::Error::other(format!("connect {url}"))),
                Self::Protocol => sqlx::Error::Protocol(format!("unexpected {secret}")),
                Self::Configuration => sqlx::Error::Configuration(url.into()),
                Self::PoolTimedOut => sqlx::Error::PoolTimedOut,
                Self::PoolClosed => sqlx::Error::PoolClosed,
            }
        }
    }

    fn failure() -> impl Strategy<Value = Failure> {
        prop_oneof![
            (
                "[0-9A-Z]{1,5}",
                0u8..5,
                proptest::option::of("[a-z_]{1,20}")
            )
                .prop_map(|(code, kind, constraint)| Failure::Database {
                    code,
                    kind,
                    constraint,
                }),
            Just(Failure::Io),
            Just(Failure::Protocol),
            Just(Failure::Configuration),
            Just(Failure::PoolTimedOut),
            Just(Failure::PoolClosed),
        ]
    }

    fn statement() -> impl Strategy<Value = Statement> {
        prop_oneof![
            Just(Statement::select("dx_items", "SELECT 1")),
            Just(Statement::insert("dx_items", "INSERT 1")),
            Just(Statement::update("accounts", "UPDATE 1")),
            Just(Statement::delete("sessions", "DELETE 1")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Feature: production-readiness, Property 21: Query Error Structure
        #[test]
        fn every_failure_names_its_type_table_and_operation_and_keeps_no_secret(
            failure in failure(),
            secret in "[A-Za-z0-9]{12,24}",
            statement in statement(),
        ) {
            let error = failure.with_secret(&format!("Sekret{secret}"));
            let classified = QueryError::from_sqlx(&error, &statement);
            let dx = DxError::from(classified.clone());
            // The type maps to its code: a 2xxx for the database's own failures.
            prop_assert_eq!(dx.code(), classified.kind().code());
            let database_side = matches!(
                classified.kind(),
                QueryErrorKind::ConnectionFailed
                    | QueryErrorKind::Timeout
                    | QueryErrorKind::ConstraintViolation
                    | QueryErrorKind::TransactionFailed
            );
            prop_assert_eq!(database_side, (2001..=2004).contains(&dx.code().number()));
            // Context: table and operation, in the error and in the envelope's details.
            prop_assert_eq!(classified.table(), statement.table());
            prop_assert_eq!(classified.operation(), statement.operation());
            let details = dx.details().cloned().unwrap_or_default();
            prop_assert_eq!(&details["table"], statement.table());
            prop_assert_eq!(&details["operation"], statement.operation().as_str());
            prop_assert_eq!(&details["error_type"], classified.kind().as_str());
            // Sanitized: the driver's text (with the secret, the URL and the bound value)
            // appears nowhere a client or a log could read it from the error.
            let shown = format!("{classified} {classified:?} {} {details}", dx.message());
            prop_assert!(!shown.contains("Sekret"), "{}", shown);
            prop_assert!(!shown.contains("postgres://"), "{}", shown);
            prop_assert!(!dx.message().is_empty());
        }
    }
}
