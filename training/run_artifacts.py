"""The artifact folder of a run and the `latest` pointer.

    <artifacts>/runs/<run-id>/      e.g. artifacts/runs/20261127-221500-tiny
        model/        config.json, generation_config.json, model.safetensors
        tokenizer/    spiece.model, tokenizer.json, tokenizer_config.json
        config.yaml   the resolved training config
        metrics.json  loss curve, evaluations, final and Lead-3 ROUGE, tokens/s, versions
        training.png  loss and ROUGE curves
        README.md     model card
        checkpoints/  step_<n>/ (the last few; not deployed)
    <artifacts>/latest -> runs/<run-id>   (relative symlink, replaced atomically)

The manifests deploy `model/` and `tokenizer/` only. Snowflake flattens a
UDF's imports into one directory, so the two share no file name.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

RUNS = "runs"
LATEST = "latest"
MODEL = "model"
TOKENIZER = "tokenizer"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
PLOT_FILE = "training.png"
CARD_FILE = "README.md"


class ArtifactError(RuntimeError):
    """The run folder cannot be written as asked."""


def new_run_id(name: str, now: float | None = None) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{name}"


def find_latest_run(artifacts: Path, name: str) -> Path | None:
    """The newest run folder of config `name` that holds a checkpoint (for `--resume auto`)."""
    from training.checkpoints import latest_checkpoint

    runs = sorted((artifacts / RUNS).glob(f"*-{name}")) if (artifacts / RUNS).is_dir() else []
    resumable = [run for run in runs if latest_checkpoint(run) is not None]
    return resumable[-1] if resumable else None


def save_model_and_tokenizer(
    run_dir: Path,
    *,
    model: Any,
    tokenizer: Any,
    state_dict: dict[str, Any] | None,
    generation_config: Any,
    spiece_model: Path | None,
) -> None:
    """model/ and tokenizer/ of a run, replacing earlier ones (a resumed run saves again)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config = generation_config
    for name, save in (
        (MODEL, lambda folder: model.save_pretrained(str(folder), state_dict=state_dict)),
        (TOKENIZER, lambda folder: tokenizer.save_pretrained(str(folder))),
    ):
        building = run_dir / f".{name}.partial"
        shutil.rmtree(building, ignore_errors=True)
        save(building)
        if name == TOKENIZER and spiece_model is not None and not (building / spiece_model.name).exists():
            # transformers 5 writes tokenizer.json only; 4.x's slow tokenizer reads spiece.model.
            shutil.copyfile(spiece_model, building / spiece_model.name)
        _make_readable(building)
        _replace_dir(building, run_dir / name)
    shared = {p.name for p in (run_dir / MODEL).iterdir()} & {p.name for p in (run_dir / TOKENIZER).iterdir()}
    if shared:
        raise ArtifactError(f"{run_dir}: model/ and tokenizer/ share file names {sorted(shared)} (Snowflake flattens)")


def write_run_folder(
    run_dir: Path,
    *,
    model: Any,
    state_dict: dict[str, Any] | None,
    tokenizer: Any,
    spiece_model: Path | None,
    config_yaml: str,
    metrics: dict[str, Any],
    no_repeat_ngram_size: int = 0,
) -> None:
    """Everything but the checkpoints: model/, tokenizer/, config.yaml, metrics.json, training.png, README.md."""
    from training.base_model import serving_generation_config
    from training.report import model_card, plot_training

    save_model_and_tokenizer(
        run_dir,
        model=model,
        tokenizer=tokenizer,
        state_dict=state_dict,
        generation_config=serving_generation_config(model, no_repeat_ngram_size=no_repeat_ngram_size),
        spiece_model=spiece_model,
    )
    write_text(run_dir / CONFIG_FILE, config_yaml)
    write_json(run_dir / METRICS_FILE, metrics)
    plot_training(metrics, run_dir / PLOT_FILE)
    write_text(run_dir / CARD_FILE, model_card(metrics, config_yaml))


def write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def write_text(path: Path, text: str) -> None:
    _write_text(path, text)


def update_latest(artifacts: Path, run_dir: Path) -> Path:
    """Point `<artifacts>/latest` at `run_dir` with a relative symlink, replaced atomically."""
    artifacts.mkdir(parents=True, exist_ok=True)
    pointer = artifacts / LATEST
    if pointer.exists() and not pointer.is_symlink():
        raise ArtifactError(f"{pointer} exists and is not a symlink; move it away to let runs update it")
    target = os.path.relpath(run_dir.resolve(), artifacts.resolve())
    staging = artifacts / f".{LATEST}.{os.getpid()}"
    staging.unlink(missing_ok=True)
    staging.symlink_to(target, target_is_directory=True)
    os.replace(staging, pointer)  # rename(2) over the old link: readers see old or new, never none
    return pointer


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.chmod(0o644)
    os.replace(partial, path)


def _make_readable(folder: Path) -> None:
    # transformers 5 writes model.safetensors as 0600; stage uploads and other users need to read it.
    folder.chmod(0o755)
    for entry in folder.iterdir():
        entry.chmod(0o644)


def _replace_dir(new: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
