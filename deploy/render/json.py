"""Machine-readable plan; its shape is documented in docs/plan-format.md (format_version 1)."""

from __future__ import annotations

import json

from deploy.plan import Plan


def render(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, sort_keys=False) + "\n"
