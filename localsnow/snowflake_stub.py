"""Stand-in for Snowflake's `_snowflake` module, installed as `_snowflake` in UDF workers.

Only what Python UDF handlers commonly touch: the `vectorized` decorator, which
(as in Snowflake) just marks the function; the runtime reads the marks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def vectorized(
    input: type, max_batch_size: int | None = None, **_options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a handler as vectorized: it takes a DataFrame of up to max_batch_size rows."""

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        func._sf_vectorized_input = input  # type: ignore[attr-defined]
        func._sf_max_batch_size = max_batch_size  # type: ignore[attr-defined]
        return func

    return mark


def get_generic_secret_string(name: str) -> str:
    raise NotImplementedError("secrets are not available in the local Snowflake")


def get_username_password(name: str) -> Any:
    raise NotImplementedError("secrets are not available in the local Snowflake")
