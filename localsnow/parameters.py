"""Session and account parameters the embedded Snowflake honours: STATEMENT_TIMEOUT_IN_SECONDS.

STATEMENT_TIMEOUT_IN_SECONDS: "Amount of time, in seconds, after which a running SQL statement
(query, DDL, DML, etc.) is canceled by the system. Values: 0 to 604800 (i.e. 7 days) — a value of 0
specifies that the maximum timeout value is enforced. Default: 172800 (i.e. 2 days)"
(https://docs.snowflake.com/en/sql-reference/parameters#statement-timeout-in-seconds, as quoted by
infinitelambda/dbt-snowflake-evaluator docs/Rules/Account/parameter_statement_timeout_in_seconds.md).
A session parameter is set at login (the connector's `session_parameters`, sent as the login
request's SESSION_PARAMETERS: connector auth/_auth.py) or by ALTER SESSION, and overrides the
account's (ALTER ACCOUNT), which overrides the default (docs sql-reference/parameters, parameter
hierarchy). Warehouse-level values are not modelled. Account values last until the server stops.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any

from snowflake.connector.errors import ProgrammingError

from localsnow import errors
from localsnow.context import Context, Delegate
from localsnow.responses import ResultSet, status_result

STATEMENT_TIMEOUT = "STATEMENT_TIMEOUT_IN_SECONDS"
DEFAULT_STATEMENT_TIMEOUT_S = 172800
MAX_STATEMENT_TIMEOUT_S = 604800

_ALTER = re.compile(
    r"^ALTER\s+(?P<scope>SESSION|ACCOUNT)\s+(?P<verb>SET|UNSET)\s+(?P<items>.+?)\s*;?\s*$", re.IGNORECASE | re.DOTALL
)
_SET_ITEM = re.compile(r"^\s*(?P<name>\w+)\s*=\s*(?P<value>\S+)\s*$")


def _timeout_value(text: object) -> int:
    try:
        value = int(str(text).strip().strip("'"))
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_STATEMENT_TIMEOUT_S:
        raise errors.sql_error(
            f"Invalid value [{text}] for parameter '{STATEMENT_TIMEOUT}': "
            f"a whole number of seconds from 0 to {MAX_STATEMENT_TIMEOUT_S} (0: the maximum)."
        )
    return value


class Parameters:
    """The account's values and each session's (keyed by its fakesnow connection); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._account: dict[str, int] = {}
        self._sessions: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()

    def login(self, conn: Any, session_parameters: dict[str, Any] | None) -> None:
        """The parameters a login asked for; an invalid one is ignored, as the login would not fail on it."""
        for name, value in (session_parameters or {}).items():
            if name.upper() == STATEMENT_TIMEOUT:
                try:
                    self.set(conn, STATEMENT_TIMEOUT, _timeout_value(value))
                except ProgrammingError:
                    continue

    def set(self, conn: Any | None, name: str, value: int | None) -> None:
        """Set (or, with None, unset) a parameter for the session of `conn`, or the account when None."""
        with self._lock:
            values = self._account if conn is None else self._sessions.setdefault(conn, {})
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value

    def statement_timeout(self, conn: Any) -> int | None:
        """Seconds a statement of this session may run, or None when only the default (2 days) applies."""
        with self._lock:
            value = self._sessions.get(conn, {}).get(STATEMENT_TIMEOUT, self._account.get(STATEMENT_TIMEOUT))
        if value is None:
            return None
        return value or MAX_STATEMENT_TIMEOUT_S


def alter_parameters(ctx: Context, sql: str) -> ResultSet | Delegate:
    """ALTER SESSION|ACCOUNT SET|UNSET STATEMENT_TIMEOUT_IN_SECONDS; any other parameter stays fakesnow's."""
    match = _ALTER.match(sql.strip())
    if not match:
        return Delegate()
    items = [item.strip() for item in match["items"].split(",")]
    names = [(_SET_ITEM.match(item)["name"] if _SET_ITEM.match(item) else item).upper() for item in items]
    if any(name != STATEMENT_TIMEOUT for name in names):
        return Delegate()
    conn = ctx.conn if match["scope"].upper() == "SESSION" else None
    parameters: Parameters = ctx.state.runtime.parameters
    if match["verb"].upper() == "UNSET":
        parameters.set(conn, STATEMENT_TIMEOUT, None)
    else:
        for item in items:
            setting = _SET_ITEM.match(item)
            if setting is None:
                raise errors.compilation_error(f"syntax error: expected {STATEMENT_TIMEOUT} = <seconds>")
            parameters.set(conn, STATEMENT_TIMEOUT, _timeout_value(setting["value"]))
    return status_result("Statement executed successfully.")
