"""Teacher fine-tuning on GLUE (plain PyTorch loop on ``accelerate``), and the direct baseline's loop.

``finetune`` trains a sequence classifier and writes, under ``output_dir``: the model and tokenizer
(safetensors), ``eval_results.json`` (dev metrics), ``train_results.json`` (time and loss per epoch)
and, with ``do_predict``, GLUE submission files (``SST-2.tsv``...). It shares data preparation
(``glue_tasks.prepare``), the optimizer rule (``bert_ofa.training.optim``) and the label loss
(``bert_ofa.training.distill.label_loss``) with OFA training. Runs on one CPU as is, on several GPUs
with ``accelerate launch``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from bert_ofa.training.distill import logit_loss
from bert_ofa.training.optim import make_optimizer
from bert_ofa.training.runtime import make_accelerator

from .data import GlueUnavailableError, load_glue, tokenize_glue
from .prepare import (MODEL_INPUTS, GlueDataArguments, PreparedData, _positive, evaluate_loaders, make_collator,
                      predict, prepare_glue, task_loss, write_submission)
from .tasks import TaskInfo, get_task

logger = logging.getLogger(__name__)


@dataclass
class FinetuneArguments:
    """Model, optimisation and output settings for ``finetune``."""

    model_name_or_path: str = field(metadata={"help": "Checkpoint directory or hub id"})
    output_dir: str = field(metadata={"help": "Where the model, results and predictions go"})
    learning_rate: float = 2e-5
    num_train_epochs: float = 3.0
    per_device_train_batch_size: int = 32
    per_device_eval_batch_size: int = 64
    seed: int = 42
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    mixed_precision: str = field(default="no", metadata={"choices": ["no", "fp16", "bf16"]})
    logging_steps: int = 50
    do_predict: bool = field(default=False, metadata={"help": "Write test predictions (GLUE submission files)"})
    overwrite_output_dir: bool = False
    ignore_mismatched_sizes: bool = field(default=False,
                                          metadata={"help": "Replace a classifier head of another size"})

    def __post_init__(self) -> None:
        self.model_name_or_path, self.output_dir = os.fspath(self.model_name_or_path), os.fspath(self.output_dir)
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        _positive(self, "learning_rate", "num_train_epochs", "per_device_train_batch_size",
                  "per_device_eval_batch_size", "gradient_accumulation_steps", "logging_steps")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ValueError("weight_decay and max_grad_norm must be >= 0")


def _head_kwargs(task: TaskInfo) -> dict:
    kwargs = {"num_labels": task.num_labels, "problem_type": task.problem_type}
    if not task.is_regression:
        kwargs |= {"id2label": task.id2label, "label2id": task.label2id}
    return kwargs


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def finetune(args: FinetuneArguments, data_args: GlueDataArguments) -> dict:
    """Fine-tune ``args.model_name_or_path`` on a GLUE task; return train and dev metrics."""
    from accelerate.utils import set_seed
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = get_task(data_args.task_name)
    out = Path(args.output_dir)
    if out.is_dir() and any(out.iterdir()) and not args.overwrite_output_dir:
        raise FileExistsError(f"{out} is not empty; pass overwrite_output_dir to write over it")
    accelerator = make_accelerator(mixed_precision=args.mixed_precision,
                                   gradient_accumulation_steps=args.gradient_accumulation_steps)
    main = accelerator.is_main_process
    set_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model_name_or_path, ignore_mismatched_sizes=args.ignore_mismatched_sizes, **_head_kwargs(task))
    prepared = prepare_glue(task, tokenizer, data_args, args.seed, test_splits=args.do_predict,
                            eval_batch_size=args.per_device_eval_batch_size,
                            pad_to_multiple_of=8 if args.mixed_precision != "no" else None,
                            tokenize_context=accelerator.main_process_first())
    model, results, loaders = train_classifier(model, prepared, args, accelerator)

    predictions = {}
    if args.do_predict:
        for s in task.test_splits:
            logits, _, idx = predict(model, loaders[s], accelerator.gather_for_metrics)
            predictions[s] = (logits, idx)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        accelerator.unwrap_model(model).save_pretrained(out)
        tokenizer.save_pretrained(out)
        _write_json(out / "eval_results.json", {k: v for k, v in results.items() if k.startswith("eval_")})
        _write_json(out / "train_results.json", {k: v for k, v in results.items() if not k.startswith("eval_")})
        _write_json(out / "finetune_args.json", {**asdict(args), **asdict(data_args)})
        for s, (logits, idx) in predictions.items():
            write_submission(task, s, logits, idx, out)
    if main and args.do_predict and task.hub_name == "mnli":
        _predict_ax(accelerator.unwrap_model(model), tokenizer, data_args, args, out)
    accelerator.wait_for_everyone()
    return results


def train_classifier(model: torch.nn.Module, prepared: PreparedData, args: FinetuneArguments, accelerator=None,
                     teacher: torch.nn.Module | None = None, train_rows=None) -> tuple[torch.nn.Module, dict, dict]:
    """The fine-tuning loop shared by the teacher fine-tune and the direct baseline.

    Args:
        model: the classifier to train (in memory).
        prepared: ``prepare_glue``'s data; its ``train`` rows unless ``train_rows`` is given.
        args: optimisation settings (learning rate, epochs, batch, warm-up, weight decay, clipping).
        accelerator: an ``accelerate.Accelerator`` (default: ``make_accelerator``).
        teacher: adds OFA's logit loss at temperature 1 against this model's logits (a frozen copy).
        train_rows: other training rows (e.g. with teacher-only copies labelled ``UNLABELED``).
    Returns:
        ``(prepared model, results, loaders)``: results hold the last epoch's dev metrics and the
        training history; loaders are the prepared evaluation loaders by split.
    """
    from transformers import get_linear_schedule_with_warmup

    task = prepared.task
    accelerator = accelerator or make_accelerator(mixed_precision=args.mixed_precision,
                                                  gradient_accumulation_steps=args.gradient_accumulation_steps)
    main = accelerator.is_main_process
    train_data = prepared.train if train_rows is None else train_rows
    # shuffled by the global generator, which the caller seeds (``set_seed``) before building the model
    train_loader = DataLoader(train_data, shuffle=True, collate_fn=prepared.collator,
                              batch_size=args.per_device_train_batch_size)
    optimizer = make_optimizer(model, args.learning_rate, args.weight_decay)
    names = list(prepared.loaders)
    model, prepared_opt, train_loader, *eval_loaders = accelerator.prepare(
        model, optimizer, train_loader, *prepared.loaders.values())
    loaders = dict(zip(names, eval_loaders))
    dev_loaders = {s: loaders[s] for s in task.eval_splits}
    if teacher is not None:
        teacher = teacher.to(accelerator.device).eval()

    steps_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
    total_steps = math.ceil(args.num_train_epochs * steps_per_epoch)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(args.warmup_ratio * total_steps),
                                                total_steps)
    if main:
        logger.info("Fine-tuning on %s: %d rows, %d optimizer steps", task.name, len(train_data), total_steps)
    bar = tqdm(total=total_steps, desc=f"finetune {task.name}", disable=not accelerator.is_local_main_process)
    step, history, eval_results, log_losses = 0, [], {}, []
    start = time.perf_counter()
    for epoch in range(math.ceil(args.num_train_epochs)):
        model.train()
        epoch_start, epoch_losses = time.perf_counter(), []
        if hasattr(train_data, "set_epoch"):  # SwappedPairs, DistillAugmented: this epoch's orders and copies
            train_data.set_epoch(epoch)
        for batch in train_loader:
            with accelerator.accumulate(model):
                inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch}
                logits = model(**inputs).logits
                loss = task_loss(task, logits, batch["labels"])
                if teacher is not None:
                    with torch.no_grad():
                        target = teacher(**inputs).logits
                    loss = loss + logit_loss(logits, target, 1.0, task.is_regression)
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                prepared_opt.step()
                if accelerator.sync_gradients and not accelerator.optimizer_step_was_skipped:
                    scheduler.step()
                prepared_opt.zero_grad()
            epoch_losses.append(loss.item())
            log_losses.append(epoch_losses[-1])
            if accelerator.sync_gradients:
                step += 1
                bar.update(1)
                if main and step % args.logging_steps == 0:
                    logger.info("step %d: loss %.4f, lr %.3g", step, np.mean(log_losses),
                                scheduler.get_last_lr()[0])
                    log_losses = []
                if step >= total_steps:
                    break
        train_time = time.perf_counter() - epoch_start
        eval_results = evaluate_loaders(model, task, dev_loaders, accelerator.gather_for_metrics)
        history.append({"epoch": epoch + 1, "train_time_s": train_time,
                        "train_loss": float(np.mean(epoch_losses)), **eval_results})
        if main:
            logger.info("epoch %d (%.1fs): %s", epoch + 1, train_time, eval_results)
    bar.close()
    accelerator.wait_for_everyone()
    results = {**eval_results, "train_runtime_s": time.perf_counter() - start,
               "train_samples": prepared.training_examples, "train_steps": step,
               "train_loss": float(np.mean([h["train_loss"] for h in history])),
               "epoch_train_time_s": [h["train_time_s"] for h in history], "history": history}
    return model, results, loaders


def _predict_ax(model, tokenizer, data_args: GlueDataArguments, args: FinetuneArguments, out: Path) -> None:
    """AX (the diagnostic set) is predicted with the MNLI model for a GLUE submission."""
    ax = get_task("ax")
    try:
        raw = load_glue(ax, data_args.glue_dir, splits=ax.test_splits)
    except (FileNotFoundError, GlueUnavailableError) as e:
        logger.warning("No AX predictions: %s", e)
        return
    data = tokenize_glue(raw["test"], tokenizer, ax, data_args.max_seq_length)
    loader = DataLoader(data, batch_size=args.per_device_eval_batch_size, collate_fn=make_collator(tokenizer))
    logits, _, idx = predict(model, loader)
    write_submission(ax, "test", logits, idx, out)
