"""Manifest `settings` -> udf_config.json staged beside the handler -> the handler's Settings."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from deploy.artifacts import HashCache
from deploy.errors import ManifestInvalid
from deploy.handler_config import CONFIG_NAME, config_bytes, defaults
from deploy.manifest import load_manifests
from udf import handler

MANIFEST = """\
apiVersion: 1
database: T5_DEMO
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
      - {name: text, type: VARCHAR}
    returns: VARCHAR
    runtime: "3.11"
    handler: handler.summarize
    imports:
      - stage: LLM
      - stage: T5_P_MODEL
    settings:
      max_new_tokens: 48
      num_beams: 2
      quantize: int8
"""
FN = "T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "art" / "model").mkdir(parents=True)
    (tmp_path / "art" / "model" / "config.json").write_text("{}")
    (tmp_path / "art" / "handler.py").write_text("def summarize(df): return df[0]\n")
    return tmp_path


def load(project: Path, text: str):
    path = project / "summarizer.yaml"
    path.write_text(textwrap.dedent(text))
    return load_manifests(path, environ={}, hashes=HashCache(project / "cache"), display_root=project)


def problems(project: Path, text: str) -> list[str]:
    with pytest.raises(ManifestInvalid) as caught:
        load(project, text)
    return caught.value.problems


def test_names_and_defaults_agree_with_the_handler() -> None:
    # The handler cannot import deploy inside Snowflake: the two sides must agree by value.
    assert handler.CONFIG_NAME == CONFIG_NAME
    assert defaults() == {
        "max_input_tokens": handler.MAX_INPUT_TOKENS,
        "max_new_tokens": handler.MAX_NEW_TOKENS,
        "num_beams": handler.NUM_BEAMS,
        "max_batch_size": handler.MAX_BATCH_SIZE,
        "threads": 0,
        "quantize": "none",
    }
    assert handler.Settings() == handler.Settings.from_mapping(json.loads(config_bytes({})), "x")


def test_settings_are_staged_beside_the_handler_and_imported(project: Path) -> None:
    desired = load(project, MANIFEST)
    llm = desired.stages["T5_DEMO.PUBLIC.LLM"]
    assert [f.name for f in llm.files] == ["handler.py", CONFIG_NAME]
    config = next(f for f in llm.files if f.name == CONFIG_NAME)
    assert config.source.is_relative_to(project / "cache")
    document = json.loads(config.source.read_bytes())
    assert document == {**defaults(), "format": 1, "max_new_tokens": 48, "num_beams": 2, "quantize": "int8"}
    fn = desired.functions[FN]
    assert (llm.fqn, CONFIG_NAME) in {(i.stage, i.file) for i in fn.imports}
    # What the handler makes of the staged file.
    settings = handler.Settings.from_mapping(document, CONFIG_NAME)
    assert (settings.max_new_tokens, settings.num_beams, settings.quantize) == (48, 2, "int8")


def test_a_setting_change_makes_a_new_handler_version(project: Path) -> None:
    first = load(project, MANIFEST).stages["T5_DEMO.PUBLIC.LLM"].version
    again = load(project, MANIFEST).stages["T5_DEMO.PUBLIC.LLM"].version
    changed = load(project, MANIFEST.replace("max_new_tokens: 48", "max_new_tokens: 32"))
    assert first == again != changed.stages["T5_DEMO.PUBLIC.LLM"].version
    # The model stage does not move.
    assert load(project, MANIFEST).stages["T5_DEMO.PUBLIC.T5_P_MODEL"].version == (
        changed.stages["T5_DEMO.PUBLIC.T5_P_MODEL"].version
    )


def test_without_settings_nothing_is_generated(project: Path) -> None:
    desired = load(project, MANIFEST.split("    settings:")[0])
    assert [f.name for f in desired.stages["T5_DEMO.PUBLIC.LLM"].files] == ["handler.py"]


def test_explicit_import_file_lists_still_get_the_config(project: Path) -> None:
    text = MANIFEST.replace("      - stage: LLM\n", "      - stage: LLM\n        files: [handler.py]\n")
    fn = load(project, text).functions[FN]
    assert {i.file for i in fn.imports} >= {"handler.py", CONFIG_NAME}


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("max_batch_size: 0", "functions.SUMMARIZE.settings.max_batch_size: 0 is less than the minimum of 1"),
        ("quantize: int4", "functions.SUMMARIZE.settings.quantize: 'int4' is not one of ['none', 'int8']"),
        ("beams: 4", "functions.SUMMARIZE.settings.beams: unknown key; allowed: max_batch_size"),
        ("max_input_tokens: two", "functions.SUMMARIZE.settings.max_input_tokens: 'two' is not of type 'integer'"),
    ],
)
def test_bad_settings_name_file_line_and_field(project: Path, setting: str, fragment: str) -> None:
    (message,) = problems(project, MANIFEST.replace("quantize: int8", setting))
    assert message.startswith("summarizer.yaml:") and fragment in message, message


def test_a_hand_made_config_file_in_the_handler_stage_conflicts(project: Path) -> None:
    (project / "art" / CONFIG_NAME).write_text("{}")
    text = MANIFEST.replace(
        "      - from: art/handler.py\n", f"      - from: art/handler.py\n      - from: art/{CONFIG_NAME}\n"
    )
    (message,) = problems(project, text)
    assert "functions.SUMMARIZE.settings" in message and "remove that file" in message


def test_two_functions_with_different_settings_cannot_share_a_handler_stage(project: Path) -> None:
    second = (
        MANIFEST.split("functions:\n")[1]
        .replace("SUMMARIZE:", "SUMMARIZE_FAST:")
        .replace("num_beams: 2", "num_beams: 1")
    )
    (message,) = problems(project, MANIFEST + second)
    assert "SUMMARIZE_FAST.settings" in message and "different stages" in message


def test_handler_reads_its_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / CONFIG_NAME
    config.write_bytes(config_bytes({"max_batch_size": 8, "threads": 1}))
    monkeypatch.setenv(handler.CONFIG_ENV, str(config))
    assert handler.load_settings() == handler.Settings(max_batch_size=8, threads=1)
    monkeypatch.delenv(handler.CONFIG_ENV)
    assert handler.load_settings() == handler.Settings()


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1, got 0"),
        ({"threads": -1}, "threads must be >= 0, got -1"),
        ({"max_batch_size": 64.0}, "max_batch_size must be an integer, got 64.0"),
        ({"max_batch_size": 1025}, "max_batch_size must be <= 1024, got 1025"),
        ({"quantize": 1}, "quantize must be one of none, int8, got 1"),
        ({"num_beams": True}, "num_beams must be an integer"),
        ({"quantize": "fp8"}, "quantize must be one of none, int8"),
        ({"temperature": 0.7}, "unknown setting(s) temperature"),
    ],
)
def test_handler_rejects_bad_settings_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict, fragment: str
) -> None:
    config = tmp_path / CONFIG_NAME
    config.write_text(json.dumps(document))
    monkeypatch.setenv(handler.CONFIG_ENV, str(config))
    with pytest.raises(ValueError, match=str(config)) as caught:
        handler.load_settings()
    assert fragment in str(caught.value)


def test_handler_reports_an_unreadable_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / CONFIG_NAME
    config.write_text("{not json")
    monkeypatch.setenv(handler.CONFIG_ENV, str(config))
    with pytest.raises(ValueError, match="cannot read handler settings"):
        handler.load_settings()


# --- one schema for deploy and handler: whatever validates, serves -------------------


def test_the_manifest_schema_takes_its_settings_from_the_handler() -> None:
    from deploy.manifest import manifest_schema

    assert manifest_schema()["$defs"]["settings"] == handler.SETTINGS_SCHEMA


def test_the_handler_implements_every_keyword_its_schema_uses() -> None:
    for name, rule in handler.SETTINGS_SCHEMA["properties"].items():
        assert set(rule) <= handler.SCHEMA_RULES, (name, set(rule) - handler.SCHEMA_RULES)


_VALUES = [
    0,
    1,
    7,
    8,
    16,
    17,
    64,
    256,
    257,
    1024,
    1025,
    4096,
    4097,
    -1,
    64.0,
    1.5,
    True,
    False,
    None,
    "64",
    "none",
    "int8",
    "fp8",
    [],
    {},
]


@pytest.mark.parametrize("name", sorted(handler.SETTINGS_SCHEMA["properties"]))
def test_deploy_and_handler_agree_on_every_value(name: str) -> None:
    """The manifest validator and the handler accept exactly the same values, key by key."""
    from deploy.manifest import _Validator, manifest_schema

    validator = _Validator(manifest_schema()["$defs"]["settings"])
    for value in _VALUES:
        deploy_accepts = validator.is_valid({name: value})
        try:
            handler.Settings.from_mapping({name: value}, "udf_config.json")
            handler_accepts = True
        except ValueError:
            handler_accepts = False
        assert deploy_accepts == handler_accepts, (name, value, deploy_accepts, handler_accepts)
    assert validator.is_valid({name: handler.SETTINGS_SCHEMA["properties"][name]["default"]})


def test_a_float_batch_size_is_refused_at_validate_naming_the_field(project: Path) -> None:
    text = MANIFEST.replace("      quantize: int8", "      max_batch_size: 64.0")
    assert any(
        "functions.SUMMARIZE.settings.max_batch_size: 64.0 is not an integer" in p for p in problems(project, text)
    )
