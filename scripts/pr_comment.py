"""Post a Markdown file as ONE pull-request comment, updated in place on later runs.

Used by .github/workflows/plan.yml: every push to a pull request re-plans, and the plan
replaces the body of the comment this script posted before (found by a hidden marker),
so the thread holds one current plan, not one per push. Duplicates (two runs racing
before either saw the other's comment) are deleted, the oldest one is kept.

Standard library only (it runs before or without the project's install). GitHub's REST
API, with the token the workflow grants (`permissions: pull-requests: write`):

- list:   GET    /repos/{repo}/issues/{number}/comments  (paginated; Link: rel="next")
- create: POST   /repos/{repo}/issues/{number}/comments
- update: PATCH  /repos/{repo}/issues/comments/{id}
- delete: DELETE /repos/{repo}/issues/comments/{id}

A pull request's conversation comments are issue comments
(https://docs.github.com/en/rest/guides/working-with-comments#pull-request-comments);
a body holds at most 65536 characters (https://docs.github.com/en/rest/issues/comments).

Usage (inside a workflow; GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_EVENT_PATH come from it):

    python scripts/pr_comment.py --body-file plan.md
    python scripts/pr_comment.py --failed       # the plan did not finish: say so, with the run's link
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

MARKER = "<!-- t5-deploy-plan -->"
# The login of GITHUB_TOKEN's comments; another token (an app's, a PAT) posts as someone else: --author.
DEFAULT_AUTHOR = "github-actions[bot]"
MAX_BODY = 65536
API_VERSION = "2022-11-28"
TRUNCATED = "\n\n… (truncated: longer than a comment can hold; the job summary and the plan artifact have all of it)\n"


class CommentError(Exception):
    """The comment could not be posted; the message says what to fix."""


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str


class CommentsApi(Protocol):
    """The four calls `upsert` needs; GitHubApi talks HTTP, the tests pass a fake."""

    def list_comments(self, number: int) -> list[Comment]: ...
    def create_comment(self, number: int, body: str) -> Comment: ...
    def update_comment(self, comment_id: int, body: str) -> Comment: ...
    def delete_comment(self, comment_id: int) -> None: ...


@dataclass
class Outcome:
    action: str  # "created", "updated" or "unchanged"
    comment_id: int
    deleted: list[int] = field(default_factory=list)


def is_ours(comment: Comment, marker: str, author: str | None) -> bool:
    """Posted by this script: the marker opens the body (a quote of it in a reply does not), and the author matches."""
    return comment.body.startswith(marker) and (author is None or comment.author == author)


def upsert(
    api: CommentsApi, number: int, body: str, *, marker: str = MARKER, author: str | None = DEFAULT_AUTHOR
) -> Outcome:
    """Make `body` the one comment carrying `marker` on pull request `number`."""
    if not body.startswith(marker):
        raise ValueError("the body must start with the marker, or the next run cannot find it")
    ours = [c for c in api.list_comments(number) if is_ours(c, marker, author)]
    if not ours:
        return Outcome("created", api.create_comment(number, body).id)
    keep, extra = ours[0], ours[1:]  # the API lists oldest first
    for duplicate in extra:
        api.delete_comment(duplicate.id)
    deleted = [c.id for c in extra]
    if keep.body == body:
        return Outcome("unchanged", keep.id, deleted)
    return Outcome("updated", api.update_comment(keep.id, body).id, deleted)


def compose(text: str, *, marker: str = MARKER, footer: str = "", limit: int = MAX_BODY) -> str:
    """marker + text + footer, the text cut at a line end when the whole would exceed `limit` characters."""
    head, tail = f"{marker}\n", f"\n{footer}\n" if footer else ""
    if len(head) + len(text) + len(tail) <= limit:
        return head + text + tail
    room = limit - len(head) - len(TRUNCATED) - len(tail)
    if room <= 0:
        raise ValueError(f"limit {limit} leaves no room for the text")
    cut = text[:room]
    cut = cut[: cut.rfind("\n") + 1] or cut  # a whole line, so no table row or code span is left open
    return head + cut + TRUNCATED + tail


def run_footer(env: Mapping[str, str]) -> str:
    """Which commit was planned and the run that did it (variables every GitHub Actions job has)."""
    # A pull_request run checks out the merge of head into base; PLAN_HEAD_SHA names the head pushed.
    sha = env.get("PLAN_HEAD_SHA") or env.get("GITHUB_SHA", "")
    server, repo, run_id = (env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    parts = []
    if sha:
        parts.append(f"commit `{sha[:12]}`")
    if server and repo and run_id:
        parts.append(f"[workflow run]({server}/{repo}/actions/runs/{run_id})")
    return f"<sub>Planned for {', '.join(parts)}.</sub>" if parts else ""


def failure_text() -> str:
    return (
        "### t5-deploy plan\n\n"
        "**The plan did not finish** (validation, connection or an unexpected error); "
        "the workflow run's log says why. An earlier plan in this comment no longer applies.\n"
    )


# -- GitHub over HTTP -----------------------------------------------------------

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass
class GitHubApi:
    """GitHub's REST API for one repository, with urllib."""

    repo: str  # owner/name
    token: str
    base_url: str = "https://api.github.com"
    timeout: float = 30.0

    def _request(self, method: str, url: str, payload: Mapping[str, Any] | None = None) -> tuple[Any, str]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("X-GitHub-Api-Version", API_VERSION)
        request.add_header("User-Agent", "t5-deploy-pr-comment")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                link = response.headers.get("Link", "")
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            hint = (
                " (the job needs `permissions: pull-requests: write`;"
                " a pull request from a fork gets a read-only token)"
                if e.code in (401, 403, 404)
                else ""
            )
            raise CommentError(f"{method} {url}: HTTP {e.code}{hint}: {detail}") from None
        except urllib.error.URLError as e:
            raise CommentError(f"{method} {url}: {e.reason}") from None
        return (json.loads(raw) if raw else None), link

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/repos/{self.repo}/{path}"

    @staticmethod
    def _comment(item: Mapping[str, Any]) -> Comment:
        return Comment(int(item["id"]), item.get("body") or "", (item.get("user") or {}).get("login", ""))

    def list_comments(self, number: int) -> list[Comment]:
        url: str | None = self._url(f"issues/{number}/comments?per_page=100")
        comments: list[Comment] = []
        while url:
            page, link = self._request("GET", url)
            comments.extend(self._comment(item) for item in page)
            match = _NEXT.search(link)
            url = match.group(1) if match else None
        return comments

    def create_comment(self, number: int, body: str) -> Comment:
        return self._comment(self._request("POST", self._url(f"issues/{number}/comments"), {"body": body})[0])

    def update_comment(self, comment_id: int, body: str) -> Comment:
        return self._comment(self._request("PATCH", self._url(f"issues/comments/{comment_id}"), {"body": body})[0])

    def delete_comment(self, comment_id: int) -> None:
        self._request("DELETE", self._url(f"issues/comments/{comment_id}"))


