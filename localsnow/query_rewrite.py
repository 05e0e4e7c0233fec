"""Rewrite queries so DuckDB can run them: catalog UDF calls and information_schema.packages.

`SELECT "DB"."S"."SUMMARIZE"(article)` becomes `SELECT _ls_udf_<id>(CAST(article AS
VARCHAR))`: the call goes to the function's registered DuckDB implementation,
with Snowflake's coercion of arguments to the declared types. Renaming also
sidesteps DuckDB keywords such as SUMMARIZE. Result columns keep Snowflake's
names (localsnow.column_names), never the internal one.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from localsnow import errors
from localsnow.column_names import name_columns
from localsnow.functions import FunctionCatalog, FunctionDef
from localsnow.names import ObjectName, identifier_from_sqlglot, qualify
from localsnow.packages import PACKAGES_TABLE
from localsnow.udf_runtime import executable, sql_name


def _qualifier_parts(node: exp.Expression) -> list[str] | None:
    """`"DB"."S"` of a dotted call, as normalized identifier parts."""
    if isinstance(node, exp.Identifier):
        return [identifier_from_sqlglot(node)]
    if isinstance(node, exp.Dot):
        left, right = _qualifier_parts(node.this), _qualifier_parts(node.expression)
        return None if left is None or right is None else left + right
    if isinstance(node, exp.Column) and not node.args.get("table"):
        return [identifier_from_sqlglot(node.this)]
    return None


def _function_name(call: exp.Anonymous) -> str:
    name = call.this
    return identifier_from_sqlglot(name) if isinstance(name, exp.Identifier) else str(name).upper()


def _resolve_call(
    call: exp.Anonymous, catalog: FunctionCatalog, database: str | None, schema: str | None
) -> tuple[exp.Expression, FunctionDef] | None:
    """The node to replace and the function a call refers to, or None if not a catalog UDF."""
    parent = call.parent
    node: exp.Expression = call
    parts: list[str] = []
    if isinstance(parent, exp.Dot) and parent.expression is call:
        qualifier = _qualifier_parts(parent.this)
        if qualifier is None:
            return None
        node, parts = parent, qualifier
    name = _function_name(call)
    if not parts and not (database and schema):
        return None  # an unqualified call without a current schema: a built-in, if anything
    target: ObjectName = qualify([*parts, name], database, schema, "SELECT")
    candidates = catalog.named(target)
    if not candidates:
        if parts:
            raise errors.compilation_error(f"Unknown user-defined function {target.dotted}.", errors.UNKNOWN_FUNCTION)
        return None
    arity = len(call.expressions)
    matching = [f for f in candidates if len(f.arg_types) == arity]
    if not matching:
        expected = " or ".join(f"({f.signature_types})" for f in candidates)
        raise errors.compilation_error(
            f"Invalid argument count for function '{target.name}': {arity} given, expected {expected}.",
            errors.INVALID_ARGUMENTS,
        )
    return node, matching[0]


def _call_expression(function: FunctionDef, arguments: list[exp.Expression]) -> exp.Expression:
    if not executable(function):
        types = ", ".join(t.base for t in (*function.arg_types, function.returns))
        raise errors.unsupported(f"calling a Python UDF with types ({types}) or no arguments")
    cast = [
        exp.Cast(this=arg, to=exp.DataType.build(t.duckdb or "VARCHAR", dialect="duckdb"))
        for arg, t in zip(arguments, function.arg_types, strict=True)
    ]
    return exp.Anonymous(this=sql_name(function), expressions=cast)


def _is_packages_table(table: exp.Table) -> bool:
    return table.name.lower() == "packages" and table.db.lower() == "information_schema"


def rewrite(sql: str, catalog: FunctionCatalog, database: str | None, schema: str | None) -> str | None:
    """The rewritten SQL, or None when the statement needs no rewriting.

    Unaliased expressions first get Snowflake's column names (column_names), so a UDF call
    renamed below still shows as `SUMMARIZE(ARTICLE)`.
    """
    named = name_columns(sql)
    calls = _rewrite_calls(named or sql, catalog, database, schema)
    return calls or named


def _rewrite_calls(sql: str, catalog: FunctionCatalog, database: str | None, schema: str | None) -> str | None:
    lowered = sql.lower()
    if "(" not in sql and "packages" not in lowered:
        return None
    try:
        expression = sqlglot.parse_one(sql, read="snowflake")
    except SqlglotError:
        return None  # let fakesnow report it
    changed = False
    for call in list(expression.find_all(exp.Anonymous)):
        resolved = _resolve_call(call, catalog, database, schema)
        if resolved:
            node, function = resolved
            node.replace(_call_expression(function, list(call.expressions)))
            changed = True
    for table in list(expression.find_all(exp.Table)):
        if _is_packages_table(table):
            replacement = exp.to_table(PACKAGES_TABLE)
            replacement.set("alias", table.args.get("alias") or exp.TableAlias(this=exp.to_identifier("packages")))
            table.replace(replacement)
            changed = True
    return expression.sql(dialect="snowflake") if changed else None
