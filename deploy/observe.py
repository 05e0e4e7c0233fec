"""Observe the live account through SHOW / LIST / DESCRIBE; never runs DDL.

The parsers are pure functions over result rows, so they are tested against
fixtures shaped like Snowflake's documented outputs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any

from deploy.errors import SnowflakeError
from deploy.names import FunctionIdentity, InvalidName, StagePath, find_outside_quotes, split_leading_name, unquote
from deploy.packages import split_spec, version_key
from deploy.session import Session
from deploy.spec import MARKER_NAME, Desired
from deploy.sql import argument_type, described_type, like_pattern, literal, qualified, stage_location

# The model lives in deploy.state (pure); re-exported for existing importers.
from deploy.state import (
    TAG_RE,
    Observed,
    ObservedFunction,
    ObservedStage,
    RemoteFile,
    split_tag,
    stage_encryption,
    tag,
)

# --- parsers of Snowflake outputs (pure) ---------------------------------------------------


def parse_list(rows: Iterable[dict[str, Any]], stage_name: str) -> tuple[RemoteFile, ...]:
    """LIST @stage rows -> files relative to the stage root.

    Snowflake prints ``name`` as ``<stage name, lower-case>/<path>``. Size and md5
    are kept as listed; what they say depends on the stage's encryption
    (deploy.state.listed_sizes, plaintext_md5): padded ciphertext on SNOWFLAKE_FULL,
    the file's own on SNOWFLAKE_SSE, ``<md5>-<parts>`` for multipart uploads.
    """
    out = []
    prefix = stage_name.lower() + "/"
    for r in rows:
        name = str(r["name"])
        path = name[len(prefix) :] if name.lower().startswith(prefix) else name.split("/", 1)[-1]
        out.append(RemoteFile(path, int(r["size"]), r.get("md5"), str(r.get("last_modified") or "")))
    return tuple(sorted(out, key=lambda f: f.path))


def _closing_paren(text: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at`` (quotes respected), or -1."""
    depth, quoted = 0, False
    for i in range(open_at, len(text)):
        ch = text[i]
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


_RETURN_RE = re.compile(r"^\s+RETURN\s+(?P<ret>\S.*?)\s*$", re.IGNORECASE | re.DOTALL)


def _shown_type(text: str) -> str:
    """One argument of SHOW's ``arguments``: upper case, whitespace collapsed, DEFAULT marker dropped.

    An optional argument is printed ``DEFAULT NUMBER`` (Terraform provider
    pkg/sdk/identifier_parsers.go ParseFunctionArgumentsFromString; SnowDDL
    snowddl/resolver/_utils.py dtypes_from_arguments); the 2024_01 bundle notes show
    ``BOOLEAN DEFAULT`` and, before it, ``[, BOOLEAN]`` (docs: bcr-bundles/2024_01/bcr-1508).
    """
    t = " ".join(text.upper().split())
    t = t.removeprefix("DEFAULT ").removesuffix(" DEFAULT")
    return t


def parse_show_arguments(arguments: str, name: str | None = None) -> tuple[str, tuple[str, ...], str]:
    """``SUMMARIZE(VARCHAR) RETURN VARCHAR`` -> (name, argument types as printed, return type).

    Types keep what SHOW prints: the base type today (``NUMBER`` for NUMBER(36,2)), the full
    type once bundle 2025_03's change is enabled (``NUMBER(20,0)``, ``VARCHAR(100)``; docs:
    bcr-bundles/un-bundled/bcr-1944), ``VECTOR(FLOAT, 256)`` always. Either spelling resolves
    in DESCRIBE FUNCTION; `sql.argument_type` reduces them to the function's identity. The
    return type may hold spaces and parentheses (``TABLE (PRICE FLOAT, THIRD VARCHAR)``).
    ``name``, the row's ``name`` column, locates the argument list when the name itself holds
    parentheses (a quoted identifier).
    """
    text = arguments.strip()
    open_at = len(name) if name and text.startswith(name + "(") else find_outside_quotes(text, "(")
    close_at = _closing_paren(text, open_at) if open_at > 0 else -1
    m = _RETURN_RE.match(text[close_at + 1 :]) if close_at > 0 else None
    if not m:
        raise ValueError(f"unrecognised SHOW FUNCTIONS arguments: {arguments!r}")
    fn = unquote(text[:open_at].strip())
    # Before bundle 2024_01, optional arguments were bracketed: `VARCHAR [, BOOLEAN]`.
    inner = text[open_at + 1 : close_at].replace("[", "").replace("]", "")
    types = tuple(t for t in (_shown_type(p) for p in _split_top(inner)) if t)
    return fn, types, " ".join(m.group("ret").upper().split())


