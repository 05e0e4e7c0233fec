"""The one place identifiers, literals and stage paths are quoted.

Every statement the reconciler runs is built from these helpers, so a name
like ``x"; DROP TABLE y; --`` can never escape its quotes. Manifest
validation already rejects such names; quoting here is the second wall.
"""

from __future__ import annotations

import re

# Unquoted Snowflake identifiers: letter or underscore, then letters, digits, _ or $.
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")

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
_VARCHAR_MAX = 16777216


class SqlTypeError(ValueError):
    pass


def ident(name: str) -> str:
    """Double-quote one identifier part, doubling embedded quotes."""
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    return ".".join(ident(p) for p in parts)


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
    return "@" + qualified(database, schema, stage) + (f"/{path}" if path else "")


def quoted_stage_location(database: str, schema: str, stage: str, path: str = "") -> str:
    """A stage location as a quoted literal, safe whatever the path holds."""
    return literal(stage_location(database, schema, stage, path))


def file_url(path: str) -> str:
    """A quoted ``file://`` URL for PUT/GET (paths may hold spaces)."""
    if "'" in path or "\n" in path:
        raise ValueError(f"unsupported character in local path {path!r}")
    return literal("file://" + path)


def canonical_type(sql_type: str) -> str:
    """Canonical form of a SQL type: synonyms collapsed, defaults dropped.

    ``STRING`` and ``VARCHAR(16777216)`` are both ``VARCHAR``; ``INT`` and
    ``NUMBER(38,0)`` are both ``NUMBER(38,0)``.
    """
    m = _TYPE_RE.match(sql_type)
    if not m:
        raise SqlTypeError(f"not a SQL type: {sql_type!r}")
    base = _TYPE_SYNONYMS.get(" ".join(m.group(1).upper().split()))
    if base is None:
        raise SqlTypeError(
            f"unsupported SQL type {sql_type!r}; use one of {', '.join(sorted(set(_TYPE_SYNONYMS.values())))}"
        )
    size, scale = m.group(2), m.group(3)
    if base == "VARCHAR":
        if size and int(size) != _VARCHAR_MAX:
            return f"VARCHAR({int(size)})"
        return "VARCHAR"
    if base == "NUMBER":
        is_int = m.group(1).upper().strip() in {"INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT"}
        if is_int:
            return "NUMBER(38,0)"
        return f"NUMBER({int(size or 38)},{int(scale or 0)})"
    if size or scale:
        if base in {"TIME", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "BINARY"}:
            return f"{base}({int(size)})" if size else base
        raise SqlTypeError(f"type {base} takes no size: {sql_type!r}")
    return base


def argument_type(sql_type: str) -> str:
    """The type as it appears in a function's identity, e.g. ``VARCHAR`` or ``NUMBER``."""
    return canonical_type(sql_type).split("(")[0]
