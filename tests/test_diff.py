"""The pure diff: desired and observed built inline, compared to the expected plan."""

from dataclasses import replace

from builders import LLM, MODEL, desired, observed_from, remote, stage

from deploy.diff import diff, package_problems
from deploy.observe import Observed, ObservedStage, RemoteFile
from deploy.plan import Action, Kind, Origin, Plan


def test_empty_account_plans_creates_in_order():
    d = desired(MODEL, LLM)
    plan = diff(d, Observed(frozenset(), frozenset(), {}, {}, {}))
    assert [(c.action, c.kind) for c in plan.changes] == [
        (Action.CREATE, Kind.DATABASE),
        (Action.CREATE, Kind.SCHEMA),
        (Action.CREATE, Kind.STAGE),
        (Action.CREATE, Kind.STAGE),
        (Action.CREATE, Kind.STAGE_VERSION),
        (Action.CREATE, Kind.STAGE_VERSION),
        (Action.CREATE, Kind.FUNCTION),
    ]
    assert plan.upload_files == 3
    assert plan.counts() == {"add": 7, "change": 0, "destroy": 0}


def test_converged_account_plans_nothing():
    d = desired(MODEL, LLM)
    assert diff(d, observed_from(d)).is_empty


def test_one_changed_file_gives_one_new_version_and_a_function_replace():
    d0 = desired(MODEL, LLM)
    obs = observed_from(d0)
    model2 = stage("T5_P_MODEL", ("config.json", "c"), ("model.safetensors", "n"))
    plan = diff(desired(model2, LLM), obs)
    kinds = [(c.action, c.kind, c.name) for c in plan.changes]
    assert kinds == [
        (Action.CREATE, Kind.STAGE_VERSION, f"DB.S.T5_P_MODEL/{model2.version}"),
        (Action.REPLACE, Kind.FUNCTION, "DB.S.SUMMARIZE(VARCHAR)"),
    ]
    assert plan.changes[1].reasons == (f"imports from DB.S.T5_P_MODEL: version {MODEL.version} -> {model2.version}",)


def test_hand_edit_keeping_the_comment_is_caught_field_by_field():
    d = desired(MODEL, LLM)
    obs = observed_from(d)
    ((identity, fn),) = obs.functions.items()
    edited = replace(fn, packages=("pytorch", "scikit-learn"), handler="handler.other")
    plan = diff(d, replace(obs, functions={identity: edited}))
    (change,) = plan.changes
    assert change.action is Action.REPLACE
    assert change.reasons[0].startswith("changed outside t5-deploy")
    assert any(r.startswith("handler: 'handler.other' -> 'handler.summarize'") for r in change.reasons)
    assert any(r.startswith("packages:") for r in change.reasons)


def test_interrupted_upload_is_finished_not_restarted():
    d = desired(MODEL, LLM)
    obs = observed_from(d)
    partial = ObservedStage("DB", "S", "T5_P_MODEL", "[t5-deploy]", (remote(MODEL, marker=False)[0],))
    plan = diff(d, replace(obs, stages={**obs.stages, MODEL.fqn: partial}))
    (change,) = plan.changes
    assert change.action is Action.UPDATE and change.kind is Kind.STAGE_VERSION
    assert [u.name for u in change.uploads] == ["model.safetensors"]
    assert "completion marker missing" in change.reasons[-1]


def test_extra_file_in_a_managed_version_is_removed():
    d = desired(MODEL, LLM)
    extra = {"T5_P_MODEL": [RemoteFile(f"{MODEL.version}/evil.py", 3, None, "x")]}
    (change,) = diff(d, observed_from(d, extra_files=extra)).changes
    assert change.removes == (f"{MODEL.version}/evil.py",)


def test_prune_keeps_the_newest_and_never_foreign_files():
    d = desired(MODEL, LLM)
    old = [stage("T5_P_MODEL", ("config.json", x)) for x in "pqr"]
    extra = {
        "T5_P_MODEL": [f for i, st in enumerate(old) for f in remote(st, when=f"2026-10-0{i + 1}")]
        + [RemoteFile("notes/readme.txt", 1, None, "x")]
    }
    plan = diff(d, observed_from(d, extra_files=extra))
    deleted = sorted(c.name.split("/")[1] for c in plan.changes if c.action is Action.DELETE)
    # keep_versions=2: the current one plus the newest older one (r) stay.
    assert deleted == sorted([old[0].version, old[1].version])
    assert all(not r.startswith("notes/") for c in plan.changes for r in c.removes)


def test_managed_function_leaving_the_manifests_is_destroyed_foreign_ones_never():
    d = desired(MODEL, LLM)
    obs = observed_from(d)
    ((identity, fn),) = obs.functions.items()
    gone = replace(fn, name="OLD_FN")
    foreign = replace(fn, name="THEIRS", comment="hand made")
    obs = replace(obs, functions={identity: fn, gone.identity: gone, foreign.identity: foreign})
    plan = diff(d, obs)
    assert [(c.action, c.name) for c in plan.changes] == [(Action.DELETE, "DB.S.OLD_FN(VARCHAR)")]
    assert plan.changes[0].is_destroy


