//! Rows as JSON objects, so one `serde` type reads rows of either back end. A column keeps
//! its value's type: integers, floats, booleans, text, bytes (as an array of numbers, which
//! `Vec<u8>` reads) and NULL.

use serde_json::{Map, Number, Value as Json};
use sqlx::{Column, Row, TypeInfo, ValueRef};

/// Why a column could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedColumn {
    /// The column's name.
    pub column: String,
    /// Its type, as the database names it.
    pub type_name: String,
}

fn unsupported(column: &str, type_name: &str) -> UnsupportedColumn {
    UnsupportedColumn {
        column: column.to_owned(),
        type_name: type_name.to_owned(),
    }
}

fn float(x: f64) -> Json {
    Number::from_f64(x).map_or(Json::Null, Json::Number)
}

fn bytes(b: Vec<u8>) -> Json {
    Json::Array(b.into_iter().map(Json::from).collect())
}

/// A PostgreSQL row as an object of its columns.
pub fn postgres_row(row: &sqlx::postgres::PgRow) -> Result<Map<String, Json>, UnsupportedColumn> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let type_name = column.type_info().name();
        let bad = || unsupported(name, type_name);
        let raw = row.try_get_raw(i).map_err(|_| bad())?;
        let value = if raw.is_null() {
            Json::Null
        } else {
            match type_name {
                "INT8" => Json::from(row.try_get::<i64, _>(i).map_err(|_| bad())?),
                "INT4" => Json::from(row.try_get::<i32, _>(i).map_err(|_| bad())?),
                "INT2" => Json::from(row.try_get::<i16, _>(i).map_err(|_| bad())?),
                "FLOAT8" => float(row.try_get::<f64, _>(i).map_err(|_| bad())?),
                "FLOAT4" => float(f64::from(row.try_get::<f32, _>(i).map_err(|_| bad())?)),
                "BOOL" => Json::Bool(row.try_get::<bool, _>(i).map_err(|_| bad())?),
                "TEXT" | "VARCHAR" | "CHAR" | "BPCHAR" | "NAME" => {
                    Json::String(row.try_get::<String, _>(i).map_err(|_| bad())?)
                }
                "BYTEA" => bytes(row.try_get::<Vec<u8>, _>(i).map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        };
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}

/// A SQLite row as an object of its columns, typed by each value's storage class (SQLite
/// types values, not columns; a value's class is never BOOLEAN, which only declared
/// columns have: a boolean reads as the integer SQLite stores).
pub fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Result<Map<String, Json>, UnsupportedColumn> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let raw = row
            .try_get_raw(i)
            .map_err(|_| unsupported(name, column.type_info().name()))?;
        let value = if raw.is_null() {
            Json::Null
        } else {
            let storage = raw.type_info().name().to_owned();
            let bad = || unsupported(name, &storage);
            match storage.as_str() {
                "INTEGER" => Json::from(row.try_get::<i64, _>(i).map_err(|_| bad())?),
                "REAL" => float(row.try_get::<f64, _>(i).map_err(|_| bad())?),
                "TEXT" => Json::String(row.try_get::<String, _>(i).map_err(|_| bad())?),
                "BLOB" => bytes(row.try_get::<Vec<u8>, _>(i).map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        };
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}
