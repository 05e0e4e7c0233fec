"""The embedded Snowflake answers in the shapes recorded from real Snowflake.

The fixtures under tests/fixtures/snowflake/ are Snowflake's documented outputs,
each naming its source. Here the same objects are made on the embedded
Snowflake, the same statements run through the real connector, and `deploy`'s
own parsers read both: same columns, same parsed structures. So the emulator
cannot drift from the recorded shapes without this test failing, and the
reconciler is never tested against the emulator's own inventions.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector

from deploy.observe import parse_describe, parse_list, parse_packages, parse_show_arguments
from deploy.session import Session
from deploy.sql import file_url
from deploy.state import SNOWFLAKE_FULL, SNOWFLAKE_SSE, listed_sizes, plaintext_md5, split_tag, stage_encryption

FIXTURES = Path(__file__).parent / "fixtures" / "snowflake"
# The fixture's function: its imports, packages and comment, made again on the emulator.
IMPORTS = (
    "@T5_DEMO.PUBLIC.LLM/1111111111111111/handler.py",
    '@"T5_DEMO"."PUBLIC"."T5_P_MODEL"/0123456789abcdef/config.json',
    "@T5_P_MODEL/0123456789abcdef/model.safetensors",
)
COMMENT = "Summarizes news text with a fine-tuned T5 [t5-deploy spec=0a1b2c3d4e5f]"
FILES = {  # stage -> {path: content}; sizes chosen around the 16-byte padding boundary
    "T5_P_MODEL": {"0123456789abcdef/config.json": b"{}" * 8, "0123456789abcdef/model.safetensors": b"\1" * 33},
    "LLM": {"1111111111111111/handler.py": b"def summarize(df):\n    return df[0]\n", "notes/empty.txt": b""},
}
# Snowflake's LIST last_modified: weekday, day not zero-padded, month, year, time, GMT.
LAST_MODIFIED = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [1-9]\d? [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")


def fixture(name: str) -> tuple[list[str], list[dict[str, Any]]]:
    doc = json.loads((FIXTURES / name).read_text())
    assert doc["_source"], f"{name} names no source"
    columns = [c.lower() for c in doc["columns"]]
    return columns, [dict(zip(columns, row, strict=True)) for row in doc["rows"]]


@pytest.fixture(scope="module")
def account(local_snowflake: dict[str, Any], tmp_path_factory: pytest.TempPathFactory):
    """The fixtures' objects on a fresh embedded Snowflake: FULL and SSE stages, files, the function."""
    conn = snowflake.connector.connect(**local_snowflake)
    session = Session(conn)
    session.query("CREATE DATABASE T5_DEMO")  # with its PUBLIC schema, as in Snowflake
    session.query("CREATE STAGE T5_DEMO.PUBLIC.T5_P_MODEL COMMENT = 'Weights [t5-deploy]'")
    session.query(
        "CREATE STAGE T5_DEMO.PUBLIC.LLM ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE') COMMENT = 'Handler [t5-deploy]'"
    )
    local = tmp_path_factory.mktemp("files")
    for stage, files in FILES.items():
        for path, content in files.items():
            folder, name = path.rsplit("/", 1)
            source = local / stage / folder / name
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(content)
            session.query(f"PUT {file_url(str(source))} @T5_DEMO.PUBLIC.{stage}/{folder} AUTO_COMPRESS=FALSE")
    session.query(
        "CREATE FUNCTION T5_DEMO.PUBLIC.SUMMARIZE(TEXT VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
        "RUNTIME_VERSION = '3.11' PACKAGES = ('transformers','pytorch','sentencepiece') "
        f"IMPORTS = ({', '.join(repr(i) for i in IMPORTS)}) HANDLER = 'handler.summarize' COMMENT = '{COMMENT}'"
    )
    try:
        yield session
    finally:
        conn.close()


def test_show_user_functions_has_snowflakes_columns_and_parses_alike(account: Session) -> None:
    columns, recorded = fixture("show_user_functions.json")
    rows = account.query("SHOW USER FUNCTIONS IN SCHEMA T5_DEMO.PUBLIC")
    assert list(rows[0])[: len(columns)] == columns
    (ours,) = [r for r in rows if r["name"] == "SUMMARIZE"]
    (theirs,) = [r for r in recorded if r["name"] == "SUMMARIZE"]
    assert parse_show_arguments(ours["arguments"], ours["name"]) == parse_show_arguments(
        theirs["arguments"], theirs["name"]
    )
    assert split_tag(ours["description"]) == split_tag(theirs["description"])
    assert (ours["language"], ours["min_num_arguments"], ours["max_num_arguments"]) == (
        theirs["language"],
        theirs["min_num_arguments"],
        theirs["max_num_arguments"],
    )


