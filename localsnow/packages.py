"""The bundled package snapshot: information_schema.packages, RUNTIME_VERSION and PACKAGES checks.

INFORMATION_SCHEMA.PACKAGES has PACKAGE_NAME, VERSION, LANGUAGE and RUNTIME_VERSION, "a row
for each version" of the runtime a package runs with
(https://docs.snowflake.com/en/sql-reference/info-schema/packages;
https://docs.snowflake.com/en/release-notes/bcr-bundles/2023_04/bcr-1094). CREATE FUNCTION
resolves PACKAGES against the rows of its own RUNTIME_VERSION.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from localsnow import errors

# Where the snapshot is served from inside DuckDB (fakesnow's global catalog).
PACKAGES_TABLE = "_fs_global.main._ls_packages"

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")
# Version constraints PACKAGES takes: == (also with a trailing .* wildcard, as Snowpark passes
# 'pandas==1.5.*' through: https://docs.snowflake.com/developer-guide/snowpark/reference/python/api/snowflake.snowpark.Session.add_packages),
# >= ("PACKAGES clause format (e.g. 'numpy>=1.20.0')":
# https://docs.snowflake.com/sql-reference/functions/system_resolve_python_packages), and
# <=, <, > as conda's match specs take them; comma-separated clauses must all hold.
_CLAUSE = re.compile(r"^(==|<=|>=|<|>)\s*([0-9A-Za-z][0-9A-Za-z.+!\-_]*?)(\.\*)?$")
# Snowflake's words for a PACKAGES clause it cannot satisfy (snowflake-connector-python issue
# #2006: "100357 (P0000): Cannot create a Python function with the specified packages. ...";
# the runtime hint as in Snowflake-Labs/sfquickstarts issue #1669).
PACKAGES_ERROR = (
    "Cannot create a Python function with the specified packages. Please check your packages specification "
    "and try again."
)
DECOMMISSIONED_ERRNO = 391569


# Snowflake channel (conda) names whose Python distribution, as importlib.metadata knows it, is spelled
# otherwise: the channel's `pytorch` (packages.json) installs the `torch` distribution
# (https://anaconda.org/anaconda/pytorch: "import torch"), `py-xgboost` / `py-lightgbm` the Python
# bindings of xgboost / lightgbm (https://anaconda.org/anaconda/py-xgboost). Other names only differ
# in case and '-' / '_' / '.', which the worker's lookup ignores (PEP 503).
CHANNEL_DISTRIBUTIONS = {"pytorch": "torch", "py-xgboost": "xgboost", "py-lightgbm": "lightgbm"}


def canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def distribution_names(specs: list[str]) -> list[str]:
    """The Python distributions a PACKAGES list names, in order: ['pytorch', 'pandas==2.1.4'] -> ['torch', 'pandas']."""
    names = []
    for spec in specs:
        match = _SPEC.match(spec)
        if match:
            name = canonical(match[1]).replace(".", "-")
            names.append(CHANNEL_DISTRIBUTIONS.get(name, name))
    return list(dict.fromkeys(names))


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _runtime_key(runtime: str) -> tuple[int, ...]:
    return tuple(int(p) for p in runtime.split(".") if p.isdigit())


def _specifier(constraint: str) -> SpecifierSet | None:
    """The constraint as a SpecifierSet, or None when PACKAGES would not take its form."""
    if not constraint:
        return SpecifierSet()
    clauses = [c.strip() for c in constraint.split(",")]
    for clause in clauses:
        match = _CLAUSE.match(clause)
        if not match or (match[3] and match[1] != "=="):
            return None
    try:
        return SpecifierSet(",".join(clauses))
    except InvalidSpecifier:
        return None


@dataclass(frozen=True)
class PackageSnapshot:
    language: str
    runtimes: tuple[str, ...]  # runtimes CREATE FUNCTION accepts, oldest first
    # (package name, version, runtime version)
    entries: tuple[tuple[str, str, str], ...]
    decommissioned: dict[str, str] = field(default_factory=dict)  # runtime -> date

    @classmethod
    def load(cls, data: dict[str, Any] | None = None) -> PackageSnapshot:
        if data is None:
            text = resources.files("localsnow").joinpath("packages.json").read_text("utf-8")
            data = json.loads(text)
        runtimes = data["runtimes"]
        gone = {r: info["decommissioned"] for r, info in runtimes.items() if info.get("decommissioned")}
        live = tuple(sorted((r for r in runtimes if r not in gone), key=_runtime_key))
        sources = set(data.get("sources", {}))
        entries = []
        for name, versions in sorted(data["packages"].items()):
            for version, info in versions.items():
                unknown = set(info["seen"]) - sources
                if not info["seen"] or unknown:
                    raise ValueError(f"packages.json: {name}=={version} needs known sources, not {sorted(unknown)}")
                entries += [(name, version, runtime) for runtime in info["runtimes"] if runtime in live]
        return cls(data.get("language", "python"), live, tuple(entries), gone)

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
        if runtime in self.decommissioned:
            # https://docs.snowflake.com/en/developer-guide/python-runtime-support-policy; text from
            # feast-dev/feast issue #6606 (391569 (22023)).
            raise errors.compilation_error(
                f"Python runtime version {runtime} is decommissioned. Please update your code to Python "
                f"runtime version {self.runtimes[0]} or later.",
                DECOMMISSIONED_ERRNO,
                "22023",
            )
        if runtime not in self.runtimes:
            supported = ", ".join(self.runtimes)
            raise errors.compilation_error(
                f"Unsupported runtime version {runtime} for language PYTHON (supported: {supported})."
            )
        return runtime

    def resolve(self, specs: list[str], runtime: str) -> list[str]:
        """Validate PACKAGES for `runtime` and pin each to its newest match: ['transformers==4.41.2', ...]."""
        pinned, missing = [], []
        for spec in specs:
            chosen = self._choose(spec, runtime)
            if chosen is None:
                missing.append(spec)
            else:
                pinned.append(chosen)
        if missing:
            raise self._error(missing, runtime)
        return pinned

    def _choose(self, spec: str, runtime: str) -> str | None:
        match = _SPEC.match(spec)
        allowed = _specifier(match[2]) if match else None
        if match is None or allowed is None:
            return None
        spelled, versions = self.versions(match[1], runtime)
        matching = [v for v in versions if allowed.contains(v, prereleases=True)]
        return f"{spelled}=={matching[-1]}" if matching else None

    def _error(self, specs: list[str], runtime: str) -> Exception:
        elsewhere = []
        for spec in specs:
            others = [r for r in self.runtimes if r != runtime and self._choose(spec, r)]
            if others:
                elsewhere.append(f'"{spec}"->[{", ".join(others)}]')
        if not elsewhere:
            return errors.python_udf_error(PACKAGES_ERROR)
        hint = f" Hint: These packages are available in other python runtimes:[{', '.join(elsewhere)}]."
        return errors.python_udf_error(PACKAGES_ERROR + hint)
