"""Function signatures as Snowflake prints them: SHOW's `arguments`, DESCRIBE's signature and returns.

Fixtures under tests/fixtures/snowflake/ name the public source of each shape.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from builders import LLM, MODEL, desired, observed_from

from deploy.diff import diff
from deploy.observe import parse_describe, parse_show_arguments
from deploy.spec import Arg, Desired
from deploy.sql import argument_type, canonical_type

FIXTURES = Path(__file__).parent / "fixtures" / "snowflake"
SHOW_CASES = json.loads((FIXTURES / "show_user_functions_arguments.json").read_text())["cases"]
DESCRIBE_CASES = json.loads((FIXTURES / "describe_function_sized.json").read_text())["cases"]


@pytest.mark.parametrize("case", SHOW_CASES, ids=[c["arguments"][:40] for c in SHOW_CASES])
def test_show_arguments_are_parsed_whole(case: dict) -> None:
    name, types, returns = parse_show_arguments(case["arguments"], case["name"])
    assert (name, list(types), returns) == (case["expected"][0], case["expected"][1], case["expected"][2])
    # What identifies the function, whichever form (bundle 2025_03 or not) SHOW printed.
    assert [argument_type(t) for t in types] == case["identity"]


def test_show_arguments_without_the_name_column() -> None:
    assert parse_show_arguments("SCORE(NUMBER(38,0), FLOAT) RETURN FLOAT") == (
        "SCORE",
        ("NUMBER(38,0)", "FLOAT"),
        "FLOAT",
    )
    assert parse_show_arguments('"odd name"(VARCHAR) RETURN VARCHAR') == ("odd name", ("VARCHAR",), "VARCHAR")
    with pytest.raises(ValueError, match="unrecognised"):
        parse_show_arguments("SUMMARIZE(VARCHAR")


def _with_function(d: Desired, args: list[dict], returns: str) -> Desired:
    (fn,) = d.functions.values()
    fn = replace(
        fn, args=tuple(Arg(a["name"], canonical_type(a["type"])) for a in args), returns=canonical_type(returns)
    )
    return replace(d, functions={fn.identity: fn})


@pytest.mark.parametrize("case", DESCRIBE_CASES, ids=[c["rows"][0][1] + " " + c["rows"][1][1] for c in DESCRIBE_CASES])
def test_sized_types_plan_no_change_against_what_describe_prints(case: dict) -> None:
    """A manifest saying VARCHAR(100) / NUMBER(36,2) is not replaced on every apply."""
    want = _with_function(desired(MODEL, LLM), case["manifest"]["args"], case["manifest"]["returns"])
    have = observed_from(want)
    ((identity, fn),) = have.functions.items()
    described = parse_describe([{"property": p, "value": v} for p, v in case["rows"]], "DB", "S", fn.name, fn.comment)
    live = replace(fn, args=described.args, returns=described.returns)
    assert live.identity == identity
    plan = diff(want, replace(have, functions={identity: live}))
    assert plan.is_empty, [c.reasons for c in plan.changes]


def test_a_changed_length_still_replaces_the_function() -> None:
    """DESCRIBE cannot show VARCHAR(100) -> VARCHAR(200) in the signature; the tag's spec hash does."""
    old = _with_function(desired(MODEL, LLM), [{"name": "TEXT", "type": "VARCHAR(100)"}], "VARCHAR")
    new = _with_function(desired(MODEL, LLM), [{"name": "TEXT", "type": "VARCHAR(200)"}], "VARCHAR")
    (change,) = diff(new, observed_from(old)).changes
    assert change.reasons[0].startswith("ownership tag records spec")
    assert change.after is not None and change.after.args == (("TEXT", "VARCHAR(200)"),)  # CREATE renders the full type


def test_a_changed_return_precision_is_seen_in_describe() -> None:
    want = _with_function(desired(MODEL, LLM), [{"name": "N", "type": "NUMBER"}], "NUMBER(36,2)")
    have = observed_from(want)
    ((identity, fn),) = have.functions.items()
    live = replace(fn, args=(("N", "NUMBER"),), returns=canonical_type("NUMBER(38,0)"))
    (change,) = diff(want, replace(have, functions={identity: live})).changes
    assert any(r == "returns: 'NUMBER(38,0)' -> 'NUMBER(36,2)'" for r in change.reasons)


def test_unknown_described_types_are_a_difference_not_a_crash() -> None:
    fn = parse_describe(
        [
            {"property": "signature", "value": "(V VECTOR(FLOAT, 256))"},
            {"property": "returns", "value": "VARCHAR NOT NULL"},
        ],
        "DB",
        "S",
        "EMBED",
        "",
    )
    assert fn.args == (("V", "VECTOR(FLOAT, 256)"),)
    assert fn.returns == "VARCHAR NOT NULL"
    assert fn.identity == "DB.S.EMBED(VECTOR(FLOAT, 256))"
