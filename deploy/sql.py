"""The pieces statements are built from: literals, names, stage paths, types.

Every statement the reconciler runs is built from these helpers, so a name
like ``x"; DROP TABLE y; --`` can never escape its quotes. Manifest
validation already rejects such names; quoting here is the second wall.
Names are quoted by deploy.names alone; the helpers here only build on it.
"""

from __future__ import annotations

import glob
import re

from deploy.names import FQN, StagePath, quote, sql_name

# Python UDF argument/return types the manifests accept, by canonical name.
# Synonyms collapse to what DESCRIBE FUNCTION reports.
_TYPE_SYNONYMS = {
    "VARCHAR": "VARCHAR",
    "STRING": "VARCHAR",
    "TEXT": "VARCHAR",
    "CHAR": "VARCHAR",
    "CHARACTER": "VARCHAR",
    "NUMBER": "NUMBER",
    "NUMERIC": "NUMBER",
    "DECIMAL": "NUMBER",
    "INT": "NUMBER",
    "INTEGER": "NUMBER",
    "BIGINT": "NUMBER",
    "SMALLINT": "NUMBER",
    "TINYINT": "NUMBER",
    "BYTEINT": "NUMBER",
    "FLOAT": "FLOAT",
    "FLOAT4": "FLOAT",
    "FLOAT8": "FLOAT",
    "DOUBLE": "FLOAT",
    "DOUBLE PRECISION": "FLOAT",
    "REAL": "FLOAT",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "TIMESTAMP_NTZ": "TIMESTAMP_NTZ",
    "TIMESTAMP_LTZ": "TIMESTAMP_LTZ",
    "TIMESTAMP_TZ": "TIMESTAMP_TZ",
    "BINARY": "BINARY",
    "VARBINARY": "BINARY",
    "VARIANT": "VARIANT",
    "OBJECT": "OBJECT",
    "ARRAY": "ARRAY",
}
_TYPE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")
# Defaults Snowflake fills in and DESCRIBE's `returns` prints (VARCHAR(16777216), TIME(9),
# BINARY(8388608)); CHAR without a length is CHAR(1), i.e. VARCHAR(1). Terraform provider
# pkg/sdk/datatypes/{text,time,timestamp,binary}.go (DefaultVarcharLength, DefaultCharLength,
# DefaultTimePrecision, DefaultTimestampPrecision, DefaultBinarySize); docs: data-types-text.
_VARCHAR_MAX = 16777216
_BINARY_MAX = 8388608
_TIME_PRECISION = 9
_VECTOR_RE = re.compile(r"^\s*VECTOR\s*\(\s*(INT|FLOAT)\s*,\s*(\d+)\s*\)\s*$", re.IGNORECASE)


class SqlTypeError(ValueError):
    pass


# One identifier part, double-quoted ("DB"); dotted names of any depth ("DB"."S"."T").
ident = quote
qualified = sql_name


# Snowflake's escapes in single-quoted string constants (docs: sql-reference/data-types-text,
# "Escape sequences in single-quoted string constants"); any other unprintable character is
# written as \uhhhh, so a statement (and the plan's SQL) is always one line.
_LITERAL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def _escape_char(ch: str) -> str:
    if ch in _LITERAL_ESCAPES:
        return _LITERAL_ESCAPES[ch]
    return ch if ch.isprintable() or ord(ch) > 0xFFFF else f"\\u{ord(ch):04x}"


def literal(value: str) -> str:
    """A single-quoted string literal on one line, escaped as Snowflake reads it."""
    if value.isprintable() and "\\" not in value and "'" not in value:
        return f"'{value}'"
    return "'" + "".join(_escape_char(ch) for ch in value) + "'"


def like_pattern(name: str) -> str:
    """A LIKE pattern matching exactly ``name`` (``_`` and ``%`` escaped)."""
    return literal(re.sub(r"([_%\\])", r"\\\1", name))


def stage_location(database: str, schema: str, stage: str, path: str = "") -> str:
    """``@"DB"."SCHEMA"."STAGE"/path`` — the form used in PUT, LIST, REMOVE and IMPORTS."""
    if any(c in path for c in "'\\\n\r"):
        raise ValueError(f"unsupported character in stage path {path!r}")
    return StagePath(FQN(database, schema, stage), path).sql


def quoted_stage_location(database: str, schema: str, stage: str, path: str = "") -> str:
    """A stage location as a quoted literal, safe whatever the path holds."""
    return literal(stage_location(database, schema, stage, path))


def file_url(path: str) -> str:
    """A quoted ``file://`` URL for PUT/GET (paths may hold spaces)."""
    if "'" in path or "\n" in path:
        raise ValueError(f"unsupported character in local path {path!r}")
    return literal("file://" + path)


def put_source(path: str) -> str:
    """PUT's quoted source for exactly the file at ``path``.

    The connector expands every PUT source with glob.glob (snowflake-connector-python
    file_transfer_agent.py `_expand_filenames`), so ``*``, ``?`` and ``[`` in a name are
    wildcards: ``model[1].json`` would upload ``model1.json``. glob.escape makes them literal,
    as snowflake-cli does (src/snowflake/cli/_plugins/apps/manager.py, stage/manager.py `put`).
    """
    return file_url(glob.escape(path))


