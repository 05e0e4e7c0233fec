"""snowflake.yml and requirements.txt for the Snowflake CLI (`snow snowpark build/deploy`), from the manifests.

The manifests stay the source of truth; these two files let `snow` deploy the same function:
same name, signature, handler, runtime, packages and imports. How snowflake-cli 3.30 reads them
(its source, snowflake/cli/_plugins/snowpark/):

- An entity's ``packages`` are only for an artifact repository (snowpark_entity_model.py,
  ``check_artifact_repository``). Anaconda-channel packages come from requirements.txt:
  ``snow snowpark build`` asks the account which are in the channel (package/anaconda_packages.py:
  ``select package_name, version from snowflake.information_schema.packages``, no other network
  when all are there) and writes requirements.snowflake.txt, which ``deploy`` sends as PACKAGES
  (commands.py ``_read_snowflake_requirements_file``; common.py ``create_or_replace``).
  requirements.txt also keeps ``build`` off the project's pyproject.toml: it is only read when
  requirements.txt is absent (package_utils.py ``resolve_requirements_source``).
- ``imports`` are stage paths passed as they are (common.py ``create_or_replace``); ``artifacts``
  are uploaded to ``stage`` and imported too, so the handler module is an artifact and everything
  else the manifest imports (model, tokenizer, udf_config.json) is an import of the version
  ``deploy apply`` uploaded.
- Those import paths name content versions, which change with every training run, so they go to
  snowflake.local.yml (git-ignored), which snow deep-merges over snowflake.yml
  (api/project/definition_manager.py ``USER_DEFINITION_FILENAME``; definition.py
  ``deep_merge_dicts``). snowflake.yml and requirements.txt change only with the manifests and are
  committed. ``deploy snowflake-yml --write`` regenerates all three; ``deploy validate`` warns when
  one it generated no longer matches.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from deploy.confine import project_root
from deploy.names import quote
from deploy.spec import Desired, FunctionSpec, StageSpec

PROJECT_FILE = "snowflake.yml"
REQUIREMENTS_FILE = "requirements.txt"
LOCAL_FILE = "snowflake.local.yml"
REGENERATE = "deploy snowflake-yml --write"
_PLAIN = re.compile(r"^[A-Z_][A-Z0-9_$]*$")

# Marks the files this module wrote: `deploy validate` checks only those.
GENERATED_MARK = f"generated from manifests/ by `{REGENERATE}`"
_HEADER = f"""\
# Snowflake CLI project definition, {GENERATED_MARK};
# `deploy validate` says when it no longer matches. Do not edit: edit the manifests.
#
# The manifests are the source of truth (`deploy plan` / `deploy apply`). This file deploys
# the same function with `snow snowpark build` + `snow snowpark deploy --replace`: the handler
# is uploaded by snow; the model, tokenizer and settings are imported from the versions
# `deploy apply` uploaded, listed in {LOCAL_FILE} (not committed: the versions follow the
# artifacts). Packages are in {REQUIREMENTS_FILE}.
"""
_LOCAL_HEADER = f"""\
# The content versions `deploy apply` uploads for this checkout's artifacts, merged by snow over
# {PROJECT_FILE}; {GENERATED_MARK} (run it again after training).
"""
_REQUIREMENTS_HEADER = f"""\
# Snowflake Anaconda channel packages of the functions in manifests/, for `snow snowpark build`
# (it resolves them against the account's INFORMATION_SCHEMA.PACKAGES and writes
# requirements.snowflake.txt). Channel names (pytorch, not torch): not a pip requirements file.
# {GENERATED_MARK[0].upper() + GENERATED_MARK[1:]}.
"""


@dataclass(frozen=True)
class Generated:
    """The two files' text, keyed by file name."""

    files: dict[str, str]


def _ident(part: str) -> str:
    return part if _PLAIN.match(part) else quote(part)


def _stage_ref(stage: StageSpec) -> str:
    return ".".join(_ident(p) for p in (stage.database, stage.schema, stage.name))


def _yaml_str(text: str) -> str:
    """A YAML double-quoted scalar (a JSON string is one)."""
    return json.dumps(text)


