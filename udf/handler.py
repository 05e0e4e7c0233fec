"""Snowflake Python UDF handler: summarize news text with a fine-tuned T5.

This file is uploaded to a stage as-is and runs inside Snowflake, so it imports
nothing from this project: only the standard library, pandas, torch,
transformers and (for the slow-tokenizer fallback) sentencepiece. It must work
under transformers 4.41+ (Snowflake's channel) as well as 5.x.

Snowflake flattens all of the UDF's IMPORTS (model and tokenizer files, this
file) into one read-only directory, `sys._xoptions["snowflake_import_directory"]`;
only /tmp is writable. Outside Snowflake the artifacts are found through the
`T5_MODEL_DIR` environment variable (a directory holding both model and
tokenizer files, or a bootstrap/training output with `model/` and `tokenizer/`).

The model is loaded once per Python process, lazily on the first call: training
imports the constants below, so importing this module must stay cheap.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# Shared with training, so that training and serving tokenize identically.
SOURCE_PREFIX = "summarize: "
MAX_INPUT_TOKENS = 512
MAX_NEW_TOKENS = 64
NUM_BEAMS = 1
# Rows per vectorized call that Snowflake sends at most; also the local batch size.
MAX_BATCH_SIZE = 32

IMPORT_DIRECTORY_OPTION = "snowflake_import_directory"
MODEL_DIR_ENV = "T5_MODEL_DIR"
NUM_THREADS_ENV = "T5_NUM_THREADS"

# Caches that transformers / huggingface_hub / torch may touch; inside Snowflake
# they must live under /tmp, the only writable place.
_CACHE_ENV_DEFAULTS = {
    "HF_HOME": "/tmp/hf_home",
    "HF_HUB_CACHE": "/tmp/hf_home/hub",
    "TRANSFORMERS_CACHE": "/tmp/hf_home/hub",
    "XDG_CACHE_HOME": "/tmp/xdg_cache",
    "TORCH_HOME": "/tmp/torch_home",
    # No network in a UDF: never try the hub.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    tokenizer: Any
    model: Any
    directory: Path


_loaded: LoadedModel | None = None
_load_lock = threading.Lock()


def artifact_directories() -> tuple[Path, Path]:
    """(model directory, tokenizer directory) for this process.

    Snowflake's import directory wins; outside Snowflake `T5_MODEL_DIR` names
    either one flat directory or a folder with `model/` and `tokenizer/`.
    """
    import_dir = sys._xoptions.get(IMPORT_DIRECTORY_OPTION)
    if import_dir:
        flat = Path(str(import_dir))
        return flat, flat
    env_dir = os.environ.get(MODEL_DIR_ENV)
    if not env_dir:
        raise RuntimeError(
            f"no model directory: not running inside Snowflake (no -X {IMPORT_DIRECTORY_OPTION})"
            f" and {MODEL_DIR_ENV} is not set"
        )
    root = Path(env_dir)
    if (root / "model" / "config.json").is_file() and (root / "tokenizer").is_dir():
        return root / "model", root / "tokenizer"
    return root, root


def _point_caches_at_tmp() -> None:
    # Only inside Snowflake: a local process (e.g. training importing the
    # constants) keeps the user's own cache settings.
    if sys._xoptions.get(IMPORT_DIRECTORY_OPTION):
        for name, value in _CACHE_ENV_DEFAULTS.items():
            os.environ.setdefault(name, value)


def _thread_count() -> int:
    override = os.environ.get(NUM_THREADS_ENV)
    if override:
        try:
            count = int(override)
        except ValueError:
            raise ValueError(f"{NUM_THREADS_ENV} must be an integer, got {override!r}") from None
        if count < 1:
            raise ValueError(f"{NUM_THREADS_ENV} must be at least 1, got {count}")
        return count
    # The CPUs this process may run on (a container's limit), not the host's.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def load_model() -> LoadedModel:
    """Load tokenizer and model from the artifact directory (uncached: see `get_model`)."""
    _point_caches_at_tmp()
    # Imported here, not at module level: importing the constants must not
    # pull in torch and transformers.
    import torch
    from transformers import T5ForConditionalGeneration, T5Tokenizer, T5TokenizerFast

    model_dir, tokenizer_dir = artifact_directories()
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in model directory {model_dir}")

    started = time.perf_counter()
    torch.set_num_threads(_thread_count())
    if (tokenizer_dir / "tokenizer.json").is_file():
        tokenizer = T5TokenizerFast.from_pretrained(str(tokenizer_dir), local_files_only=True)
    elif (tokenizer_dir / "spiece.model").is_file():
        try:
            # legacy=True keeps transformers 4.x from needing protobuf.
            tokenizer = T5Tokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True, legacy=True)
        except Exception as error:  # transformers 5 reports a missing protobuf misleadingly
            raise RuntimeError(
                f"cannot load the T5 tokenizer from {tokenizer_dir / 'spiece.model'}: {error}."
                " Without tokenizer.json, transformers 5 needs protobuf to read spiece.model;"
                " include tokenizer.json in the UDF's imports."
            ) from error
    else:
        raise FileNotFoundError(f"neither tokenizer.json nor spiece.model in {tokenizer_dir}")
    model = T5ForConditionalGeneration.from_pretrained(str(model_dir), local_files_only=True)
    model.eval()
    logger.info(
        "loaded T5 from %s in %.1f s (%d threads)",
        model_dir,
        time.perf_counter() - started,
        torch.get_num_threads(),
    )
    return LoadedModel(tokenizer=tokenizer, model=model, directory=model_dir)


def get_model() -> LoadedModel:
    """The process-wide model, loaded on first use."""
    global _loaded
    if _loaded is None:
        with _load_lock:
            if _loaded is None:
                _loaded = load_model()
    return _loaded


def model_input(text: str) -> str:
    """The exact string the model sees; training builds its inputs with this too.

    Whitespace runs (newlines between paragraphs included) collapse to one
    space: the SentencePiece model maps a newline to <unk>, while tokenizer.json
    splits on any whitespace, so only collapsed text encodes identically with
    both tokenizer files (Snowflake may load either).
    """
    return SOURCE_PREFIX + " ".join(text.split())


def _generate(loaded: LoadedModel, texts: list[str]) -> list[str]:
    import torch

    encoded = loaded.tokenizer(
        text=[model_input(text) for text in texts],
        max_length=MAX_INPUT_TOKENS,
        truncation=True,
        padding=True,  # to the longest in this batch
        return_tensors="pt",
    )
    with torch.inference_mode():
        output_ids = loaded.model.generate(
            input_ids=encoded["input_ids"],
            attention_mask=encoded["attention_mask"],
            max_new_tokens=MAX_NEW_TOKENS,
            num_beams=NUM_BEAMS,
            do_sample=False,
        )
    decoded = loaded.tokenizer.batch_decode(output_ids, skip_special_tokens=True)
    return [summary.strip() for summary in decoded]


def summarize_texts(texts: Sequence[str | None]) -> list[str | None]:
    """Summaries for `texts`, in order: None stays None, blank text gives ""."""
    summaries: list[str | None] = []
    pending: list[tuple[int, str]] = []
    for position, text in enumerate(texts):
        if text is None:
            summaries.append(None)
            continue
        if not isinstance(text, str):
            raise TypeError(f"text {position} is {type(text).__name__}, expected str or None")
        summaries.append("")
        if text.strip():
            pending.append((position, text))
    if not pending:
        return summaries

    loaded = get_model()
    for start in range(0, len(pending), MAX_BATCH_SIZE):
        chunk = pending[start : start + MAX_BATCH_SIZE]
        for (position, _), summary in zip(chunk, _generate(loaded, [text for _, text in chunk]), strict=True):
            summaries[position] = summary
    return summaries


def _as_text(value: object) -> str | None:
    # Snowflake sends SQL NULL as None; pandas may hold it as NaN or pd.NA.
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        return value
    return str(value)


def _vectorized(handler: Any) -> Any:
    """Mark `handler` as a vectorized UDF the way `_snowflake.vectorized` does."""
    try:
        import _snowflake  # only exists inside Snowflake
    except ImportError:
        handler._sf_vectorized_input = pd.DataFrame
        handler._sf_max_batch_size = MAX_BATCH_SIZE
        return handler
    return _snowflake.vectorized(input=pd.DataFrame, max_batch_size=MAX_BATCH_SIZE)(handler)


@_vectorized
def summarize(batch: pd.DataFrame) -> pd.Series:
    """Snowflake entry point: column 0 holds the text; one summary (or NULL) per row."""
    texts = [_as_text(value) for value in batch.iloc[:, 0].tolist()]
    # dtype=object keeps None as None (pandas 3 would otherwise infer str and NaN).
    return pd.Series(summarize_texts(texts), index=batch.index, dtype=object)
