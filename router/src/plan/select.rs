//! Multi-shard SELECT: how results merge, and the statement each shard runs instead (AVG split into SUM and
//! COUNT, helper columns for ORDER BY / GROUP BY keys, HAVING lifted into the merge, LIMIT n+m).

use super::tables::{operand, placeholder_index};
use super::{HavingTemplate, Operand, Refusal, Segment, SelectMerge, Template};
use crate::merge::{AggregateKind, CompareOp, SortKey};
use sqlparser::ast::{
    BinaryOperator, Distinct, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, Ident, LimitClause, ObjectName, ObjectNamePart, OrderByKind, OrderBySort, Query, Select, SelectItem,
    Value, ValueWithSpan,
};
use std::ops::ControlFlow;

/// Marker printed where the shard row limit goes.
const SHARD_LIMIT_MARKER: &str = "?L";

fn aggregate_kind(f: &Function) -> Option<&'static str> {
    let name = f.name.to_string().to_ascii_uppercase();
    ["COUNT", "SUM", "MIN", "MAX", "AVG"].into_iter().find(|k| *k == name)
}

/// Aggregate functions the merge cannot combine from per-shard partial results.
const UNMERGEABLE_AGGREGATES: [&str; 13] = [
    "GROUP_CONCAT",
    "STD",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "JSON_ARRAYAGG",
    "JSON_OBJECTAGG",
];

