"""Elastic modules: subclasses of the torch modules they replace.

Each holds the full weights and computes with a prefix slice chosen from outside
(``set_active_subnet`` is the one place that sets it). ``None`` means "full size" and
takes the unsliced fast path, so the largest subnet runs exactly the original kernels.
Conversion swaps ``__class__`` in place: parameters, state-dict keys and hooks are kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ElasticLinear(nn.Linear):
    """``nn.Linear`` computing with ``weight[:active_out, :active_in]``."""

    active_in: int | None = None
    active_out: int | None = None

    def set_active(self, in_features: int | None, out_features: int | None) -> None:
        self.active_in = None if in_features in (None, self.in_features) else in_features
        self.active_out = None if out_features in (None, self.out_features) else out_features

    def active_weight_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        weight, bias = self.weight, self.bias
        if self.active_out is not None:
            weight = weight[: self.active_out]
            bias = None if bias is None else bias[: self.active_out]
        if self.active_in is not None:
            weight = weight[:, : self.active_in]
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.active_in is None and self.active_out is None:
            return F.linear(x, self.weight, self.bias)
        weight, bias = self.active_weight_bias()
        return F.linear(x, weight, bias)


class ElasticLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` normalising over the first ``active_dim`` channels."""

    active_dim: int | None = None

    def set_active(self, in_features: int | None, out_features: int | None) -> None:
        dim = out_features
        self.active_dim = None if dim in (None, self.normalized_shape[-1]) else dim

    def active_weight_bias(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        d = self.active_dim
        if d is None:
            return self.weight, self.bias
        return (
            None if self.weight is None else self.weight[:d],
            None if self.bias is None else self.bias[:d],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.active_dim is None:
            return super().forward(x)
        weight, bias = self.active_weight_bias()
        return F.layer_norm(x, (self.active_dim,), weight, bias, self.eps)


class ElasticEmbedding(nn.Embedding):
    """``nn.Embedding`` returning the first ``active_dim`` columns."""

    active_dim: int | None = None

    def set_active(self, in_features: int | None, out_features: int | None) -> None:
        dim = out_features
        self.active_dim = None if dim in (None, self.embedding_dim) else dim

    def active_weight_bias(self) -> tuple[torch.Tensor, None]:
        if self.active_dim is None:
            return self.weight, None
        return self.weight[:, : self.active_dim], None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.active_dim is None:
            return super().forward(ids)
        return F.embedding(
            ids, self.weight[:, : self.active_dim], self.padding_idx, self.max_norm,
            self.norm_type, self.scale_grad_by_freq, self.sparse,
        )


class ElasticLayerList(nn.ModuleList):
    """``nn.ModuleList`` whose iteration yields only the active layers (depth).

    Encoders loop ``for layer in self.layer``; indexing and the state dict still see
    every layer, so checkpoints keep their keys.
    """

    active_layers: tuple[int, ...] | None = None

    def __iter__(self):
        if self.active_layers is None:
            return super().__iter__()
        modules = list(self._modules.values())
        return iter([modules[i] for i in self.active_layers])


ELASTIC_CLASSES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    # slot kind: (plain torch class it must be, elastic subclass)
    "linear": (nn.Linear, ElasticLinear),
    "layernorm": (nn.LayerNorm, ElasticLayerNorm),
    "embedding": (nn.Embedding, ElasticEmbedding),
}


def make_elastic(module: nn.Module, kind: str) -> nn.Module:
    """Turn a plain module into its elastic subclass in place (same parameters)."""
    base, elastic = ELASTIC_CLASSES[kind]
    if isinstance(module, elastic):
        return module
    if type(module) is not base:
        raise TypeError(f"expected a plain {base.__name__} for a '{kind}' slot, got {type(module).__name__}")
    module.__class__ = elastic
    return module


def make_static(module: nn.Module, kind: str) -> nn.Module:
    """Copy the active slice into fresh parameters and turn the module back into its plain class."""
    base, elastic = ELASTIC_CLASSES[kind]
    if not isinstance(module, elastic):
        return module
    weight, bias = module.active_weight_bias()
    if weight is not None:
        module.weight = nn.Parameter(weight.detach().clone(), requires_grad=module.weight.requires_grad)
    if bias is not None:
        module.bias = nn.Parameter(bias.detach().clone(), requires_grad=module.bias.requires_grad)
    if kind == "linear":
        module.out_features, module.in_features = module.weight.shape
    elif kind == "layernorm" and module.active_dim is not None:
        module.normalized_shape = (module.active_dim,)
    elif kind == "embedding":
        module.embedding_dim = module.weight.shape[1]
    for attr in ("active_in", "active_out", "active_dim"):
        module.__dict__.pop(attr, None)
    module.__class__ = base
    return module
