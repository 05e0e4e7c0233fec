"""The reconciler end to end against the embedded Snowflake, through the real connector.

One account, driven step by step as a user would (plan, apply, change, drift,
destroy); each step checks what the account holds afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_project import copy_project, deploy, project_environment, sql_runner

import localsnow
from deploy.cli import main
from deploy.connection import connect, resolve_connection
from deploy.reconcile import Workspace, plan
from deploy.session import Session

FN = "T5_DEMO.PUBLIC.SUMMARIZE"
ARTICLE = (
    "Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn for the three months to December, "
    "from $639m year-earlier. The firm, which is now one of the biggest investors in Google, benefited from "
    "sales of high-speed internet connections and higher advert sales."
)


@pytest.fixture(scope="module")
def project(tmp_path_factory, bootstrapped_artifacts: Path) -> Path:
    """A copy of the repository's manifests, handler and a small model, free to edit."""
    return copy_project(tmp_path_factory.mktemp("project"), bootstrapped_artifacts)


@pytest.fixture(scope="module")
def env(project: Path, tmp_path_factory):
    with project_environment(project, tmp_path_factory.mktemp("localsnow"), tmp_path_factory.mktemp("sf")) as home:
        yield home


@pytest.fixture
def sql(env):
    with sql_runner(env) as run:
        yield run


def plan_json(capsys) -> tuple[int, dict]:
    rc, out, _ = deploy(capsys, "plan", "--format", "json")
    return rc, json.loads(out)


def test_first_plan_shows_creates(env, capsys):
    rc, doc = plan_json(capsys)
    assert rc == 2
    assert [(c["action"], c["object_type"]) for c in doc["changes"]] == [
        ("create", "database"),
        ("create", "schema"),
        ("create", "stage"),
        ("create", "stage"),
        ("create", "stage"),
        ("create", "stage_version"),
        ("create", "stage_version"),
        ("create", "stage_version"),
        ("create", "function"),
    ]
    assert doc["summary"]["upload_bytes"] > 100_000
    rc, out, _ = deploy(capsys, "plan")
    assert "Plan: 9 to add, 0 to change, 0 to destroy." in out


def test_apply_creates_everything(env, capsys, sql):
    rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, err
    assert "Apply complete" in out
    stages = {r[1] for r in sql("SHOW STAGES IN SCHEMA T5_DEMO.PUBLIC")}
    assert {"T5_P_TOKENIZER", "T5_P_MODEL", "LLM"} <= stages
    listed = [r[0] for r in sql("LIST @T5_DEMO.PUBLIC.T5_P_MODEL")]
    assert any(p.endswith("/model.safetensors") for p in listed)
    assert any(p.endswith("/_COMPLETE.json") for p in listed)
    described = dict(sql("DESCRIBE FUNCTION T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)"))
    assert described["handler"] == "handler.summarize"
    assert "t5-deploy spec=" in sql("SHOW USER FUNCTIONS IN SCHEMA T5_DEMO.PUBLIC")[0][9]


def test_plan_after_apply_is_empty(env, capsys):
    rc, out, _ = deploy(capsys, "plan")
    assert rc == 0
    assert "No changes." in out
    assert deploy(capsys, "drift")[0] == 0


def test_second_apply_uploads_nothing_and_runs_no_ddl(env, capsys):
    ws = Workspace(Path("manifests"), Path(".cache"))
    session = Session(connect(resolve_connection("local")))
    try:
        the_plan, _ = plan(session, ws.desired())
        assert the_plan.is_empty and the_plan.upload_bytes == 0
        writes = session.log.count_kind("PUT", "REMOVE", "CREATE", "DROP", "ALTER", "INSERT")
        assert writes == 0, session.log.statements
    finally:
        session.close()
    rc, out, _ = deploy(capsys, "apply", "--yes")
    assert rc == 0
    assert "Apply complete: 0 DDL, 0 bytes uploaded" in out


def test_summarize_through_sql_returns_a_string(env, capsys, sql):
    (row,) = sql(f"SELECT {FN}('{ARTICLE}')")
    assert isinstance(row[0], str)
    rc, out, _ = deploy(capsys, "call", ARTICLE)
    assert rc == 0 and isinstance(out, str) and out.endswith("\n")
    assert sql(f"SELECT {FN}(NULL)") == [(None,)]


def _touch_model(project: Path, n: int) -> None:
    path = project / "artifacts" / "latest" / "model" / "generation_config.json"
    doc = json.loads(path.read_text())
    doc["_revision"] = n  # a harmless key: the model still loads
    path.write_text(json.dumps(doc, indent=2))


def test_changing_one_artifact_plans_one_version_and_a_function_replace(env, project, capsys, sql):
    _touch_model(project, 1)
    rc, doc = plan_json(capsys)
    assert rc == 2
    changes = [(c["action"], c["object_type"], c["name"].split("/")[0]) for c in doc["changes"]]
    assert changes == [
        ("create", "stage_version", "T5_DEMO.PUBLIC.T5_P_MODEL"),
        ("replace", "function", f"{FN}(VARCHAR)"),
    ]
    assert [u["name"] for u in doc["changes"][0]["uploads"]] == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
    ]
    assert any(r.startswith("imports from T5_DEMO.PUBLIC.T5_P_MODEL: version") for r in doc["changes"][1]["reasons"])
    assert deploy(capsys, "apply", "--yes")[0] == 0
    assert deploy(capsys, "plan")[0] == 0
    (row,) = sql(f"SELECT {FN}('{ARTICLE}')")
    assert isinstance(row[0], str)


