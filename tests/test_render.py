"""Renderers against golden files; regenerate with UPDATE_GOLDEN=1 after an intended change."""

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from builders import LLM, MODEL, desired, observed_from, remote, stage

from deploy.diff import diff
from deploy.observe import Observed, ObservedFunction, ObservedStage, RemoteFile
from deploy.plan import FORMAT_VERSION, Plan
from deploy.render import render

GOLDEN = Path(__file__).parent / "golden"


def scenarios():
    d = desired(MODEL, LLM)
    first = diff(d, Observed(frozenset(), frozenset(), {}, {}, {}))
    old = [stage("T5_P_MODEL", ("config.json", x)) for x in "pq"]
    extra = {"T5_P_MODEL": [f for i, st in enumerate(old) for f in remote(st, when=f"2026-10-0{i + 1}")]}
    model2 = stage("T5_P_MODEL", ("config.json", "c"), ("model.safetensors", "n"))
    update = diff(desired(model2, LLM), observed_from(d, extra_files=extra))
    return {"first": first, "update": update, "empty": diff(d, observed_from(d)), "repair": _repair(d)}


def _repair(d):
    """The kinds the other scenarios lack: a stage taken over, a version repaired, a function and a
    stage (holding a foreign file) that left the manifests."""
    obs = observed_from(d, extra_files={"T5_P_MODEL": [RemoteFile(f"{MODEL.version}/evil.py", 3, None, "x")]})
    llm = replace(obs.stages[LLM.fqn], comment="by hand")
    old_files = (*remote(stage("OLD", ("w.bin", "w"))), RemoteFile("notes.txt", 1, None, "x"))
    old_stage = ObservedStage("DB", "S", "OLD", "gone [t5-deploy]", old_files)
    old_fn = ObservedFunction(
        "DB", "S", "OLD_FN", (("N", "NUMBER"),), "NUMBER", "PYTHON", "3.11", "h.f", (), (), "CALLED ON NULL INPUT",
        "IMMUTABLE", "", "[t5-deploy spec=0123456789ab]",
    )  # fmt: skip
    stages = obs.stages | {llm.fqn: llm, old_stage.fqn: old_stage}
    return diff(d, replace(obs, stages=stages, functions=obs.functions | {old_fn.identity: old_fn}))


SCENARIOS = ["first", "update", "empty", "repair"]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("fmt", "ext"), [("text", "txt"), ("markdown", "md"), ("sql", "sql"), ("json", "json")])
def test_golden(scenario, fmt, ext):
    plan = scenarios()[scenario]
    kw = {"marker_dir": Path("/cache/markers")} if fmt == "sql" else {}
    got = render(plan, fmt, **kw)
    path = GOLDEN / f"{scenario}.{ext}"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_json_reads_back_as_the_same_plan(scenario):
    """The typed payloads (deploy.payloads) give the document back unchanged, and the same plan."""
    plan = scenarios()[scenario]
    doc = json.loads(render(plan, "json"))
    assert Plan.from_dict(doc) == plan
    assert Plan.from_dict(doc).to_dict() == doc


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
