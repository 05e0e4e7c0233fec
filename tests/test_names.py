"""deploy.names: the one Snowflake-name type (identifiers, qualified names, stage paths, function identities)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest
import snowflake.connector

from deploy import names, sql
from deploy.names import (
    FQN,
    FunctionIdentity,
    InvalidName,
    StagePath,
    parse_identifier,
    quote,
    split_parts,
    split_stage_path,
    sql_name,
    unquote,
)
from deploy.spec import Arg, FunctionSpec, Origin
from deploy.state import ObservedFunction

ROOT = Path(__file__).resolve().parent.parent

# Names that need quoting, each for its own reason.
AWKWARD = [
    "SELECT",  # reserved word
    "GROUP",
    "lower",  # would fold to upper case unquoted
    "My Table",  # space
    'say "hi"',  # embedded quotes
    '"',
    "a.b",  # dot
    "x/y",  # slash: ends a stage name when unquoted
    "résumé 要約",  # unicode
    "1abc",  # leading digit
    " padded ",  # surrounding spaces are part of a quoted name
    "it's",  # single quote
    "T5_DEMO",  # an ordinary one too
]

# --- identifiers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("news", "NEWS"),
        ("NeWs_1$", "NEWS_1$"),
        ("_x", "_X"),
        ('"news"', "news"),
        ('"My Table"', "My Table"),
        ('"say ""hi"""', 'say "hi"'),
        ('""""', '"'),
        ('"a.b"', "a.b"),
        ("  spaced  ", "SPACED"),
    ],
)
def test_identifier_case_folding_and_quotes(text: str, value: str) -> None:
    assert parse_identifier(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", InvalidName.BARE),
        ("   ", InvalidName.BARE),
        ('""', InvalidName.EMPTY_QUOTED),
        ('"open', InvalidName.UNBALANCED),
        ('"a""', InvalidName.UNBALANCED),
        ('a"b', InvalidName.BARE),
        ('"x"y', InvalidName.AFTER_QUOTE),
        ("1abc", InvalidName.BARE),
        ("a b", InvalidName.BARE),
        ("a-b", InvalidName.BARE),
        ("a.b", InvalidName.PARTS),
    ],
)
def test_identifier_errors_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidName) as caught:
        parse_identifier(text)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


def test_quote_always_double_quotes_and_doubles_embedded_quotes() -> None:
    assert quote("T5_DEMO") == '"T5_DEMO"'
    assert quote("lower") == '"lower"'
    assert quote('x"; DROP TABLE y; --') == '"x""; DROP TABLE y; --"'
    assert quote("") == '""'
    assert sql_name("DB", "S", 'a"b') == '"DB"."S"."a""b"'
    assert sql.ident is quote and sql.qualified is sql_name  # deploy.sql adds no quoter of its own


def test_unquote_reads_names_as_snowflake_prints_them() -> None:
    assert unquote('"a""b"') == 'a"b'
    assert unquote("GROUP") == "GROUP"
    assert unquote("mixedCase") == "mixedCase"  # printed names are stored names: no folding


# --- dotted names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("news", ("NEWS",)),
        ("db.sc.t", ("DB", "SC", "T")),
        ('db.sc."My Table"', ("DB", "SC", "My Table")),
        ('"a.b"."c.d".e', ("a.b", "c.d", "E")),
        ('"T5_demo".public."A.B"', ("T5_demo", "PUBLIC", "A.B")),
        ('"x/y"', ("x/y",)),
        ('"say ""hi"""."a"".""b"', ('say "hi"', 'a"."b')),
        (' db . "s" . t ', ("DB", "s", "T")),
    ],
)
def test_split_parts_respects_quotes(text: str, parts: tuple[str, ...]) -> None:
    assert split_parts(text) == parts


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a..b", InvalidName.BARE),
        ("a.", InvalidName.BARE),
        (".a", InvalidName.BARE),
        ('a."b', InvalidName.UNBALANCED),
        ('a."".c', InvalidName.EMPTY_QUOTED),
        ('"a"b.c', InvalidName.AFTER_QUOTE),
        ("x; DROP TABLE y", InvalidName.BARE),
    ],
)
def test_split_parts_errors(text: str, reason: str) -> None:
    with pytest.raises(InvalidName) as caught:
        split_parts(text)
    assert (caught.value.reason, caught.value.text) == (reason, text)


# --- qualified names ---------------------------------------------------------------------------


