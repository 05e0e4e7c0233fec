"""Real (tiny) training runs: the loss falls, the run folder holds what deploys and documents it, resume continues."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from training.__main__ import main
from training.checkpoints import list_checkpoints, read_position

pytestmark = pytest.mark.slow

MODEL_FILES = {"config.json", "generation_config.json", "model.safetensors"}
TOKENIZER_FILES = {"spiece.model", "tokenizer.json", "tokenizer_config.json"}
METRIC_KEYS = {
    "run_id", "base_model", "data", "steps", "max_steps", "stopped_by", "loss_history", "eval_history",
    "final_rouge", "lead3_rouge", "tokens_per_second", "wall_seconds", "train_seconds", "device", "versions",
}  # fmt: skip
STEPS = 24


@pytest.fixture(scope="module")
def config_file(bootstrapped_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few dozen steps on 64 short pairs, starting from the session's bootstrap T5 (a folder base)."""
    config = {
        "name": "unit",
        "model": {"base": str(bootstrapped_artifacts)},
        "data": {"max_train_examples": 64, "max_source_length": 64, "max_target_length": 24},
        "train": {
            "max_steps": STEPS,
            "batch_size": 8,
            "learning_rate": 3.0e-3,
            "warmup_steps": 2,
            "log_every": 2,
            "checkpoint_every": 6,
            "seed": 0,
        },
        "eval": {"every_steps": 12, "max_examples": 6, "batch_size": 6, "max_new_tokens": 12},
    }
    path = tmp_path_factory.mktemp("config") / "unit.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def artifacts(config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifacts root after one uninterrupted run (default run folder under runs/)."""
    root = tmp_path_factory.mktemp("artifacts")
    assert main(["--config", str(config_file), "--artifacts", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def run_dir(artifacts: Path) -> Path:
    (run,) = (artifacts / "runs").iterdir()
    return run


@pytest.fixture(scope="module")
def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_run_folder_layout(run_dir: Path) -> None:
    assert run_dir.name.endswith("-unit")
    names = {p.name for p in run_dir.iterdir()}
    assert names >= {"model", "tokenizer", "config.yaml", "metrics.json", "training.png", "README.md", "checkpoints"}
    model_names = {p.name for p in (run_dir / "model").iterdir()}
    tokenizer_names = {p.name for p in (run_dir / "tokenizer").iterdir()}
    assert model_names == MODEL_FILES
    assert tokenizer_names >= TOKENIZER_FILES
    assert not model_names & tokenizer_names  # Snowflake flattens imports into one directory
    for path in [*run_dir.glob("model/*"), *run_dir.glob("tokenizer/*")]:
        assert stat.S_IMODE(path.stat().st_mode) & stat.S_IROTH, f"{path} is not readable by others"
    # The last two checkpoints are kept.
    assert [p.name for p in list_checkpoints(run_dir)] == ["step_18", "step_24"]


def test_latest_pointer_is_a_relative_symlink(artifacts: Path, run_dir: Path) -> None:
    latest = artifacts / "latest"
    assert latest.is_symlink()
    assert os.readlink(latest) == f"runs/{run_dir.name}"
    assert latest.resolve() == run_dir.resolve()


def test_loss_falls_and_metrics_are_complete(metrics: dict) -> None:
    assert metrics.keys() >= METRIC_KEYS
    assert metrics["steps"] == STEPS and metrics["stopped_by"] == "max_steps"
    losses = [point["loss"] for point in metrics["loss_history"]]
    assert [point["step"] for point in metrics["loss_history"]] == list(range(2, STEPS + 1, 2))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5, losses
    assert [entry["step"] for entry in metrics["eval_history"]] == [12, 24]
    for scores in (metrics["final_rouge"], metrics["lead3_rouge"]):
        assert set(scores) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
        assert all(0 <= value <= 100 for value in scores.values())
    assert metrics["lead3_rouge"]["rouge1"] > 20  # Lead-3 on real news is a strong baseline
    assert metrics["tokens_per_second"] > 0 and metrics["eval_examples"] == 6
    assert metrics["device"].startswith("cpu") and metrics["mixed_precision"] == "no"


def test_config_plot_and_model_card(run_dir: Path, metrics: dict, config_file: Path) -> None:
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["train"]["max_steps"] == STEPS
    assert resolved["data"]["max_source_length"] == 64
    assert resolved["eval"]["every_steps"] == 12
    assert (run_dir / "training.png").read_bytes().startswith(b"\x89PNG")
    card = (run_dir / "README.md").read_text()
    for needle in ("Lead-3", "Intended use", "Limits", f"{metrics['final_rouge']['rougeL']:.2f}", "summarize: "):
        assert needle in card


def test_model_and_tokenizer_reload_and_generate(run_dir: Path) -> None:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from udf.handler import MAX_NEW_TOKENS, NUM_BEAMS

    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / "tokenizer"))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(run_dir / "model"))
    assert model.generation_config.max_new_tokens == MAX_NEW_TOKENS
    assert model.generation_config.num_beams == NUM_BEAMS
    assert model.generation_config.no_repeat_ngram_size == 3  # the config's eval setting, served by the UDF
    encoded = tokenizer(text=["summarize: Shares rose after profits beat forecasts."], return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**encoded, max_new_tokens=8)
    assert output.shape[0] == 1 and output.shape[1] > 1


