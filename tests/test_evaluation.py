"""The pure parts of `deploy eval` and `deploy sample-data`: names, SQL, NULL handling, scoring, batching."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deploy import evaluation
from deploy.errors import DeployError, SnowflakeError
from deploy.evaluation import EvalQuery, EvalResult, resolve_table, scorable, score, single_name, split_name
from deploy.sample_data import COLUMNS, create_table_sql, insert_statements, sample_rows

FN = ("T5_DEMO", "PUBLIC", "SUMMARIZE")
TABLE = ("T5_DEMO", "PUBLIC", "NEWS")
TEXT = "The cat sat on the mat. It was warm. The dog slept. Nobody came."


def row(key, inp, ref, out) -> dict:
    return {"key": key, "input": inp, "reference": ref, "output": out}


# --- names ---


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("news", ["NEWS"]),
        ("Public.News", ["PUBLIC", "NEWS"]),
        ("db.sc.t_1$", ["DB", "SC", "T_1$"]),
        ('db."My Table"', ["DB", "My Table"]),
        ('"a.b"."say ""hi"""', ["a.b", 'say "hi"']),
    ],
)
def test_split_name_upper_cases_bare_parts_and_keeps_quoted_ones(name, parts):
    assert split_name(name) == parts


@pytest.mark.parametrize("name", ["", "a b", 'a"b', '"open', "a..b", "1abc", '""', '"x"y', "x; DROP TABLE y"])
def test_split_name_rejects_what_is_not_a_name(name):
    with pytest.raises(DeployError):
        split_name(name)


def test_resolve_table_fills_database_and_schema_from_the_right():
    assert resolve_table("news", "T5_DEMO", "PUBLIC") == ("T5_DEMO", "PUBLIC", "NEWS")
    assert resolve_table("raw.news", "T5_DEMO", "PUBLIC") == ("T5_DEMO", "RAW", "NEWS")
    assert resolve_table("other.raw.news", "T5_DEMO", "PUBLIC") == ("OTHER", "RAW", "NEWS")
    with pytest.raises(DeployError, match=r"at most database\.schema\.table"):
        resolve_table("a.b.c.d", "T5_DEMO", "PUBLIC")


def test_single_name_takes_one_part():
    assert single_name("article") == "ARTICLE"
    assert single_name('"body"') == "body"
    with pytest.raises(DeployError, match="not a column name"):
        single_name("t.article")


# --- SQL ---


def test_eval_query_quotes_every_identifier():
    q = EvalQuery(FN, TABLE, input="ARTICLE", reference="SUMMARY", key="ID", limit=24)
    assert q.sql() == (
        'SELECT "ID" AS "KEY", "ARTICLE" AS "INPUT", "SUMMARY" AS "REFERENCE", '
        '"T5_DEMO"."PUBLIC"."SUMMARIZE"("ARTICLE") AS "OUTPUT" FROM "T5_DEMO"."PUBLIC"."NEWS" '
        'ORDER BY "ID" LIMIT 24'
    )


def test_eval_query_with_where_and_no_limit_and_odd_names():
    q = EvalQuery(
        FN, ("D", "S", 'my "t"'), input="body", reference="ref", key="k", where=" CATEGORY = 'tech' ", limit=None
    )
    sql = q.sql()
    assert 'FROM "D"."S"."my ""t"""' in sql
    assert '"body" AS "INPUT"' in sql and '"T5_DEMO"."PUBLIC"."SUMMARIZE"("body")' in sql
    assert sql.endswith("""WHERE (CATEGORY = 'tech') ORDER BY "k\"""")
    assert "LIMIT" not in sql


def test_columns_sql_quotes_names_as_literals():
    sql = evaluation.columns_sql(("D", "S", "it's"))
    assert sql.startswith('SELECT COLUMN_NAME FROM "D"."INFORMATION_SCHEMA"."COLUMNS" ')
    assert "TABLE_SCHEMA = 'S' AND TABLE_NAME = 'it\\'s'" in sql


