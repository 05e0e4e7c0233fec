"""Desired state: frozen dataclasses built from the manifests.

Names are stored upper-case (unquoted Snowflake identifiers); every object
knows where it was declared so later errors can point at the manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

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
class LocalFile:
    """One local file destined for a stage version folder."""

    name: str  # base name inside the version folder
    source: Path
    size: int
    sha256: str
    md5: str = ""  # compared with LIST's md5 where that is the plaintext's (SSE stages); "" unknown


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
        from deploy.sql import argument_type

        return str(
            FunctionIdentity.of(self.database, self.schema, self.name, (argument_type(a.type) for a in self.args))
        )


@dataclass(frozen=True)
class Desired:
    databases: tuple[str, ...]
    schemas: tuple[tuple[str, str], ...]
    stages: dict[str, StageSpec]
    functions: dict[str, FunctionSpec]  # by identity
    manifest_files: tuple[str, ...] = ()


def content_version(files: tuple[LocalFile, ...]) -> str:
    """A version id derived only from file names and contents (sha256)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        h.update(f"{f.name}\0{f.sha256}\0{f.size}\n".encode())
    return h.hexdigest()[:VERSION_HEX]


def marker_content(files: tuple[LocalFile, ...]) -> bytes:
    """The completion marker: the version's file list with sha256 and size."""
    doc = {
        "version": content_version(files),
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in sorted(files, key=lambda f: f.name)],
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def is_version_name(name: str) -> bool:
    return len(name) == VERSION_HEX and all(c in "0123456789abcdef" for c in name)


def split_import(path: str) -> tuple[str, str, str]:
    """A normalised import ``@DB.S.STAGE/<version>/<file>`` -> (stage fqn, version, file).

    The version is "" for a file at the stage root (an import the tool did not version).
    """
    stage, _, rest = path.lstrip("@").partition("/")
    version, _, file = rest.rpartition("/")
    return stage, version, file
