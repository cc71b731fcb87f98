"""Where training runs: one accelerate setup shared by fine-tuning and OFA training."""

from __future__ import annotations

from typing import Any

import torch


def has_accelerator() -> bool:
    """True when torch sees a GPU-like device (CUDA, XPU, MPS, ...)."""
    acc = getattr(torch, "accelerator", None)  # torch >= 2.6
    if acc is not None:
        return bool(acc.is_available())
    return torch.cuda.is_available()


def make_accelerator(**kwargs: Any):
    """An ``accelerate.Accelerator`` that also sees a CPU-only ``torchrun`` launch.

    Without ``cpu=True`` accelerate ignores WORLD_SIZE on a machine with no GPU: every
    process then believes it is rank 0 of 1, trains on all the data and writes the same
    checkpoint folder as the others.
    """
    from accelerate import Accelerator

    return Accelerator(cpu=not has_accelerator(), **kwargs)
