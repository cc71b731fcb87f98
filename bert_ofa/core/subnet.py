"""A subnet: a small dataclass that round-trips through JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from .space import SearchSpace


class SubnetError(ValueError):
    """A subnet that is malformed or outside the search space."""


@dataclass
class SubnetConfig:
    """Kept layer indices, heads and FFN width per kept layer, and the hidden size."""

    layers: list[int]
    heads: list[int]
    ffn: list[int]
    hidden: int

    def __post_init__(self) -> None:
        self.layers, self.heads, self.ffn = list(self.layers), list(self.heads), list(self.ffn)
        for name in ("layers", "heads", "ffn"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or isinstance(v, bool) for v in values):
                raise SubnetError(f"SubnetConfig.{name} must be a non-empty list of integers, got {values}")
        if not isinstance(self.hidden, int) or self.hidden < 1:
            raise SubnetError(f"SubnetConfig.hidden must be a positive integer, got {self.hidden!r}")
        if any(b <= a for a, b in zip(self.layers, self.layers[1:])) or self.layers[0] < 0:
            raise SubnetError(f"SubnetConfig.layers must be strictly increasing layer indices >= 0, got {self.layers}")
        for name in ("heads", "ffn"):
            if len(getattr(self, name)) != len(self.layers):
                raise SubnetError(
                    f"SubnetConfig.{name} needs one value per kept layer ({len(self.layers)}), "
                    f"got {len(getattr(self, name))}"
                )

    @property
    def depth(self) -> int:
        return len(self.layers)

    def is_uniform(self) -> bool:
        """Same heads and FFN width in every kept layer."""
        return len(set(self.heads)) == 1 and len(set(self.ffn)) == 1

    def validate(self, space: SearchSpace) -> "SubnetConfig":
        """Raise ``SubnetError`` naming the field and the allowed values if outside ``space``."""
        if self.layers[-1] >= space.num_layers:
            raise SubnetError(f"SubnetConfig.layers {self.layers}: indices must be < {space.num_layers}")
        if self.depth not in space.depth:
            raise SubnetError(f"SubnetConfig.layers keeps {self.depth} layers; allowed depths: {list(space.depth)}")
        for name, allowed in (("heads", space.heads), ("ffn", space.ffn)):
            bad = sorted({v for v in getattr(self, name) if v not in allowed})
            if bad:
                raise SubnetError(f"SubnetConfig.{name} values {bad} are not in the space; allowed: {list(allowed)}")
        if self.hidden not in space.hidden:
            raise SubnetError(f"SubnetConfig.hidden {self.hidden} is not in the space; allowed: {list(space.hidden)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SubnetConfig":
        missing = {"layers", "heads", "ffn", "hidden"} - set(data)
        if missing:
            raise SubnetError(f"subnet JSON lacks {sorted(missing)}; expected keys layers, heads, ffn, hidden")
        return cls(layers=data["layers"], heads=data["heads"], ffn=data["ffn"], hidden=data["hidden"])

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> "SubnetConfig":
        """Parse JSON text, or read it from a file path."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            with open(text_or_path, encoding="utf-8") as f:
                text = f.read()
        return cls.from_dict(json.loads(text))
