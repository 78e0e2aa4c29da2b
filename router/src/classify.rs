//! Statement classification: what a COM_QUERY does to the client's session, decided from tokens alone.
//!
//! The proxy multiplexes sessions over pooled backend connections, so it must know which statements change state
//! that has to follow the client (current database, session variables) and which create state that only lives on
//! one backend connection (user variables, temporary tables, locks, SQL-level prepared statements): the latter pin
//! the session to its connection. This runs on every query, so it is one pass of the [`Lexer`] with no allocation
//! unless a `USE` names a database with escaped backticks.

use crate::lexer::{Lexer, Token, TokenKind};
use std::borrow::Cow;

/// The broad kind of a statement, from its leading keyword(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// `SELECT`, `WITH …`, `(SELECT …)`, `VALUES`, `TABLE`.
    Select,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `REPLACE`.
    Replace,
    /// `SET …`.
    Set,
    /// `USE db`.
    Use,
    /// `SHOW DATABASES` / `SHOW SCHEMAS`.
    ShowDatabases,
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`, which is [`StatementKind::Other`]).
    Rollback,
    /// `KILL …`.
    Kill,
    /// Anything else (DDL, SHOW, CALL, …), and the empty statement.
    Other,
}

/// Why a statement pins the session to its backend connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinReason {
    /// Reads or writes a user variable (`@x`).
    UserVariable,
    /// Creates a temporary table.
    TemporaryTable,
    /// Takes a named lock (`GET_LOCK`), table locks, or a global read lock.
    Lock,
    /// SQL-level `PREPARE` / `EXECUTE` / `DEALLOCATE`.
    SqlPrepare,
    /// `SQL_CALC_FOUND_ROWS`, whose count `FOUND_ROWS()` reads later.
    FoundRows,
    /// `SET TRANSACTION …` without SESSION/GLOBAL: applies to the next transaction on this connection only.
    NextTransaction,
    /// `HANDLER`, `XA`, or `LAST_INSERT_ID(expr)` (which sets the value).
    ConnectionState,
    /// Several statements in one query, one of which changes session state.
    MultiStatementState,
}

/// A change to connection-local state whose end the proxy can see, so the pin it causes can be released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinChange {
    /// `CREATE TEMPORARY TABLE name`.
    CreateTemporaryTable(String),
    /// `DROP TEMPORARY TABLE name` (one per table).
    DropTemporaryTable(String),
    /// `GET_LOCK('name', …)`.
    GetLock(String),
    /// `RELEASE_LOCK('name')`.
    ReleaseLock(String),
    /// `RELEASE_ALL_LOCKS()`.
    ReleaseAllLocks,
    /// `LOCK TABLES …`.
    LockTables,
    /// `UNLOCK TABLES`.
    UnlockTables,
    /// `PREPARE name FROM …`.
    Prepare(String),
    /// `DEALLOCATE PREPARE name` / `DROP PREPARE name`.
    Deallocate(String),
    /// `SQL_CALC_FOUND_ROWS`: the next statement may read `FOUND_ROWS()`.
    CalcFoundRows,
}

/// What a statement does to session state that follows the client across backend connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEffect<'a> {
    /// Nothing to track.
    None,
    /// `USE db`: the named database becomes current (unquoted name).
    UseDatabase(Cow<'a, str>),
    /// `SET` of session system variables (incl. `SET NAMES`, `SET CHARACTER SET`): replay this statement on every
    /// backend connection that serves the session later.
    SessionVariables,
    /// `SHOW DATABASES` / `SHOW SCHEMAS`, with the `LIKE` pattern if any (unquoted).
    ShowDatabases(Option<Cow<'a, str>>),
    /// `SHOW DATABASES WHERE …`: not answerable by the proxy.
    UnsupportedShowDatabases,
    /// `KILL [HARD|SOFT] [CONNECTION|QUERY] [ID] n`: ids are the proxy's connection ids, so the proxy handles it.
    Kill {
        /// `KILL QUERY`: cancel the running statement only.
        query_only: bool,
        /// Target connection id.
        id: u64,
    },
    /// A `KILL` form the proxy cannot map to one of its sessions (`KILL USER …`, `KILL QUERY ID <query id>`).
    UnsupportedKill,
}

/// The result of [`classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified<'a> {
    /// Kind of the first statement.
    pub kind: StatementKind,
    /// Effect on tracked session state (only for a single statement; see [`PinReason::MultiStatementState`]).
    pub effect: SessionEffect<'a>,
    /// Set when the statement pins the session to its backend connection.
    pub pin: Option<PinReason>,
    /// The statement calls `LAST_INSERT_ID()`: the session's last insert id must be present on the connection.
    pub reads_last_insert_id: bool,
    /// The statement calls `ROW_COUNT()` or `FOUND_ROWS()`, which describe the session's previous statement.
    pub reads_previous_statement_counts: bool,
    /// The statement reads the previous statement's diagnostics area (`SHOW WARNINGS`, `SHOW ERRORS`,
    /// `@@warning_count`, `@@error_count`, `GET DIAGNOSTICS`).
    pub reads_diagnostics: bool,
    /// More than one statement in the query.
    pub multi_statement: bool,
    /// Some pin of the statement lasts until the session is reset (its end is not visible to the proxy).
    pub sticky_pin: bool,
    /// Changes to connection-local state the proxy tracks to release pins (empty and unallocated for most
    /// statements). A pin whose cause has no change here is sticky.
    pub pin_changes: Vec<PinChange>,
    /// Byte spans of the first name of every dotted name (`db` in `db.t`, `t` in `t.c`): the databases a
    /// statement may name explicitly. Empty (and unallocated) for statements without dotted names.
    pub qualifiers: Vec<(usize, usize)>,
}

