//! Substitution of `ROW_COUNT()` and `FOUND_ROWS()` by the values the proxy tracked for the session.
//!
//! Both functions describe the session's previous statement, which may have run on a pooled backend connection
//! that another session has used since. The proxy knows both numbers from the previous response (affected rows of
//! its OK packet, rows of its result set), so it writes them into the statement as literals. A call that is a
//! whole select item keeps its column name through an alias (`SELECT ROW_COUNT()` still has a column
//! `ROW_COUNT()`).

use crate::lexer::{Lexer, Token, TokenKind};

/// The previous statement's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PreviousCounts {
    /// `ROW_COUNT()`: affected rows of a DML statement, -1 after a statement that returned a result set.
    pub row_count: i64,
    /// `FOUND_ROWS()`: rows of the last result set.
    pub found_rows: u64,
}

/// Returns `sql` with every `ROW_COUNT()` and `FOUND_ROWS()` call replaced by its value.
pub fn substitute_counts(sql: &[u8], counts: PreviousCounts) -> Vec<u8> {
    let tokens: Vec<Token> = Lexer::new(sql).collect();
    let mut out = Vec::with_capacity(sql.len() + 32);
    let mut copied = 0;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let is_call = t.kind == TokenKind::Word
            && i + 2 < tokens.len()
            && tokens[i + 1].is_punct(b'(')
            && tokens[i + 2].is_punct(b')');
        let value = if !is_call {
            None
        } else if t.is_word(sql, "ROW_COUNT") {
            Some(counts.row_count.to_string())
        } else if t.is_word(sql, "FOUND_ROWS") {
            Some(counts.found_rows.to_string())
        } else {
            None
        };
        let Some(value) = value else {
            i += 1;
            continue;
        };
        let end = tokens[i + 2].end;
        let before = i.checked_sub(1).map(|j| tokens[j]);
        let after = tokens.get(i + 3).copied();
        let starts_item = before.is_some_and(|b| b.is_word(sql, "SELECT") || b.is_punct(b','));
        let ends_item = after.is_none_or(|a| a.is_punct(b',') || a.is_punct(b';') || a.is_word(sql, "FROM"));
        out.extend_from_slice(&sql[copied..t.start]);
        if value.starts_with('-') {
            out.push(b'(');
            out.extend_from_slice(value.as_bytes());
            out.push(b')');
        } else {
            out.extend_from_slice(value.as_bytes());
        }
        if starts_item && ends_item {
            out.extend_from_slice(b" AS `");
            out.extend_from_slice(&sql[t.start..end]);
            out.push(b'`');
        }
        copied = end;
        i += 3;
    }
    out.extend_from_slice(&sql[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(sql: &str, row_count: i64, found_rows: u64) -> String {
        String::from_utf8(substitute_counts(
            sql.as_bytes(),
            PreviousCounts { row_count, found_rows },
        ))
        .unwrap()
    }

    #[test]
    fn substitutes_with_aliases_for_whole_items() {
        assert_eq!(s("SELECT ROW_COUNT()", 3, 0), "SELECT 3 AS `ROW_COUNT()`");
        assert_eq!(s("select found_rows(), 1", 0, 4), "select 4 AS `found_rows()`, 1");
        assert_eq!(s("SELECT ROW_COUNT() AS n", -1, 0), "SELECT (-1) AS n");
        assert_eq!(s("SELECT ROW_COUNT() + 1 FROM dual", 2, 0), "SELECT 2 + 1 FROM dual");
        assert_eq!(
            s("SELECT 'ROW_COUNT()', x FROM t", 2, 0),
            "SELECT 'ROW_COUNT()', x FROM t"
        );
        assert_eq!(
            s("INSERT INTO log VALUES (ROW_COUNT())", 5, 0),
            "INSERT INTO log VALUES (5)"
        );
    }
}
