"""Subnet export to Hugging Face folders: stock and compact folders reload with the supernet's outputs; loading
without bert_ofa; pipelines and evaluation loops; errors; force_stock; the model card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from tiny_models import ARCHS, assert_same, supernet_output, tiny_batch, tiny_supernet
from transformers import AutoModel, AutoModelForSequenceClassification, pipeline

import bert_ofa as bo
from bert_ofa.export.hf import export_subnet, is_stock_expressible, nearest_stock_subnet

STOCK = bo.SubnetConfig(layers=[0, 2], heads=[3, 3], ffn=[28, 28], hidden=24)  # 3 heads x 8 == 24
PER_LAYER = bo.SubnetConfig(layers=[0, 1, 3], heads=[1, 3, 2], ffn=[9, 37, 18], hidden=24)
FEWER_HEADS = bo.SubnetConfig(layers=[0, 1, 2, 3], heads=[2] * 4, ffn=[37] * 4, hidden=32)
BERT_FIELDS = dict(num_hidden_layers=2, hidden_size=24, num_attention_heads=3, intermediate_size=28)
STOCK_FIELDS = {  # config.json fields of the STOCK export, where they differ from BERT's
    "distilbert": dict(n_layers=2, dim=24, n_heads=3, hidden_dim=28),
    "electra": dict(BERT_FIELDS, embedding_size=24),  # unprojected: embeddings follow the hidden size
    "electra-projected": dict(BERT_FIELDS, embedding_size=16),  # projected: the embedding size stays
}
TEXTS = ["good movie great acting", "dull plot", "bad bad movie", "great plot good acting dull"]


def export(model, subnet, path, **kwargs):
    with pytest.warns(UserWarning, match="no tokenizer"):
        return export_subnet(model, subnet, path, **kwargs)


@pytest.mark.parametrize("arch", ARCHS)
def test_stock_export_reloads_as_the_stock_model(arch, tmp_path):
    model = tiny_supernet(arch)
    stock_dir = export(model, STOCK, tmp_path / "stock")
    loaded = AutoModelForSequenceClassification.from_pretrained(stock_dir).eval()
    assert type(loaded) is type(model) and type(loaded.config) is type(model.config)
    assert_same(loaded, model, STOCK)


@pytest.mark.parametrize("arch", ARCHS)
def test_stock_export_writes_a_stock_config_and_the_subnet(arch, tmp_path):
    stock_dir = export(tiny_supernet(arch), STOCK, tmp_path / "stock")
    config = json.loads((stock_dir / "config.json").read_text())
    want = STOCK_FIELDS.get(arch, BERT_FIELDS)
    assert {k: config[k] for k in want} == want
    assert "ofa_subnet" not in config and "auto_map" not in config
    assert bo.SubnetConfig.from_json(stock_dir / "subnet.json") == STOCK
    assert not (stock_dir / "modeling_ofa_compact.py").exists()


@pytest.mark.parametrize("arch", ARCHS)
def test_compact_export_reloads_with_the_extracted_weights(arch, tmp_path):
    model = tiny_supernet(arch)
    compact_dir = export(model, PER_LAYER, tmp_path / "compact")
    loaded = AutoModelForSequenceClassification.from_pretrained(compact_dir).eval()  # registered by bert_ofa
    assert type(loaded).__name__ == "OfaCompactForSequenceClassification"
    assert_same(loaded, model, PER_LAYER)
    assert loaded.state_dict().keys() == bo.extract_subnet(model, PER_LAYER).state_dict().keys()


@pytest.mark.parametrize("arch", ARCHS)
def test_compact_export_writes_its_config_and_code(arch, tmp_path):
    compact_dir = export(tiny_supernet(arch), PER_LAYER, tmp_path / "compact")
    config = json.loads((compact_dir / "config.json").read_text())
    assert config["model_type"] == "bert_ofa_compact" and config["ofa_subnet"] == PER_LAYER.to_dict()
    assert {"modeling_ofa_compact.py", "configuration_ofa_compact.py"} <= set(os.listdir(compact_dir))


def test_stock_expressible_subnets():
    space = bo.get_search_space(tiny_supernet("bert"))
    assert not is_stock_expressible(FEWER_HEADS, space) and is_stock_expressible(STOCK, space)


def test_fewer_heads_at_full_hidden_exports_compact(tmp_path):
    model = tiny_supernet("bert")
    out = export(model, FEWER_HEADS, tmp_path / "cls")
    assert_same(AutoModelForSequenceClassification.from_pretrained(out).eval(), model, FEWER_HEADS)


def test_the_bare_encoder_of_a_task_export_loads(tmp_path):
    model = tiny_supernet("bert")
    out = export(model, FEWER_HEADS, tmp_path / "cls")
    # the bare encoder of a task export loads too (the task prefix is stripped)
    encoder = AutoModel.from_pretrained(out).eval()
    with torch.no_grad(), bo.active_subnet(model, FEWER_HEADS):
        want = model.bert(**tiny_batch()).last_hidden_state
        assert (encoder(**tiny_batch()).last_hidden_state - want).abs().max() <= 1e-5


def test_bare_models_export_compact(tmp_path):
    bare = tiny_supernet("roberta", "base")
    out = export(bare, PER_LAYER, tmp_path / "bare")
    loaded = AutoModel.from_pretrained(out).eval()
    assert type(loaded).__name__ == "OfaCompactModel"
    assert_same(loaded, bare, PER_LAYER)


def test_compact_loads_with_remote_code_and_without_bert_ofa(tmp_path):
    model = tiny_supernet("bert")
    out = export(model, PER_LAYER, tmp_path / "model")
    batch = tiny_batch()
    torch.save(batch, tmp_path / "batch.pt")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["bert_ofa"] = None  # as if bert_ofa were not installed
        import torch
        from transformers import AutoModelForSequenceClassification
        try:
            import bert_ofa
            raise SystemExit("bert_ofa is importable")
        except ImportError:
            pass
        model = AutoModelForSequenceClassification.from_pretrained({str(out)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            logits = model(**torch.load({str(tmp_path / 'batch.pt')!r})).logits
        torch.save(logits, {str(tmp_path / 'logits.pt')!r})
    """)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    got = torch.load(tmp_path / "logits.pt")
    assert (got - supernet_output(model, PER_LAYER, batch)).abs().max().item() <= 1e-5


