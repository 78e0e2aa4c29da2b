#!/usr/bin/env python3
"""PyMySQL against a MySQL-protocol server (the Shardgate proxy, or MariaDB directly as the baseline).

Scenarios (--scenario):
  suite                 logins (auth path traced: native / fast / full-tls / full-rsa), wrong password and unknown
                        user (1045), unknown database (1049), text queries and types, parameters with quotes,
                        backslashes and unicode, NULLs, executemany, transactions (commit, rollback, autocommit off),
                        lastrowid, errors, multi-statements, a 17 MiB value, unbuffered cursors, session state,
                        COM_INIT_DB and COM_PING.
  no-backslash-escapes  sql_mode NO_BACKSLASH_ESCAPES: the server announces it in every OK's status flags and
                        PyMySQL escapes accordingly; a COM_PING or COM_INIT_DB in between must not lose that flag.
  tls-storm             --count TLS logins in a row; every one must succeed.

Prints a JSON object; exits 1 with the failed checks on stderr. Needs `cryptography` for caching_sha2_password full
authentication without TLS (RSA).
"""

import datetime
import decimal
import hashlib
import ssl
import sys
import time
import traceback

import pymysql
import pymysql._auth
import pymysql.connections
import pymysql.cursors
from pymysql.constants import CLIENT

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
    """Records the auth exchange of PyMySQL logins: AuthSwitchRequests, AuthMoreData status bytes and what the client
    sent in caching_sha2_password's extra rounds."""

    def __init__(self):
        self.active = False
        self.more = []
        self.switches = []
        self.sent = []
        orig_read = pymysql.connections.Connection._read_packet
        orig_roundtrip = pymysql._auth._roundtrip
        trace = self

        def read_packet(conn, *a, **kw):
            pkt = orig_read(conn, *a, **kw)
            if trace.active:
                data = pkt.get_all_data()
                if data[:1] == b"\x01" and len(data) == 2:
                    trace.more.append(data[1])
                elif data[:1] == b"\xfe" and len(data) > 1:
                    trace.switches.append(data[1:].split(b"\0", 1)[0].decode())
            return pkt

        def roundtrip(conn, data):
            if trace.active:
                trace.sent.append(bytes(data))
            return orig_roundtrip(conn, data)

        pymysql.connections.Connection._read_packet = read_packet
        pymysql._auth._roundtrip = roundtrip

    def connect(self, **kw):
        self.more, self.switches, self.sent = [], [], []
        self.active = True
        try:
            conn = pymysql.connect(**kw)
        finally:
            self.active = False
        return conn, self.path()

    def path(self):
        if 4 in self.more:
            if b"\x02" in self.sent:
                return "full-rsa"
            return "full-tls"
        if 3 in self.more:
            return "fast"
        return "native"


def connect_kwargs(args, **over):
    kw = dict(
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        database=args.db,
        charset="utf8mb4",
        connect_timeout=10,
        read_timeout=120,
        write_timeout=120,
    )
    if args.ssl_ca:
        kw.update(ssl_ca=args.ssl_ca, ssl_verify_cert=True, ssl_verify_identity=True)
    else:
        # PyMySQL >= 1.1 upgrades to TLS whenever the server offers it; "without TLS" must say so.
        kw.update(ssl_disabled=True)
    kw.update(over)
    return kw


def tls_info(conn):
    sock = conn._sock
    if isinstance(sock, ssl.SSLSocket):
        return {"version": sock.version(), "cipher": sock.cipher()[0]}
    return None


def login_error(args, **over):
    """Connects expecting a refusal; returns the MySQL error number."""
    try:
        conn = pymysql.connect(**connect_kwargs(args, **over))
    except pymysql.err.MySQLError as e:
        return e.args[0], str(e)
    conn.close()
    raise AssertionError(f"login with {over} succeeded; expected a refusal")


