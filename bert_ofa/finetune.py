"""Teacher fine-tuning and evaluation on GLUE (plain PyTorch loop on ``accelerate``).

``finetune`` trains a sequence classifier and writes, under ``output_dir``: the model and
tokenizer (safetensors), ``eval_results.json`` (dev metrics, HF ``run_glue`` names:
``eval_accuracy``; MNLI's mismatched dev gets a ``_mm`` suffix), ``train_results.json``
(time and loss per epoch) and, with ``do_predict``, GLUE submission files (``SST-2.tsv``...).
``evaluate_model`` scores any checkpoint or in-memory module whose forward takes
``input_ids`` / ``attention_mask`` / ``token_type_ids`` and returns ``.logits``.
Runs on one CPU as is, on several GPUs with ``accelerate launch``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from glue_tasks import (GlueUnavailableError, TaskInfo, compute_metrics, get_task, load_glue,
                        predictions_to_labels, tokenize_glue)
from glue_tasks.augment import SwappedPairs, check_swappable, swap_pair_columns

from .distill import label_loss
from .runtime import make_accelerator

logger = logging.getLogger(__name__)

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")


@dataclass
class GlueDataArguments:
    """Which GLUE task and how to prepare it."""

    task_name: str = field(metadata={"help": "GLUE task: cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli"})
    glue_dir: Optional[str] = field(default=None,
                                    metadata={"help": "GLUE directory (default: $GLUE_DIR, then the hub)"})
    max_seq_length: int = field(default=128, metadata={"help": "Truncate inputs to this many tokens"})
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "Use the first N training examples"})
    max_eval_samples: Optional[int] = field(default=None,
                                            metadata={"help": "Use the first N examples of each dev split"})
    pad_to_max_length: bool = field(default=False, metadata={"help": "Pad to max_seq_length instead of per batch"})
    swap_pairs: float = field(default=0.0, metadata={
        "help": "Chance that a training pair is shown with its sentences swapped, re-drawn each epoch "
                "(MRPC, STS-B, QQP only: their labels ignore the order); 0: off"})

    def __post_init__(self) -> None:
        task = get_task(self.task_name)  # ValueError listing the valid names
        if not task.eval_splits:
            raise ValueError(f"{task.name} has no training or dev data: predict it with an MNLI model")
        self.task_name = task.hub_name
        if not 0.0 <= self.swap_pairs <= 1.0:
            raise ValueError(f"swap_pairs is a probability in [0, 1], got {self.swap_pairs}")
        if self.swap_pairs:
            check_swappable(task)
        self.glue_dir = os.fspath(self.glue_dir) if self.glue_dir else None
        _positive(self, "max_seq_length", "max_train_samples", "max_eval_samples")


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


def task_loss(task: TaskInfo, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy, or MSE for STS-B, computed in float32."""
    return label_loss(logits, labels, task.is_regression)


def make_collator(tokenizer, pad_to_max_length: bool = False, max_seq_length: int = 128,
                  pad_to_multiple_of: int | None = None):
    """Dynamic padding (``DataCollatorWithPadding``); renames ``label`` to ``labels``."""
    from transformers import DataCollatorWithPadding

    if pad_to_max_length:
        return DataCollatorWithPadding(tokenizer, padding="max_length", max_length=max_seq_length)
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


