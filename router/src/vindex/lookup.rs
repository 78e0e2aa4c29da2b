//! The `lookup` vindex: a table maps each value to the keyspace id(s) of its rows; this module builds its SQL.
//!
//! Spec:
//!
//! ```yaml
//! type: lookup
//! table: app_lookup.email_idx   # keyspace.table holding the mapping
//! from: email                   # column holding the value
//! to: keyspace_id               # column holding the keyspace id (BIGINT UNSIGNED)
//! ```
//!
//! Mapping a value needs I/O, which this crate never does: [`Vindex::map`] answers [`Destination::NeedsLookup`] and
//! the proxy runs [`LookupVindex::select_sql`] on the lookup keyspace, then routes by the keyspace ids it returns.
//! Writes to the owner table keep the lookup table in step with [`LookupVindex::insert_sql`] and
//! [`LookupVindex::delete_sql`]. All builders splice escaped literals (see [`super::sql_literal`]); keyspace ids are
//! written as unsigned decimal.

use serde_yaml_ng::Mapping;

use super::sql_literal::{push_identifier, push_literal};
use super::{check_keys, required_str, single, spec_err, Destination, SpecError, Vindex, VindexError};
use crate::value::SqlValue;

/// The `lookup` vindex: where its table lives and which columns hold the value and the keyspace id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupVindex {
    /// Keyspace holding the lookup table.
    keyspace: String,
    /// The lookup table's name inside that keyspace.
    table: String,
    /// Column holding the value.
    from: String,
    /// Column holding the keyspace id.
    to: String,
}

impl LookupVindex {
    /// Builds the vindex from its spec (`type`, `table`, `from`, `to`).
    pub(crate) fn from_spec(spec: &Mapping) -> Result<Self, SpecError> {
        check_keys(spec, &["type", "table", "from", "to"], "", "a lookup vindex")?;
        let qualified = required_str(spec, "table", "", "table: lookup_keyspace.table_name")?;
        let (keyspace, table) = match qualified.split_once('.') {
            Some((k, t)) if !k.is_empty() && !t.is_empty() && !t.contains('.') => (k, t),
            _ => {
                return Err(spec_err(
                    "table",
                    format!("{qualified:?} is not keyspace.table; write e.g. `table: app_lookup.email_idx`"),
                ))
            }
        };
        let from = required_str(spec, "from", "", "from: email")?;
        let to = required_str(spec, "to", "", "to: keyspace_id")?;
        if from == to {
            return Err(spec_err("to", "must differ from `from`; write e.g. `to: keyspace_id`"));
        }
        Ok(LookupVindex {
            keyspace: keyspace.to_string(),
            table: table.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        })
    }

    /// The keyspace holding the lookup table (statements built here are sent there).
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// The lookup table's name inside [`Self::keyspace`].
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The column holding the value.
    pub fn from_column(&self) -> &str {
        &self.from
    }

    /// The column holding the keyspace id (`BIGINT UNSIGNED`).
    pub fn to_column(&self) -> &str {
        &self.to
    }

    /// `` `keyspace`.`table` ``
    fn push_table(&self, out: &mut String) {
        push_identifier(out, &self.keyspace);
        out.push('.');
        push_identifier(out, &self.table);
    }

    /// `` SELECT `from`, `to` FROM `ks`.`t` WHERE `from` IN (v1, v2, …) ``: the keyspace ids of `values`.
    ///
    /// With no values the list is `(NULL)`, which matches nothing.
    pub fn select_sql(&self, values: &[SqlValue<'_>]) -> String {
        let mut out = String::with_capacity(64 + 16 * values.len());
        out.push_str("SELECT ");
        push_identifier(&mut out, &self.from);
        out.push_str(", ");
        push_identifier(&mut out, &self.to);
        out.push_str(" FROM ");
        self.push_table(&mut out);
        out.push_str(" WHERE ");
        push_identifier(&mut out, &self.from);
        out.push_str(" IN (");
        if values.is_empty() {
            out.push_str("NULL");
        }
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_literal(&mut out, v);
        }
        out.push(')');
        out
    }

