"""Named internal stages: metadata in fakesnow's stage table, files under the bucket root.

Files are stored as the client sent them (plaintext); what LIST reports about them
depends on the stage's encryption type, as in Snowflake (see `listing`).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from duckdb import DuckDBPyConnection

from localsnow import errors
from localsnow.names import ObjectName, StageLocation
from localsnow.paths import remove_tree

STAGES_TABLE = "_fs_global._fs_information_schema._fs_stages"
# Uploads land in a hidden temporary name first, then are renamed into place (localsnow.stage_upload);
# LIST skips the name, and the server removes leftovers of a killed predecessor at start.
UPLOAD_TEMP_PREFIX = ".localsnow-upload-"

# CREATE STAGE ... ENCRYPTION = (TYPE = 'SNOWFLAKE_FULL' | 'SNOWFLAKE_SSE'); SNOWFLAKE_FULL
# (client-side + server-side) is the default for internal stages
# (https://docs.snowflake.com/en/sql-reference/sql/create-stage, internalStageParams;
# snowflake-cli `snow stage create --encryption`, default SNOWFLAKE_FULL).
SNOWFLAKE_FULL = "SNOWFLAKE_FULL"
SNOWFLAKE_SSE = "SNOWFLAKE_SSE"
ENCRYPTION_TYPES = (SNOWFLAKE_FULL, SNOWFLAKE_SSE)
# SHOW STAGES "type" is how Snowflake exposes it: INTERNAL for SNOWFLAKE_FULL, "INTERNAL NO CSE"
# (no client-side encryption) for SNOWFLAKE_SSE. SnowDDL snowddl/resolver/stage.py compares
# exactly these; Titan titan/data_provider.py fetch_stage accepts both. DESCRIBE STAGE has no
# encryption row (Terraform provider, snowflake_stage_internal: "Snowflake does not return
# encryption settings in DESCRIBE or SHOW STAGE output").
INTERNAL_STAGE_TYPE = "INTERNAL"
SSE_STAGE_TYPE = "INTERNAL NO CSE"

# The connector uploads in parts at and above 64 MiB (multipart_threshold = 67108864,
# "Historical value"; storage_client.py: upload_size < threshold -> one chunk), in 8 MiB S3
# parts unless that needs more than 10,000 parts (file_transfer_agent._chunk_size_calculator,
# constants.S3_DEFAULT_CHUNK_SIZE / S3_MAX_PARTS / S3_MIN_PART_SIZE). Such an object's md5 is
# "<md5 of the concatenated part md5s>-<parts>" (snowflake-cli _plugins/stage/md5.py).
MULTIPART_THRESHOLD = 67108864
S3_CHUNK_SIZE = 8 * 1024**2
S3_MAX_PARTS = 10000
S3_MIN_PART_SIZE = 5 * 1024**2
AES_BLOCK = 16
_READ = 1 << 20
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def last_modified(mtime: float) -> str:
    """LIST's last_modified text: 'Tue, 5 Sep 2023 17:59:21 GMT' -- day of month not zero-padded.

    The shape of snowflake-cli tests/stage/test_diff.py (DEFAULT_LAST_MODIFIED), i.e. Java's
    RFC_1123_DATE_TIME; email.utils.formatdate would pad the day ('05').
    """
    t = datetime.datetime.fromtimestamp(mtime, datetime.UTC)
    return f"{_WEEKDAYS[t.weekday()]}, {t.day} {_MONTHS[t.month - 1]} {t.year} {t:%H:%M:%S} GMT"


def encrypted_size(size: int) -> int:
    """AES-CBC with PKCS#5 padding always adds 1-16 bytes: 16 * (n // 16 + 1); 0 bytes -> 16.

    connector encryption_util.py (encrypt_stream pads the last block, or appends a full block
    of padding); sfquickstarts getting_started_with_snowflake_cli shows source_size 0, target_size 16.
    """
    return AES_BLOCK * (size // AES_BLOCK + 1)


def part_size(size: int) -> int:
    """The connector's S3 part size for an upload of `size` bytes."""
    if math.ceil(size / S3_CHUNK_SIZE) > S3_MAX_PARTS:
        return max(math.ceil(size / S3_MAX_PARTS), S3_MIN_PART_SIZE)
    return S3_CHUNK_SIZE