def _split_top(s: str) -> list[str]:
    """Split on commas outside quotes and parentheses."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in s:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


def parse_signature(signature: str) -> tuple[tuple[str, str], ...]:
    """DESCRIBE's ``(TEXT VARCHAR, N NUMBER)`` -> ((name, type as the signature prints it), ...).

    The signature drops length and precision (VARCHAR(100) shows as VARCHAR, NUMBER(36,2)
    as NUMBER; Terraform provider pkg/sdk/testint/functions_integration_test.go), so types
    are reduced to that form whatever a given account prints (`sql.argument_type`).
    """
    inner = signature.strip()
    if inner.startswith("(") and inner.endswith(")"):
        inner = inner[1:-1]
    out = []
    for part in _split_top(inner):
        name, typ = split_leading_name(part)
        out.append((name.upper(), argument_type(typ.strip())))
    return tuple(out)


def _import_path(text: str, database: str, schema: str) -> str:
    """An IMPORTS entry as DESCRIBE prints it, in any spelling -> ``@DB.SCHEMA.STAGE/path`` (names as stored).

    A relative stage name is in the function's schema. An entry that is no stage path is kept as
    printed, so it shows up as a difference rather than failing observation.
    """
    try:
        return StagePath.parse(text, database, schema).normalized
    except InvalidName:
        return text.strip()


def parse_list_value(value: str | None) -> tuple[str, ...]:
    """DESCRIBE's ``['a','b']`` or ``[@x/a.py,@y/b.py]`` -> items."""
    if value is None:
        return ()
    v = str(value).strip()
    if v in ("", "[]", "null", "NULL"):
        return ()
    try:
        parsed = ast.literal_eval(v)
        if isinstance(parsed, list | tuple):
            return tuple(str(x).strip() for x in parsed)
    except (ValueError, SyntaxError):
        pass
    if v.startswith("[") and v.endswith("]"):
        v = v[1:-1]
    return tuple(x.strip().strip("'") for x in _split_top(v) if x.strip())


def parse_describe(
    rows: Iterable[dict[str, Any]], database: str, schema: str, name: str, comment: str
) -> ObservedFunction:
    props = {str(r["property"]).lower(): r.get("value") for r in rows}
    returns = str(props.get("returns") or "")
    return ObservedFunction(
        database=database,
        schema=schema,
        name=name,
        args=parse_signature(str(props.get("signature") or "()")),
        returns=described_type(returns) if returns else "",
        language=str(props.get("language") or "").upper(),
        runtime=str(props.get("runtime_version") or ""),
        handler=str(props.get("handler") or ""),
        packages=tuple(sorted(p.lower() for p in parse_list_value(props.get("packages")))),
        imports=tuple(sorted(_import_path(i, database, schema) for i in parse_list_value(props.get("imports")))),
        null_handling=str(props.get("null handling") or "CALLED ON NULL INPUT").upper(),
        volatility=str(props.get("volatility") or "VOLATILE").upper(),
        body=str(props.get("body") or "").strip(),
        comment=comment,
    )


# --- observation (SQL) --------------------------------------------------------------------


def _exists(session: Session, sql: str, name: str) -> bool:
    return any(str(r.get("name", "")) == name for r in session.query(sql))


