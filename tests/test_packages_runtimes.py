"""PACKAGES checked per Python runtime, version operators, and Snowflake's runtime support policy."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from builders import LLM, MODEL, desired, observed_from

from deploy import runtimes
from deploy.artifacts import HashCache
from deploy.diff import diff, package_problems
from deploy.errors import ManifestInvalid, SnowflakeError
from deploy.manifest import load_manifests, manifest_schema
from deploy.observe import _packages
from deploy.packages import SPEC_PATTERN, satisfying
from deploy.reconcile import plan

# One row per package version per Python runtime, as INFORMATION_SCHEMA.PACKAGES lists them
# (docs: release-notes/bcr-bundles/2023_04/bcr-1094); transformers 4.46.1 only for 3.12.
CHANNEL = {
    "pytorch": (("2.3.0", "3.11"), ("2.5.1", "3.11"), ("2.5.1", "3.12")),
    "transformers": (("4.41.2", "3.11"), ("4.41.2", "3.12"), ("4.46.1", "3.12")),
    "pandas": (("2.2.3", None),),  # a view that leaves RUNTIME_VERSION NULL: every runtime
}


def _problems(packages: tuple[str, ...], runtime: str = "3.11") -> list[str]:
    d = desired(MODEL, LLM, packages=packages)
    d = replace(d, functions={k: replace(fn, runtime=runtime) for k, fn in d.functions.items()})
    return package_problems(d, observed_from(d, packages=CHANNEL))


def test_a_version_offered_only_for_another_python_fails_naming_the_runtime() -> None:
    (msg,) = _problems(("transformers==4.46.1",))
    assert msg.startswith("m.yaml:1: x.packages: transformers==4.46.1 is not offered for Python 3.11")
    assert "available for Python 3.11: 4.41.2" in msg
    assert "offered for Python 3.12" in msg
    assert _problems(("transformers==4.46.1",), runtime="3.12") == []


def test_a_package_not_offered_for_the_runtime_at_all() -> None:
    (msg,) = _problems(("pytorch",), runtime="3.13")
    assert "pytorch is not offered for Python 3.13" in msg and "offered for Python 3.11, 3.12" in msg


def test_a_null_runtime_counts_for_every_runtime() -> None:
    assert _problems(("pandas==2.2.3",), runtime="3.13") == []


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ("pytorch", True),
        ("pytorch==2.5.1", True),
        ("pytorch==2.*", True),
        ("pytorch==2.5.*", True),
        ("pytorch>=2.4", True),
        ("pytorch>2.3.0,<3", True),
        ("pytorch<=2.3.0", True),
        ("pytorch<2.3", False),
        ("pytorch==2.4.*", False),
        ("pytorch>=3", False),
    ],
)
def test_version_operators_are_checked_against_the_runtimes_versions(spec: str, ok: bool) -> None:
    assert (_problems((spec,)) == []) is ok


def test_satisfying_keeps_exact_pins_for_versions_pep440_cannot_read() -> None:
    assert satisfying(["1.2.3_1", "1.2.4"], "==1.2.3_1") == ["1.2.3_1"]
    assert satisfying(["1.2.3_1", "1.2.4"], ">=1.2") == ["1.2.4"]


class FakeSession:
    """Answers the PACKAGES query; SHOW gives nothing (an empty account)."""

    def __init__(self, rows: list[dict], *, without_runtime_column: bool = False) -> None:
        self.rows, self.without_runtime_column, self.statements = rows, without_runtime_column, []

    def query(self, sql: str) -> list[dict]:
        self.statements.append(sql)
        if "INFORMATION_SCHEMA.PACKAGES" not in sql:
            return []
        if "runtime_version" in sql and self.without_runtime_column:
            raise SnowflakeError(sql, "SQL compilation error: invalid identifier 'RUNTIME_VERSION'")
        return [{k: v for k, v in r.items() if k != "runtime_version" or "runtime_version" in sql} for r in self.rows]


ROWS = [
    {"package_name": "transformers", "version": "4.41.2", "runtime_version": "3.11"},
    {"package_name": "transformers", "version": "4.46.1", "runtime_version": "3.12"},
    {"package_name": "transformers", "version": "4.41.2", "runtime_version": "3.12"},
]


def test_observe_reads_runtime_version_rows() -> None:
    session = FakeSession(ROWS)
    d = desired(MODEL, LLM, packages=("transformers>=4.41",))
    assert _packages(session, d, set()) == {
        "transformers": (("4.41.2", "3.11"), ("4.41.2", "3.12"), ("4.46.1", "3.12"))
    }
    assert "runtime_version" in session.statements[0]


def test_a_view_without_runtime_version_is_read_as_every_runtime() -> None:
    session = FakeSession(ROWS, without_runtime_column=True)
    d = desired(MODEL, LLM, packages=("transformers",))
    assert _packages(session, d, set()) == {"transformers": (("4.41.2", None), ("4.46.1", None))}


def test_plan_fails_before_any_upload() -> None:
    d = desired(MODEL, LLM, packages=("transformers==4.46.1",))
    session = FakeSession(ROWS)
    with pytest.raises(ManifestInvalid, match=r"not offered for Python 3\.11"):
        plan(session, d)  # type: ignore[arg-type]
    assert not [s for s in session.statements if s.startswith(("PUT", "CREATE", "REMOVE"))]


# --- manifests: operators and runtimes ---------------------------------------------------

MANIFEST = """\
apiVersion: 1
database: T5_DEMO
schema: PUBLIC
stages:
  LLM:
    files:
      - from: handler.py
