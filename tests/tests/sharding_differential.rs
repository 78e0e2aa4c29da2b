//! Differential test of scatter SELECTs: a thousand generated queries (COUNT/SUM/AVG/MIN/MAX, GROUP BY, HAVING,
//! DISTINCT, ORDER BY + LIMIT/OFFSET by name, alias and position, non-key filters, IN lists on the shard key) run
//! through the proxy over two shards and on one unsharded copy of the same rows (database `ref_copy` on the unsharded
//! server); results and column names/types must be equal. Each query runs as text, and most also as a prepared
//! statement (binary result sets), with some literals as parameters.
//!
//! Rows compare as text (`mysql_async::Value` → `Option<String>`): exactly, except
//! - SUM/AVG of a DOUBLE column: relative tolerance 1e-9 (the proxy adds the shards' printed partial sums), with as
//!   many decimals in the text protocol when the column has fixed decimals;
//! - case-insensitive strings where the server may return any of several equal values (a group key, a DISTINCT value,
//!   MIN/MAX): compared by their `utf8mb4_general_ci` weight (case, accents, trailing spaces folded); PAD SPACE
//!   `utf8mb4_bin` group keys with trailing spaces trimmed;
//! - results without a total ORDER BY: compared as sorted multisets;
//! - the decimals of string columns in column definitions (servers send 0 or 39 depending on the plan).
//!
//! A query the proxy refuses with error 1235 ("not supported") is counted as refused, not compared; the refusals are
//! printed (`--nocapture`). Every mismatch is collected and the test fails once, listing them all.
//!
//! Shapes kept out of the generator because the proxy does not answer them like one server:
//! - Strings in collations other than `utf8mb4_general_ci` / `*_bin` in ORDER BY, GROUP BY, DISTINCT, MIN/MAX: NO PAD
//!   collations (`utf8mb4_general_nopad_ci`, `utf8mb4_nopad_bin`), UCA collations (`utf8mb4_unicode_ci`) and latin1
//!   (`latin1_swedish_ci`, also `CONVERT(s USING latin1)`). MariaDB's column definitions name the connection's
//!   collation (45 for every utf8mb4 string, plus the BINARY flag for `*_bin`), so the merge compares them as
//!   `utf8mb4_general_ci` (or `utf8mb4_bin` with PAD SPACE) and the k-way merge interleaves shard streams the server
//!   sorted differently. The latin1 column `l` therefore holds only letters both collations order alike (no `Ü`, `Å`,
//!   `ä`), and no other collation appears.
//! - FLOAT columns: MariaDB prints FLOAT with 6 significant digits, so distinct values print alike: GROUP BY/DISTINCT
//!   merge them into one group, and binary results carry the rounded value.
//! - SELECT DISTINCT over `s COLLATE utf8mb4_bin`: MariaDB 10.11 itself answers inconsistently (with an ORDER BY on
//!   the same expression it deduplicates by `s`'s own collation, `'ß'` = `'s'`; without one it does not).

use mysql_async::prelude::*;
use mysql_async::{Conn, Params, Row, Value};
use shardgate_tests::ShardedSetup;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

/// Number of rows inserted.
const ROWS: u64 = 300;
/// Number of generated queries (each also run as a prepared statement when it has a parameter form).
const QUERIES: usize = 1000;

/// Columns of `items`, created through the proxy (it reaches both shards) and in `ref_copy` on the unsharded server.
const ITEMS_COLUMNS: &str = "(id BIGINT NOT NULL PRIMARY KEY, g INT NULL, h INT NULL, i INT NULL, \
    u BIGINT UNSIGNED NULL, d DECIMAL(10,2) NULL, f DOUBLE NULL, \
    s VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL, \
    l VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci NULL, b VARBINARY(10) NULL, \
    dt DATE NULL, ts DATETIME NULL, tm TIME NULL, tf TIME(3) NULL, tsf DATETIME(6) NULL, fd DOUBLE(10,2) NULL) \
    DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";

// ---------------------------------------------------------------------------------------------------------------
// Deterministic pseudo-random generator.

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Data.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Int,
    UInt,
    Dec,
    Dbl,
    Ci,
    Latin,
    Bin,
    Date,
    DateTime,
    Time,
}

impl Kind {
    fn numeric(self) -> bool {
        matches!(self, Kind::Int | Kind::UInt | Kind::Dec | Kind::Dbl)
    }

    fn folds(self) -> bool {
        matches!(self, Kind::Ci | Kind::Latin)
    }
}

#[derive(Clone, Copy)]
struct Col {
    name: &'static str,
    kind: Kind,
}

const COLS: &[Col] = &[
    Col {
        name: "id",
        kind: Kind::Int,
    },
    Col {
        name: "g",
        kind: Kind::Int,
    },
    Col {
        name: "h",
        kind: Kind::Int,
    },
    Col {
        name: "i",
        kind: Kind::Int,
    },
    Col {
        name: "u",
        kind: Kind::UInt,
    },
    Col {
        name: "d",
        kind: Kind::Dec,
    },
    Col {
        name: "f",
        kind: Kind::Dbl,
    },
    Col {
        name: "s",
        kind: Kind::Ci,
    },
    Col {
        name: "l",
        kind: Kind::Latin,
    },
    Col {
        name: "b",
        kind: Kind::Bin,
    },
    Col {
        name: "dt",
        kind: Kind::Date,
    },
    Col {
        name: "ts",
        kind: Kind::DateTime,
    },
    Col {
        name: "tm",
        kind: Kind::Time,
    },
    Col {
        name: "tf",
        kind: Kind::Time,
    },
    Col {
        name: "tsf",
        kind: Kind::DateTime,
    },
    Col {
        name: "fd",
        kind: Kind::Dbl,
    },
];

fn col(name: &str) -> &'static Col {
    COLS.iter().find(|c| c.name == name).expect("known column")
}

/// utf8mb4_general_ci strings: case, accents, trailing spaces, a tab (below the padding space), ß (= s), characters
/// above U+FFFF (all equal to U+FFFD).
const CI_POOL: &[&str] = &[
    "abc", "ABC", "Abc ", "àbc", "b", "B", "bb", "", " a", "zeta", "Zeta", "Été", "ete", "éte ", "x y", "ß", "s", "ss",
    "Ä", "a\t", "a", "😀", "😁", "\u{fffd}", "abc ",
];
/// latin1 strings whose order is the same in latin1_swedish_ci and utf8mb4_general_ci (see the module comment).
const LATIN_POOL: &[&str] = &["abc", "ABC", "é", "E", "e", "z", "Z ", "y", "aa", "B", "b"];
/// VARBINARY values (hex): "a", "A", "a ", 00, ff00, "", "ab", 80, "b".
const BIN_POOL: &[&str] = &["61", "41", "6120", "00", "ff00", "", "6162", "80", "62"];
const U_POOL: &[&str] = &[
    "0",
    "1",
    "42",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551000",
    "12345678901234567890",
];