def observe(session: Session, desired: Desired) -> Observed:
    """Read what the account holds for the databases, schemas, stages and functions in scope."""
    databases: set[str] = set()
    schemas: set[tuple[str, str]] = set()
    stages: dict[str, ObservedStage] = {}
    functions: dict[str, ObservedFunction] = {}
    for db in desired.databases:
        if _exists(session, f"SHOW DATABASES LIKE {like_pattern(db)}", db):
            databases.add(db)
    for db, sc in desired.schemas:
        if db in databases and _exists(
            session, f"SHOW SCHEMAS LIKE {like_pattern(sc)} IN DATABASE {qualified(db)}", sc
        ):
            schemas.add((db, sc))
    wanted_stages = {(s.database, s.schema, s.name) for s in desired.stages.values()}
    for db, sc in sorted(schemas):
        for row in session.query(f"SHOW STAGES IN SCHEMA {qualified(db, sc)}"):
            name = str(row["name"])
            if str(row.get("database_name", db)) != db or str(row.get("schema_name", sc)) != sc:
                continue  # fakesnow ignores IN SCHEMA on some versions; filter client-side
            comment = str(row.get("comment") or "")
            if (db, sc, name) not in wanted_stages and not split_tag(comment)[1]:
                continue  # foreign stage: not ours to look into
            files = parse_list(session.query(f"LIST {stage_location(db, sc, name)}"), name)
            st = ObservedStage(db, sc, name, comment, files, stage_encryption(row.get("type")))
            stages[st.fqn] = st
        for row in session.query(f"SHOW USER FUNCTIONS IN SCHEMA {qualified(db, sc)}"):
            if str(row.get("catalog_name", db)) != db or str(row.get("schema_name", sc)) != sc:
                continue
            if str(row.get("language", "PYTHON")).upper() != "PYTHON":
                continue
            comment = str(row.get("description") or "")
            try:
                name, types, _ = parse_show_arguments(str(row["arguments"]), str(row.get("name") or ""))
            except ValueError:
                if split_tag(comment)[1]:
                    raise
                continue  # a foreign function this parser cannot read is none of our business
            identity = FunctionIdentity.of(db, sc, name, (argument_type(t) for t in types))
            if str(identity) not in desired.functions and not split_tag(comment)[1]:
                continue  # foreign function
            # DESCRIBE takes the types as SHOW printed them (either spelling resolves).
            rows = session.query(f"DESCRIBE FUNCTION {FunctionIdentity.of(db, sc, name, types).sql}")
            fn = parse_describe(rows, db, sc, name, comment)
            functions[fn.identity] = fn
    return Observed(frozenset(databases), frozenset(schemas), stages, functions, _packages(session, desired, databases))


def _packages(
    session: Session, desired: Desired, databases: set[str]
) -> dict[str, tuple[tuple[str, str | None], ...]] | None:
    """(version, runtime) rows per package in the Snowflake channel, for the packages the manifests name.

    RUNTIME_VERSION gives one row per package version per Python runtime (docs:
    release-notes/bcr-bundles/2023_04/bcr-1094); a view without the column is read
    again without it, its versions then counting for every runtime.
    """
    names = sorted({split_spec(p)[0] for f in desired.functions.values() for p in f.packages})
    if not names:
        return {}
    # The target database's view when it exists; SNOWFLAKE's shared one on a fresh account.
    sources = [f"{qualified(db)}.INFORMATION_SCHEMA.PACKAGES" for db in sorted(databases)]
    sources += ["SNOWFLAKE.INFORMATION_SCHEMA.PACKAGES", "INFORMATION_SCHEMA.PACKAGES"]
    where = f"WHERE language = 'python' AND package_name IN ({', '.join(literal(n) for n in names)})"
    rows: list[dict[str, Any]] | None = None
    for source in sources:
        for columns in ("package_name, version, runtime_version", "package_name, version"):
            try:
                rows = session.query(f"SELECT {columns} FROM {source} {where}")
                break
            except SnowflakeError:
                continue
        if rows is not None:
            break
    if rows is None:
        return None  # the channel could not be read: packages go unchecked, with a warning
    return parse_packages(rows)


def parse_packages(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[tuple[str, str | None], ...]]:
    """INFORMATION_SCHEMA.PACKAGES rows -> {package: ((version, runtime or None), ...)}, sorted by version."""
    out: dict[str, set[tuple[str, str | None]]] = {}
    for r in rows:
        r = {str(k).lower(): v for k, v in r.items()}
        runtime = r.get("runtime_version")
        out.setdefault(str(r["package_name"]).lower(), set()).add(
            (str(r["version"]), str(runtime) if runtime is not None else None)
        )
    return {k: tuple(sorted(v, key=lambda row: (version_key(row[0]), row[1] or ""))) for k, v in out.items()}


__all__ = [
    "MARKER_NAME",
    "TAG_RE",
    "Observed",
    "ObservedFunction",
    "ObservedStage",
    "RemoteFile",
    "observe",
    "split_tag",
    "tag",
]
