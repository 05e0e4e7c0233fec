"""Snowflake REST response bodies for results the local Snowflake computes itself."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

from fakesnow import statement_type
from snowflake.connector.errors import DatabaseError

MAX_TEXT = 16777216


@dataclass(frozen=True)
class Column:
    """A result column; kind is the rowtype type: text, fixed, boolean, timestamp_ltz."""

    name: str
    kind: str = "text"

    def rowtype(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": self.name,
            "database": "",
            "schema": "",
            "table": "",
            "nullable": True,
            "type": self.kind,
            "byteLength": None,
            "length": None,
            "scale": None,
            "precision": None,
            "collation": None,
        }
        if self.kind == "text":
            info.update(byteLength=MAX_TEXT, length=MAX_TEXT)
        elif self.kind == "fixed":
            info.update(precision=38, scale=0)
        elif self.kind.startswith("timestamp"):
            info.update(precision=0, scale=9)
        return info


@dataclass
class ResultSet:
    columns: list[Column]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    statement_type_id: int = statement_type.UNKNOWN


def status_result(message: str, type_id: int = statement_type.DDL) -> ResultSet:
    return ResultSet([Column("status")], [(message,)], type_id)


def _json_value(value: Any) -> str | None:
    """The connector's JSON rowset holds strings, converted per the column's type."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime.datetime):
        return f"{value.timestamp():.9f}"
    return str(value)


def result_body(result: ResultSet, database: str | None, schema: str | None) -> dict[str, Any]:
    return {
        "data": {
            "parameters": [{"name": "TIMEZONE", "value": "Etc/UTC"}],
            "rowtype": [c.rowtype() for c in result.columns],
            "rowset": [[_json_value(v) for v in row] for row in result.rows],
            "total": len(result.rows),
            "returned": len(result.rows),
            "queryId": str(uuid.uuid4()),
            "queryResultFormat": "json",
            "statementTypeId": result.statement_type_id,
            "finalDatabaseName": database,
            "finalSchemaName": schema,
        },
        "success": True,
    }


def error_body(error: DatabaseError) -> dict[str, Any]:
    code = f"{error.errno or 0:06d}"
    return {
        "data": {"errorCode": code, "sqlState": error.sqlstate, "queryId": str(uuid.uuid4())},
        "code": code,
        # msg already carries "errno (sqlstate): sfqid:"; the connector adds its own.
        "message": error.raw_msg or error.msg,
        "success": False,
    }
