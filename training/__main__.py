"""Fine-tune T5 on (article, summary) pairs and write one artifact folder per run.

    python -m training --config training/configs/tiny.yaml
    accelerate launch -m training --config training/configs/t5-small.yaml
    python -m training --config training/configs/small-cpu.yaml --max-minutes 15 --resume auto

Exit status: 0 done, 1 a configuration/data/checkpoint error (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.base_model import BaseModelError
from training.checkpoints import CheckpointError
from training.config import AUTO, ConfigError, RunOptions, load_config
from training.run_artifacts import ArtifactError
from training.sources import DataError

USER_ERRORS = (ConfigError, DataError, CheckpointError, BaseModelError, ArtifactError)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Fine-tune a T5 summarizer (Accelerate: CPU, one GPU, or `accelerate launch` for many).",
    )
    parser.add_argument("--config", type=Path, required=True, help="YAML config, e.g. training/configs/tiny.yaml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.learning_rate=3e-4 (repeatable; value read as YAML)",
    )
    parser.add_argument("--output", type=Path, help="run folder (default: ARTIFACTS/runs/<timestamp>-<config name>)")
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts"),
        help="root of runs/, the latest pointer and the bootstrap cache (default: %(default)s)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        help="budget: stop after this optimizer step (the schedule still spans train.max_steps)",
    )
    parser.add_argument("--max-minutes", type=float, help="budget: stop after this many minutes of wall time")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=AUTO,
        metavar="CHECKPOINT_DIR|auto",
        help="continue from a checkpoint folder, or (auto / no value) from the latest one of --output"
        " or of the newest run of this config",
    )
    parser.add_argument("--no-latest", action="store_true", help="do not point ARTIFACTS/latest at this run")
    args = parser.parse_args(argv)
    if args.max_steps is not None and args.max_steps < 1:
        parser.error(f"--max-steps must be at least 1, got {args.max_steps}")
    if args.max_minutes is not None and args.max_minutes <= 0:
        parser.error(f"--max-minutes must be positive, got {args.max_minutes:g}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        options = RunOptions(
            artifacts=args.artifacts,
            output=args.output,
            max_steps=args.max_steps,
            max_minutes=args.max_minutes,
            resume=args.resume,
            update_latest=not args.no_latest,
        )
        from training.train import training_function  # torch and transformers: only once the config is valid

        training_function(cfg, options)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
