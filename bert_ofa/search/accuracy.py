"""Accuracy of subnets for the search: a score function run by the supernet on held-out rows of the
*training* data (the dev set is kept for the final report), cached per subnet; and an optional
predictor (ridge regression on per-layer shape features) for large searches.

Task-agnostic: the caller gives the batches and ``score_fn(model, batches) -> float`` (higher is
better); ``glue_tasks.prepare.task_score_fn`` makes one from a GLUE task's metric.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..core.counting import active_subnet
from ..core.space import SearchSpace
from ..core.subnet import SubnetConfig
from ..records import atomic_write_text

ScoreFn = Callable[[nn.Module, list], float]


def subnet_key(subnet: SubnetConfig) -> str:
    """The subnet's JSON on one line: a dictionary key for caches."""
    return json.dumps(subnet.to_dict())


class AccuracyScorer:
    """``scorer(subnet)``: ``score_fn`` of ``subnet`` on fixed batches, computed once per subnet.

    With ``cache_file`` the scores persist as JSON; a file written with other ``meta`` (another
    supernet, task, metric or slice) is ignored.
    """

    def __init__(self, model: nn.Module, batches: list[dict[str, torch.Tensor]], score_fn: ScoreFn,
                 cache_file: str | os.PathLike | None = None, meta: dict[str, Any] | None = None):
        self.model, self.batches, self.score_fn = model, batches, score_fn
        self.cache_file = Path(cache_file) if cache_file is not None else None
        self.meta = json.loads(json.dumps(meta or {}))
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
                self.scores[key] = float(self.score_fn(self.model, self.batches))
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
