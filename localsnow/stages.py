"""Named internal stages: metadata in fakesnow's stage table, files under the bucket root."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from duckdb import DuckDBPyConnection

from localsnow import errors
from localsnow.names import ObjectName, StageLocation
from localsnow.paths import remove_tree

STAGES_TABLE = "_fs_global._fs_information_schema._fs_stages"
# Uploads land in a hidden temporary name first, then are renamed into place.
UPLOAD_TEMP_PREFIX = ".localsnow-upload-"


@dataclass(frozen=True)
class StageFile:
    relative: str
    path: Path
    size: int
    mtime: float


class StageStore:
    def __init__(self, duck: DuckDBPyConnection, root: Path) -> None:
        self._duck = duck
        self.root = root
        self._md5_cache: dict[tuple[str, int, int], str] = {}
        self._md5_lock = threading.Lock()

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

    def directory(self, name: ObjectName) -> Path:
        return self.root / name.database / name.schema / name.name

    @staticmethod
    def listed_name(name: ObjectName, relative: str) -> str:
        """LIST shows the lower-cased stage name followed by the path."""
        return f"{name.name.lower()}/{relative}"

    def files(self, location: StageLocation, pattern: str | None = None) -> list[StageFile]:
        """Files whose path starts with the location's path (Snowflake's prefix match)."""
        base = self.directory(location.stage)
        regex = re.compile(pattern) if pattern else None
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
                listed = self.listed_name(location.stage, relative)
                if regex and not (regex.fullmatch(relative) or regex.fullmatch(listed)):
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

    def md5(self, file: StageFile) -> str:
        """md5 of the stored bytes, cached by (path, size, mtime) so LIST stays cheap."""
        info = file.path.stat()
        key = (str(file.path), info.st_size, info.st_mtime_ns)
        with self._md5_lock:
            cached = self._md5_cache.get(key)
        if cached:
            return cached
        digest = hashlib.md5(usedforsecurity=False)
        with file.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        with self._md5_lock:
            self._md5_cache[key] = digest.hexdigest()
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
