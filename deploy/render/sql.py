"""The statements apply would run, in order, one per line."""

from __future__ import annotations

from pathlib import Path

from deploy.apply import compile_change
from deploy.plan import Plan
from deploy.render.common import label


def render(plan: Plan, *, marker_dir: Path) -> str:
    if plan.is_empty:
        return "-- No changes.\n"
    lines = []
    for c in plan.changes:
        # label() escapes the name: a newline in it would end the comment and start a statement.
        lines.append(f"-- {c.action.value} {label(c)}")
        lines += [f"{step.sql};" for step in compile_change(c, marker_dir)]
    return "\n".join(lines) + "\n"
