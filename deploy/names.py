"""Snowflake names: identifiers, qualified names, stage paths, function identities.

The one place names are parsed and quoted (DESIGN.md §3), after snowflake-cli's ``FQN``
(src/snowflake/cli/api/identifiers.py). Pure and stdlib-only: localsnow imports it too, so
errors are ``InvalidName`` and each caller maps them to its own (DeployError, a Snowflake
compilation error).

Identifier rules (docs: sql-reference/identifiers-syntax): an unquoted part is a letter or
``_`` then letters, digits, ``_`` or ``$``, and folds to upper case; a "quoted" part keeps
its case, ``""`` inside it being one quote. Parts are separated by dots outside quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Unquoted Snowflake identifiers: letter or underscore, then letters, digits, _ or $.
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")


class InvalidName(ValueError):
    """Text that is not a Snowflake name; ``reason`` (one of the constants) lets callers word it."""

    UNBALANCED = "unbalanced"  # a double quote never closed
    EMPTY_QUOTED = "empty quoted"  # ""
    BARE = "bare"  # an unquoted part that is no identifier (an empty one included)
    AFTER_QUOTE = "after quote"  # something other than '.' after a quoted part
    PARTS = "parts"  # too many parts, or too few with no default to fill them
    NOT_STAGE = "not stage"  # a stage path without its leading @

    def __init__(self, text: str, reason: str, detail: str) -> None:
        super().__init__(f"{detail}: {text!r}")
        self.text, self.reason, self.detail = text, reason, detail

    def about(self, text: str) -> InvalidName:
        """The same error, naming the whole text it was found in."""
        return InvalidName(text, self.reason, self.detail)


def quote(part: str) -> str:
    """One identifier part, always double-quoted, embedded quotes doubled: the one quoter."""
    return '"' + part.replace('"', '""') + '"'


def sql_name(*parts: str) -> str:
    """Parts as SQL, each quoted: ``"DB"."SCHEMA"`` (any depth: a database, a schema, a column)."""
    return ".".join(quote(p) for p in parts)


def unquote(text: str) -> str:
    """A name as Snowflake prints it -> as stored: ``"a""b"`` -> ``a"b``; unquoted text is kept as printed.

    For SHOW and DESCRIBE output, which prints stored names (no case folding to undo).
    """
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def split_parts(text: str) -> tuple[str, ...]:
    """``db.sc."My Table"`` -> ("DB", "SC", "My Table"): dots inside quotes are part of the name.

    Whitespace around a part is ignored; an empty part, an unbalanced quote, an unquoted part that
    is no identifier or text after a quoted part other than a dot are errors.
    """
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            buf, j = [], i + 1
            while True:
                end = text.find('"', j)
                if end < 0:
                    raise InvalidName(text, InvalidName.UNBALANCED, "unbalanced double quote in name")
                buf.append(text[j:end])
                if text.startswith('"', end + 1):  # "" inside quotes is one quote
                    buf.append('"')
                    j = end + 2
                    continue
                i = end + 1
                break
            part = "".join(buf)
            if not part:
                raise InvalidName(text, InvalidName.EMPTY_QUOTED, "empty quoted identifier in name")
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] != ".":
                raise InvalidName(text, InvalidName.AFTER_QUOTE, "expected '.' after a quoted part")
        else:
            j = i
            while j < n and text[j] != ".":
                j += 1
            part = text[i:j].strip()
            if not IDENTIFIER_RE.match(part):
                raise InvalidName(text, InvalidName.BARE, "not a valid identifier")
            part, i = part.upper(), j
        parts.append(part)
        if i >= n:
            return tuple(parts)
        i += 1  # the dot


def split_leading_name(text: str) -> tuple[str, str]:
    """A name as SHOW/DESCRIBE print it at the start of ``text``, and the rest.

    ``"my ""x"" arg" VARCHAR`` -> (``my "x" arg``, `` VARCHAR``); ``TEXT VARCHAR`` -> (``TEXT``, `` VARCHAR``).
    A quoted name runs to its closing quote (``""`` inside being one quote); an unquoted one to the
    first space. Names come back as stored (see ``unquote``).
    """
    if text.startswith('"'):
        end = text.find('"', 1)
        while end != -1 and text.startswith('"', end + 1):  # "" inside a quoted name
            end = text.find('"', end + 2)
        if end == -1:
            raise InvalidName(text, InvalidName.UNBALANCED, "unbalanced double quote in name")
        return unquote(text[: end + 1]), text[end + 1 :]
    name, space, rest = text.partition(" ")
    return name, space + rest


def parse_identifier(text: str) -> str:
    """One identifier: ``news`` -> ``NEWS``, ``"a.b"`` -> ``a.b``."""
    parts = split_parts(text)
    if len(parts) != 1:
        raise InvalidName(text, InvalidName.PARTS, "expected one identifier")
    return parts[0]


@dataclass(frozen=True, order=True)
class FQN:
    """A schema-level object's name: database, schema, name, each as stored (resolved, unquoted)."""

    database: str
    schema: str
    name: str

    @classmethod
    def from_parts(cls, parts: Sequence[str], database: str | None = None, schema: str | None = None) -> FQN:
        """1 to 3 resolved parts, the missing leading ones taken from ``database`` and ``schema``."""
        if not 1 <= len(parts) <= 3:
            raise InvalidName(".".join(parts), InvalidName.PARTS, "expected [database.][schema.]name")
        database, schema, name = (database or "", schema or "")[: 3 - len(parts)] + tuple(parts)
        if not database or not schema:
            missing = "schema" if database else "database"
            raise InvalidName(".".join(parts), InvalidName.PARTS, f"no {missing} given for name")
        return cls(database, schema, name)

    @classmethod
    def parse(cls, text: str, database: str | None = None, schema: str | None = None) -> FQN:
        """``name``, ``schema.name`` or ``database.schema.name`` in any spelling; defaults fill the rest."""
        try:
            return cls.from_parts(split_parts(text), database, schema)
        except InvalidName as e:
            raise e.about(text) from None

    @property
    def parts(self) -> tuple[str, str, str]:
        return self.database, self.schema, self.name

    @property
    def sql(self) -> str:
        """``"DB"."SCHEMA"."NAME"``: safe in any statement whatever the names hold."""
        return sql_name(*self.parts)

    @property
    def dotted(self) -> str:
        """``DB.SCHEMA.NAME``, unquoted: how Snowflake names objects in messages and plans key them."""
        return ".".join(self.parts)

    def __str__(self) -> str:
        return self.dotted


