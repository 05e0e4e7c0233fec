"""Peak memory of `deploy apply` and of the embedded Snowflake when the artifact is large (issue 12).

Builds a one-function project in a temporary folder with its own embedded Snowflake, applies
it with a 1 MiB artifact (idle), then with a --mb one (peak), each `deploy apply` a child
process: deploy's peak is its ru_maxrss (wait4), the server's its VmHWM (/proc). Then the
function's first call, which lays out its imports: prints whether the staged file was linked
(same inode) or copied, and how long the call took. With --compare, the same PUT through the
bare connector (no deploy.streamed_upload) for the figure before the fix.

    python bench/large_artifact_memory.py [--mb 1024] [--compare]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import localsnow  # noqa: E402
from localsnow.paths import Layout  # noqa: E402

MIB = 1 << 20
DATABASE, SCHEMA = "BENCH_LARGE", "APP"
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
      SIZE_OF:
        args:
          - {{name: NAME, type: VARCHAR}}
        returns: VARCHAR
        runtime: "3.11"
        handler: handler.size_of
        imports:
          - stage: CODE
          - stage: WEIGHTS
    """
)
HANDLER = (
    "import os, sys\n\n\ndef size_of(name):\n"
    '    return str(os.path.getsize(os.path.join(sys._xoptions["snowflake_import_directory"], name)))\n'
)
DEPLOY = "import sys; from deploy.cli import main; sys.exit(main(sys.argv[1:]))"
BARE_PUT = textwrap.dedent(
    """\
    import json, sys
    import snowflake.connector
    kwargs, path, stage = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    with snowflake.connector.connect(**kwargs) as conn:
        conn.cursor().execute(f"PUT 'file://{path}' @{stage}/bare/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE")
    """
)


def vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def child_peak(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run a child to completion; its peak resident bytes. Fails loudly with its output."""
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[2:]} failed:\n{output}")
    return usage.ru_maxrss * 1024


def write_artifact(path: Path, mib: int) -> None:
    with path.open("wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(MIB))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1024, help="size of the large artifact, MiB")
    parser.add_argument("--compare", action="store_true", help="also PUT it through the bare connector")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        project, home, config = base / "project", base / "localsnow", base / "snowflake_home"
        for folder in (project / "manifests", project / "udf", project / "artifacts" / "latest", config):
            folder.mkdir(parents=True)
        (project / "snowflake.yml").write_text("definition_version: '2'\n")
        (project / "manifests" / "manifest.yaml").write_text(MANIFEST)
        (project / "udf" / "handler.py").write_text(HANDLER)
        weights = project / "artifacts" / "latest" / "weights.bin"
        write_artifact(weights, 1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("T5_")}
        env.update(
            LOCALSNOW_HOME=str(home),
            SNOWFLAKE_HOME=str(config),
            T5_DEPLOY_CACHE=str(project / ".cache"),
            SNOWFLAKE_DISABLE_PLATFORM_DETECTION="true",
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        )
        env.pop("SNOWFLAKE_DEFAULT_CONNECTION_NAME", None)
        apply = [sys.executable, "-c", DEPLOY, "--connection", "local", "apply", "--yes"]
        kwargs = localsnow.ensure_running(home)
        try:
            server = int(localsnow.status(home)["pid"])
            idle_deploy = child_peak(apply, project, env)
            idle_server = vm_hwm(server)
            write_artifact(weights, args.mb)
            started = time.perf_counter()
            peak_deploy = child_peak(apply, project, env)
            apply_s = time.perf_counter() - started
            peak_server = vm_hwm(server)

            import snowflake.connector

            with snowflake.connector.connect(**kwargs) as conn:
                started = time.perf_counter()
                (size,) = conn.cursor().execute(f"SELECT {DATABASE}.{SCHEMA}.SIZE_OF('weights.bin')").fetchone()  # type: ignore[misc]
                call_s = time.perf_counter() - started
            layout = Layout(home)
            versions = (layout.stages_dir / DATABASE / SCHEMA / "WEIGHTS").glob("*/weights.bin")
            staged = max(versions, key=lambda p: p.stat().st_size)
            imported = [p for p in layout.udf_dir.glob("*/imports/weights.bin") if p.stat().st_size == args.mb * MIB]
            linked = bool(imported) and all(p.stat().st_ino == staged.stat().st_ino for p in imported)
            bare = None
            if args.compare:
                stage = f"{DATABASE}.{SCHEMA}.WEIGHTS"
                bare = child_peak([sys.executable, "-c", BARE_PUT, json.dumps(kwargs), str(weights), stage], base, env)
        finally:
            localsnow.stop(home)
    print(f"artifact: {args.mb} MiB (apply {apply_s:.1f} s)")
    print(f"deploy apply peak RSS: idle {idle_deploy / MIB:.0f} MiB, with the artifact {peak_deploy / MIB:.0f} MiB")
    print(f"server peak RSS (VmHWM): idle {idle_server / MIB:.0f} MiB, with the artifact {peak_server / MIB:.0f} MiB")
    print(f"first call: {call_s:.2f} s, import {'linked (same inode)' if linked else 'COPIED'}, size {size}")
    if bare is not None:
        print(f"bare connector PUT (no streamed upload) peak RSS: {bare / MIB:.0f} MiB")


if __name__ == "__main__":
    main()
