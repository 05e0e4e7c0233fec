"""Who applied what, when, from which commit and training run: gathered at apply, stored in the account.

Two places hold it, both readable without the artifacts:

- the function's COMMENT: its ownership tag carries ``at``, ``by``, ``commit``, ``run`` (and
  ``via=rollback`` after ``deploy rollback``), see deploy.state.tag;
- a release record, one small JSON file per (apply, function) in ``<version>/_releases/`` of every
  stage version the function then imports: the function's full import list and the same fields.
  ``deploy history`` reads a version's provenance from the record of the apply that uploaded it,
  and ``deploy rollback`` finds a previous release's imports there.

Missing fields (a tag or version written before this existed) read as unknown.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RECORD_FORMAT = 1
VIA_APPLY = "apply"
VIA_ROLLBACK = "rollback"
_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
# metrics.json (training/report.py) is written beside model/ and tokenizer/ in a run's folder.
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class Provenance:
    at: str | None = None  # UTC, ISO 8601: 2024-05-01T12:00:00Z
    by: str | None = None  # the connection's user
    commit: str | None = None  # git HEAD of the project, else $GITHUB_SHA
    run: str | None = None  # training run_id of the artifacts (metrics.json)
    via: str = VIA_APPLY  # apply | rollback
    apply_id: str = ""  # tells two applies in one second apart
    uploaded: tuple[str, ...] = field(default=())  # DB.S.STAGE/<version> this apply uploaded

    def tag_fields(self) -> dict[str, str | None]:
        return {
            "at": self.at,
            "by": self.by,
            "commit": self.commit,
            "run": self.run,
            "via": self.via if self.via != VIA_APPLY else None,
        }

    @classmethod
    def from_tag(cls, fields: dict[str, str]) -> Provenance:
        return cls(
            fields.get("at"), fields.get("by"), fields.get("commit"), fields.get("run"), fields.get("via", VIA_APPLY)
        )


@dataclass(frozen=True)
class ReleaseRecord:
    """One apply or rollback of one function: what it imported and the provenance of that act."""

    function: str  # identity, DB.S.NAME(VARCHAR)
    imports: tuple[str, ...]  # normalised stage paths
    provenance: Provenance
    # What CREATE FUNCTION rendered (deploy.apply: args, returns, runtime, handler, packages, ...,
    # the user's comment) and the spec hash its tag recorded: a rollback re-creates exactly this.
    properties: dict[str, Any] | None = None
    spec: str | None = None

    def file_name(self) -> str:
        """Sortable by time; unique per (apply, function)."""
        stamp = (self.provenance.at or "").replace("-", "").replace(":", "")
        ident = hashlib.sha256(self.function.encode()).hexdigest()[:8]
        return f"{stamp}-{self.provenance.apply_id or '0'}-{ident}.json"

    def to_bytes(self) -> bytes:
        p = asdict(self.provenance)
        p["uploaded"] = list(self.provenance.uploaded)
        doc = {"format": RECORD_FORMAT, "function": self.function, "imports": list(self.imports), **p}
        doc |= {"properties": self.properties, "spec": self.spec}
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReleaseRecord | None:
        """None for what is not a record this deploy reads (another format, not JSON)."""
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
            return None
        prov = Provenance(
            doc.get("at"),
            doc.get("by"),
            doc.get("commit"),
            doc.get("run"),
            doc.get("via") or VIA_APPLY,
            doc.get("apply_id") or "",
            tuple(doc.get("uploaded") or ()),
        )
        properties = doc.get("properties") if isinstance(doc.get("properties"), dict) else None
        return cls(str(doc.get("function", "")), tuple(doc.get("imports") or ()), prov, properties, doc.get("spec"))


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_head(start: Path) -> str | None:
    """The commit checked out in the git work tree holding ``start``, read from .git (no `git` run: nothing can hang).

    Follows a worktree's ``.git`` file (gitdir: ...), a symbolic HEAD to its ref, then packed-refs.
    """
    for folder in (start.resolve(), *start.resolve().parents):
        dot_git = folder / ".git"
        if dot_git.is_file():
            text = dot_git.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            git_dir = (folder / text.removeprefix("gitdir:").strip()).resolve()
        elif dot_git.is_dir():
            git_dir = dot_git
        else:
            continue
        return _resolve_head(git_dir)
    return None


def _resolve_head(git_dir: Path) -> str | None:
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if _SHA_RE.match(head):
        return head  # detached, as CI checks out
    if not head.startswith("ref:"):
        return None
    ref = head.removeprefix("ref:").strip()
    # A linked worktree keeps HEAD in its own folder and refs in the common one.
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    for base in (git_dir, common):
        ref_file = base / ref
        if ref_file.is_file():
            sha = ref_file.read_text().strip()
            return sha if _SHA_RE.match(sha) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            sha, _, name = line.partition(" ")
            if name == ref and _SHA_RE.match(sha):
                return sha
    return None  # a branch without commits


def current_commit(start: Path) -> str | None:
    """git HEAD of the project, else $GITHUB_SHA (a CI checkout without .git), else None."""
    return git_head(start) or (os.environ.get("GITHUB_SHA") or "").strip() or None


def training_run(sources: list[str]) -> str | None:
    """``run_id`` of the metrics.json beside the uploaded artifacts (in a file's folder or up to two above)."""
    seen: set[Path] = set()
    runs: list[str] = []
    for source in sources:
        folder = Path(source).parent
        for candidate in (folder, folder.parent, folder.parent.parent):
            metrics = candidate / METRICS_FILE
            if metrics in seen:
                continue
            seen.add(metrics)
            if metrics.is_file():
                try:
                    run = json.loads(metrics.read_text()).get("run_id")
                except (OSError, ValueError, AttributeError):
                    continue
                if isinstance(run, str) and run and run not in runs:
                    runs.append(run)
    return ",".join(runs) or None


def connection_user(conn: Any) -> str | None:
    """The user the connection signed in as (the connector's ``user``), without a query."""
    user = getattr(conn, "user", None)
    return str(user) if user else None


def gather(conn: Any, uploads: list[str], uploaded: tuple[str, ...], *, start: Path | None = None) -> Provenance:
    """Provenance of an apply happening now, through ``conn``, uploading ``uploads`` (local paths)."""
    return Provenance(
        at=utc_now(),
        by=connection_user(conn),
        commit=current_commit(start or Path.cwd()),
        run=training_run(uploads),
        via=VIA_APPLY,
        apply_id=secrets.token_hex(3),
        uploaded=uploaded,
    )