def test_unknown_package_is_a_manifest_problem_with_a_hint():
    d = desired(MODEL, LLM, packages=("torch",))
    obs = replace(observed_from(d), packages={})
    (msg,) = package_problems(d, obs)
    assert "'torch' is not in Snowflake's Anaconda channel" in msg and "'pytorch'" in msg


def test_pinned_version_must_exist():
    d = desired(MODEL, LLM, packages=("pytorch==9.9",))
    (msg,) = package_problems(d, observed_from(d))
    assert "pytorch==9.9" in msg and "2.5.1" in msg


def test_plan_round_trips_through_json():
    from deploy.plan import Plan

    d = desired(MODEL, LLM)
    plan = diff(d, Observed(frozenset(), frozenset(), {}, {}, {}))
    assert Plan.from_dict(plan.to_dict()) == plan


# --- origin: the manifests or the account (docs/plan-format.md, "Origin") ---------------------


def test_a_first_apply_comes_from_the_manifests():
    plan = diff(desired(MODEL, LLM), Observed(frozenset(), frozenset(), {}, {}, {}))
    assert {c.origins for c in plan.changes} == {(Origin.MANIFESTS,)}


def test_a_new_version_and_the_function_moving_to_it_come_from_the_manifests():
    model2 = stage("T5_P_MODEL", ("config.json", "c"), ("model.safetensors", "n"))
    plan = diff(desired(model2, LLM), observed_from(desired(MODEL, LLM)))
    assert [c.origins for c in plan.changes] == [(Origin.MANIFESTS,), (Origin.MANIFESTS,)]
    assert plan.from_account().is_empty


def test_a_hand_edit_under_an_intact_tag_comes_from_the_account():
    d = desired(MODEL, LLM)
    obs = observed_from(d)
    ((identity, fn),) = obs.functions.items()
    (change,) = diff(d, replace(obs, functions={identity: replace(fn, handler="handler.other")})).changes
    assert change.origins == (Origin.ACCOUNT,)


def test_a_hand_edit_and_a_manifest_change_on_one_function_give_both_origins():
    """The tag's spec is the manifests' old one and the live function no longer hashes to it."""
    obs = observed_from(desired(MODEL, LLM))
    ((identity, fn),) = obs.functions.items()
    edited = replace(obs, functions={identity: replace(fn, handler="handler.other")})
    (change,) = diff(desired(MODEL, LLM, packages=("pytorch", "numpy")), edited).changes
    assert change.origins == (Origin.ACCOUNT, Origin.MANIFESTS)
    assert change.reasons[0].startswith("changed outside t5-deploy")
    # The same manifest change on an untouched function is the manifests' alone.
    (change,) = diff(desired(MODEL, LLM, packages=("pytorch", "numpy")), obs).changes
    assert change.origins == (Origin.MANIFESTS,)
    assert not any(r.startswith("changed outside") for r in change.reasons)


def test_an_untagged_function_comes_from_the_account():
    d = desired(MODEL, LLM)
    obs = observed_from(d)
    ((identity, fn),) = obs.functions.items()
    (change,) = diff(d, replace(obs, functions={identity: replace(fn, comment="made by hand")})).changes
    assert change.origins == (Origin.ACCOUNT,)


def test_a_dropped_function_is_the_accounts_once_its_stages_are_deployed():
    d = desired(MODEL, LLM)
    (change,) = diff(d, replace(observed_from(d), functions={})).changes
    assert (change.action, change.kind, change.origins) == (Action.CREATE, Kind.FUNCTION, (Origin.ACCOUNT,))


def test_an_interrupted_upload_is_the_manifests_unless_a_function_serves_it():
    d = desired(MODEL, LLM)
    obs = observed_from(d)
    partial = ObservedStage("DB", "S", "T5_P_MODEL", "[t5-deploy]", (remote(MODEL, marker=False)[0],))
    stages = {**obs.stages, MODEL.fqn: partial}
    (served,) = diff(d, replace(obs, stages=stages)).changes  # the live function imports this version
    assert served.origins == (Origin.ACCOUNT,)
    (unserved,) = diff(d, replace(obs, stages=stages, functions={})).changes[:1]
    assert unserved.kind is Kind.STAGE_VERSION and unserved.origins == (Origin.MANIFESTS,)


def test_a_removed_or_added_file_in_a_complete_version_is_the_accounts():
    d = desired(MODEL, LLM)
    extra = {"T5_P_MODEL": [RemoteFile(f"{MODEL.version}/evil.py", 3, None, "x")]}
    (change,) = diff(d, observed_from(d, extra_files=extra)).changes
    assert change.origins == (Origin.ACCOUNT,)


def test_plan_json_carries_the_origins_and_reads_them_back():
    d = desired(MODEL, LLM)
    obs = observed_from(d)
    ((identity, fn),) = obs.functions.items()
    plan = diff(d, replace(obs, functions={identity: replace(fn, comment="x")}))
    doc = plan.to_dict()
    assert [c["origins"] for c in doc["changes"]] == [["account"]]
    assert Plan.from_dict(doc) == plan
    del doc["changes"][0]["origins"]  # a format-2 plan saved before the field: read as unclassified
    assert Plan.from_dict(doc).changes[0].origins == ()