def test_fqn_fills_missing_parts_from_defaults() -> None:
    assert FQN.parse("t", "DB", "S") == FQN("DB", "S", "T")
    assert FQN.parse("s2.t", "DB", "S") == FQN("DB", "S2", "T")
    assert FQN.parse("d.s.t") == FQN("D", "S", "T")
    assert FQN.parse('"d"."s"."t"', "X", "Y") == FQN("d", "s", "t")
    assert FQN.from_parts(["T"], "DB", "S") == FQN("DB", "S", "T")


@pytest.mark.parametrize(
    ("text", "database", "schema", "detail"),
    [
        ("t", None, "S", "no database"),
        ("t", "DB", None, "no schema"),
        ("s.t", None, "S", "no database"),
        ("a.b.c.d", "DB", "S", "expected [database.][schema.]name"),
    ],
)
def test_fqn_missing_or_extra_parts(text: str, database: str | None, schema: str | None, detail: str) -> None:
    with pytest.raises(InvalidName, match="^" + re.escape(detail)) as caught:
        FQN.parse(text, database, schema)
    assert (caught.value.reason, caught.value.text) == (InvalidName.PARTS, text)


def test_fqn_renders_quoted_sql_and_plain_dotted() -> None:
    fqn = FQN("T5_DEMO", "PUBLIC", "my table")
    assert fqn.sql == '"T5_DEMO"."PUBLIC"."my table"'
    assert fqn.dotted == str(fqn) == "T5_DEMO.PUBLIC.my table"
    assert fqn.parts == ("T5_DEMO", "PUBLIC", "my table")
    assert sorted([FQN("B", "A", "A"), FQN("A", "B", "C")])[0] == FQN("A", "B", "C")


# --- stage paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stage", "path"),
    [
        ('@"T5_DEMO"."PUBLIC"."T5_P_MODEL"/v/config.json', FQN("T5_DEMO", "PUBLIC", "T5_P_MODEL"), "v/config.json"),
        ("@T5_DEMO.PUBLIC.LLM/v/handler.py", FQN("T5_DEMO", "PUBLIC", "LLM"), "v/handler.py"),
        ("@T5_P_MODEL/v/f", FQN("CUR_DB", "CUR_S", "T5_P_MODEL"), "v/f"),
        ("@llm/v/handler.py", FQN("CUR_DB", "CUR_S", "LLM"), "v/handler.py"),
        ("@S2.LLM/v/h.py", FQN("CUR_DB", "S2", "LLM"), "v/h.py"),
        ("'@S2.LLM/v/h.py'", FQN("CUR_DB", "S2", "LLM"), "v/h.py"),
        ('  \'@"DB"."S"."ST"/a b/c.json\'  ', FQN("DB", "S", "ST"), "a b/c.json"),
        ('@s2."x/y"/p', FQN("CUR_DB", "S2", "x/y"), "p"),
        ('@"a.b"."c/d"."e""f"/g/h', FQN("a.b", "c/d", 'e"f'), "g/h"),
        ('@"DB".s."St"', FQN("DB", "S", "St"), ""),
        ("@stage", FQN("CUR_DB", "CUR_S", "STAGE"), ""),
        ("@stage/", FQN("CUR_DB", "CUR_S", "STAGE"), ""),
        ("@stage/v/", FQN("CUR_DB", "CUR_S", "STAGE"), "v/"),
        ("@stage//x", FQN("CUR_DB", "CUR_S", "STAGE"), "/x"),
    ],
)
def test_stage_paths_in_every_spelling(text: str, stage: FQN, path: str) -> None:
    assert StagePath.parse(text, "CUR_DB", "CUR_S") == StagePath(stage, path)


def test_stage_path_renders_sql_and_the_normalised_form() -> None:
    p = StagePath(FQN("T5_DEMO", "PUBLIC", "T5_P_MODEL"), "3f2a9c1b4d5e6f70/config.json")
    assert p.sql == '@"T5_DEMO"."PUBLIC"."T5_P_MODEL"/3f2a9c1b4d5e6f70/config.json'
    assert p.normalized == "@T5_DEMO.PUBLIC.T5_P_MODEL/3f2a9c1b4d5e6f70/config.json"
    root = StagePath(FQN("DB", "S", "ST"))
    assert (root.sql, root.normalized) == ('@"DB"."S"."ST"', "@DB.S.ST/")
    assert sql.stage_location("DB", "S", "LLM", "ab/") == '@"DB"."S"."LLM"/ab/'


