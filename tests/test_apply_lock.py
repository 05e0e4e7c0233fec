"""The apply lock (issue 11): two appliers against one schema never interleave.

Two projects with different settings (handler code and function comment) apply to one embedded
Snowflake. The second applier starts while the first is half-way through its uploads (run from inside
the first's step callback: deterministic, no sleeps); it is refused with "locked by …", and once the
first is done it re-plans under the lock against the first's result, so the account ends up exactly
as its manifests say. The lock is released on failure, and a stale lock is reported with its fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import snowflake.connector
from cli_project import deploy, project_environment, shout_manifest, small_project, sql_runner

import localsnow
from deploy import lock, reconcile
from deploy.errors import SnowflakeError
from deploy.plan import Plan
from deploy.session import Session
from deploy.spec import MARKER_NAME

DATABASE, SCHEMA = "T5_LOCK", "APP"
MANIFEST = shout_manifest(DATABASE, SCHEMA, comment="COMMENT_HERE")
HANDLER = "def shout(text):\n    return None if text is None else text.upper() + {suffix!r}\n"


def unexpected(current: Plan) -> None:
    raise AssertionError(f"re-planned although nobody else applied: {current.changes}")


def make_project(root: Path, name: str) -> reconcile.Workspace:
    (root / name).mkdir()
    project = small_project(
        root / name, MANIFEST.replace("COMMENT_HERE", f"shouts {name}"), HANDLER.format(suffix=f" ({name})")
    )
    return reconcile.Workspace(project / "manifests", root / f"cache-{name}")


@pytest.fixture
def account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    """A fresh embedded Snowflake (its home) and project A as cwd, for the CLI."""
    (tmp_path / "projects").mkdir()
    make_project(tmp_path / "projects", "A")
    with project_environment(tmp_path / "projects" / "A", tmp_path / "localsnow", tmp_path / "sfhome") as home:
        yield home


def session(home: Path) -> Session:
    return Session(snowflake.connector.connect(**localsnow.ensure_running(home)))


def test_a_second_applier_is_refused_mid_upload_then_replans_against_the_first(account, tmp_path):
    a_ws = reconcile.Workspace(tmp_path / "projects" / "A" / "manifests", tmp_path / "cache-A")
    b_ws = make_project(tmp_path / "projects", "B")
    a_desired, b_desired = a_ws.desired(), b_ws.desired()
    first, second = session(account), session(account)
    b_attempt: dict[str, object] = {}

    def b_applies_now() -> None:
        # B plans while A has uploaded part of its version, then tries to apply: the lock refuses it.
        b_attempt["plan"], _ = reconcile.plan(second, b_desired)
        try:
            reconcile.apply_locked(second, b_ws, b_desired, b_attempt["plan"])
        except lock.Locked as refused:
            b_attempt["refused"] = str(refused)
        else:
            b_attempt["refused"] = None

    def a_step(i: int, n: int, step):
        if step.upload_name is None or "plan" in b_attempt:
            return None
        return lambda seconds: b_applies_now()  # A's first file is up, its version not yet complete

    try:
        a_plan, _ = reconcile.plan(first, a_desired)
        a_result = reconcile.apply_locked(first, a_ws, a_desired, a_plan, on_step=a_step, on_replan=unexpected)
        assert a_result is not None and a_result.files_uploaded >= 2
        refused = b_attempt["refused"]
        assert isinstance(refused, str), "the second applier must not apply while the first holds the lock"
        assert f"{DATABASE}.{SCHEMA} is locked by" in refused and "lock id" in refused
        assert "deploy unlock --force" in refused

        # B again, with the plan it showed before (made while A was half-way): re-planned under the lock.
        replans: list[Plan] = []
        b_result = reconcile.apply_locked(second, b_ws, b_desired, b_attempt["plan"], on_replan=replans.append)
        assert len(replans) == 1, "B's plan was made against A's half-finished apply; it must be re-planned"
        assert b_result is not None

        # The account is exactly B's manifests, and no lock is left.
        assert reconcile.plan(second, b_desired)[0].is_empty
        assert not reconcile.plan(first, a_desired)[0].is_empty
        assert reconcile.lock_status(first, a_desired) == []
        (row,) = first.query(f"SELECT {DATABASE}.{SCHEMA}.SHOUT('hi') AS R")
        assert row["r"] == "HI (B)"
    finally:
        first.close()
        second.close()


def test_the_lock_is_released_when_an_apply_fails(account, tmp_path):
    ws = reconcile.Workspace(tmp_path / "projects" / "A" / "manifests", tmp_path / "cache-A")
    desired = ws.desired()
    s = session(account)
    try:
        the_plan, _ = reconcile.plan(s, desired)

        def fail_at_first_upload(i: int, n: int, step) -> None:
            assert reconcile.lock_status(s, desired), "the lock is held while the apply runs"
            if step.upload_name is not None:
                raise SnowflakeError(step.sql, "network went away")

        with pytest.raises(SnowflakeError):
            reconcile.apply_locked(s, ws, desired, the_plan, on_step=fail_at_first_upload)
        assert reconcile.lock_status(s, desired) == []
        result = reconcile.apply_locked(s, ws, desired, reconcile.plan(s, desired)[0], on_replan=unexpected)
        assert result is not None and reconcile.plan(s, desired)[0].is_empty
    finally:
        s.close()


def held_by(home: Path, started: str | None = None) -> lock.Holder:
    """Take the lock as another applier would (an existing schema), started now or at `started`."""
    with sql_runner(home) as sql:
        sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        sql(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{SCHEMA}")
    s = session(home)
    try:
        holder = lock.new_holder(s, "apply")
        if started is not None:
            holder = lock.Holder(holder.user, "ci-runner-7", holder.token, started, "", "apply")
        lock.acquire(s, DATABASE, SCHEMA, holder)
        return holder
    finally:
        s.close()


def test_apply_while_locked_fails_naming_the_holder_and_changes_nothing(account, capsys, monkeypatch):
    monkeypatch.setenv(lock.STALE_MINUTES_ENV, "100000")  # never stale here, whatever the clocks say
    holder = held_by(account)
    rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 1, out + err
    assert f"{DATABASE}.{SCHEMA} is locked by {holder.user} on {holder.host}" in err
    assert holder.token in err and "Another apply is running" in err
    assert "Apply complete" not in out
    with sql_runner(account) as sql:
        assert sql(f"SHOW STAGES IN SCHEMA {DATABASE}.{SCHEMA}") == []
    # The holder's lock is untouched: refused appliers never break it.
    rc, out, _ = deploy(capsys, "unlock")
    assert rc == 0 and holder.token in out and "deploy unlock --force" in out


def test_a_stale_lock_is_reported_with_its_fix_and_broken_only_on_request(account, capsys):
    holder = held_by(account, started="2020-01-01T00:00:00+00:00")
    rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 1
    assert "the lock is stale" in err and "ci-runner-7" in err and "deploy unlock --force" in err
    rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 1 and "stale" in err  # still there: never broken silently
    rc, out, err = deploy(capsys, "unlock", "--force")
    assert rc == 0 and "broke the lock" in out and holder.token in out
    rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 0 and "Apply complete" in out, out + err
    assert deploy(capsys, "unlock")[1].strip() == "no lock held"


def test_apply_prints_one_line_per_uploaded_file_outside_a_terminal(account, capsys):
    rc, out, err = deploy(capsys, "apply", "--yes")
    assert rc == 0, out + err
    lines = [line for line in err.splitlines() if line.startswith("uploaded ")]
    pattern = re.compile(r"^uploaded [0-9a-f]+/(\S+)  \S+ \S+ \((\d+) bytes\) in \d+\.\d\d s, [\d.]+ k?M?G?B/s$")
    parsed = {m[1]: int(m[2]) for m in map(pattern.match, lines) if m}
    assert len(parsed) == len(lines), lines
    handler = Path("udf/handler.py").stat().st_size
    assert parsed["handler.py"] == handler
    assert parsed[MARKER_NAME] > 0  # the version's completion marker is uploaded and shown too
    assert not any(line.startswith("[") and "PUT " in line for line in err.splitlines())


def test_localsnow_answers_an_existing_table_as_snowflake_does(account):
    with sql_runner(account) as sql:
        sql("CREATE DATABASE D")
        sql("CREATE TABLE D.PUBLIC.T (X VARCHAR)")
        with pytest.raises(snowflake.connector.errors.ProgrammingError) as error:
            sql("CREATE TABLE D.PUBLIC.T (X VARCHAR)")
    assert error.value.errno == 2002 and error.value.sqlstate == "42710"
    assert "Object 'T' already exists." in error.value.msg


def test_on_a_terminal_uploads_show_a_bar_with_bytes_and_throughput():
    import io

    from rich.console import Console

    from deploy.apply import Step
    from deploy.upload_progress import StepPrinter

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    steps = [Step("CREATE STAGE X"), Step("PUT file:///m @X/v/", 2_000_000, upload_name="v/model.bin")]
    with StepPrinter(console, 2_000_000) as printer:
        assert printer.progress is not None  # a terminal gets the bar
        assert printer(0, 2, steps[0]) is None
        finished = printer(1, 2, steps[1])
        assert finished is not None
        finished(0.5)
        assert printer.progress.tasks[0].completed == 2_000_000
    shown = screen.getvalue()
    assert "[1/2] CREATE STAGE X" in shown
    assert "uploaded v/model.bin  2.0 MB (2000000 bytes) in 0.50 s, 4.0 MB/s" in shown
