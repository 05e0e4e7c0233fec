"""Machine-readable plan; its shape is documented in docs/plan-format.md (plan.FORMAT_VERSION)."""

from __future__ import annotations

import json

from deploy.plan import Plan


def render(plan: Plan) -> str:
    # ensure_ascii: every non-ASCII character is a \u escape, so U+2028/2029 (line
    # ends to pre-ES2019 JavaScript and to str.splitlines), bidi and zero-width
    # characters never reach an editor, diff or page raw; json.loads gives them back.
    # allow_nan=False: refuse rather than write NaN, which is not JSON.
    text = json.dumps(plan.to_dict(), indent=2, ensure_ascii=True, allow_nan=False)
    # `<` occurs only inside strings, where \u003c reads back the same: a plan pasted
    # into an HTML <script> block cannot end it (`</script>`) or open a comment.
    return text.replace("<", "\\u003c") + "\n"
