"""Route one statement: to a local handler, a rewrite, or fakesnow unchanged."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from localsnow import errors, faults, warehouses
from localsnow.command_args import strip_leading_comments
from localsnow.context import Context, Delegate, Outcome
from localsnow.function_commands import (
    comment_on_function,
    create_function,
    describe_function,
    drop_function,
    show_functions,
)
from localsnow.integration_commands import show_integrations
from localsnow.like import split_like
from localsnow.names import quote_identifier, split_qualified
from localsnow.parameters import alter_parameters
from localsnow.persistence import forget_database
from localsnow.query_rewrite import rewrite
from localsnow.responses import ResultSet, status_result
from localsnow.session_sql import inline_bound_names, rewrite_session_sql
from localsnow.stage_commands import alter_stage, create_stage, drop_stage, get, list_files, put, remove_files
from localsnow.system_functions import default_python_artifact_repository
from localsnow.temporary import prepare as prepare_temporary

_NAME = r'(?P<name>(?:"(?:[^"]|"")*"|[^\s;."]+)(?:\.(?:"(?:[^"]|"")*"|[^\s;."]+))*)'
_DROP_CONTAINER = re.compile(
    rf"^DROP\s+(?P<kind>DATABASE|SCHEMA)\s+(?P<exists>IF\s+EXISTS\s+)?{_NAME}"
    r"(?:\s+(?:CASCADE|RESTRICT))?\s*;?\s*$",
    re.IGNORECASE,
)


_CHANGES_NAMES = re.compile(r"(CREATE|DROP|ALTER)\s", re.IGNORECASE)


def _forget_functions(ctx: Context, database: str, schema: str | None = None) -> None:
    for function in ctx.state.catalog.in_scope(database, schema):
        ctx.state.catalog.remove(function.key)
        ctx.state.runtime.unregister(function)


def drop_database(ctx: Context, sql: str) -> ResultSet:
    """fakesnow cannot drop a database; detach it and delete its file, stages and functions."""
    match = _DROP_CONTAINER.match(sql.strip())
    if not match:
        raise errors.compilation_error("syntax error: expected DROP DATABASE [IF EXISTS] <name>")
    (name,) = split_qualified(match["name"])
    duck = ctx.state.fakesnow.duck_conn.cursor()
    try:
        known = {row[0] for row in duck.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
        if name not in known or name.startswith("_fs_") or name in ("memory", "system", "temp"):
            if match["exists"]:
                return status_result(f"Drop statement executed successfully ({name} already dropped).")
            raise errors.does_not_exist("Database", name)
        _forget_functions(ctx, name)
        ctx.state.stages.drop_scope(name)
        ctx.state.temporary.forget_scope(name)
        duck.execute(f"DETACH {quote_identifier(name)}")
    finally:
        duck.close()
    forget_database(ctx.state.layout, name)
    if ctx.conn.database == name:  # as in Snowflake, the session has no database now
        ctx.conn.database, ctx.conn._schema = None, None
        ctx.conn.database_set = ctx.conn.schema_set = False
        ctx.conn._duck_conn.execute("SET schema = 'memory.main'")
    return status_result(f"{name} successfully dropped.")


def drop_schema(ctx: Context, sql: str) -> Delegate:
    """fakesnow drops the schema; forget its stages and functions too."""
    match = _DROP_CONTAINER.match(sql.strip())
    if not match:
        return Delegate()
    parts = split_qualified(match["name"])
    database = parts[0] if len(parts) == 2 else ctx.database
    schema = parts[-1]
    if not database:
        return Delegate()

    def forget() -> None:
        _forget_functions(ctx, database, schema)
        ctx.state.stages.drop_scope(database, schema)
        ctx.state.temporary.forget_scope(database, schema)

    return Delegate(after=forget)


_CREATE_DATABASE = re.compile(
    rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TRANSIENT\s+)?DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.IGNORECASE
)


def create_database(ctx: Context, sql: str) -> Delegate:
    """fakesnow creates the database; Snowflake also gives it a PUBLIC schema and makes both current
    ("every time you create a database, Snowflake will automatically create two schemas":
    INFORMATION_SCHEMA and PUBLIC, Snowflake's Hands-On Essentials workshop; docs
    sql-reference/sql/create-database: the new database becomes the session's current one)."""
    match = _CREATE_DATABASE.match(sql.strip())
    if not match or match["name"].startswith("IDENTIFIER"):
        return Delegate()
    parts = split_qualified(match["name"])
    if len(parts) != 1:
        return Delegate()  # fakesnow reports the invalid name
    (name,) = parts
    duck = ctx.state.fakesnow.duck_conn.cursor()
    try:
        exists = duck.execute("SELECT 1 FROM duckdb_databases() WHERE database_name = ?", [name]).fetchall()
    finally:
        duck.close()
    if exists and not re.match(r"CREATE\s+OR\s+REPLACE\s", sql.strip(), re.IGNORECASE):
        return Delegate()  # IF NOT EXISTS on an existing database changes nothing (else: fakesnow's error)

    def add_public() -> None:
        # fakesnow's CREATE SCHEMA also makes the schema (and its database) the session's current one.
        ctx.conn.cursor().execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(name)}.PUBLIC")

    return Delegate(after=add_public)


