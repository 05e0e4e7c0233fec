"""Snowflake object names: identifier case rules, qualification, stage locations."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from localsnow import errors


def normalize_identifier(part: str) -> str:
    """Unquoted identifiers are upper-cased; quoted ones are kept as written."""
    part = part.strip()
    if len(part) >= 2 and part[0] == '"' and part[-1] == '"':
        return part[1:-1].replace('""', '"')
    return part.upper()


def identifier_from_sqlglot(node: exp.Expression | str | None) -> str:
    if node is None:
        return ""
    if isinstance(node, exp.Identifier):
        return node.this if node.quoted else node.this.upper()
    if isinstance(node, exp.Expression):
        return identifier_from_sqlglot(node.this)
    return str(node).upper()


def split_qualified(text: str) -> list[str]:
    """Split 'A."b.c".D' on dots outside double quotes, normalizing each part."""
    parts, current, quoted = [], [], False
    for char in text.strip():
        if char == '"':
            quoted = not quoted
        if char == "." and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    if quoted or any(not p.strip() for p in parts):
        raise errors.compilation_error(f"invalid identifier '{text}'")
    return [normalize_identifier(p) for p in parts]


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, order=True)
class ObjectName:
    """A schema-level object: database, schema, name, each already normalized."""

    database: str
    schema: str
    name: str

    @property
    def dotted(self) -> str:
        """How Snowflake names objects in messages: DB.SCHEMA.NAME."""
        return f"{self.database}.{self.schema}.{self.name}"


def qualify(parts: list[str], database: str | None, schema: str | None, command: str) -> ObjectName:
    """Fill missing database/schema from the session, erroring as Snowflake does."""
    if len(parts) > 3 or not parts:
        raise errors.compilation_error(f"invalid object name '{'.'.join(parts)}'")
    if len(parts) < 3 and not database:
        raise errors.sql_error(
            f"Cannot perform {command}. This session does not have a current database. "
            "Call 'USE DATABASE', or use a qualified name.",
            errors.NO_DATABASE,
            "22000",
        )
    if len(parts) < 2 and not schema:
        raise errors.sql_error(
            f"Cannot perform {command}. This session does not have a current schema. "
            "Call 'USE SCHEMA', or use a qualified name.",
            errors.NO_SCHEMA,
            "22000",
        )
    padded = [database or "", schema or ""][: 3 - len(parts)] + parts
    return ObjectName(*padded)


def object_name_from_table(table: exp.Table, database: str | None, schema: str | None, command: str) -> ObjectName:
    parts = [
        identifier_from_sqlglot(part)
        for part in (table.args.get("catalog"), table.args.get("db"), table.this)
        if part is not None
    ]
    return qualify(parts, database, schema, command)


@dataclass(frozen=True)
class StageLocation:
    """`@stage/path`: a named internal stage plus a path prefix inside it."""

    stage: ObjectName
    path: str


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f"}


def decode_string_body(body: str) -> str:
    """The value of a single-quoted literal's body: '' and backslash escapes, as Snowflake reads them."""
    out, index = [], 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            out.append(_ESCAPES.get(body[index + 1], body[index + 1]))
            index += 2
        elif char == "'" and body[index + 1 : index + 2] == "'":
            out.append("'")
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def unquote_literal(text: str) -> str:
    """'it''s' -> it's; unquoted text is returned as is."""
    text = text.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return decode_string_body(text[1:-1])
    return text


def parse_stage_location(text: str, database: str | None, schema: str | None, command: str) -> StageLocation:
    """Parse '@"DB"."S"."STAGE"/a/b' (quoted or not) into stage name and path."""
    text = unquote_literal(text)
    if not text.startswith("@"):
        raise errors.compilation_error(f"Stage location '{text}' must start with @.")
    body = text[1:]
    if body.startswith(("~", "%")):
        raise errors.unsupported(f"user and table stages ({text})")
    quoted, cut = False, len(body)
    for index, char in enumerate(body):
        if char == '"':
            quoted = not quoted
        elif char == "/" and not quoted:
            cut = index
            break
    stage = qualify(split_qualified(body[:cut]), database, schema, command)
    path = body[cut:].lstrip("/")
    if any(part in ("..", ".") for part in path.split("/")):
        raise errors.compilation_error(f"invalid stage path '{path}'")
    return StageLocation(stage, path)
