"""The training loop: Accelerate's example shape, the classic seq2seq recipe, one artifact folder per run.

`training_function(cfg, options)` does the work; `training/__main__.py` only
parses argv. It reads top to bottom: accelerator -> run folder -> base model ->
data -> optimizer and schedule -> `prepare` -> (resume) -> train -> evaluate ->
save. Distribution shows only at `accelerator.*` calls, so the same code runs
on this CPU, one GPU, or many under `accelerate launch`.

Counting: `step` is optimizer steps, advanced when `accelerator.sync_gradients`
says the optimizer really stepped (micro-batches / gradient accumulation).
`train.max_steps` is the length of the schedule; `--max-steps` and
`--max-minutes` are budgets that stop a run early (checkpoint and artifacts
still written) without changing the schedule, so `--resume` continues exactly
as the uninterrupted run would have.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from training.base_model import load_base
from training.checkpoints import Position, checkpoint_dir, latest_checkpoint, prune, read_position, write_position
from training.config import AUTO, RunOptions, TrainingConfig
from training.data import LABEL_PAD_ID, get_dataloaders
from training.evaluate import Evaluation, evaluate
from training.report import build_metrics
from training.run_artifacts import (
    RUNS,
    ArtifactError,
    find_latest_run,
    new_run_id,
    update_latest,
    write_run_folder,
)

NO_DECAY = ("bias", "layer_norm.weight", "LayerNorm.weight")


@dataclass(frozen=True)
class RunPlan:
    run_dir: Path
    resume_from: Path | None


@dataclass
class TrainState:
    """Counters and curves of a run, carried across resumes in `position.json`."""

    started: float  # perf_counter() when this process started
    step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    tokens: int = 0
    train_seconds: float = 0.0
    wall_before: float = 0.0  # wall time of the processes before a resume
    loss_history: list[dict[str, Any]] = field(default_factory=list)
    eval_history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def resume(cls, position: Position, started: float) -> TrainState:
        return cls(
            started=started,
            step=position.step,
            epoch=position.epoch,
            batches_in_epoch=position.batches_in_epoch,
            tokens=position.tokens,
            train_seconds=position.train_seconds,
            wall_before=position.wall_seconds,
            loss_history=list(position.loss_history),
            eval_history=list(position.eval_history),
        )

    def position(self, batches_per_epoch: int) -> Position:
        done = self.batches_in_epoch >= batches_per_epoch  # a finished epoch resumes at the next one
        return Position(
            step=self.step,
            epoch=self.epoch + 1 if done else self.epoch,
            batches_in_epoch=0 if done else self.batches_in_epoch,
            tokens=self.tokens,
            train_seconds=self.train_seconds,
            wall_seconds=self.wall_before + time.perf_counter() - self.started,
            loss_history=self.loss_history,
            eval_history=self.eval_history,
        )


def training_function(cfg: TrainingConfig, options: RunOptions) -> Path:
    """Train as `cfg` says, write the run folder, and return it."""
    from accelerate.utils import set_seed

    started = time.perf_counter()
    accelerator = make_accelerator(cfg)
    set_seed(cfg.train.seed)
    plan = plan_run(accelerator, cfg, options)

    with accelerator.main_process_first():  # the bootstrap cache is built once
        base = load_base(cfg.model, options.artifacts / "cache")
    model, tokenizer = base.model, base.tokenizer
    train_dl, eval_dl = get_dataloaders(accelerator, cfg, tokenizer)
    sampler = train_dl.batch_sampler  # the LengthGroupedBatchSampler; prepare() keeps the object
    train_set, eval_set = train_dl.dataset, eval_dl.dataset
    optimizer, scheduler = make_optimizer(model, cfg, accelerator.num_processes)
    model, optimizer, train_dl, eval_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, eval_dl, scheduler)

    state = TrainState(started)
    if plan.resume_from:
        state = TrainState.resume(read_position(plan.resume_from), started)
        accelerator.load_state(str(plan.resume_from))
        accelerator.print(f"resumed from {plan.resume_from} (step {state.step}, epoch {state.epoch})")
    if cfg.train.report_to:
        accelerator.init_trackers(cfg.name, config=_flat(cfg.to_dict()))

    references = [pair.summary for pair in eval_set.pairs]

    def run_eval() -> Evaluation:
        began = time.perf_counter()
        result = evaluate(
            accelerator,
            model,
            eval_dl,
            tokenizer,
            max_new_tokens=cfg.eval.max_new_tokens,
            no_repeat_ngram_size=cfg.eval.no_repeat_ngram_size,
            references=references,
        )
        # A resumed run may evaluate a step again: keep one entry per step.
        state.eval_history[:] = [entry for entry in state.eval_history if entry["step"] != state.step]
        state.eval_history.append(
            {"step": state.step, **result.scores, "seconds": round(time.perf_counter() - began, 2)}
        )
        accelerator.log({f"eval/{key}": value for key, value in result.scores.items()}, step=state.step)
        say(accelerator, f"step {state.step}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.scores.items()))
        return result

    stopped_by, last_eval = train_loop(
        accelerator, cfg, options, plan, state, model, optimizer, scheduler, train_dl, sampler, run_eval
    )
    if last_eval is None:
        last_eval = run_eval()
    if latest_checkpoint(plan.run_dir) != checkpoint_dir(plan.run_dir, state.step):
        save_checkpoint(accelerator, plan.run_dir, state.position(len(train_dl)), cfg.train.keep_checkpoints)

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        metrics = build_metrics(
            accelerator,
            cfg,
            state.position(len(train_dl)),
            run_dir=plan.run_dir,
            resumed_from=plan.resume_from,
            base_description=base.description,
            stopped_by=stopped_by,
            steps_per_epoch=math.ceil(len(train_dl) / cfg.train.gradient_accumulation_steps),
            evaluation=last_eval,
            eval_set=eval_set,
            train_examples=len(train_set),
        )
        write_run_folder(
            plan.run_dir,
            model=accelerator.unwrap_model(model),
            state_dict=accelerator.get_state_dict(model),
            tokenizer=tokenizer,
            spiece_model=base.spiece_model,
            config_yaml=cfg.to_yaml(),
            metrics=metrics,
            no_repeat_ngram_size=cfg.eval.no_repeat_ngram_size,
        )
        if options.update_latest:
            update_latest(options.artifacts, plan.run_dir)
        accelerator.print(
            f"run {plan.run_dir} ({stopped_by}, step {state.step}/{cfg.train.max_steps}):"
            f" ROUGE-L {metrics['final_rouge']['rougeL']:.2f} (Lead-3 {metrics['lead3_rouge']['rougeL']:.2f}),"
            f" {metrics['tokens_per_second']:,.0f} tokens/s, {metrics['wall_seconds']:.0f} s"
        )
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return plan.run_dir


def train_loop(
    accelerator: Any,
    cfg: TrainingConfig,
    options: RunOptions,
    plan: RunPlan,
    state: TrainState,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    train_dl: Any,
    sampler: Any,
    run_eval: Callable[[], Evaluation],
) -> tuple[str, Evaluation | None]:
    """Train from `state` until max_steps or a budget; returns why it stopped and the evaluation at that step."""
    stop_at = min(cfg.train.max_steps, options.max_steps or cfg.train.max_steps)
    steps_per_epoch = math.ceil(len(train_dl) / cfg.train.gradient_accumulation_steps)
    stopped_by = stop_reason(accelerator, state, stop_at, cfg.train.max_steps, max_minutes=None)
    last_eval: Evaluation | None = None
    progress = tqdm(
        total=stop_at,
        initial=state.step,
        desc=f"train {plan.run_dir.name}",
        disable=not accelerator.is_local_main_process,
    )
    loss_sum = torch.zeros((), device=accelerator.device)
    micro_batches = 0
    window_tokens = torch.zeros((), dtype=torch.long, device=accelerator.device)
    window_started = time.perf_counter()
    model.train()
    while stopped_by is None:
        sampler.use_epoch(state.epoch)
        skip = state.batches_in_epoch
        for batch in accelerator.skip_first_batches(train_dl, skip) if skip else train_dl:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.train.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state.batches_in_epoch += 1
            loss_sum += loss.detach()
            micro_batches += 1
            window_tokens += batch["attention_mask"].sum() + (batch["labels"] != LABEL_PAD_ID).sum()
            if not accelerator.sync_gradients:
                continue

            state.step += 1
            progress.update(1)
            stopped_by = stop_reason(accelerator, state, stop_at, cfg.train.max_steps, options.max_minutes)
            if state.step % cfg.train.log_every == 0 or stopped_by:
                seconds = time.perf_counter() - window_started
                mean_loss = accelerator.reduce(loss_sum / micro_batches, "mean").item()
                tokens = int(accelerator.reduce(window_tokens, "sum").item())
                state.tokens += tokens
                state.train_seconds += seconds
                entry = {
                    "step": state.step,
                    "loss": round(mean_loss, 4),
                    "learning_rate": scheduler.get_last_lr()[0],
                    "epoch": round(state.step / steps_per_epoch, 3),
                    "tokens_per_second": round(tokens / seconds, 1),
                }
                state.loss_history.append(entry)
                logged = {"train/loss": mean_loss, "train/learning_rate": entry["learning_rate"]}
                accelerator.log(logged, step=state.step)
                progress.set_postfix(loss=f"{mean_loss:.3f}", tok_s=f"{entry['tokens_per_second']:.0f}")
                loss_sum.zero_()
                micro_batches = 0
                window_tokens.zero_()
                window_started = time.perf_counter()
            # Evaluation and checkpoints stay out of the tokens/s window.
            paused = time.perf_counter()
            if (cfg.eval.every_steps and state.step % cfg.eval.every_steps == 0) or stopped_by:
                last_eval = run_eval()
            if state.step % cfg.train.checkpoint_every == 0 or stopped_by:
                save_checkpoint(accelerator, plan.run_dir, state.position(len(train_dl)), cfg.train.keep_checkpoints)
            window_started += time.perf_counter() - paused
            if stopped_by:
                break
        else:
            state.epoch, state.batches_in_epoch = state.epoch + 1, 0
    progress.close()
    return stopped_by, last_eval


def make_accelerator(cfg: TrainingConfig) -> Any:
    from accelerate import Accelerator, PartialState
    from accelerate.utils import parse_flag_from_env
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # weight loading/saving bars; ours are enough
    # The device is known before the Accelerator exists, so that bf16/fp16 are
    # never switched on for a CPU (autocast there is 4-27x slower, notes/ml.md).
    # `accelerate launch --cpu` says so through ACCELERATE_USE_CPU, which only
    # AcceleratorState reads: pass it on, or the process state ignores it.
    device = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU")).device
    precision = cfg.train.mixed_precision if device.type != "cpu" else "no"
    accelerator = Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=cfg.train.gradient_accumulation_steps,
        log_with=list(cfg.train.report_to) or None,
    )
    if precision != cfg.train.mixed_precision:
        accelerator.print(f"note: train.mixed_precision={cfg.train.mixed_precision} ignored on {device.type}")
    return accelerator


def plan_run(accelerator: Any, cfg: TrainingConfig, options: RunOptions) -> RunPlan:
    """The run folder and the checkpoint to resume from, identical on every process."""
    from accelerate.utils import broadcast_object_list

    run_dir: Path | None = options.output
    resume_from: Path | None = None
    if options.resume == AUTO:
        run_dir = run_dir or find_latest_run(options.artifacts, cfg.name)
        resume_from = latest_checkpoint(run_dir) if run_dir else None
        if resume_from is None:
            accelerator.print("--resume auto: no checkpoint found, starting a new run")
    elif options.resume:
        resume_from = Path(options.resume)
        read_position(resume_from)  # a clear error now rather than deep inside load_state
        run_dir = run_dir or resume_from.parent.parent
    if run_dir is None:
        # One clock names the run, or processes could disagree by a second.
        chosen = [new_run_id(cfg.name) if accelerator.is_main_process else None]
        broadcast_object_list(chosen)
        run_dir = options.artifacts / RUNS / chosen[0]
    if resume_from is None and run_dir.is_dir() and any(run_dir.iterdir()):
        raise ArtifactError(f"{run_dir} already holds files: pass --resume auto to continue it, or another --output")
    # The folder itself appears with the first checkpoint: a run that fails to
    # start (no base model, bad data) leaves nothing behind.
    return RunPlan(run_dir, resume_from)


def make_optimizer(model: torch.nn.Module, cfg: TrainingConfig, num_processes: int) -> tuple[Any, Any]:
    """AdamW (no weight decay on biases and layer norms) with a linear schedule and warmup."""
    from transformers import get_linear_schedule_with_warmup

    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if any(marker in name for marker in NO_DECAY) else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": cfg.train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.train.learning_rate)
    # A prepared scheduler steps once per process per optimizer step, hence the factor.
    scheduler = get_linear_schedule_with_warmup(
        optimizer,
        num_warmup_steps=cfg.train.warmup_steps * num_processes,
        num_training_steps=cfg.train.max_steps * num_processes,
    )
    return optimizer, scheduler


def stop_reason(
    accelerator: Any, state: TrainState, stop_at: int, max_steps: int, max_minutes: float | None
) -> str | None:
    """Why to stop after this step, or None; every process gets the main process's answer."""
    if state.step >= max_steps:
        return "max_steps"
    if state.step >= stop_at:
        return "budget_steps"
    if max_minutes is None:
        return None
    from accelerate.utils import broadcast

    # Clocks differ between processes: the main process decides for all.
    over = torch.tensor(int(time.perf_counter() - state.started >= max_minutes * 60), device=accelerator.device)
    return "budget_minutes" if broadcast(over, from_process=0).item() else None


def save_checkpoint(accelerator: Any, run_dir: Path, position: Position, keep: int) -> None:
    """`accelerator.save_state` into checkpoints/step_<n>, then position.json (marks it complete), then prune."""
    folder = checkpoint_dir(run_dir, position.step)
    # T5 ties its embeddings; safetensors stores them once and accelerate warns
    # about that on every save ("should be OK"): expected, so not shown.
    notices = logging.getLogger("accelerate.utils.other")
    level = notices.level
    notices.setLevel(logging.ERROR)
    try:
        accelerator.save_state(str(folder))
    finally:
        notices.setLevel(level)
    if accelerator.is_main_process:
        write_position(folder, position)
        prune(run_dir, keep)
    accelerator.wait_for_everyone()


def say(accelerator: Any, message: str) -> None:
    """A line that does not break the progress bar, from the main process only."""
    if accelerator.is_local_main_process:
        tqdm.write(message)


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys and scalar values, as trackers' hyper-parameter tables want."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, int | float | str | bool) else str(value)
    return flat
