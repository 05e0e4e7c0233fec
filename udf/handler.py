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

How it serves (token limits, greedy or beam search, batch size, threads, int8)
comes from `udf_config.json`, which `deploy` generates from the manifest's
`settings` and imports beside this file; without one the defaults below apply.
Outside Snowflake, `T5_UDF_CONFIG` may name such a file.

The model is loaded once per Python process, lazily on the first call: training
imports the constants below, so importing this module must stay cheap.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# Shared with training, so that training and serving tokenize identically.
SOURCE_PREFIX = "summarize: "

# The settings' one schema (JSON Schema, as plain literals). deploy reads this very
# assignment from the source, without importing this module, as the manifest's
# `settings`; Settings.from_mapping checks the same rules here. So whatever
# validates in a manifest, serves. Only the keywords in SCHEMA_RULES are used.
SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": (
        "How the handler serves. Written to udf_config.json in the stage holding the handler module, "
        "imported by the function, read by the handler at import. Omitted keys take their defaults."
    ),
    "properties": {
        "max_input_tokens": {
            "type": "integer",
            "minimum": 8,
            "maximum": 4096,
            "default": 512,
            "description": "Tokens of each input the model reads; longer text is truncated.",
        },
        "max_new_tokens": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1024,
            "default": 64,
            "description": "Most tokens generated per summary.",
        },
        "num_beams": {
            "type": "integer",
            "minimum": 1,
            "maximum": 16,
            "default": 1,
            "description": "1 = greedy decoding (fastest); more = beam search.",
        },
        "max_batch_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1024,
            "default": 32,
            "description": (
                "Most rows per vectorized call (_snowflake.vectorized max_batch_size); also the generate() batch."
            ),
        },
        "threads": {
            "type": "integer",
            "minimum": 0,
            "maximum": 256,
            "default": 0,
            "description": (
                "torch threads per handler process; 0 = every CPU the process may use. Snowflake runs several "
                "handler processes per node, so 1 avoids oversubscription."
            ),
        },
        "quantize": {
            "enum": ["none", "int8"],
            "default": "none",
            "description": (
                "int8: dynamic int8 quantization of the model's Linear layers at load "
                "(faster on large models; outputs may differ slightly)."
            ),
        },
    },
}
_DEFAULTS = {name: rule["default"] for name, rule in SETTINGS_SCHEMA["properties"].items()}
MAX_INPUT_TOKENS = _DEFAULTS["max_input_tokens"]
MAX_NEW_TOKENS = _DEFAULTS["max_new_tokens"]
NUM_BEAMS = _DEFAULTS["num_beams"]
# Rows per vectorized call that Snowflake sends at most; also the local batch size.
MAX_BATCH_SIZE = _DEFAULTS["max_batch_size"]