@pytest.mark.parametrize(
    ("text", "normalized"),
    [  # what observe.normalize_import returned for these, byte for byte
        ("@llm/v/handler.py", "@DB.S.LLM/v/handler.py"),
        ('@"DB"."S"."LLM"/v/handler.py', "@DB.S.LLM/v/handler.py"),
        ("'@S2.LLM/v/h.py'", "@DB.S2.LLM/v/h.py"),
        ("@llm", "@DB.S.LLM/"),
        ('@"lower"/x', "@DB.S.lower/x"),
    ],
)
def test_normalised_form_is_unchanged(text: str, normalized: str) -> None:
    assert StagePath.parse(text, "DB", "S").normalized == normalized


def test_split_stage_path_cuts_at_the_first_slash_outside_quotes() -> None:
    assert split_stage_path('@"a/b".c/d/e') == ('"a/b".c', "d/e")
    assert split_stage_path("@st") == ("st", "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("st/x", InvalidName.NOT_STAGE),
        ("'@st/x", InvalidName.NOT_STAGE),
        ('@"open/x', InvalidName.UNBALANCED),
        ("@/x", InvalidName.BARE),
        ("@a.b.c.d/x", InvalidName.PARTS),
    ],
)
def test_stage_path_errors(text: str, reason: str) -> None:
    with pytest.raises(InvalidName) as caught:
        StagePath.parse(text, "DB", "S")
    assert caught.value.reason == reason


def test_stage_path_needs_defaults_for_a_relative_name() -> None:
    with pytest.raises(InvalidName, match="no database"):
        StagePath.parse("@st/x")


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", AWKWARD)
def test_round_trip_identifier(name: str) -> None:
    assert parse_identifier(quote(name)) == name
    assert split_parts(sql_name(name, name, name)) == (name, name, name)


@pytest.mark.parametrize("name", AWKWARD)
def test_round_trip_fqn_and_stage_path(name: str) -> None:
    fqn = FQN(name, "PUBLIC", name)
    assert FQN.parse(fqn.sql) == fqn
    for path in ("", "v/config.json", "a b/c.json", "v/", "é/x.py"):
        stage = StagePath(fqn, path)
        assert StagePath.parse(stage.sql) == stage
        assert StagePath.parse(f"'{stage.sql}'") == stage


def test_normalised_form_reads_back_for_identifier_names() -> None:
    # apply.py compiles IMPORTS from the normalised paths of declared stages (identifier names).
    stage = StagePath(FQN("T5_ODD", "SELECT", "TABLE"), "0123456789abcdef/handler.py")
    assert StagePath.parse(stage.normalized) == stage


# --- function identities -----------------------------------------------------------------------


def test_function_identity_formats() -> None:
    identity = FunctionIdentity.of("DB", "S", "NAME", ["VARCHAR", "NUMBER"])
    assert str(identity) == "DB.S.NAME(VARCHAR, NUMBER)"
    assert identity.sql == '"DB"."S"."NAME"(VARCHAR, NUMBER)'
    assert str(FunctionIdentity(FQN("DB", "S", "F"))) == "DB.S.F()"
    assert str(FunctionIdentity.of("DB", "S", "EMBED", ["VECTOR(FLOAT, 256)"])) == "DB.S.EMBED(VECTOR(FLOAT, 256))"
    assert FunctionIdentity.of("D", "S", "my fn", ["VARCHAR"]).sql == '"D"."S"."my fn"(VARCHAR)'


def test_spec_and_observed_identities_agree() -> None:
    origin = Origin("m.yaml", 1, "x")
    args = (Arg("TEXT", "VARCHAR(100)"), Arg("N", "NUMBER(10,2)"))
    spec = FunctionSpec("DB", "S", "F", args, "VARCHAR", "3.11", "h.f", (), (), "", "", "", origin)
    observed = ObservedFunction(
        "DB", "S", "F", (("TEXT", "VARCHAR"), ("N", "NUMBER")), "VARCHAR", "", "", "", (), (), "", "", "", ""
    )
    assert spec.identity == observed.identity == "DB.S.F(VARCHAR, NUMBER)"
    assert spec.fqn == "DB.S.F"


# --- localsnow maps the errors to its own --------------------------------------------------------


