"""Snowflake object names in statements: case rules, qualification, stage locations.

Parsing and quoting are deploy.names' (the one name type); this module maps its errors to
Snowflake's and adds what only the server needs: sqlglot nodes, session defaults, literals.
"""

from __future__ import annotations

from sqlglot import exp

from deploy import names
from deploy.names import FQN, InvalidName, StagePath
from localsnow import errors

# One name type for the reconciler and the server: database, schema, name, already normalized
# (``.dotted`` is how Snowflake names objects in messages), and a stage plus a path inside it.
ObjectName = FQN
StageLocation = StagePath

quote_identifier = names.quote


def normalize_identifier(part: str) -> str:
    """Unquoted identifiers are upper-cased; quoted ones are kept as written."""
    try:
        return names.parse_identifier(part)
    except InvalidName:
        raise errors.compilation_error(f"invalid identifier '{part}'") from None


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
    try:
        return list(names.split_parts(text))
    except InvalidName:
        raise errors.compilation_error(f"invalid identifier '{text}'") from None


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
    # IDENTIFIER('db.s.name') names the object its string holds (docs: sql-reference/identifier-literal);
    # snowflake-cli writes CREATE FUNCTION and CREATE STAGE so (cli/api/identifiers.py, FQN.sql_identifier).
    dynamic = table.this
    if isinstance(dynamic, exp.DynamicIdentifier) and isinstance(dynamic.this, exp.Literal) and dynamic.this.is_string:
        return qualify(split_qualified(dynamic.this.this), database, schema, command)
    parts = [
        identifier_from_sqlglot(part)
        for part in (table.args.get("catalog"), table.args.get("db"), table.this)
        if part is not None
    ]
    return qualify(parts, database, schema, command)


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
    if text[1:].startswith(("~", "%")):
        raise errors.unsupported(f"user and table stages ({text})")
    name, path = names.split_stage_path(text)
    stage = qualify(split_qualified(name), database, schema, command)
    path = path.lstrip("/")
    if any(part in ("..", ".") for part in path.split("/")):
        raise errors.compilation_error(f"invalid stage path '{path}'")
    return StageLocation(stage, path)
