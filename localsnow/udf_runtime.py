"""Runs Python UDFs: DuckDB functions that forward batches to per-function pools of worker processes.

Each function definition is registered on the shared DuckDB database as a
vectorized (arrow) function named `_ls_udf_<id>`; queries are rewritten to call
it. Each definition has a pool of up to $LOCALSNOW_UDF_PROCESSES long-lived
worker processes (default: the usable CPUs, at most 4), like the several Python
interpreters of a Snowflake warehouse node. A worker imports the handler's
module (and the model it loads) once, then serves one batch at a time; workers
start on demand, so a one-row query starts one process. The pool splits the rows
of each DuckDB chunk into balanced batches (at most the handler's
max_batch_size rows each) and runs them concurrently on idle workers; results
come back in row order. A replaced or dropped definition stops its workers once no
running statement uses it (localsnow.udf_versions: CREATE OR REPLACE is atomic for callers).

A worker that crashes, is killed, runs out of its memory limit ($LOCALSNOW_UDF_MEMORY_MB) or
runs past the per-call limit ($LOCALSNOW_UDF_TIMEOUT_S) or the statement's
STATEMENT_TIMEOUT_IN_SECONDS fails its statement with a message saying what happened and what
to check; the next call starts a fresh worker (localsnow.udf_limits).

Workers run on Snowflake's channel line of the libraries: $LOCALSNOW_UDF_PYTHON, else
the project's .venv-compat (scripts/compat_env.sh; transformers 4.41.2, pandas 2.2.3,
numpy 1.26.4, cloudpickle 3.1.1), else, with a warning in the server and worker logs,
the server's own interpreter. Each worker gets the function's PACKAGES as distribution
names and lets the handler import only those, their dependencies, the standard library,
its IMPORTS and `_snowflake` (localsnow.udf_imports).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

import localsnow
from localsnow.daemon import DISABLE_PLATFORM_DETECTION_ENV
from localsnow.functions import FunctionDef
from localsnow.packages import distribution_names
from localsnow.parameters import Parameters
from localsnow.paths import Layout, remove_tree
from localsnow.stage_links import place_read_only
from localsnow.stages import StageStore
from localsnow.udf_limits import (
    memory_exhausted_message,
    memory_mb_from_env,
    statement_timeout_error,
    worker_exit_message,
)
from localsnow.udf_versions import DefinitionVersions, sql_name
from localsnow.udf_worker import DROP_PATH_ENV, MEMORY_EXHAUSTED

logger = logging.getLogger("localsnow.udf")

TIMEOUT_ENV = "LOCALSNOW_UDF_TIMEOUT_S"
# Snowflake stops a Python handler call (a row, or a vectorized batch) after 180 s
# (https://docs.snowflake.com/en/developer-guide/udf/python/udf-python-batch, time limit per batch;
# https://docs.snowflake.com/en/developer-guide/udf-stored-procedure-constraints: a handler that
# "takes too long to complete" is killed and the statement fails).
DEFAULT_TIMEOUT_S = 180.0
PROCESSES_ENV = "LOCALSNOW_UDF_PROCESSES"
MAX_DEFAULT_PROCESSES = 4
# DuckDB reports a UDF's exception as text; this marker carries our error's key through it.
ERROR_MARKER = "localsnow-udf-error:"
_MARKER_PATTERN = re.compile(re.escape(ERROR_MARKER) + r"([0-9a-f]{32})")

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "BLOB": pa.binary(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
}


class UdfError(Exception):
    """A handler failure, worker crash or timeout, already worded for the user."""


class UdfTimeout(UdfError):
    """A handler call (or the handler's import) ran past the limit; its text is the whole message."""


class StatementTimeout(UdfError):
    """The statements running a batch reached their STATEMENT_TIMEOUT_IN_SECONDS."""


def go_duration(seconds: float) -> str:
    """Snowflake's (Go-style) duration text: 17m18.713055185s, 2.004s, 10m."""
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.6f}".rstrip("0").rstrip(".") + "s"
    if minutes:
        text = f"{int(minutes)}m" + ("" if rest == 0 else text)
    return text


