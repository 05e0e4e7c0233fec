"""The typed plan: what apply will do and why.

Frozen dataclasses with a versioned dict form, so ``plan --out`` can be
applied later with ``apply --plan`` (refused when the account moved on).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

FORMAT_VERSION = 1


class Action(Enum):
    CREATE = "+"
    UPDATE = "~"
    DELETE = "-"
    REPLACE = "-/+"

    @property
    def word(self) -> str:
        return {"+": "create", "~": "update", "-": "delete", "-/+": "replace"}[self.value]


class Kind(Enum):
    DATABASE = "database"
    SCHEMA = "schema"
    STAGE = "stage"
    STAGE_VERSION = "stage_version"
    FUNCTION = "function"


@dataclass(frozen=True)
class Upload:
    name: str  # base name in the version folder
    source: str  # absolute local path
    size: int
    sha256: str


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
            "uploads": [u.__dict__ for u in self.uploads],
            "upload_bytes": self.upload_bytes,
            "removes": list(self.removes),
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
            uploads=tuple(Upload(**u) for u in d.get("uploads", [])),
            removes=tuple(d.get("removes", [])),
        )


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    observed_fingerprint: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @property
    def upload_bytes(self) -> int:
        return sum(c.upload_bytes for c in self.changes)

    @property
    def upload_files(self) -> int:
        return sum(len(c.uploads) for c in self.changes)

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
            "observed_fingerprint": self.observed_fingerprint,
            "summary": {**self.counts(), "upload_files": self.upload_files, "upload_bytes": self.upload_bytes},
            "changes": [c.to_dict() for c in self.changes],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        if d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported plan format_version {d.get('format_version')!r} (expected {FORMAT_VERSION})")
        return cls(
            changes=tuple(Change.from_dict(c) for c in d["changes"]),
            observed_fingerprint=d["observed_fingerprint"],
            warnings=tuple(d.get("warnings", [])),
        )