# -- command line -----------------------------------------------------------------


def pull_request_number(explicit: int | None, env: Mapping[str, str]) -> int:
    """--pr, else the pull_request event's number (GITHUB_EVENT_PATH holds the event's JSON)."""
    if explicit is not None:
        return explicit
    path = env.get("GITHUB_EVENT_PATH")
    if path:
        try:
            event = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CommentError(f"cannot read the event {path}: {e}") from None
        number = (event.get("pull_request") or {}).get("number")
        if isinstance(number, int):
            return number
    raise CommentError("no pull request: pass --pr NUMBER, or run on a pull_request event")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    body = p.add_mutually_exclusive_group(required=True)
    body.add_argument("--body-file", type=Path, help="Markdown to post (plan.md from `deploy plan --format markdown`)")
    body.add_argument("--failed", action="store_true", help="post that the plan did not finish")
    p.add_argument("--pr", type=int, help="pull request number (default: from the event)")
    p.add_argument("--repo", help="owner/name (default: GITHUB_REPOSITORY)")
    p.add_argument("--marker", default=MARKER, help="hidden HTML comment that identifies the comment")
    p.add_argument("--author", default=DEFAULT_AUTHOR, help="login whose comment is updated; '' for anyone's")
    return p


def main(argv: Iterable[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(None if argv is None else list(argv))
    env = os.environ if env is None else env
    if not re.fullmatch(r"<!--[^<>]*-->", args.marker):
        print("error: --marker must be one HTML comment, e.g. '<!-- t5-deploy-plan -->'", file=sys.stderr)
        return 1
    try:
        token = env.get("GITHUB_TOKEN") or ""
        repo = args.repo or env.get("GITHUB_REPOSITORY") or ""
        if not token or not repo:
            raise CommentError("GITHUB_TOKEN and GITHUB_REPOSITORY (or --repo) must be set")
        number = pull_request_number(args.pr, env)
        try:
            text = failure_text() if args.failed else args.body_file.read_text(encoding="utf-8")
        except OSError as e:
            raise CommentError(f"cannot read {args.body_file}: {e.strerror or e}") from None
        body = compose(text, marker=args.marker, footer=run_footer(env))
        api = GitHubApi(repo, token, env.get("GITHUB_API_URL") or "https://api.github.com")
        outcome = upsert(api, number, body, marker=args.marker, author=args.author or None)
    except CommentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    removed = f"; {len(outcome.deleted)} duplicate(s) deleted" if outcome.deleted else ""
    print(f"Comment {outcome.comment_id} on #{number} {outcome.action}{removed}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
