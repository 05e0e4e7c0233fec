"""PUT to the embedded Snowflake in bounded memory: the connector's one-request upload, streamed.

The embedded Snowflake (localsnow) answers PUT as a GCP account does: a presigned URL per file,
then one HTTP PUT of the whole file. For that storage type the connector never uploads in parts:
SnowflakeGCSRestClient passes chunked_transfer=False (gcs_storage_client.py __init__), so
storage_client.prepare_upload sets num_of_chunks = 1 whatever the size, and
storage_client.upload_chunk then reads the whole file into one bytes object (`_data = fd.read()`)
before sending it: a 1 GiB model costs deploy 1 GiB of memory. The connector's parts (8 MiB,
file_transfer_agent._chunk_size_calculator) exist only for S3 and Azure stages, whose clients
build https://<bucket>.<endPoint> addresses (s3_storage_client.py, azure_storage_client.py) that
a plain-HTTP server on 127.0.0.1 cannot answer; its LOCAL_FS client writes 4 MiB chunks straight
into the destination, with no signal when the file is complete, so a reader could see a part.

So, for uploads to a loopback presigned URL at or above the connector's multipart threshold
(meta.multipart_threshold, 64 MiB), `install` makes that one request's body a re-iterable view
of the file: the vendored requests library streams an iterable body with its Content-Length
(requests/models.py prepare_body, utils.super_len: `__len__`), in READ_CHUNK pieces, and each
retry of the connector's retry loop (storage_client._send_request_with_retry calls the URL/args
builder again, which hands back the same body) starts again from the first byte. Uploads to
real accounts are untouched. Tested by tests/localsnow/test_large_artifacts.py.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

READ_CHUNK = 1 << 20
_PATCHED = "_t5_deploy_streamed_upload"


class FileBody:
    """An upload body read from disk on each iteration: len() is the size, iter() yields its bytes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = os.path.getsize(path)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as handle:
            while block := handle.read(READ_CHUNK):
                yield block


def _is_loopback(url: str | None) -> bool:
    host = urlsplit(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def streams(client: Any) -> bool:
    """Whether this upload goes to the embedded Snowflake as one large request read from a file."""
    meta = client.meta
    return (
        client.num_of_chunks == 1
        and meta.src_stream is None
        and meta.intermediate_stream is None
        and client.data_file is not None
        and meta.upload_size >= meta.multipart_threshold
        and _is_loopback(getattr(client, "presigned_url", None))
    )


def install() -> None:
    """Patch the connector's GCS client once per process (idempotent)."""
    from snowflake.connector.gcs_storage_client import SnowflakeGCSRestClient

    original: Callable[[Any, int], None] = SnowflakeGCSRestClient.upload_chunk
    if getattr(original, _PATCHED, False):
        return

    def upload_chunk(self: Any, chunk_id: int) -> None:
        if not streams(self):
            original(self, chunk_id)
            return
        # _upload_chunk puts `chunk` in the request's data; a FileBody is streamed, not held.
        self._upload_chunk(chunk_id, FileBody(self.data_file))

    setattr(upload_chunk, _PATCHED, True)
    SnowflakeGCSRestClient.upload_chunk = upload_chunk  # type: ignore[method-assign]
