"""What Snowpark adds to a function's PACKAGES, and the hint when the channel cannot satisfy it.

`session.udf.register` sends the user's packages plus `cloudpickle>=<the client's cloudpickle
version>` (Snowpark session.py `_resolve_packages` -> `_get_req_identifiers_list`: ">=" since
snowpark-python #4234), because the generated handler unpickles the function with it. When the
client's cloudpickle is newer than any in Snowflake's channel, CREATE FUNCTION fails in Snowflake
too (snowpark-python PR #4377: with cloudpickle 3.1.2 installed, "UDF/sproc CREATE fails"), with
a message that does not say why. The hint names the cause and the fix; it is marked as ours.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from localsnow.packages import PackageSnapshot, canonical

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


def cloudpickle_hint(snapshot: PackageSnapshot, specs: list[str], runtime: str) -> str | None:
    """A hint when a cloudpickle clause matches no channel version for `runtime`, else None."""
    for spec in specs:
        match = _SPEC.match(spec)
        if not match or canonical(match[1]) != "cloudpickle":
            continue
        _, versions = snapshot.versions("cloudpickle", runtime)
        try:
            allowed = SpecifierSet(match[2])
        except InvalidSpecifier:
            return None
        if versions and any(allowed.contains(v) for v in versions):
            return None
        newest = versions[-1] if versions else None
        offered = f"up to cloudpickle {newest}" if newest else "no cloudpickle"
        pin = f" (pip install 'cloudpickle=={newest}')" if newest else ""
        return (
            f" (localsnow hint: '{spec}' is what Snowpark adds for the cloudpickle installed beside it; "
            f"Snowflake's channel has {offered} for Python {runtime}, so CREATE FUNCTION fails in Snowflake "
            f"too. Install a cloudpickle the channel has where Snowpark runs{pin}.)"
        )
    return None