@pytest.fixture(scope="module")
def exported_with_tokenizer(tmp_path_factory):
    """The BERT supernet and its STOCK and PER_LAYER subnets exported with a word tokenizer."""
    from tiny_models import word_tokenizer

    tmp_path = tmp_path_factory.mktemp("with-tokenizer")
    tokenizer = word_tokenizer(tmp_path)
    model = tiny_supernet("bert")
    subnets = {"stock": STOCK, "compact": PER_LAYER}
    folders = {name: export_subnet(model, sub, tmp_path / name, tokenizer) for name, sub in subnets.items()}
    return model, tokenizer, subnets, folders


def _softmax(model, tokenizer, subnet):
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    return torch.softmax(supernet_output(model, subnet, dict(enc)), -1)


@pytest.mark.parametrize("name", ["stock", "compact"])
def test_export_saves_the_tokenizer(exported_with_tokenizer, name):
    assert (exported_with_tokenizer[3][name] / "tokenizer.json").exists()


@pytest.mark.parametrize("name", ["stock", "compact"])
def test_text_classification_pipeline_on_exported_models(exported_with_tokenizer, name):
    model, tokenizer, subnets, folders = exported_with_tokenizer
    classify = pipeline("text-classification", model=str(folders[name]), trust_remote_code=name == "compact")
    want = _softmax(model, tokenizer, subnets[name])
    got = classify(TEXTS)
    assert [r["label"] for r in got] == [model.config.id2label[int(i)] for i in want.argmax(-1)]
    assert [r["score"] for r in got] == pytest.approx(want.max(-1).values.tolist(), abs=1e-5)


