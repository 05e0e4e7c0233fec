"""The model and tokenizer a run starts from: a hub name, a local folder, or the offline bootstrap T5.

`model.base` in the config is one of
- `bootstrap`: a small random T5 + SentencePiece tokenizer built by
  `training.bootstrap` from `model.bootstrap` options, cached under
  `<artifacts>/cache/bootstrap-<hash of the options>` (built once, seeded);
- a folder with `model/` and `tokenizer/` (a bootstrap output or an earlier run);
- anything `from_pretrained` accepts: a hub name such as `t5-small`, or a flat folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.config import BOOTSTRAP, BootstrapConfig, ModelConfig
from udf.handler import MAX_NEW_TOKENS, NUM_BEAMS

SPIECE_MODEL = "spiece.model"
# Bump when bootstrap output changes for the same options, to invalidate caches.
_BOOTSTRAP_CACHE_FORMAT = 1


class BaseModelError(RuntimeError):
    """The configured base model cannot be loaded; the message says what to set instead."""


@dataclass(frozen=True)
class BaseModel:
    model: Any
    tokenizer: Any
    description: str  # for the model card
    # The SentencePiece file to ship beside tokenizer.json (transformers 4.x's
    # slow tokenizer needs it); None when the base has none.
    spiece_model: Path | None


def load_base(cfg: ModelConfig, cache_root: Path) -> BaseModel:
    """Model and tokenizer of `cfg.base` (building the bootstrap T5 into `cache_root` if needed)."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    if cfg.base == BOOTSTRAP:
        folder = bootstrap_dir(cfg.bootstrap, cache_root)
        shape = cfg.bootstrap
        description = (
            f"offline bootstrap T5 (random init: d_model {shape.d_model}, {shape.num_layers}+"
            f"{shape.num_decoder_layers} layers, {shape.num_heads} heads, {shape.vocab_size} pieces, seed {shape.seed})"
        )
    else:
        folder = Path(cfg.base)
        description = f"{cfg.base}"
    if (folder / "model" / "config.json").is_file() and (folder / "tokenizer").is_dir():
        model_source, tokenizer_source = folder / "model", folder / "tokenizer"
    else:
        model_source = tokenizer_source = folder if folder.is_dir() else None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source or cfg.base))
        model = AutoModelForSeq2SeqLM.from_pretrained(str(model_source or cfg.base))
    except OSError as error:
        raise BaseModelError(
            f"model.base {cfg.base!r} cannot be loaded: {error}\n"
            "Set model.base to a hub name reachable from here, a local folder, or 'bootstrap' (offline)."
        ) from error
    return BaseModel(model, tokenizer, description, _find_spiece_model(cfg.base, tokenizer, tokenizer_source))


def bootstrap_dir(cfg: BootstrapConfig, cache_root: Path) -> Path:
    """The cached bootstrap build for `cfg`, built now if missing (safe against a concurrent build)."""
    options = {"format": _BOOTSTRAP_CACHE_FORMAT, **dataclasses.asdict(cfg)}
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]
    target = cache_root / f"bootstrap-{key}"
    if (target / "model" / "model.safetensors").is_file():
        return target
    from training.bootstrap import bootstrap

    cache_root.mkdir(parents=True, exist_ok=True)
    building = cache_root / f".bootstrap-{key}.{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    bootstrap(building, **dataclasses.asdict(cfg), quiet=True)
    try:
        building.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(building, ignore_errors=True)
        if not (target / "model" / "model.safetensors").is_file():
            raise
    return target


def _find_spiece_model(base: str, tokenizer: Any, tokenizer_dir: Path | None) -> Path | None:
    candidates: list[Path] = []
    if getattr(tokenizer, "vocab_file", None):
        candidates.append(Path(tokenizer.vocab_file))
    if tokenizer_dir is not None:
        candidates.append(tokenizer_dir / SPIECE_MODEL)
    for candidate in candidates:
        if candidate.name == SPIECE_MODEL and candidate.is_file():
            return candidate
    if tokenizer_dir is not None:
        return None
    try:  # a hub tokenizer: transformers 5 may have fetched tokenizer.json only
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(base, SPIECE_MODEL))
    except Exception:  # not on the hub, offline, or no such file: the artifact goes without it
        return None


def serving_generation_config(model: Any, *, no_repeat_ngram_size: int = 0) -> Any:
    """The generation settings the UDF uses (udf/handler.py), saved with the model.

    The handler passes max_new_tokens, num_beams and do_sample itself; the rest
    (no_repeat_ngram_size) comes from this file.
    """
    from transformers import GenerationConfig

    config = model.config
    extra = {"no_repeat_ngram_size": no_repeat_ngram_size} if no_repeat_ngram_size else {}
    return GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        pad_token_id=config.pad_token_id,
        eos_token_id=config.eos_token_id,
        max_new_tokens=MAX_NEW_TOKENS,
        num_beams=NUM_BEAMS,
        do_sample=False,
        **extra,
    )
