"""The search space: what ``supernet(...)`` describes and what it resolves to on a model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence


def _floats(name: str, values: Sequence[float] | None) -> list[float] | None:
    if values is None:
        return None
    values = [float(v) for v in values]
    if not values or any(not 0.0 < v <= 1.0 for v in values):
        raise ValueError(f"{name} must be a non-empty list of ratios in (0, 1], got {values}")
    return sorted(set(values))


def _ints(name: str, values: Sequence[int] | None) -> list[int] | None:
    if values is None:
        return None
    if not values or any(int(v) != v or int(v) < 1 for v in values):
        raise ValueError(f"{name} must be a non-empty list of positive integers, got {list(values)}")
    return sorted({int(v) for v in values})


@dataclass
class SupernetConfig:
    """A search space in model-independent terms (what ``supernet(...)`` returns).

    ``expand_ratio`` scales heads and FFN width together (PaddleSlim's ``expand_ratio``,
    DynaBERT's width multipliers); the other fields add absolute choices. ``depth_mult``
    and ``depth`` give the allowed numbers of layers. The full size is always a choice.
    """

    expand_ratio: list[float] | None = None
    num_heads: list[int] | None = None
    intermediate_size: list[int] | None = None
    hidden_size: list[int] | None = None
    depth: list[int] | None = None
    depth_mult: list[float] | None = None

    def __post_init__(self) -> None:
        self.expand_ratio = _floats("expand_ratio", self.expand_ratio)
        self.depth_mult = _floats("depth_mult", self.depth_mult)
        for name in ("num_heads", "intermediate_size", "hidden_size", "depth"):
            setattr(self, name, _ints(name, getattr(self, name)))


def supernet(
    expand_ratio: Sequence[float] | None = None,
    *,
    width_mult: Sequence[float] | None = None,
    num_heads: Sequence[int] | None = None,
    intermediate_size: Sequence[int] | None = None,
    hidden_size: Sequence[int] | None = None,
    depth: Sequence[int] | None = None,
    depth_mult: Sequence[float] | None = None,
) -> SupernetConfig:
    """Describe a search space; ``width_mult`` is DynaBERT's name for ``expand_ratio``."""
    if expand_ratio is not None and width_mult is not None:
        raise ValueError("give either expand_ratio or width_mult (the same thing), not both")
    return SupernetConfig(
        expand_ratio=list(expand_ratio if expand_ratio is not None else width_mult or []) or None,
        num_heads=None if num_heads is None else list(num_heads),
        intermediate_size=None if intermediate_size is None else list(intermediate_size),
        hidden_size=None if hidden_size is None else list(hidden_size),
        depth=None if depth is None else list(depth),
        depth_mult=None if depth_mult is None else list(depth_mult),
    )


@dataclass(frozen=True)
class SearchSpace:
    """A search space resolved on one model: sorted choices, the full size always included."""

    num_layers: int
    num_heads: int
    head_dim: int
    intermediate_size: int
    hidden_size: int
    heads: tuple[int, ...]
    ffn: tuple[int, ...]
    hidden: tuple[int, ...]
    depth: tuple[int, ...]
    width_mults: tuple[float, ...] = field(default=(1.0,))

    @classmethod
    def resolve(cls, config: SupernetConfig, *, num_layers: int, num_heads: int, head_dim: int,
                intermediate_size: int, hidden_size: int) -> "SearchSpace":
        ratios = config.expand_ratio or []

        def choices(name: str, full: int, explicit: list[int] | None, mults: list[float]) -> tuple[int, ...]:
            values = set(explicit or []) | {max(1, round(full * r)) for r in mults} | {full}
            too_big = sorted(v for v in values if v > full)
            if too_big:
                raise ValueError(f"{name} choices {too_big} exceed the model's {name} ({full})")
            return tuple(sorted(values))

        return cls(
            num_layers=num_layers, num_heads=num_heads, head_dim=head_dim,
            intermediate_size=intermediate_size, hidden_size=hidden_size,
            heads=choices("num_heads", num_heads, config.num_heads, ratios),
            ffn=choices("intermediate_size", intermediate_size, config.intermediate_size, ratios),
            hidden=choices("hidden_size", hidden_size, config.hidden_size, []),
            depth=choices("depth", num_layers, config.depth, config.depth_mult or []),
            width_mults=tuple(sorted(set(ratios) | {1.0})),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchSpace":
        data = dict(data)
        for key in ("heads", "ffn", "hidden", "depth", "width_mults"):
            data[key] = tuple(data[key])
        return cls(**data)

    @property
    def elastic_hidden(self) -> bool:
        return len(self.hidden) > 1


def depth_layers(num_layers: int, depth: int) -> list[int]:
    """Evenly spaced layers to keep (DynaBERT's rule: keep floor(i / d) for i < depth)."""
    if not 1 <= depth <= num_layers:
        raise ValueError(f"depth must be between 1 and {num_layers}, got {depth}")
    d = depth / num_layers
    return [int(i / d + 1e-9) for i in range(depth)]
