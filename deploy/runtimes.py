"""Snowflake's Python runtimes for UDFs: which a manifest may name, and which draw a warning.

From Snowflake's support policy (docs: developer-guide/python-runtime-support-policy):
during a runtime's deprecation period it gets no more patches but functions can still be
created with it; "after the decommission date, you can no longer create or update
functions using the runtime". So a decommissioned runtime is refused at validate (CREATE
would fail at apply, after the uploads), a deprecated one validates with a plan warning.
3.14 exists since the 2026 change of default package source (docs:
release-notes/bcr-bundles/un-bundled/bcr-2325). Statuses are fixed here, not derived from
today's date: manifests and plans stay reproducible; update the table with the policy page.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(Enum):
    CURRENT = "current"
    DEPRECATED = "deprecated"
    DECOMMISSIONED = "decommissioned"


@dataclass(frozen=True)
class Runtime:
    version: str
    status: Status
    deprecated_on: str | None = None  # start of the deprecation period (policy page)
    decommissioned_on: str | None = None
    # Python 3.14+ resolves PACKAGES from the shared PyPI repository unless an artifact
    # repository is set (bcr-2325), so the Anaconda view INFORMATION_SCHEMA.PACKAGES does
    # not describe what it can install.
    pypi_packages: bool = False


RUNTIMES: dict[str, Runtime] = {
    r.version: r
    for r in (
        Runtime("3.8", Status.DECOMMISSIONED, "2024-10-14", "2025-04-30"),
        Runtime("3.9", Status.DECOMMISSIONED, "2025-10-05", "2026-04-30"),
        Runtime("3.10", Status.DEPRECATED, "2026-10-04"),
        Runtime("3.11", Status.CURRENT, "2027-10-24"),
        Runtime("3.12", Status.CURRENT, "2028-10-02"),
        Runtime("3.13", Status.CURRENT, "2029-10-07"),
        Runtime("3.14", Status.CURRENT, pypi_packages=True),
    )
}

# What a manifest's `runtime` may say (the schema's enum; a test keeps the two equal).
ACCEPTED: tuple[str, ...] = tuple(v for v, r in RUNTIMES.items() if r.status is not Status.DECOMMISSIONED)
CURRENT: tuple[str, ...] = tuple(v for v, r in RUNTIMES.items() if r.status is Status.CURRENT)


def refusal(value: object) -> str | None:
    """Why a manifest may not name ``value`` as its runtime, when Snowflake has retired it."""
    runtime = RUNTIMES.get(value) if isinstance(value, str) else None
    if runtime is None or runtime.status is not Status.DECOMMISSIONED:
        return None
    return (
        f"Python {runtime.version} was decommissioned by Snowflake on {runtime.decommissioned_on}: "
        f"functions can no longer be created or updated with it; use {', '.join(CURRENT)}"
    )


def warning(value: str) -> str | None:
    """What a plan should say about a runtime that still works but is on its way out."""
    runtime = RUNTIMES.get(value)
    if runtime is None or runtime.status is not Status.DEPRECATED:
        return None
    return (
        f"Python {runtime.version} is deprecated in Snowflake since {runtime.deprecated_on} "
        f"(no more security patches; it will be decommissioned); move to {', '.join(CURRENT)}"
    )


def pypi_packages(value: str) -> bool:
    runtime = RUNTIMES.get(value)
    return runtime is not None and runtime.pypi_packages
