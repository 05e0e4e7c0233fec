"""Name a query's result columns as Snowflake does.

Snowflake names a projection that is neither a column reference nor aliased by
its SQL text as written, upper-cased whole (quoted identifiers and string
literals included), whitespace kept: `count(*)` → `COUNT(*)`,
`next_day("A", 'fr')` → `NEXT_DAY("A", 'FR')`, `"c c" like 'v%'` →
`"C C" LIKE 'V%'`, `n1 * n2` → `N1 * N2`. Sources: snowpark-python
tests/integ/test_column_names.py (names read back from real accounts with
cursor.describe: `"C C" LIKE 'V%'` for `"c c" LIKE 'v%'`, `'A'` for lit("a"),
`CASE  WHEN ...` with Snowpark's double blank kept), the doctests of
snowflake.snowpark.functions (`next_day("a", "fr")` → `NEXT_DAY("A", 'FR')`),
docs developer-guide/snowpark/python/working-with-dataframes
(`session.sql("SELECT count(*) FROM ...")` → `Row(COUNT(*)=12)`) and
docs sql-reference/operators-arithmetic (`SELECT 10.01 n1, 1.1 n2, n1 * n2`
headed `N1 | N2 | N1 * N2`).

DuckDB names them its own way (`count_star()`, `(ID + 1)`, `CAST(ID AS
TEXT)`) and a catalog UDF call by its internal `_ls_udf_<id>(...)`, so each
such projection, in every SELECT of the query (subqueries too: `SELECT * FROM
(SELECT SUMMARIZE(a) FROM t)` and `"COUNT(*)"` from a subquery must see
Snowflake's names), gets an explicit alias carrying Snowflake's name. The alias
is spliced into the original text, so nothing else of the statement changes.
Column references and stars keep the names DuckDB gives them: the column's own
name, which fakesnow already upper-cases when unquoted.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.dialects.snowflake import Snowflake
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from localsnow.names import quote_identifier

# Statements whose result columns come from a SELECT list: queries, and the tables and views
# created from one. Anything else (DML, SHOW, PUT, ...) is left alone without tokenizing.
_NAMED_STATEMENT = re.compile(r"^\s*(\(|SELECT\b|WITH\b|CREATE\b(?=.*\bSELECT\b))", re.IGNORECASE | re.DOTALL)

_OPEN = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE}
_CLOSE = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE}
# What ends a SELECT list at its own nesting level.
_LIST_END = {
    TokenType.FROM,
    TokenType.WHERE,
    TokenType.GROUP_BY,
    TokenType.HAVING,
    TokenType.QUALIFY,
    TokenType.WINDOW,
    TokenType.ORDER_BY,
    TokenType.LIMIT,
    TokenType.FETCH,
    TokenType.OFFSET,
    TokenType.UNION,
    TokenType.EXCEPT,  # also MINUS
    TokenType.INTERSECT,
    TokenType.INTO,
    TokenType.CONNECT_BY,
    TokenType.START_WITH,
    TokenType.SEMICOLON,
}
_QUANTIFIERS = {TokenType.DISTINCT, TokenType.ALL, TokenType.TOP}
_NAME_PART = {TokenType.VAR, TokenType.IDENTIFIER, TokenType.DOT, TokenType.STAR}
_SNOWFLAKE = Snowflake()

Span = tuple[int, int]  # first and last token index of one projection


def _select_lists(tokens: list[Token]) -> list[list[Span]]:
    """The projections of each SELECT in the statement, as token spans."""
    lists: list[list[Span]] = []
    for index, token in enumerate(tokens):
        if token.token_type is not TokenType.SELECT:
            continue
        position = index + 1
        while position < len(tokens) and tokens[position].token_type in _QUANTIFIERS:
            position += 2 if tokens[position].token_type is TokenType.TOP else 1  # TOP <n>
        spans: list[Span] = []
        depth, start = 0, position
        while position < len(tokens):
            kind = tokens[position].token_type
            if kind in _OPEN:
                depth += 1
            elif kind in _CLOSE:
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and kind is TokenType.COMMA:
                spans.append((start, position - 1))
                start = position + 1
            elif depth == 0 and kind in _LIST_END:
                break
            position += 1
        spans.append((start, position - 1))
        lists.append([(first, last) for first, last in spans if first <= last])
    return lists


def _needs_name(tokens: list[Token], span: Span, text: str) -> bool:
    """Whether the projection is an expression without an alias (not a column, not a star)."""
    first, last = span
    kinds = [t.token_type for t in tokens[first : last + 1]]
    if all(kind in _NAME_PART for kind in kinds):
        return False  # `a`, `t."b"`, `*`, `t.*`: named by the column itself
    if last - first >= 2 and kinds[-2] is TokenType.ALIAS:
        return False  # `... AS name`
    if TokenType.PLACEHOLDER in kinds or TokenType.PARAMETER in kinds:
        return False  # `?`, `$1`: no evidence for Snowflake's name; DuckDB's stays
    try:
        parsed = sqlglot.parse_one(f"SELECT {text}", read="snowflake")
    except SqlglotError:
        return False
    projections = parsed.expressions if isinstance(parsed, exp.Select) else []
    if len(projections) != 1:
        return False
    projection = projections[0]
    if isinstance(projection, exp.Alias | exp.Star | exp.Column):
        return False  # an implicit alias (`count(*) n`), `* EXCLUDE (...)`, a keyword-named column
    if projection.find(exp.Placeholder):
        return False  # `:1`, `:name`: a bound value, as `?`
    return not (isinstance(projection, exp.Dot) and projection.is_star)


def name_columns(sql: str) -> str | None:
    """`sql` with an alias carrying Snowflake's name on each unaliased expression, or None if none needs one."""
    if not _NAMED_STATEMENT.match(sql):
        return None
    try:
        tokens = _SNOWFLAKE.tokenize(sql)  # a new tokenizer per call: statements run in threads
    except SqlglotError:
        return None  # fakesnow reports the syntax error
    inserts: list[tuple[int, str]] = []
    for spans in _select_lists(tokens):
        for first, last in spans:
            start, end = tokens[first].start, tokens[last].end + 1
            text = sql[start:end]
            if _needs_name(tokens, (first, last), text):
                inserts.append((end, f" AS {quote_identifier(text.upper())}"))
    if not inserts:
        return None
    for offset, alias in sorted(inserts, reverse=True):
        sql = sql[:offset] + alias + sql[offset:]
    return sql
