//! Query normalization: one tokenizer pass that pulls literals out of a statement and digests its shape.
//!
//! Two statements that differ only in their literal values (`WHERE id = 5` / `WHERE id = 7`) get the same
//! [`Normalized::digest`], which keys the plan cache, and their literals become numbered parameters. Client `?`
//! placeholders of prepared statements are parameters too, numbered in the same sequence, so text and prepared
//! statements of one shape share plans.
//!
//! Literals are left in place (and in the digest) where replacing them would change the statement's shape for the
//! parser or the planner: column positions after `ORDER BY`/`GROUP BY`, and strings glued to an introducer or
//! prefix (`_utf8mb4'x'`, `X'41'`, `N'x'`).

use crate::lexer::{Lexer, Token, TokenKind};
use crate::value::SqlValue;
use std::borrow::Cow;

/// Keywords that end an `ORDER BY` / `GROUP BY` list.
const BY_LIST_END: [&str; 8] = ["LIMIT", "HAVING", "UNION", "FOR", "LOCK", "INTO", "WINDOW", "WITH"];

/// What a parameter stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A numeric literal.
    Number,
    /// A quoted string literal.
    String,
    /// A client `?` placeholder (its value comes from COM_STMT_EXECUTE).
    Placeholder,
}

/// One parameter of a normalized statement: its byte span in the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Start offset in the statement (inclusive).
    pub start: usize,
    /// End offset (exclusive).
    pub end: usize,
    /// Literal or placeholder.
    pub kind: ParamKind,
}

/// The shape of a statement: a 128-bit digest of its tokens with the parameters replaced by a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    /// Primary hash (keys the cache).
    pub hash: u64,
    /// Independent second hash (checked on a hit, so a collision of `hash` cannot return another shape's plan).
    pub check: u64,
}

/// Normalizes `sql`: fills `params` (cleared first) with the statement's parameters in text order and returns its
/// digest. Allocates only when `params` must grow.
pub fn normalize(sql: &[u8], params: &mut Vec<Param>) -> Digest {
    params.clear();
    let mut h1 = Fnv::new(0xcbf2_9ce4_8422_2325);
    let mut h2 = Fnv::new(0x6c62_272e_07bb_0142);
    let mut prev: Option<Token> = None;
    // Inside an ORDER BY / GROUP BY list at parenthesis depth `by_depth`.
    let mut by_depth: Option<i32> = None;
    let mut depth = 0i32;
    for t in Lexer::new(sql) {
        let text = t.text(sql);
        let kind = match t.kind {
            TokenKind::Number | TokenKind::String => {
                let positional = by_depth == Some(depth)
                    && t.kind == TokenKind::Number
                    && prev.is_some_and(|p| p.is_word(sql, "BY") || p.is_punct(b','));
                let glued =
                    t.kind == TokenKind::String && prev.is_some_and(|p| p.kind == TokenKind::Word && p.end == t.start);
                if positional || glued {
                    None
                } else if t.kind == TokenKind::Number {
                    Some(ParamKind::Number)
                } else {
                    Some(ParamKind::String)
                }
            }
            TokenKind::Placeholder => Some(ParamKind::Placeholder),
            _ => None,
        };
        match kind {
            Some(k) => {
                params.push(Param {
                    start: t.start,
                    end: t.end,
                    kind: k,
                });
                h1.byte(b'?');
                h2.byte(b'?');
            }
            None => {
                // Words are hashed as written: identifiers are case sensitive (table names on Linux servers), and
                // a keyword written in another case only costs a second cache entry.
                h1.bytes(text);
                h2.bytes(text);
            }
        }
        h1.byte(0);
        h2.byte(0);
        match t.kind {
            TokenKind::Punct(b'(') => depth += 1,
            TokenKind::Punct(b')') => {
                if by_depth == Some(depth) {
                    by_depth = None;
                }
                depth -= 1;
            }
            TokenKind::Punct(b';') => by_depth = None,
            TokenKind::Word => {
                if t.is_word(sql, "BY") && prev.is_some_and(|p| p.is_word(sql, "ORDER") || p.is_word(sql, "GROUP")) {
                    by_depth = Some(depth);
                } else if by_depth == Some(depth) && BY_LIST_END.iter().any(|k| t.is_word(sql, k)) {
                    by_depth = None;
                }
            }
            _ => {}
        }
        prev = Some(t);
    }
    Digest {
        hash: h1.finish(),
        check: h2.finish() ^ params.len() as u64,
    }
}

