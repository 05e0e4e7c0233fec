"""Split file commands (PUT, GET, LIST, REMOVE) into arguments and KEY = value options.

sqlglot parses some of these shapes and falls back to an opaque Command for
others (an unquoted GET, REMOVE), so one small scanner handles them all: an
argument is a single-quoted string or a run of non-blank characters in which
double-quoted identifiers may hold blanks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from localsnow import errors
from localsnow.names import unquote_literal

_LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*\n?|//[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)


def strip_leading_comments(sql: str) -> str:
    return sql[_LEADING_COMMENTS.match(sql).end() :]  # type: ignore[union-attr]


@dataclass
class FileCommand:
    verb: str
    args: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    def option_bool(self, key: str, default: bool) -> bool:
        value = self.options.get(key)
        if value is None:
            return default
        if value.upper() in ("TRUE", "FALSE"):
            return value.upper() == "TRUE"
        raise errors.compilation_error(f"Invalid value specified for property '{key}'")


def _tokens(text: str) -> list[str]:
    tokens, index = [], 0
    while index < len(text):
        char = text[index]
        if char.isspace() or char == ";":
            index += 1
        elif char == "=":
            tokens.append("=")
            index += 1
        elif char == "'":
            end = index + 1
            while end < len(text):
                if text[end] == "\\":
                    end += 2
                    continue
                if text[end] == "'":
                    if text[end + 1 : end + 2] == "'":
                        end += 2
                        continue
                    break
                end += 1
            if end >= len(text):
                raise errors.compilation_error("unterminated string literal")
            tokens.append(text[index : end + 1])
            index = end + 1
        else:
            end, quoted = index, False
            while end < len(text):
                c = text[end]
                if c == '"':
                    quoted = not quoted
                elif not quoted and (c.isspace() or c in "=;"):
                    break
                end += 1
            tokens.append(text[index:end])
            index = end
    return tokens


def parse_file_command(sql: str) -> FileCommand:
    tokens = _tokens(strip_leading_comments(sql))
    if not tokens:
        raise errors.compilation_error("empty statement")
    command = FileCommand(verb=tokens[0].upper())
    rest = tokens[1:]
    index = 0
    while index < len(rest):
        if index + 1 < len(rest) and rest[index + 1] == "=":
            if index + 2 >= len(rest):
                raise errors.compilation_error(f"missing value for option {rest[index]}")
            command.options[rest[index].upper()] = unquote_literal(rest[index + 2])
            index += 3
        else:
            command.args.append(rest[index])
            index += 1
    return command
