"""SUMMARIZE over a table, through SQL on the embedded Snowflake, as the repository's manifests deploy it.

The handler runs as Snowflake runs it: staged, imports flattened, settings from
the generated udf_config.json, vectorized batches on the function's worker
processes (each loading the model once).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import snowflake.connector
import yaml
from cli_project import copy_project, project_environment

import localsnow
from deploy.connection import connect, resolve_connection
from deploy.reconcile import Workspace, apply, plan
from deploy.sample_data import load_sample_data, sample_rows
from deploy.session import Session
from deploy.sql import literal
from udf import handler

pytestmark = pytest.mark.slow

ROWS = 225  # the whole bundled validation split
SETTINGS = {"max_batch_size": 16, "max_new_tokens": 24, "threads": 1}
EDGE_ROWS = {
    10_001: None,
    10_002: "",
    10_003: "   ",
    10_004: "Inflation fell sharply in March. " * 30_000,  # ~1 MB, far past max_input_tokens
    10_005: "Le café « naïve » à Zürich — 東京の株価 📈 Ω≈ç√ ﬁ ℌ \u200b\u2028 مرحبا",
}


@pytest.fixture(scope="module")
def served(bootstrapped_artifacts: Path, tmp_path_factory: pytest.TempPathFactory):
    """The repository's manifests (settings overridden) applied to a fresh embedded Snowflake, NEWS loaded."""
    root = copy_project(tmp_path_factory.mktemp("project"), bootstrapped_artifacts)
    manifest = root / "manifests" / "summarizer.yaml"
    document = yaml.safe_load(manifest.read_text())
    document["functions"]["SUMMARIZE"]["settings"].update(SETTINGS)
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    home = root / "localsnow"
    with (
        project_environment(root, home, root / "no-config"),
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("LOCALSNOW_UDF_PROCESSES", "2")  # the server, started below, inherits it
        ws = Workspace(root / "manifests", root / ".cache")
        session = Session(connect(resolve_connection("local")))
        try:
            the_plan, _ = plan(session, ws.desired())
            apply(session, ws, the_plan)
            load_sample_data(session, ("T5_DEMO", "PUBLIC", "NEWS"), limit=ROWS, replace=True)
            for key, text in EDGE_ROWS.items():
                value = "NULL" if text is None else literal(text)
                session.query(f"INSERT INTO T5_DEMO.PUBLIC.NEWS (ID, ARTICLE) VALUES ({key}, {value})")
        finally:
            session.close()
        conn = snowflake.connector.connect(**localsnow.ensure_running(home), database="T5_DEMO", schema="PUBLIC")
        try:
            yield conn
        finally:
            conn.close()


@pytest.fixture(scope="module")
def results(served) -> dict[int, str | None]:
    rows = served.cursor().execute("SELECT ID, SUMMARIZE(ARTICLE) FROM NEWS ORDER BY ID").fetchall()
    return {int(key): summary for key, summary in rows}


def test_every_row_of_the_table_is_summarized(results: dict[int, str | None]) -> None:
    assert list(results)[:ROWS] == list(range(1, ROWS + 1))
    assert len(results) == ROWS + len(EDGE_ROWS)
    summaries = [results[key] for key in range(1, ROWS + 1)]
    assert all(isinstance(s, str) and s.strip() for s in summaries)
    assert len(set(summaries)) > 1  # outputs follow the inputs (a random model repeats itself)


def test_null_empty_huge_and_odd_unicode_rows(results: dict[int, str | None]) -> None:
    assert results[10_001] is None
    assert results[10_002] == results[10_003] == ""
    assert isinstance(results[10_004], str)  # truncated, summarized, not an error (the text is checked below)
    assert isinstance(results[10_005], str) and results[10_005]


def test_sql_results_equal_the_handler_run_in_process(
    results: dict[int, str | None], bootstrapped_artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same model and settings give the same summaries in-process as through SQL and the worker pool.

    The bootstrap model never stops before max_new_tokens, so equality also shows
    that the staged settings (24 new tokens, not the default 64) reached the workers.
    """
    monkeypatch.setenv(handler.MODEL_DIR_ENV, str(bootstrapped_artifacts))
    monkeypatch.setattr(handler, "_loaded", handler.load_model(handler.Settings(**SETTINGS)))
    articles = {row[0]: row[3] for row in sample_rows("validation", ROWS)}
    keys = [1, 2, 17, 100, ROWS]  # rows from different batches
    assert handler.summarize_texts([articles[k] for k in keys]) == [results[k] for k in keys]
    assert handler.summarize_texts([EDGE_ROWS[10_004]]) == [results[10_004]]


def test_a_filtered_and_projected_query(served) -> None:
    rows = (
        served.cursor()
        .execute("SELECT ID, SUMMARIZE(TITLE) AS S, LENGTH(SUMMARIZE(TITLE)) AS N FROM NEWS WHERE ID <= 5 ORDER BY ID")
        .fetchall()
    )
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r[1] and r[2] == len(r[1]) for r in rows)