/// The statement text the SQL parser sees on a plan-cache miss: every parameter replaced by `?N` (its number).
pub fn parser_text(sql: &[u8], params: &[Param]) -> String {
    numbered_text(sql, params, true)
}

/// Like [`parser_text`], with literals left as written and only the client's `?` placeholders replaced by `?N`
/// (numbered among all parameters): the text planned when a statement does not parse with its literals out.
pub fn parser_text_with_literals(sql: &[u8], params: &[Param]) -> String {
    numbered_text(sql, params, false)
}

fn numbered_text(sql: &[u8], params: &[Param], literals: bool) -> String {
    let mut out = String::with_capacity(sql.len() + params.len() * 3);
    let mut at = 0;
    for (i, p) in params.iter().enumerate() {
        if !literals && p.kind != ParamKind::Placeholder {
            continue;
        }
        out.push_str(&String::from_utf8_lossy(&sql[at..p.start]));
        out.push_str(&format!(" ?{i} "));
        at = p.end;
    }
    out.push_str(&String::from_utf8_lossy(&sql[at..]));
    out
}

/// The value of a literal parameter (`None` for a placeholder, whose value is bound at execution).
pub fn literal_value<'a>(sql: &'a [u8], p: &Param) -> Option<SqlValue<'a>> {
    let text = &sql[p.start..p.end];
    match p.kind {
        ParamKind::Placeholder => None,
        ParamKind::Number => Some(number_value(text)),
        ParamKind::String => Some(SqlValue::Bytes(unescape_string(text))),
    }
}

/// Parses a numeric literal token: integers to `Int`/`UInt`, hex (`0x1F`) to its integer, anything else `Decimal`.
pub fn number_value(text: &[u8]) -> SqlValue<'_> {
    let s = std::str::from_utf8(text).unwrap_or("");
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if let Ok(v) = u64::from_str_radix(hex, 16) {
            return SqlValue::UInt(v);
        }
    }
    if let Ok(i) = s.parse::<i64>() {
        return SqlValue::Int(i);
    }
    if let Ok(u) = s.parse::<u64>() {
        return SqlValue::UInt(u);
    }
    SqlValue::Decimal(Cow::Borrowed(s))
}