# --- NULLs and scoring ---


def test_scorable_skips_null_inputs_and_references_and_scores_null_outputs_as_empty():
    s = scorable(
        [
            row(1, TEXT, "The cat sat.", "The cat sat."),
            row(2, None, "ref", "x"),
            row(3, TEXT, None, "x"),
            row(4, TEXT, "The dog slept.", None),
        ]
    )
    assert s.keys == [1, 4]
    assert s.outputs == ["The cat sat.", ""]
    assert s.skipped == 2 and s.null_outputs == 1


def test_identical_summaries_score_100_and_lead3_is_computed_on_the_inputs():
    rows = [row(1, TEXT, "The cat sat on the mat. It was warm.", "The cat sat on the mat. It was warm.")]
    result = score(rows, seconds=2.0, function="F", table="T", examples=3)
    assert result.rouge == dict.fromkeys(("rouge1", "rouge2", "rougeL", "rougeLsum"), 100.0)
    assert 0 < result.lead3["rouge1"] < 100  # Lead-3 adds "The dog slept."
    assert result.rows == 1 and result.skipped == 0


def test_disjoint_summary_scores_0_and_null_output_counts_as_empty():
    rows = [row(1, TEXT, "Quarterly profits jumped.", "Zebras graze quietly."), row(2, TEXT, "Profits rose.", None)]
    result = score(rows, seconds=1.0, function="F", table="T")
    assert result.rouge["rouge1"] == 0.0
    assert result.null_outputs == 1
    assert [e.summary for e in result.examples] == ["Zebras graze quietly.", ""]


def test_score_refuses_nothing_to_score():
    with pytest.raises(DeployError, match="no rows"):
        score([], seconds=1.0, function="F", table="T")
    with pytest.raises(DeployError, match="all 1 row"):
        score([row(1, None, "r", None)], seconds=1.0, function="F", table="T")


def test_result_as_json_document():
    result = EvalResult("F", "T", 3, 1, 0, 2.0, {"rouge1": 1.0}, {"rouge1": 2.0}, [evaluation.Example(7, "s", "r")])
    doc = result.to_dict()
    assert doc["rows_per_second"] == 2.0  # 4 rows ran through the function in 2 s
    assert doc["examples"] == [{"key": 7, "summary": "s", "reference": "r"}]
    assert {"function", "table", "rows", "skipped", "seconds", "rouge", "lead3"} <= set(doc)


def test_missing_rouge_score_names_the_extra(monkeypatch):
    monkeypatch.setattr(evaluation.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DeployError, match=r"t5-snowflake-deploy\[eval\]"):
        evaluation.require_rouge()


class FakeSession:
    """Answers the evaluation query with `rows`, or fails it; answers the INFORMATION_SCHEMA look-up with `columns`."""

    def __init__(self, rows=None, columns=None):
        self.rows, self.columns, self.statements = rows, columns, []

    def query(self, sql):
        self.statements.append(sql)
        if "INFORMATION_SCHEMA" in sql:
            return [{"column_name": c} for c in self.columns or []]
        if self.rows is None:
            raise SnowflakeError(sql, "compilation error")
        return self.rows


def test_evaluate_runs_one_query_and_scores_it():
    session = FakeSession(rows=[row(1, TEXT, "The cat sat.", "The cat sat.")])
    result = evaluation.evaluate(session, EvalQuery(FN, TABLE), examples=1)
    assert len(session.statements) == 1 and result.rows == 1 and result.seconds >= 0
    assert result.function == "T5_DEMO.PUBLIC.SUMMARIZE" and result.table == "T5_DEMO.PUBLIC.NEWS"