functions:
  SUMMARIZE:
    args:
      - {name: text, type: VARCHAR}
    returns: VARCHAR
    runtime: "3.11"
    handler: handler.summarize
    packages: [pandas]
    imports:
      - stage: LLM
"""


def load(tmp_path: Path, text: str):
    (tmp_path / "handler.py").write_text("def summarize(df): return df[0]\n")
    (tmp_path / "m.yaml").write_text(textwrap.dedent(text))
    return load_manifests(tmp_path / "m.yaml", environ={}, hashes=HashCache(tmp_path / "c"), display_root=tmp_path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestInvalid) as caught:
        load(tmp_path, text)
    return caught.value.problems


@pytest.mark.parametrize("spec", ["pandas>=2.1,<3", "numpy==1.25.*", "numpy==1.*", "numpy<2", "numpy>1.2", "x==1.0"])
def test_documented_version_forms_validate(tmp_path: Path, spec: str) -> None:
    fn = next(iter(load(tmp_path, MANIFEST.replace("[pandas]", f'["{spec}"]')).functions.values()))
    assert fn.packages == (spec,)


@pytest.mark.parametrize("spec", ["numpy~=1.2", "numpy!=1.2", "numpy>=1.*", "numpy == 1.2", "numpy>=", "numpy==*"])
def test_other_version_forms_are_refused_naming_the_field(tmp_path: Path, spec: str) -> None:
    (msg,) = problems(tmp_path, MANIFEST.replace("[pandas]", f'["{spec}"]'))
    assert msg.startswith("m.yaml:15: functions.SUMMARIZE.packages[0]:") and "does not match a PACKAGES entry" in msg


def test_the_schema_and_the_code_agree() -> None:
    schema = json.loads((Path(__file__).parents[1] / "deploy" / "schemas" / "manifest.schema.json").read_text())
    function = schema["$defs"]["function"]["properties"]
    assert function["packages"]["items"]["pattern"] == SPEC_PATTERN
    assert tuple(function["runtime"]["enum"]) == runtimes.ACCEPTED
    assert manifest_schema()["$defs"]["function"]["properties"]["runtime"]["enum"] == list(runtimes.ACCEPTED)


def test_a_decommissioned_runtime_is_refused_saying_so(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, MANIFEST.replace('"3.11"', '"3.9"'))
    assert msg.startswith("m.yaml:13: functions.SUMMARIZE.runtime: Python 3.9 was decommissioned by Snowflake")
    assert "2026-04-30" in msg and "3.11, 3.12, 3.13, 3.14" in msg


@pytest.mark.parametrize("runtime", ["3.12", "3.13", "3.14"])
def test_current_runtimes_validate_without_warning(tmp_path: Path, runtime: str) -> None:
    d = load(tmp_path, MANIFEST.replace('"3.11"', f'"{runtime}"').replace("[pandas]", "[]"))
    assert diff(d, observed_from(d, packages={})).warnings == ()


def test_a_deprecated_runtime_validates_with_a_plan_warning(tmp_path: Path) -> None:
    d = load(tmp_path, MANIFEST.replace('"3.11"', '"3.10"'))
    (warning,) = diff(d, observed_from(d, packages={"pandas": (("2.2.3", "3.10"),)})).warnings
    assert warning.startswith("m.yaml:9: functions.SUMMARIZE.runtime: Python 3.10 is deprecated in Snowflake since")


def test_python_314_packages_come_from_pypi_and_are_not_checked_against_anaconda(tmp_path: Path) -> None:
    d = load(tmp_path, MANIFEST.replace('"3.11"', '"3.14"').replace("[pandas]", "[torch]"))
    obs = observed_from(d, packages={"pytorch": (("2.5.1", "3.11"),)})
    assert package_problems(d, obs) == []
    (warning,) = diff(d, obs).warnings
    assert "PyPI" in warning and "bcr-2325" in warning
