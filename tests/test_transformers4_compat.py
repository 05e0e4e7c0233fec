"""Artifacts saved by transformers 5 summarize identically under Snowflake's transformers 4.41.

Training and the bootstrap run transformers 5; Snowflake's Anaconda channel runs
the UDF under 4.41.2 (tokenizers 0.19.1, sentencepiece 0.2.0, pandas 2.2.3). The
second environment `.venv-compat` (scripts/compat_env.sh, created by `make test`)
has that stack. Both interpreters run the real handler.py from a flattened
read-only import directory, as Snowflake does, on the same news texts; the 4.x
runs must reproduce the 5.x run's token ids, summaries and logits.

The slow path (spiece.model without tokenizer.json) is compared against the
fast 5.x run: transformers 5 cannot load spiece.model here (no protobuf), and
Snowflake must match what training saw, which is the fast tokenizer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import netguard
import pytest

from training.corpus import load_split
from udf import handler

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COMPAT_VENV = ROOT / ".venv-compat"
COMPAT_PYTHON = COMPAT_VENV / "bin" / "python"
COMPAT_STAMP = COMPAT_VENV / ".compat-stamp"  # written by compat_env.sh once the env is complete
SKIP_ENV = "T5_SKIP_COMPAT"
SNOWFLAKE_TRANSFORMERS = "4.41."
# Same torch in both envs, one thread each: the logits should agree to float rounding.
LOGITS_ATOL = 1e-5

# Runs in each interpreter, like Snowflake: handler.py from the import directory.
# Every generate call is recorded, so token ids are compared, not only strings.
CHILD = r"""
import json, sys
import_dir = sys._xoptions["snowflake_import_directory"]
sys.path.insert(0, import_dir)

import numpy as np
import pandas as pd
import torch
import handler

batches = json.loads(sys.stdin.read())
loaded = handler.get_model()
inputs, outputs = [], []
real_encode, real_generate = handler._encode_rows, loaded.model.generate

def recording_encode(model, input_ids, attention_mask):
    inputs.append((input_ids, attention_mask))
    return real_encode(model, input_ids, attention_mask)

def recording_generate(**kwargs):
    outputs.append(real_generate(**kwargs))
    return outputs[-1]

handler._encode_rows = recording_encode
loaded.model.generate = recording_generate
summaries = [handler.summarize(pd.DataFrame({0: texts})).tolist() for texts in batches]

results = []
for number, ((input_ids, attention_mask), output_ids) in enumerate(zip(inputs, outputs, strict=True)):
    with torch.inference_mode():
        # Teacher-forced on the greedy output: a random model's greedy text is
        # repetitive, logits show whether the weights loaded identically.
        logits = loaded.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=output_ids).logits
    np.save(f"logits{number}.npy", logits.numpy())
    # Unpadded, so that batches padded to different lengths still compare.
    results.append({
        "input_ids": [ids[: int(mask.sum())] for ids, mask in zip(input_ids.tolist(), attention_mask)],
        "output_ids": output_ids.tolist(),
        "logits": f"logits{number}.npy",
    })

import huggingface_hub, safetensors, sentencepiece, tokenizers, transformers
modules = (transformers, tokenizers, sentencepiece, safetensors, huggingface_hub, torch, np, pd)
print(json.dumps({
    "prefix": sys.prefix,
    "handler": handler.__file__,
    "versions": {m.__name__: m.__version__ for m in modules},
    "files": {m.__name__: m.__file__ for m in modules},
    "tokenizer": type(loaded.tokenizer).__name__,
    "summaries": summaries,
    "calls": results,
}))
"""


# Session scope: set up before the session's bootstrap, so a skip or failure comes at once.
@pytest.fixture(scope="session")
def compat_python() -> Path:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: transformers 4.x compatibility not checked")
    if not (COMPAT_PYTHON.is_file() and COMPAT_STAMP.is_file()):
        pytest.fail(
            f"{COMPAT_VENV} is missing or incomplete: run `bash scripts/compat_env.sh` (or `make test`),"
            f" or set {SKIP_ENV}=1 to skip the transformers 4.x check",
            pytrace=False,
        )
    return COMPAT_PYTHON


def _news_texts() -> list[str]:
    """A few validation articles, cut to different lengths; the last exceeds MAX_INPUT_TOKENS."""
    articles = [row["article"] for row in load_split("validation")[:6]]
    return [articles[0][:200], articles[1][:700], articles[2], "\n".join(articles[3:6])]


def _clean(text: str) -> str:
    return " ".join(text.split())


# Batch 0: whitespace collapsed. Batch 1: raw text, newlines included.
BATCHES = [[_clean(text) for text in _news_texts()], _news_texts()]


def _flatten(sources: list[Path], directory: Path) -> Path:
    """`sources` in one read-only directory, as Snowflake lays out a UDF's imports."""
    directory.mkdir()
    for path in sources:
        shutil.copy2(path, directory / path.name)
        (directory / path.name).chmod(0o444)
    directory.chmod(0o555)
    return directory


