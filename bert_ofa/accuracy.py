"""Accuracy of subnets for the search: scored by the supernet on a held-out slice of the
*training* data (the dev set is kept for the final report), cached per subnet; and an
optional predictor (ridge regression on per-layer shape features) for large searches.

``run_glue_ofa`` keeps a seeded slice of the training split out of OFA training and saves
its row indices as ``heldout.json`` in the supernet directory; the search scores on exactly
those rows. A supernet without the file is scored on a seeded training slice it has
probably trained on (scores then favour memorisation; a warning says so).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from glue_tasks import TaskInfo, get_task, load_glue, tokenize_glue

from .counting import active_subnet
from .finetune import MODEL_INPUTS, evaluate_loaders, make_collator
from .records import atomic_write_text
from .space import SearchSpace
from .subnet import SubnetConfig


def subnet_key(subnet: SubnetConfig) -> str:
    """The subnet's JSON on one line: a dictionary key for caches."""
    return json.dumps(subnet.to_dict())


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


class AccuracyScorer:
    """``scorer(subnet)``: the task's metric of ``subnet`` on fixed batches, computed once per subnet.

    ``metric`` defaults to the task's main metric; ``"loss"`` scores minus the loss (higher
    is better, like every metric). With ``cache_file`` the scores persist as JSON; a file
    written with other ``meta`` (another supernet, task or slice) is ignored.
    """

    def __init__(self, model: nn.Module, task: str | TaskInfo, batches: list[dict[str, torch.Tensor]],
                 metric: str | None = None, cache_file: str | os.PathLike | None = None,
                 meta: dict[str, Any] | None = None):
        self.model, self.task, self.batches = model, get_task(task), batches
        self.metric = metric or self.task.main_metric
        if self.metric != "loss" and self.metric not in self.task.metric_names:
            raise ValueError(f"metric must be 'loss' or one of {list(self.task.metric_names)}, got {self.metric!r}")
        self.cache_file = Path(cache_file) if cache_file is not None else None
        self.meta = json.loads(json.dumps({"task": self.task.hub_name, "metric": self.metric, **(meta or {})}))
        self.scores: dict[str, float] = {}
        self.evaluations = 0  # model runs (cache misses)
        if self.cache_file is not None and self.cache_file.is_file():
            saved = json.loads(self.cache_file.read_text(encoding="utf-8"))
            if saved.get("meta") == self.meta:
                self.scores = {k: float(v) for k, v in saved["scores"].items()}

    def __call__(self, subnet: SubnetConfig) -> float:
        key = subnet_key(subnet)
        if key not in self.scores:
            with active_subnet(self.model, subnet):
                metrics = evaluate_loaders(self.model, self.task, {"heldout": self.batches})
            self.scores[key] = -metrics["eval_loss"] if self.metric == "loss" else metrics[f"eval_{self.metric}"]
            self.evaluations += 1
            if self.cache_file is not None:
                atomic_write_text(self.cache_file, json.dumps({"meta": self.meta, "scores": self.scores}) + "\n")
        return self.scores[key]


def accuracy_features(space: SearchSpace, subnet: SubnetConfig) -> np.ndarray:
    """Per layer of the full model: kept, heads and FFN width as fractions (0 if dropped); then hidden."""
    n = space.num_layers
    x = np.zeros(3 * n + 1)
    for j, layer in enumerate(subnet.layers):
        x[layer], x[n + layer], x[2 * n + layer] = 1.0, subnet.heads[j] / space.num_heads, \
            subnet.ffn[j] / space.intermediate_size
    x[-1] = subnet.hidden / space.hidden_size
    return x


@dataclass
class AccuracyPredictor:
    """Ridge regression from ``accuracy_features`` to the held-out score."""

    space: SearchSpace
    coef: np.ndarray
    intercept: float
    spearman: float  # rank correlation on held-out scored subnets (the search only needs the order)
    n_samples: int

    def predict(self, subnet: SubnetConfig) -> float:
        return float(accuracy_features(self.space, subnet) @ self.coef + self.intercept)


def fit_accuracy_predictor(space: SearchSpace, subnets: Sequence[SubnetConfig], scores: Sequence[float],
                           heldout_fraction: float = 0.25, seed: int = 0) -> AccuracyPredictor:
    """Fit on most of the scored subnets, report Spearman on the rest, then refit on all."""
    from scipy.stats import spearmanr
    from sklearn.linear_model import RidgeCV

    if len(subnets) != len(scores) or len(subnets) < 8:
        raise ValueError(f"need at least 8 scored subnets (one score each), got {len(subnets)} and {len(scores)}")
    x = np.stack([accuracy_features(space, s) for s in subnets])
    y = np.asarray(scores, dtype=np.float64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(2, int(len(y) * heldout_fraction))
    test, train = order[:n_test], order[n_test:]
    alphas = np.logspace(-3, 2, 11)  # chosen by leave-one-out: the scale of the scores varies by task
    pred = RidgeCV(alphas=alphas).fit(x[train], y[train]).predict(x[test])
    rho = spearmanr(pred, y[test]).statistic if np.ptp(pred) > 0 and np.ptp(y[test]) > 0 else 0.0
    full = RidgeCV(alphas=alphas).fit(x, y)
    return AccuracyPredictor(space, full.coef_, float(full.intercept_), float(np.nan_to_num(rho)), len(y))