/// The first aggregate in `e` whose per-shard results cannot be merged (`GROUP_CONCAT`, `STD`, …).
fn unmergeable_aggregate(e: &Expr) -> Option<String> {
    let mut found = None;
    let _ = sqlparser::ast::visit_expressions(e, |x: &Expr| match x {
        Expr::Function(f) if UNMERGEABLE_AGGREGATES.contains(&f.name.to_string().to_ascii_uppercase().as_str()) => {
            found = Some(f.to_string());
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found
}

fn contains_aggregate(e: &Expr) -> bool {
    sqlparser::ast::visit_expressions(e, |x: &Expr| match x {
        Expr::Function(f) if aggregate_kind(f).is_some() || f.over.is_some() => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

fn single_arg(f: &Function) -> Option<(&FunctionArgExpr, bool)> {
    match &f.args {
        FunctionArguments::List(l) if l.args.len() == 1 => {
            let distinct = matches!(l.duplicate_treatment, Some(DuplicateTreatment::Distinct));
            match &l.args[0] {
                FunctionArg::Unnamed(a) => Some((a, distinct)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn call(name: &str, arg: FunctionArgExpr) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(arg)],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// One projected column as the merge sees it.
struct Column {
    expr: Expr,
    alias: Option<String>,
    /// The client's expression when the shards compute something else (`AVG(x)` sent as `SUM(x)`): references
    /// to the column match this, never the rewrite.
    original: Option<Expr>,
}

impl Column {
    fn new(expr: Expr, alias: Option<String>) -> Column {
        Column {
            expr,
            alias,
            original: None,
        }
    }

    /// The expression the client wrote for this column.
    fn written(&self) -> &Expr {
        self.original.as_ref().unwrap_or(&self.expr)
    }
}

/// The projection being built for the shards.
struct Projection {
    columns: Vec<Column>,
    visible: usize,
}

impl Projection {
    /// Index of the column `e` refers to: an alias, a position, the same expression, or the same column name.
    fn find(&self, e: &Expr) -> Option<usize> {
        if let Expr::Value(ValueWithSpan {
            value: Value::Number(n, _),
            ..
        }) = e
        {
            let pos: usize = n.parse().ok()?;
            return (pos >= 1 && pos <= self.visible).then(|| pos - 1);
        }
        if let Expr::Identifier(i) = e {
            if let Some(p) = self.columns[..self.visible]
                .iter()
                .position(|c| c.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&i.value)))
            {
                return Some(p);
            }
        }
        let text = e.to_string();
        if let Some(p) = self.columns.iter().position(|c| c.written().to_string() == text) {
            return Some(p);
        }
        let (qualifier, name) = super::tables::column_ref(e)?;
        // `o.id` is not `u.id`: qualifiers, when both are written, must agree.
        let matches: Vec<usize> = (0..self.columns.len())
            .filter(|&i| {
                super::tables::column_ref(self.columns[i].written()).is_some_and(|(q, c)| {
                    c.eq_ignore_ascii_case(name) && (qualifier.is_none() || q.is_none() || q == qualifier)
                })
            })
            .collect();
        (matches.len() == 1).then(|| matches[0])
    }

    /// The column for `e`, adding a hidden one when it is not projected.
    fn find_or_add(&mut self, e: &Expr) -> usize {
        if let Some(i) = self.find(e) {
            return i;
        }
        self.columns.push(Column::new(e.clone(), None));
        self.columns.len() - 1
    }
}

/// Plans the merge of a SELECT that runs on several shards.
pub fn plan_select_merge(q: &Query, select: &Select) -> Result<SelectMerge, Refusal> {
    if !q.locks.is_empty() && select.group_by != GroupByExpr::Expressions(vec![], vec![]) {
        return Err(Refusal::unsupported("FOR UPDATE with GROUP BY across shards"));
    }
    if select.into.is_some() {
        return Err(Refusal::unsupported("SELECT … INTO across shards"));
    }
    let mut clauses: Vec<&Expr> = Vec::new();
    for item in &select.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            clauses.push(e);
        }
    }
    clauses.extend(&select.having);
    if let Some(OrderByKind::Expressions(list)) = q.order_by.as_ref().map(|o| &o.kind) {
        clauses.extend(list.iter().map(|o| &o.expr));
    }
    if let Some(f) = clauses.into_iter().find_map(unmergeable_aggregate) {
        return Err(Refusal::unsupported(format!(
            "{f} across shards: the proxy cannot combine its per-shard results; route the query to one shard (WHERE on the shard key)"
        )));
    }
    let mut m = SelectMerge::default();
    let mut proj = Projection {
        columns: Vec::new(),
        visible: 0,
    };
    let mut wildcard = false;
    let mut rewritten = false;
    // Aggregates: (column, kind); AVG columns become SUM plus a hidden COUNT.
    let mut aggregates: Vec<(usize, AggregateKind)> = Vec::new();
    let mut avg_args: Vec<(usize, FunctionArgExpr)> = Vec::new();
    for item in &select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e.clone(), None),
            SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.value.clone())),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                wildcard = true;
                proj.columns.push(Column::new(Expr::Identifier(Ident::new("*")), None));
                continue;
            }
            other => return Err(Refusal::unsupported(format!("the select item {other} across shards"))),
        };
        let idx = proj.columns.len();
        if let Expr::Function(f) = &expr {
            if let Some(kind) = aggregate_kind(f) {
                if f.over.is_some() || f.filter.is_some() {
                    return Err(Refusal::unsupported(format!("{f} across shards")));
                }
                let Some((arg, distinct)) = single_arg(f) else {
                    return Err(Refusal::unsupported(format!("{f} across shards")));
                };
                if distinct {
                    return Err(Refusal::unsupported(format!(
                        "{kind}(DISTINCT …) across shards: the same value may be counted on several shards; select DISTINCT values or route to one shard"
                    )));
                }
                match kind {
                    "COUNT" => aggregates.push((idx, AggregateKind::Count)),
                    "SUM" => aggregates.push((idx, AggregateKind::Sum)),
                    "MIN" => aggregates.push((idx, AggregateKind::Min)),
                    "MAX" => aggregates.push((idx, AggregateKind::Max)),
                    _ => {
                        aggregates.push((idx, AggregateKind::Sum));
                        avg_args.push((idx, arg.clone()));
                        let alias = alias.clone().unwrap_or_else(|| expr.to_string());
                        proj.columns.push(Column {
                            expr: call("SUM", arg.clone()),
                            alias: Some(alias),
                            original: Some(expr.clone()),
                        });
                        rewritten = true;
                        continue;
                    }
                }
                proj.columns.push(Column::new(expr, alias));
                continue;
            }
        }
        if contains_aggregate(&expr) {
            return Err(Refusal::unsupported(format!(
                "the expression {expr} over aggregates (or a window function) across shards; select the aggregates themselves"
            )));
        }
        proj.columns.push(Column::new(expr, alias));
    }
    proj.visible = proj.columns.len();
    let grouping = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err(Refusal::unsupported("GROUP BY … WITH ROLLUP across shards"));
            }
            exprs.clone()
        }
        GroupByExpr::All(_) => return Err(Refusal::unsupported("GROUP BY ALL")),
    };
    if wildcard && (!aggregates.is_empty() || !grouping.is_empty()) {
        return Err(Refusal::unsupported(
            "SELECT * with aggregates or GROUP BY across shards",
        ));
    }
    for (idx, arg) in avg_args {
        let count = proj.columns.len();
        proj.columns.push(Column::new(call("COUNT", arg), None));
        m.averages.push((idx, count));
    }
    for g in &grouping {
        if contains_aggregate(g) {
            return Err(Refusal::unsupported("GROUP BY an aggregate"));
        }
        let i = if wildcard { None } else { proj.find(g) };
        let i = i.unwrap_or_else(|| {
            proj.columns.push(Column::new(g.clone(), None));
            proj.columns.len() - 1
        });
        m.group_by.push(i);
    }
    if let Some(h) = &select.having {
        if wildcard {
            return Err(Refusal::unsupported("SELECT * with HAVING across shards"));
        }
        m.having = Some(having(h, &mut proj, &mut aggregates)?);
        rewritten = true;
    }
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(list) = &ob.kind else {
            return Err(Refusal::unsupported("ORDER BY ALL"));
        };
        for o in list {
            if o.options.nulls_first.is_some() || matches!(o.options.sort, Some(OrderBySort::Using(_))) {
                return Err(Refusal::unsupported("ORDER BY … NULLS FIRST/LAST across shards"));
            }
            let descending = matches!(o.options.sort, Some(OrderBySort::Desc));
            let column = if wildcard {
                if contains_aggregate(&o.expr) {
                    return Err(Refusal::unsupported(
                        "SELECT * with aggregates or GROUP BY across shards",
                    ));
                }
                if matches!(o.expr, Expr::Value(_)) {
                    return Err(Refusal::unsupported(
                        "ORDER BY a position with SELECT * across shards; name the column",
                    ));
                }
                proj.columns.push(Column::new(o.expr.clone(), None));
                proj.columns.len() - 1
            } else {
                if contains_aggregate(&o.expr) && proj.find(&o.expr).is_none() {
                    let i = proj.columns.len();
                    add_hidden_aggregate(&o.expr, &mut proj, &mut aggregates)?;
                    i
                } else {
                    proj.find_or_add(&o.expr)
                }
            };
            m.order_by.push(SortKey { column, descending });
        }
    }
    m.distinct = match &select.distinct {
        None | Some(Distinct::All) => false,
        Some(Distinct::Distinct) => true,
        Some(other) => return Err(Refusal::unsupported(format!("{other} across shards"))),
    };
    if m.distinct && proj.columns.len() > proj.visible {
        return Err(Refusal::unsupported(
            "SELECT DISTINCT ordered or grouped by a column it does not select, across shards; select that column",
        ));
    }
    let (limit, offset) = match &q.limit_clause {
        None => (None, None),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
            ..
        }) => {
            if !limit_by.is_empty() {
                return Err(Refusal::unsupported("LIMIT BY"));
            }
            let l = limit.as_ref().map(limit_operand).transpose()?;
            let o = offset.as_ref().map(|o| limit_operand(&o.value)).transpose()?;
            (l, o)
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
            (Some(limit_operand(limit)?), Some(limit_operand(offset)?))
        }
    };
    if offset.is_some() && limit.is_none() {
        return Err(Refusal::unsupported("OFFSET without LIMIT"));
    }
    m.limit = limit;
    m.offset = offset;
    m.aggregates = aggregates;
    // Aggregates only in HAVING or ORDER BY aggregate too (one group for the whole result without GROUP BY).
    let aggregating = !m.aggregates.is_empty() || !grouping.is_empty();
    m.aggregate_all = aggregating && grouping.is_empty();
    m.shards_sorted = !aggregating && !m.order_by.is_empty();
    m.hidden_columns = proj.columns.len() - proj.visible;
    let column_refs_from_end = wildcard;
    if column_refs_from_end {
        // Hidden columns follow `*`, whose width the plan does not know: refer to them from the end.
        let first_hidden = proj.visible;
        for k in &mut m.order_by {
            k.column -= first_hidden;
        }
    }
    m.wildcard = wildcard;
    // The shard statement: the rewritten projection, no HAVING, and LIMIT offset+limit (none when aggregating).
    let needs_limit_rewrite = m.offset.is_some() || (aggregating && m.limit.is_some());
    if rewritten || m.hidden_columns > 0 || needs_limit_rewrite {
        let mut sq = q.clone();
        let sqlparser::ast::SetExpr::Select(ref mut sel) = *sq.body else {
            unreachable!("planned from a SELECT body")
        };
        sel.projection = proj
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if wildcard && i < proj.visible {
                    return select.projection[i].clone();
                }
                match &c.alias {
                    Some(a) => SelectItem::ExprWithAlias {
                        expr: c.expr.clone(),
                        alias: Ident::with_quote('`', a),
                    },
                    None => SelectItem::UnnamedExpr(c.expr.clone()),
                }
            })
            .collect();
        sel.having = None;
        sq.limit_clause = if aggregating || m.limit.is_none() {
            None
        } else {
            Some(LimitClause::LimitOffset {
                limit: Some(Expr::Value(Value::Placeholder(SHARD_LIMIT_MARKER.into()).into())),
                offset: None,
                limit_by: vec![],
            })
        };
        m.shard_sql = Some(template(&sq.to_string()));
        if !wildcard {
            m.renamed = select
                .projection
                .iter()
                .enumerate()
                .filter(
                    |(_, item)| matches!(item, SelectItem::UnnamedExpr(e) if super::tables::column_ref(e).is_none()),
                )
                .map(|(i, _)| i)
                .collect();
        }
    }
    Ok(m)
}