def test_describe_function_has_snowflakes_properties_and_parses_alike(account: Session) -> None:
    _, recorded = fixture("describe_function.json")
    rows = account.query("DESCRIBE FUNCTION T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)")
    assert {r["property"] for r in recorded} <= {r["property"] for r in rows}
    ours = parse_describe(rows, "T5_DEMO", "PUBLIC", "SUMMARIZE", COMMENT)
    theirs = parse_describe(recorded, "T5_DEMO", "PUBLIC", "SUMMARIZE", COMMENT)
    assert ours == theirs


def test_show_stages_has_snowflakes_columns_and_encryption_types(account: Session) -> None:
    columns, recorded = fixture("show_stages.json")
    rows = {r["name"]: r for r in account.query("SHOW STAGES IN SCHEMA T5_DEMO.PUBLIC")}
    assert list(rows["LLM"]) == columns
    for theirs in recorded:
        ours = rows[theirs["name"]]
        assert stage_encryption(ours["type"]) == stage_encryption(theirs["type"])
        assert split_tag(ours["comment"]) == split_tag(theirs["comment"])
    assert stage_encryption(rows["T5_P_MODEL"]["type"]) == SNOWFLAKE_FULL  # no ENCRYPTION given: the default
    assert stage_encryption(rows["LLM"]["type"]) == SNOWFLAKE_SSE


@pytest.mark.parametrize(("stage", "encryption"), [("T5_P_MODEL", SNOWFLAKE_FULL), ("LLM", SNOWFLAKE_SSE)])
def test_list_has_snowflakes_columns_and_size_and_md5_rules(account: Session, stage: str, encryption: str) -> None:
    columns, recorded = fixture("list_stage.json")
    rows = account.query(f"LIST @T5_DEMO.PUBLIC.{stage}")
    assert list(rows[0]) == columns
    for row in [*rows, *recorded]:
        assert LAST_MODIFIED.match(row["last_modified"]), row["last_modified"]
        assert email.utils.parsedate_to_datetime(row["last_modified"]).tzinfo is not None
    theirs = {f.path: f for f in parse_list(recorded, "T5_P_MODEL")}
    assert all(name.startswith("t5_p_model/") for name in (r["name"] for r in recorded))
    ours = {f.path: f for f in parse_list(rows, stage)}
    assert set(ours) == set(FILES[stage])
    assert all(r["name"].startswith(stage.lower() + "/") for r in rows)
    for path, content in FILES[stage].items():
        remote = ours[path]
        assert remote.size in listed_sizes(len(content), encryption)
        plain = hashlib.md5(content).hexdigest()
        # On SSE LIST shows the plaintext md5 (the reconciler compares it); on FULL never.
        assert (remote.md5 == plain) is (encryption == SNOWFLAKE_SSE)
        assert plaintext_md5(remote.md5, len(content), encryption) == (plain if encryption == SNOWFLAKE_SSE else None)
    # Both sides parse to the same kind of values: stage-relative paths, integer sizes, text md5s.
    for files in (ours, theirs):
        for f in files.values():
            assert isinstance(f.size, int) and "/" in f.path and not f.path.startswith("/"), f
            assert f.md5 is None or re.fullmatch(r"[0-9a-f]{32}(-\d+)?", f.md5), f


def test_packages_has_snowflakes_columns_and_parses_alike(account: Session) -> None:
    columns, recorded = fixture("packages.json")
    rows = account.query(
        "SELECT * FROM T5_DEMO.INFORMATION_SCHEMA.PACKAGES WHERE LANGUAGE = 'python' AND PACKAGE_NAME = 'transformers'"
    )
    assert set(columns) <= set(rows[0])
    ours, theirs = parse_packages(rows)["transformers"], parse_packages(recorded)["transformers"]
    assert {row for row in theirs if row[1] == "3.11"} <= set(ours)  # the manifests' runtime and version
    assert all(runtime and re.fullmatch(r"3\.\d+", runtime) for _, runtime in ours)
