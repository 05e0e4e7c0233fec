"""The offline bootstrap T5: layout, tokenizer, model, determinism, CLI errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from training import bootstrap as bootstrap_module
from training.corpus import load_split
from udf.handler import MAX_INPUT_TOKENS, MAX_NEW_TOKENS

pytestmark = pytest.mark.slow

MODEL_FILES = {"config.json", "generation_config.json", "model.safetensors"}
TOKENIZER_FILES = {"spiece.model", "tokenizer.json", "tokenizer_config.json"}


@pytest.fixture(scope="module")
def second_build(bootstrapped_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second build with the session fixture's arguments, through the CLI entry point."""
    output = tmp_path_factory.mktemp("bootstrap-again") / "t5"
    assert bootstrap_module.main(["--output", str(output), "--seed", "3"]) == 0  # conftest's seed
    return output


@pytest.fixture(scope="module")
def tokenizer(bootstrapped_artifacts: Path):
    from transformers import T5Tokenizer

    return T5Tokenizer.from_pretrained(str(bootstrapped_artifacts / "tokenizer"))


def _news_paragraphs(count: int) -> list[str]:
    rows = load_split("validation")[:count]
    return [row["article"].split("\n")[0] for row in rows] + [row["summary"] for row in rows]


def test_layout(bootstrapped_artifacts: Path) -> None:
    model_names = {p.name for p in (bootstrapped_artifacts / "model").iterdir()}
    tokenizer_names = {p.name for p in (bootstrapped_artifacts / "tokenizer").iterdir()}
    assert model_names >= MODEL_FILES
    assert tokenizer_names >= TOKENIZER_FILES
    # Snowflake flattens all imports into one directory.
    assert not model_names & tokenizer_names


def test_files_are_readable_by_others(bootstrapped_artifacts: Path) -> None:
    for path in bootstrapped_artifacts.glob("*/*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & stat.S_IROTH and mode & stat.S_IRGRP, f"{path} has mode {mode:o}"


def test_tokenizer_has_t5_special_tokens(tokenizer) -> None:
    vocab_size = bootstrap_module.DEFAULT_VOCAB_SIZE
    assert len(tokenizer) == vocab_size + 100
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "</s>", "<unk>"]
    # As t5-small: sentinels in reverse after the pieces, <extra_id_0> last.
    assert tokenizer.convert_tokens_to_ids("<extra_id_0>") == vocab_size + 99
    assert tokenizer.convert_tokens_to_ids("<extra_id_99>") == vocab_size
    assert tokenizer.model_max_length == MAX_INPUT_TOKENS
    assert tokenizer("A test.").input_ids[-1] == 1  # </s> appended


def test_tokenizer_round_trips_news_text(tokenizer) -> None:
    for text in _news_paragraphs(5):
        ids = tokenizer(text).input_ids
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == " ".join(text.split())


def test_tokenizer_json_agrees_with_spiece_model(bootstrapped_artifacts: Path, tokenizer) -> None:
    # transformers 4.x without tokenizer.json falls back to spiece.model.
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(bootstrapped_artifacts / "tokenizer" / "spiece.model"))
    for text in [*_news_paragraphs(5), "café naïve £5.3bn — 日本語 🙂"]:
        assert tokenizer(text, add_special_tokens=False).input_ids == processor.encode(text)


def test_model_loads_and_generates(bootstrapped_artifacts: Path, tokenizer) -> None:
    import torch
    from transformers import T5ForConditionalGeneration

    model = T5ForConditionalGeneration.from_pretrained(str(bootstrapped_artifacts / "model"))
    config = model.config
    assert config.vocab_size == len(tokenizer)
    assert (config.d_model, config.num_layers, config.num_decoder_layers) == (128, 2, 2)
    assert (config.decoder_start_token_id, config.pad_token_id, config.eos_token_id) == (0, 0, 1)
    assert model.generation_config.max_new_tokens == MAX_NEW_TOKENS
    assert model.generation_config.num_beams == 1

    encoded = tokenizer(text=["summarize: " + text for text in _news_paragraphs(2)], padding=True, return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**encoded)
    assert output.shape[0] == 4
    assert 1 < output.shape[1] <= MAX_NEW_TOKENS + 1
    assert output[0, 0].item() == 0  # decoder start
    # The zeroed <pad> row keeps an untrained model from emitting only <pad>.
    assert any(tokenizer.decode(row, skip_special_tokens=True).strip() for row in output)


def test_same_seed_gives_byte_identical_files(bootstrapped_artifacts: Path, second_build: Path) -> None:
    for folder, names in (("model", MODEL_FILES), ("tokenizer", TOKENIZER_FILES)):
        for name in names:
            first = (bootstrapped_artifacts / folder / name).read_bytes()
            second = (second_build / folder / name).read_bytes()
            assert first == second, f"{folder}/{name} differs between two builds"


def test_seed_changes_the_weights() -> None:
    import torch

    shape = {
        "d_model": 16,
        "d_ff": 32,
        "num_layers": 1,
        "num_decoder_layers": 1,
        "num_heads": 2,
        "d_kv": 8,
    }
    first = bootstrap_module.build_model(200, seed=0, **shape).state_dict()
    again = bootstrap_module.build_model(200, seed=0, **shape).state_dict()
    other = bootstrap_module.build_model(200, seed=1, **shape).state_dict()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["shared.weight"], other["shared.weight"])


def test_refuses_a_non_empty_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "keep.txt").write_text("mine")
    assert bootstrap_module.main(["--output", str(tmp_path)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "model" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [("--d-model", "0", "d_model"), ("--vocab-size", "10", "vocab_size")],
)
def test_rejects_bad_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argument: str, value: str, message: str
) -> None:
    assert bootstrap_module.main(["--output", str(tmp_path / "out"), argument, value]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
