"""SHOW ... LIKE '<pattern>': SQL wildcards, case-insensitive, backslash escapes a wildcard."""

from __future__ import annotations

import re

from localsnow.names import decode_string_body

# A single-quoted literal's body: '' and backslash escapes included.
STRING_BODY = r"(?:[^'\\]|\\.|'')*"
_CLAUSE = re.compile(rf"\sLIKE\s+'(?P<body>{STRING_BODY})'", re.IGNORECASE | re.DOTALL)


def split_like(sql: str) -> tuple[str, str | None]:
    """(the statement without its LIKE clause, the decoded pattern), or (sql, None)."""
    match = _CLAUSE.search(sql)
    if not match:
        return sql, None
    return sql[: match.start()] + sql[match.end() :], decode_string_body(match["body"])


def like_regex(pattern: str) -> re.Pattern[str]:
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