/// Classifies one COM_QUERY text.
pub fn classify(sql: &[u8]) -> Classified<'_> {
    let mut out = Classified {
        kind: StatementKind::Other,
        effect: SessionEffect::None,
        pin: None,
        reads_last_insert_id: false,
        reads_previous_statement_counts: false,
        reads_diagnostics: false,
        multi_statement: false,
        sticky_pin: false,
        pin_changes: Vec::new(),
        qualifiers: Vec::new(),
    };
    let mut lex = Lexer::new(sql).peekable();
    let mut statements = 0usize;
    let mut any_state_change = false;
    loop {
        // Skip empty statements.
        while lex.peek().is_some_and(|t| t.is_punct(b';')) {
            lex.next();
        }
        let Some(first) = lex.next() else { break };
        statements += 1;
        let st = classify_one(sql, first, &mut lex, &mut out);
        if statements == 1 {
            out.kind = st.0;
            out.effect = st.1;
        } else {
            out.multi_statement = true;
        }
        if out.effect != SessionEffect::None || st.0 == StatementKind::Set || st.0 == StatementKind::Use {
            any_state_change = true;
        }
    }
    if out.multi_statement {
        out.effect = SessionEffect::None;
        if any_state_change && out.pin.is_none() {
            out.pin = Some(PinReason::MultiStatementState);
            out.sticky_pin = true;
        }
    }
    out
}

type Tokens<'a> = std::iter::Peekable<Lexer<'a>>;

