"""Tokenized datasets and dataloaders: the `summarize: ` prefix, truncation, length-grouped dynamic padding.

`get_dataloaders(accelerator, cfg, tokenizer)` is the seam between data and the
training loop (as in Accelerate's examples). The loaders it returns are not
yet prepared; `accelerator.prepare` shards them across processes.

Batches are padded to their longest member only (no pad-to-512): the
`LengthGroupedBatchSampler` shuffles the examples, sorts them by length within
mega-batches and shuffles the resulting batches, so each batch holds examples
of similar length and little compute is spent on padding.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from training.config import TrainingConfig
from training.sources import DataError, Pair, load_splits
from udf.handler import model_input

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedTokenizerBase

LABEL_PAD_ID = -100  # ignored by the loss
INDEX_KEY = "example_index"  # position of an evaluation example in its dataset


class SummaryDataset(Dataset):
    """Tokenized (text, summary) pairs; `pairs[i]` is the raw pair behind `features[i]`."""

    def __init__(self, pairs: Sequence[Pair], features: Sequence[dict[str, Any]], *, description: str = "") -> None:
        if len(pairs) != len(features):
            raise ValueError(f"{len(pairs)} pairs but {len(features)} features")
        self.pairs = list(pairs)
        self.features = list(features)
        self.description = description  # where the pairs came from, for the model card

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.features[index]

    def lengths(self) -> list[int]:
        """Non-pad tokens of each example (source + target): what batching cost depends on."""
        return [len(f["input_ids"]) + len(f["labels"]) for f in self.features]


def tokenize_pairs(
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    *,
    max_source_length: int,
    max_target_length: int,
) -> list[dict[str, Any]]:
    """input_ids / attention_mask of the prefixed, truncated text and labels of the truncated summary."""
    sources = tokenizer(text=[model_input(pair.text) for pair in pairs], max_length=max_source_length, truncation=True)
    # Targets get the same whitespace collapsing as inputs: spiece.model would read a newline as <unk>.
    targets = tokenizer(
        text_target=[" ".join(pair.summary.split()) for pair in pairs], max_length=max_target_length, truncation=True
    )
    return [
        {
            "input_ids": sources["input_ids"][i],
            "attention_mask": sources["attention_mask"][i],
            "labels": targets["input_ids"][i],
        }
        for i in range(len(pairs))
    ]


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of indices of similar length, in a seeded random order that depends on the epoch.

    Per epoch: shuffle all indices, cut them into mega-batches of
    `batch_size * mega_batch_factor`, sort each mega-batch by length (longest
    first), cut it into batches, and shuffle the batches. Every index appears
    exactly once per epoch. With `group_by_length=False` it is a plain seeded
    shuffle, so either way the order of an epoch is reproducible on resume.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        seed: int,
        mega_batch_factor: int = 16,
        group_by_length: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size  # read by accelerate when it shards the sampler
        self.seed = seed
        self.mega_batch_factor = mega_batch_factor
        self.group_by_length = group_by_length
        self.epoch = 0

    def use_epoch(self, epoch: int) -> None:
        # Not named set_epoch on purpose: accelerate's DataLoaderShard calls
        # set_epoch(<its own iteration count>) on every __iter__, and that count
        # restarts at 0 in a resumed process. The training loop owns the epoch.
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        if not self.group_by_length:
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        mega = self.batch_size * self.mega_batch_factor
        batches: list[list[int]] = []
        for start in range(0, len(order), mega):
            group = sorted(order[start : start + mega], key=lambda i: self.lengths[i], reverse=True)
            batches.extend(group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size))
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


class Seq2SeqCollator:
    """DataCollatorForSeq2Seq (dynamic padding, labels padded with -100), passing `example_index` through."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, *, pad_to_multiple_of: int | None = None) -> None:
        from transformers import DataCollatorForSeq2Seq

        # No model given: T5 shifts the labels right into decoder inputs itself.
        self.collate = DataCollatorForSeq2Seq(
            tokenizer, label_pad_token_id=LABEL_PAD_ID, pad_to_multiple_of=pad_to_multiple_of
        )

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        indices = [feature[INDEX_KEY] for feature in features if INDEX_KEY in feature]
        batch = self.collate([{k: v for k, v in feature.items() if k != INDEX_KEY} for feature in features])
        if indices:
            batch[INDEX_KEY] = torch.tensor(indices)
        return batch


def sample(pairs: list[Pair], limit: int | None, seed: int) -> list[Pair]:
    """At most `limit` pairs, a seeded sample (file order is often grouped by topic), in original order."""
    if limit is None or limit >= len(pairs):
        return pairs
    keep = sorted(random.Random(seed).sample(range(len(pairs)), limit))
    return [pairs[i] for i in keep]


def get_dataloaders(
    accelerator: Accelerator, cfg: TrainingConfig, tokenizer: PreTrainedTokenizerBase
) -> tuple[DataLoader, DataLoader]:
    """(train, eval) dataloaders; `eval_dl.dataset.pairs` holds the raw evaluation pairs."""
    splits = load_splits(cfg.data, seed=cfg.train.seed)
    train_pairs = sample(splits.train, cfg.data.max_train_examples, cfg.train.seed)
    eval_pairs = sample(splits.validation, cfg.eval.max_examples, cfg.train.seed)
    if not train_pairs:
        raise DataError(f"no training pairs ({splits.description})")
    if not eval_pairs:
        raise DataError(f"no validation pairs ({splits.description})")
    lengths = {"max_source_length": cfg.data.max_source_length, "max_target_length": cfg.data.max_target_length}

    train_set = SummaryDataset(
        train_pairs, tokenize_pairs(tokenizer, train_pairs, **lengths), description=splits.description
    )
    # Evaluation in order of length: generation pads less; example_index maps results back.
    eval_features = tokenize_pairs(tokenizer, eval_pairs, **lengths)
    order = sorted(range(len(eval_pairs)), key=lambda i: len(eval_features[i]["input_ids"]))
    eval_set = SummaryDataset(
        [eval_pairs[i] for i in order],
        [{**eval_features[i], INDEX_KEY: position} for position, i in enumerate(order)],
        description=splits.description,
    )

    # Tensor cores want multiples of 8 under mixed precision; on CPU it only adds padding.
    collator = Seq2SeqCollator(tokenizer, pad_to_multiple_of=8 if accelerator.mixed_precision != "no" else None)
    sampler = LengthGroupedBatchSampler(
        train_set.lengths(),
        cfg.train.batch_size,
        seed=cfg.train.seed,
        mega_batch_factor=cfg.train.mega_batch_factor,
        group_by_length=cfg.train.group_by_length,
    )
    # Own generators: a DataLoader draws a worker seed each time it is iterated, from
    # the global RNG otherwise, which would shift dropout after a resume or an eval.
    train_dl = DataLoader(
        train_set,
        batch_sampler=sampler,
        collate_fn=collator,
        num_workers=cfg.train.num_workers,
        generator=torch.Generator().manual_seed(cfg.train.seed),
    )
    eval_dl = DataLoader(
        eval_set,
        batch_size=cfg.eval.batch_size,
        shuffle=False,
        collate_fn=collator,
        generator=torch.Generator().manual_seed(cfg.train.seed),
    )
    accelerator.print(
        f"data: {splits.description}; using {len(train_set)} train / {len(eval_set)} eval pairs"
        + (f" ({splits.skipped_empty} empty rows skipped)" if splits.skipped_empty else "")
    )
    return train_dl, eval_dl
