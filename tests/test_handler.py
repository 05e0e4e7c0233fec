"""The UDF handler: run as Snowflake runs it (subprocess, flattened imports) and in-process."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from udf import handler

pytestmark = pytest.mark.slow

HANDLER_SOURCE = Path(handler.__file__)
LONG_TEXT = "The economy grew faster than expected in the last quarter. " * 200  # > 512 tokens
ODD_UNICODE = "café naïve 日本語 🙂\u200b Ω≈ç√ \x00 \ud7ff \U0001f600 ﬁ ℌ"

# Runs inside the subprocess, like Snowflake: handler.py imported from the
# flattened import directory, nothing from this project importable.
SNOWFLAKE_STYLE_RUN = r"""
import importlib.abc, json, sys

class NoProjectImports(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"training", "udf", "deploy", "localsnow", "bench"}:
            raise ImportError(f"the handler imported project module {name}")
        return None

sys.meta_path.insert(0, NoProjectImports())
import_dir = sys._xoptions["snowflake_import_directory"]
sys.path.insert(0, import_dir)

import pandas as pd
import handler

loads = []
real_load_model = handler.load_model

def counting_load_model():
    loads.append(1)
    return real_load_model()

handler.load_model = counting_load_model

texts = json.loads(sys.stdin.read())
first = handler.summarize(pd.DataFrame({0: texts}))
second = handler.summarize(pd.DataFrame({0: [texts[0], float("nan"), pd.NA]}, index=[7, 8, 9]))
print(json.dumps({
    "loads": len(loads),
    "first": {"values": first.tolist(), "types": [type(v).__name__ for v in first]},
    "second": {"values": second.tolist(), "index": second.index.tolist()},
    "vectorized_input": handler.summarize._sf_vectorized_input.__name__,
    "max_batch_size": handler.summarize._sf_max_batch_size,
}))
"""


@pytest.fixture(scope="module")
def import_directory(bootstrapped_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Model, tokenizer and handler.py flattened into one read-only directory, as in Snowflake."""
    flat = tmp_path_factory.mktemp("snowflake_import_directory")
    for path in [*bootstrapped_artifacts.glob("*/*"), HANDLER_SOURCE]:
        shutil.copy2(path, flat / path.name)
    # The settings deploy generates from the manifest and imports beside handler.py.
    (flat / handler.CONFIG_NAME).write_text(json.dumps({"format": 1, "max_batch_size": 4, "threads": 1}))
    for path in flat.iterdir():
        path.chmod(0o444)
    flat.chmod(0o555)
    return flat