/// Classifies the statement starting at `first`, consuming its tokens up to and including its `;`.
fn classify_one<'a>(
    sql: &'a [u8],
    first: Token,
    lex: &mut Tokens<'a>,
    out: &mut Classified<'a>,
) -> (StatementKind, SessionEffect<'a>) {
    let word = |t: &Token, kw: &str| t.is_word(sql, kw);
    let mut effect = SessionEffect::None;
    let kind = if word(&first, "SELECT")
        || word(&first, "WITH")
        || word(&first, "VALUES")
        || word(&first, "TABLE")
        || first.is_punct(b'(')
    {
        StatementKind::Select
    } else if word(&first, "INSERT") {
        StatementKind::Insert
    } else if word(&first, "UPDATE") {
        StatementKind::Update
    } else if word(&first, "DELETE") {
        StatementKind::Delete
    } else if word(&first, "REPLACE") {
        StatementKind::Replace
    } else if word(&first, "BEGIN") {
        StatementKind::Begin
    } else if word(&first, "COMMIT") {
        StatementKind::Commit
    } else if word(&first, "START") && lex.peek().is_some_and(|t| word(t, "TRANSACTION")) {
        StatementKind::Begin
    } else if word(&first, "ROLLBACK") {
        // ROLLBACK [WORK] TO [SAVEPOINT] x keeps the transaction open.
        StatementKind::Rollback
    } else if word(&first, "SET") {
        effect = classify_set(sql, lex, out);
        StatementKind::Set
    } else if word(&first, "USE") {
        if let Some(t) = lex.next() {
            effect = SessionEffect::UseDatabase(unquote_ident(t.text(sql)));
        }
        StatementKind::Use
    } else if word(&first, "KILL") {
        effect = classify_kill(sql, lex);
        StatementKind::Kill
    } else if word(&first, "SHOW") {
        let kind = match lex.peek() {
            Some(t) if word(t, "DATABASES") || word(t, "SCHEMAS") => {
                lex.next();
                effect = match lex.next() {
                    None => SessionEffect::ShowDatabases(None),
                    Some(t) if t.is_punct(b';') => {
                        return (StatementKind::ShowDatabases, SessionEffect::ShowDatabases(None))
                    }
                    Some(t) if word(&t, "LIKE") => match lex.next() {
                        Some(p) if p.kind == TokenKind::String => {
                            SessionEffect::ShowDatabases(Some(unquote_string(p.text(sql))))
                        }
                        _ => SessionEffect::UnsupportedShowDatabases,
                    },
                    Some(_) => SessionEffect::UnsupportedShowDatabases,
                };
                StatementKind::ShowDatabases
            }
            Some(t) if word(t, "WARNINGS") || word(t, "ERRORS") || word(t, "COUNT") => {
                out.reads_diagnostics = true;
                StatementKind::Other
            }
            _ => StatementKind::Other,
        };
        kind
    } else {
        if word(&first, "GET") {
            out.reads_diagnostics = true;
        }
        if word(&first, "PREPARE") {
            match lex.peek().and_then(|t| name_of(sql, t)) {
                Some(name) => {
                    pin(out, PinReason::SqlPrepare, false);
                    out.pin_changes.push(PinChange::Prepare(name));
                }
                None => pin(out, PinReason::SqlPrepare, true),
            }
        } else if word(&first, "EXECUTE") {
            // Runs a statement the ledger already pins the session for (or fails on the backend).
            pin(out, PinReason::SqlPrepare, false);
        } else if (word(&first, "DEALLOCATE") || word(&first, "DROP")) && lex.peek().is_some_and(|t| word(t, "PREPARE"))
        {
            lex.next();
            match lex.peek().and_then(|t| name_of(sql, t)) {
                Some(name) => out.pin_changes.push(PinChange::Deallocate(name)),
                None => {
                    pin(out, PinReason::SqlPrepare, true);
                }
            }
        } else if word(&first, "HANDLER") || word(&first, "XA") {
            pin(out, PinReason::ConnectionState, true);
        } else if word(&first, "LOCK") {
            if lex.peek().is_some_and(|t| word(t, "TABLES") || word(t, "TABLE")) {
                pin(out, PinReason::Lock, false);
                out.pin_changes.push(PinChange::LockTables);
            } else {
                pin(out, PinReason::Lock, true);
            }
        } else if word(&first, "UNLOCK") && lex.peek().is_some_and(|t| word(t, "TABLES") || word(t, "TABLE")) {
            out.pin_changes.push(PinChange::UnlockTables);
        } else if word(&first, "CREATE") && lex.peek().is_some_and(|t| word(t, "TEMPORARY")) {
            lex.next();
            let mut name = None;
            if lex.next_if(|t| word(t, "TABLE")).is_some() {
                if lex.next_if(|t| word(t, "IF")).is_some() {
                    lex.next_if(|t| word(t, "NOT"));
                    lex.next_if(|t| word(t, "EXISTS"));
                }
                name = lex.peek().and_then(|t| name_of(sql, t));
            }
            match name {
                Some(n) => {
                    pin(out, PinReason::TemporaryTable, false);
                    out.pin_changes.push(PinChange::CreateTemporaryTable(n));
                }
                None => pin(out, PinReason::TemporaryTable, true),
            }
        } else if word(&first, "DROP") && lex.peek().is_some_and(|t| word(t, "TEMPORARY")) {
            lex.next();
            if lex.next_if(|t| word(t, "TABLE") || word(t, "TABLES")).is_some() {
                if lex.next_if(|t| word(t, "IF")).is_some() {
                    lex.next_if(|t| word(t, "EXISTS"));
                }
                while let Some(t) = lex.next_if(|t| !t.is_punct(b';')) {
                    if let Some(name) = name_of(sql, &t) {
                        if !(word(&t, "RESTRICT") || word(&t, "CASCADE")) {
                            out.pin_changes.push(PinChange::DropTemporaryTable(name));
                        }
                    }
                }
            }
        } else if word(&first, "FLUSH") {
            // FLUSH TABLES … WITH READ LOCK
            let mut prev_read = false;
            while let Some(t) = lex.next_if(|t| !t.is_punct(b';')) {
                if prev_read && word(&t, "LOCK") {
                    pin(out, PinReason::Lock, true);
                }
                prev_read = word(&t, "READ");
            }
        }
        StatementKind::Other
    };
    scan_rest(sql, lex, out);
    (kind, effect)
}

