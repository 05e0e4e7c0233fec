"""A local file destined for a stage version folder, and where a saved plan finds it again.

One type serves the manifests (``StageSpec.files``, hashed when they are read) and the plan
(``Change.uploads``, what PUT sends). Its own module because both ``deploy.spec`` and
``deploy.plan`` need it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Roots an upload's source is relative to (docs/plan-format.md, "Upload sources").
ROOT_PROJECT = "project"
ROOT_ARTIFACTS = "artifacts_root"
ROOT_CACHE = "cache"
ROOT_ABSOLUTE = "absolute"  # an in-memory plan never stamped for saving; `apply --plan` refuses it
ROOTS = (ROOT_PROJECT, ROOT_ARTIFACTS, ROOT_CACHE, ROOT_ABSOLUTE)


class FileDigest(Protocol):
    """What a version's id and completion marker are computed from (deploy.spec.marker_content)."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...


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
class LocalFile:
    """One local file destined for a stage version folder."""

    name: str  # base name inside the version folder
    # The local path PUT reads; None in a plan read from a file until deploy.saved_plan resolves `ref`.
    source: Path | None
    size: int
    sha256: str
    # Compared with LIST's md5 where that is the plaintext's (SSE stages); "" unknown. Derived from the
    # content as sha256 is, and not in the plan's dict form: a plan read back equals the one written.
    md5: str = field(default="", compare=False)
    ref: SourceRef | None = None  # set once stamped for saving (deploy.saved_plan.stamp) or read back

    def to_dict(self) -> dict[str, Any]:
        """An upload in the plan's dict form (docs/plan-format.md): md5 is not part of it."""
        ref = self.ref or SourceRef(ROOT_ABSOLUTE, str(self.source))
        return {"name": self.name, "source": ref.to_dict(), "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LocalFile:
        ref = SourceRef.from_dict(d["source"])
        if ref.root == ROOT_ABSOLUTE:
            return cls(d["name"], Path(ref.path), d["size"], d["sha256"])
        return cls(d["name"], None, d["size"], d["sha256"], ref=ref)
