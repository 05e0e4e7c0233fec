"""Parsing real Snowflake outputs (LIST, SHOW USER FUNCTIONS, DESCRIBE FUNCTION) from documented-shape fixtures."""

import json
from pathlib import Path

import pytest

from deploy.observe import (
    ObservedStage,
    parse_describe,
    parse_list,
    parse_list_value,
    parse_show_arguments,
    parse_signature,
    split_tag,
)

FIXTURES = Path(__file__).parent / "fixtures" / "snowflake"


def rows(name: str) -> list[dict]:
    doc = json.loads((FIXTURES / name).read_text())
    return [dict(zip(doc["columns"], r, strict=True)) for r in doc["rows"]]


def test_list_rows_become_stage_relative_files_and_versions():
    files = parse_list(rows("list_stage.json"), "T5_P_MODEL")
    paths = [f.path for f in files]
    assert "0123456789abcdef/model.safetensors" in paths
    st = ObservedStage("T5_DEMO", "PUBLIC", "T5_P_MODEL", "", files)
    versions = st.versions()
    assert set(versions) == {"0123456789abcdef", "fedcba9876543210"}
    assert set(versions["0123456789abcdef"]) == {"config.json", "model.safetensors", "_COMPLETE.json"}
    # Multipart md5 is kept verbatim and never used for equality.
    assert versions["0123456789abcdef"]["model.safetensors"].md5.endswith("-15")
    assert versions["0123456789abcdef"]["model.safetensors"].size == 242041248
    assert [f.path for f in st.foreign_files()] == ["notes/readme.txt"]


def test_show_user_functions_arguments():
    parsed = [parse_show_arguments(r["arguments"]) for r in rows("show_user_functions.json")]
    assert parsed[0] == ("SUMMARIZE", ("VARCHAR",), "VARCHAR")
    assert parsed[1] == ("SCORE", ("NUMBER", "FLOAT"), "FLOAT")
    assert parsed[2] == ("CLEAN_TEXT", ("VARCHAR", "BOOLEAN"), "VARCHAR")


def test_ownership_tag_in_comment():
    comment = rows("show_user_functions.json")[0]["description"]
    assert split_tag(comment) == ("Summarizes news text with a fine-tuned T5", True, "0a1b2c3d4e5f")
    assert split_tag("user defined function") == ("user defined function", False, None)
    assert split_tag(None) == ("", False, None)


def test_describe_function_normalises_every_property():
    fn = parse_describe(rows("describe_function.json"), "T5_DEMO", "PUBLIC", "SUMMARIZE", "c")
    assert fn.args == (("TEXT", "VARCHAR"),)
    assert fn.returns == "VARCHAR"
    assert fn.language == "PYTHON"
    assert fn.handler == "handler.summarize"
    assert fn.runtime == "3.11"
    assert fn.packages == ("pytorch", "sentencepiece", "transformers")
    # Quoted, unquoted and unqualified stage names all normalise to one spelling.
    assert fn.imports == (
        "@T5_DEMO.PUBLIC.LLM/1111111111111111/handler.py",
        "@T5_DEMO.PUBLIC.T5_P_MODEL/0123456789abcdef/config.json",
        "@T5_DEMO.PUBLIC.T5_P_MODEL/0123456789abcdef/model.safetensors",
    )
    assert fn.body == ""
    assert fn.identity == "T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)"


@pytest.mark.parametrize(
    ("sig", "expected"),
    [
        ("()", ()),
        # DESCRIBE prints no precision (Terraform provider functions_integration_test.go); any an
        # account does print is dropped, as the function's identity has none.
        ("(TEXT VARCHAR, N NUMBER(38,0))", (("TEXT", "VARCHAR"), ("N", "NUMBER"))),
        ("(TEXT VARCHAR, N NUMBER)", (("TEXT", "VARCHAR"), ("N", "NUMBER"))),
        ('("text" VARCHAR(16777216))', (("TEXT", "VARCHAR"),)),
        ('("a, b" VARCHAR, V VECTOR(FLOAT, 256))', (("A, B", "VARCHAR"), ("V", "VECTOR(FLOAT, 256)"))),
    ],
)
def test_signature(sig, expected):
    assert parse_signature(sig) == expected


def test_list_values():
    assert parse_list_value("['a','b']") == ("a", "b")
    assert parse_list_value("[]") == ()
    assert parse_list_value(None) == ()
    assert parse_list_value("[@s/a.py, @s/b.py]") == ("@s/a.py", "@s/b.py")


def test_describe_imports_in_any_spelling_compare_normalised():
    rows = [
        {
            "property": "imports",
            "value": '[@llm/v/handler.py, \'@"DB"."S"."LLM"/v/c.json\', \'@S2.LLM/v/h.py\', not-a-stage]',
        }
    ]
    fn = parse_describe(rows, "DB", "S", "F", "")
    assert fn.imports == ("@DB.S.LLM/v/c.json", "@DB.S.LLM/v/handler.py", "@DB.S2.LLM/v/h.py", "not-a-stage")


def test_split_import():
    from deploy.spec import split_import

    assert split_import("@DB.S.LLM/0123456789abcdef/handler.py") == ("DB.S.LLM", "0123456789abcdef", "handler.py")
    assert split_import("@DB.S.LLM/handler.py") == ("DB.S.LLM", "", "handler.py")
