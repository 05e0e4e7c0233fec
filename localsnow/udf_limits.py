"""Limits on a Python UDF worker, and the words for a worker that died or ran out of time.

Snowflake bounds handler code: "Handler code will return an error if it consumes too much memory",
and "If a handler takes too long to complete, Snowflake kills the SQL statement and returns an error"
(https://docs.snowflake.com/en/developer-guide/udf-stored-procedure-constraints). Here each worker
process gets a data-segment limit (RLIMIT_DATA: heap and private anonymous mappings, what allocating
memory grows) so that a runaway handler fails its own statement with MemoryError instead of driving
the machine into its out-of-memory killer. RLIMIT_AS would count reserved address space too, which
PyTorch and glibc's per-thread arenas reserve by the gigabyte without using it.
"""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

from snowflake.connector.errors import ProgrammingError

from localsnow import errors

MEMORY_ENV = "LOCALSNOW_UDF_MEMORY_MB"
_MIN_DEFAULT_MB = 2048


def _physical_mb() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError, AttributeError):
        return None


def default_memory_mb(processes: int) -> int | None:
    """Per worker: an even share of half the machine's memory among a pool's workers, at least 2 GiB
    (a T5 model and PyTorch fit) but never over half the memory; None where memory is unknown."""
    total = _physical_mb()
    if total is None:
        return None
    return min(total // 2, max(_MIN_DEFAULT_MB, total // (2 * max(processes, 1))))


def memory_mb_from_env(processes: int) -> int | None:
    """$LOCALSNOW_UDF_MEMORY_MB (0: no limit), else `default_memory_mb`."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return default_memory_mb(processes)
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"{MEMORY_ENV} must be a whole number of MiB per Python UDF worker (0 for no limit); got {text!r}. "
            f"Set it to e.g. 4096, or unset it for the default ({default_memory_mb(processes)} MiB here)"
        )
    return value or None


def _memory_hint(memory_mb: int | None) -> str:
    if memory_mb is None:
        return f"no limit is set ({MEMORY_ENV}=0)"
    return f"each worker may use {memory_mb} MiB; {MEMORY_ENV} sets it"


def memory_exhausted_message(memory_mb: int | None) -> str:
    return (
        f"Python UDF worker ran out of memory ({_memory_hint(memory_mb)}). The handler or the batch it got "
        "needs more: process fewer rows per batch (max_batch_size), free what it keeps between calls, or "
        "raise the limit. The statement failed; the next call starts a fresh worker"
    )


def worker_exit_message(code: int | None, log_path: Path, memory_mb: int | None) -> str:
    """Why a worker process ended in the middle of a call, and what to check."""
    after = f"The statement failed; the next call starts a new worker. The worker's output is in {log_path}"
    if code is not None and code < 0:
        number = -code
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number == signal.SIGKILL:
            return (
                f"Python UDF worker was killed ({name}) while running the handler: most often the kernel's "
                f"out-of-memory killer (check `dmesg`; {_memory_hint(memory_mb)}), or another process killed it. "
                + after
            )
        return (
            f"Python UDF worker crashed ({name}) while running the handler: a fault in native code it called "
            f"(a C extension, a library built for another platform). {after}"
        )
    return (
        f"Python UDF worker exited unexpectedly (exit code {code}) while running the handler: the handler or "
        f"a library it uses ended the process (os._exit, sys.exit from a thread, abort). {after}"
    )


def statement_timeout_error(timeout_s: float) -> ProgrammingError:
    """Snowflake's: `000630 (57014): Statement reached its statement or warehouse timeout of 120 second(s)
    and was canceled.` (as reported in Snowflake-Labs/semantic-model-generator issue #221)."""
    seconds = int(timeout_s) if timeout_s == math.floor(timeout_s) else timeout_s
    return errors.sql_error(
        f"Statement reached its statement or warehouse timeout of {seconds} second(s) and was canceled.",
        630,
        "57014",
    )
