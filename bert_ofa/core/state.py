"""What a converted model carries: its architecture, search space, elastic slots and active subnet."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .arch import ArchSpec, Slot
from .space import SearchSpace
from .subnet import SubnetConfig

STATE_ATTR = "_bert_ofa_state"


@dataclass
class SlotRef:
    """One elastic module: its path from the top model and its layer (None outside the encoder)."""

    path: str
    slot: Slot
    layer: int | None


@dataclass
class SupernetState:
    spec: ArchSpec
    space: SearchSpace
    slots: list[SlotRef]
    layers_path: str
    active: SubnetConfig


def get_state(model: nn.Module) -> SupernetState:
    state = getattr(model, STATE_ATTR, None)
    if state is None:
        raise ValueError(
            f"{type(model).__name__} is not a supernet: convert it first with "
            "bert_ofa.Convert(bert_ofa.supernet(...)).convert(model)"
        )
    return state
