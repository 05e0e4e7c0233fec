"""A lock in the account, per target schema, so two appliers from anywhere cannot interleave.

The lock is a table, ``<db>.<schema>.T5_DEPLOY_LOCK``, created with a plain ``CREATE TABLE`` (no
``OR REPLACE``, no ``IF NOT EXISTS``): Snowflake creates it for exactly one caller and answers every
other ``002002 Object '...' already exists`` (docs sql-reference/sql/create, "General usage notes";
sql-reference/sql/create-table). Its comment says who holds it (connection user, host, CI run, a
random token) and since when (Snowflake's own clock, so runners' clocks do not matter). The holder drops
it at the end, also on failure. A lock older than the stale limit is reported with how to break it,
never broken silently (as Terraform's state lock and `terraform force-unlock`, docs
terraform/language/state/locking). A table keeps the lock out of what the reconciler observes (stages,
functions), so a plan never shows it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import datetime

from deploy.errors import DeployError, SnowflakeError
from deploy.session import Session
from deploy.sql import literal, qualified

LOCK_TABLE = "T5_DEPLOY_LOCK"
STALE_MINUTES_ENV = "T5_DEPLOY_LOCK_STALE_MINUTES"
DEFAULT_STALE_MINUTES = 30.0
UNLOCK_HINT = "`deploy unlock --force`"

ALREADY_EXISTS = 2002  # Snowflake's errno for a CREATE of an existing object
DOES_NOT_EXIST = 2003  # ... and for a name in a missing database or schema


class Locked(DeployError):
    """Another applier holds the lock of a target schema."""


class SchemaMissing(DeployError):
    """The schema that would hold the lock does not exist (yet)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: no pid (it means nothing on another machine), a token instead."""

    user: str
    host: str
    token: str
    started: str  # ISO timestamp from Snowflake's CURRENT_TIMESTAMP()
    run: str = ""  # the CI run, where there is one
    operation: str = "apply"

    def to_comment(self) -> str:
        return json.dumps({"t5_deploy_lock": asdict(self)}, sort_keys=True)

    @classmethod
    def from_comment(cls, comment: str | None) -> Holder | None:
        try:
            fields = json.loads(comment or "")["t5_deploy_lock"]
            return cls(**{k: str(fields.get(k, "")) for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        run = f", run {self.run}" if self.run else ""
        return f"{self.user} on {self.host}{run} ({self.operation}, since {self.started}, lock id {self.token})"


@dataclass(frozen=True)
class HeldLock:
    database: str
    schema: str
    holder: Holder | None  # None: the table is there but its comment is not a lock's
    age_seconds: float | None

    @property
    def target(self) -> str:
        return f"{self.database}.{self.schema}"


def stale_after_seconds() -> float:
    raw = os.environ.get(STALE_MINUTES_ENV, "")
    try:
        minutes = float(raw) if raw else DEFAULT_STALE_MINUTES
    except ValueError:
        raise DeployError(f"{STALE_MINUTES_ENV}={raw!r} is not a number of minutes") from None
    return minutes * 60


def _ci_run() -> str:
    # GitHub Actions' documented default variables (docs.github.com, "Variables reference").
    if os.environ.get("GITHUB_RUN_ID"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
    return ""


def new_holder(session: Session, operation: str = "apply") -> Holder:
    row = session.query("SELECT CURRENT_USER() AS U, CURRENT_TIMESTAMP() AS NOW")[0]
    started = row["now"].isoformat() if isinstance(row["now"], datetime) else str(row["now"])
    return Holder(str(row["u"] or ""), socket.gethostname(), secrets.token_hex(8), started, _ci_run(), operation)


def read(session: Session, database: str, schema: str) -> HeldLock | None:
    """The lock of ``database.schema``, or None when nobody holds it."""
    rows = session.query(
        f"SELECT COMMENT, CURRENT_TIMESTAMP() AS NOW FROM {qualified(database)}.INFORMATION_SCHEMA.TABLES"
        f" WHERE TABLE_SCHEMA = {literal(schema)} AND TABLE_NAME = {literal(LOCK_TABLE)}"
    )
    if not rows:
        return None
    holder = Holder.from_comment(rows[0]["comment"])
    age = None
    if holder is not None and isinstance(rows[0]["now"], datetime):
        try:
            age = (rows[0]["now"] - datetime.fromisoformat(holder.started)).total_seconds()
        except (ValueError, TypeError):
            age = None
    return HeldLock(database, schema, holder, age)


def locked_message(held: HeldLock | None, database: str, schema: str) -> str:
    where = f"{database}.{schema}"
    if held is None or held.holder is None:
        who = "an unknown holder" if held is not None else "another applier (it was released just now; retry)"
        return f"{where} is locked by {who}; if no apply is running, break it with {UNLOCK_HINT}"
    limit = stale_after_seconds()
    base = f"{where} is locked by {held.holder.describe()}"
    if held.age_seconds is not None and held.age_seconds > limit:
        return (
            f"{base}: the lock is stale (held {held.age_seconds / 60:.0f} min, longer than {limit / 60:.0f} min,"
            f" {STALE_MINUTES_ENV}). If that run is gone, break it with {UNLOCK_HINT} and re-run"
        )
    return f"{base}. Another apply is running: wait for it and re-run (or, if that run died, {UNLOCK_HINT})"


def acquire(session: Session, database: str, schema: str, holder: Holder) -> None:
    """Take the lock of one schema or raise ``Locked`` (naming the holder) / ``SchemaMissing``."""
    try:
        session.execute(
            f"CREATE TABLE {qualified(database, schema, LOCK_TABLE)} (HELD_BY VARCHAR)"
            f" COMMENT = {literal(holder.to_comment())}"
        )
    except SnowflakeError as e:
        if e.errno == ALREADY_EXISTS:
            raise Locked(locked_message(read(session, database, schema), database, schema)) from None
        if e.errno == DOES_NOT_EXIST:
            raise SchemaMissing(f"{database}.{schema} does not exist") from None
        raise


def release(session: Session, database: str, schema: str, holder: Holder) -> None:
    """Drop the lock if it is still ours (an `unlock --force` may have broken it meanwhile)."""
    held = read(session, database, schema)
    if held is not None and held.holder is not None and held.holder.token == holder.token:
        session.execute(f"DROP TABLE IF EXISTS {qualified(database, schema, LOCK_TABLE)}")


def force_unlock(session: Session, database: str, schema: str) -> HeldLock | None:
    """Break whatever lock ``database.schema`` has; the lock that was broken, or None."""
    held = read(session, database, schema)
    if held is not None:
        session.execute(f"DROP TABLE IF EXISTS {qualified(database, schema, LOCK_TABLE)}")
    return held


@dataclass
class Held:
    holder: Holder
    ensured: bool = False  # the `ensure` statements ran: a lock's schema did not exist before


@contextmanager
def held(
    session: Session,
    schemas: Iterable[tuple[str, str]],
    holder: Holder,
    *,
    ensure: Iterable[str] = (),
    missing_ok: bool = False,
) -> Iterator[Held]:
    """Hold the locks of ``schemas`` (sorted, so two appliers never take them crosswise), released on exit.

    ``ensure``: the statements that create a missing schema (the plan's own idempotent ``CREATE DATABASE /
    SCHEMA IF NOT EXISTS``); run when a lock's schema does not exist yet, as apply would run them first.
    ``missing_ok``: skip a schema that does not exist (destroy has nothing to do there).
    """
    taken: list[tuple[str, str]] = []
    ensure = tuple(ensure)
    state = Held(holder)
    try:
        for database, schema in sorted(set(schemas)):
            try:
                acquire(session, database, schema, holder)
            except SchemaMissing:
                if missing_ok:
                    continue
                if not ensure:
                    raise
                for statement in ensure:
                    session.execute(statement)
                state.ensured = True
                acquire(session, database, schema, holder)
            taken.append((database, schema))
        yield state
    finally:
        for database, schema in reversed(taken):
            # If the connection died the lock stays, and is reported as stale later.
            with suppress(SnowflakeError):
                release(session, database, schema, holder)