fn limit_operand(e: &Expr) -> Result<Operand, Refusal> {
    operand(e).ok_or_else(|| Refusal::unsupported(format!("LIMIT {e} across shards; use a number")))
}

/// Adds a hidden column for an aggregate used in HAVING or ORDER BY but not selected.
fn add_hidden_aggregate(
    e: &Expr,
    proj: &mut Projection,
    aggregates: &mut Vec<(usize, AggregateKind)>,
) -> Result<usize, Refusal> {
    let Expr::Function(f) = e else {
        return Err(Refusal::unsupported(format!(
            "{e} across shards; select it and refer to its alias"
        )));
    };
    let kind = match aggregate_kind(f) {
        Some("COUNT") => AggregateKind::Count,
        Some("SUM") => AggregateKind::Sum,
        Some("MIN") => AggregateKind::Min,
        Some("MAX") => AggregateKind::Max,
        _ => {
            return Err(Refusal::unsupported(format!(
                "{e} across shards; select it and refer to its alias"
            )))
        }
    };
    if single_arg(f).is_none_or(|(_, distinct)| distinct) {
        return Err(Refusal::unsupported(format!("{e} across shards")));
    }
    let i = proj.columns.len();
    proj.columns.push(Column::new(e.clone(), None));
    aggregates.push((i, kind));
    Ok(i)
}