def _run(python: Path, import_directory: Path, cwd: Path) -> dict:
    before = sorted(p.name for p in import_directory.iterdir())
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env = netguard.guarded_env(env)  # the guard's sitecustomize only: still nothing of the project
    env.pop(handler.MODEL_DIR_ENV, None)
    env[handler.NUM_THREADS_ENV] = "1"
    cwd.mkdir()
    completed = subprocess.run(
        [str(python), "-B", "-X", f"snowflake_import_directory={import_directory}", "-c", CHILD],
        input=json.dumps(BATCHES),
        capture_output=True,
        text=True,
        cwd=cwd,  # outside the repo: nothing of the project is importable
        env=env,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"{python} failed:\n{completed.stderr[-3000:]}"
    # Nothing may be written next to the imports (read-only inside Snowflake).
    assert sorted(p.name for p in import_directory.iterdir()) == before
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert Path(result["handler"]).parent == import_directory  # the flattened copy, not the project's
    result["cwd"] = str(cwd)
    return result


@pytest.fixture(scope="module")
def runs(
    compat_python: Path, bootstrapped_artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict]:
    """Results of the reference (main env, fast tokenizer) and the two 4.x tokenizer paths."""
    work = tmp_path_factory.mktemp("compat")
    files = [*bootstrapped_artifacts.glob("*/*"), Path(handler.__file__)]
    fast = _flatten(files, work / "import_fast")
    slow = _flatten([path for path in files if path.name != "tokenizer.json"], work / "import_slow")
    jobs = {
        "v5_fast": (Path(sys.executable), fast),
        "v4_fast": (compat_python, fast),
        "v4_slow": (compat_python, slow),
    }
    # In parallel: each process spends most of its time importing torch and transformers.
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(_run, python, folder, work / name) for name, (python, folder) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def test_compat_env_is_snowflakes_transformers_4(runs: dict[str, dict]) -> None:
    assert runs["v5_fast"]["versions"]["transformers"].startswith("5.")
    for name in ("v4_fast", "v4_slow"):
        run = runs[name]
        print(name, run["versions"])
        assert run["versions"]["transformers"].startswith(SNOWFLAKE_TRANSFORMERS), run["versions"]
        assert run["versions"]["tokenizers"].startswith("0.19."), run["versions"]
        # Every package from .venv-compat itself, none leaking in from the main venv.
        assert all(Path(file).is_relative_to(run["prefix"]) for file in run["files"].values()), run["files"]
        assert Path(run["prefix"]).resolve() == COMPAT_VENV.resolve()
    assert runs["v4_fast"]["tokenizer"] == "T5TokenizerFast"
    assert runs["v4_slow"]["tokenizer"] == "T5Tokenizer"


def _assert_same(run: dict, reference: dict, batch: int) -> None:
    import numpy as np

    got, want = run["calls"][batch], reference["calls"][batch]
    assert got["input_ids"] == want["input_ids"], "the tokenizers encode differently"
    assert got["output_ids"] == want["output_ids"], "greedy generation differs"
    assert run["summaries"][batch] == reference["summaries"][batch], "decoding differs"
    got_logits = np.load(Path(run["cwd"]) / got["logits"])
    want_logits = np.load(Path(reference["cwd"]) / want["logits"])
    assert got_logits.shape == want_logits.shape
    assert np.abs(got_logits - want_logits).max() <= LOGITS_ATOL


def test_inputs_exercise_truncation_and_batching(runs: dict[str, dict]) -> None:
    lengths = [len(ids) for ids in runs["v5_fast"]["calls"][0]["input_ids"]]
    assert lengths[-1] == handler.MAX_INPUT_TOKENS
    assert len(set(lengths)) == len(lengths)  # padded batches
    # The outputs depend on the input, so equal outputs are not vacuous.
    assert len({tuple(ids) for ids in runs["v5_fast"]["calls"][0]["output_ids"]}) > 1


@pytest.mark.parametrize("batch", [0, 1], ids=["clean_text", "raw_text"])
def test_fast_tokenizer_path_matches_transformers_5(runs: dict[str, dict], batch: int) -> None:
    _assert_same(runs["v4_fast"], runs["v5_fast"], batch)


def test_slow_tokenizer_path_matches_transformers_5(runs: dict[str, dict]) -> None:
    _assert_same(runs["v4_slow"], runs["v5_fast"], 0)


def test_slow_tokenizer_path_matches_transformers_5_on_raw_newlines(runs: dict[str, dict]) -> None:
    # udf.handler.model_input collapses whitespace, so a newline never reaches spiece.model as <unk>.
    _assert_same(runs["v4_slow"], runs["v5_fast"], 1)
