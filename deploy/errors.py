"""Errors the CLI turns into one readable line and exit status 1."""

from __future__ import annotations


class DeployError(Exception):
    """Base of every expected failure: bad input, a stale plan, a refused policy."""


class ManifestInvalid(DeployError):
    """One or more manifest problems, each naming file, line and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:20]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{len(problems)} manifest problem(s):\n" + "\n".join(f"  {p}" for p in shown) + more)


class PlanStale(DeployError):
    """The account (or a local file) changed since the saved plan was computed."""


class PolicyViolation(DeployError):
    """The plan would do something the caller did not allow (e.g. destroy)."""


class SnowflakeError(DeployError):
    """A statement failed; carries the statement (never secrets) and Snowflake's ids."""

    def __init__(self, sql: str, message: str, errno: int | None = None, sfqid: str | None = None):
        self.sql, self.errno, self.sfqid = sql, errno, sfqid
        shown = sql if len(sql) < 300 else sql[:300] + " ..."
        ids = ", ".join(x for x in (f"errno {errno}" if errno else "", f"query id {sfqid}" if sfqid else "") if x)
        super().__init__(f"{message.strip()}\n  while running: {shown}" + (f"\n  ({ids})" if ids else ""))
