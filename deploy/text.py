"""Input text on one line: for plans, messages and the check on file names.

Manifests, file names and account values are untrusted. A plan is what a
reviewer approves and an error is what an operator reads, so text taken from
input must not add lines, drive the terminal (ESC sequences) or reorder what
is shown (bidi controls), and an echoed value must not flood the output.
"""

from __future__ import annotations

SHOWN_CHARS = 80


def unsafe_chars(text: str) -> list[str]:
    """The characters Python would not print as is, once each, in order of appearance.

    Controls (``\\n``, ``\\t``, NUL, ESC, DEL, C1), U+2028/2029, format characters
    (U+202E, zero-width), lone surrogates (undecodable file-name bytes) and
    non-space blanks.
    """
    return [] if text.isprintable() else list(dict.fromkeys(c for c in text if not c.isprintable()))


def one_line(value: object) -> str:
    """``value`` as text with every unsafe character written as its Python escape (``\\n``, ``\\u202e``).

    Backslashes stay single, so text already quoted with repr() reads as before.
    """
    text = str(value)
    if text.isprintable():  # the common case, checked in C
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` for a message: one line, at most ``limit`` characters plus a note of the rest."""
    text = one_line(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
