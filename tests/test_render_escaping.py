"""No input can forge a plan: every text a renderer takes from input is escaped for its format.

Each hostile string goes into every field a plan renders from input (object names,
file names, removed paths, reasons, warnings, hashes). The plan must keep the lines
and structure of the same plan holding a benign token instead, never show the
hostile text raw, show its escaped form where the token was, and (JSON) read back
exactly.
"""

import html
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from builders import LLM, MODEL, desired, observed_from
from markdown_it import MarkdownIt

from deploy.diff import diff
from deploy.local_file import LocalFile
from deploy.observe import RemoteFile
from deploy.payloads import DatabaseProps, ListedVersion, StageVersion, VersionFile
from deploy.plan import Action, Change, Kind, Plan
from deploy.render import render
from deploy.render.common import one_line

TOKEN = "q9z"  # benign stand-in, counted where the hostile text should show
HOSTILE = [
    pytest.param("a\nb.txt", id="newline"),
    pytest.param("a\r\nb", id="crlf"),
    pytest.param("cr\rover", id="cr"),
    pytest.param("tab\there", id="tab"),
    pytest.param("nul\x00byte", id="nul"),
    pytest.param("\x1b[31mred\x1b[0m\x1b[2K", id="ansi"),
    pytest.param("csi\x9b31m", id="c1-csi"),
    pytest.param("del\x7fete", id="del"),
    pytest.param("next\x85line", id="nel"),
    pytest.param("line\u2028sep", id="u2028"),
    pytest.param("para\u2029sep", id="u2029"),
    pytest.param("\u202etxt.exe", id="rlo"),
    pytest.param("zero\u200bwidth\ufeff", id="zero-width"),
    pytest.param("tag\U000e0041", id="tag-char"),
    pytest.param("lone\udcffsurrogate", id="surrogate"),
    pytest.param("`tick`", id="backticks"),
    pytest.param("```\nfence", id="fence"),
    pytest.param("a|b||c", id="pipes"),
    pytest.param("<script>alert(1)</script>", id="html"),
    pytest.param("<!-- hidden", id="html-comment"),
    pytest.param("&#x202E;&lt;", id="entities"),
    pytest.param("@someone", id="mention"),
    pytest.param("x](http://x) [y](http://y)", id="link"),
    pytest.param("![i](http://x/i.png)", id="image"),
    pytest.param("<http://x> http://x www.x.io a@b.io", id="autolink"),
    pytest.param("**b** _e_ ~~s~~ *i*", id="emphasis"),
    pytest.param("\\*not\\* \\", id="backslashes"),
    pytest.param("#123 $x^2$", id="issue-math"),
    pytest.param("é 模型 a\u00a0b", id="unicode"),
    pytest.param("x\n| | a | b |\n> quote\n# h\n- [ ] li", id="markdown-lines"),
]
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def make_plan(s: str, *, sql: bool = False) -> Plan:
    """One plan with ``s`` in every rendered input field; ``sql``: statements stay benign.

    Statements are quoted by deploy.sql and compiled from after/before and the
    upload sources, so with ``sql`` only what the SQL renderer writes itself
    (its ``--`` comments) carries ``s``.
    """
    after = StageVersion("DB", "S", "ST", "v1", (VersionFile("f.bin", 3, "0" * 64),))
    before = ListedVersion("DB", "S", "ST", "v0", ("x",))
    removes = ("v0/",) if sql else (f"{s}/", f"v0/{s}")
    return Plan(
        (
            Change(Action.CREATE, Kind.DATABASE, s, (s,), after=DatabaseProps("DB")),
            Change(
                Action.UPDATE,
                Kind.STAGE_VERSION,
                f"DB.S.ST/{s}",
                (f"unexpected file {s} in a managed version", s),
                after=after,
                uploads=(LocalFile(s, Path("/a/f.bin"), 3, s), LocalFile("ok.bin", Path("/a/ok.bin"), 1, "0" * 64)),
                removes=removes,
            ),
            Change(Action.DELETE, Kind.STAGE_VERSION, f"DB.S.{s}/v0", (f"older {s}",), before=before, removes=removes),
        ),
        "fp",
        (s, f"warning: {s}"),
    )


def assert_same_lines(got: str, base: str) -> None:
    assert got.count("\n") == base.count("\n")
    assert len(got.splitlines()) == len(base.splitlines())  # also \r, \x0b, \x85, U+2028/2029, ...


def assert_printable(got: str) -> None:
    assert all(ch.isprintable() for ch in got.replace("\n", "")), [ch for ch in got if not ch.isprintable()][:5]


def assert_not_raw(got: str, h: str) -> None:
    if not h.isprintable():
        assert h not in got


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\tb", "a\\r\\tb"),
        ("\x00\x1b[31m\x7f", "\\x00\\x1b[31m\\x7f"),
        ("\x85\x9b", "\\x85\\x9b"),
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("\u202e\u200b\ufeff\u00ad", "\\u202e\\u200b\\ufeff\\xad"),
        ("\U000e0041\udcff", "\\U000e0041\\udcff"),
        ("a\u00a0b", "a\\xa0b"),
        ("é 模型 `|<>@ a\\b", "é 模型 `|<>@ a\\b"),  # printable text, backslash included, stays as is
        ("", ""),
    ],
)
def test_one_line(raw, shown):
    assert one_line(raw) == shown


