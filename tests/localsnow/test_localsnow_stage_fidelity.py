"""Stage behaviours real Snowflake documents, through the real connector: encryption, LIST, REMOVE, PUT globs."""

from __future__ import annotations

import datetime
import email.utils
import glob
import hashlib
import re
from pathlib import Path

import pytest
import snowflake.connector
from ls_helpers import put, query

from localsnow import stages as stage_module
from localsnow.names import ObjectName
from localsnow.stages import SNOWFLAKE_FULL, SNOWFLAKE_SSE, StageFile, StageStore, last_modified

FULL = '"LS_TEST"."PUBLIC"."FULL_ST"'
SSE = '"LS_TEST"."PUBLIC"."SSE_ST"'
SIZES = (0, 1, 15, 16, 17, 1000)
LAST_MODIFIED = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [1-9]\d? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d\d:\d\d:\d\d GMT"
)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def stage_types(conn: snowflake.connector.SnowflakeConnection) -> dict[str, str]:
    cur = conn.cursor().execute('SHOW STAGES IN SCHEMA "LS_TEST"."PUBLIC"')
    names = [d.name for d in cur.description]
    return {row[names.index("name")]: row[names.index("type")] for row in cur.fetchall()}


@pytest.fixture(scope="module")
def sized_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    directory = tmp_path_factory.mktemp("sized")
    files = {}
    for size in SIZES:
        files[size] = directory / f"f{size}.bin"
        files[size].write_bytes(bytes(i % 251 for i in range(size)))
    return files


@pytest.fixture(scope="module")
def stages(conn: snowflake.connector.SnowflakeConnection) -> None:
    query(conn, f"CREATE STAGE IF NOT EXISTS {FULL}")
    query(conn, f"CREATE STAGE IF NOT EXISTS {SSE} ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')")


def listed(conn: snowflake.connector.SnowflakeConnection, location: str) -> dict[str, tuple[int, str, str]]:
    return {name: (size, digest, modified) for name, size, digest, modified in query(conn, f"LIST {location}")}


def test_encryption_defaults_to_snowflake_full_and_shows_in_show_stages(conn, stages) -> None:
    query(conn, "CREATE STAGE EXPLICIT_FULL ENCRYPTION = (TYPE = 'SNOWFLAKE_FULL')")
    types = stage_types(conn)
    # SHOW STAGES "type": INTERNAL = SNOWFLAKE_FULL, "INTERNAL NO CSE" = SNOWFLAKE_SSE (SnowDDL resolver/stage.py)
    assert (types["FULL_ST"], types["SSE_ST"], types["EXPLICIT_FULL"]) == ("INTERNAL", "INTERNAL NO CSE", "INTERNAL")

    # IF NOT EXISTS leaves an existing stage as it is, its encryption included; OR REPLACE does not
    assert query(conn, f"CREATE STAGE IF NOT EXISTS {SSE}") == [("SSE_ST already exists, statement succeeded.",)]
    assert stage_types(conn)["SSE_ST"] == "INTERNAL NO CSE"
    query(conn, "CREATE OR REPLACE STAGE REPLACED ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE') COMMENT = 'c'")
    assert stage_types(conn)["REPLACED"] == "INTERNAL NO CSE"
    query(conn, "CREATE OR REPLACE STAGE REPLACED")
    assert stage_types(conn)["REPLACED"] == "INTERNAL"

    for bad in ("(TYPE = 'AWS_SSE_S3')", "(TYPE = 'NONE')", "(MASTER_KEY = 'x')"):
        with pytest.raises(snowflake.connector.ProgrammingError, match="ENCRYPTION"):
            query(conn, f"CREATE STAGE BAD_ST ENCRYPTION = {bad}")
    assert "BAD_ST" not in stage_types(conn)


