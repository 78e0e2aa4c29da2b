"""Shared plumbing of the client-compatibility scripts in this directory.

Every script runs named checks with a real client library against a MySQL-protocol server (the Shardgate proxy, or
MariaDB directly as the baseline), prints one JSON object on stdout and exits 0 when every check passed; otherwise
it prints what failed (with tracebacks) on stderr and exits 1. They are driven by tests/tests/clients.rs.
"""

import argparse
import json
import sys
import traceback

# Parameters that break naive escaping or encodings: quotes, backslashes, placeholder look-alikes, control
# characters, NUL, 3- and 4-byte UTF-8, right-to-left override.
TRICKY_STRINGS = [
    "O'Reilly",
    'say "hi"',
    "back\\slash",
    "trailing backslash\\",
    "\\'; DROP TABLE x; -- ",
    "'' '' ''",
    "%s %d %(name)s {} ?",
    "tab\tnew\nline\rcr",
    "nul\x00byte",
    "ctrl-z \x1a end",
    "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e",
    "emoji \U0001f389\U0001f680 4-byte",
    "\u202eright-to-left",
    "",
    "  spaced  ",
]

TRICKY_BYTES = [b"\x00\x01\x02\xff\xfe", b"'\\\"", bytes(range(256))[:64]]


class CheckFailed(AssertionError):
    """A check's expectation did not hold."""


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def expect_eq(got, want, what):
    if got != want:
        raise CheckFailed(f"{what}: got {got!r}, want {want!r}")


def common_args(description):
    """The connection arguments every script takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", default="")
    p.add_argument("--db", required=True, help="database (keyspace) to work in")
    p.add_argument("--ssl-ca", help="CA file: connect with TLS and verify the server certificate and name")
    p.add_argument(
        "--plugin",
        default="mysql_native_password",
        choices=["mysql_native_password", "caching_sha2_password"],
        help="auth plugin of the user (what the expectations below are about)",
    )
    p.add_argument(
        "--expect-auth",
        default="any",
        help="comma-separated auth paths expected for the first logins, in order "
        "(native, fast, full-tls, full-rsa, fail:<errno>, any)",
    )
    p.add_argument("--prefix", default="cc", help="prefix of the tables this run creates")
    p.add_argument("--other-user", help="a second proxy user (COM_CHANGE_USER checks)")
    p.add_argument("--other-password", default="")
    p.add_argument("--count", type=int, default=100, help="connections for the tls-storm scenario")
    return p


class Runner:
    """Runs checks, records their outcome, and reports."""

    def __init__(self, client, args):
        self.client = client
        self.args = args
        self.info = {}
        self.passed = []
        self.failed = []

    def check(self, name, fn, *a, **kw):
        # Progress on stderr: if the process dies (a crash in a C extension), the last line names the check.
        print(f"# check {name}", file=sys.stderr, flush=True)
        try:
            result = fn(*a, **kw)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none aborts the run
            self.failed.append((name, e, traceback.format_exc()))
            return None
        self.passed.append(name)
        return result

    def finish(self):
        out = {
            "client": self.client,
            "ok": not self.failed,
            "passed": self.passed,
            "failed": [n for n, _, _ in self.failed],
        }
        out.update(self.info)
        print(json.dumps(out, indent=1, default=str))
        if self.failed:
            a = self.args
            print(
                f"{self.client}: {len(self.failed)} of {len(self.failed) + len(self.passed)} checks failed "
                f"(server {a.host}:{a.port}, user {a.user}, db {a.db}, tls {bool(a.ssl_ca)}):",
                file=sys.stderr,
            )
            for name, e, tb in self.failed:
                print(f"\n--- check {name} FAILED: {type(e).__name__}: {e}\n{tb}", file=sys.stderr)
            sys.exit(1)


def expected_auth(args, index):
    """The auth path expected for the index-th login ("any" when none given)."""
    items = [s.strip() for s in args.expect_auth.split(",") if s.strip()]
    if index < len(items):
        return items[index]
    return "any"


def check_auth(seen, want, what):
    if want != "any":
        expect_eq(seen, want, f"auth path of {what}")
