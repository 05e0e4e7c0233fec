"""Evaluation: greedy generation on the validation split, scored with ROUGE-1/2/L/Lsum against Lead-3.

The scoring itself (ROUGE, sentence splitting, Lead-3) lives in the torch-free
`training.rouge`, which `deploy eval` shares; its names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from training.data import INDEX_KEY
from training.rouge import ROUGE_KEYS, lead, lead3_scores, postprocess_text, rouge, split_sentences

__all__ = [
    "ROUGE_KEYS",
    "Evaluation",
    "evaluate",
    "lead",
    "lead3_scores",
    "postprocess_text",
    "rouge",
    "split_sentences",
]

if TYPE_CHECKING:
    from accelerate import Accelerator
    from torch.utils.data import DataLoader
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, float]
    # One generated summary per evaluation example, in dataset order.
    predictions: list[str]


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
