"""The bundled package snapshot: information_schema.packages and PACKAGES validation."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from localsnow import errors

# Where the snapshot is served from inside DuckDB (fakesnow's global catalog).
PACKAGES_TABLE = "_fs_global.main._ls_packages"

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


def canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


@dataclass(frozen=True)
class PackageSnapshot:
    language: str
    runtimes: tuple[str, ...]
    # (package name, version, runtime version)
    entries: tuple[tuple[str, str, str], ...]

    @classmethod
    def load(cls, data: dict[str, Any] | None = None) -> PackageSnapshot:
        if data is None:
            text = resources.files("localsnow").joinpath("packages.json").read_text("utf-8")
            data = json.loads(text)
        runtimes = tuple(data["runtime_versions"])
        exceptions = data.get("runtime_exceptions", {})
        entries = tuple(
            (name, version, runtime)
            for name, versions in sorted(data["packages"].items())
            for version in versions
            for runtime in exceptions.get(f"{name}=={version}", runtimes)
        )
        return cls(data.get("language", "python"), runtimes, entries)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(PACKAGE_NAME, VERSION, LANGUAGE, RUNTIME_VERSION) rows."""
        return [(name, version, self.language, runtime) for name, version, runtime in self.entries]

    def versions(self, name: str, runtime: str) -> tuple[str, list[str]]:
        """The channel's spelling of `name` and its versions for `runtime`, oldest first."""
        wanted = canonical(name)
        found = [(n, v) for n, v, r in self.entries if canonical(n) == wanted and r == runtime]
        if not found:
            return name, []
        return found[0][0], sorted({v for _, v in found}, key=_version_key)

    def check_runtime(self, runtime: str | None) -> str:
        if not runtime:
            raise errors.compilation_error(
                "Runtime version is required for a function with language PYTHON (RUNTIME_VERSION = '3.11')."
            )
        if runtime not in self.runtimes:
            supported = ", ".join(self.runtimes)
            raise errors.compilation_error(
                f"Unsupported runtime version {runtime} for language PYTHON (supported: {supported})."
            )
        return runtime

    def resolve(self, specs: list[str], runtime: str) -> list[str]:
        """Validate PACKAGES and pin each to a version: ['transformers==4.41.2', ...]."""
        pinned = []
        for spec in specs:
            match = _SPEC.match(spec)
            if not match:
                raise _package_error(spec, runtime)
            name, constraint = match.group(1), match.group(2)
            spelled, versions = self.versions(name, runtime)
            if not versions:
                raise _package_error(name, runtime)
            chosen = _choose(versions, constraint, spec, runtime)
            pinned.append(f"{spelled}=={chosen}")
        return pinned


def _choose(versions: list[str], constraint: str, spec: str, runtime: str) -> str:
    if not constraint or constraint.replace(" ", "") == "==*":
        return versions[-1]
    try:
        allowed = SpecifierSet(constraint)
    except InvalidSpecifier:
        raise _package_error(spec, runtime) from None
    matching = [v for v in versions if allowed.contains(v, prereleases=True)]
    if not matching:
        raise _package_error(spec, runtime)
    return matching[-1]


def _package_error(spec: str, runtime: str) -> Exception:
    return errors.python_udf_error(
        "Cannot create a Python function with the specified packages. Please check your "
        f"packages specification and try again. Package '{spec}' is not available for "
        f"Python {runtime} (local Snowflake package snapshot)."
    )
