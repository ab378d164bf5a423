//! Values between sea-query and SQLite for the rusqlite backend ([`super::sqlite`]): rows
//! decoded by the columns' declared types, parameters bound in the text formats sqlx used for
//! SQLite (timestamps as RFC 3339), so files written before that backend compare and sort the
//! same.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use sea_orm::{DbErr, Value};

/// How a column's values are read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    Int,
    BigInt,
    Bool,
    Text,
    Time,
    Real,
    Bytes,
    /// An expression: by the value's own type.
    Dynamic,
}

static I32_COLUMNS: LazyLock<HashSet<String>> = LazyLock::new(crate::entity::i32_columns);

impl Kind {
    pub(super) fn of(decl: Option<&str>, name: &str) -> Kind {
        let Some(decl) = decl else {
            // sea-orm's paginator reads its count as an i32 on SQLite.
            return if name == "num_items" {
                Kind::Int
            } else {
                Kind::Dynamic
            };
        };
        let decl = decl.to_ascii_lowercase();
        // A joined model's columns come back as `A_name`, `B_name`.
        let bare = match name.as_bytes() {
            [p, b'_', ..] if p.is_ascii_uppercase() => &name[2..],
            _ => name,
        };
        match decl.as_str() {
            "integer" if I32_COLUMNS.contains(bare) => Kind::Int,
            "integer" | "bigint" => Kind::BigInt,
            "boolean" | "bool" => Kind::Bool,
            d if d.starts_with("timestamp") || d.starts_with("datetime") => Kind::Time,
            d if d.contains("char") || d.contains("text") || d.contains("clob") => Kind::Text,
            "real" | "double" | "float" => Kind::Real,
            "blob" => Kind::Bytes,
            _ => Kind::Dynamic,
        }
    }

    pub(super) fn decode(self, v: ValueRef<'_>) -> Result<Value, DbErr> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(match (self, v) {
            (Kind::Int, ValueRef::Null) => Value::Int(None),
            (Kind::Bool, ValueRef::Null) => Value::Bool(None),
            (Kind::Text, ValueRef::Null) => Value::String(None),
            (Kind::Time, ValueRef::Null) => Value::ChronoDateTimeUtc(None),
            (Kind::Real, ValueRef::Null) => Value::Double(None),
            (Kind::Bytes, ValueRef::Null) => Value::Bytes(None),
            (_, ValueRef::Null) => Value::BigInt(None),
            (Kind::Int, ValueRef::Integer(i)) => Value::Int(Some(i as i32)),
            (Kind::Bool, ValueRef::Integer(i)) => Value::Bool(Some(i != 0)),
            (Kind::Text, ValueRef::Integer(i)) => Value::from(i.to_string()),
            (Kind::Real, ValueRef::Integer(i)) => Value::Double(Some(i as f64)),
            (_, ValueRef::Integer(i)) => Value::BigInt(Some(i)),
            (_, ValueRef::Real(f)) => Value::Double(Some(f)),
            (Kind::Time, ValueRef::Text(t)) => {
                let s = std::str::from_utf8(t).map_err(|e| DbErr::Type(e.to_string()))?;
                Value::from(
                    parse_time(s).ok_or_else(|| DbErr::Type(format!("not a timestamp: {s:?}")))?,
                )
            }
            (Kind::Bool, ValueRef::Text(t)) => Value::Bool(Some(matches!(t, b"1" | b"true"))),
            (_, ValueRef::Text(t)) => Value::from(text(t)),
            (_, ValueRef::Blob(b)) => Value::Bytes(Some(Box::new(b.to_vec()))),
        })
    }
}