def timeout_message(function: FunctionDef, phase: str, elapsed: float, limit: float) -> str:
    """Modelled on Snowflake's handler timeout (100357 (P0000), DuneGroup/ice-axe issue #1):
    'Iterating over output iterator values timed out in 17m18.713055185s vs. max of 10m in
    function DETECTOR with handler udf.LeadsDetector'."""
    return (
        f"{phase} timed out in {go_duration(elapsed)} vs. max of {go_duration(limit)} "
        f"in function {function.name} with handler {function.handler}"
    )


def executable(function: FunctionDef) -> bool:
    """Whether every argument and the result has a type the runtime can pass."""
    types = [*function.arg_types, function.returns]
    return bool(function.arg_types) and all(t.duckdb for t in types)


def default_processes() -> int:
    """The CPUs this process may run on (a container's limit, not the host's), at most 4."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_PROCESSES))


def processes_from_env() -> int:
    """Worker processes per function: $LOCALSNOW_UDF_PROCESSES, else `default_processes()`."""
    text = os.environ.get(PROCESSES_ENV, "").strip()
    if not text:
        return default_processes()
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(
            f"{PROCESSES_ENV} must be a whole number of worker processes per Python UDF, 1 or more; "
            f"got {text!r}. Set it to e.g. 2, or unset it for the default ({default_processes()} here)"
        )
    return count


def plan_batches(rows: int, processes: int, vectorized: bool, max_batch_size: int | None) -> list[tuple[int, int]]:
    """Contiguous (start, stop) row ranges, one per handler batch, sizes as equal as possible.

    Vectorized with a max batch size B: the fewest batches of at most B rows whose count
    is a multiple of the workers that can take them, so that every worker has a share and
    all finish together (200 rows, B=32, 2 workers: 8 batches of 25, not 6 of 32 and one
    of 8; 64 rows, B=64, 2 workers: 2 of 32, not one worker busy and one idle).
    Otherwise one slice per worker.
    """
    if rows <= 0:
        return []
    if vectorized and max_batch_size:
        needed = -(-rows // max_batch_size)
        parallel = min(processes, rows)
        count = -(-needed // parallel) * parallel
    else:
        count = processes
    count = min(count, rows)  # never an empty batch (B=1 with more batches than rows' multiple)
    base, extra = divmod(rows, count)
    spans, start = [], 0
    for index in range(count):
        stop = start + base + (1 if index < extra else 0)
        spans.append((start, stop))
        start = stop
    return spans


UDF_PYTHON_ENV = "LOCALSNOW_UDF_PYTHON"
# Snowflake's channel line of the libraries (transformers 4.41.2, pandas 2.2.3, numpy 1.26.4, ...),
# built by scripts/compat_env.sh; its stamp is written last, so an env with one is complete.
COMPAT_VENV = ".venv-compat"
COMPAT_STAMP = ".compat-stamp"


def _package_parent() -> str | None:
    """The source tree holding `localsnow`, when it is not installed in site-packages."""
    parent = Path(localsnow.__file__).resolve().parent.parent
    return None if parent.name in ("site-packages", "dist-packages") else str(parent)


def project_roots(home: Path | None = None) -> list[Path]:
    """Where a project's .venv-compat may sit, in order: the checkout holding localsnow's source;
    for an installed localsnow, the folder holding the server's venv (`<project>/.venv`) and the
    one holding the home (`<project>/.localsnow`)."""
    roots = [Path(source)] if (source := _package_parent()) else []
    roots.append(Path(sys.prefix).resolve().parent)
    if home is not None:
        roots.append(home.resolve().parent)
    return list(dict.fromkeys(roots))


@dataclass(frozen=True)
class WorkerPython:
    """The interpreter UDF workers run on, and why (a warning when it is not Snowflake's line)."""

    path: str
    source: str
    warning: str | None = None


def choose_worker_python(home: Path | None = None) -> WorkerPython:
    """$LOCALSNOW_UDF_PYTHON, else the project's complete .venv-compat, else this interpreter (warned)."""
    if explicit := os.environ.get(UDF_PYTHON_ENV, "").strip():
        return WorkerPython(explicit, UDF_PYTHON_ENV)
    for root in project_roots(home):
        python = root / COMPAT_VENV / "bin" / "python"
        if (root / COMPAT_VENV / COMPAT_STAMP).is_file() and os.access(python, os.X_OK):
            return WorkerPython(str(python), f"{COMPAT_VENV} (Snowflake's channel line)")
    looked = ", ".join(str(root / COMPAT_VENV) for root in project_roots(home))
    return WorkerPython(
        sys.executable,
        "the server's own interpreter",
        f"Python UDFs run on the server's own interpreter ({sys.executable}), whose libraries are not "
        f"Snowflake's channel line (e.g. transformers 4.41.2): no complete {COMPAT_VENV} at {looked}. "
        f"Build it with `make compat` (scripts/compat_env.sh) or point {UDF_PYTHON_ENV} at a Python",
    )


def worker_import_path(layout: Layout) -> Path:
    """A folder holding only `localsnow` (a link to this package), for the worker's PYTHONPATH:
    any interpreter can run localsnow.udf_worker from it, and it exposes neither the checkout
    (deploy/, udf/, ...) nor the server's site-packages, as the package's own parent would."""
    folder = layout.udf_dir / ".worker-path"
    link = folder / "localsnow"
    target = Path(localsnow.__file__).resolve().parent
    if not (link.is_symlink() and link.resolve() == target):
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".localsnow-{uuid.uuid4().hex[:8]}"
        staging.symlink_to(target, target_is_directory=True)
        os.replace(staging, link)  # atomic: a worker starting meanwhile sees the old or the new link
    return folder


class Worker:
    """One handler process; it runs one batch at a time (its pool hands it to one caller)."""

    def __init__(
        self,
        function: FunctionDef,
        directory: Path,
        log_path: Path,
        timeout: float,
        python: WorkerPython | None = None,
        import_path: Path | None = None,
        memory_mb: int | None = None,
    ):
        self.function = function
        self.directory = directory
        self.log_path = log_path
        self.timeout = timeout
        self.python = python or choose_worker_python()
        self.import_path = import_path
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: Connection | None = None
        # The "ready" payload: {"vectorized": bool, "max_batch_size": int | None}.
        self.info: dict[str, Any] | None = None

    def ensure_started(self, deadline: float = math.inf) -> None:
        """Start the process (again, after a crash or timeout) unless it runs; wait until ready."""
        with self._lock:
            self._ensure_started(deadline)

    def _ensure_started(self, deadline: float) -> None:
        if self._process is None or self._process.poll() is not None:
            self.close()
            self._start(deadline)

    def _start(self, deadline: float) -> None:
        function = self.function
        inline_dir = self.directory / "code" if function.body is not None else None
        scratch = self.directory / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        parent_end, child_end = socket.socketpair()
        imports = f"snowflake_import_directory={self.directory / 'imports'}/"
        command = [self.python.path, "-X", imports, "-m", "localsnow.udf_worker"]
        command += ["--fd", str(child_end.fileno()), "--handler", function.handler]
        command += ["--arg-types", ",".join(t.duckdb or "" for t in function.arg_types)]
        command += ["--return-type", function.returns.duckdb or ""]
        command += ["--packages", ",".join(distribution_names(function.packages))]
        if inline_dir:
            command += ["--inline-dir", str(inline_dir)]
        if self.memory_mb:
            command += ["--memory-mb", str(self.memory_mb)]
        env = dict(os.environ)
        env[DISABLE_PLATFORM_DETECTION_ENV] = "true"  # a handler's own connector login stays on loopback too
        source = str(self.import_path) if self.import_path else _package_parent()
        if source:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
            env[DROP_PATH_ENV] = source
        with self.log_path.open("ab") as log:
            if self.python.warning:
                log.write(f"localsnow: WARNING: {self.python.warning}\n".encode())
                log.flush()
            try:
                self._process = subprocess.Popen(
                    command,
                    pass_fds=[child_end.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=scratch,
                    env=env,
                )
            except OSError as error:
                parent_end.close()
                child_end.close()
                raise UdfError(
                    f"Cannot start a Python UDF worker with {self.python.path} ({self.python.source}): {error}. "
                    f"Point {UDF_PYTHON_ENV} at a Python 3 interpreter, or unset it"
                ) from None
        child_end.close()
        self._channel = Connection(parent_end.detach())
        logger.info("started worker pid %s for %s", self._process.pid, function.object_name.dotted)
        status, payload = self._receive("Importing the handler's module", deadline)
        if status != "ready":
            self.close()
            raise UdfError(str(payload))
        self.info = payload

    def _receive(self, phase: str, deadline: float) -> tuple[str, Any]:
        """The worker's answer, within the per-call limit and the statement's deadline (else it is killed)."""
        assert self._channel and self._process
        started = time.monotonic()
        if not self._channel.poll(max(0.0, min(self.timeout, deadline - started))):
            self.close(kill=True)
            elapsed = time.monotonic() - started
            if deadline < started + self.timeout:
                logger.warning("%s: %s stopped at the statement's timeout", self.function.name, phase)
                raise StatementTimeout(f"{phase} stopped at the statement's timeout after {go_duration(elapsed)}")
            logger.warning("%s: %s past %g s (%s sets the limit)", self.function.name, phase, self.timeout, TIMEOUT_ENV)
            raise UdfTimeout(timeout_message(self.function, phase, elapsed, self.timeout))
        try:
            return self._channel.recv()
        except (EOFError, OSError):
            code = self._exit_code()
            self.close()
            logger.warning("%s: worker ended during %s (exit code %s)", self.function.name, phase, code)
            raise UdfError(worker_exit_message(code, self.log_path, self.memory_mb)) from None

    def _exit_code(self) -> int | None:
        """The exit status of a worker whose end of the socket closed (it is ending, or killed now)."""
        assert self._process
        try:
            return self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def call(self, columns: list[list[Any]], deadline: float = math.inf) -> list[Any]:
        with self._lock:
            self._ensure_started(deadline)
            assert self._channel
            try:
                self._channel.send(("call", columns))
            except OSError:  # it died since its last batch: nothing ran, so start a new one and send again
                self.close(kill=True)
                self._ensure_started(deadline)
                assert self._channel
                self._channel.send(("call", columns))
            status, payload = self._receive("Handler execution", deadline)
            if status == MEMORY_EXHAUSTED:  # the worker exits after saying so: a fresh one takes the next call
                self._exit_code()
                self.close()
                raise UdfError(f"{payload}\n{memory_exhausted_message(self.memory_mb)}")
        if status != "ok":
            raise UdfError(str(payload))
        return payload

    def kill(self) -> None:
        """Kill the process from another thread; the thread waiting on it reports the exit."""
        process = self._process
        if process is not None:
            process.kill()

    def close(self, kill: bool = False) -> None:
        """Stop the process: ask it to exit (a busy one is killed after 2 s), or kill it now."""
        if kill and self._process is not None:
            self._process.kill()
        if self._channel is not None:
            with contextlib.suppress(OSError):
                self._channel.send(("stop",))
            self._channel.close()
            self._channel = None
        if self._process is not None:
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


class _BatchRun:
    """One call's batches, handed out in row order to the threads serving them; values kept in order."""

    def __init__(self, batches: list[list[list[Any]]]) -> None:
        self.batches = batches
        self._lock = threading.Lock()
        self._next = 0
        self._values: list[list[Any] | None] = [None] * len(batches)
        self._errors: list[tuple[int, BaseException]] = []

    def next(self) -> int | None:
        """The next batch to run, or None when all are handed out or one failed (the rest are dropped)."""
        with self._lock:
            if self._errors or self._next >= len(self.batches):
                return None
            self._next += 1
            return self._next - 1

    def done(self, index: int, values: list[Any]) -> None:
        self._values[index] = values

    def fail(self, index: int, error: BaseException) -> None:
        with self._lock:
            self._errors.append((index, error))

    def values(self) -> list[Any]:
        """Every batch's values in row order; else the first failure in row order, as one process
        would have met it (a worker that failed to start counts first)."""
        if self._errors:
            raise min(self._errors, key=lambda item: item[0])[1]
        return [value for values in self._values if values is not None for value in values]


class WorkerPool:
    """Up to `size` workers for one function definition, started on demand and run concurrently.

    Thread-safe: DuckDB may call a function from several threads at once; each worker
    is lent to one batch at a time. Batches wait on worker sockets in threads (the GIL
    is released while they wait), so the processes compute in parallel.
    """

    def __init__(
        self,
        function: FunctionDef,
        directory: Path,
        log_path: Path,
        timeout: float,
        size: int,
        python: WorkerPython | None = None,
        import_path: Path | None = None,
        memory_mb: int | None = None,
    ) -> None:
        self.function = function
        self.size = size
        self._new_worker = lambda: Worker(function, directory, log_path, timeout, python, import_path, memory_mb)
        self._changed = threading.Condition()
        self._workers: list[Worker] = []  # started, starting or busy
        self._idle: list[Worker] = []
        self._closed = False
        self._info: dict[str, Any] | None = None

    def run(self, columns: list[list[Any]], deadline: float = math.inf) -> list[Any]:
        """The handler's values for these rows, in row order; raises UdfError if any batch fails.

        `deadline` (time.monotonic()) bounds every wait: for a worker, its start and each batch."""
        if self._info is None:
            self._first_info(len(columns[0]), deadline)
        spans = self.plan(len(columns[0]))
        if len(spans) == 1:
            return self._run_batch(columns, deadline=deadline)
        batches = [[column[start:stop] for column in columns] for start, stop in spans]
        # The workers this statement can use now: fresh ones started in parallel (each may spend seconds
        # importing torch) and idle ones; if none, it waits for one. Each serves batches on a thread of
        # this call's own, taking the next batch in row order until none is left: a batch never waits
        # behind another statement's batches for a thread, so statements cannot starve each other.
        fresh = self._reserve(len(batches))
        lent = self._take_idle(len(batches) - len(fresh))
        run = _BatchRun(batches)
        servers = [(worker, True) for worker in fresh] + [(worker, False) for worker in lent]
        threads = [
            threading.Thread(target=self._serve, args=(run, worker, start, deadline), daemon=True)
            for worker, start in servers or [(None, False)]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return run.values()

    def _serve(self, run: _BatchRun, worker: Worker | None, start: bool, deadline: float) -> None:
        """Run batches of `run` on one worker (reserved to start, lent idle, or acquired) until none is left."""
        try:
            worker = (self._start(worker, deadline) if start else worker) if worker else self._acquire(deadline)
        except BaseException as error:
            run.fail(-1, error)
            return
        try:
            while (index := run.next()) is not None:
                try:
                    run.done(index, worker.call(run.batches[index], deadline))
                except BaseException as error:
                    run.fail(index, error)
        finally:
            self._release(worker)

    def plan(self, rows: int) -> list[tuple[int, int]]:
        """How `run` splits this many rows into batches, once the handler's kind is known (else one batch)."""
        if self._info is None:
            return plan_batches(rows, 1, False, None)
        return plan_batches(rows, self.size, self._info["vectorized"], self._info["max_batch_size"])

    def _first_info(self, rows: int, deadline: float) -> dict[str, Any]:
        """How the handler wants its rows (vectorized, max batch size), learnt by starting workers.

        Every batch plan uses min(size, rows) workers, so start that many now, together:
        a first big statement then pays one model load, not one per worker in turn.
        """
        fresh = self._reserve(min(self.size, rows))
        outcomes: list[Worker | BaseException] = []

        def start(worker: Worker) -> None:
            try:
                outcomes.append(self._start(worker, deadline))
            except BaseException as error:
                outcomes.append(error)

        threads = [threading.Thread(target=start, args=(worker,), daemon=True) for worker in fresh]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for outcome in outcomes:
            if not isinstance(outcome, BaseException):
                self._release(outcome)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        if self._info is None:  # every worker was already started by a concurrent statement
            self._release(self._acquire(deadline))
        assert self._info is not None
        return self._info

    def _run_batch(
        self, columns: list[list[Any]], worker: Worker | None = None, start: bool = False, deadline: float = math.inf
    ) -> list[Any]:
        """Run one batch on ``worker`` (reserved and to be started, or lent idle), else on any free one."""
        worker = (self._start(worker, deadline) if start else worker) if worker else self._acquire(deadline)
        try:
            return worker.call(columns, deadline)
        finally:
            self._release(worker)

    def _reserve(self, wanted: int) -> list[Worker]:
        """New workers, not yet started, to bring the pool up to `wanted` (at most its size)."""
        with self._changed:
            if self._closed:
                raise UdfError(self._gone())
            fresh = [self._new_worker() for _ in range(min(wanted, self.size) - len(self._workers))]
            self._workers += fresh  # they hold their slots while they start, outside the lock
        return fresh

    def _take_idle(self, wanted: int) -> list[Worker]:
        with self._changed:
            taken, self._idle = self._idle[: max(wanted, 0)], self._idle[max(wanted, 0) :]
        return taken

    def _acquire(self, deadline: float = math.inf) -> Worker:
        """An idle worker; else a new one, if the pool has room; else wait for one (until the deadline)."""
        with self._changed:
            while True:
                if self._closed:
                    raise UdfError(self._gone())
                if self._idle:
                    return self._idle.pop()
                if len(self._workers) < self.size:
                    worker = self._new_worker()
                    self._workers.append(worker)
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StatementTimeout("the statement's timeout came while its batch waited for a worker")
                self._changed.wait(None if math.isinf(left) else left)
        return self._start(worker, deadline)

    def _start(self, worker: Worker, deadline: float = math.inf) -> Worker:
        """Start a reserved worker; a failed one gives its slot back."""
        try:
            worker.ensure_started(deadline)
        except BaseException:
            self._discard(worker)
            raise
        self._info = self._info or worker.info
        return worker

    def _discard(self, worker: Worker) -> None:
        """Free the slot of a reserved worker that did not start."""
        with self._changed:
            if worker in self._workers:
                self._workers.remove(worker)
            self._changed.notify()

    def _release(self, worker: Worker) -> None:
        with self._changed:
            if not self._closed:
                self._idle.append(worker)
                self._changed.notify()
                return
            self._workers.remove(worker)
        worker.close()  # the pool closed while it was busy

    def _gone(self) -> str:
        return f"function {self.function.object_name.dotted} was replaced or dropped while the statement ran"

    def close(self, kill_busy: bool = False) -> None:
        """Stop the idle workers now, busy ones when they hand back their batch (or kill them now)."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = [worker for worker in self._workers if worker not in idle]
            for worker in idle:
                self._workers.remove(worker)
            self._changed.notify_all()
        for worker in idle:
            worker.close()
        if kill_busy:
            for worker in busy:
                worker.kill()


class UdfRuntime:
    def __init__(
        self,
        layout: Layout,
        stages: StageStore,
        duck: duckdb.DuckDBPyConnection,
        timeout: float | None = None,
        processes: int | None = None,
    ) -> None:
        self._layout = layout
        self._stages = stages
        self._duck = duck
        self._timeout = timeout or float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
        self._processes = processes if processes is not None else processes_from_env()
        self._memory_mb = memory_mb_from_env(self._processes)
        self._python = choose_worker_python(layout.home)
        if self._python.warning:
            logger.warning("%s", self._python.warning)
        else:
            logger.info("Python UDF workers run on %s (%s)", self._python.path, self._python.source)
        self._pools: dict[str, WorkerPool] = {}
        self._errors: dict[str, str] = {}
        self._callables: dict[str, Callable[..., pa.Array]] = {}
        self._lock = threading.Lock()
        self._register_lock = threading.Lock()
        self._replace_lock = threading.Lock()
        self._versions = DefinitionVersions()
        self.parameters = Parameters()

    # -- registration -------------------------------------------------------------------------

    def register(self, function: FunctionDef, publish: bool = True) -> None:
        """Make `_ls_udf_<id>` callable from every session; published, statements naming its
        signature run it (else `replace` publishes it).

        DuckDB keeps a registered function in the database's catalog but only a borrowed
        reference to the Python callable, owned by the registering connection: register on
        the long-lived main connection and keep the callable alive here (a collected one
        crashes the process when called).
        """
        if not executable(function):
            return  # metadata only; calling it reports the unsupported type
        implementation = self._callable(function)
        with self._register_lock:
            self._duck.create_function(
                sql_name(function),
                implementation,
                [duckdb.sqltype(t.duckdb) for t in function.arg_types],  # type: ignore[arg-type]
                duckdb.sqltype(function.returns.duckdb),  # type: ignore[arg-type]
                type="arrow",
                null_handling="special",
                side_effects=function.volatility == "VOLATILE",
            )
            self._callables[function.id] = implementation
        self._versions.add(function, publish)

    def replace(self, old: FunctionDef | None, new: FunctionDef, commit: Callable[[], object]) -> None:
        """CREATE [OR REPLACE]: atomic for callers. The new definition is registered under its own
        name first, `commit` (the catalog write) runs, then statements resolve the signature to the
        new one; the old one goes when no running statement uses it. If `commit` fails, nothing changed."""
        self.register(new, publish=False)
        with self._replace_lock:  # one replace at a time: the catalog and the current definition agree
            try:
                commit()
            except BaseException:
                self.unregister(new)
                raise
            previous = self._versions.publish(new)
        for replaced in {f.id: f for f in (old, previous) if f is not None}.values():
            self.unregister(replaced)

    def unregister(self, function: FunctionDef) -> None:
        """A replaced or dropped definition: new statements no longer run it; it is finished (DuckDB
        function removed, workers stopped, files deleted) now, or when the last statement running it ends."""
        if self._versions.retire(function):
            self._finish(function)

    def _finish(self, function: FunctionDef) -> None:
        with self._register_lock:
            if self._callables.pop(function.id, None) is not None:
                self._duck.remove_function(sql_name(function))
        with self._lock:
            pool = self._pools.pop(function.id, None)
        if pool:
            pool.close()
        remove_tree(self._layout.udf_dir / function.id)

    @contextlib.contextmanager
    def statement(self, sql: str, conn: Any = None) -> Iterator[str]:
        """Run one statement (the text it yields) against whole function definitions, within its timeout.

        Each `_ls_udf_<id>` the statement names is bound to a live definition and kept until the
        statement ends, so a concurrent CREATE OR REPLACE never removes a function under it. With a
        STATEMENT_TIMEOUT_IN_SECONDS for the session of `conn`, its UDF batches stop at the deadline and
        DuckDB is interrupted (`conn._duck_conn`); the statement then fails with Snowflake's timeout error.
        """
        timeout = self.parameters.statement_timeout(conn) if conn is not None else None
        started = time.monotonic()
        deadline = started + timeout if timeout else math.inf
        lease = self._versions.bind(sql, deadline)
        watchdog = _Watchdog(timeout, conn._duck_conn.interrupt) if timeout and conn is not None else None
        try:
            yield lease.sql
        except Exception as error:
            if time.monotonic() >= deadline:
                self.take_error(str(error))  # the UDF's own account of it, superseded
                raise statement_timeout_error(timeout or 0) from None
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
            for finished in self._versions.release(lease):
                self._finish(finished)

    def _callable(self, function: FunctionDef) -> Callable[..., pa.Array]:
        def call(*arrays: pa.Array) -> pa.Array:
            return self._run(function, arrays)

        # DuckDB checks the callable's arity against the declared argument types.
        call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(function.arg_types))]
        )
        return call

    # -- execution ----------------------------------------------------------------------------

    def _run(self, function: FunctionDef, arrays: tuple[pa.Array, ...]) -> pa.Array:
        try:
            columns = [array.to_pylist() for array in arrays]
            rows = len(columns[0])
            if function.null_handling == "CALLED ON NULL INPUT":
                keep = list(range(rows))
            else:  # RETURNS NULL ON NULL INPUT: the handler never sees a NULL
                keep = [i for i in range(rows) if all(c[i] is not None for c in columns)]
            values: list[Any] = [None] * rows
            if keep:
                subset = [[column[i] for i in keep] for column in columns]
                results = self._pool(function).run(subset, self._versions.deadline(function.id))
                for index, value in zip(keep, results, strict=True):
                    values[index] = value
            return pa.array(values, type=_ARROW_TYPES[function.returns.duckdb or "VARCHAR"])
        except UdfError as error:
            key = uuid.uuid4().hex
            self._errors[key] = (
                str(error)
                if isinstance(error, UdfTimeout | StatementTimeout)
                else f"Python Interpreter Error:\n{error}\n in function {function.name} with handler {function.handler}"
            )
            raise RuntimeError(ERROR_MARKER + key) from None

    def take_error(self, text: str) -> str | None:
        """The user-facing message behind a DuckDB error raised by `_run`, if it is one."""
        match = _MARKER_PATTERN.search(text)
        return self._errors.pop(match.group(1), None) if match else None

    def _pool(self, function: FunctionDef) -> WorkerPool:
        with self._lock:
            pool = self._pools.get(function.id)
            if pool is None:
                if not self._versions.is_live(function.id):  # a call no statement leased (e.g. from a view)
                    raise UdfError(f"function {function.object_name.dotted} was replaced or dropped")
                directory = self._materialize(function)
                # One log per definition: its workers append their output to it.
                log_path = self._layout.logs_dir / f"udf-{function.name.lower()}-{function.id[:8]}.log"
                pool = WorkerPool(
                    function,
                    directory,
                    log_path,
                    self._timeout,
                    self._processes,
                    self._python,
                    worker_import_path(self._layout),
                    self._memory_mb,
                )
                self._pools[function.id] = pool
            return pool

    def _materialize(self, function: FunctionDef) -> Path:
        """Lay the imports out flat and read-only, as Snowflake does; inline code beside them."""
        directory = self._layout.udf_dir / function.id
        imports = directory / "imports"
        if not imports.is_dir():
            staging = directory / f"imports.tmp-{uuid.uuid4().hex[:8]}"
            staging.mkdir(parents=True)
            try:
                for text, location in zip(function.imports, function.stage_imports, strict=True):
                    file = self._stages.file(location)
                    if file is None:
                        raise UdfError(f"Failed to access import {text}: file does not exist on the stage")
                    target = staging / Path(location.path).name
                    place_read_only(file.path, target)  # a hard link where it can: no 1 GB copy
                staging.chmod(0o555)
                os.replace(staging, imports)
            finally:
                remove_tree(staging)
        if function.body is not None:
            code = directory / "code"
            code.mkdir(exist_ok=True)
            (code / "_udf_code.py").write_text(function.body, "utf-8")
        return directory

    def shutdown(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close(kill_busy=True)


class _Watchdog:
    """Interrupts a statement's DuckDB work at its timeout, unless cancelled first (never afterwards)."""

    def __init__(self, seconds: float, interrupt: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._interrupt = interrupt
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                self._interrupt()

    def cancel(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
