"""The reconciler's use cases, one function each; the CLI only parses and prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from deploy import TOOL_NAME, lock
from deploy.apply import ApplyResult, OnStep, apply_plan, compile_change
from deploy.artifacts import HashCache
from deploy.diff import diff, function_delete, package_problems, stage_delete
from deploy.errors import ManifestInvalid, SnowflakeError
from deploy.manifest import load_manifests
from deploy.observe import Observed, observe
from deploy.payloads import DatabaseProps, SchemaProps
from deploy.plan import Change, Kind, Plan
from deploy.session import Session
from deploy.spec import DeclaredNames, Desired


@dataclass(frozen=True)
class Workspace:
    """Where manifests are read from and local caches live."""

    manifests: Path
    cache_dir: Path
    env: str | None = None  # `deploy --env NAME`: the environment the manifests are read for

    @property
    def marker_dir(self) -> Path:
        return self.cache_dir / "markers"

    def hashes(self) -> HashCache:
        return HashCache(self.cache_dir)

    def desired(self) -> Desired:
        return load_manifests(self.manifests, hashes=self.hashes(), env=self.env)


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
    on_step: OnStep | None = None,
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


# --- Applying under the account lock (deploy.lock) ---------------------------------------------------
# The plan an apply executes is computed under the lock, so a second applier plans against the first's
# result instead of reusing a version the first was still uploading (Terraform also locks, then plans).

_CONTAINERS = (Kind.DATABASE, Kind.SCHEMA)


def _container_statements(the_plan: Plan, marker_dir: Path) -> tuple[str, ...]:
    """The plan's idempotent CREATE DATABASE / SCHEMA IF NOT EXISTS: what a lock needs to exist."""
    return tuple(step.sql for c in the_plan.changes if c.kind in _CONTAINERS for step in compile_change(c, marker_dir))


def _objects(the_plan: Plan) -> tuple[Change, ...]:
    return tuple(c for c in the_plan.changes if c.kind not in _CONTAINERS)


def apply_locked(
    session: Session,
    ws: Workspace,
    desired: Desired,
    shown: Plan,
    *,
    allow_destroy: bool = False,
    on_step: OnStep | None = None,
    on_replan: Callable[[Plan], None] | None = None,
) -> ApplyResult | None:
    """Take the lock of every target schema, re-plan under it and apply that plan; None: nothing left to do.

    ``shown`` is the plan the user saw; when the plan under the lock differs (another apply ran meanwhile),
    ``on_replan`` gets the new one first (to print it, ask again, or raise to stop).
    """
    holder = lock.new_holder(session, "apply")
    with lock.held(session, desired.schemas, holder, ensure=_container_statements(shown, ws.marker_dir)):
        current, _ = plan(session, desired)
        if _objects(current) != _objects(shown) and on_replan is not None:
            on_replan(current)
        if current.is_empty:
            return None
        return apply(session, ws, current, allow_destroy=allow_destroy, on_step=on_step)


def apply_saved_locked(
    session: Session,
    saved: Plan,
    desired: Desired,
    ws: Workspace,
    *,
    allow_destroy: bool = False,
    on_step: OnStep | None = None,
) -> ApplyResult:
    """`apply --plan` under the lock: the saved plan's check against the account runs while it is held."""
    from deploy import saved_plan

    holder = lock.new_holder(session, "apply --plan")
    with lock.held(session, desired.schemas, holder, ensure=_container_statements(saved, ws.marker_dir)) as held:
        if held.ensured:
            # Taking the lock created the plan's own database/schema: the account is as planned
            # if it is, less those.
            observed = observe(session, desired)
            databases = {c.after.name for c in saved.changes if isinstance(c.after, DatabaseProps)}
            schemas = {(c.after.database, c.after.name) for c in saved.changes if isinstance(c.after, SchemaProps)}
            before = replace(observed, databases=observed.databases - databases, schemas=observed.schemas - schemas)
            if before.fingerprint() == saved.observed_fingerprint:
                saved = replace(saved, observed_fingerprint=observed.fingerprint())
        return saved_plan.apply_checked(
            session, saved, desired, marker_dir=ws.marker_dir, hashes=ws.hashes(), allow_destroy=allow_destroy,
            on_step=on_step,
        )  # fmt: skip


@contextmanager
def locked(session: Session, desired: Desired, operation: str) -> Iterator[None]:
    """Hold the locks of the manifests' schemas that exist (destroy: nothing to do in the others)."""
    with lock.held(session, desired.schemas, lock.new_holder(session, operation), missing_ok=True):
        yield


def _each_lock(
    session: Session, desired: Desired | DeclaredNames, action: Callable[[Session, str, str], lock.HeldLock | None]
) -> list[lock.HeldLock]:
    """`action` on each of the manifests' schemas that exists; the locks it returned."""
    found = []
    for database, schema in sorted(set(desired.schemas)):
        try:
            held = action(session, database, schema)
        except SnowflakeError as e:
            if e.errno == lock.DOES_NOT_EXIST:
                continue
            raise
        if held is not None:
            found.append(held)
    return found


def force_unlock(session: Session, desired: Desired | DeclaredNames) -> list[lock.HeldLock]:
    """Break the locks of the manifests' schemas; those that were held."""
    return _each_lock(session, desired, lock.force_unlock)


def lock_status(session: Session, desired: Desired | DeclaredNames) -> list[lock.HeldLock]:
    """The locks held on the manifests' schemas."""
    return _each_lock(session, desired, lock.read)