IMPORT_DIRECTORY_OPTION = "snowflake_import_directory"
MODEL_DIR_ENV = "T5_MODEL_DIR"
NUM_THREADS_ENV = "T5_NUM_THREADS"  # local override of `threads`
CONFIG_NAME = "udf_config.json"  # deploy.handler_config writes it under this name
CONFIG_ENV = "T5_UDF_CONFIG"
QUANTIZE_CHOICES = tuple(SETTINGS_SCHEMA["properties"]["quantize"]["enum"])
# Snowflake's limit on one call of a Python handler (docs: developer-guide/udf/python/
# udf-python-batch, "Setting a target batch size": calls "must execute within a time limit,
# which is 180 seconds"). The model load on a process's first call counts against it. The
# margin leaves room for what Snowflake times around the call (moving the batch in and out).
CALL_LIMIT_S = 180
CALL_MARGIN_S = 20
CALL_BUDGET_S = CALL_LIMIT_S - CALL_MARGIN_S
CALL_BUDGET_ENV = "T5_CALL_BUDGET_S"  # tests: a tiny budget
# A sub-batch is started only if its rows, at the per-row time measured so far, fit in what is
# left of the budget with this factor to spare (longer texts, a slower node).
ESTIMATE_SAFETY = 1.25
# Rows of a process's first sub-batch, before any per-row time is known: small, so that a
# setting that cannot fit is found after a few rows, not when Snowflake cancels the call.
PROBE_ROWS = 8
# A SentencePiece piece spans at most 16 characters, so text cut at this many
# characters per allowed token still fills every token the model reads; the cut
# only spares the tokenizer megabytes it would throw away.
CHARS_PER_TOKEN_BOUND = 32

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
class Settings:
    """How the handler serves; the manifest's `settings`, read from udf_config.json."""

    max_input_tokens: int = MAX_INPUT_TOKENS
    max_new_tokens: int = MAX_NEW_TOKENS
    num_beams: int = NUM_BEAMS  # 1 = greedy
    max_batch_size: int = MAX_BATCH_SIZE
    threads: int = _DEFAULTS["threads"]  # 0 = every CPU this process may use
    quantize: str = _DEFAULTS["quantize"]  # or "int8": dynamic int8 Linear layers

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> Settings:
        """Validated settings; a bad value names the file and the key."""
        rules = SETTINGS_SCHEMA["properties"]
        unknown = sorted(set(data) - set(rules) - {"format"})
        if unknown:
            raise ValueError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(rules))}")
        for name in rules.keys() & set(data):
            if problem := setting_problem(rules[name], data[name]):
                raise ValueError(f"{source}: {name} {problem}")
        return cls(**{name: data[name] for name in rules.keys() & set(data)})


