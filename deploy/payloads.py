"""What a planned change carries in ``before`` and ``after``: one frozen type per kind of object.

Each has ``to_dict``/``from_dict`` for the plan's dict form (docs/plan-format.md, format_version 2):
the keys and their order are the document's, so ``plan --format json`` writes what it wrote when
these were plain dicts. Which type a side holds follows from the change's kind and action
(deploy.plan.Change.from_dict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.names import FunctionIdentity
from deploy.sql import argument_type


@dataclass(frozen=True)
class DatabaseProps:
    """A database to create."""

    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatabaseProps:
        return cls(d["name"])


@dataclass(frozen=True)
class SchemaProps:
    """A schema to create."""

    database: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "name": self.name}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SchemaProps:
        return cls(d["database"], d["name"])


@dataclass(frozen=True)
class StageProps:
    """A stage as created or altered (``after``), or as observed before an update (``before``: no encryption)."""

    database: str
    schema: str
    name: str
    comment: str  # `after`: ends with the ownership tag
    # SNOWFLAKE_SSE | SNOWFLAKE_FULL, the ENCRYPTION CREATE STAGE gets; None: not said (an update's
    # `before`, or a plan without it: Snowflake's default then).
    encryption: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"database": self.database, "schema": self.schema, "name": self.name, "comment": self.comment}
        return d | ({"encryption": self.encryption} if self.encryption is not None else {})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageProps:
        return cls(d["database"], d["schema"], d["name"], d["comment"], d.get("encryption"))


@dataclass(frozen=True)
class StageRemoval:
    """A managed stage to drop (``before``): files the tool did not put there keep it, emptied of its versions."""

    database: str
    schema: str
    name: str
    foreign_files: tuple[str, ...]  # stage-relative paths

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "schema": self.schema,
            "name": self.name,
            "foreign_files": list(self.foreign_files),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageRemoval:
        return cls(d["database"], d["schema"], d["name"], tuple(d.get("foreign_files") or ()))


@dataclass(frozen=True)
class VersionFile:
    """One file of a stage version as its completion marker lists it."""

    name: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VersionFile:
        return cls(d["name"], d["size"], d["sha256"])


@dataclass(frozen=True)
class _VersionFolder:
    """A stage's version folder ``@DB.S.STAGE/<version>/``."""

    database: str
    schema: str
    stage: str
    version: str

    def _with_files(self, files: list[Any]) -> dict[str, Any]:
        return {
            "database": self.database,
            "schema": self.schema,
            "stage": self.stage,
            "version": self.version,
            "files": files,
        }


@dataclass(frozen=True)
class StageVersion(_VersionFolder):
    """A version folder to upload or repair (``after``): the files its completion marker lists."""

    files: tuple[VersionFile, ...]

    def to_dict(self) -> dict[str, Any]:
        return self._with_files([f.to_dict() for f in self.files])

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageVersion:
        files = tuple(VersionFile.from_dict(f) for f in d["files"])
        return cls(d["database"], d["schema"], d["stage"], d["version"], files)


@dataclass(frozen=True)
class ListedVersion(_VersionFolder):
    """A version folder as LIST shows it, before it is pruned (``before``): its file names."""

    files: tuple[str, ...]  # sorted

    def to_dict(self) -> dict[str, Any]:
        return self._with_files(list(self.files))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ListedVersion:
        return cls(d["database"], d["schema"], d["stage"], d["version"], tuple(d["files"]))


# What a release record keeps of a function's properties (deploy.provenance.ReleaseRecord.properties):
# what CREATE FUNCTION renders, with the user's comment added.
RELEASE_PROPERTIES = (
    "database", "schema", "name", "args", "returns", "runtime", "handler",
    "packages", "imports", "null_handling", "volatility",
)  # fmt: skip


@dataclass(frozen=True)
class FunctionProps:
    """A function's properties: everything CREATE FUNCTION renders, normalised as DESCRIBE FUNCTION is parsed.

    ``after`` of a create or replace holds the manifests' (``spec`` set, ``comment`` ending with the
    ownership tag); ``before`` the live function's. The identity is derived from the name and the
    argument types, as Snowflake tells functions apart.
    """

    database: str
    schema: str
    name: str
    args: tuple[tuple[str, str], ...]  # (name, type)
    returns: str
    runtime: str
    handler: str
    packages: tuple[str, ...]
    imports: tuple[str, ...]  # normalised stage paths
    null_handling: str  # CALLED ON NULL INPUT | RETURNS NULL ON NULL INPUT
    volatility: str  # VOLATILE | IMMUTABLE
    comment: str
    language: str = "PYTHON"
    body: str = ""  # inline code; "" for a staged handler
    spec: str | None = None  # the hash of the other properties its ownership tag records (the manifests' only)

    @property
    def function_identity(self) -> FunctionIdentity:
        return FunctionIdentity.of(self.database, self.schema, self.name, (argument_type(t) for _, t in self.args))

    @property
    def identity(self) -> str:
        """``DB.S.NAME(VARCHAR)``."""
        return str(self.function_identity)

    def to_dict(self) -> dict[str, Any]:
        """The plan's form; without ``spec`` (None), also what the spec hash is computed over."""
        d: dict[str, Any] = {
            "database": self.database,
            "schema": self.schema,
            "name": self.name,
            "identity": self.identity,
            "args": [list(a) for a in self.args],
            "returns": self.returns,
            "language": self.language,
            "runtime": self.runtime,
            "handler": self.handler,
            "packages": list(self.packages),
            "imports": list(self.imports),
            "null_handling": self.null_handling,
            "volatility": self.volatility,
            "body": self.body,
            "comment": self.comment,
        }
        return d | ({"spec": self.spec} if self.spec is not None else {})

    def release_properties(self, comment: str) -> dict[str, Any]:
        """What a release record keeps (RELEASE_PROPERTIES), with ``comment`` (the user's, untagged)."""
        d = self.to_dict()
        return {k: d[k] for k in RELEASE_PROPERTIES} | {"comment": comment}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FunctionProps:
        """A plan's ``before``/``after``, or a release record's properties (no identity, language, body, spec)."""
        return cls(
            database=d["database"],
            schema=d["schema"],
            name=d["name"],
            args=tuple((n, t) for n, t in d["args"]),
            returns=d["returns"],
            runtime=d["runtime"],
            handler=d["handler"],
            packages=tuple(d["packages"]),
            imports=tuple(d["imports"]),
            null_handling=d["null_handling"],
            volatility=d["volatility"],
            comment=d["comment"],
            language=d.get("language", "PYTHON"),
            body=d.get("body", ""),
            spec=d.get("spec"),
        )


Payload = DatabaseProps | SchemaProps | StageProps | StageRemoval | StageVersion | ListedVersion | FunctionProps
