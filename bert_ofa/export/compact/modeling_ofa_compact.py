"""Modeling of a bert_ofa compact model (remote code: imports only torch and transformers).

The model builds the stock model of ``config.base_config``, applies the resize plan
(plain modules of the planned shapes, planned attention attributes) and takes over its
submodules, so state-dict keys are exactly the stock model's. Forward runs the stock
model's own code. This file is copied next to every compact export: keep it self-contained.
"""

from typing import Optional

import torch
from torch import nn
from transformers import AutoModel, AutoModelForSequenceClassification, PreTrainedModel

from .configuration_ofa_compact import OfaCompactConfig

_MODULE_TYPES = {"Linear": nn.Linear, "LayerNorm": nn.LayerNorm, "Embedding": nn.Embedding}


def apply_resize_plan(model: nn.Module, part: Optional[dict]) -> None:
    """Replace the planned modules by fresh ones of the planned shapes; set the planned attributes."""
    part = part or {}
    for path, spec in part.get("modules", {}).items():
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        if spec["type"] not in _MODULE_TYPES:
            raise ValueError(f"resize plan: unknown module type {spec['type']!r} at {path}")
        setattr(parent, name, _MODULE_TYPES[spec["type"]](**spec["args"]))
    for path, attrs in part.get("attrs", {}).items():
        module = model.get_submodule(path) if path else model
        for name, value in attrs.items():
            setattr(module, name, value)


def build_stock_model(config: OfaCompactConfig, auto_class, head: bool) -> PreTrainedModel:
    """The stock model of ``config.base_config`` (``auto_class`` picks bare or task model), resized."""
    stock = config.stock_config()
    # the compact model resolved these already (from_pretrained's attn_implementation, dtype)
    model = auto_class.from_config(stock, dtype=torch.get_default_dtype(),
                                   attn_implementation=config._attn_implementation)
    plan = config.ofa_resize_plan or {}
    apply_resize_plan(model.base_model, plan.get("base"))
    if head and model.base_model is not model:
        apply_resize_plan(model, plan.get("head"))
    return model


class OfaCompactPreTrainedModel(PreTrainedModel):
    config_class = OfaCompactConfig
    config: OfaCompactConfig
    base_model_prefix = "ofa"  # replaced per instance by the stock model's prefix
    supports_gradient_checkpointing = True
    # every supported family (BERT, RoBERTa, XLM-R, ELECTRA, DistilBERT) has these; the stock model checks again
    _supports_sdpa = _supports_flash_attn = _supports_flex_attn = _supports_attention_backend = True
    _auto_class_for_inner = AutoModel
    _has_head = False

    def __init__(self, config: OfaCompactConfig):
        super().__init__(config)
        inner = build_stock_model(config, self._auto_class_for_inner, self._has_head)
        # Take over the stock model's children (same names, so the same state-dict keys) and
        # keep the stock model itself out of the module tree: it only lends its forward.
        for name, child in inner.named_children():
            self.add_module(name, child)
        object.__setattr__(self, "_ofa_inner", inner)
        self.base_model_prefix = inner.base_model_prefix  # lets a bare model load task checkpoints
        self.post_init()

    @property
    def stock_model(self) -> PreTrainedModel:
        """The stock model sharing this model's submodules (its forward is the one that runs)."""
        return self._ofa_inner

    def _init_weights(self, module: nn.Module) -> None:
        self._ofa_inner._init_weights(module)

    def train(self, mode: bool = True):
        self._ofa_inner.training = mode
        return super().train(mode)

    def get_input_embeddings(self) -> nn.Module:
        return self._ofa_inner.get_input_embeddings()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        **kwargs,
    ):
        named = dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                     position_ids=position_ids, inputs_embeds=inputs_embeds, labels=labels)
        # pass only what was given: not every family takes every argument (DistilBERT: no token types)
        kwargs.update({k: v for k, v in named.items() if v is not None})
        return self._ofa_inner(**kwargs)


class OfaCompactModel(OfaCompactPreTrainedModel):
    """The bare encoder of a compact subnet (``AutoModel``)."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, **kwargs):
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                               position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs)


class OfaCompactForSequenceClassification(OfaCompactPreTrainedModel):
    """A compact subnet with its sequence-classification head (``AutoModelForSequenceClassification``)."""

    _auto_class_for_inner = AutoModelForSequenceClassification
    _has_head = True
