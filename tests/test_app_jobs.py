"""bert-ofa export (run_export / ExportArguments): a subnet named by multipliers, exported from a supernet
directory with its tokenizer."""

from __future__ import annotations

import pytest
from tiny_models import assert_same, tiny_supernet
from transformers import AutoModelForSequenceClassification

import bert_ofa as bo
from bert_ofa.app.jobs import ExportArguments, run_export
from bert_ofa.export.supernet_dir import save_supernet


@pytest.fixture
def run_exported(tmp_path, word_tokenizer):
    model = tiny_supernet("bert")
    save_supernet(model, tmp_path / "super", tokenizer=word_tokenizer)
    args = ExportArguments(supernet=str(tmp_path / "super"), output_dir=str(tmp_path / "out"),
                           width_mult=0.5, depth_mult=0.5)
    return model, run_export(args)


def test_run_export_writes_the_subnet_of_the_multipliers(run_exported):
    model, out = run_exported
    sub = bo.subnet_from_mults(model, 0.5, 0.5)
    assert bo.SubnetConfig.from_json(out / "subnet.json") == sub
    assert_same(AutoModelForSequenceClassification.from_pretrained(out).eval(), model, sub)


def test_run_export_finds_the_tokenizer_in_the_supernet_directory(run_exported):
    _, out = run_exported
    assert (out / "tokenizer.json").exists()


@pytest.mark.parametrize("kwargs, match", [
    (dict(subnet="{}", width_mult=0.5), "not both"),
    (dict(depth_mult=1.5), "depth_mult must be in"),
    (dict(push_to_hub=True), "needs hub_model_id"),
    (dict(dry_run=True), "only apply with push_to_hub"),
])
def test_export_arguments_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ExportArguments(supernet="s", output_dir="o", **kwargs)