/// Reads a timestamp as sqlx wrote it (RFC 3339), or in SQLite's own formats.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%F %T%.f%:z", "%F %T%:z", "%F %R%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for f in ["%F %T%.f", "%F %T", "%F %R", "%FT%T%.f", "%FT%T"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// A sea-query value bound as SQLite stores it (the formats of sqlx's SQLite encoding).
pub(super) struct Param<'a>(pub(super) &'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let int = |i: Option<i64>| ToSqlOutput::Owned(i.map_or(SqlValue::Null, SqlValue::Integer));
        let real = |f: Option<f64>| ToSqlOutput::Owned(f.map_or(SqlValue::Null, SqlValue::Real));
        let owned =
            |s: Option<String>| ToSqlOutput::Owned(s.map_or(SqlValue::Null, SqlValue::Text));
        let time = |t: Option<DateTime<chrono::FixedOffset>>| {
            owned(t.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
        };
        Ok(match self.0 {
            Value::Bool(b) => int(b.map(i64::from)),
            Value::TinyInt(i) => int(i.map(i64::from)),
            Value::SmallInt(i) => int(i.map(i64::from)),
            Value::Int(i) => int(i.map(i64::from)),
            Value::BigInt(i) => int(*i),
            Value::TinyUnsigned(i) => int(i.map(i64::from)),
            Value::SmallUnsigned(i) => int(i.map(i64::from)),
            Value::Unsigned(i) => int(i.map(i64::from)),
            Value::BigUnsigned(i) => match i {
                Some(u) => {
                    int(Some(i64::try_from(*u).map_err(|e| {
                        rusqlite::Error::ToSqlConversionFailure(Box::new(e))
                    })?))
                }
                None => int(None),
            },
            Value::Float(f) => real(f.map(f64::from)),
            Value::Double(f) => real(*f),
            Value::String(s) => match s {
                Some(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
                None => int(None),
            },
            Value::Char(c) => owned(c.map(String::from)),
            Value::Bytes(b) => match b {
                Some(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
                None => int(None),
            },
            Value::Json(j) => owned(j.as_ref().map(|j| j.to_string())),
            Value::ChronoDate(d) => owned(d.as_ref().map(|d| d.format("%F").to_string())),
            Value::ChronoTime(t) => owned(t.as_ref().map(|t| t.format("%T%.f").to_string())),
            Value::ChronoDateTime(t) => owned(t.as_ref().map(|t| t.format("%F %T%.f").to_string())),
            Value::ChronoDateTimeUtc(t) => time(t.as_ref().map(|t| t.fixed_offset())),
            Value::ChronoDateTimeLocal(t) => time(t.as_ref().map(|t| t.fixed_offset())),
            Value::ChronoDateTimeWithTimeZone(t) => time(t.as_ref().map(|t| **t)),
            #[allow(unreachable_patterns)]
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("unsupported SQLite parameter {other:?}").into(),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_read_by_their_declared_types() {
        assert_eq!(Kind::of(Some("integer"), "row_version"), Kind::Int);
        assert_eq!(Kind::of(Some("integer"), "A_row_version"), Kind::Int);
        assert_eq!(Kind::of(Some("integer"), "id"), Kind::BigInt);
        assert_eq!(Kind::of(Some("bigint"), "school_id"), Kind::BigInt);
        assert_eq!(Kind::of(Some("boolean"), "is_final"), Kind::Bool);
        assert_eq!(
            Kind::of(Some("timestamp_with_timezone_text"), "at"),
            Kind::Time
        );
        assert_eq!(Kind::of(Some("varchar(2)"), "province_code"), Kind::Text);
        assert_eq!(Kind::of(None, "n"), Kind::Dynamic);
        assert_eq!(Kind::of(None, "num_items"), Kind::Int);
        assert!(
            !I32_COLUMNS.contains("id"),
            "an i32 column named id would be read as i32 for every table's key"
        );
    }

    #[test]
    fn timestamps_round_trip_in_sqlx_format() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T16:36:21.123456+00:00")
            .unwrap()
            .with_timezone(&Utc);
        let v = Value::from(t);
        let param = Param(&v);
        let out = rusqlite::ToSql::to_sql(&param).unwrap();
        let ToSqlOutput::Owned(SqlValue::Text(s)) = out else {
            panic!("{out:?}")
        };
        assert_eq!(s, "2026-12-01T16:36:21.123456+00:00");
        assert_eq!(parse_time(&s), Some(t));
        assert_eq!(
            parse_time("2026-12-01 16:36:21"),
            Some(t.with_nanosecond_zero())
        );
    }

    trait Zero {
        fn with_nanosecond_zero(self) -> Self;
    }
    impl Zero for DateTime<Utc> {
        fn with_nanosecond_zero(self) -> Self {
            chrono::Timelike::with_nanosecond(&self, 0).unwrap()
        }
    }
}
