"""Temporary tables, views, stages and file formats: they end with their session.

Snowflake drops a session's temporary objects when the session ends (docs
sql-reference/sql/create-table, "Temporary tables"; create-stage, TEMPORARY).
Snowpark writes `CREATE SCOPED TEMPORARY ...` for the objects it generates: a
scoped object is a temporary one, scoped to a stored procedure's call when made
inside one (Snowpark session.py: "we have to use 'temp' object instead of
'scoped temp' object in stored procedure"); outside a procedure it is simply
temporary.

DuckDB would put a temporary table in its own `temp` catalog, where a name
qualified with the database and schema (as Snowpark writes it) cannot find it.
Here a temporary table or view is created in its schema like any other, and
recorded with its session in a table of the account's global catalog; the
session's end drops what it recorded, and so does the next server start, for
sessions a stopped server never saw end. Unlike Snowflake, other sessions can
see such a table while it lives.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from duckdb import DuckDBPyConnection

from localsnow.names import ObjectName, qualify, quote_identifier, split_qualified
from localsnow.stages import StageStore

logger = logging.getLogger("localsnow.temporary")

TEMPORARY_TABLE = "_fs_global._fs_information_schema._ls_temporary_objects"
FILE_FORMATS_TABLE = "_fs_global._fs_information_schema._fs_file_formats"
Kind = Literal["TABLE", "VIEW", "STAGE", "FILE FORMAT"]

_COMMENTS = r"(?:\s*/\*.*?\*/)*"
_NAME = r'(?:"(?:[^"]|"")*"|[^\s;."(]+)(?:\.(?:"(?:[^"]|"")*"|[^\s;."(]+))*'
_CREATE_TEMPORARY = re.compile(
    r"^CREATE\s+(?P<replace>OR\s+REPLACE\s+)?(?:(?:LOCAL|GLOBAL)\s+)?(?P<temp>(?:SCOPED\s+)?(?:TEMP|TEMPORARY|VOLATILE)\s+)"
    rf"(?P<kind>TABLE|VIEW|STAGE|FILE\s+FORMAT)\b(?P<between>{_COMMENTS}\s+(?:IF\s+NOT\s+EXISTS\s+)?{_COMMENTS}\s*)"
    rf"(?P<name>{_NAME})",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_PERMANENT = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TRANSIENT\s+)?(?P<kind>TABLE|VIEW|STAGE|FILE\s+FORMAT)\b"
    rf"{_COMMENTS}\s+(?:IF\s+NOT\s+EXISTS\s+)?{_COMMENTS}\s*(?P<name>{_NAME})",
    re.IGNORECASE | re.DOTALL,
)
_DROP = re.compile(
    rf"^DROP\s+(?P<kind>TABLE|VIEW|STAGE|FILE\s+FORMAT)\b{_COMMENTS}\s+(?:IF\s+EXISTS\s+)?{_COMMENTS}\s*(?P<name>{_NAME})",
    re.IGNORECASE | re.DOTALL,
)
_RENAME = re.compile(
    rf"^ALTER\s+(?P<kind>TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?(?P<name>{_NAME}){_COMMENTS}\s+RENAME\s+TO\s+(?P<to>{_NAME})",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class TemporaryObject:
    kind: Kind
    name: ObjectName


def _kind(text: str) -> Kind:
    return " ".join(text.upper().split())  # type: ignore[return-value]


def _object(kind: str, name: str, database: str | None, schema: str | None) -> TemporaryObject | None:
    try:
        return TemporaryObject(_kind(kind), qualify(split_qualified(name), database, schema, "CREATE"))
    except Exception:
        return None


def prepare(sql: str, database: str | None, schema: str | None) -> tuple[str, TemporaryObject | None]:
    """The statement to run for a CREATE ... TEMPORARY, and the object to record once it succeeded.

    Tables and views lose their temporary keywords (see the module note); stages and file formats
    lose only SCOPED (fakesnow creates them temporary as they are).
    """
    match = _CREATE_TEMPORARY.match(sql)
    if not match:
        return sql, None
    temporary = _object(match["kind"], match["name"], database, schema)
    kind = _kind(match["kind"])
    keep = "" if kind in ("TABLE", "VIEW") else "TEMPORARY "
    statement = f"CREATE {match['replace'] or ''}{keep}{sql[match.start('kind') :]}"
    return statement, temporary


def create_table(duck: DuckDBPyConnection) -> None:
    duck.execute(
        f"CREATE TABLE IF NOT EXISTS {TEMPORARY_TABLE} (session_id BIGINT, kind VARCHAR, "
        "database_name VARCHAR, schema_name VARCHAR, name VARCHAR)"
    )


class TemporaryObjects:
    """Which session owns which temporary object; kept in the account's global catalog."""

    def __init__(self, duck: DuckDBPyConnection, stages: StageStore) -> None:
        self._duck = duck
        self._stages = stages
        create_table(duck)

    def _execute(self, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
        cur = self._duck.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            cur.close()

    def record(self, session_id: int, obj: TemporaryObject) -> None:
        self.forget(obj.kind, obj.name)
        name = obj.name
        self._execute(
            f"INSERT INTO {TEMPORARY_TABLE} VALUES (?, ?, ?, ?, ?)",
            [session_id, obj.kind, name.database, name.schema, name.name],
        )

    def forget(self, kind: str, name: ObjectName) -> None:
        """The name now belongs to a permanent object, or to nothing."""
        self._execute(
            f"DELETE FROM {TEMPORARY_TABLE} WHERE kind = ? AND database_name = ? AND schema_name = ? AND name = ?",
            [kind, name.database, name.schema, name.name],
        )

    def forget_scope(self, database: str, schema: str | None = None) -> None:
        if schema is None:
            self._execute(f"DELETE FROM {TEMPORARY_TABLE} WHERE database_name = ?", [database])
        else:
            self._execute(
                f"DELETE FROM {TEMPORARY_TABLE} WHERE database_name = ? AND schema_name = ?", [database, schema]
            )

    def rename(self, kind: str, old: ObjectName, new: ObjectName) -> None:
        self._execute(
            f"UPDATE {TEMPORARY_TABLE} SET database_name = ?, schema_name = ?, name = ? "
            "WHERE kind = ? AND database_name = ? AND schema_name = ? AND name = ?",
            [new.database, new.schema, new.name, kind, old.database, old.schema, old.name],
        )

    def observe(self, sql: str, database: str | None, schema: str | None) -> None:
        """After a statement succeeded: a permanent CREATE, a DROP or a RENAME changes what is temporary."""
        for pattern in (_CREATE_PERMANENT, _DROP):
            if match := pattern.match(sql):
                if obj := _object(match["kind"], match["name"], database, schema):
                    self.forget(obj.kind, obj.name)
                return
        if match := _RENAME.match(sql):
            old = _object(match["kind"], match["name"], database, schema)
            new = _object(match["kind"], match["to"], database, schema)
            if old and new:
                self.rename(old.kind, old.name, new.name)

    def end_session(self, session_id: int) -> int:
        return self._drop(f"WHERE session_id = {int(session_id)}")

    def end_all(self) -> int:
        """At server start: no session survives a restart, so neither does any temporary object."""
        dropped = self._drop("")
        rows = self._execute(
            "SELECT database_name, schema_name, name FROM _fs_global._fs_information_schema._fs_stages "
            "WHERE type LIKE '%TEMPORARY%'"
        )
        for database, schema, name in rows:
            self._stages.drop(ObjectName(str(database), str(schema), str(name)))
        return dropped + len(rows)

    def _drop(self, where: str) -> int:
        rows = self._execute(f"SELECT kind, database_name, schema_name, name FROM {TEMPORARY_TABLE} {where}")
        for kind, database, schema, name in rows:
            obj = TemporaryObject(kind, ObjectName(str(database), str(schema), str(name)))  # type: ignore[arg-type]
            try:
                self._drop_object(obj)
            except Exception:
                logger.exception("could not drop temporary %s %s", obj.kind, obj.name.dotted)
        self._execute(f"DELETE FROM {TEMPORARY_TABLE} {where}")
        return len(rows)

    def _drop_object(self, obj: TemporaryObject) -> None:
        name = obj.name
        if obj.kind == "STAGE":
            self._stages.drop(name)
            return
        if obj.kind == "FILE FORMAT":
            self._execute(
                f"DELETE FROM {FILE_FORMATS_TABLE} WHERE database_name = ? AND schema_name = ? AND name = ?",
                [name.database, name.schema, name.name],
            )
            return
        attached = {row[0] for row in self._execute("SELECT database_name FROM duckdb_databases()")}
        if name.database not in attached:
            return
        qualified = ".".join(quote_identifier(p) for p in (name.database, name.schema, name.name))
        self._execute(f"DROP {obj.kind} IF EXISTS {qualified}")
        logger.info("dropped temporary %s %s", obj.kind.lower(), name.dotted)
