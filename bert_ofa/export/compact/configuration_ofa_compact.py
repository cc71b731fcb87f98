"""Configuration of a bert_ofa compact model (remote code: imports only transformers).

A compact model is a stock BERT-family model whose modules have per-layer sizes the stock
config cannot describe (per-layer heads or FFN widths, fewer heads at full hidden size).
It is built from the stock ``base_config`` and then resized by ``ofa_resize_plan``.
This file is copied next to every compact export, so keep it self-contained.
"""

from typing import Any, Optional

from transformers import AutoConfig, PretrainedConfig


class OfaCompactConfig(PretrainedConfig):
    r"""
    base_config (`dict`): the stock config (with its `model_type`) the skeleton is built from.
    ofa_subnet (`dict`): the exported subnet (kept layers, heads and FFN width per layer, hidden size).
    ofa_resize_plan (`dict`): `{"base": part, "head": part}`, each part
        `{"modules": {path: {"type": "Linear" | "LayerNorm" | "Embedding", "args": {...}}},
        "attrs": {path: {name: value}}}`; base paths are relative to the base model,
        head paths to the task model.
    """

    model_type = "bert_ofa_compact"
    base_config: Optional[dict] = None
    ofa_subnet: Optional[dict] = None
    ofa_resize_plan: Optional[dict] = None

    def stock_config(self) -> PretrainedConfig:
        """The stock config object (e.g. ``BertConfig``) of the skeleton."""
        if not self.base_config or "model_type" not in self.base_config:
            raise ValueError("OfaCompactConfig.base_config must be a stock config dict with its model_type")
        data: dict[str, Any] = dict(self.base_config)
        return AutoConfig.for_model(data.pop("model_type"), **data)
