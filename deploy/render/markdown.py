"""A pull-request comment: summary, a table of changes, uploads folded away."""

from __future__ import annotations

from deploy.plan import Plan
from deploy.render.common import HEADERS, human_bytes, summary


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(plan: Plan, *, title: str = "t5-deploy plan") -> str:
    lines = [f"### {title}", ""]
    if plan.is_empty:
        lines.append("**No changes.** The account matches the manifests.")
    else:
        lines += [f"**{summary(plan)}**", "", "| | object | name | why |", "|---|---|---|---|"]
        for c in plan.changes:
            why = "<br>".join(_cell(r) for r in c.reasons)
            lines.append(f"| `{c.action.value}` | {c.kind.value} | `{_cell(c.name)}` ({HEADERS[c.action]}) | {why} |")
        uploads = [(c, u) for c in plan.changes for u in c.uploads]
        if uploads:
            lines += [
                "",
                f"<details><summary>{len(uploads)} file(s) to upload, {human_bytes(plan.upload_bytes)}</summary>",
                "",
            ]
            lines += [f"- `{c.name}/{u.name}` {human_bytes(u.size)} sha256 `{u.sha256[:12]}`" for c, u in uploads]
            lines += ["", "</details>"]
    if plan.warnings:
        lines += [""] + [f"> **Warning:** {w}" for w in plan.warnings]
    return "\n".join(lines) + "\n"
