"""Large artifacts in flat memory; partial uploads cleaned at start; imports linked, not copied (issue 12).

`deploy apply` runs as a child process against an embedded Snowflake of this module's own; its
peak memory (ru_maxrss from wait4) and the server's (VmHWM in /proc) are compared between an
apply that uploads a tiny artifact and one that uploads a SIZE one. Before the fix both grew
by at least the file's size (the connector's one-request PUT read the whole file; the server
read the whole body), so a bound well under SIZE tells the two apart on any machine.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import snowflake.connector
from cli_project import ROOT, small_project
from starlette.requests import ClientDisconnect

import localsnow
from deploy.streamed_upload import FileBody, streams
from localsnow import stage_links
from localsnow.paths import Layout
from localsnow.stage_links import COPIED, LINKED, place_read_only
from localsnow.stage_upload import IncompleteUpload, receive_to_file
from localsnow.stages import UPLOAD_TEMP_PREFIX

MIB = 1 << 20
SIZE = 256 * MIB
# Growth allowed over the idle peak: buffers, TLS-free HTTP, hashing; a whole-file read is SIZE.
BOUND = 150 * MIB
DATABASE, SCHEMA = "LARGE_ART", "APP"
MANIFEST = textwrap.dedent(
    f"""\
    apiVersion: 1
    database: {DATABASE}
    schema: {SCHEMA}
    stages:
      CODE:
        files:
          - from: ../udf/handler.py
      WEIGHTS:
        files:
          - from: ../artifacts/latest
    functions:
      PROBE:
        args:
          - {{name: NAME, type: VARCHAR}}
        returns: VARCHAR
        runtime: "3.11"
        handler: handler.probe
        imports:
          - stage: CODE
          - stage: WEIGHTS
    """
)
# Opens an import for writing without writing: tells whether the worker could change it.
HANDLER = textwrap.dedent(
    """\
    import os
    import sys


    def probe(name):
        path = os.path.join(sys._xoptions["snowflake_import_directory"], name)
        try:
            open(path, "r+b").close()
        except PermissionError:
            return "read-only"
        return "writable"
    """
)
DEPLOY = "import sys; from deploy.cli import main; sys.exit(main(sys.argv[1:]))"


def vm_hwm(pid: int) -> int:
    """A process's peak resident memory so far, in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def run_deploy(project: Path, env: dict[str, str], *args: str) -> tuple[int, str, int]:
    """(exit status, output, peak resident bytes) of one `deploy` child process."""
    child = subprocess.Popen(
        [sys.executable, "-c", DEPLOY, "--connection", "local", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert child.stdout is not None
    output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, output, usage.ru_maxrss * 1024  # ru_maxrss: KiB on Linux


def write_artifact(path: Path, size: int) -> str:
    """A file of `size` bytes, each MiB different; its sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for i in range(size // MIB):
            block = i.to_bytes(8, "big") * (MIB // 8)
            handle.write(block)
            digest.update(block)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two applies of one project: a tiny artifact, then a SIZE one; the peaks of both processes."""
    base = tmp_path_factory.mktemp("large")
    (base / "project").mkdir()
    project = small_project(base / "project", MANIFEST, HANDLER)
    artifacts = project / "artifacts" / "latest"
    artifacts.mkdir(parents=True)
    write_artifact(artifacts / "weights.bin", MIB)
    home, config = base / "localsnow", base / "snowflake_home"
    config.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("T5_") and k != "SNOWFLAKE_DEFAULT_CONNECTION_NAME"}
    env.update(
        LOCALSNOW_HOME=str(home),
        SNOWFLAKE_HOME=str(config),
        T5_DEPLOY_CACHE=str(project / ".cache"),
        SNOWFLAKE_DISABLE_PLATFORM_DETECTION="true",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    kwargs = localsnow.ensure_running(home)
    try:
        server = int(localsnow.status(home)["pid"])
        rc, out, idle_deploy = run_deploy(project, env, "apply", "--yes")
        assert rc == 0, out
        idle_server = vm_hwm(server)
        digest = write_artifact(artifacts / "weights.bin", SIZE)
        rc, out, peak_deploy = run_deploy(project, env, "apply", "--yes")
        assert rc == 0, out
        yield {
            "home": home,
            "kwargs": kwargs,
            "server": server,
            "digest": digest,
            "idle_deploy": idle_deploy,
            "peak_deploy": peak_deploy,
            "idle_server": idle_server,
            "peak_server": vm_hwm(server),
            "tmp": base,
        }
    finally:
        localsnow.stop(home)


def staged_weights(home: Path) -> Path:
    """The newest version's weights.bin on the WEIGHTS stage (two applies: two version folders)."""
    paths = sorted(
        (Layout(home).stages_dir / DATABASE / SCHEMA / "WEIGHTS").glob("*/weights.bin"),
        key=lambda p: p.stat().st_size,
    )
    return paths[-1]


@pytest.mark.slow
def test_deploy_uploads_a_large_artifact_in_flat_memory(applied: dict[str, Any]) -> None:
    growth = applied["peak_deploy"] - applied["idle_deploy"]
    assert growth < BOUND, f"deploy grew {growth / MIB:.0f} MiB uploading {SIZE // MIB} MiB"


@pytest.mark.slow
def test_the_server_receives_it_in_flat_memory(applied: dict[str, Any]) -> None:
    growth = applied["peak_server"] - applied["idle_server"]
    assert growth < BOUND, f"the server grew {growth / MIB:.0f} MiB receiving {SIZE // MIB} MiB"


@pytest.mark.slow
def test_the_staged_file_is_byte_identical_read_only_and_streams_back(applied: dict[str, Any]) -> None:
    staged = staged_weights(applied["home"])
    assert staged.stat().st_size == SIZE and sha256(staged) == applied["digest"]
    assert staged.stat().st_mode & 0o777 == 0o444
    assert not list(staged.parent.glob(f"{UPLOAD_TEMP_PREFIX}*"))
    out = applied["tmp"] / "got"
    out.mkdir()
    with snowflake.connector.connect(**applied["kwargs"]) as conn:
        rows = (
            conn.cursor()
            .execute(f"GET @{DATABASE}.{SCHEMA}.WEIGHTS/{staged.parent.name}/weights.bin 'file://{out}'")
            .fetchall()
        )
    assert rows[0][2] == "DOWNLOADED", rows
    assert sha256(out / "weights.bin") == applied["digest"]
    growth = vm_hwm(applied["server"]) - applied["idle_server"]
    assert growth < BOUND, f"the server grew {growth / MIB:.0f} MiB sending {SIZE // MIB} MiB"


@pytest.mark.slow
def test_a_workers_imports_are_links_to_the_staged_files(applied: dict[str, Any]) -> None:
    with snowflake.connector.connect(**applied["kwargs"]) as conn:
        (answer,) = conn.cursor().execute(f"SELECT {DATABASE}.{SCHEMA}.PROBE('weights.bin')").fetchone()  # type: ignore[misc]
    staged = staged_weights(applied["home"])
    imported = [p for p in (Layout(applied["home"]).udf_dir).glob("*/imports/weights.bin") if p.stat().st_size == SIZE]
    assert len(imported) == 1, imported
    assert imported[0].stat().st_ino == staged.stat().st_ino  # the same file: nothing copied
    assert imported[0].stat().st_mode & 0o777 == 0o444
    if os.geteuid() != 0:  # root opens any file for writing: the mode cannot show there
        assert answer == "read-only"


def test_server_start_removes_partial_uploads_and_keeps_stage_files(tmp_path: Path) -> None:
    """A server killed while it wrote an upload left its temporary file; the next start removes it."""
    layout = Layout(tmp_path / "home")
    layout.create()
    folder = layout.stages_dir / "DB" / "S" / "ST" / "v1"
    folder.mkdir(parents=True)
    partial = folder / f"{UPLOAD_TEMP_PREFIX}0123abcd"
    partial.write_bytes(b"\0" * 10240)
    kept = folder / "model.bin"
    kept.write_bytes(b"weights")
    localsnow.ensure_running(layout.home)
    try:
        assert not partial.exists()
        assert kept.read_bytes() == b"weights"
        assert "removed 1 partial upload(s), 10240 bytes" in layout.log_file.read_text()
    finally:
        localsnow.stop(layout.home)


async def _body(chunks: list[bytes], then: BaseException | None = None) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    if then is not None:
        raise then


@pytest.mark.parametrize(
    ("body", "expected", "error"),
    [
        (_body([b"a" * MIB, b"b" * 100], ClientDisconnect()), None, ClientDisconnect),
        (_body([b"a" * 100]), 200, IncompleteUpload),
    ],
    ids=["client-gone", "shorter-than-content-length"],
)
def test_an_upload_cut_short_stores_nothing(tmp_path: Path, body: Any, expected: int | None, error: type) -> None:
    target = tmp_path / "v1" / "model.bin"
    target.parent.mkdir()
    target.write_bytes(b"previous version")
    with pytest.raises(error):
        asyncio.run(receive_to_file(body, target, expected))
    assert target.read_bytes() == b"previous version"
    assert [p.name for p in target.parent.iterdir()] == ["model.bin"]


def test_an_upload_replaces_the_file_whole_and_read_only(tmp_path: Path) -> None:
    target = tmp_path / "v1" / "model.bin"
    size = asyncio.run(receive_to_file(_body([b"x" * MIB] * 3 + [b"tail"]), target, 3 * MIB + 4))
    assert size == 3 * MIB + 4 and target.read_bytes() == b"x" * 3 * MIB + b"tail"
    assert target.stat().st_mode & 0o777 == 0o444


def test_an_import_on_another_device_is_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "stage.bin"
    source.write_bytes(b"model")
    assert place_read_only(source, tmp_path / "linked.bin") == LINKED
    assert (tmp_path / "linked.bin").stat().st_ino == source.stat().st_ino

    def cross_device(_src: Any, _dst: Any) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(stage_links.os, "link", cross_device)
    copied = tmp_path / "copied.bin"
    assert place_read_only(source, copied) == COPIED
    assert copied.read_bytes() == b"model" and copied.stat().st_ino != source.stat().st_ino
    assert copied.stat().st_mode & 0o777 == 0o444


def _client(url: str, size: int, threshold: int = 64 * MIB) -> SimpleNamespace:
    meta = SimpleNamespace(src_stream=None, intermediate_stream=None, upload_size=size, multipart_threshold=threshold)
    return SimpleNamespace(meta=meta, num_of_chunks=1, data_file="/x", presigned_url=url)


def test_only_large_uploads_to_the_embedded_server_are_streamed() -> None:
    """Real accounts keep the connector's own path; small files too (one read is cheaper than a stream)."""
    assert streams(_client("http://127.0.0.1:5000/localsnow/bucket/A/B?sig=x", 64 * MIB))
    assert streams(_client("http://localhost:5000/localsnow/bucket/A/B", 100 * MIB))
    assert not streams(_client("http://127.0.0.1:5000/localsnow/bucket/A/B", 64 * MIB - 1))
    assert not streams(_client("https://storage.googleapis.com/bucket/A/B?X-Goog-Signature=x", 100 * MIB))


def test_a_streamed_body_has_the_files_length_and_restarts_on_each_retry(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"ab" * (MIB + 7))
    body = FileBody(str(path))
    assert len(body) == 2 * MIB + 14  # the Content-Length requests sends (utils.super_len)
    first, second = b"".join(body), b"".join(body)
    assert first == second == path.read_bytes()
