"""Stage reconciliation on the pure diff: LIST read by the stage's encryption, takeover and
comments, encryption that cannot change, version order for pruning, exact REMOVE and PUT.

Observed state is built inline (tests/builders.py); each rule cites its source in deploy/state.py,
deploy/diff.py and deploy/sql.py.
"""

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
from builders import LLM, MODEL, ORIGIN, desired, observed_from, remote, stage

from deploy.apply import compile_change, compile_plan
from deploy.artifacts import HashCache
from deploy.diff import diff
from deploy.local_file import LocalFile
from deploy.payloads import StageVersion, VersionFile
from deploy.plan import Action, Change, Kind, Plan
from deploy.spec import MARKER_NAME, StageSpec
from deploy.sql import exact_path_pattern, put_source, remove_statement
from deploy.state import (
    MULTIPART_THRESHOLD,
    SNOWFLAKE_FULL,
    SNOWFLAKE_SSE,
    Observed,
    ObservedStage,
    RemoteFile,
    full_listed_size,
    listed_sizes,
    plaintext_md5,
    stage_encryption,
)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def real_stage(name: str, *files: tuple[str, str], keep: int = 2, encryption: str = SNOWFLAKE_SSE) -> StageSpec:
    """A stage whose files carry a real size and md5 (builders.stage leaves md5 unknown)."""
    local = tuple(
        LocalFile(n, Path(f"/a/{n}"), len(c), hashlib.sha256(c.encode()).hexdigest(), md5(c)) for n, c in files
    )
    return StageSpec("DB", "S", name, "", local, keep, ORIGIN, encryption)


def listed(st: StageSpec, encryption: str | None, *, contents: dict[str, str] | None = None, when: str = "x"):
    """LIST rows of a complete upload of ``st`` as a stage of ``encryption`` shows them."""
    marker = st.marker_bytes().decode()
    rows = []
    for name, size, text in [*((f.name, f.size, None) for f in st.files), (MARKER_NAME, len(marker), marker)]:
        text = (contents or {}).get(name, text)
        if encryption == SNOWFLAKE_FULL:
            rows.append(RemoteFile(f"{st.version}/{name}", full_listed_size(size), "0" * 32, when))
        else:
            digest = md5(text) if text is not None else None
            rows.append(RemoteFile(f"{st.version}/{name}", size, digest, when))
    return rows


def observed_with(st: StageSpec, rows, encryption: str | None, comment: str = "[t5-deploy]"):
    d = desired(st, LLM)
    obs = observed_from(d)
    stages = {**obs.stages, st.fqn: ObservedStage("DB", "S", st.name, comment, tuple(rows), encryption)}
    return d, replace(obs, stages=stages)


CONFIG = '{"max_new_tokens": 64}'
SETTINGS = real_stage("CODE", ("handler.py", "def f(): ...\n"), ("udf_config.json", CONFIG))


# --- what LIST's size and md5 mean -------------------------------------------------------


def test_show_stages_type_tells_the_encryption():
    assert stage_encryption("INTERNAL") == SNOWFLAKE_FULL
    assert stage_encryption("INTERNAL NO CSE") == SNOWFLAKE_SSE
    assert stage_encryption("internal temporary") == SNOWFLAKE_FULL
    assert stage_encryption("EXTERNAL") is None and stage_encryption(None) is None


def test_full_stages_list_the_padded_ciphertext_size():
    # Snowflake CLI docs ("Manage stages"): 62, 252, 109 bytes list as 64, 256, 112.
    assert [full_listed_size(n) for n in (62, 252, 109, 0, 16)] == [64, 256, 112, 16, 32]
    assert listed_sizes(5, SNOWFLAKE_SSE) == (5,)
    assert listed_sizes(5, None) == (5, 16)


def test_md5_counts_only_where_it_is_the_plaintext_md5():
    plain = md5("x")
    assert plaintext_md5(plain.upper(), 1, SNOWFLAKE_SSE) == plain
    assert plaintext_md5(plain, 1, SNOWFLAKE_FULL) is None  # the ciphertext's
    assert plaintext_md5(plain, 1, None) is None
    assert plaintext_md5(f"{plain}-3", 1, SNOWFLAKE_SSE) is None  # multipart
    assert plaintext_md5(plain, MULTIPART_THRESHOLD, SNOWFLAKE_SSE) is None
    assert plaintext_md5(None, 1, SNOWFLAKE_SSE) is None  # some Azure stages


# --- sizes and md5 in the diff -----------------------------------------------------------


def test_a_full_stage_listing_padded_sizes_is_converged():
    st = real_stage("CODE", ("handler.py", "abc"), ("udf_config.json", CONFIG), encryption=SNOWFLAKE_FULL)
    d, obs = observed_with(st, listed(st, SNOWFLAKE_FULL), SNOWFLAKE_FULL)
    assert diff(d, obs).is_empty, diff(d, obs).changes


