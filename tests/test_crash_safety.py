"""Crash safety (issue 12): `deploy apply` SIGKILLed at every step, or the embedded Snowflake under it.

The embedded Snowflake runs with a fault gate (localsnow.faults): a rule holds the first statement or
upload that matches it, the test kills the `deploy apply` it started (a real process, `python -m deploy`)
while the request is held, then lets the request go. No sleeps: the test waits for the server's files.

The function under test reads two imported files, one from each of two stages (CODE and DATA; a third,
ASSETS, holds a big file to cut uploads short), and returns both; each carries the version's tag, so a
caller would see a mix of two versions as `old|new`. After every kill:

- the live function answers with a complete version, never a mix: the old one until the function's DDL
  ran, the new one after;
- `deploy plan` exits 2 and lists what is left to do (0 when the kill came after the last change);
- a lock left by the dead apply makes the next apply fail naming it and its fix; the user breaks it
  with `deploy unlock --force`, as docs/crash-safety.md says;
- the next `deploy apply --yes` converges: `plan` and `drift` exit 0, the new version answers, and no
  partial upload is left on disk.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import snowflake.connector
from cli_project import ROOT, deploy, project_environment, small_project, sql_runner
from fault_gate import EVENT_BOUND_S, GATE_ENV, FaultGate, Rule, wait_for

import localsnow
from deploy.cli import main
from deploy.spec import MARKER_NAME
from localsnow.faults import REACHED
from localsnow.paths import Layout
from localsnow.stages import UPLOAD_TEMP_PREFIX

pytestmark = pytest.mark.slow

DATABASE, SCHEMA, FUNCTION = "T5_CRASH", "APP", "READ_BOTH"
NAMESPACE = f'"{DATABASE}"."{SCHEMA}"'  # as deploy writes it in SQL
QUALIFIED = re.escape(NAMESPACE)  # ... in the rules' regexes
MANIFEST = textwrap.dedent(
    f"""\
    apiVersion: 1
    database: {DATABASE}
    schema: {SCHEMA}
    keep_versions: 2
    stages:
      ASSETS:
        files:
          - from: ../assets
      CODE:
        files:
          - from: ../udf
      DATA:
        files:
          - from: ../data
    functions:
      {FUNCTION}:
        args:
          - {{name: X, type: VARCHAR}}
        returns: VARCHAR
        runtime: "3.11"
        handler: handler.read_both
        imports:
          - stage: ASSETS
          - stage: CODE
          - stage: DATA
    """
)
HANDLER = textwrap.dedent(
    """\
    import os
    import sys


    def read_both(x):
        folder = sys._xoptions["snowflake_import_directory"]
        parts = []
        for name in ("part_a.txt", "part_b.txt"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                parts.append(f.read())
        return "|".join(parts)
    """
)
# A file big enough that a client killed early in its body still had most of it to send: more than the
# kernel's socket buffers hold (tcp_wmem / tcp_rmem, a few MB). On its own stage, uploaded first, and
# only when a test changes it (the other stages change on every apply).
BLOB_BYTES = 24 * 1024 * 1024


def put_of(file: str, stage: str = "CODE", folder: str = "") -> str:
    """A regex for the PUT statement of `file` into a version folder of `stage` (or a `folder/` in it)."""
    return rf"^PUT '[^']*/{file}' @{QUALIFIED}\.\"{stage}\"/[0-9a-f]+/{folder} "


LOCK = rf"{QUALIFIED}\.\"T5_DEPLOY_LOCK\""


@dataclass(frozen=True)
class KillPoint:
    id: str
    rule: Rule
    plan_exit: int = 2  # `deploy plan` right after the kill
    plan_says: str = ""  # ... and a line of what it lists
    lock_left: bool = True  # the dead apply still holds the account lock
    new_blob: bool = False  # the apply uploads a new blob.bin (stage ASSETS) first

    def __str__(self) -> str:
        return self.id

    @property
    def serves_new(self) -> bool:
        """The function's DDL ran: callers get the new version; before, the plan still replaces it."""
        return self.plan_says != REPLACE


# Derived from the statements one apply sends here (`deploy --debug apply`), in their order: the lock;
# ASSETS's blob.bin and marker (only with new_blob); CODE's handler.py, part_a.txt and marker; DATA's
# part_b.txt and marker; one release record per stage; the function DDL; the prune of CODE's and DATA's
# oldest versions; the unlock. "before" a statement: it never ran; "after": it ran, the client died
# waiting for its answer; "upload": the server holds the file's body (after_bytes of it) when the client dies.
REPLACE = "must be replaced"
PRUNE = "will be destroyed"
BLOB = r"/ASSETS/[0-9a-f]+/blob\.bin$"
KILL_POINTS = [
    KillPoint("lock-taken", Rule("after", rf"^CREATE TABLE {LOCK}"), plan_says=REPLACE),
    KillPoint("before-first-upload", Rule("before", put_of(r"handler\.py")), plan_says=REPLACE),
    KillPoint("during-first-upload", Rule("upload", BLOB, after_bytes=1), plan_says=REPLACE, new_blob=True),
    KillPoint("first-upload-received", Rule("upload", BLOB, BLOB_BYTES), plan_says=REPLACE, new_blob=True),
    KillPoint("after-first-upload", Rule("before", put_of(r"part_a\.txt")), plan_says=REPLACE),
    KillPoint("middle-upload-received", Rule("upload", r"/CODE/[0-9a-f]+/part_a\.txt$"), plan_says=REPLACE),
    KillPoint("before-marker", Rule("before", put_of(MARKER_NAME)), plan_says=REPLACE),
    KillPoint("after-marker", Rule("before", put_of(r"part_b\.txt", "DATA")), plan_says=REPLACE),
    KillPoint("last-upload-received", Rule("upload", r"/DATA/[0-9a-f]+/part_b\.txt$"), plan_says=REPLACE),
    KillPoint("between-release-records", Rule("before", put_of("[^/']+", "DATA", "_releases/")), plan_says=REPLACE),
    KillPoint("before-function-ddl", Rule("before", r"^CREATE OR REPLACE FUNCTION "), plan_says=REPLACE),
    KillPoint("after-function-ddl", Rule("after", r"^CREATE OR REPLACE FUNCTION "), plan_says=PRUNE),
    KillPoint("before-prune", Rule("before", rf"^REMOVE @{QUALIFIED}\.\"CODE\"/"), plan_says=PRUNE),
    KillPoint("during-prune", Rule("after", rf"^REMOVE @{QUALIFIED}\.\"CODE\"/"), plan_says=PRUNE),
    KillPoint("before-lock-release", Rule("before", rf"^DROP TABLE IF EXISTS {LOCK}"), plan_exit=0),
    KillPoint("after-lock-release", Rule("after", rf"^DROP TABLE IF EXISTS {LOCK}"), plan_exit=0, lock_left=False),
]
SERVER_KILL_POINTS = [p for p in KILL_POINTS if p.id in ("during-first-upload", "after-function-ddl", "during-prune")]


@dataclass
class Crash:
    root: Path
    project: Path
    home: Path
    gate: FaultGate

    def write_version(self, tag: str, blob: bool = False) -> str:
        """Both tagged files carry `tag` (the function then answers `tag|tag`); `blob`: a new blob.bin too."""
        (self.project / "udf" / "part_a.txt").write_text(tag)
        (self.project / "data" / "part_b.txt").write_text(tag)
        if blob:
            (self.project / "assets" / "blob.bin").write_bytes(tag.encode().ljust(BLOB_BYTES, b"\0"))
        return self.version()

    def version(self) -> str:
        """What the function answers once the project's files are applied."""
        tag = (self.project / "udf" / "part_a.txt").read_text()
        return f"{tag}|{tag}"

    def serves(self) -> str:
        with sql_runner(self.home) as sql:
            ((value,),) = sql(f"SELECT {DATABASE}.{SCHEMA}.{FUNCTION}('x')")
        return value

    def start_apply(self, name: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.root / f"apply-{name}.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "deploy", "--connection", "local", "apply", "--yes"],
                cwd=self.project,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return process, log

    def partial_uploads(self) -> list[Path]:
        return sorted(Layout(self.home).stages_dir.rglob(f"{UPLOAD_TEMP_PREFIX}*"))

    def version_folders(self, stage: str) -> dict[str, set[str]]:
        """Version -> its files, as LIST shows them."""
        with sql_runner(self.home) as sql:
            rows = sql(f'LIST @{NAMESPACE}."{stage}"')
        folders: dict[str, set[str]] = {}
        for name, *_ in rows:
            version, _, rest = name.split("/", 1)[1].partition("/")
            folders.setdefault(version, set()).add(rest)
        return folders


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    root = tmp_path_factory.mktemp("crash")
    (root / "project").mkdir()
    project = small_project(root / "project", MANIFEST, HANDLER)
    (project / "data").mkdir()
    (project / "assets").mkdir()
    gate = FaultGate(root / "gate")
    mp = pytest.MonkeyPatch()
    mp.setenv(GATE_ENV, str(gate.folder))  # the server started on demand below gets it
    try:
        with project_environment(project, root / "localsnow", root / "sfhome") as home:
            state = Crash(root, project, home, gate)
            # Two complete versions before the first kill: every apply after this one also prunes.
            for tag in ("setup-1", "setup-2"):
                state.write_version(tag, blob=True)
                assert main(["--connection", "local", "apply", "--yes"]) == 0
            yield state
    finally:
        mp.undo()


def converged(crash: Crash, capsys: pytest.CaptureFixture[str]) -> str:
    """Start from an applied project (a failed test may have left a lock or a half-apply); what it serves."""
    rc, out, err = deploy(capsys, "apply", "--yes")
    if rc != 0 and "is locked by" in err:
        deploy(capsys, "unlock", "--force")
        rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, out + err
    return crash.version()


def kill_apply_at(crash: Crash, point: KillPoint, *, kill_server: bool = False) -> dict:
    """Run `deploy apply --yes` until `point`, then SIGKILL it (and the server first, with kill_server)."""
    crash.gate.arm(point.rule)
    process, log = crash.start_apply(point.id)
    try:
        reached = crash.gate.wait_reached(process, log.read_text)
        if kill_server:
            os.kill(localsnow.status(crash.home)["pid"], signal.SIGKILL)
            process.send_signal(signal.SIGKILL)  # or it noticed the dead server and failed first: either way, not 0
            assert process.wait() != 0
            wait_for(lambda: not localsnow.status(crash.home)["running"], "the killed server still answers")
        else:
            process.send_signal(signal.SIGKILL)
            assert process.wait() == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if kill_server:
        crash.gate.clear()  # the held request died with the server
    else:
        crash.gate.release(point.rule)
    return reached


def check_after_kill(crash: Crash, point: KillPoint, capsys: pytest.CaptureFixture[str], old: str, new: str) -> None:
    # (a) Callers get a complete version, never a mix: the new one once the function's DDL ran, else the old.
    assert crash.serves() == (new if point.serves_new else old)
    # (b) The plan lists what the dead apply left to do.
    rc, out, err = deploy(capsys, "plan")
    assert rc == point.plan_exit, out + err
    assert point.plan_says in out
    # (c) The dead apply's lock: the next apply that has work to do names it and its fix, and the user,
    # whose apply is gone, breaks it (docs/crash-safety.md).
    rc, out, err = deploy(capsys, "apply", "--yes")
    if point.lock_left and point.plan_exit:
        assert rc == 1, out + err
        assert f"{DATABASE}.{SCHEMA} is locked by" in err and "deploy unlock --force" in err
    else:
        assert rc == 0 and "No changes" in out, out + err  # nothing to do: no lock needed
    rc, out, err = deploy(capsys, "unlock", "--force")
    assert rc == 0, out + err
    assert (f"broke the lock: {DATABASE}.{SCHEMA}" in out) == point.lock_left, out
    # (d) The next apply converges.
    rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, out + err
    rc, out, err = deploy(capsys, "plan")
    assert rc == 0, out + err
    rc, out, err = deploy(capsys, "drift")
    assert rc == 0, out + err
    assert crash.serves() == new
    # Nothing half-written is left: no partial upload on disk, every version on the stages complete.
    assert crash.partial_uploads() == []
    for stage in ("ASSETS", "CODE", "DATA"):
        folders = crash.version_folders(stage)
        assert len(folders) == 2 and all(MARKER_NAME in files for files in folders.values()), folders


@pytest.mark.parametrize("point", KILL_POINTS, ids=str)
def test_apply_killed_at_each_step_leaves_a_serving_function_and_converges(crash, capsys, point: KillPoint):
    old = converged(crash, capsys)
    new = crash.write_version(f"v-{point.id}", blob=point.new_blob)
    reached = kill_apply_at(crash, point)
    if point.id == "during-first-upload":
        # Killed mid-body: the server got part of the file and stored none of it.
        assert 0 < reached["bytes"] < BLOB_BYTES
        version = reached["text"].split("/")[3]
        assert "blob.bin" not in crash.version_folders("ASSETS").get(version, set())
    check_after_kill(crash, point, capsys, old, new)


@pytest.mark.parametrize("point", SERVER_KILL_POINTS, ids=str)
def test_server_killed_mid_apply_restarts_with_its_state(crash, capsys, point: KillPoint):
    old = converged(crash, capsys)
    new = crash.write_version(f"server-{point.id}", blob=point.new_blob)
    kill_apply_at(crash, point, kill_server=True)
    if point.id == "during-first-upload":
        # The server died writing the file: its partial upload is on disk until the next start sweeps it.
        assert crash.partial_uploads()
    # The next command starts the server again on demand, from what it persisted.
    check_after_kill(crash, point, capsys, old, new)


def test_a_kill_after_the_function_ddl_keeps_the_live_release_provenance(crash, capsys):
    """Release records are written before the DDL (deploy.apply.release_steps): none is lost to a kill."""
    point = next(p for p in KILL_POINTS if p.id == "after-function-ddl")
    converged(crash, capsys)
    crash.write_version("v-provenance")
    kill_apply_at(crash, point)
    deploy(capsys, "unlock", "--force")
    rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, out + err
    rc, out, err = deploy(capsys, "status", "--format", "json")
    assert rc == 0, out + err
    (function,) = json.loads(out)["functions"]
    unknown = [v["stage"] for v in function["live"] if v["provenance"]["applied_at"] is None]
    assert unknown == [], f"live versions without a release record: {unknown}"


def test_the_fault_gate_holds_a_statement_before_or_after_it_runs(crash):
    """The harness's own check: `before` holds a statement that then never runs, `after` one that ran."""
    table = f"{NAMESPACE}.GATED"

    def held(rule: Rule, statement: str) -> tuple[threading.Thread, dict[str, object]]:
        crash.gate.arm(rule)
        outcome: dict[str, object] = {}

        def run() -> None:
            with sql_runner(crash.home) as sql:
                try:
                    outcome["rows"] = sql(statement)
                except snowflake.connector.errors.ProgrammingError as error:
                    outcome["error"] = error.msg

        thread = threading.Thread(target=run)
        thread.start()
        wait_for((crash.gate.folder / REACHED).exists, "the statement did not reach the gate")
        return thread, outcome

    def tables() -> list[tuple]:
        with sql_runner(crash.home) as sql:
            return sql(f"SHOW TABLES LIKE 'GATED' IN SCHEMA {NAMESPACE}")

    rule = Rule("before", r"^CREATE TABLE .*\.GATED ")
    thread, outcome = held(rule, f"CREATE TABLE {table} (X INT)")
    assert thread.is_alive() and tables() == []  # held, not run
    crash.gate.release(rule)
    thread.join(EVENT_BOUND_S)
    assert not thread.is_alive()
    assert "fault gate" in str(outcome["error"]) and tables() == []  # dropped: it never ran

    rule = Rule("after", r"^CREATE TABLE .*\.GATED ")
    thread, outcome = held(rule, f"CREATE TABLE {table} (X INT)")
    assert thread.is_alive() and len(tables()) == 1  # it ran; its answer is held
    crash.gate.release(rule)
    thread.join(EVENT_BOUND_S)
    assert not thread.is_alive()
    assert "error" not in outcome
    with sql_runner(crash.home) as sql:
        sql(f"DROP TABLE {table}")
