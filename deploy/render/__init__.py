"""Renderers: each reads a Plan and returns text; none decides anything."""

from __future__ import annotations

from collections.abc import Callable

from deploy.plan import Plan
from deploy.render import json as json_render
from deploy.render import markdown, sql, text

FORMATS: dict[str, Callable[..., str]] = {
    "text": text.render,
    "json": json_render.render,
    "markdown": markdown.render,
    "sql": sql.render,
}


def render(plan: Plan, fmt: str, **options: object) -> str:
    return FORMATS[fmt](plan, **options)
