"""Run a (rewritten) statement on a fakesnow session and answer as fakesnow's server would.

fakesnow's route turns unexpected errors into HTTP 500, which the connector
retries until its network timeout; here every failure becomes a Snowflake
error body, and a UDF failure carries the handler's traceback.
"""

from __future__ import annotations

import logging
from base64 import b64encode
from typing import Any

import pyarrow.compute as pc
import snowflake.connector.errors as sf_errors
from fakesnow.arrow import to_ipc, to_sf
from fakesnow.conn import FakeSnowflakeConnection
from fakesnow.dialect import parse_one
from fakesnow.rowtype import describe_as_rowtype
from fakesnow.statement_type import DML_TYPE_IDS, INSERT, SELECT, statement_type_id
from sqlglot import exp

from localsnow import errors
from localsnow.responses import error_body
from localsnow.udf_runtime import UdfRuntime

logger = logging.getLogger("localsnow.execution")


def execute(
    conn: FakeSnowflakeConnection,
    sql: str,
    params: Any,
    runtime: UdfRuntime,
    like: str | None = None,
    describe_only: bool = False,
) -> dict[str, Any]:
    """Execute `sql`; `like` keeps only rows whose name matches (SHOW ... LIKE).

    `describe_only` (a client's describeOnly request, e.g. Snowpark resolving a DataFrame's
    schema) answers the result's columns without running the query where fakesnow can, as
    fakesnow's own route does: a UDF call is then not run over the whole table.
    """
    cur = conn.cursor()
    try:
        # The UDF definitions it names stay while it runs (CREATE OR REPLACE is atomic for callers);
        # STATEMENT_TIMEOUT_IN_SECONDS bounds it (localsnow.udf_runtime.UdfRuntime.statement).
        with runtime.statement(sql, conn) as sql:
            expression = parse_one(sql)
            type_id = statement_type_id(expression)
            if describe_only and (described := cur._describe_only(sql)) is not None:
                binds = len(list(expression.find_all(exp.Placeholder)))
                return _described(conn, cur.sfqid, describe_as_rowtype(described), type_id, binds)
            cur.execute(sql, binding_params=params, server=True)
            rowtype = describe_as_rowtype(cur._describe_last_sql())
    except Exception as error:
        return error_body(_as_snowflake_error(error, runtime, sql))
    table = cur._arrow_table
    if table is not None and like is not None and "name" in table.column_names:
        table = table.filter(pc.match_like(table["name"], like, ignore_case=True))
    if table is not None and type_id in DML_TYPE_IDS:
        rows = zip(*[c.to_pylist() for c in table.columns], strict=True)
        result: dict[str, Any] = {
            "queryResultFormat": "json",
            "rowset": [[None if v is None else str(v) for v in row] for row in rows],
        }
    elif table is not None:
        encoded = b64encode(to_ipc(to_sf(table, rowtype))).decode("ascii")
        result = {"queryResultFormat": "arrow", "rowsetBase64": encoded}
    else:
        result = {"queryResultFormat": "arrow", "rowsetBase64": ""}
    return {
        "data": {
            "parameters": [{"name": "TIMEZONE", "value": "Etc/UTC"}],
            "rowtype": rowtype,
            "total": table.num_rows if table is not None else 0,
            "queryId": cur.sfqid,
            "statementTypeId": type_id,
            "finalDatabaseName": conn.database,
            "finalSchemaName": conn.schema,
            **result,
        },
        "success": True,
    }


def _described(
    conn: FakeSnowflakeConnection, query_id: str | None, rowtype: Any, type_id: int, binds: int
) -> dict[str, Any]:
    """A describeOnly answer: columns, no rows (as fakesnow.server.describe_only_response)."""
    empty: dict[str, Any] = (
        {"queryResultFormat": "arrow", "rowsetBase64": ""}
        if type_id == SELECT
        else {"queryResultFormat": "json", "rowset": []}
    )
    return {
        "data": {
            "rowtype": rowtype,
            "total": 0,
            "returned": 0,
            "queryId": query_id,
            "statementTypeId": type_id,
            "numberOfBinds": binds,
            "arrayBindSupported": type_id == INSERT,
            "finalDatabaseName": conn.database,
            "finalSchemaName": conn.schema,
            **empty,
        },
        "success": True,
    }


def _as_snowflake_error(error: Exception, runtime: UdfRuntime, sql: str) -> sf_errors.DatabaseError:
    if message := runtime.take_error(str(error)):
        return errors.python_udf_error(message)
    if (name := errors.duckdb_already_exists(str(error))) is not None:
        return errors.already_exists(name)
    if isinstance(error, sf_errors.DatabaseError):
        return error
    logger.warning("statement failed: %s: %s", type(error).__name__, error)
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return errors.sql_error(f"SQL execution error: {first_line}", 100000, "22000")