/// Removes the quotes of a string token and resolves MySQL escapes (`\n`, `\\`, `\'`, doubled quotes…).
/// Borrows when the string has no escapes.
pub fn unescape_string(text: &[u8]) -> Cow<'_, [u8]> {
    if text.len() < 2 {
        return Cow::Borrowed(&[]);
    }
    let q = text[0];
    let inner = &text[1..text.len() - 1];
    if !inner.iter().any(|&b| b == b'\\' || b == q) {
        return Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if c == b'\\' && i + 1 < inner.len() {
            let e = inner[i + 1];
            let resolved = match e {
                b'0' => 0,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 8,
                b'Z' => 26,
                // `\%` and `\_` keep their backslash (they are LIKE escapes).
                b'%' | b'_' => {
                    out.push(b'\\');
                    e
                }
                other => other,
            };
            out.push(resolved);
            i += 2;
        } else if c == q && inner.get(i + 1) == Some(&q) {
            out.push(q);
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// 64-bit FNV-1a with a chosen offset basis (two bases give two independent hashes).
struct Fnv(u64);

impl Fnv {
    fn new(basis: u64) -> Fnv {
        Fnv(basis)
    }
    #[inline]
    fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    #[inline]
    fn bytes(&mut self, bs: &[u8]) {
        for &b in bs {
            self.byte(b);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(sql: &str) -> (Digest, Vec<Param>) {
        let mut p = Vec::new();
        let d = normalize(sql.as_bytes(), &mut p);
        (d, p)
    }

    #[test]
    fn literals_do_not_change_the_digest() {
        let (a, pa) = norm("SELECT c FROM t WHERE id = 5 AND name = 'x'");
        let (b, pb) = norm("SELECT c   FROM t WHERE id=123456 AND name='it''s' -- comment");
        assert_eq!(a, b);
        assert_eq!(pa.len(), 2);
        assert_eq!(pb.len(), 2);
        let (c, _) = norm("SELECT c FROM t WHERE id = ? AND name = ?");
        assert_eq!(a, c, "placeholders and literals share the shape");
        let (d, _) = norm("SELECT c FROM u WHERE id = 5 AND name = 'x'");
        assert_ne!(a, d);
        let (e, _) = norm("SELECT c FROM T WHERE id = 5 AND name = 'x'");
        assert_ne!(a, e, "table names are case sensitive");
    }

    #[test]
    fn order_by_positions_and_introducers_stay() {
        let (a, p) = norm("SELECT a, b FROM t ORDER BY 2 DESC, 1 LIMIT 10");
        assert_eq!(p.len(), 1, "only the LIMIT is a parameter");
        let (b, _) = norm("SELECT a, b FROM t ORDER BY 1 DESC, 2 LIMIT 10");
        assert_ne!(a, b);
        let (_, p) = norm("SELECT a FROM t GROUP BY a + 1");
        assert_eq!(p.len(), 1);
        let (_, p) = norm("SELECT _utf8mb4'x', X'41', 'y'");
        assert_eq!(p.len(), 1);
        let (_, p) = norm("SELECT a FROM t WHERE b IN (SELECT c FROM u ORDER BY 1) AND d = 3");
        assert_eq!(p.len(), 1, "{p:?}");
    }

    #[test]
    fn parser_text_numbers_parameters() {
        let sql = b"SELECT c FROM t WHERE id = 5 AND n IN ('a', ?)";
        let mut p = Vec::new();
        normalize(sql, &mut p);
        assert_eq!(
            parser_text(sql, &p),
            "SELECT c FROM t WHERE id =  ?0  AND n IN ( ?1 ,  ?2 )"
        );
        assert_eq!(literal_value(sql, &p[0]), Some(SqlValue::Int(5)));
        assert_eq!(literal_value(sql, &p[1]), Some(SqlValue::Bytes(Cow::Borrowed(b"a"))));
        assert_eq!(literal_value(sql, &p[2]), None);
    }

    #[test]
    fn strings_unescape() {
        assert_eq!(&*unescape_string(b"'a\\'b''c\\n'"), b"a'b'c\n");
        assert_eq!(&*unescape_string(b"\"x\"\"y\""), b"x\"y");
        assert_eq!(&*unescape_string(b"'50\\%'"), b"50\\%");
        assert!(matches!(unescape_string(b"'plain'"), Cow::Borrowed(_)));
        assert_eq!(number_value(b"0x10"), SqlValue::UInt(16));
        assert_eq!(number_value(b"18446744073709551615"), SqlValue::UInt(u64::MAX));
        assert_eq!(number_value(b"1.50"), SqlValue::Decimal(Cow::Borrowed("1.50")));
    }

    /// The parameters' texts.
    fn texts<'a>(sql: &'a str, p: &[Param]) -> Vec<&'a str> {
        p.iter().map(|p| &sql[p.start..p.end]).collect()
    }

    #[test]
    fn by_list_positions_stay_literal() {
        let sql = "SELECT a, b FROM t WHERE c = 3 GROUP BY 1, 2 HAVING COUNT(*) > 4 ORDER BY 2 DESC, 1 LIMIT 5, 6";
        let (_, p) = norm(sql);
        assert_eq!(texts(sql, &p), ["3", "4", "5", "6"]);
        // Different positions are different shapes; different values are not.
        let (a, _) = norm("SELECT a, b FROM t ORDER BY 1 LIMIT 10");
        let (b, _) = norm("SELECT a, b FROM t ORDER BY 2 LIMIT 10");
        let (c, _) = norm("SELECT a, b FROM t ORDER BY 1 LIMIT 99");
        assert_ne!(a, b);
        assert_eq!(a, c);
        // Numbers inside expressions of the list are values.
        let sql = "SELECT a FROM t ORDER BY a + 1, FIELD(a, 3, 4), 2";
        let (_, p) = norm(sql);
        assert_eq!(texts(sql, &p), ["1", "3", "4"]);
        // The list ends with its parenthesis, its statement, or a clause keyword.
        let sql =
            "SELECT a FROM t WHERE b IN (SELECT c FROM u ORDER BY 1) AND d = 2; SELECT 3 FROM t GROUP BY 1 WITH ROLLUP";
        let (_, p) = norm(sql);
        assert_eq!(texts(sql, &p), ["2", "3"]);
        let sql = "UPDATE t SET a = 1 ORDER BY 1 LIMIT 2";
        let (_, p) = norm(sql);
        assert_eq!(texts(sql, &p), ["1", "2"]);
    }

    #[test]
    fn limit_placeholders_share_the_shape() {
        let (a, pa) = norm("SELECT a FROM t ORDER BY a LIMIT 10 OFFSET 20");
        let (b, pb) = norm("SELECT a FROM t ORDER BY a LIMIT ? OFFSET ?");
        assert_eq!(a, b);
        assert_eq!(
            pa.iter().map(|p| p.kind).collect::<Vec<_>>(),
            [ParamKind::Number, ParamKind::Number]
        );
        assert_eq!(
            pb.iter().map(|p| p.kind).collect::<Vec<_>>(),
            [ParamKind::Placeholder, ParamKind::Placeholder]
        );
        let sql = b"SELECT a FROM t LIMIT ?";
        let mut p = Vec::new();
        normalize(sql, &mut p);
        assert_eq!(parser_text(sql, &p), "SELECT a FROM t LIMIT  ?0 ");
    }

    #[test]
    fn strings_with_escapes_are_one_parameter() {
        let sql = r#"SELECT 'a\'b', "x""y", '\\', 'it''s -- not a comment', '', 'tab\there' FROM t"#;
        let (d, p) = norm(sql);
        assert_eq!(
            texts(sql, &p),
            [
                r"'a\'b'",
                r#""x""y""#,
                r"'\\'",
                "'it''s -- not a comment'",
                "''",
                r"'tab\there'"
            ]
        );
        let values: Vec<SqlValue<'_>> = p.iter().map(|q| literal_value(sql.as_bytes(), q).unwrap()).collect();
        let b = |s: &'static [u8]| SqlValue::Bytes(Cow::Borrowed(s));
        assert_eq!(
            values,
            [
                b(b"a'b"),
                b(b"x\"y"),
                b(b"\\"),
                b(b"it's -- not a comment"),
                b(b""),
                b(b"tab\there")
            ]
        );
        let (e, _) = norm("SELECT 'p', 'q', 'r', 's', 't', 'u' FROM t");
        assert_eq!(d, e, "escapes do not change the shape");
        // An unterminated string runs to the end without panicking.
        let (_, p) = norm("SELECT 'abc");
        assert_eq!(p.len(), 1);
        assert_eq!(unescape_string(b"'"), Cow::Borrowed(&b""[..]));
    }

    #[test]
    fn placeholders_are_numbered_with_the_literals() {
        let sql = b"SELECT CAST(a AS DECIMAL(10,2)) FROM t WHERE b = ? AND c = 'x' AND d IN (?, -7)";
        let mut p = Vec::new();
        normalize(sql, &mut p);
        assert_eq!(
            p.iter().map(|p| p.kind).collect::<Vec<_>>(),
            [
                ParamKind::Number,
                ParamKind::Number,
                ParamKind::Placeholder,
                ParamKind::String,
                ParamKind::Placeholder,
                ParamKind::Number
            ]
        );
        assert_eq!(
            parser_text(sql, &p),
            "SELECT CAST(a AS DECIMAL( ?0 , ?1 )) FROM t WHERE b =  ?2  AND c =  ?3  AND d IN ( ?4 , - ?5 )"
        );
        assert_eq!(
            parser_text_with_literals(sql, &p),
            "SELECT CAST(a AS DECIMAL(10,2)) FROM t WHERE b =  ?2  AND c = 'x' AND d IN ( ?4 , -7)"
        );
        assert_eq!(
            literal_value(sql, &p[5]),
            Some(SqlValue::Int(7)),
            "the sign stays in the text"
        );
    }

    #[test]
    fn shapes_keep_words_and_glued_literals() {
        let (_, p) = norm("SELECT b'0101', N'x', _binary'y', x'41', 0x41, 1e3, .5, @v, @@sql_mode FROM t");
        assert_eq!(p.len(), 3, "{p:?}");
        let (a, _) = norm("SELECT _utf8mb4'a' FROM t");
        let (b, _) = norm("SELECT _utf8mb4'b' FROM t");
        assert_ne!(a, b, "glued literals are part of the shape");
        let (a, _) = norm("SELECT a FROM t WHERE b = 1");
        let (b, _) = norm("SELECT a FROM t WHERE b = 1 /* comment */ -- another\n");
        let (c, _) = norm("select a from t where b = 1");
        assert_eq!(a, b);
        assert_ne!(a, c, "words are hashed as written");
        let (d, _) = norm("SELECT a FROM t WHERE b = 1 AND c = 2");
        assert_ne!(a, d);
        assert_ne!(a.check, d.check);
    }
}
