"""ONNX export: ONNX Runtime matches PyTorch at several batch and sequence sizes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from tiny_models import tiny_batch, tiny_supernet

import bert_ofa as bo
from bert_ofa.export.hf import export_subnet

ort = pytest.importorskip("onnxruntime")

def run_onnx(path, batch: dict) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {i.name: batch[i.name].numpy() for i in session.get_inputs()})[0]


@pytest.mark.parametrize("arch, subnet, inputs", [
    ("bert", bo.SubnetConfig([0, 2], [3, 3], [28, 28], 24), ["input_ids", "attention_mask", "token_type_ids"]),
    ("distilbert", bo.SubnetConfig([0, 1, 3], [1, 3, 2], [9, 37, 18], 24), ["input_ids", "attention_mask"]),
])
def test_onnx_matches_pytorch_at_two_sizes(arch, subnet, inputs, tmp_path):
    model = tiny_supernet(arch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no tokenizer
        out = export_subnet(model, subnet, tmp_path / arch, onnx=True)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == inputs
    assert [o.name for o in session.get_outputs()] == ["logits"]
    bo.set_active_subnet(model, subnet)
    for size, seq in ((1, 5), (4, 19)):
        batch = {k: v[:size] for k, v in tiny_batch(seed=size, batch=max(size, 3), seq=seq).items()}
        if "token_type_ids" in inputs:
            batch["token_type_ids"] = (torch.arange(seq) >= seq // 3).long().expand(size, seq).contiguous()
        with torch.no_grad():
            want = model(**batch).logits.numpy()
        got = run_onnx(out / "model.onnx", batch)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4