def test_a_full_stage_showing_plaintext_sizes_is_not_taken_for_converged():
    st = real_stage("CODE", ("handler.py", "abc"), encryption=SNOWFLAKE_FULL)
    d, obs = observed_with(st, listed(st, SNOWFLAKE_SSE), SNOWFLAKE_FULL)
    (change,) = diff(d, obs).changes
    assert "handler.py: LIST size 3, 16 expected for 3 bytes (SNOWFLAKE_FULL lists the padded ciphertext)" in (
        change.reasons
    )


def test_an_sse_stage_compares_exact_sizes_and_md5():
    d, obs = observed_with(SETTINGS, listed(SETTINGS, SNOWFLAKE_SSE), SNOWFLAKE_SSE)
    assert diff(d, obs).is_empty


def test_a_same_size_hand_edit_on_an_sse_stage_is_drift_and_reuploads_that_file_then_the_marker():
    edited = CONFIG.replace("64", "65")
    assert len(edited) == len(CONFIG)
    d, obs = observed_with(
        SETTINGS, listed(SETTINGS, SNOWFLAKE_SSE, contents={"udf_config.json": edited}), SNOWFLAKE_SSE
    )
    (change,) = diff(d, obs).changes
    assert (change.action, change.kind) == (Action.UPDATE, Kind.STAGE_VERSION)
    assert change.reasons == (
        f"udf_config.json: content differs from the local file (md5 {md5(edited)} on the stage, {md5(CONFIG)} here)",
    )
    assert [u.name for u in change.uploads] == ["udf_config.json"]
    steps = [s.sql for s in compile_change(change, Path("/m"))]
    assert [s.split("'")[1].rsplit("/", 1)[1] for s in steps] == ["udf_config.json", MARKER_NAME]


def test_md5_is_not_compared_on_full_stages_nor_for_multipart_uploads():
    st = real_stage("CODE", ("handler.py", "abc"), encryption=SNOWFLAKE_FULL)
    d, obs = observed_with(st, listed(st, SNOWFLAKE_FULL), SNOWFLAKE_FULL)  # md5 "000…": a ciphertext's
    assert diff(d, obs).is_empty
    big = replace(SETTINGS, files=(replace(SETTINGS.files[0], size=MULTIPART_THRESHOLD + 1), SETTINGS.files[1]))
    rows = [
        replace(r, md5=f"{md5('other')}-9") if r.path.endswith("handler.py") else r for r in listed(big, SNOWFLAKE_SSE)
    ]
    d, obs = observed_with(big, rows, SNOWFLAKE_SSE)
    assert diff(d, obs).is_empty


def test_an_unknown_encryption_accepts_either_size_rule():
    st = real_stage("CODE", ("handler.py", "abc"))
    for rows in (listed(st, SNOWFLAKE_SSE), listed(st, SNOWFLAKE_FULL)):
        d, obs = observed_with(st, rows, None)
        assert diff(d, obs).is_empty


def test_a_rewritten_marker_on_an_sse_stage_is_rewritten():
    d, obs = observed_with(SETTINGS, listed(SETTINGS, SNOWFLAKE_SSE, contents={MARKER_NAME: "{}"}), SNOWFLAKE_SSE)
    (change,) = diff(d, obs).changes
    assert change.reasons[0].startswith("completion marker does not match the version's files")
    assert change.uploads == ()  # the marker alone goes up again, last as always


# --- the stage object: create, take over, comment, encryption ----------------------------


def test_stages_are_created_sse_by_default_and_full_on_request():
    full = replace(MODEL, encryption=SNOWFLAKE_FULL)
    plan = diff(desired(full, LLM), Observed(frozenset(), frozenset(), {}, {}, {}))
    sql = [s.sql for s in compile_plan(plan, Path("/m")) if s.sql.startswith("CREATE STAGE")]
    assert sql == [
        'CREATE STAGE IF NOT EXISTS "DB"."S"."T5_P_MODEL" ENCRYPTION = (TYPE = \'SNOWFLAKE_FULL\') '
        "COMMENT = '[t5-deploy]'",
        'CREATE STAGE IF NOT EXISTS "DB"."S"."LLM" ENCRYPTION = (TYPE = \'SNOWFLAKE_SSE\') COMMENT = \'[t5-deploy]\'',
    ]


def test_an_untagged_stage_is_taken_over_with_alter_stage():
    d = desired(MODEL, LLM)
    obs = observed_from(d)
    mine = replace(obs.stages[MODEL.fqn], comment="made by hand")
    plan = diff(d, replace(obs, stages={**obs.stages, MODEL.fqn: mine}))
    (change,) = plan.changes
    assert (change.action, change.kind, change.name) == (Action.UPDATE, Kind.STAGE, MODEL.fqn)
    assert change.reasons == (
        "exists but is not managed by t5-deploy; taking it over: its comment gets the ownership tag",
        "comment: 'made by hand' -> ''",
    )
    assert not change.is_destroy
    assert [s.sql for s in compile_change(change, Path("/m"))] == [
        'ALTER STAGE "DB"."S"."T5_P_MODEL" SET COMMENT = \'[t5-deploy]\''
    ]


