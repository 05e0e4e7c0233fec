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

from deploy.local_file import LocalFile
from deploy.payloads import (
    DatabaseProps,
    FunctionProps,
    ListedVersion,
    Payload,
    SchemaProps,
    StageProps,
    StageRemoval,
    StageVersion,
)

# 2: portable upload sources ({root, path}), `scope` and `manifests`; 1 held absolute paths.
FORMAT_VERSION = 2


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


def _payload_type(kind: Kind, action: Action, *, before: bool) -> type[Payload]:
    """What one side of a change holds (docs/plan-format.md): by kind, and a stage's `before` by action."""
    if kind is Kind.STAGE:
        return StageRemoval if before and action is Action.DELETE else StageProps
    if kind is Kind.STAGE_VERSION:
        return ListedVersion if before else StageVersion
    return {Kind.DATABASE: DatabaseProps, Kind.SCHEMA: SchemaProps, Kind.FUNCTION: FunctionProps}[kind]


@dataclass(frozen=True)
class Change:
    action: Action
    kind: Kind
    name: str
    reasons: tuple[str, ...]
    before: Payload | None = None  # the object as observed (update, replace, delete)
    after: Payload | None = None  # the object as it will be (create, update, replace)
    uploads: tuple[LocalFile, ...] = ()
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
            "before": self.before.to_dict() if self.before is not None else None,
            "after": self.after.to_dict() if self.after is not None else None,
            "uploads": [u.to_dict() for u in self.uploads],
            "upload_bytes": self.upload_bytes,
            "removes": list(self.removes),
            "origins": [o.value for o in self.origins],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Change:
        action, kind = Action(d["symbol"]), Kind(d["object_type"])
        before, after = d.get("before"), d.get("after")
        return cls(
            action=action,
            kind=kind,
            name=d["name"],
            reasons=tuple(d["reasons"]),
            before=_payload_type(kind, action, before=True).from_dict(before) if before is not None else None,
            after=_payload_type(kind, action, before=False).from_dict(after) if after is not None else None,
            uploads=tuple(LocalFile.from_dict(u) for u in d.get("uploads", [])),
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
