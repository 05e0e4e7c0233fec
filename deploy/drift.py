"""`deploy drift`: the account's side of a plan.

Drift is what changed in the account since t5-deploy last applied (plan.Origin.ACCOUNT): a hand
edit, a file removed or added on a managed stage, an untagged or missing object. A manifest edit
or a new training run is not drift; it is left to `deploy plan`, and counted in the report.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy import TOOL_NAME
from deploy.plan import Plan

TITLE = f"Drift: the account no longer matches what {TOOL_NAME} last applied; `deploy apply` would make these changes:"
CLEAN = f"No drift. The account is as {TOOL_NAME} last applied it."


@dataclass(frozen=True)
class DriftReport:
    drift: Plan  # the changes from the account (origin account, alone or with manifests)
    from_manifests: int  # changes left out: the manifests' alone

    @property
    def is_clean(self) -> bool:
        return self.drift.is_empty

    @property
    def note(self) -> str:
        """One line on what was left out, "" when nothing was."""
        if not self.from_manifests:
            return ""
        return (
            f"{self.from_manifests} more change(s) come from the manifests, not the account "
            "(not drift): `deploy plan` shows them."
        )


def report(plan: Plan) -> DriftReport:
    drift = plan.from_account()
    return DriftReport(drift, len(plan.changes) - len(drift.changes))
