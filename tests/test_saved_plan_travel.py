"""Saved plans that travel: planned in one checkout, applied from another at another path.

The CI shape: a plan job writes `plan --format json --out plan.json`, an apply job in
another checkout (another path, another cache) runs `apply --plan plan.json` against the
same account. Each refusal names its own cause: another target, manifests changed,
account changed, not a saved plan. The embedded Snowflake is shared by both checkouts
(one LOCALSNOW_HOME per test) and reached through the real connector.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_project import copy_project, deploy, project_environment, sql_runner

from deploy import saved_plan
from deploy.local_file import ROOT_ARTIFACTS, ROOT_CACHE, ROOT_PROJECT, LocalFile, SourceRef
from deploy.plan import Scope

EXPRESSION = "${T5_ARTIFACTS:-../artifacts/latest}"


@pytest.fixture
def checkouts(tmp_path: Path, bootstrapped_artifacts: Path) -> tuple[Path, Path]:
    """Two copies of the project at different paths, as two CI jobs check it out."""
    return (
        copy_project(tmp_path / "job-plan" / "repo", bootstrapped_artifacts),
        copy_project(tmp_path / "job-apply" / "work" / "repo", bootstrapped_artifacts),
    )


@pytest.fixture
def account(tmp_path: Path) -> tuple[Path, Path]:
    """One embedded Snowflake home (and an empty Snowflake config folder) both checkouts use."""
    return tmp_path / "localsnow", tmp_path / "snowflake-config"


def make_plan(capsys, out: Path, *extra: str) -> None:
    rc, _, err = deploy(capsys, "plan", "--out", str(out), *extra)
    assert rc == 2, err


def apply_saved(capsys, path: Path) -> tuple[int, str]:
    rc, _, err = deploy(capsys, "apply", "--yes", "--plan", str(path))
    return rc, err


def uploads(doc: dict) -> list[dict]:
    return [u for c in doc["changes"] for u in c["uploads"]]


def test_plan_made_in_one_checkout_applies_from_another(checkouts, account, tmp_path, bootstrapped_artifacts, capsys):
    planner, applier = checkouts
    # The training run outside both projects, downloaded to a different folder by each job.
    run_a = shutil.copytree(bootstrapped_artifacts, tmp_path / "downloads-a" / "run-7")
    run_b = shutil.copytree(bootstrapped_artifacts, tmp_path / "downloads-b" / "run-7")
    saved = tmp_path / "plan-job-output" / "plan.json"
    saved.parent.mkdir()
    with project_environment(planner, *account), pytest.MonkeyPatch.context() as mp:
        mp.setenv("T5_ARTIFACTS", str(run_a))
        make_plan(capsys, saved, "--format", "json")
    text = saved.read_text()
    assert str(tmp_path) not in text  # no local path of the planning job
    doc = json.loads(text)
    assert doc["format_version"] == 2
    assert doc["scope"] == {
        "connection": "local",
        "account": None,
        "host": None,
        "databases": ["T5_DEMO"],
        "schemas": ["T5_DEMO.PUBLIC"],
    }
    sources = {u["name"]: u["source"] for u in uploads(doc)}
    assert sources["handler.py"] == {"root": ROOT_PROJECT, "path": "udf/handler.py"}
    assert sources["config.json"] == {
        "root": ROOT_ARTIFACTS,
        "path": "model/config.json",
        "manifest": "manifests/summarizer.yaml",
        "expression": EXPRESSION,
    }
    assert sources["udf_config.json"]["root"] == ROOT_CACHE  # generated from `settings`, again by the applier
    assert sources["udf_config.json"]["path"].startswith("generated/")

    moved = tmp_path / "artifact-store" / "plan.json"  # handed over as a CI artifact
    moved.parent.mkdir()
    saved.rename(moved)
    with project_environment(applier, *account), pytest.MonkeyPatch.context() as mp:
        mp.setenv("T5_ARTIFACTS", str(run_b))
        rc, err = apply_saved(capsys, moved)
        assert rc == 0, err
        rc, out, err = deploy(capsys, "plan")
        assert rc == 0, out + err  # the account matches the applying checkout's manifests


def test_plan_for_another_database_is_refused_as_another_target(checkouts, account, tmp_path, capsys):
    planner, _ = checkouts
    saved = tmp_path / "plan.json"
    with project_environment(planner, *account) as home, pytest.MonkeyPatch.context() as mp:
        mp.setenv("T5_DATABASE", "T5_STAGING")
        make_plan(capsys, saved, "--format", "json")
        mp.delenv("T5_DATABASE")  # the apply job forgot it
        rc, err = apply_saved(capsys, saved)
        assert rc == 1
        assert "the plan is for another target" in err
        assert "database T5_STAGING -> T5_DEMO" in err and "T5_DATABASE" in err
        assert "account changed" not in err and "manifests changed" not in err
        with sql_runner(home) as sql:
            assert not {r[1] for r in sql("SHOW DATABASES")} & {"T5_DEMO", "T5_STAGING"}  # nothing applied


def test_changed_manifests_are_refused_naming_what_changed(checkouts, account, tmp_path, capsys):
    planner, _ = checkouts
    saved = tmp_path / "plan.json"
    manifest = planner / "manifests" / "summarizer.yaml"
    handler = planner / "udf" / "handler.py"
    original_manifest, original_handler = manifest.read_text(), handler.read_text()
    with project_environment(planner, *account):
        make_plan(capsys, saved, "--format", "json")

        manifest.write_text(original_manifest.replace("num_beams: 1 ", "num_beams: 4 "))
        rc, err = apply_saved(capsys, saved)
        assert rc == 1 and "the manifests changed since the plan was made" in err
        assert "stage T5_DEMO.PUBLIC.LLM: file udf_config.json has other content" in err and "settings" in err
        assert "account changed" not in err and "another target" not in err

        edited = original_manifest.replace("Summarizes news text", "Summarises news text")
        manifest.write_text(edited.replace("keep_versions: 2", "keep_versions: 3"))
        rc, err = apply_saved(capsys, saved)
        assert rc == 1 and "function T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR): comment changed" in err
        assert "stage T5_DEMO.PUBLIC.LLM: keep_versions changed" in err

        manifest.write_text(original_manifest)
        handler.write_text(original_handler + "\n# edited after the plan\n")
        rc, err = apply_saved(capsys, saved)
        assert rc == 1 and "stage T5_DEMO.PUBLIC.LLM: file handler.py has other content" in err

        handler.write_text(original_handler)  # back as planned: the same plan applies
        rc, err = apply_saved(capsys, saved)
        assert rc == 0, err


def test_hand_change_in_the_account_is_refused_as_account_changed(checkouts, account, tmp_path, capsys):
    planner, _ = checkouts
    saved = tmp_path / "plan.json"
    with project_environment(planner, *account) as home:
        make_plan(capsys, saved, "--format", "json")
        with sql_runner(home) as sql:
            sql("CREATE DATABASE T5_DEMO")  # by hand, between plan and apply
        rc, err = apply_saved(capsys, saved)
        assert rc == 1
        assert "the account changed since this plan was made" in err
        assert "no longer create database T5_DEMO" in err  # what a new plan would do differently
        assert "another target" not in err and "manifests changed" not in err


def test_files_that_are_not_saved_plans_are_named(checkouts, account, tmp_path, capsys):
    planner, _ = checkouts
    with project_environment(planner, *account):
        make_plan(capsys, tmp_path / "plan.md", "--format", "markdown")
        rc, err = apply_saved(capsys, tmp_path / "plan.md")
        assert rc == 1
        assert "is not a saved plan: it is Markdown" in err and "deploy plan --format json --out" in err
        assert "Expecting value" not in err

        make_plan(capsys, tmp_path / "plan.txt")  # the text form
        rc, err = apply_saved(capsys, tmp_path / "plan.txt")
        assert rc == 1 and "it is the text form of a plan" in err

        rc, report, _ = deploy(capsys, "drift", "--format", "json")  # a report: no scope, absolute paths
        assert rc == 0  # nothing applied yet: every planned change is the manifests', none is drift
        (tmp_path / "drift.json").write_text(report)
        rc, err = apply_saved(capsys, tmp_path / "drift.json")
        assert rc == 1 and "without the scope it was made for" in err

    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format_version": 1, "observed_fingerprint": "x", "changes": []}))
    other = tmp_path / "other.json"
    other.write_text("[]")
    with project_environment(planner, *account):
        rc, err = apply_saved(capsys, old)
        assert rc == 1 and "format 1, written by an older t5-deploy" in err and "--format json --out" in err
        rc, err = apply_saved(capsys, other)
        assert rc == 1 and "is JSON but not a saved plan" in err
        rc, err = apply_saved(capsys, tmp_path / "missing.json")
        assert rc == 1 and "does not exist" in err


# --- the rules, without an account ------------------------------------------------------


def scope(**kw) -> Scope:
    base = {
        "connection": "prod",
        "account": "myorg-prod",
        "host": None,
        "databases": ("T5",),
        "schemas": ("T5.PUBLIC",),
    }
    return Scope(**{**base, **kw})


def test_target_differences_name_connection_account_and_schema():
    assert saved_plan.target_differences(scope(), scope(account="MYORG-PROD")) == []  # case-insensitive
    assert saved_plan.target_differences(scope(), scope(account=None)) == []  # compared only where both set one
    assert saved_plan.target_differences(scope(), scope(connection="dev", account="myorg-dev")) == [
        "connection 'prod' -> 'dev'",
        "account myorg-prod -> myorg-dev",
    ]
    assert saved_plan.target_differences(scope(), scope(schemas=("T5.STAGING",))) == ["schema T5.PUBLIC -> T5.STAGING"]


def test_files_under_a_declared_artifacts_root_are_relative_to_it_even_inside_the_project(tmp_path):
    project = tmp_path / "repo"
    run = project / "artifacts" / "runs" / "r1"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (project / "artifacts" / "latest").symlink_to(run)  # `latest` links to a run folder
    (project / "udf").mkdir()
    (project / "udf" / "handler.py").write_text("")
    cache = tmp_path / "cache"
    (cache / "generated").mkdir(parents=True)
    roots = saved_plan.SourceRoots(
        project,
        (saved_plan.ArtifactsRoot("manifests/m.yaml", EXPRESSION, (project / "artifacts" / "latest").resolve()),),
        cache,
    )
    # A checkout whose artifacts/latest is a plain folder resolves the same reference.
    assert roots.ref(project / "artifacts" / "latest" / "model" / "config.json") == SourceRef(
        ROOT_ARTIFACTS, "model/config.json", "manifests/m.yaml", EXPRESSION
    )
    assert roots.ref(project / "udf" / "handler.py") == SourceRef(ROOT_PROJECT, "udf/handler.py")
    assert roots.ref(cache / "generated" / "x.json") == SourceRef(ROOT_CACHE, "generated/x.json")
    assert roots.ref(tmp_path / "elsewhere").root == "absolute"


def test_a_plan_never_names_a_file_its_applier_does_not_stage_itself(tmp_path):
    """A plan file is input: a reference to anything the manifests do not stage is refused, not read."""
    from deploy.plan import Action, Change, Kind, Plan
    from deploy.spec import Desired

    hostile = LocalFile("environ", None, 1, "0" * 64, ref=SourceRef(ROOT_PROJECT, "../../proc/self/environ"))
    plan = Plan((Change(Action.CREATE, Kind.STAGE_VERSION, "DB.S.ST/v", ("new",), uploads=(hostile,)),), "fp")
    roots = saved_plan.SourceRoots(tmp_path, (), tmp_path / "cache")
    with pytest.raises(saved_plan.ManifestsChanged, match=r"file environ .* is not staged here"):
        saved_plan.resolve_uploads(plan, Desired((), (), {}, {}), roots)


def test_a_change_whose_payload_lacks_a_property_is_a_damaged_plan(tmp_path):
    """`before`/`after` are read into typed payloads (deploy.payloads): a missing property is named, not a crash."""
    from dataclasses import replace

    from builders import LLM, MODEL, desired

    from deploy.diff import diff
    from deploy.observe import Observed

    plan = diff(desired(MODEL, LLM), Observed(frozenset(), frozenset(), {}, {}, {}))
    doc = replace(plan, scope=scope(), manifests={"stages": {}, "functions": {}}).to_dict()
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    assert saved_plan.load(path).changes == plan.changes
    (function,) = (c for c in doc["changes"] if c["object_type"] == "function")
    del function["after"]["handler"]
    path.write_text(json.dumps(doc))
    with pytest.raises(saved_plan.NotASavedPlan, match=r"is a damaged saved plan \(missing 'handler'\)"):
        saved_plan.load(path)
