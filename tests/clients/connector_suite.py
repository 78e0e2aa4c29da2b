#!/usr/bin/env python3
"""MySQL Connector/Python against a MySQL-protocol server (the Shardgate proxy, or MariaDB directly as the baseline).

--impl pure   the pure-Python protocol implementation (use_pure=True; the connection is a MySQLConnection).
--impl cext   the C extension over the bundled libmysqlclient (use_pure=False; it must really be a CMySQLConnection:
              run with LD_LIBRARY_PATH=<site-packages>/mysql/vendor, or its OpenSSL does not load on Debian 12).

Logins in order (each checked against --expect-auth): with --bootstrap-sha2-ca CA, first a plain login that must be
refused (neither implementation can do caching_sha2_password full authentication without TLS: pure Python would send
the password in clear, libmysqlclient refuses with 2061), then one TLS login (trusting CA) that fills the server's
cache; then the two main logins (TLS if --ssl-ca is given, else plain). Auth paths are traced for the pure implementation only;
the C library's exchange is not observable ("cext").

Checks: text queries, parameters with quotes/backslashes/unicode, NULLs, executemany, prepared cursors (binary
protocol: types, re-execution, executemany, interleaving, errors, large results), transactions, a stored procedure
with OUT parameters, multi-statement results, a 17 MiB value, COM_RESET_CONNECTION / reset_session, COM_CHANGE_USER,
COM_INIT_DB, COM_PING and login refusals. Prints a JSON object; exits 1 with the failed checks on stderr.
"""

import datetime
import decimal
import hashlib
import sys
import traceback
import warnings

import mysql.connector
from mysql.connector import errors
from mysql.connector.plugins import caching_sha2_password

from clientcheck import (
    TRICKY_BYTES,
    TRICKY_STRINGS,
    Runner,
    check_auth,
    common_args,
    expect,
    expect_eq,
    expected_auth,
)


class AuthTrace:
    """Records caching_sha2_password's AuthMoreData status bytes in the pure-Python implementation."""

    def __init__(self, impl):
        self.impl = impl
        self.more = []
        cls = caching_sha2_password.MySQLCachingSHA2PasswordAuthPlugin
        orig = cls.auth_more_response
        trace = self

        def auth_more_response(plugin, sock, auth_data, **kw):
            trace.more.append(bytes(auth_data[:1]))
            return orig(plugin, sock, auth_data, **kw)

        cls.auth_more_response = auth_more_response

    def connect(self, **kw):
        self.more = []
        conn = mysql.connector.connect(**kw)
        return conn, self.path(conn)

    def path(self, conn):
        if self.impl == "cext":
            return "cext"
        if b"\x04" in self.more:
            return "full-tls" if conn.is_secure else "full-plain"
        if b"\x03" in self.more:
            return "fast"
        return "native"


def connect_kwargs(args, tls=None, **over):
    """Connection options; `tls` None: TLS if --ssl-ca is given; True: TLS trusting --ssl-ca or the bootstrap CA."""
    ca = args.ssl_ca or args.bootstrap_sha2_ca
    tls = bool(args.ssl_ca) if tls is None else tls
    kw = dict(
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        database=args.db,
        use_pure=args.impl == "pure",
        connection_timeout=10,
        autocommit=False,
    )
    if tls:
        kw.update(ssl_ca=ca, ssl_verify_cert=True, ssl_verify_identity=True)
    else:
        # Connector/Python upgrades to TLS whenever the server offers it; "without TLS" must say so.
        kw.update(ssl_disabled=True)
    kw.update(over)
    return kw


def tls_info(conn):
    if type(conn).__name__ == "CMySQLConnection":
        cipher = conn._cmysql.get_ssl_cipher()
        return {"cipher": cipher} if cipher else None
    if conn._ssl_active:
        sock = conn._socket.sock
        return {"version": sock.version(), "cipher": sock.cipher()[0]}
    return None


def login_error(args, tls=None, **over):
    try:
        conn = mysql.connector.connect(**connect_kwargs(args, tls, **over))
    except errors.Error as e:
        return e.errno, str(e)
    conn.close()
    raise AssertionError(f"login with {over} succeeded; expected a refusal")


def q(conn, sql, params=None, **cursor_kw):
    cur = conn.cursor(**cursor_kw)
    try:
        cur.execute(sql, params)
        return cur.fetchall() if cur.with_rows else []
    finally:
        cur.close()


