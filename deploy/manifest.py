"""Manifests (YAML + JSON Schema) -> the desired state.

Every problem is collected and reported at once, each naming the file, the
line and the field, so one run of ``deploy validate`` shows all that is wrong.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from deploy.artifacts import HashCache
from deploy.errors import ManifestInvalid
from deploy.handler_config import CONFIG_NAME, materialize
from deploy.spec import (
    MARKER_NAME,
    Arg,
    Desired,
    FunctionSpec,
    ImportRef,
    LocalFile,
    Origin,
    StageSpec,
)
from deploy.sql import SqlTypeError, canonical_type

DEFAULT_KEEP_VERSIONS = 2
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Path_ = tuple[str | int, ...]


@cache
def manifest_schema() -> dict[str, Any]:
    return json.loads(resources.files("deploy").joinpath("schemas/manifest.schema.json").read_text())


@dataclass
class _Doc:
    """One parsed YAML file: its data and the line of every path in it."""

    file: str
    data: Any
    lines: dict[Path_, int]
    key_lines: dict[Path_, int]  # line of a mapping *key*, for "unexpected key" errors

    def line(self, path: Path_) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def origin(self, path: Path_) -> Origin:
        return Origin(self.file, self.line(path), dotted(path))


def dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _interpolate(value: str, environ: Mapping[str, str], where: str, problems: list[str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return default
        problems.append(f"{where}: environment variable {name} is not set; set it or write ${{{name}:-default}}")
        return ""

    return _ENV_RE.sub(sub, value)


def _parse_yaml(path: Path, display: str, environ: Mapping[str, str], problems: list[str]) -> _Doc | None:
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problems.append(f"{display}:{line}: not valid YAML: {getattr(e, 'problem', None) or e}")
        return None
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{display}: cannot read: {e}")
        return None
    lines: dict[Path_, int] = {}
    key_lines: dict[Path_, int] = {}
    constructor = yaml.SafeLoader("")

    def build(node: yaml.Node, path: Path_) -> Any:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k_node, v_node in node.value:
                key = constructor.construct_object(k_node)
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    problems.append(f"{display}:{k_node.start_mark.line + 1}: {dotted((*path, key))}: duplicate key")
                key_lines[(*path, key)] = k_node.start_mark.line + 1
                out[key] = build(v_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(n, (*path, i)) for i, n in enumerate(node.value)]
        value = constructor.construct_object(node)
        if isinstance(value, str):
            return _interpolate(value, environ, f"{display}:{node.start_mark.line + 1}: {dotted(path)}", problems)
        return value

    data = build(root, ()) if root is not None else {}
    return _Doc(display, data, lines, key_lines)


def _schema_problems(doc: _Doc) -> list[str]:
    validator = jsonschema.Draft202012Validator(manifest_schema())
    out: list[tuple[int, str]] = []
    for err in validator.iter_errors(doc.data):
        path: Path_ = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - allowed):
                line = doc.key_lines.get((*path, key), doc.line(path))
                hint = f"; allowed: {', '.join(sorted(allowed))}" if allowed else ""
                out.append((line, f"{doc.file}:{line}: {dotted((*path, key))}: unknown key{hint}"))
            continue
        if (
            err.validator == "pattern"
            and err.schema.get("$ref") is None
            and "identifier" in str(err.schema.get("description", ""))
        ):
            msg = f"{err.instance!r} is not a valid identifier (letters, digits, _ and $; not starting with a digit)"
        elif err.validator == "pattern":
            msg = f"{err.instance!r} does not match {err.schema['pattern']}"
        else:
            msg = err.message
        if err.validator == "propertyNames":
            msg = f"{err.instance!r}: invalid name: {msg}"
        if err.validator == "required":
            msg = err.message.replace("is a required property", "is required")
        line = doc.line(path)
        out.append((line, f"{doc.file}:{line}: {dotted(path)}: {msg}"))
    return [m for _, m in sorted(out)]


def _collect_files(
    doc: _Doc, base: Path, stage_path: Path_, sources: list[dict[str, Any]], hashes: HashCache, problems: list[str]
) -> tuple[LocalFile, ...]:
    files: dict[str, LocalFile] = {}
    for i, src in enumerate(sources):
        where = (*stage_path, "files", i, "from")
        loc = f"{doc.file}:{doc.line(where)}: {dotted(where)}"
        path = (base / src["from"]).resolve()
        include, exclude = src.get("include", ["*"]), src.get("exclude", [])
        if path.is_dir():
            candidates = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            chosen = [
                p
                for p in candidates
                if any(fnmatch.fnmatch(p.name, pat) for pat in include)
                and not any(fnmatch.fnmatch(p.name, pat) for pat in exclude)
            ]
            if not chosen:
                problems.append(f"{loc}: no files in {path} match include {include} / exclude {exclude}")
        elif path.is_file():
            if "include" in src or "exclude" in src:
                problems.append(f"{loc}: include/exclude apply to directories; {path} is a file")
            chosen = [path]
        else:
            problems.append(
                f"{loc}: {path} does not exist; build the artifacts first "
                "(e.g. `python -m training.bootstrap --output artifacts/...`) or fix the path"
            )
            continue
        for p in chosen:
            if p.name == MARKER_NAME:
                problems.append(f"{loc}: {p.name} is reserved for the completion marker")
                continue
            if p.name in files and files[p.name].source != p:
                problems.append(f"{loc}: two files named {p.name} in one stage ({files[p.name].source} and {p})")
                continue
            if not os.access(p, os.R_OK):
                problems.append(f"{loc}: {p} is not readable")
                continue
            size, digest = hashes.digest(p)
            files[p.name] = LocalFile(p.name, p, size, digest)
    return tuple(sorted(files.values(), key=lambda f: f.name))


def _build(
    doc: _Doc, base: Path, hashes: HashCache, problems: list[str]
) -> tuple[str, str, list[StageSpec], list[FunctionSpec]]:
    d = doc.data
    db, schema = d["database"].upper(), d["schema"].upper()
    keep = d.get("keep_versions", DEFAULT_KEEP_VERSIONS)
    stages: dict[str, StageSpec] = {}
    for name, body in (d.get("stages") or {}).items():
        path: Path_ = ("stages", name)
        files = _collect_files(doc, base, path, body["files"], hashes, problems)
        stages[name.upper()] = StageSpec(
            db, schema, name.upper(), body.get("comment", ""), files, keep, doc.origin(path)
        )
    generated = _add_handler_configs(doc, stages, hashes, problems)
    functions: list[FunctionSpec] = []
    for name, body in (d.get("functions") or {}).items():
        path = ("functions", name)
        args: list[Arg] = []
        for i, a in enumerate(body["args"]):
            try:
                args.append(Arg(a["name"].upper(), canonical_type(a["type"])))
            except SqlTypeError as e:
                p = (*path, "args", i, "type")
                problems.append(f"{doc.file}:{doc.line(p)}: {dotted(p)}: {e}")
        if len({a.name for a in args}) != len(args):
            p = (*path, "args")
            problems.append(f"{doc.file}:{doc.line(p)}: {dotted(p)}: argument names must be unique")
        try:
            returns = canonical_type(body["returns"])
        except SqlTypeError as e:
            p = (*path, "returns")
            problems.append(f"{doc.file}:{doc.line(p)}: {dotted(p)}: {e}")
            returns = body["returns"]
        imports = _resolve_imports(doc, path, body["imports"], stages, problems, generated)
        module = body["handler"].split(".")[0]
        if not any(ref.file in (f"{module}.py", f"{module}.zip") for ref in imports):
            p = (*path, "handler")
            problems.append(
                f"{doc.file}:{doc.line(p)}: {dotted(p)}: module {module!r} is not among the imports; "
                f"import a stage holding {module}.py"
            )
        functions.append(
            FunctionSpec(
                database=db,
                schema=schema,
                name=name.upper(),
                args=tuple(args),
                returns=returns,
                runtime=body["runtime"],
                handler=body["handler"],
                packages=tuple(body.get("packages", [])),
                imports=imports,
                null_handling=body.get("null_handling", "CALLED ON NULL INPUT"),
                volatility=body.get("volatility", "VOLATILE"),
                comment=body.get("comment", ""),
                origin=doc.origin(path),
            )
        )
    return db, schema, list(stages.values()), functions


def _handler_stage(body: dict[str, Any], stages: dict[str, StageSpec]) -> StageSpec | None:
    """The imported stage that holds the handler's module file."""
    module = f"{body['handler'].split('.')[0]}.py"
    for entry in body["imports"]:
        stage = stages.get(entry["stage"].upper())
        if stage and module in {f.name for f in stage.files} and module in entry.get("files", [module]):
            return stage
    return None


