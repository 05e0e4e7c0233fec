"""What a statement handler gets (the session) and what it may answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fakesnow.conn import FakeSnowflakeConnection

from localsnow.responses import ResultSet

if TYPE_CHECKING:
    from localsnow.sessions import LocalSession
    from localsnow.state import ServerState

BUCKET_ROUTE = "/localsnow/bucket"


@dataclass
class Context:
    state: ServerState
    conn: FakeSnowflakeConnection
    base_url: str
    session: LocalSession
    # The statement's bound parameters as the request carries them (positional "1", "2", ...).
    bindings: dict[str, Any] | None = None
    # This request's number among the session's running statements (SYSTEM$CANCEL_ALL_QUERIES).
    request: int | None = None

    @property
    def account(self) -> str:
        return self.state.account

    @property
    def database(self) -> str | None:
        return self.conn.database

    @property
    def schema(self) -> str | None:
        return self.conn.schema

    def bucket_url(self, relative: str) -> str:
        """A signed URL through which the connector uploads or downloads one stage file."""
        return f"{self.base_url}{BUCKET_ROUTE}/{quote(relative)}?sig={self.state.sign(relative)}"


@dataclass
class Transfer:
    """A PUT/GET answer: the connector then moves the files itself."""

    data: dict[str, Any]


@dataclass
class Delegate:
    """Run on fakesnow: the original text (sql=None) through fakesnow's own route, or a
    rewritten one; `like` filters SHOW rows by name; `after` runs once it succeeded."""

    sql: str | None = None
    like: str | None = None
    after: Callable[[], None] | None = None


Outcome = ResultSet | Transfer | Delegate
