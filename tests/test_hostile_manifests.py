"""A corpus of hostile and broken manifests and artifact trees, as a pull request could bring.

Each case runs `deploy validate` and `deploy plan` in-process and must exit 1 (never 0,
never 3) with one readable line naming the file, the line and the field, no traceback,
and no connection opened, so no statement can reach the account.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy.cli import main
from deploy.manifest_yaml import MAX_DEPTH, MAX_MANIFEST_BYTES, MAX_VALUES

MANIFEST = "manifests/m.yaml"

GOOD = """\
apiVersion: 1
database: T5_DEMO
schema: PUBLIC
keep_versions: 2
stages:
  T5_P_MODEL:
    comment: weights
    files:
      - from: ../art/model
  LLM:
    files:
      - from: ../udf/handler.py
functions:
  SUMMARIZE:
    args:
      - {name: TEXT, type: VARCHAR}
    returns: VARCHAR
    runtime: "3.11"
    handler: handler.summarize
    packages: [pandas, pytorch]
    imports:
      - stage: LLM
      - stage: T5_P_MODEL
    settings:
      max_batch_size: 64
"""


@dataclass(frozen=True)
class Case:
    """One hostile input: how to make it, and the field and words its error must name."""

    id: str
    text: str | bytes  # the manifest, or GOOD edited by `edits`
    where: str  # "LINE: FIELD" (or "LINE:" alone) that must follow the file name
    says: str  # words the message must contain
    setup: Callable[[Path, Path], None] | None = None  # (project, outside) -> None
    environ: dict[str, str] = field(default_factory=dict)


def edit(*pairs: tuple[str, str]) -> str:
    text = GOOD
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def from_(path: str) -> str:
    return edit(("from: ../udf/handler.py", f"from: {path}"))


def setting(line: str) -> str:
    return edit(("      max_batch_size: 64", f"      {line}"))


def link(name: str, target: Callable[[Path, Path], Path]) -> Callable[[Path, Path], None]:
    def make(project: Path, outside: Path) -> None:
        (project / "art" / "model" / name).symlink_to(target(project, outside))

    return make


def art_file(name: str | bytes) -> Callable[[Path, Path], None]:
    def make(project: Path, _outside: Path) -> None:
        folder = os.fsencode(project / "art" / "model")
        with open(os.path.join(folder, os.fsencode(name)), "wb") as handle:
            handle.write(b"x")

    return make


def fifo(rel: str) -> Callable[[Path, Path], None]:
    return lambda project, _outside: os.mkfifo(project / rel)


def hidden(rel: str) -> Callable[[Path, Path], None]:
    def make(project: Path, _outside: Path) -> None:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("[http]\n\textraheader = AUTHORIZATION: basic c2VjcmV0\n")

    return make


MODEL_FROM = "9: stages.T5_P_MODEL.files[0].from"
LLM_FROM = "12: stages.LLM.files[0].from"
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n"
    for i in range(1, 10)
)

CASES = [
    # --- files reaching outside the project ---------------------------------------------
    Case("proc-environ", from_("/proc/self/environ"), LLM_FROM, "under /proc"),
    Case("dotdot-passwd", from_("../../../../../../../../etc/passwd"), LLM_FROM, "under /etc"),
    Case("absolute-etc", from_("/etc/hostname"), LLM_FROM, "under /etc"),
    Case("dev-null", from_("/dev/null"), LLM_FROM, "under /dev"),
    Case("sys-file", from_("/sys/kernel/mm"), LLM_FROM, "under /sys"),
    Case("absolute-outside", from_("{outside}/secret.txt"), LLM_FROM, "outside the project"),
    Case("dotdot-outside", from_("../../outside/secret.txt"), LLM_FROM, "outside the project"),
    Case("env-var-to-proc", from_("${EVIL}"), LLM_FROM, "under /proc", environ={"EVIL": "/proc/self/environ"}),
    Case("env-default-to-etc", from_("${UNSET_VAR:-/etc/hostname}"), LLM_FROM, "under /etc"),
    Case("env-var-dotdot", from_("${ART}/../../../outside/secret.txt"), LLM_FROM, "outside", environ={"ART": "."}),
    Case(
        "symlink-file-outside",
        GOOD,
        MODEL_FROM,
        "outside the project",
        link("leak.json", lambda _p, o: o / "secret.txt"),
    ),
    Case("symlink-dir-outside", from_("../art/escape"), LLM_FROM, "outside the project", setup=None),
    Case(
        "symlink-to-proc", GOOD, MODEL_FROM, "under /proc", link("env.json", lambda _p, _o: Path("/proc/self/environ"))
    ),
    Case("symlink-to-git", GOOD, MODEL_FROM, "hidden '.git'", link("cfg.json", lambda p, _o: p / ".git" / "config")),
    Case("hidden-git-config", from_("../.git/config"), LLM_FROM, "hidden '.git'", hidden(".git/config")),
    Case("hidden-dotenv", from_("../.env"), LLM_FROM, "hidden '.env'", hidden(".env")),
    Case("hidden-dir", from_("../.secrets/key.pem"), LLM_FROM, "hidden '.secrets'", hidden(".secrets/key.pem")),
    Case("fifo-direct", from_("../art/pipe"), LLM_FROM, "is a fifo", fifo("art/pipe")),
    Case("fifo-in-dir", GOOD, MODEL_FROM, "is a fifo", fifo("art/model/pipe.bin")),
    Case("symlink-to-device", GOOD, MODEL_FROM, "under /dev", link("null.bin", lambda _p, _o: Path("/dev/null"))),
    Case("missing-file", from_("../art/nowhere.py"), LLM_FROM, "does not exist"),
    Case("root-is-slash", edit(("keep_versions: 2", "artifacts_root: /")), "4: artifacts_root", "contains"),
    Case("root-is-proc", edit(("keep_versions: 2", "artifacts_root: /proc/self")), "4: artifacts_root", "under /proc"),
    Case("root-is-parent", edit(("keep_versions: 2", "artifacts_root: ../..")), "4: artifacts_root", "contains"),
    Case(
        "root-is-a-file",
        edit(("keep_versions: 2", "artifacts_root: ../udf/handler.py")),
        "4: artifacts_root",
        "not a directory",
    ),
    Case(
        "root-in-hidden-home-dir",
        edit(("keep_versions: 2", "artifacts_root: ${HOME}/.ssh")),
        "4: artifacts_root",
        "hidden folder ~/.ssh",
        lambda _p, o: (o / "home" / ".ssh").mkdir(parents=True),
        {"HOME": "{outside}/home"},
    ),
    Case(
        "outside-the-declared-root",
        edit(
            ("keep_versions: 2", "artifacts_root: {outside}/runs"),
            ("from: ../udf/handler.py", "from: {outside}/secret.txt"),
        ),
        "12: stages.LLM.files[0].from",
        "or the artifacts root",
        lambda _p, o: (o / "runs").mkdir(),
    ),
    # --- names that forge output or break SQL -------------------------------------------
    Case("file-name-newline", GOOD, MODEL_FROM, "contains \\n", art_file("a\nb.txt")),
    Case("file-name-cr", GOOD, MODEL_FROM, "contains \\r", art_file("a\rb.txt")),
    Case("file-name-tab", GOOD, MODEL_FROM, "contains \\t", art_file("a\tb.txt")),
    Case("file-name-escape", GOOD, MODEL_FROM, "contains \\x1b", art_file("\x1b[31mred.txt")),
    Case("file-name-bidi", GOOD, MODEL_FROM, "contains \\u202e", art_file("evil\u202etxt.json")),
    Case("file-name-line-separator", GOOD, MODEL_FROM, "contains \\u2028", art_file("a\u2028b.json")),
    Case("file-name-not-utf8", GOOD, MODEL_FROM, "contains \\udcff", art_file(b"\xff.bin")),
    Case("file-name-quote", GOOD, MODEL_FROM, "which stage paths cannot carry", art_file("it's.json")),
    Case("file-name-double-quote", GOOD, MODEL_FROM, "which stage paths cannot carry", art_file('a"b.json')),
    Case("file-name-backslash", GOOD, MODEL_FROM, "which stage paths cannot carry", art_file("a\\b.json")),
    Case("file-names-differ-in-case", GOOD, MODEL_FROM, "differ only in case", art_file("Config.json")),
    Case(
        "file-named-like-the-marker", GOOD, MODEL_FROM, "reserved for the completion marker", art_file("_COMPLETE.json")
    ),
    Case(
        "import-file-with-newline",
        edit(("      - stage: LLM\n", '      - stage: LLM\n        files: ["handler.py\\nx"]\n')),
        "23: functions.SUMMARIZE.imports[0].files",
        "'handler.py\\nx' is not a file",
    ),
    Case(
        "stages-differ-in-case",
        edit(("  LLM:\n", "  llm:\n    files: [{from: ../udf/handler.py}]\n  LLM:\n")),
        "12: stages.LLM",
        "folds",
    ),
    Case(
        "functions-differ-in-case",
        GOOD + "  summarize:\n" + GOOD.split("  SUMMARIZE:\n")[1],
        "26: functions.summarize",
        "also declared",
    ),
    Case("identifier-quote", edit(("schema: PUBLIC", "schema: 'PUB\"LIC'")), "3: schema", "not a valid identifier"),
    Case("identifier-semicolon", edit(("  LLM:", "  LLM; DROP DATABASE X:")), "10: stages", "not a valid identifier"),
    Case(
        "identifier-unicode", edit(("database: T5_DEMO", "database: T5_DÉMO")), "2: database", "not a valid identifier"
    ),
    Case(
        "identifier-256-chars",
        edit(("database: T5_DEMO", "database: " + "D" * 256)),
        "2: database",
        "not a valid identifier",
    ),
    Case(
        "identifier-trailing-newline",
        edit(("schema: PUBLIC", 'schema: "PUBLIC\\n"')),
        "3: schema",
        "not a valid identifier",
    ),
    Case(
        "identifier-from-env-newline",
        edit(("database: T5_DEMO", "database: ${DB}")),
        "2: database",
        "not a valid identifier",
        environ={"DB": "T5\nX"},
    ),
    Case("identifier-empty", edit(("database: T5_DEMO", 'database: ""')), "2: database", "not a valid identifier"),
    Case("reserved-schema", edit(("schema: PUBLIC", "schema: INFORMATION_SCHEMA")), "3: schema", "read-only schema"),
    Case(
        "reserved-schema-lower", edit(("schema: PUBLIC", "schema: information_schema")), "3: schema", "read-only schema"
    ),
    Case("reserved-database", edit(("database: T5_DEMO", "database: snowflake")), "2: database", "system database"),
    Case(
        "arg-name-space",
        edit(("{name: TEXT,", "{name: 'TEXT X',")),
        "16: functions.SUMMARIZE.args[0].name",
        "not a valid identifier",
    ),
    Case(
        "handler-sql",
        edit(("handler: handler.summarize", 'handler: "handler.summarize\'); DROP TABLE x; --"')),
        "19: functions.SUMMARIZE.handler",
        "does not match",
    ),
    Case(
        "handler-newline",
        edit(("handler: handler.summarize", 'handler: "handler.summarize\\n"')),
        "19: functions.SUMMARIZE.handler",
        "does not match",
    ),
    Case(
        "package-sql",
        edit(("[pandas, pytorch]", '[pandas, "pytorch\'); DROP"]')),
        "20: functions.SUMMARIZE.packages[1]",
        "does not match",
    ),
    Case(
        "package-quote-in-version",
        edit(("[pandas, pytorch]", '[pandas, "pytorch==2.5\'"]')),
        "20: functions.SUMMARIZE.packages[1]",
        "does not match",
    ),
    Case(
        "runtime-sql",
        edit(('runtime: "3.11"', 'runtime: "3.11\'); DROP"')),
        "18: functions.SUMMARIZE.runtime",
        "is not one of",
    ),
    Case(
        "runtime-float", edit(('runtime: "3.11"', "runtime: 3.11")), "18: functions.SUMMARIZE.runtime", "is not one of"
    ),
    Case(
        "runtime-date",
        edit(('runtime: "3.11"', "runtime: 2024-01-01")),
        "18: functions.SUMMARIZE.runtime",
        "is not one of",
    ),
    Case(
        "returns-sql",
        edit(("returns: VARCHAR", "returns: VARCHAR); DROP FUNCTION X(")),
        "17: functions.SUMMARIZE.returns",
        "SQL type",
    ),
    Case(
        "arg-type-comment",
        edit(("type: VARCHAR}", "type: 'VARCHAR --'}")),
        "16: functions.SUMMARIZE.args[0].type",
        "SQL type",
    ),
    # --- types that mean what the handler needs -----------------------------------------
    Case(
        "batch-size-float",
        setting("max_batch_size: 64.0"),
        "25: functions.SUMMARIZE.settings.max_batch_size",
        "is not an integer",
    ),
    Case(
        "batch-size-string",
        setting('max_batch_size: "64"'),
        "25: functions.SUMMARIZE.settings.max_batch_size",
        "not of type 'integer'",
    ),
    Case(
        "batch-size-bool",
        setting("max_batch_size: true"),
        "25: functions.SUMMARIZE.settings.max_batch_size",
        "not of type 'integer'",
    ),
    Case(
        "batch-size-zero",
        setting("max_batch_size: 0"),
        "25: functions.SUMMARIZE.settings.max_batch_size",
        "less than the minimum",
    ),
    Case(
        "new-tokens-huge",
        setting("max_new_tokens: 100000"),
        "25: functions.SUMMARIZE.settings.max_new_tokens",
        "greater than the maximum",
    ),
    Case("beams-zero", setting("num_beams: 0"), "25: functions.SUMMARIZE.settings.num_beams", "less than the minimum"),
    Case(
        "threads-negative", setting("threads: -1"), "25: functions.SUMMARIZE.settings.threads", "less than the minimum"
    ),
    Case("quantize-unknown", setting("quantize: fp8"), "25: functions.SUMMARIZE.settings.quantize", "is not one of"),
    Case("setting-unknown", setting("temperature: 0.7"), "25: functions.SUMMARIZE.settings.temperature", "unknown key"),
    Case(
        "keep-versions-float", edit(("keep_versions: 2", "keep_versions: 2.0")), "4: keep_versions", "is not an integer"
    ),
    Case(
        "keep-versions-zero",
        edit(("keep_versions: 2", "keep_versions: 0")),
        "4: keep_versions",
        "less than the minimum",
    ),
    Case("api-version-float", edit(("apiVersion: 1", "apiVersion: 1.0")), "1: apiVersion", "is not an integer"),
    Case("api-version-true", edit(("apiVersion: 1", "apiVersion: true")), "1: apiVersion", "not of type 'integer'"),
    Case(
        "comment-too-long",
        edit(("comment: weights", "comment: " + "w" * 5000)),
        "7: stages.T5_P_MODEL.comment",
        "is too long",
    ),
    # --- parsing that must stay bounded -------------------------------------------------
    Case("alias-bomb", BOMB, "", f"more than {MAX_VALUES} values"),
    Case(
        "deep-flow-nesting", "apiVersion: 1\nx: " + "[" * 20000 + "]" * 20000 + "\n", "2:", f"deeper than {MAX_DEPTH}"
    ),
    Case(
        "deep-block-nesting",
        "apiVersion: 1\n" + "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v: 1\n",
        "",
        f"deeper than {MAX_DEPTH}",
    ),
    Case("recursive-alias", "apiVersion: 1\nx: &a [*a]\n", "2:", f"deeper than {MAX_DEPTH}"),
    Case("too-large", GOOD + "# " + "x" * MAX_MANIFEST_BYTES + "\n", "1:", "the limit for a manifest"),
    Case("not-utf8", GOOD.encode().replace(b"weights", b"w\xe9ights"), "7:", "not UTF-8"),
    Case("nul-byte", GOOD.encode().replace(b"weights", b"we\x00ights"), "7:", "not allowed in YAML"),
    Case("escape-char", GOOD.encode().replace(b"weights", b"we\x1bights"), "7:", "not allowed in YAML"),
    Case("syntax-error", edit(("schema: PUBLIC", "schema: [PUBLIC")), "", "not valid YAML"),
    Case("tab-indent", edit(("    comment: weights", "\tcomment: weights")), "", "not valid YAML"),
    Case(
        "python-tag", edit(("schema: PUBLIC", "schema: !!python/object/apply:os.system [id]")), "3: schema", "YAML tag"
    ),
    Case("python-tag-scalar", edit(("schema: PUBLIC", "schema: !!python/name:os.system x")), "3:", "not valid YAML"),
    Case("binary-tag", edit(("schema: PUBLIC", "schema: !!binary aGVsbG8=")), "3: schema", "not of type 'string'"),
    Case("duplicate-key", edit(("schema: PUBLIC", "schema: PUBLIC\nschema: OTHER")), "4: schema", "duplicate key"),
    Case("complex-key", edit(("keep_versions: 2", "? [a, b]\n: 1")), "4: (top level)", "a key must be a plain value"),
    Case("unknown-top-key", edit(("keep_versions: 2", "keep_version: 2")), "4: keep_version", "unknown key"),
    Case(
        "unknown-stage-key",
        edit(("    comment: weights", "    encryption_key: abc")),
        "7: stages.T5_P_MODEL.encryption_key",
        "unknown key",
    ),
    Case("top-level-list", "- apiVersion: 1\n", "1: (top level)", "is not of type 'object'"),
    Case("empty-file", "", "1: (top level)", "'apiVersion' is required"),
    Case(
        "missing-variable", edit(("database: T5_DEMO", "database: ${TARGET_DB}")), "2: database", "TARGET_DB is not set"
    ),
    Case(
        "files-not-a-list",
        edit(("      - from: ../art/model", "      from: ../art/model")),
        "8: stages.T5_P_MODEL.files",
        "not of type 'array'",
    ),
    Case(
        "import-undeclared-stage",
        edit(("      - stage: LLM\n", "      - stage: NOPE\n")),
        "22: functions.SUMMARIZE.imports[0].stage",
        "not declared",
    ),
]


def _make_project(root: Path, outside: Path) -> Path:
    project = root / "project"
    (project / "manifests").mkdir(parents=True)
    (project / "snowflake.yml").write_text("definition_version: '2'\n")
    (project / "art" / "model").mkdir(parents=True)
    (project / "art" / "model" / "config.json").write_text("{}")
    (project / "art" / "model" / "model.safetensors").write_bytes(b"\0" * 32)
    (project / "udf").mkdir()
    (project / "udf" / "handler.py").write_text("def summarize(df):\n    return df[0]\n")
    (project / "art" / "escape").symlink_to(outside)
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("SNOWFLAKE_PASSWORD=hunter2\n")
    return project


@pytest.fixture
def no_account(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails loudly if anything tries to open a connection: invalid input must stop before that."""
    attempts: list[str] = []

    def refuse(*_args, **_kwargs):
        attempts.append("connect")
        raise AssertionError("a connection was opened for invalid manifests")

    import deploy.connection
    import localsnow

    monkeypatch.setattr(deploy.connection, "connect", refuse)
    monkeypatch.setattr(localsnow, "ensure_running", refuse)
    return attempts


