"""Snowflake-shaped errors: the connector raises them as ProgrammingError on the client."""

from __future__ import annotations

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
