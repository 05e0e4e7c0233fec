"""Apply's guards, which run before any statement: destroy policy and local files moved since the plan."""

import pytest

from deploy.apply import check_local_files, check_policy
from deploy.artifacts import HashCache, sha256_file
from deploy.errors import PlanStale, PolicyViolation
from deploy.plan import Action, Change, Kind, Plan, Upload


def test_destroying_a_function_needs_allow_destroy():
    drop = Change(Action.DELETE, Kind.FUNCTION, "DB.S.OLD(VARCHAR)", ("gone",), before={})
    prune = Change(Action.DELETE, Kind.STAGE_VERSION, "DB.S.ST/0123456789abcdef", ("old",), before={})
    with pytest.raises(PolicyViolation, match="--allow-destroy"):
        check_policy(Plan((drop,), "fp"), allow_destroy=False)
    check_policy(Plan((drop,), "fp"), allow_destroy=True)
    check_policy(Plan((prune,), "fp"), allow_destroy=False)  # pruning old versions is routine


def test_a_file_changed_since_the_plan_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights v1")
    upload = Upload(path.name, str(path), path.stat().st_size, sha256_file(path))
    plan = Plan((Change(Action.CREATE, Kind.STAGE_VERSION, "DB.S.ST/v", ("new",), uploads=(upload,)),), "fp")
    hashes = HashCache(tmp_path / "cache")
    check_local_files(plan, hashes)
    path.write_bytes(b"weights v2")
    with pytest.raises(PlanStale, match="changed since the plan"):
        check_local_files(plan, HashCache(tmp_path / "cache"))
    path.unlink()
    with pytest.raises(PlanStale, match="no longer exists"):
        check_local_files(plan, hashes)


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
