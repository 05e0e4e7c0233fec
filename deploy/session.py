"""A thin wrapper over a connector connection: runs SQL, counts what ran, names failures.

The reconciler talks to real and embedded Snowflake only through this, so the
statement log it keeps is exactly what an account saw.

Bounded waits. Connector 4.x gives a statement one number, ``network_timeout``: it is
both the budget for retrying failed HTTP requests (network.py ``fetch``: a ``RetryCtx``
whose timeout is the cursor's) and the timer that cancels the statement (cursor.py
``execute``: ``_TrackedQueryCancellationTimer(real_timeout, __cancel_query)``). A short
one would cancel a UDF that legitimately runs for minutes; a long one leaves a client
retrying a dead server for that long (and the cancel it then sends retries as long
again). So the statement runs on a worker thread while this thread asks the server
whether it still answers (:mod:`deploy.liveness`); a server that has not answered for
``unreachable_after`` seconds ends the statement with :class:`ConnectionLost`.

Retries. The connector already retries each HTTP request (connection drops, read
timeouts, HTTP 5xx: network.py ``_request_exec`` raises ``RetryRequest``) until
``network_timeout``, re-posting a query with its ``requestId`` and ``retryCount``.
What it gives up on is retried here once more per attempt, with backoff, only for a
statement that is safe to run twice (:func:`repeatable`); anything else ends with an
error that says it may have run.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snowflake.connector import errorcode
from snowflake.connector.errors import Error as ConnectorError

from deploy.errors import DeployError, SnowflakeError

log = logging.getLogger("deploy.sql")

# Connector errnos that mean "no answer from the server", not "the statement failed":
# request failures after the retry budget (network.py handle_invalid_certificate_error /
# _handle_unknown_error: ER_FAILED_TO_REQUEST), a closed connection, login-time timeouts.
NETWORK_ERRNOS = frozenset({
    errorcode.ER_FAILED_TO_CONNECT_TO_DB, errorcode.ER_CONNECTION_IS_CLOSED, errorcode.ER_FAILED_TO_REQUEST,
    errorcode.ER_CONNECTION_TIMEOUT, errorcode.ER_RETRYABLE_CODE,
})  # fmt: skip
# Attempts after the first, and the pause before each, for a repeatable statement.
RETRY_BACKOFF_S = (2.0, 5.0)
# How often a running statement's server is asked whether it is alive.
PROBE_EVERY_S = 3.0

# Statements that leave the account as one run would: reads, and DDL that states its result.
_READ = re.compile(r"^\s*(SHOW|DESCRIBE|DESC|LIST|LS|SELECT|WITH|GET|USE)\b", re.IGNORECASE)
_IDEMPOTENT_DDL = re.compile(
    r"^\s*(CREATE\s+OR\s+REPLACE\b|CREATE\s+(?:[A-Z]+\s+){1,3}IF\s+NOT\s+EXISTS\b|DROP\s+(?:[A-Z]+\s+){1,2}IF\s+EXISTS\b)",
    re.IGNORECASE,
)
# PUT of a content-addressed path with OVERWRITE=TRUE writes the same bytes again.
_PUT_OVERWRITE = re.compile(r"^\s*PUT\s.*\bOVERWRITE\s*=\s*TRUE\b", re.IGNORECASE | re.DOTALL)


def repeatable(sql: str) -> bool:
    """Whether running ``sql`` twice leaves the account as running it once."""
    return bool(_READ.match(sql) or _IDEMPOTENT_DDL.match(sql) or _PUT_OVERWRITE.match(sql))


class ConnectionLost(DeployError):
    """The server stopped answering during a statement; the message says what to check."""


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.statements)

    def count_kind(self, *prefixes: str) -> int:
        return sum(1 for s in self.statements if s.lstrip().upper().startswith(prefixes))


@dataclass
class Watch:
    """How a session notices a dead server: a probe (True: answers), the grace, what to tell the user."""

    probe: Callable[[], bool]
    unreachable_after: float
    hint: str


class _NoAnswer(Exception):
    """The connector gave up on the network, or the probe says the server is gone."""

    def __init__(self, detail: str, gone: bool):
        super().__init__(detail)
        self.detail, self.gone = detail, gone


class Session:
    def __init__(self, conn: Any, watch: Watch | None = None):
        self.conn = conn
        self.log = StatementLog()
        if watch is None:
            from deploy.connection import watch_for  # the connection module knows where conn points

            watch = watch_for(conn)
        self.watch = watch
        self._lost = False

    def query(self, sql: str, *, keep_names: bool = False) -> list[dict[str, Any]]:
        """Run one statement; rows as dicts keyed by lower-case column name, or by the names
        as Snowflake gives them with `keep_names` (what `deploy sql` prints)."""
        if self._lost:
            raise ConnectionLost(f"not run, the connection was lost before: {_shown(sql)}")
        t0 = time.perf_counter()
        log.debug("SQL: %s", sql)
        retries = RETRY_BACKOFF_S if repeatable(sql) else ()
        try:
            for attempt in range(len(retries) + 1):
                try:
                    return self._run(sql, keep_names)
                except _NoAnswer as e:
                    if e.gone or attempt == len(retries) or not self._alive():
                        self._lost = e.gone or not self._alive()
                        raise ConnectionLost(self._lost_message(sql, e, attempt + 1)) from None
                    log.warning("no answer (%s); retrying in %g s: %s", e.detail, retries[attempt], _shown(sql))
                    time.sleep(retries[attempt])
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self.log.statements.append(sql)
            self.log.seconds += time.perf_counter() - t0

    def execute(self, sql: str) -> list[dict[str, Any]]:
        return self.query(sql)

    def close(self) -> None:
        if not self._lost:
            self.conn.close()
            return
        # The server is gone: one logout attempt (close(retry=False)), not waited on for long.
        closer = threading.Thread(target=_quiet_close, args=(self.conn,), daemon=True)
        closer.start()
        closer.join(timeout=2.0)

    # -- internals ---------------------------------------------------------

    def _run(self, sql: str, keep_names: bool) -> list[dict[str, Any]]:
        """The statement on a worker thread; this thread watches the server while it runs."""
        if self.watch is None:  # nothing to watch with (a connection not opened by deploy.connection)
            try:
                return _execute(self.conn, sql, keep_names)
            except ConnectorError as error:
                raise _classified(sql, error) from None
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                outcome["rows"] = _execute(self.conn, sql, keep_names)
            except BaseException as e:  # handed to the caller's thread
                outcome["error"] = e
            finally:
                done.set()

        # Daemon: a statement stuck on a dead server must not keep the process alive.
        threading.Thread(target=work, name="deploy-statement", daemon=True).start()
        silent_since: float | None = None
        try:
            while not done.wait(PROBE_EVERY_S):
                asked = time.monotonic()
                if self.watch.probe():
                    silent_since = None
                    continue
                # Silent since the last probe that was answered, at least since this one was sent.
                silent_since = silent_since if silent_since is not None else asked - PROBE_EVERY_S
                now = time.monotonic()
                if now - silent_since >= self.watch.unreachable_after:
                    raise _NoAnswer(f"no answer from the server for {now - silent_since:.0f} s", gone=True)
        except KeyboardInterrupt:
            # The connector cancels on Ctrl-C only from the main thread (cursor.py interrupt_handler).
            self._cancel_session_queries()
            raise
        if "error" in outcome:
            error = outcome["error"]
            raise _classified(sql, error) if isinstance(error, ConnectorError) else error
        return outcome["rows"]

    def _cancel_session_queries(self) -> None:
        """Ask the server to stop this session's statements (docs: SYSTEM$CANCEL_ALL_QUERIES); bounded."""
        session_id = getattr(self.conn, "session_id", None)
        if not isinstance(session_id, int):
            return

        def cancel() -> None:
            try:
                _execute(self.conn, f"SELECT SYSTEM$CANCEL_ALL_QUERIES({session_id})", keep_names=False)
            except Exception as e:  # best effort: the user is leaving
                log.debug("cancel after Ctrl-C: %s", type(e).__name__)

        canceller = threading.Thread(target=cancel, daemon=True)
        canceller.start()
        canceller.join(timeout=10.0)

    def _alive(self) -> bool:
        return self.watch is None or self.watch.probe()

    def _lost_message(self, sql: str, e: _NoAnswer, attempts: int) -> str:
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        if repeatable(sql):
            outcome = "It changes nothing if run again."
        else:
            outcome = "It may or may not have run, so it was not retried: `deploy plan` shows what the account holds."
        hint = self.watch.hint if self.watch else "check the network and the server"
        return f"the connection was lost{tried}: {e.detail}\n  while running: {_shown(sql)}\n  {outcome}\n  {hint}"


def _classified(sql: str, error: ConnectorError) -> Exception:
    """A connector error as a failed statement (SnowflakeError) or as no answer at all."""
    detail = getattr(error, "msg", None) or str(error)
    if getattr(error, "errno", None) in NETWORK_ERRNOS:
        return _NoAnswer(detail, gone=False)
    return SnowflakeError(sql, detail, getattr(error, "errno", None), getattr(error, "sfqid", None))


def _execute(conn: Any, sql: str, keep_names: bool) -> list[dict[str, Any]]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        cols = [d[0] if keep_names else d[0].lower() for d in (cur.description or [])]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()] if cols else []
    finally:
        cur.close()


def _quiet_close(conn: Any) -> None:
    try:
        conn.close(retry=False)
    except Exception as e:  # a dead server cannot take the logout; nothing to do about it
        log.debug("close after a lost connection: %s", type(e).__name__)


def _shown(sql: str) -> str:
    return sql if len(sql) < 300 else sql[:300] + " ..."
