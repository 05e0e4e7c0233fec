"""`call`, `eval` and `sample-data` need the manifests' names only, not the artifacts (issue 11).

A CI runner or a fresh clone has the manifests but no `artifacts/`. The project is applied
from a copy that has its artifacts; a second copy of the same project, holding nothing but
its manifests and project file, then runs the commands against the same embedded Snowflake.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_project import HANDLER_FILE, ROOT, deploy, project_environment, shout_manifest, small_project, sql_runner

from deploy.artifacts import HashCache
from deploy.errors import DeployError, ManifestInvalid
from deploy.manifest import ARTIFACTS_NEEDED, ArtifactsMissing, load_manifests, load_names
from training.corpus import load_split
from training.rouge import lead3_scores, rouge

DATABASE, SCHEMA = "T5_NOART", "APP"
# The handler's stage and a stage of artifacts (a folder the training job would write).
MANIFEST = shout_manifest(DATABASE, SCHEMA, stages={"CODE": HANDLER_FILE, "WEIGHTS": "../artifacts/latest"})


def _built(root: Path) -> Path:
    """The project with its artifacts, as on the machine that trained and applied it."""
    root.mkdir()
    project = small_project(root, MANIFEST)
    (project / "artifacts" / "latest").mkdir(parents=True)
    (project / "artifacts" / "latest" / "weights.bin").write_bytes(b"\x00\x01" * 512)
    return project


def _fresh_clone(root: Path, built: Path) -> Path:
    """The same project as a runner gets it without artifacts: here only its manifests and project file."""
    root.mkdir()
    shutil.copytree(built / "manifests", root / "manifests")
    shutil.copy(built / "snowflake.yml", root / "snowflake.yml")
    return root


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory):
    """(fresh clone, embedded Snowflake home) after `deploy apply` from the built copy into that home."""
    base = tmp_path_factory.mktemp("artifact_free")
    built = _built(base / "built")
    home, config = base / "localsnow", base / "snowflake_home"
    with project_environment(built, home, config):
        from deploy.cli import main

        assert main(["--connection", "local", "apply", "--yes"]) == 0
    fresh = _fresh_clone(base / "fresh", built)
    with project_environment(fresh, home, config):
        yield fresh, home


def test_the_clone_has_no_artifacts_and_cannot_plan(clone, capsys: pytest.CaptureFixture[str]) -> None:
    """What needs the content hashes still refuses, and says which commands do not need them."""
    fresh, _ = clone
    assert sorted(p.name for p in fresh.iterdir()) == ["manifests", "snowflake.yml"]
    rc, _, err = deploy(capsys, "plan")  # drift has a names-only check (tests/test_drift_without_artifacts.py)
    assert rc == 1
    assert "does not exist; build the artifacts first" in err and ARTIFACTS_NEEDED in " ".join(err.split())


def test_call_runs_the_deployed_function(clone, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = deploy(capsys, "call", "hello from a runner")
    assert (rc, out) == (0, "HELLO FROM A RUNNER\n"), err
    rc, out, err = deploy(capsys, "call", "--function", "shout", "again")
    assert (rc, out) == (0, "AGAIN\n"), err


def test_call_names_the_declared_functions_when_asked_for_another(clone, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = deploy(capsys, "call", "--function", "WHISPER", "x")
    assert rc == 1 and out == ""
    assert "no function WHISPER in the manifests; choose one of SHOUT with --function" in err


def test_sample_data_loads_into_the_manifests_schema(clone, capsys: pytest.CaptureFixture[str]) -> None:
    _, home = clone
    rc, out, err = deploy(capsys, "sample-data", "--table", "SAMPLE_ROWS", "--limit", "4")
    assert rc == 0, err
    assert f"Loaded 4 row(s) of the bundled BBC News validation split into {DATABASE}.{SCHEMA}.SAMPLE_ROWS" in out
    first = load_split("validation")[0]
    with sql_runner(home) as sql:
        assert sql(f"SELECT COUNT(*), MAX(ID) FROM {DATABASE}.{SCHEMA}.SAMPLE_ROWS") == [(4, 4)]
        assert sql(
            f"SELECT TITLE, {DATABASE}.{SCHEMA}.SHOUT(TITLE) FROM {DATABASE}.{SCHEMA}.SAMPLE_ROWS WHERE ID = 1"
        ) == [(first["title"], first["title"].upper())]


def test_eval_scores_the_deployed_function(clone, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = deploy(capsys, "sample-data", "--table", "EVAL_ROWS", "--limit", "6")
    assert rc == 0, err
    rc, out, err = deploy(capsys, "eval", "--table", "EVAL_ROWS", "--limit", "5", "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    records = load_split("validation")[:5]
    articles, summaries = [r["article"] for r in records], [r["summary"] for r in records]
    assert doc["function"] == f"{DATABASE}.{SCHEMA}.SHOUT" and doc["table"] == f"{DATABASE}.{SCHEMA}.EVAL_ROWS"
    assert (doc["rows"], doc["skipped"], doc["null_outputs"]) == (5, 0, 0)
    # SHOUT returns the article in upper case: the scores are those of exactly these outputs.
    assert doc["rouge"] == rouge([a.upper() for a in articles], summaries)
    assert doc["lead3"] == lead3_scores(articles, summaries)
    assert doc["examples"][0] == {"key": 1, "summary": articles[0].upper(), "reference": summaries[0]}


# --- load_names: the same manifests, the same checks, no files ---------------------------------------


def _problems(load, path: Path) -> list[str]:
    with pytest.raises(ManifestInvalid) as e:
        load(path)
    return e.value.problems


def test_the_repository_manifests_resolve_without_artifacts(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    shutil.copy(ROOT / "manifests" / "summarizer.yaml", tmp_path / "manifests" / "summarizer.yaml")
    names = load_names(tmp_path / "manifests", environ={"T5_SCHEMA": "staging"})
    assert names.schemas == (("T5_DEMO", "STAGING"),)
    assert list(names.functions) == ["T5_DEMO.STAGING.SUMMARIZE(VARCHAR)"]
    assert names.function().parts == ("T5_DEMO", "STAGING", "SUMMARIZE")
    assert sorted(names.stages) == [f"T5_DEMO.STAGING.{s}" for s in ("LLM", "T5_P_MODEL", "T5_P_TOKENIZER")]
    with pytest.raises(ArtifactsMissing, match="call, eval and sample-data need only the manifests"):
        load_manifests(tmp_path / "manifests", environ={}, hashes=HashCache(tmp_path / "cache"))


def test_names_are_those_of_the_full_load(tmp_path: Path) -> None:
    project = _built(tmp_path / "p")
    second = MANIFEST.replace(f"schema: {SCHEMA}", "schema: OTHER").replace("SHOUT:", "shout_twice:")
    second = second.replace(
        "- {name: TEXT, type: VARCHAR}", "- {name: a, type: varchar(10)}\n      - {name: b, type: int}"
    )
    (project / "manifests" / "second.yaml").write_text(second)
    desired = load_manifests(project / "manifests", environ={}, hashes=HashCache(tmp_path / "cache"))
    names = load_names(project / "manifests", environ={})
    assert names == desired.names()
    assert [f.identity for f in names.functions.values()] == [
        f"{DATABASE}.{SCHEMA}.SHOUT(VARCHAR)",
        f"{DATABASE}.OTHER.SHOUT_TWICE(VARCHAR, NUMBER)",
    ]
    with pytest.raises(DeployError, match=rf"pass --database and --schema \(the manifests declare: {DATABASE}\.APP, "):
        names.only_schema()
    with pytest.raises(DeployError, match=r"choose a function with --function \(declared: SHOUT, SHOUT_TWICE\)"):
        names.function()
    assert names.function("shout_twice").args[0].type == "VARCHAR(10)"


# (text of MANIFEST, its replacement, what the problem says)
BAD_NAMES = {
    "bad identifier": ("schema: APP", "schema: 1APP", "schema: '1APP' is not a valid identifier"),
    "reserved schema": ("schema: APP", "schema: information_schema", "read-only schema Snowflake creates"),
    "stage folded onto another": ("  WEIGHTS:", "  code:", "stages.code: the same stage as stages.CODE"),
    "unknown argument type": ("type: VARCHAR}", "type: WIDGET}", "args[0].type: "),
    "duplicate argument": (
        "- {name: TEXT, type: VARCHAR}",
        "- {name: TEXT, type: VARCHAR}\n      - {name: text, type: INT}",
        "argument names must be unique",
    ),
    "undeclared import": ("- stage: WEIGHTS", "- stage: MISSING", "stage 'MISSING' is not declared in this manifest"),
    "unknown key": ("    returns: VARCHAR", "    returns: VARCHAR\n    colour: blue", "colour: unknown key"),
}


@pytest.mark.parametrize("edit", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_read_as_in_the_full_load(tmp_path: Path, edit: tuple[str, str, str]) -> None:
    """With the artifacts present, a problem of names is reported by both loads in the same words."""
    project = _built(tmp_path / "p")
    manifest = project / "manifests" / "manifest.yaml"
    old, replacement, expected = edit
    assert old in MANIFEST
    manifest.write_text(MANIFEST.replace(old, replacement, 1))
    full = _problems(lambda p: load_manifests(p, environ={}, hashes=HashCache(tmp_path / "c")), manifest)
    names_only = _problems(lambda p: load_names(p, environ={}), manifest)
    assert any(expected in problem for problem in names_only), names_only
    assert set(names_only) <= set(full), (names_only, full)
