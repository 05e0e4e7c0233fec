"""Databases, schemas, stages and stage files through the real connector over HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import snowflake.connector
from ls_helpers import put, query

STAGE = '"LS_TEST"."PUBLIC"."T5_P_MODEL"'


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("artifacts") / "path with spaces"
    directory.mkdir()
    contents = {
        "model.safetensors": bytes(range(256)) * 40,
        "config.json": b'{"d_model": 64}',
        "spiece.model": b"sentencepiece",
    }
    for name, data in contents.items():
        (directory / name).write_bytes(data)
    return {name: directory / name for name in contents}


@pytest.fixture(scope="module")
def stage(conn: snowflake.connector.SnowflakeConnection) -> str:
    rows = query(conn, f"CREATE STAGE IF NOT EXISTS {STAGE} COMMENT = 'model weights'")
    assert rows == [("Stage area T5_P_MODEL successfully created.",)]
    return STAGE


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def padded(path: Path) -> int:
    """LIST size of a file on a SNOWFLAKE_FULL stage (the default): the AES-CBC ciphertext's."""
    return 16 * (path.stat().st_size // 16 + 1)


def test_create_is_idempotent_and_shows_metadata(conn, stage: str) -> None:
    assert query(conn, 'CREATE DATABASE IF NOT EXISTS "LS_TEST"')
    assert query(conn, f"CREATE STAGE IF NOT EXISTS {stage} COMMENT = 'other'") == [
        ("T5_P_MODEL already exists, statement succeeded.",)
    ]
    cur = conn.cursor().execute('SHOW STAGES IN SCHEMA "LS_TEST"."PUBLIC"')
    names = [d.name for d in cur.description]
    (row,) = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert (row["name"], row["database_name"], row["schema_name"]) == ("T5_P_MODEL", "LS_TEST", "PUBLIC")
    assert row["comment"] == "model weights"  # the first CREATE's comment
    assert row["type"] == "INTERNAL"  # SNOWFLAKE_FULL, the default encryption
    query(conn, 'CREATE DATABASE IF NOT EXISTS "LSXTEST"')
    query(conn, 'USE SCHEMA "LS_TEST"."PUBLIC"')  # a new database became the current one
    assert {r[1] for r in query(conn, "SHOW DATABASES LIKE 'ls_test'")} == {"LS_TEST", "LSXTEST"}
    # LIKE is case-insensitive; a backslash escapes a wildcard (the reconciler's exact-name form)
    assert [r[1] for r in query(conn, r"SHOW DATABASES LIKE 'LS\\_TEST'")] == ["LS_TEST"]
    assert query(conn, "SHOW DATABASES LIKE 'NO_SUCH_DB'") == []
    assert "PUBLIC" in [r[1] for r in query(conn, 'SHOW SCHEMAS IN DATABASE "LS_TEST"')]
    assert [r[1] for r in query(conn, "SHOW SCHEMAS LIKE 'PUBLIC' IN DATABASE \"LS_TEST\"")] == ["PUBLIC"]
    shown = query(conn, r"SHOW STAGES LIKE 'T5\\_P\\_MODEL' IN SCHEMA " + '"LS_TEST"."PUBLIC"')
    assert [r[1] for r in shown] == ["T5_P_MODEL"]


def test_put_to_prefix_and_list(conn, stage: str, files: dict[str, Path]) -> None:
    put(conn, files["model.safetensors"], f"@{stage}/3f2a9c/")
    put(conn, files["config.json"], f"@{stage}/3f2a9c/")
    # an unquoted stage location works too
    rows = query(conn, f"PUT 'file://{files['config.json']}' @{stage}/cd34/ AUTO_COMPRESS=FALSE")
    assert rows[0][:2] == ("config.json", "config.json")

    cur = conn.cursor().execute(f"LIST @{stage}")
    assert [d.name for d in cur.description] == ["name", "size", "md5", "last_modified"]
    listed = {name: (size, digest) for name, size, digest, _ in cur.fetchall()}
    assert {name: size for name, (size, _) in listed.items()} == {
        "t5_p_model/3f2a9c/model.safetensors": padded(files["model.safetensors"]),
        "t5_p_model/3f2a9c/config.json": padded(files["config.json"]),
        "t5_p_model/cd34/config.json": padded(files["config.json"]),
    }
    # the md5 of each upload's ciphertext: neither the plaintext's nor shared by two uploads
    digests = [digest for _, digest in listed.values()]
    assert len(set(digests)) == 3 and md5(files["config.json"]) not in digests
    prefixed = [r[0] for r in query(conn, f"LIST @{stage}/3f2a9c/")]
    assert prefixed == ["t5_p_model/3f2a9c/config.json", "t5_p_model/3f2a9c/model.safetensors"]
    assert [r[0] for r in query(conn, f"LIST '@{stage}/cd'")] == ["t5_p_model/cd34/config.json"]
    assert [r[0] for r in query(conn, f"LIST @{stage} PATTERN = '.*\\\\.safetensors'")] == [
        "t5_p_model/3f2a9c/model.safetensors"
    ]


def test_put_overwrites_in_place(conn, stage: str, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    for text in ("first", "second version"):
        source.write_text(text)
        put(conn, source, f"@{stage}/overwrite/")
    ((name, size, digest, _),) = query(conn, f"LIST @{stage}/overwrite/")
    assert (name, size) == ("t5_p_model/overwrite/notes.txt", padded(source))
    assert digest != md5(source)


def test_get_downloads_a_file(conn, stage: str, files: dict[str, Path], tmp_path: Path) -> None:
    put(conn, files["spiece.model"], f"@{stage}/get/")
    rows = query(conn, f"GET '@{stage}/get/spiece.model' 'file://{tmp_path}/'")
    assert rows[0][2] == "DOWNLOADED"
    assert (tmp_path / "spiece.model").read_bytes() == files["spiece.model"].read_bytes()


def test_remove_prefix_and_single_file(conn, stage: str, files: dict[str, Path]) -> None:
    for name in ("config.json", "spiece.model"):
        put(conn, files[name], f"@{stage}/old/")
    put(conn, files["config.json"], f"@{stage}/keep/")
    cur = conn.cursor().execute(f"REMOVE @{stage}/old/")
    assert [d.name for d in cur.description] == ["name", "result"]
    assert sorted(cur.fetchall()) == [
        ("t5_p_model/old/config.json", "removed"),
        ("t5_p_model/old/spiece.model", "removed"),
    ]
    assert query(conn, f"LIST @{stage}/old/") == []
    assert query(conn, f"RM @{stage}/keep/config.json") == [("t5_p_model/keep/config.json", "removed")]
    assert query(conn, f"REMOVE @{stage}/nothing-here/") == []


def test_missing_stage_errors(conn) -> None:
    with pytest.raises(snowflake.connector.ProgrammingError, match="does not exist or not authorized") as info:
        conn.cursor().execute('LIST @"LS_TEST"."PUBLIC"."NOPE"')
    assert info.value.errno == 2003


def test_drop_stage_removes_metadata_and_files(conn, files: dict[str, Path]) -> None:
    query(conn, "CREATE STAGE SCRATCH")  # unqualified: the session's database and schema
    put(conn, files["config.json"], "@SCRATCH/v1/")
    assert query(conn, 'DROP STAGE "LS_TEST"."PUBLIC"."SCRATCH"') == [("SCRATCH successfully dropped.",)]
    assert "SCRATCH" not in [r[1] for r in query(conn, "SHOW STAGES")]
    with pytest.raises(snowflake.connector.ProgrammingError, match="does not exist"):
        query(conn, "DROP STAGE SCRATCH")
    assert query(conn, "DROP STAGE IF EXISTS SCRATCH") == [
        ("Drop statement executed successfully (SCRATCH already dropped).",)
    ]
    query(conn, "CREATE STAGE SCRATCH")
    assert query(conn, "LIST @SCRATCH") == []  # the files went with the stage


def test_drop_database_takes_its_stages(conn, files: dict[str, Path]) -> None:
    query(conn, 'CREATE DATABASE "DOOMED"')
    query(conn, 'CREATE SCHEMA "DOOMED"."S"')
    query(conn, 'CREATE STAGE "DOOMED"."S"."ST"')
    put(conn, files["config.json"], '@"DOOMED"."S"."ST"/v1/')
    assert query(conn, 'DROP DATABASE "DOOMED"') == [("DOOMED successfully dropped.",)]
    assert "DOOMED" not in [r[1] for r in query(conn, "SHOW DATABASES")]
    assert query(conn, "DROP DATABASE IF EXISTS DOOMED") == [
        ("Drop statement executed successfully (DOOMED already dropped).",)
    ]
    query(conn, 'CREATE DATABASE "DOOMED"')
    query(conn, 'CREATE SCHEMA "DOOMED"."S"')
    query(conn, 'CREATE STAGE "DOOMED"."S"."ST"')
    assert query(conn, 'LIST @"DOOMED"."S"."ST"') == []  # no files came back with the name
    query(conn, 'USE SCHEMA "LS_TEST"."PUBLIC"')


def test_alter_stage_sets_and_unsets_the_comment(conn) -> None:
    query(conn, "CREATE STAGE IF NOT EXISTS COMMENTED ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')")
    assert query(conn, "ALTER STAGE COMMENTED SET COMMENT = 'adopted [t5-deploy]'") == [
        ("Statement executed successfully.",)
    ]
    rows = {r[1]: (r[8], r[10]) for r in query(conn, 'SHOW STAGES IN SCHEMA "LS_TEST"."PUBLIC"')}
    assert rows["COMMENTED"] == ("adopted [t5-deploy]", "INTERNAL NO CSE")  # encryption untouched
    query(conn, 'ALTER STAGE "LS_TEST"."PUBLIC"."COMMENTED" UNSET COMMENT')
    assert {r[1]: r[8] for r in query(conn, "SHOW STAGES")}["COMMENTED"] == ""
    with pytest.raises(snowflake.connector.ProgrammingError, match="does not exist or not authorized"):
        query(conn, "ALTER STAGE NO_SUCH_STAGE SET COMMENT = 'x'")
    assert query(conn, "ALTER STAGE IF EXISTS NO_SUCH_STAGE SET COMMENT = 'x'") == [
        ("Statement executed successfully.",)
    ]
