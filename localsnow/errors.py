"""Snowflake-shaped errors: the connector raises them as ProgrammingError on the client."""

from __future__ import annotations

import re

from snowflake.connector.errors import ProgrammingError

# Snowflake error numbers (as the connector shows them, e.g. 002003 (02000)).
COMPILATION = 1003
ALREADY_EXISTS = 2002
DOES_NOT_EXIST = 2003
NO_DATABASE = 90105
NO_SCHEMA = 90106
UNSUPPORTED = 2
PYTHON_UDF = 100357
UNKNOWN_FUNCTION = 2140
INVALID_ARGUMENTS = 1044


def sql_error(message: str, errno: int = COMPILATION, sqlstate: str = "42000") -> ProgrammingError:
    return ProgrammingError(msg=message, errno=errno, sqlstate=sqlstate)


def compilation_error(detail: str, errno: int = COMPILATION, sqlstate: str = "42000") -> ProgrammingError:
    return sql_error(f"SQL compilation error:\n{detail}", errno, sqlstate)


def does_not_exist(kind: str, name: str) -> ProgrammingError:
    return compilation_error(f"{kind} '{name}' does not exist or not authorized.", DOES_NOT_EXIST, "02000")


def already_exists(name: str) -> ProgrammingError:
    return compilation_error(f"Object '{name}' already exists.", ALREADY_EXISTS, "42710")


def unsupported(what: str) -> ProgrammingError:
    return sql_error(f"Unsupported feature '{what}' in the local Snowflake.", UNSUPPORTED, "0A000")


def python_udf_error(detail: str) -> ProgrammingError:
    return sql_error(detail, PYTHON_UDF, "P0000")


# DuckDB's words for a CREATE of an existing table/view, as fakesnow passes them on (errno 2003), and for two
# sessions creating one name at once. Snowflake answers both `002002 (42710): SQL compilation error:
# Object '<NAME>' already exists.` (docs sql-reference/sql/create: without OR REPLACE / IF NOT EXISTS a
# CREATE of an existing object fails), which is what deploy.lock relies on to take its lock.
_DUCK_ALREADY_EXISTS = re.compile(
    r'Catalog Error: (?:Table|View|Sequence) with name "?(?P<name>[^"!]+)"? already exists'
    r'|Catalog write-write conflict on create with "(?P<conflict>[^"]+)"'
)


def duckdb_already_exists(message: str) -> str | None:
    """The name in DuckDB's 'already exists' error (as fakesnow passes it on), or None."""
    match = _DUCK_ALREADY_EXISTS.search(message)
    return None if match is None else (match["name"] or match["conflict"])