class _ObjectMd5:
    """The md5 a stage shows for an uploaded object: plain, or multipart '<md5>-<parts>'."""

    def __init__(self, source_size: int, upload_size: int, threshold: int) -> None:
        # The part size follows the source file's size, the part count the uploaded bytes'.
        self._chunk = part_size(source_size) if upload_size >= threshold else 0
        self._whole = hashlib.md5(usedforsecurity=False)
        self._part = hashlib.md5(usedforsecurity=False)
        self._left = self._chunk
        self._parts: list[bytes] = []

    def update(self, data: bytes) -> None:
        if not self._chunk:
            self._whole.update(data)
            return
        view = memoryview(data)
        while view:
            take = view[: self._left]
            self._part.update(take)
            self._left -= len(take)
            view = view[len(take) :]
            if not self._left:
                self._parts.append(self._part.digest())
                self._part, self._left = hashlib.md5(usedforsecurity=False), self._chunk

    def hexdigest(self) -> str:
        if not self._chunk:
            return self._whole.hexdigest()
        if self._left != self._chunk:
            self._parts.append(self._part.digest())
        return f"{hashlib.md5(b''.join(self._parts), usedforsecurity=False).hexdigest()}-{len(self._parts)}"


@dataclass(frozen=True)
class StageFile:
    relative: str
    path: Path
    size: int
    mtime: float


