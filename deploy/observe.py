"""Observe the live account through SHOW / LIST / DESCRIBE; never runs DDL.

The parsers are pure functions over result rows, so they are tested against
fixtures shaped like Snowflake's documented outputs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from deploy import TOOL_NAME
from deploy.errors import SnowflakeError
from deploy.session import Session
from deploy.spec import MARKER_NAME, Desired, is_version_name
from deploy.sql import canonical_type, like_pattern, literal, qualified, stage_location

# The machine-readable ownership tag carried at the end of a COMMENT.
TAG_RE = re.compile(r"\s*\[" + re.escape(TOOL_NAME) + r"(?: spec=(?P<spec>[0-9a-f]+))?\]\s*$")


def tag(spec_hash: str | None = None) -> str:
    return f"[{TOOL_NAME}" + (f" spec={spec_hash}" if spec_hash else "") + "]"


def split_tag(comment: str | None) -> tuple[str, bool, str | None]:
    """(user comment, managed?, spec hash) of a COMMENT."""
    comment = comment or ""
    m = TAG_RE.search(comment)
    if not m:
        return comment, False, None
    return comment[: m.start()], True, m.group("spec")


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the stage root, e.g. "3f2a9c1b4d5e6f70/model.safetensors"
    size: int
    md5: str | None
    last_modified: str


@dataclass(frozen=True)
class ObservedStage:
    database: str
    schema: str
    name: str
    comment: str
    files: tuple[RemoteFile, ...]

    @property
    def fqn(self) -> str:
        return f"{self.database}.{self.schema}.{self.name}"

    @property
    def managed(self) -> bool:
        return split_tag(self.comment)[1]

    def versions(self) -> dict[str, dict[str, RemoteFile]]:
        """Managed version folders -> {file name: file}."""
        out: dict[str, dict[str, RemoteFile]] = {}
        for f in self.files:
            head, _, rest = f.path.partition("/")
            if rest and "/" not in rest and is_version_name(head):
                out.setdefault(head, {})[rest] = f
        return out

    def foreign_files(self) -> list[RemoteFile]:
        managed = {f.path for files in self.versions().values() for f in files.values()}
        return [f for f in self.files if f.path not in managed]


@dataclass(frozen=True)
class ObservedFunction:
    database: str
    schema: str
    name: str
    args: tuple[tuple[str, str], ...]  # (name, canonical type)
    returns: str
    language: str
    runtime: str
    handler: str
    packages: tuple[str, ...]
    imports: tuple[str, ...]  # normalised stage paths, see normalize_import
    null_handling: str
    volatility: str
    body: str
    comment: str

    @property
    def identity(self) -> str:
        return f"{self.database}.{self.schema}.{self.name}({', '.join(t.split('(')[0] for _, t in self.args)})"

    @property
    def managed(self) -> bool:
        return split_tag(self.comment)[1]


@dataclass(frozen=True)
class Observed:
    databases: frozenset[str]
    schemas: frozenset[tuple[str, str]]
    stages: dict[str, ObservedStage]
    functions: dict[str, ObservedFunction]
    packages: dict[str, tuple[str, ...]] | None = field(default=None)  # None: could not be read

    def fingerprint(self) -> str:
        """A digest of everything observed; a saved plan applies only while it is unchanged."""
        doc = {
            "databases": sorted(self.databases),
            "schemas": sorted(list(s) for s in self.schemas),
            "stages": {k: asdict(v) for k, v in sorted(self.stages.items())},
            "functions": {k: asdict(v) for k, v in sorted(self.functions.items())},
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


# --- parsers of Snowflake outputs (pure) ---------------------------------------------------


def parse_list(rows: Iterable[dict[str, Any]], stage_name: str) -> tuple[RemoteFile, ...]:
    """LIST @stage rows -> files relative to the stage root.

    Snowflake prints ``name`` as ``<stage name, lower-case>/<path>``. The md5 is
    kept for display only: on encrypted stages it is not the plaintext md5, and
    multipart uploads show ``<md5>-<parts>``.
    """
    out = []
    prefix = stage_name.lower() + "/"
    for r in rows:
        name = str(r["name"])
        path = name[len(prefix) :] if name.lower().startswith(prefix) else name.split("/", 1)[-1]
        out.append(RemoteFile(path, int(r["size"]), r.get("md5"), str(r.get("last_modified") or "")))
    return tuple(sorted(out, key=lambda f: f.path))


_ARGUMENTS_RE = re.compile(r"^\s*(?P<name>.+?)\((?P<args>.*?)\)\s+RETURN\s+(?P<ret>.+?)\s*$", re.IGNORECASE)


def parse_show_arguments(arguments: str) -> tuple[str, tuple[str, ...], str]:
    """``SUMMARIZE(VARCHAR) RETURN VARCHAR`` -> (name, arg types, return type)."""
    m = _ARGUMENTS_RE.match(arguments)
    if not m:
        raise ValueError(f"unrecognised SHOW FUNCTIONS arguments: {arguments!r}")
    raw = m.group("args").replace("[", "").replace("]", "")
    types = tuple(t.strip().upper() for t in raw.split(",") if t.strip())
    return m.group("name").strip().strip('"'), types, m.group("ret").strip().upper()


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
    """DESCRIBE's ``(TEXT VARCHAR, N NUMBER(38,0))`` -> ((name, canonical type), ...)."""
    inner = signature.strip()
    if inner.startswith("(") and inner.endswith(")"):
        inner = inner[1:-1]
    out = []
    for part in _split_top(inner):
        name, _, typ = part.partition(" ")
        out.append((name.strip('"').upper(), canonical_type(typ.strip())))
    return tuple(out)


