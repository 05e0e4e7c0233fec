"""ROUGE-1/2/L/Lsum and the Lead-3 baseline, without torch: shared by training and `deploy eval`.

ROUGE is rouge-score's (Porter stemmer), F-measure averaged over examples and
scaled to 0-100. rougeLsum splits on newlines, so texts get one sentence per
line first (`postprocess_text`). Sentences are split by a regular expression
rather than nltk's punkt, whose data is a separate download that offline
machines lack; on news text the two agree closely, and the same splitter
serves predictions, references and Lead-3 alike.

rouge-score is imported inside `rouge`, so importing this module needs only the
standard library.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) and whitespace.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)\]])\s+")


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
