"""Manifests (YAML + JSON Schema) -> the desired state.

Every problem is collected and reported at once, each naming the file, the
line and the field, so one run of ``deploy validate`` shows all that is wrong.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import jsonschema

from deploy import runtimes
from deploy.artifacts import HashCache
from deploy.confine import OutsideRoots, Roots, project_root
from deploy.errors import ManifestInvalid
from deploy.handler_config import CONFIG_NAME, materialize, settings_schema
from deploy.manifest_yaml import Doc, Path_, dotted, parse
from deploy.spec import (
    MARKER_NAME,
    Arg,
    DeclaredNames,
    Desired,
    Environment,
    FunctionName,
    FunctionSpec,
    ImportRef,
    LocalFile,
    StageName,
    StageSpec,
)
from deploy.sql import SqlTypeError, canonical_type
from deploy.text import shown, unsafe_chars

DEFAULT_KEEP_VERSIONS = 2
# Manifest `encryption:` -> CREATE STAGE ... ENCRYPTION = (TYPE = ...). SSE by default, as
# snowflake-cli creates the stages it uploads to (src/snowflake/cli/_plugins/apps/manager.py
# `create_stage`, nativeapp/sf_sql_facade.py `create_stage`: "Default is Snowflake SSE").
STAGE_ENCRYPTION = {"sse": "SNOWFLAKE_SSE", "full": "SNOWFLAKE_FULL"}
# Names Snowflake keeps for itself: every database has a read-only INFORMATION_SCHEMA
# (docs: sql-reference/info-schema), and SNOWFLAKE is the system-defined shared database.
RESERVED_SCHEMAS = frozenset({"INFORMATION_SCHEMA"})
RESERVED_DATABASES = frozenset({"SNOWFLAKE"})
# Characters a staged file name may not carry: PUT/REMOVE/IMPORTS quote stage paths in
# single-quoted SQL strings, where quotes and backslashes change the meaning.
_UNSTAGEABLE = frozenset("'\"\\")
_NOT_BUILT = "does not exist; build the artifacts first"
# Said once after the problems when artifacts are missing: which commands need them, which do not.
ARTIFACTS_NEEDED = (
    "validate, plan, apply and destroy read the artifacts (plan and apply compare their content hashes with the "
    "account's), so they need them here; call, eval and sample-data need only the manifests, as do status, history "
    "and drift (which then compares the account with what was last applied; its --format sql needs the artifacts)"
)


class ArtifactsMissing(ManifestInvalid):
    """Manifest problems among which are stage files not built (or not downloaded) here."""

    def __init__(self, problems: list[str]):
        super().__init__(problems)
        self.args = (f"{self.args[0]}\n{ARTIFACTS_NEEDED}",)


@cache
def manifest_schema() -> dict[str, Any]:
    """The manifest JSON Schema; its `settings` are the handler's own SETTINGS_SCHEMA."""
    schema = json.loads(resources.files("deploy").joinpath("schemas/manifest.schema.json").read_text())
    schema["$defs"]["settings"] = settings_schema()
    return schema