def make_table(conn, name, cols):
    q(conn, f"DROP TABLE IF EXISTS {name}")
    q(conn, f"CREATE TABLE {name} ({cols}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


# ----- checks -------------------------------------------------------------------------------------------------------


def check_server_info(conn, args, runner):
    version, db, cs, coll = q(conn, "SELECT VERSION(), DATABASE(), @@character_set_client, @@collation_connection")[0]
    expect_eq(db, args.db, "DATABASE()")
    expect_eq(cs, "utf8mb4", "@@character_set_client")
    runner.info["server_version"] = version
    runner.info["collation_connection"] = coll
    runner.info["connection_class"] = type(conn).__name__


def check_params(conn, args, runner):
    t = f"{args.prefix}_params"
    make_table(conn, t, "id INT PRIMARY KEY, s TEXT, b VARBINARY(300), n INT NULL")
    cur = conn.cursor()
    for i, s in enumerate(TRICKY_STRINGS):
        b = TRICKY_BYTES[i % len(TRICKY_BYTES)]
        cur.execute(f"INSERT INTO {t} (id, s, b, n) VALUES (%s, %s, %s, %s)", (i, s, b, None if i % 2 else i))
    conn.commit()
    for i, s in enumerate(TRICKY_STRINGS):
        cur.execute(f"SELECT id, s, b, n FROM {t} WHERE s = %s AND id = %s", (s, i))
        rows = cur.fetchall()
        b = TRICKY_BYTES[i % len(TRICKY_BYTES)]
        expect_eq(
            [(r[0], r[1], bytes(r[2]), r[3]) for r in rows],
            [(i, s, b, None if i % 2 else i)],
            f"row {i} read back by its string {s!r}",
        )
    cur.execute(f"SELECT COUNT(*) FROM {t} WHERE s = %(needle)s", {"needle": "O'Reilly"})
    expect_eq(cur.fetchall(), [(1,)], "named (pyformat) parameter")
    cur.execute("SELECT NULL, %s, %s IS NULL", (None, None))
    expect_eq(cur.fetchall(), [(None, None, 1)], "NULL parameters")
    cur.close()


def check_executemany(conn, args, runner):
    t = f"{args.prefix}_many"
    make_table(conn, t, "id INT PRIMARY KEY, v VARCHAR(64) NULL")
    rows = [(i, None if i % 50 == 0 else f"value {i} '\\\" \u00e9") for i in range(1, 501)]
    cur = conn.cursor()
    cur.executemany(f"INSERT INTO {t} (id, v) VALUES (%s, %s)", rows)
    expect_eq(cur.rowcount, 500, "executemany rowcount (multi-row INSERT)")
    cur.executemany(f"UPDATE {t} SET v = CONCAT(v, %s) WHERE id = %s", [("!", i) for i in range(1, 11)])
    expect_eq(cur.rowcount, 10, "executemany rowcount (UPDATE per row)")
    conn.commit()
    cur.execute(f"SELECT COUNT(*), SUM(id), COUNT(v), SUM(v LIKE '%!') FROM {t}")
    expect_eq(cur.fetchall(), [(500, decimal.Decimal(125250), 490, decimal.Decimal(10))], "rows after executemany")
    cur.close()


def time_text(td):
    """A non-negative timedelta as a TIME literal ('25:00:00.000005')."""
    secs, micros = divmod(td // datetime.timedelta(microseconds=1), 1_000_000)
    return f"{secs // 3600}:{secs // 60 % 60:02}:{secs % 60:02}.{micros:06}"


def check_prepared(conn, args, runner):
    t = f"{args.prefix}_prep"
    make_table(
        conn,
        t,
        "id INT PRIMARY KEY, s TEXT NULL, b VARBINARY(300) NULL, i BIGINT NULL, f DOUBLE NULL, d DECIMAL(20,6) NULL, "
        "dt DATETIME(6) NULL, da DATE NULL, tm TIME(6) NULL",
    )
    conn.commit()
    ins = conn.cursor(prepared=True)
    sel = conn.cursor(prepared=True)
    expect(type(ins).__name__ in ("MySQLCursorPrepared", "CMySQLCursorPrepared"), f"cursor {type(ins).__name__}")
    want = {}
    # C extension bugs, also straight against MariaDB, so it gets these parameters as text: it binds
    # datetime.timedelta wrongly (zero or garbage), and a decimal.Decimal corrupts its heap (the process aborts later
    # with "malloc(): unaligned tcache chunk detected" or a segfault).
    cext = args.impl == "cext"

    def bind(row):
        return tuple(
            str(v) if cext and isinstance(v, decimal.Decimal) else
            (time_text(v) if cext and isinstance(v, datetime.timedelta) else v)
            for v in row
        )

    # One prepared INSERT executed for every row: the statement is prepared once and re-executed.
    for i, s in enumerate(TRICKY_STRINGS + [None]):
        if args.impl == "cext" and s is not None and "\x00" in s:
            # The C extension truncates str parameters at a NUL in prepared statements (also straight to MariaDB).
            s = s.replace("\x00", "<NUL>")
        row = (
            i,
            s,
            TRICKY_BYTES[i % len(TRICKY_BYTES)] if i % 3 else None,
            [0, -1, 2**63 - 1, -(2**63), None][i % 5],
            # Exactly representable in float32: the C extension binds Python floats as MYSQL_TYPE_FLOAT.
            [0.0, -1.5, 1024.25, None][i % 4],
            [decimal.Decimal("0.000001"), decimal.Decimal("-12345678901234.5"), None][i % 3],
            [datetime.datetime(2024, 2, 29, 23, 59, 58, 123456), None][i % 2],
            [datetime.date(1999, 12, 31), None][i % 2],
            [datetime.timedelta(hours=25, microseconds=5), None][i % 2],
        )
        ins.execute(f"INSERT INTO {t} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", bind(row))
        want[i] = row
        # Interleave a second prepared statement on the same connection.
        sel.execute(f"SELECT COUNT(*) FROM {t} WHERE id <= %s", (i,))
        expect_eq(sel.fetchall(), [(i + 1,)], f"interleaved prepared COUNT after row {i}")
    conn.commit()
    for i, row in want.items():
        sel.execute(f"SELECT * FROM {t} WHERE id = %s AND (s = %s OR (s IS NULL AND %s IS NULL))", (i, row[1], row[1]))
        got = sel.fetchall()
        expect_eq(len(got), 1, f"prepared SELECT of row {i} by its string {row[1]!r}")
        got = tuple(bytes(v) if isinstance(v, bytearray) else v for v in got[0])
        expect_eq(got, row, f"row {i} over the binary protocol")
    # executemany on a prepared cursor: one execution per row.
    ins.executemany(f"INSERT INTO {t} (id, s) VALUES (%s, %s)", [(1000 + i, f"many {i}") for i in range(50)])
    conn.commit()
    sel.execute(f"SELECT COUNT(*) FROM {t} WHERE id >= %s", (1000,))
    expect_eq(sel.fetchall(), [(50,)], "rows written by a prepared executemany")
    # An error on execute leaves the statement and the session usable.
    try:
        ins.execute(f"INSERT INTO {t} (id, s) VALUES (%s, %s)", (0, "duplicate"))
    except errors.IntegrityError as e:
        expect_eq(e.errno, 1062, "duplicate key through a prepared statement")
    else:
        raise AssertionError("duplicate key accepted")
    conn.rollback()
    try:
        bad = conn.cursor(prepared=True)
        bad.execute("SELECT * FROM no_such_table_xyz WHERE id = %s", (1,))
    except errors.ProgrammingError as e:
        expect_eq(e.errno, 1146, "preparing a statement on a missing table")
    else:
        raise AssertionError("preparing a statement on a missing table succeeded")
    # A large binary result.
    big = conn.cursor(prepared=True)
    big.execute("SELECT seq, CONCAT('row ', seq) FROM seq_1_to_20000 WHERE seq > %s", (0,))
    rows = big.fetchall()
    expect_eq((len(rows), rows[-1]), (20000, (20000, "row 20000")), "large prepared result")
    big.close()
    ins.close()
    sel.close()
    expect_eq(q(conn, "SELECT 'after close'"), [("after close",)], "text query after closing prepared statements")


def check_transactions(conn, other, args, runner):
    t = f"{args.prefix}_tx"
    make_table(conn, t, "id INT PRIMARY KEY, v INT")
    conn.commit()
    other.autocommit = True

    def seen():
        return q(other, f"SELECT id FROM {t} ORDER BY id")

    conn.autocommit = True
    conn.start_transaction()
    expect(conn.in_transaction, "in_transaction after start_transaction()")
    q(conn, f"INSERT INTO {t} VALUES (1, 1)")
    expect_eq(seen(), [], "other session sees an uncommitted row")
    conn.rollback()
    expect(not conn.in_transaction, "in_transaction after rollback()")
    conn.start_transaction()
    q(conn, f"INSERT INTO {t} VALUES (2, 2)")
    conn.commit()
    expect_eq(seen(), [(2,)], "other session after commit()")
    conn.autocommit = False
    expect_eq(q(conn, "SELECT @@autocommit"), [(0,)], "@@autocommit after autocommit = False")
    q(conn, f"INSERT INTO {t} VALUES (3, 3)")
    expect_eq(seen(), [(2,)], "other session during autocommit=0")
    conn.rollback()
    q(conn, f"INSERT INTO {t} VALUES (4, 4)")
    conn.commit()
    expect_eq(seen(), [(2,), (4,)], "other session after an autocommit=0 commit")
    conn.start_transaction(isolation_level="READ COMMITTED")
    expect_eq(q(conn, "SELECT COUNT(*) FROM " + t), [(2,)], "READ COMMITTED transaction")
    conn.commit()
    # start_transaction(readonly=True) refuses servers whose version starts with 5.5 (MariaDB's "5.5.5-" prefix).
    q(conn, "START TRANSACTION READ ONLY")
    expect_eq(q(conn, f"SELECT COUNT(*) FROM {t}"), [(2,)], "read-only transaction")
    try:
        q(conn, f"INSERT INTO {t} VALUES (5, 5)")
    except errors.Error as e:
        expect_eq(e.errno, 1792, "write in a READ ONLY transaction")
    else:
        raise AssertionError("write in a READ ONLY transaction succeeded")
    conn.rollback()


def check_errors(conn, args, runner):
    for sql, cls, code in [
        ("SELECT * FROM no_such_table_xyz", errors.ProgrammingError, 1146),
        ("SELEC 1", errors.ProgrammingError, 1064),
        ("SELECT no_such_column FROM DUAL", errors.ProgrammingError, 1054),
    ]:
        try:
            q(conn, sql)
        except errors.Error as e:
            expect(isinstance(e, cls), f"{sql!r}: got {type(e).__name__} {e}, want {cls.__name__}")
            expect_eq(e.errno, code, f"errno of {sql!r}")
        else:
            raise AssertionError(f"{sql!r} succeeded")
        expect_eq(q(conn, "SELECT 42"), [(42,)], f"query after the error of {sql!r}")


def check_callproc(conn, args, runner):
    p = f"{args.prefix}_proc"
    q(conn, f"DROP PROCEDURE IF EXISTS {p}")
    q(
        conn,
        f"CREATE PROCEDURE {p}(IN a INT, IN b INT, OUT prod INT, INOUT s VARCHAR(50)) "
        "BEGIN SET prod = a * b; SET s = CONCAT(s, '!'); SELECT a, b; SELECT 'second' AS x; END",
    )
    cur = conn.cursor()
    result = cur.callproc(p, (6, 7, 0, "it's"))
    expect_eq(tuple(result), (6, 7, 42, "it's!"), "OUT/INOUT parameters of callproc")
    with warnings.catch_warnings():
        # 26.x deprecates the method for a future property of the same name.
        warnings.simplefilter("ignore", DeprecationWarning)
        sets = [r.fetchall() for r in cur.stored_results()]
    expect_eq(sets, [[(6, 7)], [("second",)]], "result sets of the procedure")
    cur.close()
    expect_eq(q(conn, "SELECT 1"), [(1,)], "query after CALL")
    q(conn, f"DROP PROCEDURE {p}")


def check_multi_results(conn, args, runner):
    cur = conn.cursor()
    cur.execute("SELECT 1; SELECT 'two', 2; SELECT 3")
    sets = [cur.fetchall()]
    while cur.nextset():
        sets.append(cur.fetchall())
    cur.close()
    expect_eq(sets, [[(1,)], [("two", 2)], [(3,)]], "result sets of a multi-statement query")


def check_large_value(conn, args, runner):
    t = f"{args.prefix}_large"
    make_table(conn, t, "id INT PRIMARY KEY, v LONGBLOB")
    big = (b"\x00\xff'\\\"abc" * (17 * 1024 * 1024 // 8 + 1))[: 17 * 1024 * 1024]
    cur = conn.cursor(prepared=True)
    cur.execute(f"INSERT INTO {t} VALUES (%s, %s)", (1, big))
    cur.close()
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {t} VALUES (%s, %s)", (2, big))
    conn.commit()
    cur.execute(f"SELECT id, LENGTH(v), MD5(v), v FROM {t} ORDER BY id")
    rows = cur.fetchall()
    cur.close()
    md5 = hashlib.md5(big).hexdigest()
    for rid, n, m, v in rows:
        expect_eq((n, m), (len(big), md5), f"LENGTH/MD5 of large value {rid}")
        expect(bytes(v) == big, f"large value {rid} read back differs")
    expect_eq(len(rows), 2, "large rows")


def session_probe(conn):
    return q(conn, "SELECT @cc_var, @@time_zone, DATABASE()")[0]


def check_reset(conn, args, runner):
    q(conn, "SET @cc_var = 'x', time_zone = '+03:00'")
    q(conn, f"CREATE TEMPORARY TABLE {args.prefix}_tmp (id INT)")
    expect_eq(session_probe(conn), ("x", "+03:00", args.db), "session state before the reset")
    expect(conn.cmd_reset_connection(), "cmd_reset_connection() returned False")
    expect_eq(session_probe(conn)[:2], (None, "SYSTEM"), "session state after COM_RESET_CONNECTION")
    expect_eq(q(conn, "SELECT DATABASE()"), [(args.db,)], "DATABASE() after COM_RESET_CONNECTION")
    try:
        q(conn, f"SELECT * FROM {args.prefix}_tmp")
    except errors.ProgrammingError as e:
        expect_eq(e.errno, 1146, "temporary table after the reset")
    else:
        raise AssertionError("temporary table survived COM_RESET_CONNECTION")
    q(conn, "SET @cc_var = 'y'")
    conn.reset_session(user_variables={"cc_var": "from reset"}, session_variables={"time_zone": "+04:00"})
    expect_eq(session_probe(conn)[:2], ("from reset", "+04:00"), "session state after reset_session(...)")
    for _ in range(3):
        expect_eq(session_probe(conn)[:2], ("from reset", "+04:00"), "session state stays after reset_session")
    conn.reset_session()
    expect_eq(session_probe(conn)[:2], (None, "SYSTEM"), "session state after reset_session()")


def check_change_user(conn, args, runner):
    if not args.other_user:
        raise AssertionError("--other-user not given")
    q(conn, "SET @cc_var = 'before'")
    conn.cmd_change_user(username=args.other_user, password=args.other_password, database=args.db)
    expect_eq(session_probe(conn)[0], None, "user variable after COM_CHANGE_USER")
    expect_eq(q(conn, "SELECT DATABASE(), 1"), [(args.db, 1)], "query as the other user")
    conn.cmd_change_user(username=args.user, password=args.password, database=args.db)
    expect_eq(q(conn, "SELECT DATABASE(), 2"), [(args.db, 2)], "query after changing back")
    # A wrong password is refused with 1045.
    victim = mysql.connector.connect(**connect_kwargs(args))
    try:
        victim.cmd_change_user(username=args.other_user, password=args.other_password + "-wrong", database=args.db)
    except errors.Error as e:
        expect_eq(e.errno, 1045, f"COM_CHANGE_USER with a wrong password: {e}")
    else:
        raise AssertionError("COM_CHANGE_USER with a wrong password succeeded")
    finally:
        try:
            victim.close()
        except errors.Error:
            pass


def check_init_db_and_ping(conn, args, runner):
    conn.ping(reconnect=False)
    conn.cmd_init_db(args.db)
    expect_eq(q(conn, "SELECT DATABASE()"), [(args.db,)], "DATABASE() after COM_INIT_DB")
    try:
        conn.cmd_init_db("no_such_db_xyz")
    except errors.Error as e:
        expect_eq(e.errno, 1049, "COM_INIT_DB of an unknown database")
    else:
        raise AssertionError("COM_INIT_DB of an unknown database succeeded")
    expect(conn.is_connected(), "is_connected() after COM_PING")


def check_refusals(args, runner, when, unknown_db=True, tls=None):
    code, msg = login_error(args, tls, password=args.password + "-wrong")
    expect_eq(code, 1045, f"wrong password {when}: {msg}")
    code, msg = login_error(args, tls, user="no_such_user_xyz")
    expect_eq(code, 1045, f"unknown user {when}: {msg}")
    if unknown_db:
        # The password is right: for caching_sha2_password this login fills the server's cache.
        code, msg = login_error(args, tls, database="no_such_db_xyz")
        expect_eq(code, 1049, f"unknown database {when}: {msg}")


# ----- main ---------------------------------------------------------------------------------------------------------


def main():
    p = common_args(__doc__.splitlines()[0])
    p.add_argument("--impl", choices=["pure", "cext"], required=True)
    p.add_argument("--bootstrap-sha2-ca", help="see the module docstring")
    args = p.parse_args()
    runner = Runner(f"mysql-connector-python {mysql.connector.__version__} ({args.impl})", args)
    runner.info["python"] = sys.version.split()[0]
    if args.impl == "cext":
        # Without the C extension use_pure=False silently falls back to pure Python: make that a failure.
        if not mysql.connector.HAVE_CEXT:
            raise SystemExit(
                "mysql-connector-python's C extension does not load (HAVE_CEXT is False): run with "
                "LD_LIBRARY_PATH=<site-packages>/mysql/vendor so its bundled OpenSSL is found"
            )
    trace = AuthTrace(args.impl)
    logins = []

    def login(tls=None):
        conn, path = trace.connect(**connect_kwargs(args, tls=tls))
        logins.append(path)
        runner.check(
            f"auth_login_{len(logins)}", check_auth, path, expected_auth(args, len(logins) - 1), f"login {len(logins)}"
        )
        return conn

    try:
        # Before any login: for caching_sha2_password a full authentication with a wrong password (over TLS when
        # the plain logins cannot do one).
        runner.check(
            "refusals_before_login",
            check_refusals,
            args,
            runner,
            "before the first login",
            False,
            True if args.bootstrap_sha2_ca else None,
        )
        if args.bootstrap_sha2_ca:

            def refused_plain():
                code, msg = login_error(args, False)
                logins.append(f"fail:{code}")
                check_auth(f"fail:{code}", expected_auth(args, 0), f"the plain first login ({msg})")

            runner.check("auth_login_1", refused_plain)
            login(tls=True).close()
        conn = login()
        other = login()
        runner.info["auth_paths"] = logins
        runner.info["tls"] = tls_info(conn)
        want_cls = "CMySQLConnection" if args.impl == "cext" else "MySQLConnection"
        runner.check("implementation", lambda: expect_eq(type(conn).__name__, want_cls, "connection class"))
        runner.check("tls_in_use", lambda: expect_eq(tls_info(conn) is not None, bool(args.ssl_ca), "TLS in use"))
        runner.check("server_info", check_server_info, conn, args, runner)
        runner.check("params_quotes_backslashes_unicode_nulls", check_params, conn, args, runner)
        runner.check("executemany", check_executemany, conn, args, runner)
        runner.check("prepared_cursor", check_prepared, conn, args, runner)
        runner.check("transactions", check_transactions, conn, other, args, runner)
        runner.check("errors", check_errors, conn, args, runner)
        runner.check("callproc_out_params", check_callproc, conn, args, runner)
        runner.check("multi_statement_results", check_multi_results, conn, args, runner)
        runner.check("large_value_17mib", check_large_value, conn, args, runner)
        runner.check("reset_connection_and_reset_session", check_reset, conn, args, runner)
        runner.check("change_user", check_change_user, conn, args, runner)
        runner.check("init_db_and_ping", check_init_db_and_ping, conn, args, runner)
        runner.check("refusals_after_login", check_refusals, args, runner, "after a successful login")
        runner.check("close", lambda: (conn.close(), other.close()))
    except Exception as e:  # noqa: BLE001 - e.g. a login every check needs failed
        runner.failed.append(("scenario setup", e, traceback.format_exc()))
    runner.info.setdefault("auth_paths", logins)
    runner.finish()


if __name__ == "__main__":
    main()