@pytest.mark.parametrize("name", ["stock", "compact"])
def test_eval_loop_over_padded_batches_on_exported_models(exported_with_tokenizer, name):
    model, tokenizer, subnets, folders = exported_with_tokenizer
    want = _softmax(model, tokenizer, subnets[name])
    loaded = AutoModelForSequenceClassification.from_pretrained(folders[name]).eval()
    preds = []
    for i in range(0, len(TEXTS), 2):  # a plain evaluation loop over padded batches of two
        enc = tokenizer(TEXTS[i:i + 2], padding=True, return_tensors="pt")
        with torch.no_grad():
            preds += loaded(**enc).logits.argmax(-1).tolist()
    assert preds == want.argmax(-1).tolist()


def test_subnet_outside_the_space_is_not_exported(tmp_path):
    with pytest.raises(bo.SubnetError, match="heads values"):
        export_subnet(tiny_supernet("bert"), bo.SubnetConfig([0, 2], [5, 5], [37, 37], 32), tmp_path / "outside")
    assert not (tmp_path / "outside").exists()


def test_a_non_empty_folder_needs_overwrite(tmp_path):
    model = tiny_supernet("bert")
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match=f"{out}.*overwrite=True"):
        export_subnet(model, STOCK, out)
    assert os.listdir(out) == ["keep.txt"]
    export(model, STOCK, out, overwrite=True)  # missing tokenizer: a warning, the model still exports
    assert sorted(os.listdir(out)) == ["README.md", "config.json", "model.safetensors", "subnet.json"]


def test_force_stock_picks_the_smallest_containing_stock_subnet(tmp_path, word_tokenizer):
    model = tiny_supernet("bert")
    expected = bo.SubnetConfig([0, 1, 3], [3, 3, 3], [37, 37, 37], 24)
    assert nearest_stock_subnet(PER_LAYER, bo.get_search_space(model)) == expected
    with pytest.warns(UserWarning, match="force_stock.*exporting"):
        out = export_subnet(model, PER_LAYER, tmp_path / "bert", force_stock=True, tokenizer=word_tokenizer)
    loaded = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert type(loaded.config).__name__ == "BertConfig"
    assert_same(loaded, model, expected)
    assert bo.SubnetConfig.from_json(out / "subnet.json") == expected
    assert "force_stock" in (out / "README.md").read_text()


def test_force_stock_keeps_the_projection_of_projected_electra(tmp_path):
    # projected ELECTRA: hidden 16 == embedding size would drop the projection, so the next pair is used
    electra = tiny_supernet("electra-projected")
    small = bo.SubnetConfig([0, 3], [1, 2], [9, 9], 16)
    with pytest.warns(UserWarning):
        out = export_subnet(electra, small, tmp_path / "electra", force_stock=True)
    assert bo.SubnetConfig.from_json(out / "subnet.json") == bo.SubnetConfig([0, 3], [3, 3], [9, 9], 24)
    assert type(AutoModelForSequenceClassification.from_pretrained(out).config).__name__ == "ElectraConfig"


def test_model_card(tmp_path):
    model = tiny_supernet("bert")
    info = {"license": "apache-2.0", "task": "SST-2", "metrics": {"accuracy": 0.912}, "latency": {"b1 s128": "3 ms"}}
    card = (export(model, PER_LAYER, tmp_path / "m", card_info=info) / "README.md").read_text()
    ratio = bo.count_flops(model, PER_LAYER) / bo.count_flops(model, bo.largest_subnet(model))
    assert card.startswith("---\nlicense: apache-2.0\n")
    assert f"{ratio:.3f}" in card and "| accuracy | 0.912 |" in card and "| b1 s128 | 3 ms |" in card
    assert "trust_remote_code=True" in card and "[1, 3, 2]" in card
