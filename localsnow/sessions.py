"""Client sessions: what Snowflake keeps per login (id, role, warehouse, query history).

fakesnow keeps a DuckDB cursor per login token; this adds the session state
Snowflake has and fakesnow lacks. A session ends when the connector deletes it
(`POST /session?delete=true` on close) or when the server stops.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from fakesnow.conn import FakeSnowflakeConnection

from localsnow import daemon
from localsnow.responses import ResultSet

# The role a login gets unless it asks for one: the local user owns the account.
# Snowflake gives a user its DEFAULT_ROLE (docs sql-reference/sql/create-user); RBAC is not emulated.
DEFAULT_ROLE = daemon.ROLE
# The one pretend warehouse: every login gets it unless it names another (a user's
# DEFAULT_WAREHOUSE, docs sql-reference/sql/create-user). The connection kwargs carry it too.
DEFAULT_WAREHOUSE = daemon.WAREHOUSE
# How many query ids a session remembers for LAST_QUERY_ID(n), and how many small local
# results the server keeps for RESULT_SCAN (Snowflake keeps results 24 h; here memory bounds it).
_HISTORY = 1000
_LOCAL_RESULTS = 256


@dataclass
class LocalSession:
    id: int
    token: str
    conn: FakeSnowflakeConnection
    user: str
    role: str = DEFAULT_ROLE
    warehouse: str | None = DEFAULT_WAREHOUSE
    query_ids: deque[str] = field(default_factory=lambda: deque(maxlen=_HISTORY))
    running: set[int] = field(default_factory=set)

    def last_query_id(self, index: int = -1) -> str | None:
        """LAST_QUERY_ID(n): negative counts back from the latest, positive from the session's first
        (docs sql-reference/functions/last_query_id); None when there is no such query."""
        ids = self.query_ids
        if index < 0 and -index <= len(ids):
            return ids[index]
        if index > 0 and index <= len(ids):
            return ids[index - 1]
        return None


class SessionRegistry:
    """Live sessions by token, and results of locally answered statements for RESULT_SCAN."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: dict[str, LocalSession] = {}
        # Snowflake session ids are integers (docs system_cancel_all_queries: 1065153872298).
        self._ids = itertools.count(int(time.time() * 1000))
        self._requests = itertools.count(1)
        self._results: OrderedDict[str, ResultSet] = OrderedDict()

    def open(
        self, token: str, conn: FakeSnowflakeConnection, user: str, role: str, warehouse: str | None
    ) -> LocalSession:
        session = LocalSession(next(self._ids), token, conn, user, role, warehouse)
        with self._lock:
            self._by_token[token] = session
        return session

    def get(self, token: str) -> LocalSession | None:
        with self._lock:
            return self._by_token.get(token)

    def by_id(self, session_id: int) -> LocalSession | None:
        with self._lock:
            return next((s for s in self._by_token.values() if s.id == session_id), None)

    def close(self, token: str) -> LocalSession | None:
        with self._lock:
            return self._by_token.pop(token, None)

    def all(self) -> list[LocalSession]:
        with self._lock:
            return list(self._by_token.values())

    def start_request(self, session: LocalSession) -> int:
        request = next(self._requests)
        with self._lock:
            session.running.add(request)
        return request

    def end_request(self, session: LocalSession, request: int) -> None:
        with self._lock:
            session.running.discard(request)

    def cancel_all(self, session: LocalSession, current_request: int | None) -> int:
        """SYSTEM$CANCEL_ALL_QUERIES: interrupt the session's running statements (not the caller)."""
        with self._lock:
            others = len(session.running - {current_request})
        if others:
            session.conn._duck_conn.interrupt()
        return others

    def remember_result(self, query_id: str, result: ResultSet) -> None:
        with self._lock:
            self._results[query_id] = result
            while len(self._results) > _LOCAL_RESULTS:
                self._results.popitem(last=False)

    def local_result(self, query_id: str) -> ResultSet | None:
        with self._lock:
            return self._results.get(query_id)
