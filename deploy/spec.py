"""Desired state: frozen dataclasses built from the manifests.

Names are stored upper-case (unquoted Snowflake identifiers); every object
knows where it was declared so later errors can point at the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from deploy.errors import DeployError
from deploy.local_file import FileDigest, LocalFile
from deploy.names import FQN, FunctionIdentity

# The marker uploaded last into each version folder; a version is complete only
# when it is present, so a crash mid-upload never yields a half version.
MARKER_NAME = "_COMPLETE.json"
VERSION_HEX = 16


@dataclass(frozen=True)
class Origin:
    """Where something was declared: ``manifests/summarizer.yaml:12 stages.LLM``."""

    file: str
    line: int
    field: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}"


@dataclass(frozen=True)
class StageSpec:
    database: str
    schema: str
    name: str
    comment: str
    files: tuple[LocalFile, ...]
    keep_versions: int  # complete versions kept on the stage, the current one included
    origin: Origin = field(compare=False)
    encryption: str = "SNOWFLAKE_SSE"  # ENCRYPTION TYPE the tool creates the stage with

    @property
    def fqn(self) -> str:
        return FQN(self.database, self.schema, self.name).dotted

    @property
    def version(self) -> str:
        return content_version(self.files)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def marker_bytes(self) -> bytes:
        return marker_content(self.files)


@dataclass(frozen=True)
class Arg:
    name: str
    type: str  # canonical, see sql.canonical_type


@dataclass(frozen=True)
class ImportRef:
    """A file the function imports: a stage and a file name inside its current version."""

    stage: str  # fqn of a declared stage
    file: str


@dataclass(frozen=True)
class FunctionSpec:
    database: str
    schema: str
    name: str
    args: tuple[Arg, ...]
    returns: str
    runtime: str
    handler: str
    packages: tuple[str, ...]
    imports: tuple[ImportRef, ...]
    null_handling: str  # CALLED ON NULL INPUT | RETURNS NULL ON NULL INPUT
    volatility: str  # VOLATILE | IMMUTABLE
    comment: str
    origin: Origin = field(compare=False)

    @property
    def fqn(self) -> str:
        return FQN(self.database, self.schema, self.name).dotted

    @property
    def identity(self) -> str:
        """Snowflake identifies a function by name and argument types: ``DB.S.NAME(VARCHAR)``."""
        return function_identity(self.database, self.schema, self.name, self.args)

    @property
    def declared_name(self) -> FunctionName:
        """Its location and signature, as ``load_names`` reads them."""
        return FunctionName(self.database, self.schema, self.name, self.args, self.returns, self.origin)


@dataclass(frozen=True)
class Environment:
    """The target chosen with ``--env``: its name and what it sets on the connection.

    Its database, schema and settings are already applied to the objects built from the
    manifests; ``connection``, ``warehouse`` and ``role`` are applied when connecting.
    """

    name: str
    connection: str | None = None
    warehouse: str | None = None
    role: str | None = None
    origin: Origin | None = field(default=None, compare=False)

    def connection_overrides(self) -> dict[str, str]:
        """The connection parameters this environment sets (warehouse, role)."""
        return {k: v for k, v in (("warehouse", self.warehouse), ("role", self.role)) if v}


@dataclass(frozen=True)
class Desired:
    databases: tuple[str, ...]
    schemas: tuple[tuple[str, str], ...]
    stages: dict[str, StageSpec]
    functions: dict[str, FunctionSpec]  # by identity
    manifest_files: tuple[str, ...] = ()
    environment: Environment | None = None  # the `--env` target; None: the manifests' own values

    def names(self) -> DeclaredNames:
        """What the manifests name, without the files: the same as ``load_names`` reads."""
        return DeclaredNames(
            databases=self.databases,
            schemas=self.schemas,
            stages={fqn: StageName(s.database, s.schema, s.name, s.origin) for fqn, s in self.stages.items()},
            functions={identity: f.declared_name for identity, f in self.functions.items()},
            manifest_files=self.manifest_files,
            environment=self.environment,
        )


def function_identity(database: str, schema: str, name: str, args: tuple[Arg, ...]) -> str:
    """``DB.S.NAME(VARCHAR)``: the name and the argument types, as Snowflake tells functions apart."""
    from deploy.sql import argument_type

    return str(FunctionIdentity.of(database, schema, name, (argument_type(a.type) for a in args)))


# --- Names only -----------------------------------------------------------------------------------
# What commands that only address objects need (`call`, `eval`, `sample-data`): names, schemas and
# signatures, read from the manifests without opening, hashing or requiring a single artifact file,
# so they work on a CI runner or a fresh clone that has no `artifacts/`.


@dataclass(frozen=True)
class StageName:
    """A declared stage's location."""

    database: str
    schema: str
    name: str
    origin: Origin = field(compare=False)

    @property
    def fqn(self) -> str:
        return FQN(self.database, self.schema, self.name).dotted


