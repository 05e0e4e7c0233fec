"""Statements rewritten with the session's state before they run: what fakesnow cannot evaluate.

- Bound names: `IDENTIFIER(?)` and a PUT/GET/LIST/REMOVE with a bound stage (`PUT 'file://f' ?`)
  get the bound text inlined, as the connector's write_pandas and file upload send them.
- Session functions: CURRENT_ROLE(), CURRENT_WAREHOUSE(), CURRENT_SESSION(), CURRENT_USER(),
  CURRENT_ACCOUNT(), CURRENT_DATABASE(), CURRENT_SCHEMA(), LAST_QUERY_ID([n]) and
  SYSTEM$CANCEL_ALL_QUERIES(<session id>) become literals (DuckDB would answer "duckdb").
- `SELECT $1, $2 FROM VALUES (...)`: positional columns of a VALUES list (docs
  sql-reference/constructs/values: columns COLUMN1, COLUMN2, ...), as Snowpark's
  create_dataframe writes it; fakesnow reads `$1` as a bind parameter.
- `FROM (TABLE(GENERATOR(...)))`: the parentheses Snowpark's `session.range` puts around the
  table function, which fakesnow's translation cannot keep.
- `TABLE(RESULT_SCAN('<query id>'))` anywhere in a query (docs sql-reference/functions/result_scan),
  for results fakesnow computed and for those answered here.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from localsnow import errors
from localsnow.context import Context
from localsnow.names import parse_stage_location
from localsnow.responses import Column, ResultSet

_FILE_COMMAND = re.compile(r"^(PUT|GET|LIST|LS|REMOVE|RM)\s", re.IGNORECASE)
_IDENTIFIER_CALL = re.compile(r"IDENTIFIER\s*\(\s*$", re.IGNORECASE)
_CLOSE = re.compile(r"^\s*\)")
_TRIGGERS = re.compile(
    r"current_|last_query_id|system\$cancel_all_queries|\$\d|generator|result_scan|infer_schema", re.IGNORECASE
)


def _placeholders(sql: str) -> list[int]:
    """Offsets of `?` outside string literals, quoted identifiers and comments."""
    found, index, length = [], 0, len(sql)
    while index < length:
        char = sql[index]
        if char in "'\"":
            index += 1
            while index < length:
                if sql[index] == "\\" and char == "'":
                    index += 2
                    continue
                if sql[index] == char:
                    if sql[index + 1 : index + 2] == char:
                        index += 2
                        continue
                    break
                index += 1
        elif sql.startswith("--", index) or sql.startswith("//", index):
            end = sql.find("\n", index)
            index = length if end < 0 else end
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            index = length if end < 0 else end + 1
        elif sql.startswith("$$", index):
            end = sql.find("$$", index + 2)
            index = length if end < 0 else end + 1
        elif char == "?":
            found.append(index)
        index += 1
    return found


def inline_bound_names(sql: str, bindings: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
    """Inline `IDENTIFIER(?)` (and every `?` of a file command) with its bound text.

    Positional bindings only; the others keep their `?` and are renumbered.
    """
    if not bindings or not all(k.isdigit() for k in bindings):
        return sql, bindings
    if any(isinstance(b.get("value"), list) for b in bindings.values()):
        return sql, bindings  # an array binding (executemany): no names in it
    file_command = bool(_FILE_COMMAND.match(sql))
    offsets = _placeholders(sql)
    out, last, remaining = [], 0, {}
    for number, offset in enumerate(offsets, start=1):
        binding = bindings.get(str(number))
        if binding is None:
            continue
        value = binding.get("value")
        opening = _IDENTIFIER_CALL.search(sql, last, offset)
        closing = _CLOSE.match(sql[offset + 1 :])
        identifier = opening is not None and closing is not None
        if isinstance(value, str) and (identifier or file_command):
            if opening is not None and closing is not None:
                start, end = opening.start(), offset + 1 + closing.end()
            else:
                start, end = offset, offset + 1
            out.append(sql[last:start])
            out.append(value)
            last = end
        else:
            remaining[str(len(remaining) + 1)] = binding
    if not out:
        return sql, bindings
    out.append(sql[last:])
    return "".join(out), remaining or None


def _literal(value: str | None) -> exp.Expression:
    return exp.Null() if value is None else exp.Literal.string(value)


def _snowflake_name(node: exp.Expression) -> str:
    """The column name Snowflake gives an unaliased expression: its text, unquoted parts upper-cased."""
    return node.sql(dialect="snowflake").upper()


def _integer_argument(call: exp.Expression, default: int | None = None) -> int:
    args = call.expressions if isinstance(call, exp.Anonymous) else []
    if not args and default is not None:
        return default
    node = args[0] if args else None
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return -int(node.this.name)
    if isinstance(node, exp.Literal) and not node.is_string and node.name.lstrip("-").isdigit():
        return int(node.name)
    name = call.name.upper() if isinstance(call, exp.Anonymous) else type(call).__name__
    raise errors.compilation_error(f"Invalid argument for function {name}: expected an integer constant.")


def _session_value(ctx: Context, node: exp.Expression) -> exp.Expression | None:
    session = ctx.session
    simple: dict[type[exp.Expression], Callable[[], str | None]] = {
        exp.CurrentRole: lambda: session.role,
        exp.CurrentWarehouse: lambda: session.warehouse,
        exp.CurrentSession: lambda: str(session.id),
        exp.CurrentUser: lambda: session.user,
        # The account locator, upper case as Snowflake prints it.
        exp.CurrentAccount: lambda: ctx.account,
        exp.CurrentAccountName: lambda: ctx.account,
        exp.CurrentDatabase: lambda: ctx.database,
        exp.CurrentSchema: lambda: ctx.schema,
    }
    if getter := simple.get(type(node)):
        return _literal(getter())
    if not isinstance(node, exp.Anonymous):
        return None
    name = node.name.upper()
    if name == "LAST_QUERY_ID":
        return _literal(session.last_query_id(_integer_argument(node, -1)))
    if name == "SYSTEM$CANCEL_ALL_QUERIES":
        target = ctx.state.sessions.by_id(_integer_argument(node))
        cancelled = ctx.state.sessions.cancel_all(target, ctx.request) if target else 0
        # "1 cancelled." (docs sql-reference/functions/system_cancel_all_queries, example).
        return exp.Literal.string(f"{cancelled} cancelled.")
    return None


def _evaluate_session_functions(ctx: Context, tree: exp.Expression) -> bool:
    changed = False
    for node in list(tree.walk()):
        value = _session_value(ctx, node)
        if value is None:
            continue
        if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
            value = exp.alias_(value, _snowflake_name(node), quoted=True)
        node.replace(value)
        changed = True
    return changed


def _values_source(select: exp.Select) -> exp.Values | None:
    from_ = select.args.get("from_")
    source = from_.this if from_ else None
    while isinstance(source, exp.Subquery) and not source.alias:
        source = source.this
    return source if isinstance(source, exp.Values) else None


def _positional_columns(tree: exp.Expression) -> bool:
    changed = False
    for parameter in list(tree.find_all(exp.Parameter)):
        literal = parameter.this
        if not (isinstance(literal, exp.Literal) and literal.name.isdigit()):
            continue
        select = parameter.find_ancestor(exp.Select)
        values = _values_source(select) if select else None
        if values is None:
            continue
        position = int(literal.name)
        alias = values.args.get("alias")
        columns = alias.columns if alias else []
        column = columns[position - 1].copy() if position <= len(columns) else exp.to_identifier(f"COLUMN{position}")
        parameter.replace(exp.column(column))
        changed = True
    return changed


def _unwrap_generator(tree: exp.Expression) -> bool:
    changed = False
    for subquery in list(tree.find_all(exp.Subquery)):
        inner = subquery.this
        if isinstance(inner, exp.TableFromRows) and isinstance(inner.this, exp.Generator) and not subquery.alias:
            subquery.replace(inner)
            changed = True
    return changed


_SQL_TYPES = {"text": "VARCHAR", "fixed": "NUMBER(38, 0)", "boolean": "BOOLEAN", "timestamp_ltz": "TIMESTAMP_LTZ"}


def _value_sql(value: Any, kind: str) -> exp.Expression:
    if value is None:
        literal: exp.Expression = exp.Null()
    elif isinstance(value, bool):
        literal = exp.Boolean(this=value)
    elif isinstance(value, int | float):
        literal = exp.Literal.number(value)
    elif isinstance(value, datetime.datetime):
        literal = exp.Literal.string(value.isoformat())
    else:
        literal = exp.Literal.string(str(value))
    return exp.Cast(this=literal, to=exp.DataType.build(_SQL_TYPES.get(kind, "VARCHAR"), dialect="snowflake"))


def _local_result_query(result: ResultSet) -> exp.Expression:
    """A locally answered result as a query: one SELECT per row, UNION ALL; no rows: WHERE FALSE."""
    rows = result.rows or [tuple(None for _ in result.columns)]
    selects = [
        exp.select(
            *(exp.alias_(_value_sql(v, c.kind), c.name, quoted=True) for v, c in zip(row, result.columns, strict=True))
        )
        for row in rows
    ]
    if not result.rows:
        selects[0] = selects[0].where(exp.false())
    query: exp.Expression = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query


def _result_scan_id(node: exp.TableFromRows) -> str | None:
    call = node.this
    if isinstance(call, exp.Anonymous) and call.name.upper() == "RESULT_SCAN" and len(call.expressions) == 1:
        argument = call.expressions[0]
        if isinstance(argument, exp.Literal) and argument.is_string:
            return argument.name
        if isinstance(argument, exp.Null):
            raise errors.sql_error("Statement NULL not found", 709, "02000")
    return None


def _result_scans(ctx: Context, tree: exp.Expression) -> bool:
    changed = False
    for node in list(tree.find_all(exp.TableFromRows)):
        query_id = _result_scan_id(node)
        if query_id is None:
            continue
        target: exp.Expression = node
        alias = node.args.get("alias")
        if isinstance(node.parent, exp.Subquery) and node.parent.this is node:
            target, alias = node.parent, node.parent.args.get("alias") or alias
        if local := ctx.state.sessions.local_result(query_id):
            replacement: exp.Expression = exp.Subquery(this=_local_result_query(local))
        elif cached := ctx.state.fakesnow.results_cache.get(query_id):
            table: pa.Table = cached[0]
            view = "_ls_result_" + re.sub(r"[^0-9A-Za-z]", "_", query_id)
            ctx.conn._duck_conn.register(view, table)
            replacement = exp.to_table(view)
        else:
            # fakesnow's wording for a query id it does not know (cursor._execute).
            raise errors.sql_error(f"Statement {query_id} not found", 709, "02000")
        if alias is not None:
            replacement.set("alias", alias.copy())
        target.replace(replacement)
        changed = True
    return changed


# INFER_SCHEMA's TYPE for each Parquet (DuckDB) column type; the doc's examples print
# `NUMBER(38, 0)`, `TEXT`, `REAL` (docs sql-reference/functions/infer_schema).
_INFERRED_TYPES = {
    "BIGINT": "NUMBER(38, 0)", "INTEGER": "NUMBER(38, 0)", "SMALLINT": "NUMBER(38, 0)", "TINYINT": "NUMBER(38, 0)",
    "UBIGINT": "NUMBER(38, 0)", "UINTEGER": "NUMBER(38, 0)", "USMALLINT": "NUMBER(38, 0)", "UTINYINT": "NUMBER(38, 0)",
    "HUGEINT": "NUMBER(38, 0)", "DOUBLE": "REAL", "FLOAT": "REAL", "VARCHAR": "TEXT", "BOOLEAN": "BOOLEAN",
    "DATE": "DATE", "TIMESTAMP": "TIMESTAMP_NTZ", "TIMESTAMP_NS": "TIMESTAMP_NTZ", "TIMESTAMP_MS": "TIMESTAMP_NTZ",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP_TZ", "BLOB": "BINARY", "TIME": "TIME",
}  # fmt: skip
_INFER_COLUMNS = [
    Column("COLUMN_NAME"), Column("TYPE"), Column("NULLABLE", "boolean"), Column("EXPRESSION"),
    Column("FILENAMES"), Column("ORDER_ID", "fixed"),
]  # fmt: skip


def _bound_value(ctx: Context, tree: exp.Expression, node: exp.Expression) -> Any:
    if isinstance(node, exp.Literal):
        return node.name
    if isinstance(node, exp.Placeholder) and ctx.bindings:
        position = list(tree.find_all(exp.Placeholder)).index(node) + 1
        binding = ctx.bindings.get(str(position))
        return binding.get("value") if binding else None
    return None


def _inferred_type(duck_type: str) -> str:
    if match := re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", duck_type.replace(" ", "")):
        return f"NUMBER({match[1]}, {match[2]})"
    return _INFERRED_TYPES.get(duck_type, "VARIANT")


def _infer_schema(ctx: Context, arguments: dict[str, Any]) -> ResultSet:
    """INFER_SCHEMA(LOCATION => '@stage[/path]', FILE_FORMAT => '<name>') over staged Parquet files."""
    location_text = arguments.get("LOCATION")
    if not isinstance(location_text, str):
        raise errors.compilation_error("INFER_SCHEMA needs LOCATION => '@<stage>[/<path>]'.")
    location = parse_stage_location(location_text, ctx.database, ctx.schema, "INFER_SCHEMA")
    ctx.state.stages.require(location.stage)
    files = [f for f in ctx.state.stages.files(location) if f.path.read_bytes()[:4] == b"PAR1"]
    if not files:
        raise errors.unsupported("INFER_SCHEMA over files other than Parquet")
    cur = ctx.state.fakesnow.duck_conn.cursor()
    try:
        described = cur.execute("DESCRIBE SELECT * FROM read_parquet(?)", [[str(f.path) for f in files]]).fetchall()
    finally:
        cur.close()
    names = ", ".join(f.relative for f in files)
    rows = []
    for order, (name, duck_type, *_rest) in enumerate(described):
        kind = _inferred_type(str(duck_type))
        rows.append((name, kind, True, f'$1:"{name}"::{kind}', names, order))
    return ResultSet(_INFER_COLUMNS, rows)


def _infer_schemas(ctx: Context, tree: exp.Expression) -> bool:
    changed = False
    for node in list(tree.find_all(exp.TableFromRows)):
        call = node.this
        if not (isinstance(call, exp.Anonymous) and call.name.upper() == "INFER_SCHEMA"):
            continue
        arguments = {
            arg.this.name.upper(): _bound_value(ctx, tree, arg.expression)
            for arg in call.expressions
            if isinstance(arg, exp.Kwarg | exp.PropertyEQ)
        }
        replacement = exp.Subquery(this=_local_result_query(_infer_schema(ctx, arguments)))
        if alias := node.args.get("alias"):
            replacement.set("alias", alias.copy())
        node.replace(replacement)
        changed = True
    if changed and not list(tree.find_all(exp.Placeholder)):
        ctx.bindings = None  # the bound arguments were INFER_SCHEMA's, now inlined
    return changed


_COPY = re.compile(r"^COPY\s+INTO\s", re.IGNORECASE)
_QUOTED_STAGE = re.compile(r"(\bFROM\s+)'(@(?:[^'\\]|\\.)*)'", re.IGNORECASE)


def _copy_from_quoted_stage(sql: str) -> str | None:
    """`COPY INTO t FROM (SELECT ... FROM '@"DB"."S"."STAGE"')`: a stage named by a string, as the
    connector's write_pandas writes it (pandas_tools.py, copy_into_sql); fakesnow reads only `@name`."""
    rewritten = _QUOTED_STAGE.sub(lambda m: m[1] + re.sub(r"\\(.)", r"\1", m[2]), sql)
    return rewritten if rewritten != sql else None


def rewrite_session_sql(ctx: Context, sql: str) -> str | None:
    """The statement with session state applied, or None when nothing needed it."""
    if _COPY.match(sql):
        return _copy_from_quoted_stage(sql)
    if not _TRIGGERS.search(sql):
        return None
    try:
        tree = sqlglot.parse_one(sql, read="snowflake")
    except SqlglotError:
        return None
    if isinstance(tree, exp.Command | exp.Copy):
        return None  # COPY's $1 are the staged file's columns, fakesnow's to read
    changed = _evaluate_session_functions(ctx, tree)
    changed = _positional_columns(tree) or changed
    changed = _unwrap_generator(tree) or changed
    changed = _result_scans(ctx, tree) or changed
    changed = _infer_schemas(ctx, tree) or changed
    return tree.sql(dialect="snowflake") if changed else None