@torch.no_grad()
def predict(model: torch.nn.Module, loader, gather: Callable | None = None):
    """Run ``model`` over ``loader``; return (logits, labels, idx) as numpy arrays in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outs: list[tuple] = []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(**{k: batch[k] for k in MODEL_INPUTS if k in batch}).logits.float()
        labels, idx = batch["labels"], batch["idx"]
        if gather is not None:
            logits, labels, idx = gather((logits, labels, idx))
        outs.append(tuple(t.cpu().numpy() for t in (logits, labels, idx)))
    model.train(was_training)
    if not outs:
        return np.zeros((0, 0), np.float32), np.zeros(0), np.zeros(0, np.int64)
    return tuple(np.concatenate(parts) for parts in zip(*outs))


def _eval_key(split: str, name: str) -> str:
    return f"eval_{name}" + ("_mm" if split == "validation_mismatched" else "")


def evaluate_loaders(model: torch.nn.Module, task: TaskInfo, loaders: dict, gather=None) -> dict:
    """Metrics, loss and sample count for each dev split, keyed like ``eval_accuracy``."""
    results: dict[str, float] = {}
    for split, loader in loaders.items():
        logits, labels, _ = predict(model, loader, gather)
        metrics = compute_metrics(task, logits, labels)
        metrics["loss"] = float(task_loss(task, torch.from_numpy(logits), torch.from_numpy(labels)))
        metrics["samples"] = len(labels)
        if not task.is_regression and len(labels):  # 1.0: a collapsed model that predicts one class for all
            metrics["top_class_share"] = float(np.bincount(logits.argmax(-1)).max() / len(labels))
        results.update({_eval_key(split, k): v for k, v in metrics.items()})
    return results


def write_submission(task: TaskInfo, split: str, predictions, idx, output_dir: str | os.PathLike) -> Path:
    """Write ``index<TAB>prediction`` in GLUE submission format (label names / 3-decimal scores)."""
    path = Path(output_dir) / task.submission_files[task.test_splits.index(split)]
    preds = predictions_to_labels(task, predictions)
    rows = sorted(zip(np.asarray(idx).tolist(), preds.tolist()))
    fmt = (lambda p: f"{p:.3f}") if task.is_regression else (lambda p: task.label_names[p])
    path.write_text("index\tprediction\n" + "".join(f"{i}\t{fmt(p)}\n" for i, p in rows))
    return path


def _head_kwargs(task: TaskInfo) -> dict:
    kwargs = {"num_labels": task.num_labels, "problem_type": task.problem_type}
    if not task.is_regression:
        kwargs |= {"id2label": task.id2label, "label2id": task.label2id}
    return kwargs


def _first(dataset, n: int | None):
    return dataset.select(range(min(n, len(dataset)))) if n else dataset


def cap_samples(raw, task: TaskInfo, data_args: GlueDataArguments):
    """``raw`` with its training and dev splits cut to ``max_train_samples`` / ``max_eval_samples``
    (the first rows, so every script that takes the same arguments sees the same rows)."""
    raw["train"] = _first(raw["train"], data_args.max_train_samples)
    for s in task.eval_splits:
        raw[s] = _first(raw[s], data_args.max_eval_samples)
    return raw


def training_rows(raw_train, train, tokenizer, data_args: GlueDataArguments, seed: int,
                  columns: list[str] | None = None, drop: set[int] | frozenset = frozenset()):
    """The training rows a model sees: ``train`` (tokenized ``raw_train``) cut to ``columns``
    without the rows in ``drop``; with ``data_args.swap_pairs``, a ``SwappedPairs`` view whose
    sentence order is re-drawn each epoch (call its ``set_epoch``)."""
    def cut(ds):
        ds = ds.select_columns(columns) if columns else ds
        return ds.select([i for i in range(len(ds)) if i not in drop]) if drop else ds

    if not data_args.swap_pairs:
        return cut(train)
    task = get_task(data_args.task_name)
    swapped = tokenize_glue(swap_pair_columns(raw_train, task), tokenizer, task, data_args.max_seq_length)
    return SwappedPairs(cut(train), cut(swapped), data_args.swap_pairs, seed)


def evaluate_model(model_or_path: str | os.PathLike | torch.nn.Module, task: str | TaskInfo,
                   glue_dir: str | None = None, max_seq_length: int = 128, batch_size: int = 64,
                   max_eval_samples: int | None = None, tokenizer=None, device: str | None = None) -> dict:
    """Score a checkpoint path, or an in-memory model plus ``tokenizer``, on the dev split(s)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = get_task(task)
    if not task.eval_splits:
        raise ValueError(f"{task.name} has no labeled dev split")
    if isinstance(model_or_path, (str, os.PathLike)):
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_or_path)
        model = AutoModelForSequenceClassification.from_pretrained(model_or_path)
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    else:
        if tokenizer is None:
            raise ValueError("evaluate_model needs a tokenizer with an in-memory model")
        model = model_or_path.to(device) if device else model_or_path
    raw = load_glue(task, glue_dir, splits=task.eval_splits)
    for s in task.eval_splits:
        raw[s] = _first(raw[s], max_eval_samples)
    data = tokenize_glue(raw, tokenizer, task, max_seq_length)
    collator = make_collator(tokenizer)
    loaders = {s: DataLoader(data[s], batch_size=batch_size, collate_fn=collator) for s in task.eval_splits}
    return evaluate_loaders(model, task, loaders)


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]  # biases, norms
    return torch.optim.AdamW(groups, lr=lr)


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def finetune(args: FinetuneArguments, data_args: GlueDataArguments) -> dict:
    """Fine-tune ``args.model_name_or_path`` on a GLUE task; return train and dev metrics."""
    from accelerate.utils import set_seed
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                              get_linear_schedule_with_warmup)

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
    splits = [task.train_split, *task.eval_splits, *(task.test_splits if args.do_predict else ())]
    raw = cap_samples(load_glue(task, data_args.glue_dir, splits=splits), task, data_args)
    with accelerator.main_process_first():
        data = tokenize_glue(raw, tokenizer, task, data_args.max_seq_length)
    collator = make_collator(tokenizer, data_args.pad_to_max_length, data_args.max_seq_length,
                             8 if args.mixed_precision != "no" else None)
    train_data = training_rows(raw["train"], data["train"], tokenizer, data_args, args.seed)
    train_loader = DataLoader(train_data, shuffle=True, collate_fn=collator,
                              batch_size=args.per_device_train_batch_size)
    eval_names = [s for s in splits if s != "train"]
    eval_loaders = [DataLoader(data[s], batch_size=args.per_device_eval_batch_size, collate_fn=collator)
                    for s in eval_names]
    optimizer = _optimizer(model, args.learning_rate, args.weight_decay)
    model, prepared_opt, train_loader, *eval_loaders = accelerator.prepare(
        model, optimizer, train_loader, *eval_loaders)
    loaders = dict(zip(eval_names, eval_loaders))
    dev_loaders = {s: loaders[s] for s in task.eval_splits}

    steps_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
    total_steps = math.ceil(args.num_train_epochs * steps_per_epoch)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(args.warmup_ratio * total_steps),
                                                total_steps)
    if main:
        logger.info("Fine-tuning %s on %s: %d examples, %d optimizer steps", args.model_name_or_path,
                    task.name, len(data["train"]), total_steps)
    bar = tqdm(total=total_steps, desc=f"finetune {task.name}", disable=not accelerator.is_local_main_process)
    step, history, eval_results, log_losses = 0, [], {}, []
    start = time.perf_counter()
    for epoch in range(math.ceil(args.num_train_epochs)):
        model.train()
        epoch_start, epoch_losses = time.perf_counter(), []
        if hasattr(train_data, "set_epoch"):  # SwappedPairs: this epoch's sentence orders
            train_data.set_epoch(epoch)
        for batch in train_loader:
            with accelerator.accumulate(model):
                logits = model(**{k: batch[k] for k in MODEL_INPUTS if k in batch}).logits
                loss = task_loss(task, logits, batch["labels"])
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
    train_results = {"train_runtime_s": time.perf_counter() - start, "train_samples": len(data["train"]),
                     "train_steps": step, "train_loss": float(np.mean([h["train_loss"] for h in history])),
                     "epoch_train_time_s": [h["train_time_s"] for h in history], "history": history}

    accelerator.wait_for_everyone()
    predictions = {}
    if args.do_predict:
        for s in task.test_splits:
            logits, _, idx = predict(model, loaders[s], accelerator.gather_for_metrics)
            predictions[s] = (logits, idx)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        accelerator.unwrap_model(model).save_pretrained(out)
        tokenizer.save_pretrained(out)
        _write_json(out / "eval_results.json", eval_results)
        _write_json(out / "train_results.json", train_results)
        _write_json(out / "finetune_args.json", {**asdict(args), **asdict(data_args)})
        for s, (logits, idx) in predictions.items():
            write_submission(task, s, logits, idx, out)
    if main and args.do_predict and task.hub_name == "mnli":
        _predict_ax(accelerator.unwrap_model(model), tokenizer, data_args, args, out)
    accelerator.wait_for_everyone()
    return {**eval_results, **train_results}


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