def show_with_like(ctx: Context, sql: str) -> Delegate:
    """fakesnow ignores LIKE in some SHOW commands and misreads escapes in others: drop the
    clause and filter the rows by name here."""
    statement, pattern = split_like(sql)
    return Delegate(sql=statement, like=pattern) if pattern is not None else Delegate()


Handler = Callable[[Context, str], Outcome]

_ROUTES: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(pattern, re.IGNORECASE), handler)
    for pattern, handler in [
        (r"PUT\s", put),
        (r"GET\s", get),
        (r"(LIST|LS)\s", list_files),
        (r"(REMOVE|RM)\s", remove_files),
        (r"CREATE\s+(OR\s+REPLACE\s+)?((SECURE|TEMP|TEMPORARY)\s+)*FUNCTION\s", create_function),
        (r"DROP\s+FUNCTION\s", drop_function),
        (r"DESC(RIBE)?\s+FUNCTION\s", describe_function),
        (r"SHOW\s+(USER\s+)?FUNCTIONS\b", show_functions),
        (r"SELECT\s+SYSTEM\$GET_DEFAULT_PYTHON_ARTIFACT_REPOSITORY\s*\(", default_python_artifact_repository),
        (r"COMMENT\s+(IF\s+EXISTS\s+)?ON\s+FUNCTION\s", comment_on_function),
        (r"SHOW\s+(\w+\s+){0,2}INTEGRATIONS\b", show_integrations),
        (r"DROP\s+STAGE\s", drop_stage),
        (r"ALTER\s+STAGE\s", alter_stage),
        (r"CREATE\s+(OR\s+REPLACE\s+)?((TEMP|TEMPORARY)\s+)?STAGE\s", create_stage),
        (r"DROP\s+DATABASE\s", drop_database),
        (r"CREATE\s+(OR\s+REPLACE\s+)?(TRANSIENT\s+)?DATABASE\s", create_database),
        (r"DROP\s+SCHEMA\s", drop_schema),
        (r"USE\s+(WAREHOUSE|ROLE)\s", warehouses.use),
        (r"CREATE\s+(OR\s+REPLACE\s+)?WAREHOUSE\s", warehouses.create_warehouse),
        (r"DROP\s+WAREHOUSE\s", warehouses.drop_warehouse),
        (r"ALTER\s+WAREHOUSE\s", warehouses.alter_warehouse),
        (r"ALTER\s+(SESSION|ACCOUNT)\s", alter_parameters),
        (r"SHOW\s+WAREHOUSES\b", warehouses.show_warehouses),
        (r"SHOW\s", show_with_like),
    ]
]


def _dispatch(ctx: Context, statement: str) -> Outcome:
    for pattern, handler in _ROUTES:
        if pattern.match(statement):
            return handler(ctx, statement)
    with_session = rewrite_session_sql(ctx, statement)
    rewritten = rewrite(with_session or statement, ctx.state.catalog, ctx.database, ctx.schema)
    return Delegate(sql=rewritten or with_session)


def _on_success(outcome: Outcome, action: Callable[[], None]) -> Outcome:
    if not isinstance(outcome, Delegate):
        action()  # answered here: it succeeded
        return outcome
    first = outcome.after

    def both() -> None:
        if first:
            first()
        action()

    return replace(outcome, after=both)


def route(ctx: Context, sql: str) -> Outcome:
    original = strip_leading_comments(sql)
    statement, ctx.bindings = inline_bound_names(original, ctx.bindings)
    statement, temporary = prepare_temporary(statement, ctx.database, ctx.schema)
    database, schema = ctx.database, ctx.schema
    outcome = faults.statement(_dispatch, ctx, statement)  # a test's fault gate, if any
    if isinstance(outcome, Delegate) and outcome.sql is None and statement != original:
        outcome = replace(outcome, sql=statement)  # fakesnow's own route would read the original text
    if temporary is not None:
        return _on_success(outcome, lambda: ctx.state.temporary.record(ctx.session.id, temporary))
    if _CHANGES_NAMES.match(statement):
        return _on_success(outcome, lambda: ctx.state.temporary.observe(statement, database, schema))
    return outcome
