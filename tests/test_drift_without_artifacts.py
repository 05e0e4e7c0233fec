"""`deploy drift` on a runner without `artifacts/` (issue 11): the account against what t5-deploy last applied.

The project is applied from a copy that has its artifacts; a second copy of the same project, holding only
its manifests and project file (as a scheduled CI job checks it out), then runs `deploy drift` against the
same embedded Snowflake. Each hand edit in the account is drift there too (exit 2, naming the object),
read from the function's ownership tag and the versions' completion markers; an apply from the built copy
repairs it and the check is clean again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_project import HANDLER_FILE, deploy, project_environment, shout_manifest, small_project, sql_runner

from deploy.drift_names import NAMES_ONLY

DATABASE, SCHEMA = "T5_DRIFT_NOART", "APP"
FUNCTION = f"{DATABASE}.{SCHEMA}.SHOUT(VARCHAR)"
MANIFEST = shout_manifest(
    DATABASE, SCHEMA, stages={"CODE": HANDLER_FILE, "WEIGHTS": "../artifacts/latest"}, comment="shouts"
)
WEIGHTS = b"\x00\x01" * 512

Sql = Callable[[str], list[tuple]]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory):
    """(built copy, fresh clone, sql) sharing one embedded Snowflake; cwd is the fresh clone."""
    base = tmp_path_factory.mktemp("drift_noart")
    (base / "built").mkdir()
    built = small_project(base / "built", MANIFEST)
    (built / "artifacts" / "latest").mkdir(parents=True)
    (built / "artifacts" / "latest" / "weights.bin").write_bytes(WEIGHTS)
    fresh = base / "fresh"
    fresh.mkdir()
    shutil.copytree(built / "manifests", fresh / "manifests")
    shutil.copy(built / "snowflake.yml", fresh / "snowflake.yml")
    with project_environment(fresh, base / "localsnow", base / "snowflake_home") as home, sql_runner(home) as sql:
        yield built, fresh, sql


def apply_built(capsys: pytest.CaptureFixture[str], built: Path) -> None:
    rc, out, err = deploy(capsys, "--manifests", str(built / "manifests"), "apply", "--yes")
    assert rc == 0, out + err


@pytest.fixture
def applied(projects, capsys: pytest.CaptureFixture[str]):
    """Each test starts from a clean apply, whatever the one before left: (built, sql)."""
    built, fresh, sql = projects
    apply_built(capsys, built)
    assert not (fresh / "artifacts").exists()
    return built, sql


def drift_json(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    rc, out, err = deploy(capsys, "drift", "--format", "json")
    assert rc in (0, 2), out + err
    return rc, json.loads(out)


def live_version(sql: Sql, stage: str) -> str:
    (version,) = {str(r[0]).split("/")[1] for r in sql(f"LIST @{DATABASE}.{SCHEMA}.{stage}")}
    return version


def test_clean_after_apply_in_every_format(applied, capsys) -> None:
    rc, out, err = deploy(capsys, "drift")
    assert rc == 0, out + err
    assert "No drift. The account is as t5-deploy last applied it." in out
    assert " ".join(NAMES_ONLY.split()) in " ".join(out.split())  # one line: the artifacts were not compared
    rc, doc = drift_json(capsys)
    assert rc == 0 and doc["changes"] == [] and doc["warnings"] == [NAMES_ONLY] and doc["scope"] is None
    rc, out, _ = deploy(capsys, "drift", "--format", "markdown")
    assert rc == 0 and "No drift." in out and "artifacts were not found" in out


def test_sql_still_needs_the_artifacts(applied, capsys) -> None:
    """The repair's SQL renders the manifests' properties; without artifacts it is refused, as before."""
    rc, out, err = deploy(capsys, "drift", "--format", "sql")
    assert rc == 1 and out == ""
    assert "does not exist; build the artifacts first" in err


def recreate_function(sql: Sql, *, keep_comment: bool) -> None:
    """CREATE OR REPLACE by hand with inline code; with the managed comment kept, or none."""
    (comment,) = {r[9] for r in sql(f"SHOW USER FUNCTIONS LIKE 'SHOUT' IN SCHEMA {DATABASE}.{SCHEMA}")}
    assert "[t5-deploy spec=" in comment
    kept = f"COMMENT = '{comment}' " if keep_comment else ""
    sql(
        f"CREATE OR REPLACE FUNCTION {DATABASE}.{SCHEMA}.SHOUT(TEXT VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
        f"RUNTIME_VERSION = '3.11' HANDLER = 'shout' {kept}AS $$\ndef shout(text):\n    return text\n$$"
    )


def put_file(sql: Sql, tmp_path: Path, stage_path: str, name: str, content: bytes) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    sql(f"PUT 'file://{source}' @{DATABASE}.{SCHEMA}.{stage_path} AUTO_COMPRESS = FALSE OVERWRITE = TRUE")


# (hand edit, (object type, name part) of the change it must give, its reason)
EDITS: dict[str, tuple[Callable[[Sql, Path], None], tuple[str, str], str]] = {
    "function-recreated": (
        lambda sql, _: recreate_function(sql, keep_comment=True),
        ("function", FUNCTION),
        "changed outside t5-deploy: the live function no longer matches the spec its comment records",
    ),
    "function-untagged": (
        lambda sql, _: recreate_function(sql, keep_comment=False),
        ("function", FUNCTION),
        "exists but is not managed by t5-deploy",
    ),
    "function-dropped": (
        lambda sql, _: sql(f"DROP FUNCTION {FUNCTION}"),
        ("function", FUNCTION),
        "it does not exist",
    ),
    "file-removed": (
        lambda sql, _: sql(f"REMOVE @{DATABASE}.{SCHEMA}.WEIGHTS/{live_version(sql, 'WEIGHTS')}/weights.bin"),
        ("stage_version", f"{DATABASE}.{SCHEMA}.WEIGHTS/"),
        "missing file weights.bin",
    ),
    "file-added": (
        lambda sql, tmp: put_file(sql, tmp, f"WEIGHTS/{live_version(sql, 'WEIGHTS')}", "extra.bin", b"x" * 10),
        ("stage_version", f"{DATABASE}.{SCHEMA}.WEIGHTS/"),
        "unexpected file extra.bin in a managed version",
    ),
    "file-changed": (
        lambda sql, tmp: put_file(sql, tmp, f"WEIGHTS/{live_version(sql, 'WEIGHTS')}", "weights.bin", WEIGHTS * 2),
        ("stage_version", f"{DATABASE}.{SCHEMA}.WEIGHTS/"),
        "weights.bin: size 2048 -> 1024",  # LIST against the marker (this stage lists plaintext sizes)
    ),
    "marker-replaced": (
        lambda sql, tmp: put_file(sql, tmp, f"CODE/{live_version(sql, 'CODE')}", "_COMPLETE.json", b'{"files": []}'),
        ("stage_version", f"{DATABASE}.{SCHEMA}.CODE/"),
        "completion marker does not list this version's files",
    ),
    "stage-untagged": (
        lambda sql, _: sql(f"ALTER STAGE {DATABASE}.{SCHEMA}.CODE SET COMMENT = 'by hand'"),
        ("stage", f"{DATABASE}.{SCHEMA}.CODE"),
        "exists but is not managed by t5-deploy",
    ),
    "stage-dropped": (
        lambda sql, _: sql(f"DROP STAGE {DATABASE}.{SCHEMA}.CODE"),
        ("stage", f"{DATABASE}.{SCHEMA}.CODE"),
        "it does not exist, but a live function imports from it",
    ),
}


@pytest.mark.parametrize(("edit", "expected", "reason"), EDITS.values(), ids=EDITS.keys())
def test_a_hand_edit_is_drift_without_the_artifacts(applied, capsys, tmp_path, edit, expected, reason) -> None:
    built, sql = applied
    edit(sql, tmp_path)
    rc, out, err = deploy(capsys, "drift")
    assert rc == 2, out + err
    assert "Drift: the account no longer matches what t5-deploy last applied" in out
    assert reason in out and "(from the account)" in out and "artifacts were not found" in out, out
    rc, doc = drift_json(capsys)
    assert rc == 2
    kind, name = expected
    assert [c for c in doc["changes"] if c["object_type"] == kind and c["name"].startswith(name)], doc["changes"]
    assert all(c["origins"] == ["account"] for c in doc["changes"])
    rc, out, _ = deploy(capsys, "drift", "--format", "markdown")
    assert rc == 2 and "| account |" in out
    apply_built(capsys, built)  # the artifacts' copy repairs it
    rc, out, err = deploy(capsys, "drift")
    assert rc == 0, out + err
