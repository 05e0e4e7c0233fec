"""Training config: YAML into frozen dataclasses, --set overrides, errors that name file and key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from training.__main__ import main
from training.config import ConfigError, TrainingConfig, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "custom.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["tiny", "small-cpu", "t5-small"])
def test_repo_configs_load(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name
    assert cfg.data.max_source_length <= 512
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.learning_rate = 1.0  # type: ignore[misc]


def test_defaults_and_yaml_round_trip(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "train: {max_steps: 7}\n"))
    assert cfg.name == "custom"  # from the file name
    assert cfg.train.max_steps == 7
    assert cfg.model.base == "bootstrap"
    again = load_config(_write(tmp_path, cfg.to_yaml()))
    assert again == cfg


def test_overrides_parse_values_as_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, "train: {learning_rate: 1.0e-3}\n")
    cfg = load_config(
        path,
        ["train.learning_rate=3e-4", "eval.max_examples=null", "model.bootstrap.d_model=64", "train.report_to=[x]"],
    )
    assert cfg.train.learning_rate == pytest.approx(3e-4)  # "3e-4" is a string to PyYAML; accepted as a float
    assert cfg.eval.max_examples is None
    assert cfg.model.bootstrap.d_model == 64
    assert cfg.train.report_to == ("x",)


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("train: {lr: 0.1}\n", [], "custom.yaml: unknown key 'train.lr'"),
        ("trian: {}\n", [], "custom.yaml: unknown key 'trian'"),
        ("train: {max_steps: ten}\n", [], "custom.yaml: train.max_steps must be an integer, got 'ten'"),
        ("data: {source: parquet}\n", [], "custom.yaml: data.source must be one of"),
        ("data: {max_source_length: 1024}\n", [], "MAX_INPUT_TOKENS"),
        ("train: 3\n", [], "custom.yaml: train must be a mapping"),
        ("{}\n", ["train.batch_sise=4"], "--set train.batch_sise=4: unknown key 'train.batch_sise'"),
        ("{}\n", ["train.batch_size"], "expected KEY=VALUE"),
        ("{}\n", ["train.max_steps=0"], "train.max_steps must be at least 1"),
    ],
)
def test_errors_name_the_source_and_key(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("[", r"\[")):
        load_config(_write(tmp_path, text), overrides)


def test_cli_reports_config_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read config") and "missing.yaml" in err
    path = _write(tmp_path, "eval: {every: 3}\n")
    assert main(["--config", str(path)]) == 1
    assert "unknown key 'eval.every'" in capsys.readouterr().err


def test_config_is_a_frozen_dataclass() -> None:
    assert dataclasses.is_dataclass(TrainingConfig)
    assert TrainingConfig.__dataclass_params__.frozen  # type: ignore[attr-defined]