def q(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# ----- checks -------------------------------------------------------------------------------------------------------


def check_server_info(conn, args, runner):
    (version, db, one) = q(conn, "SELECT VERSION(), DATABASE(), 1")[0]
    expect_eq(db, args.db, "DATABASE()")
    expect_eq(one, 1, "SELECT 1")
    runner.info["server_version"] = version
    runner.info["greeting_version"] = conn.get_server_info()


def check_types(conn, args, runner):
    row = q(
        conn,
        "SELECT 1, -9223372036854775808, 18446744073709551615, 'text', NULL, 1.5e0, CAST('12.340' AS DECIMAL(10,3)), "
        "DATE '2024-02-29', TIMESTAMP '2024-02-29 23:59:58.123456', TIME '-838:59:59', X'00FF', "
        "_utf8mb4 'caf\u00e9 \U0001f389'",
    )[0]
    want = (
        1,
        -9223372036854775808,
        18446744073709551615,
        "text",
        None,
        1.5,
        decimal.Decimal("12.340"),
        datetime.date(2024, 2, 29),
        datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
        -datetime.timedelta(hours=838, minutes=59, seconds=59),
        b"\x00\xff",
        "caf\u00e9 \U0001f389",
    )
    expect_eq(row, want, "typed text-protocol row")


def make_table(conn, name, cols):
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute(f"CREATE TABLE {name} ({cols}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


def check_params(conn, args, runner):
    t = f"{args.prefix}_params"
    make_table(conn, t, "id INT PRIMARY KEY, s TEXT, b VARBINARY(300), n INT NULL")
    with conn.cursor() as cur:
        for i, s in enumerate(TRICKY_STRINGS):
            b = TRICKY_BYTES[i % len(TRICKY_BYTES)]
            cur.execute(f"INSERT INTO {t} (id, s, b, n) VALUES (%s, %s, %s, %s)", (i, s, b, None if i % 2 else i))
        conn.commit()
        for i, s in enumerate(TRICKY_STRINGS):
            # The tricky string in a WHERE clause too: it must match itself exactly.
            cur.execute(f"SELECT id, s, b, n FROM {t} WHERE s = %s AND id = %s", (s, i))
            rows = cur.fetchall()
            b = TRICKY_BYTES[i % len(TRICKY_BYTES)]
            expect_eq(rows, ((i, s, b, None if i % 2 else i),), f"row {i} read back by its string {s!r}")
        cur.execute(f"SELECT COUNT(*) FROM {t} WHERE %(needle)s = s", {"needle": "O'Reilly"})
        expect_eq(cur.fetchone()[0], 1, "named (pyformat) parameter")


def check_nulls(conn, args, runner):
    t = f"{args.prefix}_nulls"
    make_table(conn, t, "id INT PRIMARY KEY, a VARCHAR(10) NULL, b DATETIME NULL, c DECIMAL(5,2) NULL")
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {t} VALUES (%s, %s, %s, %s)", [(1, None, None, None), (2, "x", None, "1.25")])
        conn.commit()
        cur.execute(f"SELECT * FROM {t} ORDER BY id")
        expect_eq(
            cur.fetchall(), ((1, None, None, None), (2, "x", None, decimal.Decimal("1.25"))), "rows with NULLs"
        )
        cur.execute(f"SELECT COUNT(*) FROM {t} WHERE a IS NULL AND b <=> %s", (None,))
        expect_eq(cur.fetchone()[0], 1, "IS NULL / <=> NULL")
        cur.execute("SELECT NULL, NULL IS NULL, COALESCE(NULL, 'd')")
        expect_eq(cur.fetchone(), (None, 1, "d"), "NULL expressions")


def check_executemany(conn, args, runner):
    t = f"{args.prefix}_many"
    make_table(conn, t, "id INT PRIMARY KEY, v VARCHAR(64)")
    rows = [(i, f"value {i} '\\\" \u00e9") for i in range(1, 501)]
    with conn.cursor() as cur:
        n = cur.executemany(f"INSERT INTO {t} (id, v) VALUES (%s, %s)", rows)
        expect_eq(n, 500, "executemany rowcount (multi-row INSERT)")
        # Not an INSERT ... VALUES: PyMySQL runs one statement per row.
        n = cur.executemany(f"UPDATE {t} SET v = CONCAT(v, %s) WHERE id = %s", [("!", i) for i in range(1, 11)])
        expect_eq(n, 10, "executemany rowcount (UPDATE per row)")
        conn.commit()
        cur.execute(f"SELECT COUNT(*), SUM(id), SUM(v LIKE '%%!') FROM {t}")
        expect_eq(cur.fetchone(), (500, 125250, decimal.Decimal(10)), "rows after executemany")
        cur.execute(f"SELECT v FROM {t} WHERE id = 7")
        expect_eq(cur.fetchone()[0], rows[6][1] + "!", "value written by executemany")


def check_transactions(conn, other, args, runner):
    t = f"{args.prefix}_tx"
    make_table(conn, t, "id INT PRIMARY KEY, v INT")
    conn.autocommit(True)
    other.autocommit(True)

    def seen_by_other():
        return q(other, f"SELECT id FROM {t} ORDER BY id")

    conn.begin()
    q(conn, f"INSERT INTO {t} VALUES (1, 1)")
    expect_eq(q(conn, f"SELECT COUNT(*) FROM {t}")[0][0], 1, "own uncommitted row")
    expect_eq(seen_by_other(), (), "other session sees an uncommitted row")
    conn.rollback()
    expect_eq(q(conn, f"SELECT COUNT(*) FROM {t}")[0][0], 0, "rows after ROLLBACK")

    conn.begin()
    q(conn, f"INSERT INTO {t} VALUES (2, 2)")
    conn.commit()
    expect_eq(seen_by_other(), ((2,),), "other session after COMMIT")

    # autocommit off: every statement is in a transaction until COMMIT/ROLLBACK.
    conn.autocommit(False)
    q(conn, f"INSERT INTO {t} VALUES (3, 3)")
    expect_eq(seen_by_other(), ((2,),), "other session during autocommit=0")
    conn.rollback()
    q(conn, f"INSERT INTO {t} VALUES (4, 4)")
    conn.commit()
    conn.autocommit(True)
    expect_eq(seen_by_other(), ((2,), (4,)), "other session after autocommit=0 COMMIT")

    # Explicit SQL transaction statements too.
    q(conn, "START TRANSACTION")
    q(conn, f"UPDATE {t} SET v = 40 WHERE id = 4")
    q(conn, "ROLLBACK")
    expect_eq(q(other, f"SELECT v FROM {t} WHERE id = 4"), ((4,),), "value after SQL ROLLBACK")


def check_lastrowid(conn, args, runner):
    t = f"{args.prefix}_auto"
    make_table(conn, t, "id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT")
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {t} (v) VALUES (%s)", (10,))
        first = cur.lastrowid
        cur.execute(f"INSERT INTO {t} (v) VALUES (%s)", (11,))
        second = cur.lastrowid
        expect(first >= 1 and second == first + 1, f"lastrowid: {first}, {second}")
        expect_eq(conn.insert_id(), second, "insert_id()")
        cur.execute("SELECT LAST_INSERT_ID()")
        expect_eq(cur.fetchone()[0], second, "LAST_INSERT_ID() after two inserts")
        conn.commit()


def check_errors(conn, args, runner):
    t = f"{args.prefix}_err"
    make_table(conn, t, "id INT PRIMARY KEY")
    cases = [
        ("SELECT * FROM no_such_table_xyz", pymysql.err.ProgrammingError, 1146),
        ("SELEC 1", pymysql.err.ProgrammingError, 1064),
        (f"INSERT INTO {t} VALUES (1), (1)", pymysql.err.IntegrityError, 1062),
        ("SELECT no_such_column FROM DUAL", pymysql.err.OperationalError, 1054),
    ]
    for sql, cls, code in cases:
        try:
            q(conn, sql)
        except pymysql.err.MySQLError as e:
            expect(isinstance(e, cls), f"{sql!r}: got {type(e).__name__} {e}, want {cls.__name__}")
            expect_eq(e.args[0], code, f"error code of {sql!r}")
        else:
            raise AssertionError(f"{sql!r} succeeded")
        # The session goes on after each error.
        expect_eq(q(conn, "SELECT 42"), ((42,),), f"query after the error of {sql!r}")
    conn.rollback()


def check_multi_statements(args, runner):
    conn = pymysql.connect(**connect_kwargs(args, client_flag=CLIENT.MULTI_STATEMENTS))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 AS a; SELECT 'two' AS b, 2; DO 0; SELECT 3")
            results = [tuple(cur.fetchall())]
            while cur.nextset():
                results.append(tuple(cur.fetchall()))
            expect_eq(results, [((1,),), (("two", 2),), (), ((3,),)], "result sets of a multi-statement query")
            # An error in the middle ends the batch; the session stays usable.
            try:
                cur.execute("SELECT 1; SELECT * FROM no_such_table_xyz; SELECT 3")
                while cur.nextset():
                    pass
            except pymysql.err.ProgrammingError as e:
                expect_eq(e.args[0], 1146, "error in a multi-statement batch")
            else:
                raise AssertionError("a batch with a missing table succeeded")
            cur.execute("SELECT 5")
            expect_eq(cur.fetchall(), ((5,),), "query after a failed batch")
    finally:
        conn.close()


def check_large_value(conn, args, runner):
    t = f"{args.prefix}_large"
    make_table(conn, t, "id INT PRIMARY KEY, v LONGTEXT")
    # 17 MiB: the query and the row both cross the 16 MiB packet boundary (split into several packets).
    big = ("abc\u00e9\\'\"" * (17 * 1024 * 1024 // 9 + 1))[: 17 * 1024 * 1024]
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {t} VALUES (1, %s)", (big,))
        conn.commit()
        cur.execute(f"SELECT v, LENGTH(v), MD5(v) FROM {t} WHERE id = 1")
        v, n, md5 = cur.fetchone()

    expect_eq(n, len(big.encode()), "LENGTH of the large value")
    expect_eq(md5, hashlib.md5(big.encode()).hexdigest(), "MD5 of the large value")
    expect(v == big, "large value read back differs")


def check_unbuffered(conn, args, runner):
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute("SELECT seq, REPEAT('x', seq % 100) FROM seq_1_to_20000")
        n = 0
        total = 0
        for row in cur:
            n += 1
            total += row[0]
        expect_eq((n, total), (20000, 20000 * 20001 // 2), "rows streamed by SSCursor")
    # Abandon an unbuffered result half-way: PyMySQL drains it, then the session continues.
    cur = conn.cursor(pymysql.cursors.SSCursor)
    cur.execute("SELECT seq FROM seq_1_to_50000")
    for _ in range(10):
        cur.fetchone()
    cur.close()
    expect_eq(q(conn, "SELECT 7"), ((7,),), "query after an abandoned unbuffered result")
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT 1 AS one, 'b' AS two")
        expect_eq(cur.fetchall(), [{"one": 1, "two": "b"}], "DictCursor rows")


def check_session_state(conn, args, runner):
    q(conn, "SET time_zone = '+02:00'")
    q(conn, "SET @cc_user_var = 'it''s \u00e9'")
    t = f"{args.prefix}_tmp"
    q(conn, f"CREATE TEMPORARY TABLE {t} (id INT)")
    q(conn, f"INSERT INTO {t} VALUES (1), (2)")
    for i in range(5):
        # Each statement may run on a different pooled backend connection unless the session is pinned.
        expect_eq(q(conn, "SELECT @@time_zone")[0][0], "+02:00", f"@@time_zone, statement {i}")
        expect_eq(q(conn, "SELECT @cc_user_var")[0][0], "it's \u00e9", f"user variable, statement {i}")
        expect_eq(q(conn, f"SELECT COUNT(*) FROM {t}")[0][0], 2, f"temporary table, statement {i}")
    q(conn, f"DROP TEMPORARY TABLE {t}")
    q(conn, "SET time_zone = DEFAULT")


def check_init_db_and_ping(conn, args, runner):
    conn.ping(reconnect=False)
    conn.select_db(args.db)
    expect_eq(q(conn, "SELECT DATABASE()")[0][0], args.db, "DATABASE() after COM_INIT_DB")
    try:
        conn.select_db("no_such_db_xyz")
    except pymysql.err.OperationalError as e:
        expect_eq(e.args[0], 1049, "COM_INIT_DB of an unknown database")
    else:
        raise AssertionError("COM_INIT_DB of an unknown database succeeded")
    expect_eq(q(conn, "SELECT DATABASE()")[0][0], args.db, "DATABASE() after a failed COM_INIT_DB")
    q(conn, f"USE `{args.db}`")
    conn.ping(reconnect=False)
    expect_eq(q(conn, "SELECT 1")[0][0], 1, "query after COM_PING")


def check_refusals(args, runner, when, unknown_db=True):
    code, msg = login_error(args, password=args.password + "-wrong")
    expect_eq(code, 1045, f"wrong password {when}: {msg}")
    code, msg = login_error(args, user="no_such_user_xyz")
    expect_eq(code, 1045, f"unknown user {when}: {msg}")
    if unknown_db:
        # The password is right: for caching_sha2_password this login fills the server's cache.
        code, msg = login_error(args, database="no_such_db_xyz")
        expect_eq(code, 1049, f"unknown database {when}: {msg}")


# ----- scenarios ----------------------------------------------------------------------------------------------------


def scenario_suite(args, runner, trace):
    # Refusals first: for caching_sha2_password this is a full authentication with a wrong password.
    runner.check("refusals_before_login", check_refusals, args, runner, "before the first login", False)
    conn, path1 = trace.connect(**connect_kwargs(args))
    runner.info["tls"] = tls_info(conn)
    runner.info["auth_paths"] = [path1]
    runner.check("auth_first_login", check_auth, path1, expected_auth(args, 0), "the first login")
    other, path2 = trace.connect(**connect_kwargs(args))
    runner.info["auth_paths"].append(path2)
    runner.check("auth_second_login", check_auth, path2, expected_auth(args, 1), "the second login")
    runner.check("tls_in_use", lambda: expect((tls_info(conn) is not None) == bool(args.ssl_ca), "TLS state"))
    runner.check("server_info", check_server_info, conn, args, runner)
    runner.check("types", check_types, conn, args, runner)
    runner.check("params_quotes_backslashes_unicode", check_params, conn, args, runner)
    runner.check("nulls", check_nulls, conn, args, runner)
    runner.check("executemany", check_executemany, conn, args, runner)
    runner.check("transactions", check_transactions, conn, other, args, runner)
    runner.check("lastrowid", check_lastrowid, conn, args, runner)
    runner.check("errors", check_errors, conn, args, runner)
    runner.check("multi_statements", check_multi_statements, args, runner)
    runner.check("large_value_17mib", check_large_value, conn, args, runner)
    runner.check("unbuffered_and_dict_cursors", check_unbuffered, conn, args, runner)
    runner.check("session_state", check_session_state, conn, args, runner)
    runner.check("init_db_and_ping", check_init_db_and_ping, conn, args, runner)
    # After a successful login (caching_sha2_password: the fast path now) refusals must still be refusals.
    runner.check("refusals_after_login", check_refusals, args, runner, "after a successful login")
    runner.check("close", lambda: (conn.close(), other.close()))


def scenario_no_backslash_escapes(args, runner, trace):
    conn, _ = trace.connect(**connect_kwargs(args, autocommit=True))
    t = f"{args.prefix}_nbe"
    make_table(conn, t, "id INT PRIMARY KEY, s VARCHAR(100)")
    q(conn, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
    value = "a\\b'c\\"
    steps = [("a query", lambda: q(conn, "SELECT 1")), ("COM_PING", lambda: conn.ping(False))]
    steps += [("COM_INIT_DB", lambda: conn.select_db(args.db)), ("USE", lambda: q(conn, f"USE `{args.db}`"))]
    steps += [("SHOW DATABASES", lambda: q(conn, "SHOW DATABASES"))]
    flags = {}

    def after(label, i, step):
        step()
        status = conn.server_status
        flags[label] = hex(status)
        # Write and read back a value with a backslash and a quote, escaped the way the flags tell PyMySQL to.
        try:
            q(conn, f"INSERT INTO {t} VALUES (%s, %s)", (i, value))
            got = q(conn, f"SELECT s FROM {t} WHERE id = %s", (i,))[0][0]
            outcome = "read back intact" if got == value else f"read back as {got!r}"
        except pymysql.err.MySQLError as e:
            got, outcome = None, f"failed: {e}"
        expect(
            status & 0x0200,
            f"after {label} the status flags are {status:#06x}: SERVER_STATUS_NO_BACKSLASH_ESCAPES (0x0200) is gone "
            f"although sql_mode still has NO_BACKSLASH_ESCAPES, so PyMySQL escapes with backslashes again; "
            f"INSERT of {value!r} then {outcome}",
        )
        expect_eq(got, value, f"value written after {label}")

    for i, (label, step) in enumerate(steps):
        runner.check(f"escaping_after_{label.replace(' ', '_').lower()}", after, label, i, step)
    runner.info["status_flags"] = flags
    conn.close()


def scenario_tls_storm(args, runner, trace):
    if not args.ssl_ca:
        raise SystemExit("tls-storm needs --ssl-ca")
    failures = []
    started = time.monotonic()
    for i in range(args.count):
        try:
            conn = pymysql.connect(**connect_kwargs(args))
            try:
                expect(tls_info(conn) is not None, "not TLS")
                expect_eq(q(conn, "SELECT 1"), ((1,),), "SELECT 1")
            finally:
                conn.close()
        except Exception as e:  # noqa: BLE001
            failures.append(f"login {i}: {type(e).__name__}: {e}")
    runner.info["tls_logins"] = args.count
    runner.info["tls_login_failures"] = len(failures)
    runner.info["seconds"] = round(time.monotonic() - started, 2)

    def all_ok():
        expect(
            not failures,
            f"{len(failures)} of {args.count} TLS logins failed; first ones:\n  " + "\n  ".join(failures[:5]),
        )

    runner.check("every_tls_login_succeeds", all_ok)


def main():
    p = common_args(__doc__.splitlines()[0])
    p.add_argument("--scenario", default="suite", choices=["suite", "no-backslash-escapes", "tls-storm"])
    args = p.parse_args()
    runner = Runner(f"PyMySQL {'.'.join(map(str, pymysql.VERSION[:3]))}", args)
    runner.info["python"] = sys.version.split()[0]
    runner.info["scenario"] = args.scenario
    trace = AuthTrace()
    try:
        {
            "suite": scenario_suite,
            "no-backslash-escapes": scenario_no_backslash_escapes,
            "tls-storm": scenario_tls_storm,
        }[args.scenario](args, runner, trace)
    except Exception as e:  # noqa: BLE001 - e.g. the login every check needs failed
        runner.failed.append(("scenario setup", e, traceback.format_exc()))
    runner.finish()


if __name__ == "__main__":
    main()
