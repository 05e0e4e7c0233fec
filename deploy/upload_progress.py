"""What apply shows while it runs: a progress bar on a terminal, one line per step in CI logs.

A PUT is one blocking call, so progress advances per file: on a terminal a rich.progress bar over the
plan's bytes with throughput, and a line per uploaded file above it; elsewhere (CI logs, pipes) one
plain line per file: name, bytes, seconds, MB/s. Other statements keep their `[i/n] SQL` line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn
from rich.text import Text

from deploy.apply import Step
from deploy.units import human_bytes


def upload_line(name: str, size: int, seconds: float) -> str:
    """``uploaded 1a2b3c/model.safetensors  231.8 MB (231800000 bytes) in 4.12 s, 56.3 MB/s``."""
    rate = human_bytes(int(size / seconds)) if seconds > 0 else "-"
    return f"uploaded {name}  {human_bytes(size)} ({size} bytes) in {seconds:.2f} s, {rate}/s"


def _statement_line(i: int, n: int, step: Step) -> Text:
    shown = step.sql if len(step.sql) <= 110 else step.sql[:107] + "..."
    return Text.assemble((f"[{i + 1}/{n}] ", "dim"), shown)


class StepPrinter:
    """``on_step`` for ``apply_plan``; use as a context manager so a bar is closed on failure too."""

    def __init__(self, console: Console, total_bytes: int):
        self.console = console
        self.total_bytes = total_bytes
        self.progress: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> StepPrinter:
        if self.console.is_terminal and self.total_bytes > 0:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=False),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("uploading", total=self.total_bytes)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, i: int, n: int, step: Step) -> Callable[[float], None] | None:
        if step.upload_name is None:
            self.console.print(_statement_line(i, n, step))
            return None
        if self.progress is not None:
            self.progress.update(self.task, description=f"[{i + 1}/{n}] {step.upload_name}")

        def finished(seconds: float) -> None:
            self.console.print(upload_line(step.upload_name or "", step.upload_bytes, seconds), markup=False)
            if self.progress is not None:
                self.progress.advance(self.task, step.upload_bytes)

        return finished