def _ident_parts(ref: str) -> list[str]:
    parts, cur, quoted, i = [], "", False, 0
    while i < len(ref):
        ch = ref[i]
        if ch == '"':
            if quoted and i + 1 < len(ref) and ref[i + 1] == '"':
                cur += '"'
                i += 2
                continue
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch if quoted else ch.upper()
        i += 1
    parts.append(cur)
    return parts


def normalize_import(path: str, database: str, schema: str) -> str:
    """Any spelling of a stage import -> ``@DB.SCHEMA.STAGE/path`` (identifiers as stored)."""
    p = path.strip().strip("'").strip()
    if not p.startswith("@"):
        return p
    p = p[1:]
    # The stage part ends at the first slash outside quotes.
    depth_quote, cut = False, len(p)
    for i, ch in enumerate(p):
        if ch == '"':
            depth_quote = not depth_quote
        elif ch == "/" and not depth_quote:
            cut = i
            break
    stage, rest = p[:cut], p[cut + 1 :]
    parts = _ident_parts(stage)
    if len(parts) == 1:
        parts = [database, schema, *parts]
    elif len(parts) == 2:
        parts = [database, *parts]
    return "@" + ".".join(parts) + "/" + rest


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
        returns=canonical_type(returns) if returns else "",
        language=str(props.get("language") or "").upper(),
        runtime=str(props.get("runtime_version") or ""),
        handler=str(props.get("handler") or ""),
        packages=tuple(sorted(p.lower() for p in parse_list_value(props.get("packages")))),
        imports=tuple(sorted(normalize_import(i, database, schema) for i in parse_list_value(props.get("imports")))),
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
            st = ObservedStage(db, sc, name, comment, files)
            stages[st.fqn] = st
        for row in session.query(f"SHOW USER FUNCTIONS IN SCHEMA {qualified(db, sc)}"):
            if str(row.get("catalog_name", db)) != db or str(row.get("schema_name", sc)) != sc:
                continue
            if str(row.get("language", "PYTHON")).upper() != "PYTHON":
                continue
            name, types, _ = parse_show_arguments(str(row["arguments"]))
            identity = f"{db}.{sc}.{name}({', '.join(t.split('(')[0] for t in types)})"
            comment = str(row.get("description") or "")
            if identity not in desired.functions and not split_tag(comment)[1]:
                continue  # foreign function
            rows = session.query(f"DESCRIBE FUNCTION {qualified(db, sc, name)}({', '.join(types)})")
            fn = parse_describe(rows, db, sc, name, comment)
            functions[fn.identity] = fn
    return Observed(frozenset(databases), frozenset(schemas), stages, functions, _packages(session, desired, databases))


def _packages(session: Session, desired: Desired, databases: set[str]) -> dict[str, tuple[str, ...]] | None:
    """Versions per package in the Snowflake channel, for the packages the manifests name."""
    names = sorted({p.split("==")[0].lower() for f in desired.functions.values() for p in f.packages})
    if not names:
        return {}
    # The target database's view when it exists; SNOWFLAKE's shared one on a fresh account.
    sources = [f"{qualified(db)}.INFORMATION_SCHEMA.PACKAGES" for db in sorted(databases)]
    sources += ["SNOWFLAKE.INFORMATION_SCHEMA.PACKAGES", "INFORMATION_SCHEMA.PACKAGES"]
    where = f"WHERE language = 'python' AND package_name IN ({', '.join(literal(n) for n in names)})"
    for source in sources:
        try:
            rows = session.query(f"SELECT package_name, version FROM {source} {where}")
            break
        except SnowflakeError:
            continue
    else:
        return None  # the channel could not be read: packages go unchecked, with a warning
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(str(r["package_name"]).lower(), []).append(str(r["version"]))
    return {k: tuple(sorted(v)) for k, v in out.items()}


__all__ = ["MARKER_NAME", "Observed", "ObservedFunction", "ObservedStage", "RemoteFile", "observe"]
