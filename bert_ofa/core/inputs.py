"""The one dummy-inputs helper: fixed random token ids for export checks, ONNX tracing and timing."""

from __future__ import annotations

import torch
from torch import nn


def dummy_inputs(model: nn.Module, batch: int = 2, seq: int = 8, *, seed: int = 0, pad_last: bool = True,
                 token_types: bool = False, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """Random ids above the usual special ids, shaped (batch, seq).

    Args:
        model: a Hugging Face model (its input embeddings give the vocabulary; its config the positions).
        pad_last: the last row half padded, so that a check sees the attention mask matter; off for timing.
        token_types: add ``token_type_ids`` (0 for the first half, 1 for the second), as a sentence pair.
        device: where the tensors go (default: CPU).
    Returns:
        ``input_ids`` and ``attention_mask`` (and ``token_type_ids``), int64.
    """
    vocab = model.get_input_embeddings().num_embeddings
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if limit is not None and seq > limit:
        raise ValueError(f"sequence length {seq} exceeds the model's max_position_embeddings ({limit})")
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(min(3, vocab - 1), vocab, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    if pad_last:
        mask[-1, seq // 2:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if token_types:
        inputs["token_type_ids"] = (torch.arange(seq) >= seq // 2).long().expand(batch, seq).contiguous()
    return {k: v.to(device) for k, v in inputs.items()} if device is not None else inputs
