"""Project files that must agree with each other."""

from pathlib import Path

import yaml

from deploy.manifest import manifest_paths
from deploy.sql import canonical_type

ROOT = Path(__file__).resolve().parents[1]


def test_snowflake_yml_agrees_with_the_manifest():
    project = yaml.safe_load((ROOT / "snowflake.yml").read_text())
    manifest = yaml.safe_load((ROOT / "manifests" / "summarizer.yaml").read_text())
    entity = project["entities"]["summarize"]
    fn = manifest["functions"]["SUMMARIZE"]
    assert entity["identifier"]["name"] == "SUMMARIZE"
    assert entity["handler"] == fn["handler"]
    assert entity["runtime"] == fn["runtime"]
    assert canonical_type(entity["returns"]) == canonical_type(fn["returns"])
    assert [(a["name"].upper(), canonical_type(a["type"])) for a in entity["signature"]] == [
        (a["name"].upper(), canonical_type(a["type"])) for a in fn["args"]
    ]
    assert entity["stage"].split(".")[-1] == "LLM" and "LLM" in manifest["stages"]  # qualified by the generator
    assert [a["src"] for a in entity["artifacts"]] == ["udf/handler.py"]


def test_manifests_directory_is_found():
    assert [p.name for p in manifest_paths(ROOT / "manifests")] == ["summarizer.yaml"]


def test_torch_is_pinned_where_ci_installs():
    pyproject = (ROOT / "pyproject.toml").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert '"torch==2.13.0"' in pyproject
    assert "torch==$(TORCH_VERSION)" in makefile and "TORCH_VERSION ?= 2.13.0" in makefile