def test_udf_handler_serves_the_run(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from udf import handler

    monkeypatch.setenv(handler.MODEL_DIR_ENV, str(run_dir))
    monkeypatch.setattr(handler, "_loaded", None)
    summaries = handler.summarize_texts(["The bank's shares rose 5% after profits beat forecasts.", None, ""])
    assert isinstance(summaries[0], str)
    assert summaries[1:] == [None, ""]


def test_resume_continues_from_the_checkpoint(config_file: Path, metrics: dict, tmp_path: Path) -> None:
    import torch

    root = tmp_path / "artifacts"
    output = root / "runs" / "20260101-000000-unit"
    common = ["--config", str(config_file), "--artifacts", str(root)]
    assert main([*common, "--output", str(output), "--max-steps", str(STEPS // 2)]) == 0
    halfway = json.loads((output / "metrics.json").read_text())
    assert (halfway["steps"], halfway["stopped_by"]) == (STEPS // 2, "budget_steps")
    assert [p.name for p in list_checkpoints(output)] == ["step_6", "step_12"]

    # auto, without --output: the newest run of this config that has a checkpoint.
    assert main([*common, "--resume", "auto"]) == 0
    assert [p.name for p in (root / "runs").iterdir()] == [output.name]
    resumed = json.loads((output / "metrics.json").read_text())
    assert resumed["resumed_from"] == str(output / "checkpoints" / "step_12")
    assert resumed["steps"] == STEPS
    # The curve continues the first half's (not a restart at step 0) and matches the
    # uninterrupted run: same data order, optimizer, schedule and random state.
    steps = [point["step"] for point in resumed["loss_history"]]
    assert steps == list(range(2, STEPS + 1, 2))
    assert resumed["loss_history"][: len(halfway["loss_history"])] == halfway["loss_history"]
    # (Threaded CPU kernels are not bit-reproducible: allow a little drift. A restart
    # from step 0 would be off by about 1.0 here.)
    for ours, uninterrupted in zip(resumed["loss_history"], metrics["loss_history"], strict=True):
        assert ours["loss"] == pytest.approx(uninterrupted["loss"], abs=1e-2)
        assert ours["learning_rate"] == pytest.approx(uninterrupted["learning_rate"])
    position = read_position(output / "checkpoints" / f"step_{STEPS}")
    assert (position.step, position.tokens) == (STEPS, resumed["tokens"])
    # AdamW's per-parameter step counter went on from 12, it did not start over.
    optimizer = torch.load(output / "checkpoints" / f"step_{STEPS}" / "optimizer.bin", weights_only=False)
    assert {int(state["step"]) for state in optimizer["state"].values()} == {STEPS}


def test_time_budget_stops_early_and_still_saves(config_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "run"
    argv = ["--config", str(config_file), "--artifacts", str(tmp_path), "--output", str(output), "--no-latest"]
    assert main([*argv, "--max-minutes", "0.0001"]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert (metrics["steps"], metrics["stopped_by"]) == (1, "budget_minutes")
    assert [p.name for p in list_checkpoints(output)] == ["step_1"]
    assert (output / "model" / "model.safetensors").is_file()
    assert not (tmp_path / "latest").exists()


def test_resume_from_a_folder_that_is_no_checkpoint(config_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["--config", str(config_file), "--resume", str(tmp_path)]) == 1
    assert f"{tmp_path} is not a complete checkpoint" in capsys.readouterr().err


def test_refuses_to_overwrite_a_run_without_resume(config_file: Path, run_dir: Path, capsys) -> None:
    assert main(["--config", str(config_file), "--output", str(run_dir)]) == 1
    assert "--resume auto" in capsys.readouterr().err


def test_flat_folder_base_like_a_hub_download(bootstrapped_artifacts: Path, config_file: Path, tmp_path: Path) -> None:
    """A base that is one save_pretrained folder (as the hub serves t5-small); spiece.model is carried over."""
    import shutil

    flat = tmp_path / "flat-t5"
    flat.mkdir()
    for path in bootstrapped_artifacts.glob("*/*"):
        shutil.copy2(path, flat / path.name)
    output = tmp_path / "run"
    argv = ["--config", str(config_file), "--artifacts", str(tmp_path), "--output", str(output), "--no-latest"]
    overrides = ["--set", f"model.base={flat}", "--set", "train.max_steps=2", "--set", "eval.max_examples=2"]
    assert main([*argv, *overrides]) == 0
    assert {p.name for p in (output / "tokenizer").iterdir()} >= TOKENIZER_FILES
    assert (output / "tokenizer" / "spiece.model").read_bytes() == (flat / "spiece.model").read_bytes()
    assert json.loads((output / "metrics.json").read_text())["base_model"] == str(flat)
