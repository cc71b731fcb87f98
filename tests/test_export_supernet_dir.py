"""The supernet directory (save_supernet / load_supernet): the space and the weights come back."""

from __future__ import annotations

import pytest
import torch
from tiny_models import supernet_output, tiny_batch, tiny_supernet

import bert_ofa as bo
from bert_ofa.export.hf import export_subnet
from bert_ofa.export.supernet_dir import load_supernet, save_supernet

PER_LAYER = bo.SubnetConfig(layers=[0, 1, 3], heads=[1, 3, 2], ffn=[9, 37, 18], hidden=24)


def test_supernet_directory_round_trip(tmp_path, word_tokenizer):
    model = tiny_supernet("bert")
    save_supernet(model, tmp_path / "super", tokenizer=word_tokenizer)
    loaded = load_supernet(tmp_path / "super")
    assert bo.get_search_space(loaded) == bo.get_search_space(model)
    batch = tiny_batch()
    assert torch.equal(supernet_output(loaded, PER_LAYER, batch), supernet_output(model, PER_LAYER, batch))


def test_an_exported_subnet_is_not_a_supernet_directory(tmp_path):
    with pytest.warns(UserWarning, match="no tokenizer"):
        export_subnet(tiny_supernet("bert"), PER_LAYER, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="not a supernet directory"):
        load_supernet(tmp_path / "out")
