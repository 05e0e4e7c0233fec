"""Using the deployed function: `deploy call` and `deploy sql`, and where `deploy sample-data` puts its table.

These need the manifests' names only (deploy.spec.DeclaredNames), never the artifacts, so they run on a
CI runner or a fresh clone. The SQL they send lives here, not in the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deploy.evaluation import resolve_table, single_name, split_name
from deploy.session import Session
from deploy.spec import DeclaredNames
from deploy.sql import literal, qualified


def call_function(session: Session, function: tuple[str, str, str], text: str) -> Any:
    """The function's result for one text (None for SQL NULL), by `SELECT DB.SCHEMA.FN('text')`."""
    rows = session.query(f"SELECT {qualified(*function)}({literal(text)}) AS RESULT")
    return next(iter(rows[0].values())) if rows else None


def run_statement(session: Session, statement: str) -> list[dict[str, Any]]:
    """One statement as the user wrote it; rows keyed by the column names Snowflake gives
    (`COUNT(*)`, `SUMMARIZE(ARTICLE)`, a quoted `x`), as `deploy sql` prints them."""
    return session.query(statement, keep_names=True)


def sample_table(
    table: str, database: str | None, schema: str | None, declared: Callable[[], DeclaredNames]
) -> tuple[str, str, str]:
    """(database, schema, table) for `sample-data --table`: a DB.SCHEMA.TABLE as given; otherwise the
    missing parts from --database/--schema, else the one schema the manifests deploy to. `declared` is
    called only when the manifests are needed (a fully qualified table needs none)."""
    if len(split_name(table)) == 3:
        return resolve_table(table, "", "")
    db = single_name(database, "database") if database else None
    sc = single_name(schema, "schema") if schema else None
    if not (db and sc):
        only_db, only_sc = declared().only_schema()
        db, sc = db or only_db, sc or only_sc
    return resolve_table(table, db, sc)
