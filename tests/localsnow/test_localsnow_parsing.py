"""Unit tests of the statement pieces the server parses itself (no server needed)."""

from __future__ import annotations

import pytest
import snowflake.connector

from localsnow.command_args import parse_file_command
from localsnow.like import like_regex, split_like
from localsnow.names import ObjectName, parse_stage_location, split_qualified, unquote_literal
from localsnow.packages import PackageSnapshot
from localsnow.sqltypes import parse_type


def test_identifiers_follow_snowflake_case_rules() -> None:
    assert split_qualified('"T5_demo".public."A.B"') == ["T5_demo", "PUBLIC", "A.B"]
    assert split_qualified('"say ""hi"""') == ['say "hi"']


def test_string_literals_and_like_patterns() -> None:
    assert unquote_literal(r"'it''s a \\path\'s'") == "it's a \\path's"
    statement, pattern = split_like(r"SHOW STAGES LIKE 'T5\\_P%' IN SCHEMA S")
    assert (statement, pattern) == ("SHOW STAGES IN SCHEMA S", r"T5\_P%")
    assert like_regex(pattern).fullmatch("t5_p_model") and not like_regex(pattern).fullmatch("T5XP")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@"T5_DEMO"."PUBLIC"."T5_P_MODEL"/3f2a9c/', (ObjectName("T5_DEMO", "PUBLIC", "T5_P_MODEL"), "3f2a9c/")),
        ('\'@"DB"."S"."ST"/a b/c.json\'', (ObjectName("DB", "S", "ST"), "a b/c.json")),
        ("@stage", (ObjectName("CUR_DB", "CUR_S", "STAGE"), "")),
        ('@s2."x/y"/p', (ObjectName("CUR_DB", "S2", "x/y"), "p")),
    ],
)
def test_stage_locations(text: str, expected: tuple[ObjectName, str]) -> None:
    location = parse_stage_location(text, "CUR_DB", "CUR_S", "LIST")
    assert (location.stage, location.path) == expected


def test_stage_location_needs_a_schema_when_unqualified() -> None:
    with pytest.raises(snowflake.connector.ProgrammingError, match="does not have a current database"):
        parse_stage_location("@stage", None, None, "LIST")
    with pytest.raises(snowflake.connector.ProgrammingError, match="invalid stage path"):
        parse_stage_location("@s/../etc", "D", "S", "LIST")


def test_file_command_arguments_and_options() -> None:
    command = parse_file_command(
        '-- upload\nPUT \'file:///abs/path with spaces/m.bin\' \'@"D"."S"."ST"/v1/\' '
        "AUTO_COMPRESS=FALSE overwrite = TRUE;"
    )
    assert command.verb == "PUT"
    assert command.args == ["'file:///abs/path with spaces/m.bin'", '\'@"D"."S"."ST"/v1/\'']
    assert command.option_bool("AUTO_COMPRESS", True) is False
    assert command.option_bool("OVERWRITE", False) is True
    # as in Snowflake, the literal's backslash escapes need doubling for a regex escape
    assert parse_file_command(r"LIST @s PATTERN = '.*\\.json'").options == {"PATTERN": r".*\.json"}


@pytest.mark.parametrize(
    ("text", "base", "full"),
    [
        ("VARCHAR", "VARCHAR", "VARCHAR(16777216)"),
        ("string", "VARCHAR", "VARCHAR(16777216)"),
        ("NUMBER(10,2)", "NUMBER", "NUMBER(10,2)"),
        ("int", "NUMBER", "NUMBER(38,0)"),
        ("DOUBLE", "FLOAT", "FLOAT"),
        ("boolean", "BOOLEAN", "BOOLEAN"),
    ],
)
def test_types(text: str, base: str, full: str) -> None:
    assert (parse_type(text).base, parse_type(text).full) == (base, full)


def test_package_resolution() -> None:
    snapshot = PackageSnapshot.load()
    assert "3.11" in snapshot.runtimes
    assert snapshot.resolve(["Transformers", "pytorch>=2.0,<2.6", "scikit_learn", "pandas==2.*"], "3.11") == [
        "transformers==4.41.2",
        "pytorch==2.5.1",
        "scikit-learn==1.5.1",
        "pandas==2.1.4",
    ]
    for bad in (["torch"], ["transformers==5.0.0"], ["pandas>>2"], ["pandas==*"], ["pandas~=2.1"]):
        with pytest.raises(snowflake.connector.ProgrammingError, match="specified packages"):
            snapshot.resolve(bad, "3.11")
    with pytest.raises(snowflake.connector.ProgrammingError, match="Unsupported runtime version"):
        snapshot.check_runtime("2.7")
