"""INFORMATION_SCHEMA.PACKAGES per runtime, RUNTIME_VERSION support and PACKAGES version specs."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import snowflake.connector
import yaml
from ls_helpers import query

from localsnow.packages import PackageSnapshot

ROOT = Path(__file__).resolve().parents[2]


def create(conn: snowflake.connector.SnowflakeConnection, runtime: str, packages: tuple[str, ...]) -> dict[str, str]:
    """CREATE OR REPLACE a Python UDF; DESCRIBE FUNCTION's property rows."""
    listed = ", ".join(f"'{p}'" for p in packages)
    query(
        conn,
        f"CREATE OR REPLACE FUNCTION PKG_FN(x VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON RUNTIME_VERSION = '{runtime}' "
        f"PACKAGES = ({listed}) HANDLER = 'f' AS $$\ndef f(x):\n    return x\n$$",
    )
    return dict(query(conn, "DESCRIBE FUNCTION PKG_FN(VARCHAR)"))


def test_packages_has_a_row_per_version_per_runtime(conn) -> None:
    cur = conn.cursor().execute(
        "SELECT package_name, version, language, runtime_version FROM information_schema.packages "
        "WHERE package_name = 'transformers' ORDER BY version, runtime_version"
    )
    assert [d.name for d in cur.description] == ["PACKAGE_NAME", "VERSION", "LANGUAGE", "RUNTIME_VERSION"]
    assert cur.fetchall() == [
        ("transformers", "4.39.3", "python", "3.10"),
        ("transformers", "4.39.3", "python", "3.11"),
        ("transformers", "4.41.2", "python", "3.11"),
    ]
    runtimes = {r[0] for r in query(conn, "SELECT DISTINCT runtime_version FROM information_schema.packages")}
    assert runtimes == {"3.10", "3.11"}  # nothing for the decommissioned 3.8 / 3.9


def test_every_manifest_package_is_on_311_with_a_source() -> None:
    data = json.loads(resources.files("localsnow").joinpath("packages.json").read_text("utf-8"))
    manifest = yaml.safe_load((ROOT / "manifests" / "summarizer.yaml").read_text("utf-8"))
    wanted = {p.split("==")[0] for f in manifest["functions"].values() for p in f["packages"]}
    assert wanted >= {"pytorch", "transformers", "sentencepiece", "tokenizers", "safetensors", "pandas"}
    for name in wanted:
        offered = {v: info for v, info in data["packages"][name].items() if "3.11" in info["runtimes"]}
        assert offered, name
        assert all(set(info["seen"]) <= set(data["sources"]) and info["seen"] for info in offered.values()), name
    assert PackageSnapshot.load().resolve(sorted(wanted), "3.11")


def test_decommissioned_runtime_is_refused(conn) -> None:
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        create(conn, "3.9", ("pandas",))
    # python-runtime-support-policy: 3.9 decommissioned 2026-04-30; text of feast-dev/feast issue #6606
    assert info.value.errno == 391569 and info.value.sqlstate == "22023"
    assert info.value.raw_msg == (
        "SQL compilation error:\nPython runtime version 3.9 is decommissioned. "
        "Please update your code to Python runtime version 3.10 or later."
    )
    with pytest.raises(snowflake.connector.ProgrammingError, match=r"3\.8 is decommissioned"):
        create(conn, "3.8", ())
    assert create(conn, "3.10", ("pandas",))["runtime_version"] == "3.10"  # deprecated, still accepted


@pytest.mark.parametrize(
    ("spec", "installed"),
    [
        ("transformers", "transformers==4.41.2"),  # the newest for the runtime
        ("transformers==4.39.3", "transformers==4.39.3"),
        ("transformers==4.41.*", "transformers==4.41.2"),
        ("transformers<=4.40", "transformers==4.39.3"),
        ("transformers>=4.40", "transformers==4.41.2"),
        ("transformers<4.41.2", "transformers==4.39.3"),
        ("transformers>4.39.3", "transformers==4.41.2"),
        ("transformers>=4.0,<4.40", "transformers==4.39.3"),
    ],
)
def test_version_specs_are_resolved(conn, spec: str, installed: str) -> None:
    props = create(conn, "3.11", (spec,))
    assert props["packages"] == f"['{spec}']"
    assert props["installed_packages"] == f"['{installed}']"


@pytest.mark.parametrize(
    "spec",
    ["transformers==4.40.*", "transformers>4.41.2", "transformers<4.39", "transformers==9.9", "transformers~=4.41"],
)
def test_specs_nothing_matches_are_refused(conn, spec: str) -> None:
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        create(conn, "3.11", (spec,))
    assert info.value.errno == 100357
    assert info.value.raw_msg.startswith("Cannot create a Python function with the specified packages.")


def test_packages_are_checked_for_the_functions_runtime(conn) -> None:
    assert create(conn, "3.11", ("tokenizers==0.19.1",))["installed_packages"] == "['tokenizers==0.19.1']"
    with pytest.raises(snowflake.connector.ProgrammingError) as info:
        create(conn, "3.10", ("pandas", "tokenizers==0.19.1"))
    assert info.value.raw_msg == (
        "Cannot create a Python function with the specified packages. Please check your packages specification "
        'and try again. Hint: These packages are available in other python runtimes:["tokenizers==0.19.1"->[3.11]].'
    )
    # 3.12 is a supported runtime, but no public source pins channel versions for it
    with pytest.raises(snowflake.connector.ProgrammingError, match="available in other python runtimes"):
        create(conn, "3.12", ("pandas",))
    assert create(conn, "3.12", ())["runtime_version"] == "3.12"
