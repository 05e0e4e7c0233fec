"""The SQL the reconciler generates for real Snowflake: quoting, PUT options, COPY GRANTS."""

from pathlib import Path

import pytest

from deploy.apply import compile_change
from deploy.local_file import LocalFile
from deploy.payloads import FunctionProps, StageVersion, VersionFile
from deploy.plan import Action, Change, Kind
from deploy.sql import (
    SqlTypeError,
    canonical_type,
    file_url,
    ident,
    like_pattern,
    literal,
    qualified,
    stage_location,
)

HOSTILE = 'x"; DROP TABLE y; --'


def test_identifiers_are_always_double_quoted_and_escaped():
    assert ident("T5_DEMO") == '"T5_DEMO"'
    assert ident(HOSTILE) == '"x""; DROP TABLE y; --"'
    assert qualified("DB", HOSTILE) == '"DB"."x""; DROP TABLE y; --"'


def test_literals_escape_quotes_and_backslashes():
    assert literal("it's") == "'it\\'s'"
    assert literal("a\\b") == "'a\\\\b'"
    assert literal("'); DROP TABLE y; --") == "'\\'); DROP TABLE y; --'"


def test_like_pattern_matches_only_the_exact_name():
    assert like_pattern("T5_DEMO") == "'T5\\\\_DEMO'"


def test_stage_paths_and_file_urls():
    assert stage_location("DB", "S", "LLM", "ab/") == '@"DB"."S"."LLM"/ab/'
    assert file_url("/tmp/with space/model.bin") == "'file:///tmp/with space/model.bin'"
    with pytest.raises(ValueError):
        file_url("/tmp/it's")
    with pytest.raises(ValueError):
        stage_location("DB", "S", "LLM", "x'; DROP")


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("VARCHAR", "VARCHAR"),
        ("string", "VARCHAR"),
        ("TEXT", "VARCHAR"),
        ("VARCHAR(16777216)", "VARCHAR"),
        ("varchar(100)", "VARCHAR(100)"),
        ("INT", "NUMBER(38,0)"),
        ("NUMBER(38, 0)", "NUMBER(38,0)"),
        ("number(10,2)", "NUMBER(10,2)"),
        ("double", "FLOAT"),
        ("BOOLEAN", "BOOLEAN"),
        ("timestamp", "TIMESTAMP_NTZ"),
    ],
)
def test_type_canonicalisation(given, canonical):
    assert canonical_type(given) == canonical


@pytest.mark.parametrize("bad", ["VARCHAR; DROP TABLE y", "NOPE", "BOOLEAN(3)", ""])
def test_bad_types_are_rejected(bad):
    with pytest.raises(SqlTypeError):
        canonical_type(bad)


def _function_change() -> Change:
    after = FunctionProps(
        database="T5_DEMO",
        schema="PUBLIC",
        name="SUMMARIZE",
        args=(("TEXT", "VARCHAR"),),
        returns="VARCHAR",
        runtime="3.11",
        handler="handler.summarize",
        packages=("pytorch", "transformers"),
        imports=("@T5_DEMO.PUBLIC.LLM/0123456789abcdef/handler.py",),
        null_handling="CALLED ON NULL INPUT",
        volatility="VOLATILE",
        comment="It's a summarizer [t5-deploy spec=abc]",
    )
    return Change(Action.REPLACE, Kind.FUNCTION, "T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)", ("x",), after=after)


def test_function_ddl_renders_every_property_with_copy_grants():
    (step,) = compile_change(_function_change(), Path("/m"))
    assert step.sql == (
        'CREATE OR REPLACE FUNCTION "T5_DEMO"."PUBLIC"."SUMMARIZE"("TEXT" VARCHAR) COPY GRANTS RETURNS VARCHAR '
        "LANGUAGE PYTHON CALLED ON NULL INPUT VOLATILE RUNTIME_VERSION = '3.11' "
        "PACKAGES = ('pytorch', 'transformers') "
        'IMPORTS = (\'@"T5_DEMO"."PUBLIC"."LLM"/0123456789abcdef/handler.py\') '
        "HANDLER = 'handler.summarize' COMMENT = 'It\\'s a summarizer [t5-deploy spec=abc]'"
    )


def test_uploads_disable_compression_and_write_the_marker_last(tmp_path):
    after = StageVersion(
        "T5_DEMO", "PUBLIC", "T5_P_MODEL", "0123456789abcdef", (VersionFile("config.json", 3, "a" * 64),)
    )
    change = Change(
        Action.CREATE,
        Kind.STAGE_VERSION,
        "T5_DEMO.PUBLIC.T5_P_MODEL/0123456789abcdef",
        ("new",),
        after=after,
        uploads=(LocalFile("config.json", Path("/art/model dir/config.json"), 3, "a" * 64),),
    )
    steps = compile_change(change, tmp_path)
    assert [s.sql for s in steps] == [
        'PUT \'file:///art/model dir/config.json\' @"T5_DEMO"."PUBLIC"."T5_P_MODEL"/0123456789abcdef/ '
        "AUTO_COMPRESS=FALSE OVERWRITE=TRUE",
        f"PUT 'file://{tmp_path}/0123456789abcdef/_COMPLETE.json' "
        '@"T5_DEMO"."PUBLIC"."T5_P_MODEL"/0123456789abcdef/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE',
    ]
    assert steps[-1].marker is not None and b'"sha256": "' + b"a" * 64 in steps[-1].marker
