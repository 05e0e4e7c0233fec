"""`deploy sample-data` and `deploy eval` end to end: the real CLI, the embedded Snowflake, a deployed small model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_project import copy_project, deploy, project_environment, sql_runner

from deploy.cli import main
from training.corpus import load_split

NEWS = "T5_DEMO.PUBLIC.NEWS"


@pytest.fixture(scope="module")
def env(tmp_path_factory, bootstrapped_artifacts: Path):
    """The project deployed (`deploy apply --yes`) to a fresh embedded Snowflake."""
    project = copy_project(tmp_path_factory.mktemp("project"), bootstrapped_artifacts)
    home, config = tmp_path_factory.mktemp("localsnow"), tmp_path_factory.mktemp("snowflake_home")
    with project_environment(project, home, config):
        assert main(["--connection", "local", "apply", "--yes"]) == 0
        yield home


@pytest.fixture
def sql(env):
    with sql_runner(env) as run:
        yield run


def test_sample_data_loads_the_bundled_rows(env, capsys, sql):
    rc, out, err = deploy(capsys, "sample-data", "--table", "NEWS", "--limit", "24")
    assert rc == 0, err
    assert f"Loaded 24 row(s) of the bundled BBC News validation split into {NEWS}" in out
    first = load_split("validation")[0]
    assert sql(f"SELECT COUNT(*), MIN(ID), MAX(ID) FROM {NEWS}") == [(24, 1, 24)]
    assert sql(f"SELECT CATEGORY, TITLE, ARTICLE, SUMMARY FROM {NEWS} WHERE ID = 1") == [
        (first["category"], first["title"], first["article"], first["summary"])
    ]


def test_sample_data_needs_replace_to_overwrite(env, capsys, sql):
    table = "T5_DEMO.PUBLIC.NEWS_SMALL"
    assert deploy(capsys, "sample-data", "--table", "NEWS_SMALL", "--limit", "3")[0] == 0
    rc, _, err = deploy(capsys, "sample-data", "--table", "NEWS_SMALL", "--limit", "5")
    assert rc == 1 and f"table {table} already exists" in err and "--replace" in err
    assert sql(f"SELECT COUNT(*) FROM {table}") == [(3,)]
    rc, out, err = deploy(capsys, "sample-data", "-t", "public.news_small", "--split", "train", "-n", "5", "--replace")
    assert rc == 0, err
    assert "replaced" in out
    assert sql(f"SELECT COUNT(*) FROM {table}") == [(5,)]
    assert sql(f"SELECT TITLE FROM {table} WHERE ID = 1") == [(load_split("train")[0]["title"],)]


def test_eval_scores_the_deployed_function_against_the_references(env, capsys):
    rc, out, err = deploy(capsys, "eval", "--table", "NEWS", "--limit", "24", "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["function"] == "T5_DEMO.PUBLIC.SUMMARIZE" and doc["table"] == NEWS
    assert doc["rows"] == 24 and doc["skipped"] == 0
    assert doc["seconds"] > 0 and doc["rows_per_second"] > 0
    keys = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    for scores in (doc["rouge"], doc["lead3"]):
        assert set(scores) == set(keys)
        assert all(isinstance(v, float) and 0 <= v <= 100 for v in scores.values())
    assert doc["lead3"]["rouge1"] > 0
    references = {i: r["summary"] for i, r in enumerate(load_split("validation")[:24], start=1)}
    assert [e["key"] for e in doc["examples"]] == [1, 2, 3]
    for example in doc["examples"]:
        assert isinstance(example["summary"], str)
        assert example["reference"] == references[example["key"]] and example["reference"]


def test_eval_text_shows_scores_timing_and_examples(env, capsys):
    rc, out, err = deploy(capsys, "eval", "--where", "CATEGORY = 'business'", "--limit", "2", "--examples", "1")
    assert rc == 0, err
    for label in ("ROUGE-1", "ROUGE-2", "ROUGE-L", "ROUGE-Lsum", "SUMMARIZE", "Lead-3"):
        assert label in out
    assert "2 row(s) scored." in out and "rows/s" in out
    assert out.count("reference:") == 1


def test_eval_skips_null_inputs_and_references(env, capsys, sql):
    sql("CREATE OR REPLACE TABLE T5_DEMO.PUBLIC.SPARSE (K INT, BODY VARCHAR, GOLD VARCHAR)")
    sql(f"INSERT INTO T5_DEMO.PUBLIC.SPARSE SELECT 1, ARTICLE, SUMMARY FROM {NEWS} WHERE ID = 1")
    sql("INSERT INTO T5_DEMO.PUBLIC.SPARSE VALUES (2, NULL, 'gold'), (3, 'text', NULL)")
    rc, out, err = deploy(
        capsys, "eval", "-t", "SPARSE", "--key", "k", "--input", "body", "--reference", "gold", "--format", "json"
    )
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["rows"] == 1 and doc["skipped"] == 2
    assert [e["key"] for e in doc["examples"]] == [1]


def test_eval_errors_name_the_missing_table_or_column(env, capsys):
    rc, _, err = deploy(capsys, "eval", "--table", "NO_SUCH_TABLE")
    assert rc == 1 and "table T5_DEMO.PUBLIC.NO_SUCH_TABLE does not exist" in err
    rc, _, err = deploy(capsys, "eval", "--table", "NEWS", "--reference", "HEADLINE")
    assert rc == 1 and f"table {NEWS} has no column HEADLINE" in err and "--reference" in err
    rc, _, err = deploy(capsys, "eval", "--where", "ID > 1000")
    assert rc == 1 and "no rows to evaluate" in err
    assert "Traceback" not in err
