"""The reconciler's use cases, one function each; the CLI only parses and prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy import TOOL_NAME
from deploy.apply import ApplyResult, apply_plan
from deploy.artifacts import HashCache
from deploy.diff import diff, function_delete, package_problems, stage_delete
from deploy.errors import ManifestInvalid
from deploy.manifest import load_manifests
from deploy.observe import Observed, observe
from deploy.plan import Plan
from deploy.session import Session
from deploy.spec import Desired


@dataclass(frozen=True)
class Workspace:
    """Where manifests are read from and local caches live."""

    manifests: Path
    cache_dir: Path

    @property
    def marker_dir(self) -> Path:
        return self.cache_dir / "markers"

    def hashes(self) -> HashCache:
        return HashCache(self.cache_dir)

    def desired(self) -> Desired:
        return load_manifests(self.manifests, hashes=self.hashes())


def plan(session: Session, desired: Desired) -> tuple[Plan, Observed]:
    observed = observe(session, desired)
    if problems := package_problems(desired, observed):
        raise ManifestInvalid(problems)
    return diff(desired, observed), observed


def apply(
    session: Session,
    ws: Workspace,
    the_plan: Plan,
    *,
    allow_destroy: bool = False,
    on_step=None,
) -> ApplyResult:
    return apply_plan(
        the_plan, session, marker_dir=ws.marker_dir, hashes=ws.hashes(), allow_destroy=allow_destroy, on_step=on_step
    )


def destroy_plan(desired: Desired, observed: Observed) -> Plan:
    """Delete what the tool manages in the manifests' schemas; never foreign objects, databases or schemas."""
    reason = f"managed by {TOOL_NAME}"
    changes = [function_delete(fn, reason) for _, fn in sorted(observed.functions.items()) if fn.managed]
    changes += [stage_delete(st, reason) for _, st in sorted(observed.stages.items()) if st.managed]
    return Plan(tuple(changes), observed.fingerprint())