def _handler_source(fn: FunctionSpec, stages: dict[str, StageSpec]) -> tuple[StageSpec, str] | None:
    """The stage holding the handler module and the module's file name."""
    module = f"{fn.handler.split('.')[0]}.py"
    for ref in fn.imports:
        if ref.file == module and ref.stage in stages:
            return stages[ref.stage], module
    return None


def _entity_keys(functions: list[FunctionSpec]) -> list[str]:
    keys: list[str] = []
    for fn in functions:
        base = re.sub(r"[^a-z0-9_]", "_", fn.name.lower()) or "function"
        key, n = base, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys.append(key)
    return keys


def generate(desired: Desired, project_root: Path) -> Generated:
    """snowflake.yml and requirements.txt for ``desired`` (the manifests resolved against the artifacts)."""
    functions = sorted(desired.functions.values(), key=lambda f: f.identity)
    stages = {s.fqn: s for s in desired.stages.values()}
    lines = [_HEADER, 'definition_version: "2"', "entities:"]
    versioned = [_LOCAL_HEADER, 'definition_version: "2"', "entities:"]
    packages: dict[str, None] = {}
    for key, fn in zip(_entity_keys(functions), functions, strict=True):
        packages.update(dict.fromkeys(fn.packages))
        source = _handler_source(fn, stages)
        lines += [
            f"  {key}:",
            "    type: function",
            "    identifier:",
            f"      name: {_yaml_str(_ident(fn.name))}",
            f"      database: {_yaml_str(_ident(fn.database))}",
            f"      schema: {_yaml_str(_ident(fn.schema))}",
            f"    handler: {_yaml_str(fn.handler)}",
            "    signature:" if fn.args else "    signature: []",
        ]
        lines += [f"      - name: {_yaml_str(a.name)}\n        type: {_yaml_str(a.type)}" for a in fn.args]
        lines += [f"    returns: {_yaml_str(fn.returns)}", f"    runtime: {_yaml_str(fn.runtime)}"]
        skip: tuple[str, str] | None = None
        if source is not None:
            stage, module = source
            local = next(f for f in stage.files if f.name == module).source
            try:
                src = local.resolve().relative_to(project_root.resolve()).as_posix()
            except ValueError:
                src = local.resolve().as_posix()
            lines += [
                f"    stage: {_yaml_str(_stage_ref(stage))}",
                "    artifacts:",
                f"      - src: {_yaml_str(src)}",
            ]
            skip = (stage.fqn, module)
        imports = [
            f"@{_stage_ref(stages[r.stage])}/{stages[r.stage].version}/{r.file}"
            for r in fn.imports
            if (r.stage, r.file) != skip and r.stage in stages
        ]
        versioned += [f"  {key}:", "    imports:" if imports else "    imports: []"]
        versioned += [f"      - {_yaml_str(i)}" for i in imports]
    requirements = _REQUIREMENTS_HEADER + "".join(f"{p}\n" for p in packages)
    return Generated(
        {
            PROJECT_FILE: "\n".join(lines) + "\n",
            REQUIREMENTS_FILE: requirements,
            LOCAL_FILE: "\n".join(versioned) + "\n",
        }
    )


def write(generated: Generated, project_root: Path) -> list[Path]:
    """Write the files that differ; the paths written."""
    written = []
    for name, text in generated.files.items():
        path = project_root / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def stale(generated: Generated, project_root: Path) -> list[str]:
    """One line per generated file (one carrying GENERATED_MARK) that differs from what the manifests
    generate now, with the first change; files written by hand, or absent, are the user's business."""
    problems = []
    for name, text in generated.files.items():
        path = project_root / name
        have = path.read_text(encoding="utf-8") if path.is_file() else ""
        if GENERATED_MARK not in have:
            continue
        if have != text:
            diff = [
                d
                for d in difflib.unified_diff(have.splitlines(), text.splitlines(), lineterm="", n=0)
                if d[:1] in "+-" and not d.startswith(("+++", "---"))
            ]
            problems.append(f"{name} does not match the manifests (first change: {diff[0].strip() if diff else '?'})")
    return problems


def project_root_of(manifests: Path) -> Path:
    """The project root of a manifest file or folder, by the rule files are confined by (confine.project_root)."""
    target = manifests.resolve()
    return project_root(target if target.is_dir() else target.parent)
