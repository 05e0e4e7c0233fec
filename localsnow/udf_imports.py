"""What a Python UDF handler may import: Snowflake's PACKAGES rule, enforced inside the worker.

In Snowflake a handler runs in an environment built from its PACKAGES (resolved with their
dependencies from the Anaconda channel: SHOW_PYTHON_PACKAGES_DEPENDENCIES,
https://docs.snowflake.com/en/sql-reference/functions/show_python_packages_dependencies), plus
the standard library ("your Python function can use modules and functions in the standard
Python packages": https://docs.snowflake.com/en/developer-guide/udf/python/udf-python-limitations),
its IMPORTS, and the `_snowflake` module ("exposed to Python UDFs that execute within Snowflake":
https://docs.snowflake.com/en/developer-guide/udf/python/udf-python-batch). Anything else is not
installed there, so `import x` fails with `ModuleNotFoundError: No module named 'x'`.

The worker's interpreter may hold more (a venv shared with other packages), so `install` hides
the rest: every finder on sys.meta_path that could load a disallowed top-level module is told to
find nothing, as if it were not installed (importlib.util.find_spec returns None, which is how
libraries such as transformers probe optional dependencies), and modules already loaded that the
handler may not import are dropped from sys.modules. Dependencies come from the installed
distributions' metadata (Requires-Dist, with environment markers and only the extras asked for).

Standard library only: this runs in the worker's interpreter, which is not the server's.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import os
import platform
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Always there in Snowflake's Python runtime, whatever PACKAGES says.
IMPLICIT_MODULES = frozenset({"_snowflake"})
STANDARD_LIBRARY = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
# The interpreter's own library folders: stdlib modules missing from stdlib_module_names (such as
# sysconfig's platform-named _sysconfigdata_*) live there too. Only their top level is searched,
# so site-packages below them stays out.
STANDARD_LIBRARY_PATHS = [os.path.dirname(os.__file__), os.path.join(os.path.dirname(os.__file__), "lib-dynload")]

_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?[^;]*(?:;(?P<marker>.*))?$"
)
_MARKER_TOKEN = re.compile(
    r"""\s*(?:(?P<string>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b)"""
    r"""|(?P<word>and\b|or\b)|(?P<paren>[()])|(?P<var>[A-Za-z_][A-Za-z0-9_.]*))"""
)


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them: case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def marker_environment() -> dict[str, str]:
    """PEP 508's marker variables for this interpreter."""
    info = sys.implementation.version
    implementation_version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        implementation_version += info.releaselevel[0] + str(info.serial)
    return {
        "os_name": os.name,
        "sys_platform": sys.platform,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "python_full_version": platform.python_version(),
        "implementation_name": sys.implementation.name,
        "implementation_version": implementation_version,
    }


def _release(text: str) -> tuple[int, ...] | None:
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(p) for p in match[0].split(".")) if match else None


def _compare(left: str, op: str, right: str) -> bool:
    if op == "in":
        return left in right
    if op == "not in":
        return left not in right
    lv, rv = _release(left), _release(right)
    if lv is None or rv is None or op == "===":  # not versions: plain string comparison
        return {"==": left == right, "===": left == right, "!=": left != right}.get(op, False)
    width = max(len(lv), len(rv))
    lv, rv = lv + (0,) * (width - len(lv)), rv + (0,) * (width - len(rv))
    if op == "~=":  # compatible release: >= right, same prefix but for right's last part
        prefix = len(_release(right) or ()) - 1
        return lv >= rv and lv[:prefix] == rv[:prefix]
    return {"==": lv == rv, "!=": lv != rv, "<": lv < rv, "<=": lv <= rv, ">": lv > rv, ">=": lv >= rv}[op]