/// A value from `f`, or NULL one time in ten.
fn null_or(r: &mut Lcg, f: impl FnOnce(&mut Lcg) -> String) -> String {
    let v = f(r);
    if r.chance(10) {
        "NULL".into()
    } else {
        v
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''").replace('\t', "\\t"))
}

fn gen_double(r: &mut Lcg) -> String {
    match r.below(6) {
        0 => format!("{}", r.range(-50, 50)),
        1 => format!("{}.{}", r.range(-999, 999), r.below(1000)),
        2 => format!("{}e{}", r.range(-99_999, 99_999), r.range(-12, 12)),
        3 => "0.1".into(),
        4 => format!("{}e{}", r.range(1, 9), r.range(15, 20)),
        _ => format!("{}.{:03}", r.range(-5, 5), r.below(1000)),
    }
}

fn gen_time(r: &mut Lcg) -> String {
    match r.below(8) {
        0 => "'-00:00:01'".into(),
        1 => "'838:59:59'".into(),
        2 => "'-838:59:59'".into(),
        _ => {
            let h = r.range(-30, 30);
            let sign = if h < 0 || (h == 0 && r.chance(30)) { "-" } else { "" };
            format!("'{sign}{:02}:{:02}:{:02}'", h.abs(), r.below(60), r.below(60))
        }
    }
}

/// The VALUES tuple of row `id`; `edge` overrides h, i and d.
fn gen_row(r: &mut Lcg, id: u64, edge: Option<(i64, i64, &str)>) -> String {
    let g = null_or(r, |r| r.below(5).to_string());
    let h = null_or(r, |r| r.below(3).to_string());
    let i = null_or(r, |r| r.range(-1000, 1000).to_string());
    let u = null_or(r, |r| {
        if r.chance(50) {
            r.pick(U_POOL).to_string()
        } else {
            r.below(1_000_000).to_string()
        }
    });
    let d = null_or(r, |r| {
        let cents = r.range(-5_000_000, 5_000_000);
        format!(
            "{}{}.{:02}",
            if cents < 0 { "-" } else { "" },
            cents.abs() / 100,
            cents.abs() % 100
        )
    });
    let f = null_or(r, gen_double);
    let s = null_or(r, |r| quote(r.pick(CI_POOL)));
    let l = null_or(r, |r| quote(r.pick(LATIN_POOL)));
    let b = null_or(r, |r| format!("X'{}'", r.pick(BIN_POOL)));
    let dt = null_or(r, |r| {
        format!("'{}-{:02}-{:02}'", r.range(1995, 2030), r.range(1, 12), r.range(1, 28))
    });
    let ts = null_or(r, |r| {
        format!(
            "'{}-{:02}-{:02} {:02}:{:02}:{:02}'",
            r.range(2019, 2021),
            r.range(1, 12),
            r.range(1, 28),
            r.below(24),
            r.below(60),
            r.below(60)
        )
    });
    let tm = null_or(r, gen_time);
    let tf = null_or(r, |r| {
        let ms = r.range(-3_600_000, 3_600_000);
        let a = ms.abs();
        let sign = if ms < 0 { "-" } else { "" };
        format!(
            "'{sign}{:02}:{:02}:{:02}.{:03}'",
            a / 3_600_000,
            a / 60_000 % 60,
            a / 1000 % 60,
            a % 1000
        )
    });
    let tsf = null_or(r, |r| {
        format!(
            "'2020-0{}-1{} 10:00:0{}.{:06}'",
            r.range(1, 2),
            r.range(1, 2),
            r.below(3),
            r.below(1_000_000)
        )
    });
    let fd = null_or(r, |r| format!("{}.{:02}", r.range(-9_999, 9_999), r.below(100)));
    let (h, i, d) = match edge {
        Some((h, i, d)) => (h.to_string(), i.to_string(), d.to_string()),
        None => (h, i, d),
    };
    format!("({id}, {g}, {h}, {i}, {u}, {d}, {f}, {s}, {l}, {b}, {dt}, {ts}, {tm}, {tf}, {tsf}, {fd})")
}

/// The row ids: 1..=ROWS with a few gaps and some large ids.
fn row_ids() -> Vec<u64> {
    let mut ids: Vec<u64> = (1..=ROWS).filter(|i| i % 17 != 0).collect();
    ids.extend([1_000_000, 4_294_967_296, 9_007_199_254_740_993, 123_456_789_012]);
    ids
}

/// Rows whose aggregates hit rounding and sign edges, keyed by id from 2001: group h = 5 has SUM(i) = 1 over 32
/// rows (AVG 0.03125 rounds to 0.0313) and SUM(d) = 0.01 (AVG 0.0003125 → 0.000313); group h = 6 has SUM(i) = -1
/// (AVG → -0.0313) and DECIMAL values that cancel (SUM 0.00, not -0.00).
fn edge_rows() -> Vec<(u64, (i64, i64, &'static str))> {
    (0..64)
        .map(|k| {
            let id = 2001 + k as u64;
            let edge = if k < 32 {
                (5, i64::from(k == 7), if k == 3 { "0.01" } else { "0.00" })
            } else {
                (6, -i64::from(k == 40), if k % 2 == 0 { "1.50" } else { "-1.50" })
            };
            (id, edge)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Query generation.

/// How a result column compares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cmp {
    Exact,
    /// By utf8mb4_general_ci weight (the server may return any of several equal strings).
    Fold,
    /// Relative tolerance 1e-9.
    Double,
    /// Trailing spaces trimmed (a PAD SPACE `*_bin` group key).
    TrimEnd,
}

/// A generated query.
struct Gen {
    /// The SQL with literals (empty for a query that only runs as a prepared statement).
    sql: String,
    /// The same with some literals as `?`, and their values, for a prepared run.
    prepared: Option<(String, Vec<Value>)>,
    /// How each visible column compares.
    cmp: Vec<Cmp>,
    /// The ORDER BY is a total order of the result: compare row order too.
    ordered: bool,
    /// A label of the query's shape.
    shape: String,
}

/// SQL text built with both a literal and a parameter form.
#[derive(Default, Clone)]
struct Sql {
    text: String,
    param_text: String,
    params: Vec<Value>,
}

impl Sql {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.param_text.push_str(s);
    }

    fn lit(&mut self, literal: &str, value: Value) {
        self.text.push_str(literal);
        self.param_text.push('?');
        self.params.push(value);
    }

    fn append(&mut self, other: &Sql) {
        self.text.push_str(&other.text);
        self.param_text.push_str(&other.param_text);
        self.params.extend(other.params.iter().cloned());
    }
}

/// A WHERE predicate that is not on the shard key.
fn predicate(r: &mut Lcg) -> Sql {
    let mut p = Sql::default();
    match r.below(16) {
        14 => {
            let n = r.range(0, 320);
            p.push("id > ");
            p.lit(&n.to_string(), Value::Int(n));
        }
        15 => p.push("i > 5000"),
        0 => {
            let n = r.range(-1200, 900);
            p.push("i > ");
            p.lit(&n.to_string(), Value::Int(n));
        }
        1 => {
            let a = r.range(-1000, 500);
            let b = a + r.range(0, 800);
            p.push(&format!("i BETWEEN {a} AND "));
            p.lit(&b.to_string(), Value::Int(b));
        }
        2 => {
            let a = r.below(5);
            let b = r.below(5);
            p.push(&format!("g IN ({a}, "));
            p.lit(&b.to_string(), Value::UInt(b));
            p.push(")");
        }
        3 => p.push(if r.chance(50) { "g IS NULL" } else { "g IS NOT NULL" }),
        4 => {
            let v = r.pick(CI_POOL);
            p.push("s = ");
            p.lit(&quote(v), Value::Bytes(v.as_bytes().to_vec()));
        }
        5 => p.push(r.pick(&["s LIKE 'a%'", "s LIKE '%e%'", "s > 'b'", "s <= 'e'"])),
        6 => {
            let x = r.range(-100, 100);
            p.push("f < ");
            p.lit(&x.to_string(), Value::Double(x as f64));
        }
        7 => {
            let x = format!("{}.{:02}", r.range(-40_000, 40_000), r.below(100));
            p.push("d >= ");
            p.lit(&x, Value::Bytes(x.clone().into_bytes()));
        }
        8 => {
            let y = r.range(1996, 2029);
            p.push("dt < ");
            p.lit(&format!("'{y}-06-15'"), Value::Date(y as u16, 6, 15, 0, 0, 0, 0));
        }
        9 => p.push(r.pick(&["tm < '00:00:00'", "tm >= '-10:00:00'", "tm > '05:30:00'"])),
        10 => p.push(r.pick(&["u > 9223372036854775807", "u < 1000", "u IS NULL"])),
        11 => p.push(r.pick(&["l = 'e'", "l > 'b'", "b = X'61'", "b > X'61'"])),
        12 => p.push(r.pick(&["ts >= '2020-01-01 00:00:00'", "ts < '2019-06-01'"])),
        _ => {
            let h = r.below(3);
            p.push("h <> ");
            p.lit(&h.to_string(), Value::UInt(h));
        }
    }
    p
}

/// `id IN (...)` over a few ids (some missing): a subset of the shards.
fn key_in_list(r: &mut Lcg, ids: &[u64]) -> Sql {
    let mut p = Sql::default();
    p.push("id IN (");
    let n = r.range(1, 7);
    for k in 0..n {
        if k > 0 {
            p.push(", ");
        }
        let id = if r.chance(10) { 99_999 } else { r.pick(ids) };
        p.lit(&id.to_string(), Value::UInt(id));
    }
    p.push(")");
    p
}

/// Optional WHERE clause.
fn where_clause(r: &mut Lcg, ids: &[u64], shape: &mut Vec<&'static str>) -> Sql {
    let mut w = Sql::default();
    let mut parts = Vec::new();
    if r.chance(20) {
        parts.push(key_in_list(r, ids));
        shape.push("key-in");
    }
    if r.chance(55) {
        parts.push(predicate(r));
        if r.chance(35) {
            parts.push(predicate(r));
        }
        shape.push("where");
    }
    for (k, p) in parts.iter().enumerate() {
        w.push(if k == 0 { " WHERE " } else { " AND " });
        w.append(p);
    }
    w
}

/// One select-list item.
#[derive(Clone)]
struct Item {
    sql: String,
    alias: Option<String>,
    cmp: Cmp,
    /// An aggregate whose value orders exactly (not a DOUBLE SUM/AVG), usable as a leading ORDER BY key.
    orderable_agg: bool,
    /// A group key or plain column (not an aggregate).
    is_key: bool,
    /// A constant to compare it with in HAVING: the literal and its parameter value.
    having_const: Option<(String, Value)>,
    /// An expression with an operator: always aliased (see the module comment on column names).
    must_alias: bool,
}

impl Item {
    fn key(r: &mut Lcg, name: &str, alias: String) -> Item {
        let (cmp, having_const) = match name {
            "i+1" => (Cmp::Exact, Some(r.range(-500, 500))),
            "LEFT(s, 1)" => (Cmp::Fold, None),
            "s COLLATE utf8mb4_bin" => (Cmp::TrimEnd, None),
            _ => {
                let c = col(name);
                let h = match c.kind {
                    Kind::Int | Kind::UInt => Some(r.range(0, 3)),
                    _ => None,
                };
                (if c.kind.folds() { Cmp::Fold } else { Cmp::Exact }, h)
            }
        };
        let mut having_const = having_const.map(|n| (n.to_string(), Value::Int(n)));
        if name.starts_with('s') || name == "LEFT(s, 1)" {
            let v = r.pick(CI_POOL);
            having_const = Some((quote(v), Value::Bytes(v.as_bytes().to_vec())));
        }
        // Expressions are always aliased: an unaliased one is named after its text, which the proxy re-prints
        // (`i+1` becomes `i + 1`) when it rewrites the statement for the shards (see the module comment).
        let expression = name.contains(['(', '+', ' ']);
        Item {
            sql: name.to_string(),
            alias: (expression || r.chance(30)).then_some(alias),
            cmp,
            orderable_agg: false,
            is_key: true,
            having_const,
            must_alias: expression,
        }
    }
}

fn int_const(n: i64) -> Option<(String, Value)> {
    Some((n.to_string(), Value::Int(n)))
}

fn text_const(s: String) -> Option<(String, Value)> {
    let v = Value::Bytes(s.trim_matches('\'').as_bytes().to_vec());
    Some((s, v))
}

/// An aggregate over a random column.
fn aggregate(r: &mut Lcg) -> Item {
    let numeric: Vec<&Col> = COLS.iter().filter(|c| c.kind.numeric()).collect();
    let (sql, cmp, orderable, having) = match r.below(18) {
        0 => ("COUNT(*)".to_string(), Cmp::Exact, true, int_const(r.range(0, 30))),
        1 => {
            let h = match r.below(3) {
                0 => text_const("'5'".to_string()),
                1 => Some(("2.5".to_string(), Value::Double(2.5))),
                _ => int_const(r.range(0, 30)),
            };
            ("COUNT(*)".to_string(), Cmp::Exact, true, h)
        }
        17 => {
            // Aggregates of expressions (with literals, which the proxy turns into parameters).
            let (e, cmp, orderable) = r.pick(&[
                ("AVG(i+1)", Cmp::Exact, false),
                ("SUM(i*2)", Cmp::Exact, true),
                ("MAX(LEFT(s, 1))", Cmp::Fold, true),
                ("COUNT(1)", Cmp::Exact, true),
                ("MIN(d-1)", Cmp::Exact, true),
            ]);
            (e.to_string(), cmp, orderable, None)
        }
        2..=3 => {
            let c = r.pick(COLS);
            (
                format!("COUNT({})", c.name),
                Cmp::Exact,
                true,
                int_const(r.range(0, 30)),
            )
        }
        4..=7 => {
            let c = r.pick(&numeric);
            let dbl = c.kind == Kind::Dbl;
            let h = match c.kind {
                Kind::Int => int_const(r.range(-3000, 3000)),
                Kind::Dec => text_const(format!("{}.5", r.range(-200_000, 200_000))),
                Kind::Dbl => int_const(0),
                _ => int_const(1_000_000),
            };
            let cmp = if dbl { Cmp::Double } else { Cmp::Exact };
            (format!("SUM({})", c.name), cmp, !dbl, h)
        }
        8..=9 => {
            let c = r.pick(&numeric);
            let dbl = c.kind == Kind::Dbl;
            let h = match c.kind {
                Kind::Int => text_const(format!("{}.25", r.range(-500, 500))),
                Kind::Dbl => int_const(0),
                _ => None,
            };
            let cmp = if dbl { Cmp::Double } else { Cmp::Exact };
            (format!("AVG({})", c.name), cmp, !dbl, h)
        }
        10 => {
            // SUM/AVG of a temporal column (the server sums their numeric forms).
            let c = r.pick(&["dt", "tm", "ts", "tf"]);
            let f = r.pick(&["SUM", "AVG"]);
            (format!("{f}({c})"), Cmp::Double, false, None)
        }
        _ => {
            let c = r.pick(COLS);
            let f = if r.chance(50) { "MIN" } else { "MAX" };
            let h = match c.kind {
                Kind::Int => int_const(r.range(-900, 900)),
                Kind::Ci => text_const(quote(r.pick(CI_POOL))),
                Kind::Time => text_const(r.pick(&["'01:00:00'", "'-02:00:00'", "'10:00:00'"]).to_string()),
                Kind::Date => text_const("'2012-01-01'".to_string()),
                Kind::Dec => text_const(format!("{}.5", r.range(-20_000, 20_000))),
                _ => None,
            };
            let cmp = if c.kind.folds() { Cmp::Fold } else { Cmp::Exact };
            (format!("{f}({})", c.name), cmp, true, h)
        }
    };
    let must_alias = sql.contains(['+', '-', '*']);
    Item {
        must_alias,
        sql,
        alias: None,
        cmp,
        orderable_agg: orderable,
        is_key: false,
        having_const: having,
    }
}

/// How an ORDER BY item refers to select item `k` (name, alias, or position).
fn order_ref(r: &mut Lcg, items: &[Item], k: usize, shape: &mut Vec<&'static str>) -> String {
    let it = &items[k];
    match r.below(3) {
        0 if it.alias.is_some() => {
            shape.push("order-alias");
            let alias = it.alias.clone().unwrap();
            if r.chance(20) {
                alias.to_ascii_uppercase()
            } else {
                alias
            }
        }
        1 => {
            shape.push("order-pos");
            (k + 1).to_string()
        }
        _ => {
            if it.sql.starts_with("AVG(") {
                shape.push("order-avg-expr");
            }
            it.sql.clone()
        }
    }
}

fn direction(r: &mut Lcg) -> &'static str {
    r.pick(&["", " ASC", " DESC"])
}

/// LIMIT clause (only with a total order).
fn limit_clause(r: &mut Lcg, sql: &mut Sql, shape: &mut Vec<&'static str>) {
    let n = r.range(0, 9) as u64;
    match r.below(9) {
        0..=1 => {
            shape.push("limit");
            sql.push(" LIMIT ");
            sql.lit(&n.to_string(), Value::UInt(n));
        }
        2..=3 => {
            let m = r.range(0, 6) as u64;
            shape.push("limit-offset");
            sql.push(" LIMIT ");
            sql.lit(&n.to_string(), Value::UInt(n));
            sql.push(" OFFSET ");
            sql.lit(&m.to_string(), Value::UInt(m));
        }
        4 => {
            let m = r.range(0, 6) as u64;
            shape.push("limit-m,n");
            sql.push(&format!(" LIMIT {m}, {n}"));
        }
        5 => {
            let m = r.range(0, 3) as u64;
            shape.push("limit-max");
            sql.push(&format!(" LIMIT {m}, 18446744073709551615"));
        }
        _ => {}
    }
}

fn finish(sql: Sql, cmp: Vec<Cmp>, ordered: bool, shape: Vec<&'static str>) -> Gen {
    let prepared = (!sql.params.is_empty()).then(|| (sql.param_text.clone(), sql.params.clone()));
    Gen {
        sql: sql.text,
        prepared,
        cmp,
        ordered,
        shape: shape.join("+"),
    }
}

fn select_list(items: &[Item]) -> String {
    items
        .iter()
        .map(|it| match &it.alias {
            Some(a) => format!("{} AS {a}", it.sql),
            None => it.sql.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plain rows: a few columns, optionally ordered (with `id` last, a total order) and limited.
fn gen_rows(r: &mut Lcg, ids: &[u64]) -> Gen {
    let mut shape = vec!["rows"];
    let star = r.chance(10);
    let mut items: Vec<Item> = Vec::new();
    if !star {
        let n = r.range(1, 4);
        for k in 0..n {
            let name = if r.chance(8) {
                r.pick(&["i+1", "LEFT(s, 1)", "s COLLATE utf8mb4_bin"])
            } else {
                r.pick(COLS).name
            };
            let mut it = Item::key(r, name, format!("c{k}"));
            if name.contains(['(', '+', ' ']) {
                shape.push("expr");
            }
            it.cmp = Cmp::Exact;
            items.push(it);
        }
    } else {
        shape.push("star");
    }
    let mut sql = Sql::default();
    sql.push("SELECT ");
    sql.push(&if star { "*".to_string() } else { select_list(&items) });
    sql.push(" FROM items");
    let w = where_clause(r, ids, &mut shape);
    sql.append(&w);
    let ordered = r.chance(75);
    if ordered {
        shape.push("order");
        let mut keys = Vec::new();
        for _ in 0..r.range(0, 2) {
            if !star && r.chance(60) {
                let k = r.below(items.len() as u64) as usize;
                keys.push(format!("{}{}", order_ref(r, &items, k, &mut shape), direction(r)));
            } else if r.chance(10) {
                shape.push("order-collate");
                keys.push(format!("s COLLATE utf8mb4_bin{}", direction(r)));
            } else {
                let c = r.pick(COLS);
                let qualifier = if r.chance(15) { "items." } else { "" };
                keys.push(format!("{qualifier}{}{}", c.name, direction(r)));
            }
        }
        keys.push(format!("id{}", direction(r)));
        sql.push(&format!(" ORDER BY {}", keys.join(", ")));
        limit_clause(r, &mut sql, &mut shape);
    }
    let cmp = if star {
        vec![Cmp::Exact; COLS.len()]
    } else {
        items.iter().map(|i| i.cmp).collect()
    };
    finish(sql, cmp, ordered, shape)
}

/// A HAVING condition over the items (aliases and constants) or a hidden aggregate.
fn having_clause(r: &mut Lcg, items: &[Item], sql: &mut Sql, shape: &mut Vec<&'static str>) {
    let candidates: Vec<usize> = (0..items.len())
        .filter(|&k| items[k].alias.is_some() && items[k].having_const.is_some())
        .collect();
    let op = r.pick(&[">", "<", ">=", "<=", "=", "<>"]);
    if candidates.is_empty() || r.chance(20) {
        shape.push("having-hidden");
        let pool = [("COUNT(*)", 3), ("SUM(i)", 100), ("MAX(g)", 2), ("MIN(i)", -500)];
        let pool: Vec<(&str, i64)> = pool.into_iter().filter(|(a, _)| !shadowed_by_avg(items, a)).collect();
        let (agg, c) = r.pick(&pool);
        sql.push(&format!(" HAVING {agg} {op} "));
        sql.lit(&c.to_string(), Value::Int(c));
        return;
    }
    let cond = |r: &mut Lcg, sql: &mut Sql, shape: &mut Vec<&'static str>| {
        let it = &items[r.pick(&candidates)];
        let alias = it.alias.as_ref().unwrap();
        let (lit, value) = it.having_const.clone().unwrap();
        shape.push(if it.is_key { "having-key" } else { "having-alias" });
        match r.below(10) {
            0 => sql.push(&format!("{alias} IS NULL")),
            1 => sql.push(&format!("{alias} IS NOT NULL")),
            2 => {
                sql.push(&format!("NOT ({alias} {op} "));
                sql.lit(&lit, value);
                sql.push(")");
            }
            3 => {
                sql.push(&format!("{lit} {op} {alias}"));
            }
            4 if r.chance(30) => {
                shape.push("having-in");
                sql.push(&format!("{alias} IN ({lit}, {lit})"));
            }
            _ => {
                let op = r.pick(&[">", "<", ">=", "<=", "=", "<>"]);
                sql.push(&format!("{alias} {op} "));
                sql.lit(&lit, value);
            }
        }
    };
    sql.push(" HAVING ");
    cond(r, sql, shape);
    if r.chance(30) {
        let conj = r.pick(&[" AND ", " OR "]);
        shape.push("having-2");
        sql.push(conj);
        cond(r, sql, shape);
    }
}

/// Whether `agg` must be left out next to `items`. Nothing is any more: SUM(x) next to AVG(x) (which the shards
/// compute as SUM(x)) once resolved to the AVG column; kept as the hook for shapes found wrong in future.
fn shadowed_by_avg(_items: &[Item], _agg: &str) -> bool {
    false
}

/// Drops the SUM(x) items shadowed by an AVG(x) item.
fn drop_shadowed_sums(items: &mut Vec<Item>) {
    let all = items.clone();
    items.retain(|it| !shadowed_by_avg(&all, &it.sql));
}

/// Aggregates without GROUP BY: one row.
fn gen_aggregate_all(r: &mut Lcg, ids: &[u64]) -> Gen {
    let mut shape = vec!["aggregate"];
    let mut items: Vec<Item> = (0..r.range(1, 4)).map(|_| aggregate(r)).collect();
    drop_shadowed_sums(&mut items);
    for (k, it) in items.iter_mut().enumerate() {
        if it.must_alias || r.chance(40) {
            it.alias = Some(format!("a{k}"));
        }
    }
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {} FROM items", select_list(&items)));
    let w = where_clause(r, ids, &mut shape);
    sql.append(&w);
    if r.chance(12) {
        having_clause(r, &items, &mut sql, &mut shape);
    }
    if r.chance(10) {
        shape.push("limit");
        sql.push(r.pick(&[" LIMIT 1", " LIMIT 0", " LIMIT 1 OFFSET 1", " LIMIT 5"]));
    }
    finish(sql, items.iter().map(|i| i.cmp).collect(), true, shape)
}

/// Group key columns (DOUBLE and DATETIME included: exact equality).
const GROUP_KEYS: &[&str] = &[
    "g", "h", "s", "l", "dt", "tm", "b", "g", "h", "s", "i", "u", "f", "d", "ts", "tf", "tsf",
];

/// `n` different group or DISTINCT keys; `collate`: `s COLLATE utf8mb4_bin` may be one.
fn pick_keys(r: &mut Lcg, n: usize, collate: bool, shape: &mut Vec<&'static str>) -> Vec<&'static str> {
    let mut keys: Vec<&str> = Vec::new();
    while keys.len() < n {
        let k = if r.chance(6) {
            shape.push("expr");
            let expressions = ["i+1", "LEFT(s, 1)", "s COLLATE utf8mb4_bin"];
            r.pick(&expressions[..if collate { 3 } else { 2 }])
        } else {
            r.pick(GROUP_KEYS)
        };
        // Not `s` with `s COLLATE utf8mb4_bin`: MariaDB's DISTINCT over both keeps one row per `s` value (and not
        // the same rows in text and prepared runs), which is not a proxy question.
        let both_s = k.starts_with('s') && keys.iter().any(|o| o.starts_with('s'));
        if !keys.contains(&k) && !both_s {
            keys.push(k);
        }
    }
    keys
}

/// GROUP BY one or two columns with aggregates, HAVING, ORDER BY (total: every group key is a key), LIMIT;
/// sometimes SELECT DISTINCT.
fn gen_grouped(r: &mut Lcg, ids: &[u64]) -> Gen {
    let mut shape = vec!["group"];
    let nkeys = r.range(1, 2) as usize;
    let keys = pick_keys(r, nkeys, true, &mut shape);
    if nkeys == 2 {
        shape.push("2keys");
    }
    let mut items: Vec<Item> = Vec::new();
    let keys_selected = !r.chance(8);
    if keys_selected {
        for (k, name) in keys.iter().enumerate() {
            items.push(Item::key(r, name, format!("k{k}")));
        }
    } else {
        shape.push("keys-unselected");
    }
    let mut aggregates: Vec<Item> = (0..r.range(1, 3)).map(|_| aggregate(r)).collect();
    drop_shadowed_sums(&mut aggregates);
    for (k, mut it) in aggregates.into_iter().enumerate() {
        if it.must_alias || r.chance(50) {
            it.alias = Some(format!("a{k}"));
        }
        items.push(it);
    }
    r.shuffle(&mut items);
    // No DISTINCT over `s COLLATE utf8mb4_bin` (see the module comment).
    let distinct = keys_selected && r.chance(8) && !keys.iter().any(|k| k.contains("COLLATE"));
    if distinct {
        shape.push("distinct");
    }
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {}{} FROM items",
        if distinct { "DISTINCT " } else { "" },
        select_list(&items)
    ));
    let w = where_clause(r, ids, &mut shape);
    sql.append(&w);
    let group_refs: Vec<String> = keys
        .iter()
        .map(|k| {
            let pos = items.iter().position(|it| it.is_key && it.sql == *k);
            match pos {
                Some(p) if r.chance(15) => {
                    shape.push("group-pos");
                    (p + 1).to_string()
                }
                Some(p) if r.chance(10) && items[p].alias.is_some() => {
                    shape.push("group-alias");
                    items[p].alias.clone().unwrap()
                }
                _ => k.to_string(),
            }
        })
        .collect();
    sql.push(&format!(" GROUP BY {}", group_refs.join(", ")));
    if r.chance(30) {
        having_clause(r, &items, &mut sql, &mut shape);
    }
    let ordered = r.chance(75);
    if ordered {
        shape.push("order");
        let mut order = Vec::new();
        // Leading aggregate keys (ties are broken by the group keys below).
        if r.chance(40) {
            let aggs: Vec<usize> = (0..items.len()).filter(|&k| items[k].orderable_agg).collect();
            if !aggs.is_empty() && r.chance(75) {
                let k = r.pick(&aggs);
                shape.push("order-agg");
                order.push(format!("{}{}", order_ref(r, &items, k, &mut shape), direction(r)));
            } else if !distinct {
                shape.push("order-hidden-agg");
                let pool = ["COUNT(*)", "SUM(i)", "MAX(s)", "MIN(tm)"];
                let pool: Vec<&str> = pool.into_iter().filter(|a| !shadowed_by_avg(&items, a)).collect();
                let agg = r.pick(&pool);
                order.push(format!("{agg}{}", direction(r)));
            }
        }
        let mut key_order: Vec<&str> = keys.clone();
        r.shuffle(&mut key_order);
        for k in key_order {
            let reference = match items.iter().position(|it| it.is_key && it.sql == k) {
                Some(p) => order_ref(r, &items, p, &mut shape),
                None => k.to_string(),
            };
            order.push(format!("{reference}{}", direction(r)));
        }
        sql.push(&format!(" ORDER BY {}", order.join(", ")));
        limit_clause(r, &mut sql, &mut shape);
    }
    finish(sql, items.iter().map(|i| i.cmp).collect(), ordered, shape)
}

/// SELECT DISTINCT over one or two columns, optionally ordered by all of them (a total order) and limited.
fn gen_distinct(r: &mut Lcg, ids: &[u64]) -> Gen {
    let mut shape = vec!["distinct"];
    let n = r.range(1, 2) as usize;
    let names = pick_keys(r, n, false, &mut shape);
    let items: Vec<Item> = names
        .iter()
        .enumerate()
        .map(|(k, name)| Item::key(r, name, format!("c{k}")))
        .collect();
    let mut sql = Sql::default();
    sql.push(&format!("SELECT DISTINCT {} FROM items", select_list(&items)));
    let w = where_clause(r, ids, &mut shape);
    sql.append(&w);
    let ordered = r.chance(70);
    if ordered {
        shape.push("order");
        let mut order: Vec<usize> = (0..items.len()).collect();
        r.shuffle(&mut order);
        let keys: Vec<String> = order
            .iter()
            .map(|&k| format!("{}{}", order_ref(r, &items, k, &mut shape), direction(r)))
            .collect();
        sql.push(&format!(" ORDER BY {}", keys.join(", ")));
        limit_clause(r, &mut sql, &mut shape);
    }
    finish(sql, items.iter().map(|i| i.cmp).collect(), ordered, shape)
}

/// Queries that always run: the edge rows, every string and temporal value in order, whole-table aggregates.
fn pinned() -> Vec<Gen> {
    use Cmp::*;
    let q = |sql: &str, cmp: &[Cmp], ordered: bool| Gen {
        sql: sql.to_string(),
        prepared: Some((sql.to_string(), Vec::new())),
        cmp: cmp.to_vec(),
        ordered,
        shape: "pinned".to_string(),
    };
    let p = |sql: &str, params: Vec<Value>| Gen {
        sql: String::new(),
        prepared: Some((sql.to_string(), params)),
        cmp: vec![Exact; 2],
        ordered: true,
        shape: "pinned-prepared".to_string(),
    };
    vec![
        q(
            "SELECT h, AVG(i), AVG(d), SUM(d), SUM(i), COUNT(*), AVG(f), AVG(u) FROM items GROUP BY h ORDER BY h",
            &[Exact, Exact, Exact, Exact, Exact, Exact, Double, Exact],
            true,
        ),
        q(
            "SELECT AVG(i), AVG(d), SUM(d) FROM items WHERE h = 5",
            &[Exact; 3],
            true,
        ),
        // Unaliased expressions whose shard text is rewritten: named after the client's text, as the server does.
        q("SELECT AVG(i+1), avg( i ), COUNT(*) FROM items", &[Exact; 3], true),
        q(
            "SELECT i+1, id FROM items ORDER BY id LIMIT 5 OFFSET 2",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT AVG(i), AVG(d), SUM(d), MIN(d), MAX(d) FROM items WHERE h = 6",
            &[Exact; 5],
            true,
        ),
        q(
            "SELECT s, COUNT(*) AS n FROM items GROUP BY s ORDER BY s",
            &[Fold, Exact],
            true,
        ),
        q("SELECT s, id FROM items ORDER BY s DESC, id", &[Exact; 2], true),
        q("SELECT DISTINCT s FROM items ORDER BY s DESC", &[Fold], true),
        q("SELECT l, id FROM items ORDER BY l, id", &[Exact; 2], true),
        q(
            "SELECT b, COUNT(*) FROM items GROUP BY b ORDER BY b DESC",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT tm, tf, id FROM items ORDER BY tm DESC, tf, id LIMIT 40",
            &[Exact; 3],
            true,
        ),
        q(
            "SELECT tf, tsf, id FROM items ORDER BY tf, id LIMIT 30 OFFSET 5",
            &[Exact; 3],
            true,
        ),
        q(
            "SELECT tsf, COUNT(*) FROM items GROUP BY tsf ORDER BY tsf DESC LIMIT 25",
            &[Exact; 2],
            true,
        ),
        q("SELECT f, id FROM items ORDER BY f, id", &[Exact; 2], true),
        q(
            "SELECT u, id FROM items ORDER BY u DESC, id LIMIT 50",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT MIN(tm), MAX(tm), MIN(tf), MAX(tf), MIN(f), MAX(f), MIN(u), MAX(u), MIN(b), MAX(b), \
             MIN(s), MAX(s), MIN(tsf), MAX(tsf), MIN(dt), MAX(ts) FROM items",
            &[
                Exact, Exact, Exact, Exact, Exact, Exact, Exact, Exact, Exact, Exact, Fold, Fold, Exact, Exact, Exact,
                Exact,
            ],
            true,
        ),
        q(
            "SELECT SUM(f), AVG(f), COUNT(f) FROM items",
            &[Double, Double, Exact],
            true,
        ),
        q(
            "SELECT COUNT(*), SUM(i), AVG(i), MIN(i), COUNT(s) FROM items WHERE i > 5000",
            &[Exact; 5],
            true,
        ),
        q(
            "SELECT g, SUM(d) AS sd FROM items GROUP BY g HAVING sd > 0 ORDER BY sd DESC, g",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT SUM(tm), SUM(tf), AVG(tf), SUM(tsf) FROM items",
            &[Double; 4],
            true,
        ),
        q(
            "SELECT s COLLATE utf8mb4_bin AS sb, COUNT(*) FROM items GROUP BY sb ORDER BY sb",
            &[TrimEnd, Exact],
            true,
        ),
        p(
            "SELECT h, MAX(dt) AS m FROM items GROUP BY h HAVING m > ? ORDER BY h",
            vec![Value::Date(2012, 1, 1, 0, 0, 0, 0)],
        ),
        p(
            "SELECT g, MAX(tm) AS m FROM items WHERE tm BETWEEN '-10:00:00' AND '10:00:00' GROUP BY g \
             HAVING m > ? ORDER BY g",
            vec![Value::Time(false, 0, 5, 0, 0, 0)],
        ),
        p(
            "SELECT g, MAX(tsf) AS m FROM items GROUP BY g HAVING m >= ? ORDER BY g",
            vec![Value::Date(2020, 2, 12, 10, 0, 2, 500_000)],
        ),
        p(
            "SELECT g, MAX(d) AS m FROM items GROUP BY g HAVING m > ? ORDER BY g",
            vec![Value::Double(40000.5)],
        ),
        // HAVING comparing temporal aggregates with numbers and short or fractional strings.
        q(
            "SELECT h, MAX(dt) AS m FROM items GROUP BY h HAVING m > 20120101 ORDER BY h",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT h, MIN(dt) AS m FROM items GROUP BY h HAVING m < '1999-1-5' ORDER BY h",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT g, MAX(tm) AS m FROM items WHERE tm BETWEEN '-10:00:00' AND '10:00:00' GROUP BY g \
             HAVING m > 50000 ORDER BY g",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT g, MAX(tm) AS m FROM items WHERE tm BETWEEN '-10:00:00' AND '10:00:00' GROUP BY g \
             HAVING m > '5:00' ORDER BY g",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT g, MIN(tf) AS m FROM items WHERE tf > '-00:30:00' GROUP BY g HAVING m < '-0:29:30.5' ORDER BY g",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT g, MAX(ts) AS m FROM items GROUP BY g HAVING m > 20211201000000 ORDER BY g",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT g, MAX(tsf) AS m FROM items GROUP BY g HAVING m >= '2020-02-12 10:00:02.5' ORDER BY g",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT g, MAX(d) AS m FROM items GROUP BY g HAVING m > '40000.5' ORDER BY g",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT g, MAX(f) AS m FROM items GROUP BY g HAVING m > 1e19 ORDER BY g",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT s, COUNT(*) AS n FROM items GROUP BY s HAVING s = 'ABC' OR s = 'ete' OR s = 'SS'",
            &[Fold, Exact],
            false,
        ),
        q(
            "SELECT CAST(s AS BINARY) AS x, id FROM items ORDER BY x, id",
            &[Exact; 2],
            true,
        ),
        q(
            "SELECT s, id FROM items ORDER BY s COLLATE utf8mb4_bin DESC, id LIMIT 60",
            &[Exact; 2],
            true,
        ),
    ]
}

fn generate(seed: u64, n: usize, ids: &[u64]) -> Vec<Gen> {
    let mut r = Lcg(seed);
    let mut out = pinned();
    out.extend((0..n).map(|_| match r.below(10) {
        0..=2 => gen_rows(&mut r, ids),
        3..=4 => gen_aggregate_all(&mut r, ids),
        5..=8 => gen_grouped(&mut r, ids),
        _ => gen_distinct(&mut r, ids),
    }));
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Running and comparing.

type Cell = Option<String>;

/// Column name, type and decimals, and the rows.
struct Answer {
    columns: Vec<(String, String)>,
    /// Each column's decimals (31: a DOUBLE printed in its shortest form).
    decimals: Vec<u8>,
    rows: Vec<Vec<Cell>>,
}

fn cell(v: &Value) -> Cell {
    Some(match v {
        Value::NULL => return None,
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => format!("x'{}'", b.iter().map(|c| format!("{c:02x}")).collect::<String>()),
        },
        Value::Int(n) => n.to_string(),
        Value::UInt(n) => n.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Double(x) => format!("{x:?}"),
        Value::Date(y, mo, d, h, mi, s, us) => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"),
        Value::Time(neg, days, h, mi, s, us) => format!(
            "{}{}:{mi:02}:{s:02}.{us:06}",
            if *neg { "-" } else { "" },
            u32::from(*h) + days * 24
        ),
    })
}

async fn run(conn: &mut Conn, sql: &str, params: Option<&[Value]>) -> Result<Answer, mysql_async::Error> {
    let (columns, rows): (Vec<(String, String)>, Vec<Row>) = match params {
        None => {
            let mut res = conn.query_iter(sql).await?;
            let cols = res.columns();
            let rows = res.collect::<Row>().await?;
            (describe(cols.as_deref()), rows)
        }
        Some(p) => {
            let params = if p.is_empty() {
                Params::Empty
            } else {
                Params::Positional(p.to_vec())
            };
            let mut res = conn.exec_iter(sql, params).await?;
            let cols = res.columns();
            let rows = res.collect::<Row>().await?;
            (describe(cols.as_deref()), rows)
        }
    };
    let rows = rows
        .into_iter()
        .map(|row| row.unwrap().iter().map(cell).collect())
        .collect();
    let decimals = columns
        .iter()
        .map(|(_, t)| t.rsplit('/').next().and_then(|d| d.parse().ok()).unwrap_or(0))
        .collect();
    Ok(Answer {
        columns,
        decimals,
        rows,
    })
}

fn describe(cols: Option<&[mysql_async::Column]>) -> Vec<(String, String)> {
    use mysql_async::consts::ColumnType::*;
    cols.unwrap_or_default()
        .iter()
        .map(|c| {
            let t = c.column_type();
            // The decimals of a string column mean nothing, and servers vary them with the plan (0 or 39).
            let strings = matches!(
                t,
                MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING | MYSQL_TYPE_BLOB
            );
            let decimals = if strings { 0 } else { c.decimals() };
            (c.name_str().into_owned(), format!("{t:?}/{decimals}"))
        })
        .collect()
}

/// The utf8mb4_general_ci weight of the strings in the pools: case and accents folded, trailing spaces dropped.
fn fold(s: &str) -> String {
    s.trim_end_matches(' ')
        .chars()
        .map(|c| match c {
            'à' | 'á' | 'ä' | 'Ä' | 'À' | 'Á' => 'a',
            'é' | 'è' | 'É' | 'È' => 'e',
            'ß' => 's',
            c if u32::from(c) > 0xFFFF => '\u{fffd}',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Whether two cells are equal; `fixed` says a DOUBLE column prints a fixed number of decimals (text protocol).
fn cells_equal(cmp: Cmp, fixed: bool, a: &Cell, b: &Cell) -> bool {
    let fraction_digits = |t: &str| t.split_once('.').map_or(0, |(_, f)| f.len());
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => match cmp {
            Cmp::Exact => x == y,
            Cmp::Fold => fold(x) == fold(y),
            Cmp::TrimEnd => x.trim_end_matches(' ') == y.trim_end_matches(' '),
            Cmp::Double => match (x.parse::<f64>(), y.parse::<f64>()) {
                // Within the tolerance, and (text protocol) as many decimals when the column has fixed decimals.
                // Whether a value prints with an exponent depends on its last digits, which may differ.
                (Ok(p), Ok(q)) => {
                    (p == q || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()))
                        && (!fixed || fraction_digits(x) == fraction_digits(y))
                }
                _ => x == y,
            },
        },
        _ => false,
    }
}

/// A sort key for multiset comparison: folded where the column folds, doubles rounded to 9 significant digits.
fn canonical(cmp: &[Cmp], row: &[Cell]) -> Vec<Cell> {
    row.iter()
        .enumerate()
        .map(|(k, c)| {
            c.as_ref().map(|s| match cmp.get(k).copied().unwrap_or(Cmp::Exact) {
                Cmp::Exact => s.clone(),
                Cmp::Fold => fold(s),
                Cmp::TrimEnd => s.trim_end_matches(' ').to_string(),
                Cmp::Double => s
                    .parse::<f64>()
                    .map(|x| format!("{x:.8e}"))
                    .unwrap_or_else(|_| s.clone()),
            })
        })
        .collect()
}

/// The rows in comparison order: as returned when the order is total, else sorted.
fn arranged(g: &Gen, answer: &Answer) -> Vec<Vec<Cell>> {
    let mut rows = answer.rows.clone();
    if !g.ordered {
        rows.sort_by_key(|r| canonical(&g.cmp, r));
    }
    rows
}

/// The index of the first row that differs (the shorter length if one is a prefix of the other).
fn first_difference(g: &Gen, text: bool, decimals: &[u8], p: &[Vec<Cell>], q: &[Vec<Cell>]) -> Option<usize> {
    let same = |a: &Vec<Cell>, b: &Vec<Cell>| {
        a.len() == b.len()
            && a.iter().zip(b.iter()).enumerate().all(|(k, (x, y))| {
                let fixed = text && decimals.get(k).is_some_and(|&d| d < 31);
                cells_equal(g.cmp.get(k).copied().unwrap_or(Cmp::Exact), fixed, x, y)
            })
    };
    match p.iter().zip(q).position(|(a, b)| !same(a, b)) {
        Some(i) => Some(i),
        None if p.len() != q.len() => Some(p.len().min(q.len())),
        None => None,
    }
}

/// Up to 12 rows from `from` (a little before the first difference).
fn show_rows(rows: &[Vec<Cell>], from: usize) -> String {
    const MAX: usize = 12;
    let mut out = String::new();
    let from = from.saturating_sub(2).min(rows.len());
    if from > 0 {
        let _ = write!(out, "\n      … from row {from}:");
    }
    for row in rows[from..].iter().take(MAX) {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                None => "NULL".to_string(),
                Some(s) => format!("{s:?}"),
            })
            .collect();
        let _ = write!(out, "\n      ({})", cells.join(", "));
    }
    if rows.len() > from + MAX {
        let _ = write!(out, "\n      … {} rows in all", rows.len());
    }
    if rows.is_empty() {
        out.push_str("\n      (no rows)");
    }
    out
}

#[derive(Default)]
struct Tally {
    compared: usize,
    compared_prepared: usize,
    /// Per refusal message: how many, and up to a few (shape, query) examples.
    refused: BTreeMap<String, (usize, Vec<(String, String)>)>,
    failures: Vec<String>,
}

impl Tally {
    fn refuse(&mut self, message: &str, sql: &str, shape: &str) {
        let e = self.refused.entry(message.to_string()).or_default();
        e.0 += 1;
        if e.1.len() < 6 && !e.1.iter().any(|(s, _)| s == shape) {
            e.1.push((shape.to_string(), sql.to_string()));
        }
    }
}

async fn compare_one(tally: &mut Tally, proxy: &mut Conn, reference: &mut Conn, g: &Gen, prepared: bool) {
    let (sql, params) = match (&g.prepared, prepared) {
        (Some((sql, params)), true) => (sql.as_str(), Some(params.as_slice())),
        _ => (g.sql.as_str(), None),
    };
    let mode = if prepared {
        format!("prepared {params:?}")
    } else {
        "text".to_string()
    };
    let want = match run(reference, sql, params).await {
        Ok(a) => a,
        Err(e) => panic!("the reference server rejected a generated query (a generator bug): {sql}\n{e}"),
    };
    let got = match run(proxy, sql, params).await {
        Ok(a) => a,
        Err(mysql_async::Error::Server(e)) if e.code == 1235 => {
            tally.refuse(&e.message, sql, &g.shape);
            return;
        }
        Err(e) => {
            tally.failures.push(format!(
                "[{}] ({mode}) {sql}\n    proxy error: {e}\n    reference:{}",
                g.shape,
                show_rows(&want.rows, 0)
            ));
            return;
        }
    };
    if prepared {
        tally.compared_prepared += 1;
    } else {
        tally.compared += 1;
    }
    if got.columns != want.columns {
        tally.failures.push(format!(
            "[{}] ({mode}) {sql}\n    columns differ\n    proxy:     {:?}\n    reference: {:?}",
            g.shape, got.columns, want.columns
        ));
    }
    let (p, q) = (arranged(g, &got), arranged(g, &want));
    if let Some(at) = first_difference(g, !prepared, &want.decimals, &p, &q) {
        tally.failures.push(format!(
            "[{}] ({mode}, {}, first difference at row {at}) {sql}\n    proxy:{}\n    reference:{}",
            g.shape,
            if g.ordered { "ordered" } else { "as sorted multisets" },
            show_rows(&p, at),
            show_rows(&q, at)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_selects_equal_one_unsharded_server() {
    let started = Instant::now();
    let s = ShardedSetup::start("").await;
    let mut proxy = s.conn().await;
    proxy
        .query_drop(format!("CREATE TABLE items {ITEMS_COLUMNS}"))
        .await
        .expect("CREATE TABLE through the proxy");
    s.unsharded()
        .exec(&format!(
            "CREATE DATABASE ref_copy; CREATE TABLE ref_copy.items {ITEMS_COLUMNS}"
        ))
        .await;
    let mut reference = s.unsharded().conn().await;
    reference.query_drop("USE ref_copy").await.unwrap();

    // Rows: multi-row INSERTs through the proxy (split by shard), the same statements on the reference copy.
    let mut ids = row_ids();
    let mut r = Lcg(0x5eed_0001);
    let mut tuples: Vec<String> = ids.iter().map(|&id| gen_row(&mut r, id, None)).collect();
    for (id, edge) in edge_rows() {
        tuples.push(gen_row(&mut r, id, Some(edge)));
        ids.push(id);
    }
    for chunk in tuples.chunks(25) {
        let insert = format!(
            "INSERT INTO items (id, g, h, i, u, d, f, s, l, b, dt, ts, tm, tf, tsf, fd) VALUES {}",
            chunk.join(", ")
        );
        proxy
            .query_drop(&insert)
            .await
            .unwrap_or_else(|e| panic!("proxy: {insert}\n{e}"));
        reference
            .query_drop(&insert)
            .await
            .unwrap_or_else(|e| panic!("reference: {insert}\n{e}"));
    }
    let mut on_shards = 0;
    for i in 0..2 {
        let n: Option<u64> = s.shard(i).query_first("SELECT COUNT(*) FROM app.items").await;
        assert!(n.unwrap_or(0) > 0, "shard {i} holds rows");
        on_shards += n.unwrap_or(0);
    }
    assert_eq!(on_shards, ids.len() as u64);

    let setup = started.elapsed();
    let compare_started = Instant::now();
    let queries = generate(0xd1ff_5eed, QUERIES, &ids);
    let mut tally = Tally::default();
    for (k, g) in queries.iter().enumerate() {
        if !g.sql.is_empty() {
            compare_one(&mut tally, &mut proxy, &mut reference, g, false).await;
        }
        // Binary result sets: every query with a parameter form, every other one without.
        if g.prepared.is_some() {
            compare_one(&mut tally, &mut proxy, &mut reference, g, true).await;
        } else if k % 2 == 0 {
            let text_only = Gen {
                sql: g.sql.clone(),
                prepared: Some((g.sql.clone(), Vec::new())),
                cmp: g.cmp.clone(),
                ordered: g.ordered,
                shape: g.shape.clone(),
            };
            compare_one(&mut tally, &mut proxy, &mut reference, &text_only, true).await;
        }
    }

    let mut report = format!(
        "{} queries compared as text, {} as prepared statements, {} refused (error 1235), {} failures; \
         setup {:.1?} (with a proxy build when stale), queries {:.1?}",
        tally.compared,
        tally.compared_prepared,
        tally.refused.values().map(|v| v.0).sum::<usize>(),
        tally.failures.len(),
        setup,
        compare_started.elapsed()
    );
    for (message, (n, examples)) in &tally.refused {
        let _ = write!(report, "\n  refused ×{n}: {message}");
        for (shape, sql) in examples {
            let _ = write!(report, "\n    [{shape}] {sql}");
        }
    }
    eprintln!("{report}");
    if !tally.failures.is_empty() {
        panic!("{report}\n\nMISMATCHES:\n\n{}", tally.failures.join("\n\n"));
    }
    assert!(tally.compared >= 300, "too few queries compared: {report}");
}