def test_a_changed_stage_comment_is_applied_with_alter_stage():
    d = desired(replace(MODEL, comment="Weights v2"), LLM)
    obs = observed_from(desired(MODEL, LLM))
    obs = replace(obs, stages={**obs.stages, MODEL.fqn: replace(obs.stages[MODEL.fqn], comment="Weights [t5-deploy]")})
    (change,) = diff(d, obs).changes
    assert change.reasons == ("comment: 'Weights' -> 'Weights v2'",)
    (step,) = compile_change(change, Path("/m"))
    assert step.sql == 'ALTER STAGE "DB"."S"."T5_P_MODEL" SET COMMENT = \'Weights v2 [t5-deploy]\''
    assert Plan.from_dict(Plan((change,), "fp").to_dict()).changes == (change,)


def test_an_encryption_the_account_does_not_have_is_a_warning_never_a_silent_pass():
    d, obs = observed_with(SETTINGS, listed(SETTINGS, SNOWFLAKE_FULL), SNOWFLAKE_FULL)  # the manifest asks for SSE
    plan = diff(d, obs)
    assert plan.is_empty  # nothing apply could do in place; files are read by the stage's real type
    (warning,) = plan.warnings
    assert warning.startswith("m.yaml:1: x.encryption: stage DB.S.CODE is SNOWFLAKE_FULL, the manifest asks for ")
    assert "cannot change a stage's encryption in place" in warning and "encryption: full" in warning


# --- pruning: versions ordered by time, the live one kept --------------------------------


def _with_old_versions(d, stamps: dict[StageSpec, str]):
    extra = {"T5_P_MODEL": [f for st, when in stamps.items() for f in remote(st, when=when)]}
    return observed_from(d, extra_files=extra)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("Thu, 29 Feb 2024 23:10:00 GMT", "Fri, 1 Mar 2024 20:56:24 GMT"),
        ("Fri, 9 Feb 2024 08:00:00 GMT", "Sat, 10 Feb 2024 08:00:00 GMT"),
        ("Fri, 9 Feb 2024 08:00:00 GMT", "Fri, 16 Feb 2024 08:00:00 GMT"),
        ("Tue, 31 Dec 2024 23:59:59 GMT", "Wed, 1 Jan 2025 00:00:01 GMT"),
    ],
)
def test_prune_orders_versions_by_time_not_by_the_text_of_last_modified(older, newer):
    d = desired(MODEL, LLM)
    a, b = (stage("T5_P_MODEL", ("config.json", x)) for x in "pq")
    plan = diff(d, _with_old_versions(d, {a: older, b: newer}))
    deleted = [c.name.split("/")[1] for c in plan.changes if c.action is Action.DELETE]
    assert deleted == [a.version]  # keep_versions=2: the current one and the newest older one


def test_prune_never_removes_the_version_the_live_function_imports():
    old, newer = (stage("T5_P_MODEL", ("config.json", x)) for x in "pq")
    live = desired(old, LLM)
    d = desired(MODEL, LLM)
    obs = _with_old_versions(d, {old: "Mon, 1 Jan 2024 00:00:00 GMT", newer: "Tue, 2 Jan 2024 00:00:00 GMT"})
    obs = replace(obs, functions=observed_from(live).functions)  # the function still imports `old`
    plan = diff(d, obs)
    assert [(c.action, c.kind) for c in plan.changes] == [(Action.REPLACE, Kind.FUNCTION)]


def test_prune_keeps_the_version_before_the_live_one_even_with_keep_versions_1():
    """The newest version besides the current one is its rollback target: kept whatever keep_versions says."""
    model = replace(MODEL, keep_versions=1)
    d = desired(model, LLM)
    oldest, before = (stage("T5_P_MODEL", ("config.json", x)) for x in "pq")
    obs = _with_old_versions(d, {oldest: "Thu, 29 Feb 2024 23:10:00 GMT", before: "Fri, 1 Mar 2024 20:56:24 GMT"})
    obs = replace(obs, functions=observed_from(d).functions)  # the function serves the current version
    deleted = [c.name.split("/")[1] for c in diff(d, obs).changes if c.action is Action.DELETE]
    assert deleted == [oldest.version]


# --- statements: REMOVE exactly what is meant, PUT exactly the file named ----------------


