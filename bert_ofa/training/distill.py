"""Distillation: ``DistillConfig`` and the losses (logits, hidden states, attention maps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DistillConfig:
    """What the student learns from the teacher.

    ``mapping_layers``: hidden-state indices of the *student* to distil (0 = embeddings,
    i = output of its i-th kept layer; default: all). Each maps to the teacher's hidden
    state ``floor(i * L_teacher / depth)`` (DynaBERT's rule), so a shallow subnet learns the
    teacher's states at the same relative depth. ``distill_fn(student, teacher, mask)``
    replaces the per-layer loss (default: MSE over real tokens). ``lambda_attention`` > 0
    distils attention maps (the model is switched to eager attention for them), by MSE or, with
    ``attention_loss="kl"``, by MiniLM's KL(teacher || student) per query row (probabilities are
    small, so MSE on them is a weak signal: 0.002 or less where the hidden-state MSE is 0.1).
    ``teacher_refresh="stage"``: at the start of each elastic stage after the first, the
    supernet's largest subnet as trained so far becomes the (frozen) teacher, as in DynaBERT,
    where the width-adaptive model teaches the depth stage. Worth it when training lifts the
    largest subnet above the given teacher. ``lambda_distill_stages`` sets the hidden-state
    weight per elastic stage, e.g. DynaBERT's ``{"width": 0.1, "depth": 1.0}``; stages it does
    not name use ``lambda_distill``.
    """

    teacher_model: nn.Module | str | None = None
    mapping_layers: Sequence[int] | None = None
    lambda_distill: float = 0.1
    lambda_logit: float = 1.0
    lambda_label: float = 0.0
    lambda_attention: float = 0.0
    attention_loss: str = "mse"
    temperature: float = 1.0
    teacher_refresh: str = "none"
    lambda_distill_stages: Mapping[str, float] | None = None
    distill_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        for name in ("lambda_distill", "lambda_logit", "lambda_label", "lambda_attention"):
            if getattr(self, name) < 0:
                raise ValueError(f"DistillConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.lambda_distill_stages is not None:
            if not isinstance(self.lambda_distill_stages, Mapping):
                raise ValueError("DistillConfig.lambda_distill_stages maps stage names to weights, e.g. "
                                 f'{{"width": 0.1, "depth": 1.0}}; got {self.lambda_distill_stages!r}')
            bad = {k: v for k, v in self.lambda_distill_stages.items() if not isinstance(v, (int, float)) or v < 0}
            if bad:
                raise ValueError(f"DistillConfig.lambda_distill_stages weights must be numbers >= 0, got {bad}")
        if self.attention_loss not in ATTENTION_LOSSES:
            raise ValueError(f"DistillConfig.attention_loss must be one of {sorted(ATTENTION_LOSSES)}, "
                             f"got {self.attention_loss!r}")
        if self.teacher_refresh not in ("none", "stage"):
            raise ValueError(f"DistillConfig.teacher_refresh must be 'none' or 'stage', got {self.teacher_refresh!r}")
        if self.temperature <= 0:
            raise ValueError(f"DistillConfig.temperature must be > 0, got {self.temperature}")
        if self.mapping_layers is not None and any(int(i) < 0 for i in self.mapping_layers):
            raise ValueError(f"DistillConfig.mapping_layers are hidden-state indices >= 0, got {self.mapping_layers}")

    @property
    def needs_hidden(self) -> bool:
        return self.lambda_distill > 0 or any(v > 0 for v in (self.lambda_distill_stages or {}).values())

    def hidden_weight(self, stage: str) -> float:
        """The hidden-state weight in elastic stage ``stage``."""
        return float((self.lambda_distill_stages or {}).get(stage, self.lambda_distill))

    @property
    def needs_attention(self) -> bool:
        return self.lambda_attention > 0


def masked_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over real (unpadded) tokens; (B, T, H) or (B, heads, T, T) inputs."""
    diff = (student - teacher).pow(2)
    if mask is None:
        return diff.mean()
    if diff.dim() == 4:  # attention maps: (B, heads, T, T), mask queries
        m = mask[:, None, :, None].to(diff.dtype)
        return (diff * m).sum() / (m.sum() * diff.shape[1] * diff.shape[3]).clamp_min(1)
    m = mask[:, :, None].to(diff.dtype)  # (B, T, 1)
    return (diff * m).sum() / (m.sum() * diff.shape[-1]).clamp_min(1)


def attention_kl(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """KL(teacher || student) of (B, heads, T, T) attention probabilities, summed over keys and
    averaged over heads and real query tokens (MiniLM's self-attention transfer)."""
    t, s = teacher.float(), student.float()
    kl = (t * (t.clamp_min(1e-12).log() - s.clamp_min(1e-12).log())).sum(-1)  # (B, heads, T)
    if mask is None:
        return kl.mean()
    m = mask[:, None, :].to(kl.dtype)  # (B, 1, T): real queries
    return (kl * m).sum() / (m.sum() * kl.shape[1]).clamp_min(1)


ATTENTION_LOSSES = {"mse": masked_mse, "kl": attention_kl}


UNLABELED = -100  # the label of a row with no label (augmented inputs): no label loss, distillation only


def label_loss(logits: torch.Tensor, labels: torch.Tensor, regression: bool) -> torch.Tensor:
    """The one label loss: cross-entropy, or MSE for a regression (STS-B), in float32, over the rows whose
    label is not ``UNLABELED`` (-100, transformers' ``ignore_index``); 0, still attached to the graph,
    when no row has one. No host sync (no ``.any()``, no boolean indexing), so a GPU step never waits."""
    keep = labels.view(-1) != UNLABELED
    n = keep.sum().clamp(min=1)
    if regression:
        err = (logits.float().view(-1) - labels.float().view(-1)).square()
        return torch.where(keep, err, torch.zeros_like(err)).sum() / n
    return F.cross_entropy(logits.float().view(keep.shape[0], -1), labels.long().view(-1),
                           ignore_index=UNLABELED, reduction="sum") / n


def logit_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float, regression: bool) -> torch.Tensor:
    """KL(teacher || student) at temperature T, times T^2 (zero when they agree); MSE for regression."""
    if regression:
        return F.mse_loss(student.float(), teacher.float())
    t = temperature
    return F.kl_div(F.log_softmax(student.float() / t, -1), F.log_softmax(teacher.float() / t, -1),
                    reduction="batchmean", log_target=True) * t * t


def layer_mapping(student_depth: int, teacher_layers: int, indices: Sequence[int] | None) -> list[tuple[int, int]]:
    """(student hidden index, teacher hidden index) pairs by DynaBERT's rule."""
    chosen = range(student_depth + 1) if indices is None else [i for i in indices if i <= student_depth]
    return [(i, (i * teacher_layers) // student_depth) for i in chosen]
