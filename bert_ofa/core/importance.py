"""Importance reordering ("network rewiring"): put the most important heads, FFN neurons
and hidden channels first, so that prefix slices keep them. Function-preserving.

Head importance: |gradient of a per-head mask| (DynaBERT); FFN neurons: first-order Taylor
|sum(activation x gradient)|, via the same mask trick; hidden channels: Taylor |w x grad|
summed over every weight that reads or writes the channel. Compute it on a slice of the
training data, never on dev (PaddleSlim's demo scored on dev, which leaks into dev numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from .convert import SlotRef, resolve_slots


@dataclass
class Importance:
    heads: torch.Tensor  # (layers, heads)
    ffn: torch.Tensor  # (layers, ffn)
    hidden: torch.Tensor | None  # (hidden,)


def _head_dim(model: nn.Module, spec) -> int:
    config, fields = model.config, spec.config_fields
    hidden = getattr(config, fields["hidden"])
    return getattr(config, "head_dim", None) or hidden // getattr(config, fields["heads"])


def compute_importance(model: nn.Module, batches: Iterable[dict], hidden: bool = False) -> Importance:
    """Accumulate importance scores over ``batches`` (each with ``labels``); the model is unchanged."""
    spec, layers_path, refs = resolve_slots(model)
    hd = _head_dim(model, spec)
    n_layers = len(model.get_submodule(layers_path))
    masks: dict[tuple[str, int], torch.Tensor] = {}
    hooks = []
    for ref in refs:
        if ref.layer is None or ref.slot.in_role not in ("heads", "ffn"):
            continue
        module = model.get_submodule(ref.path)
        size = module.in_features // (hd if ref.slot.in_role == "heads" else 1)
        mask = torch.ones(size, device=module.weight.device, dtype=module.weight.dtype, requires_grad=True)
        masks[(ref.slot.in_role, ref.layer)] = mask
        repeat = hd if ref.slot.in_role == "heads" else 1

        def pre_hook(mod, args, mask=mask, repeat=repeat):
            return (args[0] * mask.repeat_interleave(repeat),) + args[1:]

        hooks.append(module.register_forward_pre_hook(pre_hook))
    scores = {key: torch.zeros_like(m) for key, m in masks.items()}
    hidden_score = None
    was_training = model.training
    model.eval()  # no dropout: importance of the function itself
    try:
        for batch in batches:
            if "labels" not in batch:
                raise ValueError("importance needs batches with 'labels' (a slice of the training data)")
            model.zero_grad(set_to_none=True)
            for m in masks.values():
                m.grad = None
            model(**batch).loss.backward()
            for key, m in masks.items():
                scores[key] += m.grad.detach().abs()
            if hidden:
                step = _hidden_taylor(model, refs)
                hidden_score = step if hidden_score is None else hidden_score + step
    finally:
        for h in hooks:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return Importance(
        heads=torch.stack([scores[("heads", i)] for i in range(n_layers)]),
        ffn=torch.stack([scores[("ffn", i)] for i in range(n_layers)]),
        hidden=hidden_score,
    )


def _hidden_taylor(model: nn.Module, refs: list[SlotRef]) -> torch.Tensor:
    total = None
    for ref in refs:
        module = model.get_submodule(ref.path)
        w, g = module.weight, module.weight.grad
        if g is None:
            continue
        t = (w * g).detach().abs()
        parts = []
        if ref.slot.kind == "linear":
            if ref.slot.out_role == "hidden":
                parts.append(t.sum(1))
            if ref.slot.in_role == "hidden":
                parts.append(t.sum(0))
        elif ref.slot.out_role == "hidden":
            parts.append(t if t.dim() == 1 else t.sum(0))
        for p in parts:
            total = p if total is None else total + p
    return total


def _expand_heads(perm: torch.Tensor, hd: int) -> torch.Tensor:
    return (perm[:, None] * hd + torch.arange(hd, device=perm.device)).flatten()


@torch.no_grad()
def permute_model(model: nn.Module, head_perm: list[torch.Tensor] | None = None,
                  ffn_perm: list[torch.Tensor] | None = None, hidden_perm: torch.Tensor | None = None) -> None:
    """Reorder heads / FFN neurons per layer and hidden channels, in place (same function)."""
    spec, _, refs = resolve_slots(model)
    hd = _head_dim(model, spec)

    def perm_for(role: str | None, layer: int | None) -> torch.Tensor | None:
        if role == "heads" and head_perm is not None and layer is not None:
            return _expand_heads(head_perm[layer], hd)
        if role == "ffn" and ffn_perm is not None and layer is not None:
            return ffn_perm[layer]
        if role == "hidden" and hidden_perm is not None:
            return hidden_perm
        return None

    for ref in refs:
        module = model.get_submodule(ref.path)
        p_in, p_out = perm_for(ref.slot.in_role, ref.layer), perm_for(ref.slot.out_role, ref.layer)
        w = module.weight
        if ref.slot.kind == "embedding":
            if p_out is not None:
                w.copy_(w[:, p_out])
            continue
        if p_out is not None:
            w.copy_(w[p_out] if ref.slot.kind == "layernorm" else w[p_out, :])
            if module.bias is not None:
                module.bias.copy_(module.bias[p_out])
        if p_in is not None:
            w.copy_(w[:, p_in])


def reorder_by_importance(model: nn.Module, importance: Importance, hidden: bool = False,
                          teacher: nn.Module | None = None) -> dict:
    """Sort heads, FFN neurons (and hidden channels) by descending importance; returns the permutations.

    ``teacher``: permuted the same way (same function too), so that the student's head i is the
    teacher's head i and attention maps (and hidden channels) line up for distillation."""
    head_perm = [torch.argsort(s, descending=True, stable=True) for s in importance.heads]
    ffn_perm = [torch.argsort(s, descending=True, stable=True) for s in importance.ffn]
    hidden_perm = None
    if hidden and importance.hidden is not None:
        hidden_perm = torch.argsort(importance.hidden, descending=True, stable=True)
    permute_model(model, head_perm, ffn_perm, hidden_perm)
    if teacher is not None:
        permute_model(teacher, head_perm, ffn_perm, hidden_perm)
    return {"heads": head_perm, "ffn": ffn_perm, "hidden": hidden_perm}
