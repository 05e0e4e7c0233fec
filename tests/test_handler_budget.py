"""The handler's time budget: a call stops with a clear error before Snowflake's 180 s limit.

No model is loaded: generate() and the clock are fakes, so every step is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from udf import handler


class FakeClock:
    """Stands in for the handler's `time` module: only advances when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(handler, "time", fake)
    monkeypatch.setattr(handler, "_seconds_per_row", None)  # no timing from earlier tests
    return fake


def fake_model(monkeypatch: pytest.MonkeyPatch, clock: FakeClock, *, load_s: float = 0.0, **settings) -> list[int]:
    """A loaded "model" whose generate takes one (fake) second per row; returns the batch sizes seen."""
    loaded = handler.LoadedModel(None, None, Path("."), handler.Settings(**settings), load_s)
    monkeypatch.setattr(handler, "_loaded", None)

    def load() -> handler.LoadedModel:
        clock.now += load_s
        return loaded

    monkeypatch.setattr(handler, "load_model", load)
    calls: list[int] = []

    def generate(_loaded: handler.LoadedModel, texts: list[str]) -> list[str]:
        calls.append(len(texts))
        clock.now += 1.0 * len(texts)
        return [f"summary of {t}" for t in texts]

    monkeypatch.setattr(handler, "_generate", generate)
    return calls


def test_a_call_that_cannot_finish_stops_before_the_limit_naming_what_to_change(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setenv(handler.CALL_BUDGET_ENV, "10")
    calls = fake_model(monkeypatch, clock, max_batch_size=4, max_new_tokens=1024, num_beams=16)
    texts = [f"article {i}" for i in range(40)]
    with pytest.raises(handler.CallBudgetExceeded) as caught:
        handler.summarize_texts(texts)
    message = str(caught.value)
    # Probe of 4 rows (4 s), then 4 more (estimate 4 x 1 s x 1.25 = 5 s fits in 10); the third
    # sub-batch would end at 8 + 5 = 13 s: stopped before it starts.
    assert calls == [4, 4]
    assert "180 s limit" in message and "budget 10 s" in message
    assert "8 of 40 rows were summarized in 8.0 s" in message
    assert "the next 4 rows would need about 5.0 s more at 1.00 s per row" in message
    assert "max_batch_size (now 4)" in message and "max_new_tokens (now 1024)" in message
    assert "num_beams (now 16)" in message


def test_the_model_load_counts_against_the_first_call(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setenv(handler.CALL_BUDGET_ENV, "10")
    calls = fake_model(monkeypatch, clock, load_s=12.0)
    with pytest.raises(handler.CallBudgetExceeded, match=r"0 of 2 rows .* loading the model took 12\.0 s"):
        handler.summarize_texts(["one", "two"])
    assert calls == []


def test_the_vectorized_entry_point_returns_no_partial_batch(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """Snowflake's call fails with the message; no row comes back as a silent NULL."""
    monkeypatch.setenv(handler.CALL_BUDGET_ENV, "6")
    fake_model(monkeypatch, clock, max_batch_size=4)
    with pytest.raises(handler.CallBudgetExceeded, match="4 of 12 rows"):
        handler.summarize(pd.DataFrame({0: [f"text {i}" for i in range(12)]}))


def test_calls_that_fit_are_summarized_whole_in_sub_batches(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.delenv(handler.CALL_BUDGET_ENV, raising=False)
    calls = fake_model(monkeypatch, clock, max_batch_size=32)
    texts = [f"t{i}" for i in range(40)]
    assert handler.summarize_texts([None, *texts, ""]) == [None, *(f"summary of {t}" for t in texts), ""]
    # A probe of PROBE_ROWS while the process has no timing, then max_batch_size at a time.
    assert calls == [handler.PROBE_ROWS, 32]
    assert handler.summarize_texts(texts[:3]) == [f"summary of {t}" for t in texts[:3]]
    assert calls[-1] == 3  # timing known now: no probe


def test_the_budget_leaves_a_margin_under_snowflakes_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(handler.CALL_BUDGET_ENV, raising=False)
    assert handler.CALL_LIMIT_S == 180
    assert handler.call_budget() == handler.CALL_BUDGET_S < handler.CALL_LIMIT_S
    for bad in ("soon", "0", "-5"):
        monkeypatch.setenv(handler.CALL_BUDGET_ENV, bad)
        with pytest.raises(ValueError, match=handler.CALL_BUDGET_ENV):
            handler.call_budget()