/// Scans the remaining tokens of a statement for state that pins or needs the last insert id.
fn scan_rest<'a>(sql: &'a [u8], lex: &mut Tokens<'a>, out: &mut Classified<'a>) {
    // The two previous tokens, to find the first name of a dotted chain (`a` in `a.b` but not `b` in `a.b.c`).
    let mut prev: Option<Token> = None;
    let mut before_prev: Option<Token> = None;
    while let Some(t) = lex.next() {
        if t.is_punct(b'.') {
            if let Some(p) = prev {
                let is_name = matches!(p.kind, TokenKind::Word | TokenKind::QuotedIdent);
                let chained = before_prev.is_some_and(|b| b.is_punct(b'.'));
                let next_is_name = lex
                    .peek()
                    .is_some_and(|n| matches!(n.kind, TokenKind::Word | TokenKind::QuotedIdent) || n.is_punct(b'*'));
                if is_name && !chained && next_is_name {
                    out.qualifiers.push((p.start, p.end));
                }
            }
        }
        before_prev = prev;
        prev = Some(t);
        match t.kind {
            TokenKind::Punct(b';') => return,
            TokenKind::UserVar => {
                pin(out, PinReason::UserVariable, true);
            }
            TokenKind::SysVar => {
                let v = t.text(sql);
                let tail = |s: &[u8]| v.len() >= s.len() && v[v.len() - s.len()..].eq_ignore_ascii_case(s);
                if tail(b"warning_count") || tail(b"error_count") {
                    out.reads_diagnostics = true;
                }
            }
            TokenKind::Word => {
                let w = t.text(sql);
                if w.eq_ignore_ascii_case(b"SQL_CALC_FOUND_ROWS") {
                    pin(out, PinReason::FoundRows, false);
                    out.pin_changes.push(PinChange::CalcFoundRows);
                } else if w.eq_ignore_ascii_case(b"GET_LOCK") && lex.peek().is_some_and(|n| n.is_punct(b'(')) {
                    pin(out, PinReason::Lock, false);
                    lex.next();
                    match lex.peek().filter(|n| n.kind == TokenKind::String) {
                        Some(n) => out
                            .pin_changes
                            .push(PinChange::GetLock(unquote_string(n.text(sql)).into_owned())),
                        // A lock named by an expression cannot be followed: the pin stays.
                        None => out.pin_changes.push(PinChange::GetLock(String::new())),
                    }
                } else if w.eq_ignore_ascii_case(b"RELEASE_LOCK") && lex.peek().is_some_and(|n| n.is_punct(b'(')) {
                    lex.next();
                    if let Some(n) = lex.peek().filter(|n| n.kind == TokenKind::String) {
                        out.pin_changes
                            .push(PinChange::ReleaseLock(unquote_string(n.text(sql)).into_owned()));
                    }
                } else if w.eq_ignore_ascii_case(b"RELEASE_ALL_LOCKS") && lex.peek().is_some_and(|n| n.is_punct(b'(')) {
                    out.pin_changes.push(PinChange::ReleaseAllLocks);
                } else if (w.eq_ignore_ascii_case(b"ROW_COUNT") || w.eq_ignore_ascii_case(b"FOUND_ROWS"))
                    && lex.peek().is_some_and(|n| n.is_punct(b'('))
                {
                    out.reads_previous_statement_counts = true;
                } else if w.eq_ignore_ascii_case(b"LAST_INSERT_ID") && lex.peek().is_some_and(|n| n.is_punct(b'(')) {
                    lex.next();
                    if lex.peek().is_some_and(|n| n.is_punct(b')')) {
                        out.reads_last_insert_id = true;
                    } else {
                        pin(out, PinReason::ConnectionState, true);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Parses the rest of `KILL [HARD|SOFT] [CONNECTION|QUERY] [ID] n` (the `KILL` keyword is consumed).
fn classify_kill<'a>(sql: &'a [u8], lex: &mut Tokens<'a>) -> SessionEffect<'a> {
    let mut query_only = false;
    let mut t = lex.next();
    if t.is_some_and(|t| t.is_word(sql, "HARD") || t.is_word(sql, "SOFT")) {
        t = lex.next();
    }
    if t.is_some_and(|t| t.is_word(sql, "CONNECTION")) {
        t = lex.next();
    } else if t.is_some_and(|t| t.is_word(sql, "QUERY")) {
        query_only = true;
        t = lex.next();
        if t.is_some_and(|t| t.is_word(sql, "ID")) {
            // KILL QUERY ID n names a query id, not a connection.
            return SessionEffect::UnsupportedKill;
        }
    }
    let id = t
        .filter(|t| t.kind == TokenKind::Number)
        .and_then(|t| std::str::from_utf8(t.text(sql)).ok()?.parse::<u64>().ok());
    let rest_is_empty = lex.peek().is_none_or(|t| t.is_punct(b';'));
    match id {
        Some(id) if rest_is_empty => SessionEffect::Kill { query_only, id },
        _ => SessionEffect::UnsupportedKill,
    }
}

/// Classifies the assignments of a `SET` statement (the `SET` keyword is consumed).
fn classify_set<'a>(sql: &'a [u8], lex: &mut Tokens<'a>, out: &mut Classified<'a>) -> SessionEffect<'a> {
    let word = |t: &Token, kw: &str| t.is_word(sql, kw);
    let mut session = false;
    let mut at_assignment_start = true;
    let mut depth = 0i32;
    let mut scope_global = false;
    while let Some(t) = lex.peek().copied() {
        if t.is_punct(b';') {
            break;
        }
        lex.next();
        if at_assignment_start {
            at_assignment_start = false;
            let mut t = t;
            if word(&t, "GLOBAL") || word(&t, "PERSIST") || word(&t, "PERSIST_ONLY") {
                scope_global = true;
                match lex.next() {
                    Some(n) => t = n,
                    None => break,
                }
            } else if word(&t, "SESSION") || word(&t, "LOCAL") {
                scope_global = false;
                match lex.next() {
                    Some(n) => t = n,
                    None => break,
                }
                if word(&t, "TRANSACTION") {
                    session = true;
                    continue;
                }
            }
            match t.kind {
                TokenKind::UserVar => {
                    pin(out, PinReason::UserVariable, true);
                }
                TokenKind::SysVar => {
                    let name = t.text(sql);
                    let global = name.len() > 9 && name[2..9].eq_ignore_ascii_case(b"global.");
                    if !global {
                        session = true;
                    }
                }
                TokenKind::Word if word(&t, "TRANSACTION") && !scope_global => {
                    pin(out, PinReason::NextTransaction, true);
                }
                TokenKind::Word if word(&t, "TRANSACTION") => {}
                TokenKind::Word if word(&t, "PASSWORD") || word(&t, "DEFAULT") || word(&t, "STATEMENT") => {
                    // SET PASSWORD / SET DEFAULT ROLE: no session state; SET STATEMENT … FOR: scoped to one statement.
                }
                TokenKind::Word if !scope_global => session = true,
                _ => {}
            }
            continue;
        }
        match t.kind {
            TokenKind::Punct(b'(') => depth += 1,
            TokenKind::Punct(b')') => depth -= 1,
            TokenKind::Punct(b',') if depth == 0 => {
                at_assignment_start = true;
            }
            TokenKind::UserVar => {
                pin(out, PinReason::UserVariable, true);
            }
            _ => {}
        }
    }
    if session {
        SessionEffect::SessionVariables
    } else {
        SessionEffect::None
    }
}

/// Records that the statement pins the session; `sticky` when the proxy cannot see the state go away.
fn pin(out: &mut Classified<'_>, reason: PinReason, sticky: bool) {
    out.pin.get_or_insert(reason);
    out.sticky_pin |= sticky;
}

/// The name a token spells when it is an identifier or a string (as written; callers fold case where the server
/// does).
fn name_of(sql: &[u8], t: &Token) -> Option<String> {
    match t.kind {
        TokenKind::Word | TokenKind::QuotedIdent => Some(unquote_ident(t.text(sql)).into_owned()),
        TokenKind::String => Some(unquote_string(t.text(sql)).into_owned()),
        _ => None,
    }
}

/// Removes backticks from an identifier, undoubling inner backticks.
pub fn unquote_ident(t: &[u8]) -> Cow<'_, str> {
    if t.len() >= 2 && t[0] == b'`' && t[t.len() - 1] == b'`' {
        let inner = &t[1..t.len() - 1];
        let s = String::from_utf8_lossy(inner);
        if s.contains("``") {
            Cow::Owned(s.replace("``", "`"))
        } else {
            s
        }
    } else {
        String::from_utf8_lossy(t)
    }
}

/// Removes quotes from a string literal, resolving doubled quotes and backslash escapes (see
/// [`crate::normalize::unescape_string`]).
fn unquote_string(t: &[u8]) -> Cow<'_, str> {
    match crate::normalize::unescape_string(t) {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Classified<'_> {
        classify(s.as_bytes())
    }

    #[test]
    fn kinds() {
        assert_eq!(c("select 1").kind, StatementKind::Select);
        assert_eq!(c("  /* x */ INSERT INTO t VALUES (1)").kind, StatementKind::Insert);
        assert_eq!(c("START TRANSACTION READ ONLY").kind, StatementKind::Begin);
        assert_eq!(c("commit").kind, StatementKind::Commit);
        assert_eq!(c("").kind, StatementKind::Other);
        assert_eq!(c(";;").kind, StatementKind::Other);
    }

    #[test]
    fn use_and_show_databases() {
        assert_eq!(c("USE app").effect, SessionEffect::UseDatabase("app".into()));
        assert_eq!(c("use `we``ird`;").effect, SessionEffect::UseDatabase("we`ird".into()));
        assert_eq!(c("SHOW DATABASES").effect, SessionEffect::ShowDatabases(None));
        assert_eq!(
            c("show schemas like 'sb%'").effect,
            SessionEffect::ShowDatabases(Some("sb%".into()))
        );
        assert_eq!(
            c("SHOW DATABASES WHERE 1").effect,
            SessionEffect::UnsupportedShowDatabases
        );
        assert_eq!(c("SHOW TABLES").kind, StatementKind::Other);
    }

    #[test]
    fn set_statements() {
        for s in [
            "SET NAMES utf8mb4",
            "SET autocommit=0",
            "set session sql_mode='ANSI'",
            "SET @@sql_mode = ''",
            "SET @@session.time_zone='+00:00', wait_timeout=10",
            "SET CHARACTER SET latin1",
            "/*!40101 SET NAMES utf8 */",
        ] {
            let r = c(s);
            assert_eq!(r.effect, SessionEffect::SessionVariables, "{s}");
            assert_eq!(r.pin, None, "{s}");
        }
        assert_eq!(c("SET GLOBAL max_connections=10").effect, SessionEffect::None);
        assert_eq!(c("SET @@global.max_connections=10").effect, SessionEffect::None);
        assert_eq!(c("SET @a = 1").pin, Some(PinReason::UserVariable));
        assert_eq!(c("SET sql_mode = @saved").pin, Some(PinReason::UserVariable));
        assert_eq!(
            c("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").pin,
            Some(PinReason::NextTransaction)
        );
        let r = c("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE");
        assert_eq!((r.effect, r.pin), (SessionEffect::SessionVariables, None));
        assert_eq!(c("SET x = (SELECT 1, 2)").effect, SessionEffect::SessionVariables);
    }

    #[test]
    fn pinning_state() {
        assert_eq!(c("SELECT @x := 5").pin, Some(PinReason::UserVariable));
        assert_eq!(c("SELECT '@x', \"@y\", `@z` FROM t").pin, None);
        assert_eq!(c("SELECT @@version").pin, None);
        assert_eq!(
            c("CREATE TEMPORARY TABLE t (a int)").pin,
            Some(PinReason::TemporaryTable)
        );
        assert_eq!(c("DROP TEMPORARY TABLE t").pin, None);
        assert_eq!(c("select get_lock('a', 1)").pin, Some(PinReason::Lock));
        assert_eq!(c("LOCK TABLES t WRITE").pin, Some(PinReason::Lock));
        assert_eq!(c("FLUSH TABLES WITH READ LOCK").pin, Some(PinReason::Lock));
        assert_eq!(c("FLUSH TABLES").pin, None);
        assert_eq!(c("PREPARE s FROM 'select 1'").pin, Some(PinReason::SqlPrepare));
        assert_eq!(
            c("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1").pin,
            Some(PinReason::FoundRows)
        );
        assert_eq!(c("XA START 'x'").pin, Some(PinReason::ConnectionState));
        assert_eq!(c("select last_insert_id(7)").pin, Some(PinReason::ConnectionState));
        let r = c("SELECT LAST_INSERT_ID()");
        assert!(r.reads_last_insert_id && r.pin.is_none());
    }

    #[test]
    fn diagnostics_readers() {
        for s in [
            "SHOW WARNINGS",
            "show errors limit 1",
            "SHOW COUNT(*) WARNINGS",
            "SELECT @@warning_count",
            "select @@session.error_count",
            "GET DIAGNOSTICS @n = NUMBER",
        ] {
            assert!(c(s).reads_diagnostics, "{s}");
        }
        assert!(!c("SHOW TABLES").reads_diagnostics);
        assert!(!c("SELECT 'SHOW WARNINGS'").reads_diagnostics);
    }

    #[test]
    fn qualified_names() {
        let sql = "SELECT a.x, `other db`.t.c FROM app.t a JOIN b.u ON 1.5 = a.x WHERE y = 'z.w'";
        let r = c(sql);
        let names: Vec<&str> = r.qualifiers.iter().map(|(s, e)| &sql[*s..*e]).collect();
        assert_eq!(names, vec!["a", "`other db`", "app", "b", "a"]);
        assert!(c("SELECT c FROM sbtest1 WHERE id = 5").qualifiers.is_empty());
        assert_eq!(c("INSERT INTO ks.t VALUES (1)").qualifiers.len(), 1);
        assert_eq!(c("SELECT t.* FROM t").qualifiers.len(), 1);
    }

    #[test]
    fn kill_statements() {
        assert_eq!(
            c("KILL 12").effect,
            SessionEffect::Kill {
                query_only: false,
                id: 12
            }
        );
        assert_eq!(
            c("kill query 7;").effect,
            SessionEffect::Kill {
                query_only: true,
                id: 7
            }
        );
        assert_eq!(
            c("KILL HARD CONNECTION 3").effect,
            SessionEffect::Kill {
                query_only: false,
                id: 3
            }
        );
        assert_eq!(c("KILL USER 'bob'").effect, SessionEffect::UnsupportedKill);
        assert_eq!(c("KILL QUERY ID 5").effect, SessionEffect::UnsupportedKill);
        assert_eq!(c("KILL 5 6").effect, SessionEffect::UnsupportedKill);
        assert_eq!(c("KILL").effect, SessionEffect::UnsupportedKill);
    }

    #[test]
    fn multi_statements() {
        let r = c("SELECT 1; SELECT 2");
        assert!(r.multi_statement && r.pin.is_none());
        let r = c("USE app; SELECT 1");
        assert_eq!(
            (r.effect, r.pin),
            (SessionEffect::None, Some(PinReason::MultiStatementState))
        );
        let r = c("SELECT 1; SET NAMES latin1");
        assert_eq!(r.pin, Some(PinReason::MultiStatementState));
        let r = c("SELECT 1;");
        assert!(!r.multi_statement);
    }
}
