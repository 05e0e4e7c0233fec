"""Route one statement: to a local handler, a rewrite, or fakesnow unchanged."""

from __future__ import annotations

import re
from collections.abc import Callable

from localsnow import errors
from localsnow.command_args import strip_leading_comments
from localsnow.context import Context, Delegate, Outcome
from localsnow.function_commands import (
    create_function,
    describe_function,
    drop_function,
    show_functions,
)
from localsnow.like import split_like
from localsnow.names import quote_identifier, split_qualified
from localsnow.persistence import forget_database
from localsnow.query_rewrite import rewrite
from localsnow.responses import ResultSet, status_result
from localsnow.stage_commands import alter_stage, create_stage, drop_stage, get, list_files, put, remove_files

_NAME = r'(?P<name>(?:"(?:[^"]|"")*"|[^\s;."]+)(?:\.(?:"(?:[^"]|"")*"|[^\s;."]+))*)'
_DROP_CONTAINER = re.compile(
    rf"^DROP\s+(?P<kind>DATABASE|SCHEMA)\s+(?P<exists>IF\s+EXISTS\s+)?{_NAME}"
    r"(?:\s+(?:CASCADE|RESTRICT))?\s*;?\s*$",
    re.IGNORECASE,
)


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

    return Delegate(after=forget)


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
        (r"DROP\s+STAGE\s", drop_stage),
        (r"ALTER\s+STAGE\s", alter_stage),
        (r"CREATE\s+(OR\s+REPLACE\s+)?((TEMP|TEMPORARY)\s+)?STAGE\s", create_stage),
        (r"DROP\s+DATABASE\s", drop_database),
        (r"DROP\s+SCHEMA\s", drop_schema),
        (r"SHOW\s", show_with_like),
    ]
]


def route(ctx: Context, sql: str) -> Outcome:
    statement = strip_leading_comments(sql)
    for pattern, handler in _ROUTES:
        if pattern.match(statement):
            return handler(ctx, statement)
    rewritten = rewrite(statement, ctx.state.catalog, ctx.database, ctx.schema)
    return Delegate(sql=rewritten) if rewritten else Delegate()
