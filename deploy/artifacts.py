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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class HashCache:
    """sha256 of local files, remembered by (absolute path, size, mtime_ns)."""

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
        st = path.stat()
        key = str(path.resolve())
        cached = self._entries.get(key)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            self.hits += 1
            return st.st_size, cached[2]
        self.misses += 1
        digest = sha256_file(path)
        self._entries[key] = [st.st_size, st.st_mtime_ns, digest]
        self._dirty = True
        return st.st_size, digest

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