class _Marker:
    """A PEP 508 environment marker, evaluated by recursive descent (or / and / comparison)."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, text = 0, text.strip()
        while position < len(text):
            match = _MARKER_TOKEN.match(text, position)
            if not match or match.end() == position:
                raise ValueError(f"bad marker {text!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, re.sub(r"\s+", " ", match[kind])))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1

    def evaluate(self, environment: dict[str, str]) -> bool:
        self.environment, self.index = environment, 0
        result = self._or()
        if self.index != len(self.tokens):
            raise ValueError("trailing tokens in marker")
        return result

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("", "")

    def _or(self) -> bool:
        result = self._and()
        while self._peek() == ("word", "or"):
            self.index += 1
            result = self._and() or result
        return result

    def _and(self) -> bool:
        result = self._atom()
        while self._peek() == ("word", "and"):
            self.index += 1
            result = self._atom() and result
        return result

    def _atom(self) -> bool:
        if self._peek() == ("paren", "("):
            self.index += 1
            result = self._or()
            self.index += 1  # ')'
            return result
        (left_var, left), op = self._value(), self.tokens[self.index][1]
        self.index += 1
        right_var, right = self._value()
        if "extra" in (left_var, right_var):  # extras compare by normalized name
            left, right = normalize(left), normalize(right)
        return _compare(left, op, right)

    def _value(self) -> tuple[str, str]:
        """(variable name or "", value) of the next operand."""
        kind, value = self._peek()
        self.index += 1
        if kind == "string":
            return "", value[1:-1]
        if kind == "var":
            return value, self.environment.get(value, "")
        raise ValueError(f"unexpected {value!r} in marker")


def requirement_applies(marker: str | None, environment: dict[str, str], extras: Iterable[str]) -> bool:
    """Whether a Requires-Dist marker holds here for one of the requested extras (or none)."""
    if not marker or not marker.strip():
        return True
    try:
        parsed = _Marker(marker)
        return any(parsed.evaluate({**environment, "extra": extra}) for extra in [*extras, ""])
    except (ValueError, IndexError, KeyError):
        return True  # a marker this reader cannot parse: rather allow than hide an installed dependency


@dataclass
class PackageClosure:
    """Declared distributions and their dependencies as installed here, with their top-level modules."""

    distributions: dict[str, str] = field(default_factory=dict)  # normalized name -> version
    modules: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)  # declared or required, not installed here


def resolve(declared: Iterable[str], distributions: Iterable[Any] | None = None) -> PackageClosure:
    """The transitive closure of `declared` distribution names over this interpreter's metadata."""
    installed: dict[str, Any] = {}
    for dist in distributions if distributions is not None else importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            installed.setdefault(normalize(name), dist)
    environment = marker_environment()
    closure = PackageClosure()
    extras_seen: dict[str, set[str]] = {}
    queue: list[tuple[str, set[str]]] = [(normalize(name), set()) for name in declared]
    while queue:
        name, extras = queue.pop()
        if name in extras_seen and extras <= extras_seen[name]:
            continue
        extras_seen[name] = extras_seen.get(name, set()) | extras
        dist = installed.get(name)
        if dist is None:
            if name not in closure.missing:
                closure.missing.append(name)
            continue
        closure.distributions[name] = dist.version
        closure.modules |= top_level_modules(dist)
        for text in dist.requires or []:
            match = _REQUIREMENT.match(text)
            if match and requirement_applies(match["marker"], environment, extras_seen[name]):
                wanted = {normalize(e) for e in (match["extras"] or "").split(",") if e.strip()}
                queue.append((normalize(match["name"]), wanted))
    return closure


def top_level_modules(dist: Any) -> set[str]:
    """The importable top-level names a distribution installs (top_level.txt, else its RECORD)."""
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip().replace("/", ".").split(".")[0] for line in text.splitlines() if line.strip()}
    names = set()
    for path in dist.files or []:
        parts = path.parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or parts[0] in ("..", "__pycache__"):
            continue
        if len(parts) > 1:
            names.add(parts[0])
        elif parts[0].endswith((".py", ".so", ".pyd")):
            names.add(parts[0].split(".")[0])
    return names


class _FilteredFinder:
    """A sys.meta_path finder that finds nothing for top-level modules the handler may not import."""

    def __init__(self, finder: Any, allows: Callable[[str], bool]) -> None:
        self.finder = finder
        self.allows = allows

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if "." not in fullname and not self.allows(fullname):
            return None
        find = getattr(self.finder, "find_spec", None)
        return find(fullname, path, target) if find else None

    def invalidate_caches(self) -> None:
        if hasattr(self.finder, "invalidate_caches"):
            self.finder.invalidate_caches()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.finder, name)


@dataclass
class ImportPolicy:
    """Top-level modules the handler may import: the standard library, `_snowflake`, its packages'
    modules, and whatever its own code paths (inline code, import directory, zips) provide."""

    package_modules: set[str]
    code_paths: list[str]
    _found: dict[str, bool] = field(default_factory=dict)

    def allows(self, name: str) -> bool:
        if name in STANDARD_LIBRARY or name in IMPLICIT_MODULES or name in self.package_modules:
            return True
        if name not in self._found:
            paths = [*STANDARD_LIBRARY_PATHS, *self.code_paths]
            self._found[name] = importlib.machinery.PathFinder.find_spec(name, paths) is not None
        return self._found[name]

    def install(self) -> None:
        """Filter every finder that can load from outside the interpreter; forget disallowed modules."""
        passthrough = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
        allows = self.allows
        sys.meta_path[:] = [
            finder if finder in passthrough or isinstance(finder, _FilteredFinder) else _FilteredFinder(finder, allows)
            for finder in sys.meta_path
        ]
        for name in list(sys.modules):
            if not self.allows(name.partition(".")[0]):
                del sys.modules[name]