class StageStore:
    def __init__(self, duck: DuckDBPyConnection, root: Path, secret: bytes = b"") -> None:
        self._duck = duck
        self.root = root
        self._secret = secret
        self._md5_cache: dict[tuple[object, ...], str] = {}
        self._md5_lock = threading.Lock()
        self.multipart_threshold = MULTIPART_THRESHOLD

    @contextmanager
    def _cursor(self) -> Iterator[DuckDBPyConnection]:
        cursor = self._duck.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def exists(self, name: ObjectName) -> bool:
        with self._cursor() as cur:
            row = cur.execute(
                f"SELECT 1 FROM {STAGES_TABLE} WHERE database_name = ? AND schema_name = ? AND name = ?",
                [name.database, name.schema, name.name],
            ).fetchone()
        return row is not None

    def require(self, name: ObjectName) -> None:
        if not self.exists(name):
            raise errors.does_not_exist("Stage", name.dotted)

    def count(self) -> int:
        with self._cursor() as cur:
            return int(cur.execute(f"SELECT count(*) FROM {STAGES_TABLE}").fetchone()[0])  # type: ignore[index]

    def set_comment(self, name: ObjectName, comment: str) -> None:
        with self._cursor() as cur:
            cur.execute(
                f"UPDATE {STAGES_TABLE} SET comment = ? WHERE database_name = ? AND schema_name = ? AND name = ?",
                [comment, name.database, name.schema, name.name],
            )

    def set_encryption(self, name: ObjectName, encryption: str) -> None:
        """Record SNOWFLAKE_SSE as Snowflake shows it, in SHOW STAGES "type" (persisted with the stage)."""
        if encryption != SNOWFLAKE_SSE:
            return  # fakesnow's INTERNAL is SNOWFLAKE_FULL's type already
        with self._cursor() as cur:
            cur.execute(
                f"UPDATE {STAGES_TABLE} SET type = ? WHERE database_name = ? AND schema_name = ? AND name = ? "
                "AND type = ?",
                [SSE_STAGE_TYPE, name.database, name.schema, name.name, INTERNAL_STAGE_TYPE],
            )

    def encryption(self, name: ObjectName) -> str:
        with self._cursor() as cur:
            row = cur.execute(
                f"SELECT type FROM {STAGES_TABLE} WHERE database_name = ? AND schema_name = ? AND name = ?",
                [name.database, name.schema, name.name],
            ).fetchone()
        return SNOWFLAKE_SSE if row and row[0] == SSE_STAGE_TYPE else SNOWFLAKE_FULL

    def directory(self, name: ObjectName) -> Path:
        return self.root / name.database / name.schema / name.name

    @staticmethod
    def listed_name(name: ObjectName, relative: str) -> str:
        """LIST shows the lower-cased stage name followed by the path."""
        return f"{name.name.lower()}/{relative}"

    def files(self, location: StageLocation, pattern: str | None = None) -> list[StageFile]:
        """Files whose path starts with the location's path, then those whose name matches PATTERN.

        The path is a prefix ("files have names that begin with a common string":
        https://docs.snowflake.com/en/sql-reference/sql/list, .../sql/remove), so @s/v/config
        also takes v/config.json. PATTERN is applied "on each of the files found", i.e. to the
        name LIST shows, stage name included, and must match it whole: Snowflake's own
        examples anchor with a leading '.*' ('.*data.csv.gz' in connector test_put_get.py,
        '.*test.*' in Snowpark FileOperation.list/remove).
        """
        base = self.directory(location.stage)
        try:
            regex = re.compile(pattern) if pattern else None
        except re.error as error:
            raise errors.compilation_error(f"Invalid regular expression '{pattern}': {error}") from None
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for filename in sorted(filenames):
                if filename.startswith(UPLOAD_TEMP_PREFIX):
                    continue
                path = Path(dirpath) / filename
                relative = path.relative_to(base).as_posix()
                if not relative.startswith(location.path):
                    continue
                if regex and not regex.fullmatch(self.listed_name(location.stage, relative)):
                    continue
                info = path.stat()
                found.append(StageFile(relative, path, info.st_size, info.st_mtime))
        return sorted(found, key=lambda f: f.relative)

    def file(self, location: StageLocation) -> StageFile | None:
        """The one file at exactly this location, if it exists."""
        path = self.directory(location.stage) / location.path
        if not location.path or not path.is_file():
            return None
        info = path.stat()
        return StageFile(location.path, path, info.st_size, info.st_mtime)

    def listing(self, file: StageFile, encryption: str) -> tuple[int, str, str]:
        """(size, md5, last_modified) as LIST shows them for this stage's encryption type.

        SNOWFLAKE_SSE: the uploaded bytes' size and md5 (snowflake-cli tests/stage/test_diff.py
        lists SSE stages so). SNOWFLAKE_FULL: the client encrypted the file with a fresh random
        key (connector encryption_util.py), so the object is the ciphertext: padded size, and
        an md5 that is never the plaintext's and changes on every upload of the same bytes
        (snowflake-cli md5.py: "If the stage uses SNOWFLAKE_FULL encryption, this will fail to
        provide a matching md5sum"; SnowDDL resolver/stage_file.py: LIST md5 and size "not
        reliable due to encryption"). Here that ciphertext is computed, not stored: AES-CBC
        under a key derived from this upload's identity (inode, mtime), so it is stable until
        the file is uploaded again.
        """
        info = file.path.stat()
        full = encryption != SNOWFLAKE_SSE
        size = encrypted_size(info.st_size) if full else info.st_size
        key = (str(file.path), info.st_ino, info.st_size, info.st_mtime_ns, full, self.multipart_threshold)
        with self._md5_lock:
            digest = self._md5_cache.get(key)
        if digest is None:
            digest = self._digest(file.path, info, size, full)
            with self._md5_lock:
                self._md5_cache[key] = digest
        return size, digest, last_modified(info.st_mtime)

    def _digest(self, path: Path, info: os.stat_result, upload_size: int, full: bool) -> str:
        digest = _ObjectMd5(info.st_size, upload_size, self.multipart_threshold)
        if not full:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(_READ), b""):
                    digest.update(block)
            return digest.hexdigest()
        upload = f"{path}\0{info.st_ino}\0{info.st_mtime_ns}\0{info.st_size}".encode()
        material = hmac.new(self._secret, upload, hashlib.sha256).digest()
        # The connector's file key is random per upload; this one is fixed per stored upload.
        encrypt = Cipher(algorithms.AES(material[:16]), modes.CBC(material[16:])).encryptor()
        pad = padding.PKCS7(8 * AES_BLOCK).padder()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_READ), b""):
                digest.update(encrypt.update(pad.update(block)))
        digest.update(encrypt.update(pad.finalize()) + encrypt.finalize())
        return digest.hexdigest()

    def remove(self, location: StageLocation, pattern: str | None = None) -> list[str]:
        removed = []
        for file in self.files(location, pattern):
            file.path.unlink(missing_ok=True)
            removed.append(self.listed_name(location.stage, file.relative))
        self._prune_empty_dirs(self.directory(location.stage))
        return removed

    @staticmethod
    def _prune_empty_dirs(base: Path) -> None:
        for dirpath, _dirnames, _filenames in os.walk(base, topdown=False):
            if Path(dirpath) != base:
                with suppress(OSError):  # not empty
                    os.rmdir(dirpath)

    def drop(self, name: ObjectName) -> None:
        with self._cursor() as cur:
            cur.execute(
                f"DELETE FROM {STAGES_TABLE} WHERE database_name = ? AND schema_name = ? AND name = ?",
                [name.database, name.schema, name.name],
            )
        remove_tree(self.directory(name))

    def drop_scope(self, database: str, schema: str | None = None) -> None:
        """Forget the stages of a dropped database or schema, with their files."""
        where, params = "database_name = ?", [database]
        if schema is not None:
            where, params = where + " AND schema_name = ?", [database, schema]
        with self._cursor() as cur:
            cur.execute(f"DELETE FROM {STAGES_TABLE} WHERE {where}", params)
        remove_tree(self.root / database / schema if schema else self.root / database)
