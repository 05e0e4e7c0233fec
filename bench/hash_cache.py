"""Artifact hashing with a warm (path, size, mtime) cache against a cold one.

Re-planning must not re-read a large model. Prints the seconds for each and
their ratio (cold / warm), measured in this process on the same file.

    python bench/hash_cache.py [--mb 256]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from deploy.artifacts import HashCache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=256, help="size of the stand-in model file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        with open(path, "wb") as f:
            for _ in range(args.mb):
                f.write(os.urandom(1 << 20))
        cache_dir = Path(tmp) / "cache"

        t0 = time.perf_counter()
        cold = HashCache(cache_dir)
        digest_cold = cold.digest(path)
        cold.save()
        cold_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        warm = HashCache(cache_dir)  # a new process would load the cache file like this
        digest_warm = warm.digest(path)
        warm_s = time.perf_counter() - t0

    assert digest_cold == digest_warm and warm.hits == 1 and cold.misses == 1
    print(f"file: {args.mb} MiB")
    print(f"cold hash: {cold_s * 1000:.1f} ms")
    print(f"warm hash: {warm_s * 1000:.3f} ms")
    print(f"ratio: {cold_s / warm_s:.0f}")


if __name__ == "__main__":
    main()
