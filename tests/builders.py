"""Inline builders of desired and observed state for diff and render tests."""

from pathlib import Path

from deploy.diff import function_properties
from deploy.spec import MARKER_NAME, Arg, Desired, FunctionSpec, ImportRef, LocalFile, Origin, StageSpec
from deploy.state import SNOWFLAKE_SSE, Observed, ObservedFunction, ObservedStage, RemoteFile

ORIGIN = Origin("m.yaml", 1, "x")


def stage(name: str, *files: tuple[str, str], keep: int = 2) -> StageSpec:
    return StageSpec(
        "DB", "S", name, "", tuple(LocalFile(n, Path(f"/a/{n}"), len(c), c * 8) for n, c in files), keep, ORIGIN
    )


def desired(*stages: StageSpec, packages=("pytorch",)) -> Desired:
    fn = FunctionSpec(
        "DB",
        "S",
        "SUMMARIZE",
        (Arg("TEXT", "VARCHAR"),),
        "VARCHAR",
        "3.11",
        "handler.summarize",
        packages,
        tuple(ImportRef(s.fqn, f.name) for s in stages for f in s.files),
        "CALLED ON NULL INPUT",
        "VOLATILE",
        "",
        ORIGIN,
    )
    return Desired(("DB",), (("DB", "S"),), {s.fqn: s for s in stages}, {fn.identity: fn})


def remote(st: StageSpec, *, marker=True, when="2026-11-01") -> list[RemoteFile]:
    """LIST rows of a complete upload of ``st`` as an SSE stage shows them: exact sizes (md5 left out)."""
    files = [RemoteFile(f"{st.version}/{f.name}", f.size, None, when) for f in st.files]
    return files + ([RemoteFile(f"{st.version}/{MARKER_NAME}", len(st.marker_bytes()), None, when)] if marker else [])


def observed_from(d: Desired, extra_files=None, functions=None, packages=None, encryption=SNOWFLAKE_SSE) -> Observed:
    stages = {
        s.fqn: ObservedStage(
            "DB", "S", s.name, "[t5-deploy]", tuple(remote(s) + (extra_files or {}).get(s.name, [])), encryption
        )
        for s in d.stages.values()
    }
    fns = functions
    if fns is None:
        fns = {}
        for identity, fn in d.functions.items():
            p = function_properties(fn, d.stages)
            fns[identity] = ObservedFunction(
                "DB",
                "S",
                "SUMMARIZE",
                (("TEXT", "VARCHAR"),),
                "VARCHAR",
                "PYTHON",
                "3.11",
                p.handler,
                p.packages,
                p.imports,
                "CALLED ON NULL INPUT",
                "VOLATILE",
                "",
                p.comment,
            )
    channel = packages or {"pytorch": (("2.5.1", "3.11"),)}  # (version, runtime) rows
    return Observed(frozenset({"DB"}), frozenset({("DB", "S")}), stages, fns, channel)


MODEL = stage("T5_P_MODEL", ("config.json", "c"), ("model.safetensors", "m"))
LLM = stage("LLM", ("handler.py", "h"))