def test_localsnow_uses_the_same_types_and_words_errors_as_snowflake() -> None:
    from localsnow import names as local

    assert local.ObjectName is FQN and local.StageLocation is StagePath and local.quote_identifier is quote
    assert local.split_qualified('"T5_demo".public."A.B"') == ["T5_demo", "PUBLIC", "A.B"]
    assert local.normalize_identifier('"x"') == "x"
    for bad in ('"open', "a..b", '""'):
        with pytest.raises(snowflake.connector.ProgrammingError, match=re.escape(f"invalid identifier '{bad}'")):
            local.split_qualified(bad)
    with pytest.raises(snowflake.connector.ProgrammingError, match=re.escape("invalid identifier 'a..b'")):
        local.parse_stage_location("@a..b/x", "D", "S", "LIST")


# --- one place quotes names --------------------------------------------------------------------


def _string_value(token: str) -> str | None:
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _quote_handling(source: str) -> list[tuple[int, str]]:
    """(line, what) for each place ``source`` quotes or unquotes an identifier by hand.

    Caught, in any quote style: ``'"' + x`` and ``x + '"'``; ``.replace('"', '""')`` and
    ``.replace('""', '"')``; an f-string that is a double-quoted field, ``f'"{x}"'``.
    """
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT}
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skip]
    hits = []
    for i, t in enumerate(toks):
        before = toks[i - 1].string if i else ""
        after = toks[i + 1].string if i + 1 < len(toks) else ""
        if t.type == tokenize.STRING and _string_value(t.string) == '"' and "+" in (before, after):
            hits.append((t.start[0], "concatenates a double quote"))
        if t.type == tokenize.STRING and t.string[:1] in "fF":
            body = t.string.lstrip("fFrR")[1:-1]
            if body.startswith('"{') and body.endswith('}"'):
                hits.append((t.start[0], "double-quotes an f-string field"))
        if t.string == "replace" and before == "." and after == "(" and i + 4 < len(toks):
            first, comma, second = toks[i + 2], toks[i + 3], toks[i + 4]
            pair = (_string_value(first.string), _string_value(second.string))
            if comma.string == "," and pair in {('"', '""'), ('""', '"')}:
                hits.append((t.start[0], "doubles or undoubles quotes"))
    return hits


def test_the_detector_finds_each_form_of_hand_quoting() -> None:
    sample = (
        "a = '\"' + name + '\"'\n"
        'b = "\\"" + name\n'
        "c = name.replace('\"', '\"\"')\n"
        'd = name.replace("\\"\\"", "\\"")\n'
        "e = f'\"{name}\"'\n"
        "ok = f'\"{spec}\"->[x]' + 'plain'\n"
    )
    assert [line for line, _ in _quote_handling(sample)] == [1, 1, 2, 3, 4, 5]


def test_only_deploy_names_quotes_identifiers() -> None:
    found = {}
    for path in sorted([*ROOT.glob("deploy/**/*.py"), *ROOT.glob("localsnow/**/*.py")]):
        if hits := _quote_handling(path.read_text(encoding="utf-8")):
            found[str(path.relative_to(ROOT))] = hits
    own = found.pop("deploy/names.py", [])
    assert found == {}, f"identifier quoting outside deploy/names.py: {found}"
    # The detector sees the real quoter (and unquoter), so an empty result above means something.
    assert {what for _, what in own} == {"concatenates a double quote", "doubles or undoubles quotes"}
    assert names.quote.__module__ == "deploy.names"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TEXT VARCHAR", ("TEXT", " VARCHAR")),
        ('"my ""x"" arg" NUMBER', ('my "x" arg', " NUMBER")),
        ('"a b" VARCHAR(10)', ("a b", " VARCHAR(10)")),
        ("N", ("N", "")),
    ],
)
def test_split_leading_name_reads_a_printed_name_and_leaves_the_rest(text, expected):
    assert names.split_leading_name(text) == expected


def test_split_leading_name_refuses_an_unbalanced_quote():
    with pytest.raises(names.InvalidName):
        names.split_leading_name('"open VARCHAR')


@pytest.mark.parametrize(
    ("text", "char", "expected"),
    [
        ("@a/b", "/", 2),
        ('@"a/b"/c', "/", 6),
        ('@"a""/"/c', "/", 7),
        ("F(x)", "(", 1),
        ('"F(" (x)', "(", 5),
        ("ab", "/", -1),
    ],
)
def test_find_outside_quotes_skips_quoted_names(text, char, expected):
    assert names.find_outside_quotes(text, char) == expected
