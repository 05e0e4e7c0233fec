"""Manifest validation: every problem names file, line and field; the CLI exits 1 without a traceback."""

import textwrap
from pathlib import Path

import pytest

from deploy.artifacts import HashCache
from deploy.cli import main
from deploy.errors import ManifestInvalid
from deploy.manifest import load_manifests

GOOD = """\
apiVersion: 1
database: ${DB:-T5_DEMO}
schema: PUBLIC
stages:
  T5_P_MODEL:
    files:
      - from: art/model
  LLM:
    files:
      - from: art/handler.py
functions:
  SUMMARIZE:
    args:
      - {name: text, type: STRING}
    returns: VARCHAR
    runtime: "3.11"
    handler: handler.summarize
    packages: [pytorch, transformers]
    imports:
      - stage: LLM
      - stage: T5_P_MODEL
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "art" / "model").mkdir(parents=True)
    (tmp_path / "art" / "model" / "config.json").write_text("{}")
    (tmp_path / "art" / "model" / "model.safetensors").write_bytes(b"\0" * 64)
    (tmp_path / "art" / "handler.py").write_text("def summarize(df): return df[0]\n")
    return tmp_path


def write(project: Path, text: str) -> Path:
    path = project / "summarizer.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(project: Path, text: str, environ=None) -> list[str]:
    path = write(project, text)
    with pytest.raises(ManifestInvalid) as exc:
        load_manifests(path, environ=environ or {}, hashes=HashCache(project / "cache"), display_root=project)
    return exc.value.problems


def test_good_manifest_resolves_to_desired_state(project):
    desired = load_manifests(write(project, GOOD), environ={}, hashes=HashCache(project / "cache"))
    assert desired.databases == ("T5_DEMO",)
    model = desired.stages["T5_DEMO.PUBLIC.T5_P_MODEL"]
    assert [f.name for f in model.files] == ["config.json", "model.safetensors"]
    assert len(model.version) == 16
    fn = desired.functions["T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)"]
    assert fn.args[0].name == "TEXT" and fn.args[0].type == "VARCHAR"
    assert {i.file for i in fn.imports} == {"handler.py", "config.json", "model.safetensors"}


def test_environment_overlay_changes_the_target(project):
    desired = load_manifests(write(project, GOOD), environ={"DB": "T5_PROD"}, hashes=HashCache(project / "c"))
    assert desired.databases == ("T5_PROD",)


def test_version_follows_content_only(project):
    path = write(project, GOOD)
    v1 = load_manifests(path, environ={}, hashes=HashCache(project / "c")).stages["T5_DEMO.PUBLIC.T5_P_MODEL"].version
    (project / "art" / "model" / "config.json").write_text('{"d_model": 8}')
    v2 = load_manifests(path, environ={}, hashes=HashCache(project / "c")).stages["T5_DEMO.PUBLIC.T5_P_MODEL"].version
    assert v1 != v2


def test_unknown_key_names_line_and_allowed_keys(project):
    (msg,) = problems(project, GOOD.replace("    runtime:", "    runtim: x\n    runtime:"))
    assert msg.startswith("summarizer.yaml:")
    assert "functions.SUMMARIZE.runtim: unknown key" in msg
    line = int(msg.split(":")[1])
    assert (project / "summarizer.yaml").read_text().splitlines()[line - 1].strip().startswith("runtim:")


def test_hostile_identifier_is_rejected(project):
    probs = problems(project, GOOD.replace("schema: PUBLIC", "schema: 'x\"; DROP TABLE y; --'"))
    assert any("summarizer.yaml:3: schema:" in p and "not a valid identifier" in p for p in probs), probs


def test_missing_artifact_file(project):
    (msg,) = problems(project, GOOD.replace("art/model", "art/nowhere"))
    assert "summarizer.yaml:7: stages.T5_P_MODEL.files[0].from:" in msg
    assert "does not exist" in msg


def test_duplicate_import_base_names(project):
    (project / "art" / "other").mkdir()
    (project / "art" / "other" / "config.json").write_text("{}")
    text = (
        GOOD.replace("  LLM:\n", "  T5_P_TOKENIZER:\n    files:\n      - from: art/other\n  LLM:\n")
        + "      - stage: T5_P_TOKENIZER\n"
    )
    probs = problems(project, text)
    assert any("duplicate import base name 'config.json'" in p and "flattened" in p for p in probs), probs


def test_bad_sql_type_in_signature(project):
    (msg,) = problems(project, GOOD.replace("type: STRING", "type: VARCHAR; DROP"))
    assert "functions.SUMMARIZE.args[0].type" in msg and "SQL type" in msg


def test_handler_module_must_be_imported(project):
    (msg,) = problems(project, GOOD.replace("handler: handler.summarize", "handler: app.run"))
    assert "functions.SUMMARIZE.handler" in msg and "app.py" in msg


def test_unset_variable_without_default(project):
    probs = problems(project, GOOD.replace("${DB:-T5_DEMO}", "${TARGET_DB}"))
    assert any("TARGET_DB is not set" in p and "summarizer.yaml:2" in p for p in probs), probs


def test_yaml_syntax_error_has_a_line(project):
    (msg,) = problems(project, GOOD.replace("schema: PUBLIC", "schema: [PUBLIC"))
    assert msg.startswith("summarizer.yaml:") and "not valid YAML" in msg


def test_all_problems_are_reported_at_once(project):
    text = GOOD.replace('runtime: "3.11"', 'runtime: "2.7"').replace(
        "returns: VARCHAR", "returns: VARCHAR\n    colour: red"
    )
    assert len(problems(project, text)) == 2


def test_cli_validate_exits_1_with_readable_errors(project, capsys, monkeypatch):
    monkeypatch.setenv("T5_DEPLOY_CACHE", str(project / "cache"))
    path = write(project, GOOD.replace("art/model", "art/nowhere"))
    rc = main(["--manifests", str(path), "validate"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "stages.T5_P_MODEL.files[0].from" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_cli_validate_ok(project, capsys, monkeypatch):
    monkeypatch.setenv("T5_DEPLOY_CACHE", str(project / "cache"))
    assert main(["--manifests", str(write(project, GOOD)), "validate"]) == 0
    assert "Manifests valid" in capsys.readouterr().out


def test_repository_manifests_match_the_schema(tmp_path, monkeypatch):
    """The shipped manifests validate once artifacts exist (here: stand-in files)."""
    art = tmp_path / "art"
    for sub, names in {"model": ["config.json", "model.safetensors"], "tokenizer": ["spiece.model"]}.items():
        (art / sub).mkdir(parents=True)
        for n in names:
            (art / sub / n).write_text(n)
    root = Path(__file__).resolve().parents[1]
    desired = load_manifests(root / "manifests", environ={"T5_ARTIFACTS": str(art)}, hashes=HashCache(tmp_path / "c"))
    assert set(desired.stages) == {"T5_DEMO.PUBLIC.T5_P_TOKENIZER", "T5_DEMO.PUBLIC.T5_P_MODEL", "T5_DEMO.PUBLIC.LLM"}
