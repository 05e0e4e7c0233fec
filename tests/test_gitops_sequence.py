"""The GitOps loop end to end: the workflows' own steps, in the order a change meets them.

Each `run:` block is read from .github/workflows/*.yml and run as GitHub runs it (`bash -e`),
with the real `deploy` on PATH and `T5_DEPLOY_CONNECTION=local` (the workflows' `ci`, here
the embedded Snowflake), so this test follows the workflows when they change:

pull request: plan.yml (validate, plan as JSON then `deploy show` of it as Markdown, exit 2
passes, job summary) and the comment body scripts/pr_comment.py posts → merge: apply.yml (validate, plan summary, apply)
→ a hand edit in the account → drift.yml fails (exit 2) naming it → apply.yml repairs it →
drift.yml passes. And the pull request's saved plan, applied from the apply job's checkout at
another path, works while fresh and is refused once the account changed.

The project is model-free (a stand-in handler and a small "weights" file), so the test takes
seconds; both checkouts share one embedded Snowflake home.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_project import HANDLER_FILE, ROOT, load_script, project_environment, shout_manifest, small_project, sql_runner

WORKFLOWS = ROOT / ".github" / "workflows"
DATABASE, SCHEMA = "T5_GITOPS", "PUBLIC"
FUNCTION = f"{DATABASE}.{SCHEMA}.SHOUT"
MANIFEST = shout_manifest(
    f"${{T5_DATABASE:-{DATABASE}}}",
    f"${{T5_SCHEMA:-{SCHEMA}}}",
    stages={"CODE": {"comment": "handler code", "from": HANDLER_FILE}, "WEIGHTS": "../artifacts/latest"},
    comment="shouts",
)
# What GitHub gives the plan job (the footer's commit and run link come from these).
GITHUB_ENV = {
    "PLAN_HEAD_SHA": "c0ffee00" * 5,
    "GITHUB_SHA": "deadbeef" * 5,
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "o/r",
    "GITHUB_RUN_ID": "4242",
}


pr_comment = load_script("pr_comment")


def job(workflow: str) -> dict[str, Any]:
    (only,) = yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"].values()
    return only


def run_block(job_: dict[str, Any], name: str) -> str:
    (match,) = [s for s in job_["steps"] if s.get("name") == name]
    return match["run"]


def job_env(job_: dict[str, Any]) -> dict[str, str]:
    """The job's env as a runner sees it with the repository variables unset: `vars.*` are empty
    strings, the secrets are left out (the connection is the embedded Snowflake's)."""
    env: dict[str, str] = {}
    for key, value in job_["env"].items():
        expression = re.fullmatch(r"\$\{\{\s*(\S+)\s*\}\}", str(value))
        if expression is None:
            env[key] = str(value)
        elif expression.group(1).startswith("vars."):
            env[key] = ""
    assert env.pop("T5_DEPLOY_CONNECTION") == "ci"
    return {**env, "T5_DEPLOY_CONNECTION": "local"}


class Runner:
    """One job's runner: a checkout, its cache, the job's env and step files; runs `run:` blocks."""

    def __init__(self, workflow: str, checkout: Path, work: Path) -> None:
        self.job = job(workflow)
        self.checkout = checkout
        work.mkdir(parents=True)
        self.summary, self.output = work / "summary.md", work / "output"
        self.script = work / "step.sh"
        venv_bin = Path(sys.executable).parent
        self.env = {
            **os.environ,
            **GITHUB_ENV,
            **job_env(self.job),
            "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
            "T5_DEPLOY_CACHE": str(work / "cache"),  # another job, another cache
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
        }

    def step(self, name: str) -> subprocess.CompletedProcess[str]:
        """Run the step's `run:` block as GitHub does without `shell:` (bash -e {0})."""
        self.script.write_text(run_block(self.job, name))
        return self.command("bash", "-e", str(self.script))

    def command(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=self.checkout, env=self.env, capture_output=True, text=True, timeout=300)

    def steps(self, *names: str) -> None:
        for name in names:
            result = self.step(name)
            assert result.returncode == 0, f"{name}: exit {result.returncode}\n{result.stdout}{result.stderr}"


def checkout(root: Path) -> Path:
    """A clone of the repository under test: the small project, its training run, scripts/pr_comment.py."""
    root.mkdir(parents=True)
    project = small_project(root, MANIFEST)
    (project / "artifacts" / "latest").mkdir(parents=True)
    (project / "artifacts" / "latest" / "weights.bin").write_bytes(b"\x00\x01" * 64)
    (project / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "pr_comment.py", project / "scripts" / "pr_comment.py")
    return project


@pytest.fixture
def repo(tmp_path: Path):
    """(pull-request checkout, merge checkout at another path, embedded Snowflake home), the server stopped after."""
    pr, main = checkout(tmp_path / "pr" / "repo"), checkout(tmp_path / "main" / "work" / "repo")
    with project_environment(pr, tmp_path / "localsnow", tmp_path / "snowflake-home") as home:
        yield pr, main, home


def hand_recreate_function(sql) -> None:
    """CREATE OR REPLACE by hand, inline code, the managed comment kept (as in tests/test_drift_origin.py)."""
    (comment,) = {r[9] for r in sql(f"SHOW USER FUNCTIONS LIKE 'SHOUT' IN SCHEMA {DATABASE}.{SCHEMA}")}
    sql(
        f"CREATE OR REPLACE FUNCTION {FUNCTION}(TEXT VARCHAR) RETURNS VARCHAR LANGUAGE PYTHON "
        f"RUNTIME_VERSION = '3.11' HANDLER = 'shout' COMMENT = '{comment}' "
        "AS $$\ndef shout(text):\n    return 'by hand'\n$$"
    )


def test_pull_request_merge_hand_edit_drift_repair(repo, tmp_path: Path) -> None:
    pr, main, home = repo

    # Pull request: plan.yml.
    plan_job = Runner("plan.yml", pr, tmp_path / "jobs" / "plan")
    plan_job.steps("Validate", "Plan", "Job summary")
    assert plan_job.output.read_text() == "changes=true\n"  # exit 2 passed the step
    saved = json.loads((pr / "plan.json").read_text())
    assert {(c["object_type"], c["action"]) for c in saved["changes"]} >= {("function", "create")}
    plan_md = (pr / "plan.md").read_text()
    assert plan_job.summary.read_text() == plan_md
    assert f"`{FUNCTION}(VARCHAR)` (will be created)" in plan_md

    # The comment step's body, built as scripts/pr_comment.py builds it in that step.
    assert "--body-file plan.md" in run_block(plan_job.job, "Pull-request comment")
    body = pr_comment.compose(plan_md, footer=pr_comment.run_footer(plan_job.env))
    assert body.startswith(pr_comment.MARKER + "\n### t5-deploy plan\n")
    assert plan_md in body
    assert body.endswith(
        "<sub>Planned for commit `c0ffee00c0ff`, [workflow run](https://github.com/o/r/actions/runs/4242).</sub>\n"
    )

    # Merge: apply.yml in another checkout, at another path.
    apply_job = Runner("apply.yml", main, tmp_path / "jobs" / "apply")
    apply_job.steps("Validate", "Plan (job summary)", "Apply")
    assert apply_job.summary.read_text() == plan_md  # the same plan, re-made from the merged main
    assert apply_job.command("deploy", "plan").returncode == 0
    with sql_runner(home) as sql:
        assert sql(f"SELECT {FUNCTION}('abc')") == [("ABC",)]

        # Someone edits the account by hand.
        hand_recreate_function(sql)
        assert sql(f"SELECT {FUNCTION}('abc')") == [("by hand",)]

        # The scheduled drift check fails and says what changed.
        drift_job = Runner("drift.yml", main, tmp_path / "jobs" / "drift")
        drifted = drift_job.step("Drift")
        assert drifted.returncode == 2, drifted.stdout + drifted.stderr
        assert "::error title=Drift::" in drifted.stdout
        report = drift_job.summary.read_text()
        assert report.startswith("### Drift:")
        assert f"`{FUNCTION}(VARCHAR)`" in report and "changed outside t5-deploy" in report
        rows = [line for line in report.splitlines() if line.startswith("| `")]
        assert len(rows) == 1 and "| function |" in rows[0]  # the function, not the stages it imports
        assert "inline code was added outside the manifests" in rows[0]

        # apply.yml, re-run, repairs it; the next drift check passes.
        apply_job.steps("Apply")
        assert sql(f"SELECT {FUNCTION}('abc')") == [("ABC",)]
        clean = drift_job.step("Drift")
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "No drift" in drift_job.summary.read_text().split(report, 1)[1]  # the summary file is appended to


def test_saved_plan_travels_to_the_apply_job_and_goes_stale(repo, tmp_path: Path) -> None:
    """apply.yml's alternative: the pull request's `deploy-plan` artifact, `deploy apply --yes --plan plan.json`."""
    pr, main, home = repo
    apply_job = Runner("apply.yml", main, tmp_path / "jobs" / "apply")
    assert "deploy apply --yes --plan plan.json" in (WORKFLOWS / "apply.yml").read_text()  # what its header says

    def pull_request(name: str) -> Path:
        """plan.yml's Plan step on the pull request; its plan.json handed over as the artifact `name`."""
        plan_job = Runner("plan.yml", pr, tmp_path / "jobs" / name)
        plan_job.steps("Plan")  # (its Validate step: the test above)
        assert plan_job.output.read_text() == "changes=true\n"
        artifact = tmp_path / "artifacts" / name / "plan.json"
        artifact.parent.mkdir(parents=True)
        shutil.move(pr / "plan.json", artifact)
        assert str(pr) not in artifact.read_text()  # no path of the planning checkout
        return artifact

    fresh = pull_request("first")
    applied = apply_job.command("deploy", "apply", "--yes", "--plan", str(fresh))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert apply_job.command("deploy", "plan").returncode == 0  # the account matches the merged manifests

    # A second pull request (a new training run in both checkouts), planned, then a hand edit.
    for project in (pr, main):
        (project / "artifacts" / "latest" / "weights.bin").write_bytes(b"\x02\x03" * 64)
    stale = pull_request("second")
    with sql_runner(home) as sql:
        sql(f"ALTER STAGE {DATABASE}.{SCHEMA}.CODE SET COMMENT = 'by hand'")
    refused = apply_job.command("deploy", "apply", "--yes", "--plan", str(stale))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the account changed since this plan was made" in refused.stderr
    assert "manifests changed" not in refused.stderr and "another target" not in refused.stderr
    with sql_runner(home) as sql:  # nothing of the stale plan was applied
        assert sql(f"SELECT {FUNCTION}('abc')") == [("ABC",)]
        assert len({r[0].split("/")[1] for r in sql(f"LIST @{DATABASE}.{SCHEMA}.WEIGHTS")}) == 1

    # The apply workflow's own path re-plans, and converges.
    apply_job.steps("Apply")
    assert apply_job.command("deploy", "plan").returncode == 0


# -- the README's example comment ------------------------------------------------------


def test_readme_shows_the_comment_the_tool_makes() -> None:
    examples = load_script("readme_examples")
    comment = examples.example_pr_comment()
    assert comment.startswith(pr_comment.MARKER + "\n### t5-deploy plan\n")
    assert "`T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)` (must be replaced)" in comment
    assert "udf_config.json" in comment
    assert comment.endswith("(https://github.com/example-org/t5-snowflake-deploy/actions/runs/9876543210).</sub>\n")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert examples.current_block(readme) == examples.readme_block(comment), (
        "README.md's example pull-request comment is not what the tool makes now; "
        "regenerate it: .venv/bin/python scripts/readme_examples.py --write"
    )


def test_readme_block_writer(tmp_path: Path) -> None:
    examples = load_script("readme_examples")
    readme = tmp_path / "README.md"
    comment = "<!-- m -->\nnew\n"
    readme.write_text(f"# t\n\nbefore\n\n{examples.START}\nold\n{examples.END}\n\nafter\n")
    assert examples.write_readme(comment, readme) is True
    block = f"{examples.START}\n````markdown\n{comment}````\n{examples.END}"
    assert readme.read_text() == f"# t\n\nbefore\n\n{block}\n\nafter\n"
    assert examples.write_readme(comment, readme) is False
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="example-pr-comment:start"):
        examples.write_readme("x\n", readme)
