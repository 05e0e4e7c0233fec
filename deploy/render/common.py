"""Shared wording for human-facing renderers (text and markdown); input text goes through ``one_line``."""

from __future__ import annotations

from deploy.plan import Action, Change, Plan, Scope
from deploy.text import one_line
from deploy.units import human_bytes

__all__ = [
    "HEADERS",
    "LEGEND",
    "human_bytes",
    "label",
    "legend_actions",
    "one_line",
    "origin",
    "scope_line",
    "summary",
    "target",
]

HEADERS = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.DELETE: "will be destroyed",
    Action.REPLACE: "must be replaced",
}
LEGEND = {
    Action.CREATE: "create",
    Action.UPDATE: "update in-place",
    Action.DELETE: "destroy",
    Action.REPLACE: "destroy and then create replacement",
}


def label(change: Change) -> str:
    return f"{change.kind.value.replace('_', ' ')} {one_line(change.name)}"


def origin(change: Change) -> str:
    """``account``, ``manifests``, ``account and manifests``; "" for a change without one (destroy)."""
    return " and ".join(o.value for o in change.origins)


def summary(plan: Plan) -> str:
    c = plan.counts()
    line = f"Plan: {c['add']} to add, {c['change']} to change, {c['destroy']} to destroy."
    if plan.upload_files:
        line += f" Upload: {plan.upload_files} file(s), {human_bytes(plan.upload_bytes)}."
    return line


def legend_actions(plan: Plan) -> list[Action]:
    present = {c.action for c in plan.changes}
    return [a for a in Action if a in present]


def scope_line(scope: Scope) -> str:
    """``environment 'prod': T5_PROD.PUBLIC through connection 'prod' (account xy12345)``; not escaped."""
    where = f"connection '{scope.connection}'"
    if scope.account:
        where += f" (account {scope.account})"
    if scope.host:
        where += f" (host {scope.host})"
    env = f"environment '{scope.environment}': " if scope.environment else ""
    return f"{env}{', '.join(scope.schemas) or 'no schema'} through {where}"


def target(plan: Plan) -> str | None:
    """The header line naming a plan's target, one line; only for a plan made with `--env` (others keep their shape)."""
    if plan.scope is None or not plan.scope.environment:
        return None
    return f"Target: {one_line(scope_line(plan.scope))}"
