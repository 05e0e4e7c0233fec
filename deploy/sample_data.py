"""`deploy sample-data`: the bundled BBC News rows as a table, to try SUMMARIZE (and `deploy eval`) on.

    SELECT ID, SUMMARIZE(ARTICLE) FROM NEWS;

The table has ID NUMBER (1, 2, ... in the split's order), CATEGORY, TITLE,
ARTICLE and SUMMARY (the reference summary). Rows go in as multi-row INSERTs
of quoted literals, each statement kept well under Snowflake's size limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from deploy.errors import DeployError, SnowflakeError
from deploy.evaluation import dotted
from deploy.session import Session
from deploy.sql import like_pattern, literal, qualified

COLUMNS = (
    ("ID", "NUMBER"),
    ("CATEGORY", "VARCHAR"),
    ("TITLE", "VARCHAR"),
    ("ARTICLE", "VARCHAR"),
    ("SUMMARY", "VARCHAR"),
)
SPLITS = ("validation", "train")
# Snowflake caps a statement's text at 1 MB; stay well below it.
MAX_STATEMENT_BYTES = 512 * 1024
MAX_ROWS_PER_INSERT = 500

Row = tuple[int, str, str, str, str]


def sample_rows(split: str = "validation", limit: int | None = None) -> list[Row]:
    """Rows of a bundled split as (ID, CATEGORY, TITLE, ARTICLE, SUMMARY); IDs number the split from 1."""
    from training.corpus import load_split

    if split not in SPLITS:
        raise DeployError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    try:
        records = load_split(split)
    except (OSError, ValueError) as e:
        raise DeployError(f"cannot read the bundled {split} split: {e}") from None
    if limit is not None:
        records = records[:limit]
    return [(i, r["category"], r["title"], r["article"], r["summary"]) for i, r in enumerate(records, start=1)]


def create_table_sql(table: tuple[str, str, str], *, replace: bool) -> str:
    columns = ", ".join(f"{qualified(name)} {sql_type}" for name, sql_type in COLUMNS)
    return f"CREATE {'OR REPLACE ' if replace else ''}TABLE {qualified(*table)} ({columns})"


def _values(row: Row) -> str:
    ident, *texts = row
    return "(" + ", ".join([str(int(ident)), *(literal(t) if t is not None else "NULL" for t in texts)]) + ")"


def insert_statements(
    table: tuple[str, str, str],
    rows: Sequence[Row],
    *,
    max_bytes: int = MAX_STATEMENT_BYTES,
    max_rows: int = MAX_ROWS_PER_INSERT,
) -> Iterator[str]:
    """Multi-row INSERTs of `rows`, each at most `max_rows` rows and (but for a single huge row) `max_bytes`."""
    head = f"INSERT INTO {qualified(*table)} ({', '.join(qualified(name) for name, _ in COLUMNS)}) VALUES "
    batch: list[str] = []
    size = len(head.encode())
    for row in rows:
        values = _values(row)
        grown = size + len(values.encode()) + 2
        if batch and (grown > max_bytes or len(batch) >= max_rows):
            yield head + ", ".join(batch)
            batch, grown = [], len(head.encode()) + len(values.encode())
        batch.append(values)
        size = grown
    if batch:
        yield head + ", ".join(batch)


def table_exists(session: Session, table: tuple[str, str, str]) -> bool:
    """Whether a table of that exact name exists; an error naming the schema if the schema does not."""
    db, sc, name = table
    try:
        rows = session.query(f"SHOW TABLES LIKE {like_pattern(name)} IN SCHEMA {qualified(db, sc)}")
    except SnowflakeError:
        raise DeployError(
            f"schema {db}.{sc} does not exist (or this role cannot see it); run `deploy apply` first, "
            "or name another schema with --database/--schema"
        ) from None
    return any(r.get("name") == name for r in rows)


@dataclass(frozen=True)
class LoadResult:
    table: str
    split: str
    rows: int
    statements: int
    replaced: bool
    seconds: float


def load_sample_data(
    session: Session, table: tuple[str, str, str], *, split: str = "validation", limit: int | None = None, replace: bool
) -> LoadResult:
    """Create `table` and fill it with the bundled rows; refuse to touch an existing table unless `replace`."""
    rows = sample_rows(split, limit)
    t0 = time.perf_counter()
    existed = table_exists(session, table)
    if existed and not replace:
        raise DeployError(f"table {dotted(table)} already exists; pass --replace to recreate it with the sample rows")
    session.query(create_table_sql(table, replace=replace))
    statements = 0
    for statement in insert_statements(table, rows):
        session.query(statement)
        statements += 1
    return LoadResult(dotted(table), split, len(rows), statements, existed, time.perf_counter() - t0)