def _add_handler_configs(
    doc: _Doc, stages: dict[str, StageSpec], hashes: HashCache, problems: list[str]
) -> dict[str, str]:
    """Stage each function's `settings` as udf_config.json beside its handler; {function: stage name}."""
    owners: dict[str, tuple[str, bytes]] = {}  # stage -> (function, config sha) that put a config there
    placed: dict[str, str] = {}
    for name, body in (doc.data.get("functions") or {}).items():
        if "settings" not in body:
            continue
        where = ("functions", name, "settings")
        loc = f"{doc.file}:{doc.line(where)}: {dotted(where)}"
        stage = _handler_stage(body, stages)
        if stage is None:
            continue  # reported with the handler's own check
        config = materialize(body["settings"], hashes.cache_dir)
        if stage.name in owners and owners[stage.name][1] != config.sha256:
            problems.append(
                f"{loc}: stage {stage.name} already holds the settings of function {owners[stage.name][0]}; "
                "functions with different settings need their handler in different stages"
            )
            continue
        if stage.name not in owners and any(f.name == CONFIG_NAME for f in stage.files):
            problems.append(
                f"{loc}: stage {stage.name} already has a file named {CONFIG_NAME}; "
                "it is generated from `settings`, so remove that file from the stage's files"
            )
            continue
        if stage.name not in owners:
            files = tuple(sorted((*stage.files, config), key=lambda f: f.name))
            stages[stage.name] = replace(stage, files=files)
            owners[stage.name] = (name, config.sha256)
        placed[name] = stage.name
    return placed