def _materialize(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    outside = tmp_path / "outside"
    project = _make_project(tmp_path, outside)
    if case.setup is not None:
        case.setup(project, outside)
    text = case.text
    if isinstance(text, str):
        text = text.replace("{outside}", str(outside)).encode()
    (project / MANIFEST).write_bytes(text)
    monkeypatch.chdir(project)
    monkeypatch.setenv("T5_DEPLOY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SNOWFLAKE_HOME", str(tmp_path / "no-config"))
    for name, value in case.environ.items():
        monkeypatch.setenv(name, value.replace("{outside}", str(outside)))
    return project


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_manifest_is_refused_with_file_line_and_field(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_account
) -> None:
    _materialize(case, tmp_path, monkeypatch)
    for command in (["validate"], ["--connection", "local", "plan"]):
        rc = main(["--manifests", "manifests", *command])
        out, err = capsys.readouterr()
        assert rc == 1, (command, out, err)
        assert "Traceback" not in out + err and "Unexpected error" not in err, err
        problems = [line.strip() for line in err.splitlines() if line.startswith("  ")]
        prefix = f"{MANIFEST}:{case.where}"
        matching = [p for p in problems if p.startswith(prefix) and case.says in p]
        assert matching, f"no problem starts with {prefix!r} and says {case.says!r}:\n{err}"
        # Every problem names file and line; none is long or carries a raw control character.
        for problem in problems:
            assert re.match(rf"{re.escape(MANIFEST)}:\d+: ", problem), problem
            assert len(problem) < 700, problem[:200]
            assert problem.isprintable(), repr(problem)
    assert no_account == []


def test_secret_outside_the_project_never_reaches_a_message(tmp_path, monkeypatch, capsys, no_account) -> None:
    case = next(c for c in CASES if c.id == "symlink-file-outside")
    _materialize(case, tmp_path, monkeypatch)
    assert main(["--manifests", "manifests", "validate"]) == 1
    assert "hunter2" not in "".join(capsys.readouterr())


def test_a_declared_artifacts_root_outside_the_project_is_allowed(tmp_path, monkeypatch, capsys) -> None:
    outside = tmp_path / "runs" / "run-1"
    (outside / "model").mkdir(parents=True)
    (outside / "model" / "config.json").write_text("{}")
    text = edit(("keep_versions: 2", "artifacts_root: ${RUN}"), ("from: ../art/model", "from: ${RUN}/model"))
    case = Case("declared", text, "", "", environ={"RUN": str(outside)})
    _materialize(case, tmp_path, monkeypatch)
    assert main(["--manifests", "manifests", "validate"]) == 0, capsys.readouterr().err


def test_a_link_inside_the_project_is_followed(tmp_path, monkeypatch, capsys) -> None:
    """artifacts/latest -> runs/<id> is the training job's own layout: links that stay inside are fine."""
    case = Case("inside-link", from_("../art/latest/handler.py"), "", "")
    project = _materialize(case, tmp_path, monkeypatch)
    (project / "art" / "runs" / "r1").mkdir(parents=True)
    (project / "art" / "runs" / "r1" / "handler.py").write_text("def summarize(df):\n    return df[0]\n")
    (project / "art" / "latest").symlink_to(project / "art" / "runs" / "r1")
    assert main(["--manifests", "manifests", "validate"]) == 0, capsys.readouterr().err


def test_alias_bomb_is_stopped_quickly(tmp_path, monkeypatch, capsys) -> None:
    """Without the cap the bomb builds 10**9 values; with it, validation stops after MAX_VALUES."""
    case = next(c for c in CASES if c.id == "alias-bomb")
    _materialize(case, tmp_path, monkeypatch)
    import tracemalloc

    tracemalloc.start()
    try:
        assert main(["--manifests", "manifests", "validate"]) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, peak
    assert f"more than {MAX_VALUES} values" in capsys.readouterr().err
