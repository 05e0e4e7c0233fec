"""Local artifact hashing with a (path, size, mtime) cache.

Re-planning a 250 MB model must be instant: a file whose size and mtime are
unchanged since it was last hashed is not read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    if explicit := os.environ.get("T5_DEPLOY_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "t5-deploy"


def sha256_file(path: Path) -> str:
    return file_digests(path)[0]


def file_digests(path: Path) -> tuple[str, str]:
    """(sha256, md5) in one read: sha256 names versions, md5 is what an SSE stage's LIST shows."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


class HashCache:
    """sha256 and md5 of local files, remembered by (absolute path, size, mtime_ns)."""

    def __init__(self, cache_dir: Path | None = None):
        self.cache_dir = cache_dir or default_cache_dir()
        self.path = self.cache_dir / "sha256.json"
        self._entries: dict[str, list] = {}
        self._dirty = False
        self.hits = 0
        self.misses = 0
        try:
            self._entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._entries = {}

    def digest(self, path: Path) -> tuple[int, str]:
        """(size, sha256) of ``path``, hashing only when the file changed."""
        size, sha, _ = self.digests(path)
        return size, sha

    def digests(self, path: Path) -> tuple[int, str, str]:
        """(size, sha256, md5) of ``path``, hashing only when the file changed."""
        st = path.stat()
        key = str(path.resolve())
        cached = self._entries.get(key)
        # Entries written before md5 was kept have 3 items: hashed once more, then cached.
        if cached and len(cached) == 4 and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            self.hits += 1
            return st.st_size, cached[2], cached[3]
        self.misses += 1
        sha, md5 = file_digests(path)
        self._entries[key] = [st.st_size, st.st_mtime_ns, sha, md5]
        self._dirty = True
        return st.st_size, sha, md5

    def save(self) -> None:
        """Persist atomically; a cache that cannot be written only costs speed."""
        if not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sha256.")
            with os.fdopen(fd, "w") as f:
                json.dump(self._entries, f)
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError:
            pass
