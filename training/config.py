"""Training configuration: frozen dataclasses loaded from YAML, with `--set key=value` overrides.

A config file mirrors the dataclasses below (`model`, `data`, `train`, `eval`
sections). Unknown keys and wrong types are errors that name the file (or the
`--set` option) and the key, e.g. `training/configs/tiny.yaml: unknown key
'train.lr' (known: ...)`. PyYAML reads `1e-3` as a string (YAML 1.1 wants
`1.0e-3`), so float fields also accept numeric strings.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from udf.handler import MAX_INPUT_TOKENS, MAX_NEW_TOKENS

AUTO = "auto"  # --resume auto
BOOTSTRAP = "bootstrap"
DATA_SOURCES = ("bundled", "jsonl", "csv", "snowflake")
MIXED_PRECISION = ("no", "bf16", "fp16")


class ConfigError(ValueError):
    """The training configuration is invalid; the message names the file or option and the key."""


@dataclass(frozen=True)
class BootstrapConfig:
    """Options of `training.bootstrap.bootstrap`, used when `model.base` is `bootstrap`."""

    vocab_size: int = 3000
    d_model: int = 128
    d_ff: int = 512
    num_layers: int = 2
    num_decoder_layers: int = 2
    num_heads: int = 4
    d_kv: int = 32
    seed: int = 0
    max_sentences: int = 4000


@dataclass(frozen=True)
class ModelConfig:
    # "bootstrap" (a small T5 built offline and cached), a hub name such as
    # "t5-small", or a local folder: flat (save_pretrained) or a run/bootstrap
    # output with model/ and tokenizer/.
    base: str = BOOTSTRAP
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)


@dataclass(frozen=True)
class DataConfig:
    # bundled: the BBC files in training/data; jsonl / csv: train_file (+ validation_file);
    # snowflake: query (+ validation_query), or table + split_column.
    source: str = "bundled"
    train_file: str | None = None
    validation_file: str | None = None
    text_column: str = "article"
    summary_column: str = "summary"
    connection: str | None = None
    query: str | None = None
    validation_query: str | None = None
    table: str | None = None
    split_column: str | None = None
    train_split: str = "train"
    validation_split: str = "validation"
    # Held out (seeded) when no validation file/query/split is given.
    validation_fraction: float = 0.1
    max_train_examples: int | None = None
    max_source_length: int = MAX_INPUT_TOKENS
    max_target_length: int = MAX_NEW_TOKENS


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = 300  # optimizer steps; the schedule spans them
    batch_size: int = 8  # per device, per micro-batch
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 0
    max_grad_norm: float | None = 1.0
    # Used on GPUs only: bf16 autocast is 4-27x slower on CPUs (notes/ml.md).
    mixed_precision: str = "no"
    seed: int = 42
    group_by_length: bool = True
    # Length grouping sorts within mega-batches of this many batches.
    mega_batch_factor: int = 16
    log_every: int = 10
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    num_workers: int = 0
    # Accelerate trackers (e.g. ["tensorboard"]); metrics.json is written regardless.
    report_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalConfig:
    every_steps: int = 100  # 0: only at the end
    max_examples: int | None = None  # a seeded sample of the validation split; None: all
    batch_size: int = 16
    max_new_tokens: int = MAX_NEW_TOKENS  # as served by the UDF
    # Greedy decoding never repeats an n-gram of this size (0: off), as in T5's own
    # summarization settings. Saved in the model's generation_config.json, so the
    # UDF decodes the same way.
    no_repeat_ngram_size: int = 3


@dataclass(frozen=True)
class TrainingConfig:
    name: str
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, tuple | list):
                return [plain(item) for item in value]
            return value

        return plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class RunOptions:
    """Switches of one invocation (command-line flags); the hyper-parameters live in TrainingConfig."""

    artifacts: Path = Path("artifacts")  # runs/, latest, cache/
    output: Path | None = None  # the run folder; default <artifacts>/runs/<run-id>
    max_steps: int | None = None  # budget: stop after this optimizer step
    max_minutes: float | None = None  # budget: stop after this much wall time
    resume: str | None = None  # "auto" or a checkpoint folder
    update_latest: bool = True


def load_config(path: Path | str, overrides: Sequence[str] = ()) -> TrainingConfig:
    """The config in `path` with `overrides` ("section.key=value", value parsed as YAML) applied."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror or error}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (model, data, train, eval)")
    raw.setdefault("name", path.stem)
    config = build(TrainingConfig, raw, str(path))
    for override in overrides:
        raw = apply_override(raw, override)
        config = build(TrainingConfig, raw, f"--set {override}")
    return config