# Characters special in a regular expression in every flavour a PATTERN may meet (Java,
# POSIX ERE, Python): escaping only these keeps the pattern portable (re.escape also
# escapes `-`, `#`, spaces..., which POSIX ERE leaves undefined after a backslash).
_REGEX_SPECIAL = re.compile(r"([\\.\[\]{}()*+?^$|])")


def exact_path_pattern(path: str) -> str:
    """A PATTERN that matches the stage file ``path`` (relative to the stage root) and no other.

    PATTERN is a regular expression applied to each file under the location (docs:
    sql-reference/sql/remove, sql-reference/sql/list) and must match it whole: real-account
    examples filter with ``.*file_2.*`` (snowpark-python tests/integ/scala/test_file_operation_suite.py)
    and ``.*requirements\\.txt$`` (snowflake-cli stage/manager.py). ``(.*/)?`` admits the file's
    path with or without the stage name in front; the anchors keep ``config`` off ``config.json``.
    """
    return "^(.*/)?" + _REGEX_SPECIAL.sub(r"\\\1", path) + "$"


def remove_statement(database: str, schema: str, stage: str, path: str) -> str:
    """REMOVE exactly ``path``: a folder (ending in ``/``) with all it holds, else that one file.

    REMOVE @stage/path removes every file whose path starts with ``path`` (docs:
    sql-reference/sql/remove, "files have names that begin with a common string"), so
    ``REMOVE @s/v/config`` would take ``v/config.json`` too: one file is removed from its folder
    with an anchored PATTERN instead.
    """
    if path.endswith("/"):
        return f"REMOVE {stage_location(database, schema, stage, path)}"
    folder = path.rpartition("/")[0]
    location = stage_location(database, schema, stage, f"{folder}/" if folder else "")
    return f"REMOVE {location} PATTERN = {literal(exact_path_pattern(path))}"


def canonical_type(sql_type: str) -> str:
    """Canonical form of a SQL type: synonyms collapsed, defaults dropped.

    ``STRING`` and ``VARCHAR(16777216)`` are both ``VARCHAR``; ``INT`` and
    ``NUMBER(38,0)`` are both ``NUMBER(38,0)``; ``TIME(9)`` is ``TIME``; ``CHAR`` is
    ``VARCHAR(1)``. DESCRIBE's ``returns`` goes through this too, so a manifest and
    the account compare equal whichever spelling each uses.
    """
    m = _TYPE_RE.match(sql_type)
    if not m:
        raise SqlTypeError(f"not a SQL type: {sql_type!r}")
    spelled = " ".join(m.group(1).upper().split())
    base = _TYPE_SYNONYMS.get(spelled)
    if base is None:
        raise SqlTypeError(
            f"unsupported SQL type {sql_type!r}; use one of {', '.join(sorted(set(_TYPE_SYNONYMS.values())))}"
        )
    size, scale = m.group(2), m.group(3)
    if base == "VARCHAR":
        if scale:
            raise SqlTypeError(f"type VARCHAR takes one length: {sql_type!r}")
        if not size and spelled in {"CHAR", "CHARACTER"}:
            return "VARCHAR(1)"
        if size and int(size) != _VARCHAR_MAX:
            return f"VARCHAR({int(size)})"
        return "VARCHAR"
    if base == "NUMBER":
        if spelled in {"INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT"}:
            if size or scale:
                raise SqlTypeError(f"type {spelled} takes no precision: {sql_type!r}")
            return "NUMBER(38,0)"
        return f"NUMBER({int(size or 38)},{int(scale or 0)})"
    if size or scale:
        if scale:
            raise SqlTypeError(f"type {base} takes one size: {sql_type!r}")
        if base == "BINARY":
            return base if int(size) == _BINARY_MAX else f"BINARY({int(size)})"
        if base in {"TIME", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ"}:
            return base if int(size) == _TIME_PRECISION else f"{base}({int(size)})"
        raise SqlTypeError(f"type {base} takes no size: {sql_type!r}")
    return base


def described_type(sql_type: str) -> str:
    """A type Snowflake printed, canonical when it is one the manifests take, else as printed.

    DESCRIBE can show what no manifest declares (``VARCHAR NOT NULL``, ``TABLE (...)``,
    ``VECTOR(FLOAT, 256)``): such a value must show up as a difference, not fail observation.
    """
    try:
        return canonical_type(sql_type)
    except SqlTypeError:
        return " ".join(sql_type.upper().split())


def argument_type(sql_type: str) -> str:
    """The type as DESCRIBE's signature and SHOW's ``arguments`` print it: no length or precision.

    ``VARCHAR(100)`` is ``VARCHAR`` and ``NUMBER(36,2)`` is ``NUMBER`` there (Terraform provider
    pkg/sdk/testint/functions_integration_test.go, "function returns non detailed data types of
    arguments"), and a function is identified by these types. VECTOR keeps its element type and
    dimension (``VECTOR(FLOAT, 256)``; same test, and ParseFunctionArgumentsFromString in
    pkg/sdk/identifier_parsers.go).
    """
    if m := _VECTOR_RE.match(sql_type):
        return f"VECTOR({m.group(1).upper()}, {int(m.group(2))})"
    return described_type(sql_type).split("(")[0].strip()