@pytest.mark.parametrize("h", HOSTILE)
def test_text(h):
    got, base = render(make_plan(h), "text"), render(make_plan(TOKEN), "text")
    assert_same_lines(got, base)
    assert_printable(got)
    assert_not_raw(got, h)
    assert got.count(one_line(h)) == base.count(TOKEN)
    assert "\x1b" not in got


@pytest.mark.parametrize("h", HOSTILE)
def test_sql_comments(h):
    got = render(make_plan(h, sql=True), "sql", marker_dir=Path("/m"))
    base = render(make_plan(TOKEN, sql=True), "sql", marker_dir=Path("/m"))
    assert_same_lines(got, base)
    assert_printable(got)
    assert_not_raw(got, h)
    assert got.count(one_line(h)) == base.count(TOKEN)
    # Statements are untouched, and every line the name reached is still a comment.
    statements = [line for line in got.splitlines() if not line.startswith("-- ")]
    assert statements == [line for line in base.splitlines() if not line.startswith("-- ")]


def _tags(rendered: str) -> Counter[str]:
    return Counter(re.findall(r"</?[A-Za-z][A-Za-z0-9]*|<!--", rendered))


def _visible(rendered: str) -> str:
    """Text a reader sees: tags dropped, entities decoded, zero-width spaces (ours) removed."""
    return html.unescape(re.sub(r"<[^>]*>", "", rendered)).replace("\u200b", "")


@pytest.mark.parametrize("h", HOSTILE)
def test_markdown(h):
    got, base = render(make_plan(h), "markdown"), render(make_plan(TOKEN), "markdown")
    assert_same_lines(got, base)
    assert_printable(got)
    assert_not_raw(got, h)
    page, base_page = MD.render(got), MD.render(base)
    # Same elements as the benign plan: no added link, image, HTML, emphasis, cell, row or code span.
    assert _tags(page) == _tags(base_page)
    # Outside code, GitHub's linkers (mentions, issue references, bare URLs, e-mails) find no trigger.
    prose = re.sub(r"<code>.*?</code>", "", page)
    assert not re.search(r"[@#][\w-]|://|www\.", prose)
    # The reader still sees every field as it is (in one_line form); hashes show 12 characters.
    truncated_hash = len(h) > 12
    assert _visible(page).count(one_line(h)) == _visible(base_page).count(TOKEN) - truncated_hash
    assert one_line(h[:12]) in _visible(page)


@pytest.mark.parametrize("h", HOSTILE)
def test_markdown_prose_has_no_github_triggers(h):
    """Reasons and warnings are plain text: GitHub's math and linkers must not fire on them."""
    plan = Plan((Change(Action.CREATE, Kind.DATABASE, "DB", (h, h)),), "fp", (h,))
    got = render(plan, "markdown")
    assert not re.search(r"@[\w-]|(?<!&)#[\w-]|://|www\.|\$", got)  # (?<!&): our own &#8203;


@pytest.mark.parametrize("h", HOSTILE)
def test_markdown_table_keeps_its_columns(h):
    page = MD.render(render(make_plan(h), "markdown"))
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    assert len(rows) == 1 + 3
    assert all(len(re.findall(r"<t[hd][ >]", row)) == 5 for row in rows)


@pytest.mark.parametrize("h", HOSTILE)
def test_json_round_trips(h, tmp_path):
    plan = make_plan(h)
    got, base = render(plan, "json"), render(make_plan(TOKEN), "json")
    assert_same_lines(got, base)
    # ASCII only: U+2028/2029, bidi and zero-width characters are \u escapes; `<` too (safe in <script>).
    assert got.isascii() and "<" not in got
    assert_printable(got)
    assert Plan.from_dict(json.loads(got)) == plan
    # As `apply --plan` reads it: from a file, whatever the locale's encoding.
    path = tmp_path / "plan.json"
    path.write_text(got, encoding="latin-1")
    assert Plan.from_dict(json.loads(path.read_text())) == plan


def live_edited(h: str) -> Plan:
    """A real diff whose reasons quote account and manifest values holding ``h``."""
    want = desired(MODEL, LLM, packages=("pytorch", h))
    stray = RemoteFile(f"{MODEL.version}/{h.replace('/', '_')}", 1, None, "")  # a file, not a folder
    have = observed_from(desired(MODEL, LLM), extra_files={"T5_P_MODEL": [stray]})
    fn = next(iter(have.functions.values()))
    have = replace(have, functions={fn.identity: replace(fn, comment=f"{h} {fn.comment}")})
    return diff(want, have)


@pytest.mark.parametrize("h", HOSTILE)
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_reasons_quoting_live_values(h, fmt):
    got, base = render(live_edited(h), fmt), render(live_edited(TOKEN), fmt)
    assert_same_lines(got, base)
    assert_printable(got)
    assert_not_raw(got, h)
