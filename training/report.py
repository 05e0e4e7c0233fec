"""What a run reports about itself: metrics.json's content, the loss/ROUGE plot, the model card (README.md)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from training.checkpoints import Position
from training.config import TrainingConfig
from training.evaluate import Evaluation, lead3_scores
from udf.handler import MAX_INPUT_TOKENS, MAX_NEW_TOKENS, NUM_BEAMS, SOURCE_PREFIX

METRICS_FORMAT = 1
ROUGE_SHOWN = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def build_metrics(
    accelerator: Any,
    cfg: TrainingConfig,
    position: Position,
    *,
    run_dir: Path,
    resumed_from: Path | None,
    base_description: str,
    stopped_by: str,
    steps_per_epoch: int,
    evaluation: Evaluation,
    eval_set: Any,
    train_examples: int,
) -> dict[str, Any]:
    """metrics.json: curves, final and Lead-3 ROUGE on the same examples, throughput, time, device, versions."""
    pairs = eval_set.pairs
    losses = position.loss_history
    return {
        "format_version": METRICS_FORMAT,
        "run_id": run_dir.name,
        "run_dir": str(run_dir.resolve()),
        "config_name": cfg.name,
        "base_model": base_description,
        "data": eval_set.description,
        "train_examples": train_examples,
        "eval_examples": len(pairs),
        "steps": position.step,
        "max_steps": cfg.train.max_steps,
        "stopped_by": stopped_by,
        "epochs": round(position.step / steps_per_epoch, 3),
        "batch_size": cfg.train.batch_size,
        "gradient_accumulation_steps": cfg.train.gradient_accumulation_steps,
        "learning_rate": cfg.train.learning_rate,
        "max_source_length": cfg.data.max_source_length,
        "max_target_length": cfg.data.max_target_length,
        "max_new_tokens": cfg.eval.max_new_tokens,
        "no_repeat_ngram_size": cfg.eval.no_repeat_ngram_size,
        "final_loss": losses[-1]["loss"] if losses else None,
        "final_rouge": evaluation.scores,
        "lead3_rouge": lead3_scores([p.text for p in pairs], [p.summary for p in pairs]),
        "loss_history": losses,
        "eval_history": position.eval_history,
        "tokens": position.tokens,
        # Non-pad source + target tokens per second of training (evaluation and saving excluded).
        "tokens_per_second": round(position.tokens / position.train_seconds, 1) if position.train_seconds else 0.0,
        "train_seconds": round(position.train_seconds, 1),
        "wall_seconds": round(position.wall_seconds, 1),
        "resumed_from": str(resumed_from) if resumed_from else None,
        "device": describe_device(accelerator),
        "num_processes": accelerator.num_processes,
        "mixed_precision": accelerator.mixed_precision,
        "samples": [
            {"reference": pair.summary, "prediction": prediction}
            for pair, prediction in zip(pairs[:3], evaluation.predictions[:3], strict=True)
        ],
        "versions": versions(),
    }


def describe_device(accelerator: Any) -> str:
    import torch

    device = accelerator.device
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return f"{device.type} ({name}) x {accelerator.num_processes}"


def versions() -> dict[str, str]:
    import accelerate
    import tokenizers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "accelerate": accelerate.__version__,
    }


def plot_training(metrics: dict[str, Any], path: Path) -> None:
    """Training loss per logged step and evaluation ROUGE per step (Lead-3 as a dashed reference)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt

    losses = metrics["loss_history"]
    evals = metrics["eval_history"]
    figure, (loss_axes, rouge_axes) = plt.subplots(1, 2, figsize=(11, 4))
    loss_axes.plot([p["step"] for p in losses], [p["loss"] for p in losses], color="tab:blue")
    loss_axes.set(title="training loss", xlabel="optimizer step", ylabel="cross-entropy")
    loss_axes.grid(alpha=0.3)
    for key, color in zip(("rouge1", "rouge2", "rougeL"), ("tab:green", "tab:orange", "tab:purple"), strict=True):
        rouge_axes.plot([e["step"] for e in evals], [e[key] for e in evals], marker="o", color=color, label=key)
        lead = metrics.get("lead3_rouge", {}).get(key)
        if lead is not None:
            rouge_axes.axhline(lead, color=color, linestyle="--", alpha=0.6, label=f"Lead-3 {key}")
    rouge_axes.set(title="validation ROUGE (greedy)", xlabel="optimizer step", ylabel="F1 x 100")
    rouge_axes.grid(alpha=0.3)
    rouge_axes.legend(fontsize=7, ncol=2)
    figure.suptitle(f"run {metrics['run_id']} (config {metrics['config_name']})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    path.chmod(0o644)


def model_card(metrics: dict[str, Any], config_yaml: str) -> str:
    """README.md of a run: base, data, recipe, metrics against Lead-3, intended use, limits."""
    final, lead3 = metrics["final_rouge"], metrics["lead3_rouge"]
    rows = "\n".join(
        f"| {key} | {final.get(key, float('nan')):.2f} | {lead3.get(key, float('nan')):.2f} |" for key in ROUGE_SHOWN
    )
    samples = "\n\n".join(
        f"**Reference:** {_clip(sample['reference'])}\n\n**Model:** {_clip(sample['prediction']) or '(empty)'}"
        for sample in metrics.get("samples", [])[:2]
    )
    budget = f" (stopped by {metrics['stopped_by']})" if metrics["stopped_by"] != "max_steps" else ""
    return f"""# T5 news summarizer: run `{metrics["run_id"]}`

Fine-tuned from **{metrics["base_model"]}** with config `{metrics["config_name"]}`.
Deploy this folder's `model/` and `tokenizer/` (the manifests read nothing else) with
`T5_ARTIFACTS={metrics["run_dir"]} deploy apply`; a relative `T5_ARTIFACTS` is read from `manifests/`.

## Data
{metrics["data"]}.
Evaluated on {metrics["eval_examples"]} validation examples.

## Recipe
- Input: `{SOURCE_PREFIX!r}` + article, truncated to {metrics["max_source_length"]} tokens;
  target: the reference summary truncated to {metrics["max_target_length"]} tokens (labels padded with -100).
- Dynamic padding with length-grouped batches; AdamW, linear schedule with warmup; learning rate
  {metrics["learning_rate"]:g}; {_batch(metrics)}; mixed precision: {metrics["mixed_precision"]}.
- {metrics["steps"]} of {metrics["max_steps"]} optimizer steps{budget}, {metrics["epochs"]:.2f} epochs,
  {metrics["train_seconds"]:.0f} s of training ({metrics["wall_seconds"]:.0f} s wall) on {metrics["device"]};
  {metrics["tokens_per_second"]:,.0f} non-pad tokens/s.

## Metrics
Greedy decoding, at most {metrics["max_new_tokens"]} new tokens{_no_repeat(metrics)} (as served); ROUGE F1 x 100
(rouge-score, Porter stemmer; rougeLsum with one sentence per line). Lead-3 (the article's
first three sentences) on the same examples is the reference point.

| metric | this model | Lead-3 |
| --- | --- | --- |
{rows}

Final training loss: {_number(metrics["final_loss"])}. Curves: `training.png`; full history: `metrics.json`.

## Examples
{samples or "(none)"}

## Intended use
Summarizing English news text inside Snowflake through the `SUMMARIZE` UDF
(`udf/handler.py`: prefix `{SOURCE_PREFIX!r}`, input truncated to {MAX_INPUT_TOKENS} tokens,
at most {MAX_NEW_TOKENS} new tokens, {NUM_BEAMS} beam(s){_no_repeat(metrics)}).

## Limits
- Abstractive output can state things the article does not say: review before publishing.
- Trained on {metrics["train_examples"]} article/summary pairs; other domains and languages are untested.
- Only the first {metrics["max_source_length"]} tokens of an article are read; summaries stop at
  {MAX_NEW_TOKENS} tokens, shorter than most references, which caps recall-heavy scores.
- A small or randomly initialised base (the offline bootstrap) gives rough, repetitive summaries:
  compare with Lead-3 above before deploying.

## Training config
```yaml
{config_yaml.rstrip()}
```
"""


def _no_repeat(metrics: dict[str, Any]) -> str:
    size = metrics.get("no_repeat_ngram_size")
    return f", no repeated {size}-grams" if size else ""


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _batch(metrics: dict[str, Any]) -> str:
    size, accumulation, processes = (
        metrics[key] for key in ("batch_size", "gradient_accumulation_steps", "num_processes")
    )
    return (
        f"{size * accumulation * processes} examples per optimizer step ({size} per micro-batch x {accumulation}"
        f" accumulated x {processes} process{'es' if processes > 1 else ''})"
    )


def _clip(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
