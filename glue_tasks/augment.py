"""Sentence-order augmentation for the symmetric pair tasks (MRPC, STS-B, QQP).

Whether two sentences are paraphrases (or how similar they are) does not depend on which
comes first, yet a BERT input ``[CLS] a [SEP] b [SEP]`` does. Showing each training pair
in either order is a free, label-preserving augmentation: on MRPC's 3.7k pairs it doubles
the distinct inputs a student sees, with the teacher's outputs on the swapped input as
its targets when distilling (TinyBERT's point: small tasks need more inputs, not labels).

``SwappedPairs`` re-draws the order of every example each epoch from ``(seed, epoch)``,
so training stays reproducible, resumable and identical on every rank.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .tasks import TaskInfo, get_task


def check_swappable(task: str | TaskInfo) -> TaskInfo:
    """The task, if its label ignores sentence order; else a ValueError naming the tasks that do."""
    task = get_task(task)
    if not task.is_pair:
        raise ValueError(f"swap_pairs: {task.name} has one sentence per example, so there is no order to swap; "
                         "set swap_pairs to 0")
    if not task.symmetric:
        from .tasks import TASKS

        ok = ", ".join(t.name for t in TASKS.values() if t.symmetric)
        raise ValueError(f"swap_pairs: {task.name}'s label depends on the order of its inputs, so swapping them "
                         f"would change its meaning; it works only for {ok}. Set swap_pairs to 0.")
    return task


def swap_pair_columns(dataset, task: str | TaskInfo):
    """The same raw GLUE rows (a ``datasets.Dataset``) with the two sentences exchanged."""
    a, b = check_swappable(task).input_columns
    return dataset.map(lambda batch: {a: batch[b], b: batch[a]}, batched=True, desc="Swapping pairs")


class SwappedPairs:
    """Tokenized rows, each shown swapped with chance ``prob``; ``set_epoch`` draws the orders anew.

    ``dataset`` and ``swapped`` hold the same examples in the same order (the second tokenized
    from ``swap_pair_columns``). Works wherever a map-style dataset does (``len``, ``[i]``).
    """

    def __init__(self, dataset: Sequence[Any], swapped: Sequence[Any], prob: float = 0.5, seed: int = 42):
        if len(dataset) != len(swapped):
            raise ValueError(f"dataset and swapped differ in length ({len(dataset)} != {len(swapped)}): "
                             "tokenize the same rows in both orders")
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.dataset, self.swapped, self.prob, self.seed = dataset, swapped, prob, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw which examples are swapped this epoch (a function of seed and epoch only)."""
        rng = np.random.default_rng([self.seed, epoch])
        self.is_swapped = rng.random(len(self.dataset)) < self.prob

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        return (self.swapped if self.is_swapped[i] else self.dataset)[int(i)]

    def select(self, indices: Sequence[int]) -> "SwappedPairs":
        """The rows ``indices`` of both orders (e.g. to leave held-out rows out)."""
        return SwappedPairs(self.dataset.select(indices), self.swapped.select(indices), self.prob, self.seed)
