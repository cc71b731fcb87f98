"""Parameter and FLOP counts of any subnet, from the active slices."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn

from .convert import get_active_subnet, get_state, set_active_subnet
from .subnet import SubnetConfig


@contextmanager
def active_subnet(model: nn.Module, subnet: SubnetConfig | None) -> Iterator[SubnetConfig]:
    """Run a block with ``subnet`` active (the current one if None), then restore the previous one."""
    previous = get_active_subnet(model)
    if subnet is not None:
        set_active_subnet(model, subnet)
    try:
        yield get_active_subnet(model)
    finally:
        set_active_subnet(model, previous)


def _active_numel(module: nn.Module) -> dict[int, int]:
    weight, bias = module.active_weight_bias()
    sizes = {}
    if weight is not None:
        sizes[id(module.weight)] = weight.numel()
    if bias is not None:
        sizes[id(module.bias)] = bias.numel()
    return sizes


def count_params(model: nn.Module, subnet: SubnetConfig | None = None) -> int:
    """Parameters of ``subnet`` (default: the active one), as its extracted model would hold them."""
    state = get_state(model)
    with active_subnet(model, subnet) as sub:
        dropped = tuple(f"{state.layers_path}.{i}." for i in range(state.space.num_layers) if i not in sub.layers)
        sizes: dict[int, int] = {}
        for ref in state.slots:
            if ref.layer is None or ref.layer in sub.layers:
                sizes.update(_active_numel(model.get_submodule(ref.path)))
        total = 0
        for name, p in model.named_parameters():  # shared (tied) parameters appear once
            if not name.startswith(dropped):
                total += sizes.get(id(p), p.numel())
        return total


def count_flops(model: nn.Module, subnet: SubnetConfig | None = None, seq_len: int = 128) -> int:
    """FLOPs (2 x multiply-accumulates) of one sequence of ``seq_len`` tokens through ``subnet``.

    Counts every matrix product: the linear layers (heads that read one vector per
    sequence once) and attention's two products (QK^T and AV). Lookups, LayerNorm,
    softmax and activations are left out, as in the usual BERT FLOP counts.
    """
    state = get_state(model)
    hd = state.space.head_dim
    with active_subnet(model, subnet) as sub:
        macs = 0
        for ref in state.slots:
            if ref.slot.kind != "linear" or (ref.layer is not None and ref.layer not in sub.layers):
                continue
            weight, _ = model.get_submodule(ref.path).active_weight_bias()
            macs += weight.numel() * (seq_len if ref.slot.per_token else 1)
        for heads in sub.heads:
            macs += 2 * seq_len * seq_len * heads * hd
        return 2 * macs