def test_remove_of_one_file_is_anchored_so_config_leaves_config_json():
    v = MODEL.version
    sql = remove_statement("DB", "S", "ST", f"{v}/config")
    assert sql == f'REMOVE @"DB"."S"."ST"/{v}/ PATTERN = \'^(.*/)?{v}/config$\''
    pattern = re.compile(exact_path_pattern(f"{v}/config"))
    assert pattern.fullmatch(f"{v}/config") and pattern.fullmatch(f"st/{v}/config")
    for other in (f"{v}/config.json", f"{v}/myconfig", f"{v}/sub/config", f"{v}/config/x"):
        assert not pattern.fullmatch(other) and not pattern.search(other), other
    assert remove_statement("DB", "S", "ST", f"{v}/") == f'REMOVE @"DB"."S"."ST"/{v}/'


def test_regex_characters_in_a_removed_name_are_literal():
    pattern = exact_path_pattern("0123456789abcdef/model[1].json")
    assert re.fullmatch(pattern, "0123456789abcdef/model[1].json")
    assert not re.fullmatch(pattern, "0123456789abcdef/model1xjson")
    # Backslashes are doubled inside the SQL literal, so Snowflake reads `\.` and `\[`.
    assert "PATTERN = '^(.*/)?0123456789abcdef/model\\\\[1\\\\]\\\\.json$'" in remove_statement(
        "DB", "S", "ST", "0123456789abcdef/model[1].json"
    )


def test_the_diff_removes_an_unexpected_config_beside_config_json_exactly():
    d = desired(MODEL, LLM)
    extra = {"T5_P_MODEL": [RemoteFile(f"{MODEL.version}/config", 3, None, "x")]}
    (change,) = diff(d, observed_from(d, extra_files=extra)).changes
    (remove, *_) = (s.sql for s in compile_change(change, Path("/m")))
    assert remove.endswith(f"/{MODEL.version}/ PATTERN = '^(.*/)?{MODEL.version}/config$'")


def test_put_escapes_glob_characters_in_the_local_path():
    assert put_source("/a/model[1].json") == "'file:///a/model[[]1].json'"
    assert put_source("/a/what?*.bin") == "'file:///a/what[?][*].bin'"
    up = LocalFile("model[1].json", Path("/a/model[1].json"), 3, "s")
    after = StageVersion("DB", "S", "ST", "0123456789abcdef", (VersionFile("model[1].json", 3, "s"),))
    change = Change(Action.CREATE, Kind.STAGE_VERSION, "DB.S.ST/v", ("new",), after=after, uploads=(up,))
    first = compile_change(change, Path("/m"))[0].sql
    assert first.startswith('PUT \'file:///a/model[[]1].json\' @"DB"."S"."ST"/0123456789abcdef/')


# --- the hash cache keeps md5 beside sha256 ----------------------------------------------


def test_hash_cache_keeps_md5_and_rehashes_entries_written_without_it(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    cache = HashCache(tmp_path / "c")
    size, sha, digest = cache.digests(path)
    assert (size, digest) == (3, hashlib.md5(b"abc").hexdigest()) and cache.digest(path) == (3, sha)
    cache.save()
    again = HashCache(tmp_path / "c")
    assert again.digests(path) == (size, sha, digest) and (again.hits, again.misses) == (1, 0)
    key = str(path.resolve())
    again._entries[key] = again._entries[key][:3]  # as written before md5 was kept
    assert again.digests(path) == (size, sha, digest) and again.misses == 1


# --- the manifest's `encryption:` --------------------------------------------------------

MANIFEST = """\
apiVersion: 1
database: DB
schema: S
stages:
  A:
    files:
      - from: a.txt
  B:
    encryption: {b}
    files:
      - from: a.txt
"""


def test_manifest_encryption_defaults_to_sse_and_takes_full(tmp_path):
    from deploy.errors import ManifestInvalid
    from deploy.manifest import load_manifests

    (tmp_path / ".git").mkdir()
    (tmp_path / "a.txt").write_text("abc")
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST.format(b="full"))
    stages = load_manifests(path, environ={}, hashes=HashCache(tmp_path / "c")).stages
    assert (stages["DB.S.A"].encryption, stages["DB.S.B"].encryption) == (SNOWFLAKE_SSE, SNOWFLAKE_FULL)
    assert stages["DB.S.A"].files[0].md5 == md5("abc")
    path.write_text(MANIFEST.format(b="SNOWFLAKE_FULL"))
    with pytest.raises(ManifestInvalid) as exc:
        load_manifests(path, environ={}, hashes=HashCache(tmp_path / "c"))
    (problem,) = exc.value.problems
    assert "stages.B.encryption" in problem and "'sse'" in problem, problem


def test_the_diff_does_not_import_the_module_that_reads_the_account():
    import subprocess
    import sys

    code = "import sys, deploy.diff; print(sorted(m for m in ('deploy.observe', 'deploy.session') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