    /// `` INSERT INTO `ks`.`t` (`from`, `to`) VALUES (v1, k1), … ``: records rows' (value, keyspace id) pairs.
    ///
    /// A plain INSERT: a pair already present is a duplicate-key error (the table's primary key is the pair).
    /// `rows` must not be empty (the statement would not parse).
    pub fn insert_sql(&self, rows: &[(SqlValue<'_>, u64)]) -> String {
        let mut out = String::with_capacity(64 + 32 * rows.len());
        out.push_str("INSERT INTO ");
        self.push_table(&mut out);
        out.push_str(" (");
        push_identifier(&mut out, &self.from);
        out.push_str(", ");
        push_identifier(&mut out, &self.to);
        out.push_str(") VALUES ");
        for (i, (v, ksid)) in rows.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push('(');
            push_literal(&mut out, v);
            out.push_str(", ");
            push_literal(&mut out, &SqlValue::UInt(*ksid));
            out.push(')');
        }
        out
    }

    /// `` DELETE FROM `ks`.`t` WHERE (`from` = v1 AND `to` = k1) OR … ``: forgets rows' pairs.
    ///
    /// With no rows the condition is `FALSE`, which deletes nothing.
    pub fn delete_sql(&self, rows: &[(SqlValue<'_>, u64)]) -> String {
        let mut out = String::with_capacity(64 + 48 * rows.len());
        out.push_str("DELETE FROM ");
        self.push_table(&mut out);
        out.push_str(" WHERE ");
        if rows.is_empty() {
            out.push_str("FALSE");
        }
        for (i, (v, ksid)) in rows.iter().enumerate() {
            if i > 0 {
                out.push_str(" OR ");
            }
            out.push('(');
            push_identifier(&mut out, &self.from);
            out.push_str(" = ");
            push_literal(&mut out, v);
            out.push_str(" AND ");
            push_identifier(&mut out, &self.to);
            out.push_str(" = ");
            push_literal(&mut out, &SqlValue::UInt(*ksid));
            out.push(')');
        }
        out
    }

    /// `` CREATE TABLE IF NOT EXISTS `ks`.`t` (`from` VARBINARY(255) NOT NULL, `to` BIGINT UNSIGNED NOT NULL,
    /// PRIMARY KEY (`from`, `to`)) ``.
    ///
    /// The table is unique per (value, keyspace id): one value may map to several keyspace ids (a non-unique
    /// lookup), but each pair is stored once. Values are compared as bytes (VARBINARY), up to 255 bytes.
    pub fn create_table_sql(&self) -> String {
        let mut out = String::with_capacity(160);
        out.push_str("CREATE TABLE IF NOT EXISTS ");
        self.push_table(&mut out);
        out.push_str(" (");
        push_identifier(&mut out, &self.from);
        out.push_str(" VARBINARY(255) NOT NULL, ");
        push_identifier(&mut out, &self.to);
        out.push_str(" BIGINT UNSIGNED NOT NULL, PRIMARY KEY (");
        push_identifier(&mut out, &self.from);
        out.push_str(", ");
        push_identifier(&mut out, &self.to);
        out.push_str("))");
        out
    }
}

impl Vindex for LookupVindex {
    fn kind(&self) -> &'static str {
        "lookup"
    }

    fn map(&self, values: &[SqlValue<'_>]) -> Result<Destination, VindexError> {
        Ok(match single("lookup", values)? {
            SqlValue::Null => Destination::None,
            _ => Destination::NeedsLookup,
        })
    }

    fn is_functional(&self) -> bool {
        false
    }

    fn as_lookup(&self) -> Option<&LookupVindex> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::vindex::tests::{build_err, spec};

    fn email() -> LookupVindex {
        LookupVindex::from_spec(&spec(
            "{ type: lookup, table: app_lookup.email_idx, from: email, to: keyspace_id }",
        ))
        .unwrap()
    }

    fn s(t: &str) -> SqlValue<'_> {
        SqlValue::Bytes(Cow::Borrowed(t.as_bytes()))
    }

    #[test]
    fn accessors() {
        let v = email();
        assert_eq!(
            (v.keyspace(), v.table(), v.from_column(), v.to_column()),
            ("app_lookup", "email_idx", "email", "keyspace_id")
        );
    }

    #[test]
    fn map_defers_to_the_table() {
        let v = email();
        assert_eq!(v.map(&[s("a@b.c")]).unwrap(), Destination::NeedsLookup);
        assert_eq!(v.map(&[SqlValue::Int(5)]).unwrap(), Destination::NeedsLookup);
        assert_eq!(v.map(&[SqlValue::Null]).unwrap(), Destination::None);
        assert!(v.map(&[]).is_err());
        assert!(!v.is_functional());
    }

    #[test]
    fn select_sql() {
        let v = email();
        assert_eq!(
            v.select_sql(&[s("a@b.c"), s("O'Hara\\")]),
            "SELECT `email`, `keyspace_id` FROM `app_lookup`.`email_idx` WHERE `email` IN ('a@b.c', 'O\\'Hara\\\\')"
        );
        assert_eq!(
            v.select_sql(&[]),
            "SELECT `email`, `keyspace_id` FROM `app_lookup`.`email_idx` WHERE `email` IN (NULL)"
        );
        assert!(v.select_sql(&[SqlValue::Int(-3)]).ends_with("IN (-3)"));
    }

    #[test]
    fn insert_and_delete_sql() {
        let v = email();
        let rows = [(s("x'y"), 0x8000_0000_0000_0000u64), (s("z"), 1)];
        assert_eq!(
            v.insert_sql(&rows),
            "INSERT INTO `app_lookup`.`email_idx` (`email`, `keyspace_id`) VALUES ('x\\'y', 9223372036854775808), \
             ('z', 1)"
        );
        assert_eq!(
            v.delete_sql(&rows),
            "DELETE FROM `app_lookup`.`email_idx` WHERE (`email` = 'x\\'y' AND `keyspace_id` = 9223372036854775808) \
             OR (`email` = 'z' AND `keyspace_id` = 1)"
        );
        assert_eq!(v.delete_sql(&[]), "DELETE FROM `app_lookup`.`email_idx` WHERE FALSE");
        assert!(v
            .insert_sql(&[(s("m"), u64::MAX)])
            .ends_with("('m', 18446744073709551615)"));
    }

    #[test]
    fn create_table_sql() {
        assert_eq!(
            email().create_table_sql(),
            "CREATE TABLE IF NOT EXISTS `app_lookup`.`email_idx` (`email` VARBINARY(255) NOT NULL, `keyspace_id` \
             BIGINT UNSIGNED NOT NULL, PRIMARY KEY (`email`, `keyspace_id`))"
        );
    }

    #[test]
    fn identifiers_with_backticks_are_quoted() {
        let v = LookupVindex::from_spec(&spec("{ type: lookup, table: \"k`s.t\", from: \"a`b\", to: k }")).unwrap();
        assert!(
            v.select_sql(&[]).starts_with("SELECT `a``b`, `k` FROM `k``s`.`t`"),
            "{}",
            v.select_sql(&[])
        );
    }

    #[test]
    fn spec_errors_name_the_place() {
        let cases = [
            ("{ type: lookup, from: a, to: b }", "table"),
            ("{ type: lookup, table: email_idx, from: a, to: b }", "table"),
            ("{ type: lookup, table: .email_idx, from: a, to: b }", "table"),
            ("{ type: lookup, table: ks., from: a, to: b }", "table"),
            ("{ type: lookup, table: a.b.c, from: a, to: b }", "table"),
            ("{ type: lookup, table: [a, b], from: a, to: b }", "table"),
            ("{ type: lookup, table: ks.t, to: b }", "from"),
            ("{ type: lookup, table: ks.t, from: \"\", to: b }", "from"),
            ("{ type: lookup, table: ks.t, from: a }", "to"),
            ("{ type: lookup, table: ks.t, from: a, to: a }", "to"),
            ("{ type: lookup, table: ks.t, from: a, to: b, unique: true }", "unique"),
        ];
        for (yaml, want) in cases {
            assert_eq!(build_err(yaml).0, want, "{yaml}");
        }
        assert!(build_err("{ type: lookup, table: email_idx, from: a, to: b }")
            .1
            .contains("app_lookup.email_idx"));
    }
}
