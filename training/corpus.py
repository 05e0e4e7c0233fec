"""The bundled BBC News corpus (see data/README.md): gzip-compressed JSONL splits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
SPLITS = ("train", "validation")
FIELDS = ("id", "category", "title", "article", "summary")


def split_path(name: str) -> Path:
    """Path of a bundled split's file."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
    return DATA_DIR / f"bbc_news_{name}.jsonl.gz"


def load_split(name: str) -> list[dict]:
    """All rows of a bundled split ("train" or "validation"), in file order."""
    path = split_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"bundled split {name!r} is missing: {path}")
    rows: list[dict] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = [field for field in FIELDS if field not in row]
            if missing:
                raise ValueError(f"{path}:{line_number}: missing fields {missing}")
            rows.append(row)
    return rows
