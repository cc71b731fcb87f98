"""Importance-based reordering of heads, FFN neurons and hidden units keeps the model's function."""

from __future__ import annotations

import pytest
import torch
from tiny_models import ARCHS, tiny_batch, tiny_model

import bert_ofa as bo


@pytest.mark.parametrize("arch", ARCHS)
def test_importance_reordering_preserves_the_function(arch):
    model = tiny_model(arch)
    batch = tiny_batch()
    labelled = {**batch, "labels": torch.tensor([0, 1, 2])}
    with torch.no_grad():
        want = model(**batch).logits
    importance = bo.compute_importance(model, [labelled], hidden=True)
    perms = bo.reorder_by_importance(model, importance, hidden=True)
    with torch.no_grad():
        assert (model(**batch).logits - want).abs().max().item() <= 1e-5
    assert any(not torch.equal(p, torch.arange(len(p))) for p in perms["ffn"])
    after = bo.compute_importance(model, [labelled])
    for layer in range(after.heads.shape[0]):  # most important first now
        assert torch.all(after.heads[layer][:-1] >= after.heads[layer][1:] * (1 - 1e-4))


def test_importance_needs_labels():
    with pytest.raises(ValueError, match="labels"):
        bo.compute_importance(tiny_model("bert"), [tiny_batch()])
