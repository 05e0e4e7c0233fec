"""A thin wrapper over a connector connection: runs SQL, counts what ran, names failures.

The reconciler talks to real and embedded Snowflake only through this, so the
statement log it keeps is exactly what an account saw.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from snowflake.connector.errors import Error as ConnectorError

from deploy.errors import SnowflakeError

log = logging.getLogger("deploy.sql")


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.statements)

    def count_kind(self, *prefixes: str) -> int:
        return sum(1 for s in self.statements if s.lstrip().upper().startswith(prefixes))


class Session:
    def __init__(self, conn: Any):
        self.conn = conn
        self.log = StatementLog()

    def query(self, sql: str, *, keep_names: bool = False) -> list[dict[str, Any]]:
        """Run one statement; rows as dicts keyed by lower-case column name, or by the names
        as Snowflake gives them with `keep_names` (what `deploy sql` prints)."""
        cur = self.conn.cursor()
        t0 = time.perf_counter()
        log.debug("SQL: %s", sql)
        try:
            cur.execute(sql)
            cols = [d[0] if keep_names else d[0].lower() for d in (cur.description or [])]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()] if cols else []
        except ConnectorError as e:
            raise SnowflakeError(
                sql, getattr(e, "msg", None) or str(e), getattr(e, "errno", None), getattr(e, "sfqid", None)
            ) from None
        finally:
            self.log.statements.append(sql)
            self.log.seconds += time.perf_counter() - t0
            cur.close()
        return rows

    def execute(self, sql: str) -> list[dict[str, Any]]:
        return self.query(sql)

    def close(self) -> None:
        self.conn.close()