def setting_problem(rule: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` breaks one SETTINGS_SCHEMA rule, or None; JSON Schema's meaning, integers strictly."""
    if rule.get("type") == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return f"must be an integer, got {value!r}"
    if "enum" in rule and not any(type(value) is type(v) and value == v for v in rule["enum"]):
        return f"must be one of {', '.join(map(str, rule['enum']))}, got {value!r}"
    if "minimum" in rule and value < rule["minimum"]:
        return f"must be >= {rule['minimum']}, got {value!r}"
    if "maximum" in rule and value > rule["maximum"]:
        return f"must be <= {rule['maximum']}, got {value!r}"
    return None


# The JSON Schema keywords setting_problem implements (plus annotations); a test keeps
# SETTINGS_SCHEMA within them, so the handler never ignores a rule deploy enforces.
SCHEMA_RULES = frozenset({"type", "enum", "minimum", "maximum", "default", "description"})


def settings_file() -> Path | None:
    """udf_config.json among the UDF's imports, else the file `T5_UDF_CONFIG` names."""
    import_dir = sys._xoptions.get(IMPORT_DIRECTORY_OPTION)
    if import_dir and (Path(str(import_dir)) / CONFIG_NAME).is_file():
        return Path(str(import_dir)) / CONFIG_NAME
    explicit = os.environ.get(CONFIG_ENV)
    return Path(explicit) if explicit else None


def load_settings() -> Settings:
    path = settings_file()
    if path is None:
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read handler settings {path}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of settings")
    return Settings.from_mapping(data, str(path))


# Read at import: the vectorized decorator below needs max_batch_size.
SETTINGS = load_settings()


@dataclass(frozen=True)
class LoadedModel:
    tokenizer: Any
    model: Any
    directory: Path
    settings: Settings
    load_seconds: float


_loaded: LoadedModel | None = None
_load_lock = threading.Lock()
# Seconds per row of the last sub-batch in this process: the estimate for the next one.
_seconds_per_row: float | None = None


class CallBudgetExceeded(RuntimeError):
    """A call stopped because its remaining rows could not finish within Snowflake's time limit."""


def call_budget() -> float:
    """Seconds one call may take: CALL_BUDGET_S, or `T5_CALL_BUDGET_S` when set."""
    override = os.environ.get(CALL_BUDGET_ENV)
    if not override:
        return float(CALL_BUDGET_S)
    try:
        budget = float(override)
    except ValueError:
        raise ValueError(f"{CALL_BUDGET_ENV} must be a number of seconds, got {override!r}") from None
    if not budget > 0:
        raise ValueError(f"{CALL_BUDGET_ENV} must be positive, got {override!r}")
    return budget


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


def _thread_count(configured: int = 0) -> int:
    override = os.environ.get(NUM_THREADS_ENV)
    if override:
        try:
            count = int(override)
        except ValueError:
            raise ValueError(f"{NUM_THREADS_ENV} must be an integer, got {override!r}") from None
        if count < 1:
            raise ValueError(f"{NUM_THREADS_ENV} must be at least 1, got {count}")
        return count
    if configured:
        return configured
    # The CPUs this process may run on (a container's limit), not the host's.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def load_model(settings: Settings | None = None) -> LoadedModel:
    """Load tokenizer and model from the artifact directory (uncached: see `get_model`)."""
    settings = settings or SETTINGS
    _point_caches_at_tmp()
    # Imported here, not at module level: importing the constants must not
    # pull in torch and transformers.
    import torch
    from transformers import T5ForConditionalGeneration, T5Tokenizer, T5TokenizerFast

    model_dir, tokenizer_dir = artifact_directories()
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in model directory {model_dir}")

    started = time.perf_counter()
    torch.set_num_threads(_thread_count(settings.threads))
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
    if settings.quantize == "int8":
        with warnings.catch_warnings():
            # torch >= 2.10 points eager quantization at torchao, which Snowflake's channel lacks.
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    seconds = time.perf_counter() - started
    logger.info(
        "loaded T5 from %s in %.1f s (%d threads, quantize=%s)",
        model_dir,
        seconds,
        torch.get_num_threads(),
        settings.quantize,
    )
    return LoadedModel(tokenizer, model, model_dir, settings, seconds)


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


def prepare(text: str, settings: Settings) -> str:
    """`model_input(text)`, cut to what the model can read and made encodable."""
    collapsed = " ".join(text.split())
    collapsed = collapsed[: settings.max_input_tokens * CHARS_PER_TOKEN_BOUND]
    # A lone surrogate cannot be encoded as UTF-8 and would fail the tokenizer for the whole batch.
    collapsed = collapsed.encode("utf-8", "replace").decode("utf-8")
    return model_input(collapsed)


def _encode_rows(model: Any, input_ids: Any, attention_mask: Any) -> Any:
    """The encoder's output for a padded batch, computed one row at a time on its real tokens.

    T5 adds its relative-position bias to the attention scores; in a padded batch
    that bias and the padding mask become a dense batch x heads x length x length
    tensor, rebuilt in every layer. Row by row, without padding, the encoder needs
    no mask at all: on CPU this measured ~1.6x faster than one batched call, with
    identical outputs. Decoding stays batched, where batching pays.
    """
    from transformers.modeling_outputs import BaseModelOutput

    encoder = model.get_encoder()
    states = None
    for row, (ids, mask) in enumerate(zip(input_ids, attention_mask.bool(), strict=True)):
        hidden = encoder(input_ids=ids[mask].unsqueeze(0)).last_hidden_state[0]
        if states is None:
            states = hidden.new_zeros((*input_ids.shape, hidden.shape[-1]))
        states[row, mask] = hidden
    return BaseModelOutput(last_hidden_state=states)


def _generate(loaded: LoadedModel, texts: list[str]) -> list[str]:
    import torch

    settings = loaded.settings
    encoded = loaded.tokenizer(
        text=[prepare(text, settings) for text in texts],
        max_length=settings.max_input_tokens,
        truncation=True,
        padding=True,  # to the longest in this batch
        return_tensors="pt",
    )
    with torch.inference_mode():
        output_ids = loaded.model.generate(
            encoder_outputs=_encode_rows(loaded.model, encoded["input_ids"], encoded["attention_mask"]),
            attention_mask=encoded["attention_mask"],
            max_new_tokens=settings.max_new_tokens,
            num_beams=settings.num_beams,
            do_sample=False,
        )
    decoded = loaded.tokenizer.batch_decode(output_ids, skip_special_tokens=True)
    return [summary.strip() for summary in decoded]


def _generate_isolating_failures(loaded: LoadedModel, texts: list[str]) -> list[str | None]:
    """Summaries of `texts`; when the batch fails, each row is retried alone and a failing row gives None.

    One bad row must not fail the other rows of its batch (nor the query).
    The log names positions and errors only: row text may be sensitive.
    """
    try:
        return list(_generate(loaded, texts))
    except Exception as error:  # any failure is isolated to its rows
        if len(texts) == 1:
            logger.error("summarizing a row failed; returning NULL: %r", error)
            return [None]
        logger.warning("a batch of %d rows failed (%r); retrying row by row", len(texts), error)
    summaries: list[str | None] = []
    for position, text in enumerate(texts):
        try:
            summaries += _generate(loaded, [text])
        except Exception as error:
            logger.error("summarizing row %d of the batch failed; returning NULL: %r", position, error)
            summaries.append(None)
    return summaries


def summarize_texts(texts: Sequence[str | None]) -> list[str | None]:
    """Summaries for `texts`, in order: None stays None, blank text gives "", a row that fails gives None.

    Rows go to generate() in sub-batches of at most max_batch_size (PROBE_ROWS first, while
    this process has no timing yet). Before each sub-batch the call checks that it fits in
    what is left of `call_budget()`, counted from the call's start (model load included) at
    the per-row time measured so far; when it does not, the call raises CallBudgetExceeded
    naming what to change, rather than being cancelled by Snowflake with nothing to go on.
    """
    global _seconds_per_row
    started = time.monotonic()
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

    budget = call_budget()
    loaded = get_model()
    load_seconds = time.monotonic() - started
    step = loaded.settings.max_batch_size
    done = 0
    while done < len(pending):
        rate = _seconds_per_row
        size = min(step, len(pending) - done, PROBE_ROWS if rate is None else step)
        elapsed = time.monotonic() - started
        needed = 0.0 if rate is None else size * rate * ESTIMATE_SAFETY
        if elapsed + needed > budget:
            if rate is None:
                why = f"loading the model took {load_seconds:.1f} s"
            else:
                why = f"the next {size} rows would need about {needed:.1f} s more at {rate:.2f} s per row"
            raise CallBudgetExceeded(
                _over_budget(loaded.settings, done, len(pending), elapsed, load_seconds, budget, why)
            )
        chunk = pending[done : done + size]
        sub_started = time.monotonic()
        results = _generate_isolating_failures(loaded, [text for _, text in chunk])
        _seconds_per_row = (time.monotonic() - sub_started) / size
        for (position, _), summary in zip(chunk, results, strict=True):
            summaries[position] = summary
        done += size
    return summaries


def _over_budget(
    settings: Settings, done: int, total: int, elapsed: float, load: float, budget: float, why: str
) -> str:
    return (
        f"summarize stopped to stay within Snowflake's {CALL_LIMIT_S} s limit on one handler call "
        f"(budget {budget:g} s): {done} of {total} rows were summarized in {elapsed:.1f} s "
        f"(model load {load:.1f} s included) and {why}. No row was returned; lower max_batch_size "
        f"(now {settings.max_batch_size}), max_new_tokens (now {settings.max_new_tokens}) or num_beams "
        f"(now {settings.num_beams}) in the function's settings."
    )


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
        handler._sf_max_batch_size = SETTINGS.max_batch_size
        return handler
    return _snowflake.vectorized(input=pd.DataFrame, max_batch_size=SETTINGS.max_batch_size)(handler)


@_vectorized
def summarize(batch: pd.DataFrame) -> pd.Series:
    """Snowflake entry point: column 0 holds the text; one summary (or NULL) per row."""
    texts = [_as_text(value) for value in batch.iloc[:, 0].tolist()]
    # dtype=object keeps None as None (pandas 3 would otherwise infer str and NaN).
    return pd.Series(summarize_texts(texts), index=batch.index, dtype=object)