fn having(
    e: &Expr,
    proj: &mut Projection,
    aggregates: &mut Vec<(usize, AggregateKind)>,
) -> Result<HavingTemplate, Refusal> {
    let mut column = |x: &Expr, proj: &mut Projection| -> Result<usize, Refusal> {
        match proj.find(x) {
            Some(i) => Ok(i),
            None if contains_aggregate(x) => add_hidden_aggregate(x, proj, aggregates),
            None => Err(Refusal::unsupported(format!(
                "HAVING on {x} across shards; select it (or group by it) and compare its alias"
            ))),
        }
    };
    Ok(match e {
        Expr::Nested(inner) => having(inner, proj, aggregates)?,
        Expr::BinaryOp { left, op, right } => {
            let cmp = match op {
                BinaryOperator::And | BinaryOperator::Or => None,
                BinaryOperator::Eq => Some(CompareOp::Eq),
                BinaryOperator::NotEq => Some(CompareOp::NotEq),
                BinaryOperator::Lt => Some(CompareOp::Lt),
                BinaryOperator::LtEq => Some(CompareOp::LtEq),
                BinaryOperator::Gt => Some(CompareOp::Gt),
                BinaryOperator::GtEq => Some(CompareOp::GtEq),
                _ => return Err(Refusal::unsupported(format!("HAVING with {op} across shards"))),
            };
            match cmp {
                None => {
                    let l = Box::new(having(left, proj, aggregates)?);
                    let r = Box::new(having(right, proj, aggregates)?);
                    if *op == BinaryOperator::And {
                        HavingTemplate::And(l, r)
                    } else {
                        HavingTemplate::Or(l, r)
                    }
                }
                Some(op) => {
                    if let Some(v) = operand(right) {
                        HavingTemplate::Compare {
                            column: column(left, proj)?,
                            op,
                            value: v,
                        }
                    } else if let Some(v) = operand(left) {
                        let flipped = match op {
                            CompareOp::Lt => CompareOp::Gt,
                            CompareOp::LtEq => CompareOp::GtEq,
                            CompareOp::Gt => CompareOp::Lt,
                            CompareOp::GtEq => CompareOp::LtEq,
                            o => o,
                        };
                        HavingTemplate::Compare {
                            column: column(right, proj)?,
                            op: flipped,
                            value: v,
                        }
                    } else {
                        return Err(Refusal::unsupported(
                            "HAVING comparing two expressions across shards; compare with a value",
                        ));
                    }
                }
            }
        }
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Not,
            expr,
        } => HavingTemplate::Not(Box::new(having(expr, proj, aggregates)?)),
        Expr::IsNull(x) => HavingTemplate::IsNull {
            column: column(x, proj)?,
            negated: false,
        },
        Expr::IsNotNull(x) => HavingTemplate::IsNull {
            column: column(x, proj)?,
            negated: true,
        },
        other => return Err(Refusal::unsupported(format!("HAVING {other} across shards"))),
    })
}