def _strict_integer(_checker: Any, instance: Any) -> bool:
    # JSON Schema counts 64.0 as an integer; the handler and slices do not.
    return isinstance(instance, int) and not isinstance(instance, bool)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Any:
    # ECMA-262 `$` (JSON Schema's dialect) ends the string; Python's also matches before a
    # trailing newline, which would let "LLM\n" pass as an identifier.
    if isinstance(instance, str) and not re.search(re.sub(r"(?<!\\)\$$", r"\\Z", pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def _value(instance: Any) -> str:
    """A schema error's offending value, quoted, on one line and cut when long."""
    return shown(repr(instance) if isinstance(instance, str) else instance)


def _message(err: jsonschema.ValidationError) -> str:
    path = tuple(err.absolute_path)
    if err.validator == "enum" and path[-1:] == ("runtime",) and (why := runtimes.refusal(err.instance)):
        return why  # a retired runtime says so, not just "is not one of"
    if err.validator == "pattern" and "packages" in path[-2:-1]:
        return (
            f"{_value(err.instance)} does not match a PACKAGES entry: name, name==2.5.1, name==2.*, name>=2.1 "
            "or several joined by commas (name>=2.1,<3); operators ==, <=, >=, <, >"
        )
    if err.validator == "pattern" and "identifier" in str(err.schema.get("description", "")):
        return f"{_value(err.instance)} is not a valid identifier (letters, digits, _ and $; not starting with a digit)"
    if err.validator == "pattern":
        return f"{_value(err.instance)} does not match {err.schema['pattern']}"
    if err.validator == "required":
        return err.message.replace("is a required property", "is required")
    if err.validator == "type" and err.schema.get("type") == "integer" and isinstance(err.instance, float):
        return f"{err.instance!r} is not an integer; write it without a decimal point"
    # jsonschema quotes the whole value: keep the message, cut the value.
    message = err.message.replace(repr(err.instance), _value(err.instance))
    return shown(message, 300)


def _schema_problems(doc: Doc) -> list[str]:
    out: list[tuple[int, str]] = []
    for err in _Validator(manifest_schema()).iter_errors(doc.data):
        path: Path_ = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - allowed):
                line = doc.key_lines.get((*path, key), doc.line(path))
                hint = f"; allowed: {', '.join(sorted(allowed))}" if allowed else ""
                out.append((line, f"{doc.file}:{line}: {dotted((*path, key))}: unknown key{hint}"))
            continue
        line = doc.line(path)
        if "propertyNames" in err.absolute_schema_path:  # a bad key: point at the key's own line
            line = doc.key_lines.get((*path, err.instance), line)
        out.append((line, f"{doc.file}:{line}: {dotted(path)}: {_message(err)}"))
    return [m for _, m in sorted(out)]


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a staged file's name, or None."""
    if bad := unsafe_chars(name):
        return f"file name '{shown(name)}' contains {', '.join(shown(c) for c in bad)}; rename the file"
    if bad := sorted(set(name) & _UNSTAGEABLE):
        return f"file name '{shown(name)}' contains {' '.join(bad)}, which stage paths cannot carry; rename the file"
    return None


def _directory_files(root: Path, src: Mapping[str, Any], where: str, problems: list[str]) -> list[Path]:
    """The top-level entries of ``root`` that ``include`` / ``exclude`` select, hidden ones left out."""
    include, exclude = src.get("include", ["*"]), src.get("exclude", [])
    chosen: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.is_dir():
            continue  # hidden files are never staged; a directory's files are its top level only
        if any(fnmatch.fnmatch(entry.name, pat) for pat in include) and not any(
            fnmatch.fnmatch(entry.name, pat) for pat in exclude
        ):
            chosen.append(entry)
    if not chosen:
        problems.append(f"{where}: no files in {root} match include {include} / exclude {exclude}")
    return chosen


def _collect_files(
    doc: Doc, roots: Roots, stage_path: Path_, sources: list[dict[str, Any]], hashes: HashCache, problems: list[str]
) -> tuple[LocalFile, ...]:
    files: dict[str, LocalFile] = {}
    folded: dict[str, str] = {}  # lower-cased name -> name, for names that differ only in case
    for i, src in enumerate(sources):
        where = doc.where((*stage_path, "files", i, "from"))
        path = Path(doc.base, src["from"])
        try:
            real = roots.resolve(path)
        except OutsideRoots as e:
            problems.append(f"{where}: {e}")
            continue
        if real.is_dir():
            chosen = _directory_files(real, src, where, problems)
        elif real.exists():
            if "include" in src or "exclude" in src:
                problems.append(f"{where}: include/exclude apply to directories; {path} is a file")
            chosen = [path]
        else:
            problems.append(
                f"{where}: {path} {_NOT_BUILT} (e.g. `python -m training.bootstrap --output artifacts/...`) "
                "or fix the path"
            )
            continue
        for p in chosen:
            try:
                source = roots.regular_file(p)
            except OutsideRoots as e:
                problems.append(f"{where}: {e}")
                continue
            if problem := _name_problem(p.name):
                problems.append(f"{where}: {problem}")
                continue
            if p.name == MARKER_NAME:
                problems.append(f"{where}: {p.name} is reserved for the completion marker")
                continue
            if p.name in files and files[p.name].source != source:
                problems.append(f"{where}: two files named {p.name} in one stage ({files[p.name].source} and {source})")
                continue
            if folded.setdefault(p.name.lower(), p.name) != p.name:
                problems.append(
                    f"{where}: {p.name} and {folded[p.name.lower()]} differ only in case on one stage; rename one"
                )
                continue
            if not os.access(source, os.R_OK):
                problems.append(f"{where}: {source} is not readable")
                continue
            size, digest, md5 = hashes.digests(source)
            files[p.name] = LocalFile(p.name, source, size, digest, md5)
    return tuple(sorted(files.values(), key=lambda f: f.name))


def _reserved_problems(doc: Doc, db: str, schema: str) -> list[str]:
    out = []
    if db in RESERVED_DATABASES:
        out.append(f"{doc.where(('database',))}: {db} is Snowflake's system database; choose another database")
    if schema in RESERVED_SCHEMAS:
        out.append(
            f"{doc.where(('schema',))}: {schema} is the read-only schema Snowflake creates in every database; "
            "choose another schema"
        )
    return out


def _location(doc: Doc, problems: list[str]) -> tuple[str, str]:
    """The manifest's (database, schema), upper-cased; Snowflake's own names are refused."""
    db, schema = doc.data["database"].upper(), doc.data["schema"].upper()
    problems.extend(_reserved_problems(doc, db, schema))
    return db, schema


def _stage_bodies(doc: Doc, problems: list[str]) -> list[tuple[str, dict[str, Any], Path_]]:
    """Each declared stage once, as (upper-cased name, body, path); a name folding onto another is a problem."""
    seen: dict[str, Path_] = {}
    out: list[tuple[str, dict[str, Any], Path_]] = []
    for name, body in (doc.data.get("stages") or {}).items():
        path: Path_ = ("stages", name)
        if name.upper() in seen:
            # Unquoted identifiers fold to upper case: `llm` and `LLM` are one stage.
            problems.append(
                f"{doc.where(path)}: the same stage as {dotted(seen[name.upper()])} once Snowflake folds "
                "unquoted names to upper case; merge them or rename one"
            )
            continue
        seen[name.upper()] = path
        out.append((name.upper(), body, path))
    return out


def _signature(doc: Doc, path: Path_, body: Mapping[str, Any], problems: list[str]) -> tuple[tuple[Arg, ...], str]:
    """A function's arguments and return type, canonical (sql.canonical_type)."""
    args: list[Arg] = []
    for i, a in enumerate(body["args"]):
        try:
            args.append(Arg(a["name"].upper(), canonical_type(a["type"])))
        except SqlTypeError as e:
            problems.append(f"{doc.where((*path, 'args', i, 'type'))}: {shown(e, 200)}")
    if len({a.name for a in args}) != len(args):
        problems.append(f"{doc.where((*path, 'args'))}: argument names must be unique (compared in upper case)")
    try:
        returns = canonical_type(body["returns"])
    except SqlTypeError as e:
        problems.append(f"{doc.where((*path, 'returns'))}: {shown(e, 200)}")
        returns = body["returns"]
    return tuple(args), returns


def _undeclared_stage(where: str, entry: Mapping[str, Any], declared: Iterable[str]) -> str:
    """The problem of an import naming a stage this manifest does not declare."""
    return (
        f"{where}.stage: stage {entry['stage']!r} is not declared in this manifest "
        f"(declared: {', '.join(sorted(declared)) or 'none'})"
    )


_Function = TypeVar("_Function", FunctionSpec, FunctionName)
_Stage = TypeVar("_Stage", StageSpec, StageName)


def _declare(functions: dict[str, _Function], fn: _Function, doc: Doc, path: Path_, problems: list[str]) -> None:
    """Add ``fn`` by identity unless this manifest already declares that identity."""
    if fn.identity in functions:
        problems.append(
            f"{doc.where(path)}: function {fn.identity} is also declared as {functions[fn.identity].origin.field} "
            "(unquoted names fold to upper case); merge them or rename one"
        )
        return
    functions[fn.identity] = fn


def _build(
    doc: Doc, roots: Roots, hashes: HashCache, problems: list[str]
) -> tuple[str, str, list[StageSpec], list[FunctionSpec]]:
    d = doc.data
    db, schema = _location(doc, problems)
    keep = d.get("keep_versions", DEFAULT_KEEP_VERSIONS)
    stages: dict[str, StageSpec] = {}
    for name, body, path in _stage_bodies(doc, problems):
        files = _collect_files(doc, roots, path, body["files"], hashes, problems)
        stages[name] = StageSpec(
            db,
            schema,
            name,
            body.get("comment", ""),
            files,
            keep,
            doc.origin(path),
            STAGE_ENCRYPTION[body.get("encryption", "sse")],
        )
    generated = _add_handler_configs(doc, stages, hashes, problems)
    functions: dict[str, FunctionSpec] = {}
    for name, body in (d.get("functions") or {}).items():
        path = ("functions", name)
        args, returns = _signature(doc, path, body, problems)
        imports = _resolve_imports(doc, path, body["imports"], stages, problems, generated)
        module = body["handler"].split(".")[0]
        if not any(ref.file in (f"{module}.py", f"{module}.zip") for ref in imports):
            problems.append(
                f"{doc.where((*path, 'handler'))}: module {module!r} is not among the imports; "
                f"import a stage holding {module}.py"
            )
        fn = FunctionSpec(
            database=db,
            schema=schema,
            name=name.upper(),
            args=args,
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
        _declare(functions, fn, doc, path, problems)
    return db, schema, list(stages.values()), list(functions.values())


def _build_names(doc: Doc, problems: list[str]) -> tuple[str, str, list[StageName], list[FunctionName]]:
    """``_build`` without the files: the names, the signatures and the stages each function imports."""
    db, schema = _location(doc, problems)
    stages = [StageName(db, schema, name, doc.origin(path)) for name, _, path in _stage_bodies(doc, problems)]
    declared = [s.name for s in stages]
    functions: dict[str, FunctionName] = {}
    for name, body in (doc.data.get("functions") or {}).items():
        path: Path_ = ("functions", name)
        args, returns = _signature(doc, path, body, problems)
        for i, entry in enumerate(body["imports"]):
            if entry["stage"].upper() not in declared:
                problems.append(_undeclared_stage(doc.where((*path, "imports", i)), entry, declared))
        fn = FunctionName(db, schema, name.upper(), args, returns, doc.origin(path))
        _declare(functions, fn, doc, path, problems)
    return db, schema, stages, list(functions.values())


def _handler_stage(body: dict[str, Any], stages: dict[str, StageSpec]) -> StageSpec | None:
    """The imported stage that holds the handler's module file."""
    module = f"{body['handler'].split('.')[0]}.py"
    for entry in body["imports"]:
        stage = stages.get(entry["stage"].upper())
        if stage and module in {f.name for f in stage.files} and module in entry.get("files", [module]):
            return stage
    return None


def _add_handler_configs(
    doc: Doc, stages: dict[str, StageSpec], hashes: HashCache, problems: list[str]
) -> dict[str, str]:
    """Stage each function's `settings` as udf_config.json beside its handler; {function: stage name}."""
    owners: dict[str, tuple[str, bytes]] = {}  # stage -> (function, config sha) that put a config there
    placed: dict[str, str] = {}
    for name, body in (doc.data.get("functions") or {}).items():
        if "settings" not in body:
            continue
        where = ("functions", name, "settings")
        loc = doc.where(where)
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
    doc: Doc,
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
        loc = doc.where(p)
        stage = stages.get(entry["stage"].upper())
        if stage is None:
            problems.append(_undeclared_stage(loc, entry, stages))
            continue
        available = {f.name for f in stage.files}
        others_config = {CONFIG_NAME} if stage.name in config_stages else set()
        wanted = list(entry.get("files") or sorted(available - others_config))
        if stage.name == own_config_stage and CONFIG_NAME not in wanted:
            wanted.append(CONFIG_NAME)
        for j, name in enumerate(wanted):
            if name not in available and stage.files:
                problems.append(
                    f"{doc.where((*p, 'files', j))}: '{shown(name)}' is not a file of stage {stage.name} "
                    f"({', '.join(sorted(available))})"
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


def _roots(doc: Doc, problems: list[str]) -> Roots | None:
    """Where this manifest may read files: its project, and the `artifacts_root` it declares."""
    declared = doc.data.get("artifacts_root")
    roots = Roots(project_root(doc.base), Path(os.path.realpath(Path(doc.base, declared))) if declared else None)
    try:
        roots.check_artifacts_root()
    except OutsideRoots as e:
        problems.append(f"{doc.where(('artifacts_root',))}: {e}")
        return None
    return roots


def manifest_paths(target: Path) -> list[Path]:
    if target.is_dir():
        return sorted([*target.glob("*.yaml"), *target.glob("*.yml")])
    return [target]


# --- environments (`deploy --env NAME`) ------------------------------------------------------
# Precedence, lowest first: the manifest's top-level value (its ${VAR:-default} applied), then the
# chosen environment's entry (its own ${VAR:-default} applied). An environment variable therefore
# wins only where the entry itself reads it, e.g. `database: ${T5_DATABASE:-T5_PROD}`: what a
# target means stays written in the manifest, not in whichever shell runs the command.


def _declared_environments(doc: Doc) -> str:
    return ", ".join(sorted(doc.data.get("environments") or {})) or "none"


def _move_line(doc: Doc, src: Path_, dst: Path_) -> None:
    """Problems about an overridden value point at the environment entry that set it."""
    for table in (doc.lines, doc.key_lines):
        if src in table:
            table[dst] = table[src]


def _with_environment(doc: Doc, name: str, problems: list[str]) -> tuple[Doc, Environment] | None:
    """``doc`` as the environment ``name`` sees it (database, schema, settings overridden); None if undeclared."""
    entries = doc.data.get("environments") or {}
    if name not in entries:
        line = doc.key_lines.get(("environments",), 1)
        problems.append(
            f"{doc.file}:{line}: environments: environment {name!r} is not declared in this manifest "
            f"(declared: {_declared_environments(doc)}); choose one with --env or declare it under `environments:`"
        )
        return None
    base: Path_ = ("environments", name)
    entry = entries[name]
    data = dict(doc.data)
    overlaid = Doc(doc.file, doc.base, data, dict(doc.lines), dict(doc.key_lines))
    for key in ("database", "schema"):
        if key in entry:
            data[key] = entry[key]
            _move_line(overlaid, (*base, key), (key,))
    functions = dict(data.get("functions") or {})
    for fn_name, body in (entry.get("functions") or {}).items():
        path: Path_ = (*base, "functions", fn_name)
        declared = next((k for k in functions if k.upper() == fn_name.upper()), None)
        if declared is None:
            problems.append(
                f"{doc.where(path)}: function {fn_name!r} is not declared in this manifest's functions "
                f"(declared: {', '.join(functions) or 'none'})"
            )
            continue
        own = functions[declared]
        settings = {**(own.get("settings") or {}), **body["settings"]}  # key by key over the function's own
        functions[declared] = {**own, "settings": settings}
        if "settings" not in own:
            _move_line(overlaid, (*path, "settings"), ("functions", declared, "settings"))
        for key in body["settings"]:
            _move_line(overlaid, (*path, "settings", key), ("functions", declared, "settings", key))
    if functions:
        data["functions"] = functions
    environment = Environment(
        name, entry.get("connection"), entry.get("warehouse"), entry.get("role"), doc.origin(base)
    )
    return overlaid, environment


def _one_environment(found: list[Environment], problems: list[str]) -> Environment | None:
    """The environment every manifest declares alike; manifests that disagree on its connection are a problem."""
    for other in found[1:]:
        for key in ("connection", "warehouse", "role"):
            if getattr(other, key) != getattr(found[0], key):
                problems.append(
                    f"{other.origin}: {key} {getattr(other, key)!r} differs from {getattr(found[0], key)!r} at "
                    f"{found[0].origin}; one environment connects one way, so make them equal"
                )
    return found[0] if found else None


def _documents(
    target: Path,
    environ: Mapping[str, str],
    display_root: Path | None,
    problems: list[str],
    env: str | None = None,
    environments: list[Environment] | None = None,
) -> Iterator[Doc]:
    """Each manifest under ``target`` that parses and passes the JSON Schema; the others' problems are added.

    With ``env``, each is seen through that environment (appended to ``environments``); every manifest
    must declare it, so no file silently deploys its default target next to the chosen one.
    """
    paths = manifest_paths(target)
    if not paths:
        raise ManifestInvalid([f"{target}: no manifests (*.yaml) found"])
    if not target.exists():
        raise ManifestInvalid([f"{target}: does not exist"])
    root = display_root or Path.cwd()
    for path in paths:
        display = os.path.relpath(path, root) if path.is_absolute() or root else str(path)
        doc = parse(path, display, environ, problems)
        if doc is None:
            continue
        schema_errors = _schema_problems(doc)
        if schema_errors:
            problems.extend(schema_errors)
            continue
        if env is not None:
            chosen = _with_environment(doc, env, problems)
            if chosen is None:
                continue
            doc, environment = chosen
            if environments is not None:
                environments.append(environment)
        yield doc


@dataclass
class _Merged(Generic[_Stage, _Function]):
    """Every manifest's objects together; one declared in two manifests is a problem."""

    databases: dict[str, None] = field(default_factory=dict)
    schemas: dict[tuple[str, str], None] = field(default_factory=dict)
    stages: dict[str, _Stage] = field(default_factory=dict)
    functions: dict[str, _Function] = field(default_factory=dict)

    def add(self, db: str, schema: str, stages: list[_Stage], functions: list[_Function], problems: list[str]) -> None:
        self.databases[db] = None
        self.schemas[(db, schema)] = None
        for st in stages:
            if st.fqn in self.stages:
                problems.append(f"{st.origin}: stage {st.fqn} is also declared at {self.stages[st.fqn].origin}")
            self.stages[st.fqn] = st
        for fn in functions:
            if fn.identity in self.functions:
                problems.append(
                    f"{fn.origin}: function {fn.identity} is also declared at {self.functions[fn.identity].origin}"
                )
            self.functions[fn.identity] = fn


def load_manifests(
    target: Path,
    *,
    environ: Mapping[str, str] | None = None,
    hashes: HashCache | None = None,
    display_root: Path | None = None,
    env: str | None = None,
) -> Desired:
    """Parse, validate and resolve every manifest under ``target``; raise ManifestInvalid listing all problems.

    ``env`` names an environment (``deploy --env``) whose database, schema and settings override the
    manifests' own; None reads the manifests as written.
    """
    environ = os.environ if environ is None else environ
    hashes = hashes or HashCache()
    problems: list[str] = []
    merged: _Merged[StageSpec, FunctionSpec] = _Merged()
    environments: list[Environment] = []
    for doc in _documents(target, environ, display_root, problems, env, environments):
        roots = _roots(doc, problems)
        if roots is None:
            continue
        merged.add(*_build(doc, roots, hashes, problems), problems)
    hashes.save()
    environment = _one_environment(environments, problems)
    if problems:
        raise (ArtifactsMissing if any(_NOT_BUILT in p for p in problems) else ManifestInvalid)(problems)
    return Desired(
        databases=tuple(merged.databases),
        schemas=tuple(merged.schemas),
        stages=merged.stages,
        functions=merged.functions,
        manifest_files=tuple(str(p) for p in manifest_paths(target)),
        environment=environment,
    )


def load_names(
    target: Path,
    *,
    environ: Mapping[str, str] | None = None,
    display_root: Path | None = None,
    env: str | None = None,
) -> DeclaredNames:
    """The manifests' databases, schemas, stage names and function signatures; no artifact is opened.

    The same parsing, JSON Schema and name checks as ``load_manifests``, with the same messages;
    what depends on the files (their presence, confinement, hashes, the handler's module among
    the imports, the generated settings file) is left to the commands that upload them.
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    merged: _Merged[StageName, FunctionName] = _Merged()
    environments: list[Environment] = []
    for doc in _documents(target, environ, display_root, problems, env, environments):
        merged.add(*_build_names(doc, problems), problems)
    environment = _one_environment(environments, problems)
    if problems:
        raise ManifestInvalid(problems)
    return DeclaredNames(
        databases=tuple(merged.databases),
        schemas=tuple(merged.schemas),
        stages=merged.stages,
        functions=merged.functions,
        manifest_files=tuple(str(p) for p in manifest_paths(target)),
        environment=environment,
    )