def test_old_versions_are_pruned_beyond_keep_versions(env, project, capsys, sql):
    _touch_model(project, 2)
    rc, doc = plan_json(capsys)
    assert rc == 2
    assert [c["action"] for c in doc["changes"]] == ["create", "replace", "delete"]
    assert deploy(capsys, "apply", "--yes")[0] == 0
    versions = {r[0].split("/")[1] for r in sql("LIST @T5_DEMO.PUBLIC.T5_P_MODEL")}
    assert len(versions) == 2  # keep_versions: 2


def test_hand_edit_of_the_function_shows_as_drift(env, capsys, sql):
    described = dict(sql("DESCRIBE FUNCTION T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)"))
    comment = sql("SHOW USER FUNCTIONS IN SCHEMA T5_DEMO.PUBLIC")[0][9]
    imports = described["imports"].strip("[]").split(",")
    # Same comment (ownership tag kept), one package more: only a field-by-field check sees it.
    sql(
        "CREATE OR REPLACE FUNCTION T5_DEMO.PUBLIC.SUMMARIZE(TEXT VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
        "RUNTIME_VERSION = '3.11' PACKAGES = ('pandas','pytorch','sentencepiece','tokenizers','transformers',"
        "'safetensors','numpy') IMPORTS = (" + ", ".join(f"'{i.strip()}'" for i in imports) + ") "
        f"HANDLER = 'handler.summarize' COMMENT = '{comment}'"
    )
    rc, out, _ = deploy(capsys, "drift")
    assert rc == 2
    assert "changed outside t5-deploy" in out
    assert "packages:" in out and "numpy" in out
    assert deploy(capsys, "apply", "--yes")[0] == 0
    assert deploy(capsys, "drift")[0] == 0


def test_missing_managed_file_shows_as_drift_and_apply_restores_it(env, capsys, sql):
    (path,) = [r[0] for r in sql("LIST @T5_DEMO.PUBLIC.LLM") if r[0].endswith("handler.py")]
    version = path.split("/")[1]
    sql(f"REMOVE @T5_DEMO.PUBLIC.LLM/{version}/handler.py")
    rc, out, _ = deploy(capsys, "drift")
    assert rc == 2 and "missing file handler.py" in out
    assert deploy(capsys, "apply", "--yes")[0] == 0
    assert deploy(capsys, "drift")[0] == 0


def test_saved_plan_is_refused_once_the_account_moved(env, project, capsys, sql, tmp_path):
    _touch_model(project, 3)
    saved = tmp_path / "plan.json"
    assert deploy(capsys, "plan", "--format", "json", "--out", str(saved))[0] == 2
    sql("CREATE STAGE IF NOT EXISTS T5_DEMO.PUBLIC.T5_P_SCRATCH COMMENT = '[t5-deploy]'")
    rc, _, err = deploy(capsys, "apply", "--yes", "--plan", str(saved))
    assert rc == 1 and "stale" in err
    sql("DROP STAGE T5_DEMO.PUBLIC.T5_P_SCRATCH")
    rc, _, err = deploy(capsys, "apply", "--yes", "--plan", str(saved))
    assert rc == 0, err
    assert deploy(capsys, "plan")[0] == 0


def test_debug_output_never_shows_the_password(env, capsys):
    password = localsnow.ensure_running(env)["password"]
    capsys.readouterr()
    rc = main(["--debug", "plan", "--connection", "local"])  # option after the subcommand works too
    out = capsys.readouterr()
    assert rc == 0
    assert "SHOW STAGES" in out.err  # --debug logs the SQL it runs
    assert password not in out.out + out.err


def test_destroy_removes_only_what_the_tool_manages(env, capsys, sql, tmp_path):
    sql("CREATE TABLE T5_DEMO.PUBLIC.NEWS (ID INT, ARTICLE VARCHAR)")
    sql("CREATE STAGE T5_DEMO.PUBLIC.THEIR_STAGE")
    note = tmp_path / "note.txt"
    note.write_text("not managed")
    sql(f"PUT 'file://{note}' @T5_DEMO.PUBLIC.THEIR_STAGE AUTO_COMPRESS=FALSE")
    sql(f"PUT 'file://{note}' @T5_DEMO.PUBLIC.LLM/notes/ AUTO_COMPRESS=FALSE")
    sql(
        "CREATE FUNCTION T5_DEMO.PUBLIC.HELLO() RETURNS VARCHAR LANGUAGE PYTHON RUNTIME_VERSION = '3.11' "
        "HANDLER = 'hello' AS $$\ndef hello():\n    return 'hi'\n$$"
    )
    rc, out, err = deploy(capsys, "destroy", "--yes")
    assert rc == 0, err
    assert "Destroy complete" in out
    functions = {r[1] for r in sql("SHOW USER FUNCTIONS IN SCHEMA T5_DEMO.PUBLIC")}
    assert functions == {"HELLO"}
    stages = {r[1] for r in sql("SHOW STAGES IN SCHEMA T5_DEMO.PUBLIC")}
    assert "THEIR_STAGE" in stages and "T5_P_MODEL" not in stages and "T5_P_TOKENIZER" not in stages
    # LLM held a foreign file: the stage stays with that file only.
    assert [r[0] for r in sql("LIST @T5_DEMO.PUBLIC.LLM")] == ["llm/notes/note.txt"]
    assert sql("SELECT COUNT(*) FROM T5_DEMO.PUBLIC.NEWS") == [(0,)]
    assert [r[0] for r in sql("LIST @T5_DEMO.PUBLIC.THEIR_STAGE")] == ["their_stage/note.txt"]
