//! Statements and their parameters.
//!
//! A [`Statement`]'s SQL text is a `&'static str`: text written in the program, never text
//! built while it runs. A `String` made from a request cannot become a statement, so user
//! input reaches the database only as a bound [`Value`] (requirement 8.2, spec/query.md
//! "Bind parameters only"). Each statement also names its table and operation, which is
//! the context its errors carry (requirement 8.4) and what a write invalidates in the cache.

use std::fmt;

/// What a statement does to its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Reads rows.
    Select,
    /// Adds rows.
    Insert,
    /// Changes rows.
    Update,
    /// Removes rows.
    Delete,
}

impl Operation {
    /// The name in error details, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    /// Whether the operation changes the table (and so invalidates its cached results).
    pub fn writes(self) -> bool {
        !matches!(self, Self::Select)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SQL dialects the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL, the production database.
    Postgres,
    /// SQLite, the embedded default.
    Sqlite,
}

impl Backend {
    /// The name in the discovery document and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// One statement: fixed SQL text with `$1`, `$2`, … placeholders, the table it concerns and
/// its operation. Both back ends accept `$n` placeholders; where their SQL differs, a
/// statement carries a second text for SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Statement {
    table: &'static str,
    operation: Operation,
    sql: &'static str,
    sqlite: Option<&'static str>,
}

impl Statement {
    const fn new(table: &'static str, operation: Operation, sql: &'static str) -> Self {
        Self {
            table,
            operation,
            sql,
            sqlite: None,
        }
    }

    /// A statement reading `table`.
    pub const fn select(table: &'static str, sql: &'static str) -> Self {
        Self::new(table, Operation::Select, sql)
    }

    /// A statement adding rows to `table`.
    pub const fn insert(table: &'static str, sql: &'static str) -> Self {
        Self::new(table, Operation::Insert, sql)
    }

    /// A statement changing rows of `table`.
    pub const fn update(table: &'static str, sql: &'static str) -> Self {
        Self::new(table, Operation::Update, sql)
    }

    /// A statement removing rows of `table`.
    pub const fn delete(table: &'static str, sql: &'static str) -> Self {
        Self::new(table, Operation::Delete, sql)
    }

    /// The same statement with `sql` as its SQLite text.
    pub const fn with_sqlite(mut self, sql: &'static str) -> Self {
        self.sqlite = Some(sql);
        self
    }

    /// The table.
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The SQL text for `backend`.
    pub fn sql(&self, backend: Backend) -> &'static str {
        match (backend, self.sqlite) {
            (Backend::Sqlite, Some(sql)) => sql,
            _ => self.sql,
        }
    }

    /// `table: operation`, the context of this statement's errors.
    pub fn context(&self) -> String {
        format!("{}: {}", self.table, self.operation)
    }
}

/// A bound parameter. Its `Debug` shows the kind and size, never the content, so a value
/// cannot reach a log line through an error or a trace (requirement 8.4).
#[derive(Clone, PartialEq)]
pub enum Value {
    /// SQL NULL (bound as a text NULL).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Bool(_) => f.write_str("Bool(..)"),
            Self::Int(_) => f.write_str("Int(..)"),
            Self::Float(_) => f.write_str("Float(..)"),
            Self::Text(s) => write!(f, "Text({} bytes)", s.len()),
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
        }
    }
}

impl Value {
    /// Appends an unambiguous encoding (a tag, a length where the size varies, the bytes) to
    /// `out`: two parameter lists encode alike exactly when they are equal, so a cache key
    /// built from them never confuses two queries.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.push(0),
            Self::Bool(b) => out.extend([1, u8::from(*b)]),
            Self::Int(i) => {
                out.push(2);
                out.extend(i.to_le_bytes());
            }
            Self::Float(x) => {
                out.push(3);
                out.extend(x.to_bits().to_le_bytes());
            }
            Self::Text(s) => {
                out.push(4);
                out.extend((s.len() as u64).to_le_bytes());
                out.extend(s.as_bytes());
            }
            Self::Bytes(b) => {
                out.push(5);
                out.extend((b.len() as u64).to_le_bytes());
                out.extend(b);
            }
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIND: Statement =
        Statement::select("t", "SELECT 1 WHERE a = $1").with_sqlite("SELECT 1 WHERE a = ?1");

    #[test]
    fn statements_carry_their_context_and_dialects() {
        assert_eq!(FIND.sql(Backend::Postgres), "SELECT 1 WHERE a = $1");
        assert_eq!(FIND.sql(Backend::Sqlite), "SELECT 1 WHERE a = ?1");
        let del = Statement::delete("items", "DELETE FROM items");
        assert_eq!(del.sql(Backend::Sqlite), "DELETE FROM items");
        assert_eq!(del.context(), "items: delete");
        assert_eq!(del.table(), "items");
        assert_eq!(del.operation(), Operation::Delete);
        let writes: Vec<bool> = [
            Statement::select("t", "").operation(),
            Statement::insert("t", "").operation(),
            Statement::update("t", "").operation(),
            del.operation(),
        ]
        .iter()
        .map(|o| o.writes())
        .collect();
        assert_eq!(writes, [false, true, true, true]);
        assert_eq!(Operation::Update.to_string(), "update");
        assert_eq!(Operation::Insert.as_str(), "insert");
        assert_eq!(Backend::Postgres.as_str(), "postgres");
        assert_eq!(Backend::Sqlite.as_str(), "sqlite");
    }

    #[test]
    fn debug_never_shows_a_value() {
        let values = [
            Value::from("hunter2"),
            Value::from(b"hunter2".to_vec()),
            Value::from(4_242_i64),
            Value::from(42.5),
            Value::from(true),
            Value::from(None::<String>),
            Value::from(7_u32),
            Value::from(7_i32),
            Value::from(String::from("hunter2")),
        ];
        let shown = format!("{values:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("4242") && !shown.contains("42.5"));
        assert!(
            shown.contains("Text(7 bytes)") && shown.contains("Bytes(7 bytes)"),
            "{shown}"
        );
        assert!(
            shown.contains("Null") && shown.contains("Bool(..)"),
            "{shown}"
        );
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            ".{0,8}".prop_map(Value::Text),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        ]
    }

    fn encode(values: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        values.iter().for_each(|v| v.encode_into(&mut out));
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Two parameter lists share a cache key exactly when they are the same list
        /// (floats compared by their bits, as the encoding does).
        #[test]
        fn encodings_are_injective(
            a in proptest::collection::vec(value(), 0..4),
            b in proptest::collection::vec(value(), 0..4),
        ) {
            let same = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| match (x, y) {
                (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
                _ => x == y,
            });
            prop_assert_eq!(encode(&a) == encode(&b), same);
        }
    }
}
