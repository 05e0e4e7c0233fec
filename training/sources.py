"""(text, summary) pairs from the bundled BBC files, JSONL / CSV files, or a Snowflake table or query.

Which source and which columns come from the `data` section of the training
config (`training.config.DataConfig`). Every error names the file or query and
the column or config key to fix. Rows with an empty text or summary are
skipped (and counted), since they teach nothing.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.config import DataConfig

# Unquoted Snowflake identifiers (a table name may be qualified: DB.SCHEMA.TABLE).
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]*"
_TABLE_RE = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER}){{0,2}}$")
_COLUMN_RE = re.compile(rf"^{_IDENTIFIER}$")


class DataError(ValueError):
    """Training data cannot be read as configured; the message names file/query and column."""


@dataclass(frozen=True)
class Pair:
    text: str
    summary: str


@dataclass(frozen=True)
class Splits:
    train: list[Pair]
    validation: list[Pair]
    # For the model card: where the pairs came from.
    description: str
    skipped_empty: int = 0


def load_splits(cfg: DataConfig, *, seed: int) -> Splits:
    """Train and validation pairs as `cfg` describes them."""
    if cfg.source == "bundled":
        return _bundled(cfg)
    if cfg.source in ("jsonl", "csv"):
        return _files(cfg, seed)
    if cfg.source == "snowflake":
        return _snowflake(cfg, seed)
    raise DataError(f"data.source: unknown source {cfg.source!r}")  # config validation catches it first


# -- bundled / files ----------------------------------------------------------


def _bundled(cfg: DataConfig) -> Splits:
    from training.corpus import load_split, split_path

    train, skipped_train = _pairs(load_split("train"), cfg, str(split_path("train")))
    validation, skipped_validation = _pairs(load_split("validation"), cfg, str(split_path("validation")))
    return Splits(
        train,
        validation,
        f"bundled BBC News Summary (training/data): {len(train)} train / {len(validation)} validation pairs",
        skipped_train + skipped_validation,
    )


def _files(cfg: DataConfig, seed: int) -> Splits:
    if not cfg.train_file:
        raise DataError(f"data.source is {cfg.source} but data.train_file is not set")
    read = _read_jsonl if cfg.source == "jsonl" else _read_csv
    train, skipped = _pairs(read(Path(cfg.train_file), cfg), cfg, cfg.train_file)
    if cfg.validation_file:
        validation, skipped_validation = _pairs(read(Path(cfg.validation_file), cfg), cfg, cfg.validation_file)
        origin = f"{cfg.train_file} (train), {cfg.validation_file} (validation)"
        description = f"{origin}: {len(train)} / {len(validation)} pairs"
        return Splits(train, validation, description, skipped + skipped_validation)
    train, validation = hold_out(train, cfg.validation_fraction, seed)
    return Splits(
        train,
        validation,
        f"{cfg.train_file}, {cfg.validation_fraction:.0%} held out for validation: {len(train)} / {len(validation)}",
        skipped,
    )


def _read_jsonl(path: Path, cfg: DataConfig) -> list[Mapping[str, Any]]:
    _require_file(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[Mapping[str, Any]] = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object per line")
            _require_columns(row.keys(), cfg, f"{path}:{number}")
            rows.append(row)
    return rows


def _read_csv(path: Path, cfg: DataConfig) -> list[Mapping[str, Any]]:
    import pandas as pd

    _require_file(path)
    try:
        # Everything as text, and "" stays "" rather than NaN.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: cannot read as CSV: {error}") from None
    _require_columns(frame.columns, cfg, str(path))
    return frame.to_dict("records")


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"data file {path} does not exist (data.train_file / data.validation_file)")


def _require_columns(columns: Iterable[str], cfg: DataConfig, where: str) -> None:
    names = list(columns)
    for key, column in (("text_column", cfg.text_column), ("summary_column", cfg.summary_column)):
        if column not in names:
            raise DataError(
                f"{where}: no column {column!r} (data.{key}); columns are: {', '.join(map(str, names)) or 'none'}"
            )


def _pairs(rows: Sequence[Mapping[str, Any]], cfg: DataConfig, where: str) -> tuple[list[Pair], int]:
    if rows:
        _require_columns(rows[0].keys(), cfg, where)
    pairs = [Pair(_text(row[cfg.text_column]), _text(row[cfg.summary_column])) for row in rows]
    kept = [pair for pair in pairs if pair.text and pair.summary]
    return kept, len(pairs) - len(kept)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def hold_out(pairs: list[Pair], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, validation): a seeded `fraction` of `pairs` (at least one) held out."""
    if len(pairs) < 2:
        raise DataError(f"cannot hold out a validation split from {len(pairs)} pair(s); give a validation source")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    count = min(len(pairs) - 1, max(1, math.ceil(fraction * len(pairs))))
    held = set(order[:count])
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


