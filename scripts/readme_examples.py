"""The README's example pull-request comment, produced by the tool rather than typed by hand.

A fixed scenario, run with the real `deploy` against a throwaway embedded Snowflake:
a small project (database T5_DEMO, stage LLM holding a stand-in handler, function
SUMMARIZE with `settings`) is applied, then a pull request sets `num_beams: 4`. The
plan job's Markdown plan becomes the comment body exactly as scripts/pr_comment.py
builds it (`compose` + `run_footer`), with the footer's commit and run link taken from
FOOTER_ENV below.

Nothing needs masking: stage versions and sha256 prefixes come from the fixed file
contents (udf_config.json also spells out the handler's setting defaults, from
udf/handler.py's SETTINGS_SCHEMA, so a new setting there changes the example), and the
plan shows no times, users or paths. tests/test_gitops_sequence.py checks that README.md
holds this text between the markers; after a change that alters it:

    .venv/bin/python scripts/readme_examples.py --write     # regenerate README.md's block
    .venv/bin/python scripts/readme_examples.py             # print the comment
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START = "<!-- example-pr-comment:start -->"
END = "<!-- example-pr-comment:end -->"
FENCE = "````"  # four: the comment itself holds code spans

# The footer's inputs, as GitHub Actions would set them for pull request head 3f6c2a1…
FOOTER_ENV = {
    "PLAN_HEAD_SHA": "3f6c2a1d9b8e47c05a6f1e2d3c4b5a6978695a4b",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "example-org/t5-snowflake-deploy",
    "GITHUB_RUN_ID": "9876543210",
}

HANDLER = """\
# A stand-in for udf/handler.py: the example needs fixed bytes, not the model.
def summarize(text):
    return text
"""

MANIFEST = """\
apiVersion: 1
database: T5_DEMO
schema: PUBLIC
stages:
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
    settings:
      num_beams: 1
    imports:
      - stage: LLM
"""

# What the pull request changes.
BEFORE, AFTER = "num_beams: 1", "num_beams: 4"


def load_pr_comment() -> ModuleType:
    """scripts/pr_comment.py as a module (scripts/ is not a package)."""
    module = sys.modules.get("pr_comment")
    if module is None:
        spec = importlib.util.spec_from_file_location("pr_comment", ROOT / "scripts" / "pr_comment.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["pr_comment"] = module  # dataclasses look the module up while the class is built
        spec.loader.exec_module(module)
    return module


def _deploy(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # -P: the project's udf/ must not shadow the installed `udf` package, whose SETTINGS_SCHEMA deploy reads.
    return subprocess.run(
        [sys.executable, "-P", "-m", "deploy", *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def settings_change_plan(workdir: Path) -> str:
    """The Markdown plan of the pull request that sets num_beams: 4 on the applied project."""
    import localsnow  # the project's package: only when the scenario runs

    project = workdir / "project"
    (project / "manifests").mkdir(parents=True)
    (project / "udf").mkdir()
    (project / "snowflake.yml").write_text("definition_version: '2'\n")
    (project / "udf" / "handler.py").write_text(HANDLER)
    manifest = project / "manifests" / "summarizer.yaml"
    manifest.write_text(MANIFEST)
    home = workdir / "localsnow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("T5_", "SNOWFLAKE_", "GITHUB_"))}
    env.update(
        T5_DEPLOY_CONNECTION="local",
        LOCALSNOW_HOME=str(home),
        SNOWFLAKE_HOME=str(workdir / "snowflake-home"),  # no user config
        T5_DEPLOY_CACHE=str(workdir / "cache"),
        SNOWFLAKE_DISABLE_PLATFORM_DETECTION="true",
    )
    try:
        applied = _deploy(project, env, "apply", "--yes")
        if applied.returncode != 0:
            raise RuntimeError(f"deploy apply failed ({applied.returncode}): {applied.stdout}{applied.stderr}")
        manifest.write_text(MANIFEST.replace(BEFORE, AFTER))
        planned = _deploy(project, env, "plan", "--format", "markdown", "--out", str(workdir / "plan.md"))
        if planned.returncode != 2:
            raise RuntimeError(f"deploy plan: exit {planned.returncode}, not 2: {planned.stdout}{planned.stderr}")
        return (workdir / "plan.md").read_text(encoding="utf-8")
    finally:
        localsnow.stop(home)


def example_pr_comment() -> str:
    """The comment body the plan job would post for the fixed scenario."""
    pr_comment = load_pr_comment()
    with tempfile.TemporaryDirectory(prefix="readme-example-") as tmp:
        plan = settings_change_plan(Path(tmp))
    return pr_comment.compose(plan, footer=pr_comment.run_footer(FOOTER_ENV))


def readme_block(comment: str) -> str:
    """What README.md holds between the markers: the comment's Markdown source, fenced."""
    return f"{START}\n{FENCE}markdown\n{comment}{'' if comment.endswith(chr(10)) else chr(10)}{FENCE}\n{END}"


def current_block(text: str) -> str:
    """README.md's block, markers included; ValueError when the markers are missing or out of order."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start or text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f"README.md needs exactly one {START} … {END} block")
    return text[start : end + len(END)]


def write_readme(comment: str, path: Path = README) -> bool:
    """Replace the block in README.md; True when it changed."""
    text = path.read_text(encoding="utf-8")
    new = text.replace(current_block(text), readme_block(comment))
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--write", action="store_true", help=f"replace README.md's block between {START} and {END}")
    args = p.parse_args(argv)
    comment = example_pr_comment()
    if not args.write:
        print(comment, end="")
        return 0
    changed = write_readme(comment)
    print("README.md updated." if changed else "README.md already up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
