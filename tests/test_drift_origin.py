"""Drift means the account changed (issue 11): each planned change names its origin, and
`deploy drift` reports only the account's side.

After `deploy apply`, a manifest edit (a comment, a new training run's artifacts) is a planned
change from the manifests and no drift; a hand edit in the account (a function re-created, a
managed file removed, a stage comment altered, a function dropped) is drift from the account.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_project import HANDLER_FILE, deploy, project_environment, shout_manifest, small_project, sql_runner

DATABASE, SCHEMA = "T5_ORIGIN", "APP"
FUNCTION = f"{DATABASE}.{SCHEMA}.SHOUT(VARCHAR)"
MANIFEST = shout_manifest(
    DATABASE,
    SCHEMA,
    stages={"CODE": {"comment": "handler code", "from": HANDLER_FILE}, "WEIGHTS": "../artifacts/latest"},
    comment="shouts",
)


@pytest.fixture
def applied(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """(project, sql) after a clean `deploy apply` into a fresh embedded Snowflake."""
    (tmp_path / "project").mkdir()
    project = small_project(tmp_path / "project", MANIFEST)
    (project / "artifacts" / "latest").mkdir(parents=True)
    (project / "artifacts" / "latest" / "weights.bin").write_bytes(b"\x00\x01" * 64)
    with project_environment(project, tmp_path / "localsnow", tmp_path / "snowflake_home") as home:
        rc, out, err = deploy(capsys, "apply", "--yes")
        assert rc == 0, out + err
        assert deploy(capsys, "drift")[0] == 0
        with sql_runner(home) as sql:
            yield project, sql


def plan_json(capsys: pytest.CaptureFixture[str], command: str = "plan") -> tuple[int, list[dict]]:
    rc, out, err = deploy(capsys, command, "--format", "json")
    assert rc in (0, 2), out + err
    return rc, json.loads(out)["changes"]


def origins(changes: list[dict]) -> dict[tuple[str, str], list[str]]:
    return {(c["object_type"], c["name"]): c["origins"] for c in changes}


def edit_manifest(project: Path, old: str, new: str) -> None:
    path = project / "manifests" / "manifest.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def versions(sql, stage: str) -> set[str]:
    return {str(r[0]).split("/")[1] for r in sql(f"LIST @{DATABASE}.{SCHEMA}.{stage}")}


def version(sql, stage: str) -> str:
    (folder,) = versions(sql, stage)
    return folder


def test_a_manifest_comment_edit_is_planned_from_the_manifests_and_is_no_drift(applied, capsys):
    project, _ = applied
    edit_manifest(project, "comment: shouts", "comment: shouts louder")
    edit_manifest(project, "comment: handler code", "comment: the handler")
    rc, changes = plan_json(capsys)
    assert rc == 2
    assert origins(changes) == {
        ("stage", f"{DATABASE}.{SCHEMA}.CODE"): ["manifests"],
        ("function", FUNCTION): ["manifests"],
    }
    rc, out, _ = deploy(capsys, "plan")
    assert rc == 2 and f"function {FUNCTION} must be replaced (from the manifests)" in out
    rc, out, _ = deploy(capsys, "drift")
    assert rc == 0, out
    assert "No drift." in out and "2 more change(s) come from the manifests" in out
    rc, drift = plan_json(capsys, "drift")
    assert (rc, drift) == (0, [])


def test_a_new_training_run_is_no_drift(applied, capsys):
    project, sql = applied
    live = version(sql, "WEIGHTS")
    (project / "artifacts" / "latest" / "weights.bin").write_bytes(b"\x02" * 128)
    rc, changes = plan_json(capsys)
    assert rc == 2
    kinds = {(c["object_type"], c["action"]) for c in changes}
    assert {("stage_version", "create"), ("function", "replace")} <= kinds
    assert all(c["origins"] == ["manifests"] for c in changes), changes
    rc, out, _ = deploy(capsys, "drift", "--format", "markdown")
    assert rc == 0 and "No drift." in out, out
    assert deploy(capsys, "apply", "--yes")[0] == 0
    assert live in versions(sql, "WEIGHTS") and len(versions(sql, "WEIGHTS")) == 2  # the old one: rollback target
    assert deploy(capsys, "drift")[0] == 0


def hand_recreate_function(sql) -> None:
    """CREATE OR REPLACE by hand: inline code, the managed comment kept."""
    rows = sql(f"SHOW USER FUNCTIONS LIKE 'SHOUT' IN SCHEMA {DATABASE}.{SCHEMA}")
    (comment,) = {r[9] for r in rows}  # SHOW USER FUNCTIONS: `description`, the comment
    assert "[t5-deploy spec=" in comment
    sql(
        f"CREATE OR REPLACE FUNCTION {DATABASE}.{SCHEMA}.SHOUT(TEXT VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
        f"RUNTIME_VERSION = '3.11' HANDLER = 'shout' COMMENT = '{comment}' "
        "AS $$\ndef shout(text):\n    return text\n$$"
    )


@pytest.mark.parametrize(
    ("edit", "expected", "reason"),
    [
        (hand_recreate_function, ("function", FUNCTION), "changed outside t5-deploy"),
        (
            lambda sql: sql(f"REMOVE @{DATABASE}.{SCHEMA}.WEIGHTS/{version(sql, 'WEIGHTS')}/weights.bin"),
            ("stage_version", "WEIGHTS"),
            "missing file weights.bin",
        ),
        (
            lambda sql: sql(f"ALTER STAGE {DATABASE}.{SCHEMA}.CODE SET COMMENT = 'by hand'"),
            ("stage", f"{DATABASE}.{SCHEMA}.CODE"),
            "exists but is not managed by t5-deploy",
        ),
        (
            lambda sql: sql(f"DROP FUNCTION {DATABASE}.{SCHEMA}.SHOUT(VARCHAR)"),
            ("function", FUNCTION),
            "it does not exist",
        ),
    ],
    ids=["function-recreated", "file-removed", "stage-comment", "function-dropped"],
)
def test_a_hand_edit_in_the_account_is_drift(applied, capsys, edit, expected, reason):
    _, sql = applied
    edit(sql)
    rc, out, _ = deploy(capsys, "drift")
    assert rc == 2, out
    assert "Drift: the account no longer matches what t5-deploy last applied" in out
    assert reason in out and "(from the account)" in out
    rc, changes = plan_json(capsys, "drift")
    assert rc == 2
    kind, name = expected
    (change,) = [c for c in changes if c["object_type"] == kind and name in c["name"]]
    assert change["origins"] == ["account"]
    assert all(c["origins"][0] == "account" for c in changes)
    assert deploy(capsys, "apply", "--yes")[0] == 0
    assert deploy(capsys, "drift")[0] == 0


def test_with_both_drift_reports_only_the_account_side(applied, capsys):
    project, sql = applied
    edit_manifest(project, "comment: shouts", "comment: shouts louder")  # the manifests move on
    sql(f"ALTER STAGE {DATABASE}.{SCHEMA}.CODE SET COMMENT = 'by hand'")  # and the account is edited
    rc, changes = plan_json(capsys)
    assert rc == 2
    assert origins(changes) == {
        ("stage", f"{DATABASE}.{SCHEMA}.CODE"): ["account"],
        ("function", FUNCTION): ["manifests"],
    }
    rc, out, _ = deploy(capsys, "drift")
    assert rc == 2 and f"stage {DATABASE}.{SCHEMA}.CODE" in out and "SHOUT" not in out.split("more change")[0]
    assert "1 more change(s) come from the manifests" in out
    rc, drift = plan_json(capsys, "drift")
    assert rc == 2 and origins(drift) == {("stage", f"{DATABASE}.{SCHEMA}.CODE"): ["account"]}
    rc, out, _ = deploy(capsys, "drift", "--format", "markdown")
    assert rc == 2 and "| account |" in out and "| manifests |" not in out