def test_list_on_snowflake_full_pads_size_and_hides_the_plaintext_md5(conn, stages, sized_files) -> None:
    for path in sized_files.values():
        put(conn, path, f"@{FULL}/v1/")
    first = listed(conn, f"@{FULL}/v1/")
    for size, path in sized_files.items():
        got_size, digest, _ = first[f"full_st/v1/{path.name}"]
        assert got_size == 16 * (size // 16 + 1)  # AES-CBC/PKCS#5 ciphertext: a 0-byte file lists as 16
        assert re.fullmatch(r"[0-9a-f]{32}", digest) and digest != md5(path.read_bytes())
    assert listed(conn, f"@{FULL}/v1/") == first  # stable while the object stays

    put(conn, sized_files[17], f"@{FULL}/v1/")  # the same bytes again: a fresh file key, a new ciphertext
    again = listed(conn, f"@{FULL}/v1/")
    assert again["full_st/v1/f17.bin"][:2] != first["full_st/v1/f17.bin"][:2]
    assert again["full_st/v1/f17.bin"][0] == 32


def test_list_on_snowflake_sse_shows_plaintext_size_and_md5(conn, stages, sized_files) -> None:
    for path in sized_files.values():
        put(conn, path, f"@{SSE}/v1/")
    rows = listed(conn, f"@{SSE}/v1/")
    assert {name: row[:2] for name, row in rows.items()} == {
        f"sse_st/v1/{path.name}": (size, md5(path.read_bytes())) for size, path in sized_files.items()
    }
    assert rows["sse_st/v1/f0.bin"][1] == "d41d8cd98f00b204e9800998ecf8427e"


def test_last_modified_is_snowflakes_text(conn, stages, sized_files) -> None:
    put(conn, sized_files[1], f"@{SSE}/dates/")
    cur = conn.cursor().execute(f"LIST @{SSE}/dates/")
    assert cur.description[3].name == "last_modified" and cur.description[3].type_code == 2  # TEXT
    ((_, _, _, modified),) = cur.fetchall()
    assert isinstance(modified, str) and LAST_MODIFIED.fullmatch(modified), modified
    when = email.utils.parsedate_to_datetime(modified)
    assert abs((datetime.datetime.now(datetime.UTC) - when).total_seconds()) < 300
    # the day of the month is not zero-padded (snowflake-cli tests/stage/test_diff.py)
    moment = datetime.datetime(2024, 3, 1, 20, 56, 24, tzinfo=datetime.UTC).timestamp()
    assert last_modified(moment) == "Fri, 1 Mar 2024 20:56:24 GMT"
    assert last_modified(moment + 9 * 86400 - 20 * 3600) == "Sun, 10 Mar 2024 00:56:24 GMT"


def test_remove_is_a_prefix_match(conn, stages, tmp_path: Path) -> None:
    (tmp_path / "config").write_text("a")
    (tmp_path / "config.json").write_text("{}")
    for name in ("config", "config.json"):
        put(conn, tmp_path / name, f"@{SSE}/pre/")
    # REMOVE @s/path takes every file whose path begins with it (docs: sql/remove, "path")
    assert sorted(query(conn, f"REMOVE @{SSE}/pre/config")) == [
        ("sse_st/pre/config", "removed"),
        ("sse_st/pre/config.json", "removed"),
    ]
    assert query(conn, f"LIST @{SSE}/pre/") == []


def test_pattern_matches_the_listed_name_whole(conn, stages, tmp_path: Path) -> None:
    (tmp_path / "config").write_text("a")
    (tmp_path / "config.json").write_text("{}")
    for name in ("config", "config.json"):
        put(conn, tmp_path / name, f"@{SSE}/pat/")
    # the regex is applied to the name LIST shows (stage name first) and must match all of it
    assert [r[0] for r in query(conn, f"LIST @{SSE}/pat/ PATTERN = 'pat/config'")] == []
    assert [r[0] for r in query(conn, f"LIST @{SSE}/pat/ PATTERN = '.*/config'")] == ["sse_st/pat/config"]
    assert [r[0] for r in query(conn, f"LIST @{SSE} PATTERN = '.*\\\\.json'")] == ["sse_st/pat/config.json"]
    # one exact file: the prefix narrows, the anchored pattern picks it
    exact = re.escape("sse_st/pat/config")
    assert query(conn, f"REMOVE @{SSE}/pat/config PATTERN = '{exact}'") == [("sse_st/pat/config", "removed")]
    assert [r[0] for r in query(conn, f"LIST @{SSE}/pat/")] == ["sse_st/pat/config.json"]
    with pytest.raises(snowflake.connector.ProgrammingError, match="regular expression"):
        query(conn, f"LIST @{SSE} PATTERN = '('")


def test_put_escaped_glob_characters(conn, stages, tmp_path: Path) -> None:
    odd = tmp_path / "model[1].json"
    odd.write_text('{"odd": true}')
    (tmp_path / "model1.json").write_text('{"decoy": true}')
    # the connector globs the local path: escaped, the name is taken literally
    rows = query(conn, f"PUT 'file://{glob.escape(str(odd))}' '@{SSE}/glob/' AUTO_COMPRESS=FALSE")
    assert [(r[0], r[1], r[6]) for r in rows] == [("model[1].json", "model[1].json", "UPLOADED")]
    assert listed(conn, f"@{SSE}/glob/")["sse_st/glob/model[1].json"][:2] == (13, md5(odd.read_bytes()))
    # unescaped, [1] is a character class: the connector uploads model1.json instead
    rows = query(conn, f"PUT 'file://{odd}' '@{SSE}/glob2/' AUTO_COMPRESS=FALSE")
    assert [r[0] for r in rows] == ["model1.json"]
    # GET brings the bracketed name back intact
    (tmp_path / "out").mkdir()
    assert query(conn, f"GET '@{SSE}/glob/model[1].json' 'file://{tmp_path}/out/'")[0][2] == "DOWNLOADED"
    assert (tmp_path / "out" / "model[1].json").read_text() == '{"odd": true}'


def _expected_multipart(data: bytes, chunk: int) -> str:
    """snowflake-cli _plugins/stage/md5.py compute_md5sum with a chunk size."""
    parts = [hashlib.md5(data[i : i + chunk]).digest() for i in range(0, len(data), chunk)]
    return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


def test_multipart_md5_above_the_connector_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Scaled down: a 1 KiB part size and a 4 KiB threshold instead of 8 MiB and 64 MiB.
    assert (stage_module.MULTIPART_THRESHOLD, stage_module.S3_CHUNK_SIZE) == (64 * 1024**2, 8 * 1024**2)
    monkeypatch.setattr(stage_module, "S3_CHUNK_SIZE", 1024)
    store = StageStore(None, tmp_path, b"secret")  # type: ignore[arg-type]
    store.multipart_threshold = 4096
    path = tmp_path / "big.bin"
    for size, parts in ((10 * 1024, 10), (4096, 4), (4095, 0)):
        data = bytes(i % 7 for i in range(size))
        path.write_bytes(data)
        file = StageFile("big.bin", path, size, path.stat().st_mtime)
        got_size, digest, _ = store.listing(file, SNOWFLAKE_SSE)
        assert got_size == size
        assert digest == (_expected_multipart(data, 1024) if parts else md5(data))
        # SNOWFLAKE_FULL: the ciphertext (one padding block more) is what is split into parts
        got_size, digest, _ = store.listing(file, SNOWFLAKE_FULL)
        assert got_size == 16 * (size // 16 + 1)
        assert re.fullmatch(r"[0-9a-f]{32}-" + str(-(-got_size // 1024)), digest)  # always >= 4096 here
    assert store.listed_name(ObjectName("D", "S", "Mixed"), "a/b") == "mixed/a/b"
