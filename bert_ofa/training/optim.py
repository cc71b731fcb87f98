"""The one optimizer rule of every training loop: teacher fine-tune, OFA, and the direct baseline.

AdamW; weight decay (default 0.0, as PaddleSlim's BERT demo and run_glue.py's default) only on weight
matrices, never on biases or LayerNorm parameters. Records list ``weight_decay`` so that compared
arms show it.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

DEFAULT_WEIGHT_DECAY = 0.0


def param_groups(named_params: Iterable[tuple[str, nn.Parameter]], weight_decay: float) -> list[dict]:
    """Trainable parameters split into decayed (matrices) and not decayed (biases, norms) groups."""
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    decay, no_decay = [], []
    for name, p in named_params:
        if p.requires_grad:
            (no_decay if p.dim() < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(module: nn.Module, lr: float, weight_decay: float = DEFAULT_WEIGHT_DECAY) -> torch.optim.Optimizer:
    """AdamW over ``module``'s trainable parameters by the rule above.

    Args:
        module: the model (or the OFA wrapper: its teacher is frozen and so left out).
        lr: the learning rate (schedules change it per step).
        weight_decay: on weight matrices only.
    Returns:
        A ``torch.optim.AdamW``.
    """
    return torch.optim.AdamW(param_groups(module.named_parameters(), weight_decay), lr=lr)
