"""A pull-request comment: summary, a table of changes, uploads folded away.

Input text lands in two places, each with its own escaping on top of ``one_line``:
names and hashes in code spans (``_code``), reasons and warnings in plain text
(``_text``). Either way it can add no line, element, link or mention to the comment.
"""

from __future__ import annotations

import re

from deploy.plan import Plan
from deploy.render.common import HEADERS, human_bytes, one_line, origin, summary

_ZWSP = "&#8203;"
# Plain text: CommonMark metacharacters get a backslash (valid before any ASCII
# punctuation): code spans, emphasis, strikethrough, links and images, raw HTML,
# entities, table cells, and the backslash itself. `_` only where it could open or
# close emphasis: intraword ones (T5_P_MODEL) are inert and stay as written.
# GitHub also links text after Markdown (mentions, issue references, bare URLs and
# e-mails) and reads $…$ as math: a zero-width space entity breaks those triggers
# without changing what is shown, and $ becomes an entity.
_MD_TEXT = re.compile(r"[\\`*~\[\]<&|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|[@#$]|:(?=//)|(?<=www)\.", re.IGNORECASE)


def _text_escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch == "$":
        return "&#36;"
    if ch in "@#:":
        return ch + _ZWSP
    if ch == ".":
        return _ZWSP + ch
    return "\\" + ch


def _text(value: object) -> str:
    """Input as plain Markdown text (a table cell or a quote): shown literally, inert."""
    return _MD_TEXT.sub(_text_escape, one_line(value))


def _code(value: object, *, in_table: bool = False) -> str:
    """Input as a code span: literal inside, so only backticks (and pipes in a table) need care."""
    text = one_line(value)
    if in_table:
        # GFM splits a row on | before it parses code spans; \| is its in-cell escape.
        text = text.replace("|", "\\|")
    # The fence is one backtick longer than any run inside, so the content cannot close it.
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    # A backtick or space at an edge would merge with the fence or be trimmed;
    # CommonMark strips exactly one pad space from each side.
    pad = " " if text.strip(" ") and (text[0] in "` " or text[-1] in "` ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render(
    plan: Plan, *, title: str = "t5-deploy plan", empty: str = "**No changes.** The account matches the manifests."
) -> str:
    """``title`` and ``empty`` (shown for a plan without changes) are the caller's Markdown, not input."""
    lines = [f"### {title}", ""]
    if plan.scope is not None and plan.scope.environment:  # names the --env target
        sc = plan.scope
        where = f"connection {_code(sc.connection)}" + "".join(
            f" ({k} {_code(v)})" for k, v in (("account", sc.account), ("host", sc.host)) if v
        )
        schemas = ", ".join(_code(s) for s in sc.schemas) or "no schema"
        lines += [f"**Target:** environment {_code(sc.environment)}: {schemas} through {where}", ""]
    if plan.is_empty:
        lines.append(empty)
    else:
        lines += [f"**{summary(plan)}**", "", "| | object | name | from | why |", "|---|---|---|---|---|"]
        for c in plan.changes:
            why = "<br>".join(_text(r) for r in c.reasons)
            name = _code(c.name, in_table=True)
            # origin(c) is the Origin enum's own words, never input.
            cells = [f"`{c.action.value}`", c.kind.value, f"{name} ({HEADERS[c.action]})", origin(c), why]
            lines.append(f"| {' | '.join(cells)} |")
        uploads = [(c, u) for c in plan.changes for u in c.uploads]
        if uploads:
            lines += [
                "",
                f"<details><summary>{len(uploads)} file(s) to upload, {human_bytes(plan.upload_bytes)}</summary>",
                "",
            ]
            lines += [
                f"- {_code(f'{c.name}/{u.name}')} {human_bytes(u.size)} sha256 {_code(u.sha256[:12])}"
                for c, u in uploads
            ]
            lines += ["", "</details>"]
    if plan.warnings:
        lines += [""] + [f"> **Warning:** {_text(w)}" for w in plan.warnings]
    return "\n".join(lines) + "\n"
