"""Stage files written and read in bounded memory, whatever their size.

An upload streams the request body into a hidden temporary file in the target's folder, is
fsynced, then renamed over the target: readers (LIST, GET, UDF imports) see the old file or the
whole new one, never a part, and a server killed mid-upload leaves only the temporary file,
which `sweep_partial_uploads` removes at the next start. Stage files are made read-only
(0444): a UDF's import folder hard-links them (localsnow.stage_links), so the permission is
what keeps a worker from changing the stage through its import.
"""

from __future__ import annotations

import logging
import os
import stat
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool

from localsnow.stages import UPLOAD_TEMP_PREFIX

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
# Body chunks (uvicorn hands them over in at most 64 KiB pieces) are gathered up to this size
# before one write in a worker thread: few thread hops, and memory bounded by it.
WRITE_BUFFER = 1 << 20
READ_CHUNK = 1 << 20

logger = logging.getLogger("localsnow.stage_upload")


class IncompleteUpload(Exception):
    """The body ended before its Content-Length: nothing was stored."""


def _fsync_directory(folder: Path) -> None:
    """Make the rename durable (a killed server must not lose an acknowledged upload)."""
    with suppress(OSError):  # some file systems cannot open or fsync a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


async def receive_to_file(body: AsyncIterator[bytes], target: Path, expected: int | None) -> int:
    """Write `body` to `target` atomically; return its size. At most WRITE_BUFFER bytes are held.

    `expected` is the request's Content-Length: a body that ends short (client gone) stores nothing.
    """
    await run_in_threadpool(target.parent.mkdir, parents=True, exist_ok=True)
    temp = target.with_name(f"{UPLOAD_TEMP_PREFIX}{uuid.uuid4().hex}")
    handle = await run_in_threadpool(open, temp, "wb")
    written = 0
    try:
        buffer = bytearray()
        async for chunk in body:
            buffer += chunk
            if len(buffer) >= WRITE_BUFFER:
                await run_in_threadpool(handle.write, bytes(buffer))
                written += len(buffer)
                buffer.clear()
        if buffer:
            await run_in_threadpool(handle.write, bytes(buffer))
            written += len(buffer)
        if expected is not None and written != expected:
            raise IncompleteUpload(f"received {written} of {expected} bytes")
        await run_in_threadpool(_commit, handle, temp, target)
    except BaseException:
        handle.close()
        with suppress(OSError):
            temp.unlink()
        raise
    return written


def _commit(handle: BinaryIO, temp: Path, target: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.chmod(temp, READ_ONLY)
    os.replace(temp, target)  # rename(2): atomic within the folder
    _fsync_directory(target.parent)


def open_for_reading(path: Path) -> tuple[int, Iterator[bytes]] | None:
    """(size, chunks) of one stage file, from one open file: a concurrent re-upload (a rename) does
    not mix two versions into one download. None if the file is not there."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 -- closed by the generator
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    size = os.fstat(handle.fileno()).st_size

    def chunks() -> Iterator[bytes]:
        with handle:
            while block := handle.read(READ_CHUNK):
                yield block

    return size, chunks()


def sweep_partial_uploads(root: Path) -> tuple[int, int]:
    """Delete the temporary files of uploads a killed server left under the stage root.

    Called at server start, when no upload can be in flight: DuckDB's file lock lets only one
    server open a home's state. Returns (files, bytes) removed.
    """
    files = size = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if not name.startswith(UPLOAD_TEMP_PREFIX):
                continue
            path = Path(dirpath) / name
            with suppress(FileNotFoundError):
                size += path.stat().st_size
                path.unlink()
                files += 1
    if files:
        logger.info("removed %d partial upload(s), %d bytes, left by an earlier server", files, size)
    return files, size
