"""Warehouses and roles as a session sees them: CREATE/DROP/SHOW/USE WAREHOUSE, USE ROLE.

Nothing runs on a warehouse here, but clients check that one is set (Snowpark
`get_current_warehouse`, `snow connection test`). One warehouse always exists
(sessions.DEFAULT_WAREHOUSE); CREATE WAREHOUSE adds names that persist with the
account. Roles are not emulated: any role name is accepted and remembered.
"""

from __future__ import annotations

import datetime
import re

from duckdb import DuckDBPyConnection

from localsnow import errors
from localsnow.context import Context
from localsnow.like import like_regex, split_like
from localsnow.names import split_qualified
from localsnow.responses import Column, ResultSet, status_result
from localsnow.sessions import DEFAULT_WAREHOUSE

WAREHOUSES_TABLE = "_fs_global._fs_information_schema._ls_warehouses"
_NAME = r'(?P<name>"(?:[^"]|"")*"|[^\s;."]+)'
_CREATE = re.compile(
    rf"^CREATE\s+(?P<replace>OR\s+REPLACE\s+)?WAREHOUSE\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.IGNORECASE
)
_DROP = re.compile(rf"^DROP\s+WAREHOUSE\s+(?P<exists>IF\s+EXISTS\s+)?{_NAME}\s*;?\s*$", re.IGNORECASE)
_ALTER = re.compile(rf"^ALTER\s+WAREHOUSE\s+(?P<exists>IF\s+EXISTS\s+)?{_NAME}\s", re.IGNORECASE)
_USE = re.compile(rf"^USE\s+(?P<kind>WAREHOUSE|ROLE)\s+{_NAME}\s*;?\s*$", re.IGNORECASE)
_SUCCESS = "Statement executed successfully."


def create_table(duck: DuckDBPyConnection) -> None:
    duck.execute(f"CREATE TABLE IF NOT EXISTS {WAREHOUSES_TABLE} (name VARCHAR PRIMARY KEY, created_on TIMESTAMPTZ)")
    duck.execute(f"INSERT OR IGNORE INTO {WAREHOUSES_TABLE} VALUES (?, now())", [DEFAULT_WAREHOUSE])


def _name(text: str) -> str:
    (name,) = split_qualified(text)
    return name


def rows(duck: DuckDBPyConnection) -> list[tuple[str, datetime.datetime]]:
    cur = duck.cursor()
    try:
        return cur.execute(f"SELECT name, created_on FROM {WAREHOUSES_TABLE} ORDER BY name").fetchall()
    finally:
        cur.close()


def exists(ctx: Context, name: str) -> bool:
    return ctx.state.warehouse_exists(name)


def create_warehouse(ctx: Context, sql: str) -> ResultSet:
    """CREATE [OR REPLACE] WAREHOUSE [IF NOT EXISTS] <name> [properties]: properties are accepted and
    ignored. As in Snowflake, the new warehouse becomes the session's current one (docs
    sql-reference/sql/create-warehouse, usage notes)."""
    match = _CREATE.match(sql.strip())
    if not match:
        raise errors.compilation_error("syntax error: expected CREATE WAREHOUSE [IF NOT EXISTS] <name>")
    name = _name(match["name"])
    if exists(ctx, name) and not match["replace"]:
        if match["exists"]:
            return status_result(f"{name} already exists, statement succeeded.")
        raise errors.already_exists(name)
    cur = ctx.state.fakesnow.duck_conn.cursor()
    try:
        cur.execute(f"INSERT OR REPLACE INTO {WAREHOUSES_TABLE} VALUES (?, now())", [name])
    finally:
        cur.close()
    ctx.session.warehouse = name
    return status_result(f"Warehouse {name} successfully created.")


