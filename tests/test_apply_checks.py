"""Apply's guards, which run before any statement: destroy policy and local files moved since the plan."""

from dataclasses import replace

import pytest

from deploy.apply import check_local_files, check_policy
from deploy.artifacts import HashCache, sha256_file
from deploy.errors import PlanStale, PolicyViolation
from deploy.local_file import ROOT_PROJECT, LocalFile, SourceRef
from deploy.payloads import FunctionProps, ListedVersion
from deploy.plan import Action, Change, Kind, Plan


def test_destroying_a_function_needs_allow_destroy():
    old = FunctionProps("DB", "S", "OLD", (("T", "VARCHAR"),), "VARCHAR", "3.11", "h.f", (), (), "", "", "")
    drop = Change(Action.DELETE, Kind.FUNCTION, old.identity, ("gone",), before=old)
    version = ListedVersion("DB", "S", "ST", "0123456789abcdef", ("f.bin",))
    prune = Change(Action.DELETE, Kind.STAGE_VERSION, "DB.S.ST/0123456789abcdef", ("old",), before=version)
    with pytest.raises(PolicyViolation, match="--allow-destroy"):
        check_policy(Plan((drop,), "fp"), allow_destroy=False)
    check_policy(Plan((drop,), "fp"), allow_destroy=True)
    check_policy(Plan((prune,), "fp"), allow_destroy=False)  # pruning old versions is routine


def test_a_file_changed_since_the_plan_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights v1")
    upload = LocalFile(path.name, path, path.stat().st_size, sha256_file(path))
    plan = Plan((Change(Action.CREATE, Kind.STAGE_VERSION, "DB.S.ST/v", ("new",), uploads=(upload,)),), "fp")
    hashes = HashCache(tmp_path / "cache")
    check_local_files(plan, hashes)
    path.write_bytes(b"weights v2")
    with pytest.raises(PlanStale, match="changed since the plan"):
        check_local_files(plan, HashCache(tmp_path / "cache"))
    path.unlink()
    with pytest.raises(PlanStale, match="no longer exists"):
        check_local_files(plan, hashes)


def test_an_upload_read_from_a_plan_file_needs_its_local_file_resolved_first(tmp_path):
    """A saved plan names its files by reference (deploy.saved_plan.check resolves them); unresolved, nothing runs."""
    stamped = LocalFile(
        "config.json", tmp_path / "config.json", 3, "a" * 64, ref=SourceRef(ROOT_PROJECT, "m/config.json")
    )
    read_back = LocalFile.from_dict(stamped.to_dict())
    assert read_back == replace(stamped, source=None)
    plan = Plan((Change(Action.CREATE, Kind.STAGE_VERSION, "DB.S.ST/v", ("new",), uploads=(read_back,)),), "fp")
    with pytest.raises(
        PlanStale, match=r"config\.json: the plan names its file as m/config\.json under the project root"
    ):
        check_local_files(plan, HashCache(tmp_path / "cache"))


def test_hash_cache_rehashes_only_changed_files(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 10)
    cache = HashCache(tmp_path / "c")
    first = cache.digest(path)
    cache.save()
    again = HashCache(tmp_path / "c")
    assert again.digest(path) == first and again.hits == 1 and again.misses == 0
    path.write_bytes(b"b" * 11)
    assert again.digest(path) != first and again.misses == 1
