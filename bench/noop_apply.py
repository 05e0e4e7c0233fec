"""No-op apply against the embedded Snowflake: bytes uploaded, statements, seconds.

Baseline: the first apply into an empty account (same process, same
artifacts). Then the same apply again, which must upload 0 bytes and run no
DDL. Prints both and the ratio of their wall times.

    python bench/noop_apply.py [--artifacts artifacts/latest] [--encryption sse|full]

`--encryption` sets every stage's `encryption:` in the copied manifests: on
SNOWFLAKE_FULL stages LIST shows padded ciphertext sizes and md5s, on
SNOWFLAKE_SSE plaintext ones, and the no-op apply must upload 0 bytes on both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

import localsnow
from deploy.connection import connect, resolve_connection
from deploy.reconcile import Workspace, apply, plan
from deploy.session import Session

ROOT = Path(__file__).resolve().parents[1]


def run_once(ws: Workspace) -> dict[str, float]:
    session = Session(connect(resolve_connection("local")))
    t0 = time.perf_counter()
    try:
        the_plan, _ = plan(session, ws.desired())
        result = apply(session, ws, the_plan) if not the_plan.is_empty else None
    finally:
        session.close()
    return {
        "seconds": time.perf_counter() - t0,
        "statements": session.log.count,
        "ddl": result.ddl if result else 0,
        "bytes": result.bytes_uploaded if result else 0,
        "files": result.files_uploaded if result else 0,
    }


def set_encryption(manifests: Path, encryption: str) -> None:
    for path in manifests.glob("*.y*ml"):
        document = yaml.safe_load(path.read_text())
        for body in (document.get("stages") or {}).values():
            body["encryption"] = encryption
        path.write_text(yaml.safe_dump(document, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", type=Path, default=ROOT / "artifacts" / "latest")
    parser.add_argument("--encryption", choices=["sse", "full"], help="encryption of every stage (default: manifests)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "localsnow"
        os.environ.update(
            LOCALSNOW_HOME=str(home),
            T5_DEPLOY_CACHE=str(Path(tmp) / "cache"),
            T5_ARTIFACTS=str(args.artifacts.resolve()),
            SNOWFLAKE_HOME=str(Path(tmp) / "no-config"),
        )
        shutil.copytree(ROOT / "manifests", Path(tmp) / "manifests")
        if args.encryption:
            set_encryption(Path(tmp) / "manifests", args.encryption)
        shutil.copytree(ROOT / "udf", Path(tmp) / "udf")
        shutil.copy(ROOT / "snowflake.yml", Path(tmp) / "snowflake.yml")  # the project root
        ws = Workspace(Path(tmp) / "manifests", Path(tmp) / "cache")
        localsnow.ensure_running(home)
        try:
            first = run_once(ws)
            noop = run_once(ws)
        finally:
            localsnow.stop(home)
    print(f"stage encryption: {args.encryption or 'as the manifests say'}")
    for label, r in (("first apply (baseline)", first), ("no-op apply", noop)):
        print(
            f"{label}: {r['statements']} statements ({r['ddl']} DDL), {r['files']} files, "
            f"{r['bytes']} bytes uploaded, {r['seconds']:.2f} s"
        )
    assert noop["bytes"] == 0 and noop["ddl"] == 0
    print(f"ratio: {first['seconds'] / noop['seconds']:.1f}")


if __name__ == "__main__":
    main()