# -- snowflake ----------------------------------------------------------------


def _snowflake(cfg: DataConfig, seed: int) -> Splits:
    if bool(cfg.query) == bool(cfg.table):
        raise DataError("data.source is snowflake: set exactly one of data.query and data.table")
    connection = cfg.connection or "default connection"
    if cfg.query:
        train = _query_pairs(cfg, cfg.query, (), "data.query")
        if cfg.validation_query:
            validation = _query_pairs(cfg, cfg.validation_query, (), "data.validation_query")
            origin = f"Snowflake ({connection}): data.query / data.validation_query"
            return Splits(train, validation, f"{origin}: {len(train)} / {len(validation)} pairs")
        train, validation = hold_out(train, cfg.validation_fraction, seed)
        origin = f"Snowflake ({connection}): data.query, {cfg.validation_fraction:.0%} held out"
        return Splits(train, validation, f"{origin}: {len(train)} / {len(validation)} pairs")

    table = str(cfg.table)
    if not _TABLE_RE.match(table):
        raise DataError(f"data.table {table!r} is not a plain [DB.[SCHEMA.]]TABLE name; use data.query instead")
    for key in ("text_column", "summary_column", "split_column"):
        column = getattr(cfg, key)
        if column is not None and not _COLUMN_RE.match(column):
            raise DataError(f"data.{key} {column!r} is not a plain column name; use data.query instead")
    # Unquoted names: Snowflake resolves them case-insensitively, as in hand-written SQL.
    select = f"SELECT {cfg.text_column}, {cfg.summary_column} FROM {table}"
    where = f"data.table {table} (columns from data.text_column, data.summary_column, data.split_column)"
    if cfg.split_column:
        select += f" WHERE {cfg.split_column} = %s"
        train = _query_pairs(cfg, select, (cfg.train_split,), where)
        validation = _query_pairs(cfg, select, (cfg.validation_split,), where)
        if not validation:
            raise DataError(
                f"data.table {table}: no rows with {cfg.split_column} = {cfg.validation_split!r}"
                " (data.validation_split)"
            )
        origin = f"Snowflake ({connection}): {table} split by {cfg.split_column}"
        return Splits(train, validation, f"{origin}: {len(train)} / {len(validation)} pairs")
    train, validation = hold_out(_query_pairs(cfg, select, (), where), cfg.validation_fraction, seed)
    origin = f"Snowflake ({connection}): {table}, {cfg.validation_fraction:.0%} held out"
    return Splits(train, validation, f"{origin}: {len(train)} / {len(validation)} pairs")


def _query_pairs(cfg: DataConfig, sql: str, params: Sequence[Any], where: str) -> list[Pair]:
    columns, rows = _run_query(cfg.connection, sql, params, where)
    text_at = _column_index(columns, cfg.text_column, "text_column", where)
    summary_at = _column_index(columns, cfg.summary_column, "summary_column", where)
    pairs = [Pair(_text(row[text_at]), _text(row[summary_at])) for row in rows]
    return [pair for pair in pairs if pair.text and pair.summary]


def _run_query(connection: str | None, sql: str, params: Sequence[Any], where: str) -> tuple[list[str], list[tuple]]:
    import snowflake.connector

    from deploy.connection import connect, resolve_connection

    conn = connect(resolve_connection(connection))
    try:
        cursor = conn.cursor()
        cursor.execute(sql, tuple(params) or None)
        columns = [column[0] for column in cursor.description]
        return columns, cursor.fetchall()
    except snowflake.connector.errors.Error as error:
        detail = getattr(error, "msg", None) or str(error)
        raise DataError(f"{where} failed on connection '{connection or 'default'}': {detail}") from error
    finally:
        conn.close()


def _column_index(columns: list[str], wanted: str, key: str, where: str) -> int:
    if wanted in columns:
        return columns.index(wanted)
    # Snowflake upper-cases unquoted names: `article` in the config finds ARTICLE.
    folded = [i for i, name in enumerate(columns) if name.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    raise DataError(f"{where}: no column {wanted!r} in the result (data.{key}); columns are: {', '.join(columns)}")
