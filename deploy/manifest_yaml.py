"""Bounded YAML reading for manifests: data plus the line of every value.

Manifests come from pull requests, so a hostile file must fail fast and
clearly rather than exhaust the machine: the file size, the nesting depth
and the number of values after alias expansion are capped before anything
is built, and every error (encoding and control characters included) names
the file and the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy.spec import Origin
from deploy.text import shown

MAX_MANIFEST_BYTES = 1024 * 1024
MAX_DEPTH = 32
# Values built after alias expansion; the largest real manifest has a few hundred.
MAX_VALUES = 20_000

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Path_ = tuple[str | int, ...]
_PLAIN_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class YamlProblem(Exception):
    """A manifest that cannot be read as bounded YAML; ``line`` is 1-based."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


@dataclass
class Doc:
    """One parsed YAML file: its data and the line of every path in it."""

    file: str  # as shown in messages
    base: Path  # the manifest's folder: relative paths in it start here
    data: Any
    lines: dict[Path_, int]
    key_lines: dict[Path_, int]  # line of a mapping *key*, for "unexpected key" errors

    def line(self, path: Path_) -> int:
        """The line of a mapping entry's key (where a reader looks), else of the value."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.key_lines.get(path) or self.lines.get(path, 1)

    def origin(self, path: Path_) -> Origin:
        return Origin(self.file, self.line(path), dotted(path))

    def where(self, path: Path_) -> str:
        """``file:line: field`` of a path, the prefix of every problem about it."""
        return f"{self.file}:{self.line(path)}: {dotted(path)}"


def dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{shown(p)}" if out else shown(p))
    return out or "(top level)"


def interpolate(value: str, environ: Mapping[str, str], where: str, problems: list[str]) -> str:
    """``${VAR}`` and ``${VAR:-default}`` from ``environ``; an unset variable without default is a problem."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return default
        problems.append(f"{where}: environment variable {name} is not set; set it or write ${{{name}:-default}}")
        return ""

    return _ENV_RE.sub(sub, value)


def read_text(path: Path) -> str:
    """The file as UTF-8 text, refusing what is too large, not a regular file or not UTF-8."""
    if not path.is_file():
        raise YamlProblem(1, "not a regular file")
    with path.open("rb") as handle:
        raw = handle.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise YamlProblem(1, f"larger than {MAX_MANIFEST_BYTES // 1024} KiB, the limit for a manifest; split it")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise YamlProblem(line, f"not UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8") from None


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, max(index, 0)) + 1


def _check_depth(text: str) -> None:
    """Walk the event stream (PyYAML's parser is iterative) so deep nesting never reaches the recursive composer."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlProblem(
                    event.start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels; manifests are shallow"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def parse(path: Path, display: str, environ: Mapping[str, str], problems: list[str]) -> Doc | None:
    """Parse one manifest; append problems (``file:line: ...``) and return None when it cannot be read."""
    try:
        text = read_text(path)
        _check_depth(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        return _build(root, display, path.parent, environ, problems)
    except YamlProblem as e:
        problems.append(f"{display}:{e.line}: {e}")
    except yaml.reader.ReaderError as e:
        # Control characters such as NUL: the reader knows the offset, not the line.
        problems.append(
            f"{display}:{_line_at(text, e.position)}: character {e.character!r} is not allowed in YAML; remove it"
        )
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problems.append(f"{display}:{line}: not valid YAML: {shown(getattr(e, 'problem', None) or e)}")
    except OSError as e:
        problems.append(f"{display}:1: cannot read: {e.strerror or e}")
    return None


def _build(root: yaml.Node | None, display: str, base: Path, environ: Mapping[str, str], problems: list[str]) -> Doc:
    lines: dict[Path_, int] = {}
    key_lines: dict[Path_, int] = {}
    constructor = yaml.SafeLoader("")
    count = 0

    def build(node: yaml.Node, path: Path_) -> Any:
        nonlocal count
        count += 1
        line = node.start_mark.line + 1
        # An alias re-enters a node already built: count it again, so a "billion laughs"
        # stops here, and a self-referencing alias stops at the depth cap.
        if count > MAX_VALUES:
            raise YamlProblem(line, f"more than {MAX_VALUES} values once aliases are expanded; remove the aliases")
        if len(path) > MAX_DEPTH:
            raise YamlProblem(line, f"nested deeper than {MAX_DEPTH} levels (a recursive alias?)")
        lines[path] = line
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTION_TAGS:
            raise YamlProblem(line, f"{dotted(path)}: the YAML tag {shown(node.tag)} is not allowed; remove it")
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k_node, v_node in node.value:
                if not isinstance(k_node, yaml.ScalarNode):
                    raise YamlProblem(k_node.start_mark.line + 1, f"{dotted(path)}: a key must be a plain value")
                key = constructor.construct_object(k_node)
                key = key if isinstance(key, str) else str(key)
                if key in out:
                    problems.append(f"{display}:{k_node.start_mark.line + 1}: {dotted((*path, key))}: duplicate key")
                key_lines[(*path, key)] = k_node.start_mark.line + 1
                out[key] = build(v_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(n, (*path, i)) for i, n in enumerate(node.value)]
        value = constructor.construct_object(node)
        if isinstance(value, str):
            return interpolate(value, environ, f"{display}:{line}: {dotted(path)}", problems)
        return value

    data = build(root, ()) if root is not None else {}
    return Doc(display, base, data, lines, key_lines)