@dataclass(frozen=True)
class FunctionName:
    """A declared function's location and signature."""

    database: str
    schema: str
    name: str
    args: tuple[Arg, ...]
    returns: str
    origin: Origin = field(compare=False)

    @property
    def fqn(self) -> str:
        return FQN(self.database, self.schema, self.name).dotted

    @property
    def parts(self) -> tuple[str, str, str]:
        return self.database, self.schema, self.name

    @property
    def identity(self) -> str:
        return function_identity(self.database, self.schema, self.name, self.args)


@dataclass(frozen=True)
class DeclaredNames:
    """``Desired`` without the files: what ``load_names`` reads and ``Desired.names()`` projects."""

    databases: tuple[str, ...]
    schemas: tuple[tuple[str, str], ...]
    stages: dict[str, StageName]  # by fqn
    functions: dict[str, FunctionName]  # by identity
    manifest_files: tuple[str, ...] = ()
    environment: Environment | None = None

    def function(self, name: str | None = None) -> FunctionName:
        """The function called ``name`` (unquoted: any case), or the only one declared; else which to choose."""
        declared = list(self.functions.values())
        candidates = [f for f in declared if name is None or f.name == name.upper()]
        if len(candidates) != 1:
            names = ", ".join(f.name for f in declared) or "none"
            if name is not None and not candidates:
                raise DeployError(f"no function {name} in the manifests; choose one of {names} with --function")
            raise DeployError(f"choose a function with --function (declared: {names})")
        return candidates[0]

    def only_schema(self) -> tuple[str, str]:
        """The one (database, schema) the manifests deploy to; else an error naming them all."""
        if len(self.schemas) != 1:
            names = ", ".join(f"{d}.{s}" for d, s in self.schemas) or "none"
            raise DeployError(f"pass --database and --schema (the manifests declare: {names})")
        return self.schemas[0]


def content_version(files: Iterable[FileDigest]) -> str:
    """A version id derived only from file names and contents (sha256)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        h.update(f"{f.name}\0{f.sha256}\0{f.size}\n".encode())
    return h.hexdigest()[:VERSION_HEX]


def marker_content(files: Iterable[FileDigest]) -> bytes:
    """The completion marker: the version's file list with sha256 and size."""
    listed = sorted(files, key=lambda f: f.name)
    doc = {
        "version": content_version(listed),
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in listed],
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def marker_files(data: bytes) -> tuple[LocalFile, ...] | None:
    """The files a completion marker lists (marker_content read back); None: not a marker this tool wrote."""
    try:
        doc = json.loads(data)
        return tuple(LocalFile(f["name"], None, int(f["size"]), str(f["sha256"])) for f in doc["files"])
    except (ValueError, KeyError, TypeError):
        return None


def is_version_name(name: str) -> bool:
    return len(name) == VERSION_HEX and all(c in "0123456789abcdef" for c in name)


def split_import(path: str) -> tuple[str, str, str]:
    """A normalised import ``@DB.S.STAGE/<version>/<file>`` -> (stage fqn, version, file).

    The version is "" for a file at the stage root (an import the tool did not version).
    """
    stage, _, rest = path.lstrip("@").partition("/")
    version, _, file = rest.rpartition("/")
    return stage, version, file
