"""The typed plan: what apply will do and why.

Frozen dataclasses with a versioned dict form, so ``plan --out`` can be
applied later with ``apply --plan``, from another checkout too: uploads name
their files relative to a root each checkout resolves for itself, and the plan
records the scope it was made for (``deploy.saved_plan`` checks both).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# 2: portable upload sources ({root, path}), `scope` and `manifests`; 1 held absolute paths.
FORMAT_VERSION = 2

# Roots an upload's source is relative to (docs/plan-format.md, "Upload sources").
ROOT_PROJECT = "project"
ROOT_ARTIFACTS = "artifacts_root"
ROOT_CACHE = "cache"
ROOT_ABSOLUTE = "absolute"  # an in-memory plan never stamped for saving; `apply --plan` refuses it
ROOTS = (ROOT_PROJECT, ROOT_ARTIFACTS, ROOT_CACHE, ROOT_ABSOLUTE)


class PlanFormatError(ValueError):
    """A plan document of a format_version this deploy does not read."""


class Action(Enum):
    CREATE = "+"
    UPDATE = "~"
    DELETE = "-"
    REPLACE = "-/+"

    @property
    def word(self) -> str:
        return {"+": "create", "~": "update", "-": "delete", "-/+": "replace"}[self.value]


class Origin(Enum):
    """Which side a change comes from (docs/plan-format.md, "Origin").

    MANIFESTS: the account is as t5-deploy last applied it and the manifests now want something else.
    ACCOUNT: the account no longer matches what t5-deploy last applied (a hand edit, a removed or added
    file, an untagged or missing object). `deploy drift` reports only changes from the account.
    """

    ACCOUNT = "account"
    MANIFESTS = "manifests"


def origins(*, account: bool, manifests: bool) -> tuple[Origin, ...]:
    """The origins of a change in canonical order (account first); one of the two at least."""
    out = (Origin.ACCOUNT,) * account + (Origin.MANIFESTS,) * manifests
    return out or (Origin.ACCOUNT,)


class Kind(Enum):
    DATABASE = "database"
    SCHEMA = "schema"
    STAGE = "stage"
    STAGE_VERSION = "stage_version"
    FUNCTION = "function"


@dataclass(frozen=True)
class SourceRef:
    """Where a saved plan finds an upload: a path below a root that every checkout resolves for itself."""

    root: str  # one of ROOTS
    path: str  # POSIX, relative to the root (absolute for ROOT_ABSOLUTE)
    manifest: str = ""  # ROOT_ARTIFACTS: the manifest declaring the root, relative to the project root
    expression: str = ""  # ROOT_ARTIFACTS: its `artifacts_root:` as written, before ${VAR} substitution

    def __str__(self) -> str:
        if self.root == ROOT_ARTIFACTS:
            return f"{self.path} under artifacts_root {self.expression} of {self.manifest}"
        return self.path if self.root == ROOT_ABSOLUTE else f"{self.path} under the {self.root} root"

    def to_dict(self) -> dict[str, str]:
        d = {"root": self.root, "path": self.path}
        if self.root == ROOT_ARTIFACTS:
            d |= {"manifest": self.manifest, "expression": self.expression}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceRef:
        if d["root"] not in ROOTS:
            raise ValueError(f"unknown upload source root {d['root']!r} (known: {', '.join(ROOTS)})")
        return cls(d["root"], d["path"], d.get("manifest", ""), d.get("expression", ""))


@dataclass(frozen=True)
class Upload:
    name: str  # base name in the version folder
    source: str  # local path PUT reads; "" in a plan read from a file until deploy.saved_plan resolves `ref`
    size: int
    sha256: str
    ref: SourceRef | None = None  # set once stamped for saving (deploy.saved_plan.stamp) or read back

    def to_dict(self) -> dict[str, Any]:
        ref = self.ref or SourceRef(ROOT_ABSOLUTE, self.source)
        return {"name": self.name, "source": ref.to_dict(), "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Upload:
        ref = SourceRef.from_dict(d["source"])
        if ref.root == ROOT_ABSOLUTE:
            return cls(d["name"], ref.path, d["size"], d["sha256"])
        return cls(d["name"], "", d["size"], d["sha256"], ref)


@dataclass(frozen=True)
class Scope:
    """What a plan was made for: the connection and the manifests' resolved databases and schemas.

    ``account`` and ``host`` are the connection's own (not secret) parameters, None where it sets none
    (the embedded `local` one). User, role and warehouse are not part of it: a plan job may read with
    a narrower role than the job that applies.
    """

    connection: str
    account: str | None
    host: str | None
    databases: tuple[str, ...]
    schemas: tuple[str, ...]  # DB.SCHEMA
    environment: str | None = None  # `deploy --env NAME`; None: the manifests as written

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"environment": self.environment} if self.environment else {}
        return out | {
            "connection": self.connection,
            "account": self.account,
            "host": self.host,
            "databases": list(self.databases),
            "schemas": list(self.schemas),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scope:
        return cls(
            d["connection"],
            d.get("account"),
            d.get("host"),
            tuple(d["databases"]),
            tuple(d["schemas"]),
            d.get("environment"),  # additive: absent without --env and in plans saved before it existed
        )


@dataclass(frozen=True)
class Change:
    action: Action
    kind: Kind
    name: str
    reasons: tuple[str, ...]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    uploads: tuple[Upload, ...] = ()
    removes: tuple[str, ...] = ()  # stage-relative paths removed by this change
    # Where the difference comes from; both when the account was edited and the manifests moved on.
    # Empty: not classified (destroy plans, plans saved before the field existed).
    origins: tuple[Origin, ...] = ()

    @property
    def from_account(self) -> bool:
        return Origin.ACCOUNT in self.origins

    @property
    def upload_bytes(self) -> int:
        return sum(u.size for u in self.uploads)

    @property
    def is_destroy(self) -> bool:
        return self.action in (Action.DELETE,) and self.kind is not Kind.STAGE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.word,
            "symbol": self.action.value,
            "object_type": self.kind.value,
            "name": self.name,
            "reasons": list(self.reasons),
            "before": self.before,
            "after": self.after,
            "uploads": [u.to_dict() for u in self.uploads],
            "upload_bytes": self.upload_bytes,
            "removes": list(self.removes),
            "origins": [o.value for o in self.origins],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Change:
        return cls(
            action=Action(d["symbol"]),
            kind=Kind(d["object_type"]),
            name=d["name"],
            reasons=tuple(d["reasons"]),
            before=d.get("before"),
            after=d.get("after"),
            uploads=tuple(Upload.from_dict(u) for u in d.get("uploads", [])),
            removes=tuple(d.get("removes", [])),
            origins=tuple(Origin(o) for o in d.get("origins", [])),  # additive: absent in older saved plans
        )


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    observed_fingerprint: str
    warnings: tuple[str, ...] = field(default=())
    # Set by deploy.saved_plan.stamp: what the plan is for, and a digest of each manifest property
    # and staged file ({"stages": {fqn: {"properties": {name: d}, "files": {name: sha256}}},
    # "functions": {identity: {"properties": {name: d}}}}), so `apply --plan` can name what changed.
    scope: Scope | None = None
    manifests: dict[str, Any] | None = None

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @property
    def upload_bytes(self) -> int:
        return sum(c.upload_bytes for c in self.changes)

    @property
    def upload_files(self) -> int:
        return sum(len(c.uploads) for c in self.changes)

    def from_account(self) -> Plan:
        """The account's side only (`deploy drift`): changes that repair what was edited outside t5-deploy."""
        return Plan(
            tuple(c for c in self.changes if c.from_account),
            self.observed_fingerprint,
            self.warnings,
            self.scope,
            self.manifests,
        )

    def counts(self) -> dict[str, int]:
        """Terraform's summary: a replacement counts as one add and one destroy."""
        c = Counter(ch.action for ch in self.changes)
        return {
            "add": c[Action.CREATE] + c[Action.REPLACE],
            "change": c[Action.UPDATE],
            "destroy": c[Action.DELETE] + c[Action.REPLACE],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "scope": self.scope.to_dict() if self.scope else None,
            "manifests": self.manifests,
            "observed_fingerprint": self.observed_fingerprint,
            "summary": {**self.counts(), "upload_files": self.upload_files, "upload_bytes": self.upload_bytes},
            "changes": [c.to_dict() for c in self.changes],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise PlanFormatError(f"unsupported plan format_version {version!r} (this deploy reads {FORMAT_VERSION})")
        scope = d.get("scope")
        return cls(
            changes=tuple(Change.from_dict(c) for c in d["changes"]),
            observed_fingerprint=d["observed_fingerprint"],
            warnings=tuple(d.get("warnings", [])),
            scope=Scope.from_dict(scope) if scope is not None else None,
            manifests=d.get("manifests"),
        )
