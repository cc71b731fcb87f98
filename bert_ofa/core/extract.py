"""Extract a subnet as a plain, physically smaller model (a pure function of model and subnet)."""

from __future__ import annotations

import copy

from torch import nn

from .convert import STATE_ATTR, get_state
from .counting import active_subnet
from .elastic import make_static
from .subnet import SubnetConfig


def extract_subnet(model: nn.Module, subnet: SubnetConfig | None = None) -> nn.Module:
    """A copy of ``model`` holding only ``subnet``'s weights in plain torch modules.

    The supernet is left as it was. The copy is the same Hugging Face class; its config
    gets the stock fields (layers, hidden, and heads / FFN width when every layer has the
    same) and ``ofa_subnet``, the exact shape per layer.
    """
    state = get_state(model)
    with active_subnet(model, subnet) as sub:
        small = copy.deepcopy(model)  # copies the active settings with it
    delattr(small, STATE_ATTR)
    for ref in state.slots:
        if ref.layer is None or ref.layer in sub.layers:
            make_static(small.get_submodule(ref.path), ref.slot.kind)

    parent_path, _, name = state.layers_path.rpartition(".")
    parent = small.get_submodule(parent_path) if parent_path else small
    old_layers = getattr(parent, name)
    kept = nn.ModuleList([old_layers[i] for i in sub.layers])
    setattr(parent, name, kept)
    spec, hd = state.spec, state.space.head_dim
    for j, layer in enumerate(kept):
        attention = layer.get_submodule(spec.attention)
        for attr in spec.head_attrs:
            setattr(attention, attr, sub.heads[j])
        for attr in spec.head_size_attrs:
            setattr(attention, attr, sub.heads[j] * hd)
        for module in layer.modules():  # cache index of decoder-style layers
            if hasattr(module, "layer_idx"):
                module.layer_idx = j

    config, fields = small.config, spec.config_fields
    setattr(config, fields["layers"], sub.depth)
    setattr(config, fields["hidden"], sub.hidden)
    if sub.is_uniform():
        setattr(config, fields["heads"], sub.heads[0])
        setattr(config, fields["ffn"], sub.ffn[0])
    config.ofa_subnet = sub.to_dict()
    return small