def _resolve_imports(
    doc: _Doc,
    fn_path: Path_,
    entries: list[dict[str, Any]],
    stages: dict[str, StageSpec],
    problems: list[str],
    generated: dict[str, str],
) -> tuple[ImportRef, ...]:
    """The function's imports; a generated config is imported by the function it belongs to, only."""
    config_stages = set(generated.values())
    own_config_stage = generated.get(str(fn_path[-1]))
    refs: list[ImportRef] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(entries):
        p = (*fn_path, "imports", i)
        loc = f"{doc.file}:{doc.line(p)}: {dotted(p)}"
        stage = stages.get(entry["stage"].upper())
        if stage is None:
            problems.append(
                f"{loc}.stage: stage {entry['stage']!r} is not declared in this manifest "
                f"(declared: {', '.join(sorted(stages)) or 'none'})"
            )
            continue
        available = {f.name for f in stage.files}
        others_config = {CONFIG_NAME} if stage.name in config_stages else set()
        wanted = list(entry.get("files") or sorted(available - others_config))
        if stage.name == own_config_stage and CONFIG_NAME not in wanted:
            wanted.append(CONFIG_NAME)
        for name in wanted:
            if name not in available and stage.files:
                problems.append(
                    f"{loc}.files: {name!r} is not a file of stage {stage.name} ({', '.join(sorted(available))})"
                )
                continue
            if name in seen:
                # Snowflake flattens all imports into one directory.
                problems.append(
                    f"{loc}: duplicate import base name {name!r} (from {seen[name]} and {stage.name}); "
                    "imports are flattened into one directory inside Snowflake — rename one file or import fewer"
                )
                continue
            seen[name] = stage.name
            refs.append(ImportRef(stage.fqn, name))
    return tuple(refs)


def manifest_paths(target: Path) -> list[Path]:
    if target.is_dir():
        return sorted([*target.glob("*.yaml"), *target.glob("*.yml")])
    return [target]


def load_manifests(
    target: Path,
    *,
    environ: Mapping[str, str] | None = None,
    hashes: HashCache | None = None,
    display_root: Path | None = None,
) -> Desired:
    """Parse, validate and resolve every manifest under ``target``; raise ManifestInvalid listing all problems."""
    environ = os.environ if environ is None else environ
    hashes = hashes or HashCache()
    problems: list[str] = []
    paths = manifest_paths(target)
    if not paths:
        raise ManifestInvalid([f"{target}: no manifests (*.yaml) found"])
    if not target.exists():
        raise ManifestInvalid([f"{target}: does not exist"])
    stages: dict[str, StageSpec] = {}
    functions: dict[str, FunctionSpec] = {}
    databases: dict[str, None] = {}
    schemas: dict[tuple[str, str], None] = {}
    root = display_root or Path.cwd()
    for path in paths:
        display = os.path.relpath(path, root) if path.is_absolute() or root else str(path)
        doc = _parse_yaml(path, display, environ, problems)
        if doc is None:
            continue
        schema_errors = _schema_problems(doc)
        if schema_errors:
            problems.extend(schema_errors)
            continue
        db, schema, file_stages, file_functions = _build(doc, path.parent, hashes, problems)
        databases[db] = None
        schemas[(db, schema)] = None
        for st in file_stages:
            if st.fqn in stages:
                problems.append(f"{st.origin}: stage {st.fqn} is also declared at {stages[st.fqn].origin}")
            stages[st.fqn] = st
        for fn in file_functions:
            if fn.identity in functions:
                problems.append(
                    f"{fn.origin}: function {fn.identity} is also declared at {functions[fn.identity].origin}"
                )
            functions[fn.identity] = fn
    hashes.save()
    if problems:
        raise ManifestInvalid(problems)
    return Desired(
        databases=tuple(databases),
        schemas=tuple(schemas),
        stages=stages,
        functions=functions,
        manifest_files=tuple(str(p) for p in paths),
    )