def drop_warehouse(ctx: Context, sql: str) -> ResultSet:
    match = _DROP.match(sql.strip())
    if not match:
        raise errors.compilation_error("syntax error: expected DROP WAREHOUSE [IF EXISTS] <name>")
    name = _name(match["name"])
    if not exists(ctx, name):
        if match["exists"]:
            return status_result(f"Drop statement executed successfully ({name} already dropped).")
        raise errors.does_not_exist("Warehouse", name)
    if name == DEFAULT_WAREHOUSE:
        raise errors.unsupported(f"dropping the local Snowflake's own warehouse {DEFAULT_WAREHOUSE}")
    cur = ctx.state.fakesnow.duck_conn.cursor()
    try:
        cur.execute(f"DELETE FROM {WAREHOUSES_TABLE} WHERE name = ?", [name])
    finally:
        cur.close()
    for session in ctx.state.sessions.all():
        if session.warehouse == name:
            session.warehouse = None
    return status_result(f"{name} successfully dropped.")


def alter_warehouse(ctx: Context, sql: str) -> ResultSet:
    """ALTER WAREHOUSE ... (RESUME, SUSPEND, SET ...): nothing to change locally."""
    match = _ALTER.match(sql.strip())
    if not match:
        raise errors.compilation_error("syntax error: expected ALTER WAREHOUSE [IF EXISTS] <name> ...")
    name = _name(match["name"])
    if not exists(ctx, name) and not match["exists"]:
        raise errors.does_not_exist("Warehouse", name)
    return status_result(_SUCCESS)


def use(ctx: Context, sql: str) -> ResultSet:
    """USE WAREHOUSE <name> | USE ROLE <name>, remembered for the session."""
    match = _USE.match(sql.strip())
    if not match:
        raise errors.compilation_error("syntax error: expected USE WAREHOUSE <name> or USE ROLE <name>")
    name = _name(match["name"])
    if match["kind"].upper() == "ROLE":
        ctx.session.role = name
        return status_result(_SUCCESS)
    if not exists(ctx, name):
        # Snowflake's text for a warehouse that does not exist (error 2043; seen in
        # snowflake-connector-python issue threads and dbt-snowflake reports).
        raise errors.compilation_error("Object does not exist, or operation cannot be performed.", 2043, "02000")
    ctx.session.warehouse = name
    return status_result(_SUCCESS)


# SHOW WAREHOUSES columns (docs sql-reference/sql/show-warehouses), as fakesnow 0.12 lists them.
_SHOW_COLUMNS = [
    ("name", "text"),
    ("state", "text"),
    ("type", "text"),
    ("size", "text"),
    ("min_cluster_count", "fixed"),
    ("max_cluster_count", "fixed"),
    ("started_clusters", "fixed"),
    ("running", "fixed"),
    ("queued", "fixed"),
    ("is_default", "text"),
    ("is_current", "text"),
    ("auto_suspend", "fixed"),
    ("auto_resume", "text"),
    ("available", "text"),
    ("provisioning", "text"),
    ("quiescing", "text"),
    ("other", "text"),
    ("created_on", "timestamp_ltz"),
    ("resumed_on", "timestamp_ltz"),
    ("updated_on", "timestamp_ltz"),
    ("owner", "text"),
    ("comment", "text"),
    ("enable_query_acceleration", "text"),
    ("query_acceleration_max_scale_factor", "fixed"),
    ("resource_monitor", "text"),
    ("scaling_policy", "text"),
    ("owner_role_type", "text"),
]


def show_warehouses(ctx: Context, sql: str) -> ResultSet:
    """SHOW WAREHOUSES [LIKE '<pattern>']."""
    _statement, pattern = split_like(sql)
    regex = like_regex(pattern) if pattern is not None else None
    listed = []
    for name, created in rows(ctx.state.fakesnow.duck_conn):
        if regex is not None and not regex.fullmatch(name):
            continue
        is_default = "Y" if name == DEFAULT_WAREHOUSE else "N"
        is_current = "Y" if name == ctx.session.warehouse else "N"
        listed.append(
            (name, "STARTED", "STANDARD", "X-Small", 1, 1, 1, 0, 0, is_default, is_current, 600, "true", "100", "0",
             "0", "0", created, created, created, "ACCOUNTADMIN", "", "false", 8, "null", "STANDARD", "ROLE")
        )  # fmt: skip
    return ResultSet([Column(name, kind) for name, kind in _SHOW_COLUMNS], listed)
