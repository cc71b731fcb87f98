"""Every way to pick a subnet from a search space: largest, smallest, random (per layer or
uniform), DynaBERT's width x depth multipliers, spreads for fitting latency models, and the
representative set a run reports. Pure functions of the space: layers never choose sizes.
"""

from __future__ import annotations

import random

from torch import nn

from .space import SearchSpace, depth_layers
from .state import get_state
from .subnet import SubnetConfig

GRID_WIDTHS = (1.0, 0.75, 0.5, 0.25)
GRID_DEPTHS = (1.0, 0.75, 0.5)


def _space(model_or_space: nn.Module | SearchSpace) -> SearchSpace:
    return model_or_space if isinstance(model_or_space, SearchSpace) else get_state(model_or_space).space


def largest_of(space: SearchSpace) -> SubnetConfig:
    n = space.num_layers
    return SubnetConfig(list(range(n)), [space.heads[-1]] * n, [space.ffn[-1]] * n, space.hidden[-1])


def largest_subnet(model: nn.Module | SearchSpace) -> SubnetConfig:
    """All layers, all heads, full FFN and hidden size."""
    return largest_of(_space(model))


def smallest_subnet(model: nn.Module | SearchSpace) -> SubnetConfig:
    """Fewest (evenly spaced) layers, fewest heads, narrowest FFN and hidden size in the space."""
    space = _space(model)
    d = space.depth[0]
    return SubnetConfig(depth_layers(space.num_layers, d), [space.heads[0]] * d, [space.ffn[0]] * d, space.hidden[0])


def sample_subnet(model: nn.Module | SearchSpace, seed: int | random.Random | None = None) -> SubnetConfig:
    """A random subnet: depth, then heads and FFN width per layer, then hidden size."""
    space = _space(model)
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    d = rng.choice(space.depth)
    return SubnetConfig(
        layers=depth_layers(space.num_layers, d),
        heads=[rng.choice(space.heads) for _ in range(d)],
        ffn=[rng.choice(space.ffn) for _ in range(d)],
        hidden=rng.choice(space.hidden),
    )


def subnet_from_mults(model: nn.Module | SearchSpace, width_mult: float = 1.0, depth_mult: float = 1.0,
                      hidden: int | None = None) -> SubnetConfig:
    """DynaBERT's shortcut: heads and FFN scaled by ``width_mult``, evenly spaced layers by ``depth_mult``."""
    space = _space(model)
    if not (0 < width_mult <= 1 and 0 < depth_mult <= 1):
        raise ValueError(f"width_mult and depth_mult must be in (0, 1], got {width_mult}, {depth_mult}")
    d = max(1, round(space.num_layers * depth_mult))
    heads = max(1, round(space.num_heads * width_mult))
    ffn = max(1, round(space.intermediate_size * width_mult))
    subnet = SubnetConfig(depth_layers(space.num_layers, d), [heads] * d, [ffn] * d,
                          space.hidden_size if hidden is None else hidden)
    return subnet.validate(space)


def uniform_subnet(space: SearchSpace, rng: random.Random) -> SubnetConfig:
    """A random grid subnet: one depth, one width step shared by every layer's heads and FFN.

    The open heads and FFN choices are paired from the largest down (the j-th largest head
    count goes with the j-th largest FFN width), which is the width multiplier when both
    come from the same ``expand_ratio``.
    """
    d = rng.choice(space.depth)
    j = rng.randrange(min(len(space.heads), len(space.ffn)))
    heads, ffn = space.heads[-1 - j], space.ffn[-1 - j]
    return SubnetConfig(layers=depth_layers(space.num_layers, d), heads=[heads] * d, ffn=[ffn] * d,
                        hidden=rng.choice(space.hidden))


def spread_subnets(space: SearchSpace, n: int, rng: random.Random) -> list[SubnetConfig]:
    """Random subnets for fitting: half per-layer random, half uniform (same width in every layer).

    Per-layer sampling alone concentrates the total width near the middle (a sum of
    independent choices); uniform ones cover the extremes too.
    """
    out = []
    for i in range(n):
        if i % 2:
            out.append(sample_subnet(space, rng))
        else:
            d = rng.choice(space.depth)
            out.append(SubnetConfig(depth_layers(space.num_layers, d), [rng.choice(space.heads)] * d,
                                    [rng.choice(space.ffn)] * d, rng.choice(space.hidden)))
    return out


def corner_subnets(space: SearchSpace, n: int, rng: random.Random) -> list[SubnetConfig]:
    """Random subnets whose layers each take the smallest or largest head and FFN choice.

    Searches for fast subnets end up in these mixed corners (narrow FFN, some wide
    attention), so the fit and its held-out error must see them too.
    """
    out = []
    for _ in range(n):
        d = rng.choice(space.depth)
        out.append(SubnetConfig(depth_layers(space.num_layers, d),
                                [rng.choice((min(space.heads), max(space.heads))) for _ in range(d)],
                                [rng.choice((min(space.ffn), max(space.ffn))) for _ in range(d)],
                                rng.choice(space.hidden)))
    return out


def representative_subnets(space: SearchSpace) -> dict[str, SubnetConfig]:
    """Largest, smallest and the DynaBERT width x depth grid (where the space has those choices).

    Grid points that give a subnet already listed (depth multipliers that round to the same
    layer count, say) are left out, so each subnet appears once, under its first name.
    """
    subnets = {"largest": largest_subnet(space), "smallest": smallest_subnet(space)}
    for w in GRID_WIDTHS:
        for d in GRID_DEPTHS:
            try:
                sub = subnet_from_mults(space, w, d)
            except ValueError:
                continue  # not in this space
            if all(sub != s for s in subnets.values()):
                subnets[f"width {w} x depth {d}"] = sub
    return subnets
