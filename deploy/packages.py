"""PACKAGES entries and Snowflake's channel (INFORMATION_SCHEMA.PACKAGES), matched per runtime.

Snowflake takes a package without a version (``numpy``), pinned (``numpy==1.25.2``), with a
prefix wildcard (``numpy==1.*``), a range (``numpy>=1.25``) or several specifiers joined by
commas (``numpy>=1.25,<2``): docs developer-guide/udf/python/udf-python-examples. Only the
operators ==, <=, >=, < and > are accepted here; anything else (!=, ~=, spaces, quotes)
is refused at validate, as the spec is later written into a quoted SQL literal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_VERSION = r"[A-Za-z0-9_+!-][A-Za-z0-9_.+!-]*"
_CLAUSE = rf"(?:==(?:{_VERSION}\.\*|{_VERSION})|(?:<=|>=|<|>){_VERSION})"
# The manifest schema's `packages` pattern (a test keeps the JSON Schema's copy equal).
SPEC_PATTERN = rf"^{_NAME}(?:{_CLAUSE}(?:,{_CLAUSE})*)?$"
_SPLIT = re.compile(rf"^({_NAME})(.*)$")

# A channel row: (version, runtime); runtime None = offered for every runtime.
Row = tuple[str, str | None]


def split_spec(spec: str) -> tuple[str, str]:
    """``pytorch>=2.1,<3`` -> (``pytorch``, ``>=2.1,<3``); the name lower-cased as the channel lists it."""
    m = _SPLIT.match(spec.strip())
    if not m:
        return spec.strip().lower(), ""
    return m.group(1).lower(), m.group(2)


def version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def versions_for(rows: Iterable[Row], runtime: str) -> list[str]:
    """Versions offered for ``runtime``, oldest first.

    INFORMATION_SCHEMA.PACKAGES has one row per package version per Python runtime (docs:
    release-notes/bcr-bundles/2023_04/bcr-1094, which documents NULL only for non-Python
    packages); a NULL runtime, or a view without the column, is read as every runtime.
    """
    return sorted({v for v, r in rows if r is None or r == runtime}, key=version_key)


def runtimes_offering(rows: Iterable[Row], specifier: str) -> list[str]:
    """The runtimes for which some version satisfies ``specifier``."""
    by_runtime: dict[str, list[str]] = {}
    for v, r in rows:
        if r is not None:
            by_runtime.setdefault(r, []).append(v)
    return sorted((r for r, vs in by_runtime.items() if satisfying(vs, specifier)), key=version_key)


def satisfying(versions: Iterable[str], specifier: str) -> list[str]:
    """The versions a PACKAGES specifier (``==1.2``, ``==1.*``, ``>=1,<2``; "" = any) accepts."""
    versions = list(versions)
    if not specifier:
        return versions
    try:
        allowed = SpecifierSet(specifier)
    except InvalidSpecifier:
        return [v for v in versions if specifier == f"=={v}"]
    out = []
    for v in versions:
        try:
            if allowed.contains(Version(v), prereleases=True):
                out.append(v)
        except InvalidVersion:  # a conda version PEP 440 cannot read: exact pins only
            if specifier == f"=={v}":
                out.append(v)
    return out
