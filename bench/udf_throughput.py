"""SUMMARIZE throughput: the seed's per-row approach against the deployed handler, same model, one run.

Baseline (the seed notebook's way, in this process): load the model with
transformers, then for each row tokenize it alone and call `generate` once.
Ours: the manifests deployed to a fresh embedded Snowflake (handler, staged
settings, model), then `SELECT ID, SUMMARIZE(ARTICLE) FROM NEWS` through the
real connector: vectorized batches on the UDF's worker processes, each
loading the model once. Both decode with the manifest's settings (token
limits, beams), and both honour the model's generation_config.json, so at
equal settings the outputs must be identical; with `quantize: int8` the
bench reports how many tokens agree instead.

    python bench/udf_throughput.py [--model artifacts/latest] [--rows 200] [--baseline-rows 40]
        [--set quantize=int8] [--processes N]

Rows/s are measured after warm-up on both sides (model loaded); cold-start
figures are printed separately. The last line is `ratio: X` (ours / baseline).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import localsnow
from deploy.connection import connect, resolve_connection
from deploy.reconcile import Workspace, apply, plan
from deploy.sample_data import load_sample_data, sample_rows
from deploy.session import Session
from udf import handler

ROOT = Path(__file__).resolve().parents[1]

FUNCTION = "SUMMARIZE"


def peak_rss_mib(pid: int | str = "self") -> float | None:
    """Peak resident memory (VmHWM) of a process, in MiB; None where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids(home: Path) -> list[int]:
    """UDF worker processes of the embedded Snowflake under `home`."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "localsnow.udf_worker" in cmdline and str(home) in cmdline:
            pids.append(int(proc.name))
    return pids


def project_with_settings(tmp: Path, overrides: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """A project copy (manifests with settings overridden, handler, project file) under ``tmp``."""
    (tmp / "manifests").mkdir()
    # Copied, not linked: a manifest's files must resolve inside its project.
    shutil.copytree(ROOT / "udf", tmp / "udf")
    shutil.copy(ROOT / "snowflake.yml", tmp / "snowflake.yml")
    settings: dict[str, Any] = {}
    for source in sorted((ROOT / "manifests").glob("*.y*ml")):
        text = source.read_text()
        document = yaml.safe_load(text)
        function = (document.get("functions") or {}).get(FUNCTION)
        if function is not None:
            function.setdefault("settings", {}).update(overrides)
            settings = function["settings"]
            text = yaml.safe_dump(document, sort_keys=False)
        (tmp / "manifests" / source.name).write_text(text)
    return tmp / "manifests", settings


def baseline(model_dir: Path, texts: list[str], settings: handler.Settings) -> dict[str, Any]:
    """The seed's approach: one tokenization and one `generate` per row, torch's default threads."""
    import torch
    from transformers import T5ForConditionalGeneration, T5TokenizerFast

    t0 = time.perf_counter()
    tokenizer = T5TokenizerFast.from_pretrained(str(model_dir / "tokenizer"))
    model = T5ForConditionalGeneration.from_pretrained(str(model_dir / "model")).eval()
    load_seconds = time.perf_counter() - t0

    def summarize(text: str) -> str:
        inputs = tokenizer(
            handler.model_input(text), max_length=settings.max_input_tokens, truncation=True, return_tensors="pt"
        )
        with torch.no_grad():
            ids = model.generate(
                **inputs, max_new_tokens=settings.max_new_tokens, num_beams=settings.num_beams, do_sample=False
            )
        return tokenizer.decode(ids[0], skip_special_tokens=True).strip()

    summarize(texts[0])  # warm-up
    t0 = time.perf_counter()
    outputs = [summarize(text) for text in texts]
    seconds = time.perf_counter() - t0
    return {
        "outputs": outputs,
        "seconds": seconds,
        "load_seconds": load_seconds,
        "tokenizer": tokenizer,
        "threads": torch.get_num_threads(),
    }


def deployed(manifests: Path, tmp: Path, rows: int, max_batch_size: int, processes: int) -> dict[str, Any]:
    """Deploy to a fresh embedded Snowflake and summarize NEWS through SQL."""
    home = tmp / "localsnow"
    os.environ.update(LOCALSNOW_HOME=str(home), LOCALSNOW_UDF_PROCESSES=str(processes))
    ws = Workspace(manifests, tmp / "cache")
    desired = ws.desired()
    function = next(f for f in desired.functions.values() if f.name == FUNCTION)
    localsnow.ensure_running(home)
    try:
        session = Session(connect(resolve_connection("local")))
        the_plan, _ = plan(session, desired)
        apply(session, ws, the_plan)
        load_sample_data(session, (function.database, function.schema, "NEWS"), limit=rows, replace=True)
        name = f"{function.database}.{function.schema}.{function.name}"
        # Cold start: enough short rows for every worker process to start and load the model.
        warm_rows = max_batch_size * processes
        t0 = time.perf_counter()
        session.query(f"SELECT {name}(TITLE) AS S FROM {function.database}.{function.schema}.NEWS LIMIT {warm_rows}")
        cold_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = session.query(
            f"SELECT ID, {name}(ARTICLE) AS SUMMARY FROM {function.database}.{function.schema}.NEWS ORDER BY ID"
        )
        seconds = time.perf_counter() - t0
        workers = worker_pids(home)
        memory = [peak_rss_mib(pid) for pid in workers]
        session.close()
    finally:
        localsnow.stop(home)
    return {
        "outputs": [row["summary"] for row in result],
        "seconds": seconds,
        "cold_seconds": cold_seconds,
        "workers": len(workers),
        "worker_peak_mib": [m for m in memory if m is not None],
    }


def token_agreement(tokenizer: Any, ours: list[str | None], theirs: list[str]) -> float:
    """Share of token positions equal in both outputs (over the longer of each pair)."""
    same = total = 0
    for a, b in zip(ours, theirs, strict=False):
        x = tokenizer(a or "", add_special_tokens=False).input_ids
        y = tokenizer(b, add_special_tokens=False).input_ids
        same += sum(p == q for p, q in zip(x, y, strict=False))
        total += max(len(x), len(y))
    return same / total if total else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        type=Path,
        default=ROOT / "artifacts" / "latest",
        help="folder with model/ and tokenizer/ (a training run or a bootstrap)",
    )
    parser.add_argument("--rows", type=int, default=200, help="rows summarized through SQL")
    parser.add_argument(
        "--baseline-rows", type=int, default=40, help="rows summarized one by one (the same first rows)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a manifest setting, e.g. quantize=int8 or max_batch_size=16",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="UDF worker processes of the embedded Snowflake (default: CPUs)",
    )
    args = parser.parse_args()
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = int(value) if re.fullmatch(r"-?\d+", value) else value

    model_dir = args.model.resolve()
    texts = [row[3] for row in sample_rows("validation", args.rows)]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ.update(
            T5_DEPLOY_CACHE=str(tmp / "cache"),
            T5_ARTIFACTS=str(model_dir),
            SNOWFLAKE_HOME=str(tmp / "no-config"),
        )
        manifests, raw_settings = project_with_settings(tmp, overrides)
        settings = handler.Settings.from_mapping(raw_settings, "manifest settings")

        base = baseline(model_dir, texts[: args.baseline_rows], settings)
        base_peak = peak_rss_mib()
        # After the baseline: loading applies the `threads` setting to this process.
        os.environ[handler.MODEL_DIR_ENV] = str(model_dir)
        ours_load = handler.load_model(settings).load_seconds  # what each worker pays once
        ours = deployed(manifests, tmp, args.rows, settings.max_batch_size, args.processes)

    n_base = len(base["outputs"])
    base_rate = n_base / base["seconds"]
    ours_rate = len(ours["outputs"]) / ours["seconds"]
    compared = ours["outputs"][:n_base]
    identical = sum(a == b for a, b in zip(compared, base["outputs"], strict=True))
    agreement = token_agreement(base["tokenizer"], compared, base["outputs"])
    peaks = ", ".join(f"{m:.0f}" for m in ours["worker_peak_mib"]) or "n/a"

    print(f"model: {model_dir} ({sum(f.stat().st_size for f in (model_dir / 'model').iterdir()) / 1e6:.1f} MB)")
    print(f"settings: {settings}")
    print(
        f"baseline (per-row generate, {base['threads']} torch threads, 1 process): "
        f"{n_base} rows in {base['seconds']:.2f} s = {base_rate:.2f} rows/s"
    )
    print(
        f"ours (SELECT ... FROM NEWS, vectorized, {ours['workers']} worker process(es) x {settings.threads or 'all'}"
        f" thread(s)): {len(ours['outputs'])} rows in {ours['seconds']:.2f} s = {ours_rate:.2f} rows/s"
    )
    print(
        f"model load: baseline {base['load_seconds']:.2f} s; handler with settings {ours_load:.2f} s per worker; "
        f"cold first query (worker start + load, {settings.max_batch_size * args.processes} short rows) "
        f"{ours['cold_seconds']:.2f} s"
    )
    print(f"peak memory: baseline process {base_peak or 0:.0f} MiB; each worker process {peaks} MiB")
    print(f"outputs on the first {n_base} rows: {identical}/{n_base} identical, token agreement {agreement:.1%}")
    if settings.quantize == "none" and identical != n_base:
        print("WARNING: outputs differ at equal decoding settings")
    print(f"ratio: {ours_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