def find_outside_quotes(text: str, char: str, start: int = 0) -> int:
    """Index of the first ``char`` at or after ``start`` outside double-quoted names, or -1."""
    quoted = False
    for i in range(start, len(text)):
        if text[i] == '"':
            quoted = not quoted  # "" toggles twice: still inside
        elif text[i] == char and not quoted:
            return i
    return -1


def split_stage_path(text: str) -> tuple[str, str]:
    """``@"DB"."S"."ST"/a/b`` -> (``"DB"."S"."ST"``, ``a/b``): the stage's name (as written) and the path.

    The name ends at the first ``/`` outside double quotes; the path is everything after that slash.
    """
    if not text.startswith("@"):
        raise InvalidName(text, InvalidName.NOT_STAGE, "a stage path starts with @")
    i = find_outside_quotes(text, "/")
    return (text[1:i], text[i + 1 :]) if i >= 0 else (text[1:], "")


@dataclass(frozen=True)
class StagePath:
    """``@stage/path``: a named internal stage and a path inside it (``""``: the stage root)."""

    stage: FQN
    path: str = ""

    @classmethod
    def parse(cls, text: str, database: str | None = None, schema: str | None = None) -> StagePath:
        """Any spelling: quoted or not, 1 to 3 parts (defaults fill the rest), inside '...' as DESCRIBE prints it."""
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] == "'":
            text = text[1:-1].strip()
        stage, path = split_stage_path(text)
        try:
            return cls(FQN.from_parts(split_parts(stage), database, schema), path)
        except InvalidName as e:
            raise e.about(text) from None

    @property
    def sql(self) -> str:
        """``@"DB"."S"."ST"/path``: the form PUT, LIST, REMOVE and IMPORTS take."""
        return "@" + self.stage.sql + (f"/{self.path}" if self.path else "")

    @property
    def normalized(self) -> str:
        """``@DB.S.ST/path``, identifiers as stored: the form the reconciler compares imports in."""
        return f"@{self.stage.dotted}/{self.path}"


@dataclass(frozen=True)
class FunctionIdentity:
    """A function is identified by its name and argument types: ``DB.S.NAME(VARCHAR, NUMBER)``.

    ``arg_types`` are taken as given; the reconciler passes them reduced to the form DESCRIBE's
    signature prints (deploy.sql.argument_type), which keeps this module free of type rules.
    """

    fqn: FQN
    arg_types: tuple[str, ...] = ()

    @classmethod
    def of(cls, database: str, schema: str, name: str, arg_types: Iterable[str] = ()) -> FunctionIdentity:
        return cls(FQN(database, schema, name), tuple(arg_types))

    @property
    def sql(self) -> str:
        """``"DB"."S"."NAME"(VARCHAR, NUMBER)``, for DESCRIBE and DROP FUNCTION."""
        return f"{self.fqn.sql}({', '.join(self.arg_types)})"

    def __str__(self) -> str:
        """The identity plans, specs and observed state are keyed by (unquoted, as in plan JSON)."""
        return f"{self.fqn.dotted}({', '.join(self.arg_types)})"
