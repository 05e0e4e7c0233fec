"""Renderers against golden files; regenerate with UPDATE_GOLDEN=1 after an intended change."""

import json
import os
from pathlib import Path

import pytest
from builders import LLM, MODEL, desired, observed_from, remote, stage

from deploy.diff import diff
from deploy.observe import Observed
from deploy.plan import FORMAT_VERSION
from deploy.render import render

GOLDEN = Path(__file__).parent / "golden"


def scenarios():
    d = desired(MODEL, LLM)
    first = diff(d, Observed(frozenset(), frozenset(), {}, {}, {}))
    old = [stage("T5_P_MODEL", ("config.json", x)) for x in "pq"]
    extra = {"T5_P_MODEL": [f for i, st in enumerate(old) for f in remote(st, when=f"2026-10-0{i + 1}")]}
    model2 = stage("T5_P_MODEL", ("config.json", "c"), ("model.safetensors", "n"))
    update = diff(desired(model2, LLM), observed_from(d, extra_files=extra))
    return {"first": first, "update": update, "empty": diff(d, observed_from(d))}


@pytest.mark.parametrize("scenario", ["first", "update", "empty"])
@pytest.mark.parametrize(("fmt", "ext"), [("text", "txt"), ("markdown", "md"), ("sql", "sql")])
def test_golden(scenario, fmt, ext):
    plan = scenarios()[scenario]
    kw = {"marker_dir": Path("/cache/markers")} if fmt == "sql" else {}
    got = render(plan, fmt, **kw)
    path = GOLDEN / f"{scenario}.{ext}"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text()


def test_json_has_documented_shape():
    doc = json.loads(render(scenarios()["update"], "json"))
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["summary"] == {"add": 2, "change": 0, "destroy": 3, "upload_files": 2, "upload_bytes": 2}
    first = doc["changes"][0]
    assert {"action", "symbol", "object_type", "name", "reasons", "uploads", "upload_bytes"} <= set(first)
    assert first["action"] == "create" and first["object_type"] == "stage_version"
    assert [c["action"] for c in doc["changes"]] == ["create", "replace", "delete", "delete"]


def test_empty_plan_says_so():
    assert render(scenarios()["empty"], "text") == "No changes. The account matches the manifests.\n"
