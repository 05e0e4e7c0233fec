"""Training throughput: our batching (dynamic padding, length-grouped) against pad-to-max batching.

Baseline: the seed project's approach, every batch padded to 512 source and
150 target tokens. Both arms use the same tiny bootstrap T5 (same initial
weights), the same bundled training pairs truncated to the same 512/150
tokens, the same batch size and the same plain AdamW loop in one process; only
the batching differs. The arms alternate in rounds, so a change in machine
load hits both alike. Throughput counts non-pad tokens (source + target)
trained per second; the first step of each arm is a warm-up and not timed.

    python bench/train_throughput.py [--steps 24] [--batch-size 8]

Prints both and, last, `ratio: X` (ours / pad-to-max).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from training.base_model import load_base
from training.config import ModelConfig
from training.corpus import load_split
from training.data import LABEL_PAD_ID, LengthGroupedBatchSampler, Seq2SeqCollator, tokenize_pairs
from training.sources import Pair

ROOT = Path(__file__).resolve().parents[1]

SOURCE_TOKENS, TARGET_TOKENS = 512, 150  # the seed's padding lengths


def pad_to_max_batches(tokenizer, features: list[dict], batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
    """The seed's way: shuffled batches, every one padded to 512 / 150 tokens."""
    order = torch.randperm(len(features), generator=torch.Generator().manual_seed(0)).tolist()
    for start in range(0, len(order) - batch_size + 1, batch_size):
        chunk = [features[i] for i in order[start : start + batch_size]]
        sources = tokenizer.pad(
            [{"input_ids": f["input_ids"]} for f in chunk], padding="max_length", max_length=SOURCE_TOKENS
        )
        labels = torch.full((len(chunk), TARGET_TOKENS), LABEL_PAD_ID)
        for row, feature in enumerate(chunk):
            labels[row, : len(feature["labels"])] = torch.tensor(feature["labels"])
        yield {
            "input_ids": torch.tensor(sources["input_ids"]),
            "attention_mask": torch.tensor(sources["attention_mask"]),
            "labels": labels,
        }


def dynamic_batches(tokenizer, features: list[dict], batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
    """Ours: length-grouped batches, padded to their longest member (training.data)."""
    sampler = LengthGroupedBatchSampler([len(f["input_ids"]) + len(f["labels"]) for f in features], batch_size, seed=0)
    yield from DataLoader(features, batch_sampler=sampler, collate_fn=Seq2SeqCollator(tokenizer))


class Arm:
    def __init__(self, name: str, model: torch.nn.Module, batches: Iterator[dict[str, torch.Tensor]]) -> None:
        self.name = name
        self.model = model.train()
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        self.batches = itertools.cycle(list(batches))
        self.seconds = 0.0
        self.tokens = 0
        self.padded = 0
        self.steps = 0

    def step(self, timed: bool = True) -> None:
        batch = next(self.batches)
        started = time.perf_counter()
        loss = self.model(**batch).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        if timed:
            self.seconds += time.perf_counter() - started
            self.tokens += int(batch["attention_mask"].sum() + (batch["labels"] != LABEL_PAD_ID).sum())
            self.padded += batch["input_ids"].numel() + batch["labels"].numel()
            self.steps += 1

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    def report(self) -> str:
        return (
            f"{self.name:>26}: {self.tokens_per_second:8,.0f} non-pad tokens/s  ({self.steps} steps,"
            f" {self.seconds:5.1f} s, {self.tokens / self.steps:6,.0f} real of {self.padded / self.steps:6,.0f}"
            " tokens per batch)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=24, help="timed steps per arm (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--round", type=int, default=4, help="steps per arm before switching (default %(default)s)")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "artifacts", help="bootstrap cache root")
    args = parser.parse_args()

    torch.manual_seed(0)
    base = load_base(ModelConfig(), args.artifacts / "cache")  # the tiny bootstrap T5, built offline once
    rows = load_split("train")
    pairs = [Pair(row["article"], row["summary"]) for row in rows]
    features = tokenize_pairs(base.tokenizer, pairs, max_source_length=SOURCE_TOKENS, max_target_length=TARGET_TOKENS)
    ours = Arm("dynamic, length-grouped", base.model, dynamic_batches(base.tokenizer, features, args.batch_size))
    seed = Arm(
        f"pad to {SOURCE_TOKENS}/{TARGET_TOKENS} (seed)",
        copy.deepcopy(base.model),
        pad_to_max_batches(base.tokenizer, features, args.batch_size),
    )
    print(
        f"tiny bootstrap T5, {sum(p.numel() for p in base.model.parameters()):,} parameters;"
        f" batch {args.batch_size}; {torch.get_num_threads()} threads; {args.steps} timed steps per arm"
    )
    for arm in (ours, seed):
        arm.step(timed=False)
    while ours.steps < args.steps or seed.steps < args.steps:
        for arm in (ours, seed):
            for _ in range(min(args.round, args.steps - arm.steps)):
                arm.step()
    print(ours.report())
    print(seed.report())
    print(f"ratio: {ours.tokens_per_second / seed.tokens_per_second:.2f}")


if __name__ == "__main__":
    main()