def apply_override(raw: Mapping[str, Any], override: str) -> dict[str, Any]:
    """A copy of `raw` with one "a.b.c=value" override applied."""
    key, sep, value_text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override}: expected KEY=VALUE, e.g. train.learning_rate=3e-4")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {override}: cannot parse the value: {error}") from None
    result = _deep_copy(raw)
    node = result
    parts = key.strip().split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"--set {override}: {'.'.join(parts[: depth + 1])} is not a section")
        node = child
    node[parts[-1]] = value
    return result


def build(cls: type, raw: Any, source: str, prefix: str = "") -> Any:
    """An instance of the dataclass `cls` from the mapping `raw`; errors name `source` and the key."""
    if not isinstance(raw, Mapping):
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"{source}: {where} must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [key for key in raw if key not in fields]
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}' (known in {prefix.rstrip('.') or 'the top level'}:"
            f" {', '.join(fields)})"
        )
    values = {name: _coerce(hints[name], raw[name], source, f"{prefix}{name}") for name in fields if name in raw}
    missing = [
        name
        for name, f in fields.items()
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{source}: missing key '{prefix}{missing[0]}'")
    instance = cls(**values)
    _validate(instance, source, prefix)
    return instance


def _coerce(hint: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None:
            return None
        return _coerce(options[0], value, source, key)
    if dataclasses.is_dataclass(hint):
        return build(hint, {} if value is None else value, source, f"{key}.")
    if origin is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        return tuple(_coerce(typing.get_args(hint)[0], item, source, key) for item in items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
    raise TypeError(f"unsupported config type {hint!r} for {key}")  # a bug in this module, not user input


def _validate(instance: Any, source: str, prefix: str) -> None:
    def fail(name: str, message: str) -> None:
        raise ConfigError(f"{source}: {prefix}{name} {message}")

    if isinstance(instance, DataConfig):
        if instance.source not in DATA_SOURCES:
            fail("source", f"must be one of {', '.join(DATA_SOURCES)}, got {instance.source!r}")
        if instance.max_source_length > MAX_INPUT_TOKENS:
            fail(
                "max_source_length",
                f"is {instance.max_source_length}, above the {MAX_INPUT_TOKENS} tokens the UDF"
                " reads (MAX_INPUT_TOKENS in udf/handler.py)",
            )
        if not 0.0 < instance.validation_fraction < 1.0:
            fail("validation_fraction", f"must be between 0 and 1, got {instance.validation_fraction}")
        for name in ("max_source_length", "max_target_length", "max_train_examples"):
            value = getattr(instance, name)
            if value is not None and value < 1:
                fail(name, f"must be at least 1, got {value}")
    elif isinstance(instance, TrainConfig):
        if instance.mixed_precision not in MIXED_PRECISION:
            fail("mixed_precision", f"must be one of {', '.join(MIXED_PRECISION)}, got {instance.mixed_precision!r}")
        for name in (
            "max_steps",
            "batch_size",
            "gradient_accumulation_steps",
            "log_every",
            "checkpoint_every",
            "keep_checkpoints",
            "mega_batch_factor",
        ):
            if getattr(instance, name) < 1:
                fail(name, f"must be at least 1, got {getattr(instance, name)}")
        if instance.learning_rate <= 0:
            fail("learning_rate", f"must be positive, got {instance.learning_rate}")
        for name in ("warmup_steps", "num_workers", "weight_decay"):
            if getattr(instance, name) < 0:
                fail(name, f"must not be negative, got {getattr(instance, name)}")
    elif isinstance(instance, EvalConfig):
        if instance.every_steps < 0:
            fail("every_steps", f"must be 0 (end only) or more, got {instance.every_steps}")
        if instance.no_repeat_ngram_size < 0:
            fail("no_repeat_ngram_size", f"must be 0 (off) or more, got {instance.no_repeat_ngram_size}")
        for name in ("batch_size", "max_new_tokens"):
            if getattr(instance, name) < 1:
                fail(name, f"must be at least 1, got {getattr(instance, name)}")
        if instance.max_examples is not None and instance.max_examples < 1:
            fail("max_examples", f"must be at least 1 (or null for all), got {instance.max_examples}")
    elif isinstance(instance, TrainingConfig) and (not instance.name or any(ch in instance.name for ch in "/\\ ")):
        fail("name", f"must be a non-empty name without slashes or spaces (used in run ids), got {instance.name!r}")


def _deep_copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deep_copy(value) if isinstance(value, Mapping) else value for key, value in raw.items()}
