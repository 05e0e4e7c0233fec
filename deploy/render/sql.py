"""The statements apply would run, in order, one per line."""

from __future__ import annotations

from pathlib import Path

from deploy.apply import compile_change
from deploy.plan import Plan
from deploy.render.common import label, target


def render(plan: Plan, *, marker_dir: Path) -> str:
    head = [f"-- {line}"] if (line := target(plan)) else []  # one_line'd: a comment stays one line
    if plan.is_empty:
        return "\n".join([*head, "-- No changes."]) + "\n"
    lines = head
    for c in plan.changes:
        # label() escapes the name: a newline in it would end the comment and start a statement.
        lines.append(f"-- {c.action.value} {label(c)}")
        lines += [f"{step.sql};" for step in compile_change(c, marker_dir)]
    return "\n".join(lines) + "\n"
