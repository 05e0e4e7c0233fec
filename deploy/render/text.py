"""Terraform-style text: a legend, one block per change with its reasons, a summary.

Every text that comes from input goes through ``one_line``, so each item keeps its line.
"""

from __future__ import annotations

from deploy.plan import Plan
from deploy.render.common import HEADERS, LEGEND, human_bytes, label, legend_actions, one_line, origin, summary, target

NO_CHANGES = "No changes. The account matches the manifests."


def render(plan: Plan, *, title: str = "t5-deploy will perform the following actions:", empty: str = NO_CHANGES) -> str:
    head = [line] if (line := target(plan)) else []  # names the --env target
    if plan.is_empty:
        return "\n".join([*head, *(f"Warning: {one_line(w)}" for w in plan.warnings), empty]) + "\n"
    width = max(len(a.value) for a in legend_actions(plan))
    lines = [*head, "Resource actions are indicated with the following symbols:"]
    lines += [f"  {a.value:>{width}} {LEGEND[a]}" for a in legend_actions(plan)]
    lines += ["", title]
    for c in plan.changes:
        source = f" (from the {origin(c)})" if c.origins else ""
        lines += ["", f"  # {label(c)} {HEADERS[c.action]}{source}", f"{c.action.value:>{width + 2}} {label(c)}"]
        lines += [f"      + {one_line(u.name)} ({human_bytes(u.size)})" for u in c.uploads]
        lines += [f"      - {one_line(p)}" for p in c.removes]
        lines += [f"      # (because {one_line(r)})" for r in c.reasons]
    lines += ["", summary(plan)]
    lines += [f"Warning: {one_line(w)}" for w in plan.warnings]
    return "\n".join(lines) + "\n"
