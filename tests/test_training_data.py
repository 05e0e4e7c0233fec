"""Training data: file and Snowflake sources, the length-grouped sampler, the collator."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from training.config import DataConfig
from training.corpus import load_split
from training.data import LABEL_PAD_ID, LengthGroupedBatchSampler, Seq2SeqCollator, tokenize_pairs
from training.sources import DataError, Pair, load_splits

ROWS = load_split("validation")[:12]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# -- files ---------------------------------------------------------------------


def test_bundled_source() -> None:
    splits = load_splits(DataConfig(), seed=0)
    assert (len(splits.train), len(splits.validation)) == (1767, 225)
    assert splits.validation[0] == Pair(ROWS[0]["article"], ROWS[0]["summary"])


def test_jsonl_with_validation_file(tmp_path: Path) -> None:
    train = _jsonl(tmp_path / "train.jsonl", ROWS[:8])
    validation = _jsonl(tmp_path / "val.jsonl", ROWS[8:])
    splits = load_splits(DataConfig(source="jsonl", train_file=str(train), validation_file=str(validation)), seed=0)
    assert [p.text for p in splits.train] == [r["article"] for r in ROWS[:8]]
    assert [p.summary for p in splits.validation] == [r["summary"] for r in ROWS[8:]]


def test_jsonl_holds_out_a_seeded_validation_split(tmp_path: Path) -> None:
    cfg = DataConfig(source="jsonl", train_file=str(_jsonl(tmp_path / "all.jsonl", ROWS)), validation_fraction=0.25)
    first, again, other = (load_splits(cfg, seed=s) for s in (0, 0, 1))
    assert (len(first.train), len(first.validation)) == (9, 3)
    assert first == again
    assert first.validation != other.validation
    assert {p.text for p in first.train}.isdisjoint({p.text for p in first.validation})


def test_csv_with_custom_columns_skips_empty_rows(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"body": [r["article"] for r in ROWS], "abstract": [r["summary"] for r in ROWS]})
    frame.loc[3, "abstract"] = ""  # nothing to learn from
    frame.to_csv(tmp_path / "news.csv", index=False)
    cfg = DataConfig(source="csv", train_file=str(tmp_path / "news.csv"), text_column="body", summary_column="abstract")
    splits = load_splits(cfg, seed=0)
    assert len(splits.train) + len(splits.validation) == 11
    assert splits.skipped_empty == 1
    assert ROWS[0]["article"] in {p.text for p in splits.train + splits.validation}


@pytest.mark.parametrize("source", ["jsonl", "csv"])
def test_missing_column_names_file_column_and_key(tmp_path: Path, source: str) -> None:
    path = tmp_path / f"news.{source}"
    if source == "jsonl":
        _jsonl(path, [{"body": "text", "summary": "s"}])
    else:
        path.write_text("body,summary\ntext,s\n")
    with pytest.raises(DataError) as error:
        load_splits(DataConfig(source=source, train_file=str(path)), seed=0)
    message = str(error.value)
    assert str(path) in message and "'article'" in message and "data.text_column" in message and "body" in message


def test_missing_file_and_bad_json_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jsonl does not exist"):
        load_splits(DataConfig(source="jsonl", train_file=str(tmp_path / "nope.jsonl")), seed=0)
    (tmp_path / "bad.jsonl").write_text('{"article": "a", "summary": "b"}\n{oops\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid JSON"):
        load_splits(DataConfig(source="jsonl", train_file=str(tmp_path / "bad.jsonl")), seed=0)
    with pytest.raises(DataError, match=r"data\.train_file is not set"):
        load_splits(DataConfig(source="csv"), seed=0)


# -- Snowflake -------------------------------------------------------------------


@pytest.fixture(scope="module")
def news_table(tmp_path_factory: pytest.TempPathFactory):
    """An embedded Snowflake whose `local` connection (via LOCALSNOW_HOME) holds T5_TRAIN.PUBLIC.NEWS."""
    import snowflake.connector

    import localsnow

    home = tmp_path_factory.mktemp("localsnow-training")
    config_dir = tmp_path_factory.mktemp("no-snowflake-config")  # keep ~/.snowflake out of it
    patch = pytest.MonkeyPatch()
    patch.setenv("LOCALSNOW_HOME", str(home))
    patch.setenv("SNOWFLAKE_HOME", str(config_dir))
    try:
        conn = snowflake.connector.connect(**localsnow.ensure_running(home))
        cursor = conn.cursor()
        cursor.execute("CREATE DATABASE T5_TRAIN")  # with its PUBLIC schema, as in Snowflake
        cursor.execute(
            "CREATE TABLE T5_TRAIN.PUBLIC.NEWS (ID VARCHAR, SPLIT VARCHAR, ARTICLE VARCHAR, SUMMARY VARCHAR)"
        )
        rows = [(r["id"], "validation" if i >= 9 else "train", r["article"], r["summary"]) for i, r in enumerate(ROWS)]
        cursor.executemany("INSERT INTO T5_TRAIN.PUBLIC.NEWS VALUES (%s, %s, %s, %s)", rows)
        conn.close()
        yield "T5_TRAIN.PUBLIC.NEWS"
    finally:
        localsnow.stop(home)
        patch.undo()


def test_snowflake_table_split_by_column(news_table: str) -> None:
    cfg = DataConfig(source="snowflake", connection="local", table=news_table, split_column="split")
    splits = load_splits(cfg, seed=0)
    assert sorted(p.text for p in splits.train) == sorted(r["article"] for r in ROWS[:9])
    assert sorted(p.summary for p in splits.validation) == sorted(r["summary"] for r in ROWS[9:])


def test_snowflake_queries(news_table: str) -> None:
    cfg = DataConfig(
        source="snowflake",
        connection="local",
        query=f"SELECT article, summary FROM {news_table} WHERE split = 'train'",
        validation_query=f"SELECT article, summary FROM {news_table} WHERE split = 'validation'",
    )
    splits = load_splits(cfg, seed=0)
    assert (len(splits.train), len(splits.validation)) == (9, 3)
    assert "Snowflake (local)" in splits.description


def test_snowflake_errors_name_column_and_query(news_table: str) -> None:
    in_table = DataConfig(source="snowflake", connection="local", table=news_table, summary_column="abstract")
    with pytest.raises(DataError, match=r"(?s)data\.summary_column.*ABSTRACT"):
        load_splits(in_table, seed=0)
    query = f"SELECT article, summary FROM {news_table}"
    in_query = DataConfig(source="snowflake", connection="local", query=query, summary_column="abstract")
    with pytest.raises(DataError, match=r"no column 'abstract' in the result \(data\.summary_column\).*ARTICLE"):
        load_splits(in_query, seed=0)
    bad_query = DataConfig(source="snowflake", connection="local", query="SELECT nope FROM NO_SUCH_TABLE")
    with pytest.raises(DataError, match=r"data\.query failed on connection 'local'"):
        load_splits(bad_query, seed=0)
    with pytest.raises(DataError, match="not a plain"):
        load_splits(DataConfig(source="snowflake", table="x; DROP TABLE y"), seed=0)


# -- batching --------------------------------------------------------------------


def test_length_grouped_batches_cover_every_example_once_and_group_lengths() -> None:
    import random

    rng = random.Random(7)
    lengths = [rng.randint(10, 500) for _ in range(203)]
    sampler = LengthGroupedBatchSampler(lengths, 8, seed=3, mega_batch_factor=8)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 26
    assert Counter(i for batch in batches for i in batch) == Counter(range(203))
    # Within a batch, lengths are close: far less spread than random batches have.
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    plain = list(LengthGroupedBatchSampler(lengths, 8, seed=3, group_by_length=False))
    plain_spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plain) / len(plain)
    assert spread < plain_spread / 4
    # Batch order is shuffled, not sorted by length.
    firsts = [lengths[b[0]] for b in batches]
    assert firsts != sorted(firsts, reverse=True)


def test_length_grouped_sampler_is_deterministic_per_seed_and_epoch() -> None:
    lengths = list(range(100))

    def batches(seed: int, epoch: int) -> list[list[int]]:
        sampler = LengthGroupedBatchSampler(lengths, 4, seed=seed)
        sampler.use_epoch(epoch)
        return list(sampler)

    assert batches(0, 0) == batches(0, 0)
    assert batches(0, 0) != batches(0, 1)
    assert batches(0, 0) != batches(1, 0)


def test_collator_pads_dynamically_and_labels_with_minus_100(bootstrapped_artifacts: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bootstrapped_artifacts / "tokenizer"))
    pairs = [Pair("Short text.", "Short."), Pair("A somewhat longer article text. " * 5, "A longer summary, here.")]
    features = tokenize_pairs(tokenizer, pairs, max_source_length=16, max_target_length=6)
    assert [len(f["input_ids"]) for f in features][1] == 16  # truncated
    assert tokenizer.decode(features[0]["input_ids"]).startswith("summarize:")
    features = [{**f, "example_index": i} for i, f in enumerate(features)]
    batch = Seq2SeqCollator(tokenizer)(features)
    assert batch["input_ids"].shape == (2, 16)  # the longest in the batch, not 512
    assert batch["labels"].shape[1] == max(len(f["labels"]) for f in features)
    short = len(features[0]["labels"])
    assert (batch["labels"][0, short:] == LABEL_PAD_ID).all()
    assert batch["labels"][0, short - 1].item() == tokenizer.eos_token_id
    assert (batch["input_ids"][0][batch["attention_mask"][0] == 0] == tokenizer.pad_token_id).all()
    assert batch["example_index"].tolist() == [0, 1]
    assert "decoder_input_ids" not in batch  # T5 shifts the labels itself
