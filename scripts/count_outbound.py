"""Count the outbound (non-loopback) connection attempts of one `deploy --connection local plan`.

Runs the command in a fresh copy of the project against a fresh embedded
Snowflake, every Python process under tests/netguard (via PYTHONPATH): each
attempt to connect, send or resolve beyond loopback is refused before the
syscall -- nothing is sent -- and logged. Prints the count and what was tried.

    python scripts/count_outbound.py [--repo PATH] [--artifacts DIR]

--repo measures another checkout's code (e.g. a `git worktree` of an older
commit) with this checkout's guard; --artifacts reuses a model directory
(model/ + tokenizer/) instead of bootstrapping a small one (~30 s).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUARD_SITE = ROOT / "tests" / "netguard" / "pythonpath"  # holds the guard's sitecustomize.py


def _records(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text("utf-8").splitlines() if line.strip()]


def count(repo: Path, artifacts: Path | None, work: Path) -> tuple[int, list[dict]]:
    """(exit status of the plan, the attempts logged by all its processes, the server's included)."""
    project, home, log = work / "project", work / "localsnow", work / "netguard.jsonl"
    shutil.copytree(repo / "manifests", project / "manifests")
    shutil.copytree(repo / "udf", project / "udf")
    if (repo / "snowflake.yml").exists():  # marks the project root that staged files must stay in
        shutil.copy(repo / "snowflake.yml", project / "snowflake.yml")
    if artifacts is None:  # unguarded: building the model is not what is measured
        artifacts = work / "bootstrap"
        subprocess.run([sys.executable, "-m", "training.bootstrap", "--output", str(artifacts)], cwd=ROOT, check=True)
    shutil.copytree(artifacts, project / "artifacts" / "latest")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("T5_", "SNOWFLAKE_", "NETGUARD_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(GUARD_SITE), str(repo)]),
        NETGUARD_LOG=str(log),
        LOCALSNOW_HOME=str(home),
        SNOWFLAKE_HOME=str(work / "no-config"),
        T5_DEPLOY_CACHE=str(work / "cache"),
    )
    command = [sys.executable, "-m", "deploy", "--connection", "local", "plan"]
    plan = subprocess.run(command, cwd=project, env=env, stdout=subprocess.DEVNULL)
    stop = [sys.executable, "-m", "localsnow", "stop", "--home", str(home)]
    subprocess.run(stop, cwd=project, env=env, stdout=subprocess.DEVNULL, check=True)
    return plan.returncode, _records(log)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose code runs (default: this one)")
    parser.add_argument("--artifacts", type=Path, help="model directory to deploy (default: bootstrap one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="count-outbound-") as tmp:
        rc, records = count(args.repo.resolve(), args.artifacts and args.artifacts.resolve(), Path(tmp))
    refused = ", each refused before anything was sent" if records else ""
    print(f"\ndeploy --connection local plan (exit {rc}): {len(records)} outbound attempt(s){refused}")
    for (kind, target, process), n in collections.Counter(
        (r["kind"], r["target"], r["process"]) for r in records
    ).most_common():
        print(f"{n:5d}  {kind} {target}  by {process}")
    return 0 if rc in (0, 2) else 1


if __name__ == "__main__":
    sys.exit(main())