@pytest.fixture(scope="module")
def snowflake_style_result(import_directory: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    before = sorted(p.name for p in import_directory.iterdir())
    texts = ["Shares in the bank rose 5% after profits beat forecasts.", None, "", LONG_TEXT, ODD_UNICODE]
    completed = subprocess.run(
        [sys.executable, "-B", "-X", f"snowflake_import_directory={import_directory}", "-c", SNOWFLAKE_STYLE_RUN],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=tmp_path_factory.mktemp("cwd"),
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    # Nothing may be written next to the imports (read-only inside Snowflake).
    assert sorted(p.name for p in import_directory.iterdir()) == before
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_snowflake_style_outputs_keep_length_and_nulls(snowflake_style_result: dict) -> None:
    first = snowflake_style_result["first"]
    assert first["types"] == ["str", "NoneType", "str", "str", "str"]
    text, null, empty, long, odd = first["values"]
    assert null is None
    assert empty == ""
    assert text and long and odd  # the bootstrap model emits (gibberish) text


def test_snowflake_style_nan_and_na_are_null(snowflake_style_result: dict) -> None:
    second = snowflake_style_result["second"]
    assert second["values"][1:] == [None, None]
    assert second["values"][0] == snowflake_style_result["first"]["values"][0]
    assert second["index"] == [7, 8, 9]


def test_model_loads_once_per_process(snowflake_style_result: dict) -> None:
    assert snowflake_style_result["loads"] == 1


def test_summarize_is_marked_vectorized(snowflake_style_result: dict) -> None:
    assert snowflake_style_result["vectorized_input"] == "DataFrame"
    # From udf_config.json among the imports, not the default of 32.
    assert snowflake_style_result["max_batch_size"] == 4
    assert handler.summarize._sf_vectorized_input is pd.DataFrame


def test_importing_the_handler_loads_no_model_or_torch() -> None:
    # Training imports the constants; that must stay cheap.
    completed = subprocess.run(
        [sys.executable, "-c", "import sys, udf.handler; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == "False"


def test_constants_shared_with_training() -> None:
    assert handler.SOURCE_PREFIX == "summarize: "
    assert (handler.MAX_INPUT_TOKENS, handler.MAX_NEW_TOKENS, handler.NUM_BEAMS) == (512, 64, 1)


@pytest.fixture
def local_model(bootstrapped_artifacts: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the handler at the bootstrap output through T5_MODEL_DIR, with a fresh model cache."""
    monkeypatch.setenv(handler.MODEL_DIR_ENV, str(bootstrapped_artifacts))
    monkeypatch.setattr(handler, "_loaded", None)
    return bootstrapped_artifacts


def test_summarize_texts_in_process(local_model: Path) -> None:
    summaries = handler.summarize_texts(["Profits rose at the bank.", None, "", "   \n", ODD_UNICODE])
    assert len(summaries) == 5
    assert isinstance(summaries[0], str) and summaries[0]
    assert summaries[1] is None
    assert summaries[2:4] == ["", ""]
    assert isinstance(summaries[4], str)
    assert handler.get_model().directory == local_model / "model"


def test_batching_gives_the_same_summaries_as_one_at_a_time(local_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [
        "Profits rose at the bank.",
        "The minister said the election would be held in May, after months of speculation.",
        "Chelsea won 2-0.",
    ]
    one_at_a_time = [handler.summarize_texts([text])[0] for text in texts]
    assert len(set(one_at_a_time)) > 1  # the outputs depend on the input
    assert handler.summarize_texts(texts) == one_at_a_time  # padding does not leak
    small_batches = dataclasses.replace(handler.get_model(), settings=handler.Settings(max_batch_size=2))
    monkeypatch.setattr(handler, "_loaded", small_batches)  # several generate calls
    assert handler.summarize_texts([None, *texts]) == [None, *one_at_a_time]


def test_one_failing_row_never_fails_its_batch(local_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["Profits rose at the bank.", "POISON: this row makes generation fail.", "Chelsea won 2-0."]
    expected = [handler.summarize_texts([texts[0]])[0], None, handler.summarize_texts([texts[2]])[0]]
    real_generate = handler._generate
    calls: list[int] = []

    def failing_generate(loaded, batch):
        calls.append(len(batch))
        if any(text.startswith("POISON") for text in batch):
            raise RuntimeError("out of memory")
        return real_generate(loaded, batch)

    monkeypatch.setattr(handler, "_generate", failing_generate)
    assert handler.summarize_texts(texts) == expected
    assert calls == [3, 1, 1, 1]  # the batch, then each row alone


def test_odd_unicode_and_lone_surrogates_are_summarized(local_model: Path) -> None:
    texts = [ODD_UNICODE, "broken \ud800 surrogate \udfff pair", "\x00\x01\x02", "مرحبا بالعالم", "🙂" * 50]
    summaries = handler.summarize_texts(texts)
    assert all(isinstance(summary, str) for summary in summaries), summaries


def test_huge_text_is_cut_before_tokenizing_without_changing_what_the_model_reads(local_model: Path) -> None:
    tokenizer = handler.get_model().tokenizer
    settings = handler.get_model().settings
    huge = LONG_TEXT * 200  # ~2.4 MB
    prepared = handler.prepare(huge, settings)
    assert len(prepared) < settings.max_input_tokens * handler.CHARS_PER_TOKEN_BOUND + 20

    def ids(text: str) -> list[int]:
        return tokenizer(text, max_length=settings.max_input_tokens, truncation=True).input_ids

    assert ids(prepared) == ids(handler.model_input(huge))
    assert handler.summarize_texts([huge]) == handler.summarize_texts([LONG_TEXT])


def test_settings_reach_generation(local_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = handler.get_model()
    text = ["The minister said the election would be held in May, after months of speculation."]
    short = dataclasses.replace(loaded, settings=handler.Settings(max_new_tokens=3))
    monkeypatch.setattr(handler, "_loaded", short)
    (summary,) = handler.summarize_texts(text)
    assert 0 < len(loaded.tokenizer(summary, add_special_tokens=False).input_ids) <= 3


def test_int8_quantizes_linear_layers_and_one_thread_is_honoured(local_model: Path) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        loaded = handler.load_model(handler.Settings(quantize="int8", threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    modules = list(loaded.model.modules())
    assert not any(type(module) is torch.nn.Linear for module in modules)
    assert any(isinstance(module, torch.ao.nn.quantized.dynamic.Linear) for module in modules)
    assert loaded.settings.quantize == "int8" and loaded.load_seconds > 0
    (summary,) = handler._generate(loaded, ["Profits rose at the bank."])
    assert isinstance(summary, str) and summary


def test_input_is_truncated_to_max_input_tokens(local_model: Path) -> None:
    tokenizer = handler.get_model().tokenizer
    assert len(tokenizer(LONG_TEXT).input_ids) > handler.MAX_INPUT_TOKENS
    # Words past the first MAX_INPUT_TOKENS tokens cannot change the summary.
    assert handler.summarize_texts([LONG_TEXT]) == handler.summarize_texts(
        [LONG_TEXT + " Completely different ending about football and music."]
    )


def test_non_text_input_is_a_clear_error(local_model: Path) -> None:
    with pytest.raises(TypeError, match="text 1 is int"):
        handler.summarize_texts(["fine", 3])  # type: ignore[list-item]


def test_blank_batches_never_load_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "_loaded", None)
    monkeypatch.setattr(handler, "load_model", lambda: pytest.fail("model loaded"))
    assert handler.summarize_texts([None, "", " "]) == [None, "", ""]
    series = handler.summarize(pd.DataFrame({0: [None, float("nan"), ""]}))
    assert series.tolist() == [None, None, ""]
    assert series.dtype == object


def test_model_directory_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(handler.MODEL_DIR_ENV, raising=False)
    with pytest.raises(RuntimeError, match=handler.MODEL_DIR_ENV):
        handler.artifact_directories()
    monkeypatch.setenv(handler.MODEL_DIR_ENV, str(tmp_path))
    assert handler.artifact_directories() == (tmp_path, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        handler.load_model()


@pytest.mark.parametrize("value", ["zero", "0"])
def test_thread_override_is_validated(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(handler.NUM_THREADS_ENV, value)
    with pytest.raises(ValueError, match=handler.NUM_THREADS_ENV):
        handler._thread_count()


def test_rows_encoded_alone_match_the_padded_batch_encoder(local_model: Path) -> None:
    import torch

    loaded = handler.get_model()
    texts = ["Profits rose at the bank.", LONG_TEXT, "Chelsea won 2-0 at home on Saturday."]
    encoded = loaded.tokenizer(
        [handler.prepare(t, loaded.settings) for t in texts],
        max_length=512,
        truncation=True,
        padding=True,
        return_tensors="pt",
    )
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    assert not bool(mask.all())  # the batch is padded
    with torch.inference_mode():
        alone = handler._encode_rows(loaded.model, ids, mask).last_hidden_state
        batched = loaded.model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(alone[real], batched[real], rtol=1e-5, atol=1e-5)
    assert bool((alone[~real] == 0).all())