def test_evaluate_explains_a_missing_table_or_column():
    with pytest.raises(DeployError, match=r"table T5_DEMO\.PUBLIC\.NEWS does not exist"):
        evaluation.evaluate(FakeSession(columns=[]), EvalQuery(FN, TABLE))
    with pytest.raises(DeployError, match=r"has no column BODY .*--input.*ID, ARTICLE, SUMMARY"):
        evaluation.evaluate(FakeSession(columns=["ID", "ARTICLE", "SUMMARY"]), EvalQuery(FN, TABLE, input="BODY"))
    with pytest.raises(SnowflakeError, match="compilation error"):  # columns fine: the original error stands
        evaluation.evaluate(FakeSession(columns=["ID", "ARTICLE", "SUMMARY"]), EvalQuery(FN, TABLE, where="x"))


def test_evaluate_with_no_rows_says_so():
    with pytest.raises(DeployError, match=r"no rows to evaluate in T5_DEMO\.PUBLIC\.NEWS matching 'ID > 9'"):
        evaluation.evaluate(FakeSession(rows=[]), EvalQuery(FN, TABLE, where="ID > 9"))


# --- sample data ---


def test_sample_rows_number_the_split_from_1():
    rows = sample_rows("validation", 3)
    assert [r[0] for r in rows] == [1, 2, 3]
    assert all(isinstance(v, str) and v for r in rows for v in r[1:])
    assert len(sample_rows("train", 2)) == 2
    with pytest.raises(DeployError, match="unknown split"):
        sample_rows("test")


def test_create_table_sql():
    assert create_table_sql(TABLE, replace=False) == (
        'CREATE TABLE "T5_DEMO"."PUBLIC"."NEWS" ("ID" NUMBER, "CATEGORY" VARCHAR, "TITLE" VARCHAR, '
        '"ARTICLE" VARCHAR, "SUMMARY" VARCHAR)'
    )
    assert create_table_sql(TABLE, replace=True).startswith('CREATE OR REPLACE TABLE "T5_DEMO"')


def test_insert_statements_quote_values_and_batch_by_rows_and_bytes():
    rows = [(i, "tech", f"it's {i}", "back\\slash " * 50, "s") for i in range(1, 11)]
    by_rows = list(insert_statements(TABLE, rows, max_rows=4))
    assert len(by_rows) == 3 and sum(s.count("), (") + 1 for s in by_rows) == 10
    assert by_rows[0].startswith(
        'INSERT INTO "T5_DEMO"."PUBLIC"."NEWS" ("ID", "CATEGORY", "TITLE", "ARTICLE", "SUMMARY") VALUES (1, '
    )
    assert "'it\\'s 1'" in by_rows[0] and "back\\\\slash" in by_rows[0]
    by_bytes = list(insert_statements(TABLE, rows, max_bytes=1500))
    assert len(by_bytes) > 3 and all(len(s.encode()) <= 1500 for s in by_bytes)
    ids = [int(v.split(",")[0]) for s in by_bytes for v in s.split(" VALUES (")[1].split("), (")]
    assert ids == list(range(1, 11))
    assert len(COLUMNS) == 5


def test_training_rouge_imports_neither_torch_nor_tqdm():
    code = (
        "import sys, training.rouge as r; r.rouge(['a b.'], ['a b.']); "
        "assert not {'torch', 'tqdm'} & set(sys.modules), sorted(m for m in sys.modules if m in ('torch', 'tqdm'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_says_which_extra_to_install_before_connecting(monkeypatch, capsys):
    from deploy.cli import main

    monkeypatch.setattr(evaluation.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("T5_DEPLOY_CONNECTION", "no-such-connection")  # never reached
    assert main(["eval", "--table", "NEWS"]) == 1
    assert "pip install 't5-snowflake-deploy[eval]'" in capsys.readouterr().err


def test_cli_rejects_a_bad_table_name_in_one_line(capsys):
    from deploy.cli import main

    # --database/--schema given: no manifests (nor their artifacts) are read.
    assert main(["sample-data", "--table", "a.b.c.d", "--database", "X", "--schema", "Y"]) == 1
    err = capsys.readouterr().err
    assert "not a table name" in err and "Traceback" not in err
