"""Snowflake SQL types of UDF arguments and results, and how they run in DuckDB."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from localsnow import errors

T = exp.DataType.Type

MAX_VARCHAR = 16777216
MAX_BINARY = 8388608


@dataclass(frozen=True)
class SqlType:
    """`base` is what signatures show (VARCHAR), `full` what DESCRIBE's returns shows."""

    base: str
    full: str

    @property
    def duckdb(self) -> str | None:
        """The DuckDB type a UDF value crosses as, None where execution is unsupported."""
        if self.base == "NUMBER":
            return "BIGINT" if self.full.endswith(",0)") else "DOUBLE"
        return _DUCKDB.get(self.base)

    def to_dict(self) -> dict[str, str]:
        return {"base": self.base, "full": self.full}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> SqlType:
        return cls(data["base"], data["full"])


_DUCKDB = {
    "VARCHAR": "VARCHAR",
    "FLOAT": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "BINARY": "BLOB",
    "DATE": "DATE",
    "TIMESTAMP_NTZ": "TIMESTAMP",
}

_TEXT = {T.VARCHAR, T.CHAR, T.NCHAR, T.NVARCHAR, T.TEXT}
_INTEGER = {T.INT, T.BIGINT, T.SMALLINT, T.TINYINT, T.UBIGINT, T.UINT, T.USMALLINT, T.UTINYINT}
_FLOAT = {T.FLOAT, T.DOUBLE}
_SIMPLE = {
    T.BOOLEAN: "BOOLEAN",
    T.DATE: "DATE",
    T.VARIANT: "VARIANT",
    T.OBJECT: "OBJECT",
    T.ARRAY: "ARRAY",
    T.GEOGRAPHY: "GEOGRAPHY",
}


def _params(datatype: exp.DataType) -> list[int]:
    return [int(p.name) for p in datatype.expressions if p.name.isdigit()]


def from_datatype(datatype: exp.DataType) -> SqlType:
    kind = datatype.this
    params = _params(datatype)
    if kind in _TEXT:
        return SqlType("VARCHAR", f"VARCHAR({params[0] if params else MAX_VARCHAR})")
    if kind in (T.DECIMAL, T.BIGDECIMAL):
        precision = params[0] if params else 38
        scale = params[1] if len(params) > 1 else 0
        return SqlType("NUMBER", f"NUMBER({precision},{scale})")
    if kind in _INTEGER:
        return SqlType("NUMBER", "NUMBER(38,0)")
    if kind in _FLOAT:
        return SqlType("FLOAT", "FLOAT")
    if kind in (T.BINARY, T.VARBINARY):
        return SqlType("BINARY", f"BINARY({params[0] if params else MAX_BINARY})")
    if kind in (T.TIMESTAMP, T.TIMESTAMPNTZ, T.DATETIME):
        return SqlType("TIMESTAMP_NTZ", "TIMESTAMP_NTZ(9)")
    if kind in _SIMPLE:
        return SqlType(_SIMPLE[kind], _SIMPLE[kind])
    raise errors.unsupported(f"type {datatype.sql(dialect='snowflake')}")


def parse_type(text: str) -> SqlType:
    try:
        datatype = exp.DataType.build(text.strip(), dialect="snowflake")
    except Exception:
        raise errors.compilation_error(f"invalid type '{text.strip()}'") from None
    return from_datatype(datatype)


def split_type_list(text: str) -> list[str]:
    """'VARCHAR, NUMBER(10, 2)' -> ['VARCHAR', 'NUMBER(10, 2)'] (commas at depth 0 only)."""
    items, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]
