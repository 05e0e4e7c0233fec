"""Checkpoints: `<run>/checkpoints/step_<n>/` = `accelerator.save_state` + `position.json`.

The folder name records the optimizer step; `position.json` records where in
the data the run stood (epoch, micro-batches consumed in it) and the history
so far (loss curve, evaluations, tokens, time), so a resumed run continues the
same curves rather than starting new ones.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHECKPOINTS = "checkpoints"
POSITION_FILE = "position.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint to resume from is missing or unreadable."""


@dataclass(frozen=True)
class Position:
    step: int = 0  # optimizer steps completed
    epoch: int = 0
    batches_in_epoch: int = 0  # micro-batches of `epoch` already consumed
    tokens: int = 0  # non-pad tokens trained on so far
    train_seconds: float = 0.0  # time in training steps (evaluation and saving excluded)
    wall_seconds: float = 0.0
    loss_history: list[dict[str, Any]] = field(default_factory=list)
    eval_history: list[dict[str, Any]] = field(default_factory=list)


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINTS / f"step_{step}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (a folder without position.json is incomplete)."""
    folder = run_dir / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in folder.iterdir()
        if (match := _STEP_DIR.match(path.name)) and (path / POSITION_FILE).is_file()
    ]
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def write_position(folder: Path, position: Position) -> None:
    # Written after save_state: its presence marks the checkpoint complete.
    (folder / POSITION_FILE).write_text(json.dumps(asdict(position), indent=1) + "\n", encoding="utf-8")


def read_position(folder: Path) -> Position:
    path = folder / POSITION_FILE
    try:
        return Position(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise CheckpointError(f"{folder} is not a complete checkpoint: {POSITION_FILE} is missing") from None
    except (json.JSONDecodeError, TypeError) as error:
        raise CheckpointError(f"{path} is not a position file written by this trainer: {error}") from None


def prune(run_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints; returns the deleted folders."""
    checkpoints = list_checkpoints(run_dir)
    doomed = checkpoints[: max(0, len(checkpoints) - keep)]
    for path in doomed:
        shutil.rmtree(path)
    return doomed