/// Splits printed SQL into text and parameter holes (`?N` → parameter N, `?L` → the shard limit).
pub fn template(sql: &str) -> Template {
    let mut out = Vec::new();
    let b = sql.as_bytes();
    let mut text_start = 0;
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            // Backslash escapes exist in strings, not in `identifiers`.
            if c == b'\\' && q != b'`' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' || c == b'`' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == b'?' {
            let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            let seg = if digits > 0 {
                placeholder_index(&sql[i..i + 1 + digits]).map(|n| (Segment::Param(n), 1 + digits))
            } else if b.get(i + 1) == Some(&b'L') {
                Some((Segment::ShardLimit, 2))
            } else {
                None
            };
            if let Some((seg, len)) = seg {
                if text_start < i {
                    out.push(Segment::Text(sql[text_start..i].to_string()));
                }
                out.push(seg);
                i += len;
                text_start = i;
                continue;
            }
        }
        i += 1;
    }
    if text_start < b.len() {
        out.push(Segment::Text(sql[text_start..].to_string()));
    }
    Template(out)
}

/// Byte spans of the items of the first top-level SELECT list in `sql` (from after `SELECT` and its modifiers to
/// `FROM` or the end), split at top-level commas. The server names an unaliased expression column after exactly
/// this text.
pub fn select_list_spans(sql: &[u8]) -> Option<Vec<(usize, usize)>> {
    use crate::lexer::{Lexer, TokenKind};
    let mut lex = Lexer::new(sql).skip_while(|t| t.is_punct(b'('));
    let first = lex.next()?;
    if !first.is_word(sql, "SELECT") {
        return None;
    }
    const MODIFIERS: [&str; 10] = [
        "ALL",
        "DISTINCT",
        "DISTINCTROW",
        "HIGH_PRIORITY",
        "STRAIGHT_JOIN",
        "SQL_SMALL_RESULT",
        "SQL_BIG_RESULT",
        "SQL_BUFFER_RESULT",
        "SQL_CACHE",
        "SQL_NO_CACHE",
    ];
    let mut spans = Vec::new();
    let mut depth = 0i32;
    let mut item: Option<(usize, usize)> = None;
    let mut leading = true;
    for t in lex {
        if leading && t.kind == TokenKind::Word && MODIFIERS.iter().any(|m| t.is_word(sql, m)) {
            continue;
        }
        leading = false;
        match t.kind {
            TokenKind::Punct(b'(') => depth += 1,
            TokenKind::Punct(b')') => depth -= 1,
            _ => {}
        }
        if depth == 0 && (t.is_punct(b',') || t.is_punct(b';') || t.is_word(sql, "FROM") || t.is_word(sql, "INTO")) {
            spans.push(item.take()?);
            if !t.is_punct(b',') {
                return Some(spans);
            }
            continue;
        }
        if depth < 0 {
            break;
        }
        item = Some(match item {
            None => (t.start, t.end),
            Some((s, _)) => (s, t.end),
        });
    }
    if let Some(i) = item {
        spans.push(i);
    }
    Some(spans)
}

#[cfg(test)]
mod list_tests {
    use super::select_list_spans;

    #[test]
    fn select_list_items_as_written() {
        let sql = b"SELECT DISTINCT avg( i ), COUNT(*) AS n, f(a, b)+1 FROM t WHERE x = 1";
        let spans = select_list_spans(sql).unwrap();
        let items: Vec<&[u8]> = spans.iter().map(|&(s, e)| &sql[s..e]).collect();
        assert_eq!(items, vec![&b"avg( i )"[..], b"COUNT(*) AS n", b"f(a, b)+1"]);
        assert_eq!(select_list_spans(b"UPDATE t SET a = 1"), None);
        let spans = select_list_spans(b"(SELECT 1)").unwrap();
        assert_eq!(spans, vec![(8, 9)]);
    }
}
