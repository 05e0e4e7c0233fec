"""Stages on the embedded Snowflake as real Snowflake lists them: one SNOWFLAKE_SSE stage, one
SNOWFLAKE_FULL stage (padded sizes, ciphertext md5), a local file named with glob characters.

Depends on localsnow modelling encryption (SHOW STAGES `type`, padded LIST sizes and
ciphertext md5 on FULL, plaintext md5 on SSE), REMOVE ... PATTERN, and PUT of an escaped
glob; the last test also on ALTER STAGE ... SET COMMENT.
"""

from __future__ import annotations

import glob
import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from cli_project import HANDLER_FILE, deploy, project_environment, shout_manifest, small_project, sql_runner

from deploy.connection import connect, resolve_connection
from deploy.reconcile import Workspace, plan
from deploy.session import Session
from deploy.state import full_listed_size

SCHEMA = "T5_ENC.PUBLIC"
MANIFEST = shout_manifest(
    "T5_ENC",
    "PUBLIC",
    stages={
        "CODE": {"comment": "handler and its settings", "from": HANDLER_FILE},
        "WEIGHTS": {"encryption": "full", "comment": "weights", "from": "../weights"},
    },
    function="packages: [pandas]\nsettings:\n  max_new_tokens: 64",
)
WEIGHTS = {
    "config.json": '{"d_model": 8, "num_layers": 1}\n',
    # `[1]` is a glob class: unescaped, PUT would upload the sibling model1.json instead.
    "model[1].json": "[0.25, 0.5, 1.0]\n",
    "model1.json": "not the file model[1].json names, and longer than it\n",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = small_project(tmp_path_factory.mktemp("enc"), MANIFEST)
    (root / "weights").mkdir()
    for name, text in WEIGHTS.items():
        (root / "weights" / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def env(project: Path, tmp_path_factory):
    with project_environment(project, tmp_path_factory.mktemp("localsnow"), tmp_path_factory.mktemp("sf")) as home:
        yield home


@pytest.fixture
def sql(env):
    with sql_runner(env) as run:
        yield run


def listing(sql, stage: str) -> dict[str, tuple[int, str]]:
    """LIST @stage -> {path below the stage: (size, md5)}."""
    return {r[0].split("/", 1)[1]: (int(r[1]), r[2]) for r in sql(f"LIST @{SCHEMA}.{stage}")}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_first_apply_creates_each_stage_with_its_encryption(env, project, capsys, sql):
    rc, out, err = deploy(capsys, "plan", "--format", "sql")
    assert rc == 2, err
    assert """CREATE STAGE IF NOT EXISTS "T5_ENC"."PUBLIC"."CODE" ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')""" in out
    assert """CREATE STAGE IF NOT EXISTS "T5_ENC"."PUBLIC"."WEIGHTS" ENCRYPTION = (TYPE = 'SNOWFLAKE_FULL')""" in out
    assert f"PUT 'file://{glob.escape(str(project / 'weights' / 'model[1].json'))}' " in out
    rc, _, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, err
    types = {r[1]: r[10] for r in sql(f"SHOW STAGES IN SCHEMA {SCHEMA}")}
    assert types == {"CODE": "INTERNAL NO CSE", "WEIGHTS": "INTERNAL"}
    weights = {path.split("/", 1)[1]: row for path, row in listing(sql, "WEIGHTS").items()}
    for name, text in WEIGHTS.items():
        size, digest = weights[name]
        assert size == full_listed_size(len(text)), name  # padded ciphertext
        assert digest != md5(text.encode())
    code = {path.split("/", 1)[1]: row for path, row in listing(sql, "CODE").items()}
    handler = (project / "udf" / "handler.py").read_bytes()
    assert code["handler.py"] == (len(handler), md5(handler))


def test_second_apply_uploads_nothing_on_full_and_sse_stages(env, capsys):
    ws = Workspace(Path("manifests"), Path(".cache"))
    session = Session(connect(resolve_connection("local")))
    try:
        the_plan, _ = plan(session, ws.desired())
        assert the_plan.is_empty and the_plan.upload_bytes == 0, [c.reasons for c in the_plan.changes]
        assert session.log.count_kind("PUT", "REMOVE", "CREATE", "DROP", "ALTER") == 0
    finally:
        session.close()
    rc, out, _ = deploy(capsys, "apply", "--yes")
    assert rc == 0 and "Apply complete: 0 DDL, 0 bytes uploaded" in out


def test_same_size_hand_edit_on_the_sse_stage_is_drift_and_apply_repairs_it(env, project, capsys, sql, tmp_path):
    (path,) = [p for p in listing(sql, "CODE") if p.endswith("/udf_config.json")]
    version = path.split("/")[0]
    (generated,) = (project / ".cache" / "generated").glob("*/udf_config.json")
    original = generated.read_bytes()
    edited = original.replace(b'"max_new_tokens": 64', b'"max_new_tokens": 65')
    assert edited != original and len(edited) == len(original)
    hand = tmp_path / "udf_config.json"
    hand.write_bytes(edited)
    sql(f"PUT 'file://{hand}' @{SCHEMA}.CODE/{version}/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE")
    assert listing(sql, "CODE")[path] == (len(original), md5(edited))  # same size: only md5 tells

    rc, out, _ = deploy(capsys, "drift")
    assert rc == 2 and "udf_config.json: content differs from the local file" in out
    out = deploy(capsys, "plan", "--format", "json")[1]
    (change,) = json.loads(out)["changes"]
    assert (change["action"], change["object_type"]) == ("update", "stage_version")
    assert [u["name"] for u in change["uploads"]] == ["udf_config.json"]
    out = deploy(capsys, "plan", "--format", "sql")[1]
    puts = [line for line in out.splitlines() if line.startswith("PUT ")]
    assert len(puts) == 2 and "udf_config.json" in puts[0] and "_COMPLETE.json" in puts[1]  # marker last

    assert deploy(capsys, "apply", "--yes")[0] == 0
    assert listing(sql, "CODE")[path] == (len(original), md5(original))
    assert deploy(capsys, "drift")[0] == 0


def test_remove_takes_only_the_unexpected_config_not_config_json(env, capsys, sql, tmp_path):
    (path,) = [p for p in listing(sql, "WEIGHTS") if p.endswith("/config.json")]
    version = path.split("/")[0]
    stray = tmp_path / "config"
    stray.write_text("left by hand")
    sql(f"PUT 'file://{stray}' @{SCHEMA}.WEIGHTS/{version}/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE")
    rc, out, _ = deploy(capsys, "drift")
    assert rc == 2 and "unexpected file config in a managed version" in out
    out = deploy(capsys, "plan", "--format", "sql")[1]
    assert f"""REMOVE @"T5_ENC"."PUBLIC"."WEIGHTS"/{version}/ PATTERN = '^(.*/)?{version}/config$'""" in out
    assert deploy(capsys, "apply", "--yes")[0] == 0
    files = listing(sql, "WEIGHTS")
    assert f"{version}/config.json" in files and f"{version}/config" not in files
    assert deploy(capsys, "drift")[0] == 0


ADOPTED = textwrap.indent(
    textwrap.dedent(
        """\
        ADOPTED:
          comment: adopted
          files:
            - from: ../udf/handler.py
        """
    ),
    "  ",
)


def test_an_untagged_stage_is_taken_over_and_its_encryption_reported(env, project, capsys, sql):
    sql(f"CREATE STAGE {SCHEMA}.ADOPTED COMMENT = 'made by hand'")  # no ENCRYPTION: SNOWFLAKE_FULL
    manifest = project / "manifests" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("functions:\n", ADOPTED + "functions:\n"))
    rc, out, _ = deploy(capsys, "plan", "--format", "json")
    assert rc == 2
    doc = json.loads(out)
    (stage,) = [c for c in doc["changes"] if c["object_type"] == "stage"]
    assert (stage["action"], stage["name"]) == ("update", "T5_ENC.PUBLIC.ADOPTED")
    assert stage["reasons"] == [
        "exists but is not managed by t5-deploy; taking it over: its comment gets the ownership tag",
        "comment: 'made by hand' -> 'adopted'",
    ]
    (warning,) = doc["warnings"]
    assert "stage T5_ENC.PUBLIC.ADOPTED is SNOWFLAKE_FULL, the manifest asks for SNOWFLAKE_SSE" in warning
    out = deploy(capsys, "plan", "--format", "sql")[1]
    assert """ALTER STAGE "T5_ENC"."PUBLIC"."ADOPTED" SET COMMENT = 'adopted [t5-deploy]'""" in out


def test_takeover_apply_tags_the_stage_and_converges(env, capsys, sql):
    rc, _, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, err
    comments = {r[1]: r[8] for r in sql(f"SHOW STAGES IN SCHEMA {SCHEMA}")}
    assert comments["ADOPTED"] == "adopted [t5-deploy]"
    rc, out, _ = deploy(capsys, "drift")
    assert rc == 0 and "Warning: " in out and "is SNOWFLAKE_FULL" in out  # reported, not silently passed
