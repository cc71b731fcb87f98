"""Data preparation and evaluation shared by every training loop (teacher fine-tune, OFA, direct baseline).

``prepare_glue`` loads a task's splits, caps them, tokenizes, keeps the held-out rows (for the search)
out of training and returns the training rows, a collator and the dev loaders. ``evaluate_loaders``
scores any module whose forward takes ``input_ids`` / ``attention_mask`` / ``token_type_ids`` and returns
``.logits``; metrics carry HF ``run_glue`` names (``eval_accuracy``; MNLI mismatched gets ``_mm``).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from bert_ofa.records import atomic_write_text
from bert_ofa.training.distill import label_loss

from .augment import SwappedPairs, check_swappable, swap_pair_columns
from .data import load_glue, tokenize_glue
from .metrics import compute_metrics, predictions_to_labels
from .tasks import TaskInfo, get_task

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


@dataclass
class PreparedData:
    """A task's data as every training loop sees it."""

    task: TaskInfo
    raw: Any  # the capped, untokenized splits
    tokenized: Any  # the same, tokenized
    train: Any  # the training rows: model inputs and label, held-out rows left out, swaps when on
    heldout: list[int]  # training rows kept out of training (for the search)
    collator: Any
    loaders: dict[str, DataLoader]  # dev splits (and test splits asked for), in order

    @property
    def dev(self) -> dict[str, DataLoader]:
        return {s: self.loaders[s] for s in self.task.eval_splits}

    @property
    def training_examples(self) -> int:
        return len(self.tokenized["train"])


def prepare_glue(task: str | TaskInfo, tokenizer, data_args: GlueDataArguments, seed: int, *, holdout: int = 0,
                 test_splits: bool = False, eval_batch_size: int = 64, pad_to_multiple_of: int | None = None,
                 tokenize_context=None) -> PreparedData:
    """Load, cap, tokenize and split a task for training: the one data path of every loop.

    Args:
        holdout: training rows kept out (seeded, at most 10%; ``split_heldout``).
        test_splits: also load the test splits (``--do_predict``).
        tokenize_context: a context manager around tokenizing (``accelerator.main_process_first()``).
    Returns:
        A ``PreparedData``.
    """
    import contextlib

    task = get_task(task)
    splits = [task.train_split, *task.eval_splits, *(task.test_splits if test_splits else ())]
    raw = cap_samples(load_glue(task, data_args.glue_dir, splits=splits), task, data_args)
    with tokenize_context or contextlib.nullcontext():
        data = tokenize_glue(raw, tokenizer, task, data_args.max_seq_length)
    keep = [c for c in data["train"].column_names if c in MODEL_INPUTS or c == "label"]
    heldout = split_heldout(len(data["train"]), holdout, seed) if holdout else []
    train = training_rows(raw["train"], data["train"], tokenizer, data_args, seed, keep, set(heldout))
    collator = make_collator(tokenizer, data_args.pad_to_max_length, data_args.max_seq_length, pad_to_multiple_of)
    loaders = {s: DataLoader(data[s], batch_size=eval_batch_size, collate_fn=collator) for s in splits[1:]}
    return PreparedData(task, raw, data, train, heldout, collator, loaders)


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


HELDOUT_FILE = "heldout.json"


def split_heldout(n_train: int, n_samples: int, seed: int, max_fraction: float = 0.1) -> list[int]:
    """Seeded row indices to keep out of training: ``n_samples``, at most ``max_fraction`` of the split
    (rounded up), and never every row."""
    n = max(0, min(n_samples, math.ceil(n_train * max_fraction), n_train - 1))
    g = torch.Generator().manual_seed(seed + 7919)  # not the importance slice's permutation
    return sorted(torch.randperm(n_train, generator=g)[:n].tolist())


def save_heldout(path: str | os.PathLike, task: str | TaskInfo, indices: Sequence[int], n_train: int) -> None:
    """Record the rows kept out of training (``path``/heldout.json, next to the supernet)."""
    data = {"task": get_task(task).hub_name, "split": get_task(task).train_split, "n_train": n_train,
            "indices": [int(i) for i in indices]}
    atomic_write_text(Path(path) / HELDOUT_FILE, json.dumps(data) + "\n")


def load_heldout(path: str | os.PathLike) -> dict[str, Any] | None:
    """The supernet directory's reserved rows, or None if it has none."""
    file = Path(path) / HELDOUT_FILE
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None


def heldout_batches(task: str | TaskInfo, tokenizer, glue_dir: str | os.PathLike | None, n_samples: int,
                    seed: int = 0, max_seq_length: int = 128, batch_size: int = 32,
                    indices: Sequence[int] | None = None) -> list[dict[str, torch.Tensor]]:
    """Collated batches of training rows (never dev): the first ``n_samples`` of ``indices``
    (rows kept out of training), else a seeded random slice of the training split."""
    task = get_task(task)
    train = load_glue(task, glue_dir, splits=[task.train_split])[task.train_split]
    if indices is not None:
        idx = [int(i) for i in indices][:n_samples]
        if not idx or max(idx) >= len(train) or min(idx) < 0:
            raise ValueError(f"held-out rows {min(idx, default=0)}..{max(idx, default=-1)} do not fit {task.name}'s "
                             f"training split of {len(train)} rows: was the supernet trained on other data?")
    else:
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(train), generator=g)[:n_samples].tolist()
    data = tokenize_glue(train.select(idx), tokenizer, task, max_seq_length)
    keep = [c for c in data.column_names if c in MODEL_INPUTS or c in ("label", "idx")]
    rows = sorted(data.select_columns(keep), key=lambda r: len(r["input_ids"]))  # less padding per batch
    collator = make_collator(tokenizer)
    return [collator(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]




def task_score_fn(task: str | TaskInfo, metric: str | None = None) -> Callable[[torch.nn.Module, list], float]:
    """A search score function for ``task``: its ``metric`` (default the main one) on the batches, or
    minus the loss for ``"loss"`` (higher is better, like every metric)."""
    task = get_task(task)
    metric = metric or task.main_metric
    if metric != "loss" and metric not in task.metric_names:
        raise ValueError(f"metric must be 'loss' or one of {list(task.metric_names)}, got {metric!r}")

    def score(model: torch.nn.Module, batches: list) -> float:
        metrics = evaluate_loaders(model, task, {"heldout": batches})
        return -metrics["eval_loss"] if metric == "loss" else metrics[f"eval_{metric}"]

    score.metric = metric  # type: ignore[attr-defined]
    return score
