"""A supernet directory: the stock checkpoint, its search space and the SupernetConfig used.

``save_supernet`` writes ``model.save_pretrained`` (a converted model saves as its stock
model: the state-dict keys are unchanged), ``search_space.json`` (the resolved space),
``supernet_config.json`` and the tokenizer if given. ``load_supernet`` reloads the stock
model and converts it again with the same space.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from torch import nn

from ..core.convert import Convert, get_search_space
from ..records import atomic_write_text
from ..core.space import SearchSpace, SupernetConfig

SPACE_FILE = "search_space.json"
CONFIG_FILE = "supernet_config.json"


def supernet_config_for(space: SearchSpace) -> SupernetConfig:
    """A SupernetConfig that resolves to exactly ``space`` on its model (absolute choices + ratios)."""
    ratios = [r for r in space.width_mults if r < 1.0]
    return SupernetConfig(expand_ratio=ratios or None, num_heads=list(space.heads),
                          intermediate_size=list(space.ffn), hidden_size=list(space.hidden), depth=list(space.depth))


def save_supernet(model: nn.Module, path: str | os.PathLike, tokenizer=None,
                  supernet_config: SupernetConfig | None = None) -> Path:
    """Save a converted model as a supernet directory; ``supernet_config`` defaults to one rebuilt from its space."""
    path = Path(path)
    space = get_search_space(model)
    config = supernet_config if supernet_config is not None else supernet_config_for(space)
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    atomic_write_text(path / SPACE_FILE, json.dumps(space.to_dict(), indent=2) + "\n")
    atomic_write_text(path / CONFIG_FILE, json.dumps(asdict(config), indent=2) + "\n")
    return path


def is_supernet_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / SPACE_FILE).is_file() and (Path(path) / "config.json").is_file()


def load_supernet(path: str | os.PathLike, auto_class=None) -> nn.Module:
    """Load a supernet directory (``AutoModelForSequenceClassification`` unless ``auto_class``), converted, eval mode.

    Raises ``FileNotFoundError`` for a folder that is not a supernet directory and
    ``ValueError`` if the stored space does not fit the stored model.
    """
    from transformers import AutoModelForSequenceClassification

    path = Path(path)
    if not is_supernet_dir(path):
        raise FileNotFoundError(f"{path} is not a supernet directory (needs config.json and {SPACE_FILE}; "
                                "write one with bert_ofa.save_supernet)")
    space = SearchSpace.from_dict(json.loads((path / SPACE_FILE).read_text(encoding="utf-8")))
    model = (auto_class or AutoModelForSequenceClassification).from_pretrained(path).eval()
    Convert(space).convert(model)  # raises if the space does not fit this model's shape
    return model


