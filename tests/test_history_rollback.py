"""`deploy status`, `history` and `rollback` against the embedded Snowflake (issue 11, "History and rollback").

A model-free project: a handler that tags its answer with its release (v1:, v2:) and a weights
stage beside a training run's metrics.json. Apply v1, edit the handler, apply v2; status and
history show both with provenance; rollback runs v1 again without uploading; plan shows the way
back to v2; apply restores it; a version a rollback runs survives pruning.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from cli_project import HANDLER_FILE, deploy, project_environment, shout_manifest, small_project, sql_runner

from deploy.provenance import Provenance, ReleaseRecord, git_head
from deploy.state import split_tag, tag, tag_fields

DATABASE, SCHEMA = "T5_HIST", "APP"
FN = f"{DATABASE}.{SCHEMA}.SHOUT"
CODE, WEIGHTS = f"{DATABASE}.{SCHEMA}.CODE", f"{DATABASE}.{SCHEMA}.WEIGHTS"
MANIFEST = shout_manifest(
    DATABASE,
    SCHEMA,
    top="keep_versions: 2",
    stages={"CODE": HANDLER_FILE, "WEIGHTS": "../artifacts/latest/model"},
    comment="Shouts",
)
SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _handler(release: str) -> str:
    return f"def shout(text):\n    return None if text is None else '{release}:' + text.upper()\n"


def _checkout(project: Path, sha: str) -> None:
    """A git work tree on branch main at ``sha`` (what provenance reads from .git, without running git)."""
    (project / ".git" / "refs" / "heads").mkdir(parents=True, exist_ok=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / ".git" / "refs" / "heads" / "main").write_text(sha + "\n")


def _release(project: Path, release: str, sha: str) -> None:
    (project / "udf" / "handler.py").write_text(_handler(release))
    _checkout(project, sha)


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    rc, out, err = deploy(capsys, *args, "--format", "json")
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture
def project(tmp_path: Path):
    (tmp_path / "project").mkdir()
    root = small_project(tmp_path / "project", MANIFEST, _handler("v1"))
    weights = root / "artifacts" / "latest"
    (weights / "model").mkdir(parents=True)
    (weights / "model" / "weights.bin").write_bytes(b"\x00\x01" * 256)
    (weights / "metrics.json").write_text(json.dumps({"format_version": 1, "run_id": "20240501-120000-tiny"}))
    _checkout(root, SHA1)
    with project_environment(root, tmp_path / "localsnow", tmp_path / "snowflake_home") as home:
        yield root, home


def test_status_history_rollback_and_the_way_forward(project, capsys: pytest.CaptureFixture[str]) -> None:
    root, home = project
    assert deploy(capsys, "apply", "--yes")[0] == 0
    _release(root, "v2", SHA2)
    assert deploy(capsys, "apply", "--yes")[0] == 0

    # status: the function and each stage's live version, with when, who, commit and training run.
    status = _json(capsys, "status")
    (fn,) = status["functions"]
    assert fn["identity"] == f"{FN}(VARCHAR)" and fn["deployed"] and fn["note"] is None
    prov = fn["provenance"]
    assert ISO_UTC.match(prov["applied_at"]) and prov["applied_by"] and prov["via"] == "apply"
    assert prov["commit"] == SHA2
    assert prov["training_run"] == "20240501-120000-tiny"  # v2 uploaded no weights: the run of the ones it imports
    live = {v["stage"]: v for v in fn["live"]}
    assert set(live) == {CODE, WEIGHTS}
    assert live[CODE]["provenance"]["commit"] == SHA2 and live[WEIGHTS]["provenance"]["commit"] == SHA1
    assert live[WEIGHTS]["provenance"]["training_run"] == "20240501-120000-tiny"

    # history: both complete handler versions, newest first, the live one marked.
    stages = {s["stage"]: s["versions"] for s in _json(capsys, "history")["stages"]}
    v2, v1 = stages[CODE]
    assert (v2["live"], v1["live"]) == (True, False)
    assert (v2["provenance"]["commit"], v1["provenance"]["commit"]) == (SHA2, SHA1)
    assert v2["version"] == live[CODE]["version"] and v1["complete"]
    rc, out, _ = deploy(capsys, "history")
    assert rc == 0 and f"* {v2['version']}  applied " in out and f"  {v1['version']}  applied " in out

    # rollback: the function runs v1 again; nothing but its release record is uploaded.
    with sql_runner(home) as sql:
        assert sql(f"SELECT {FN}('abc')") == [("v2:ABC",)]
        rc, out, err = deploy(capsys, "rollback", "--yes")
        assert rc == 0, err
        assert f"{CODE}: {v2['version']} -> {v1['version']}" in out and "Rollback complete" in out
        assert sql(f"SELECT {FN}('abc')") == [("v1:ABC",)]
        comment = sql(f"SHOW USER FUNCTIONS LIKE 'SHOUT' IN SCHEMA {DATABASE}.{SCHEMA}")[0][9]
    assert split_tag(comment)[:2] == ("Shouts", True) and tag_fields(comment)["via"] == "rollback"
    (fn,) = _json(capsys, "status")["functions"]
    assert fn["provenance"]["via"] == "rollback" and fn["provenance"]["commit"] == SHA1
    assert "rolled back by" in fn["note"] and "`deploy apply` returns it" in fn["note"]

    # plan: the way forward again, one function replace back to v2 (not a hand edit).
    rc, out, _ = deploy(capsys, "plan", "--format", "json")
    assert rc == 2
    (change,) = json.loads(out)["changes"]
    assert (change["action"], change["object_type"]) == ("replace", "function")
    assert change["reasons"] == [f"imports from {CODE}: version {v1['version']} -> {v2['version']}"]
    # The function is as deploy left it (the release's own spec hash is in its tag): the difference is the
    # manifests' side, so a rollback is no drift; `status` says a rollback is in effect.
    assert change["origins"] == ["manifests"]
    assert deploy(capsys, "drift")[0] == 0

    # apply restores v2; the default rollback goes to the release before it (v1) again.
    assert deploy(capsys, "apply", "--yes")[0] == 0
    with sql_runner(home) as sql:
        assert sql(f"SELECT {FN}('abc')") == [("v2:ABC",)]
    assert deploy(capsys, "plan")[0] == 0
    rc, _, err = deploy(capsys, "rollback", "--yes")
    assert rc == 0, err

    # A new release: keep_versions 2 would prune v1, but the function runs it, so it stays.
    _release(root, "v3", SHA3)
    rc, out, _ = deploy(capsys, "plan", "--format", "json")
    assert rc == 2
    deleted = [c["name"] for c in json.loads(out)["changes"] if c["action"] == "delete"]
    assert f"{CODE}/{v1['version']}" not in deleted
    assert deploy(capsys, "apply", "--yes")[0] == 0
    with sql_runner(home) as sql:
        assert sql(f"SELECT {FN}('abc')") == [("v3:ABC",)]


def test_rollback_refuses_what_it_cannot_run(project, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = deploy(capsys, "rollback", "--yes")
    assert rc == 1 and f"{FN}(VARCHAR) is not deployed; nothing to roll back" in err
    assert deploy(capsys, "apply", "--yes")[0] == 0
    rc, _, err = deploy(capsys, "rollback", "--yes")
    assert rc == 1 and "has no earlier release recorded" in " ".join(err.split())
    rc, _, err = deploy(capsys, "rollback", "--to", "0123456789abcdef", "--yes")
    assert rc == 1 and "version 0123456789abcdef is on none of the stages" in " ".join(err.split())


def test_status_and_history_need_no_artifacts(project, capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = project
    assert deploy(capsys, "apply", "--yes")[0] == 0
    shutil.rmtree(root / "artifacts")
    (root / "udf" / "handler.py").unlink()
    rc, out, err = deploy(capsys, "status")
    assert rc == 0, err
    assert f"{FN}(VARCHAR): applied " in out and f"commit {SHA1[:12]}, run 20240501-120000-tiny" in out
    rc, out, err = deploy(capsys, "history")
    assert rc == 0 and CODE in out and WEIGHTS in out, err


# --- the stored forms: old tags and records stay readable ---------------------------------------------


def test_a_tag_without_provenance_reads_as_unknown() -> None:
    old = "Shouts [t5-deploy spec=0a1b2c3d4e5f]"
    assert split_tag(old) == ("Shouts", True, "0a1b2c3d4e5f") and tag_fields(old) == {}
    assert Provenance.from_tag(tag_fields(old)) == Provenance()
    new = "Shouts " + tag("0a1b2c3d4e5f", {"at": "2024-05-01T12:00:00Z", "by": "A USER]", "run": None})
    assert split_tag(new) == ("Shouts", True, "0a1b2c3d4e5f")
    assert tag_fields(new) == {"at": "2024-05-01T12:00:00Z", "by": "A USER]"}


def test_release_record_round_trip_and_foreign_documents() -> None:
    record = ReleaseRecord("DB.S.F(VARCHAR)", ("@DB.S.CODE/0123456789abcdef/handler.py",), Provenance(at="x"))
    assert ReleaseRecord.from_bytes(record.to_bytes()) == record
    assert ReleaseRecord.from_bytes(b"not json") is None and ReleaseRecord.from_bytes(b'{"format": 99}') is None


def test_git_head_reads_packed_refs_and_detached_heads(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git" / "packed-refs").write_text(f"# pack-refs with: peeled\n{SHA2} refs/heads/main\n")
    (tmp_path / "sub").mkdir()
    assert git_head(tmp_path / "sub") == SHA2
    (tmp_path / ".git" / "HEAD").write_text(SHA3 + "\n")
    assert git_head(tmp_path) == SHA3
