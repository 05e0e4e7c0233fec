"""Human-readable quantities shared by the diff's reasons and the renderers."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """Decimal units, as ``ls -h --si`` and Snowflake's UI print them: 5.3 MB."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
