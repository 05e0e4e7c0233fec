"""Callers never see a missing function while `deploy apply` replaces it (issue 12).

Threads call the deployed function through the real connector, each on its own connection, while
`deploy apply` re-creates it with another handler, again and again: no call fails, and every
answer is one version's. Snowflake's CREATE OR REPLACE is atomic for callers (docs
sql-reference/sql/create, general usage notes); the embedded one must be too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector
from cli_project import deploy, project_environment, shout_manifest, small_project

import localsnow

DATABASE, SCHEMA = "CALLS_DB", "APP"
HANDLER = "def shout(text):\n    return None if text is None else {case}\n"
VERSIONS = {"upper": "text.upper()", "lower": "text.lower()"}
CALLERS = 3
MIN_APPLIES = 4
BOUND_S = 240.0  # generous: only proves that nothing hangs


def answers(version: str) -> str:
    return {"upper": "HELLO", "lower": "hello"}[version]


class Calls:
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.seen: list[set[str]] = [set() for _ in range(CALLERS)]
        self.failures: list[str] = []
        self.count = 0

    def saw(self, caller: int, value: str) -> None:
        with self.changed:
            self.count += 1
            if value not in ("HELLO", "hello"):
                self.failures.append(f"caller {caller}: unexpected answer {value!r}")
            self.seen[caller].add(value)
            self.changed.notify_all()

    def failed(self, caller: int, error: Exception) -> None:
        with self.changed:
            self.failures.append(f"caller {caller}: {error}")
            self.changed.notify_all()


def call_until(stop: threading.Event, caller: int, kwargs: dict[str, Any], calls: Calls) -> None:
    with snowflake.connector.connect(**kwargs) as connection:
        cursor = connection.cursor()
        while not stop.is_set():
            try:
                ((value,),) = cursor.execute(f"SELECT {DATABASE}.{SCHEMA}.SHOUT('Hello')").fetchall()
            except snowflake.connector.Error as error:
                calls.failed(caller, error)
                continue
            calls.saw(caller, value)


def test_no_call_fails_while_apply_replaces_the_function(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "project").mkdir()
    project = small_project(
        tmp_path / "project", shout_manifest(DATABASE, SCHEMA), HANDLER.format(case=VERSIONS["upper"])
    )
    with project_environment(project, tmp_path / "localsnow", tmp_path / "sfhome") as home:
        rc, out, err = deploy(capsys, "apply", "--yes")
        assert rc == 0, out + err
        kwargs = localsnow.ensure_running(home)
        calls, stop = Calls(), threading.Event()
        threads = [
            threading.Thread(target=call_until, args=(stop, i, kwargs, calls), daemon=True) for i in range(CALLERS)
        ]
        for thread in threads:
            thread.start()
        applies, version = 0, "upper"
        try:
            with calls.changed:
                assert calls.changed.wait_for(lambda: all(calls.seen) or calls.failures, BOUND_S)
            while applies < MIN_APPLIES or not all(len(seen) == 2 for seen in calls.seen):
                assert applies < 40, f"callers did not see both versions: {calls.seen}"
                version = "lower" if version == "upper" else "upper"
                (project / "udf" / "handler.py").write_text(HANDLER.format(case=VERSIONS[version]))
                rc, out, err = deploy(capsys, "apply", "--yes")
                assert rc == 0, out + err
                applies += 1
                with calls.changed:  # go on once a caller has run the new version
                    expected = answers(version)
                    assert calls.changed.wait_for(
                        lambda e=expected: any(e in seen for seen in calls.seen) or calls.failures, BOUND_S
                    )
                assert not calls.failures, calls.failures[:3]
        finally:
            stop.set()
            for thread in threads:
                thread.join(BOUND_S)
        assert not calls.failures, calls.failures[:3]
        assert calls.count > applies
        print(f"{applies} applies replaced SHOUT under {calls.count} calls from {CALLERS} callers: 0 failed")
