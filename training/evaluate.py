"""Evaluation: greedy generation on the validation split, ROUGE-1/2/L/Lsum, and the Lead-3 reference.

ROUGE is rouge-score's (Porter stemmer), F-measure averaged over examples and
scaled to 0-100. rougeLsum splits on newlines, so texts get one sentence per
line first (`postprocess_text`). Sentences are split by a regular expression
rather than nltk's punkt, whose data is a separate download that offline
machines lack; on news text the two agree closely, and the same splitter
serves predictions, references and Lead-3 alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from training.data import INDEX_KEY

if TYPE_CHECKING:
    from accelerate import Accelerator
    from torch.utils.data import DataLoader
    from transformers import PreTrainedTokenizerBase

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) and whitespace.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)\]])\s+")


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, float]
    # One generated summary per evaluation example, in dataset order.
    predictions: list[str]


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` (paragraph breaks are sentence breaks too)."""
    return [
        sentence.strip()
        for paragraph in text.splitlines()
        for sentence in _SENTENCE_BREAK.split(paragraph.strip())
        if sentence.strip()
    ]


def postprocess_text(texts: Sequence[str]) -> list[str]:
    """One sentence per line, as rougeLsum expects."""
    return ["\n".join(split_sentences(text)) for text in texts]


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE F-measures (0-100, two decimals) of `predictions` against `references`."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        return dict.fromkeys(ROUGE_KEYS, 0.0)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_KEYS, 0.0)
    for prediction, reference in zip(postprocess_text(predictions), postprocess_text(references), strict=True):
        for key, score in scorer.score(reference, prediction).items():
            totals[key] += score.fmeasure
    return {key: round(100 * total / len(predictions), 2) for key, total in totals.items()}


def lead(text: str, sentences: int = 3) -> str:
    """The first `sentences` sentences of `text`: the classic news-summarization baseline."""
    return " ".join(split_sentences(text)[:sentences])


def lead3_scores(texts: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    return rouge([lead(text) for text in texts], references)


def evaluate(
    accelerator: Accelerator,
    model: torch.nn.Module,
    eval_dl: DataLoader,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_new_tokens: int,
    references: Sequence[str],
    no_repeat_ngram_size: int = 0,
) -> Evaluation:
    """Greedy summaries (as the UDF makes them) of every example of `eval_dl`, all processes, and their ROUGE.

    `references[i]` is the full (untruncated) summary of the example whose
    `example_index` is i.
    """
    was_training = model.training
    model.eval()
    generator = accelerator.unwrap_model(model)
    predictions: dict[int, str] = {}
    for batch in tqdm(eval_dl, desc="eval", leave=False, disable=not accelerator.is_local_main_process):
        with torch.no_grad(), accelerator.autocast():
            generated = generator.generate(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                max_new_tokens=max_new_tokens,
                num_beams=1,
                do_sample=False,
                no_repeat_ngram_size=no_repeat_ngram_size,
            )
        # Processes generate different lengths; pad before gathering, and let
        # gather_for_metrics drop the duplicates that even batches added.
        generated = accelerator.pad_across_processes(generated, dim=1, pad_index=tokenizer.pad_token_id)
        generated, indices = accelerator.gather_for_metrics((generated, batch[INDEX_KEY]))
        texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
        predictions.update(zip(indices.tolist(), (text.strip() for text in texts), strict=True))
    if was_training:
        model.train()
    ordered = [predictions[i] for i in range(len(references))]
    return Evaluation(rouge(ordered, references), ordered)
